// RUN: attn-opt %s -split-input-file -attn-quantize | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-quantize | attn-opt -split-input-file | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-quantize -attn-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// sage1 on tensors: the K mean, then Q and K quantized to i8 per block of
// 64 tokens (K minus its mean); P.V in f16 on f16 V needs no V step.
// CHECK-LABEL: func.func @sage1
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x2x77x40xf16>, %[[K:[^:]*]]: tensor<1x2x77x40xf16>, %[[V:[^:]*]]: tensor<1x2x77x24xf16>
// CHECK: %[[KM0:.*]] = tensor.empty() : tensor<1x2x40xf64>
// CHECK: %[[KM:.*]] = attn.key_mean ins(%[[K]] : tensor<1x2x77x40xf16>) outs(%[[KM0]] : tensor<1x2x40xf64>) -> tensor<1x2x40xf64>
// CHECK: %[[QV:.*]]:2 = attn.quantize_rows ins(%[[Q]] : tensor<1x2x77x40xf16>) outs(%{{.*}} : tensor<1x2x77x40xf32>, %{{.*}} : tensor<1x2x77x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = block(64)> -> tensor<1x2x77x40xf32>, tensor<1x2x77x1xf32>
// CHECK: %[[KV:.*]]:2 = attn.quantize_rows ins(%[[K]] : tensor<1x2x77x40xf16>) mean(%[[KM]] : tensor<1x2x40xf64>) outs(%{{.*}} : tensor<1x2x77x40xf32>, %{{.*}} : tensor<1x2x77x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = block(64)> -> tensor<1x2x77x40xf32>, tensor<1x2x77x1xf32>
// CHECK-NOT: attn.quantize_value
// CHECK: attn.attention ins(%[[Q]], %[[K]], %[[V]] : {{.*}}) quantized(key_mean = %[[KM]] : tensor<1x2x40xf64>, query = %[[QV]]#0 : tensor<1x2x77x40xf32>, query_scales = %[[QV]]#1 : tensor<1x2x77x1xf32>, key = %[[KV]]#0 : tensor<1x2x77x40xf32>, key_scales = %[[KV]]#1 : tensor<1x2x77x1xf32>) outs(
// CHECK-SAME: precision = #attn.precision<sage1>
// LLVM-LABEL: llvm.func @sage1
// LLVM-NOT: attn.
func.func @sage1(%q: tensor<1x2x77x40xf16>, %k: tensor<1x2x77x40xf16>, %v: tensor<1x2x77x24xf16>,
                 %o: tensor<1x2x77x24xf16>) -> tensor<1x2x77x24xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x2x77x40xf16>, tensor<1x2x77x40xf16>, tensor<1x2x77x24xf16>)
         outs(%o : tensor<1x2x77x24xf16>) precision = #attn.precision<sage1> -> tensor<1x2x77x24xf16>
  return %r : tensor<1x2x77x24xf16>
}

// -----

// sage2_8b with GQA (Hq = 4, Hkv = 2): Q per thread group of a 64-token
// block; K steps on the kv heads; V to FP8 with one scale per channel.
// CHECK-LABEL: func.func @sage2_8b_gqa
// CHECK: %[[KM:.*]] = attn.key_mean ins(%{{.*}} : tensor<1x2x33x40xf16>) outs(%{{.*}} : tensor<1x2x40xf64>)
// CHECK: %[[QV:.*]]:2 = attn.quantize_rows ins(%{{.*}} : tensor<1x4x29x40xf16>) outs(%{{.*}} : tensor<1x4x29x40xf32>, %{{.*}} : tensor<1x4x29x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = thread(64)>
// CHECK: %[[KV:.*]]:2 = attn.quantize_rows ins(%{{.*}} : tensor<1x2x33x40xf16>) mean(%[[KM]] : tensor<1x2x40xf64>) outs(%{{.*}} : tensor<1x2x33x40xf32>, %{{.*}} : tensor<1x2x33x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = thread(64)>
// CHECK: %[[VV:.*]]:2 = attn.quantize_value ins(%{{.*}} : tensor<1x2x33x24xf16>) outs(%{{.*}} : tensor<1x2x33x24xf32>, %{{.*}} : tensor<1x2x24xf32>) to = f8E4M3FN
// CHECK: attn.attention {{.*}} quantized(key_mean = %[[KM]] : {{[^,)]*}}, query = %[[QV]]#0 : {{[^,)]*}}, query_scales = %[[QV]]#1 : {{[^,)]*}}, key = %[[KV]]#0 : {{[^,)]*}}, key_scales = %[[KV]]#1 : {{[^,)]*}}, value = %[[VV]]#0 : tensor<1x2x33x24xf32>, value_scales = %[[VV]]#1 : tensor<1x2x24xf32>) outs(
// LLVM-LABEL: llvm.func @sage2_8b_gqa
func.func @sage2_8b_gqa(%q: tensor<1x4x29x40xf16>, %k: tensor<1x2x33x40xf16>, %v: tensor<1x2x33x24xf16>,
                        %o: tensor<1x4x29x24xf16>) -> tensor<1x4x29x24xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x29x40xf16>, tensor<1x2x33x40xf16>, tensor<1x2x33x24xf16>)
         outs(%o : tensor<1x4x29x24xf16>) mask = #attn.causal precision = #attn.precision<sage2_8b> -> tensor<1x4x29x24xf16>
  return %r : tensor<1x4x29x24xf16>
}

