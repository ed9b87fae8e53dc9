// The NVFP4 preset (bf16 D = 128 inputs) compiles for the block-scaled
// mma.sync of sm_120a and of the sm_12x family target, and for sm_90a with
// those instructions emulated: its four pre-kernels and the attention
// kernel without spills, and PTX that names the instruction only where it
// exists.
// REQUIRES: ptxas
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: %ptxas -arch=sm_120a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120f format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: %ptxas -arch=sm_120f -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a emulate-block-scaled-mma=true format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=EMULATED < %t/kernels.ptx
// RUN: %ptxas -arch=sm_90a -O3 -v %t/kernels.ptx -o %t/kernels.cubin 2>&1 | FileCheck %s

// PTX: .target sm_120a
// PTX: cvt.rn.satfinite.e2m1x2.f32
// PTX: mma.sync.aligned.m16n8k64.row.col.kind::mxf4nvf4.block_scale.scale_vec::4X.f32.e2m1.e2m1.f32.ue4m3
// EMULATED: .target sm_90a
// EMULATED-NOT: e2m1
// EMULATED-NOT: block_scale
// EMULATED: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// EMULATED-NOT: e2m1
// EMULATED-NOT: block_scale

// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}
// CHECK-COUNT-5: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NOT: {{[1-9][0-9]* bytes (stack frame|spill)}}

func.func @nvfp4(%q: memref<1x16x?x128xbf16>, %o: memref<1x16x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>, memref<1x16x?x128xbf16>)
    outs(%o : memref<1x16x?x128xbf16>) precision = #attn.precision<nvfp4>
  return
}
