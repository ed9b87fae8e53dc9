// The K/V pipeline and the warp shape of the mma.sync kernels.
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=stages=3 | FileCheck %s --check-prefix=STAGES3
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=stages=2 | FileCheck %s --check-prefix=STAGES2
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=stages=4 | FileCheck %s --check-prefix=STAGES4
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu=warp-rows=32 | FileCheck %s --check-prefix=ROWS32
// RUN: not attn-opt %s -split-input-file -attn-lower-to-gpu=warp-rows=24 2>&1 | FileCheck %s --check-prefix=ROWS24

// Three stages keep two tiles in flight: the prologue commits two groups
// (Q with tile 0, then tile 1) and waits until at most one is pending;
// each iteration waits the same way and loads tile i + 2. The class of
// every tile (range mode: key tile, may keep, keeps all) travels in the
// loop state from the iteration that loads it to the one that computes it,
// two slots deep.
// STAGES3-LABEL: func.func @causal_dynamic
// STAGES3: dynamic_shared_memory_size %c131072_i32
// STAGES3: gpu.func @attn_fwd
// STAGES3: nvvm.cp.async.commit.group
// STAGES3: nvvm.cp.async.commit.group
// STAGES3-NEXT: nvvm.cp.async.wait.group 1
// STAGES3: scf.for {{.*}} -> ({{(f32, )+}}index, i1, i1, index, i1, i1)
// STAGES3: arith.remui %{{.*}}, %c3
// STAGES3-NEXT: nvvm.cp.async.wait.group 1
// STAGES3-NEXT: gpu.barrier
// Two stages: one tile in flight, one slot carried.
// STAGES2-LABEL: func.func @causal_dynamic
// STAGES2: dynamic_shared_memory_size %c98304_i32
// STAGES2: nvvm.cp.async.commit.group
// STAGES2-NEXT: nvvm.cp.async.wait.group 0
// STAGES2: scf.for {{.*}} -> ({{(f32, )+}}index, i1, i1)
// STAGES2: arith.remui %{{.*}}, %c2
// STAGES2-NEXT: nvvm.cp.async.wait.group 0
// Four stages: three tiles in flight, three slots carried.
// STAGES4-LABEL: func.func @causal_dynamic
// STAGES4: dynamic_shared_memory_size %c163840_i32
// STAGES4: nvvm.cp.async.commit.group
// STAGES4: nvvm.cp.async.commit.group
// STAGES4: nvvm.cp.async.commit.group
// STAGES4-NEXT: nvvm.cp.async.wait.group 2
// STAGES4: scf.for {{.*}} -> ({{(f32, )+}}index, i1, i1, index, i1, i1, index, i1, i1)
// STAGES4: arith.remui %{{.*}}, %c4
// STAGES4-NEXT: nvvm.cp.async.wait.group 2
// Two m16 tiles per warp: 128 query rows on 4 warps, four row slots of
// state (m and l per slot).
// ROWS32-LABEL: func.func @causal_dynamic
// ROWS32: threads in (%c128{{(_[0-9]+)?}},
// ROWS32: known_block_size = array<i32: 128, 1, 1>
// ROWS32: scf.for {{.*}} -> ({{(f32, )+}}index, i1, i1)
// ROWS24: attn-lower-to-gpu: warp-rows = 24 is not supported by mma.sync kernels; expected 16 or 32
func.func @causal_dynamic(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                          %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>) mask = #attn.causal
  return
}

// -----

// Table mode (static shapes): the key tile comes from the compile-time
// list; its class is a run-time bit of the entry, carried with it.
// STAGES3-LABEL: func.func @causal_table
// STAGES3: scf.for {{.*}} -> ({{(f32, )+}}index, i1, index, i1)
// STAGES2-LABEL: func.func @causal_table
// STAGES2: scf.for {{.*}} -> ({{(f32, )+}}index, i1)
func.func @causal_table(%q: memref<1x1x256x64xf16>, %o: memref<1x1x256x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x256x64xf16>, memref<1x1x256x64xf16>, memref<1x1x256x64xf16>)
    outs(%o : memref<1x1x256x64xf16>) mask = #attn.causal
    tiling = #attn.tiling<query = [128], key = [64]>
    tile_classes = dense<[[[1, 0, 0, 0], [2, 1, 0, 0]]]> : tensor<1x2x4xi8>
  return
}
