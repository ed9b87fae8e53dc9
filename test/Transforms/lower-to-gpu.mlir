// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu | FileCheck %s --check-prefix=DESCENDING
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu=query-tile-order=ascending | FileCheck %s --check-prefix=ASCENDING

// A causal mask with run-time lengths: one kernel for every length. The key
// tile range and class come from the mask's closed forms; the op becomes a
// gpu.launch_func whose grid counts query tiles of 128 rows (8 warps).
// CHECK-LABEL: func.func @causal_dynamic
// CHECK: %[[NQ:.*]] = memref.dim %{{.*}}, %c2
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd blocks in ({{.*}}) threads in (%c256, %c1{{.*}}) dynamic_shared_memory_size %c98304_i32
// CHECK-NOT: attn.attention
// CHECK: gpu.module @attn_kernels
// CHECK: llvm.mlir.global external @attn_shared_memory() {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
// CHECK: gpu.func @attn_fwd(%{{.*}}: !llvm.ptr<1>, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64
// CHECK-SAME: kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// Block x counts a head's query tiles down from the last (ceil(Nq / 128) -
// 1 - x: the default query-tile-order=descending starts the heaviest
// blocks of causal-like masks first); ascending takes block x itself.
// CHECK: %[[X:.*]] = gpu.block_id x
// ASCENDING-LABEL: func.func @causal_dynamic
// ASCENDING: gpu.func @attn_fwd(
// ASCENDING: %[[BX:.*]] = gpu.block_id x
// ASCENDING-NOT: arith.subi %{{.*}}, %[[BX]]
// ASCENDING: nvvm.cp.async.shared.global
// DESCENDING-LABEL: func.func @causal_dynamic
// DESCENDING: gpu.func @attn_fwd(
// DESCENDING: %[[BX:.*]] = gpu.block_id x
// DESCENDING: %[[TILES:.*]] = arith.ceildivsi %{{.*}}, %c128
// DESCENDING: %[[LAST:.*]] = arith.subi %[[TILES]], %c1
// DESCENDING: arith.subi %[[LAST]], %[[BX]]
// Q (and the first K/V tile) through cp.async, Q fragments by ldmatrix.
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache = cg
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK: nvvm.ldmatrix {{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>}
// The key-tile loop: S = Q K^T on mma.sync m16n8k16 bf16, the mask only on
// partial tiles, P V with V read transposed.
// CHECK: scf.for
// CHECK: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK: scf.if
// CHECK: attn.partial_tile_mask
// CHECK: nvvm.shfl.sync bfly
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.mma.sync
// The epilogue writes O and LSE.
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"
func.func @causal_dynamic(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                          %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>,
                          %lse: memref<?x4x?xf32>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>, %lse : memref<?x4x?xf32>) mask = #attn.causal
  return
}

// -----

// Static shapes: the compile-time list of non-empty key tiles per query
// tile (entries 2 * tile + full). Causal, 256 tokens, 128 x 64 tiles: query
// tile 0 sees key tiles 0 and 1 (both cut by the diagonal: partial), query
// tile 1 sees 0, 1 (full) and 2, 3 (partial); key tiles 2 and 3 are never
// listed for query tile 0. Three trailing entries keep the pipeline's
// look-ahead reads of the last query tile inside the array (up to 4
// stages).
// CHECK-LABEL: func.func @causal_table
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: llvm.mlir.global internal constant @attn_fwd_tile_offsets(dense<[0, 2, 6]> : tensor<3xi32>) {addr_space = 1 : i32
// CHECK: llvm.mlir.global internal constant @attn_fwd_key_tiles(dense<[0, 2, 1, 3, 4, 6, 0, 0, 0]> : tensor<9xi32>) {addr_space = 1 : i32
// CHECK: attn.partial_tile_mask
// f16 operands reach mma.sync as vector<2xf16>.
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
func.func @causal_table(%q: memref<1x2x256x64xf16>, %o: memref<1x2x256x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x256x64xf16>, memref<1x2x256x64xf16>, memref<1x2x256x64xf16>)
    outs(%o : memref<1x2x256x64xf16>) mask = #attn.causal
  return
}

// -----

// Dense with whole tiles: every listed tile is full, so the kernel carries
// no mask code at all.
// CHECK-LABEL: func.func @dense_full_tiles
// CHECK: gpu.module @attn_kernels
// CHECK: @attn_fwd_key_tiles(dense<[1, 3, 5, 7, 0, 0, 0]> : tensor<7xi32>)
// CHECK-NOT: attn.partial_tile_mask
// CHECK: gpu.return
func.func @dense_full_tiles(%q: memref<1x1x128x64xbf16>, %k: memref<1x1x256x64xbf16>, %o: memref<1x1x128x64xbf16>) {
  attn.attention ins(%q, %k, %k : memref<1x1x128x64xbf16>, memref<1x1x256x64xbf16>, memref<1x1x256x64xbf16>)
    outs(%o : memref<1x1x128x64xbf16>)
  return
}

