//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnAttrDefs.td"
include "attn/Dialect/Attn/IR/AttnMaskAttrs.td"
include "attn/Dialect/Attn/IR/AttnOpInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_MaskAttrConstraint : Attr<
    CPred<"::llvm::isa<::mlir::attn::MaskAttrInterface>($_self)">,
    "attention mask attribute"> {
  let storageType = "::mlir::attn::MaskAttrInterface";
  let returnType = "::mlir::attn::MaskAttrInterface";
  let convertFromStorage = "$_self";
}

def Attn_ShapedOperand : AnyTypeOf<[AnyRankedTensor, AnyMemRef]>;

def Attn_AttentionOp : Attn_Op<"attention", [
    AttrSizedOperandSegments, Attn_AttentionProblemOpInterface,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface]> {
  let summary = "Scaled dot-product attention with a structured mask";
  let description = [{
    For each batch b and query head h (kv head h / (Hq / Hkv)):

    ```
    s[i,j] = scale * dot(Q[i], K[j]),  keep[i,j] = mask(b, h, i, j)
    O[i]   = sum_{j kept} softmax_j(s[i,:]) V[j]      (over kept j)
    LSE[i] = log sum_{j kept} exp(s[i,j])              (-inf for empty rows)
    ```

    Shapes: Q [B, Hq, Nq, D], K [B, Hkv, Nk, D], V [B, Hkv, Nk, Dv],
    O [B, Hq, Nq, Dv], LSE [B, Hq, Nq] f32. Hq must be a multiple of Hkv.
    The op is in destination-passing style: on tensors it returns the updated
    `outs` values, on memrefs it writes them and returns nothing.

    Optional operands: `explicit_mask` (i1, [Nq, Nk] or [B|1, Hq|1, Nq, Nk],
    ANDed with the mask attribute), `bias` (float, same shapes, added to s),
    `segment_offsets` (for a `#attn.segments` mask with run-time sizes: per
    batch element the prefix offsets [0, end of segment 0, end of segment 1,
    ...], as [B, S+1] when query and key segments coincide, or [B, 2, S+1]
    with query offsets in row 0 and key offsets in row 1, S being the larger
    segment count and the shorter list using its leading entries; tokens past
    the last offset, the padding of a variable-length batch, keep nothing)
    and `gates` ([B, Nq, Hq], O[b, h, i] *= gates[b, i, h]).

    Sequence lengths are limited to 2^31 tokens.

    Quantized operands (`attn-quantize` makes them): one `quantized(...)`
    bundle per precision the op's heads use, holding what the quantization
    pre-steps of SEMANTICS.md section 3 computed (`attn.key_mean`,
    `attn.query_block_mean`, `attn.quantize_rows`, `attn.quantize_value`).
    A bundle without `group` serves the op's `precision`; `group = g` serves
    the heads of head group g (0-based, in `heads`), which must have its own
    precision. Its entries, named by role, are exactly those the precision
    needs, in this order: `key_mean` [B, Hkv, D] (`smooth_k`),
    `query_block_mean` [B, Hq, blocks, D] and `score_correction`
    [B, Hq, blocks, Nk] (`smooth_q`), `query` [B, Hq, Nq, D] and `key`
    [B, Hkv, Nk, D] (Q' and K': quantized, smoothed or rounded), with
    `query_scales` [B, Hq, Nq, S] and `key_scales` [B, Hkv, Nk, S] for a
    quantized `qk` (S = ceil(D / 16) for `f4E2M1FN`, else 1), `value`
    [B, Hkv, Nk, Dv] (`pv` other than V's type) and `value_scales`
    [B, Hkv, Dv] (`pv = f8E4M3FN`). With a bundle the op reads these
    instead of computing them; the two-level quantization of P for
    `f4E2M1FN` stays inside the main loop, since P exists only there.
    (Generic form: `quantized_layout` holds 16 * bundle + role per operand,
    bundle 0 being the op's and g + 1 head group g's.)

    Attributes: `mask` (any mask attribute; absent means dense), `precision`
    (`#attn.precision`), `heads` (`#attn.heads`), `scale` (defaults to
    1/sqrt(D)), `tiling` (`#attn.tiling`, the tile shapes `attn-plan`
    chose; rank > 1 tiles the token grid of the op's masks) and
    `tile_classes` (from `attn-sparsity`: [masks, query tiles, key tiles] of
    0 empty, 1 partial, 2 full; mask 0 is the op's, then the masks of the
    head groups that have one, in order).

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<1x16x16384x128xbf16>,
                            tensor<1x16x16384x128xbf16>, tensor<1x16x16384x128xbf16>)
           outs(%init : tensor<1x16x16384x128xbf16>)
           mask = #attn.neighborhood<grid = [128, 128], window = [13, 13]>
           -> tensor<1x16x16384x128xbf16>
    ```
  }];

  let arguments = (ins
    Attn_ShapedOperand:$query,
    Attn_ShapedOperand:$key,
    Attn_ShapedOperand:$value,
    Optional<Attn_ShapedOperand>:$explicit_mask,
    Optional<Attn_ShapedOperand>:$bias,
    Optional<Attn_ShapedOperand>:$segment_offsets,
    Optional<Attn_ShapedOperand>:$gates,
    Variadic<Attn_ShapedOperand>:$quantized,
    Attn_ShapedOperand:$output,
    Optional<Attn_ShapedOperand>:$lse_output,
    OptionalAttr<Attn_MaskAttrConstraint>:$mask,
    OptionalAttr<Attn_PrecisionAttr>:$precision,
    OptionalAttr<Attn_HeadsAttr>:$heads,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<Attn_TilingAttr>:$tiling,
    OptionalAttr<SignlessIntElementsAttr<8>>:$tile_classes,
    OptionalAttr<DenseI64ArrayAttr>:$quantized_layout
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,` type($value) `)`
    (`explicit_mask` `(` $explicit_mask^ `:` type($explicit_mask) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`segment_offsets` `(` $segment_offsets^ `:` type($segment_offsets) `)`)?
    (`gates` `(` $gates^ `:` type($gates) `)`)?
    (custom<QuantizedBundles>($quantized, type($quantized), $quantized_layout)^)?
    `outs` `(` $output `:` type($output) (`,` $lse_output^ `:` type($lse_output))? `)`
    (`mask` `=` $mask^)?
    (`precision` `=` custom<FullAttr>($precision)^)?
    (`heads` `=` custom<FullAttr>($heads)^)?
    (`scale` `=` $scale^)?
    (`tiling` `=` custom<FullAttr>($tiling)^)?
    (`tile_classes` `=` $tile_classes^)?
    attr-dict (`->` type($results)^)?
  }];

  let hasVerifier = 1;
  let hasCanonicalizer = 1;

  let extraClassDeclaration = [{
    bool hasTensorSemantics() { return getNumResults() != 0 ||
        ::llvm::isa<RankedTensorType>(getOutput().getType()); }

    MutableOperandRange getDpsInitsMutable();

    /// The roles a quantized bundle for `precision` holds, in order: the
    /// pre-steps of SEMANTICS.md section 3 that precision needs on this
    /// op's operand types (empty when none).
    SmallVector<QuantizedRole> getQuantizedRoles(PrecisionAttr precision);
    /// The query block of smooth_q under `precision` (SEMANTICS.md
    /// section 3): the granularity's block, one token for `token`, the
    /// whole sequence for `tensor`, else 64.
    int64_t getSmoothQueryBlockSize(PrecisionAttr precision);
    /// The precision of bundle `bundle` (0: the op's, g + 1: head group g's).
    PrecisionAttr getBundlePrecision(int64_t bundle);
    /// The operands of bundle `bundle` by role (null where absent); empty
    /// when the op carries no such bundle.
    DenseMap<QuantizedRole, Value> getQuantizedBundle(int64_t bundle);
  }];
}

def Attn_AttentionGradOp : Attn_Op<"attention_grad", [
    AttrSizedOperandSegments, Attn_AttentionProblemOpInterface,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DestinationStyleOpInterface]> {
  let summary = "Gradients of `attn.attention` (SEMANTICS.md section 5)";
  let description = [{
    The backward pass of an `attn.attention` with the same Q, K, V, optional
    operands (`explicit_mask`, `bias`, `segment_offsets`, `gates`) and
    attributes (`mask`, `precision`, `heads`, `scale`): given the forward's
    output O [B, Hq, Nq, Dv] and LSE [B, Hq, Nq] (f32), and the gradient
    of the loss with respect to O, `output_grad` [B, Hq, Nq, Dv]
    (optionally also `lse_grad` [B, Hq, Nq] f32, when the LSE is used
    downstream), it writes dQ, dK and dV (the shapes of Q, K and V), and
    `bias_grad` (the bias's shape: summed over its broadcast dimensions)
    and `gates_grad` ([B, Nq, Hq]) when the op has a bias or gates. A bias
    without `bias_grad` is a constant of the loss (a fixed positional
    bias): no dBias is computed, which on the GPU also saves its
    [Nq, Nk] f32 accumulator and a reduction per pair.

    `tiling` (the tiles the backward walks, in the forward's format; its
    producer sets it, `attn-plan` plans forward ops only) and
    `tile_classes` (recorded by `attn-sparsity`): each key tile walks the
    query tiles that table lists as non-empty.

    Mask attributes, head weights, SoftPAG's u and the scale are constants
    and get no gradient. Under a quantized `precision` the gradient is that
    of the unquantized function at the same inputs (the quantization taken
    as the identity). dK and dV of a key/value head sum the contributions
    of every query head that reads it (GQA).

    Destination-passing like the forward: on tensors the op returns the
    updated `outs`, on memrefs it writes them.

    ```mlir
    %dq, %dk, %dv = attn.attention_grad
        ins(%q, %k, %v, %o, %lse, %do : tensor<1x8x1024x64xbf16>, tensor<1x2x1024x64xbf16>,
            tensor<1x2x1024x64xbf16>, tensor<1x8x1024x64xbf16>, tensor<1x8x1024xf32>,
            tensor<1x8x1024x64xbf16>)
        outs(%dq0, %dk0, %dv0 : tensor<1x8x1024x64xbf16>, tensor<1x2x1024x64xbf16>,
             tensor<1x2x1024x64xbf16>)
        mask = #attn.causal
        -> tensor<1x8x1024x64xbf16>, tensor<1x2x1024x64xbf16>, tensor<1x2x1024x64xbf16>
    ```
  }];

  let arguments = (ins
    Attn_ShapedOperand:$query,
    Attn_ShapedOperand:$key,
    Attn_ShapedOperand:$value,
    Attn_ShapedOperand:$output,
    Attn_ShapedOperand:$lse,
    Attn_ShapedOperand:$output_grad,
    Optional<Attn_ShapedOperand>:$lse_grad,
    Optional<Attn_ShapedOperand>:$explicit_mask,
    Optional<Attn_ShapedOperand>:$bias,
    Optional<Attn_ShapedOperand>:$segment_offsets,
    Optional<Attn_ShapedOperand>:$gates,
    Attn_ShapedOperand:$query_grad,
    Attn_ShapedOperand:$key_grad,
    Attn_ShapedOperand:$value_grad,
    Optional<Attn_ShapedOperand>:$bias_grad,
    Optional<Attn_ShapedOperand>:$gates_grad,
    OptionalAttr<Attn_MaskAttrConstraint>:$mask,
    OptionalAttr<Attn_PrecisionAttr>:$precision,
    OptionalAttr<Attn_HeadsAttr>:$heads,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<Attn_TilingAttr>:$tiling,
    OptionalAttr<SignlessIntElementsAttr<8>>:$tile_classes
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `,` $output `,` $lse `,` $output_grad `:`
        type($query) `,` type($key) `,` type($value) `,` type($output) `,`
        type($lse) `,` type($output_grad) `)`
    (`lse_grad` `(` $lse_grad^ `:` type($lse_grad) `)`)?
    (`explicit_mask` `(` $explicit_mask^ `:` type($explicit_mask) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`segment_offsets` `(` $segment_offsets^ `:` type($segment_offsets) `)`)?
    (`gates` `(` $gates^ `:` type($gates) `)`)?
    `outs` `(` $query_grad `,` $key_grad `,` $value_grad `:` type($query_grad) `,`
        type($key_grad) `,` type($value_grad) `)`
    (`bias_grad` `(` $bias_grad^ `:` type($bias_grad) `)`)?
    (`gates_grad` `(` $gates_grad^ `:` type($gates_grad) `)`)?
    (`mask` `=` $mask^)?
    (`precision` `=` custom<FullAttr>($precision)^)?
    (`heads` `=` custom<FullAttr>($heads)^)?
    (`scale` `=` $scale^)?
    (`tiling` `=` custom<FullAttr>($tiling)^)?
    (`tile_classes` `=` $tile_classes^)?
    attr-dict (`->` type($results)^)?
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    bool hasTensorSemantics() { return getNumResults() != 0 ||
        ::llvm::isa<RankedTensorType>(getQueryGrad().getType()); }
    MutableOperandRange getDpsInitsMutable();
  }];
}

/// The quantization pre-steps share their form: destination-passing on
/// tensors or memrefs (`outs` written in full, never read).
class Attn_QuantizationStepOp<string mnemonic, list<Trait> traits = []>
    : Attn_Op<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        DestinationStyleOpInterface])> {
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let hasVerifier = 1;
  code commonDeclarations = [{
    bool hasTensorSemantics() { return getNumResults() != 0; }
  }];
}

