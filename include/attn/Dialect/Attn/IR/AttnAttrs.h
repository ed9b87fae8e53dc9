//===- AttnAttrs.h - precision, heads and tiling attributes -----*- C++ -*-===//
//
// The attributes of AttnAttrDefs.td. Head groups carry a mask, so this
// header includes MaskAttrs.h (and existing includers keep the masks).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_H

#include "attn/Dialect/Attn/IR/AttnEnums.h"
#include "attn/Dialect/Attn/IR/MaskAttrs.h"
#include "mlir/IR/BuiltinAttributes.h"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrDefs.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
