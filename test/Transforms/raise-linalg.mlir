// RUN: attn-opt %s -split-input-file -attn-raise-linalg | FileCheck %s

// Rank 3 [B*H, N, D] as front ends flatten it: K^T by linalg.transpose,
// batch_matmul, one generic that scales and masks j > i by index
// comparison, linalg.softmax, batch_matmul. One attn.attention with the
// causal mask and the constant as its scale, between reshapes.
// CHECK-LABEL: func.func @causal_rank3(
// CHECK-SAME: %[[Q:.*]]: tensor<16x128x64xf32>, %[[K:.*]]: tensor<16x128x64xf32>, %[[V:.*]]: tensor<16x128x64xf32>)
// CHECK-DAG: %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 16, 128, 64]
// CHECK-DAG: %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1], [2], [3]]
// CHECK-DAG: %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1], [2], [3]]
// CHECK: %[[O:.*]] = attn.attention ins(%[[Q4]], %[[K4]], %[[V4]] : {{.*}}) outs(%{{.*}} : tensor<1x16x128x64xf32>) mask = #attn.causal scale = 1.250000e-01
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[O]] {{\[\[}}0, 1], [2], [3]] : tensor<1x16x128x64xf32> into tensor<16x128x64xf32>
// CHECK-NOT: linalg.
// CHECK: return %[[R]]
func.func @causal_rank3(%q: tensor<16x128x64xf32>, %k: tensor<16x128x64xf32>, %v: tensor<16x128x64xf32>) -> tensor<16x128x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.125 : f32
  %kt0 = tensor.empty() : tensor<16x64x128xf32>
  %kt = linalg.transpose ins(%k : tensor<16x128x64xf32>) outs(%kt0 : tensor<16x64x128xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<16x128x128xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<16x128x128xf32>) -> tensor<16x128x128xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<16x128x64xf32>, tensor<16x64x128xf32>) outs(%sz : tensor<16x128x128xf32>) -> tensor<16x128x128xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<16x128x128xf32>) outs(%s0 : tensor<16x128x128xf32>) {
  ^bb0(%x: f32, %out: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %keep = arith.cmpi sle, %j, %i : index
    %xs = arith.mulf %x, %scale : f32
    %r = arith.select %keep, %xs, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<16x128x128xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<16x128x128xf32>) outs(%s0 : tensor<16x128x128xf32>) -> tensor<16x128x128xf32>
  %o0 = tensor.empty() : tensor<16x128x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<16x128x64xf32>) -> tensor<16x128x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<16x128x128xf32>, tensor<16x128x64xf32>) outs(%oz : tensor<16x128x64xf32>) -> tensor<16x128x64xf32>
  return %o : tensor<16x128x64xf32>
}

// -----

