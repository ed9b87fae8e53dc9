// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu -verify-diagnostics
// RUN: not attn-opt %s -attn-lower-to-gpu=target=sm_75 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not attn-opt %s -attn-lower-to-gpu=stages=7 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not attn-opt %s -attn-lower-to-gpu=query-tile-order=up 2>&1 | FileCheck %s --check-prefix=ORDER
// RUN: not attn-opt %s -attn-lower-to-gpu=unit-order=rows 2>&1 | FileCheck %s --check-prefix=UNITS
// RUN: not attn-opt %s -attn-lower-to-gpu="target=sm_100a kernel=tcgen05" 2>&1 | FileCheck %s --check-prefix=NOENGINE
// RUN: not attn-opt %s -attn-lower-to-gpu="target=sm_86 kernel=tcgen05" 2>&1 | FileCheck %s --check-prefix=NOTONCHIP
// RUN: not attn-opt %s -attn-lower-to-gpu="kernel=mma.sync" 2>&1 | FileCheck %s --check-prefix=KERNEL
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu="deterministic=true" 2>&1 | FileCheck %s --check-prefix=DETERMINISTIC

// TARGET: attn-lower-to-gpu: unknown target 'sm_75', expected one of sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a, sm_120f
// NOENGINE: attn-lower-to-gpu: the tcgen05 kernels for sm_100a are not implemented yet; kernel = mma_sync runs the warp-level kernel on this chip
// NOTONCHIP: attn-lower-to-gpu: kernel = tcgen05 is not an MMA family sm_86 executes
// KERNEL: attn-lower-to-gpu: unknown kernel 'mma.sync', expected mma_sync, wgmma or tcgen05
// STAGES: attn-lower-to-gpu: stages = 7 is not supported; expected 2, 3 or 4
// ORDER: attn-lower-to-gpu: query-tile-order = 'up' is not supported; expected ascending or descending
// UNITS: attn-lower-to-gpu: unit-order = 'rows' is not supported; expected heads-first or tiles-first

func.func @tensors(%q: tensor<1x1x64x64xf16>, %o: tensor<1x1x64x64xf16>) -> tensor<1x1x64x64xf16> {
  // expected-error @+1 {{attn-lower-to-gpu needs memref operands; bufferize first}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>, tensor<1x1x64x64xf16>)
         outs(%o : tensor<1x1x64x64xf16>) -> tensor<1x1x64x64xf16>
  return %r : tensor<1x1x64x64xf16>
}

// -----

func.func @f32_inputs(%q: memref<1x1x64x64xf32>) {
  // expected-error @+1 {{Q, K and V of type 'f32' are not supported; the tensor-core kernel takes f16 or bf16}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf32>, memref<1x1x64x64xf32>, memref<1x1x64x64xf32>)
    outs(%q : memref<1x1x64x64xf32>)
  return
}

// -----

func.func @head_dim(%q: memref<1x1x64x100xf16>) {
  // expected-error @+1 {{head dim D = 100 is not supported; it must be static, a multiple of 8 and at most 256}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x100xf16>, memref<1x1x64x100xf16>, memref<1x1x64x100xf16>)
    outs(%q : memref<1x1x64x100xf16>)
  return
}

// -----

func.func @head_dim_above_256(%q: memref<1x1x64x264xf16>) {
  // expected-error @+1 {{head dim D = 264 is not supported; it must be static, a multiple of 8 and at most 256}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x264xf16>, memref<1x1x64x264xf16>, memref<1x1x64x264xf16>)
    outs(%q : memref<1x1x64x264xf16>)
  return
}

// -----

func.func @qk_fp8(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{E4M3 Q.K (qk = f8E4M3FN) needs a chip with the E4M3 mma.sync (sm_89 and later), got target=sm_80}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<qk = f8E4M3FN, qk_granularity = token>
  return
}

// -----

func.func @pv_fp8_needs_sm89(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{FP8 P.V (pv = f8E4M3FN) needs a chip with the E4M3 mma.sync (sm_89 and later), got target=sm_80}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<sage2_8b>
  return
}

// -----

func.func @pv_fp4_without_block_scaled_mma(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{NVFP4 (f4E2M1FN) needs the block-scaled mma.sync of sm_120a and sm_120f, got target=sm_80 (emulate-block-scaled-mma runs those kernels on sm_89 and later, slowly)}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<pv = f4E2M1FN>
  return
}

// -----

func.func @qk_fp4_without_block_scaled_mma(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{NVFP4 (f4E2M1FN) needs the block-scaled mma.sync of sm_120a and sm_120f, got target=sm_80}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<nvfp4>
  return
}

// -----

