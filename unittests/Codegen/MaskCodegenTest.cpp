//===- MaskCodegenTest.cpp - emitKeep against the host keep ---------------===//
//
// The predicate IR of every mask, emitted on constant indices, folds to a
// constant; it must equal the host rule on every pair of small problems.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/AsmParser/AsmParser.h"
#include "gtest/gtest.h"

#include <random>
#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

std::string str(Attribute attr);

class MaskCodegenTest : public ::testing::Test {
protected:
  MaskCodegenTest() {
    context.loadDialect<AttnDialect, arith::ArithDialect>();
  }

  MaskAttrInterface parseMask(const std::string &text) {
    auto mask = dyn_cast_or_null<MaskAttrInterface>(
        parseAttribute(text, &context));
    EXPECT_TRUE(mask) << text;
    return mask;
  }

  /// Emits the predicate of every pair on constant indices and compares the
  /// folded constant with the host rule. `offsets` feed run-time segments.
  void expectSameAsHost(MaskAttrInterface mask, int64_t nq, int64_t nk,
                        ArrayRef<int64_t> queryOffsets = {},
                        ArrayRef<int64_t> keyOffsets = {}) {
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
    OpBuilder builder(&context);
    builder.setInsertionPointToStart(module->getBody());
    Location loc = builder.getUnknownLoc();
    MaskContext hostContext(nq, nk);
    hostContext.querySegmentOffsets.assign(queryOffsets.begin(),
                                           queryOffsets.end());
    hostContext.keySegmentOffsets.assign(keyOffsets.begin(), keyOffsets.end());
    MaskIRContext irContext;
    irContext.queryLength = arith::ConstantIndexOp::create(builder, loc, nq);
    irContext.keyLength = arith::ConstantIndexOp::create(builder, loc, nk);
    irContext.segmentOffset = [&](OpBuilder &b, Location l, bool ofKeys,
                                  int64_t position) -> Value {
      ArrayRef<int64_t> list =
          ofKeys && !keyOffsets.empty() ? keyOffsets : queryOffsets;
      return arith::ConstantIndexOp::create(b, l, list[position]);
    };
    int mismatches = 0;
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t j = 0; j < nk; ++j) {
        Value qi = arith::ConstantIndexOp::create(builder, loc, i);
        Value kj = arith::ConstantIndexOp::create(builder, loc, j);
        Value keep = mask.emitKeep(builder, loc, qi, kj, irContext);
        APInt folded;
        ASSERT_TRUE(matchPattern(keep, m_ConstantInt(&folded)))
            << "emitKeep did not fold for " << str(mask);
        bool expected = mask.keep(i, j, hostContext);
        if (folded.getBoolValue() != expected && ++mismatches <= 5)
          ADD_FAILURE() << str(mask) << " (" << i << ", " << j << "): IR says "
                        << folded.getBoolValue() << ", host says " << expected;
      }
      // Keep the module small: constants of one row are enough at a time.
      module->getBody()->clear();
      builder.setInsertionPointToStart(module->getBody());
      irContext.queryLength = arith::ConstantIndexOp::create(builder, loc, nq);
      irContext.keyLength = arith::ConstantIndexOp::create(builder, loc, nk);
    }
  }

  /// A scratch module, a builder into it, and constant `index` values.
  struct Scratch {
    OwningOpRef<ModuleOp> module;
    OpBuilder builder;
    Location loc;
    MaskIRContext irContext;
    Value cst(int64_t v) {
      return arith::ConstantIndexOp::create(builder, loc, v).getResult();
    }
  };
  std::unique_ptr<Scratch> makeScratch(int64_t nq, int64_t nk) {
    auto scratch = std::unique_ptr<Scratch>(
        new Scratch{ModuleOp::create(UnknownLoc::get(&context)),
                    OpBuilder(&context), UnknownLoc::get(&context), {}});
    scratch->builder.setInsertionPointToStart(scratch->module->getBody());
    scratch->irContext.queryLength = scratch->cst(nq);
    scratch->irContext.keyLength = scratch->cst(nk);
    return scratch;
  }

  MLIRContext context;
};

std::string str(Attribute attr) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << attr;
  return s;
}

