// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=64" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=T64
// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=128 key-tile=64" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=T128
// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=64 annotate=true" -mlir-print-op-on-diagnostic=false 2>/dev/null | FileCheck %s --check-prefix=ANNOTATE

// Tile classification of sequence masks with 1-D tiles (edge tiles are
// clipped: 1000 tokens are 15 tiles of 64 and one of 40). Every count below
// was computed by brute force over all (query, key) pairs with
// Inputs/mask_reference.py (`mask_reference.py sparsity`), written from
// SEMANTICS.md only. Prefixes: T64 checks 64-token query and key tiles, T128
// 128-token query and 64-token key tiles, ANNOTATE the attn.sparsity
// attribute of annotate=true.

// T64: sparsity-report-1d.mlir:[[# @LINE + 4]]:8: remark: attn sparsity: query tile 64, key tile 64: 256 tile pairs: 120 full, 16 partial, 120 empty; kept pairs 500500 of 1000000 (50.0500%); speedup bound over dense: 1.88x by tiles, 2.00x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 128, key tile 64: 128 tile pairs: 56 full, 16 partial, 56 empty; kept pairs 500500 of 1000000 (50.0500%); speedup bound over dense: 1.78x by tiles, 2.00x by pairs{{$}}
// ANNOTATE: attn.sparsity = {op = {empty = 120 : i64, full = 120 : i64, kept_pairs = 500500 : i64, partial = 16 : i64}}
func.func @causal(%q: tensor<1x1x1000x64xf16>, %o: tensor<1x1x1000x64xf16>) -> tensor<1x1x1000x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>) outs(%o : tensor<1x1x1000x64xf16>) mask = #attn.causal -> tensor<1x1x1000x64xf16>
  return %r : tensor<1x1x1000x64xf16>
}

// -----

// Nq = 200 queries, Nk = 520 keys, delta = 320.
// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 36 tile pairs: 26 full, 4 partial, 6 empty; kept pairs 84100 of 104000 (80.8654%); speedup bound over dense: 1.20x by tiles, 1.24x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 18 tile pairs: 12 full, 4 partial, 2 empty; kept pairs 84100 of 104000 (80.8654%); speedup bound over dense: 1.12x by tiles, 1.24x by pairs{{$}}
func.func @causal_bottom_right(%q: tensor<1x1x200x64xf16>, %kv: tensor<1x1x520x64xf16>, %o: tensor<1x1x200x64xf16>) -> tensor<1x1x200x64xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x200x64xf16>, tensor<1x1x520x64xf16>, tensor<1x1x520x64xf16>) outs(%o : tensor<1x1x200x64xf16>) mask = #attn.causal<bottom_right> -> tensor<1x1x200x64xf16>
  return %r : tensor<1x1x200x64xf16>
}

// -----

// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 256 tile pairs: 0 full, 45 partial, 211 empty; kept pairs 95950 of 1000000 (9.5950%); speedup bound over dense: 5.69x by tiles, 10.42x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 128 tile pairs: 0 full, 30 partial, 98 empty; kept pairs 95950 of 1000000 (9.5950%); speedup bound over dense: 4.27x by tiles, 10.42x by pairs{{$}}
func.func @sliding_window(%q: tensor<1x1x1000x64xf16>, %o: tensor<1x1x1000x64xf16>) -> tensor<1x1x1000x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>, tensor<1x1x1000x64xf16>) outs(%o : tensor<1x1x1000x64xf16>) mask = #attn.sliding_window<left = 100, right = 0> -> tensor<1x1x1000x64xf16>
  return %r : tensor<1x1x1000x64xf16>
}

// -----

// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 0 full, 10 partial, 6 empty; kept pairs 17536 of 65536 (26.7578%); speedup bound over dense: 1.60x by tiles, 3.74x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 8 tile pairs: 0 full, 6 partial, 2 empty; kept pairs 17536 of 65536 (26.7578%); speedup bound over dense: 1.33x by tiles, 3.74x by pairs{{$}}
func.func @power_law(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) mask = #attn.power_law<block = 16, window = 1, sink = 1> -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 7 full, 3 partial, 6 empty; kept pairs 34912 of 65536 (53.2715%); speedup bound over dense: 1.60x by tiles, 1.88x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 8 tile pairs: 3 full, 3 partial, 2 empty; kept pairs 34912 of 65536 (53.2715%); speedup bound over dense: 1.33x by tiles, 1.88x by pairs{{$}}
func.func @prefix_lm(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) mask = #attn.segments<query = [64, 192], visibility = [[full, none], [full, causal]]> -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

