// The sm_90a warpgroup kernel (kernel = wgmma): one warpgroup per 64 query
// rows, S = Q K^T with both operands read through shared-memory
// descriptors, O += P V with P in registers and V read MN-major.
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_90a kernel=wgmma" -attn-sparsity -attn-lower-to-gpu="target=sm_90a kernel=wgmma" | FileCheck %s
// sm_90a's default for 16-bit precisions is the wgmma kernel (fallbacks:
// lower-to-gpu-wgmma-invalid.mlir).
// An explicit depth replaces the family's default of three stages.
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_90a" -attn-lower-to-gpu="target=sm_90a stages=2" | FileCheck %s --check-prefix=STAGES2
// STAGES2-LABEL: func.func @causal_dynamic
// STAGES2: threads in (%c384, %c1{{.*}}) dynamic_shared_memory_size %c164864_i32
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a -attn-lower-to-gpu=target=sm_90a | FileCheck %s --check-prefix=DEFAULT
// RUN: attn-opt %s -split-input-file -attn-lower-to-gpu="target=sm_90a kernel=wgmma" | FileCheck %s --check-prefix=ONEWG
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a -attn-lower-to-gpu="target=sm_90a persistent=true" | FileCheck %s --check-prefix=PERSISTENT
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a -attn-lower-to-gpu=target=sm_90a | FileCheck %s --check-prefix=FLAT
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a -attn-lower-to-gpu="target=sm_90a persistent=true unit-order=tiles-first" | FileCheck %s --check-prefix=TILESFIRST

// A persistent grid (two consumer warpgroups and a producer):
// the grid is the work units in launch order, query tiles x heads x batch,
// which the launcher caps at one block per multiprocessor; each role walks
// the units from blockIdx.x in steps of gridDim.x.
// PERSISTENT: attn.kernels = [{block = 384 : i64, grid = {{\[}}[{arg = "seq_q", ceil_div = 128 : i64, constant = 1 : i64}, {constant = 4 : i64}, {arg = "batch", ceil_div = 1 : i64, constant = 1 : i64}], [{constant = 1 : i64}], [{constant = 1 : i64}]]
// PERSISTENT-SAME: persistent_blocks_per_sm = 1 : i64
// PERSISTENT-LABEL: func.func @causal_dynamic
// Q has a full barrier (count 1) and an empty one (count 8: the consumer
// warps release it).
// PERSISTENT: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c1_i32
// PERSISTENT: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c8_i32
// PERSISTENT-NEXT: "fence.mbarrier_init.release.cluster;"
// The producer waits for Q's release before loading a unit's Q.
// PERSISTENT: "setmaxnreg.dec.sync.aligned.u32 24;"
// PERSISTENT: %[[GRID:.*]] = gpu.grid_dim x
// PERSISTENT: %[[FIRST:.*]] = gpu.block_id x
// PERSISTENT: scf.for %[[UNIT:.*]] = %[[FIRST]] to %{{.*}} step %[[GRID]] iter_args
// PERSISTENT: arith.divui %[[UNIT]], %[[GRID]]
// PERSISTENT: mbarrier.try_wait.parity
// PERSISTENT: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r" %{{.*}}, %c32768_i32
// The consumers: per unit, wait for Q, walk the tiles, release Q (one
// arrival per warp), then the last P V and the epilogue.
// PERSISTENT: "setmaxnreg.inc.sync.aligned.u32 240;"
// PERSISTENT: scf.for %[[CUNIT:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// Heads-first (the default unit order): the query tile varies fastest.
// PERSISTENT: %[[TILES:.*]] = arith.ceildivsi
// PERSISTENT-NEXT: arith.divui %[[CUNIT]], %[[TILES]] : index
// PERSISTENT: mbarrier.try_wait.parity
// PERSISTENT: scf.for
// PERSISTENT: scf.yield
// PERSISTENT: "bar.warp.sync -1;"
// PERSISTENT: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// PERSISTENT: "wgmma.wait_group.sync.aligned 0;"
// PERSISTENT: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<1>
// PERSISTENT: gpu.return
// unit-order=tiles-first: the 4 heads vary fastest, then the batch
// element, then the query tile (heads-first: the query tile fastest).
// TILESFIRST-LABEL: func.func @causal_dynamic
// TILESFIRST: "setmaxnreg.inc.sync.aligned.u32 240;"
// TILESFIRST: scf.for %[[UNIT:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// TILESFIRST: %[[REST:.*]] = arith.divui %[[UNIT]], %[[HEADS:c4.*]] : index
// TILESFIRST: arith.remui %[[REST]], %{{.*}} : index
// TILESFIRST: arith.remui %[[UNIT]], %{{c4.*}} : index
// Without it: one block per (query tile, head, batch element).
// FLAT-NOT: persistent_blocks_per_sm
// FLAT-LABEL: func.func @causal_dynamic
// FLAT-NOT: gpu.grid_dim
// FLAT: gpu.return

