// RUN: attn-opt %s -split-input-file -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// attn.attention on tensors bufferizes to its memref form, writing O and
// LSE into the buffers of its outs operands (in place: they are not read).
// CHECK-LABEL: func.func @in_place
// CHECK-SAME: (%[[Q:.*]]: memref<1x2x8x4xf16>, %[[K:.*]]: memref<1x1x8x4xf16>, %[[O:.*]]: memref<1x2x8x4xf16>, %[[L:.*]]: memref<1x2x8xf32>)
// CHECK-NOT: memref.copy
// CHECK: attn.attention ins(%[[Q]], %[[K]], %[[K]] : {{.*}}) outs(%[[O]] : memref<1x2x8x4xf16>, %[[L]] : memref<1x2x8xf32>) mask = #attn.causal
// CHECK-NOT: ->
// CHECK: return %[[O]], %[[L]]
// LLVM-LABEL: llvm.func @in_place
func.func @in_place(%q: tensor<1x2x8x4xf16>, %k: tensor<1x1x8x4xf16>,
                    %o: tensor<1x2x8x4xf16>, %lse: tensor<1x2x8xf32>)
    -> (tensor<1x2x8x4xf16>, tensor<1x2x8xf32>) {
  %r:2 = attn.attention ins(%q, %k, %k : tensor<1x2x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>)
           outs(%o : tensor<1x2x8x4xf16>, %lse : tensor<1x2x8xf32>) mask = #attn.causal
           -> tensor<1x2x8x4xf16>, tensor<1x2x8xf32>
  return %r#0, %r#1 : tensor<1x2x8x4xf16>, tensor<1x2x8xf32>
}

// -----

// A fresh destination becomes an allocation.
// CHECK-LABEL: func.func @fresh_output
// CHECK: %[[ALLOC:.*]] = memref.alloc() {{.*}}: memref<1x1x8x4xf32>
// CHECK: attn.attention {{.*}} outs(%[[ALLOC]] : memref<1x1x8x4xf32>)
// CHECK: return %[[ALLOC]]
func.func @fresh_output(%q: tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32> {
  %init = tensor.empty() : tensor<1x1x8x4xf32>
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>)
         outs(%init : tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32>
  return %r : tensor<1x1x8x4xf32>
}

// -----

// The quantization pre-steps and the quantized bundle bufferize too: each
// step writes its fresh destination in place, the op reads those buffers.
// CHECK-LABEL: func.func @quantized_steps
// CHECK-SAME: (%[[Q:.*]]: memref<1x1x8x4xf16>, %[[O:.*]]: memref<1x1x8x4xf16>)
// CHECK-NOT: memref.copy
// CHECK: %[[KM:.*]] = memref.alloc() {{.*}}: memref<1x1x4xf64>
// CHECK: attn.key_mean ins(%[[Q]] : memref<1x1x8x4xf16>) outs(%[[KM]] : memref<1x1x4xf64>)
// CHECK: %[[KV:.*]] = memref.alloc() {{.*}}: memref<1x1x8x4xf32>
// CHECK: attn.quantize_rows ins(%[[Q]] : memref<1x1x8x4xf16>) mean(%[[KM]] : memref<1x1x4xf64>) outs(%[[KV]] : memref<1x1x8x4xf32>)
// CHECK: attn.attention ins(%[[Q]], %[[Q]], %[[Q]] : {{.*}}) quantized(key_mean = %[[KM]] : memref<1x1x4xf64>, key = %[[KV]] : memref<1x1x8x4xf32>) outs(%[[O]] : memref<1x1x8x4xf16>)
// CHECK: return %[[O]]
// LLVM-LABEL: llvm.func @quantized_steps
func.func @quantized_steps(%q: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  %km0 = tensor.empty() : tensor<1x1x4xf64>
  %km = attn.key_mean ins(%q : tensor<1x1x8x4xf16>) outs(%km0 : tensor<1x1x4xf64>) -> tensor<1x1x4xf64>
  %kv0 = tensor.empty() : tensor<1x1x8x4xf32>
  %kv = attn.quantize_rows ins(%q : tensor<1x1x8x4xf16>) mean(%km : tensor<1x1x4xf64>)
          outs(%kv0 : tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32>
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>)
         quantized(key_mean = %km : tensor<1x1x4xf64>, key = %kv : tensor<1x1x8x4xf32>)
         outs(%o : tensor<1x1x8x4xf16>) precision = #attn.precision<smooth_k> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

// attn.attention_grad writes its gradients in place too.
// CHECK-LABEL: func.func @grad_in_place
// CHECK-NOT: memref.copy
// CHECK: attn.attention_grad ins({{.*}}) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<1x1x8x4xf32>, memref<1x1x8x4xf32>, memref<1x1x8x4xf32>) mask = #attn.causal
// CHECK-NOT: ->
// LLVM-LABEL: llvm.func @grad_in_place
func.func @grad_in_place(%q: tensor<1x1x8x4xf32>, %lse: tensor<1x1x8xf32>, %dq: tensor<1x1x8x4xf32>,
                         %dk: tensor<1x1x8x4xf32>, %dv: tensor<1x1x8x4xf32>)
    -> (tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) {
  %r:3 = attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>,
                                 tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8xf32>, tensor<1x1x8x4xf32>)
           outs(%dq, %dk, %dv : tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) mask = #attn.causal
           -> tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
  return %r#0, %r#1, %r#2 : tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>
}
