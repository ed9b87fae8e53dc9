// A quantized precision through the whole GPU pipeline to PTX, and the
// manifest's scratch buffers (sized from run-time arguments).
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_89 format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/manifest.json

// sm_89 takes PTX 8.4 for the dense FP8 mma.sync.
// PTX: .version 8.4
// PTX: .target sm_89
// PTX-DAG: .entry attn_quantize_key_mean(
// PTX-DAG: .entry attn_quantize_quantize_k(
// PTX-DAG: .entry attn_quantize_quantize_v(
// PTX-DAG: .entry attn_fwd(
// PTX-DAG: cvt.rni.s32.f64
// PTX-DAG: mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32
// PTX-DAG: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// PTX-DAG: cvt.rn.satfinite.e4m3x2.f32
// PTX-DAG: cp.async.ca.shared.global [{{.*}}], [{{.*}}], 4

// The pre-kernels run first, then the attention kernel.
// MANIFEST: "kernels": [
// MANIFEST: "name": "attn_quantize_key_mean"
// MANIFEST: "name": "attn_quantize_quantize_k"
// MANIFEST: "name": "attn_quantize_quantize_q"
// MANIFEST: "name": "attn_quantize_value_max"
// MANIFEST: "name": "attn_quantize_quantize_v"
// MANIFEST: "name": "attn_fwd"
// MANIFEST: "scratch": [
// MANIFEST: "bytes": [
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "arg": "batch"
// MANIFEST-NEXT: },
// MANIFEST-NEXT: 2,
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "arg": "seq_k",
// MANIFEST-NEXT: "ceil_div": 256
// MANIFEST-NEXT: },
// MANIFEST-NEXT: 1024
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: "name": "k_mean_partial"
// MANIFEST: "name": "v_e4m3_t"

func.func @sage2_8b(%q: memref<1x2x?x128xf16>, %o: memref<1x2x?x128xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x?x128xf16>, memref<1x2x?x128xf16>, memref<1x2x?x128xf16>)
    outs(%o : memref<1x2x?x128xf16>) mask = #attn.causal precision = #attn.precision<sage2_8b>
  return
}
