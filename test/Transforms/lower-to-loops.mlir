// RUN: attn-opt %s -split-input-file -attn-lower-to-loops="query-tile=4 key-tile=8" | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: attn-opt %s -split-input-file -attn-lower-to-loops | FileCheck %s --check-prefix=DEFAULT

// The tiled loop nest: batch x heads x query tiles, then key tiles, with the
// online-softmax state in f32 scratch buffers.
// CHECK-LABEL: func.func @causal
// CHECK-NOT: attn.attention
// CHECK-DAG: memref.alloc() : memref<4xf32>
// CHECK-DAG: memref.alloc(%{{.*}}) : memref<4x?xf32>
// CHECK-DAG: memref.alloc() : memref<8xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[KV:.*]] = arith.divsi
// CHECK: scf.for
// The causal predicate j <= i, from the mask attribute's emitKeep.
// CHECK: arith.cmpi sle
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst
// CHECK: arith.maximumf
// CHECK: math.exp
// P is rounded to V's element type before P.V.
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: math.log
// CHECK: memref.dealloc
// LLVM-LABEL: llvm.func @causal
// LLVM-NOT: attn.
// LLVM-NOT: scf.
// LLVM-NOT: memref.
func.func @causal(%q: memref<1x2x10x8xf16>, %k: memref<1x1x10x8xf16>, %v: memref<1x1x10x4xf16>,
                  %o: memref<1x2x10x4xf16>, %lse: memref<1x2x10xf32>) {
  attn.attention ins(%q, %k, %v : memref<1x2x10x8xf16>, memref<1x1x10x8xf16>, memref<1x1x10x4xf16>)
    outs(%o : memref<1x2x10x4xf16>, %lse : memref<1x2x10xf32>) mask = #attn.causal
  return
}

// -----

// Dense attention needs no predicate; run-time shapes read their sizes
// with memref.dim, and a run-time D gives scale = rsqrt(D).
// CHECK-LABEL: func.func @dynamic_dense
// CHECK-NOT: arith.cmpi sle
// CHECK: math.rsqrt
// LLVM-LABEL: llvm.func @dynamic_dense
func.func @dynamic_dense(%q: memref<?x?x?x?xf32>, %k: memref<?x?x?x?xf32>, %v: memref<?x?x?x?xf32>,
                         %o: memref<?x?x?x?xf32>) {
  attn.attention ins(%q, %k, %v : memref<?x?x?x?xf32>, memref<?x?x?x?xf32>, memref<?x?x?x?xf32>)
    outs(%o : memref<?x?x?x?xf32>)
  return
}

// -----

// Run-time segment offsets are loaded per batch element.
// CHECK-LABEL: func.func @runtime_segments
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<2x3xi32>
// CHECK: arith.index_cast
func.func @runtime_segments(%q: memref<2x1x12x4xf32>, %o: memref<2x1x12x4xf32>, %offsets: memref<2x3xi32>) {
  attn.attention ins(%q, %q, %q : memref<2x1x12x4xf32>, memref<2x1x12x4xf32>, memref<2x1x12x4xf32>)
    segment_offsets(%offsets : memref<2x3xi32>)
    outs(%o : memref<2x1x12x4xf32>)
    mask = #attn.segments<query = [?, ?], visibility = [[causal, none], [full, causal]]>
  return
}

// -----

// sage2_8b: pre-passes quantize Q and K' = K - mean(K) to i8 per scale group
// (f64 arithmetic, f32 scales) and V to FP8 per channel; P is scaled by 448
// and rounded to E4M3 in the main loop; the LSE gets scale * q.mean(K) back.
// CHECK-LABEL: func.func @sage2_8b
// CHECK: arith.divf %{{.*}}, %{{.*}} : f64
// CHECK: math.roundeven %{{.*}} : f64
// CHECK: math.log2
// CHECK: math.roundeven %{{.*}} : f32
// CHECK: memref.dealloc
// LLVM-LABEL: llvm.func @sage2_8b
func.func @sage2_8b(%q: memref<1x1x40x16xf16>, %v: memref<1x1x40x8xf16>, %o: memref<1x1x40x8xf16>, %lse: memref<1x1x40xf32>) {
  attn.attention ins(%q, %q, %v : memref<1x1x40x16xf16>, memref<1x1x40x16xf16>, memref<1x1x40x8xf16>)
    outs(%o : memref<1x1x40x8xf16>, %lse : memref<1x1x40xf32>) precision = #attn.precision<sage2_8b>
  return
}

// -----