/// emitClassifyRange on constant ranges folds to constants; it must be safe
/// for every mask (never empty when the host finds a kept pair, never full
/// when it finds a dropped one) and exact for masks with a closed form.
TEST_F(MaskCodegenTest, RangeClassification) {
  struct Case {
    const char *mask;
    bool exact;
  };
  const Case cases[] = {
      {"#attn.dense", true},
      {"#attn.none", true},
      {"#attn.causal", true},
      {"#attn.causal<bottom_right>", true},
      {"#attn.sliding_window<left = 3, right = 1>", true},
      {"#attn.sliding_window<left = 0, right = 2, alignment = bottom_right>",
       true},
      {"#attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>>",
       false},
      {"#attn.or<#attn.causal, #attn.sliding_window<left = 1, right = 1>>",
       false},
      {"#attn.power_law<block = 2, window = 1, sink = 1>", true},
      {"#attn.power_law<block = 3, window = 0, sink = 0, causal = false>",
       true},
      {"#attn.neighborhood<grid = [4, 5], window = [3, 3]>", false},
  };
  std::mt19937 rng(5);
  for (const Case &c : cases) {
    MaskAttrInterface mask = parseMask(c.mask);
    for (auto [nq, nk] : {std::pair<int64_t, int64_t>{20, 20}, {9, 20}}) {
      if (isa<NeighborhoodMaskAttr>(mask) && nq != nk)
        continue;
      auto scratch = makeScratch(nq, nk);
      OpBuilder &builder = scratch->builder;
      Location loc = scratch->loc;
      const MaskIRContext &irContext = scratch->irContext;
      auto cst = [&](int64_t v) { return scratch->cst(v); };
      for (int trial = 0; trial < 300; ++trial) {
        int64_t q0 = std::uniform_int_distribution<int64_t>(0, nq - 1)(rng);
        int64_t q1 = std::uniform_int_distribution<int64_t>(q0 + 1, nq)(rng);
        int64_t k0 = std::uniform_int_distribution<int64_t>(0, nk - 1)(rng);
        int64_t k1 = std::uniform_int_distribution<int64_t>(k0 + 1, nk)(rng);
        auto [mayKeep, keepsAll] = mask.emitClassifyRange(
            builder, loc, cst(q0), cst(q1), cst(k0), cst(k1), irContext);
        APInt may, all;
        ASSERT_TRUE(matchPattern(mayKeep, m_ConstantInt(&may)) &&
                    matchPattern(keepsAll, m_ConstantInt(&all)))
            << c.mask;
        TileClass host = mask.classifyTile(TokenBox::range(nq, q0, q1),
                                           TokenBox::range(nk, k0, k1),
                                           MaskContext(nq, nk));
        std::string where = std::string(c.mask) + " queries [" +
                            std::to_string(q0) + ", " + std::to_string(q1) +
                            ") keys [" + std::to_string(k0) + ", " +
                            std::to_string(k1) + ")";
        if (!may.getBoolValue()) {
          EXPECT_EQ(host, TileClass::Empty) << where;
        }
        if (all.getBoolValue()) {
          EXPECT_EQ(host, TileClass::Full) << where;
        }
        if (c.exact) {
          EXPECT_EQ(may.getBoolValue(), host != TileClass::Empty) << where;
          EXPECT_EQ(all.getBoolValue(), host == TileClass::Full) << where;
        }
      }
    }
  }
}

