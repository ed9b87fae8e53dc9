//===- Utils.h - helpers every attn lowering shares --------------*- C++ -*-===//
//
// What the CPU loop nest, the GPU kernels and the transformations all
// derive from an op the same way: its head sets (one loop nest or kernel
// each), constant tables.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_UTILS_H
#define ATTN_DIALECT_ATTN_UTILS_UTILS_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace mlir {
namespace attn {

/// A private constant memref.global holding `values`, at the start of
/// `symbolTableOp` (renamed when `name` is taken), and a memref.get_global of
/// it at `builder`'s insertion point.
Value createConstantGlobal(OpBuilder &builder, Location loc,
                           Operation *symbolTableOp, StringRef name,
                           DenseElementsAttr values);

/// Whether a segments mask inside `mask` has renormalize = false, which
/// moves that mask after the softmax (SEMANTICS.md 2.5) for its heads.
bool hasUnnormalizedSegments(MaskAttrInterface mask);

/// Query heads that share a mask and a precision, and where their tables
/// live on the op.
struct HeadSet {
  MaskAttrInterface mask;
  PrecisionAttr precision;
  /// The heads; empty for "every head" (an op without head groups).
  SmallVector<int64_t> heads;
  /// The mask's table in `tile_classes` (0: the op's mask).
  int64_t classTable = 0;
  /// The quantized bundle of the precision (0: the op's, g + 1: head
  /// group g's).
  int64_t bundle = 0;
};

/// The heads of `op` by (mask, precision): the heads in no group with their
/// own mask or precision first (when there are any), then each such group.
/// Every backend emits one loop nest or kernel per set.
SmallVector<HeadSet> partitionHeads(AttentionProblemOpInterface op);

/// What the kernel of `op` multiplies (its precision attribute's Q.K and
/// P.V types and accumulation, its head dims): the input of the GPU target's
/// operand rules (getMmaOperandRefusal), for the plan and the lowering alike.
MmaOperands getMmaOperands(AttentionOp op);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_UTILS_UTILS_H
