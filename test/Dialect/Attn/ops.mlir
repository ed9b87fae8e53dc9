// RUN: attn-opt %s -split-input-file | attn-opt -split-input-file | FileCheck %s
// RUN: attn-opt %s -split-input-file --mlir-print-op-generic | attn-opt -split-input-file | FileCheck %s

// Round trip of every op form and attribute: custom form, and generic form
// read back into the custom one. CHECK lines state the printed form exactly
// (defaults elided, presets recognized, short names in segment tables).

// Tensor form, no optional operand, no attribute.
// CHECK-LABEL: func.func @tensor_plain
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x16x8xf16>, %[[K:.*]]: tensor<1x2x16x8xf16>, %[[V:.*]]: tensor<1x2x16x8xf16>, %[[O:.*]]: tensor<1x4x16x8xf16>)
// CHECK: %[[R:.*]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%[[O]] : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
// CHECK: return %[[R]]
func.func @tensor_plain(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Tensor form with lse_output: two results. Dv = 4 differs from D = 8.
// CHECK-LABEL: func.func @tensor_lse
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x16x8xbf16>, %[[K:.*]]: tensor<2x2x32x8xbf16>, %[[V:.*]]: tensor<2x2x32x4xbf16>, %[[O:.*]]: tensor<2x4x16x4xbf16>, %[[L:.*]]: tensor<2x4x16xf32>)
// CHECK: %[[R:.*]]:2 = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x4x16x8xbf16>, tensor<2x2x32x8xbf16>, tensor<2x2x32x4xbf16>) outs(%[[O]] : tensor<2x4x16x4xbf16>, %[[L]] : tensor<2x4x16xf32>) -> tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>{{$}}
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @tensor_lse(%q: tensor<2x4x16x8xbf16>, %k: tensor<2x2x32x8xbf16>, %v: tensor<2x2x32x4xbf16>, %o: tensor<2x4x16x4xbf16>, %l: tensor<2x4x16xf32>) -> (tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<2x4x16x8xbf16>, tensor<2x2x32x8xbf16>, tensor<2x2x32x4xbf16>) outs(%o : tensor<2x4x16x4xbf16>, %l : tensor<2x4x16xf32>) -> tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>
  return %r#0, %r#1 : tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>
}

// -----

// Memref form: no results.
// CHECK-LABEL: func.func @memref_plain
// CHECK-SAME: (%[[Q:.*]]: memref<1x4x16x8xf16>, %[[KV:.*]]: memref<1x2x16x8xf16>, %[[O:.*]]: memref<1x4x16x8xf16>)
// CHECK: attn.attention ins(%[[Q]], %[[KV]], %[[KV]] : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%[[O]] : memref<1x4x16x8xf16>){{$}}
func.func @memref_plain(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>) {
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>)
  return
}

// -----

// Memref form with lse_output and a mask.
// CHECK-LABEL: func.func @memref_lse
// CHECK-SAME: (%[[Q:.*]]: memref<1x4x16x8xf16>, %[[KV:.*]]: memref<1x2x16x8xf16>, %[[O:.*]]: memref<1x4x16x8xf16>, %[[L:.*]]: memref<1x4x16xf32>)
// CHECK: attn.attention ins(%[[Q]], %[[KV]], %[[KV]] : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%[[O]] : memref<1x4x16x8xf16>, %[[L]] : memref<1x4x16xf32>) mask = #attn.causal{{$}}
func.func @memref_lse(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>, %l: memref<1x4x16xf32>) {
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>, %l : memref<1x4x16xf32>) mask = #attn.causal
  return
}

// -----

// Memref form with every optional operand (strided memrefs are fine).
// CHECK-LABEL: func.func @memref_all_operands
// CHECK-SAME: (%[[Q:.*]]: memref<2x4x16x8xf16, strided<[1024, 256, 16, 1]>>, %[[KV:.*]]: memref<2x2x16x8xf16>, %[[M:.*]]: memref<16x16xi1>, %[[B:.*]]: memref<2x4x16x16xf32>, %[[S:.*]]: memref<2x3xi64>, %[[G:.*]]: memref<2x16x4xf16>, %[[O:.*]]: memref<2x4x16x8xf16>, %[[L:.*]]: memref<2x4x16xf32>)
// CHECK: attn.attention ins(%[[Q]], %[[KV]], %[[KV]] : memref<2x4x16x8xf16, strided<[1024, 256, 16, 1]>>, memref<2x2x16x8xf16>, memref<2x2x16x8xf16>) explicit_mask(%[[M]] : memref<16x16xi1>) bias(%[[B]] : memref<2x4x16x16xf32>) segment_offsets(%[[S]] : memref<2x3xi64>) gates(%[[G]] : memref<2x16x4xf16>) outs(%[[O]] : memref<2x4x16x8xf16>, %[[L]] : memref<2x4x16xf32>) mask = #attn.segments<query = [?, ?], visibility = {{\[}}[causal, none], [full, causal]]>{{$}}
func.func @memref_all_operands(%q: memref<2x4x16x8xf16, strided<[1024, 256, 16, 1]>>, %kv: memref<2x2x16x8xf16>, %m: memref<16x16xi1>, %b: memref<2x4x16x16xf32>, %s: memref<2x3xi64>, %g: memref<2x16x4xf16>, %o: memref<2x4x16x8xf16>, %l: memref<2x4x16xf32>) {
  attn.attention ins(%q, %kv, %kv : memref<2x4x16x8xf16, strided<[1024, 256, 16, 1]>>, memref<2x2x16x8xf16>, memref<2x2x16x8xf16>) explicit_mask(%m : memref<16x16xi1>) bias(%b : memref<2x4x16x16xf32>) segment_offsets(%s : memref<2x3xi64>) gates(%g : memref<2x16x4xf16>) outs(%o : memref<2x4x16x8xf16>, %l : memref<2x4x16xf32>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]>
  return
}