/// emitKeyRange folds on constant query ranges; the range must hold every
/// kept key of those queries, and be tight for causal and sliding windows.
TEST_F(MaskCodegenTest, KeyRanges) {
  struct Case {
    const char *mask;
    bool tight;
    int64_t nq, nk;
  };
  const Case cases[] = {
      {"#attn.dense", true, 17, 17},
      {"#attn.none", false, 17, 17},
      {"#attn.causal", true, 17, 17},
      {"#attn.causal<bottom_right>", true, 9, 23},
      {"#attn.causal<bottom_right>", true, 23, 9},
      {"#attn.sliding_window<left = 3, right = 1>", true, 20, 20},
      {"#attn.sliding_window<left = 2, right = 5, alignment = bottom_right>",
       true, 12, 20},
      {"#attn.power_law<block = 2, window = 1, sink = 1>", false, 20, 20},
      {"#attn.power_law<block = 3, window = 1, sink = 0, causal = false>",
       false, 20, 20},
      {"#attn.neighborhood<grid = [5, 4], window = [3, 3]>", false, 20, 20},
      {"#attn.neighborhood<grid = [6, 3], window = [4, 2], stride = [2, 1], "
       "causal = [true, false]>",
       false, 18, 18},
      {"#attn.neighborhood<grid = [8, 2], window = [3, 1], dilation = [2, 1]>",
       false, 16, 16},
      {"#attn.neighborhood<grid = [20], window = [5], stride = [5]>", false,
       20, 20},
      {"#attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>>",
       true, 20, 20},
      {"#attn.or<#attn.sliding_window<left = 1, right = 0>, "
       "#attn.neighborhood<grid = [4, 5], window = [2, 2]>>",
       false, 20, 20},
  };
  std::mt19937 rng(9);
  for (const Case &c : cases) {
    MaskAttrInterface mask = parseMask(c.mask);
    auto scratch = makeScratch(c.nq, c.nk);
    OpBuilder &builder = scratch->builder;
    Location loc = scratch->loc;
    const MaskIRContext &irContext = scratch->irContext;
    auto cst = [&](int64_t v) { return scratch->cst(v); };
    MaskContext host(c.nq, c.nk);
    for (int trial = 0; trial < 200; ++trial) {
      int64_t q0 = std::uniform_int_distribution<int64_t>(0, c.nq - 1)(rng);
      int64_t q1 = std::uniform_int_distribution<int64_t>(q0 + 1, c.nq)(rng);
      auto [begin, end] =
          mask.emitKeyRange(builder, loc, cst(q0), cst(q1), irContext);
      APInt kb, ke;
      ASSERT_TRUE(matchPattern(begin, m_ConstantInt(&kb)) &&
                  matchPattern(end, m_ConstantInt(&ke)))
          << c.mask;
      int64_t lo = kb.getSExtValue(), hi = ke.getSExtValue();
      EXPECT_LE(0, lo) << c.mask;
      EXPECT_LE(lo, hi) << c.mask;
      EXPECT_LE(hi, c.nk) << c.mask;
      int64_t first = c.nk, last = -1;
      for (int64_t i = q0; i < q1; ++i)
        for (int64_t j = 0; j < c.nk; ++j)
          if (mask.keep(i, j, host)) {
            first = std::min(first, j);
            last = std::max(last, j);
          }
      if (last >= 0) {
        EXPECT_LE(lo, first) << c.mask << " queries [" << q0 << ", " << q1
                             << ")";
        EXPECT_GT(hi, last) << c.mask << " queries [" << q0 << ", " << q1
                            << ")";
        if (c.tight) {
          EXPECT_EQ(lo, first) << c.mask;
          EXPECT_EQ(hi, last + 1) << c.mask;
        }
      }
    }
  }
}

