// Diagnostics of the sm_89 kernel class (FP8 P.V).
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=target=sm_89 -verify-diagnostics

func.func @fp8_key_tile(%q: memref<1x1x64x64xf16>) {
  // expected-error @+1 {{FP8 P.V (m16n8k32) needs key tiles of a multiple of 32 tokens, got 16}}
  attn.attention ins(%q, %q, %q : memref<1x1x64x64xf16>, memref<1x1x64x64xf16>, memref<1x1x64x64xf16>)
    outs(%q : memref<1x1x64x64xf16>) precision = #attn.precision<sage2_8b>
    tiling = #attn.tiling<query = [64], key = [16]>
  return
}
