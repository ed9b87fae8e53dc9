//===- MaskPropertyTest.cpp - property tests of the mask interface --------===//
//
// Checks every mask attribute against an independent reference of
// SEMANTICS.md section 2 (ref::keep, in Reference/MaskReference.h), on many
// random configurations drawn from a fixed-seed generator:
//
//   - keep(i, j) on every pair of small problems, plus the worked examples;
//   - non-causal neighborhoods keep exactly w keys per dimension;
//   - classifyTile is exact (full / empty / partial) on random N-D boxes;
//   - countKept equals the brute-force count;
//   - and / or agree with their members pair by pair;
//   - simplify preserves keep, verifyLengths accepts and rejects as expected;
//   - tile classification of a 128x128 grid is fast.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "Reference/MaskReference.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;
using namespace attnref;

namespace {

/// The product of `values` (for grids held in LLVM containers).
int64_t product(ArrayRef<int64_t> values) {
  int64_t result = 1;
  for (int64_t v : values)
    result *= v;
  return result;
}

//===----------------------------------------------------------------------===//
// Building attributes and contexts from descriptions
//===----------------------------------------------------------------------===//

CausalAlignment alignmentOf(bool bottomRight) {
  return bottomRight ? CausalAlignment::BottomRight : CausalAlignment::TopLeft;
}

MaskAttrInterface build(MLIRContext *ctx, const Spec &s) {
  switch (s.kind) {
  case Kind::Dense:
    return DenseMaskAttr::get(ctx);
  case Kind::None:
    return NoneMaskAttr::get(ctx);
  case Kind::Causal:
    return CausalMaskAttr::get(ctx, alignmentOf(s.bottomRight));
  case Kind::Sliding:
    return SlidingWindowMaskAttr::get(ctx, s.left, s.right,
                                      alignmentOf(s.bottomRight));
  case Kind::Neighborhood: {
    SmallVector<bool> causal(s.causalDims.begin(), s.causalDims.end());
    return NeighborhoodMaskAttr::get(ctx, s.grid, s.window, s.stride,
                                     s.dilation, causal);
  }
  case Kind::PowerLaw:
    return PowerLawMaskAttr::get(ctx, s.block, s.plWindow, s.sink, s.plCausal);
  case Kind::Segments: {
    SmallVector<MaskAttrInterface> table;
    for (const Spec &entry : s.children)
      table.push_back(build(ctx, entry));
    SmallVector<int64_t> q(s.qSizes.begin(), s.qSizes.end());
    SmallVector<int64_t> k(s.kSizes.begin(), s.kSizes.end());
    if (s.dynamic) {
      std::fill(q.begin(), q.end(), ShapedType::kDynamic);
      std::fill(k.begin(), k.end(), ShapedType::kDynamic);
    }
    return SegmentsMaskAttr::get(ctx, q, k, table, s.renormalize);
  }
  case Kind::And:
  case Kind::Or: {
    SmallVector<MaskAttrInterface> members;
    for (const Spec &m : s.children)
      members.push_back(build(ctx, m));
    if (s.kind == Kind::And)
      return AndMaskAttr::get(ctx, members);
    return OrMaskAttr::get(ctx, members);
  }
  }
  return {};
}

SmallVector<int64_t> prefixSums(const std::vector<int64_t> &sizes) {
  SmallVector<int64_t> offsets = {0};
  for (int64_t s : sizes)
    offsets.push_back(offsets.back() + s);
  return offsets;
}

/// The run-time segments of `s` (at the top or a member of and / or), if any.
const Spec *findDynamicSegments(const Spec &s) {
  if (s.kind == Kind::Segments)
    return s.dynamic ? &s : nullptr;
  if (s.kind == Kind::And || s.kind == Kind::Or)
    for (const Spec &m : s.children)
      if (const Spec *found = findDynamicSegments(m))
        return found;
  return nullptr;
}

/// A random problem: a mask and its sequence lengths.
struct Problem {
  Spec spec;
  int64_t nq = 1, nk = 1;
  /// Whether to omit the key offsets when they equal the query offsets.
  bool shareOffsets = false;
};

MaskContext contextOf(const Problem &p) {
  MaskContext context(p.nq, p.nk);
  if (const Spec *seg = findDynamicSegments(p.spec)) {
    context.querySegmentOffsets = prefixSums(seg->qSizes);
    if (!(p.shareOffsets && seg->qSizes == seg->kSizes))
      context.keySegmentOffsets = prefixSums(seg->kSizes);
  }
  return context;
}

std::string describe(MaskAttrInterface mask, const MaskContext &context) {
  std::string text;
  llvm::raw_string_ostream os(text);
  Attribute(mask).print(os);
  os << " with Nq = " << context.queryLength
     << ", Nk = " << context.keyLength;
  if (!context.querySegmentOffsets.empty()) {
    os << ", query offsets [";
    llvm::interleaveComma(context.querySegmentOffsets, os);
    os << "]";
  }
  if (!context.keySegmentOffsets.empty()) {
    os << ", key offsets [";
    llvm::interleaveComma(context.keySegmentOffsets, os);
    os << "]";
  }
  return text;
}

std::string describe(const TokenBox &box) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << box;
  return text;
}

/// The generators of the tests: every mask kind, by name.
struct Generator {
  const char *name;
  std::function<Problem(Rng &)> make;
};

