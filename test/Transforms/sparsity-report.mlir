// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=8,16" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=128" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=FLAT
// RUN: attn-opt %s -split-input-file -attn-sparsity-report -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=FLAT
// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=8,16 key-tile=16,16" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=KEY
// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=8,16 annotate=true" -mlir-print-op-on-diagnostic=false 2>/dev/null | FileCheck %s --check-prefix=ANNOTATE

// Tile classification of grid masks. Every count below was computed by brute
// force over all (query, key) pairs with Inputs/mask_reference.py
// (`mask_reference.py sparsity`), written from SEMANTICS.md only.
//
// Prefixes: GRID checks 8x16 query and key tiles, which are 8 x 16 patches
// of the token grid; FLAT checks 128-token tiles of the flat sequence (also
// the default tile), which on a 128-wide grid are whole grid rows, so many
// more tiles are partial; KEY checks 8x16 query and 16x16 key patches;
// ANNOTATE checks the attn.sparsity attribute of annotate=true.

// The headline case: a 128 x 128 grid (16384 tokens) with a 13 x 13
// neighborhood. Every query keeps exactly 13 x 13 = 169 keys, and no tile is
// full (the windows of 8 consecutive rows share only 13 - 7 = 6 rows).
// GRID: sparsity-report.mlir:[[# @LINE + 6]]:8: remark: attn sparsity: query tile 8x16, key tile 8x16 on grid 128x128: 16384 tile pairs: 0 full, 1012 partial, 15372 empty; kept pairs 2768896 of 268435456 (1.0315%); speedup bound over dense: 16.19x by tiles, 96.95x by pairs{{$}}
// FLAT: sparsity-report.mlir:[[# @LINE + 5]]:8: remark: attn sparsity: query tile 128, key tile 128: 16384 tile pairs: 0 full, 1664 partial, 14720 empty; kept pairs 2768896 of 268435456 (1.0315%); speedup bound over dense: 9.85x by tiles, 96.95x by pairs{{$}}
// KEY: sparsity-report.mlir:[[# @LINE + 4]]:8: remark: attn sparsity: query tile 8x16, key tile 16x16 on grid 128x128: 8192 tile pairs: 0 full, 660 partial, 7532 empty; kept pairs 2768896 of 268435456 (1.0315%); speedup bound over dense: 12.41x by tiles, 96.95x by pairs{{$}}
// ANNOTATE-LABEL: func.func @headline
// ANNOTATE: attn.attention {{.*}} {attn.sparsity = {op = {empty = 15372 : i64, full = 0 : i64, kept_pairs = 2768896 : i64, partial = 1012 : i64}}} -> tensor<1x16x16384x128xbf16>
func.func @headline(%q: tensor<1x16x16384x128xbf16>, %o: tensor<1x16x16384x128xbf16>) -> tensor<1x16x16384x128xbf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>) outs(%o : tensor<1x16x16384x128xbf16>) mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]> -> tensor<1x16x16384x128xbf16>
  return %r : tensor<1x16x16384x128xbf16>
}

// -----

// A head group with its own mask gets its own remark (and annotation): the
// op's 7 x 7 neighborhood on a 32 x 32 grid for heads 0 and 2, blocked 8 x 8
// windows for head 1 (group 1; group 0 only sets a precision).
// GRID: sparsity-report.mlir:[[# @LINE + 10]]:8: remark: attn sparsity: query tile 8x16, key tile 8x16 on grid 32x32: 64 tile pairs: 0 full, 40 partial, 24 empty; kept pairs 50176 of 1048576 (4.7852%); speedup bound over dense: 1.60x by tiles, 20.90x by pairs{{$}}
// GRID: sparsity-report.mlir:[[# @LINE + 9]]:8: remark: attn sparsity: head group 1 (heads [1]): query tile 8x16, key tile 8x16 on grid 32x32: 64 tile pairs: 0 full, 8 partial, 56 empty; kept pairs 65536 of 1048576 (6.2500%); speedup bound over dense: 8.00x by tiles, 16.00x by pairs{{$}}
// FLAT: sparsity-report.mlir:[[# @LINE + 8]]:8: remark: attn sparsity: query tile 128, key tile 128: 64 tile pairs: 0 full, 22 partial, 42 empty; kept pairs 50176 of 1048576 (4.7852%); speedup bound over dense: 2.91x by tiles, 20.90x by pairs{{$}}
// FLAT: sparsity-report.mlir:[[# @LINE + 7]]:8: remark: attn sparsity: head group 1 (heads [1]): query tile 128, key tile 128: 64 tile pairs: 0 full, 16 partial, 48 empty; kept pairs 65536 of 1048576 (6.2500%); speedup bound over dense: 4.00x by tiles, 16.00x by pairs{{$}}
// KEY: sparsity-report.mlir:[[# @LINE + 6]]:8: remark: attn sparsity: query tile 8x16, key tile 16x16 on grid 32x32: 32 tile pairs: 0 full, 24 partial, 8 empty; kept pairs 50176 of 1048576 (4.7852%); speedup bound over dense: 1.33x by tiles, 20.90x by pairs{{$}}
// KEY: sparsity-report.mlir:[[# @LINE + 5]]:8: remark: attn sparsity: head group 1 (heads [1]): query tile 8x16, key tile 16x16 on grid 32x32: 32 tile pairs: 0 full, 8 partial, 24 empty; kept pairs 65536 of 1048576 (6.2500%); speedup bound over dense: 4.00x by tiles, 16.00x by pairs{{$}}
// The annotation keys are "op" and "group<index in groups>".
// ANNOTATE-LABEL: func.func @head_group
// ANNOTATE: attn.attention {{.*}} {attn.sparsity = {group1 = {empty = 56 : i64, full = 0 : i64, kept_pairs = 65536 : i64, partial = 8 : i64}, op = {empty = 24 : i64, full = 0 : i64, kept_pairs = 50176 : i64, partial = 40 : i64}}} -> tensor<1x3x1024x64xf16>
func.func @head_group(%q: tensor<1x3x1024x64xf16>, %kv: tensor<1x1x1024x64xf16>, %o: tensor<1x3x1024x64xf16>) -> tensor<1x3x1024x64xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x3x1024x64xf16>, tensor<1x1x1024x64xf16>, tensor<1x1x1024x64xf16>) outs(%o : tensor<1x3x1024x64xf16>) mask = #attn.neighborhood<grid = [32, 32], window = [7, 7]> heads = #attn.heads<groups = [#attn.head_group<heads = [0], precision = #attn.precision<sage1>>, #attn.head_group<heads = [1], mask = #attn.neighborhood<grid = [32, 32], window = [8, 8], stride = [8, 8]>>]> -> tensor<1x3x1024x64xf16>
  return %r : tensor<1x3x1024x64xf16>
}
