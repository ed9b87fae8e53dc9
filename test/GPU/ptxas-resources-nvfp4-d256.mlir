// NVFP4 at D = Dv = 256 on sm_120a: O takes 128 f32 registers per thread,
// so Q's E2M1 fragments are re-read from shared memory on every key tile
// instead of held in registers; the kernel and its pre-kernels compile
// without spills.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_120a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}
// CHECK-COUNT-5: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}

func.func @nvfp4_d256(%q: memref<1x16x?x256xbf16>, %o: memref<1x16x?x256xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>, memref<1x16x?x256xbf16>)
    outs(%o : memref<1x16x?x256xbf16>) precision = #attn.precision<nvfp4>
  return
}