std::vector<Generator> allGenerators() {
  auto lengths = [](Rng &rng, Problem &p, int64_t max) {
    p.nq = uniform(rng, 1, max);
    p.nk = coin(rng, 0.25) ? p.nq : uniform(rng, 1, max);
  };
  auto neighborhood = [](unsigned rank, int64_t maxExtent) {
    return [=](Rng &rng) {
      Problem p;
      std::vector<int64_t> grid = randomGrid(rng, rank, maxExtent);
      p.spec = randomNeighborhood(rng, grid);
      p.nq = p.nk = product(grid);
      return p;
    };
  };
  auto segments = [](bool dynamic) {
    return [=](Rng &rng) {
      Problem p;
      // Mostly small; sometimes past the enumeration limit of 4096 pairs.
      p.nq = coin(rng, 0.25) ? uniform(rng, 20, 90) : uniform(rng, 1, 16);
      p.nk = coin(rng, 0.6) ? p.nq : uniform(rng, 1, p.nq > 16 ? 90 : 16);
      p.spec = randomSegments(rng, p.nq, p.nk, 1, dynamic);
      p.shareOffsets = coin(rng);
      return p;
    };
  };
  auto composite = [](Kind kind) {
    return [=](Rng &rng) {
      Problem p;
      if (coin(rng, 0.6)) {
        unsigned rank = uniform(rng, 1, 3);
        std::vector<int64_t> grid =
            randomGrid(rng, rank, rank == 1 ? 60 : rank == 2 ? 14 : 6);
        p.spec = randomGridComposite(rng, kind, grid);
        p.nq = p.nk = product(grid);
      } else {
        p.nq = uniform(rng, 1, 24);
        p.nk = coin(rng, 0.4) ? p.nq : uniform(rng, 1, 24);
        bool dynamicAllowed = true;
        std::vector<Spec> members;
        for (int64_t m = uniform(rng, 2, 3); m > 0; --m)
          members.push_back(randomMask(rng, p.nq, p.nk, 1, dynamicAllowed));
        p.spec = makeComposite(kind, std::move(members));
      }
      p.shareOffsets = coin(rng);
      return p;
    };
  };
  return {
      {"dense",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 24);
         p.spec = makeDense();
         return p;
       }},
      {"none",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 24);
         p.spec = makeNone();
         return p;
       }},
      {"causal_top_left",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 24);
         p.spec = makeCausal(false);
         return p;
       }},
      {"causal_bottom_right",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 24);
         p.spec = makeCausal(true);
         return p;
       }},
      {"sliding_top_left",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 30);
         p.spec = randomSliding(rng, p.nq, p.nk, false);
         return p;
       }},
      {"sliding_bottom_right",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 30);
         p.spec = randomSliding(rng, p.nq, p.nk, true);
         return p;
       }},
      {"neighborhood_1d", neighborhood(1, 40)},
      {"neighborhood_2d", neighborhood(2, 10)},
      {"neighborhood_3d", neighborhood(3, 5)},
      {"power_law_causal",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 40);
         p.spec = randomPowerLaw(rng, true);
         return p;
       }},
      {"power_law_non_causal",
       [=](Rng &rng) {
         Problem p;
         lengths(rng, p, 40);
         p.spec = randomPowerLaw(rng, false);
         return p;
       }},
      {"segments_static", segments(false)},
      {"segments_run_time", segments(true)},
      // A variable-length batch element: the run-time segments end before
      // the padded lengths; sometimes with an all-full table.
      {"segments_run_time_padded",
       [=](Rng &rng) {
         Problem p = segments(true)(rng);
         if (coin(rng, 0.3))
           for (Spec &entry : p.spec.children)
             entry = makeDense();
         p.nq += uniform(rng, 0, 5);
         p.nk += uniform(rng, 0, 5);
         return p;
       }},
      {"and", composite(Kind::And)},
      {"or", composite(Kind::Or)},
      {"random_nested",
       [](Rng &rng) {
         Problem p;
         p.nq = uniform(rng, 1, 20);
         p.nk = coin(rng, 0.5) ? p.nq : uniform(rng, 1, 20);
         bool dynamicAllowed = true;
         p.spec = randomMask(rng, p.nq, p.nk, 3, dynamicAllowed);
         p.shareOffsets = coin(rng);
         return p;
       }},
  };
}

//===----------------------------------------------------------------------===//
// Boxes and brute force
//===----------------------------------------------------------------------===//

/// The flat indices of `box`, enumerated here (not with TokenBox helpers).
std::vector<int64_t> tokensOf(const TokenBox &box) {
  std::vector<int64_t> tokens;
  unsigned rank = box.grid.size();
  for (unsigned d = 0; d < rank; ++d)
    if (box.end[d] <= box.begin[d])
      return tokens;
  std::vector<int64_t> coords(box.begin.begin(), box.begin.end());
  for (;;) {
    int64_t flat = 0;
    for (unsigned d = 0; d < rank; ++d)
      flat = flat * box.grid[d] + coords[d];
    tokens.push_back(flat);
    int d = static_cast<int>(rank) - 1;
    for (; d >= 0; --d) {
      if (++coords[d] < box.end[d])
        break;
      coords[d] = box.begin[d];
    }
    if (d < 0)
      return tokens;
  }
}

/// A box of `grid` covering at least the middle third of every dimension.
TokenBox randomLargeBox(Rng &rng, ArrayRef<int64_t> grid) {
  SmallVector<int64_t, 3> begin, end;
  for (int64_t L : grid) {
    begin.push_back(uniform(rng, 0, L / 3));
    end.push_back(uniform(rng, L - L / 3, L));
  }
  return TokenBox(grid, begin, end);
}

/// A random box of `grid`; rarely empty, sometimes whole in some dimensions.
TokenBox randomBox(Rng &rng, ArrayRef<int64_t> grid) {
  SmallVector<int64_t, 3> begin, end;
  bool empty = coin(rng, 0.03);
  for (int64_t L : grid) {
    int64_t b, e;
    switch (uniform(rng, 0, 5)) {
    case 0: // whole
      b = 0, e = L;
      break;
    case 1: // one coordinate
      b = uniform(rng, 0, L - 1), e = b + 1;
      break;
    default:
      b = uniform(rng, 0, L - 1), e = uniform(rng, b + 1, L);
      break;
    }
    begin.push_back(b);
    end.push_back(e);
  }
  if (empty) {
    unsigned d = uniform(rng, 0, grid.size() - 1);
    end[d] = begin[d];
  }
  return TokenBox(grid, begin, end);
}

/// A grid for boxes of an n-token sequence: flat [n], the mask's own grid, or
/// another factorization of n (reshape paths).
SmallVector<int64_t> randomBoxGrid(Rng &rng, int64_t n,
                                   ArrayRef<int64_t> maskGrid) {
  switch (uniform(rng, 0, 3)) {
  case 0:
    return {n};
  case 1:
  case 2:
    if (!maskGrid.empty() && product(maskGrid) == n)
      return SmallVector<int64_t>(maskGrid);
    [[fallthrough]];
  default: {
    std::vector<int64_t> dims = randomFactorization(rng, n, uniform(rng, 1, 3));
    return SmallVector<int64_t>(dims.begin(), dims.end());
  }
  }
}

struct BruteForce {
  int64_t kept = 0, pairs = 0;
  TileClass tileClass() const {
    if (kept == 0)
      return TileClass::Empty;
    return kept == pairs ? TileClass::Full : TileClass::Partial;
  }
};

BruteForce bruteForce(const TokenBox &queries, const TokenBox &keys,
                      function_ref<bool(int64_t, int64_t)> keep) {
  BruteForce result;
  std::vector<int64_t> keyTokens = tokensOf(keys);
  for (int64_t i : tokensOf(queries)) {
    for (int64_t j : keyTokens) {
      ++result.pairs;
      result.kept += keep(i, j);
    }
  }
  return result;
}

std::string name(TileClass c) { return stringifyTileClass(c).str(); }

/// Stops a test after this many reported failures.
constexpr int kMaxFailures = 15;

