//===- MaskFuzzer.cpp - libFuzzer target: the mask interface --------------===//
//
// Bytes as sequence lengths, tile boxes and the text of a mask attribute.
// For a mask that parses and accepts the lengths, every answer of the
// interface is checked against keep() evaluated pair by pair:
// classifyTile is sound (full: every pair kept, empty: none), countKept
// is exact, and simplify() keeps the same pairs; the emitted run-time
// forms, folded on constant ranges, hold every kept pair: the key range of
// a query range (the forward's walk), the query range of a key range (the
// backward's), and a sound (mayKeep, keepsAll). A violation traps with the
// mask printed, so libFuzzer saves the input.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/raw_ostream.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

[[noreturn]] void violation(MaskAttrInterface mask, const MaskContext &context,
                            const char *what) {
  llvm::errs() << "mask interface violation: " << what << " for " << mask
               << " at Nq = " << context.queryLength
               << ", Nk = " << context.keyLength << "\n";
  __builtin_trap();
}

/// A box of `grid` from the provider's bytes (possibly empty).
TokenBox boxOf(FuzzedDataProvider &bytes, ArrayRef<int64_t> grid) {
  SmallVector<int64_t, 3> begin, end;
  for (int64_t extent : grid) {
    int64_t a = bytes.ConsumeIntegralInRange<int64_t>(0, extent);
    int64_t b = bytes.ConsumeIntegralInRange<int64_t>(0, extent);
    begin.push_back(std::min(a, b));
    end.push_back(std::max(a, b));
  }
  return TokenBox(grid, begin, end);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    auto *ctx = new MLIRContext();
    ctx->loadDialect<AttnDialect, arith::ArithDialect>();
    ctx->getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
    return ctx;
  }();
  FuzzedDataProvider bytes(data, size);
  int64_t nq = bytes.ConsumeIntegralInRange<int64_t>(1, 96);
  int64_t nk = bytes.ConsumeIntegralInRange<int64_t>(1, 96);
  std::vector<uint8_t> boxBytes = bytes.ConsumeBytes<uint8_t>(48);
  std::string text = bytes.ConsumeRemainingBytesAsString();
  auto mask = dyn_cast_or_null<MaskAttrInterface>(parseAttribute(
      text, context, Type(), nullptr, /*isKnownNullTerminated=*/false));
  if (!mask || mask.needsSegmentOffsets())
    return 0;
  MaskContext maskContext(nq, nk);
  if (failed(mask.verifyLengths(
          maskContext, [&] { return emitError(UnknownLoc::get(context)); })))
    return 0;

  // keep() on every pair, the reference of the other answers.
  std::vector<char> kept(nq * nk);
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nk; ++j)
      kept[i * nk + j] = mask.keep(i, j, maskContext);

  MaskAttrInterface simplified = mask.simplify(maskContext);
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nk; ++j)
      if (simplified.keep(i, j, maskContext) != bool(kept[i * nk + j]))
        violation(mask, maskContext, "simplify() changes keep()");

  // Boxes on the mask's grid when it has one, else ranges of the sequences.
  SmallVector<int64_t> grid = mask.getTokenGrid();
  SmallVector<int64_t> queryGrid =
      grid.empty() ? SmallVector<int64_t>{nq} : grid;
  SmallVector<int64_t> keyGrid = grid.empty() ? SmallVector<int64_t>{nk} : grid;
  FuzzedDataProvider boxSource(boxBytes.data(), boxBytes.size());
  for (int pair = 0; pair < 4; ++pair) {
    TokenBox queries = boxOf(boxSource, queryGrid);
    TokenBox keys = boxOf(boxSource, keyGrid);
    int64_t count = 0, total = 0;
    queries.forEachToken([&](int64_t i) {
      keys.forEachToken([&](int64_t j) {
        ++total;
        count += kept[i * nk + j];
      });
    });
    TileClass tileClass = mask.classifyTile(queries, keys, maskContext);
    if (tileClass == TileClass::Full && count != total)
      violation(mask, maskContext, "classifyTile says full, a pair is dropped");
    if (tileClass == TileClass::Empty && count != 0)
      violation(mask, maskContext, "classifyTile says empty, a pair is kept");
    if (mask.countKept(queries, keys, maskContext) != count)
      violation(mask, maskContext, "countKept differs from keep()");
  }

  // The emitted forms on constant flat ranges fold to constants.
  OwningOpRef<ModuleOp> scratch = ModuleOp::create(UnknownLoc::get(context));
  OpBuilder builder(context);
  builder.setInsertionPointToStart(scratch->getBody());
  Location loc = builder.getUnknownLoc();
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, v);
  };
  auto folded = [](Value v, int64_t &out) {
    APInt value;
    if (!matchPattern(v, m_ConstantInt(&value)))
      return false;
    out = value.getSExtValue();
    return true;
  };
  MaskIRContext irContext;
  irContext.queryLength = constant(nq);
  irContext.keyLength = constant(nk);
  // The ranges reuse the box bytes (the corpus keeps its layout).
  FuzzedDataProvider rangeSource(boxBytes.data(), boxBytes.size());
  for (int pair = 0; pair < 2; ++pair) {
    int64_t q0 = rangeSource.ConsumeIntegralInRange<int64_t>(0, nq - 1);
    int64_t q1 = rangeSource.ConsumeIntegralInRange<int64_t>(q0 + 1, nq);
    int64_t k0 = rangeSource.ConsumeIntegralInRange<int64_t>(0, nk - 1);
    int64_t k1 = rangeSource.ConsumeIntegralInRange<int64_t>(k0 + 1, nk);
    int64_t firstKey = nk, lastKey = -1, firstQuery = nq, lastQuery = -1;
    bool anyKept = false, anyDropped = false;
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < nk; ++j) {
        if (!kept[i * nk + j])
          continue;
        if (i >= q0 && i < q1) {
          firstKey = std::min(firstKey, j);
          lastKey = std::max(lastKey, j);
        }
        if (j >= k0 && j < k1) {
          firstQuery = std::min(firstQuery, i);
          lastQuery = std::max(lastQuery, i);
        }
      }
    for (int64_t i = q0; i < q1; ++i)
      for (int64_t j = k0; j < k1; ++j)
        (kept[i * nk + j] ? anyKept : anyDropped) = true;
    int64_t begin, end, mayKeep, keepsAll;
    auto [keyBegin, keyEnd] =
        mask.emitKeyRange(builder, loc, constant(q0), constant(q1), irContext);
    if (folded(keyBegin, begin) && folded(keyEnd, end) && lastKey >= 0 &&
        (begin > firstKey || end <= lastKey))
      violation(mask, maskContext, "emitKeyRange misses a kept key");
    auto [queryBegin, queryEnd] = mask.emitQueryRange(
        builder, loc, constant(k0), constant(k1), irContext);
    if (folded(queryBegin, begin) && folded(queryEnd, end) && lastQuery >= 0 &&
        (begin > firstQuery || end <= lastQuery))
      violation(mask, maskContext, "emitQueryRange misses a query");
    auto [may, all] =
        mask.emitClassifyRange(builder, loc, constant(q0), constant(q1),
                               constant(k0), constant(k1), irContext);
    if (folded(may, mayKeep) && !mayKeep && anyKept)
      violation(mask, maskContext,
                "emitClassifyRange says empty, a pair is kept");
    if (folded(all, keepsAll) && keepsAll && anyDropped)
      violation(mask, maskContext,
                "emitClassifyRange says full, a pair is dropped");
    scratch->getBody()->clear();
    builder.setInsertionPointToStart(scratch->getBody());
    irContext.queryLength = constant(nq);
    irContext.keyLength = constant(nk);
  }
  return 0;
}