/// emitQueryRange, the backward's walk (per key range, the queries that may
/// keep one of its keys), folds on constant key ranges; the range must hold
/// every query that keeps a key of the range, and be tight for causal and
/// sliding windows and for neighborhoods without dilation on whole grid
/// rows.
TEST_F(MaskCodegenTest, QueryRanges) {
  struct Case {
    const char *mask;
    bool tight;
    int64_t nq, nk;
    std::vector<int64_t> queryOffsets = {}, keyOffsets = {};
  };
  const Case cases[] = {
      {"#attn.dense", true, 17, 17},
      {"#attn.none", false, 17, 17},
      {"#attn.causal", true, 17, 17},
      {"#attn.causal<bottom_right>", true, 9, 23},
      {"#attn.causal<bottom_right>", true, 23, 9},
      {"#attn.sliding_window<left = 3, right = 1>", true, 20, 20},
      {"#attn.sliding_window<left = 2, right = 5, alignment = bottom_right>",
       true, 12, 20},
      {"#attn.sliding_window<left = 0, right = 4, alignment = bottom_right>",
       true, 20, 12},
      {"#attn.power_law<block = 2, window = 1, sink = 1>", false, 20, 20},
      {"#attn.power_law<block = 3, window = 1, sink = 0, causal = false>",
       false, 20, 20},
      {"#attn.neighborhood<grid = [20], window = [5]>", true, 20, 20},
      {"#attn.neighborhood<grid = [17], window = [16]>", true, 17, 17},
      {"#attn.neighborhood<grid = [5, 4], window = [3, 3]>", false, 20, 20},
      {"#attn.neighborhood<grid = [7, 3], window = [4, 2]>", false, 21, 21},
      {"#attn.neighborhood<grid = [6, 3], window = [4, 2], stride = [2, 1], "
       "causal = [true, false]>",
       true, 18, 18},
      {"#attn.neighborhood<grid = [9, 2], window = [3, 2], stride = [3, 1]>",
       true, 18, 18},
      {"#attn.neighborhood<grid = [11], window = [4], causal = [true]>", true,
       11, 11},
      {"#attn.neighborhood<grid = [23], window = [3], stride = [3], "
       "causal = [true]>",
       true, 23, 23},
      {"#attn.neighborhood<grid = [23], window = [5], stride = [5], "
       "causal = [true]>",
       true, 23, 23},
      {"#attn.neighborhood<grid = [8, 2], window = [3, 1], dilation = [2, 1]>",
       false, 16, 16},
      // Lengths the grid does not describe (a run-time segment): keep wraps
      // the coordinates, the range is every query.
      {"#attn.neighborhood<grid = [5], window = [3]>", false, 12, 12},
      {"#attn.neighborhood<grid = [4, 2], window = [3, 1], stride = [2, 1]>",
       false, 8, 13},
      {"#attn.neighborhood<grid = [20], window = [5], stride = [5]>", true, 20,
       20},
      {"#attn.neighborhood<grid = [21], window = [7], stride = [7]>", true, 21,
       21},
      {"#attn.neighborhood<grid = [19], window = [6], stride = [4]>", true, 19,
       19},
      {"#attn.neighborhood<grid = [7, 3], window = [7, 1], stride = [3, 1]>",
       true, 21, 21},
      {"#attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>>",
       true, 20, 20},
      {"#attn.or<#attn.sliding_window<left = 1, right = 0>, "
       "#attn.neighborhood<grid = [4, 5], window = [2, 2]>>",
       false, 20, 20},
      {"#attn.segments<query = [3, 0, 9], visibility = [[full, none, "
       "causal], [full, full, full], [none, full, "
       "#attn.neighborhood<grid = [3, 3], window = [2, 2]>]]>",
       false, 12, 12},
      {"#attn.segments<query = [4, 5], key = [2, 3, 6], visibility = "
       "[[full, none, causal], [none, full, "
       "#attn.sliding_window<left = 1, right = 1>]]>",
       false, 9, 11},
      {"#attn.segments<query = [?, ?, ?], visibility = [[causal, none, none], "
       "[full, causal, none], [none, none, full]]>",
       false,
       11,
       11,
       {0, 4, 4, 9}},
      {"#attn.segments<query = [?, ?], visibility = [[full, causal], "
       "[causal, full]]>",
       false,
       6,
       8,
       {0, 2, 6},
       {0, 5, 7}},
      {"#attn.shard<mask = #attn.causal, query_start = 8, key_start = 0, "
       "query_length = 32, key_length = 32>",
       true, 8, 16},
  };
  std::mt19937 rng(10);
  for (const Case &c : cases) {
    MaskAttrInterface mask = parseMask(c.mask);
    auto scratch = makeScratch(c.nq, c.nk);
    OpBuilder &builder = scratch->builder;
    Location loc = scratch->loc;
    scratch->irContext.segmentOffset = [&](OpBuilder &b, Location l,
                                           bool ofKeys, int64_t position) {
      const std::vector<int64_t> &list =
          ofKeys && !c.keyOffsets.empty() ? c.keyOffsets : c.queryOffsets;
      return arith::ConstantIndexOp::create(b, l, list[position]).getResult();
    };
    const MaskIRContext &irContext = scratch->irContext;
    auto cst = [&](int64_t v) { return scratch->cst(v); };
    MaskContext host(c.nq, c.nk);
    host.querySegmentOffsets.assign(c.queryOffsets.begin(),
                                    c.queryOffsets.end());
    host.keySegmentOffsets.assign(c.keyOffsets.begin(), c.keyOffsets.end());
    int64_t inner = 1; // keys per grid row of a neighborhood
    if (auto hood = dyn_cast<NeighborhoodMaskAttr>(mask))
      for (int64_t extent : hood.getGrid().drop_front())
        inner *= extent;
    for (int trial = 0; trial < 200; ++trial) {
      int64_t k0 = std::uniform_int_distribution<int64_t>(0, c.nk - 1)(rng);
      int64_t k1 = std::uniform_int_distribution<int64_t>(k0 + 1, c.nk)(rng);
      auto [begin, end] =
          mask.emitQueryRange(builder, loc, cst(k0), cst(k1), irContext);
      APInt qb, qe;
      ASSERT_TRUE(matchPattern(begin, m_ConstantInt(&qb)) &&
                  matchPattern(end, m_ConstantInt(&qe)))
          << c.mask;
      int64_t lo = qb.getSExtValue(), hi = qe.getSExtValue();
      EXPECT_LE(0, lo) << c.mask;
      EXPECT_LE(lo, hi) << c.mask;
      EXPECT_LE(hi, c.nq) << c.mask;
      int64_t first = c.nq, last = -1;
      for (int64_t i = 0; i < c.nq; ++i)
        for (int64_t j = k0; j < k1; ++j)
          if (mask.keep(i, j, host)) {
            first = std::min(first, i);
            last = std::max(last, i);
          }
      if (last < 0)
        continue;
      EXPECT_LE(lo, first) << c.mask << " keys [" << k0 << ", " << k1 << ")";
      EXPECT_GT(hi, last) << c.mask << " keys [" << k0 << ", " << k1 << ")";
      bool wholeRows = k0 % inner == 0 && k1 % inner == 0;
      if (c.tight && wholeRows) {
        EXPECT_EQ(lo, first) << c.mask << " keys [" << k0 << ", " << k1 << ")";
        EXPECT_EQ(hi, last + 1)
            << c.mask << " keys [" << k0 << ", " << k1 << ")";
      }
    }
  }
}

