// Executes attention written in linalg before and after --attn-raise-linalg
// (the raised op through attn's CPU loop nest, the original through
// linalg's loops) on the same inputs and compares the printed outputs:
// rank 3, Nq = 11, Nk = 13, D = 8, a constant divisor, a bias tensor, a
// window from index comparisons (every row keeps a key), the generic
// softmax form and generic contractions.
//
// REQUIRES: mlir-runner
// DEFINE: %{lower} = --one-shot-bufferize=bufferize-function-boundaries --attn-plan --attn-lower-to-loops --convert-linalg-to-loops --convert-scf-to-cf --arith-expand --expand-strided-metadata --lower-affine --convert-math-to-llvm --convert-arith-to-llvm --finalize-memref-to-llvm --convert-func-to-llvm --convert-cf-to-llvm --reconcile-unrealized-casts
// RUN: attn-opt %s --attn-raise-linalg | FileCheck %s --check-prefix=RAISED
// (j in [i - 3, i + 2], and Nk - Nq = 2: the bottom-right window
// [i + 2 - 5, i + 2 + 0].)
// RAISED: attn.attention {{.*}} bias({{.*}}) {{.*}} mask = #attn.sliding_window<left = 5, right = 0, alignment = bottom_right> scale = 0.35355
// RAISED-NOT: linalg.generic
//
// RUN: attn-opt %s %{lower} | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils > %t.linalg
// RUN: attn-opt %s --attn-raise-linalg %{lower} | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils > %t.raised
// RUN: %python %S/Inputs/compare_printed_memrefs.py %t.linalg %t.raised 2e-5 | FileCheck %s
// CHECK: 176 values, max abs difference {{[0-9.e+-]+}} <= 2e-05

#qk_q = affine_map<(b, i, j, d) -> (b, i, d)>
#qk_k = affine_map<(b, i, j, d) -> (b, j, d)>
#qk_s = affine_map<(b, i, j, d) -> (b, i, j)>
#pv_p = affine_map<(b, i, c, j) -> (b, i, j)>
#pv_v = affine_map<(b, i, c, j) -> (b, j, c)>
#pv_o = affine_map<(b, i, c, j) -> (b, i, c)>
#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row3 = affine_map<(b, i, j) -> (b, i)>
func.func @attention(%q: tensor<2x11x8xf32>, %k: tensor<2x13x8xf32>, %v: tensor<2x13x8xf32>,
                     %bias: tensor<2x11x13xf32>) -> tensor<2x11x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %sqrt = arith.constant 2.82842712 : f32
  %left = arith.constant 3 : index
  %right = arith.constant 2 : index
  %s0 = tensor.empty() : tensor<2x11x13xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<2x11x13xf32>) -> tensor<2x11x13xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x11x8xf32>, tensor<2x13x8xf32>) outs(%sz : tensor<2x11x13xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %prod = arith.mulf %a, %b : f32
    %sum = arith.addf %acc, %prod : f32
    linalg.yield %sum : f32
  } -> tensor<2x11x13xf32>
  %m = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %bias : tensor<2x11x13xf32>, tensor<2x11x13xf32>) outs(%s0 : tensor<2x11x13xf32>) {
  ^bb0(%x: f32, %bb: f32, %out: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %lo = arith.subi %i, %left : index
    %hi = arith.addi %i, %right : index
    %after = arith.cmpi sge, %j, %lo : index
    %before = arith.cmpi sle, %j, %hi : index
    %keep = arith.andi %after, %before : i1
    %xs = arith.divf %x, %sqrt : f32
    %xb = arith.addf %xs, %bb : f32
    %r = arith.select %keep, %xb, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x11x13xf32>
  %r0 = tensor.empty() : tensor<2x11xf32>
  %minf = linalg.fill ins(%ninf : f32) outs(%r0 : tensor<2x11xf32>) -> tensor<2x11xf32>
  %max = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%m : tensor<2x11x13xf32>) outs(%minf : tensor<2x11xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.maximumf %x, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x11xf32>
  %e = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%m, %max : tensor<2x11x13xf32>, tensor<2x11xf32>) outs(%s0 : tensor<2x11x13xf32>) {
  ^bb0(%x: f32, %mx: f32, %out: f32):
    %d = arith.subf %x, %mx : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<2x11x13xf32>
  %lz = linalg.fill ins(%zero : f32) outs(%r0 : tensor<2x11xf32>) -> tensor<2x11xf32>
  %l = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%e : tensor<2x11x13xf32>) outs(%lz : tensor<2x11xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.addf %acc, %x : f32
    linalg.yield %r : f32
  } -> tensor<2x11xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %l : tensor<2x11x13xf32>, tensor<2x11xf32>) outs(%s0 : tensor<2x11x13xf32>) {
  ^bb0(%x: f32, %sum: f32, %out: f32):
    %r = arith.divf %x, %sum : f32
    linalg.yield %r : f32
  } -> tensor<2x11x13xf32>
  %o0 = tensor.empty() : tensor<2x11x8xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<2x11x8xf32>) -> tensor<2x11x8xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x11x13xf32>, tensor<2x13x8xf32>) outs(%oz : tensor<2x11x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %prod = arith.mulf %a, %b : f32
    %sum = arith.addf %acc, %prod : f32
    linalg.yield %sum : f32
  } -> tensor<2x11x8xf32>
  return %o : tensor<2x11x8xf32>
}