/// Random configurations per generator (17 generators, every mask kind) or
/// per test.
constexpr int kKeepConfigs = 1000;     // per generator
constexpr int kTileConfigs = 400;      // per generator
constexpr int kTilesPerConfig = 25;
constexpr int kSimplifyConfigs = 600;  // per generator
constexpr int kWindowConfigs = 3000;
constexpr int kReshapeConfigs = 2000;
constexpr int kCompositeConfigs = 3000;

class MaskPropertyTest : public ::testing::Test {
protected:
  MaskPropertyTest() { ctx.loadDialect<AttnDialect>(); }
  MLIRContext ctx;
};

//===----------------------------------------------------------------------===//
// 1. keep against the reference
//===----------------------------------------------------------------------===//

/// Checks attr.keep and the reference against an explicit keep matrix given
/// as the list of kept keys of every query.
void expectKeptKeys(MaskAttrInterface mask, const Spec &spec, int64_t nq,
                    int64_t nk, const std::vector<std::vector<int64_t>> &rows,
                    const MaskContext &context) {
  ASSERT_EQ(static_cast<int64_t>(rows.size()), nq);
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<int64_t> actual, reference;
    for (int64_t j = 0; j < nk; ++j) {
      if (mask.keep(i, j, context))
        actual.push_back(j);
      if (ref::keep(spec, i, j, nq, nk))
        reference.push_back(j);
    }
    EXPECT_EQ(actual, rows[i]) << describe(mask, context) << ", query " << i;
    EXPECT_EQ(reference, rows[i])
        << "reference of " << describe(mask, context) << ", query " << i;
  }
}

std::vector<int64_t> iota(int64_t begin, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t x = begin; x < end; ++x)
    v.push_back(x);
  return v;
}

TEST_F(MaskPropertyTest, WorkedExamples) {
  auto nbhd1d = [&](int64_t w, int64_t s, int64_t d, bool causal) {
    return makeNeighborhood({10}, {w}, {s}, {d}, {causal});
  };
  MaskContext ten(10, 10);
  // SEMANTICS.md 2.3, L = 10, as [start, end) per query.
  {
    // w=4, s=1: 0,1,2 -> [0,4); 3 -> [1,5); 8,9 -> [6,10).
    Spec spec = nbhd1d(4, 1, 1, false);
    std::vector<int64_t> starts = {0, 0, 0, 1, 2, 3, 4, 5, 6, 6};
    std::vector<std::vector<int64_t>> rows;
    for (int64_t s : starts)
      rows.push_back(iota(s, s + 4));
    expectKeptKeys(build(&ctx, spec), spec, 10, 10, rows, ten);
  }
  {
    // w=5, s=2: 0,1 -> [0,5); 2,3 -> [1,6); 4,5 -> [3,8); 6..9 -> [5,10).
    Spec spec = nbhd1d(5, 2, 1, false);
    std::vector<int64_t> starts = {0, 0, 1, 1, 3, 3, 5, 5, 5, 5};
    std::vector<std::vector<int64_t>> rows;
    for (int64_t s : starts)
      rows.push_back(iota(s, s + 5));
    expectKeptKeys(build(&ctx, spec), spec, 10, 10, rows, ten);
  }
  {
    // w=5, s=2, causal: 4 -> 1..4; 5 -> 1..5; 6 -> 3..6 (the rest by hand
    // from the rule: leader = min(2*floor(a/2) + 1, 9), keys
    // max(leader - 4, 0)..a).
    Spec spec = nbhd1d(5, 2, 1, true);
    std::vector<int64_t> firsts = {0, 0, 0, 0, 1, 1, 3, 3, 5, 5};
    std::vector<std::vector<int64_t>> rows;
    for (int64_t x = 0; x < 10; ++x)
      rows.push_back(iota(firsts[x], x + 1));
    expectKeptKeys(build(&ctx, spec), spec, 10, 10, rows, ten);
  }
  {
    // w=3, s=1, d=2: query 4 (group 0, a=2, n=5) -> local [1,4) -> 2, 4, 6.
    Spec spec = nbhd1d(3, 1, 2, false);
    std::vector<std::vector<int64_t>> rows = {
        {0, 2, 4}, {1, 3, 5}, {0, 2, 4}, {1, 3, 5}, {2, 4, 6},
        {3, 5, 7}, {4, 6, 8}, {5, 7, 9}, {4, 6, 8}, {5, 7, 9}};
    expectKeptKeys(build(&ctx, spec), spec, 10, 10, rows, ten);
  }
  // Causal and sliding window with Nq != Nk (2.1, 2.2).
  {
    MaskContext c(3, 5);
    Spec tl = makeCausal(false), br = makeCausal(true);
    expectKeptKeys(build(&ctx, tl), tl, 3, 5, {{0}, {0, 1}, {0, 1, 2}}, c);
    expectKeptKeys(build(&ctx, br), br, 3, 5,
                   {{0, 1, 2}, {0, 1, 2, 3}, {0, 1, 2, 3, 4}}, c);
    Spec sw = makeSliding(1, 1, true); // delta = 2: [i + 1, i + 3]
    expectKeptKeys(build(&ctx, sw), sw, 3, 5, {{1, 2, 3}, {2, 3, 4}, {3, 4}},
                   c);
  }
  // Power-law (2.4), block 2, window 1, sink 1, causal, 16 tokens.
  {
    Spec spec = makePowerLaw(2, 1, 1, true);
    MaskAttrInterface mask = build(&ctx, spec);
    MaskContext c(16, 16);
    auto keptKeys = [&](int64_t i) {
      std::vector<int64_t> keys;
      for (int64_t j = 0; j < 16; ++j)
        if (mask.keep(i, j, c))
          keys.push_back(j);
      return keys;
    };
    EXPECT_EQ(keptKeys(13), (std::vector<int64_t>{0, 1, 4, 5, 8, 9, 10, 11,
                                                   12, 13}));
    EXPECT_EQ(keptKeys(12),
              (std::vector<int64_t>{0, 1, 4, 5, 8, 9, 10, 11, 12}));
    EXPECT_EQ(keptKeys(7), iota(0, 8));
    EXPECT_EQ(keptKeys(14),
              (std::vector<int64_t>{0, 1, 6, 7, 10, 11, 12, 13, 14}));
    EXPECT_EQ(keptKeys(0), (std::vector<int64_t>{0}));
  }
  // Power-law, non-causal: block 2, window 1, no sink: |delta| in {0,1,2,4}.
  {
    Spec spec = makePowerLaw(2, 1, 0, false);
    MaskAttrInterface mask = build(&ctx, spec);
    MaskContext c(16, 16);
    std::vector<int64_t> keys;
    for (int64_t j = 0; j < 16; ++j)
      if (mask.keep(4, j, c))
        keys.push_back(j);
    EXPECT_EQ(keys, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12,
                                          13}));
  }
  // Power-law with window 0: the diagonal itself is dropped (0 is no power
  // of two): query 5 of block 1 keeps exactly 5 - {1, 2, 4}.
  {
    Spec spec = makePowerLaw(1, 0, 0, true);
    MaskAttrInterface mask = build(&ctx, spec);
    MaskContext c(8, 8);
    std::vector<int64_t> keys;
    for (int64_t j = 0; j < 8; ++j)
      if (mask.keep(5, j, c))
        keys.push_back(j);
    EXPECT_EQ(keys, (std::vector<int64_t>{1, 3, 4}));
  }
  // Segments (2.5): prefix-LM [[full, none], [full, causal]], 3 + 4 tokens,
  // static and with run-time sizes.
  {
    std::vector<std::vector<int64_t>> rows = {
        {0, 1, 2},    {0, 1, 2},       {0, 1, 2},          {0, 1, 2, 3},
        {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6}};
    for (bool dynamic : {false, true}) {
      Spec spec = makeSegments({3, 4}, {3, 4},
                               {makeDense(), makeNone(), makeDense(),
                                makeCausal(false)},
                               dynamic);
      MaskContext c(7, 7);
      if (dynamic)
        c.querySegmentOffsets = {0, 3, 7};
      expectKeptKeys(build(&ctx, spec), spec, 7, 7, rows, c);
    }
  }
  // Segments with an empty middle segment.
  {
    Spec spec = makeSegments(
        {2, 0, 3}, {2, 0, 3},
        {makeCausal(false), makeDense(), makeNone(), makeDense(), makeDense(),
         makeDense(), makeDense(), makeNone(), makeCausal(false)});
    expectKeptKeys(build(&ctx, spec), spec, 5, 5,
                   {{0}, {0, 1}, {0, 1, 2}, {0, 1, 2, 3}, {0, 1, 2, 3, 4}},
                   MaskContext(5, 5));
  }
  // Cross-attention segments: queries [2, 2], keys [3, 1].
  {
    Spec spec = makeSegments({2, 2}, {3, 1},
                             {makeDense(), makeNone(), makeCausal(false),
                              makeDense()});
    expectKeptKeys(build(&ctx, spec), spec, 4, 4,
                   {{0, 1, 2}, {0, 1, 2}, {0, 3}, {0, 1, 3}},
                   MaskContext(4, 4));
  }
  // A nested neighborhood over a video segment: [prompt 2, video 2x3],
  // [[causal, none], [full, neighborhood<grid=[2,3], window=[1,3]>]].
  {
    Spec video = makeNeighborhood({2, 3}, {1, 3}, {1, 1}, {1, 1},
                                  {false, false});
    Spec spec = makeSegments({2, 6}, {2, 6},
                             {makeCausal(false), makeNone(), makeDense(),
                              video});
    expectKeptKeys(build(&ctx, spec), spec, 8, 8,
                   {{0},
                    {0, 1},
                    {0, 1, 2, 3, 4},
                    {0, 1, 2, 3, 4},
                    {0, 1, 2, 3, 4},
                    {0, 1, 5, 6, 7},
                    {0, 1, 5, 6, 7},
                    {0, 1, 5, 6, 7}},
                   MaskContext(8, 8));
  }
}

