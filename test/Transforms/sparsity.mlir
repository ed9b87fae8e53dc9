// RUN: attn-opt %s -split-input-file -attn-sparsity | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-sparsity="max-tile-pairs=3" -verify-diagnostics -o /dev/null
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-loops | FileCheck %s --check-prefix=LOOPS
// Flat tiles of the pass's options are not the tiles the table describes:
// the loop nests ignore it.
// RUN: attn-opt %s -split-input-file -attn-sparsity -attn-lower-to-loops="query-tile=2 key-tile=3" | FileCheck %s --check-prefix=FLAT
// FLAT-NOT: attn_tile_classes
// FLAT-NOT: attn_grad_tile_offsets
// RUN: not attn-opt %s -attn-sparsity="max-tile-pairs=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPTION
// OPTION: error: attn-sparsity: max-tile-pairs = 0 must be positive

// Causal on 8 tokens with 4-token tiles: [[partial, empty], [full, partial]].
// CHECK-LABEL: func.func @causal
// CHECK: tile_classes = dense<{{\[\[\[}}1, 0], [2, 1]]]> : tensor<1x2x2xi8>
// The loop nest reads the class of each tile pair from a constant table.
// LOOPS: memref.global "private" constant @attn_tile_classes : memref<1x2x2xi8> = dense<{{\[\[\[}}1, 0], [2, 1]]]>
// LOOPS-LABEL: func.func @causal
// LOOPS: memref.get_global @attn_tile_classes
// LOOPS: memref.load %{{.*}} : memref<1x2x2xi8>
func.func @causal(%q: memref<1x1x8x4xf32>, %o: memref<1x1x8x4xf32>) {
  // expected-remark @below {{attn-sparsity: 1 x 2 x 2 tile classes exceed max-tile-pairs; classified at run time}}
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>)
    outs(%o : memref<1x1x8x4xf32>) mask = #attn.causal tiling = #attn.tiling<query = [4], key = [4]>
  return
}

// -----

// 2x2 patches of a 4x4 grid: a 3x3 neighborhood keeps its own patch whole
// and touches every other one; the head group's blocked 2x2 windows
// (table 1) keep exactly the diagonal.
// CHECK-LABEL: func.func @grid
// CHECK: tile_classes = dense<{{\[\[\[}}2, 1, 1, 1], [1, 2, 1, 1], [1, 1, 2, 1], [1, 1, 1, 2]], {{\[\[}}2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 2]]]> : tensor<2x4x4xi8>
func.func @grid(%q: memref<1x2x16x4xf32>, %o: memref<1x2x16x4xf32>) {
  // expected-remark @below {{attn-sparsity: 2 x 4 x 4 tile classes exceed max-tile-pairs; classified at run time}}
  attn.attention ins(%q, %q, %q : memref<1x2x16x4xf32>, memref<1x2x16x4xf32>, memref<1x2x16x4xf32>)
    outs(%o : memref<1x2x16x4xf32>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3]>
    heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.neighborhood<grid = [4, 4], window = [2, 2], stride = [2, 2]>>]>
    tiling = #attn.tiling<query = [2, 2], key = [2, 2]>
  return
}

// -----

// No tiling, or run-time segment sizes: left to run-time classification.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: tile_classes
func.func @untouched(%q: memref<1x1x8x4xf32>, %o: memref<1x1x8x4xf32>, %offsets: memref<1x3xi32>) {
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>)
    outs(%o : memref<1x1x8x4xf32>) mask = #attn.causal
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>)
    segment_offsets(%offsets : memref<1x3xi32>) outs(%o : memref<1x1x8x4xf32>)
    mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]>
    tiling = #attn.tiling<query = [4], key = [4]>
  return
}

// -----

// attn.attention_grad gets the same table; its loop nest walks it by key
// tile: key tile 0 lists query tiles 0 (partial) and 1 (full), key tile 1
// lists query tile 1 (partial).
// CHECK-LABEL: func.func @causal_grad
// CHECK: attn.attention_grad {{.*}} tile_classes = dense<{{\[\[\[}}1, 0], [2, 1]]]> : tensor<1x2x2xi8>
// LOOPS-DAG: memref.global "private" constant @attn_grad_tile_offsets : memref<3xi32> = dense<[0, 2, 3]>
// LOOPS-DAG: memref.global "private" constant @attn_grad_query_tiles : memref<3xi32> = dense<[0, 1, 1]>
// LOOPS-DAG: memref.global "private" constant @attn_grad_tile_classes : memref<3xi8> = dense<[1, 2, 1]>
// LOOPS-LABEL: func.func @causal_grad
// LOOPS: memref.load %{{.*}} : memref<3xi32>
func.func @causal_grad(%q: memref<1x1x8x4xf32>, %lse: memref<1x1x8xf32>, %dq: memref<1x1x8x4xf32>) {
  // expected-remark @below {{attn-sparsity: 1 x 2 x 2 tile classes exceed max-tile-pairs; classified at run time}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>,
                          memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8xf32>, memref<1x1x8x4xf32>)
    outs(%dq, %dq, %dq : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>)
    mask = #attn.causal tiling = #attn.tiling<query = [4], key = [4]>
  return
}
