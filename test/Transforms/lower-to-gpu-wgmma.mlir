// The sm_90a warpgroup kernel (kernel = wgmma): one warpgroup per 64 query
// rows, S = Q K^T with both operands read through shared-memory
// descriptors, O += P V with P in registers and V read MN-major.
// RUN: attn-opt %s -split-input-file -attn-plan="target=sm_90a kernel=wgmma" -attn-sparsity -attn-lower-to-gpu="target=sm_90a kernel=wgmma" | FileCheck %s
// sm_90a's default for 16-bit precisions is the wgmma kernel (fallbacks:
// lower-to-gpu-wgmma-invalid.mlir).
// RUN: attn-opt %s -split-input-file -attn-plan=target=sm_90a -attn-lower-to-gpu=target=sm_90a | FileCheck %s --check-prefix=DEFAULT

// 128 query rows: two warpgroups (256 threads). Staged tiles start on the
// 1024-byte period of the 128-byte swizzle; Q plus two stages of K and V
// (128 x 128 tiles of D = 128) take 160 KB.
// CHECK-LABEL: func.func @causal_dynamic
// CHECK: gpu.launch_func @attn_kernels::@attn_fwd blocks in ({{.*}}) threads in (%c256, %c1{{.*}}) dynamic_shared_memory_size %c163840_i32
// CHECK: llvm.mlir.global external @attn_shared_memory() {addr_space = 3 : i32, alignment = 1024 : i64}
// CHECK: gpu.func @attn_fwd(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// cp.async writes through the generic proxy: each thread fences its copies
// for the async proxy wgmma reads through before the barrier.
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// S = Q K^T: 8 k16 steps over D = 128 with descriptors of Q and K (K-major,
// no transpose), the first overwriting the accumulator (scale-d 0).
// CHECK: llvm.ptrtoint {{.*}} : !llvm.ptr<3> to i64
// CHECK: "wgmma.fence.sync.aligned;"
// CHECK: "{ .reg .pred p; setp.ne.b32 p, 0, 0; wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK-COUNT-7: setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK: "wgmma.commit_group.sync.aligned;"
// The wait returns the accumulators it takes: every use of S depends on it.
// CHECK: llvm.inline_asm has_side_effects {{.*}} "wgmma.wait_group.sync.aligned 0;", "=f,{{.*}},0,1,2,
// CHECK-SAME: -> !llvm.struct<(f32,
// The mask only on partial tiles, then the online softmax.
// CHECK: attn.partial_tile_mask
// CHECK: nvvm.shfl.sync bfly
// O += P V: 8 k16 steps over 128 keys, P's four b32 registers per step, V
// MN-major (trans-b 1), N = Dv = 128.
// CHECK: "wgmma.fence.sync.aligned;"
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, {$64, $65, $66, $67}, $68, p, 1, 1, 1; }"
// CHECK: "wgmma.commit_group.sync.aligned;"
// The wait also reads P's 32 registers, which stay live until the products
// that read them are done.
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,{{.*}},63,r,r,
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @causal_dynamic
func.func @causal_dynamic(%q: memref<?x4x?x128xbf16>, %k: memref<?x2x?x128xbf16>,
                          %v: memref<?x2x?x128xbf16>, %o: memref<?x4x?x128xbf16>,
                          %lse: memref<?x4x?xf32>) {
  attn.attention ins(%q, %k, %v : memref<?x4x?x128xbf16>, memref<?x2x?x128xbf16>, memref<?x2x?x128xbf16>)
    outs(%o : memref<?x4x?x128xbf16>, %lse : memref<?x4x?xf32>) mask = #attn.causal
  return
}

// -----

// D = 32: 64-byte rows use the 64-byte swizzle (descriptor mode 2, stride
// 512 bytes per 8 rows) and one k16 step per 32 bytes; a 2-D neighborhood
// gets the plan's 8 x 8 query patch (one warpgroup) and 8 x 16 key patch.
// CHECK-LABEL: func.func @small_head_grid
// CHECK: threads in (%c128, %c1
// CHECK: gpu.func @attn_fwd(
// CHECK: arith.constant -9223371899415756800 : i64
// CHECK: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}, $64, $65, p, 1, 1, 0, 0; }"
// CHECK: wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {{.*}}, {$16, $17, $18, $19}, $20, p, 1, 1, 1; }"
// DEFAULT: attn.kernel_family = "wgmma"
// DEFAULT: func.func @small_head_grid
func.func @small_head_grid(%q: memref<1x2x1024x32xf16>, %o: memref<1x2x1024x32xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x1024x32xf16>, memref<1x2x1024x32xf16>, memref<1x2x1024x32xf16>)
    outs(%o : memref<1x2x1024x32xf16>) mask = #attn.neighborhood<grid = [32, 32], window = [5, 5]>
  return
}
