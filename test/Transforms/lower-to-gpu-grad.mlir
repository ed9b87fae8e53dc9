// The backward's kernels (docs/design/Backward.md): a row kernel, one
// key-tile-major mma.sync kernel per head set, the dQ finishing kernel and,
// for SoftPAG, dV's identity term; their launches in that order and the
// scratch buffers they share.
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-gpu=target=sm_80 | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-gpu="target=sm_80 deterministic=true" | FileCheck %s --check-prefix=DETERMINISTIC
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-gpu=target=sm_90a | FileCheck %s --check-prefix=SM90
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-gpu="target=sm_90a kernel=mma_sync" | FileCheck %s --check-prefix=MMASYNC
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-gpu=target=sm_90a | grep -o 'attn.kernel_family = "[a-z_]*"\|func.func @[a-z_0-9]*' | FileCheck %s --check-prefix=FAMILY

// The family sm_90a picks per case: wgmma wherever the default 64 x 128
// tiles and D, Dv staged as 64 or 128 allow it; mma_sync for the cases
// tiled 64 x 64 by hand and for D = 192.
// FAMILY: attn.kernel_family = "mma_sync"
// FAMILY-NEXT: func.func @causal_table
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @sliding_gqa
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @explicit_mask
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @bias
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @constant_bias
// FAMILY-NEXT: attn.kernel_family = "mma_sync"
// FAMILY-NEXT: func.func @unnormalized
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @head_features
// FAMILY-NEXT: attn.kernel_family = "mma_sync"
// FAMILY-NEXT: func.func @wide_head
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @wgmma_products
// FAMILY-NEXT: attn.kernel_family = "wgmma"
// FAMILY-NEXT: func.func @padded_head_dims

// The key-tile kernel's walk: each tile's copies are waited for, then one
// barrier publishes them (and frees the other buffer), then the next query
// tile's Q, dY and row values (one 16-byte copy per row, the dead row's
// +inf / 0 / 0 / 0 outside the sequence) are copied while this tile
// computes; on sm_90 and later dQ's reductions add two channels at once.
// SM90-LABEL: func.func @causal_table
// SM90: llvm.mlir.global internal constant @attn_bwd_dead_row(dense<[2139095040, 0, 0, 0]> : tensor<4xi32>) {addr_space = 1 : i32, alignment = 16 : i64}
// SM90: gpu.func @attn_bwd(
// SM90: scf.for {{.*}} step %c2
// SM90: nvvm.cp.async.wait.group 0
// SM90: gpu.barrier
// SM90-NOT: gpu.barrier
// SM90: nvvm.cp.async.shared.global
// SM90: llvm.mlir.addressof @attn_bwd_dead_row
// SM90: nvvm.cp.async.commit.group
// SM90: red.global.add.v2.f32
// SM90-NOT: llvm.atomicrmw
// SM90: gpu.func @attn_bwd_finish

// Deterministic mode: the key-tile kernel makes no f32 reductions; a
// query-tile-major kernel per head set writes dQ's rows (and the gates'
// sums) once, walking the forward's (CSR) lists of the same table.
// DETERMINISTIC-LABEL: func.func @causal_table
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd_rows
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd blocks
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd_query_grads blocks
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd_finish
// Query tile 0 keeps key tile 0 (partial); query tile 1 key tiles 0 (full)
// and 1 (partial).
// DETERMINISTIC-DAG: llvm.mlir.global internal constant @attn_bwd_query_grads_tile_offsets(dense<[0, 1, 3]> : tensor<3xi32>)
// DETERMINISTIC-DAG: llvm.mlir.global internal constant @attn_bwd_query_grads_tiles(dense<[0, 1, 2, 0]> : tensor<4xi32>)
// DETERMINISTIC: gpu.func @attn_bwd(
// DETERMINISTIC-NOT: llvm.atomicrmw
// DETERMINISTIC: gpu.func @attn_bwd_query_grads(
// DETERMINISTIC-NOT: llvm.atomicrmw
// DETERMINISTIC: gpu.func @attn_bwd_finish