// -----

// explicit_mask of rank 2 [Nq, Nk].
// CHECK-LABEL: func.func @explicit_mask_rank2
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<16x24xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x24x8xf16>, tensor<1x2x24x8xf16>) explicit_mask(%[[M]] : tensor<16x24xi1>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @explicit_mask_rank2(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x24x8xf16>, %m: tensor<16x24xi1>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x24x8xf16>, tensor<1x2x24x8xf16>) explicit_mask(%m : tensor<16x24xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// explicit_mask of rank 4 [B|1, Hq|1, Nq, Nk]: per batch, broadcast over heads.
// CHECK-LABEL: func.func @explicit_mask_rank4
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<2x1x16x16xi1>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) explicit_mask(%[[M]] : tensor<2x1x16x16xi1>) outs(%{{.*}} : tensor<2x4x16x8xf16>) mask = #attn.causal -> tensor<2x4x16x8xf16>{{$}}
func.func @explicit_mask_rank4(%q: tensor<2x4x16x8xf16>, %kv: tensor<2x2x16x8xf16>, %m: tensor<2x1x16x16xi1>, %o: tensor<2x4x16x8xf16>) -> tensor<2x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<2x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>) explicit_mask(%m : tensor<2x1x16x16xi1>) outs(%o : tensor<2x4x16x8xf16>) mask = #attn.causal -> tensor<2x4x16x8xf16>
  return %r : tensor<2x4x16x8xf16>
}

// -----

// bias of rank 2 and of rank 4 (per head, broadcast over the batch).
// CHECK-LABEL: func.func @bias_forms
// CHECK-SAME: %[[B2:[a-z0-9]+]]: tensor<16x16xf32>, %[[B4:[a-z0-9]+]]: tensor<1x4x16x16xbf16>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%[[B2]] : tensor<16x16xf32>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%[[B4]] : tensor<1x4x16x16xbf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @bias_forms(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %b2: tensor<16x16xf32>, %b4: tensor<1x4x16x16xbf16>, %o: tensor<1x4x16x8xf16>) -> (tensor<1x4x16x8xf16>, tensor<1x4x16x8xf16>) {
  %r0 = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b2 : tensor<16x16xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  %r1 = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b4 : tensor<1x4x16x16xbf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return %r0, %r1 : tensor<1x4x16x8xf16>, tensor<1x4x16x8xf16>
}

// -----

// gates [B, Nq, Hq].
// CHECK-LABEL: func.func @gates
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<1x16x4xf32>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%[[G]] : tensor<1x16x4xf32>) outs(%{{.*}} : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>{{$}}
func.func @gates(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<1x16x4xf32>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<1x16x4xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// segment_offsets [B, S+1] (rank 2) for run-time segment sizes.
// CHECK-LABEL: func.func @segment_offsets_rank2
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<3x4xi32>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<3x4x64x8xf16>, tensor<3x2x64x8xf16>, tensor<3x2x64x8xf16>) segment_offsets(%[[S]] : tensor<3x4xi32>) outs(%{{.*}} : tensor<3x4x64x8xf16>) mask = #attn.segments<query = [?, ?, ?], visibility = {{\[}}[causal, none, none], [none, causal, none], [none, none, causal]]> -> tensor<3x4x64x8xf16>{{$}}
func.func @segment_offsets_rank2(%q: tensor<3x4x64x8xf16>, %kv: tensor<3x2x64x8xf16>, %s: tensor<3x4xi32>, %o: tensor<3x4x64x8xf16>) -> tensor<3x4x64x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<3x4x64x8xf16>, tensor<3x2x64x8xf16>, tensor<3x2x64x8xf16>) segment_offsets(%s : tensor<3x4xi32>) outs(%o : tensor<3x4x64x8xf16>) mask = #attn.segments<query = [?, ?, ?], visibility = [[causal, none, none], [none, causal, none], [none, none, causal]]> -> tensor<3x4x64x8xf16>
  return %r : tensor<3x4x64x8xf16>
}

// -----

// segment_offsets [B, 2, S+1] (rank 3): separate query and key offsets, with
// 2 query and 3 key segments (S + 1 = 4 offsets per list).
// CHECK-LABEL: func.func @segment_offsets_rank3
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<1x2x4xi64>
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x64x8xf16>, tensor<1x2x96x8xf16>, tensor<1x2x96x8xf16>) segment_offsets(%[[S]] : tensor<1x2x4xi64>) outs(%{{.*}} : tensor<1x4x64x8xf16>) mask = #attn.segments<query = [?, ?], key = [?, ?, ?], visibility = {{\[}}[full, none, none], [full, causal, none]]> -> tensor<1x4x64x8xf16>{{$}}
func.func @segment_offsets_rank3(%q: tensor<1x4x64x8xf16>, %kv: tensor<1x2x96x8xf16>, %s: tensor<1x2x4xi64>, %o: tensor<1x4x64x8xf16>) -> tensor<1x4x64x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x64x8xf16>, tensor<1x2x96x8xf16>, tensor<1x2x96x8xf16>) segment_offsets(%s : tensor<1x2x4xi64>) outs(%o : tensor<1x4x64x8xf16>) mask = #attn.segments<query = [?, ?], key = [?, ?, ?], visibility = [[full, none, none], [full, causal, none]]> -> tensor<1x4x64x8xf16>
  return %r : tensor<1x4x64x8xf16>
}