func.func @smooth_q_unquantized(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{smooth_q without integer Q.K is not supported by the GPU kernels yet}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<smooth_q>
  return
}

// -----

func.func @int4_short_rows(%q: memref<1x1x64x32xf16>) {
  // expected-error @+1 {{Q.K in 4-bit integers needs rows of at least 32 bytes (head dim D >= 64), got D = 32}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x32xf16>, memref<1x1x64x32xf16>, memref<1x1x64x32xf16>)
    outs(%q : memref<1x1x64x32xf16>) precision = #attn.precision<qk = i4, qk_granularity = token>
  return
}

// -----

func.func @group_precision(%q: memref<1x2x64x64xf16>) {
  // expected-error @+1 {{head group precision #attn.precision<sage1> differs from the op's; the GPU kernels serve one precision per op}}
  attn.attention ins(%q, %q, %q : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>)
    outs(%q : memref<1x2x64x64xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], precision = #attn.precision<sage1>>]>
  return
}

// -----

func.func @query_tile(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{a query tile of 24 tokens is not supported; it must be a multiple of 16 (one warp per 16 rows) of at most 256}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) tiling = #attn.tiling<query = [24], key = [64]>
  return
}

// -----

func.func @dynamic_heads(%q: memref<1x?x64x64xf16>) {
  // expected-error @+1 {{needs static head counts}}
  attn.attention ins(%q, %q, %q : memref<1x?x64x64xf16>, memref<1x?x64x64xf16>, memref<1x?x64x64xf16>)
    outs(%q : memref<1x?x64x64xf16>)
  return
}


// -----

func.func @smooth_q_token_granularity(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{smooth_q with query blocks of 1 tokens (token granularity) is not supported by the GPU kernels yet}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, smooth_q>
  return
}

// -----

// A bias shared by the heads: dBias sums them with f32 reductions, which
// the deterministic mode refuses (the default mode takes it).
// DETERMINISTIC: 'attn.attention_grad' op attn-lower-to-gpu: deterministic: dBias of a bias broadcast over heads is summed with f32 reductions whose order varies; give the bias a dimension per batch element and head, or drop deterministic
func.func @backward_bias_over_heads(%q: memref<1x2x64x64xf16>, %lse: memref<1x2x64xf32>, %bias: memref<64x64xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64xf32>, memref<1x2x64x64xf16>) bias(%bias : memref<64x64xf32>) outs(%q, %q, %q : memref<1x2x64x64xf16>, memref<1x2x64x64xf16>, memref<1x2x64x64xf16>) bias_grad(%bias : memref<64x64xf32>)
  return
}


// -----

func.func @backward_head_dim(%q: memref<1x1x64x264xf16>, %lse: memref<1x1x64xf32>) {
  // expected-error @below {{'attn.attention_grad' op attn-lower-to-gpu: the backward kernel takes static head dims that are multiples of 8 of at most 256, got head dim D = 264}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x64x264xf16>, memref<1x1x64x264xf16>, memref<1x1x64x264xf16>, memref<1x1x64x264xf16>, memref<1x1x64xf32>, memref<1x1x64x264xf16>) outs(%q, %q, %q : memref<1x1x64x264xf16>, memref<1x1x64x264xf16>, memref<1x1x64x264xf16>)
  return
}

// -----

func.func @backward_output_grad_type(%q: memref<1x1x64x64xf16>, %lse: memref<1x1x64xf32>, %dy: memref<1x1x64x64xf32>) {
  // expected-error @below {{'attn.attention_grad' op attn-lower-to-gpu: dY (output_grad) of type 'f32' must have Q's element type 'f16' (the backward multiplies them on tensor cores)}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %dy : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64xf32>, memref<1x1x64x64xf32>) outs(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
  return
}

// -----

func.func @backward_tiles(%q: memref<1x1x64x64xf16>, %lse: memref<1x1x64xf32>) {
  // expected-error @below {{'attn.attention_grad' op attn-lower-to-gpu: the backward kernel takes key tiles of a multiple of 16 tokens of at most 128, got 24}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64xf32>, memref<1x1x64x64xf16>) outs(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>) tiling = #attn.tiling<query = [32], key = [24]>
  return
}

// -----

func.func @two_backward_ops(%q: memref<1x1x64x64xf16>, %lse: memref<1x1x64xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64xf32>, memref<1x1x64x64xf16>) outs(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
  // expected-error @below {{'attn.attention_grad' op attn-lower-to-gpu: a second attn.attention_grad in one module would share scratch buffer 'bwd_q_grad_accumulator'; compile such ops in separate modules}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64xf32>, memref<1x1x64x64xf16>) outs(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
  return
}
