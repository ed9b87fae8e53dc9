// The benchmark configurations compile without local-memory spills: ptxas's
// resource report for the bf16 D = 128 kernels (dense, 2-D neighborhood
// table, in-context segments) and the D = 256 kernel (Q in shared memory,
// 32-key tiles).
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a kernel=mma_sync format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// The same kernels for the sm_12x family target (99 KB of shared memory).
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120f format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_120f -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// Four kernels, none with a stack frame or spills.
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}
// CHECK-COUNT-4: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}

func.func @dense(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
    outs(%o : memref<1x16x?x128xbf16>)
  return
}
func.func @neighborhood(%q: memref<1x16x16384x128xbf16>, %o: memref<1x16x16384x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x16384x128xbf16>, memref<1x16x16384x128xbf16>, memref<1x16x16384x128xbf16>)
    outs(%o : memref<1x16x16384x128xbf16>) mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
  return
}
func.func @segments(%q: memref<1x16x35552x128xbf16>, %o: memref<1x16x35552x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x35552x128xbf16>, memref<1x16x35552x128xbf16>, memref<1x16x35552x128xbf16>)
    outs(%o : memref<1x16x35552x128xbf16>)
    mask = #attn.segments<query = [226, 226, 17550, 17550], visibility = [[full, none, full, full], [none, full, none, full], [full, none, full, full], [none, full, none, full]]>
  return
}
func.func @head_dim_256(%q: memref<1x4x?x256xbf16>, %o: memref<1x4x?x256xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x4x?x256xbf16>, memref<1x4x?x256xbf16>, memref<1x4x?x256xbf16>)
    outs(%o : memref<1x4x?x256xbf16>) mask = #attn.causal
  return
}
