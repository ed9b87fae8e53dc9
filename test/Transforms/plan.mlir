// RUN: attn-opt %s -split-input-file -attn-plan | FileCheck %s --check-prefix=CPU
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_90a kernel=wgmma" | FileCheck %s --check-prefix=SM90
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_80 query-tile=32 key-tile=48" | FileCheck %s --check-prefix=OVERRIDE
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 | FileCheck %s --check-prefix=SM80
// sm_90a's default kernel is the wgmma one; ops whose operands it cannot
// multiply (4-bit Q.K, f16 accumulation, rows of part of a 128-byte slab)
// get the mma.sync kernel and its tiles.
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a | FileCheck %s --check-prefix=SM90D
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_90a kernel=mma_sync" | FileCheck %s --check-prefix=SM80
// 128-key integer tiles only where their stages fit the chip's shared
// memory: not in sm_86's 99 KB, not with 4 stages in sm_80's 163 KB.
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_86 | FileCheck %s --check-prefix=SMEM
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_80 stages=4" | FileCheck %s --check-prefix=SMEM
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_86 | FileCheck %s --check-prefix=SM86

// A 2-D neighborhood gets N-D patches of its grid: on the CPU 16 tokens
// along the last dimension, powers of two along the first; on GPUs patches
// as square as possible, 64 query tokens at most for the mma.sync kernel,
// the wgmma kernel's 128-token tiles kept.
// CPU-LABEL: func.func @grid
// CPU: tiling = #attn.tiling<query = [1, 16], key = [1, 16]>
// SM90-LABEL: func.func @grid
// SM90: tiling = #attn.tiling<query = [8, 16], key = [8, 16]>
// SM90D-LABEL: func.func @grid
// SM90D: tiling = #attn.tiling<query = [8, 16], key = [8, 16]>
// SM80-LABEL: func.func @grid
// SM80: tiling = #attn.tiling<query = [8, 8], key = [8, 8]>
// OVERRIDE-LABEL: func.func @grid
// OVERRIDE: tiling = #attn.tiling<query = [32], key = [48]>
func.func @grid(%q: tensor<1x1x16384x64xf16>, %o: tensor<1x1x16384x64xf16>) -> tensor<1x1x16384x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16384x64xf16>, tensor<1x1x16384x64xf16>, tensor<1x1x16384x64xf16>)
         outs(%o : tensor<1x1x16384x64xf16>) mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
         -> tensor<1x1x16384x64xf16>
  return %r : tensor<1x1x16384x64xf16>
}

// -----

// Masks on flat indices get flat tiles; a large head dim halves the GPU
// query tile; a previous tiling is replaced.
// CPU-LABEL: func.func @flat
// CPU: tiling = #attn.tiling<query = [16], key = [16]>
// The wgmma kernel halves the key tile for D > 128 (shared memory).
// SM90-LABEL: func.func @flat
// SM90: tiling = #attn.tiling<query = [128], key = [64]>
// SM90D-LABEL: func.func @flat
// SM90D: tiling = #attn.tiling<query = [128], key = [64]>
// The mma.sync kernel also halves the key tile for D = 256 (registers).
// SM80-LABEL: func.func @flat
// SM80: tiling = #attn.tiling<query = [64], key = [32]>
func.func @flat(%q: tensor<1x1x100x256xf16>, %o: tensor<1x1x100x256xf16>) -> tensor<1x1x100x256xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x100x256xf16>, tensor<1x1x100x256xf16>, tensor<1x1x100x256xf16>)
         outs(%o : tensor<1x1x100x256xf16>) mask = #attn.causal tiling = #attn.tiling<query = [3], key = [3]>
         -> tensor<1x1x100x256xf16>
  return %r : tensor<1x1x100x256xf16>
}

// -----

// A 3-D grid inside a composite, and a grid of a head group.
// SM90-LABEL: func.func @grid3d
// SM90: tiling = #attn.tiling<query = [4, 4, 8], key = [4, 4, 8]>
func.func @grid3d(%q: tensor<1x2x512x32xf16>, %o: tensor<1x2x512x32xf16>) -> tensor<1x2x512x32xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x512x32xf16>, tensor<1x2x512x32xf16>, tensor<1x2x512x32xf16>)
         outs(%o : tensor<1x2x512x32xf16>) mask = #attn.causal
         heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.and<#attn.causal, #attn.neighborhood<grid = [8, 8, 8], window = [3, 5, 5]>>>]>
         -> tensor<1x2x512x32xf16>
  return %r : tensor<1x2x512x32xf16>
}

// -----