// -----

// sage2_4b: smooth_q adds the per-block Q means (blocks of 64: 2 for 77
// queries) and dS against K minus its mean; Q is quantized minus its block
// mean.
// CHECK-LABEL: func.func @sage2_4b
// CHECK: %[[KM:.*]] = attn.key_mean
// CHECK: %[[M0:.*]] = tensor.empty() : tensor<1x2x2x40xf64>
// CHECK: %[[DS0:.*]] = tensor.empty() : tensor<1x2x2x50xf32>
// CHECK: %[[QM:.*]]:2 = attn.query_block_mean ins(%{{.*}}, %{{.*}} : tensor<1x2x77x40xf16>, tensor<1x1x50x40xf16>) key_mean(%[[KM]] : tensor<1x1x40xf64>) outs(%[[M0]], %[[DS0]] : tensor<1x2x2x40xf64>, tensor<1x2x2x50xf32>) block_size = 64
// CHECK: %[[QV:.*]]:2 = attn.quantize_rows ins(%{{.*}} : tensor<1x2x77x40xf16>) mean(%[[QM]]#0 : tensor<1x2x2x40xf64>) outs({{.*}}) precision = #attn.precision<qk = i4, qk_granularity = thread(64)> mean_block_size = 64
// CHECK: %[[KV:.*]]:2 = attn.quantize_rows ins(%{{.*}} : tensor<1x1x50x40xf16>) mean(%[[KM]] : tensor<1x1x40xf64>)
// CHECK: %[[VV:.*]]:2 = attn.quantize_value {{.*}} to = f8E4M3FN
// CHECK: attn.attention {{.*}} quantized(key_mean = %[[KM]] : {{[^,)]*}}, query_block_mean = %[[QM]]#0 : {{[^,)]*}}, score_correction = %[[QM]]#1 : tensor<1x2x2x50xf32>, query = %[[QV]]#0 : {{[^,)]*}}, query_scales = %[[QV]]#1 : {{[^,)]*}}, key = %[[KV]]#0 : {{[^,)]*}}, key_scales = %[[KV]]#1 : {{[^,)]*}}, value = %[[VV]]#0 : {{[^,)]*}}, value_scales = %[[VV]]#1 : {{[^,)]*}}) outs(
// LLVM-LABEL: llvm.func @sage2_4b
func.func @sage2_4b(%q: tensor<1x2x77x40xf16>, %k: tensor<1x1x50x40xf16>, %v: tensor<1x1x50x24xf16>,
                    %o: tensor<1x2x77x24xf16>) -> tensor<1x2x77x24xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x2x77x40xf16>, tensor<1x1x50x40xf16>, tensor<1x1x50x24xf16>)
         outs(%o : tensor<1x2x77x24xf16>) precision = #attn.precision<sage2_4b> -> tensor<1x2x77x24xf16>
  return %r : tensor<1x2x77x24xf16>
}

// -----