TEST_F(MaskPropertyTest, KeepMatchesReference) {
  Rng rng(20240601);
  int failures = 0;
  int64_t configs = 0;
  for (const Generator &gen : allGenerators()) {
    for (int n = 0; n < kKeepConfigs; ++n, ++configs) {
      Problem p = gen.make(rng);
      MaskAttrInterface mask = build(&ctx, p.spec);
      MaskContext context = contextOf(p);
      for (int64_t i = 0; i < p.nq; ++i) {
        for (int64_t j = 0; j < p.nk; ++j) {
          bool expected = ref::keep(p.spec, i, j, p.nq, p.nk);
          if (mask.keep(i, j, context) == expected)
            continue;
          ADD_FAILURE() << gen.name << ": " << describe(mask, context)
                        << ": keep(" << i << ", " << j << ") should be "
                        << expected;
          if (++failures >= kMaxFailures)
            return;
        }
      }
    }
  }
  RecordProperty("configurations", configs);
}

//===----------------------------------------------------------------------===//
// 2. Non-causal neighborhoods keep exactly w keys per dimension
//===----------------------------------------------------------------------===//

TEST_F(MaskPropertyTest, NeighborhoodKeepsExactlyWindowKeys) {
  Rng rng(7);
  int failures = 0;
  for (int n = 0; n < kWindowConfigs; ++n) {
    unsigned rank = uniform(rng, 1, 3);
    std::vector<int64_t> grid =
        randomGrid(rng, rank, rank == 1 ? 40 : rank == 2 ? 10 : 5);
    Spec spec = randomNeighborhood(rng, grid, /*causalProb=*/0.0);
    auto mask = cast<NeighborhoodMaskAttr>(build(&ctx, spec));
    int64_t tokens = product(grid);
    MaskContext context(tokens, tokens);
    // Per dimension, every coordinate keeps exactly w coordinates.
    for (unsigned d = 0; d < rank; ++d) {
      for (int64_t x = 0; x < grid[d]; ++x) {
        int64_t count = 0;
        for (int64_t y = 0; y < grid[d]; ++y)
          count += mask.keepInDim(d, x, y);
        EXPECT_EQ(count, spec.window[d])
            << describe(mask, context) << " dim " << d << " x " << x;
        EXPECT_EQ(mask.countKeptInDim(d, x, 0, grid[d]), spec.window[d])
            << describe(mask, context) << " dim " << d << " x " << x;
      }
    }
    // Every query keeps exactly prod(w) keys.
    int64_t expected = product(spec.window);
    for (int64_t i = 0; i < tokens; ++i) {
      int64_t count = 0;
      for (int64_t j = 0; j < tokens; ++j)
        count += mask.keep(i, j, context);
      if (count != expected) {
        ADD_FAILURE() << describe(mask, context) << ": query " << i
                      << " keeps " << count << " keys, expected " << expected;
        if (++failures >= kMaxFailures)
          return;
      }
    }
    EXPECT_EQ(mask.countKept(TokenBox::all(grid), TokenBox::all(grid),
                             context),
              tokens * expected)
        << describe(mask, context);
  }
}

//===----------------------------------------------------------------------===//
// 3, 4. Tile classification and counting against brute force
//===----------------------------------------------------------------------===//