// 128 query rows: two consumer warpgroups plus the producer warpgroup of
// the TMA pipeline (384 threads). Staged tiles start on the 1024-byte
// period of the 128-byte swizzle; Q plus the default three stages of K and
// V (128 x 128 tiles of D = 128) take 224 KB, the 10 mbarriers one more
// aligned KB.
// CHECK-LABEL: func.func @causal_dynamic
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd blocks in ({{.*}}) threads in (%c384, %c1{{.*}}) dynamic_shared_memory_size %c230400_i32
// CHECK: llvm.mlir.global external @attn_shared_memory() {addr_space = 3 : i32, alignment = 1024 : i64}
// Q, K and V are read through tensor maps the launcher encodes (generic
// pointers here; by value after attn-pass-tensor-maps-by-value).
// CHECK: gpu.func @attn_fwd({{.*}}, %[[QMAP:.*]]: !llvm.ptr, %[[KMAP:.*]]: !llvm.ptr, %[[VMAP:.*]]: !llvm.ptr,
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 384, 1, 1>, nvvm.minctasm = 1 : i32}
// Thread 0 initializes per stage a full barrier (count 2: armed for K and
// for V) and empty barriers for K and for V (count 8: the consumer warps),
// and Q's, then fences them for the async proxy.
// CHECK: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c2_i32
// CHECK: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c8_i32
// CHECK: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %c8_i32
// CHECK: "fence.mbarrier_init.release.cluster;"
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK: gpu.barrier
// The producer warpgroup gives up registers; one thread loads Q (32 KB as
// two 64-column slabs), then every kept key tile after its stage is empty.
// CHECK: "setmaxnreg.dec.sync.aligned.u32 24;"
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r" %{{.*}}, %c32768_i32
// CHECK-COUNT-2: "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [$0], [$1, {$3, $4, $5, $6}], [$2];"
// K's rows and V's rows each wait for their own release and arm the full
// barrier with their 32 KB.
// CHECK: scf.for
// CHECK: mbarrier.try_wait.parity
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r" %{{.*}}, %c32768_i32
// CHECK-COUNT-2: cp.async.bulk.tensor.4d
// CHECK: mbarrier.try_wait.parity
// CHECK: "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r" %{{.*}}, %c32768_i32
// CHECK-COUNT-2: cp.async.bulk.tensor.4d
// The consumers take the registers, wait for Q, then per kept tile wait
// for its stage, compute, and release the stage once per warp.
// CHECK: "setmaxnreg.inc.sync.aligned.u32 240;"
// CHECK: mbarrier.try_wait.parity
// Warpgroup 1 gives warpgroup 0 the first turn to issue (named barrier 1,
// both warpgroups' 256 threads).
// CHECK: "bar.arrive $0, $1;"
// CHECK: scf.for
// CHECK: mbarrier.try_wait.parity
// Tile n: wait for its turn, issue S(n), then P(n-1) V(n-1) behind it,
// pass the turn on; wait for S only (one group may stay in flight).
// CHECK: "bar.sync $0, $1;"
// S = Q K^T: 8 k16 steps over D = 128 with descriptors of Q and K (K-major,
// no transpose), the first overwriting the accumulator (scale-d 0).
// CHECK: llvm.ptrtoint {{.*}} : !llvm.ptr<3> to i64
// CHECK: "wgmma.fence.sync.aligned;"
// CHECK: "{ .reg .pred p; setp.ne.b32 p, 0, 0; wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK-COUNT-7: setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK: "wgmma.commit_group.sync.aligned;"
// O += P V of the previous tile: 8 k16 steps over 128 keys, P's four b32
// registers per step, V MN-major (trans-b 1), N = Dv = 128.
// CHECK: "wgmma.fence.sync.aligned;"
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1, 1; }"
// CHECK: "wgmma.commit_group.sync.aligned;"
// CHECK: "bar.arrive $0, $1;"
// The wait returns the accumulators it takes: every use of S depends on it.
// CHECK: llvm.inline_asm has_side_effects {{.*}} "wgmma.wait_group.sync.aligned 1;", "=f,{{.*}},0,1,2,
// CHECK-SAME: -> !llvm.struct<(f32,
// The mask only on partial tiles; then K's rows (and what the score steps
// read with them) are free; then the online softmax.
// CHECK: attn.partial_tile_mask
// CHECK: "bar.warp.sync -1;"
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK: nvvm.shfl.sync bfly
// Then O (and P(n-1)'s 32 registers, live until the products that read
// them are done) after all groups; the previous tile's V rows are free.
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,{{.*}},63,r,r,
// CHECK: "bar.warp.sync -1;"
// CHECK: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// The epilogue runs on the consumers only.
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @causal_dynamic
func.func @causal_dynamic(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                          %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>,
                          %lse: memref<?x4x?xf32>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>, %lse : memref<?x4x?xf32>) mask = #attn.causal
  return
}