// fp8: Q and K to E4M3 per block of 64 tokens, V to FP8 per channel.
// CHECK-LABEL: func.func @fp8
// CHECK: attn.key_mean
// CHECK: attn.quantize_rows {{.*}} precision = #attn.precision<qk = f8E4M3FN, qk_granularity = block(64)>
// CHECK: attn.quantize_rows {{.*}} mean({{.*}}) {{.*}} precision = #attn.precision<qk = f8E4M3FN, qk_granularity = block(64)>
// CHECK: attn.quantize_value {{.*}} outs(%{{.*}} : tensor<2x1x19x8xf32>, %{{.*}} : tensor<2x1x8xf32>) to = f8E4M3FN
// CHECK: attn.attention {{.*}} quantized(key_mean = {{[^,)]*}}, query = {{[^,)]*}}, query_scales = {{[^,)]*}}, key = {{[^,)]*}}, key_scales = {{[^,)]*}}, value = {{[^,)]*}}, value_scales = {{[^,)]*}}) outs(
func.func @fp8(%q: tensor<2x1x19x16xf16>, %k: tensor<2x1x19x16xf16>, %v: tensor<2x1x19x8xf16>,
               %o: tensor<2x1x19x8xf16>) -> tensor<2x1x19x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<2x1x19x16xf16>, tensor<2x1x19x16xf16>, tensor<2x1x19x8xf16>)
         outs(%o : tensor<2x1x19x8xf16>) precision = #attn.precision<fp8> -> tensor<2x1x19x8xf16>
  return %r : tensor<2x1x19x8xf16>
}

// -----

// nvfp4: one E4M3 scale per 16 channels (3 for D = 40); V dequantized in
// blocks of 16 keys, without channel scales. P's two-level rounding stays
// in the main loop.
// CHECK-LABEL: func.func @nvfp4
// CHECK: attn.key_mean
// CHECK: attn.quantize_rows {{.*}} outs(%{{.*}} : tensor<1x1x21x40xf32>, %{{.*}} : tensor<1x1x21x3xf32>) precision = #attn.precision<qk = f4E2M1FN>
// CHECK: attn.quantize_rows {{.*}} mean({{.*}}) outs(%{{.*}} : tensor<1x1x21x40xf32>, %{{.*}} : tensor<1x1x21x3xf32>) precision = #attn.precision<qk = f4E2M1FN>
// CHECK: %[[VV:.*]] = attn.quantize_value ins(%{{.*}} : tensor<1x1x21x8xbf16>) outs(%{{.*}} : tensor<1x1x21x8xf32>) to = f4E2M1FN -> tensor<1x1x21x8xf32>
// CHECK: attn.attention {{.*}} key_scales = {{.*}}, value = %[[VV]] : tensor<1x1x21x8xf32>) outs(
func.func @nvfp4(%q: tensor<1x1x21x40xbf16>, %k: tensor<1x1x21x40xbf16>, %v: tensor<1x1x21x8xbf16>,
                 %o: tensor<1x1x21x8xbf16>) -> tensor<1x1x21x8xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x1x21x40xbf16>, tensor<1x1x21x40xbf16>, tensor<1x1x21x8xbf16>)
         outs(%o : tensor<1x1x21x8xbf16>) precision = #attn.precision<nvfp4> -> tensor<1x1x21x8xbf16>
  return %r : tensor<1x1x21x8xbf16>
}

// -----