// Rank 4 [B, H, N, D] with generic contractions (K read transposed by the
// indexing map), bf16 inputs with f32 scores, a [B, H, Nq, Nk] bias added
// after the scale (a division) in separate generics, and the generic
// softmax: max, exp(x - max), sum, divide.
// CHECK-LABEL: func.func @bias_generic_softmax_rank4(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<2x4x100x32xbf16>, %[[K:[^:]*]]: tensor<2x4x70x32xbf16>, %[[V:[^:]*]]: tensor<2x4x70x48xbf16>, %[[B:[^:]*]]: tensor<2x4x100x70xf32>)
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[O:.*]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : {{.*}}) bias(%[[B]] : tensor<2x4x100x70xf32>) outs(%{{.*}} : tensor<2x4x100x48xf32>) scale = 0.17677669
// CHECK-NOT: mask =
// CHECK-NOT: linalg.
// CHECK: return %[[O]]
#qk_q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#qk_k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#qk_s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, c, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, c, j) -> (b, h, j, c)>
#pv_o = affine_map<(b, h, i, c, j) -> (b, h, i, c)>
#id4 = affine_map<(b, h, i, j) -> (b, h, i, j)>
#row4 = affine_map<(b, h, i, j) -> (b, h, i)>
func.func @bias_generic_softmax_rank4(%q: tensor<2x4x100x32xbf16>, %k: tensor<2x4x70x32xbf16>,
                                      %v: tensor<2x4x70x48xbf16>, %bias: tensor<2x4x100x70xf32>) -> tensor<2x4x100x48xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %sqrt = arith.constant 5.65685424949 : f32
  %s0 = tensor.empty() : tensor<2x4x100x70xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<2x4x100x70xf32>) -> tensor<2x4x100x70xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x4x100x32xbf16>, tensor<2x4x70x32xbf16>) outs(%sz : tensor<2x4x100x70xf32>) {
  ^bb0(%a: bf16, %b: bf16, %acc: f32):
    %a32 = arith.extf %a : bf16 to f32
    %b32 = arith.extf %b : bf16 to f32
    %prod = arith.mulf %a32, %b32 : f32
    %sum = arith.addf %acc, %prod : f32
    linalg.yield %sum : f32
  } -> tensor<2x4x100x70xf32>
  %scaled = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x4x100x70xf32>) outs(%s0 : tensor<2x4x100x70xf32>) {
  ^bb0(%x: f32, %out: f32):
    %r = arith.divf %x, %sqrt : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100x70xf32>
  %biased = linalg.generic {indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%bias, %scaled : tensor<2x4x100x70xf32>, tensor<2x4x100x70xf32>) outs(%s0 : tensor<2x4x100x70xf32>) {
  ^bb0(%bb: f32, %x: f32, %out: f32):
    %r = arith.addf %bb, %x : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100x70xf32>
  %m0 = tensor.empty() : tensor<2x4x100xf32>
  %minf = linalg.fill ins(%ninf : f32) outs(%m0 : tensor<2x4x100xf32>) -> tensor<2x4x100xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%biased : tensor<2x4x100x70xf32>) outs(%minf : tensor<2x4x100xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.maximumf %x, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100xf32>
  %e = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%biased, %max : tensor<2x4x100x70xf32>, tensor<2x4x100xf32>) outs(%s0 : tensor<2x4x100x70xf32>) {
  ^bb0(%x: f32, %mx: f32, %out: f32):
    %d = arith.subf %x, %mx : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100x70xf32>
  %lz = linalg.fill ins(%zero : f32) outs(%m0 : tensor<2x4x100xf32>) -> tensor<2x4x100xf32>
  %l = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%e : tensor<2x4x100x70xf32>) outs(%lz : tensor<2x4x100xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.addf %acc, %x : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%e, %l : tensor<2x4x100x70xf32>, tensor<2x4x100xf32>) outs(%s0 : tensor<2x4x100x70xf32>) {
  ^bb0(%x: f32, %sum: f32, %out: f32):
    %r = arith.divf %x, %sum : f32
    linalg.yield %r : f32
  } -> tensor<2x4x100x70xf32>
  %o0 = tensor.empty() : tensor<2x4x100x48xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<2x4x100x48xf32>) -> tensor<2x4x100x48xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x4x100x70xf32>, tensor<2x4x70x48xbf16>) outs(%oz : tensor<2x4x100x48xf32>) {
  ^bb0(%a: f32, %b: bf16, %acc: f32):
    %b32 = arith.extf %b : bf16 to f32
    %prod = arith.mulf %a, %b32 : f32
    %sum = arith.addf %acc, %prod : f32
    linalg.yield %sum : f32
  } -> tensor<2x4x100x48xf32>
  return %o : tensor<2x4x100x48xf32>
}

// -----

