// RUN: attn-opt %s -split-input-file -attn-materialize-mask --mlir-print-elementsattrs-with-hex-if-larger=-1 | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-materialize-mask -verify-diagnostics -o /dev/null
// RUN: attn-opt %s -split-input-file -attn-materialize-mask | attn-opt -split-input-file -o /dev/null

// Every expected `dense<...>` below was computed by Inputs/mask_reference.py
// (`mask_reference.py materialize`), written from SEMANTICS.md section 2
// only; the pictures show kept pairs as 'x' (rows are queries i, columns
// keys j). The error cases are in materialize-mask-invalid.mlir.

// 2.3: w=4, s=1: queries 0,1,2 -> [0,4); 3 -> [1,5); 8,9 -> [6,10)
// (even w: one more key on the left; shifted inward at the borders).
//   xxxx......
//   xxxx......
//   xxxx......
//   .xxxx.....
//   ..xxxx....
//   ...xxxx...
//   ....xxxx..
//   .....xxxx.
//   ......xxxx
//   ......xxxx
// CHECK-LABEL: func.func @neighborhood_w4_s1
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, true, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false], [false, true, true, true, true, false, false, false, false, false], [false, false, true, true, true, true, false, false, false, false], [false, false, false, true, true, true, true, false, false, false], [false, false, false, false, true, true, true, true, false, false], [false, false, false, false, false, true, true, true, true, false], [false, false, false, false, false, false, true, true, true, true], [false, false, false, false, false, false, true, true, true, true]]> : tensor<10x10xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) explicit_mask(%[[KEEP]] : tensor<10x10xi1>) outs(%{{.*}} : tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16>{{$}}
func.func @neighborhood_w4_s1(%q: tensor<1x1x10x4xf16>, %kv: tensor<1x1x10x4xf16>, %o: tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) outs(%o : tensor<1x1x10x4xf16>) mask = #attn.neighborhood<grid = [10], window = [4]> -> tensor<1x1x10x4xf16>
  return %r : tensor<1x1x10x4xf16>
}

// -----

// 2.3: w=5, s=2: 0,1 -> [0,5); 2,3 -> [1,6); 4,5 -> [3,8); 6..9 -> [5,10).
//   xxxxx.....
//   xxxxx.....
//   .xxxxx....
//   .xxxxx....
//   ...xxxxx..
//   ...xxxxx..
//   .....xxxxx
//   .....xxxxx
//   .....xxxxx
//   .....xxxxx
// CHECK-LABEL: func.func @neighborhood_w5_s2
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, true, true, false, false, false, false, false], [true, true, true, true, true, false, false, false, false, false], [false, true, true, true, true, true, false, false, false, false], [false, true, true, true, true, true, false, false, false, false], [false, false, false, true, true, true, true, true, false, false], [false, false, false, true, true, true, true, true, false, false], [false, false, false, false, false, true, true, true, true, true], [false, false, false, false, false, true, true, true, true, true], [false, false, false, false, false, true, true, true, true, true], [false, false, false, false, false, true, true, true, true, true]]> : tensor<10x10xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) explicit_mask(%[[KEEP]] : tensor<10x10xi1>) outs(%{{.*}} : tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16>{{$}}
func.func @neighborhood_w5_s2(%q: tensor<1x1x10x4xf16>, %kv: tensor<1x1x10x4xf16>, %o: tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) outs(%o : tensor<1x1x10x4xf16>) mask = #attn.neighborhood<grid = [10], window = [5], stride = [2]> -> tensor<1x1x10x4xf16>
  return %r : tensor<1x1x10x4xf16>
}

// -----

// 2.3: w=5, s=2, causal: 4 -> keys 1..4; 5 -> 1..5; 6 -> 3..6.
//   x.........
//   xx........
//   xxx.......
//   xxxx......
//   .xxxx.....
//   .xxxxx....
//   ...xxxx...
//   ...xxxxx..
//   .....xxxx.
//   .....xxxxx
// CHECK-LABEL: func.func @neighborhood_w5_s2_causal
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false, false, false], [true, true, true, false, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false], [false, true, true, true, true, false, false, false, false, false], [false, true, true, true, true, true, false, false, false, false], [false, false, false, true, true, true, true, false, false, false], [false, false, false, true, true, true, true, true, false, false], [false, false, false, false, false, true, true, true, true, false], [false, false, false, false, false, true, true, true, true, true]]> : tensor<10x10xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) explicit_mask(%[[KEEP]] : tensor<10x10xi1>) outs(%{{.*}} : tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16>{{$}}
func.func @neighborhood_w5_s2_causal(%q: tensor<1x1x10x4xf16>, %kv: tensor<1x1x10x4xf16>, %o: tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) outs(%o : tensor<1x1x10x4xf16>) mask = #attn.neighborhood<grid = [10], window = [5], stride = [2], causal = [true]> -> tensor<1x1x10x4xf16>
  return %r : tensor<1x1x10x4xf16>
}

