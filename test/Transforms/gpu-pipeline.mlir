// The whole GPU pipeline to PTX (LLVM only) and the exported manifest.
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_80 format=isa" --attn-export-artifacts="dir=%t" | FileCheck %s
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/manifest.json
// Every chip of the target table compiles its default kernel for itself
// (mma.sync; wgmma on sm_90a), with the PTX version its table row names
// (sm_89 and sm_90a: 8.4).
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_86 format=isa" --attn-export-artifacts="dir=%t/sm86" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM86 < %t/sm86/kernels.ptx
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_89 format=isa" --attn-export-artifacts="dir=%t/sm89" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM89 < %t/sm89/kernels.ptx
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t/sm90" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM90 < %t/sm90/kernels.ptx
// RUN: FileCheck %s --check-prefix=SM90-MANIFEST < %t/sm90/manifest.json
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_90a kernel=mma_sync format=isa" -o - | FileCheck %s --check-prefix=SM90-KERNEL
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_100a format=isa" --attn-export-artifacts="dir=%t/sm100" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM100 < %t/sm100/kernels.ptx
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_120a format=isa" --attn-export-artifacts="dir=%t/sm120" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM120 < %t/sm120/kernels.ptx
// RUN: attn-opt %s --attn-gpu-pipeline="target=sm_120f format=isa" --attn-export-artifacts="dir=%t/sm120f" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM120F < %t/sm120f/kernels.ptx
// RUN: FileCheck %s --check-prefix=SM120F-MANIFEST < %t/sm120f/manifest.json
// RUN: not attn-opt %s --attn-gpu-pipeline="target=sm_90 format=isa" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not attn-opt %s --attn-export-artifacts="dir=%t/none" 2>&1 | FileCheck %s --check-prefix=NOBINARY
// RUN: not attn-opt %s --attn-export-artifacts 2>&1 | FileCheck %s --check-prefix=NODIR

// CHECK: func.func @window
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd
// CHECK: gpu.binary @attn_kernels

// PTX: .target sm_80
// PTX: .entry attn_fwd(
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16

// SM86: .target sm_86
// SM86: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM89: .version 8.4
// SM89: .target sm_89
// SM89: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM90: .version 8.4
// SM90: .target sm_90a
// SM90: .maxntid 384, 1, 1
// SM90: .minnctapersm 1
// SM90: mbarrier.init.shared::cta.b64
// SM90: setmaxnreg.dec.sync.aligned.u32 24
// SM90: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// SM90: setmaxnreg.inc.sync.aligned.u32 240
// SM90: mbarrier.try_wait.parity.shared::cta.b64
// SM90: wgmma.fence.sync.aligned
// SM90: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// SM90: wgmma.commit_group.sync.aligned
// SM90: wgmma.wait_group.sync.aligned 1
// SM90-MANIFEST: "chip": "sm_90a"
// SM90-MANIFEST: "kernel": "wgmma"
// SM90-KERNEL: attn.kernel_family = "mma_sync"
// SM90-KERNEL: #nvvm.target<O = 3, chip = "sm_90a", features = "+ptx84">
// SM100: .target sm_100a
// SM100: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM120: .target sm_120a
// SM120: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM120F: .version 8.8
// SM120F: .target sm_120f
// SM120F: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM120F-MANIFEST: "chip": "sm_120f"
// CHIP: error: attn-plan: unknown target 'sm_90', expected cpu, sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a, sm_120f

// MANIFEST: "binary": "kernels.ptx"
// MANIFEST: "binary_format": "ptx"
// MANIFEST: "chip": "sm_80"
// Dynamic batch and lengths: no fixed arguments.
// MANIFEST-NOT: fixed_arguments
// MANIFEST: "format": "attn-kernels"
// MANIFEST: "block": [
// MANIFEST-NEXT: 256,
// MANIFEST: "grid": [
// MANIFEST: "arg": "seq_q",
// MANIFEST-NEXT: "ceil_div": 128
// MANIFEST: "name": "attn_fwd"
// MANIFEST: "name": "q",
// MANIFEST-NEXT: "type": "ptr"
// MANIFEST: "name": "seq_k",
// MANIFEST-NEXT: "type": "i32"
// MANIFEST: "shared_bytes": 98304

// NOBINARY: attn-export-artifacts: no gpu.binary @attn_kernels with an attn.kernels launch description
// NODIR: attn-export-artifacts: the dir option is required

func.func @window(%q: memref<?x2x?x128xf16>, %o: memref<?x2x?x128xf16>) {
  attn.attention ins(%q, %q, %q : memref<?x2x?x128xf16>, memref<?x2x?x128xf16>, memref<?x2x?x128xf16>)
    outs(%o : memref<?x2x?x128xf16>) mask = #attn.sliding_window<left = 256, right = 0>
  return
}
