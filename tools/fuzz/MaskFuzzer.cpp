//===- MaskFuzzer.cpp - libFuzzer target: the mask interface --------------===//
//
// Bytes as sequence lengths, tile boxes and the text of a mask attribute.
// For a mask that parses and accepts the lengths, every answer of the
// interface is checked against keep() evaluated pair by pair:
// classifyTile is sound (full: every pair kept, empty: none), countKept
// is exact, and simplify() keeps the same pairs. A violation traps with
// the mask printed, so libFuzzer saves the input.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
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
    ctx->loadDialect<AttnDialect>();
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
  return 0;
}