// Integer Q.K on the mma.sync targets takes 64-row query tiles and, with a
// 16-bit P.V, 128-key tiles (measured faster on the H200); Hopper's tiles
// and the CPU's do not change.
// CPU-LABEL: func.func @integer_qk
// CPU: tiling = #attn.tiling<query = [16], key = [16]>
// SM90-LABEL: func.func @integer_qk
// SM90: tiling = #attn.tiling<query = [128], key = [128]>
// SM80-LABEL: func.func @integer_qk
// SM80: tiling = #attn.tiling<query = [64], key = [128]>
// SM90D-LABEL: func.func @integer_qk
// SM90D: tiling = #attn.tiling<query = [64], key = [128]>
// SMEM-LABEL: func.func @integer_qk
// SMEM: tiling = #attn.tiling<query = [64], key = [64]>
// OVERRIDE-LABEL: func.func @integer_qk
// OVERRIDE: tiling = #attn.tiling<query = [32], key = [48]>
func.func @integer_qk(%q: tensor<1x1x1000x128xf16>, %o: tensor<1x1x1000x128xf16>) -> tensor<1x1x1000x128xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>)
         outs(%o : tensor<1x1x1000x128xf16>) precision = #attn.precision<sage1>
         -> tensor<1x1x1000x128xf16>
  return %r : tensor<1x1x1000x128xf16>
}

// -----

// SM80-LABEL: func.func @float_qk
// SM80: tiling = #attn.tiling<query = [128], key = [64]>
// SM90D-LABEL: func.func @float_qk
// SM90D: tiling = #attn.tiling<query = [128], key = [128]>
func.func @float_qk(%q: tensor<1x1x1000x128xf16>, %o: tensor<1x1x1000x128xf16>) -> tensor<1x1x1000x128xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>)
         outs(%o : tensor<1x1x1000x128xf16>) precision = #attn.precision<pv = f16>
         -> tensor<1x1x1000x128xf16>
  return %r : tensor<1x1x1000x128xf16>
}

// -----

// FP8 P.V keeps 64-key tiles (its per-tile f32 accumulator needs the
// registers).
// SM80-LABEL: func.func @integer_qk_fp8_pv
// SM80: tiling = #attn.tiling<query = [64], key = [64]>
func.func @integer_qk_fp8_pv(%q: tensor<1x1x1000x128xf16>, %o: tensor<1x1x1000x128xf16>) -> tensor<1x1x1000x128xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>)
         outs(%o : tensor<1x1x1000x128xf16>) precision = #attn.precision<sage2_8b>
         -> tensor<1x1x1000x128xf16>
  return %r : tensor<1x1x1000x128xf16>
}

// -----

// NVFP4 P.V: flat key tiles of 64 (V's scale blocks are 16 consecutive
// keys), also on a token grid and at D = 256 (where 16-bit tiles take 32
// keys); sm_90a's default family does not multiply NVFP4.
// SM80-LABEL: func.func @nvfp4_grid
// SM80: tiling = #attn.tiling<query = [64], key = [64]>
// SM80-LABEL: func.func @nvfp4_d256
// SM80: tiling = #attn.tiling<query = [64], key = [64]>
// SM90D-LABEL: func.func @nvfp4_grid
// SM90D: tiling = #attn.tiling<query = [64], key = [64]>
func.func @nvfp4_grid(%q: tensor<1x1x1024x128xbf16>, %o: tensor<1x1x1024x128xbf16>) -> tensor<1x1x1024x128xbf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1024x128xbf16>, tensor<1x1x1024x128xbf16>, tensor<1x1x1024x128xbf16>)
         outs(%o : tensor<1x1x1024x128xbf16>) mask = #attn.neighborhood<grid = [32, 32], window = [7, 7]>
         precision = #attn.precision<nvfp4> -> tensor<1x1x1024x128xbf16>
  return %r : tensor<1x1x1024x128xbf16>
}
func.func @nvfp4_d256(%q: tensor<1x1x1000x256xbf16>, %o: tensor<1x1x1000x256xbf16>) -> tensor<1x1x1000x256xbf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x256xbf16>, tensor<1x1x1000x256xbf16>, tensor<1x1x1000x256xbf16>)
         outs(%o : tensor<1x1x1000x256xbf16>) precision = #attn.precision<nvfp4> -> tensor<1x1x1000x256xbf16>
  return %r : tensor<1x1x1000x256xbf16>
}

// -----