// No mask: dense.
// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 16 full, 0 partial, 0 empty; kept pairs 65536 of 65536 (100.0000%); speedup bound over dense: 1.00x by tiles, 1.00x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 8 tile pairs: 8 full, 0 partial, 0 empty; kept pairs 65536 of 65536 (100.0000%); speedup bound over dense: 1.00x by tiles, 1.00x by pairs{{$}}
func.func @dense(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

// T64: sparsity-report-1d.mlir:[[# @LINE + 3]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 0 full, 0 partial, 16 empty; kept pairs 0 of 40000 (0.0000%); speedup bound over dense: inf by tiles, inf by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 2]]:8: remark: attn sparsity: query tile 128, key tile 64: 8 tile pairs: 0 full, 0 partial, 8 empty; kept pairs 0 of 40000 (0.0000%); speedup bound over dense: inf by tiles, inf by pairs{{$}}
func.func @none(%q: tensor<1x1x200x64xf16>, %o: tensor<1x1x200x64xf16>) -> tensor<1x1x200x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x200x64xf16>, tensor<1x1x200x64xf16>, tensor<1x1x200x64xf16>) outs(%o : tensor<1x1x200x64xf16>) mask = #attn.none -> tensor<1x1x200x64xf16>
  return %r : tensor<1x1x200x64xf16>
}

// -----

// A head group with its own mask: causal for heads 0 (group 0 sets only a
// precision), blocked 4 x 4 windows on a 16 x 16 grid for heads 1 and 2; with
// 1-D tiles the grid mask tiles the flat sequence.
// T64: sparsity-report-1d.mlir:[[# @LINE + 7]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 6 full, 4 partial, 6 empty; kept pairs 32896 of 65536 (50.1953%); speedup bound over dense: 1.60x by tiles, 1.99x by pairs{{$}}
// T64: sparsity-report-1d.mlir:[[# @LINE + 6]]:8: remark: attn sparsity: head group 1 (heads [1, 2]): query tile 64, key tile 64: 16 tile pairs: 0 full, 4 partial, 12 empty; kept pairs 4096 of 65536 (6.2500%); speedup bound over dense: 4.00x by tiles, 16.00x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 5]]:8: remark: attn sparsity: query tile 128, key tile 64: 8 tile pairs: 2 full, 4 partial, 2 empty; kept pairs 32896 of 65536 (50.1953%); speedup bound over dense: 1.33x by tiles, 1.99x by pairs{{$}}
// T128: sparsity-report-1d.mlir:[[# @LINE + 4]]:8: remark: attn sparsity: head group 1 (heads [1, 2]): query tile 128, key tile 64: 8 tile pairs: 0 full, 4 partial, 4 empty; kept pairs 4096 of 65536 (6.2500%); speedup bound over dense: 2.00x by tiles, 16.00x by pairs{{$}}
// ANNOTATE-LABEL: func.func @head_group
// ANNOTATE: attn.sparsity = {group1 = {empty = 12 : i64, full = 0 : i64, kept_pairs = 4096 : i64, partial = 4 : i64}, op = {empty = 6 : i64, full = 6 : i64, kept_pairs = 32896 : i64, partial = 4 : i64}}
func.func @head_group(%q: tensor<1x3x256x64xf16>, %kv: tensor<1x1x256x64xf16>, %o: tensor<1x3x256x64xf16>) -> tensor<1x3x256x64xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x3x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x3x256x64xf16>) mask = #attn.causal heads = #attn.heads<groups = [#attn.head_group<heads = [0], precision = #attn.precision<sage1>>, #attn.head_group<heads = [1, 2], mask = #attn.neighborhood<grid = [16, 16], window = [4, 4], stride = [4, 4]>>]> -> tensor<1x3x256x64xf16>
  return %r : tensor<1x3x256x64xf16>
}

// -----

// Run-time segment sizes: without the offsets no tile can be classified and
// no pair counted.
// T64: sparsity-report-1d.mlir:[[# @LINE + 4]]:8: remark: attn sparsity: query tile 64, key tile 64: 16 tile pairs: 0 full, 16 partial, 0 empty; kept pairs unknown (run-time segment sizes: every tile counted as partial){{$}}
// ANNOTATE-LABEL: func.func @runtime_segments
// ANNOTATE: attn.sparsity = {op = {empty = 0 : i64, full = 0 : i64, partial = 16 : i64}}
func.func @runtime_segments(%q: tensor<2x1x256x64xf16>, %s: tensor<2x3xi32>, %o: tensor<2x1x256x64xf16>) -> tensor<2x1x256x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<2x1x256x64xf16>, tensor<2x1x256x64xf16>, tensor<2x1x256x64xf16>) segment_offsets(%s : tensor<2x3xi32>) outs(%o : tensor<2x1x256x64xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]> -> tensor<2x1x256x64xf16>
  return %r : tensor<2x1x256x64xf16>
}

// -----

// T64: sparsity-report-1d.mlir:[[# @LINE + 4]]:8: remark: attn sparsity: skipped, the sequence lengths are dynamic{{$}}
// ANNOTATE-LABEL: func.func @dynamic
// ANNOTATE-NOT: attn.sparsity
func.func @dynamic(%q: tensor<1x1x?x64xf16>, %o: tensor<1x1x?x64xf16>) -> tensor<1x1x?x64xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) mask = #attn.causal -> tensor<1x1x?x64xf16>
  return %r : tensor<1x1x?x64xf16>
}
