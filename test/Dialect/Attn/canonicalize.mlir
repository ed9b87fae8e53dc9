// RUN: attn-opt %s -split-input-file -canonicalize | FileCheck %s

// Mask simplification (SimplifyMasks): every mask of the op, its own and its
// head groups', becomes its simplest equivalent for the op's sequence
// lengths; a dense op mask disappears, and segment_offsets goes once no mask
// needs it. The NOT-changed cases at the end must stay as written.
// Shapes unless stated: Nq = Nk = 16, Hq = 4, Hkv = 2.

// An explicit dense mask is the absence of a mask.
// CHECK-LABEL: func.func @dense_dropped
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @dense_dropped(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.dense -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Memref form: the mask disappears the same way.
// CHECK-LABEL: func.func @memref_dense_dropped
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%{{.*}} : memref<1x4x16x8xf16>){{$}}
func.func @memref_dense_dropped(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>) {
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [16]>
  return
}

// -----

// A window covering its whole extent in every dimension keeps every pair.
// CHECK-LABEL: func.func @neighborhood_whole_extent_1d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @neighborhood_whole_extent_1d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [16]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @neighborhood_whole_extent_2d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @neighborhood_whole_extent_2d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [4, 4]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// w = L: start = clamp(leader - w/2, 0, L - w) = 0 for any stride, so all keys.
// CHECK-LABEL: func.func @neighborhood_whole_extent_strided
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @neighborhood_whole_extent_strided(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 8], window = [2, 8], stride = [2, 3]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @neighborhood_whole_extent_3d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @neighborhood_whole_extent_3d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 2, 4], window = [2, 2, 4], stride = [1, 2, 4]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// left >= Nq - 1 and right >= Nk - 1: every pair.
// CHECK-LABEL: func.func @sliding_window_covers_all
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @sliding_window_covers_all(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 15> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Nq = 4, Nk = 16, top-left: j - i ranges over [-3, 15].
// CHECK-LABEL: func.func @sliding_window_covers_all_cross
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16>{{$}}
func.func @sliding_window_covers_all_cross(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.sliding_window<left = 3, right = 15> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// Nq = 16, Nk = 4, bottom-right delta = -12: i - 15 <= j <= i + 3 holds for all i < 16, j < 4.
// CHECK-LABEL: func.func @sliding_window_covers_all_bottom_right
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @sliding_window_covers_all_bottom_right(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x4x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 3, right = 15, alignment = bottom_right> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// right = 0 and left >= Nq - 1: the lower bound never drops a key.
// CHECK-LABEL: func.func @sliding_window_to_causal
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @sliding_window_to_causal(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 0> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @sliding_window_to_causal_large_left
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @sliding_window_to_causal_large_left(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 1000, right = 0> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Nq = 4, Nk = 16, bottom-right delta = 12: j >= i + 12 - 15 holds for all i < 4.
// CHECK-LABEL: func.func @sliding_window_to_causal_bottom_right
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x4x8xf16>{{$}}
func.func @sliding_window_to_causal_bottom_right(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.sliding_window<left = 15, right = 0, alignment = bottom_right> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// Decoding one token: Nq = 1, delta = Nk - 1, the query sees every key.
// CHECK-LABEL: func.func @causal_one_query_bottom_right
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x1x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x1x8xf16>) -> tensor<1x4x1x8xf16>{{$}}
func.func @causal_one_query_bottom_right(%q: tensor<1x4x1x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x1x8xf16>) -> tensor<1x4x1x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x1x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x1x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x1x8xf16>
  return %r : tensor<1x4x1x8xf16>
}

// -----

// Nk = 1: the only key 0 is <= every i.
// CHECK-LABEL: func.func @causal_one_key
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x1x8xf16>, tensor<1x2x1x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @causal_one_key(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x1x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x1x8xf16>, tensor<1x2x1x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// dense is the identity of and.
// CHECK-LABEL: func.func @and_with_dense
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @and_with_dense(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.dense, #attn.causal> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// none absorbs and.
// CHECK-LABEL: func.func @and_with_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.none -> tensor<1x4x16x8xf16>{{$}}
func.func @and_with_none(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.none, #attn.sliding_window<left = 2, right = 0>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// dense absorbs or.
// CHECK-LABEL: func.func @or_with_dense
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @or_with_dense(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.causal, #attn.dense> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// none is the identity of or.
// CHECK-LABEL: func.func @or_with_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @or_with_none(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.none, #attn.power_law<block = 4, window = 1>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @and_only_dense
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @and_only_dense(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.dense, #attn.dense> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @or_only_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.none -> tensor<1x4x16x8xf16>{{$}}
func.func @or_only_none(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.none, #attn.none> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// A one-member composite is its member.
// CHECK-LABEL: func.func @and_single_member
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @and_single_member(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.power_law<block = 4, window = 1>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @or_single_member
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x4x8xf16>{{$}}
func.func @or_single_member(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.or<#attn.causal<bottom_right>> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// Nested composites of the same kind are flattened.
// CHECK-LABEL: func.func @and_flattened
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>, #attn.power_law<block = 2, window = 1>> -> tensor<1x4x16x8xf16>{{$}}
func.func @and_flattened(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.and<#attn.sliding_window<left = 4, right = 0>, #attn.and<#attn.power_law<block = 2, window = 1>>>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @or_flattened
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) mask = #attn.or<#attn.sliding_window<left = 1, right = 0>, #attn.power_law<block = 2, window = 1>, #attn.causal<bottom_right>> -> tensor<1x4x4x8xf16>{{$}}
func.func @or_flattened(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.or<#attn.or<#attn.sliding_window<left = 1, right = 0>, #attn.power_law<block = 2, window = 1>>, #attn.causal<bottom_right>> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// and of or is not flattened.
// CHECK-LABEL: func.func @and_or_not_flattened
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.or<#attn.sliding_window<left = 1, right = 0>, #attn.power_law<block = 2, window = 1>>> -> tensor<1x4x16x8xf16>{{$}}
func.func @and_or_not_flattened(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.or<#attn.sliding_window<left = 1, right = 0>, #attn.power_law<block = 2, window = 1>>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Duplicate members are removed, first occurrence kept.
// CHECK-LABEL: func.func @and_duplicates
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>{{$}}
func.func @and_duplicates(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>, #attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @or_duplicates_to_one
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 1, right = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @or_duplicates_to_one(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.sliding_window<left = 1, right = 1>, #attn.sliding_window<left = 1, right = 1>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Members are simplified first: the window becomes causal, then a duplicate.
// CHECK-LABEL: func.func @and_duplicates_after_simplify
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @and_duplicates_after_simplify(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 15, right = 0>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// The neighborhood member becomes dense, which absorbs or.
// CHECK-LABEL: func.func @or_members_simplified
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @or_members_simplified(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.and<#attn.dense, #attn.sliding_window<left = 2, right = 0>>, #attn.neighborhood<grid = [4, 4], window = [4, 4]>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// or<none, and<causal, dense>> is causal; the inner and is flattened; causal is then a duplicate.
// CHECK-LABEL: func.func @nested_mixed
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.power_law<block = 4, window = 2>> -> tensor<1x4x16x8xf16>{{$}}
func.func @nested_mixed(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.or<#attn.none, #attn.and<#attn.causal, #attn.dense>>, #attn.and<#attn.power_law<block = 4, window = 2>, #attn.causal>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// An all-full segment table keeps every pair.
// CHECK-LABEL: func.func @segments_all_full
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @segments_all_full(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, full], [full, full]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Entries are simplified with their segment pair's lengths first (4 x 4, 4 x 12, 12 x 4,
// 12 x 12): each becomes full.
// CHECK-LABEL: func.func @segments_all_full_after_simplify
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @segments_all_full_after_simplify(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[#attn.sliding_window<left = 3, right = 3>, #attn.sliding_window<left = 3, right = 11>], [#attn.and<#attn.dense>, #attn.neighborhood<grid = [12], window = [12]>]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @segments_all_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.none -> tensor<1x4x16x8xf16>{{$}}
func.func @segments_all_none(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[none, none], [none, none]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Entries simplify on segment-local lengths: on 4 x 4, left = 3, right = 0 is causal;
// on 12 x 4, left = 11, right = 3 is full.
// CHECK-LABEL: func.func @segments_entries_simplified
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[causal, none], [full, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @segments_entries_simplified(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[#attn.sliding_window<left = 3, right = 0>, #attn.or<#attn.none, #attn.none>], [#attn.sliding_window<left = 11, right = 3>, #attn.and<#attn.causal, #attn.dense>]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT dense: run-time segments with an all-full table. Run-time offsets may
// end before the sequence (a variable-length batch element) and tokens past
// the last segment keep nothing, so only the entries simplify and
// segment_offsets stays.
// CHECK-LABEL: func.func @runtime_segments_all_full
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<2x3xi32>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) segment_offsets(%[[S]] : tensor<2x3xi32>) outs(%{{.*}} : tensor<2x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = {{\[}}[full, full], [full, full]]> -> tensor<2x4x16x8xf16>{{$}}
func.func @runtime_segments_all_full(%q: tensor<2x4x16x8xf16>, %kv: tensor<2x2x16x8xf16>, %s: tensor<2x3xi32>, %o: tensor<2x4x16x8xf16>) -> tensor<2x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) segment_offsets(%s : tensor<2x3xi32>) outs(%o : tensor<2x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[full, #attn.and<#attn.dense>], [full, full]]> -> tensor<2x4x16x8xf16>
  return %r : tensor<2x4x16x8xf16>
}

// -----

// Run-time segments absorbed by none: the op keeps no pair, and
// segment_offsets is dropped since no mask needs it any more.
// CHECK-LABEL: func.func @runtime_segments_and_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) outs(%{{.*}} : tensor<2x4x16x8xf16>) mask = #attn.none -> tensor<2x4x16x8xf16>{{$}}
func.func @runtime_segments_and_none(%q: tensor<2x4x16x8xf16>, %kv: tensor<2x2x16x8xf16>, %s: tensor<2x2x3xi64>, %o: tensor<2x4x16x8xf16>) -> tensor<2x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) segment_offsets(%s : tensor<2x2x3xi64>) outs(%o : tensor<2x4x16x8xf16>) mask = #attn.and<#attn.none, #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]>> -> tensor<2x4x16x8xf16>
  return %r : tensor<2x4x16x8xf16>
}

// -----

// Run-time segments that stay: the operand stays too; entries still simplify.
// CHECK-LABEL: func.func @runtime_segments_kept
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<2x3xi32>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) segment_offsets(%[[S]] : tensor<2x3xi32>) outs(%{{.*}} : tensor<2x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = {{\[}}[causal, none], [full, causal]]> -> tensor<2x4x16x8xf16>{{$}}
func.func @runtime_segments_kept(%q: tensor<2x4x16x8xf16>, %kv: tensor<2x2x16x8xf16>, %s: tensor<2x3xi32>, %o: tensor<2x4x16x8xf16>) -> tensor<2x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) segment_offsets(%s : tensor<2x3xi32>) outs(%o : tensor<2x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[#attn.and<#attn.causal, #attn.dense>, #attn.or<#attn.none>], [full, causal]]> -> tensor<2x4x16x8xf16>
  return %r : tensor<2x4x16x8xf16>
}

// -----

// Head-group masks are simplified too. A group mask that becomes dense stays
// (#attn.dense overrides the op's mask for those heads); the op's dense mask
// disappears.
// CHECK-LABEL: func.func @head_group_masks
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>)
// CHECK-SAME: heads = #attn.heads<weights = [1.000000e+00, 1.000000e+00, 5.000000e-01, 1.000000e+00], groups = [#attn.head_group<heads = [0], mask = #attn.causal, precision = #attn.precision<sage1>>, #attn.head_group<heads = [1, 2], mask = #attn.dense>, #attn.head_group<heads = [3], precision = #attn.precision<fp8>>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @head_group_masks(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.none, #attn.dense> heads = #attn.heads<weights = [1.0, 1.0, 0.5, 1.0], groups = [#attn.head_group<heads = [0], mask = #attn.and<#attn.dense, #attn.sliding_window<left = 20, right = 0>>, precision = #attn.precision<sage1>>, #attn.head_group<heads = [1, 2], mask = #attn.neighborhood<grid = [4, 4], window = [4, 4]>>, #attn.head_group<heads = [3], precision = #attn.precision<fp8>>]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// A run-time segments mask in a head group keeps segment_offsets alive even
// when the op's own mask simplifies away.
// CHECK-LABEL: func.func @head_group_keeps_offsets
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<1x3xi32>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%[[S]] : tensor<1x3xi32>) outs(%{{.*}} : tensor<1x4x16x8xf16>)
// CHECK-SAME: heads = #attn.heads<groups = [#attn.head_group<heads = [2], mask = #attn.segments<query = [?, ?], visibility = {{\[}}[causal, none], [none, causal]]>>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @head_group_keeps_offsets(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %s: tensor<1x3xi32>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%s : tensor<1x3xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[full, full], [full, full]]> heads = #attn.heads<groups = [#attn.head_group<heads = [2], mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]>>]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: the cases below are already simplest.
// CHECK-LABEL: func.func @keep_causal
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_causal(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: one query with top-left alignment sees only key 0 of 16.
// CHECK-LABEL: func.func @keep_causal_one_query_top_left
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x1x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x1x8xf16>) mask = #attn.causal -> tensor<1x4x1x8xf16>{{$}}
func.func @keep_causal_one_query_top_left(%q: tensor<1x4x1x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x1x8xf16>) -> tensor<1x4x1x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x1x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x1x8xf16>) mask = #attn.causal -> tensor<1x4x1x8xf16>
  return %r : tensor<1x4x1x8xf16>
}

// -----

// NOT changed: two queries, bottom-right: query 0 does not see the last key.
// CHECK-LABEL: func.func @keep_causal_bottom_right_two_queries
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x2x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x2x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x2x8xf16>{{$}}
func.func @keep_causal_bottom_right_two_queries(%q: tensor<1x4x2x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x2x8xf16>) -> tensor<1x4x2x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x2x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x2x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x2x8xf16>
  return %r : tensor<1x4x2x8xf16>
}

// -----

// NOT changed: left = Nq - 2 drops key 0 for the last query.
// CHECK-LABEL: func.func @keep_sliding_window_left_short
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 14, right = 0> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_sliding_window_left_short(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 14, right = 0> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: right = Nk - 2 drops the last key for query 0.
// CHECK-LABEL: func.func @keep_sliding_window_right_short
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 14> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_sliding_window_right_short(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 14> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: right > 0, so not causal.
// CHECK-LABEL: func.func @keep_sliding_window_right_one
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_sliding_window_right_one(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 15, right = 1> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: a causal dimension drops keys after the query even with w = L.
// CHECK-LABEL: func.func @keep_neighborhood_causal_whole_extent
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [16], causal = [true]> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_neighborhood_causal_whole_extent(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [16], causal = [true]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: only one dimension is whole.
// CHECK-LABEL: func.func @keep_neighborhood_one_dim_whole
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [4, 3]> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_neighborhood_one_dim_whole(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [4, 3]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: power-law masks have no simplification.
// CHECK-LABEL: func.func @keep_power_law
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1, sink = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_power_law(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1, sink = 1> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: without renormalization the denominator still sums all keys.
// CHECK-LABEL: func.func @keep_segments_all_none_no_renormalize
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[none, none], [none, none]], renormalize = false> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_segments_all_none_no_renormalize(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[none, none], [none, none]], renormalize = false> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @keep_segments_prefix_lm
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_segments_prefix_lm(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: bottom-right causal on 12 queries x 4 keys (delta = -8) drops keys.
// CHECK-LABEL: func.func @keep_segments_bottom_right_entry
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [#attn.causal<bottom_right>, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_segments_bottom_right_entry(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, none], [#attn.causal<bottom_right>, causal]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: and<causal, window> is not folded into the window (no such rule).
// CHECK-LABEL: func.func @keep_and_different
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_and_different(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// NOT changed: dynamic sequence lengths leave length-dependent masks alone.
// CHECK-LABEL: func.func @keep_dynamic_lengths
// CHECK: mask = #attn.causal<bottom_right> -> tensor<1x4x?x8xf16>{{$}}
// CHECK: mask = #attn.sliding_window<left = 100000, right = 100000> -> tensor<1x4x?x8xf16>{{$}}
// CHECK: mask = #attn.and<#attn.causal, #attn.sliding_window<left = 100000, right = 0>> -> tensor<1x4x?x8xf16>{{$}}
func.func @keep_dynamic_lengths(%q: tensor<1x4x?x8xf16>, %kv: tensor<1x2x?x8xf16>, %o: tensor<1x4x?x8xf16>) -> (tensor<1x4x?x8xf16>, tensor<1x4x?x8xf16>, tensor<1x4x?x8xf16>) {
  %r0 = attn.attention ins(%q, %kv, %kv : tensor<1x4x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>) outs(%o : tensor<1x4x?x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x?x8xf16>
  %r1 = attn.attention ins(%q, %kv, %kv : tensor<1x4x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>) outs(%o : tensor<1x4x?x8xf16>) mask = #attn.sliding_window<left = 100000, right = 100000> -> tensor<1x4x?x8xf16>
  %r2 = attn.attention ins(%q, %kv, %kv : tensor<1x4x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>) outs(%o : tensor<1x4x?x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 100000, right = 0>> -> tensor<1x4x?x8xf16>
  return %r0, %r1, %r2 : tensor<1x4x?x8xf16>, tensor<1x4x?x8xf16>, tensor<1x4x?x8xf16>
}

// -----

// NOT changed: no mask, nothing to simplify.
// CHECK-LABEL: func.func @keep_plain
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> -> tensor<1x4x16x8xf16>{{$}}
func.func @keep_plain(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// On tensors the op has no memory effect: an unused one is erased. On
// memrefs it writes its outs and stays.
// CHECK-LABEL: func.func @dead_tensor_op
// CHECK-NOT: attn.attention ins({{.*}}tensor
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%{{.*}} : memref<1x4x16x8xf16>) mask = #attn.causal{{$}}
// CHECK-NEXT: return
func.func @dead_tensor_op(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>, %mq: memref<1x4x16x8xf16>, %mkv: memref<1x2x16x8xf16>, %mo: memref<1x4x16x8xf16>) {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>
  attn.attention ins(%mq, %mkv, %mkv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%mo : memref<1x4x16x8xf16>) mask = #attn.causal
  return
}
