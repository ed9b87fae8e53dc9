//===- TileSparsityTest.cpp - tile counts against brute force -------------===//

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"
#include <map>
#include <random>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Brute force: every tile pair of flat index sets, classified by keep().
TileSparsity bruteForce(MaskAttrInterface mask, const MaskContext &context,
                        ArrayRef<int64_t> grid, ArrayRef<int64_t> tile) {
  TileSparsity result;
  result.totalPairs = context.queryLength * context.keyLength;
  int64_t kept = 0;
  std::vector<std::vector<int64_t>> tiles;
  forEachTile(grid, tile, [&](const TokenBox &box) {
    std::vector<int64_t> tokens;
    // Tokens of the box, enumerated from coordinates (not from runs).
    for (int64_t index = 0; index < box.getGridSize(); ++index) {
      SmallVector<int64_t, 3> c = TokenBox::unflatten(index, grid);
      bool inside = true;
      for (unsigned d = 0; d < c.size(); ++d)
        inside &= c[d] >= box.begin[d] && c[d] < box.end[d];
      if (inside)
        tokens.push_back(index);
    }
    tiles.push_back(tokens);
  });
  for (const auto &q : tiles) {
    for (const auto &k : tiles) {
      int64_t tileKept = 0;
      for (int64_t i : q)
        for (int64_t j : k)
          tileKept += mask.keep(i, j, context);
      kept += tileKept;
      if (tileKept == 0)
        ++result.empty;
      else if (tileKept == static_cast<int64_t>(q.size() * k.size()))
        ++result.full;
      else
        ++result.partial;
    }
  }
  result.keptPairs = kept;
  return result;
}

class TileSparsityTest : public ::testing::Test {
protected:
  TileSparsityTest() { context.loadDialect<AttnDialect>(); }
  MLIRContext context;
};

TEST_F(TileSparsityTest, MatchesBruteForceOnRandomGridsAndTiles) {
  std::mt19937 rng(7);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 300; ++trial) {
    SmallVector<int64_t> grid = {pick(2, 9), pick(2, 9)};
    int64_t n = grid[0] * grid[1];
    SmallVector<int64_t> window = {pick(1, grid[0]), pick(1, grid[1])};
    SmallVector<int64_t> stride = {pick(1, window[0]), pick(1, window[1])};
    SmallVector<int64_t> ones = {1, 1};
    SmallVector<bool> causal = {pick(0, 1) == 1, false};
    MaskAttrInterface neighborhood = NeighborhoodMaskAttr::get(
        &context, grid, window, stride, ones, causal);
    MaskAttrInterface sliding = SlidingWindowMaskAttr::get(
        &context, pick(0, n), pick(0, 3), CausalAlignment::TopLeft);
    MaskAttrInterface masks[] = {
        neighborhood, sliding,
        AndMaskAttr::get(&context, {neighborhood,
                                    CausalMaskAttr::get(
                                        &context, CausalAlignment::TopLeft)})};
    MaskContext maskContext(n, n);
    for (MaskAttrInterface mask : masks) {
      // N-D tiles on the grid, and flat tiles on the sequence.
      SmallVector<int64_t> tile2 = {pick(1, grid[0]), pick(1, grid[1])};
      SmallVector<int64_t> flatGrid = {n}, tile1 = {pick(1, n)};
      for (auto [g, t] : {std::pair<ArrayRef<int64_t>, ArrayRef<int64_t>>{
                              grid, tile2},
                          {flatGrid, tile1}}) {
        TileSparsity actual =
            computeTileSparsity(mask, maskContext, g, g, t, t);
        TileSparsity expected = bruteForce(mask, maskContext, g, t);
        EXPECT_EQ(actual.full, expected.full);
        EXPECT_EQ(actual.partial, expected.partial);
        EXPECT_EQ(actual.empty, expected.empty);
        EXPECT_EQ(actual.keptPairs, expected.keptPairs);
        EXPECT_EQ(actual.getNumTilePairs(),
                  getNumTiles(g, t) * getNumTiles(g, t));
      }
    }
  }
}

