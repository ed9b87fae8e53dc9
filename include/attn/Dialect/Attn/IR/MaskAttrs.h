//===- MaskAttrs.h - mask attributes and their interface --------*- C++ -*-===//
//
// MaskAttrInterface, the helpers its default methods and the mask rules
// share (MaskInterface.cpp), and the mask attributes (MaskAttrs.cpp,
// MaskCodegen.cpp). Code that uses only masks includes this header alone.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_MASKATTRS_H
#define ATTN_DIALECT_ATTN_IR_MASKATTRS_H

#include "attn/Dialect/Attn/IR/AttnEnums.h"
#include "attn/Dialect/Attn/IR/MaskTiles.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectImplementation.h"

namespace mlir {
namespace attn {
class MaskAttrInterface;
/// Counts kept pairs of a tile from its classification, enumerating pairs
/// only inside partial tiles. The fallback for masks with no closed form.
int64_t countKeptByClassification(MaskAttrInterface mask,
                                  const TokenBox &queries, const TokenBox &keys,
                                  const MaskContext &context);
/// Classifies a tile by evaluating `keep` on every pair. Only for tiles whose
/// analytic classification is inconclusive (composites of partial members).
TileClass classifyByEnumeration(MaskAttrInterface mask, const TokenBox &queries,
                                const TokenBox &keys,
                                const MaskContext &context);
/// Settles a tile whose analytic classification is inconclusive: by
/// enumeration when it is small, else by classifying both halves with
/// `mask.classifyTile`.
TileClass classifyByBisection(MaskAttrInterface mask, const TokenBox &queries,
                              const TokenBox &keys, const MaskContext &context);
namespace detail {
/// (mayKeep, keepsAll) = (true, false): the run-time class "partial".
std::pair<Value, Value> emitPartialClass(OpBuilder &builder, Location loc);
/// The key range [0, Nk).
std::pair<Value, Value> emitAllKeys(OpBuilder &builder, Location loc,
                                    const MaskIRContext &context);
/// The query range [0, Nq).
std::pair<Value, Value> emitAllQueries(OpBuilder &builder, Location loc,
                                       const MaskIRContext &context);
} // namespace detail
} // namespace attn
} // namespace mlir

#include "attn/Dialect/Attn/IR/AttnInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnMaskAttrs.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_MASKATTRS_H
