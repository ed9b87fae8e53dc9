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

def AttnRaiseLinalg : Pass<"attn-raise-linalg"> {
  let summary = "Replace attention written in linalg by attn.attention";
  let description = [{
    Finds `softmax(scale * Q K^T + bias, masks) V` written with linalg ops
    on tensors, as front ends lowering from PyTorch or JAX produce it, and
    replaces it by one `attn.attention`, so that the rest of the pipeline
    (tiling, sparsity, quantization, the GPU kernels) applies.

    Matched, from the P V product back:

    * the two products: contractions (`linalg.matmul`,
      `linalg.batch_matmul`, or a `linalg.generic` with a multiply-add
      body) of rank 2, 3 or 4 with zero-filled inits: S[.., i, j] =
      sum_d Q[.., i, d] K[.., j, d] (K read transposed, or through a
      `linalg.transpose` of its last two dimensions) and O[.., i, c] =
      sum_j P[.., i, j] V[.., j, c];
    * the softmax over the key dimension: `linalg.softmax`, or its generic
      form (a max reduction, `exp(x - max)`, a sum reduction, a division);
    * between them, elementwise `linalg.generic`s (one or several, or one
      fused body) that multiply or divide by positive constants (the
      `scale`), add a tensor (the `bias`: [.., Nq, Nk] or [Nq, Nk]), or
      select -inf (or the lowest finite float) where a condition says so.
      A condition that is a boolean tensor becomes the `explicit_mask`; one
      made of `arith.cmpi` on `linalg.index` of the query and key
      dimensions, linear in j - i (with `arith.andi` for kept, `arith.ori`
      for masked positions), becomes `#attn.causal` (j <= i, or
      `bottom_right` for j <= i + Nk - Nq at static lengths) or
      `#attn.sliding_window`. A constant factor after a bias is not
      matched (attn adds the bias to the scaled scores).

    Rank-3 operands [BH, N, D] become [1, BH, N, D] (rank 2: [1, 1, N, D])
    through `tensor.expand_shape`, and the result is collapsed back. The
    raised op follows SEMANTICS.md: P is rounded to V's type before P V,
    and a row with no kept key gives O = 0 where the linalg form gives NaN
    (or, with a finite fill, the mean of V). Anything else, or a result the
    `attn.attention` verifier refuses, is left as it was.

    ```mlir
    // before (rank 3, causal by index comparison)
    %kt = linalg.transpose ins(%k : tensor<16x128x64xf32>) ... permutation = [0, 2, 1]
    %s = linalg.batch_matmul ins(%q, %kt : ...) outs(%zero : tensor<16x128x128xf32>)
    %m = linalg.generic ... { %i = linalg.index 1 ... %j = linalg.index 2
           %keep = arith.cmpi sle, %j, %i ... arith.select %keep, %x, %ninf }
    %p = linalg.softmax dimension(2) ins(%m : ...) outs(...)
    %o = linalg.batch_matmul ins(%p, %v : ...) outs(%zero2 : ...)
    // after
    %o4 = attn.attention ins(%q4, %k4, %v4 : ...) outs(%e : tensor<1x16x128x64xf32>)
            mask = #attn.causal scale = 1.0 -> tensor<1x16x128x64xf32>
    %o = tensor.collapse_shape %o4 [[0, 1], [2], [3]] ...
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::attn::AttnDialect",
                           "::mlir::tensor::TensorDialect"];
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

def AttnTileMap : Pass<"attn-tile-map"> {
  let summary = "Draw the kept pairs and the tile classes of every mask as SVG";
  let description = [{
    Writes one SVG picture per `attn.attention` with static lengths (to
    `output`, then `<stem>.1.svg`, `<stem>.2.svg`, ... for further ops), as
    a user would look at before choosing a window or a tile shape:

    1. the class of every (query tile, key tile) pair for the given tiles
       (full dark, partial light, empty white; counts in the title, the
       numbers `--attn-sparsity-report` gives);
    2. the kept (query, key) pairs in token order, up to 2^22 pairs;
    3. for a mask on a 2-D or 3-D token grid tiled with patches of that
       rank: the grid, the key patches of the query patch at its center by
       class, and the keys its center token keeps (the middle plane of a
       3-D grid).

    Every rect carries its class (`full`, `partial`, `empty`, `kept`,
    `grid-*`) and indices (`data-q`, `data-k`), so tools and tests can read
    the picture back. Everything comes from the mask attribute (`keep`,
    `classifyTile`), the rule the kernels' tile lists use. The IR is not
    changed; a remark names each file written.

    ```sh
    attn-opt op.mlir --attn-tile-map="query-tile=8,8 key-tile=8,16 output=nbhd.svg"
    ```
  }];
  let options = [
    ListOption<"queryTile", "query-tile", "int64_t",
               "Query tile shape (rank 1, or the rank of the mask's grid; "
               "default 128)">,
    ListOption<"keyTile", "key-tile", "int64_t",
               "Key tile shape (defaults to the query tile shape)">,
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "Path of the SVG file written for the first op">,
    Option<"maxTilePairs", "max-tile-pairs", "int64_t",
           /*default=*/"262144",
           "Refuse tilings with more tile pairs (the picture would be "
           "unreadable and large)">
  ];
}

def AttnPlan : Pass<"attn-plan"> {
  let summary = "Choose the query and key tile shapes of every attention op";
  let description = [{
    Records `tiling = #attn.tiling<query = [...], key = [...]>` on every
    `attn.attention` (an existing tiling is replaced). Tile sizes come from
    the target and the MMA family its kernels use (`kernel`, by default the
    chip's best implemented family for the op's precision; the GpuTarget table,
    docs/design/GpuBackend.md):

    | target / kernel family | query x key tokens |
    |---|---|
    | `cpu` | 16 x 16 |
    | `mma_sync` (every chip today) | 128 x 64 (64 x 32 when D > 128) |
    | `wgmma` (sm_90a) | 128 x 128 (128 x 64 when D > 128) |
    | `tcgen05` (sm_100a) | 128 x 128 (64 x 128 when D > 128) |

    `mma_sync` kernels with integer Q.K take 64-query tiles, and 128-key
    tiles when P.V is 16-bit and `stages` such tiles fit the chip's shared
    memory.

    `attn.attention_grad` gets the tiles of the backward's key-tile-major
    kernel (`getBackwardTiles`) for the family of its products: `wgmma`
    (sm_90a's default) 64 queries x 128 keys where D and Dv are 64 or
    128; `mma_sync` (every other case) 128 keys up to D = Dv = 128 where
    two buffers of the query tile fit the chip's shared memory (sm_80,
    sm_90a, sm_100a), else 64, and 64 queries per step up to D = Dv = 64,
    32 beyond (16 where 32 exceed the chip's shared memory: D = Dv = 256
    on 99 KB chips); 16 x 16 on the CPU.
    Its `tiling` lets `attn-sparsity` record the table whose transposed
    lists the backward walks.

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
           "Target: cpu, or the chip: sm_80, sm_86, sm_89, sm_90a, sm_100a, "
           "sm_120a">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"\"",
           "MMA family of the GPU kernels (mma_sync, wgmma, tcgen05; "
           "default: the chip's best implemented one)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "Depth of the GPU kernel's K/V pipeline the tiles must fit (0: "
           "the family's default)">,
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
    empty tiles and evaluates no predicate in full ones. `attn.attention`
    and `attn.attention_grad` both get a table: the forward walks it by
    query tile, the backward by key tile (the transposed lists of
    `getTileLists`).

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

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
