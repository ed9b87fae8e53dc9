// E4M3 Q.K and P.V (the fp8 preset) on the mma.sync kernel: sm_120a and
// the sm_12x family take the `kind::f8f6f4` form (PTX 8.7), sm_89 and
// Hopper the legacy form (PTX 8.4), with the same fragments.
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM120 < %t/kernels.ptx
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_120f format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM120 < %t/kernels.ptx
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_89 format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM89 < %t/kernels.ptx

// SM120-NOT: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// SM120: mma.sync.aligned.m16n8k32.row.col.kind::f8f6f4.f32.e4m3.e4m3.f32
// SM120-NOT: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// SM89-NOT: kind::f8f6f4
// SM89: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// SM89-NOT: kind::f8f6f4

func.func @fp8(%q: memref<1x4x?x128xbf16>, %o: memref<1x4x?x128xbf16>) {
  attn.attention ins(%q, %q, %q : memref<1x4x?x128xbf16>, memref<1x4x?x128xbf16>, memref<1x4x?x128xbf16>)
    outs(%o : memref<1x4x?x128xbf16>) precision = #attn.precision<fp8>
  return
}
