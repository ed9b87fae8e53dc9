// RUN: attn-opt %s -split-input-file -attn-sparsity-report="query-tile=8,16" -mlir-print-op-on-diagnostic=false -verify-diagnostics -o /dev/null
// RUN: not attn-opt %s -attn-sparsity-report="query-tile=8,16 key-tile=128" -o /dev/null 2>&1 | FileCheck %s --check-prefix=RANKS
// RUN: not attn-opt %s -attn-sparsity-report="query-tile=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not attn-opt %s -attn-sparsity-report="query-tile=8,16 key-tile=8,0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=KEYZERO
// RUN: not attn-opt %s -attn-sparsity-report="query-tile=-64" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not attn-opt %s -attn-sparsity-report="query-tile=1,2,3,4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=RANK4
// RUN: not attn-opt %s -attn-sparsity-report="key-tile=2,2,2,2,2" -o /dev/null 2>&1 | FileCheck %s --check-prefix=KEYRANK5
// RUN: not attn-opt %s -split-input-file -attn-sparsity-report="query-tile=1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=TOOMANY

// Invalid options (the pass fails before looking at any op), then N-D tiles
// on masks that have no token grid of that rank (checked per op, with
// query-tile=8,16 and -verify-diagnostics).

// RANKS: error: attn-sparsity-report: query-tile has rank 2 but key-tile has rank 1
// ZERO: error: attn-sparsity-report: query-tile entry 0 must be positive
// KEYZERO: error: attn-sparsity-report: key-tile entry 0 must be positive
// NEGATIVE: error: attn-sparsity-report: query-tile entry -64 must be positive
// RANK4: error: attn-sparsity-report: query-tile has rank 4, expected 1 to 3
// KEYRANK5: error: attn-sparsity-report: key-tile has rank 5, expected 1 to 3

func.func @sequence_mask(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  // expected-error @below {{attn-sparsity-report: tiles of rank 2 need a mask with a token grid of that rank, got #attn.causal}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) mask = #attn.causal -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

func.func @no_mask(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  // expected-error @below {{attn-sparsity-report: tiles of rank 2 need a mask with a token grid of that rank, got #attn.dense}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

func.func @grid_of_other_rank(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  // expected-error @below {{attn-sparsity-report: tiles of rank 2 need a mask with a token grid of that rank, got #attn.neighborhood<grid = [4, 8, 8], window = [1, 3, 3]>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) mask = #attn.neighborhood<grid = [4, 8, 8], window = [1, 3, 3]> -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

// A grid inside a segment table describes a segment, not the sequence.
func.func @grid_in_segments(%q: tensor<1x1x256x64xf16>, %o: tensor<1x1x256x64xf16>) -> tensor<1x1x256x64xf16> {
  // expected-error @below {{attn-sparsity-report: tiles of rank 2 need a mask with a token grid of that rank, got #attn.segments}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>, tensor<1x1x256x64xf16>) outs(%o : tensor<1x1x256x64xf16>) mask = #attn.segments<query = [256], visibility = [[#attn.neighborhood<grid = [16, 16], window = [3, 3]>]]> -> tensor<1x1x256x64xf16>
  return %r : tensor<1x1x256x64xf16>
}

// -----

// A mask on flat indices borrows the grid of another mask of the op: the
// head group's sliding window is classified on 8x16 patches of the 16x16
// grid (each patch is one flat run of 128 tokens here).
func.func @group_borrows_grid(%q: tensor<1x2x256x64xf16>, %o: tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16> {
  // expected-remark @below {{attn sparsity: query tile 8x16, key tile 8x16 on grid 16x16: 4 tile pairs}}
  // expected-remark @below {{attn sparsity: head group 0 (heads [1]): query tile 8x16, key tile 8x16 on grid 16x16: 4 tile pairs: 0 full, 3 partial, 1 empty; kept pairs 1270 of 65536}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) outs(%o : tensor<1x2x256x64xf16>) mask = #attn.neighborhood<grid = [16, 16], window = [3, 3]> heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.sliding_window<left = 4, right = 0>>]> -> tensor<1x2x256x64xf16>
  return %r : tensor<1x2x256x64xf16>
}

// -----

// One-token tiles of a 32768-token causal problem: 2^30 tile pairs.
// TOOMANY: error: attn-sparsity-report: 32768 x 32768 tile pairs are too many; use larger tiles
func.func @too_many_tiles(%q: tensor<1x1x32768x8xf16>, %o: tensor<1x1x32768x8xf16>) -> tensor<1x1x32768x8xf16> {
  // expected-error @below {{attn-sparsity-report: tiles of rank 2 need a mask with a token grid of that rank, got #attn.causal}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x32768x8xf16>, tensor<1x1x32768x8xf16>, tensor<1x1x32768x8xf16>) outs(%o : tensor<1x1x32768x8xf16>) mask = #attn.causal -> tensor<1x1x32768x8xf16>
  return %r : tensor<1x1x32768x8xf16>
}