// Table mode: the transposed (CSC) lists of the causal table of 64 x 64
// tiles. Key tile 0 is kept by query tiles 0 (partial, 2 * 0) and 1 (full,
// 2 * 1 + 1), key tile 1 by query tile 1 (partial); a padding entry.
// CHECK-LABEL: module attributes
// CHECK-SAME: attn.kernel_family = "mma_sync"
// CHECK-SAME: name = "attn_bwd_rows"
// CHECK-SAME: name = "attn_bwd"
// The finishing kernel has a thread per 4 channels of a row: 16 at D = 64.
// CHECK-SAME: grid = {{\[\[}}{arg = "seq_q", ceil_div = 128 : i64, constant = 16 : i64}], [{constant = 2 : i64}]{{.*}}name = "attn_bwd_finish"
// CHECK-SAME: attn.scratch = [{bytes = [{constant = 512 : i64}, {arg = "batch"{{.*}}}, {arg = "seq_q"{{.*}}}], name = "bwd_q_grad_accumulator"}, {bytes = [{constant = 32 : i64}, {arg = "batch"{{.*}}}, {arg = "seq_q"{{.*}}}], name = "bwd_row_values"}]
// CHECK: func.func @causal_table
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_rows
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd blocks
// K, V, dS^T, and two buffers of Q, dY and the 16-byte row values.
// CHECK-SAME: dynamic_shared_memory_size %c59392_i32
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_finish
// CHECK-DAG: llvm.mlir.global internal constant @attn_bwd_tile_offsets(dense<[0, 2, 3]> : tensor<3xi32>)
// CHECK-DAG: llvm.mlir.global internal constant @attn_bwd_tiles(dense<[0, 3, 2, 0]> : tensor<4xi32>)
// Dlt = dot(dY, O): each warp takes its 32 rows one at a time, its lanes
// on channels lane and lane + 32 of D = 64 (two straight-line loads of
// each), summed by a butterfly; lane r keeps row r's dot.
// CHECK: gpu.func @attn_bwd_rows
// CHECK: scf.for %[[R:.*]] = %c0{{.*}} to %c32{{.*}} step %c1
// CHECK: scf.if
// CHECK-COUNT-4: llvm.load {{.*}} -> f16
// CHECK-NOT: llvm.load
// CHECK: nvvm.shfl.sync bfly {{.*}} -> f32
// CHECK: nvvm.shfl.sync bfly
// CHECK: nvvm.shfl.sync bfly
// CHECK: nvvm.shfl.sync bfly
// CHECK: nvvm.shfl.sync bfly
// CHECK: arith.cmpi eq, %[[R]]
// CHECK: gpu.func @attn_bwd(
// The query tiles of the key tile, from the lists.
// CHECK: llvm.mlir.addressof @attn_bwd_tile_offsets
// CHECK: scf.for
// S^T = K Q^T (ldmatrix, mma.sync m16n8k16 f16), then P^T from the LSE.
// CHECK: cp.async
// CHECK: nvvm.ldmatrix
// CHECK: nvvm.mma.sync
// CHECK-SAME: shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// Partial tiles evaluate the mask on (query, key) pairs.
// CHECK: attn.partial_tile_mask
// dQ: f32 reductions into the accumulator.
// CHECK: llvm.atomicrmw fadd
// dQ converted 4 channels at a time: one 16-byte load, four stores.
// CHECK: gpu.func @attn_bwd_finish
// CHECK: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
// CHECK-COUNT-4: llvm.store {{.*}} : f16, !llvm.ptr<1>
// CHECK-NOT: scf.if
// CHECK: gpu.return
func.func @causal_table(%q: memref<1x2x128x64xf16>, %o: memref<1x2x128x64xf16>, %lse: memref<1x2x128xf32>, %dq: memref<1x2x128x64xf16>, %dk: memref<1x2x128x64xf16>, %dv: memref<1x2x128x64xf16>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128xf32>, memref<1x2x128x64xf16>)
    outs(%dq, %dk, %dv : memref<1x2x128x64xf16>, memref<1x2x128x64xf16>, memref<1x2x128x64xf16>)
    mask = #attn.causal tiling = #attn.tiling<query = [64], key = [64]>
  return
}