// -----

// 2.3: w=3, s=1, d=2: query 4 (group 0, a=2, n=5) -> local [1,4) -> keys 2, 4, 6.
//   x.x.x.....
//   .x.x.x....
//   x.x.x.....
//   .x.x.x....
//   ..x.x.x...
//   ...x.x.x..
//   ....x.x.x.
//   .....x.x.x
//   ....x.x.x.
//   .....x.x.x
// CHECK-LABEL: func.func @neighborhood_w3_s1_d2
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, true, false, true, false, false, false, false, false], [false, true, false, true, false, true, false, false, false, false], [true, false, true, false, true, false, false, false, false, false], [false, true, false, true, false, true, false, false, false, false], [false, false, true, false, true, false, true, false, false, false], [false, false, false, true, false, true, false, true, false, false], [false, false, false, false, true, false, true, false, true, false], [false, false, false, false, false, true, false, true, false, true], [false, false, false, false, true, false, true, false, true, false], [false, false, false, false, false, true, false, true, false, true]]> : tensor<10x10xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) explicit_mask(%[[KEEP]] : tensor<10x10xi1>) outs(%{{.*}} : tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16>{{$}}
func.func @neighborhood_w3_s1_d2(%q: tensor<1x1x10x4xf16>, %kv: tensor<1x1x10x4xf16>, %o: tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) outs(%o : tensor<1x1x10x4xf16>) mask = #attn.neighborhood<grid = [10], window = [3], dilation = [2]> -> tensor<1x1x10x4xf16>
  return %r : tensor<1x1x10x4xf16>
}

// -----

// 2-D grid 4x4 (row-major): rows w=3 s=1, columns blocked w=2 s=2;
// a pair is kept iff kept in both dimensions.
//   xx..xx..xx......
//   xx..xx..xx......
//   ..xx..xx..xx....
//   ..xx..xx..xx....
//   xx..xx..xx......
//   xx..xx..xx......
//   ..xx..xx..xx....
//   ..xx..xx..xx....
//   ....xx..xx..xx..
//   ....xx..xx..xx..
//   ......xx..xx..xx
//   ......xx..xx..xx
//   ....xx..xx..xx..
//   ....xx..xx..xx..
//   ......xx..xx..xx
//   ......xx..xx..xx
// CHECK-LABEL: func.func @neighborhood_2d
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, false, false, true, true, false, false, true, true, false, false, false, false, false, false], [true, true, false, false, true, true, false, false, true, true, false, false, false, false, false, false], [false, false, true, true, false, false, true, true, false, false, true, true, false, false, false, false], [false, false, true, true, false, false, true, true, false, false, true, true, false, false, false, false], [true, true, false, false, true, true, false, false, true, true, false, false, false, false, false, false], [true, true, false, false, true, true, false, false, true, true, false, false, false, false, false, false], [false, false, true, true, false, false, true, true, false, false, true, true, false, false, false, false], [false, false, true, true, false, false, true, true, false, false, true, true, false, false, false, false], [false, false, false, false, true, true, false, false, true, true, false, false, true, true, false, false], [false, false, false, false, true, true, false, false, true, true, false, false, true, true, false, false], [false, false, false, false, false, false, true, true, false, false, true, true, false, false, true, true], [false, false, false, false, false, false, true, true, false, false, true, true, false, false, true, true], [false, false, false, false, true, true, false, false, true, true, false, false, true, true, false, false], [false, false, false, false, true, true, false, false, true, true, false, false, true, true, false, false], [false, false, false, false, false, false, true, true, false, false, true, true, false, false, true, true], [false, false, false, false, false, false, true, true, false, false, true, true, false, false, true, true]]> : tensor<16x16xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x16x4xf16>, tensor<1x1x16x4xf16>, tensor<1x1x16x4xf16>) explicit_mask(%[[KEEP]] : tensor<16x16xi1>) outs(%{{.*}} : tensor<1x1x16x4xf16>) -> tensor<1x1x16x4xf16>{{$}}
func.func @neighborhood_2d(%q: tensor<1x1x16x4xf16>, %kv: tensor<1x1x16x4xf16>, %o: tensor<1x1x16x4xf16>) -> tensor<1x1x16x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x16x4xf16>, tensor<1x1x16x4xf16>, tensor<1x1x16x4xf16>) outs(%o : tensor<1x1x16x4xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 2], stride = [1, 2]> -> tensor<1x1x16x4xf16>
  return %r : tensor<1x1x16x4xf16>
}