/// Power-law tiles are classified exactly at run time, whatever blocks they
/// span: inside one block pair (the usual tiling), across several (blocks
/// smaller than the tiles), on and off the diagonal, in and past the sink.
TEST_F(MaskCodegenTest, PowerLawTiles) {
  std::mt19937 rng(13);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int variant = 0; variant < 24; ++variant) {
    int64_t block = pick(1, 5), n = block * pick(4, 24) + pick(0, block - 1);
    auto mask = PowerLawMaskAttr::get(&context, block, pick(0, 4), pick(0, 2),
                                      /*causal=*/variant % 2 == 0);
    auto scratch = makeScratch(n, n);
    OpBuilder &builder = scratch->builder;
    Location loc = scratch->loc;
    const MaskIRContext &irContext = scratch->irContext;
    auto cst = [&](int64_t v) { return scratch->cst(v); };
    for (int trial = 0; trial < 300; ++trial) {
      // Half the tiles inside one block pair, half of any extent.
      int64_t q0, q1, k0, k1;
      if (trial % 2 == 0) {
        int64_t qb = pick(0, (n - 1) / block), kb = pick(0, (n - 1) / block);
        q0 = qb * block + pick(0, block - 1);
        q1 = pick(q0 + 1, (qb + 1) * block);
        k0 = kb * block + pick(0, block - 1);
        k1 = pick(k0 + 1, (kb + 1) * block);
        q0 = std::min(q0, n - 1), k0 = std::min(k0, n - 1);
        q1 = std::min(q1, n), k1 = std::min(k1, n);
      } else {
        q0 = pick(0, n - 1), q1 = pick(q0 + 1, std::min(n, q0 + 4 * block));
        k0 = pick(0, n - 1), k1 = pick(k0 + 1, std::min(n, k0 + 4 * block));
      }
      auto [mayKeep, keepsAll] = mask.emitClassifyRange(
          builder, loc, cst(q0), cst(q1), cst(k0), cst(k1), irContext);
      APInt may, all;
      ASSERT_TRUE(matchPattern(mayKeep, m_ConstantInt(&may)) &&
                  matchPattern(keepsAll, m_ConstantInt(&all)));
      TileClass host = mask.classifyTile(TokenBox::range(n, q0, q1),
                                         TokenBox::range(n, k0, k1),
                                         MaskContext(n, n));
      EXPECT_EQ(may.getBoolValue(), host != TileClass::Empty)
          << str(mask) << " [" << q0 << ", " << q1 << ") x [" << k0 << ", "
          << k1 << ")";
      EXPECT_EQ(all.getBoolValue(), host == TileClass::Full)
          << str(mask) << " [" << q0 << ", " << q1 << ") x [" << k0 << ", "
          << k1 << ")";
    }
  }
}

