//===- Passes.td - attn dialect passes ---------------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnMaterializeMask : Pass<"attn-materialize-mask", "ModuleOp"> {
  let summary = "Replace mask attributes by the explicit boolean mask they denote";
  let description = [{
    For every `attn.attention` with static shapes, evaluates the mask
    attribute (and the masks of head groups) on every (query, key) pair and
    replaces it by an `explicit_mask` operand holding the kept pairs: an
    `arith.constant` of `tensor<Nq x Nk x i1>` (or `tensor<1 x Hq x Nq x Nk x
    i1>` when head groups have their own masks), ANDed with an existing
    explicit mask. On memrefs the constant is a private `memref.global`.

    The result computes the same attention and shows exactly which pairs are
    kept. Masks with run-time segment sizes, or with `renormalize = false`,
    cannot be expressed as an explicit mask and are reported as errors.

    ```mlir
    // before
    attn.attention ... mask = #attn.causal
    // after
    %keep = arith.constant dense<[[true, false], [true, true]]> : tensor<2x2xi1>
    attn.attention ... explicit_mask(%keep : tensor<2x2xi1>) ...
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
  let options = [
    Option<"maxPairs", "max-pairs", "int64_t", /*default=*/"16777216",
           "Refuse to materialize masks with more (query, key) pairs per head "
           "than this (the constant would be too large)">
  ];
}

def AttnSparsityReport : Pass<"attn-sparsity-report"> {
  let summary = "Report full, partial and empty tiles of every attention mask";
  let description = [{
    Tiles the query and key sequences of every `attn.attention` with static
    shapes and classifies each (query tile, key tile) pair with the mask
    interface. Emits one remark per op (and per head group with its own mask):

    ```
    remark: attn sparsity: query tile 8x16, key tile 8x16 on grid 128x128:
      16384 tile pairs: 0 full, 1012 partial, 15372 empty; kept pairs 2768896
      of 268435456 (1.0315%); speedup bound over dense: 16.19x by tiles,
      96.95x by pairs
    ```
    (a 13 x 13 neighborhood on a 128 x 128 grid: every query keeps 169 keys).

    Tile shapes of rank > 1 tile the mask's token grid (an 8x16 query tile is
    an 8 x 16 patch of a 2-D grid); masks on flat indices (causal, windows,
    segments) use the grid of another mask of the op. Rank-1 tiles tile the
    flat sequence; the default is 128 query and key tokens. The tile bound is
    total tile pairs / computed (full + partial) tile pairs; the pair bound is
    total pairs / kept pairs. Masks with run-time segment sizes count every
    tile as partial and their kept pairs as unknown.
  }];
  let options = [
    ListOption<"queryTile", "query-tile", "int64_t",
               "Query tile shape (rank 1, or the rank of the mask's grid)">,
    ListOption<"keyTile", "key-tile", "int64_t",
               "Key tile shape (defaults to the query tile shape)">,
    Option<"annotate", "annotate", "bool", /*default=*/"false",
           "Also attach the counts to the op as an `attn.sparsity` attribute">
  ];
}

def AttnPlan : Pass<"attn-plan"> {
  let summary = "Choose the query and key tile shapes of every attention op";
  let description = [{
    Records `tiling = #attn.tiling<query = [...], key = [...]>` on every
    `attn.attention` (an existing tiling is replaced). Tile sizes come from
    the target:

    | target | query x key tokens |
    |---|---|
    | `cpu` | 16 x 16 |
    | `sm_80`, `sm_86`, `sm_89`, `sm_120a` | 128 x 64 (64 x 32 when D > 128) |
    | `sm_90a`, `sm_100a` | 128 x 128 (64 x 128 when D > 128) |

    When a mask of the op has a token grid (a neighborhood, also inside a
    composite or a head group), the tiles are N-D patches of that grid, so
    that a window covers few tiles and leaves few partial ones. GPU targets
    take patches as square as the grid allows (the smallest side doubles
    first) and at most 64 query tokens: a 13 x 13 window around an 8 x 8
    query patch needs about half the key tiles it needs around an 8 x 16
    one (measured: 0.32 against 0.61 ms on the H200). The CPU takes at most
    16 tokens along the last dimension, then powers of two along the
    others. `query-tile` / `key-tile` override the shapes (rank 1, or the
    grid's rank).

    ```mlir
    // attn-opt --attn-plan=target=sm_80
    attn.attention ... mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
      tiling = #attn.tiling<query = [8, 8], key = [8, 8]>
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "Target: cpu, sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a">,
    ListOption<"queryTile", "query-tile", "int64_t",
               "Query tile shape (overrides the target's)">,
    ListOption<"keyTile", "key-tile", "int64_t",
               "Key tile shape (overrides the target's)">
  ];
}

def AttnSparsity : Pass<"attn-sparsity"> {
  let summary = "Classify every tile pair of the op's tiling at compile time";
  let description = [{
    For ops with static sequence lengths and a `tiling` (run `attn-plan`
    first), classifies every (query tile, key tile) pair of every mask of
    the op (its own, then each head group's) with the mask interface, and
    records `tile_classes = dense<...> : tensor<masks x query tiles x key
    tiles x i8>` (0 empty, 1 partial, 2 full). The tables are exact for N-D
    tiles and for masks whose run-time classification has no closed form
    (neighborhoods, power-law, segments); `attn-lower-to-loops` then skips
    empty tiles and evaluates no predicate in full ones.

    Ops without a tiling, with run-time lengths or with run-time segment
    sizes keep the run-time classification of `emitClassifyRange`, as do
    ops whose tables would exceed `max-tile-pairs` entries (a remark says
    so).
  }];
  let options = [
    Option<"maxTilePairs", "max-tile-pairs", "int64_t", /*default=*/"4194304",
           "Largest table (entries) to record">
  ];
}

def AttnQuantize : Pass<"attn-quantize"> {
  let summary = "Split the quantization pre-steps out of attn.attention";
  let description = [{
    For every `attn.attention` without quantized operands, and for every
    precision its heads use (the op's `precision`, unless head groups with
    their own cover every head, and each head group's own), creates the
    pre-steps of SEMANTICS.md section 3 that precision needs, before the op:

    | step | op | result |
    |---|---|---|
    | `smooth_k` | `attn.key_mean` | K mean [B, Hkv, D] (f64) |
    | `smooth_q` | `attn.query_block_mean` | Q block means [B, Hq, blocks, D] (f64), dS [B, Hq, blocks, Nk] (f32) |
    | quantized `qk` | `attn.quantize_rows` (Q, then K) | values [B, H, N, D] and scales [B, H, N, S] (f32) |
    | smoothing or a 16-bit `qk` other than Q's type | `attn.quantize_rows` | smoothed / rounded Q' and K' (f32) |
    | `pv` other than V's type | `attn.quantize_value` | values [B, Hkv, Nk, Dv] (f32); FP8 channel scales [B, Hkv, Dv] |

    and hands their results to the op as one `quantized(...)` bundle per
    precision (`group = g` for head group g), which makes the op read them
    instead of computing them. The Q block of `smooth_q` is the
    granularity's block (one token for `token`, all of Nq for `tensor`, 64
    without a granularity). Destinations are `tensor.empty` on tensors and
    `memref.alloc` on memrefs, freed after the op. The two-level rounding
    of P for `pv = f4E2M1FN` stays in the main loop: P exists only there.
    Ops whose precisions need no pre-step are left alone.

    ```mlir
    // before
    attn.attention ins(%q, %k, %v : ...) outs(%o : ...) precision = #attn.precision<sage1>
    // after
    %km = attn.key_mean ins(%k : ...) outs(%0 : tensor<1x1x64xf64>) -> ...
    %qv, %qs = attn.quantize_rows ins(%q : ...) outs(%1, %2 : ...)
                 precision = #attn.precision<qk = i8, qk_granularity = block(64)> -> ...
    %kv, %ks = attn.quantize_rows ins(%k : ...) mean(%km : ...) outs(%3, %4 : ...)
                 precision = #attn.precision<qk = i8, qk_granularity = block(64)> -> ...
    attn.attention ins(%q, %k, %v : ...)
      quantized(key_mean = %km : ..., query = %qv : ..., query_scales = %qs : ...,
                key = %kv : ..., key_scales = %ks : ...)
      outs(%o : ...) precision = #attn.precision<sage1>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnLowerToLoops : Pass<"attn-lower-to-loops", "ModuleOp"> {
  let summary = "Lower attn.attention on memrefs to a tiled online-softmax loop nest";
  let description = [{
    The CPU form of the tiled schedule: for every batch element, query head
    and tile of `query-tile` queries, loop over the tiles of `key-tile` keys,
    keeping the row max m, the row sum l and the output accumulator in f32
    (online softmax), and finish with O = acc / l and LSE = m + log l (rows
    with no kept key give O = 0 and LSE = -inf). Scores are computed in f32
    from Q and K widened to f32, P is rounded to V's element type before
    P.V (SEMANTICS.md section 3, default precision). The mask predicate is
    the mask attribute's `emitKeep`, ANDed with the explicit mask; the
    additive bias is added to the scaled scores.

    Tiles: the `query-tile` / `key-tile` options (flat), else the op's
    `tiling` (from `attn-plan`; N-D tilings walk clipped boxes of the masks'
    token grid, classified through their flat hulls), else 16 x 16. The
    active key tiles come from the mask's `emitKeyRange`, their class from
    `emitClassifyRange`: empty tiles are skipped, full ones evaluate no
    predicate.

    Emits scf, memref, arith and math ops; the scratch buffers (row max, row
    sum, accumulator, one tile of scores and probabilities) are allocated
    once per op and freed after it. Ops on tensors must be bufferized first
    (`attn-cpu-pipeline` does).

    Heads: zero-weight heads compute no attention (O = 0, LSE = -inf), nor
    do SoftPAG heads with u = 1 unless the LSE output asks for their scores;
    O = w * gate * ((1 - u) attention + u V), LSE is that of the attention;
    each head group with its own mask or precision gets its own loop nest
    (and quantization pre-passes). A segments mask with `renormalize =
    false` anywhere in a head's mask applies that whole mask (and the
    explicit mask) to the numerator only: the row max and the denominator
    run over every key; LSE = m + log l then, and -inf for rows that keep no
    key.

    The quantization pre-steps of `attn-quantize` (`attn.key_mean`,
    `attn.query_block_mean`, `attn.quantize_rows`, `attn.quantize_value`)
    lower to loops writing their destinations, and an op with a
    `quantized(...)` bundle reads Q', K', V', scales, means and dS from it.

    Precision (SEMANTICS.md section 3), emulated bit-faithfully: without a
    bundle, pre-passes over the whole op (the same emitters) compute the K mean (`smooth_k`), the per-block Q means
    and dS = mean_q . K' (`smooth_q`), quantize Q' and K' per scale group of
    the granularity to i8 / i4 (round half to even, clamp) or E4M3 (scale
    max|x| / 448) in f64 with f32 scales, or to NVFP4 (E2M1 values, one E4M3
    scale per 16 channels), and V to FP8 per channel or NVFP4 per 16 keys;
    the main
    loop takes the exact dot product of the quantized values times one
    factor (q scale * k scale * softmax scale) plus scale * dS, rounds P to
    `pv` (FP8: P * 448 to E4M3, saturating, both scalings undone on O;
    NVFP4: a per-row f32 scale per key tile, then E4M3 scales per 16 keys),
    accumulates P.V in f32 or, for `pv_accum = f16`, in an f16 accumulator
    rounded after the rescale and after every 16 keys, and adds
    scale * q.mean(K) back to the LSE.

    `qk` or `pv` a 16-bit float other than the data's type rounds Q and K,
    or P and V, to it.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"0",
           "Queries per tile (0: the op's flat tiling, else 16)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"0",
           "Keys per tile (0: the op's flat tiling, else 16)">
  ];
}

def AttnLowerToGpu : Pass<"attn-lower-to-gpu", "ModuleOp"> {
  let summary = "Lower attn.attention on memrefs to tensor-core GPU kernels";
  let description = [{
    The Ampere-class GPU form of the tiled schedule (FlashAttention-2
    structure, `mma.sync` m16n8k16 in f16 or bf16 with f32 accumulation).
    Emits one `gpu.func` per head set (heads sharing a mask) into the
    `gpu.module @attn_kernels`, plus one kernel writing O = 0 and
    LSE = -inf for heads of weight 0 (which launch no attention block), and
    replaces the op by `gpu.launch_func` calls whose arguments are read from
    the memrefs' metadata (pointers, strides, run-time lengths). The launch
    description (grid as products of run-time arguments, block, dynamic
    shared memory, parameters by name) is recorded in the module attribute
    `attn.kernels`; `attn-export-artifacts` writes it as the manifest of
    docs/design/GpuArtifacts.md.

    Kernel: one block per (query tile, head, batch element), one warp per 16
    query rows; Q is loaded once into registers (D <= 128) or kept in shared
    memory; K and V tiles stream through a `stages`-deep cp.async pipeline
    into 128-byte-swizzled shared memory, read by ldmatrix (V transposed);
    the S accumulator is reused as P's A operand; the online softmax runs in
    registers with exp2 and quad shuffles.

    Key tiles: with a `tile_classes` table (`attn-sparsity`, static shapes)
    each query tile walks a compile-time list of its non-empty key tiles,
    each marked full or partial; otherwise the mask's closed forms
    (`emitKeyRange`, `emitClassifyRange`) give the range and class at run
    time, so one kernel serves every sequence length. Empty tiles are never
    loaded (table) or computed (range); full tiles evaluate no mask; partial
    tiles evaluate the mask attribute's `emitKeep`, the explicit mask, the
    bias and the sequence/grid bounds. N-D tilings (`attn-plan` on a grid
    mask) load boxes of the token grid straight from the row-major layout.

    Supported: f16/bf16 Q, K, V; f16/bf16/f32 outputs; D and Dv in {32, 64,
    128, 192, 256}; static head counts; query tiles of 16..256 tokens, key
    tiles of 16..128; every mask, explicit masks, biases, run-time segment
    offsets, GQA, LSE, head weights, gates, SoftPAG and head groups with
    their own masks.

    Quantized precisions (SEMANTICS.md section 3; docs/design/QuantizedGpu.md):
    pre-kernels launched before the attention kernel write scratch buffers
    (module attribute `attn.scratch`, the manifest's `scratch`, allocated by
    the launcher): the K mean (smooth_k), the Q block means and dS
    (smooth_q), Q and K quantized to int8 or int4 at every granularity
    (tensor, block(n), thread(n), token) with per-token f32 scales, V
    rounded to the 16-bit P.V type, or V in E4M3 per channel, transposed and
    permuted per key tile for FP8 P.V. Their arithmetic is the CPU
    emulation's (f64 means, maxima and x / scale), so the quantized values
    agree with it. The attention kernel multiplies Q.K on mma.sync
    m16n8k32 s8 or m16n8k64 s4 (exact int32 sums), dequantizes with one
    multiply per element, adds dS, accumulates O in f32, f16
    (`pv_accum = f16`) or per tile (`two_level`), multiplies P.V in f16,
    bf16 or E4M3 (m16n8k32, `target=sm_89` only: P times 448, undone with
    V's scales in the epilogue), and adds smooth_k's shift back to the LSE.
    Refused with a diagnostic: E4M3 or E2M1 Q.K, E2M1 P.V, smooth_q without
    integer Q.K or with token granularity, smooth_k without integer Q.K but
    with an LSE output, int4 with D < 64, and head groups whose precision
    differs from the op's.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"sm_80\"",
           "Kernel class: sm_80, sm_86 or sm_89 (mma.sync, cp.async)">,
    Option<"stages", "stages", "int64_t", /*default=*/"2",
           "Depth of the K/V cp.async pipeline (2 to 4)">
  ];
}

def AttnExportArtifacts : Pass<"attn-export-artifacts", "ModuleOp"> {
  let summary = "Write the GPU binary and its launch manifest to a directory";
  let description = [{
    Writes the object of `gpu.binary @attn_kernels` (after
    `gpu-module-to-binary`) to `dir/kernels.cubin` (or `kernels.ptx` for a
    PTX object) and the launch description recorded by `attn-lower-to-gpu`
    to `dir/manifest.json` (docs/design/GpuArtifacts.md). The IR is left
    unchanged.
  }];
  let options = [
    Option<"directory", "dir", "std::string", /*default=*/"",
           "Directory to write manifest.json and the binary into (created)">
  ];
}

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