// -----

// 3-D grid 2x2x3: dim 0 w=1 (same frame), dim 1 causal w=2, dim 2 w=2.
//   xx..........
//   xx..........
//   .xx.........
//   xx.xx.......
//   xx.xx.......
//   .xx.xx......
//   ......xx....
//   ......xx....
//   .......xx...
//   ......xx.xx.
//   ......xx.xx.
//   .......xx.xx
// CHECK-LABEL: func.func @neighborhood_3d
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, false, false, false, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false, false, false, false, false], [false, true, true, false, false, false, false, false, false, false, false, false], [true, true, false, true, true, false, false, false, false, false, false, false], [true, true, false, true, true, false, false, false, false, false, false, false], [false, true, true, false, true, true, false, false, false, false, false, false], [false, false, false, false, false, false, true, true, false, false, false, false], [false, false, false, false, false, false, true, true, false, false, false, false], [false, false, false, false, false, false, false, true, true, false, false, false], [false, false, false, false, false, false, true, true, false, true, true, false], [false, false, false, false, false, false, true, true, false, true, true, false], [false, false, false, false, false, false, false, true, true, false, true, true]]> : tensor<12x12xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>) explicit_mask(%[[KEEP]] : tensor<12x12xi1>) outs(%{{.*}} : tensor<1x1x12x4xf16>) -> tensor<1x1x12x4xf16>{{$}}
func.func @neighborhood_3d(%q: tensor<1x1x12x4xf16>, %kv: tensor<1x1x12x4xf16>, %o: tensor<1x1x12x4xf16>) -> tensor<1x1x12x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>) outs(%o : tensor<1x1x12x4xf16>) mask = #attn.neighborhood<grid = [2, 2, 3], window = [1, 2, 2], dilation = [1, 1, 1], causal = [false, true, false]> -> tensor<1x1x12x4xf16>
  return %r : tensor<1x1x12x4xf16>
}

// -----

// Causal, top-left, Nq = 3 < Nk = 5: j <= i.
//   x....
//   xx...
//   xxx..
// CHECK-LABEL: func.func @causal_top_left_wide
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false], [true, true, false, false, false], [true, true, true, false, false]]> : tensor<3x5xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x3x4xf16>, tensor<1x1x5x4xf16>, tensor<1x1x5x4xf16>) explicit_mask(%[[KEEP]] : tensor<3x5xi1>) outs(%{{.*}} : tensor<1x1x3x4xf16>) -> tensor<1x1x3x4xf16>{{$}}
func.func @causal_top_left_wide(%q: tensor<1x1x3x4xf16>, %kv: tensor<1x1x5x4xf16>, %o: tensor<1x1x3x4xf16>) -> tensor<1x1x3x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x3x4xf16>, tensor<1x1x5x4xf16>, tensor<1x1x5x4xf16>) outs(%o : tensor<1x1x3x4xf16>) mask = #attn.causal -> tensor<1x1x3x4xf16>
  return %r : tensor<1x1x3x4xf16>
}

// -----

// Causal, bottom-right, Nq = 3 < Nk = 5: j <= i + 2 (the last query sees every key).
//   xxx..
//   xxxx.
//   xxxxx
// CHECK-LABEL: func.func @causal_bottom_right_wide
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, false, false], [true, true, true, true, false], [true, true, true, true, true]]> : tensor<3x5xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x3x4xf16>, tensor<1x1x5x4xf16>, tensor<1x1x5x4xf16>) explicit_mask(%[[KEEP]] : tensor<3x5xi1>) outs(%{{.*}} : tensor<1x1x3x4xf16>) -> tensor<1x1x3x4xf16>{{$}}
func.func @causal_bottom_right_wide(%q: tensor<1x1x3x4xf16>, %kv: tensor<1x1x5x4xf16>, %o: tensor<1x1x3x4xf16>) -> tensor<1x1x3x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x3x4xf16>, tensor<1x1x5x4xf16>, tensor<1x1x5x4xf16>) outs(%o : tensor<1x1x3x4xf16>) mask = #attn.causal<bottom_right> -> tensor<1x1x3x4xf16>
  return %r : tensor<1x1x3x4xf16>
}

// -----

