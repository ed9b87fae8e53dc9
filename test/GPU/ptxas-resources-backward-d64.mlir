// The backward's key-tile kernel at D = 64 (64 x 64 tiles) without spills.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}
// CHECK-COUNT-3: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}

func.func @gqa_d64(%q: memref<2x8x?x64xf16>, %k: memref<2x2x?x64xf16>, %o: memref<2x8x?x64xf16>, %lse: memref<2x8x?xf32>, %dk: memref<2x2x?x64xf16>) {
  attn.attention_grad ins(%q, %k, %k, %o, %lse, %o : memref<2x8x?x64xf16>, memref<2x2x?x64xf16>, memref<2x2x?x64xf16>, memref<2x8x?x64xf16>, memref<2x8x?xf32>, memref<2x8x?x64xf16>)
    outs(%q, %dk, %dk : memref<2x8x?x64xf16>, memref<2x2x?x64xf16>, memref<2x2x?x64xf16>)
    mask = #attn.sliding_window<left = 256, right = 0>
  return
}
