//===- TileSparsityTest.cpp - tile counts against brute force -------------===//

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"
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