def Attn_KeyMeanOp : Attn_QuantizationStepOp<"key_mean"> {
  let summary = "The K mean of smooth_k, per batch, kv head and channel";
  let description = [{
    `mean[b, h, c] = sum_j K[b, h, j, c] / Nk` over all Nk keys
    (SEMANTICS.md section 3, `smooth_k`): K [B, Hkv, Nk, D] to mean
    [B, Hkv, D]. `attn-quantize` keeps the mean in f64, where the sum of
    f16/bf16 keys is exact enough for the emulation to be bit-faithful.

    ```mlir
    %mean = attn.key_mean ins(%k : tensor<1x2x77x64xf16>)
              outs(%init : tensor<1x2x64xf64>) -> tensor<1x2x64xf64>
    ```
  }];
  let arguments = (ins Attn_ShapedOperand:$key, Attn_ShapedOperand:$mean);
  let assemblyFormat = [{
    `ins` `(` $key `:` type($key) `)`
    `outs` `(` $mean `:` type($mean) `)`
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = commonDeclarations # [{
    MutableOperandRange getDpsInitsMutable() { return getMeanMutable(); }
  }];
}

def Attn_QueryBlockMeanOp : Attn_QuantizationStepOp<"query_block_mean"> {
  let summary = "The per-block Q means of smooth_q and the score correction dS";
  let description = [{
    For every block of `block_size` consecutive queries (the last one may be
    shorter), `mean[b, h, blk, c]` is the mean of Q over the block, and
    `score_correction[b, h, blk, j] = dot(mean[b, h, blk], K'[j])` with
    K' = K - `key_mean` when given (`smooth_k`), else K, read from kv head
    h / (Hq / Hkv) (SEMANTICS.md section 3, `smooth_q`). Shapes: Q
    [B, Hq, Nq, D], K [B, Hkv, Nk, D], key_mean [B, Hkv, D], mean
    [B, Hq, ceil(Nq / block_size), D], score_correction
    [B, Hq, ceil(Nq / block_size), Nk]. The dot product runs in f64 and is
    stored in score_correction's type (f32 from `attn-quantize`).

    ```mlir
    %mean, %ds = attn.query_block_mean ins(%q, %k : tensor<1x2x77x64xf16>, tensor<1x2x77x64xf16>)
                   key_mean(%km : tensor<1x2x64xf64>)
                   outs(%m0, %ds0 : tensor<1x2x2x64xf64>, tensor<1x2x2x77xf32>)
                   block_size = 64 -> tensor<1x2x2x64xf64>, tensor<1x2x2x77xf32>
    ```
  }];
  let arguments = (ins Attn_ShapedOperand:$query, Attn_ShapedOperand:$key,
                       Optional<Attn_ShapedOperand>:$key_mean,
                       Attn_ShapedOperand:$mean,
                       Attn_ShapedOperand:$score_correction,
                       I64Attr:$block_size);
  let assemblyFormat = [{
    `ins` `(` $query `,` $key `:` type($query) `,` type($key) `)`
    (`key_mean` `(` $key_mean^ `:` type($key_mean) `)`)?
    `outs` `(` $mean `,` $score_correction `:` type($mean) `,`
               type($score_correction) `)`
    `block_size` `=` $block_size
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = commonDeclarations # [{
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getOperation(),
                                 getMeanMutable().getOperandNumber(), 2);
    }
  }];
}

