// What the wgmma kernel refuses when it is requested, and the mma.sync
// fallback when sm_90a's default family is not requested.
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_90a kernel=wgmma" -verify-diagnostics
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_90a" | FileCheck %s --check-prefix=FALLBACK
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_90a kernel=wgmma warp-rows=32" 2>&1 | FileCheck %s --check-prefix=ROWS

// ROWS: the wgmma kernel takes no warp-rows option (a warpgroup holds 64 query rows), got warp-rows = 32

// The module's attributes print before its functions.
// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @quantized
// FALLBACK: nvvm.mma.sync
func.func @quantized(%q: memref<1x2x256x64xf16>, %o: memref<1x2x256x64xf16>) {
  // expected-error @+1 {{the wgmma kernel runs Q.K in 16 bits, int8 or E4M3 and P.V with f32 or two-level accumulation; kernel = mma_sync runs this precision}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x64xf16>, memref<1x2x256x64xf16>, memref<1x2x256x64xf16>)
    outs(%o : memref<1x2x256x64xf16>) precision = #attn.precision<sage1>
    tiling = #attn.tiling<query = [128], key = [64]>
  return
}

// -----

// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @small_query_tile
func.func @small_query_tile(%q: memref<1x2x256x64xf16>, %o: memref<1x2x256x64xf16>) {
  // expected-error @+1 {{the wgmma kernel needs query tiles of 64 or 128 tokens (one warpgroup per 64 rows), got 32}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x64xf16>, memref<1x2x256x64xf16>, memref<1x2x256x64xf16>)
    outs(%o : memref<1x2x256x64xf16>) tiling = #attn.tiling<query = [32], key = [64]>
  return
}

// -----

// 64-byte rows (D = 32) take the mma.sync kernel unless wgmma is asked for.
// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @narrow_rows
func.func @narrow_rows(%q: memref<1x2x256x32xf16>, %o: memref<1x2x256x32xf16>) {
  // expected-error @+1 {{the wgmma kernel needs Q and K rows of whole 128-byte slabs (D in {64, 128, 192, 256}, 8-bit D in {128, 256}; kernel = mma_sync serves the others), got D = 32}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x32xf16>, memref<1x2x256x32xf16>, memref<1x2x256x32xf16>)
    outs(%o : memref<1x2x256x32xf16>) tiling = #attn.tiling<query = [128], key = [128]>
  return
}

// -----

// E4M3 Q.K with key tiles FP8 P.V cannot use on wgmma: the mma.sync
// kernel (its e4m3 m16n8k32) serves it unless wgmma is asked for.
// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @fp8_short_key_tile
func.func @fp8_short_key_tile(%q: memref<1x2x256x128xbf16>, %o: memref<1x2x256x128xbf16>) {
  // expected-error @+1 {{the wgmma kernel with FP8 P.V needs key tiles of a multiple of 128 tokens (V^T rows of whole 128-byte slabs), got 64}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x128xbf16>, memref<1x2x256x128xbf16>, memref<1x2x256x128xbf16>)
    outs(%o : memref<1x2x256x128xbf16>) precision = #attn.precision<fp8> tiling = #attn.tiling<query = [128], key = [64]>
  return
}

// -----

// E4M3 Q.K at D = 64 (64-byte rows): the mma.sync kernel's.
// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @fp8_narrow_rows
func.func @fp8_narrow_rows(%q: memref<1x2x256x64xbf16>, %o: memref<1x2x256x64xbf16>) {
  // expected-error @+1 {{the wgmma kernel needs Q and K rows of whole 128-byte slabs (D in {64, 128, 192, 256}, 8-bit D in {128, 256}; kernel = mma_sync serves the others), got D = 64}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x64xbf16>, memref<1x2x256x64xbf16>, memref<1x2x256x64xbf16>)
    outs(%o : memref<1x2x256x64xbf16>) precision = #attn.precision<fp8> tiling = #attn.tiling<query = [128], key = [128]>
  return
}

// -----

// FP8 P.V keeps O and the two-level products in registers: Dv <= 128.
// FALLBACK: attn.kernel_family = "mma_sync"
// FALLBACK: func.func @fp8_value_wide
func.func @fp8_value_wide(%q: memref<1x2x256x256xbf16>, %o: memref<1x2x256x256xbf16>) {
  // expected-error @+1 {{the wgmma kernel with FP8 P.V needs Dv a multiple of 8 of at most 128 (O and the two-level products in registers); kernel = mma_sync serves the others, got Dv = 256}}
  attn.attention ins(%q, %q, %q : memref<1x2x256x256xbf16>, memref<1x2x256x256xbf16>, memref<1x2x256x256xbf16>)
    outs(%o : memref<1x2x256x256xbf16>) precision = #attn.precision<sage2_8b> tiling = #attn.tiling<query = [64], key = [32]>
  return
}