func.func private @printMemrefF32(memref<*xf32>)

func.func @main() {
  %q = arith.constant dense<[[[-0.705, -1.397, 0.604, -1.710, 0.144, -0.537, -1.768, 0.030], [-1.850, -0.265, -1.721, -1.637, -0.302, 1.307, -1.505, -1.107], [0.510, 1.791, 0.308, -0.413, 1.905, -1.814, 1.434, -0.842], [-1.423, -1.529, -0.766, 1.265, -1.277, 0.326, 0.556, -0.510], [0.191, -1.749, -1.762, -1.176, 0.722, -0.290, -0.743, 0.342], [-0.187, -0.801, 1.178, 0.796, -1.024, 0.298, 0.101, 1.501], [0.918, -0.848, 1.921, -1.528, -0.328, 1.029, -1.392, -0.044], [-1.843, 0.673, 1.058, 0.292, 1.502, -0.745, 0.781, 0.377], [0.320, -0.175, 1.360, 1.779, -0.104, 0.657, -1.757, 0.806], [0.589, 1.972, 1.288, -0.862, -0.457, 0.675, -1.910, -0.153], [-1.328, -1.532, -1.764, 1.073, -1.483, -1.010, -0.436, 1.486]], [[-1.678, -0.203, 0.198, 1.534, 1.277, 1.456, -0.886, -0.339], [-0.565, 1.537, 1.831, -1.396, -1.295, -1.072, -1.067, -0.060], [0.356, -0.949, -1.984, -0.324, -0.523, 0.265, 1.812, 0.762], [0.062, 0.470, 0.705, -1.784, 1.598, 1.120, 1.498, 1.191], [-0.430, -0.404, -1.586, 0.537, -1.751, -1.731, -1.165, -1.351], [-0.640, -1.790, -1.999, -1.395, -1.594, -0.546, -1.898, 1.497], [0.456, -1.406, -0.991, -0.610, -0.543, -1.509, 1.396, 1.972], [-0.136, -0.065, -1.656, -1.591, -0.629, -0.941, 1.315, -1.354], [-1.908, 1.804, 0.113, -1.414, 0.173, -1.892, 0.112, 1.914], [1.453, 0.785, -0.956, -0.533, -1.332, 1.088, 0.130, 1.116], [-0.681, -1.108, 1.246, 1.940, 1.411, 1.224, 1.273, 0.959]]]> : tensor<2x11x8xf32>
  %k = arith.constant dense<[[[-1.093, 0.071, -0.578, -1.884, -1.888, -0.882, -0.963, 0.770], [1.826, -0.211, 1.748, 1.952, 1.820, -0.541, -1.118, -1.093], [-1.213, -1.183, 0.496, 1.601, 1.362, -0.082, 0.612, 1.199], [-1.661, 0.642, 1.639, 1.129, 1.001, -0.088, -1.286, 1.157], [-0.670, 1.203, 1.887, -0.417, -0.394, 1.787, 0.899, -1.320], [-1.492, -1.395, 1.619, 1.226, -1.415, 1.306, 1.921, 0.629], [-0.598, 0.195, -1.476, -1.943, 1.884, 0.599, 0.106, 1.734], [-0.265, 1.487, 1.305, -1.156, -0.993, -0.828, -1.038, 0.346], [-0.963, -0.324, -1.476, 1.640, -0.585, -0.167, 0.333, 1.617], [-0.317, 1.671, 0.007, 0.127, 0.094, -1.925, -0.240, -1.268], [-1.984, 1.197, -1.311, -0.106, 0.901, 0.226, -0.696, 0.073], [0.222, 1.137, -1.576, 0.241, -1.006, -0.892, 1.089, 0.031], [0.247, 1.040, 1.650, -0.227, 0.450, 0.022, 0.049, 0.771]], [[-0.191, 0.133, -0.088, 1.766, 0.797, 1.506, 1.769, -0.962], [0.238, 1.773, 1.360, -1.451, -1.514, -0.232, -1.710, -1.037], [-1.708, 0.678, 1.136, 1.588, -1.382, 0.864, 0.641, -1.428], [1.531, 1.870, -1.122, 1.810, -0.407, -0.051, 1.959, 1.330], [-1.354, -0.274, 0.062, -0.644, -1.217, -0.726, 0.889, -1.922], [0.216, -0.238, -1.928, -0.674, 0.496, 0.049, -1.743, 1.940], [1.153, 1.887, -1.581, -0.938, -1.842, 1.116, -0.918, -1.482], [-0.311, 1.646, 1.276, -0.966, -1.403, 1.677, 0.282, 0.802], [-1.642, -1.770, 0.753, -0.299, -1.710, 1.753, 0.538, 1.207], [-1.665, 1.425, -1.734, 1.451, -0.185, -0.643, 0.212, 1.707], [-0.929, -1.483, 0.108, -1.046, -1.562, -1.354, -1.798, -1.193], [-0.752, -0.780, 1.038, -0.840, 0.000, -1.288, -0.612, -1.927], [-0.998, -1.939, 0.932, 0.204, -1.242, -0.101, 1.739, -1.575]]]> : tensor<2x13x8xf32>
  %v = arith.constant dense<[[[1.276, -0.271, -0.020, 1.338, -0.428, 0.027, 0.751, 1.930], [-0.629, 1.329, 0.827, 0.544, -0.381, -0.610, -1.782, -1.481], [-1.717, 0.964, -0.978, -1.347, -1.662, 1.365, 1.482, 0.682], [-0.872, -1.031, -0.828, -0.162, -1.370, -0.217, -0.947, 1.847], [1.890, 0.188, -1.022, 1.863, -0.762, -0.574, -1.996, -0.473], [-0.101, 0.011, -1.196, 0.019, -1.980, -0.943, -1.641, -0.402], [-1.833, -1.910, -0.783, -1.069, 0.342, 0.117, 1.002, 0.630], [0.864, 1.516, -0.442, -0.695, 1.939, -1.402, 0.897, 0.573], [-1.825, 1.341, 1.568, 0.509, 0.935, 1.249, -1.443, 0.095], [0.017, 1.340, 1.219, 1.306, 0.336, 1.571, 0.732, 0.773], [-1.080, -1.875, -1.468, -0.557, -1.580, 1.343, 0.234, 0.511], [0.505, 0.723, -0.043, -1.987, 1.191, 0.993, 0.012, 0.141], [0.637, -1.736, 0.947, -0.991, -1.702, -0.938, 0.917, -1.179]], [[0.959, 1.903, -0.024, -0.470, -0.084, 0.735, 1.068, 0.468], [0.571, -1.690, -1.410, -0.984, 0.973, -0.782, 0.271, -1.950], [-1.757, -0.925, 0.688, 0.769, 0.703, -0.837, 0.066, -0.141], [-0.135, -1.526, 1.575, -1.203, 1.913, 1.745, -1.930, -0.164], [1.280, 1.872, -0.202, -0.925, -1.161, 1.782, -1.157, 0.326], [-1.433, 0.096, 1.811, -1.470, 1.281, 0.035, 1.547, 0.813], [-1.074, 1.591, -0.055, -1.901, -1.986, -0.033, -0.197, -0.792], [-1.437, -0.624, -0.736, 1.361, -1.993, 1.003, 1.356, -1.520], [1.706, 0.852, 1.606, -0.841, -0.511, -0.428, 1.995, 0.357], [-0.557, -0.288, -0.899, -1.807, -1.593, 1.339, -0.858, 1.742], [-1.003, -0.937, 0.044, -1.241, -0.507, 1.825, 1.537, 1.248], [0.524, 1.654, 1.763, 0.197, 0.878, -1.802, 0.929, -0.197], [1.011, 0.578, -0.855, -1.804, 1.707, -1.491, -0.111, -0.625]]]> : tensor<2x13x8xf32>
  %bias = arith.constant dense<[[[-0.809, 0.956, 1.905, -0.959, 0.624, -0.797, 0.229, -0.423, -1.331, -1.353, -1.169, 1.624, -0.012], [-1.120, 1.625, 1.986, -0.200, -1.442, -1.230, -1.637, -0.632, -1.636, -1.043, -0.967, 0.278, 1.549], [0.999, -0.349, -0.344, 0.097, -0.493, -0.647, -1.752, -0.890, 1.871, -1.497, 0.014, 0.519, 1.451], [-1.136, -0.916, -1.006, -0.401, -0.217, 1.816, 1.395, 1.492, -1.913, -1.871, 0.838, 1.583, -0.107], [0.349, -1.999, -0.434, 1.707, 1.302, 1.422, 1.889, -1.006, -1.564, -1.382, 0.089, 0.728, 1.766], [0.887, 0.589, 1.059, -0.171, 0.206, -1.842, 1.129, -1.070, 1.680, 0.582, -0.785, -1.488, -0.993], [0.545, 0.794, -1.551, -1.719, 0.098, 0.332, -0.448, -1.106, 0.404, -1.958, -0.794, -0.157, 1.836], [0.578, 1.535, -0.099, -1.061, -1.012, 1.842, 0.819, -0.770, -1.913, -0.007, 0.698, -0.320, -0.971], [0.669, 1.701, -1.093, -1.864, -0.648, -0.318, 0.730, -1.208, 1.188, 0.957, 0.020, -1.179, 1.879], [-0.753, 1.280, -1.077, -1.114, 1.042, -0.820, 1.808, -0.017, -1.251, -1.107, -0.332, 0.661, 1.795], [-1.414, -0.426, -1.148, 1.896, -1.432, -1.793, -1.759, -0.427, 1.593, 1.534, 0.931, 1.990, 1.726]], [[-0.683, -1.258, 1.744, 0.985, -1.872, 0.658, -0.486, -0.504, -0.673, -1.323, -1.989, -0.881, -0.594], [1.822, -1.505, 1.857, -1.170, -0.573, 1.286, 1.288, -0.270, -1.803, -0.106, -0.509, 1.678, -1.228], [-0.543, 1.588, -1.879, -0.357, 1.247, 1.067, -1.837, -1.861, -1.750, 1.680, -0.972, 0.989, 1.594], [-0.644, -0.911, 1.831, 0.468, -0.951, 0.867, -0.734, -0.897, -1.985, 1.023, 1.666, 0.536, 1.773], [-1.903, -1.065, -0.099, 1.827, 1.816, -0.454, -0.996, -0.280, -0.026, 1.712, -1.268, 1.210, 0.954], [1.291, 1.091, 0.429, -0.689, -0.722, -0.553, 1.129, -1.684, -1.211, 1.012, -1.011, -1.741, -1.865], [0.210, -0.697, 1.921, 1.534, 1.951, -0.940, -1.664, -1.614, -0.006, 0.839, -0.212, -1.063, -0.333], [0.481, 0.696, 0.992, 1.388, 0.658, -1.515, 1.363, -0.825, 0.268, -0.508, 0.952, -1.203, -1.010], [-1.019, -1.387, 1.537, 0.313, -0.695, -0.416, 1.970, 0.029, -1.074, 1.234, 0.613, 1.964, -1.591], [-0.101, 1.276, 1.362, 1.658, -1.839, -0.825, -1.523, -1.242, 1.892, 0.333, 1.721, -0.511, 1.465], [-0.204, -0.960, 1.111, 1.783, -1.577, 0.385, 0.480, -1.129, -0.525, -1.435, -1.184, -0.980, 0.398]]]> : tensor<2x11x13xf32>
  %o = call @attention(%q, %k, %v, %bias) : (tensor<2x11x8xf32>, tensor<2x13x8xf32>, tensor<2x13x8xf32>, tensor<2x11x13xf32>) -> tensor<2x11x8xf32>
  %m = bufferization.to_buffer %o : tensor<2x11x8xf32> to memref<2x11x8xf32>
  %u = memref.cast %m : memref<2x11x8xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