// sm_90a's default family multiplies int8 Q.K with FP8 P.V (wgmma tiles);
// FP8 P.V above Dv = 128 and 8-bit rows under 128 bytes get the mma.sync
// kernel's tiles, as the lowering falls back to it.
// SM90D-LABEL: func.func @sage2_8b_d128
// SM90D: tiling = #attn.tiling<query = [128], key = [128]>
// SM90D-LABEL: func.func @sage2_8b_d256
// SM90D: tiling = #attn.tiling<query = [64], key = [32]>
// SM90D-LABEL: func.func @sage2_8b_d64
// SM90D: tiling = #attn.tiling<query = [64], key = [64]>
func.func @sage2_8b_d128(%q: tensor<1x1x1000x128xf16>, %o: tensor<1x1x1000x128xf16>) -> tensor<1x1x1000x128xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>, tensor<1x1x1000x128xf16>)
         outs(%o : tensor<1x1x1000x128xf16>) precision = #attn.precision<sage2_8b>
         -> tensor<1x1x1000x128xf16>
  return %r : tensor<1x1x1000x128xf16>
}
func.func @sage2_8b_d256(%q: tensor<1x1x1000x256xf16>, %o: tensor<1x1x1000x256xf16>) -> tensor<1x1x1000x256xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x256xf16>, tensor<1x1x1000x256xf16>, tensor<1x1x1000x256xf16>)
         outs(%o : tensor<1x1x1000x256xf16>) precision = #attn.precision<sage2_8b>
         -> tensor<1x1x1000x256xf16>
  return %r : tensor<1x1x1000x256xf16>
}
func.func @sage2_8b_d64(%q: tensor<1x1x1000x64xf16>, %o: tensor<1x1x1000x64xf16>) -> tensor<1x1x1000x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>)
         outs(%o : tensor<1x1x1000x64xf16>) precision = #attn.precision<sage2_8b>
         -> tensor<1x1x1000x64xf16>
  return %r : tensor<1x1x1000x64xf16>
}

// -----

// The backward's tiles (the key-tile-major kernel): on mma.sync 32 queries
// per step beyond D = 64; the CPU's 16 x 16.
// CPU-LABEL: func.func @grad_flat
// CPU: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [16], key = [16]>
// 128 keys where two query buffers fit (sm_80, sm_90a with kernel=mma_sync),
// 64 on 99 KB chips. The wgmma products (sm_90a's default family) take 64
// queries x 128 keys.
// SM90-LABEL: func.func @grad_flat
// SM90: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [64], key = [128]>
// SM90D-LABEL: func.func @grad_flat
// SM90D: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [64], key = [128]>
// SM80-LABEL: func.func @grad_flat
// SM80: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [32], key = [128]>
// SM86-LABEL: func.func @grad_flat
// SM86: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [32], key = [64]>
// OVERRIDE-LABEL: func.func @grad_flat
// OVERRIDE: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [32], key = [48]>
func.func @grad_flat(%q: memref<1x2x?x128xbf16>, %lse: memref<1x2x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?xf32>, memref<1x2x?x128xbf16>) outs(%q, %q, %q : memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>) mask = #attn.causal
  return
}

// -----

// D = Dv = 256: 32 queries per step where they fit the shared memory (sm_80,
// sm_90a, whose wgmma products take D = 64 and 128 only), 16 on the 99 KB
// chips (sm_86).
// SM80-LABEL: func.func @grad_d256
// SM80: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [32], key = [64]>
// SM90-LABEL: func.func @grad_d256
// SM90: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [32], key = [64]>
// SM86-LABEL: func.func @grad_d256
// SM86: attn.attention_grad {{.*}} tiling = #attn.tiling<query = [16], key = [64]>
func.func @grad_d256(%q: memref<1x2x?x256xbf16>, %lse: memref<1x2x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x2x?x256xbf16>, memref<1x2x?x256xbf16>, memref<1x2x?x256xbf16>, memref<1x2x?x256xbf16>, memref<1x2x?xf32>, memref<1x2x?x256xbf16>) outs(%q, %q, %q : memref<1x2x?x256xbf16>, memref<1x2x?x256xbf16>, memref<1x2x?x256xbf16>) mask = #attn.causal
  return
}

// -----

// On a token grid: balanced patches of 64 query and 128 key tokens (D = 64).
// CPU-LABEL: func.func @grad_grid
// CPU: tiling = #attn.tiling<query = [1, 16], key = [1, 16]>
// SM80-LABEL: func.func @grad_grid
// SM80: tiling = #attn.tiling<query = [8, 8], key = [8, 16]>
// SM90-LABEL: func.func @grad_grid
// SM90: tiling = #attn.tiling<query = [8, 8], key = [8, 16]>
// SM90D-LABEL: func.func @grad_grid
// SM90D: tiling = #attn.tiling<query = [8, 8], key = [8, 16]>
func.func @grad_grid(%q: memref<1x2x1024x64xf16>, %lse: memref<1x2x1024xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024xf32>, memref<1x2x1024x64xf16>) outs(%q, %q, %q : memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>) mask = #attn.neighborhood<grid = [32, 32], window = [7, 7]>
  return
}
