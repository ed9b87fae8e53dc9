//===- AttnOpInterfaces.td - what attention ops share -------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPINTERFACES_TD
#define ATTN_DIALECT_ATTN_IR_ATTNOPINTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_AttentionProblemOpInterface
    : OpInterface<"AttentionProblemOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op that states one attention problem of SEMANTICS.md: Q, K, V, the
    optional explicit mask, bias, run-time segment offsets and gates, and
    the `mask`, `precision`, `heads` and `scale` attributes, with the tile
    shapes and compile-time tile classes its lowering walks.
    `attn.attention` (the forward) and `attn.attention_grad` (its
    gradients) implement it, so that what is derived from the problem (the
    mask of a head, the head sets, the scale, the sequence lengths) is
    written once for both.
  }];

  let methods = [
    InterfaceMethod<"Q [B, Hq, Nq, D].", "::mlir::Value", "getQuery", (ins),
      [{ return $_op.getQuery(); }]>,
    InterfaceMethod<"K [B, Hkv, Nk, D].", "::mlir::Value", "getKey", (ins),
      [{ return $_op.getKey(); }]>,
    InterfaceMethod<"V [B, Hkv, Nk, Dv].", "::mlir::Value", "getValue", (ins),
      [{ return $_op.getValue(); }]>,
    InterfaceMethod<"The explicit boolean mask, or null.", "::mlir::Value",
      "getExplicitMask", (ins), [{ return $_op.getExplicitMask(); }]>,
    InterfaceMethod<"The additive bias, or null.", "::mlir::Value", "getBias",
      (ins), [{ return $_op.getBias(); }]>,
    InterfaceMethod<"The run-time segment offsets, or null.", "::mlir::Value",
      "getSegmentOffsets", (ins), [{ return $_op.getSegmentOffsets(); }]>,
    InterfaceMethod<"The gates [B, Nq, Hq], or null.", "::mlir::Value",
      "getGates", (ins), [{ return $_op.getGates(); }]>,
    InterfaceMethod<"The mask attribute, or null (dense).",
      "::mlir::attn::MaskAttrInterface", "getMaskAttr", (ins),
      [{ return $_op.getMaskAttr(); }]>,
    InterfaceMethod<"The precision attribute, or null.",
      "::mlir::attn::PrecisionAttr", "getPrecisionAttr", (ins),
      [{ return $_op.getPrecisionAttr(); }]>,
    InterfaceMethod<"The heads attribute, or null.", "::mlir::attn::HeadsAttr",
      "getHeadsAttr", (ins), [{ return $_op.getHeadsAttr(); }]>,
    InterfaceMethod<"The softmax scale attribute, or null (1/sqrt(D)).",
      "::mlir::FloatAttr", "getScaleAttr", (ins),
      [{ return $_op.getScaleAttr(); }]>,
    InterfaceMethod<"The tile shapes (`attn-plan`), or null.",
      "::mlir::attn::TilingAttr", "getTilingAttr", (ins),
      [{ return $_op.getTilingAttr(); }]>,
    InterfaceMethod<"The compile-time tile classes (`attn-sparsity`: [masks, "
      "query tiles, key tiles]), or null.",
      "::mlir::DenseIntElementsAttr", "getTileClassesAttr", (ins),
      [{ return $_op.getTileClassesAttr(); }]>,
    InterfaceMethod<"Records the compile-time tile classes.", "void",
      "setTileClassesAttr", (ins "::mlir::DenseIntElementsAttr":$classes),
      [{ $_op.setTileClassesAttr(classes); }]>,
  ];

  let extraSharedClassDeclaration = [{
    /// The mask attribute, or #attn.dense when absent.
    ::mlir::attn::MaskAttrInterface getMaskOrDense() {
      return ::mlir::attn::detail::getMaskOrDense($_op.getMaskAttr(),
                                                  $_op->getContext());
    }
    /// The mask that applies to query head `head` (its group's, else the
    /// op's).
    ::mlir::attn::MaskAttrInterface getMaskForHead(int64_t head) {
      return ::mlir::attn::detail::getMaskForHead(
          $_op.getMaskAttr(), $_op.getHeadsAttr(), head, $_op->getContext());
    }
    /// Every mask of the op: its own, then those of the head groups that
    /// have one, in order (the order of `tile_classes`).
    ::llvm::SmallVector<::mlir::attn::MaskAttrInterface> getMasks() {
      return ::mlir::attn::detail::getMasks(
          $_op.getMaskAttr(), $_op.getHeadsAttr(), $_op->getContext());
    }
    /// The token grid of the first of getMasks() that has one (the grid
    /// N-D tiles tile), or empty.
    ::llvm::SmallVector<int64_t> getTokenGrid() {
      return ::mlir::attn::detail::getTokenGrid(getMasks());
    }
    /// Sequence lengths of the op, for mask queries (-1 when dynamic).
    ::mlir::attn::MaskContext getMaskContext() {
      return ::mlir::attn::detail::getMaskContext(getQueryLength(),
                                                  getKeyLength());
    }
    /// The effective softmax scale: `scale` or 1/sqrt(D); none for a
    /// run-time D without `scale`.
    std::optional<double> getEffectiveScale() {
      return ::mlir::attn::detail::getEffectiveScale($_op.getScaleAttr(),
                                                     getHeadDim());
    }

    int64_t getBatchSize() { return getShape($_op.getQuery())[0]; }
    int64_t getNumQueryHeads() { return getShape($_op.getQuery())[1]; }
    int64_t getNumKeyValueHeads() { return getShape($_op.getKey())[1]; }
    int64_t getQueryLength() { return getShape($_op.getQuery())[2]; }
    int64_t getKeyLength() { return getShape($_op.getKey())[2]; }
    int64_t getHeadDim() { return getShape($_op.getQuery())[3]; }
    int64_t getValueHeadDim() { return getShape($_op.getValue())[3]; }
    static ::llvm::ArrayRef<int64_t> getShape(::mlir::Value v) {
      return ::llvm::cast<::mlir::ShapedType>(v.getType()).getShape();
    }
  }];
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPINTERFACES_TD
