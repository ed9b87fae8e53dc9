//===- AttnEnums.h - attn dialect enums -------------------------*- C++ -*-===//
//
// The enums of AttnEnums.td, shared by the mask attributes (causal
// alignment), the precision attribute (granularity, accumulation) and
// attn.attention (quantized operand roles).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNENUMS_H
#define ATTN_DIALECT_ATTN_IR_ATTNENUMS_H

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringRef.h"
#include <cstdint>
#include <optional>

#include "attn/Dialect/Attn/IR/AttnEnums.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNENUMS_H