// -----

// Every optional operand and attribute at once, in their fixed order.
// CHECK-LABEL: func.func @tensor_everything
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x16x8xf16>, %[[KV:.*]]: tensor<1x2x16x8xf16>, %[[M:.*]]: tensor<1x4x16x16xi1>, %[[B:.*]]: tensor<16x16xf16>, %[[S:.*]]: tensor<1x2x3xi32>, %[[G:.*]]: tensor<1x16x4xbf16>, %[[O:.*]]: tensor<1x4x16x8xf16>, %[[L:.*]]: tensor<1x4x16xf32>)
// CHECK: %{{.*}}:2 = attn.attention ins(%[[Q]], %[[KV]], %[[KV]] : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>)
// CHECK-SAME: explicit_mask(%[[M]] : tensor<1x4x16x16xi1>) bias(%[[B]] : tensor<16x16xf16>) segment_offsets(%[[S]] : tensor<1x2x3xi32>) gates(%[[G]] : tensor<1x16x4xbf16>)
// CHECK-SAME: outs(%[[O]] : tensor<1x4x16x8xf16>, %[[L]] : tensor<1x4x16xf32>)
// CHECK-SAME: mask = #attn.and<#attn.causal, #attn.segments<query = [?, ?], visibility = {{\[}}[full, none], [full, full]]>>
// CHECK-SAME: precision = #attn.precision<sage2_8b>
// CHECK-SAME: heads = #attn.heads<weights = [1.000000e+00, 5.000000e-01, 0.000000e+00, 2.000000e+00], softpag = #attn.softpag<u = 2.500000e-01, heads = [1]>, groups = [#attn.head_group<heads = [3], mask = #attn.sliding_window<left = 4, right = 0>, precision = #attn.precision<fp8>>]>
// CHECK-SAME: scale = 1.250000e-01 -> tensor<1x4x16x8xf16>, tensor<1x4x16xf32>{{$}}
func.func @tensor_everything(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<1x4x16x16xi1>, %b: tensor<16x16xf16>, %s: tensor<1x2x3xi32>, %g: tensor<1x16x4xbf16>, %o: tensor<1x4x16x8xf16>, %l: tensor<1x4x16xf32>) -> tensor<1x4x16x8xf16> {
  %r:2 = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>)
      explicit_mask(%m : tensor<1x4x16x16xi1>) bias(%b : tensor<16x16xf16>) segment_offsets(%s : tensor<1x2x3xi32>) gates(%g : tensor<1x16x4xbf16>)
      outs(%o : tensor<1x4x16x8xf16>, %l : tensor<1x4x16xf32>)
      mask = #attn.and<#attn.causal, #attn.segments<query = [?, ?], visibility = [[full, none], [full, full]]>>
      precision = #attn.precision<sage2_8b>
      heads = #attn.heads<weights = [1.0, 0.5, 0.0, 2.0], softpag = #attn.softpag<u = 0.25, heads = [1]>, groups = [#attn.head_group<heads = [3], mask = #attn.sliding_window<left = 4, right = 0>, precision = #attn.precision<fp8>>]>
      scale = 0.125
      -> tensor<1x4x16x8xf16>, tensor<1x4x16xf32>
  return %r#0 : tensor<1x4x16x8xf16>
}

// -----

// Dynamic dimensions: checks involving them are deferred to run time.
// CHECK-LABEL: func.func @dynamic_dims
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x?xf16>) explicit_mask(%{{.*}} : tensor<?x?xi1>) gates(%{{.*}} : tensor<?x?x?xf32>) outs(%{{.*}} : tensor<?x?x?x?xf16>, %{{.*}} : tensor<?x?x?xf32>) mask = #attn.causal<bottom_right> heads = #attn.heads<weights = [1.000000e+00, 1.000000e+00]> -> tensor<?x?x?x?xf16>, tensor<?x?x?xf32>{{$}}
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x8x?x64xf16>, memref<1x2x?x64xf16>, memref<1x2x?x64xf16>) outs(%{{.*}} : memref<1x8x?x64xf16>) mask = #attn.neighborhood<grid = [16, 16], window = [5, 5]>{{$}}
func.func @dynamic_dims(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x?xf16>, %m: tensor<?x?xi1>, %g: tensor<?x?x?xf32>, %o: tensor<?x?x?x?xf16>, %l: tensor<?x?x?xf32>,
                        %mq: memref<1x8x?x64xf16>, %mkv: memref<1x2x?x64xf16>, %mo: memref<1x8x?x64xf16>) -> tensor<?x?x?x?xf16> {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x?xf16>) explicit_mask(%m : tensor<?x?xi1>) gates(%g : tensor<?x?x?xf32>) outs(%o : tensor<?x?x?x?xf16>, %l : tensor<?x?x?xf32>) mask = #attn.causal<bottom_right> heads = #attn.heads<weights = [1.0, 1.0]> -> tensor<?x?x?x?xf16>, tensor<?x?x?xf32>
  attn.attention ins(%mq, %mkv, %mkv : memref<1x8x?x64xf16>, memref<1x2x?x64xf16>, memref<1x2x?x64xf16>) outs(%mo : memref<1x8x?x64xf16>) mask = #attn.neighborhood<grid = [16, 16], window = [5, 5]>
  return %r#0 : tensor<?x?x?x?xf16>
}

// -----

