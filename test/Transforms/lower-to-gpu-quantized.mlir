// Quantized precisions on the GPU (SEMANTICS.md section 3): pre-kernels fill
// scratch buffers the attention kernel reads (docs/design/QuantizedGpu.md).
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu -canonicalize | FileCheck %s --check-prefix=HOST

// sage1 on bf16 inputs: K mean (smooth_k), K and Q to int8 per block of 64
// tokens, V rounded to f16 (P.V in f16); then the attention kernel with
// s8 mma.sync, k scales staged by 4-byte cp.async, dequantization by one
// multiply, and an f16 O accumulator. The LSE gets smooth_k's shift back.
// CHECK-LABEL: func.func @sage1
// CHECK-COUNT-9: gpu.alloc
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_key_mean
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_k
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_q
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_convert_v
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK-COUNT-9: gpu.dealloc
// CHECK-NOT: attn.attention
// CHECK: gpu.func @attn_quantize_key_mean
// CHECK-SAME: known_block_size = array<i32: 64, 1, 1>
// CHECK: gpu.func @attn_quantize_quantize_k
// Pass 1 (max|x'| per token, f64), a barrier, pass 2 (the scale, and x / scale
// rounded to even in f64, as the CPU emulation).
// CHECK: nvvm.shfl.sync bfly
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.d2i.rn"
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: llvm.store {{.*}} : i16, !llvm.ptr<1>
// CHECK: gpu.func @attn_quantize_quantize_q
// CHECK: gpu.func @attn_quantize_convert_v
// CHECK: arith.truncf {{.*}} : f32 to f16
// CHECK: gpu.func @attn_fwd
// CHECK: nvvm.cp.async.shared.global {{.*}}, 4, cache = ca
// CHECK: scf.for
// CHECK: nvvm.mma.sync {{.*}} {intOverflowBehavior = #nvvm.mma_int_overflow<wrapped>, layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<s8>, multiplicandBPtxType = #nvvm.mma_type<s8>, shape = #nvvm.shape<m = 16, n = 8, k = 32>} : (i32, i32, i32) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK: arith.sitofp
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, vector<2xf16>) -> !llvm.struct<(vector<2xf16>, vector<2xf16>)>
// The epilogue adds lse_correction (scale q.mean(K)).
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"
// CHECK: llvm.load {{.*}} -> f32
// CHECK: arith.addf
// The scratch buffers reach the manifest, sized by run-time arguments.
// HOST: attn.scratch = [{bytes = [{arg = "batch", ceil_div = 1 : i64, constant = 1 : i64}, {constant = 2 : i64}, {arg = "seq_k", ceil_div = 256 : i64, constant = 1 : i64}, {constant = 1024 : i64}], name = "k_mean_partial"}, {bytes = [{arg = "batch", ceil_div = 1 : i64, constant = 1 : i64}, {constant = 4 : i64}, {arg = "seq_q", ceil_div = 1 : i64, constant = 1 : i64}, {constant = 128 : i64}], name = "q_quant"}
// HOST-LABEL: func.func @sage1
func.func @sage1(%q: memref<1x4x?x128xbf16>, %k: memref<1x2x?x128xbf16>, %o: memref<1x4x?x128xbf16>, %lse: memref<1x4x?xf32>) {
  attn.attention ins(%q, %k, %k : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>)
    outs(%o : memref<1x4x?x128xbf16>, %lse : memref<1x4x?xf32>) mask = #attn.causal precision = #attn.precision<sage1>
  return
}

// -----

// int4 per token, no smoothing, P.V in the inputs' f16 with f32 sums: no
// mean and no V kernel; Q.K on mma.sync m16n8k64 s4.
// CHECK-LABEL: func.func @int4_token
// CHECK-COUNT-6: gpu.alloc
// CHECK-NOT: attn_quantize_key_mean
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_k
// CHECK: gpu.launch_func @attn_kernels::@attn_quantize_quantize_q
// CHECK-NOT: attn_quantize_convert_v
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: gpu.func @attn_quantize_quantize_k
// Nibbles: channel 2p low, 2p + 1 high, one byte per pair.
// CHECK: arith.shli
// CHECK: llvm.store {{.*}} : i8, !llvm.ptr<1>
// CHECK: gpu.func @attn_fwd
// CHECK: multiplicandAPtxType = #nvvm.mma_type<s4>, multiplicandBPtxType = #nvvm.mma_type<s4>, shape = #nvvm.shape<m = 16, n = 8, k = 64>
// CHECK: shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
func.func @int4_token(%q: memref<2x2x100x64xf16>, %o: memref<2x2x100x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<2x2x100x64xf16>, memref<2x2x100x64xf16>, memref<2x2x100x64xf16>)
    outs(%o : memref<2x2x100x64xf16>) precision = #attn.precision<qk = i4, qk_granularity = token>
  return
}