// -----

// D = 64: one 128-byte slab per row (descriptor stride 1024 bytes per 8
// rows, swizzle mode 1); a 2-D neighborhood gets the plan's 8 x 16 query
// patch (two warpgroups, plus the producer) and 8 x 16 key patch: each
// patch is one 5-D box [64 columns, 16 grid columns, 8 grid rows, head,
// batch].
// CHECK-LABEL: func.func @small_head_grid
// CHECK: threads in (%c384, %c1
// CHECK: gpu.func @attn_fwd(
// CHECK: setmaxnreg.dec.sync.aligned.u32 24
// CHECK: "cp.async.bulk.tensor.5d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [$0], [$1, {$3, $4, $5, $6, $7}], [$2];"
// CHECK: arith.constant 4611686293305360384 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK: wgmma.mma_async.sync.aligned.m64n64k16
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @small_head_grid
// The op's own 8 x 8 query patch (no attn-plan): one consumer warpgroup,
// no register reallocation (256 threads may already use the most
// registers a thread can have).
// Static batch and lengths are recorded: the launcher refuses others.
// ONEWG: attn.static_arguments = {batch = 1 : i64, seq_k = 1024 : i64, seq_q = 1024 : i64}
// ONEWG-LABEL: func.func @small_head_grid
// ONEWG: threads in (%c256, %c1
// ONEWG: gpu.func @attn_fwd(
// ONEWG-NOT: setmaxnreg
// ONEWG-NOT: gpu.grid_dim
// ONEWG: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
func.func @small_head_grid(%q: memref<1x2x1024x64xf16>, %o: memref<1x2x1024x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>, memref<1x2x1024x64xf16>)
    outs(%o : memref<1x2x1024x64xf16>) mask = #attn.neighborhood<grid = [32, 32], window = [5, 5]>
    tiling = #attn.tiling<query = [8, 8], key = [8, 16]>
  return
}

// -----