// Rank 2 with linalg.matmul, a boolean tensor that masks where it is true
// (select(m, -inf, s), fused with the scale in one body): the explicit mask
// is its negation.
// CHECK-LABEL: func.func @explicit_mask_rank2(
// CHECK-SAME: %[[M:[^:]*]]: tensor<50x60xi1>)
// CHECK: %[[TRUE:.*]] = arith.constant dense<true> : tensor<50x60xi1>
// CHECK: %[[KEEP:.*]] = arith.xori %[[M]], %[[TRUE]] : tensor<50x60xi1>
// CHECK: attn.attention ins({{.*}} : tensor<1x1x50x32xf16>, tensor<1x1x60x32xf16>, tensor<1x1x60x32xf16>) explicit_mask(%[[KEEP]] : tensor<50x60xi1>) outs({{.*}} : tensor<1x1x50x32xf32>) scale = 5.000000e-01
// CHECK: tensor.collapse_shape {{.*}} {{\[\[}}0, 1, 2], [3]] : tensor<1x1x50x32xf32> into tensor<50x32xf32>
#id2 = affine_map<(i, j) -> (i, j)>
func.func @explicit_mask_rank2(%q: tensor<50x32xf16>, %k: tensor<60x32xf16>, %v: tensor<60x32xf16>,
                               %mask: tensor<50x60xi1>) -> tensor<50x32xf32> {
  %zero = arith.constant 0.0 : f32
  %lowest = arith.constant -3.40282347E+38 : f32
  %half = arith.constant 0.5 : f32
  %kt0 = tensor.empty() : tensor<32x60xf16>
  %kt = linalg.transpose ins(%k : tensor<60x32xf16>) outs(%kt0 : tensor<32x60xf16>) permutation = [1, 0]
  %s0 = tensor.empty() : tensor<50x60xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<50x60xf32>) -> tensor<50x60xf32>
  %s = linalg.matmul ins(%q, %kt : tensor<50x32xf16>, tensor<32x60xf16>) outs(%sz : tensor<50x60xf32>) -> tensor<50x60xf32>
  %m = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%s, %mask : tensor<50x60xf32>, tensor<50x60xi1>) outs(%s0 : tensor<50x60xf32>) {
  ^bb0(%x: f32, %masked: i1, %out: f32):
    %xs = arith.mulf %half, %x : f32
    %r = arith.select %masked, %lowest, %xs : f32
    linalg.yield %r : f32
  } -> tensor<50x60xf32>
  %p = linalg.softmax dimension(1) ins(%m : tensor<50x60xf32>) outs(%s0 : tensor<50x60xf32>) -> tensor<50x60xf32>
  %o0 = tensor.empty() : tensor<50x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<50x32xf32>) -> tensor<50x32xf32>
  %o = linalg.matmul ins(%p, %v : tensor<50x60xf32>, tensor<60x32xf16>) outs(%oz : tensor<50x32xf32>) -> tensor<50x32xf32>
  return %o : tensor<50x32xf32>
}

// -----

// A sliding window from two comparisons (and): j <= i and i - j <= 64,
// with no scale factor (scale = 1).
// CHECK-LABEL: func.func @sliding_window(
// CHECK: attn.attention {{.*}} mask = #attn.sliding_window<left = 64, right = 0> scale = 1.000000e+00
#map_s = affine_map<(b, i, j) -> (b, i, j)>
func.func @sliding_window(%q: tensor<8x256x64xbf16>, %k: tensor<8x256x64xbf16>, %v: tensor<8x256x64xbf16>) -> tensor<8x256x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %w = arith.constant 64 : index
  %kt0 = tensor.empty() : tensor<8x64x256xbf16>
  %kt = linalg.transpose ins(%k : tensor<8x256x64xbf16>) outs(%kt0 : tensor<8x64x256xbf16>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<8x256x256xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<8x256x256xf32>) -> tensor<8x256x256xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<8x256x64xbf16>, tensor<8x64x256xbf16>) outs(%sz : tensor<8x256x256xf32>) -> tensor<8x256x256xf32>
  %m = linalg.generic {indexing_maps = [#map_s, #map_s], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<8x256x256xf32>) outs(%s0 : tensor<8x256x256xf32>) {
  ^bb0(%x: f32, %out: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %past = arith.cmpi sle, %j, %i : index
    %dist = arith.subi %i, %j : index
    %near = arith.cmpi sle, %dist, %w : index
    %keep = arith.andi %past, %near : i1
    %r = arith.select %keep, %x, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<8x256x256xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<8x256x256xf32>) outs(%s0 : tensor<8x256x256xf32>) -> tensor<8x256x256xf32>
  %o0 = tensor.empty() : tensor<8x256x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<8x256x64xf32>) -> tensor<8x256x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x256x256xf32>, tensor<8x256x64xbf16>) outs(%oz : tensor<8x256x64xf32>) -> tensor<8x256x64xf32>
  return %o : tensor<8x256x64xf32>
}

