// RUN: attn-opt %s -split-input-file -attn-lower-to-loops -verify-diagnostics
// RUN: not attn-opt %s -attn-lower-to-loops="query-tile=-1" 2>&1 | FileCheck %s --check-prefix=TILE
// TILE: error: attn-lower-to-loops: query-tile = -1 and key-tile = 0 must not be negative

func.func @tensors(%q: tensor<1x1x4x4xf32>, %o: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  // expected-error @below {{attn-lower-to-loops needs memref operands; bufferize first}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) outs(%o : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %r : tensor<1x1x4x4xf32>
}

// -----

func.func @step_on_tensors(%k: tensor<1x1x4x4xf16>, %m: tensor<1x1x4xf64>) -> tensor<1x1x4xf64> {
  // expected-error @below {{'attn.key_mean' op attn-lower-to-loops needs memref operands; bufferize first}}
  %r = attn.key_mean ins(%k : tensor<1x1x4x4xf16>) outs(%m : tensor<1x1x4xf64>) -> tensor<1x1x4xf64>
  return %r : tensor<1x1x4xf64>
}

// -----

func.func @grad_on_tensors(%q: tensor<1x1x4x4xf32>, %lse: tensor<1x1x4xf32>) -> (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  // expected-error @below {{attn-lower-to-loops needs memref operands; bufferize first}}
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4xf32>, tensor<1x1x4x4xf32>) outs(%q, %q, %q : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
  return %r#0, %r#1, %r#2 : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
}

// -----

func.func @grad_heads_on_runtime_heads(%q: memref<1x?x4x4xf32>, %lse: memref<1x?x4xf32>) {
  // expected-error @below {{attn-lower-to-loops needs a static number of query heads to lower a heads attribute}}
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<1x?x4x4xf32>, memref<1x?x4x4xf32>, memref<1x?x4x4xf32>, memref<1x?x4x4xf32>, memref<1x?x4xf32>, memref<1x?x4x4xf32>) outs(%q, %q, %q : memref<1x?x4x4xf32>, memref<1x?x4x4xf32>, memref<1x?x4x4xf32>) heads = #attn.heads<softpag = #attn.softpag<u = 0.5, heads = [0]>>
  return
}
