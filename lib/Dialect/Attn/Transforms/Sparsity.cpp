//===- Sparsity.cpp - compile-time tile classes ---------------------------===//
//
// Records the class of every (query tile, key tile) pair of the op's tiling
// for each of its masks, for static shapes: of attn.attention, whose walk
// reads it per query tile, and of attn.attention_grad, per key tile.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/IR/BuiltinTypes.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNSPARSITY
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnSparsityPass : mlir::attn::impl::AttnSparsityBase<AttnSparsityPass> {
  using Base::Base;

  void runOnOperation() override {
    if (maxTilePairs < 1) {
      getOperation()->emitError()
          << "attn-sparsity: max-tile-pairs = "
          << static_cast<int64_t>(maxTilePairs) << " must be positive";
      return signalPassFailure();
    }
    getOperation()->walk([&](AttentionProblemOpInterface op) {
      if (failed(classify(op)))
        signalPassFailure();
    });
  }

  LogicalResult classify(AttentionProblemOpInterface op) {
    MaskContext context = op.getMaskContext();
    TilingAttr tiling = op.getTilingAttr();
    if (!tiling || !context.hasStaticLengths())
      return success(); // Classified at run time.
    SmallVector<MaskAttrInterface> masks = op.getMasks();
    if (llvm::any_of(masks, [](MaskAttrInterface mask) {
          return mask.needsSegmentOffsets();
        }))
      return success(); // Only the run-time offsets tell.
    SmallVector<int64_t> queryGrid = {context.queryLength};
    SmallVector<int64_t> keyGrid = {context.keyLength};
    if (tiling.getRank() > 1)
      queryGrid = keyGrid = op.getTokenGrid();
    int64_t queryTiles = getNumTiles(queryGrid, tiling.getQuery());
    int64_t keyTiles = getNumTiles(keyGrid, tiling.getKey());
    int64_t entries = static_cast<int64_t>(masks.size()) * queryTiles;
    if (entries > maxTilePairs / std::max<int64_t>(keyTiles, 1)) {
      op->emitRemark() << "attn-sparsity: " << masks.size() << " x "
                       << queryTiles << " x " << keyTiles
                       << " tile classes exceed max-tile-pairs; classified "
                          "at run time";
      return success();
    }
    SmallVector<TokenBox> keyBoxes;
    forEachTile(keyGrid, tiling.getKey(),
                [&](const TokenBox &k) { keyBoxes.push_back(k); });
    SmallVector<int8_t> classes;
    classes.reserve(entries * keyTiles);
    for (MaskAttrInterface mask : masks) {
      forEachTile(queryGrid, tiling.getQuery(), [&](const TokenBox &q) {
        for (const TokenBox &k : keyBoxes)
          classes.push_back(
              static_cast<int8_t>(mask.classifyTile(q, k, context)));
      });
    }
    auto type = RankedTensorType::get(
        {static_cast<int64_t>(masks.size()), queryTiles, keyTiles},
        IntegerType::get(op->getContext(), 8));
    op.setTileClassesAttr(
        DenseIntElementsAttr::get(type, ArrayRef<int8_t>(classes)));
    return success();
  }
};
} // namespace
