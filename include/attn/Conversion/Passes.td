//===- Passes.td - attn conversion passes -------------------*- tablegen -*-===//
//
// The lowerings of attn.attention: to a CPU loop nest (AttnToLoops) and to
// NVVM GPU kernels (AttnToNVVM), and the export of the GPU artifacts.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnLowerToLoops : Pass<"attn-lower-to-loops", "ModuleOp"> {
  let summary = "Lower attn.attention and attn.attention_grad on memrefs to tiled loop nests";
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

    `attn.attention_grad` (SEMANTICS.md section 5) lowers to the backward
    schedule the GPU kernels share, on the tiles chosen as for the forward
    (`query-tile` x `key-tile`, else the op's `tiling`, N-D boxes included,
    else 16 x 16): a pass over the rows computes
    Dlt = dot(dO, O) - c u dot(dO, V[i]) (c = w * gate; the SoftPAG term of
    dV and of dG with it); then, per kv head, every key tile walks the query
    tiles of each query head that reads it: its list in the op's
    `tile_classes` (from `attn-sparsity`, transposed), else the mask's
    `emitQueryRange` and `emitClassifyRange` (empty tiles skipped, full
    ones without predicate). P = exp(s - LSE) is recomputed from the
    forward's LSE (0 in rows whose LSE is -inf), dS = P (dP - Dlt + dLSE),
    and dK, dV of the tile are summed over the query heads before they join
    the kv head's; dQ, dBias (summed over its broadcast dimensions) and dG
    accumulate in f32 buffers. Everything runs in f32 and is stored in the
    gradients' element types. The precision attribute plays no part: the
    quantization is differentiated as the identity. Heads of weight 0 get no
    gradient.
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
  let summary = "Lower attn.attention and attn.attention_grad on memrefs to "
                "tensor-core GPU kernels";
  let description = [{
    The GPU form of the tiled schedule for one chip (`target`, a row of the
    GpuTarget table: sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120a, sm_120f) and one
    MMA family (`kernel`; default: the chip's best implemented family for
    the op's precision, falling back to `mma_sync` for tiles or head dims
    that family refuses). The kernel skeleton (tile walk, masks, online
    softmax, heads, epilogue) is shared; the MMA engine and the tile
    pipeline are the family's (docs/design/GpuBackend.md). Implemented
    today: `mma_sync` (FlashAttention-2 structure, `mma.sync` m16n8k16 in
    f16 or bf16 with f32 accumulation, cp.async), on every chip; `wgmma`
    on sm_90a for 16-bit precisions (warpgroup MMAs, TMA loads by a producer
    warpgroup with mbarrier stages; docs/design/WgmmaKernel.md); `tcgen05`
    is refused with a diagnostic. Shared memory is checked against the chip's
    limit at compile time. Emits one `gpu.func` per head set (heads sharing a mask) into the
    `gpu.module @attn_kernels`, plus one kernel writing O = 0 and
    LSE = -inf for heads of weight 0 (which launch no attention block), and
    replaces the op by `gpu.launch_func` calls whose arguments are read from
    the memrefs' metadata (pointers, strides, run-time lengths). The launch
    description (grid as products of run-time arguments, block, dynamic
    shared memory, parameters by name) is recorded in the module attribute
    `attn.kernels`; `attn-export-artifacts` writes it as the manifest of
    docs/design/GpuArtifacts.md.

    `attn.attention_grad` (SEMANTICS.md section 5) becomes the backward's
    kernels (docs/design/Backward.md): `attn_bwd_rows` (per query row
    Dlt - dLSE, the factor c (1 - u) of dA, dQ's f32 accumulator zeroed),
    one key-tile-major `attn_bwd` per head set (a block per key tile of
    64 or 128 keys, kv head and batch element; its five products on
    wgmma where `kernel` is wgmma, sm_90a's default, and D, Dv are 64 or
    128 with 64 x 128 tiles, else on mma.sync; every query head of the kv head in
    the set; the query tiles of the key tile from the transposed table of
    `attn-sparsity` when the op has a `tiling`, else from the mask's
    `emitQueryRange`; P from the LSE; dK and dV in registers; dQ by f32
    reductions), `attn_bwd_finish` (dQ in its type, dG) and, for SoftPAG,
    `attn_bwd_identity` (dV's identity term); with `deterministic`, dQ
    and the gates' sums come from `attn_bwd_query_grads` (query-tile
    major, no atomics) instead. A bias is added to the recomputed scores;
    dBias (dS on every pair) is summed in an f32 accumulator of the bias's
    shape, zeroed by `attn_bwd_bias_grad_init` and stored in its type by
    `attn_bwd_bias_finish` (with `deterministic`, a bias shared by heads or
    batch elements is refused: its sum's order varies). Segments with
    `renormalize = false` walk every tile (every key is in the
    denominator) and let keep gate dV and dP only. Head dims above 128 are
    refused with a diagnostic; one `attn.attention_grad` per module (its
    scratch buffers are named per module).

    Kernel (mma_sync): one block per (query tile, head, batch element), one
    warp per 16 query rows (`warp-rows=32`: two m16 tiles per warp); Q is
    loaded once into registers (one m-tile, rows of at most 256 bytes) or
    re-read from shared memory; K and V tiles stream through a
    `stages`-deep cp.async pipeline (S - 1 tiles in flight)
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

    Supported: f16/bf16 Q, K, V; f16/bf16/f32 outputs; D and Dv multiples
    of 8 up to 256, staged as 32 or the next multiple of 64 (channels past
    the tensor's are zero-filled in shared memory, written as zeros by the
    quantization pre-kernels, and never stored); static head counts; query tiles of 16..256 tokens, key
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
    bf16 or E4M3 (m16n8k32, on chips with the E4M3 mma.sync: sm_89 and
    later; P times 448, undone with
    V's scales in the epilogue), and adds smooth_k's shift back to the LSE.
    Refused with a diagnostic: E4M3 or E2M1 Q.K, E2M1 P.V, smooth_q without
    integer Q.K or with token granularity, smooth_k without integer Q.K but
    with an LSE output, int4 with D < 64, and head groups whose precision
    differs from the op's.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"sm_80\"",
           "The chip the code is for: sm_80, sm_86, sm_89, sm_90a, sm_100a "
           "or sm_120a">,
    Option<"kernel", "kernel", "std::string", /*default=*/"\"\"",
           "MMA family: mma_sync, wgmma or tcgen05 (default: the chip's "
           "best implemented one)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "Depth of the K/V pipeline (2 to 4; 0: the kernel family's "
           "default, 3 for wgmma where shared memory holds it, else 2)">,
    Option<"warpRows", "warp-rows", "int64_t", /*default=*/"16",
           "mma_sync kernels: query rows per warp, 16 or 32 (two m16 tiles "
           "share each K and V fragment)">,
    Option<"queryTileOrder", "query-tile-order", "std::string",
           /*default=*/"\"descending\"",
           "The order in which blocks take a head's query tiles: ascending, "
           "or descending (the last first: under causal, power-law and "
           "prefix masks the longest blocks start first)">,
    Option<"persistent", "persistent", "bool", /*default=*/"false",
           "Kernels whose loads a producer warpgroup issues (the TMA "
           "pipeline) run a persistent grid: at most one block per "
           "multiprocessor walks the (query tile, head, batch) units in "
           "launch order, loading the next unit's Q and first tiles while "
           "it finishes the current one; other kernels ignore it">,
    Option<"unitOrder", "unit-order", "std::string",
           /*default=*/"\"heads-first\"",
           "The order of the (query tile, head, batch) work units: "
           "heads-first (every query tile of a head, then the next head: "
           "the blocks running together share one head's K and V) or "
           "tiles-first (one query tile of every head and batch element, "
           "then the next: with query-tile-order=descending the longest "
           "units of all heads start first)">,
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "attn.attention_grad: dQ (and the gates' gradient) by a "
           "query-tile-major kernel without atomics, the same bits every "
           "run, instead of f32 reductions from the key tiles">,
    Option<"emulateBlockScaledMma", "emulate-block-scaled-mma", "bool",
           /*default=*/"false",
           "Compile sm_120a's NVFP4 kernels for a chip without the "
           "block-scaled mma.sync (sm_89 and later): each block-scaled MMA "
           "and E2M1 conversion becomes a sequence of ordinary instructions "
           "with the same register contract, within sm_120a's 99 KB of "
           "shared memory (a check of those kernels on Hopper; not fast)">
  ];
}

def AttnPassTensorMapsByValue
    : Pass<"attn-pass-tensor-maps-by-value", "ModuleOp"> {
  let summary = "Make the TMA tensor-map parameters of the kernels by-value grid constants";
  let description = [{
    Runs after `convert-gpu-to-nvvm`. Every kernel parameter that the launch
    record of `attn-lower-to-gpu` (module attribute `attn.kernels`) gives
    the type `tensor_map` becomes a 128-byte by-value parameter of its
    `llvm.func`: `{llvm.byval = !llvm.array<128 x i8>, llvm.align = 64,
    nvvm.grid_constant}`, so the launcher passes the encoded map in the
    parameter space and the kernel's bulk copies read it there (PTX `.param
    .align 64 .b8 [128]` and `cvta.param`). `gpu.func` cannot carry these
    attributes (the GPU dialect verifier rejects `nvvm.grid_constant` and
    the conversion drops `llvm.byval`), hence this separate step. A kernel
    or parameter the record names but the module lacks is a diagnostic.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect"];
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

#endif // ATTN_CONVERSION_PASSES_TD