// -----

// Range mode (run-time lengths, no table): the mask's closed-form query
// range of the key tile, each query tile classified at run time; GQA
// (two query heads per kv head) walked inside the block; dLSE read by the
// row kernel.
// CHECK-LABEL: module attributes
// CHECK-SAME: ["lse_grad", "ptr"]
// CHECK-NOT: _tile_offsets
// CHECK: func.func @sliding_gqa
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_rows
// CHECK: gpu.func @attn_bwd_rows
// CHECK: gpu.func @attn_bwd(
// Over the 2 query heads of the kv head, a walk each: every warp leaves
// the previous walk's buffers (a barrier) before a walk's first copies.
// CHECK: scf.for %{{.*}} = %{{.*}} to %c2{{.*}}
// CHECK-NOT: scf.for
// CHECK: gpu.barrier
// CHECK-NOT: scf.for
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.for
// CHECK: attn.partial_tile_mask
func.func @sliding_gqa(%q: memref<1x4x?x128xbf16>, %k: memref<1x2x?x128xbf16>, %o: memref<1x4x?x128xbf16>, %lse: memref<1x4x?xf32>, %dq: memref<1x4x?x128xbf16>, %dk: memref<1x2x?x128xbf16>, %dv: memref<1x2x?x128xbf16>) {
  attn.attention_grad ins(%q, %k, %k, %o, %lse, %o : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x4x?x128xbf16>, memref<1x4x?xf32>, memref<1x4x?x128xbf16>)
    lse_grad(%lse : memref<1x4x?xf32>)
    outs(%dq, %dk, %dv : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x128xbf16>)
    mask = #attn.sliding_window<left = 64, right = 0>
  return
}

// -----

// An explicit mask: read on every pair (no tile is full), at [b, h, q, k]
// with the pair swapped back from the transposed products.
// CHECK-LABEL: module attributes
// CHECK-SAME: ["explicit_mask_stride_q", "i64"]
// CHECK: gpu.func @attn_bwd(
// CHECK-NOT: attn.partial_tile_mask
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> i8
func.func @explicit_mask(%q: memref<1x2x100x64xf16>, %o: memref<1x2x100x64xf16>, %lse: memref<1x2x100xf32>, %m: memref<1x2x100x100xi1>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x2x100x64xf16>, memref<1x2x100x64xf16>, memref<1x2x100x64xf16>, memref<1x2x100x64xf16>, memref<1x2x100xf32>, memref<1x2x100x64xf16>)
    explicit_mask(%m : memref<1x2x100x100xi1>)
    outs(%q, %q, %q : memref<1x2x100x64xf16>, memref<1x2x100x64xf16>, memref<1x2x100x64xf16>)
    mask = #attn.causal
  return
}

// -----

// A bias: the scores are recomputed with it, dBias accumulates dS in f32
// (zeroed by a kernel before, stored in the bias's type by one after),
// one plane per batch element and head of the bias.
// CHECK-LABEL: module attributes
// CHECK-SAME: name = "attn_bwd_bias_grad_init"
// CHECK-SAME: name = "attn_bwd_bias_finish", params = {{\[\["bias_grad", "ptr"\]}}
// CHECK-SAME: attn.scratch = [{{.*}}{bytes = [{constant = 8 : i64}, {arg = "batch"{{.*}}}, {arg = "seq_q"{{.*}}}, {arg = "seq_k"{{.*}}}], name = "bwd_bias_grad_accumulator"}]
// CHECK: func.func @bias
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_rows
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_bias_grad_init
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd blocks
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_finish
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_bias_finish
// CHECK: gpu.func @attn_bwd(
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> bf16
// CHECK: llvm.intr.fma
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: llvm.atomicrmw fadd
// CHECK: gpu.func @attn_bwd_bias_finish
// CHECK: llvm.store %{{.*}} : bf16, !llvm.ptr<1>
// DETERMINISTIC-LABEL: func.func @bias
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd_bias_finish
func.func @bias(%q: memref<2x2x100x64xbf16>, %o: memref<2x2x100x64xbf16>, %lse: memref<2x2x100xf32>, %bias: memref<2x2x100x100xbf16>, %dbias: memref<2x2x100x100xbf16>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100xf32>, memref<2x2x100x64xbf16>)
    bias(%bias : memref<2x2x100x100xbf16>)
    outs(%q, %q, %q : memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>)
    bias_grad(%dbias : memref<2x2x100x100xbf16>)
    mask = #attn.causal
  return
}

