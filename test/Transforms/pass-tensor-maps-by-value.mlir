// RUN: attn-opt %s -split-input-file -attn-pass-tensor-maps-by-value -verify-diagnostics | FileCheck %s
// Through the whole pipeline: the maps are 128-byte, 64-byte-aligned
// by-value parameters read in the parameter space.
// RUN: rm -rf %t && attn-opt %S/Inputs/dense-bf16.mlir --attn-gpu-pipeline="target=sm_90a format=isa" --attn-export-artifacts="dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/manifest.json

// PTX: .param .align 64 .b8 attn_fwd_param_{{[0-9]+}}[128]
// PTX: cvta.param.u64
// PTX: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// MANIFEST: "name": "k_tensor_map",
// MANIFEST-NEXT: "tensor_map": {
// MANIFEST-NEXT: "box": [
// MANIFEST-NEXT: 64,
// MANIFEST-NEXT: 128,
// MANIFEST-NEXT: 1,
// MANIFEST-NEXT: 1
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: "data_type": "bf16",
// MANIFEST-NEXT: "dims": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: 128
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: [
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "arg": "seq_k"
// MANIFEST: "strides": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: 2,
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "arg": "k_stride_n"
// MANIFEST: "swizzle": 128,
// MANIFEST-NEXT: "tensor": "k"
// MANIFEST: "type": "tensor_map"

// Only the parameters the launch record calls tensor maps change.
// CHECK-LABEL: llvm.func @kernel(
// CHECK-SAME: %{{.*}}: !llvm.ptr<1>,
// CHECK-SAME: %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
// CHECK-SAME: %{{.*}}: i32)
module attributes {gpu.container_module, attn.kernels = [{block = 128 : i64, grid = [[], [], []], name = "kernel", shared_bytes = 0 : i64, params = [["q", "ptr"], ["q_tensor_map", "tensor_map", {tensor = "q", data_type = "bf16", dims = [[{constant = 64 : i64}], [{constant = 1 : i64, arg = "seq_q", ceil_div = 1 : i64}]], strides = [[{constant = 128 : i64}]], box = [64, 64], swizzle = 128 : i64}], ["seq_q", "i32"]]}]} {
  gpu.module @attn_kernels {
    llvm.func @kernel(%q: !llvm.ptr<1>, %map: !llvm.ptr, %n: i32) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

// The record names a kernel the module lacks.
// expected-error @+1 {{attn-pass-tensor-maps-by-value: no llvm.func @missing with 1 parameters in @attn_kernels (run it after convert-gpu-to-nvvm)}}
module attributes {gpu.container_module, attn.kernels = [{block = 128 : i64, grid = [[], [], []], name = "missing", shared_bytes = 0 : i64, params = [["q_tensor_map", "tensor_map", {tensor = "q", data_type = "bf16", dims = [[{constant = 64 : i64}]], strides = [], box = [64], swizzle = 128 : i64}]]}]} {
  gpu.module @attn_kernels {
  }
}