// Causal, top-left, Nq = 5 > Nk = 3.
//   x..
//   xx.
//   xxx
//   xxx
//   xxx
// CHECK-LABEL: func.func @causal_top_left_tall
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false], [true, true, false], [true, true, true], [true, true, true], [true, true, true]]> : tensor<5x3xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x5x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>) explicit_mask(%[[KEEP]] : tensor<5x3xi1>) outs(%{{.*}} : tensor<1x1x5x4xf16>) -> tensor<1x1x5x4xf16>{{$}}
func.func @causal_top_left_tall(%q: tensor<1x1x5x4xf16>, %kv: tensor<1x1x3x4xf16>, %o: tensor<1x1x5x4xf16>) -> tensor<1x1x5x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x5x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>) outs(%o : tensor<1x1x5x4xf16>) mask = #attn.causal -> tensor<1x1x5x4xf16>
  return %r : tensor<1x1x5x4xf16>
}

// -----

// Causal, bottom-right, Nq = 5 > Nk = 3: j <= i - 2; queries 0 and 1 keep nothing.
//   ...
//   ...
//   x..
//   xx.
//   xxx
// CHECK-LABEL: func.func @causal_bottom_right_tall
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}false, false, false], [false, false, false], [true, false, false], [true, true, false], [true, true, true]]> : tensor<5x3xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x5x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>) explicit_mask(%[[KEEP]] : tensor<5x3xi1>) outs(%{{.*}} : tensor<1x1x5x4xf16>) -> tensor<1x1x5x4xf16>{{$}}
func.func @causal_bottom_right_tall(%q: tensor<1x1x5x4xf16>, %kv: tensor<1x1x3x4xf16>, %o: tensor<1x1x5x4xf16>) -> tensor<1x1x5x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x5x4xf16>, tensor<1x1x3x4xf16>, tensor<1x1x3x4xf16>) outs(%o : tensor<1x1x5x4xf16>) mask = #attn.causal<bottom_right> -> tensor<1x1x5x4xf16>
  return %r : tensor<1x1x5x4xf16>
}

// -----

// Sliding window left = 2, right = 1: i - 2 <= j <= i + 1, clipped at the borders.
//   xx....
//   xxx...
//   xxxx..
//   .xxxx.
//   ..xxxx
//   ...xxx
// CHECK-LABEL: func.func @sliding_window
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, false, false, false, false], [true, true, true, false, false, false], [true, true, true, true, false, false], [false, true, true, true, true, false], [false, false, true, true, true, true], [false, false, false, true, true, true]]> : tensor<6x6xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) explicit_mask(%[[KEEP]] : tensor<6x6xi1>) outs(%{{.*}} : tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16>{{$}}
func.func @sliding_window(%q: tensor<1x1x6x4xf16>, %kv: tensor<1x1x6x4xf16>, %o: tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) outs(%o : tensor<1x1x6x4xf16>) mask = #attn.sliding_window<left = 2, right = 1> -> tensor<1x1x6x4xf16>
  return %r : tensor<1x1x6x4xf16>
}

// -----

// Sliding window bottom-right, Nq = 4, Nk = 6 (delta = 2): i + 1 <= j <= i + 2.
//   .xx...
//   ..xx..
//   ...xx.
//   ....xx
// CHECK-LABEL: func.func @sliding_window_bottom_right
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}false, true, true, false, false, false], [false, false, true, true, false, false], [false, false, false, true, true, false], [false, false, false, false, true, true]]> : tensor<4x6xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x4x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) explicit_mask(%[[KEEP]] : tensor<4x6xi1>) outs(%{{.*}} : tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16>{{$}}
func.func @sliding_window_bottom_right(%q: tensor<1x1x4x4xf16>, %kv: tensor<1x1x6x4xf16>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x4x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.sliding_window<left = 1, right = 0, alignment = bottom_right> -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

// Power law, block 2, window 1, sink 1: causal; block distance 0, 1, 2, 4 or key
// block 0 kept; distances 3 and 5 dropped.
//   x...........
//   xx..........
//   xxx.........
//   xxxx........
//   xxxxx.......
//   xxxxxx......
//   xxxxxxx.....
//   xxxxxxxx....
//   xx..xxxxx...
//   xx..xxxxxx..
//   xxxx..xxxxx.
//   xxxx..xxxxxx
// CHECK-LABEL: func.func @power_law
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false, false, false, false, false], [true, true, true, false, false, false, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false, false, false], [true, true, true, true, true, false, false, false, false, false, false, false], [true, true, true, true, true, true, false, false, false, false, false, false], [true, true, true, true, true, true, true, false, false, false, false, false], [true, true, true, true, true, true, true, true, false, false, false, false], [true, true, false, false, true, true, true, true, true, false, false, false], [true, true, false, false, true, true, true, true, true, true, false, false], [true, true, true, true, false, false, true, true, true, true, true, false], [true, true, true, true, false, false, true, true, true, true, true, true]]> : tensor<12x12xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>) explicit_mask(%[[KEEP]] : tensor<12x12xi1>) outs(%{{.*}} : tensor<1x1x12x4xf16>) -> tensor<1x1x12x4xf16>{{$}}
func.func @power_law(%q: tensor<1x1x12x4xf16>, %kv: tensor<1x1x12x4xf16>, %o: tensor<1x1x12x4xf16>) -> tensor<1x1x12x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>, tensor<1x1x12x4xf16>) outs(%o : tensor<1x1x12x4xf16>) mask = #attn.power_law<block = 2, window = 1, sink = 1> -> tensor<1x1x12x4xf16>
  return %r : tensor<1x1x12x4xf16>
}