// -----

// A bias without bias_grad (a constant of the loss): the scores are
// recomputed with it, but there is no dBias accumulator, no kernel for it
// and no reduction per pair; the deterministic mode takes it even where it
// is shared by every head and batch element.
// CHECK-LABEL: module attributes
// CHECK-NOT: bwd_bias_grad_accumulator
// CHECK: func.func @constant_bias
// CHECK-NOT: attn_bwd_bias
// CHECK: gpu.func @attn_bwd(
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> bf16
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: gpu.func @attn_bwd_finish
// DETERMINISTIC-LABEL: func.func @constant_bias
// DETERMINISTIC-NOT: attn_bwd_bias
// DETERMINISTIC: gpu.launch_func @attn_kernels::@attn_bwd_query_grads
func.func @constant_bias(%q: memref<2x2x100x64xbf16>, %o: memref<2x2x100x64xbf16>, %lse: memref<2x2x100xf32>, %bias: memref<100x100xbf16>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100xf32>, memref<2x2x100x64xbf16>)
    bias(%bias : memref<100x100xbf16>)
    outs(%q, %q, %q : memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>, memref<2x2x100x64xbf16>)
    mask = #attn.causal
  return
}

// -----

// Segments with renormalize = false: every key enters the denominator, so
// every query tile of a key tile is walked (no list from the table, whose
// empty tiles still carry dS) and keep gates dV and dP only.
// CHECK-LABEL: module attributes
// CHECK: func.func @unnormalized
// CHECK-NOT: @attn_bwd_tile_offsets
// CHECK: gpu.func @attn_bwd(
// CHECK-NOT: @attn_bwd_tile_offsets
// CHECK: gpu.func @attn_bwd_finish
// DETERMINISTIC-LABEL: func.func @unnormalized
// DETERMINISTIC-NOT: @attn_bwd_query_grads_tile_offsets
// DETERMINISTIC: gpu.func @attn_bwd_query_grads(
func.func @unnormalized(%q: memref<1x1x128x64xf16>, %lse: memref<1x1x128xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x128x64xf16>, memref<1x1x128x64xf16>, memref<1x1x128x64xf16>, memref<1x1x128x64xf16>, memref<1x1x128xf32>, memref<1x1x128x64xf16>)
    outs(%q, %q, %q : memref<1x1x128x64xf16>, memref<1x1x128x64xf16>, memref<1x1x128x64xf16>)
    mask = #attn.segments<query = [64, 64], visibility = [[full, none], [full, full]], renormalize = false>
    tiling = #attn.tiling<query = [64], key = [64]>
  return
}

// -----

