//===- AttnOps.h - attn dialect operations -----------------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNOPS_H
#define ATTN_DIALECT_ATTN_IR_ATTNOPS_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir {
namespace attn {
namespace detail {
// The out-of-line parts of AttentionProblemOpInterface's shared methods.
MaskAttrInterface getMaskOrDense(MaskAttrInterface mask, MLIRContext *context);
MaskAttrInterface getMaskForHead(MaskAttrInterface mask, HeadsAttr heads,
                                 int64_t head, MLIRContext *context);
SmallVector<MaskAttrInterface> getMasks(MaskAttrInterface mask, HeadsAttr heads,
                                        MLIRContext *context);
SmallVector<int64_t> getTokenGrid(ArrayRef<MaskAttrInterface> masks);
MaskContext getMaskContext(int64_t queryLength, int64_t keyLength);
std::optional<double> getEffectiveScale(FloatAttr scale, int64_t headDim);
} // namespace detail
} // namespace attn
} // namespace mlir

#include "attn/Dialect/Attn/IR/AttnOpInterfaces.h.inc"

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.h.inc"

namespace mlir {
namespace attn {
/// An entry of attn.attention's `quantized_layout` is
/// kQuantizedBundleStride * bundle + role.
inline constexpr int64_t kQuantizedBundleStride = 16;
} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_IR_ATTNOPS_H