// -----

// Non-causal power law, block 1, window 1: |i - j| = 0 or a power of two (1, 2, 4).
//   xxx.x...
//   xxxx.x..
//   xxxxx.x.
//   .xxxxx.x
//   x.xxxxx.
//   .x.xxxxx
//   ..x.xxxx
//   ...x.xxx
// CHECK-LABEL: func.func @power_law_non_causal
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, false, true, false, false, false], [true, true, true, true, false, true, false, false], [true, true, true, true, true, false, true, false], [false, true, true, true, true, true, false, true], [true, false, true, true, true, true, true, false], [false, true, false, true, true, true, true, true], [false, false, true, false, true, true, true, true], [false, false, false, true, false, true, true, true]]> : tensor<8x8xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) explicit_mask(%[[KEEP]] : tensor<8x8xi1>) outs(%{{.*}} : tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16>{{$}}
func.func @power_law_non_causal(%q: tensor<1x1x8x4xf16>, %kv: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) outs(%o : tensor<1x1x8x4xf16>) mask = #attn.power_law<block = 1, window = 1, causal = false> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

// Power law with window 0 and no sink: only block distances that are powers of
// two (1 = 2^0, 2, 4) are kept; distance 0, the diagonal block, is dropped.
//   ..........
//   ..........
//   xx........
//   xx........
//   xxxx......
//   xxxx......
//   ..xxxx....
//   ..xxxx....
//   xx..xxxx..
//   xx..xxxx..
// CHECK-LABEL: func.func @power_law_no_window
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}false, false, false, false, false, false, false, false, false, false], [false, false, false, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false], [true, true, true, true, false, false, false, false, false, false], [false, false, true, true, true, true, false, false, false, false], [false, false, true, true, true, true, false, false, false, false], [true, true, false, false, true, true, true, true, false, false], [true, true, false, false, true, true, true, true, false, false]]> : tensor<10x10xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) explicit_mask(%[[KEEP]] : tensor<10x10xi1>) outs(%{{.*}} : tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16>{{$}}
func.func @power_law_no_window(%q: tensor<1x1x10x4xf16>, %kv: tensor<1x1x10x4xf16>, %o: tensor<1x1x10x4xf16>) -> tensor<1x1x10x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>, tensor<1x1x10x4xf16>) outs(%o : tensor<1x1x10x4xf16>) mask = #attn.power_law<block = 2, window = 0> -> tensor<1x1x10x4xf16>
  return %r : tensor<1x1x10x4xf16>
}

// -----