/// The backward's lists (per key tile, its query tiles) are the transpose
/// of the forward's (per query tile, its key tiles): the same non-empty
/// pairs with the same classes, each list increasing, and every pair that
/// brute force finds non-empty listed. Also through a `tile_classes` table.
TEST_F(TileSparsityTest, KeyTileListsTransposeQueryTileLists) {
  std::mt19937 rng(11);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 200; ++trial) {
    int64_t nq = pick(1, 70), nk = pick(1, 70);
    MaskContext maskContext(nq, nk);
    MaskAttrInterface masks[] = {
        CausalMaskAttr::get(&context, pick(0, 1)
                                          ? CausalAlignment::TopLeft
                                          : CausalAlignment::BottomRight),
        SlidingWindowMaskAttr::get(&context, pick(0, 9), pick(0, 9),
                                   CausalAlignment::TopLeft),
        PowerLawMaskAttr::get(&context, pick(1, 8), pick(1, 2), pick(0, 1),
                              pick(0, 1) == 1)};
    for (MaskAttrInterface mask : masks) {
      int64_t queryTile = pick(1, 20), keyTile = pick(1, 20);
      int64_t numQueryTiles = (nq + queryTile - 1) / queryTile;
      int64_t numKeyTiles = (nk + keyTile - 1) / keyTile;
      auto classOf = [&](int64_t q, int64_t k) {
        return mask.classifyTile(
            TokenBox::range(nq, q * queryTile,
                            std::min(nq, (q + 1) * queryTile)),
            TokenBox::range(nk, k * keyTile, std::min(nk, (k + 1) * keyTile)),
            maskContext);
      };
      TileLists byQuery = getTileLists(numQueryTiles, numKeyTiles,
                                       /*byKeyTile=*/false, classOf);
      TileLists byKey =
          getTileLists(numQueryTiles, numKeyTiles, /*byKeyTile=*/true, classOf);
      ASSERT_EQ(byQuery.getNumLists(), numQueryTiles);
      ASSERT_EQ(byKey.getNumLists(), numKeyTiles);
      ASSERT_EQ(byQuery.tiles.size(), byKey.tiles.size());
      // Pairs -> class, from each side.
      std::map<std::pair<int64_t, int64_t>, TileClass> fromQuery, fromKey;
      for (int64_t q = 0; q < numQueryTiles; ++q)
        for (int32_t e = byQuery.offsets[q]; e < byQuery.offsets[q + 1]; ++e) {
          if (e > byQuery.offsets[q]) {
            EXPECT_LT(byQuery.tiles[e - 1], byQuery.tiles[e]);
          }
          fromQuery[{q, byQuery.tiles[e]}] = byQuery.classes[e];
        }
      for (int64_t k = 0; k < numKeyTiles; ++k)
        for (int32_t e = byKey.offsets[k]; e < byKey.offsets[k + 1]; ++e) {
          if (e > byKey.offsets[k]) {
            EXPECT_LT(byKey.tiles[e - 1], byKey.tiles[e]);
          }
          fromKey[{byKey.tiles[e], k}] = byKey.classes[e];
        }
      EXPECT_EQ(fromQuery, fromKey);
      // Every pair with a kept key is listed, none without.
      for (int64_t q = 0; q < numQueryTiles; ++q)
        for (int64_t k = 0; k < numKeyTiles; ++k) {
          bool anyKept = false;
          for (int64_t i = q * queryTile; i < std::min(nq, (q + 1) * queryTile);
               ++i)
            for (int64_t j = k * keyTile; j < std::min(nk, (k + 1) * keyTile);
                 ++j)
              anyKept |= mask.keep(i, j, maskContext);
          EXPECT_EQ(fromKey.count({q, k}) == 1, anyKept)
              << "tile (" << q << ", " << k << ")";
        }
      // The same lists from an attribute table of two masks (the second).
      SmallVector<int8_t> values(2 * numQueryTiles * numKeyTiles, 0);
      for (int64_t q = 0; q < numQueryTiles; ++q)
        for (int64_t k = 0; k < numKeyTiles; ++k)
          values[(numQueryTiles + q) * numKeyTiles + k] =
              static_cast<int8_t>(classOf(q, k));
      auto type = RankedTensorType::get({2, numQueryTiles, numKeyTiles},
                                        IntegerType::get(&context, 8));
      auto table = cast<DenseIntElementsAttr>(
          DenseElementsAttr::get(type, ArrayRef<int8_t>(values)));
      TileLists fromTable = getTileLists(table, 1, /*byKeyTile=*/true);
      EXPECT_EQ(fromTable.offsets, byKey.offsets);
      EXPECT_EQ(fromTable.tiles, byKey.tiles);
      EXPECT_EQ(fromTable.classes, byKey.classes);
    }
  }
}

TEST_F(TileSparsityTest, RunTimeSegmentsHaveUnknownPairs) {
  MaskAttrInterface entries[] = {CausalMaskAttr::get(&context,
                                                     CausalAlignment::TopLeft)};
  int64_t dynamic[] = {ShapedType::kDynamic};
  auto segments =
      SegmentsMaskAttr::get(&context, dynamic, dynamic, entries, true);
  int64_t grid[] = {64}, tile[] = {16};
  TileSparsity result =
      computeTileSparsity(segments, MaskContext(64, 64), grid, grid, tile, tile);
  EXPECT_EQ(result.partial, 16);
  EXPECT_FALSE(result.keptPairs.has_value());
  EXPECT_FALSE(result.getPairSpeedupBound().has_value());
  EXPECT_DOUBLE_EQ(*result.getTileSpeedupBound(), 1.0);
}

} // namespace