// 3-D patches: the grid seen as rows of columns (a plane's rows after the
// previous plane's), one box per plane of the 4 x 4 x 8 patch at rows
// grid[1] = 8 apart, each plane 4 x 8 rows of 128 bytes (4096 bytes) after
// the previous one in shared memory.
// CHECK-LABEL: func.func @grid3d_plane_boxes
// CHECK: threads in (%c384, %c1
// CHECK: gpu.func @attn_fwd(
// CHECK: cp.async.bulk.tensor.5d
// CHECK: %[[PLANE1:.*]] = arith.constant 8 : i32
// CHECK-NEXT: arith.addi %{{.*}}, %[[PLANE1]] : i32
// CHECK-NEXT: %[[AT1:.*]] = arith.constant 4096 : index
// CHECK: cp.async.bulk.tensor.5d
// CHECK: arith.constant 16 : i32
// CHECK: cp.async.bulk.tensor.5d
// CHECK: arith.constant 24 : i32
// CHECK: cp.async.bulk.tensor.5d
// CHECK-NOT: nvvm.cp.async.shared.global
// CHECK: wgmma.mma_async
func.func @grid3d_plane_boxes(%q: memref<1x2x512x64xbf16>, %o: memref<1x2x512x64xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x512x64xbf16>, memref<1x2x512x64xbf16>, memref<1x2x512x64xbf16>)
    outs(%o : memref<1x2x512x64xbf16>) mask = #attn.neighborhood<grid = [8, 8, 8], window = [3, 3, 3]>
  return
}

// -----

// Quantized on a 3-D grid: Q and K rows one box per plane (4 planes of the
// 4 x 4 x 8 patches), V^T's channel rows one box per slab whatever the
// tiles: 4 + 4 + 1 copies.
// CHECK-LABEL: func.func @sage2_8b_grid3d
// CHECK: gpu.func @attn_fwd(
// CHECK-COUNT-4: cp.async.bulk.tensor.5d
// CHECK-NOT: cp.async.bulk.tensor.5d
// CHECK: scf.for
// CHECK-COUNT-4: cp.async.bulk.tensor.5d
// CHECK-NOT: cp.async.bulk.tensor.5d
// CHECK: cp.async.bulk.tensor.4d
// CHECK-NOT: cp.async.bulk.tensor
// CHECK: "cp.async.wait_all;"
func.func @sage2_8b_grid3d(%q: memref<1x2x576x128xbf16>, %o: memref<1x2x576x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x576x128xbf16>, memref<1x2x576x128xbf16>, memref<1x2x576x128xbf16>)
    outs(%o : memref<1x2x576x128xbf16>) mask = #attn.neighborhood<grid = [6, 8, 12], window = [3, 5, 5]>
    precision = #attn.precision<sage2_8b>
  return
}

// -----

// A patch whose rows do not divide grid[1] (4 into 10) would run into the
// next plane instead of being zero-filled: the cp.async pipeline stages it
// (every thread copies; a proxy fence before wgmma reads), no producer
// warpgroup.
// CHECK-LABEL: func.func @grid3d_per_thread_copies
// CHECK: threads in (%c256, %c1
// CHECK: gpu.func @attn_fwd(
// CHECK-NOT: cp.async.bulk.tensor
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.wait.group
// CHECK-NEXT: nvvm.fence.proxy
// CHECK: wgmma.mma_async
func.func @grid3d_per_thread_copies(%q: memref<1x2x720x64xbf16>, %o: memref<1x2x720x64xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x720x64xbf16>, memref<1x2x720x64xbf16>, memref<1x2x720x64xbf16>)
    outs(%o : memref<1x2x720x64xbf16>) mask = #attn.neighborhood<grid = [6, 10, 12], window = [3, 5, 5]>
  return
}

// -----