// Prefix-LM: a 3-token prefix sees itself; the 5-token target sees the prefix and
// itself causally.
//   xxx.....
//   xxx.....
//   xxx.....
//   xxxx....
//   xxxxx...
//   xxxxxx..
//   xxxxxxx.
//   xxxxxxxx
// CHECK-LABEL: func.func @segments_prefix_lm
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, false, false, false, false, false], [true, true, true, false, false, false, false, false], [true, true, true, false, false, false, false, false], [true, true, true, true, false, false, false, false], [true, true, true, true, true, false, false, false], [true, true, true, true, true, true, false, false], [true, true, true, true, true, true, true, false], [true, true, true, true, true, true, true, true]]> : tensor<8x8xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) explicit_mask(%[[KEEP]] : tensor<8x8xi1>) outs(%{{.*}} : tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16>{{$}}
func.func @segments_prefix_lm(%q: tensor<1x1x8x4xf16>, %kv: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) outs(%o : tensor<1x1x8x4xf16>) mask = #attn.segments<query = [3, 5], visibility = [[full, none], [full, causal]]> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

// Separate key segments [3, 1]; entries apply to segment-local indices.
//   x...
//   xx..
//   xxxx
//   xxx.
// CHECK-LABEL: func.func @segments_cross
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, true], [true, true, true, false]]> : tensor<4x4xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<4x4xi1>) outs(%{{.*}} : tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16>{{$}}
func.func @segments_cross(%q: tensor<1x1x4x4xf16>, %kv: tensor<1x1x4x4xf16>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.segments<query = [2, 2], key = [3, 1], visibility = [[causal, none], [full, #attn.sliding_window<left = 0, right = 0>]]> -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

// A nested neighborhood on a 2x3 video segment, after a 2-token prompt.
//   xx......
//   xx......
//   xxxx....
//   xxxx....
//   xx.xx...
//   xx...xx.
//   xx...xx.
//   xx....xx
// CHECK-LABEL: func.func @segments_nested_grid
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, false, false, false, false, false, false], [true, true, false, false, false, false, false, false], [true, true, true, true, false, false, false, false], [true, true, true, true, false, false, false, false], [true, true, false, true, true, false, false, false], [true, true, false, false, false, true, true, false], [true, true, false, false, false, true, true, false], [true, true, false, false, false, false, true, true]]> : tensor<8x8xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) explicit_mask(%[[KEEP]] : tensor<8x8xi1>) outs(%{{.*}} : tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16>{{$}}
func.func @segments_nested_grid(%q: tensor<1x1x8x4xf16>, %kv: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) outs(%o : tensor<1x1x8x4xf16>) mask = #attn.segments<query = [2, 6], visibility = [[full, none], [full, #attn.neighborhood<grid = [2, 3], window = [1, 2]>]]> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

// and: kept when every member keeps.
//   x.....
//   xx....
//   xxx...
//   .xxx..
//   ..xxx.
//   ...xxx
// CHECK-LABEL: func.func @and_causal_window
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false, false], [true, true, false, false, false, false], [true, true, true, false, false, false], [false, true, true, true, false, false], [false, false, true, true, true, false], [false, false, false, true, true, true]]> : tensor<6x6xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) explicit_mask(%[[KEEP]] : tensor<6x6xi1>) outs(%{{.*}} : tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16>{{$}}
func.func @and_causal_window(%q: tensor<1x1x6x4xf16>, %kv: tensor<1x1x6x4xf16>, %o: tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) outs(%o : tensor<1x1x6x4xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 2, right = 0>> -> tensor<1x1x6x4xf16>
  return %r : tensor<1x1x6x4xf16>
}

// -----

// or: kept when any member keeps.
//   x.....
//   xx....
//   xxx...
//   xxxx..
//   x.xxx.
//   xx.xxx
// CHECK-LABEL: func.func @or_window_power_law
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false, false], [true, true, false, false, false, false], [true, true, true, false, false, false], [true, true, true, true, false, false], [true, false, true, true, true, false], [true, true, false, true, true, true]]> : tensor<6x6xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) explicit_mask(%[[KEEP]] : tensor<6x6xi1>) outs(%{{.*}} : tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16>{{$}}
func.func @or_window_power_law(%q: tensor<1x1x6x4xf16>, %kv: tensor<1x1x6x4xf16>, %o: tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) outs(%o : tensor<1x1x6x4xf16>) mask = #attn.or<#attn.sliding_window<left = 1, right = 0>, #attn.power_law<block = 1, window = 0, sink = 1>> -> tensor<1x1x6x4xf16>
  return %r : tensor<1x1x6x4xf16>
}

// -----

// Nested: or<and<causal, window>, segments>.
//   x.....
//   xx....
//   xxx...
//   xxxx..
//   xx.xx.
//   xx..xx
// CHECK-LABEL: func.func @or_and_nested
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false, false, false], [true, true, false, false, false, false], [true, true, true, false, false, false], [true, true, true, true, false, false], [true, true, false, true, true, false], [true, true, false, false, true, true]]> : tensor<6x6xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) explicit_mask(%[[KEEP]] : tensor<6x6xi1>) outs(%{{.*}} : tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16>{{$}}
func.func @or_and_nested(%q: tensor<1x1x6x4xf16>, %kv: tensor<1x1x6x4xf16>, %o: tensor<1x1x6x4xf16>) -> tensor<1x1x6x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>, tensor<1x1x6x4xf16>) outs(%o : tensor<1x1x6x4xf16>) mask = #attn.or<#attn.and<#attn.causal, #attn.sliding_window<left = 1, right = 1>>, #attn.segments<query = [2, 4], visibility = [[none, none], [full, none]]>> -> tensor<1x1x6x4xf16>
  return %r : tensor<1x1x6x4xf16>
}

// -----

