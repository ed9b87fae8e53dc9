//===- MaskInterface.cpp - MaskAttrInterface and its shared fallbacks -----===//
//
// The generated interface and the out-of-line helpers of its default
// methods: counting and classification by enumeration or bisection (for
// masks with no closed form) and the run-time defaults of emitClassifyRange,
// emitKeyRange and emitQueryRange. Written against the interface only, so
// the interface depends on no mask's implementation.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/MaskAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnInterfaces.cpp.inc"

/// Pairs per tile below which ambiguous tiles are settled by enumeration.
static constexpr int64_t kEnumerationLimit = 4096;

int64_t mlir::attn::countKeptByClassification(MaskAttrInterface mask,
                                              const TokenBox &queries,
                                              const TokenBox &keys,
                                              const MaskContext &context) {
  int64_t pairs = queries.getNumTokens() * keys.getNumTokens();
  if (pairs == 0)
    return 0;
  switch (mask.classifyTile(queries, keys, context)) {
  case TileClass::Empty:
    return 0;
  case TileClass::Full:
    return pairs;
  case TileClass::Partial:
    break;
  }
  if (pairs <= kEnumerationLimit) {
    int64_t count = 0;
    queries.forEachToken([&](int64_t i) {
      keys.forEachToken([&](int64_t j) { count += mask.keep(i, j, context); });
    });
    return count;
  }
  // Bisect the larger side: the classification of the halves settles most
  // of them without enumeration.
  if (queries.getNumTokens() >= keys.getNumTokens()) {
    auto [low, high] = queries.split();
    return countKeptByClassification(mask, low, keys, context) +
           countKeptByClassification(mask, high, keys, context);
  }
  auto [low, high] = keys.split();
  return countKeptByClassification(mask, queries, low, context) +
         countKeptByClassification(mask, queries, high, context);
}

TileClass mlir::attn::classifyByEnumeration(MaskAttrInterface mask,
                                            const TokenBox &queries,
                                            const TokenBox &keys,
                                            const MaskContext &context) {
  bool sawKept = false, sawDropped = false;
  queries.forEachToken([&](int64_t i) {
    if (sawKept && sawDropped)
      return;
    keys.forEachToken([&](int64_t j) {
      (mask.keep(i, j, context) ? sawKept : sawDropped) = true;
    });
  });
  if (sawKept && sawDropped)
    return TileClass::Partial;
  return sawKept ? TileClass::Full : TileClass::Empty;
}

TileClass mlir::attn::classifyByBisection(MaskAttrInterface mask,
                                          const TokenBox &queries,
                                          const TokenBox &keys,
                                          const MaskContext &context) {
  if (queries.getNumTokens() * keys.getNumTokens() <= kEnumerationLimit)
    return classifyByEnumeration(mask, queries, keys, context);
  TileClassUnion result;
  if (queries.getNumTokens() >= keys.getNumTokens()) {
    auto [low, high] = queries.split();
    result.add(mask.classifyTile(low, keys, context));
    if (!result.isPartial())
      result.add(mask.classifyTile(high, keys, context));
  } else {
    auto [low, high] = keys.split();
    result.add(mask.classifyTile(queries, low, context));
    if (!result.isPartial())
      result.add(mask.classifyTile(queries, high, context));
  }
  return result.get();
}

std::pair<Value, Value> mlir::attn::detail::emitPartialClass(OpBuilder &builder,
                                                             Location loc) {
  Value mayKeep = arith::ConstantIntOp::create(builder, loc, true, 1);
  Value keepsAll = arith::ConstantIntOp::create(builder, loc, false, 1);
  return {mayKeep, keepsAll};
}

std::pair<Value, Value>
mlir::attn::detail::emitAllKeys(OpBuilder &builder, Location loc,
                                const MaskIRContext &context) {
  return {arith::ConstantIndexOp::create(builder, loc, 0), context.keyLength};
}

std::pair<Value, Value>
mlir::attn::detail::emitAllQueries(OpBuilder &builder, Location loc,
                                   const MaskIRContext &context) {
  return {arith::ConstantIndexOp::create(builder, loc, 0), context.queryLength};
}