/// Runs `check(mask, context, queries, keys, problem)` on `tiles` random
/// tiles of `configs` random problems of every generator.
void forEachRandomTile(
    MLIRContext &ctx, uint32_t seed, int configs, int tiles,
    function_ref<bool(const Generator &, MaskAttrInterface, const MaskContext &,
                      const Problem &, const TokenBox &, const TokenBox &)>
        check) {
  Rng rng(seed);
  for (const Generator &gen : allGenerators()) {
    for (int n = 0; n < configs; ++n) {
      Problem p = gen.make(rng);
      MaskAttrInterface mask = build(&ctx, p.spec);
      MaskContext context = contextOf(p);
      SmallVector<int64_t> maskGrid = mask.getTokenGrid();
      for (int t = 0; t < tiles; ++t) {
        TokenBox queries = randomBox(rng, randomBoxGrid(rng, p.nq, maskGrid));
        TokenBox keys = randomBox(rng, randomBoxGrid(rng, p.nk, maskGrid));
        if (!check(gen, mask, context, p, queries, keys))
          return;
      }
    }
  }
}

TEST_F(MaskPropertyTest, ClassifyTileIsExact) {
  int failures = 0;
  int64_t counts[3] = {0, 0, 0};
  forEachRandomTile(
      ctx, 11, kTileConfigs, kTilesPerConfig,
      [&](const Generator &gen, MaskAttrInterface mask,
          const MaskContext &context, const Problem &p,
          const TokenBox &queries, const TokenBox &keys) {
        BruteForce expected =
            bruteForce(queries, keys, [&](int64_t i, int64_t j) {
              return ref::keep(p.spec, i, j, p.nq, p.nk);
            });
        TileClass actual = mask.classifyTile(queries, keys, context);
        ++counts[static_cast<int>(actual)];
        if (actual == expected.tileClass())
          return true;
        ADD_FAILURE() << gen.name << ": " << describe(mask, context)
                      << ": tile " << describe(queries) << " x "
                      << describe(keys) << " classified " << name(actual)
                      << ", but " << expected.kept << " of " << expected.pairs
                      << " pairs are kept";
        return ++failures < kMaxFailures;
      });
  // The random tiles reach every class.
  EXPECT_GT(counts[0], 100);
  EXPECT_GT(counts[1], 100);
  EXPECT_GT(counts[2], 100);
}

TEST_F(MaskPropertyTest, CountKeptMatchesBruteForce) {
  int failures = 0;
  forEachRandomTile(
      ctx, 12, kTileConfigs, kTilesPerConfig,
      [&](const Generator &gen, MaskAttrInterface mask,
          const MaskContext &context, const Problem &p,
          const TokenBox &queries, const TokenBox &keys) {
        BruteForce expected =
            bruteForce(queries, keys, [&](int64_t i, int64_t j) {
              return ref::keep(p.spec, i, j, p.nq, p.nk);
            });
        int64_t actual = mask.countKept(queries, keys, context);
        if (actual == expected.kept)
          return true;
        ADD_FAILURE() << gen.name << ": " << describe(mask, context)
                      << ": tile " << describe(queries) << " x "
                      << describe(keys) << " counts " << actual
                      << " kept pairs, expected " << expected.kept;
        return ++failures < kMaxFailures;
      });
}

/// Flat 1-D boxes (TokenBox::range on [N]) and boxes of other grids passed to
/// 2-D and 3-D neighborhoods: the reshape path of classifyOnGrid.
TEST_F(MaskPropertyTest, NeighborhoodReshapedBoxes) {
  Rng rng(13);
  int failures = 0;
  for (int n = 0; n < kReshapeConfigs; ++n) {
    unsigned rank = uniform(rng, 2, 3);
    std::vector<int64_t> grid = randomGrid(rng, rank, rank == 2 ? 9 : 5);
    Spec spec = randomNeighborhood(rng, grid);
    MaskAttrInterface mask = build(&ctx, spec);
    int64_t tokens = product(grid);
    MaskContext context(tokens, tokens);
    for (int t = 0; t < 20; ++t) {
      TokenBox queries, keys;
      if (coin(rng, 0.7)) {
        int64_t qb = uniform(rng, 0, tokens - 1), kb = uniform(rng, 0, tokens - 1);
        queries = TokenBox::range(tokens, qb, uniform(rng, qb + 1, tokens));
        keys = TokenBox::range(tokens, kb, uniform(rng, kb + 1, tokens));
      } else {
        queries = randomBox(rng, randomFactorization(rng, tokens, 2));
        keys = randomBox(rng, randomFactorization(rng, tokens, 3));
      }
      BruteForce expected = bruteForce(queries, keys, [&](int64_t i, int64_t j) {
        return ref::keep(spec, i, j, tokens, tokens);
      });
      TileClass actual = mask.classifyTile(queries, keys, context);
      int64_t count = mask.countKept(queries, keys, context);
      if (actual == expected.tileClass() && count == expected.kept)
        continue;
      ADD_FAILURE() << describe(mask, context) << ": tile "
                    << describe(queries) << " x " << describe(keys)
                    << " classified " << name(actual) << " counting " << count
                    << ", but " << expected.kept << " of " << expected.pairs
                    << " pairs are kept";
      if (++failures >= kMaxFailures)
        return;
    }
  }
}

//===----------------------------------------------------------------------===//
// 5. and / or against their members
//===----------------------------------------------------------------------===//

