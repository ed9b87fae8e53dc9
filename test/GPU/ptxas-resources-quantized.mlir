// The int8 Q.K kernel of sage1 (bf16 D = 128 inputs, the benchmark
// configuration) and its four pre-kernels compile without spills.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a kernel=mma_sync format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120f format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_120f -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}
// CHECK-COUNT-5: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}

func.func @sage1(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
    outs(%o : memref<1x16x?x128xbf16>) precision = #attn.precision<sage1>
  return
}