// Memrefs with a run-time length: destinations are memref.alloc sized by
// memref.dim (blocks = ceil(Nq / 64)), freed after the op.
// CHECK-LABEL: func.func @memref_dynamic
// CHECK-SAME: (%[[Q:[^:]*]]: memref<1x2x?x16xf16>, %[[K:[^:]*]]: memref<1x2x?x16xf16>
// CHECK-DAG: %[[NQ:.*]] = memref.dim %[[Q]], %c2
// CHECK-DAG: %[[NK:.*]] = memref.dim %[[K]], %c2
// CHECK: %[[KM:.*]] = memref.alloc() : memref<1x2x16xf64>
// CHECK: attn.key_mean ins(%[[K]] : memref<1x2x?x16xf16>) outs(%[[KM]] : memref<1x2x16xf64>)
// CHECK-NOT: ->
// CHECK: %[[BLOCKS:.*]] = arith.ceildivsi %[[NQ]], %c64
// CHECK: %[[QM:.*]] = memref.alloc(%[[BLOCKS]]) : memref<1x2x?x16xf64>
// CHECK: %[[DS:.*]] = memref.alloc(%[[BLOCKS]], %[[NK]]) : memref<1x2x?x?xf32>
// CHECK: attn.query_block_mean ins(%[[Q]], %[[K]] : {{.*}}) key_mean(%[[KM]] : memref<1x2x16xf64>) outs(%[[QM]], %[[DS]] : {{.*}}) block_size = 64
// CHECK: %[[QV:.*]] = memref.alloc(%[[NQ]]) : memref<1x2x?x16xf32>
// CHECK: attn.quantize_rows ins(%[[Q]] : {{.*}}) mean(%[[QM]] : {{.*}}) outs(%[[QV]] : memref<1x2x?x16xf32>) mean_block_size = 64
// CHECK: %[[KV:.*]] = memref.alloc(%[[NK]]) : memref<1x2x?x16xf32>
// CHECK: attn.quantize_rows ins(%[[K]] : {{.*}}) mean(%[[KM]] : {{.*}}) outs(%[[KV]] : memref<1x2x?x16xf32>)
// CHECK: attn.attention {{.*}} quantized(key_mean = %[[KM]] : {{[^,)]*}}, query_block_mean = %[[QM]] : {{[^,)]*}}, score_correction = %[[DS]] : {{[^,)]*}}, query = %[[QV]] : {{[^,)]*}}, key = %[[KV]] : {{[^,)]*}}) outs(
// CHECK-DAG: memref.dealloc %[[KM]]
// CHECK-DAG: memref.dealloc %[[QM]]
// CHECK-DAG: memref.dealloc %[[DS]]
// CHECK-DAG: memref.dealloc %[[QV]]
// CHECK-DAG: memref.dealloc %[[KV]]
// CHECK: return
// LLVM-LABEL: llvm.func @memref_dynamic
// LLVM-NOT: attn.
func.func @memref_dynamic(%q: memref<1x2x?x16xf16>, %k: memref<1x2x?x16xf16>, %v: memref<1x2x?x8xf16>,
                          %o: memref<1x2x?x8xf16>) {
  attn.attention ins(%q, %k, %v : memref<1x2x?x16xf16>, memref<1x2x?x16xf16>, memref<1x2x?x8xf16>)
    outs(%o : memref<1x2x?x8xf16>) precision = #attn.precision<smooth_k, smooth_q>
  return
}

// -----

// A 16-bit qk other than the data's type rounds Q and K without scales.
// CHECK-LABEL: func.func @round_to_bf16
// CHECK: attn.quantize_rows ins(%{{.*}} : memref<1x1x9x8xf16>) outs(%{{.*}} : memref<1x1x9x8xf32>) precision = #attn.precision<qk = bf16>
// CHECK: attn.quantize_rows ins(%{{.*}} : memref<1x1x9x8xf16>) outs(%{{.*}} : memref<1x1x9x8xf32>) precision = #attn.precision<qk = bf16>
// CHECK: attn.quantize_value ins(%{{.*}} : memref<1x1x9x8xf16>) outs(%{{.*}} : memref<1x1x9x8xf32>) to = bf16
// CHECK: attn.attention {{.*}} quantized(query = {{[^,)]*}}, key = {{[^,)]*}}, value = {{[^,)]*}}) outs(
func.func @round_to_bf16(%q: memref<1x1x9x8xf16>, %o: memref<1x1x9x8xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x1x9x8xf16>, memref<1x1x9x8xf16>, memref<1x1x9x8xf16>)
    outs(%o : memref<1x1x9x8xf16>) precision = #attn.precision<qk = bf16, pv = bf16>
  return
}

// -----

