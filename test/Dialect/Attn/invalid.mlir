// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the attn.attention verifier and of the attribute
// verifiers. Parser diagnostics (syntax) are in invalid-parse.mlir.
//
// Shapes used unless a case says otherwise:
//   Q [1, 4, 16, 8], K and V [1, 2, 16, 8], O [1, 4, 16, 8] (B = 1, Hq = 4,
//   Hkv = 2, Nq = Nk = 16, D = Dv = 8).

//===----------------------------------------------------------------------===//
// Tensor / memref consistency and results
//===----------------------------------------------------------------------===//

func.func @tensor_memref_mixed(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>) {
  // expected-error @below {{'attn.attention' op operands must be all tensors or all memrefs, but got 'tensor<1x4x16x8xf16>'}}
  attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>)
  return
}

// -----

func.func @memref_mask_on_tensors(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: memref<16x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{operands must be all tensors or all memrefs, but got 'memref<16x16xi1>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : memref<16x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @tensor_no_result(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{on tensors the results must have the types of the outs operands}}
  attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>)
  return
}

// -----

func.func @tensor_result_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{on tensors the results must have the types of the outs operands}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @tensor_lse_result_missing(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>, %l: tensor<1x4x16xf32>) {
  // expected-error @below {{on tensors the results must have the types of the outs operands}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>, %l : tensor<1x4x16xf32>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @memref_with_result(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>) {
  // expected-error @below {{on memrefs the op has no results}}
  %r = attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Ranks and element types of Q, K, V, O
//===----------------------------------------------------------------------===//

// -----

func.func @query_rank(%q: tensor<4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query must have shape [B, Hq, Nq, D], got 'tensor<4x16x8xf16>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @key_rank(%q: tensor<1x4x16x8xf16>, %k: tensor<2x16x8xf16>, %v: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key must have shape [B, Hkv, Nk, D], got 'tensor<2x16x8xf16>'}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @value_rank(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{value must have shape [B, Hkv, Nk, Dv], got 'tensor<1x1x2x16x8xf16>'}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @output_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<64x8xf16>) {
  // expected-error @below {{output must have shape [B, Hq, Nq, Dv], got 'tensor<64x8xf16>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<64x8xf16>) -> tensor<64x8xf16>
  return
}

// -----

func.func @query_int(%q: tensor<1x4x16x8xi8>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query must have a float element type, got 'i8'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xi8>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @output_int(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xi32>) {
  // expected-error @below {{output must have a float element type, got 'i32'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xi32>) -> tensor<1x4x16x8xi32>
  return
}

//===----------------------------------------------------------------------===//
// Shapes: B, Hq, Hkv, Nq, Nk, D, Dv
//===----------------------------------------------------------------------===//

// -----

func.func @key_batch(%q: tensor<1x4x16x8xf16>, %k: tensor<2x2x16x8xf16>, %v: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key dimension 0 is 2 but the batch size B is 1}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<2x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @value_batch(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<3x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{value dimension 0 is 3 but the batch size B is 1}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<3x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @key_head_dim(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x16xf16>, %v: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key dimension 3 is 16 but the query head dim D is 8}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x16xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @value_kv_heads(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x4x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{value dimension 1 is 4 but the number of key heads Hkv is 2}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x4x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @value_key_length(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x2x32x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{value dimension 2 is 32 but the key length Nk is 16}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x32x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @output_batch(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<2x4x16x8xf16>) {
  // expected-error @below {{output dimension 0 is 2 but the batch size B is 1}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<2x4x16x8xf16>) -> tensor<2x4x16x8xf16>
  return
}

// -----

func.func @output_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x2x16x8xf16>) {
  // expected-error @below {{output dimension 1 is 2 but the number of query heads Hq is 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x2x16x8xf16>) -> tensor<1x2x16x8xf16>
  return
}

// -----

func.func @output_query_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x32x8xf16>, %o: tensor<1x4x32x8xf16>) {
  // expected-error @below {{output dimension 2 is 32 but the query length Nq is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x32x8xf16>, tensor<1x2x32x8xf16>) outs(%o : tensor<1x4x32x8xf16>) -> tensor<1x4x32x8xf16>
  return
}

// -----

// Dv = 4 differs from D = 8 (allowed), but O must have Dv.
func.func @output_value_head_dim(%q: tensor<1x4x16x8xf16>, %k: tensor<1x2x16x8xf16>, %v: tensor<1x2x16x4xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{output dimension 3 is 8 but the value head dim Dv is 4}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x4xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gqa_not_multiple(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x3x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{the number of query heads Hq = 4 is not a multiple of the number of key/value heads Hkv = 3}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x3x16x8xf16>, tensor<1x3x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gqa_zero_kv_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x0x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{the number of query heads Hq = 4 is not a multiple of the number of key/value heads Hkv = 0}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x0x16x8xf16>, tensor<1x0x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// lse_output
//===----------------------------------------------------------------------===//

// -----

func.func @lse_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>, %l: tensor<4x16xf32>) {
  // expected-error @below {{lse_output must have shape [B, Hq, Nq], got 'tensor<4x16xf32>'}}
  %r:2 = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>, %l : tensor<4x16xf32>) -> tensor<1x4x16x8xf16>, tensor<4x16xf32>
  return
}

// -----

func.func @lse_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>, %l: tensor<1x4x16xf16>) {
  // expected-error @below {{lse_output must have element type f32, got 'f16'}}
  %r:2 = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>, %l : tensor<1x4x16xf16>) -> tensor<1x4x16x8xf16>, tensor<1x4x16xf16>
  return
}

// -----

func.func @lse_batch(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>, %l: memref<2x4x16xf32>) {
  // expected-error @below {{lse_output dimension 0 is 2 but the batch size B is 1}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>, %l : memref<2x4x16xf32>)
  return
}

// -----

func.func @lse_heads(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>, %l: memref<1x2x16xf32>) {
  // expected-error @below {{lse_output dimension 1 is 2 but the number of query heads Hq is 4}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>, %l : memref<1x2x16xf32>)
  return
}

// -----

func.func @lse_length(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>, %l: memref<1x4x8xf32>) {
  // expected-error @below {{lse_output dimension 2 is 8 but the query length Nq is 16}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) outs(%o : memref<1x4x16x8xf16>, %l : memref<1x4x8xf32>)
  return
}

//===----------------------------------------------------------------------===//
// explicit_mask, bias, gates
//===----------------------------------------------------------------------===//

// -----

func.func @explicit_mask_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<4x16x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask must have shape [Nq, Nk] or [B|1, Hq|1, Nq, Nk], got 'tensor<4x16x16xi1>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<4x16x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @explicit_mask_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<16x16xi8>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask must have element type i1, got 'i8'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<16x16xi8>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @explicit_mask_query_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<8x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask dimension 0 is 8 but the query length Nq is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<8x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @explicit_mask_key_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<1x1x16x15xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask dimension 3 is 15 but the key length Nk is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<1x1x16x15xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @explicit_mask_batch(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<2x1x16x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask dimension 0 is 2 but must be 1 or B = 1}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<2x1x16x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @explicit_mask_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %m: tensor<1x2x16x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{explicit_mask dimension 1 is 2 but must be 1 or Hq = 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) explicit_mask(%m : tensor<1x2x16x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @bias_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %b: tensor<16x16xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{bias must have a float element type, got 'i1'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b : tensor<16x16xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @bias_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %b: tensor<256xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{bias must have shape [Nq, Nk] or [B|1, Hq|1, Nq, Nk], got 'tensor<256xf32>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b : tensor<256xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @bias_key_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %b: tensor<16x8xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{bias dimension 1 is 8 but the key length Nk is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b : tensor<16x8xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @bias_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %b: tensor<1x3x16x16xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{bias dimension 1 is 3 but must be 1 or Hq = 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) bias(%b : tensor<1x3x16x16xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gates_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<16x4xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{gates must have shape [B, Nq, Hq], got 'tensor<16x4xf32>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<16x4xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gates_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<1x16x4xi1>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{gates must have a float element type, got 'i1'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<1x16x4xi1>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gates_batch(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<2x16x4xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{gates dimension 0 is 2 but the batch size B is 1}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<2x16x4xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

// Gates are [B, Nq, Hq], not [B, Hq, Nq].
func.func @gates_transposed(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<1x4x16xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{gates dimension 1 is 4 but the query length Nq is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<1x4x16xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @gates_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %g: tensor<1x16x2xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{gates dimension 2 is 2 but the number of query heads Hq is 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) gates(%g : tensor<1x16x2xf32>) outs(%o : tensor<1x4x16x8xf16>) -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// scale
//===----------------------------------------------------------------------===//

// -----

func.func @scale_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{scale = 0.000000e+00 must be a positive finite number}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) scale = 0.0 -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @scale_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{scale = -5.000000e-01 must be a positive finite number}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) scale = -0.5 -> tensor<1x4x16x8xf16>
  return
}

// -----

// 0x7FF0000000000000 is +inf as an f64.
func.func @scale_inf(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{must be a positive finite number}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) scale = 0x7FF0000000000000 -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Masks against the sequence lengths
//===----------------------------------------------------------------------===//

// -----

func.func @grid_query_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid [4, 5] has 20 tokens but the query length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 5], window = [3, 3]> -> tensor<1x4x16x8xf16>
  return
}

// -----

// Nq = 16 matches the grid, Nk = 20 does not (grid masks need Nq == Nk).
func.func @grid_key_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x20x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid [16] has 16 tokens but the key length is 20}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x20x8xf16>, tensor<1x2x20x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @grid_in_and(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid [2, 2, 2] has 8 tokens but the query length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.or<#attn.none, #attn.neighborhood<grid = [2, 2, 2], window = [1, 1, 1]>>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @group_grid_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid [8] has 8 tokens but the query length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.neighborhood<grid = [8], window = [3]>>]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_query_sum(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query segment sizes [4, 8] sum to 12 but the query length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 8], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_key_sum(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key segment sizes [10, 10] sum to 20 but the key length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], key = [10, 10], visibility = [[full, none], [full, full]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

// The nested grid [2, 2] (4 tokens) does not describe segment 1 (12 tokens).
func.func @segments_nested_grid(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{visibility[1][1] (a segment pair of 12 x 12 tokens): neighborhood grid [2, 2] has 4 tokens but the query length is 12}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[#attn.neighborhood<grid = [2, 2], window = [1, 2]>, none], [full, #attn.neighborhood<grid = [2, 2], window = [2, 2]>]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

// A nested grid must match both sides of its segment pair: [4] x [12] here.
func.func @segments_nested_grid_key(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{visibility[0][1] (a segment pair of 4 x 12 tokens): neighborhood grid [4] has 4 tokens but the key length is 12}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, 12], visibility = [[full, #attn.neighborhood<grid = [4], window = [2]>], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_nested_segments(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{visibility[0][0] (a segment pair of 16 x 16 tokens): query segment sizes [8, 4] sum to 12 but the query length is 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], visibility = [[#attn.segments<query = [8, 4], visibility = [[full, none], [none, full]]>]]> -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// segment_offsets
//===----------------------------------------------------------------------===//

// -----

func.func @runtime_segments_without_offsets(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{the mask has run-time segment sizes ('?') but no segment_offsets operand}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @runtime_segments_in_group_without_offsets(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{the mask has run-time segment sizes ('?') but no segment_offsets operand}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [3], mask = #attn.and<#attn.causal, #attn.segments<query = [?], visibility = [[full]]>>>]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_without_runtime_segments(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x3xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets given but no mask has run-time segment sizes ('?')}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x3xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_rank(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<3xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets must have shape [B, S+1] or [B, 2, S+1], got 'tensor<3xi32>'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<3xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_type(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x3xf32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets must have element type i32 or i64, got 'f32'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x3xf32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_batch(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<2x3xi64>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets dimension 0 is 2 but the batch size B is 1}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<2x3xi64>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_count(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x4xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets has 4 offsets per list but the segments mask needs 3}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x4xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_rank3_lists(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x3x3xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets dimension 1 is 3 but the number of offset lists (query, key) is 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x3x3xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [none, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @offsets_rank3_count(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x2x3xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segment_offsets has 3 offsets per list but the segments mask needs 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x2x3xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], key = [?, ?, ?], visibility = [[full, none, none], [full, causal, none]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

// Separate query and key segment counts need separate offset lists.
func.func @offsets_rank2_separate_keys(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %off: tensor<1x4xi32>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segments with 2 query and 3 key segments need segment_offsets of shape [B, 2, S+1]}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) segment_offsets(%off : tensor<1x4xi32>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [?, ?], key = [?, ?, ?], visibility = [[full, none, none], [full, causal, none]]> -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Heads against the op
//===----------------------------------------------------------------------===//

// -----

func.func @weights_count(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{heads has 3 weights but there are Hq = 4 query heads}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [1.0, 0.5, 0.0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @weights_empty(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{heads has 0 weights but there are Hq = 4 query heads}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = []> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_head_range(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag head index 4 is out of range for Hq = 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = [1, 4]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_cross_attention(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x32x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag needs Nq == Nk, got Nq = 16 and Nk = 32}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x32x8xf16>, tensor<1x2x32x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = [0]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @group_head_range(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{head group head index 7 is out of range for Hq = 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.causal>, #attn.head_group<heads = [7], precision = #attn.precision<sage1>>]> -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Precision against the op
//===----------------------------------------------------------------------===//

// -----

// pv_accum = f16 without pv: P.V runs in V's type, bf16 here.
func.func @pv_accum_f16_bf16_value(%q: tensor<1x4x16x8xbf16>, %kv: tensor<1x2x16x8xbf16>, %o: tensor<1x4x16x8xbf16>) {
  // expected-error @below {{pv_accum = f16 needs an f16 P.V product, but P.V runs in 'bf16'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>) outs(%o : tensor<1x4x16x8xbf16>) precision = #attn.precision<qk = i8, qk_granularity = token, pv_accum = f16> -> tensor<1x4x16x8xbf16>
  return
}

// -----

func.func @pv_accum_f16_in_group(%q: tensor<1x4x16x8xbf16>, %kv: tensor<1x2x16x8xbf16>, %o: tensor<1x4x16x8xbf16>) {
  // expected-error @below {{pv_accum = f16 needs an f16 P.V product, but P.V runs in 'bf16'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>) outs(%o : tensor<1x4x16x8xbf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [2], precision = #attn.precision<pv_accum = f16>>]> -> tensor<1x4x16x8xbf16>
  return
}

//===----------------------------------------------------------------------===//
// Attribute verifiers: precision
//===----------------------------------------------------------------------===//

// -----

func.func @precision_qk_f32(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision qk = 'f32' is not one of f16, bf16, i8, i4, f8E4M3FN, f4E2M1FN}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f32> -> tensor<1x4x16x8xf16>
  return
}

// -----

// f8E4M3 (IEEE-style, with infinities) is not the f8E4M3FN the contract means.
func.func @precision_qk_f8E4M3(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision qk = 'f8E4M3' is not one of f16, bf16, i8, i4, f8E4M3FN, f4E2M1FN (E4M3 on NVIDIA GPUs is finite-only: write f8E4M3FN)}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f8E4M3, qk_granularity = token> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_qk_unsigned(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision qk = 'ui8' is not one of f16, bf16, i8, i4, f8E4M3FN, f4E2M1FN}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = ui8, qk_granularity = token> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_pv_i8(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision pv = 'i8' is not one of f16, bf16, f8E4M3FN, f4E2M1FN}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<pv = i8> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_missing_granularity(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision qk = 'i8' needs qk_granularity (tensor, block(n), thread(n) or token)}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, pv = f16> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_missing_granularity_fp8(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{precision qk = 'f8E4M3FN' needs qk_granularity (tensor, block(n), thread(n) or token)}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f8E4M3FN> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_granularity_on_f16(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity applies only to qk = i8, i4 or f8E4M3FN, not 'f16'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = f16, qk_granularity = token> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_granularity_without_qk(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity applies only to qk = i8, i4 or f8E4M3FN}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk_granularity = block(64)> -> tensor<1x4x16x8xf16>
  return
}

// -----

// NVFP4 scales are fixed (16-element E4M3 blocks): no granularity.
func.func @precision_granularity_on_nvfp4(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity applies only to qk = i8, i4 or f8E4M3FN, not 'f4E2M1FN'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<nvfp4, qk_granularity = block(16)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_thread_12(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity thread(12) needs a multiple of 8 tokens}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = thread(12)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_thread_0(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity thread(0) needs a positive size}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i4, qk_granularity = thread(0)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_block_0(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity block(0) needs a positive size}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = block(0)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_block_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity block(-64) needs a positive size}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = block(-64)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_token_with_size(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{qk_granularity size 4 given for a granularity without a size}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token(4)> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_pv_accum_f16_fp8(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{pv_accum = f16 needs pv = f16, not 'f8E4M3FN'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<sage2_8b, pv_accum = f16> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @precision_pv_accum_f16_bf16(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{pv_accum = f16 needs pv = f16, not 'bf16'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) precision = #attn.precision<pv = bf16, pv_accum = f16> -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Attribute verifiers: heads
//===----------------------------------------------------------------------===//

// -----

// 0x7FF8000000000000 is a NaN as an f64.
func.func @weight_nan(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{weight of head 2 is nan, expected a finite value}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [1.0, 1.0, 0x7FF8000000000000, 1.0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @weight_inf(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{weight of head 0 is -INF, expected a finite value}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<weights = [0xFFF0000000000000, 1.0, 1.0, 1.0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_u_above_one(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag u = 1.500000e+00 must be in [0, 1]}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 1.5, heads = [0]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_u_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag u = -2.500000e-01 must be in [0, 1]}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = -0.25, heads = [0]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_no_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag needs at least one head}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = []>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_head_twice(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag lists head 1 twice}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = [1, 2, 1]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @softpag_head_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{softpag head index -1 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = [-1]>> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @group_no_heads(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{head group needs at least one head}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [], mask = #attn.causal>]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @group_head_twice(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{head group lists head 3 twice}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [3, 3], mask = #attn.causal>]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @group_head_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{head group head index -2 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [-2], mask = #attn.causal>]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @head_in_two_groups(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{head 1 is in head groups 0 and 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0, 1], mask = #attn.causal>, #attn.head_group<heads = [2], mask = #attn.none>, #attn.head_group<heads = [3, 1], precision = #attn.precision<sage1>>]> -> tensor<1x4x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Attribute verifiers: masks
//===----------------------------------------------------------------------===//

// -----

func.func @sliding_window_left_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{sliding window left = -1 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = -1, right = 0> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @sliding_window_right_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{sliding window right = -3 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.sliding_window<left = 4, right = -3, alignment = bottom_right> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_rank_4(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid has rank 4, expected 1, 2 or 3}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 2, 2, 2], window = [1, 1, 1, 1]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_window_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood window has 1 entries but the grid has rank 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_stride_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood stride has 3 entries but the grid has rank 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3], stride = [1, 1, 1]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_dilation_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood dilation has 1 entries but the grid has rank 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [2, 2], dilation = [2]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_causal_length(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood causal has 1 entries but the grid has rank 2}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3], causal = [true]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_extent_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{grid extent 0 in dimension 1 must be positive}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16, 0], window = [3, 1]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_window_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{window 0 in dimension 0 must be positive}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_window_larger_than_extent(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{window 5 in dimension 1 is larger than the grid extent 4}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 5]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_stride_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{stride 0 in dimension 0 must be in [1, window = 3]}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3], stride = [0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_stride_above_window(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{stride 4 in dimension 2 must be in [1, window = 3]}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 2, 4], window = [2, 2, 3], stride = [1, 2, 4]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_dilation_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{dilation 0 in dimension 0 must be positive}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3], dilation = [0]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_window_times_dilation(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{window x dilation = 3 x 3 in dimension 1 exceeds the grid extent 8}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [2, 8], window = [1, 3], dilation = [1, 3]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @power_law_block_zero(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{power_law block = 0 must be positive}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 0, window = 1> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @power_law_window_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{power_law window = -1 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = -1> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @power_law_sink_negative(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{power_law sink = -2 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.power_law<block = 4, window = 1, sink = -2, causal = false> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_mixed_static_dynamic(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query segment sizes must be all static or all '?'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [4, ?], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_mixed_key_sizes(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key segment sizes must be all static or all '?'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], key = [?, 8], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_static_query_dynamic_key(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query and key segment sizes must be both static or both '?'}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [8, 8], key = [?, ?], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_negative_size(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{query segment size -4 must be non-negative}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [20, -4], visibility = [[full, none], [full, causal]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_no_key_segment(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{segments need at least one query and one key segment}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], key = [], visibility = [[]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @and_empty(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{'and' mask needs at least one member}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @or_empty(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{'or' mask needs at least one member}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.and<#attn.causal, #attn.or<>> -> tensor<1x4x16x8xf16>
  return
}

// -----

// window x dilation is compared without overflowing int64.
func.func @neighborhood_window_times_dilation_overflow(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{window x dilation = 2 x 4611686018427387904 in dimension 0 exceeds the grid extent 16}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [2], dilation = [4611686018427387904]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @neighborhood_too_many_tokens(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{neighborhood grid has more than 2147483648 tokens}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.neighborhood<grid = [65536, 65536], window = [3, 3]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @segments_too_many_tokens(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{key segments have more than 2147483648 tokens}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], key = [9223372036854775807, 1], visibility = [[full, none]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

// The op's segment_offsets describe the outermost segments only.
func.func @nested_runtime_segments(%q: tensor<1x4x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %o: tensor<1x4x16x8xf16>) {
  // expected-error @below {{visibility[0][0] has run-time segment sizes; nested segments must have static sizes}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x4x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) outs(%o : tensor<1x4x16x8xf16>) mask = #attn.segments<query = [16], visibility = [[#attn.segments<query = [?], visibility = [[full]]>]]> -> tensor<1x4x16x8xf16>
  return
}

// -----

func.func @query_too_long(%q: tensor<1x1x4294967296x8xf16>, %kv: tensor<1x1x16x8xf16>, %o: tensor<1x1x4294967296x8xf16>) {
  // expected-error @below {{the query length 4294967296 exceeds the supported 2147483648 tokens}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x4294967296x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x4294967296x8xf16>) -> tensor<1x1x4294967296x8xf16>
  return
}

// -----

func.func @tiling_without_grid(%q: tensor<1x1x64x8xf16>, %o: tensor<1x1x64x8xf16>) -> tensor<1x1x64x8xf16> {
  // expected-error @below {{tiling of rank 2 needs a mask with a token grid of that rank}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>)
         outs(%o : tensor<1x1x64x8xf16>) mask = #attn.causal tiling = #attn.tiling<query = [4, 4], key = [4, 4]> -> tensor<1x1x64x8xf16>
  return %r : tensor<1x1x64x8xf16>
}

// -----

func.func @tiling_ranks(%q: tensor<1x1x64x8xf16>, %o: tensor<1x1x64x8xf16>) -> tensor<1x1x64x8xf16> {
  // expected-error @+2 {{tiling key tile has rank 2 but the query tile has rank 1}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>)
         outs(%o : tensor<1x1x64x8xf16>) tiling = #attn.tiling<query = [4], key = [4, 4]> -> tensor<1x1x64x8xf16>
  return %r : tensor<1x1x64x8xf16>
}

// -----

func.func @tiling_zero(%q: tensor<1x1x64x8xf16>, %o: tensor<1x1x64x8xf16>) -> tensor<1x1x64x8xf16> {
  // expected-error @+2 {{tiling entry 0 must be positive}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>, tensor<1x1x64x8xf16>)
         outs(%o : tensor<1x1x64x8xf16>) tiling = #attn.tiling<query = [0], key = [4]> -> tensor<1x1x64x8xf16>
  return %r : tensor<1x1x64x8xf16>
}

// -----

func.func @tile_classes_without_tiling(%q: memref<1x1x8x4xf16>, %o: memref<1x1x8x4xf16>) {
  // expected-error @below {{tile_classes needs a tiling}}
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf16>, memref<1x1x8x4xf16>, memref<1x1x8x4xf16>)
    outs(%o : memref<1x1x8x4xf16>) tile_classes = dense<1> : tensor<1x2x2xi8>
  return
}

// -----

func.func @tile_classes_per_mask(%q: memref<1x2x8x4xf16>, %o: memref<1x2x8x4xf16>) {
  // expected-error @below {{tile_classes must have shape [2 masks, query tiles, key tiles], got 'tensor<1x2x2xi8>'}}
  attn.attention ins(%q, %q, %q : memref<1x2x8x4xf16>, memref<1x2x8x4xf16>, memref<1x2x8x4xf16>)
    outs(%o : memref<1x2x8x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.causal>]>
    tiling = #attn.tiling<query = [4], key = [4]> tile_classes = dense<1> : tensor<1x2x2xi8>
  return
}

// -----

func.func @tile_classes_entry(%q: memref<1x1x8x4xf16>, %o: memref<1x1x8x4xf16>) {
  // expected-error @below {{tile_classes entry 3 is not 0 (empty), 1 (partial) or 2 (full)}}
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf16>, memref<1x1x8x4xf16>, memref<1x1x8x4xf16>)
    outs(%o : memref<1x1x8x4xf16>) tiling = #attn.tiling<query = [4], key = [4]> tile_classes = dense<3> : tensor<1x2x2xi8>
  return
}

// -----

// A splat of huge shape is checked by its one value, not element by element
// (the parse fuzzer found the verifier walking 10^16 entries).
func.func @tile_classes_huge_splat(%q: memref<1x1x8x4xf16>, %o: memref<1x1x8x4xf16>) {
  // expected-error @below {{tile_classes entry 5 is not 0 (empty), 1 (partial) or 2 (full)}}
  attn.attention ins(%q, %q, %q : memref<1x1x8x4xf16>, memref<1x1x8x4xf16>, memref<1x1x8x4xf16>)
    outs(%o : memref<1x1x8x4xf16>) tiling = #attn.tiling<query = [4], key = [4]> tile_classes = dense<5> : tensor<1x100000000x100000000xi8>
  return
}

// -----

func.func @shard_negative_start(%q: tensor<1x1x16x8xf16>) {
  // expected-error @below {{#attn.shard: query_start = -1 and key_start = 0 must be non-negative}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%q : tensor<1x1x16x8xf16>) mask = #attn.shard<mask = #attn.causal, query_start = -1, key_start = 0, query_length = 64, key_length = 64> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @shard_past_the_sequence(%q: tensor<1x1x16x8xf16>) {
  // expected-error @below {{#attn.shard: key_start = 56 plus Nk = 16 exceeds key_length = 64}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%q : tensor<1x1x16x8xf16>) mask = #attn.shard<mask = #attn.causal, query_start = 0, key_start = 56, query_length = 64, key_length = 64> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @shard_inner_lengths(%q: tensor<1x1x16x8xf16>) {
  // expected-error @below {{neighborhood grid [8, 8] has 64 tokens but the query length is 100}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%q : tensor<1x1x16x8xf16>) mask = #attn.shard<mask = #attn.neighborhood<grid = [8, 8], window = [3, 3]>, query_start = 0, key_start = 0, query_length = 100, key_length = 100> -> tensor<1x1x16x8xf16>
  return
}

// -----

// attn.attention_grad shares the forward's checks of the problem.
func.func @grad_gqa(%q: tensor<1x3x16x8xf16>, %kv: tensor<1x2x16x8xf16>, %l: tensor<1x3x16xf32>) {
  // expected-error @below {{the number of query heads Hq = 3 is not a multiple of the number of key/value heads Hkv = 2}}
  %r:3 = attn.attention_grad ins(%q, %kv, %kv, %q, %l, %q : tensor<1x3x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x3x16x8xf16>, tensor<1x3x16xf32>, tensor<1x3x16x8xf16>) outs(%q, %kv, %kv : tensor<1x3x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>) -> tensor<1x3x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>
  return
}

// -----

func.func @grad_mask_lengths(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>) {
  // expected-error @below {{neighborhood grid [8, 8] has 64 tokens but the query length is 16}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [8, 8], window = [3, 3]> -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_lse_type(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf16>) {
  // expected-error @below {{lse must have element type f32, got 'f16'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf16>, tensor<1x1x16x8xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_lse_grad_shape(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>, %dl: tensor<1x1x15xf32>) {
  // expected-error @below {{lse_grad dimension 2 is 15 but the query length Nq is 16}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) lse_grad(%dl : tensor<1x1x15xf32>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_output_grad_shape(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>, %do: tensor<1x1x16x4xf16>) {
  // expected-error @below {{output_grad must have the shape of output, 'tensor<1x1x16x8xf16>', got 'tensor<1x1x16x4xf16>'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %do : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x4xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_key_grad_shape(%q: tensor<1x2x16x8xf16>, %kv: tensor<1x1x16x8xf16>, %l: tensor<1x2x16xf32>) {
  // expected-error @below {{key_grad must have the shape of key, 'tensor<1x1x16x8xf16>', got 'tensor<1x2x16x8xf16>'}}
  %r:3 = attn.attention_grad ins(%q, %kv, %kv, %q, %l, %q : tensor<1x2x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x2x16xf32>, tensor<1x2x16x8xf16>) outs(%q, %q, %kv : tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x2x16x8xf16>, tensor<1x2x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_gates_without_grad(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>, %g: tensor<1x16x1xf32>) {
  // expected-error @below {{the op has gates but no gates_grad to write its gradient to}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) gates(%g : tensor<1x16x1xf32>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_gates_grad_without_gates(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>, %dg: tensor<1x16x1xf32>) {
  // expected-error @below {{gates_grad given but the op has no gates}}
  %r:4 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) gates_grad(%dg : tensor<1x16x1xf32>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x16x1xf32>
  return
}

// -----

func.func @grad_results(%q: tensor<1x1x16x8xf16>, %l: tensor<1x1x16xf32>) {
  // expected-error @below {{on tensors the results must have the types of the outs operands}}
  %r:2 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16xf32>, tensor<1x1x16x8xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_mixed(%q: tensor<1x1x16x8xf16>, %l: memref<1x1x16xf32>) {
  // expected-error @below {{operands must be all tensors or all memrefs, but got 'memref<1x1x16xf32>'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %l, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, memref<1x1x16xf32>, tensor<1x1x16x8xf16>) outs(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>
  return
}

// -----

func.func @grad_tile_classes_per_mask(%q: memref<1x1x8x4xf32>, %lse: memref<1x1x8xf32>) {
  // expected-error @below {{tile_classes must have shape [1 masks, query tiles, key tiles], got 'tensor<2x2x2xi8>'}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8xf32>, memref<1x1x8x4xf32>) outs(%q, %q, %q : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>) tiling = #attn.tiling<query = [4], key = [4]> tile_classes = dense<1> : tensor<2x2x2xi8>
  return
}

// -----

func.func @grad_grid_tiling_without_grid(%q: memref<1x1x16x4xf32>, %lse: memref<1x1x16xf32>) {
  // expected-error @below {{tiling of rank 2 needs a mask with a token grid of that rank}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x1x16x4xf32>, memref<1x1x16x4xf32>, memref<1x1x16x4xf32>, memref<1x1x16x4xf32>, memref<1x1x16xf32>, memref<1x1x16x4xf32>) outs(%q, %q, %q : memref<1x1x16x4xf32>, memref<1x1x16x4xf32>, memref<1x1x16x4xf32>) mask = #attn.causal tiling = #attn.tiling<query = [2, 2], key = [2, 2]>
  return
}

// -----

// The generic form may give a required operand no value (found by the
// parse fuzzer: the verifier read past the operands).
func.func @output_without_value(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>) {
  // expected-error @+1 {{needs exactly one 'output' operand, but operandSegmentSizes gives it 0}}
  "attn.attention"(%q, %kv, %kv, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 0, 0>}> : (memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x4x16x8xf16>) -> ()
  return
}

// -----

func.func @grad_key_grad_twice(%q: memref<1x2x16x8xf16>, %lse: memref<1x2x16xf32>) {
  // expected-error @+1 {{needs exactly one 'key_grad' operand, but operandSegmentSizes gives it 2}}
  "attn.attention_grad"(%q, %q, %q, %q, %lse, %q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0>}> : (memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16xf32>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>) -> ()
  return
}
