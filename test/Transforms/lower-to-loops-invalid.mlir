// RUN: attn-opt %s -split-input-file -attn-lower-to-loops -verify-diagnostics
// RUN: not attn-opt %s -attn-lower-to-loops="query-tile=-1" 2>&1 | FileCheck %s --check-prefix=TILE
// TILE: error: attn-lower-to-loops: query-tile = -1 and key-tile = 0 must not be negative

func.func @tensors(%q: tensor<1x1x4x4xf32>, %o: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  // expected-error @below {{attn-lower-to-loops needs memref operands; bufferize first}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) outs(%o : tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %r : tensor<1x1x4x4xf32>
}

// -----

func.func @nested_unnormalized(%q: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>) {
  // expected-error @below {{attn-lower-to-loops lowers renormalize = false only on the op's own segments mask}}
  attn.attention ins(%q, %q, %q : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>) outs(%o : memref<1x1x4x4xf16>) mask = #attn.and<#attn.causal, #attn.segments<query = [2, 2], visibility = [[full, none], [full, full]], renormalize = false>>
  return
}