// The flat tiling of attn-plan sets the tile sizes (scratch of 5 queries
// and 7 keys) when the pass options do not.
// DEFAULT-LABEL: func.func @planned
// DEFAULT-DAG: memref.alloc() : memref<5xf32>
// DEFAULT-DAG: memref.alloc() : memref<7xf32>
func.func @planned(%q: memref<1x1x12x4xf32>, %o: memref<1x1x12x4xf32>) {
  attn.attention ins(%q, %q, %q : memref<1x1x12x4xf32>, memref<1x1x12x4xf32>, memref<1x1x12x4xf32>)
    outs(%o : memref<1x1x12x4xf32>) mask = #attn.causal tiling = #attn.tiling<query = [5], key = [7]>
  return
}

// -----

// An N-D tiling walks boxes of the grid: 2x3 query patches and 2x2 key
// patches of the 4x6 grid (scratch of 6 queries and 4 keys), clipped at
// its edges.
// DEFAULT-LABEL: func.func @grid_tiles
// DEFAULT-DAG: memref.alloc() : memref<6xf32>
// DEFAULT-DAG: memref.alloc() : memref<4xf32>
// DEFAULT: arith.remui
// DEFAULT: arith.divui
func.func @grid_tiles(%q: memref<1x1x24x4xf32>, %o: memref<1x1x24x4xf32>) {
  attn.attention ins(%q, %q, %q : memref<1x1x24x4xf32>, memref<1x1x24x4xf32>, memref<1x1x24x4xf32>)
    outs(%o : memref<1x1x24x4xf32>) mask = #attn.neighborhood<grid = [4, 6], window = [3, 3]>
    tiling = #attn.tiling<query = [2, 3], key = [2, 2]>
  return
}

// -----

// The pre-steps of attn-quantize lower to loops writing their buffers;
// the op reads its bundle and computes no quantization of its own: K is
// reduced to its mean once (by the attn.key_mean loops), the main loop
// reads Q' and K' with their scales.
// CHECK-LABEL: func.func @quantized_bundle
// CHECK-NOT: attn.
// CHECK: memref.store %{{.*}}, %[[KM:.*]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x8xf64>
// CHECK: math.roundeven
// CHECK: math.roundeven
// CHECK-NOT: math.roundeven
// CHECK: memref.load %[[KM]]
// CHECK-NOT: memref.store %{{.*}}, %[[KM]][
// CHECK: return
// LLVM-LABEL: llvm.func @quantized_bundle
func.func @quantized_bundle(%q: memref<1x1x10x8xf16>, %o: memref<1x1x10x8xf16>, %lse: memref<1x1x10xf32>) {
  %km = memref.alloc() : memref<1x1x8xf64>
  %qv = memref.alloc() : memref<1x1x10x8xf32>
  %qs = memref.alloc() : memref<1x1x10x1xf32>
  %kv = memref.alloc() : memref<1x1x10x8xf32>
  %ks = memref.alloc() : memref<1x1x10x1xf32>
  attn.key_mean ins(%q : memref<1x1x10x8xf16>) outs(%km : memref<1x1x8xf64>)
  attn.quantize_rows ins(%q : memref<1x1x10x8xf16>) outs(%qv : memref<1x1x10x8xf32>, %qs : memref<1x1x10x1xf32>)
    precision = #attn.precision<qk = i8, qk_granularity = token>
  attn.quantize_rows ins(%q : memref<1x1x10x8xf16>) mean(%km : memref<1x1x8xf64>)
    outs(%kv : memref<1x1x10x8xf32>, %ks : memref<1x1x10x1xf32>) precision = #attn.precision<qk = i8, qk_granularity = token>
  attn.attention ins(%q, %q, %q : memref<1x1x10x8xf16>, memref<1x1x10x8xf16>, memref<1x1x10x8xf16>)
    quantized(key_mean = %km : memref<1x1x8xf64>, query = %qv : memref<1x1x10x8xf32>, query_scales = %qs : memref<1x1x10x1xf32>,
              key = %kv : memref<1x1x10x8xf32>, key_scales = %ks : memref<1x1x10x1xf32>)
    outs(%o : memref<1x1x10x8xf16>, %lse : memref<1x1x10xf32>)
    precision = #attn.precision<qk = i8, qk_granularity = token, smooth_k>
  memref.dealloc %km : memref<1x1x8xf64>
  memref.dealloc %qv : memref<1x1x10x8xf32>
  memref.dealloc %qs : memref<1x1x10x1xf32>
  memref.dealloc %kv : memref<1x1x10x8xf32>
  memref.dealloc %ks : memref<1x1x10x1xf32>
  return
}

// -----

