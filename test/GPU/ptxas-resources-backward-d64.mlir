// The backward's key-tile kernel at D = 64 (64 queries, 128 keys, two query
// buffers) spills at most a few dozen bytes (mma.sync: 32 on sm_90a when
// written, the next tile's copies issued with dK and dV live; sm_90a's
// default wgmma products: none); the row and finishing kernels none.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK: Compiling entry function 'attn_bwd_finish'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'attn_bwd'
// CHECK: {{[0-9]?[0-9]}} bytes stack frame, {{[0-9]?[0-9]}} bytes spill stores, {{[0-9]?[0-9]}} bytes spill loads
// CHECK: Compiling entry function 'attn_bwd_rows'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

func.func @gqa_d64(%q: memref<2x8x?x64xf16>, %k: memref<2x2x?x64xf16>, %o: memref<2x8x?x64xf16>, %lse: memref<2x8x?xf32>, %dk: memref<2x2x?x64xf16>) {
  attn.attention_grad ins(%q, %k, %k, %o, %lse, %o : memref<2x8x?x64xf16>, memref<2x2x?x64xf16>, memref<2x2x?x64xf16>, memref<2x8x?x64xf16>, memref<2x8x?xf32>, memref<2x8x?x64xf16>)
    outs(%q, %dk, %dk : memref<2x8x?x64xf16>, memref<2x2x?x64xf16>, memref<2x2x?x64xf16>)
    mask = #attn.sliding_window<left = 256, right = 0>
  return
}
