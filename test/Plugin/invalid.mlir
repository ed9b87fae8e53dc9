// The verifier runs inside stock mlir-opt too.
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin -split-input-file -verify-diagnostics

func.func @bad_heads(%q: tensor<1x3x4x8xf16>, %k: tensor<1x2x4x8xf16>,
                     %v: tensor<1x2x4x8xf16>, %o: tensor<1x3x4x8xf16>)
    -> tensor<1x3x4x8xf16> {
  // expected-error @below {{the number of query heads Hq = 3 is not a multiple of the number of key/value heads Hkv = 2}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x3x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>)
         outs(%o : tensor<1x3x4x8xf16>) -> tensor<1x3x4x8xf16>
  return %r : tensor<1x3x4x8xf16>
}
