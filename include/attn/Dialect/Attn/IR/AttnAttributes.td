//===- AttnAttributes.td - every attn attribute ------------*- tablegen -*-===//
//
// Both attribute families, for the one generated definition file: storage,
// accessors, assembly formats, the mnemonic dispatch of the dialect's
// parseAttribute/printAttribute and the registration list, all compiled in
// AttnDialect.cpp. The declarations stay per family (AttnMaskAttrs.h.inc for
// MaskAttrs.h, AttnAttrDefs.h.inc for AttnAttrs.h).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRIBUTES_TD
#define ATTN_DIALECT_ATTN_IR_ATTNATTRIBUTES_TD

include "attn/Dialect/Attn/IR/AttnMaskAttrs.td"
include "attn/Dialect/Attn/IR/AttnAttrDefs.td"

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRIBUTES_TD