TEST_F(MaskPropertyTest, CompositesAgreeWithMembers) {
  Rng rng(17);
  std::vector<Generator> generators = allGenerators();
  auto findGenerator = [&](StringRef name) {
    return *llvm::find_if(generators,
                          [&](const Generator &g) { return name == g.name; });
  };
  const Generator gens[] = {findGenerator("and"), findGenerator("or")};
  int failures = 0;
  int64_t settled = 0, settledLarge = 0;
  for (int n = 0; n < kCompositeConfigs; ++n) {
    const Generator &gen = gens[n % 2];
    Problem p = gen.make(rng);
    MaskAttrInterface mask = build(&ctx, p.spec);
    MaskContext context = contextOf(p);
    bool isAnd = p.spec.kind == Kind::And;
    ArrayRef<MaskAttrInterface> members =
        isAnd ? cast<AndMaskAttr>(mask).getMembers()
              : cast<OrMaskAttr>(mask).getMembers();
    auto pairwise = [&](int64_t i, int64_t j) {
      for (MaskAttrInterface m : members)
        if (m.keep(i, j, context) != isAnd)
          return !isAnd;
      return isAnd;
    };
    auto fail = [&](const Twine &what) {
      ADD_FAILURE() << gen.name << ": " << describe(mask, context) << ": "
                    << what.str();
      return ++failures >= kMaxFailures;
    };
    // keep, on every pair.
    for (int64_t i = 0; i < p.nq; ++i)
      for (int64_t j = 0; j < p.nk; ++j)
        if (mask.keep(i, j, context) != pairwise(i, j) &&
            fail("keep(" + Twine(i) + ", " + Twine(j) +
                 ") disagrees with the members"))
          return;
    // classification and count, on random tiles (some larger than the
    // enumeration limit of 4096 pairs, to reach the bisection).
    SmallVector<int64_t> maskGrid = mask.getTokenGrid();
    for (int t = 0; t < 12; ++t) {
      bool large = t < 3;
      auto box = [&](int64_t n) {
        SmallVector<int64_t> grid = randomBoxGrid(rng, n, maskGrid);
        return large ? randomLargeBox(rng, grid) : randomBox(rng, grid);
      };
      TokenBox queries = box(p.nq);
      TokenBox keys = box(p.nk);
      BruteForce expected = bruteForce(queries, keys, pairwise);
      TileClass actual = mask.classifyTile(queries, keys, context);
      int64_t count = mask.countKept(queries, keys, context);
      // The members' classes bound the composite's.
      bool anyAbsorbing = false, allIdentity = true;
      int partialMembers = 0;
      for (MaskAttrInterface m : members) {
        TileClass c = m.classifyTile(queries, keys, context);
        anyAbsorbing |= c == (isAnd ? TileClass::Empty : TileClass::Full);
        allIdentity &= c == (isAnd ? TileClass::Full : TileClass::Empty);
        partialMembers += c == TileClass::Partial;
      }
      // Tiles the composite settles by enumeration or bisection.
      if (!anyAbsorbing && partialMembers >= 2) {
        ++settled;
        settledLarge += expected.pairs > 4096;
      }
      std::string tile = describe(queries) + " x " + describe(keys);
      if (actual != expected.tileClass() &&
          fail("tile " + tile + " classified " + name(actual) + ", but " +
               Twine(expected.kept) + " of " + Twine(expected.pairs) +
               " pairs are kept"))
        return;
      if (count != expected.kept &&
          fail("tile " + tile + " counts " + Twine(count) + ", expected " +
               Twine(expected.kept)))
        return;
      if (expected.pairs > 0 && anyAbsorbing &&
          actual != (isAnd ? TileClass::Empty : TileClass::Full) &&
          fail("tile " + tile + " ignores an absorbing member"))
        return;
      if (expected.pairs > 0 && allIdentity &&
          actual != (isAnd ? TileClass::Full : TileClass::Empty) &&
          fail("tile " + tile + " is not the identity of its members"))
        return;
    }
  }
  EXPECT_GT(settled, 1000);
  EXPECT_GT(settledLarge, 50);
  RecordProperty("settled", std::to_string(settled));
  RecordProperty("settled_large", std::to_string(settledLarge));
}

//===----------------------------------------------------------------------===//
// 6. simplify and verifyLengths
//===----------------------------------------------------------------------===//

TEST_F(MaskPropertyTest, SimplifyPreservesKeep) {
  Rng rng(19);
  int failures = 0;
  int64_t changed = 0;
  for (const Generator &gen : allGenerators()) {
    for (int n = 0; n < kSimplifyConfigs; ++n) {
      Problem p = gen.make(rng);
      MaskAttrInterface mask = build(&ctx, p.spec);
      MaskContext context = contextOf(p);
      // Compile-time contexts have the lengths but no segment offsets; also
      // simplify with unknown lengths.
      MaskContext staticLengths(p.nq, p.nk), unknown;
      for (const MaskContext &simplifyContext : {staticLengths, unknown}) {
        MaskAttrInterface simple = mask.simplify(simplifyContext);
        ASSERT_TRUE(simple);
        changed += simple != mask;
        for (int64_t i = 0; i < p.nq; ++i) {
          for (int64_t j = 0; j < p.nk; ++j) {
            bool expected = ref::keep(p.spec, i, j, p.nq, p.nk);
            if (simple.keep(i, j, context) == expected)
              continue;
            ADD_FAILURE() << gen.name << ": " << describe(mask, context)
                          << " simplifies to " << describe(simple, context)
                          << " (lengths "
                          << (simplifyContext.hasStaticLengths() ? "static"
                                                                 : "unknown")
                          << "), which changes keep(" << i << ", " << j << ")";
            if (++failures >= kMaxFailures)
              return;
            i = p.nq; // next context
            break;
          }
        }
      }
    }
  }
  EXPECT_GT(changed, 100);
}