// attn.attention_grad: f32 accumulators of dQ, dK, dV (zeroed), Dlt per row
// and one key tile of dK and dV; the causal key tile walks the query tiles
// from its query range, P is recomputed from the LSE, and the gradients are
// stored in their element types.
// CHECK-LABEL: func.func @causal_grad
// CHECK-NOT: attn.attention_grad
// CHECK-DAG: memref.alloc() : memref<1x2x10x8xf32>
// CHECK-DAG: memref.alloc() : memref<1x1x10x8xf32>
// CHECK-DAG: memref.alloc() : memref<1x1x10x4xf32>
// CHECK-DAG: memref.alloc(%{{.*}}) : memref<8x?xf32>
// The row pass: Dlt = dot(dO, O).
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<?x?x?xf32>
// The query range of the key tile, then its query tiles.
// CHECK: arith.ceildivsi
// CHECK: scf.for
// CHECK: scf.if
// CHECK: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.dealloc
// LLVM-LABEL: llvm.func @causal_grad
// LLVM-NOT: attn.
// LLVM-NOT: scf.
func.func @causal_grad(%q: memref<1x2x10x8xf16>, %k: memref<1x1x10x8xf16>, %v: memref<1x1x10x4xf16>,
                       %o: memref<1x2x10x4xf16>, %lse: memref<1x2x10xf32>, %do: memref<1x2x10x4xf16>,
                       %dq: memref<1x2x10x8xf16>, %dk: memref<1x1x10x8xf16>, %dv: memref<1x1x10x4xf16>) {
  attn.attention_grad ins(%q, %k, %v, %o, %lse, %do : memref<1x2x10x8xf16>, memref<1x1x10x8xf16>,
                          memref<1x1x10x4xf16>, memref<1x2x10x4xf16>, memref<1x2x10xf32>, memref<1x2x10x4xf16>)
    outs(%dq, %dk, %dv : memref<1x2x10x8xf16>, memref<1x1x10x8xf16>, memref<1x1x10x4xf16>)
    mask = #attn.causal
  return
}

// -----

// The bias gradient sums over the bias's broadcast dimension (index 0 for
// its batch of 1); the gates' gradient gets w u dot(dO, V) first, then the
// tiles' terms; dLSE enters Dlt.
// CHECK-LABEL: func.func @grad_operands
// CHECK: memref.load %{{.*}} : memref<2x3x6xf32>
// CHECK: memref.store %{{.*}}, %{{.*}}[%c0{{.*}}] : memref<1x3x6x6xf32>
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<2x6x3xf32>
// LLVM-LABEL: llvm.func @grad_operands
func.func @grad_operands(%q: memref<2x3x6x4xf32>, %o: memref<2x3x6x4xf32>, %lse: memref<2x3x6xf32>,
                         %dlse: memref<2x3x6xf32>, %bias: memref<1x3x6x6xf32>, %gates: memref<2x6x3xf32>,
                         %dq: memref<2x3x6x4xf32>, %dk: memref<2x3x6x4xf32>, %dv: memref<2x3x6x4xf32>,
                         %dbias: memref<1x3x6x6xf32>, %dgates: memref<2x6x3xf32>) {
  attn.attention_grad ins(%q, %q, %q, %o, %lse, %o : memref<2x3x6x4xf32>, memref<2x3x6x4xf32>,
                          memref<2x3x6x4xf32>, memref<2x3x6x4xf32>, memref<2x3x6xf32>, memref<2x3x6x4xf32>)
    lse_grad(%dlse : memref<2x3x6xf32>) bias(%bias : memref<1x3x6x6xf32>) gates(%gates : memref<2x6x3xf32>)
    outs(%dq, %dk, %dv : memref<2x3x6x4xf32>, memref<2x3x6x4xf32>, memref<2x3x6x4xf32>)
    bias_grad(%dbias : memref<1x3x6x6xf32>) gates_grad(%dgates : memref<2x6x3xf32>)
    mask = #attn.sliding_window<left = 2, right = 1>
    heads = #attn.heads<weights = [1.0, 0.0, 2.0], softpag = #attn.softpag<u = 0.5, heads = [2]>>
  return
}

// -----

// Run-time shapes: the accumulators take their sizes from memref.dim, and a
// run-time D gives scale = rsqrt(D).
// CHECK-LABEL: func.func @dynamic_grad
// CHECK: math.rsqrt
// CHECK: memref.alloc(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : memref<?x?x?x?xf32>
// LLVM-LABEL: llvm.func @dynamic_grad
func.func @dynamic_grad(%q: memref<?x?x?x?xbf16>, %lse: memref<?x?x?xf32>) {
  attn.attention_grad ins(%q, %q, %q, %q, %lse, %q : memref<?x?x?x?xbf16>, memref<?x?x?x?xbf16>,
                          memref<?x?x?x?xbf16>, memref<?x?x?x?xbf16>, memref<?x?x?xf32>, memref<?x?x?x?xbf16>)
    outs(%q, %q, %q : memref<?x?x?x?xbf16>, memref<?x?x?x?xbf16>, memref<?x?x?x?xbf16>)
    mask = #attn.sliding_window<left = 3, right = 0>
  return
}