// Head groups with their own masks: a 1 x Hq x Nq x Nk constant. Head 0 is
// causal, head 2 a window (left = 1, right = 0), head 1 uses the op's mask
// (dense here). The group keeping a precision stays, without its mask; the
// group with only a mask disappears.
// CHECK-LABEL: func.func @head_groups
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]], {{\[\[}}true, true, true, true], [true, true, true, true], [true, true, true, true], [true, true, true, true]], {{\[\[}}true, false, false, false], [true, true, false, false], [false, true, true, false], [false, false, true, true]]]]> : tensor<1x3x4x4xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x3x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<1x3x4x4xi1>) outs(%{{.*}} : tensor<1x3x4x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [2], precision = #attn.precision<sage1>>]> -> tensor<1x3x4x4xf16>{{$}}
func.func @head_groups(%q: tensor<1x3x4x4xf16>, %kv: tensor<1x1x4x4xf16>, %o: tensor<1x3x4x4xf16>) -> tensor<1x3x4x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x3x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) outs(%o : tensor<1x3x4x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.causal>, #attn.head_group<heads = [2], mask = #attn.sliding_window<left = 1, right = 0>, precision = #attn.precision<sage1>>]> -> tensor<1x3x4x4xf16>
  return %r : tensor<1x3x4x4xf16>
}

// -----

// Head groups and an op mask: heads outside the groups use the op's mask
// (causal); head 1's group keeps nothing. Weights and softpag are kept; the
// heads attribute loses only the group masks.
// CHECK-LABEL: func.func @head_groups_op_mask
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]], {{\[\[}}false, false, false, false], [false, false, false, false], [false, false, false, false], [false, false, false, false]], {{\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]]]> : tensor<1x3x4x4xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x3x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<1x3x4x4xi1>) outs(%{{.*}} : tensor<1x3x4x4xf16>) heads = #attn.heads<weights = [1.000000e+00, 5.000000e-01, 1.000000e+00], softpag = #attn.softpag<u = 5.000000e-01, heads = [0]>> -> tensor<1x3x4x4xf16>{{$}}
func.func @head_groups_op_mask(%q: tensor<1x3x4x4xf16>, %kv: tensor<1x1x4x4xf16>, %o: tensor<1x3x4x4xf16>) -> tensor<1x3x4x4xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x3x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) outs(%o : tensor<1x3x4x4xf16>) mask = #attn.causal heads = #attn.heads<weights = [1.0, 0.5, 1.0], softpag = #attn.softpag<u = 0.5, heads = [0]>, groups = [#attn.head_group<heads = [1], mask = #attn.none>]> -> tensor<1x3x4x4xf16>
  return %r : tensor<1x3x4x4xf16>
}

// -----

// An existing constant explicit mask is ANDed into the constant (folded); the
// old constant is erased.
//   existing      causal        result
//   xx.x          x...          x...
//   .xxx          xx..          .x..
//   xxxx          xxx.          xxx.
//   x.xx          xxxx          x.xx
// CHECK-LABEL: func.func @existing_constant_mask
// CHECK-NOT: arith.constant
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false], [false, true, false, false], [true, true, true, false], [true, false, true, true]]> : tensor<4x4xi1>
// CHECK-NOT: arith.constant
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<4x4xi1>) outs(%{{.*}} : tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16>{{$}}
func.func @existing_constant_mask(%q: tensor<1x1x4x4xf16>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  %m = arith.constant dense<[[true, true, false, true], [false, true, true, true], [true, true, true, true], [true, false, true, true]]> : tensor<4x4xi1>
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%m : tensor<4x4xi1>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.causal -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

// A per-batch constant mask [2, 1, 4, 4] (kept iff (i + j + b) mod 3 != 0) ANDed
// with causal gives a per-batch constant.
// CHECK-LABEL: func.func @existing_constant_mask_per_batch
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[\[\[}}false, false, false, false], [true, true, false, false], [true, false, true, false], [false, true, true, false]]], {{\[\[\[}}true, false, false, false], [true, false, false, false], [false, true, true, false], [true, true, false, true]]]]> : tensor<2x1x4x4xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x1x4x4xf16>, tensor<2x1x4x4xf16>, tensor<2x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<2x1x4x4xi1>) outs(%{{.*}} : tensor<2x1x4x4xf16>) -> tensor<2x1x4x4xf16>{{$}}
func.func @existing_constant_mask_per_batch(%q: tensor<2x1x4x4xf16>, %o: tensor<2x1x4x4xf16>) -> tensor<2x1x4x4xf16> {
  %m = arith.constant dense<[[[[false, true, true, false], [true, true, false, true], [true, false, true, true], [false, true, true, false]]], [[[true, true, false, true], [true, false, true, true], [false, true, true, false], [true, true, false, true]]]]> : tensor<2x1x4x4xi1>
  %r = attn.attention ins(%q, %q, %q : tensor<2x1x4x4xf16>, tensor<2x1x4x4xf16>, tensor<2x1x4x4xf16>) explicit_mask(%m : tensor<2x1x4x4xi1>) outs(%o : tensor<2x1x4x4xf16>) mask = #attn.causal -> tensor<2x1x4x4xf16>
  return %r : tensor<2x1x4x4xf16>
}