TEST_F(MaskCodegenTest, FlatMasks) {
  const char *masks[] = {
      "#attn.dense",
      "#attn.none",
      "#attn.causal",
      "#attn.causal<bottom_right>",
      "#attn.sliding_window<left = 3, right = 1>",
      "#attn.sliding_window<left = 2, right = 0, alignment = bottom_right>",
      "#attn.power_law<block = 2, window = 1, sink = 1>",
      "#attn.power_law<block = 3, window = 2, sink = 0, causal = false>",
      "#attn.and<#attn.causal, #attn.sliding_window<left = 4, right = 0>>",
      "#attn.or<#attn.sliding_window<left = 1, right = 1>, "
      "#attn.power_law<block = 4, window = 1, sink = 1>>",
  };
  for (const char *text : masks)
    for (auto [nq, nk] : {std::pair<int64_t, int64_t>{13, 13}, {7, 19}, {19, 7}})
      expectSameAsHost(parseMask(text), nq, nk);
}

TEST_F(MaskCodegenTest, RandomNeighborhoods) {
  std::mt19937 rng(11);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 60; ++trial) {
    unsigned rank = pick(1, 3);
    SmallVector<int64_t> grid, window, stride, dilation;
    SmallVector<bool> causal;
    for (unsigned d = 0; d < rank; ++d) {
      int64_t extent = pick(1, rank == 1 ? 20 : 6);
      int64_t dil = pick(1, std::max<int64_t>(1, extent / 2));
      int64_t w = pick(1, extent / dil);
      grid.push_back(extent);
      dilation.push_back(dil);
      window.push_back(w);
      stride.push_back(pick(1, w));
      causal.push_back(pick(0, 3) == 0);
    }
    auto mask = NeighborhoodMaskAttr::get(&context, grid, window, stride,
                                          dilation, causal);
    int64_t n = TokenBox::all(grid).getNumTokens();
    expectSameAsHost(mask, n, n);
  }
}

TEST_F(MaskCodegenTest, Segments) {
  // Static sizes with nested entries, including a neighborhood over a
  // segment and cross-attention with separate key segments.
  expectSameAsHost(
      parseMask("#attn.segments<query = [3, 0, 9], visibility = [[full, none, "
                "causal], [full, full, full], [none, full, "
                "#attn.neighborhood<grid = [3, 3], window = [2, 2]>]]>"),
      12, 12);
  expectSameAsHost(
      parseMask("#attn.segments<query = [4, 5], key = [2, 3, 6], visibility = "
                "[[full, none, causal], [none, full, "
                "#attn.sliding_window<left = 1, right = 1>]]>"),
      9, 11);
  // Run-time sizes, with padding after the last segment.
  MaskAttrInterface runtime = parseMask(
      "#attn.segments<query = [?, ?, ?], visibility = [[causal, none, none], "
      "[full, causal, none], [none, none, full]]>");
  int64_t offsets[] = {0, 4, 4, 9};
  expectSameAsHost(runtime, 11, 11, offsets);
  int64_t queryOffsets[] = {0, 2, 6}, keyOffsets[] = {0, 5, 7};
  expectSameAsHost(parseMask("#attn.segments<query = [?, ?], visibility = "
                             "[[full, causal], [causal, full]]>"),
                   6, 8, queryOffsets, keyOffsets);
}

} // namespace
