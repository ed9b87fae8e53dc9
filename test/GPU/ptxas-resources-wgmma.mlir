// The wgmma kernel (sm_90a's default for 16-bit precisions) compiles
// without local-memory spills and without ptxas serializing its wgmma
// instructions (warnings C7515/C7519/C7520 name the reason): the bf16 D = 128
// kernels (dense, 2-D neighborhood table, in-context segments) and D = 256
// (128 x 64 tiles). Each op is its own module, as the Python package and
// the benchmarks compile them. (The persistent grid, `persistent=true`,
// is not checked here: at the consumers' 240 registers ptxas spills 0 to
// 40 bytes for it depending on the module around identical PTX;
// docs/design/WgmmaKernel.md.)
// REQUIRES: ptxas
// RUN: rm -rf %t && split-file %s %t
// RUN: attn-opt %t/dense.mlir --attn-gpu-pipeline="target=sm_90a kernel=wgmma format=isa" --attn-export-artifacts="dir=%t/dense" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/dense/kernels.ptx -o %t/dense/kernels.cubin >> %t/report 2>&1
// RUN: attn-opt %t/neighborhood.mlir --attn-gpu-pipeline="target=sm_90a kernel=wgmma format=isa" --attn-export-artifacts="dir=%t/neighborhood" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/neighborhood/kernels.ptx -o %t/neighborhood/kernels.cubin >> %t/report 2>&1
// RUN: attn-opt %t/segments.mlir --attn-gpu-pipeline="target=sm_90a kernel=wgmma format=isa" --attn-export-artifacts="dir=%t/segments" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/segments/kernels.ptx -o %t/segments/kernels.cubin >> %t/report 2>&1
// RUN: attn-opt %t/head_dim_256.mlir --attn-gpu-pipeline="target=sm_90a kernel=wgmma format=isa" --attn-export-artifacts="dir=%t/head_dim_256" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/head_dim_256/kernels.ptx -o %t/head_dim_256/kernels.cubin >> %t/report 2>&1
// RUN: FileCheck %s < %t/report

// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)|C75[0-9][0-9]|serializ}}
// CHECK-COUNT-4: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)|C75[0-9][0-9]|serializ}}

//--- dense.mlir
func.func @dense(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
    outs(%o : memref<1x16x?x128xbf16>)
  return
}
//--- neighborhood.mlir
func.func @neighborhood(%q: memref<1x16x16384x128xbf16>, %o: memref<1x16x16384x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x16384x128xbf16>, memref<1x16x16384x128xbf16>, memref<1x16x16384x128xbf16>)
    outs(%o : memref<1x16x16384x128xbf16>) mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
  return
}
//--- segments.mlir
func.func @segments(%q: memref<1x16x35552x128xbf16>, %o: memref<1x16x35552x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x35552x128xbf16>, memref<1x16x35552x128xbf16>, memref<1x16x35552x128xbf16>)
    outs(%o : memref<1x16x35552x128xbf16>)
    mask = #attn.segments<query = [226, 226, 17550, 17550], visibility = [[full, none, full, full], [none, full, none, full], [full, none, full, full], [none, full, none, full]]>
  return
}
//--- head_dim_256.mlir
func.func @head_dim_256(%q: memref<1x4x?x256xbf16>, %o: memref<1x4x?x256xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x4x?x256xbf16>, memref<1x4x?x256xbf16>, memref<1x4x?x256xbf16>)
    outs(%o : memref<1x4x?x256xbf16>) mask = #attn.causal
  return
}
