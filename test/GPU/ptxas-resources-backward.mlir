// The backward's kernels compile with ptxas at D = 128 (D = 64 has its own
// test). mma.sync (32 queries per step, dK and dV in 128 registers): the
// key-tile kernel spills at most a few dozen bytes (sm_90a: 24 when
// written, 8 with two query buffers and 128 keys). wgmma (sm_90a's
// default, 64 queries per step): none, with the tile's addresses computed
// per tile (before, hoisted out of the walk, they spilled 212 bytes).
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s --check-prefix=WGMMA
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa kernel=mma_sync" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_80 format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_80 -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK: Compiling entry function 'attn_bwd_finish'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Compiling entry function 'attn_bwd'
// CHECK: {{[0-9]?[0-9]}} bytes stack frame, {{[0-9]?[0-9]}} bytes spill stores, {{[0-9]?[0-9]}} bytes spill loads
// CHECK: Compiling entry function 'attn_bwd_rows'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// WGMMA-LABEL: Compiling entry function 'attn_bwd_finish'
// WGMMA: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// WGMMA-LABEL: Compiling entry function 'attn_bwd'
// WGMMA: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// WGMMA-LABEL: Compiling entry function 'attn_bwd_rows'
// WGMMA: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

func.func @causal_d128(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>, %lse: memref<1x16x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?xf32>, memref<1x16x?x128xbf16>)
    outs(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
    mask = #attn.causal
  return
}
