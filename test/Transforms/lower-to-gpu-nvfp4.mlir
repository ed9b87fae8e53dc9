// NVFP4 (SEMANTICS.md section 3; docs/design/Nvfp4Kernels.md) on sm_120a's
// block-scaled mma.sync: the pre-kernels write E2M1 Q, K and V^T with
// their E4M3 scales; the attention kernel multiplies Q.K and P.V with
// mma.sync m16n8k64 kind::mxf4nvf4 scale_vec::4X, quantizing P in
// registers. With emulate-block-scaled-mma, the same kernels for sm_90a
// carry no block-scaled MMA and no E2M1 conversion instruction.
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=target=sm_120a -verify-diagnostics | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_90a emulate-block-scaled-mma=true" -verify-diagnostics | FileCheck %s --check-prefix=EMULATED
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_120a emulate-block-scaled-mma=true" 2>&1 | FileCheck %s --check-prefix=NATIVE
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_80 emulate-block-scaled-mma=true" 2>&1 | FileCheck %s --check-prefix=NOFP8
// sm_100a has no warp-level block-scaled MMA (tcgen05 has its own).
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_100a kernel=mma_sync" 2>&1 | FileCheck %s --check-prefix=SM100

// NATIVE: attn-lower-to-gpu: emulate-block-scaled-mma: sm_120a runs the block-scaled mma.sync natively
// NOFP8: attn-lower-to-gpu: emulate-block-scaled-mma: sm_80 lacks the E4M3 conversions the emulation uses (sm_89 and later)
// SM100: NVFP4 (f4E2M1FN) needs the block-scaled mma.sync of sm_120a and sm_120f, got target=sm_100a

// The preset: Q and K rows of D / 2 bytes with D / 16 scale bytes, V^T of
// whole 64-key tiles (32 bytes and 4 scale bytes per channel and tile).
// CHECK-LABEL: module attributes
// CHECK-SAME: attn.kernel_family = "mma_sync"
// CHECK-SAME: name = "attn_quantize_quantize_k"
// CHECK-SAME: name = "attn_quantize_quantize_q"
// CHECK-SAME: name = "attn_quantize_quantize_v"
// CHECK-SAME: ["v_nvfp4_t", "ptr"], ["v_block_scale", "ptr"]
// CHECK-SAME: name = "attn_fwd"
// CHECK-SAME: {constant = 64 : i64}], name = "q_quant"}
// CHECK-SAME: {constant = 8 : i64}], name = "q_scale"}
// CHECK-SAME: {constant = 64 : i64}], name = "k_quant"}
// CHECK-SAME: {constant = 8 : i64}], name = "k_scale"}
// CHECK-SAME: {constant = 512 : i64}, {arg = "seq_k", ceil_div = 64 : i64, constant = 32 : i64}], name = "v_nvfp4_t"}
// CHECK-SAME: {constant = 512 : i64}, {arg = "seq_k", ceil_div = 64 : i64, constant = 4 : i64}], name = "v_block_scale"}
// CHECK: func.func @nvfp4
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_v
// Q tile 128 x 64 bytes, 2 stages of K (64 x (64 + 8)) and V^T
// (128 x (32 + 4)).
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK-SAME: dynamic_shared_memory_size %c26624_i32
// CHECK: gpu.func @attn_quantize_quantize_v
// CHECK: gpu.func @attn_fwd
// Q.K: 2 k64 steps x 8 n8 chunks; P quantized; P.V: 1 k64 step x 16 n8
// chunks.
// CHECK-COUNT-16: nvvm.mma.block_scale {{.*}}blockScaleFormat = #nvvm.block_scale_format<ue4m3>, kind = #nvvm.block_scale_kind<mxf4nvf4>, multiplicandAPtxType = #nvvm.mma_type<e2m1>, multiplicandBPtxType = #nvvm.mma_type<e2m1>, scaleVecSize = #nvvm.scale_vec_size<x4>, shape = #nvvm.shape<m = 16, n = 8, k = 64>}
// CHECK: nvvm.convert.f32x2.to.f4x2
// CHECK-COUNT-16: nvvm.mma.block_scale
// CHECK-NOT: nvvm.mma.block_scale

// EMULATED-LABEL: module attributes
// EMULATED-SAME: attn.kernel_family = "mma_sync"
// EMULATED: gpu.func @attn_fwd
// EMULATED-NOT: nvvm.mma.block_scale
// EMULATED-NOT: nvvm.convert.f32x2.to.f4x2
// EMULATED: nvvm.mma.sync {{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// EMULATED-NOT: nvvm.mma.block_scale
// EMULATED-NOT: nvvm.convert.f32x2.to.f4x2
func.func @nvfp4(%q: memref<1x4x200x128xbf16>, %o: memref<1x4x200x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x4x200x128xbf16>, memref<1x4x200x128xbf16>, memref<1x4x200x128xbf16>)
    outs(%o : memref<1x4x200x128xbf16>) precision = #attn.precision<nvfp4>
  return
}

// -----

// NVFP4 Q.K alone: P.V in bf16 from S's plain layout.
// CHECK-LABEL: module attributes
// CHECK-NOT: v_nvfp4_t
// CHECK: gpu.func @attn_fwd
// CHECK-COUNT-8: nvvm.mma.block_scale
// CHECK-NOT: nvvm.mma.block_scale
// CHECK: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>
// EMULATED-LABEL: module attributes
// EMULATED: gpu.func @attn_fwd
// EMULATED-NOT: nvvm.mma.block_scale
func.func @qk_only(%q: memref<1x1x100x64xbf16>, %o: memref<1x1x100x64xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>)
    outs(%o : memref<1x1x100x64xbf16>) precision = #attn.precision<qk = f4E2M1FN, pv = bf16>
  return
}

// -----

func.func @fp4_value_key_tile_32(%q: memref<1x1x100x64xbf16>, %o: memref<1x1x100x64xbf16>) {
  // expected-error @+1 {{NVFP4 P.V (block-scaled m16n8k64, V's scales per 16 consecutive keys) needs flat key tiles of a multiple of 64 tokens, got 32 in 1 dimension}}
  attn.attention ins(%q, %q, %q : memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>)
    outs(%o : memref<1x1x100x64xbf16>) precision = #attn.precision<pv = f4E2M1FN>
    tiling = #attn.tiling<query = [64], key = [32]>
  return
}

// -----

func.func @fp4_value_grid_tiles(%q: memref<1x1x256x64xbf16>, %o: memref<1x1x256x64xbf16>) {
  // expected-error @+1 {{needs flat key tiles of a multiple of 64 tokens, got 64 in 2 dimensions}}
  attn.attention ins(%q, %q, %q : memref<1x1x256x64xbf16>, memref<1x1x256x64xbf16>, memref<1x1x256x64xbf16>)
    outs(%o : memref<1x1x256x64xbf16>)
    mask = #attn.neighborhood<grid = [16, 16], window = [5, 5]>
    precision = #attn.precision<pv = f4E2M1FN>
    tiling = #attn.tiling<query = [8, 8], key = [8, 8]>
  return
}

// -----

func.func @smooth_q(%q: memref<1x1x100x64xbf16>, %o: memref<1x1x100x64xbf16>) {
  // expected-error @+1 {{smooth_q with NVFP4 Q.K is not supported by the GPU kernels yet}}
  attn.attention ins(%q, %q, %q : memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>, memref<1x1x100x64xbf16>)
    outs(%o : memref<1x1x100x64xbf16>) precision = #attn.precision<qk = f4E2M1FN, smooth_q = true>
  return
}