// -----

// A 2-D neighborhood tiles the grid: 8 x 8 query and key patches (grid x
// = 2 x 4 = 8 query tiles, a constant; 4 warps); the kernel reads boxes
// straight from the row-major layout. A 5 x 5 window on 16 x 32: query tile
// 0 (rows 0-7, cols 0-7) needs key rows 0-9 and cols 0-9, so key tiles 0,
// 1, 4 and 5, all partial; query tile 1 (cols 8-15) needs cols 6-17: key
// tiles 0-2 and 4-6.
// CHECK: module attributes {attn.kernel_family = "mma_sync", attn.kernels = [{block = 128 : i64, grid = {{\[}}[{constant = 8 : i64}], [{constant = 1 : i64}], [{arg = "batch"
// CHECK-LABEL: func.func @neighborhood_2d
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: @attn_fwd_tile_offsets(dense<[0, 4, 10, 16, 20, 24, 30, 36, 40]>
// CHECK: @attn_fwd_key_tiles(dense<[0, 2, 8, 10, 0, 2, 4, 8, 10, 12, 2, 4, 6, 10, 12, 14,
// CHECK: attn.partial_tile_mask
func.func @neighborhood_2d(%q: memref<1x1x512x64xbf16>, %o: memref<1x1x512x64xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x512x64xbf16>, memref<1x1x512x64xbf16>, memref<1x1x512x64xbf16>)
    outs(%o : memref<1x1x512x64xbf16>) mask = #attn.neighborhood<grid = [16, 32], window = [5, 5]>
  return
}

// -----

// Heads: weight 0 launches no attention block but a kernel writing O = 0
// and LSE = -inf for head 1; a head group with its own mask gets its own
// kernel (heads 2, 3), the rest (head 0) the op's. The manifest attribute
// records all three launches in order.
// CHECK: module attributes {attn.kernel_family = "mma_sync", attn.kernels = [{block = 128 : i64, {{.*}}name = "attn_zero_heads"{{.*}}}, {block = 256 : i64, {{.*}}name = "attn_fwd"{{.*}}}, {{{.*}}name = "attn_fwd_0"
// CHECK-LABEL: func.func @heads
// CHECK: gpu.launch_func @attn_kernels::@attn_zero_heads
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd_0
// CHECK: gpu.func @attn_zero_heads
// CHECK: gpu.func @attn_fwd(
// CHECK: gpu.func @attn_fwd_0(
func.func @heads(%q: memref<2x4x?x64xf16>, %o: memref<2x4x?x64xf16>, %lse: memref<2x4x?xf32>, %g: memref<2x?x4xf32>) {
  attn.attention ins(%q, %q, %q : memref<2x4x?x64xf16>, memref<2x4x?x64xf16>, memref<2x4x?x64xf16>)
    gates(%g : memref<2x?x4xf32>)
    outs(%o : memref<2x4x?x64xf16>, %lse : memref<2x4x?xf32>) mask = #attn.causal
    heads = #attn.heads<weights = [1.0, 0.0, 0.5, 1.0], softpag = #attn.softpag<u = 0.3, heads = [0]>,
                        groups = [#attn.head_group<heads = [2, 3], mask = #attn.sliding_window<left = 64, right = 0>>]>
  return
}

// -----

// A shard pair (#attn.shard, context parallelism): the key range and tile
// classes come from the inner mask at the shard's global positions, with
// the global lengths; the local range is clipped to [0, Nk).
// CHECK-LABEL: func.func @shard_pair
// CHECK: gpu.func @attn_fwd
// The window's key range, moved by the offsets (query start 2048, key
// start 1024) and clipped.
// CHECK-DAG: arith.constant 2048 : index
// CHECK-DAG: arith.constant 1024 : index
// CHECK: scf.for
// CHECK: attn.partial_tile_mask
func.func @shard_pair(%q: memref<1x2x?x64xbf16>, %o: memref<1x2x?x64xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x?x64xbf16>, memref<1x2x?x64xbf16>, memref<1x2x?x64xbf16>)
    outs(%o : memref<1x2x?x64xbf16>)
    mask = #attn.shard<mask = #attn.sliding_window<left = 300, right = 0>, query_start = 2048, key_start = 1024, query_length = 4096, key_length = 4096>
  return
}