// Head features: a head group with its own mask makes a second key-tile
// kernel that adds to the dK and dV the first wrote; SoftPAG adds dV's
// identity term after both; gates get their gradient (scratch sums).
// CHECK-LABEL: module attributes
// CHECK-SAME: name = "bwd_gate_sum"
// CHECK: func.func @head_features
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_rows
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd blocks
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_0 blocks
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_finish
// CHECK: gpu.launch_func @attn_kernels::@attn_bwd_identity
// The heads of each set among a kv head's query heads.
// CHECK-DAG: llvm.mlir.global internal constant @attn_bwd_heads(dense<[1, 1, 0, 0]> : tensor<4xi32>)
// CHECK-DAG: llvm.mlir.global internal constant @attn_bwd_0_heads(dense<[0, 0, 1, 1]> : tensor<4xi32>)
// CHECK: gpu.func @attn_bwd(
// CHECK: gpu.func @attn_bwd_0(
// The second set adds to dK: a load of k_grad before its store.
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> f16
// CHECK: llvm.store %{{.*}} : f16, !llvm.ptr<1>
// CHECK: gpu.func @attn_bwd_identity
func.func @head_features(%q: memref<1x4x96x64xf16>, %o: memref<1x4x96x64xf16>, %lse: memref<1x4x96xf32>, %g: memref<1x96x4xf32>, %dq: memref<1x4x96x64xf16>, %dg: memref<1x96x4xf32>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x4x96x64xf16>, memref<1x4x96x64xf16>, memref<1x4x96x64xf16>, memref<1x4x96x64xf16>, memref<1x4x96xf32>, memref<1x4x96x64xf16>)
    gates(%g : memref<1x96x4xf32>)
    outs(%dq, %dq, %dq : memref<1x4x96x64xf16>, memref<1x4x96x64xf16>, memref<1x4x96x64xf16>)
    gates_grad(%dg : memref<1x96x4xf32>)
    heads = #attn.heads<softpag = #attn.softpag<u = 0.3, heads = [1]>, groups = [#attn.head_group<heads = [2, 3], mask = #attn.causal>]>
  return
}

// -----

// D = 192, Dv = 64: dK and dV in registers up to 128 channels each, so the
// key-tile kernel walks its query tiles twice (S and dP recomputed): dK's
// channels 0-127 with all of dV, then dK's 128-191 alone. dQ's reductions
// happen in the first walk only; the deterministic query-tile kernel walks
// twice too, one slice of dQ each.
// One query buffer at these widths (getBackwardStages).
// CHECK-LABEL: module attributes
// CHECK: func.func @wide_head
// CHECK: gpu.func @attn_bwd(
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: llvm.atomicrmw fadd
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK-NOT: llvm.atomicrmw
// CHECK: gpu.func @attn_bwd_finish
// DETERMINISTIC-LABEL: func.func @wide_head
// DETERMINISTIC: gpu.func @attn_bwd(
// DETERMINISTIC: llvm.nvvm.ex2.approx.ftz.f
// DETERMINISTIC: llvm.store {{.*}} : bf16, !llvm.ptr<1>
// DETERMINISTIC: llvm.nvvm.ex2.approx.ftz.f
// DETERMINISTIC: gpu.func @attn_bwd_query_grads(
// DETERMINISTIC: llvm.nvvm.ex2.approx.ftz.f
// DETERMINISTIC: llvm.store {{.*}} : f32, !llvm.ptr<1>
// DETERMINISTIC: llvm.nvvm.ex2.approx.ftz.f
// DETERMINISTIC: gpu.func @attn_bwd_finish
func.func @wide_head(%q: memref<1x2x?x192xbf16>, %v: memref<1x2x?x64xbf16>, %lse: memref<1x2x?xf32>) {
  attn.attention_grad ins(%q, %q, %v, %v, %lse, %v : memref<1x2x?x192xbf16>, memref<1x2x?x192xbf16>, memref<1x2x?x64xbf16>, memref<1x2x?x64xbf16>, memref<1x2x?xf32>, memref<1x2x?x64xbf16>)
    outs(%q, %q, %v : memref<1x2x?x192xbf16>, memref<1x2x?x192xbf16>, memref<1x2x?x64xbf16>)
    mask = #attn.causal
  return
}

// -----

