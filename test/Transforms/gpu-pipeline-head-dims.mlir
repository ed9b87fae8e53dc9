// Head dims that are multiples of 8 but not of a staged layout's width are
// staged padded (getStagedHeadDim): D = 80 and Dv = 72 as 128.
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_80 -attn-sparsity -attn-lower-to-gpu | FileCheck %s --check-prefix=CPASYNC
// RUN: rm -rf %t && attn-opt %s --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx

// cp.async: a K row's 16-byte chunks from 10 on (80 bf16) and a V row's
// from 9 on (72 bf16) zero-fill; O's channels from 72 on are not stored.
// CPASYNC-LABEL: gpu.func @attn_fwd
// CPASYNC: %[[KCHUNKS:.*]] = arith.constant 10 : index
// CPASYNC-NEXT: arith.cmpi slt, %{{.*}}, %[[KCHUNKS]] : index
// CPASYNC: %[[VCHUNKS:.*]] = arith.constant 9 : index
// CPASYNC-NEXT: arith.cmpi slt, %{{.*}}, %[[VCHUNKS]] : index
// CPASYNC: %[[DV:.*]] = arith.constant 72 : index
// CPASYNC-NEXT: %[[STORED:.*]] = arith.cmpi slt, %{{.*}}, %[[DV]] : index
// CPASYNC-NEXT: scf.if %[[STORED]]

// Tensor copies: the maps' innermost dims are the tensors' (80, 80, 72)
// under 64-element boxes, so the elements past them arrive as zeros.
// MANIFEST: "kernel": "wgmma"
// MANIFEST: "box": [
// MANIFEST-NEXT: 64,
// MANIFEST: "dims": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: 80
// MANIFEST: "tensor": "q"
// MANIFEST: "dims": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: 80
// MANIFEST: "tensor": "k"
// MANIFEST: "dims": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: 72
// MANIFEST: "tensor": "v"

// S = Q K^T over the staged 128 channels; O over Dv staged as 128.
// PTX: .target sm_90a
// PTX: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16

func.func @padded(%q: memref<?x2x?x80xbf16, strided<[?, ?, ?, 1]>>, %k: memref<?x1x?x80xbf16, strided<[?, ?, ?, 1]>>,
                  %v: memref<?x1x?x72xbf16, strided<[?, ?, ?, 1]>>, %o: memref<?x2x?x72xbf16, strided<[?, ?, ?, 1]>>) {
  attn.attention ins(%q, %k, %v : memref<?x2x?x80xbf16, strided<[?, ?, ?, 1]>>, memref<?x1x?x80xbf16, strided<[?, ?, ?, 1]>>, memref<?x1x?x72xbf16, strided<[?, ?, ?, 1]>>)
    outs(%o : memref<?x2x?x72xbf16, strided<[?, ?, ?, 1]>>) mask = #attn.causal
  return
}
