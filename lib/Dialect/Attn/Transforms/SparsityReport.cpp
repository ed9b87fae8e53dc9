//===- SparsityReport.cpp - full / partial / empty tile counts ------------===//
//
// Tiles the query and key sequences (or the mask's token grid) of every
// attn.attention and reports what the mask interface says of each tile pair.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

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

namespace {
struct TileCounts {
  int64_t full = 0, partial = 0, empty = 0;
  int64_t keptPairs = 0, totalPairs = 0;
  int64_t tilePairs() const { return full + partial + empty; }
};
} // namespace

/// Calls `fn` on every tile of `grid` with tile shape `tile` (edge tiles are
/// clipped), in row-major tile order.
static void forEachTile(ArrayRef<int64_t> grid, ArrayRef<int64_t> tile,
                        function_ref<void(const TokenBox &)> fn) {
  unsigned rank = grid.size();
  SmallVector<int64_t, 3> index(rank, 0);
  while (true) {
    SmallVector<int64_t, 3> begin, end;
    for (unsigned d = 0; d < rank; ++d) {
      begin.push_back(index[d] * tile[d]);
      end.push_back(std::min(grid[d], (index[d] + 1) * tile[d]));
    }
    fn(TokenBox(grid, begin, end));
    int d = static_cast<int>(rank) - 1;
    for (; d >= 0; --d) {
      if (++index[d] * tile[d] < grid[d])
        break;
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}

static TileCounts countTiles(MaskAttrInterface mask, const MaskContext &context,
                             ArrayRef<int64_t> queryGrid,
                             ArrayRef<int64_t> keyGrid,
                             ArrayRef<int64_t> queryTile,
                             ArrayRef<int64_t> keyTile, bool countPairs) {
  TileCounts counts;
  counts.totalPairs = context.queryLength * context.keyLength;
  SmallVector<TokenBox> keyTiles;
  forEachTile(keyGrid, keyTile, [&](const TokenBox &k) { keyTiles.push_back(k); });
  forEachTile(queryGrid, queryTile, [&](const TokenBox &q) {
    for (const TokenBox &k : keyTiles) {
      switch (mask.classifyTile(q, k, context)) {
      case TileClass::Full:
        ++counts.full;
        counts.keptPairs += q.getNumTokens() * k.getNumTokens();
        break;
      case TileClass::Partial:
        ++counts.partial;
        if (countPairs)
          counts.keptPairs += mask.countKept(q, k, context);
        break;
      case TileClass::Empty:
        ++counts.empty;
        break;
      }
    }
  });
  return counts;
}

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
    SmallVector<int64_t> qTile(queryTile.begin(), queryTile.end());
    SmallVector<int64_t> kTile(keyTile.begin(), keyTile.end());
    if (qTile.empty())
      qTile = {128};
    if (kTile.empty())
      kTile = qTile;
    for (auto [name, tile] : {std::pair<StringRef, ArrayRef<int64_t>>{
                                  "query-tile", qTile},
                              {"key-tile", kTile}}) {
      if (tile.size() > 3) {
        getOperation()->emitError() << "attn-sparsity-report: " << name
                                    << " has rank " << tile.size()
                                    << ", expected 1 to 3";
        return signalPassFailure();
      }
      for (int64_t t : tile) {
        if (t < 1) {
          getOperation()->emitError() << "attn-sparsity-report: " << name
                                      << " entry " << t
                                      << " must be positive";
          return signalPassFailure();
        }
      }
    }
    if (qTile.size() != kTile.size()) {
      getOperation()->emitError()
          << "attn-sparsity-report: query-tile has rank " << qTile.size()
          << " but key-tile has rank " << kTile.size();
      return signalPassFailure();
    }
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
    SmallVector<NamedAttribute> annotations;
    for (auto &[label, key, mask] : masks) {
      SmallVector<int64_t> queryGrid = {context.queryLength};
      SmallVector<int64_t> keyGrid = {context.keyLength};
      if (qTile.size() > 1) {
        SmallVector<int64_t> grid = mask.getTokenGrid();
        if (grid.size() != qTile.size())
          return op.emitError() << "attn-sparsity-report: " << label
                                << "tiles of rank " << qTile.size()
                                << " need a mask with a token grid of that "
                                   "rank, got "
                                << mask;
        queryGrid = grid;
        keyGrid = grid;
      }
      // Without the offsets, tiles cannot be classified nor pairs counted.
      bool runtimeSizes = mask.needsSegmentOffsets();
      TileCounts c = countTiles(mask, context, queryGrid, keyGrid, qTile, kTile,
                                /*countPairs=*/!runtimeSizes);
      int64_t computed = c.full + c.partial;
      std::string message;
      llvm::raw_string_ostream os(message);
      os << "attn sparsity: " << label << "query tile " << shapeString(qTile)
         << ", key tile " << shapeString(kTile);
      if (qTile.size() > 1)
        os << " on grid " << shapeString(queryGrid);
      os << ": " << c.tilePairs() << " tile pairs: " << c.full << " full, "
         << c.partial << " partial, " << c.empty << " empty; ";
      if (runtimeSizes) {
        os << "kept pairs unknown (run-time segment sizes: every tile counted "
              "as partial)";
      } else {
        os << "kept pairs " << c.keptPairs << " of " << c.totalPairs << " ("
           << llvm::format("%.4f", c.totalPairs
                                       ? 100.0 * c.keptPairs / c.totalPairs
                                       : 0.0)
           << "%); speedup bound over dense: ";
        if (computed)
          os << llvm::format("%.2f", double(c.tilePairs()) / computed) << "x";
        else
          os << "inf";
        os << " by tiles, ";
        if (c.keptPairs)
          os << llvm::format("%.2f", double(c.totalPairs) / c.keptPairs) << "x";
        else
          os << "inf";
        os << " by pairs";
      }
      op.emitRemark() << message;

      if (annotate) {
        Builder b(op.getContext());
        SmallVector<NamedAttribute> fields = {
            b.getNamedAttr("full", b.getI64IntegerAttr(c.full)),
            b.getNamedAttr("partial", b.getI64IntegerAttr(c.partial)),
            b.getNamedAttr("empty", b.getI64IntegerAttr(c.empty))};
        if (!runtimeSizes)
          fields.push_back(
              b.getNamedAttr("kept_pairs", b.getI64IntegerAttr(c.keptPairs)));
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
