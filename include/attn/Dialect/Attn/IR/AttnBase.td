//===- AttnBase.td - attn dialect definition ---------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNBASE_TD
#define ATTN_DIALECT_ATTN_IR_ATTNBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention with structured masks, quantized precisions and head selection.";
  let description = [{
    The `attn` dialect states *what* an attention layer computes in one op,
    `attn.attention`, and leaves *how* (tiles, block sparsity, quantization,
    fusion) to passes. Masks, precisions and head rules are attributes; every
    mask attribute implements `MaskAttrInterface`, which answers `keep(i, j)`
    exactly and classifies any (query tile, key tile) pair as full, partial or
    empty. The semantics of every mask, with examples, are in `docs/Masks.md`.
  }];
  // parseAttribute/printAttribute (AttnDialect.cpp) wrap the generated
  // dispatch of AttnAttributes.td, to keep the dialect's own diagnostic for
  // an unknown mnemonic.
  let useDefaultAttributePrinterParser = 0;
  let hasConstantMaterializer = 0;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    ::mlir::Attribute parseAttribute(::mlir::DialectAsmParser &parser,
                                     ::mlir::Type type) const override;
    void printAttribute(::mlir::Attribute attr,
                        ::mlir::DialectAsmPrinter &printer) const override;
  }];
}

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_ATTN_IR_ATTNBASE_TD