// Quantized (sm_90a's default, as requested): sage2-8b as
// int8 Q.K on m64n128k32 s8 (s32 accumulators, no scale or transpose
// immediates) and FP8 P.V on m64n128k32 e4m3 with P in registers and V^T
// K-major (the pre-kernel's key relabel), per-tile accumulators added into
// O (two-level), the previous tile's P V issued behind this tile's scores.
// Loaded by the TMA pipeline: the int8 Q and K rows and the E4M3 V^T
// channel rows as boxes; the producer's first warp walks the tiles, its
// lanes gather the keys' scales with cp.async and, once their copies have
// landed, arrive on the full barrier (2 row kinds + 32 lanes = 34
// arrivals).
// V^T's map (in the module's launch record): [slots, Dv, heads, batch].
// CHECK: "v_e4m3_t_tensor_map", "tensor_map", {box = [128, 128, 1, 1], data_type = "u8", dims = {{\[}}[{arg = "seq_k", ceil_div = 128 : i64, constant = 128 : i64}], [{constant = 128 : i64}], [{constant = 2 : i64}]
// CHECK-LABEL: func.func @sage2_8b
// CHECK: gpu.func @attn_fwd(
// The key rows' empty barrier counts every consumer thread (each releases
// the words it read), the value rows' one arrival per consumer warp.
// CHECK: %[[FULL:.*]] = arith.constant 34 : i32
// CHECK-NEXT: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %[[FULL]]
// CHECK: %[[KEYS:.*]] = arith.constant 256 : i32
// CHECK-NEXT: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %[[KEYS]]
// CHECK: %[[VALUES:.*]] = arith.constant 8 : i32
// CHECK-NEXT: "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r" %{{.*}}, %[[VALUES]]
// CHECK: "setmaxnreg.dec.sync.aligned.u32 24;"
// CHECK: cp.async.bulk.tensor.4d
// CHECK: scf.for %{{.*}} = %{{.*}} to %c128{{.*}} step %c32
// CHECK: nvvm.cp.async.shared.global
// CHECK: cp.async.bulk.tensor.4d
// CHECK: "cp.async.wait_all;"
// CHECK-NEXT: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {{.*}}, $64, $65, p; }"
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1; }"
// CHECK: "wgmma.wait_group.sync.aligned 1;", "=r,
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,
// CHECK: llvm.call_intrinsic "llvm.nvvm.ff.to.e4m3x2.rn"
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @sage2_8b
func.func @sage2_8b(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                    %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>) mask = #attn.causal precision = #attn.precision<sage2_8b>
  return
}

// -----

// The fp8 preset: Q and K quantized to E4M3 per 64-token block by the
// pre-kernels (scale max / 448, cvt.rn.satfinite), S = Q K^T on
// m64n128k32 e4m3 with f32 accumulators (no integer conversion), P.V as
// for sage2-8b.
// CHECK-LABEL: func.func @fp8
// CHECK: gpu.func @attn_quantize_quantize_k(
// CHECK: llvm.call_intrinsic "llvm.nvvm.ff.to.e4m3x2.rn"
// CHECK: gpu.func @attn_fwd(
// CHECK-NOT: llvm.sitofp
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {{.*}}, $64, $65, p, 1, 1; }"
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1; }"
// CHECK-NOT: llvm.sitofp
// CHECK: "wgmma.wait_group.sync.aligned 1;", "=f,
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @fp8
func.func @fp8(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
               %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>) mask = #attn.causal precision = #attn.precision<fp8>
  return
}

// -----

// Run-time classified tiles (power-law with dynamic lengths: no
// compile-time table), some skipped: the producer and the consumers count
// kept tiles only, and a skipped tile changes no state (stages are
// released explicitly; the cp.async pipeline's flush of the pending P V on
// a skipped tile now serves the 3-D patches only).
// CHECK-LABEL: func.func @sage2_8b_skipped_tiles
// CHECK: gpu.func @attn_fwd(
// CHECK: scf.for {{.*}} -> (index) {
// CHECK: scf.if %{{.*}} -> (index) {
// CHECK: cp.async.bulk.tensor.4d
// CHECK: "cp.async.wait_all;"
// CHECK-NEXT: "mbarrier.arrive.shared::cta.b64 _, [$0];"
// CHECK: } else {
// CHECK-NEXT: scf.yield %{{.*}} : index
// CHECK: scf.for
// CHECK: scf.if %{{.*}} -> (f32,
// CHECK: "wgmma.wait_group.sync.aligned 1;"
// CHECK: "wgmma.wait_group.sync.aligned 0;"
// CHECK: } else {
// CHECK-NEXT: scf.yield %arg
func.func @sage2_8b_skipped_tiles(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                                  %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>) mask = #attn.power_law<block = 128, window = 2, sink = 1>
    precision = #attn.precision<sage2_8b>
  return
}