// scale, and the op's discardable attributes are kept.
// CHECK-LABEL: func.func @scale
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) scale = 3.000000e-01 {note = "kept"} -> tensor<1x4x16x8xf16>{{$}}
func.func @scale(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) scale = 0.3 {note = "kept"} -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// An explicit dense mask is kept as written (canonicalize drops it).
// CHECK-LABEL: func.func @mask_dense
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.dense -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_dense(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.dense -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_none
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.none -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_none(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.none -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_causal
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_causal(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// top_left is the default and is elided.
// CHECK-LABEL: func.func @mask_causal_top_left
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.causal -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_causal_top_left(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.causal<top_left> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_causal_bottom_right
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x4x8xf16>{{$}}
func.func @mask_causal_bottom_right(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.causal<bottom_right> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_sliding_window
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 8, right = 0> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_sliding_window(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 8, right = 0> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Fields in any order; the default alignment is elided.
// CHECK-LABEL: func.func @mask_sliding_window_top_left
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 3, right = 2> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_sliding_window_top_left(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<right = 2, left = 3, alignment = top_left> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_sliding_window_bottom_right
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x4x8xf16>) mask = #attn.sliding_window<left = 4, right = 1, alignment = bottom_right> -> tensor<1x4x4x8xf16>{{$}}
func.func @mask_sliding_window_bottom_right(%q: tensor<1x4x4x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x4x8xf16>) -> tensor<1x4x4x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x4x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x4x8xf16>) mask = #attn.sliding_window<left = 4, right = 1, alignment = bottom_right> -> tensor<1x4x4x8xf16>
  return %r : tensor<1x4x4x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_neighborhood_1d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [5]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_1d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [5]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Default stride, dilation and causal are elided; fields in any order.
// CHECK-LABEL: func.func @mask_neighborhood_1d_defaults
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [5]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_1d_defaults(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<window = [5], grid = [16], stride = [1], dilation = [1], causal = [false]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_neighborhood_1d_stride_dilation_causal
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3], stride = [2], dilation = [2], causal = [true]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_1d_stride_dilation_causal(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3], stride = [2], dilation = [2], causal = [true]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_neighborhood_2d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_2d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Blocked (Swin-style) windows: stride = window.
// CHECK-LABEL: func.func @mask_neighborhood_2d_blocked
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [2, 4], stride = [2, 4]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_2d_blocked(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [2, 4], stride = [2, 4]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// A list is printed when any entry differs from its default.
// CHECK-LABEL: func.func @mask_neighborhood_2d_partial_defaults
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [2, 3], dilation = [2, 1]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_2d_partial_defaults(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [2, 3], stride = [1, 1], dilation = [2, 1], causal = [false, false]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_neighborhood_3d
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 2, 4], window = [2, 1, 3], stride = [1, 1, 3], dilation = [1, 2, 1], causal = [true, false, false]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_neighborhood_3d(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 2, 4], window = [2, 1, 3], stride = [1, 1, 3], dilation = [1, 2, 1], causal = [true, false, false]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_power_law
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1, sink = 1> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_power_law(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1, sink = 1> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// sink = 0 and causal = true are the defaults and are elided.
// CHECK-LABEL: func.func @mask_power_law_defaults
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 2> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_power_law_defaults(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 2, sink = 0, causal = true> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_power_law_non_causal
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 2, window = 0, causal = false> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_power_law_non_causal(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<causal = false, block = 2, window = 0> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_segments_prefix_lm
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_prefix_lm(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// dense, none and top-left causal entries print with their short names.
// CHECK-LABEL: func.func @mask_segments_long_names
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_long_names(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[#attn.dense, #attn.none], [#attn.dense, #attn.causal<top_left>]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// key equal to query and renormalize = true are elided.
// CHECK-LABEL: func.func @mask_segments_same_key
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = {{\[}}[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_same_key(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], key = [8, 8], visibility = [[causal, none], [none, causal]], renormalize = true> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Separate key segments (cross-attention, prompt routing).
// CHECK-LABEL: func.func @mask_segments_separate_keys
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x24x8xf16>, tensor<1x2x24x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], key = [2, 6, 16], visibility = {{\[}}[full, none, none], [full, causal, #attn.causal<bottom_right>]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_separate_keys(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x24x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x24x8xf16>, tensor<1x2x24x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], key = [2, 6, 16], visibility = [[full, none, none], [full, causal, #attn.causal<bottom_right>]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Nested masks on segment-local indices; the grid describes its segment.
// CHECK-LABEL: func.func @mask_segments_nested
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [#attn.sliding_window<left = 1, right = 1>, #attn.neighborhood<grid = [3, 4], window = [2, 3]>]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_nested(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, none], [#attn.sliding_window<left = 1, right = 1>, #attn.neighborhood<grid = [3, 4], window = [2, 3]>]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_segments_renormalize_false
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], visibility = {{\[}}[causal]], renormalize = false> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_renormalize_false(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], visibility = [[causal]], renormalize = false> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// [target prompt, reference prompt, target video, reference video].
// CHECK-LABEL: func.func @mask_segments_in_context_video
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [2, 2, 6, 6], visibility = {{\[}}[full, none, full, none], [none, full, none, full], [full, none, full, none], [none, full, none, full]]> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_segments_in_context_video(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [2, 2, 6, 6], visibility = [[full, none, full, none], [none, full, none, full], [full, none, full, none], [none, full, none, full]]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_and
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_and(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_or
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.sliding_window<left = 2, right = 0>, #attn.power_law<block = 4, window = 1, sink = 1>> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_or(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.sliding_window<left = 2, right = 0>, #attn.power_law<block = 4, window = 1, sink = 1>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Composites nest; nothing is simplified by parsing and printing.
// CHECK-LABEL: func.func @mask_and_or_nested
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.and<#attn.causal, #attn.neighborhood<grid = [4, 4], window = [3, 3]>>, #attn.and<#attn.segments<query = [4, 12], visibility = {{\[}}[full, none], [full, causal]]>, #attn.or<#attn.none, #attn.causal<bottom_right>>>, #attn.dense> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_and_or_nested(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.or<#attn.and<#attn.causal, #attn.neighborhood<grid = [4, 4], window = [3, 3]>>, #attn.and<#attn.segments<query = [4, 12], visibility = [[full, none], [full, causal]]>, #attn.or<#attn.none, #attn.causal<bottom_right>>>, #attn.dense> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @mask_and_single
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal> -> tensor<1x4x16x8xf16>{{$}}
func.func @mask_and_single(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_sage1
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_sage1(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_sage2_8b
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_8b> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_sage2_8b(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_8b> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_sage2_4b
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_4b> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_sage2_4b(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_4b> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_fp8
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<fp8> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_fp8(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<fp8> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_nvfp4
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<nvfp4> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_nvfp4(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<nvfp4> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// The default (f16/bf16) precision.
// CHECK-LABEL: func.func @precision_default
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_default(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Fields equal to a preset print as the preset.
// CHECK-LABEL: func.func @precision_preset_spelled_out
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_preset_spelled_out(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = block(64), smooth_k, pv = f16, pv_accum = f16> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_preset_spelled_out_nvfp4
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<nvfp4> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_preset_spelled_out_nvfp4(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f4E2M1FN, pv = f4E2M1FN, smooth_k = true> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// A preset with an override prints as explicit fields.
// CHECK-LABEL: func.func @precision_preset_override
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = block(64), smooth_k, pv = f16> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_preset_override(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1, pv_accum = f32> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_preset_override_granularity
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, pv = f8E4M3FN, pv_accum = two_level> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_preset_override_granularity(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_8b, qk_granularity = token, smooth_k = false> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_preset_override_smooth_q
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f8E4M3FN, qk_granularity = block(64), smooth_k, smooth_q, pv = f8E4M3FN, pv_accum = two_level> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_preset_override_smooth_q(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<fp8, smooth_q> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_granularity_tensor
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = tensor> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_granularity_tensor(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = tensor> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Fields in any order; printed in a fixed order.
// CHECK-LABEL: func.func @precision_granularity_block
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i4, qk_granularity = block(128), pv = bf16> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_granularity_block(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<pv = bf16, qk_granularity = block(128), qk = i4> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_granularity_thread
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f8E4M3FN, qk_granularity = thread(32), pv = f8E4M3FN> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_granularity_thread(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f8E4M3FN, qk_granularity = thread(32), pv = f8E4M3FN> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// smooth_q = false and pv_accum = f32 are defaults.
// CHECK-LABEL: func.func @precision_granularity_token
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, smooth_k, pv = f16> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_granularity_token(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, smooth_k = true, smooth_q = false, pv = f16, pv_accum = f32> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_smooth_only
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<smooth_k, smooth_q> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_smooth_only(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<smooth_q, smooth_k> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @precision_bf16
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>) outs(%{{.*}} : tensor<1x4x16x8xbf16>) precision = #attn.precision<qk = bf16, pv = bf16, pv_accum = two_level> -> tensor<1x4x16x8xbf16>{{$}}
func.func @precision_bf16(%q: tensor<1x4x16x8xbf16>, %kv: tensor<1x2x16x8xbf16>, %o: tensor<1x4x16x8xbf16>) -> tensor<1x4x16x8xbf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>) outs(%o : tensor<1x4x16x8xbf16>) precision = #attn.precision<qk = bf16, pv = bf16, pv_accum = two_level> -> tensor<1x4x16x8xbf16>
  return %r : tensor<1x4x16x8xbf16>
}

// -----

// pv_accum = f16 without pv: P.V runs in V's type, f16 here.
// CHECK-LABEL: func.func @precision_pv_accum_f16_from_value
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, pv_accum = f16> -> tensor<1x4x16x8xf16>{{$}}
func.func @precision_pv_accum_f16_from_value(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, pv_accum = f16> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @heads_weights
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [1.000000e+00, 0.000000e+00, 5.000000e-01, -2.000000e+00]> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_weights(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [1.0, 0.0, 0.5, -2.0]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @heads_softpag
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 1.000000e+00, heads = [3, 0]>> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_softpag(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 1.0, heads = [3, 0]>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @heads_softpag_zero
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.000000e+00, heads = [2]>> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_softpag_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.0, heads = [2]>> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @heads_groups
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0, 1], mask = #attn.neighborhood<grid = [4, 4], window = [3, 3]>, precision = #attn.precision<sage1>>, #attn.head_group<heads = [2], precision = #attn.precision<nvfp4>>, #attn.head_group<heads = [3], mask = #attn.none>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_groups(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0, 1], mask = #attn.neighborhood<grid = [4, 4], window = [3, 3]>, precision = #attn.precision<sage1>>, #attn.head_group<heads = [2], precision = #attn.precision<nvfp4>>, #attn.head_group<heads = [3], mask = #attn.none>]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Group fields in any order; a group may have neither mask nor precision.
// CHECK-LABEL: func.func @heads_group_precision_first
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.causal, precision = #attn.precision<fp8>>, #attn.head_group<heads = [0]>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_group_precision_first(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], precision = #attn.precision<fp8>, mask = #attn.causal>, #attn.head_group<heads = [0]>]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// Fields in any order; printed as weights, softpag, groups.
// CHECK-LABEL: func.func @heads_all
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [2.500000e-01, 1.000000e+00, 1.000000e+00, 0.000000e+00], softpag = #attn.softpag<u = 5.000000e-01, heads = [1]>, groups = [#attn.head_group<heads = [2], mask = #attn.causal>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_all(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [2], mask = #attn.causal>], softpag = #attn.softpag<u = 0.5, heads = [1]>, weights = [0.25, 1.0, 1.0, 0.0]> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// CHECK-LABEL: func.func @heads_empty
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_empty(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// An empty group list is no group.
// CHECK-LABEL: func.func @heads_empty_groups
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%{{.*}} : tensor<1x4x16x8xf16>) heads = #attn.heads<> -> tensor<1x4x16x8xf16>{{$}}
func.func @heads_empty_groups(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = []> -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// The schedule attributes of attn-plan and attn-sparsity round-trip.
// CHECK-LABEL: func.func @schedule_attributes
// CHECK: tiling = #attn.tiling<query = [2, 2], key = [2, 2]> tile_classes = dense<{{\[\[\[}}2, 1], [1, 2]]]> : tensor<1x2x2xi8>
func.func @schedule_attributes(%q: memref<1x1x8x4xf16>, %o: memref<1x1x8x4xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf16>, memref<1x1x8x4xf16>, memref<1x1x8x4xf16>)
    outs(%o : memref<1x1x8x4xf16>) mask = #attn.neighborhood<grid = [2, 4], window = [2, 3]>
    tiling = #attn.tiling<query = [2, 2], key = [2, 2]> tile_classes = dense<[[[2, 1], [1, 2]]]> : tensor<1x2x2xi8>
  return
}

// -----

// The quantization pre-steps of attn-quantize, on tensors.
// CHECK-LABEL: func.func @quantization_steps_tensor
// CHECK: %[[KM:.*]] = attn.key_mean ins(%{{.*}} : tensor<1x2x77x40xf16>) outs(%{{.*}} : tensor<1x2x40xf64>) -> tensor<1x2x40xf64>{{$}}
// CHECK: %[[QM:.*]]:2 = attn.query_block_mean ins(%{{.*}}, %{{.*}} : tensor<1x4x77x40xf16>, tensor<1x2x77x40xf16>) key_mean(%[[KM]] : tensor<1x2x40xf64>) outs(%{{.*}}, %{{.*}} : tensor<1x4x2x40xf64>, tensor<1x4x2x77xf32>) block_size = 64 -> tensor<1x4x2x40xf64>, tensor<1x4x2x77xf32>{{$}}
// CHECK: attn.quantize_rows ins(%{{.*}} : tensor<1x4x77x40xf16>) mean(%[[QM]]#0 : tensor<1x4x2x40xf64>) outs(%{{.*}} : tensor<1x4x77x40xf32>, %{{.*}} : tensor<1x4x77x1xf32>) precision = #attn.precision<qk = i4, qk_granularity = thread(64)> mean_block_size = 64 -> tensor<1x4x77x40xf32>, tensor<1x4x77x1xf32>{{$}}
// CHECK: attn.quantize_rows ins(%{{.*}} : tensor<1x2x77x40xf16>) outs(%{{.*}} : tensor<1x2x77x40xf32>) -> tensor<1x2x77x40xf32>{{$}}
// CHECK: attn.quantize_value ins(%{{.*}} : tensor<1x2x77x24xf16>) outs(%{{.*}} : tensor<1x2x77x24xf32>, %{{.*}} : tensor<1x2x24xf32>) to = f8E4M3FN -> tensor<1x2x77x24xf32>, tensor<1x2x24xf32>{{$}}
func.func @quantization_steps_tensor(%q: tensor<1x4x77x40xf16>, %k: tensor<1x2x77x40xf16>, %v: tensor<1x2x77x24xf16>) {
  %km0 = tensor.empty() : tensor<1x2x40xf64>
  %km = attn.key_mean ins(%k : tensor<1x2x77x40xf16>) outs(%km0 : tensor<1x2x40xf64>) -> tensor<1x2x40xf64>
  %m0 = tensor.empty() : tensor<1x4x2x40xf64>
  %ds0 = tensor.empty() : tensor<1x4x2x77xf32>
  %qm:2 = attn.query_block_mean ins(%q, %k : tensor<1x4x77x40xf16>, tensor<1x2x77x40xf16>) key_mean(%km : tensor<1x2x40xf64>)
            outs(%m0, %ds0 : tensor<1x4x2x40xf64>, tensor<1x4x2x77xf32>) block_size = 64
            -> tensor<1x4x2x40xf64>, tensor<1x4x2x77xf32>
  %qv0 = tensor.empty() : tensor<1x4x77x40xf32>
  %qs0 = tensor.empty() : tensor<1x4x77x1xf32>
  %qv:2 = attn.quantize_rows ins(%q : tensor<1x4x77x40xf16>) mean(%qm#0 : tensor<1x4x2x40xf64>)
            outs(%qv0 : tensor<1x4x77x40xf32>, %qs0 : tensor<1x4x77x1xf32>)
            precision = #attn.precision<qk = i4, qk_granularity = thread(64)> mean_block_size = 64
            -> tensor<1x4x77x40xf32>, tensor<1x4x77x1xf32>
  %kv0 = tensor.empty() : tensor<1x2x77x40xf32>
  %kv = attn.quantize_rows ins(%k : tensor<1x2x77x40xf16>) outs(%kv0 : tensor<1x2x77x40xf32>) -> tensor<1x2x77x40xf32>
  %vv0 = tensor.empty() : tensor<1x2x77x24xf32>
  %vs0 = tensor.empty() : tensor<1x2x24xf32>
  %vv:2 = attn.quantize_value ins(%v : tensor<1x2x77x24xf16>) outs(%vv0 : tensor<1x2x77x24xf32>, %vs0 : tensor<1x2x24xf32>)
            to = f8E4M3FN -> tensor<1x2x77x24xf32>, tensor<1x2x24xf32>
  return
}

// -----

// The same steps on memrefs (no results), dynamic lengths, NVFP4 rows and
// V rounded to bf16.
// CHECK-LABEL: func.func @quantization_steps_memref
// CHECK: attn.key_mean ins(%{{.*}} : memref<1x2x?x40xf16>) outs(%{{.*}} : memref<1x2x40xf32>){{$}}
// CHECK: attn.query_block_mean ins(%{{.*}}, %{{.*}} : memref<1x2x?x40xf16>, memref<1x2x?x40xf16>) outs(%{{.*}}, %{{.*}} : memref<1x2x?x40xf64>, memref<1x2x?x?xf32>) block_size = 1{{$}}
// CHECK: attn.quantize_rows ins(%{{.*}} : memref<1x2x?x40xf16>) mean(%{{.*}} : memref<1x2x40xf32>) outs(%{{.*}} : memref<1x2x?x40xf32>, %{{.*}} : memref<1x2x?x3xf32>) precision = #attn.precision<qk = f4E2M1FN>{{$}}
// CHECK: attn.quantize_rows ins(%{{.*}} : memref<1x2x?x40xf16>) outs(%{{.*}} : memref<1x2x?x40xf16>) precision = #attn.precision<qk = bf16>{{$}}
// CHECK: attn.quantize_value ins(%{{.*}} : memref<1x2x?x8xf16>) outs(%{{.*}} : memref<1x2x?x8xf32>) to = bf16{{$}}
func.func @quantization_steps_memref(%q: memref<1x2x?x40xf16>, %k: memref<1x2x?x40xf16>, %v: memref<1x2x?x8xf16>,
                                     %km: memref<1x2x40xf32>, %m: memref<1x2x?x40xf64>, %ds: memref<1x2x?x?xf32>,
                                     %kv: memref<1x2x?x40xf32>, %ks: memref<1x2x?x3xf32>, %qr: memref<1x2x?x40xf16>,
                                     %vv: memref<1x2x?x8xf32>) {
  attn.key_mean ins(%k : memref<1x2x?x40xf16>) outs(%km : memref<1x2x40xf32>)
  attn.query_block_mean ins(%q, %k : memref<1x2x?x40xf16>, memref<1x2x?x40xf16>)
    outs(%m, %ds : memref<1x2x?x40xf64>, memref<1x2x?x?xf32>) block_size = 1
  attn.quantize_rows ins(%k : memref<1x2x?x40xf16>) mean(%km : memref<1x2x40xf32>)
    outs(%kv : memref<1x2x?x40xf32>, %ks : memref<1x2x?x3xf32>) precision = #attn.precision<qk = f4E2M1FN>
  attn.quantize_rows ins(%q : memref<1x2x?x40xf16>) outs(%qr : memref<1x2x?x40xf16>) precision = #attn.precision<qk = bf16>
  attn.quantize_value ins(%v : memref<1x2x?x8xf16>) outs(%vv : memref<1x2x?x8xf32>) to = bf16
  return
}

// -----

// attn.attention reading quantized bundles: the op's (sage1) and head
// group 1's (smooth_k only); group 0 has only a mask and uses the op's.
// CHECK-LABEL: func.func @quantized_bundles
// CHECK: attn.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) quantized(key_mean = %[[KM:.*]] : tensor<1x2x8xf64>, query = %[[QV:.*]] : tensor<1x4x16x8xf32>, query_scales = %[[QS:.*]] : tensor<1x4x16x1xf32>, key = %[[KV:.*]] : tensor<1x2x16x8xf32>, key_scales = %[[KS:.*]] : tensor<1x2x16x1xf32>) quantized(group = 1, key_mean = %[[KM]] : tensor<1x2x8xf64>, key = %[[KV]] : tensor<1x2x16x8xf32>) outs(%{{.*}} : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1> heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.causal>, #attn.head_group<heads = [2], precision = #attn.precision<smooth_k>>]> -> tensor<1x4x16x8xf16>{{$}}
func.func @quantized_bundles(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>,
                             %km: tensor<1x2x8xf64>, %qv: tensor<1x4x16x8xf32>, %qs: tensor<1x4x16x1xf32>,
                             %kq: tensor<1x2x16x8xf32>, %ks: tensor<1x2x16x1xf32>) -> tensor<1x4x16x8xf16> {
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>)
         quantized(key_mean = %km : tensor<1x2x8xf64>, query = %qv : tensor<1x4x16x8xf32>,
                   query_scales = %qs : tensor<1x4x16x1xf32>, key = %kq : tensor<1x2x16x8xf32>,
                   key_scales = %ks : tensor<1x2x16x1xf32>)
         quantized(group = 1, key_mean = %km : tensor<1x2x8xf64>, key = %kq : tensor<1x2x16x8xf32>)
         outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage1>
         heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.causal>,
                                       #attn.head_group<heads = [2], precision = #attn.precision<smooth_k>>]>
         -> tensor<1x4x16x8xf16>
  return %r : tensor<1x4x16x8xf16>
}

// -----

// A shard pair of a longer sequence (context parallelism): a 2-D
// neighborhood of a 64x64 grid at global positions.
// CHECK-LABEL: func.func @shard
// CHECK: mask = #attn.shard<mask = #attn.neighborhood<grid = [64, 64], window = [9, 9]>, query_start = 1024, key_start = 512, query_length = 4096, key_length = 4096>
func.func @shard(%q: tensor<1x2x512x8xf16>, %o: tensor<1x2x512x8xf16>) -> tensor<1x2x512x8xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x512x8xf16>, tensor<1x2x512x8xf16>, tensor<1x2x512x8xf16>)
         outs(%o : tensor<1x2x512x8xf16>)
         mask = #attn.shard<mask = #attn.neighborhood<grid = [64, 64], window = [9, 9]>, query_start = 1024, key_start = 512, query_length = 4096, key_length = 4096>
         -> tensor<1x2x512x8xf16>
  return %r : tensor<1x2x512x8xf16>
}

// -----

// The gradient op on tensors with every optional operand: the LSE's
// gradient, a bias and gates (with their gradients), heads and a scale.
// CHECK-LABEL: func.func @grad_tensor_all
// CHECK: %{{.*}}:5 = attn.attention_grad ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>, tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>, tensor<2x4x16x4xbf16>) lse_grad(%{{.*}} : tensor<2x4x16xf32>) bias(%{{.*}} : tensor<1x4x16x16xf32>) gates(%{{.*}} : tensor<2x16x4xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>) bias_grad(%{{.*}} : tensor<1x4x16x16xf32>) gates_grad(%{{.*}} : tensor<2x16x4xf32>) mask = #attn.causal heads = #attn.heads<weights = [1.000000e+00, 0.000000e+00, 5.000000e-01, 2.000000e+00], softpag = #attn.softpag<u = 3.000000e-01, heads = [1]>> scale = 2.500000e-01 -> tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>, tensor<1x4x16x16xf32>, tensor<2x16x4xf32>{{$}}
func.func @grad_tensor_all(%q: tensor<2x4x16x8xbf16>, %k: tensor<2x2x16x8xbf16>, %v: tensor<2x2x16x4xbf16>, %o: tensor<2x4x16x4xbf16>, %l: tensor<2x4x16xf32>, %dout: tensor<2x4x16x4xbf16>, %dl: tensor<2x4x16xf32>, %b: tensor<1x4x16x16xf32>, %g: tensor<2x16x4xf32>, %dq: tensor<2x4x16x8xbf16>, %dk: tensor<2x2x16x8xbf16>, %dv: tensor<2x2x16x4xbf16>, %db: tensor<1x4x16x16xf32>, %dg: tensor<2x16x4xf32>) {
  %r:5 = attn.attention_grad ins(%q, %k, %v, %o, %l, %dout : tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>, tensor<2x4x16x4xbf16>, tensor<2x4x16xf32>, tensor<2x4x16x4xbf16>) lse_grad(%dl : tensor<2x4x16xf32>) bias(%b : tensor<1x4x16x16xf32>) gates(%g : tensor<2x16x4xf32>) outs(%dq, %dk, %dv : tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>) bias_grad(%db : tensor<1x4x16x16xf32>) gates_grad(%dg : tensor<2x16x4xf32>) mask = #attn.causal heads = #attn.heads<weights = [1.0, 0.0, 0.5, 2.0], softpag = #attn.softpag<u = 0.3, heads = [1]>> scale = 0.25 -> tensor<2x4x16x8xbf16>, tensor<2x2x16x8xbf16>, tensor<2x2x16x4xbf16>, tensor<1x4x16x16xf32>, tensor<2x16x4xf32>
  return
}

// -----

// A bias without bias_grad: a constant of the loss, no dBias.
// CHECK-LABEL: func.func @grad_constant_bias
// CHECK: attn.attention_grad {{.*}} bias(%{{.*}} : tensor<16x16xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>{{$}}
func.func @grad_constant_bias(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>, %b: tensor<16x16xf32>) -> tensor<1x1x16x8xf16> {
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) bias(%b : tensor<16x16xf32>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return %r#0 : tensor<1x1x16x8xf16>
}

// -----

// The gradient op on memrefs (no results), dynamic sizes, run-time segments
// and a quantized precision (the gradient is the unquantized function's).
// CHECK-LABEL: func.func @grad_memref
// CHECK: attn.attention_grad ins(%{{.*}} : memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?xf32>, memref<?x8x?x64xf16>) segment_offsets(%{{.*}} : memref<?x3xi32>) outs(%{{.*}} : memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>) mask = #attn.segments<query = [?, ?], visibility = {{\[\[}}causal, none], [full, causal]]> precision = #attn.precision<sage2_8b>{{$}}
func.func @grad_memref(%q: memref<?x8x?x64xf16>, %k: memref<?x8x?x64xf16>, %v: memref<?x8x?x64xf16>, %o: memref<?x8x?x64xf16>, %l: memref<?x8x?xf32>, %seg: memref<?x3xi32>) {
  attn.attention_grad ins(%q, %k, %v, %o, %l, %o : memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?xf32>, memref<?x8x?x64xf16>) segment_offsets(%seg : memref<?x3xi32>) outs(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x8x?x64xf16>, memref<?x8x?x64xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]> precision = #attn.precision<sage2_8b>
  return
}