// -----

// Decoding-style causal at Nq = 64, Nk = 128: positions with j > i + 64
// masked (select(c, -inf, s)), index_cast to i64 as front ends emit:
// bottom-right alignment.
// CHECK-LABEL: func.func @causal_bottom_right(
// CHECK: attn.attention {{.*}} mask = #attn.causal<bottom_right> scale = 1.250000e-01
#map_s = affine_map<(b, i, j) -> (b, i, j)>
func.func @causal_bottom_right(%q: tensor<4x64x64xf32>, %k: tensor<4x128x64xf32>, %v: tensor<4x128x64xf32>) -> tensor<4x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.125 : f32
  %off = arith.constant 64 : i64
  %kt0 = tensor.empty() : tensor<4x64x128xf32>
  %kt = linalg.transpose ins(%k : tensor<4x128x64xf32>) outs(%kt0 : tensor<4x64x128xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<4x64x128xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x128xf32>) -> tensor<4x64x128xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x64x64xf32>, tensor<4x64x128xf32>) outs(%sz : tensor<4x64x128xf32>) -> tensor<4x64x128xf32>
  %m = linalg.generic {indexing_maps = [#map_s, #map_s], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<4x64x128xf32>) outs(%s0 : tensor<4x64x128xf32>) {
  ^bb0(%x: f32, %out: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %i64 = arith.index_cast %i : index to i64
    %j64 = arith.index_cast %j : index to i64
    %limit = arith.addi %i64, %off : i64
    %future = arith.cmpi sgt, %j64, %limit : i64
    %xs = arith.mulf %x, %scale : f32
    %r = arith.select %future, %ninf, %xs : f32
    linalg.yield %r : f32
  } -> tensor<4x64x128xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<4x64x128xf32>) outs(%s0 : tensor<4x64x128xf32>) -> tensor<4x64x128xf32>
  %o0 = tensor.empty() : tensor<4x64x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x64x128xf32>, tensor<4x128x64xf32>) outs(%oz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  return %o : tensor<4x64x64xf32>
}

// -----

// Not raised: the scale applies after the bias (attn would not scale the
// bias), and the softmax of a second function runs over the query
// dimension.
// CHECK-LABEL: func.func @scale_after_bias(
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
// CHECK-LABEL: func.func @softmax_over_queries(
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
#map_s = affine_map<(b, i, j) -> (b, i, j)>
func.func @scale_after_bias(%q: tensor<4x64x64xf32>, %k: tensor<4x64x64xf32>, %v: tensor<4x64x64xf32>,
                            %bias: tensor<4x64x64xf32>) -> tensor<4x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %kt0 = tensor.empty() : tensor<4x64x64xf32>
  %kt = linalg.transpose ins(%k : tensor<4x64x64xf32>) outs(%kt0 : tensor<4x64x64xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<4x64x64xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%sz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %m = linalg.generic {indexing_maps = [#map_s, #map_s, #map_s], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %bias : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%s0 : tensor<4x64x64xf32>) {
  ^bb0(%x: f32, %b: f32, %out: f32):
    %xb = arith.addf %x, %b : f32
    %r = arith.mulf %xb, %scale : f32
    linalg.yield %r : f32
  } -> tensor<4x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<4x64x64xf32>) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%oz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  return %o : tensor<4x64x64xf32>
}
func.func @softmax_over_queries(%q: tensor<4x64x64xf32>, %k: tensor<4x64x64xf32>, %v: tensor<4x64x64xf32>) -> tensor<4x64x64xf32> {
  %zero = arith.constant 0.0 : f32
  %kt0 = tensor.empty() : tensor<4x64x64xf32>
  %kt = linalg.transpose ins(%k : tensor<4x64x64xf32>) outs(%kt0 : tensor<4x64x64xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<4x64x64xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%sz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<4x64x64xf32>) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%oz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  return %o : tensor<4x64x64xf32>
}

