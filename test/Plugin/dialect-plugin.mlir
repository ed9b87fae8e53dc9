// Stock mlir-opt (Debian's, linked to libMLIR.so) loads attn as a plugin.
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin --load-pass-plugin=%attn_plugin --pass-pipeline="builtin.module(func.func(canonicalize))" | FileCheck %s --check-prefix=CANON
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin --load-pass-plugin=%attn_plugin --pass-pipeline="builtin.module(attn-materialize-mask)" | FileCheck %s --check-prefix=MATERIALIZE
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin --load-pass-plugin=%attn_plugin --pass-pipeline="builtin.module(attn-sparsity-report{query-tile=2 key-tile=2})" 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: mlir-opt %s --load-dialect-plugin=%attn_plugin --load-pass-plugin=%attn_plugin --pass-pipeline="builtin.module(attn-plan, attn-cpu-pipeline)" | FileCheck %s --check-prefix=CPU
// CPU-LABEL: llvm.func @causal
// CPU-NOT: attn.attention

// ROUNDTRIP-LABEL: func.func @causal
// ROUNDTRIP: attn.attention {{.*}} mask = #attn.causal ->
// CANON-LABEL: func.func @causal
// CANON: attn.attention {{.*}} mask = #attn.causal ->
// MATERIALIZE-LABEL: func.func @causal
// MATERIALIZE: %[[KEEP:.*]] = arith.constant dense<{{\[\[}}true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>
// MATERIALIZE: attn.attention {{.*}} explicit_mask(%[[KEEP]] : tensor<4x4xi1>)
// MATERIALIZE-NOT: mask =
// REPORT: remark: attn sparsity: query tile 2, key tile 2: 4 tile pairs: 1 full, 2 partial, 1 empty; kept pairs 10 of 16
func.func @causal(%q: tensor<1x1x4x8xf16>, %k: tensor<1x1x4x8xf16>,
                  %v: tensor<1x1x4x8xf16>, %o: tensor<1x1x4x8xf16>)
    -> tensor<1x1x4x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>)
         outs(%o : tensor<1x1x4x8xf16>) mask = #attn.causal -> tensor<1x1x4x8xf16>
  return %r : tensor<1x1x4x8xf16>
}

// A window covering its whole grid canonicalizes to dense (no mask).
// CANON-LABEL: func.func @whole_window
// CANON: attn.attention
// CANON-NOT: mask
// CANON-SAME: -> tensor<1x1x6x8xf16>
func.func @whole_window(%q: tensor<1x1x6x8xf16>, %k: tensor<1x1x6x8xf16>,
                        %v: tensor<1x1x6x8xf16>, %o: tensor<1x1x6x8xf16>)
    -> tensor<1x1x6x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x1x6x8xf16>, tensor<1x1x6x8xf16>, tensor<1x1x6x8xf16>)
         outs(%o : tensor<1x1x6x8xf16>)
         mask = #attn.neighborhood<grid = [2, 3], window = [2, 3]> -> tensor<1x1x6x8xf16>
  return %r : tensor<1x1x6x8xf16>
}
