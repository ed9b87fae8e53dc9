// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu -verify-diagnostics
// RUN: not attn-opt %s -attn-lower-to-gpu=target=sm_75 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not attn-opt %s -attn-lower-to-gpu=stages=7 2>&1 | FileCheck %s --check-prefix=STAGES

// TARGET: attn-lower-to-gpu: unknown target 'sm_75', expected sm_80, sm_86 or sm_89
// STAGES: attn-lower-to-gpu: stages = 7 is not supported; expected 2, 3 or 4

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

func.func @head_dim(%q: memref<1x1x64x96xf16>) {
  // expected-error @+1 {{head dim D = 96 is not supported; it must be static and 32, 64, 128, 192 or 256}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x96xf16>, memref<1x1x64x96xf16>, memref<1x1x64x96xf16>)
    outs(%q : memref<1x1x64x96xf16>)
  return
}

// -----

func.func @quantized(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{precision #attn.precision<sage1> is not supported by the GPU kernels yet}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<sage1>
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
