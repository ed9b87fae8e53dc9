//===- MaskTilesTest.cpp - token box geometry -----------------------------===//

#include "attn/Dialect/Attn/IR/MaskTiles.h"

#include "gtest/gtest.h"
#include <set>

using namespace mlir;
using namespace mlir::attn;

namespace {

std::set<int64_t> tokensOf(const TokenBox &box) {
  std::set<int64_t> tokens;
  box.forEachToken([&](int64_t t) { tokens.insert(t); });
  return tokens;
}

TEST(TokenBox, RunsCoverExactlyTheBox) {
  TokenBox box({6, 7, 5}, {1, 2, 0}, {4, 6, 5});
  std::set<int64_t> expected;
  for (int64_t a = 1; a < 4; ++a)
    for (int64_t b = 2; b < 6; ++b)
      for (int64_t c = 0; c < 5; ++c)
        expected.insert((a * 7 + b) * 5 + c);
  EXPECT_EQ(tokensOf(box), expected);
  EXPECT_EQ(box.getNumTokens(), static_cast<int64_t>(expected.size()));
  // Whole trailing dimensions merge into one run per leading coordinate.
  int runs = 0;
  box.forEachRun([&](int64_t, int64_t) { ++runs; });
  EXPECT_EQ(runs, 3);
}

TEST(TokenBox, ReshapeKeepsTheTokens) {
  for (int64_t first = 0; first < 36; ++first) {
    for (int64_t last = first; last <= 36; ++last) {
      TokenBox flat = TokenBox::range(36, first, last);
      std::set<int64_t> expected = tokensOf(flat);
      std::set<int64_t> actual;
      int64_t count = 0;
      for (const TokenBox &box : flat.reshapeTo({3, 4, 3})) {
        EXPECT_EQ(box.getRank(), 3u);
        for (int64_t t : tokensOf(box))
          actual.insert(t);
        count += box.getNumTokens();
      }
      EXPECT_EQ(actual, expected) << "range " << first << ":" << last;
      EXPECT_EQ(count, last - first) << "boxes overlap";
    }
  }
}

TEST(TokenBox, SplitPartitions) {
  TokenBox box({8, 16}, {2, 3}, {7, 16});
  auto [low, high] = box.split();
  std::set<int64_t> joined = tokensOf(low);
  for (int64_t t : tokensOf(high))
    EXPECT_TRUE(joined.insert(t).second);
  EXPECT_EQ(joined, tokensOf(box));
  EXPECT_GT(low.getNumTokens(), 0);
  EXPECT_GT(high.getNumTokens(), 0);
}

} // namespace