// -----

// Not raised: the scores are also returned (the softmax input has another
// use), so the products must stay.
// CHECK-LABEL: func.func @scores_reused(
// CHECK-NOT: attn.attention
// CHECK: linalg.softmax
func.func @scores_reused(%q: tensor<4x64x64xf32>, %k: tensor<4x64x64xf32>, %v: tensor<4x64x64xf32>) -> (tensor<4x64x64xf32>, tensor<4x64x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %kt0 = tensor.empty() : tensor<4x64x64xf32>
  %kt = linalg.transpose ins(%k : tensor<4x64x64xf32>) outs(%kt0 : tensor<4x64x64xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<4x64x64xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%sz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x64x64xf32>) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x64x64xf32>, tensor<4x64x64xf32>) outs(%oz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  return %o, %s : tensor<4x64x64xf32>, tensor<4x64x64xf32>
}

// -----

// The generic softmax straight on Q K^T (its two uses are the max and the
// exp), no scale factor and no mask: scale = 1.
// CHECK-LABEL: func.func @plain_generic_softmax(
// CHECK: attn.attention ins({{.*}}) outs({{.*}} : tensor<1x4x64x32xf32>) scale = 1.000000e+00
// CHECK-NOT: linalg.
#id3 = affine_map<(b, i, j) -> (b, i, j)>
#row3 = affine_map<(b, i, j) -> (b, i)>
func.func @plain_generic_softmax(%q: tensor<4x64x32xf32>, %k: tensor<4x64x32xf32>, %v: tensor<4x64x32xf32>) -> tensor<4x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %kt0 = tensor.empty() : tensor<4x32x64xf32>
  %kt = linalg.transpose ins(%k : tensor<4x64x32xf32>) outs(%kt0 : tensor<4x32x64xf32>) permutation = [0, 2, 1]
  %s0 = tensor.empty() : tensor<4x64x64xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%s0 : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x64x32xf32>, tensor<4x32x64xf32>) outs(%sz : tensor<4x64x64xf32>) -> tensor<4x64x64xf32>
  %r0 = tensor.empty() : tensor<4x64xf32>
  %minf = linalg.fill ins(%ninf : f32) outs(%r0 : tensor<4x64xf32>) -> tensor<4x64xf32>
  %max = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%s : tensor<4x64x64xf32>) outs(%minf : tensor<4x64xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.maxnumf %acc, %x : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %e = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %max : tensor<4x64x64xf32>, tensor<4x64xf32>) outs(%s0 : tensor<4x64x64xf32>) {
  ^bb0(%x: f32, %mx: f32, %out: f32):
    %d = arith.subf %x, %mx : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<4x64x64xf32>
  %lz = linalg.fill ins(%zero : f32) outs(%r0 : tensor<4x64xf32>) -> tensor<4x64xf32>
  %l = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%e : tensor<4x64x64xf32>) outs(%lz : tensor<4x64xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %r = arith.addf %x, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %l : tensor<4x64x64xf32>, tensor<4x64xf32>) outs(%s0 : tensor<4x64x64xf32>) {
  ^bb0(%x: f32, %sum: f32, %out: f32):
    %r = arith.divf %x, %sum : f32
    linalg.yield %r : f32
  } -> tensor<4x64x64xf32>
  %o0 = tensor.empty() : tensor<4x64x32xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%o0 : tensor<4x64x32xf32>) -> tensor<4x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x64x64xf32>, tensor<4x64x32xf32>) outs(%oz : tensor<4x64x32xf32>) -> tensor<4x64x32xf32>
  return %o : tensor<4x64x32xf32>
}
