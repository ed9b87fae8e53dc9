//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnAttrDefs.td"
include "attn/Dialect/Attn/IR/AttnMaskAttrs.td"
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
    AttrSizedOperandSegments,
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
    Attn_ShapedOperand:$output,
    Optional<Attn_ShapedOperand>:$lse_output,
    OptionalAttr<Attn_MaskAttrConstraint>:$mask,
    OptionalAttr<Attn_PrecisionAttr>:$precision,
    OptionalAttr<Attn_HeadsAttr>:$heads,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<Attn_TilingAttr>:$tiling,
    OptionalAttr<SignlessIntElementsAttr<8>>:$tile_classes
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,` type($value) `)`
    (`explicit_mask` `(` $explicit_mask^ `:` type($explicit_mask) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`segment_offsets` `(` $segment_offsets^ `:` type($segment_offsets) `)`)?
    (`gates` `(` $gates^ `:` type($gates) `)`)?
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
    /// The mask attribute, or #attn.dense when absent.
    MaskAttrInterface getMaskOrDense();
    /// The mask that applies to query head `head` (its group's, else the op's).
    MaskAttrInterface getMaskForHead(int64_t head);
    /// Every mask of the op: its own, then those of the head groups that
    /// have one, in order (the order of `tile_classes`).
    SmallVector<MaskAttrInterface> getMasks();
    /// The token grid of the first of getMasks() that has one (the grid
    /// N-D tiles tile), or empty.
    SmallVector<int64_t> getTokenGrid();
    /// Sequence lengths of the op, for mask queries (-1 when dynamic).
    MaskContext getMaskContext();
    /// The effective softmax scale: `scale` or 1/sqrt(D).
    std::optional<double> getEffectiveScale();
    bool hasTensorSemantics() { return getNumResults() != 0 ||
        ::llvm::isa<RankedTensorType>(getOutput().getType()); }

    int64_t getBatchSize() { return getShape(getQuery())[0]; }
    int64_t getNumQueryHeads() { return getShape(getQuery())[1]; }
    int64_t getNumKeyValueHeads() { return getShape(getKey())[1]; }
    int64_t getQueryLength() { return getShape(getQuery())[2]; }
    int64_t getKeyLength() { return getShape(getKey())[2]; }
    int64_t getHeadDim() { return getShape(getQuery())[3]; }
    int64_t getValueHeadDim() { return getShape(getValue())[3]; }
    static ArrayRef<int64_t> getShape(Value v) {
      return ::llvm::cast<ShapedType>(v.getType()).getShape();
    }

    MutableOperandRange getDpsInitsMutable();
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_TD
