// The sm_89 kernel class: FP8 P.V on mma.sync m16n8k32 e4m3 (the LLVM
// intrinsic; GPU-NOTES.md 4), with V quantized per channel into E4M3 V^T
// per key tile by a pre-kernel.
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_89 -attn-sparsity -attn-lower-to-gpu=target=sm_89 | FileCheck %s

// sage2_8b: int8 Q.K per thread(64) groups, smooth_k, FP8 P.V with
// two-level accumulation.
// CHECK-LABEL: func.func @sage2_8b
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_key_mean
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_k
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_q
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_value_max
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_v
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// Thread granularity: the group max runs over every 8th token of the block.
// CHECK: gpu.func @attn_quantize_quantize_k
// CHECK: arith.remui %{{.*}}, %c8
// CHECK: gpu.func @attn_quantize_quantize_v
// V / scale to E4M3 pairs, staged in shared memory, written as V^T rows.
// CHECK: llvm.call_intrinsic "llvm.nvvm.ff.to.e4m3x2.rn"
// CHECK: gpu.barrier
// CHECK: llvm.store {{.*}} : vector<4xi32>, !llvm.ptr<1>
// CHECK: gpu.func @attn_fwd
// CHECK: multiplicandAPtxType = #nvvm.mma_type<s8>
// P * 448 in E4M3 registers, V^T by plain ldmatrix, a fresh f32 tile
// accumulator added into O (two_level).
// CHECK: arith.mulf %{{.*}}, %cst
// CHECK: llvm.call_intrinsic "llvm.nvvm.ff.to.e4m3x2.rn"
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK: llvm.call_intrinsic "llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"
// CHECK: arith.addf
func.func @sage2_8b(%q: memref<1x4x?x128xbf16>, %o: memref<1x4x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x4x?x128xbf16>, memref<1x4x?x128xbf16>, memref<1x4x?x128xbf16>)
    outs(%o : memref<1x4x?x128xbf16>) precision = #attn.precision<sage2_8b>
  return
}

// -----

// sage2_4b on a 2-D neighborhood: int4 Q.K, smooth_q (block means and the
// dS product), key tiles are boxes of the grid, so V^T is written per box.
// CHECK-LABEL: func.func @sage2_4b_neighborhood
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_key_mean
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_query_block_mean
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_score_correction
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_k
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_q
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_value_max
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_v
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: gpu.func @attn_quantize_score_correction
// CHECK: llvm.intr.fma
// CHECK: gpu.func @attn_fwd
// CHECK: multiplicandAPtxType = #nvvm.mma_type<s4>
// CHECK: llvm.call_intrinsic "llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"
func.func @sage2_4b_neighborhood(%q: memref<1x2x1024x64xf16>, %o: memref<1x2x1024x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>)
    outs(%o : memref<1x2x1024x64xf16>) mask = #attn.neighborhood<grid = [32, 32], window = [7, 7]>
    precision = #attn.precision<sage2_4b>
  return
}

// -----

// The fp8 preset: E4M3 Q and K per 64-token block (pre-kernels), S = Q K^T
// on the same m16n8k32 e4m3 as P.V (the 8-bit A/B fragments of s8 and
// e4m3 are laid out alike), with f32 products (no integer conversion).
// CHECK-LABEL: func.func @fp8
// CHECK: gpu.func @attn_quantize_quantize_k(
// CHECK: llvm.call_intrinsic "llvm.nvvm.ff.to.e4m3x2.rn"
// CHECK: gpu.func @attn_fwd(
// CHECK-NOT: llvm.sitofp
// CHECK-NOT: nvvm.mma.sync
// CHECK: llvm.call_intrinsic "llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"
func.func @fp8(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
               %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>) mask = #attn.causal precision = #attn.precision<fp8>
  return
}