TEST_F(MaskPropertyTest, SimplifyCanonicalForms) {
  Rng rng(23);
  for (int n = 0; n < 300; ++n) {
    int64_t nq = uniform(rng, 1, 30), nk = uniform(rng, 1, 30);
    bool bottomRight = coin(rng);
    int64_t delta = bottomRight ? nk - nq : 0;
    MaskContext context(nq, nk);
    // A window reaching past every border is dense.
    int64_t left = std::max<int64_t>(0, nq - 1 + delta) + uniform(rng, 0, 3);
    int64_t right = std::max<int64_t>(0, nk - 1 - delta) + uniform(rng, 0, 3);
    MaskAttrInterface dense =
        SlidingWindowMaskAttr::get(&ctx, left, right, alignmentOf(bottomRight));
    EXPECT_TRUE(isa<DenseMaskAttr>(dense.simplify(context)))
        << describe(dense, context);
    // A window with right = 0 whose left edge is before key 0 for every
    // query is causal with the same alignment (unless it is dense).
    MaskAttrInterface causal =
        SlidingWindowMaskAttr::get(&ctx, left, 0, alignmentOf(bottomRight));
    MaskAttrInterface simple = causal.simplify(context);
    if (delta < nk - 1) {
      auto asCausal = dyn_cast<CausalMaskAttr>(simple);
      EXPECT_TRUE(asCausal && asCausal.getAlignment() ==
                                  alignmentOf(bottomRight))
          << describe(causal, context) << " -> " << describe(simple, context);
    }
    // Causal masks that keep everything or nothing.
    MaskAttrInterface c = CausalMaskAttr::get(&ctx, alignmentOf(bottomRight));
    MaskAttrInterface cs = c.simplify(context);
    bool keepsAll = delta >= nk - 1, keepsNone = nq - 1 + delta < 0;
    EXPECT_EQ(isa<DenseMaskAttr>(cs), keepsAll) << describe(c, context);
    EXPECT_EQ(isa<NoneMaskAttr>(cs), keepsNone) << describe(c, context);
    // Unknown lengths: bottom-right alignment cannot be resolved.
    if (bottomRight) {
      EXPECT_EQ(c.simplify(MaskContext()), c);
    }
  }
  // Neighborhoods whose window is the whole grid are dense.
  for (int n = 0; n < 100; ++n) {
    std::vector<int64_t> grid = randomGrid(rng, uniform(rng, 1, 3), 6);
    SmallVector<int64_t> stride;
    for (int64_t L : grid)
      stride.push_back(uniform(rng, 1, L));
    SmallVector<int64_t> ones(grid.size(), 1);
    SmallVector<bool> noCausal(grid.size(), false);
    MaskAttrInterface mask =
        NeighborhoodMaskAttr::get(&ctx, grid, grid, stride, ones, noCausal);
    EXPECT_TRUE(isa<DenseMaskAttr>(mask.simplify(MaskContext())));
  }
  // Composites: absorbing and identity members, flattening.
  MaskAttrInterface dense = DenseMaskAttr::get(&ctx);
  MaskAttrInterface none = NoneMaskAttr::get(&ctx);
  MaskAttrInterface causal = CausalMaskAttr::get(&ctx, CausalAlignment::TopLeft);
  MaskAttrInterface window =
      SlidingWindowMaskAttr::get(&ctx, 4, 0, CausalAlignment::TopLeft);
  MaskContext c(16, 16);
  EXPECT_EQ(AndMaskAttr::get(&ctx, {causal, none}).simplify(c), none);
  EXPECT_EQ(OrMaskAttr::get(&ctx, {causal, dense}).simplify(c), dense);
  EXPECT_EQ(AndMaskAttr::get(&ctx, {causal, dense}).simplify(c), causal);
  EXPECT_EQ(OrMaskAttr::get(&ctx, {none, window}).simplify(c), window);
  EXPECT_EQ(AndMaskAttr::get(&ctx, {causal, causal}).simplify(c), causal);
  EXPECT_EQ(AndMaskAttr::get(&ctx, {AndMaskAttr::get(&ctx, {causal, window}),
                                    window})
                .simplify(c),
            AndMaskAttr::get(&ctx, {causal, window}));
  // Segments whose table is all full (none) are dense (none).
  EXPECT_EQ(SegmentsMaskAttr::get(&ctx, {3, 5}, {3, 5},
                                  {dense, dense, dense, dense}, true)
                .simplify(MaskContext(8, 8)),
            dense);
  EXPECT_EQ(SegmentsMaskAttr::get(&ctx, {3, 5}, {3, 5},
                                  {none, none, none, none}, true)
                .simplify(MaskContext(8, 8)),
            none);
  // Run-time segments with an all-full table are not dense: a batch element
  // of a variable-length batch drops the padding past its last offset.
  {
    int64_t dyn = ShapedType::kDynamic;
    MaskAttrInterface segments = SegmentsMaskAttr::get(
        &ctx, {dyn, dyn}, {dyn, dyn}, {dense, dense, dense, dense}, true);
    MaskContext padded(8, 8);
    padded.querySegmentOffsets = {0, 2, 5};
    for (const MaskContext &simplifyContext : {MaskContext(8, 8), MaskContext()}) {
      MaskAttrInterface simple = segments.simplify(simplifyContext);
      for (int64_t i = 0; i < 8; ++i)
        for (int64_t j = 0; j < 8; ++j)
          EXPECT_EQ(simple.keep(i, j, padded), i < 5 && j < 5)
              << describe(segments, padded) << " simplifies to "
              << describe(simple, padded) << ", pair " << i << ", " << j;
    }
  }
}

TEST_F(MaskPropertyTest, VerifyLengths) {
  Rng rng(29);
  int errors = 0;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &) {
    ++errors;
    return success();
  });
  Location loc = UnknownLoc::get(&ctx);
  auto accepts = [&](MaskAttrInterface mask, MaskContext context) {
    int before = errors;
    bool ok = succeeded(
        mask.verifyLengths(context, [&] { return emitError(loc); }));
    EXPECT_EQ(errors != before, !ok) << "one diagnostic per failure";
    return ok;
  };
  int64_t configs = 0;
  // Neighborhoods: the grid must hold Nq = Nk tokens.
  for (int n = 0; n < 1000; ++n, ++configs) {
    std::vector<int64_t> grid = randomGrid(rng, uniform(rng, 1, 3), 8);
    MaskAttrInterface mask = build(&ctx, randomNeighborhood(rng, grid));
    int64_t N = product(grid);
    int64_t other = N + (coin(rng) ? 1 : -1) * uniform(rng, 1, 3);
    if (other < 0)
      other = N + 1;
    EXPECT_TRUE(accepts(mask, MaskContext(N, N)));
    EXPECT_TRUE(accepts(mask, MaskContext()));
    EXPECT_TRUE(accepts(mask, MaskContext(-1, N)));
    EXPECT_TRUE(accepts(mask, MaskContext(N, -1)));
    EXPECT_FALSE(accepts(mask, MaskContext(other, N)));
    EXPECT_FALSE(accepts(mask, MaskContext(N, other)));
    EXPECT_FALSE(accepts(mask, MaskContext(-1, other)));
    // In a composite, one failing member fails it.
    MaskAttrInterface flat = build(&ctx, makeCausal(coin(rng)));
    for (MaskAttrInterface composite :
         {MaskAttrInterface(AndMaskAttr::get(&ctx, {flat, mask})),
          MaskAttrInterface(OrMaskAttr::get(&ctx, {mask, flat}))}) {
      EXPECT_TRUE(accepts(composite, MaskContext(N, N)));
      EXPECT_FALSE(accepts(composite, MaskContext(other, other)));
    }
  }
  // Flat masks accept any lengths.
  for (int n = 0; n < 500; ++n, ++configs) {
    bool dynamicAllowed = false;
    Spec spec;
    do {
      spec = randomMask(rng, 8, 8, 0, dynamicAllowed);
    } while (spec.kind == Kind::Neighborhood || spec.kind == Kind::Segments);
    MaskAttrInterface mask = build(&ctx, spec);
    int64_t nq = uniform(rng, 0, 50);
    int64_t nk = uniform(rng, 0, 50);
    EXPECT_TRUE(accepts(mask, MaskContext(nq, nk)))
        << describe(mask, MaskContext());
  }
  // Segments: sums against the lengths, nested grids against segment sizes.
  for (int n = 0; n < 1500; ++n, ++configs) {
    int64_t nq = uniform(rng, 1, 24);
    int64_t nk = coin(rng) ? nq : uniform(rng, 1, 24);
    bool dynamic = coin(rng, 0.25);
    Spec spec = randomSegments(rng, nq, nk, 1, dynamic);
    MaskAttrInterface mask = build(&ctx, spec);
    int64_t dq = uniform(rng, 1, 3), dk = uniform(rng, 1, 3);
    EXPECT_TRUE(accepts(mask, MaskContext(nq, nk))) << describe(mask, {});
    EXPECT_TRUE(accepts(mask, MaskContext()));
    EXPECT_EQ(accepts(mask, MaskContext(nq + dq, nk)), dynamic)
        << describe(mask, {});
    EXPECT_EQ(accepts(mask, MaskContext(nq, nk + dk)), dynamic)
        << describe(mask, {});
    if (nq > dq) {
      EXPECT_EQ(accepts(mask, MaskContext(nq - dq, -1)), dynamic)
          << describe(mask, {});
    }
    // Replace one entry of a non-empty square segment pair by a
    // neighborhood: accepted iff its grid holds the segment.
    std::vector<std::pair<size_t, size_t>> square;
    for (size_t a = 0; a < spec.qSizes.size(); ++a)
      for (size_t b = 0; b < spec.kSizes.size(); ++b)
        if (spec.qSizes[a] == spec.kSizes[b] && spec.qSizes[a] > 0)
          square.push_back({a, b});
    if (square.empty())
      continue;
    auto [a, b] = square[uniform(rng, 0, square.size() - 1)];
    int64_t size = spec.qSizes[a];
    bool fits = coin(rng);
    int64_t tokens = fits ? size : size + uniform(rng, 1, 4);
    Spec nested =
        randomNeighborhood(rng, randomFactorization(rng, tokens, uniform(rng, 1, 3)));
    Spec entry = nested;
    if (coin(rng, 0.3)) // nested inside a composite entry
      entry = makeComposite(Kind::And, {makeCausal(false), nested});
    spec.children[a * spec.kSizes.size() + b] = entry;
    mask = build(&ctx, spec);
    EXPECT_EQ(accepts(mask, MaskContext(nq, nk)), fits || dynamic)
        << describe(mask, {});
  }
  // The attribute verifier of neighborhoods: the validity rules.
  auto validNeighborhood = [&](int64_t L, int64_t w, int64_t s, int64_t d) {
    int64_t grid[] = {L}, window[] = {w}, stride[] = {s}, dilation[] = {d};
    bool causal[] = {false};
    return succeeded(NeighborhoodMaskAttr::verify(
        [&] { return emitError(loc); }, grid, window, stride, dilation,
        causal));
  };
  for (int64_t L = 1; L <= 8; ++L)
    for (int64_t w = 0; w <= L + 1; ++w)
      for (int64_t s = 0; s <= w + 1; ++s)
        for (int64_t d = 0; d <= 3; ++d)
          EXPECT_EQ(validNeighborhood(L, w, s, d),
                    1 <= s && s <= w && d >= 1 && w * d <= L)
              << "L " << L << " w " << w << " s " << s << " d " << d;
  RecordProperty("configurations", configs);
}

