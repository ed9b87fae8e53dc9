// The chip's limits are checked when the kernel is built, with the tile
// shape and the limit in the diagnostic (not at launch).
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=target=sm_86 -verify-diagnostics
// The same tiles fit sm_80's 163 KB and sm_90a's 227 KB.
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=target=sm_80 -o /dev/null
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=target=sm_90a -o /dev/null

// Integer Q.K with 128-key tiles and a 16-bit P.V: Q 64 x 128 bytes, then
// per stage K 128 x 128 bytes, V 128 x 256 bytes and 128 key scales.
func.func @sage1_wide_keys(%q: memref<1x4x?x128xbf16>, %k: memref<1x2x?x128xbf16>, %o: memref<1x4x?x128xbf16>) {
  // expected-error @+1 {{attn-lower-to-gpu: tiles of 64 query by 128 key tokens with D = 128, Dv = 128 and 2 stages need 107520 bytes of shared memory; sm_86 allows 101376 per block (use smaller tiles or fewer stages)}}
  attn.attention ins(%q, %k, %k : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>)
    outs(%o : memref<1x4x?x128xbf16>) mask = #attn.causal precision = #attn.precision<sage1>
    tiling = #attn.tiling<query = [64], key = [128]>
  return
}

// -----

// bf16 D = 256 with 64 x 64 tiles: Q 64 x 512 bytes, per stage K and V
// 64 x 512 bytes each.
func.func @d256_wide_keys(%q: memref<1x1x?x256xbf16>, %o: memref<1x1x?x256xbf16>) {
  // expected-error @+1 {{tiles of 64 query by 64 key tokens with D = 256, Dv = 256 and 2 stages need 163840 bytes of shared memory; sm_86 allows 101376 per block}}
  attn.attention ins(%q, %q, %q : memref<1x1x?x256xbf16>, memref<1x1x?x256xbf16>, memref<1x1x?x256xbf16>)
    outs(%o : memref<1x1x?x256xbf16>) tiling = #attn.tiling<query = [64], key = [64]>
  return
}
