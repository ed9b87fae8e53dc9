// The wgmma key-tile kernel on a dense mask (every tile full: no branch
// in the walk, so LLVM hoisted every loop-invariant address of the tile's
// body, 212 bytes of spills at D = 128 before they were computed per
// tile): no spills on sm_90a, at D = 128 and at D = 64.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: grep -c wgmma.mma_async %t/kernels.ptx | FileCheck %s --check-prefix=PTX
// RUN: sed -e 's/x128xbf16/x64xbf16/g' %s > %t.d64.mlir
// RUN: rm -rf %t && attn-opt %t.d64.mlir --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK-LABEL: Compiling entry function 'attn_bwd'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// The walk's body is emitted once per query buffer: 2 x (8 + 8 + 4 + 4 + 8).
// PTX: 64

func.func @dense_d128(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>, %lse: memref<1x16x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?xf32>, memref<1x16x?x128xbf16>)
    outs(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
  return
}
