//===- SparsityReport.cpp - full / partial / empty tile counts ------------===//
//
// Tiles the query and key sequences (or the mask's token grid) of every
// attn.attention and reports what the mask interface says of each tile pair.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Analysis/TileSparsity.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/Format.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNSPARSITYREPORT
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

/// Tile pairs one op may have; beyond this the report asks for larger
/// tiles instead of running for minutes.
static constexpr int64_t kMaxTilePairs = int64_t(1) << 28;

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

namespace {
struct AttnSparsityReportPass
    : mlir::attn::impl::AttnSparsityReportBase<AttnSparsityReportPass> {
  using Base::Base;

  void runOnOperation() override {
    // (Named variables, not a structured binding: lambdas below use them.)
    auto tiles = getTileShapeOptions(
        SmallVector<int64_t>(queryTile.begin(), queryTile.end()),
        SmallVector<int64_t>(keyTile.begin(), keyTile.end()));
    SmallVector<int64_t> qTile = tiles.first, kTile = tiles.second;
    if (failed(verifyTileShapes("attn-sparsity-report", qTile, kTile,
                                [&] { return getOperation()->emitError(); })))
      return signalPassFailure();
    getOperation()->walk([&](AttentionOp op) {
      if (failed(report(op, qTile, kTile)))
        signalPassFailure();
    });
  }

  LogicalResult report(AttentionOp op, ArrayRef<int64_t> qTile,
                       ArrayRef<int64_t> kTile) {
    MaskContext context = op.getMaskContext();
    if (!context.hasStaticLengths()) {
      op.emitRemark() << "attn sparsity: skipped, the sequence lengths are "
                         "dynamic";
      return success();
    }
    // The op's mask, then each head group with a mask of its own, with the
    // remark label and the annotation key of each.
    SmallVector<std::tuple<std::string, std::string, MaskAttrInterface>> masks =
        {{"", "op", op.getMaskOrDense()}};
    if (HeadsAttr heads = op.getHeadsAttr()) {
      for (auto [g, group] : llvm::enumerate(heads.getGroups())) {
        if (!group.getMask())
          continue;
        std::string label;
        llvm::raw_string_ostream os(label);
        os << "head group " << g << " (heads [";
        llvm::interleaveComma(group.getHeads(), os);
        os << "]): ";
        masks.push_back({label, "group" + std::to_string(g), group.getMask()});
      }
    }
    // N-D tiles tile a token grid: the mask's own, or for masks on flat
    // indices (which classify any box) the grid of another mask of the op.
    SmallVector<int64_t> opGrid = op.getTokenGrid();

    SmallVector<NamedAttribute> annotations;
    for (auto &[label, key, mask] : masks) {
      auto grids = getTilingGrids(mask, context, opGrid, qTile.size());
      if (!grids)
        return op.emitError() << "attn-sparsity-report: " << label
                              << "tiles of rank " << qTile.size()
                              << " need a mask with a token grid of that "
                                 "rank, got "
                              << mask;
      auto &[queryGrid, keyGrid] = *grids;
      int64_t queryTiles = getNumTiles(queryGrid, qTile);
      int64_t keyTiles = getNumTiles(keyGrid, kTile);
      if (queryTiles > kMaxTilePairs / std::max<int64_t>(keyTiles, 1))
        return op.emitError() << "attn-sparsity-report: " << queryTiles
                              << " x " << keyTiles
                              << " tile pairs are too many; use larger tiles";
      TileSparsity c =
          computeTileSparsity(mask, context, queryGrid, keyGrid, qTile, kTile);
      std::string message;
      llvm::raw_string_ostream os(message);
      os << "attn sparsity: " << label << "query tile " << shapeString(qTile)
         << ", key tile " << shapeString(kTile);
      if (qTile.size() > 1)
        os << " on grid " << shapeString(queryGrid);
      os << ": " << c.getNumTilePairs() << " tile pairs: " << c.full
         << " full, " << c.partial << " partial, " << c.empty << " empty; ";
      if (!c.keptPairs) {
        os << "kept pairs unknown (run-time segment sizes: every tile counted "
              "as partial)";
      } else {
        int64_t kept = *c.keptPairs;
        os << "kept pairs " << kept << " of " << c.totalPairs << " ("
           << llvm::format("%.4f",
                           c.totalPairs ? 100.0 * kept / c.totalPairs : 0.0)
           << "%); speedup bound over dense: ";
        auto printBound = [&](std::optional<double> bound) {
          if (bound)
            os << llvm::format("%.2f", *bound) << "x";
          else
            os << "inf";
        };
        printBound(c.getTileSpeedupBound());
        os << " by tiles, ";
        printBound(c.getPairSpeedupBound());
        os << " by pairs";
      }
      op.emitRemark() << message;

      if (annotate) {
        Builder b(op.getContext());
        SmallVector<NamedAttribute> fields = {
            b.getNamedAttr("full", b.getI64IntegerAttr(c.full)),
            b.getNamedAttr("partial", b.getI64IntegerAttr(c.partial)),
            b.getNamedAttr("empty", b.getI64IntegerAttr(c.empty))};
        if (c.keptPairs)
          fields.push_back(
              b.getNamedAttr("kept_pairs", b.getI64IntegerAttr(*c.keptPairs)));
        annotations.push_back(
            b.getNamedAttr(key, b.getDictionaryAttr(fields)));
      }
    }
    if (annotate)
      op->setAttr("attn.sparsity",
                  DictionaryAttr::get(op.getContext(), annotations));
    return success();
  }
};
} // namespace