def Attn_QuantizeRowsOp : Attn_QuantizationStepOp<"quantize_rows", [
    AttrSizedOperandSegments]> {
  let summary = "Q' or K': smoothed, then quantized per scale group (or rounded)";
  let description = [{
    The Q.K side of SEMANTICS.md section 3 for one operand X [B, H, N, D]
    (Q or K): x' = X - `mean` when given (`mean` [B, H, D]: one mean per
    channel, the K mean; or [B, H, blocks, D] with `mean_block_size`: the
    mean of token t's block t / mean_block_size, the Q block means), then,
    with `precision`'s `qk` and `qk_granularity`:

    * a quantized `qk` (`i8`, `i4`, `f8E4M3FN`): per scale group of the
      granularity, scale = max|x'| / qmax (127, 7, 448; 1 for an all-zero
      group), value = round-half-to-even(x' / scale) clamped to
      [-qmax, qmax] (E4M3 rounding for `f8E4M3FN`); `scales` [B, H, N, 1]
      holds the scale of each token's group;
    * `f4E2M1FN` (NVFP4): every 16 channels of a token share the scale
      E4M3(max / 6); `scales` is [B, H, N, ceil(D / 16)];
    * `qk` a 16-bit float, or no `precision`: `values` = x' rounded to
      `qk` (exactly x' without one), no `scales`.

    Values are stored as numbers in `values`' float type (f32 from
    `attn-quantize`, which holds every quantized value exactly); the
    arithmetic runs in f64 with f32 scales. `precision` may set only `qk`
    and `qk_granularity`.

    ```mlir
    %kv, %ks = attn.quantize_rows ins(%k : tensor<1x2x77x64xf16>)
                 mean(%km : tensor<1x2x64xf64>)
                 outs(%v0, %s0 : tensor<1x2x77x64xf32>, tensor<1x2x77x1xf32>)
                 precision = #attn.precision<qk = i8, qk_granularity = thread(64)>
                 -> tensor<1x2x77x64xf32>, tensor<1x2x77x1xf32>
    ```
  }];
  let arguments = (ins Attn_ShapedOperand:$input,
                       Optional<Attn_ShapedOperand>:$mean,
                       Attn_ShapedOperand:$values,
                       Optional<Attn_ShapedOperand>:$scales,
                       OptionalAttr<Attn_PrecisionAttr>:$precision,
                       OptionalAttr<I64Attr>:$mean_block_size);
  let assemblyFormat = [{
    `ins` `(` $input `:` type($input) `)`
    (`mean` `(` $mean^ `:` type($mean) `)`)?
    `outs` `(` $values `:` type($values) (`,` $scales^ `:` type($scales))? `)`
    (`precision` `=` custom<FullAttr>($precision)^)?
    (`mean_block_size` `=` $mean_block_size^)?
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = commonDeclarations # [{
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getOperation(),
                                 getValuesMutable().getOperandNumber(),
                                 getScales() ? 2 : 1);
    }
    /// True when the rows are quantized with scales (not only rounded).
    bool isQuantized() {
      return getPrecisionAttr() && getPrecisionAttr().isQuantizedQK();
    }
  }];
}