//===----------------------------------------------------------------------===//
// 7. Performance sanity
//===----------------------------------------------------------------------===//

TEST_F(MaskPropertyTest, ClassifyLargeGridQuickly) {
  MaskAttrInterface mask = NeighborhoodMaskAttr::get(
      &ctx, {128, 128}, {13, 13}, {1, 1}, {1, 1}, {false, false});
  int64_t grid[] = {128, 128};
  MaskContext context(128 * 128, 128 * 128);
  std::vector<TokenBox> tiles;
  for (int64_t r = 0; r < 128; r += 8)
    for (int64_t c = 0; c < 128; c += 16)
      tiles.push_back(TokenBox(grid, {r, c}, {r + 8, c + 16}));
  ASSERT_EQ(tiles.size(), 128u);
  auto start = std::chrono::steady_clock::now();
  int64_t classes[3] = {0, 0, 0}, kept = 0;
  for (const TokenBox &q : tiles) {
    for (const TokenBox &k : tiles) {
      TileClass c = mask.classifyTile(q, k, context);
      int64_t count = mask.countKept(q, k, context);
      ++classes[static_cast<int>(c)];
      kept += count;
      if (c == TileClass::Empty)
        EXPECT_EQ(count, 0);
      else if (c == TileClass::Full)
        EXPECT_EQ(count, 128 * 128);
      else
        EXPECT_TRUE(count > 0 && count < 128 * 128);
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(classes[0] + classes[1] + classes[2], 16384);
  EXPECT_EQ(kept, 16384 * 169);
  EXPECT_GT(classes[static_cast<int>(TileClass::Partial)], 0);
  EXPECT_GT(classes[static_cast<int>(TileClass::Empty)], 0);
  EXPECT_LT(seconds, 2.0) << "16384 tile pairs took " << seconds << " s";
  RecordProperty("seconds", std::to_string(seconds));
}

} // namespace

/// #attn.shard: a shard pair of every generator's problems keeps, classifies
/// and counts what the whole problem's reference keeps at the shifted
/// positions (random offsets and shard lengths, local flat tiles).
TEST_F(MaskPropertyTest, ShardIsTheShiftedMask) {
  Rng rng(17);
  int failures = 0;
  int64_t counts[3] = {0, 0, 0};
  for (const Generator &gen : allGenerators()) {
    for (int n = 0; n < kTileConfigs / 4 && failures < kMaxFailures; ++n) {
      Problem p = gen.make(rng);
      MaskAttrInterface mask = build(&ctx, p.spec);
      if (mask.needsSegmentOffsets())
        continue; // a shard cannot place run-time segments
      int64_t qs = uniform(rng, 0, p.nq - 1), ks = uniform(rng, 0, p.nk - 1);
      int64_t nq = uniform(rng, 1, p.nq - qs), nk = uniform(rng, 1, p.nk - ks);
      auto shard = ShardMaskAttr::get(&ctx, mask, qs, ks, p.nq, p.nk);
      MaskContext local(nq, nk);
      auto expectedKeep = [&](int64_t i, int64_t j) {
        return ref::keep(p.spec, qs + i, ks + j, p.nq, p.nk);
      };
      for (int64_t i = 0; i < nq; ++i)
        for (int64_t j = 0; j < nk; ++j)
          if (shard.keep(i, j, local) != expectedKeep(i, j) &&
              ++failures <= kMaxFailures)
            ADD_FAILURE() << gen.name << ": " << describe(shard, local) << " keep(" << i << ", "
                          << j << ")";
      for (int t = 0; t < kTilesPerConfig; ++t) {
        int64_t qb = uniform(rng, 0, nq - 1), kb = uniform(rng, 0, nk - 1);
        TokenBox queries = TokenBox::range(nq, qb, uniform(rng, qb + 1, nq));
        TokenBox keys = TokenBox::range(nk, kb, uniform(rng, kb + 1, nk));
        BruteForce expected = bruteForce(queries, keys, expectedKeep);
        TileClass actual = shard.classifyTile(queries, keys, local);
        ++counts[static_cast<int>(actual)];
        int64_t kept = shard.countKept(queries, keys, local);
        if ((actual != expected.tileClass() || kept != expected.kept) &&
            ++failures <= kMaxFailures)
          ADD_FAILURE() << gen.name << ": " << describe(shard, local) << ": tile "
                        << describe(queries) << " x " << describe(keys)
                        << " classified " << name(actual) << " counting "
                        << kept << ", expected " << expected.kept << " of "
                        << expected.pairs;
      }
    }
  }
  EXPECT_GT(counts[0], 50);
  EXPECT_GT(counts[1], 50);
  EXPECT_GT(counts[2], 50);
}