// sm_90a's default family runs the key-tile kernel's products on wgmma
// (64 queries x 128 keys at D, Dv in {64, 128}): tiles in wgmma's
// 1024-byte-aligned slabs, each landed copy fenced for the async proxy;
// S^T and dP^T issued back to back (both from shared memory) and S^T
// waited for first; dV (N = Dv) and dK (N = D) with P^T, dS^T from
// registers and B read MN-major; dQ = dS K with dS^T read MN-major as A
// (the transpose immediates 1, 1) after the barrier that publishes dS^T;
// one wait for the three.
// SM90-LABEL: func.func @wgmma_products(
// SM90: llvm.mlir.global external @attn_shared_memory() {addr_space = 3 : i32, alignment = 1024 : i64}
// SM90: gpu.func @attn_bwd(
// SM90: nvvm.cp.async.wait.group 0
// SM90-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// SM90: gpu.barrier
// SM90-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, $32, $33, p, 1, 1, 0, 0; }
// SM90-NOT: wgmma.wait_group
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, $32, $33, p, 1, 1, 0, 0; }
// SM90: wgmma.wait_group.sync.aligned 1;
// SM90: wgmma.wait_group.sync.aligned 0;
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, {$32, $33, $34, $35}, $36, p, 1, 1, 1; }
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1, 1; }
// SM90: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// SM90-NEXT: gpu.barrier
// SM90-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, $32, $33, p, 1, 1, 1, 1; }
// SM90-NOT: wgmma.mma_async
// SM90: wgmma.wait_group.sync.aligned 0;
// SM90: red.global.add.v2.f32
// SM90: gpu.func @attn_bwd_finish
// kernel=mma_sync keeps the mma.sync products (and their 32-query tiles).
// MMASYNC-LABEL: func.func @wgmma_products(
// MMASYNC: gpu.func @attn_bwd(
// MMASYNC-NOT: wgmma
// MMASYNC: gpu.func @attn_bwd_finish
func.func @wgmma_products(%q: memref<1x4x?x128xbf16>, %k: memref<1x2x?x128xbf16>, %v: memref<1x2x?x64xbf16>, %o: memref<1x4x?x64xbf16>, %lse: memref<1x4x?xf32>, %dq: memref<1x4x?x128xbf16>, %dk: memref<1x2x?x128xbf16>, %dv: memref<1x2x?x64xbf16>) {
  attn.attention_grad ins(%q, %k, %v, %o, %lse, %o : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x64xbf16>, memref<1x4x?x64xbf16>, memref<1x4x?xf32>, memref<1x4x?x64xbf16>)
    outs(%dq, %dk, %dv : memref<1x4x?x128xbf16>, memref<1x2x?x128xbf16>, memref<1x2x?x64xbf16>)
    mask = #attn.causal
  return
}

// -----

// Head dims that are not 64 or 128 are staged padded (D = 80 as 128, Dv =
// 40 as 64, the padding zero-filled by the copies) and keep the wgmma
// products: the same instruction shapes as D = 128, Dv = 64 above.
// SM90-LABEL: func.func @padded_head_dims(
// SM90: gpu.func @attn_bwd(
// SM90-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, $32, $33, p, 1, 1, 0, 0; }
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, $32, $33, p, 1, 1, 0, 0; }
// SM90: wgmma.wait_group.sync.aligned 1;
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, {$32, $33, $34, $35}, $36, p, 1, 1, 1; }
// SM90-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1, 1; }
// SM90-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, $32, $33, p, 1, 1, 1, 1; }
// SM90: gpu.func @attn_bwd_finish
func.func @padded_head_dims(%q: memref<1x4x?x80xf16>, %v: memref<1x4x?x40xf16>, %lse: memref<1x4x?xf32>) {
  attn.attention_grad ins(%q, %q, %v, %v, %lse, %v : memref<1x4x?x80xf16>, memref<1x4x?x80xf16>, memref<1x4x?x40xf16>, memref<1x4x?x40xf16>, memref<1x4x?xf32>, memref<1x4x?x40xf16>)
    outs(%q, %q, %v : memref<1x4x?x80xf16>, memref<1x4x?x80xf16>, memref<1x4x?x40xf16>)
  return
}