def Attn_QuantizeValueOp : Attn_QuantizationStepOp<"quantize_value"> {
  let summary = "V as the P.V product of a precision reads it";
  let description = [{
    The V side of SEMANTICS.md section 3, V [B, Hkv, Nk, Dv] to `values` of
    the same shape, by `to` (the precision's `pv`):

    * `f8E4M3FN`: per channel c, scale = max|V[:, c]| / 448 (1 when all
      zero) into `scales` [B, Hkv, Dv], values = E4M3(V / scale);
    * `f4E2M1FN` (NVFP4 along the keys): per channel, each run of 16 keys
      (aligned to multiples of 16) shares the scale s = E4M3(max / 6);
      values hold the dequantized E2M1(V / s) * s, exact in f32; no
      `scales`;
    * `f16`, `bf16`: values = V rounded to `to`; no `scales`.

    ```mlir
    %vv, %vs = attn.quantize_value ins(%v : tensor<1x2x77x64xf16>)
                 outs(%v0, %s0 : tensor<1x2x77x64xf32>, tensor<1x2x64xf32>)
                 to = f8E4M3FN -> tensor<1x2x77x64xf32>, tensor<1x2x64xf32>
    ```
  }];
  let arguments = (ins Attn_ShapedOperand:$value, Attn_ShapedOperand:$values,
                       Optional<Attn_ShapedOperand>:$scales,
                       TypeAttr:$to);
  let assemblyFormat = [{
    `ins` `(` $value `:` type($value) `)`
    `outs` `(` $values `:` type($values) (`,` $scales^ `:` type($scales))? `)`
    `to` `=` $to
    attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = commonDeclarations # [{
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getOperation(),
                                 getValuesMutable().getOperandNumber(),
                                 getScales() ? 2 : 1);
    }
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