// Head groups with their own precision get their own bundle (group = g);
// a group with only a mask uses the op's. Each bundle quantizes all heads.
// CHECK-LABEL: func.func @head_groups
// CHECK: %[[KM:.*]] = attn.key_mean
// CHECK: %[[QV:.*]]:2 = attn.quantize_rows {{.*}} precision = #attn.precision<qk = i8, qk_granularity = block(64)>
// CHECK: %[[KV:.*]]:2 = attn.quantize_rows {{.*}} precision = #attn.precision<qk = i8, qk_granularity = block(64)>
// CHECK: %[[GKM:.*]] = attn.key_mean
// CHECK: %[[GQV:.*]]:2 = attn.quantize_rows {{.*}} outs(%{{.*}} : tensor<1x4x17x16xf32>, %{{.*}} : tensor<1x4x17x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = thread(64)>
// CHECK: %[[GKV:.*]]:2 = attn.quantize_rows {{.*}} precision = #attn.precision<qk = i8, qk_granularity = thread(64)>
// CHECK: %[[GVV:.*]]:2 = attn.quantize_value {{.*}} to = f8E4M3FN
// CHECK: attn.attention
// CHECK-SAME: quantized(key_mean = %[[KM]] : {{[^,)]*}}, query = %[[QV]]#0 : {{[^,)]*}}, query_scales = %[[QV]]#1 : {{[^,)]*}}, key = %[[KV]]#0 : {{[^,)]*}}, key_scales = %[[KV]]#1 : {{[^,)]*}})
// CHECK-SAME: quantized(group = 1, key_mean = %[[GKM]] : {{[^,)]*}}, query = %[[GQV]]#0 : {{[^,)]*}}, query_scales = %[[GQV]]#1 : {{[^,)]*}}, key = %[[GKV]]#0 : {{[^,)]*}}, key_scales = %[[GKV]]#1 : {{[^,)]*}}, value = %[[GVV]]#0 : {{[^,)]*}}, value_scales = %[[GVV]]#1 : {{[^,)]*}}) outs(
// LLVM-LABEL: llvm.func @head_groups
// LLVM-NOT: attn.
func.func @head_groups(%q: tensor<1x4x17x16xf16>, %k: tensor<1x2x17x16xf16>, %v: tensor<1x2x17x8xf16>,
                       %o: tensor<1x4x17x8xf16>) -> tensor<1x4x17x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x17x16xf16>, tensor<1x2x17x16xf16>, tensor<1x2x17x8xf16>)
         outs(%o : tensor<1x4x17x8xf16>) mask = #attn.causal precision = #attn.precision<sage1>
         heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.sliding_window<left = 2, right = 0>>,
                                       #attn.head_group<heads = [1, 3], precision = #attn.precision<sage2_8b>>]>
         -> tensor<1x4x17x8xf16>
  return %r : tensor<1x4x17x8xf16>
}

// -----

// When head groups with their own precision cover every head, the op's
// precision computes nothing and gets no bundle.
// CHECK-LABEL: func.func @groups_cover_all_heads
// CHECK-COUNT-1: attn.key_mean
// CHECK-NOT: attn.key_mean
// CHECK: attn.attention {{.*}} quantized(group = 0, key_mean = {{[^,)]*}}, key = {{[^,)]*}}) outs(
func.func @groups_cover_all_heads(%q: memref<1x2x9x8xf16>, %o: memref<1x2x9x8xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x9x8xf16>, memref<1x2x9x8xf16>, memref<1x2x9x8xf16>)
    outs(%o : memref<1x2x9x8xf16>) precision = #attn.precision<sage1>
    heads = #attn.heads<groups = [#attn.head_group<heads = [0, 1], precision = #attn.precision<smooth_k>>]>
  return
}

// -----

// Precisions without pre-steps (P.V in V's own type) and ops that already
// read a bundle are left alone.
// CHECK-LABEL: func.func @nothing_to_split
// CHECK-NOT: attn.key_mean
// CHECK-NOT: attn.quantize
// CHECK: attn.attention {{.*}} outs(%{{.*}} : memref<1x1x9x8xf16>) precision = #attn.precision<pv = f16>
// CHECK: attn.attention {{.*}} quantized(key_mean = %{{.*}} : memref<1x1x8xf64>, key = %{{.*}} : memref<1x1x9x8xf32>) outs(
// CHECK-NOT: attn.key_mean
func.func @nothing_to_split(%q: memref<1x1x9x8xf16>, %o: memref<1x1x9x8xf16>, %km: memref<1x1x8xf64>,
                            %kq: memref<1x1x9x8xf32>) {
  attn.attention ins(%q, %q, %q : memref<1x1x9x8xf16>, memref<1x1x9x8xf16>, memref<1x1x9x8xf16>)
    outs(%o : memref<1x1x9x8xf16>) precision = #attn.precision<pv = f16>
  attn.attention ins(%q, %q, %q : memref<1x1x9x8xf16>, memref<1x1x9x8xf16>, memref<1x1x9x8xf16>)
    quantized(key_mean = %km : memref<1x1x8xf64>, key = %kq : memref<1x1x9x8xf32>)
    outs(%o : memref<1x1x9x8xf16>) precision = #attn.precision<smooth_k>
  return
}