// -----

// A splat constant mask (all true) folds too.
// CHECK-LABEL: func.func @existing_splat_mask
// CHECK: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, true, true, false], [true, true, true, true]]> : tensor<2x4xi1>
// CHECK: explicit_mask(%[[KEEP]] : tensor<2x4xi1>)
func.func @existing_splat_mask(%q: tensor<1x1x2x4xf16>, %kv: tensor<1x1x4x4xf16>, %o: tensor<1x1x2x4xf16>) -> tensor<1x1x2x4xf16> {
  %m = arith.constant dense<true> : tensor<2x4xi1>
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x2x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%m : tensor<2x4xi1>) outs(%o : tensor<1x1x2x4xf16>) mask = #attn.causal<bottom_right> -> tensor<1x1x2x4xf16>
  return %r : tensor<1x1x2x4xf16>
}

// -----

// A non-constant explicit mask of the same shape is ANDed at run time.
// CHECK-LABEL: func.func @existing_runtime_mask
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<4x4xi1>
// CHECK: %[[CST:.*]] = arith.constant dense<{{\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>
// CHECK: %[[KEEP:.*]] = arith.andi %[[CST]], %[[M]] : tensor<4x4xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%[[KEEP]] : tensor<4x4xi1>) outs(%{{.*}} : tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16>{{$}}
func.func @existing_runtime_mask(%q: tensor<1x1x4x4xf16>, %m: tensor<4x4xi1>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%m : tensor<4x4xi1>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.causal -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

// Memref form: the constant is a private memref.global read with
// memref.get_global; a second op gets a second, uniquely named global.
// CHECK-LABEL: module
// CHECK-DAG: memref.global "private" constant @[[G0:attn_mask[_0-9]*]] : memref<3x3xi1> = dense<{{\[\[}}true, false, false], [true, true, false], [true, true, true]]>
// CHECK-DAG: memref.global "private" constant @[[G1:attn_mask[_0-9]*]] : memref<3x3xi1> = dense<{{\[\[}}true, true, false], [false, true, true], [false, false, true]]>
// CHECK-LABEL: func.func @memref_form
// CHECK: %[[M0:.*]] = memref.get_global @[[G0]] : memref<3x3xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x1x3x4xf16>, memref<1x1x3x4xf16>, memref<1x1x3x4xf16>) explicit_mask(%[[M0]] : memref<3x3xi1>) outs(%{{.*}} : memref<1x1x3x4xf16>){{$}}
// CHECK: %[[M1:.*]] = memref.get_global @[[G1]] : memref<3x3xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x1x3x4xf16>, memref<1x1x3x4xf16>, memref<1x1x3x4xf16>) explicit_mask(%[[M1]] : memref<3x3xi1>) outs(%{{.*}} : memref<1x1x3x4xf16>){{$}}
func.func @memref_form(%q: memref<1x1x3x4xf16>, %o: memref<1x1x3x4xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x3x4xf16>, memref<1x1x3x4xf16>, memref<1x1x3x4xf16>) outs(%o : memref<1x1x3x4xf16>) mask = #attn.causal
  attn.attention ins(%q, %q, %q : memref<1x1x3x4xf16>, memref<1x1x3x4xf16>, memref<1x1x3x4xf16>) outs(%o : memref<1x1x3x4xf16>) mask = #attn.sliding_window<left = 0, right = 1>
  return
}

// -----

// Nothing to materialize: no mask, or a head group with only a precision.
// CHECK-LABEL: func.func @nothing_to_do
// CHECK-NOT: arith.constant
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x2x4x4xf16>, tensor<1x2x4x4xf16>, tensor<1x2x4x4xf16>) outs(%{{.*}} : tensor<1x2x4x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], precision = #attn.precision<fp8>>]> -> tensor<1x2x4x4xf16>{{$}}
func.func @nothing_to_do(%q: tensor<1x2x4x4xf16>, %o: tensor<1x2x4x4xf16>) -> tensor<1x2x4x4xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x4x4xf16>, tensor<1x2x4x4xf16>, tensor<1x2x4x4xf16>) outs(%o : tensor<1x2x4x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], precision = #attn.precision<fp8>>]> -> tensor<1x2x4x4xf16>
  return %r : tensor<1x2x4x4xf16>
}
