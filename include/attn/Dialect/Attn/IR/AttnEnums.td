//===- AttnEnums.td - attn dialect enums -------------------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNENUMS_TD
#define ATTN_DIALECT_ATTN_IR_ATTNENUMS_TD

include "mlir/IR/EnumAttr.td"

def Attn_CausalAlignment : I32EnumAttr<"CausalAlignment",
    "where the causal diagonal starts when Nq != Nk", [
      I32EnumAttrCase<"TopLeft", 0, "top_left">,
      I32EnumAttrCase<"BottomRight", 1, "bottom_right">]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_GranularityKind : I32EnumAttr<"GranularityKind",
    "which tokens share one quantization scale", [
      I32EnumAttrCase<"Tensor", 0, "tensor">,
      I32EnumAttrCase<"Block", 1, "block">,
      I32EnumAttrCase<"Thread", 2, "thread">,
      I32EnumAttrCase<"Token", 3, "token">]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_Accumulation : I32EnumAttr<"Accumulation",
    "how the P.V product is accumulated", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"F16", 1, "f16">,
      I32EnumAttrCase<"TwoLevel", 2, "two_level">]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_QuantizedRole : I32EnumAttr<"QuantizedRole",
    "what one operand of a quantized bundle of attn.attention holds", [
      I32EnumAttrCase<"KeyMean", 0, "key_mean">,
      I32EnumAttrCase<"QueryBlockMean", 1, "query_block_mean">,
      I32EnumAttrCase<"ScoreCorrection", 2, "score_correction">,
      I32EnumAttrCase<"Query", 3, "query">,
      I32EnumAttrCase<"QueryScales", 4, "query_scales">,
      I32EnumAttrCase<"Key", 5, "key">,
      I32EnumAttrCase<"KeyScales", 6, "key_scales">,
      I32EnumAttrCase<"Value", 7, "value">,
      I32EnumAttrCase<"ValueScales", 8, "value_scales">]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

#endif // ATTN_DIALECT_ATTN_IR_ATTNENUMS_TD
