//===- ReferenceMlirTest.cpp - the reference's text against the dialect ---===//
//
// The reference library prints masks and precisions in the dialect's syntax
// (toMlir) without using the dialect. Here the dialect parses that text:
//
//   - every random mask parses, and the parsed attribute's keep equals
//     ref::keep on all pairs (with run-time segment offsets too);
//   - precisions parse to the same fields, presets to the dialect's presets,
//     and the dialect's verifier accepts exactly what validate() accepts.
//
//===----------------------------------------------------------------------===//

#include "Reference/AttentionReference.h"
#include "Reference/MaskReference.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace mlir;
using namespace mlir::attn;

namespace {

using attnref::Rng;
using attnref::Spec;

class ReferenceMlirTest : public ::testing::Test {
protected:
  ReferenceMlirTest() { ctx.loadDialect<AttnDialect>(); }

  /// Parses `text`; null (and the diagnostic in `error`) on failure.
  Attribute parse(const std::string &text, std::string *error = nullptr) {
    std::string message;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      message += d.str();
      return success();
    });
    Attribute attr = parseAttribute(text, &ctx);
    if (error)
      *error = message;
    return attr;
  }

  MLIRContext ctx;
};

const Spec *findDynamicSegments(const Spec &s) {
  if (s.kind == attnref::Kind::Segments)
    return s.dynamic ? &s : nullptr;
  if (s.kind == attnref::Kind::And || s.kind == attnref::Kind::Or)
    for (const Spec &m : s.children)
      if (const Spec *found = findDynamicSegments(m))
        return found;
  return nullptr;
}

TEST_F(ReferenceMlirTest, MaskSyntax) {
  using namespace attnref;
  EXPECT_EQ(
      toMlir(makeNeighborhood({4, 4}, {3, 3}, {1, 1}, {1, 1}, {false, false})),
      "#attn.neighborhood<grid = [4, 4], window = [3, 3], stride = [1, "
      "1], dilation = [1, 1], causal = [false, false]>");
  EXPECT_EQ(toMlir(makeCausal(true)), "#attn.causal<bottom_right>");
  EXPECT_EQ(toMlir(makeSliding(3, 0, false)),
            "#attn.sliding_window<left = 3, right = 0, alignment = top_left>");
  EXPECT_EQ(
      toMlir(makePowerLaw(64, 2, 1, false)),
      "#attn.power_law<block = 64, window = 2, sink = 1, causal = false>");
  EXPECT_EQ(toMlir(makeSegments(
                {2, 3}, {2, 3},
                {makeDense(), makeNone(), makeDense(), makeCausal(false)},
                /*dynamic=*/true, /*renormalize=*/false)),
            "#attn.segments<query = [?, ?], key = [?, ?], visibility = "
            "[[full, none], [full, causal]], renormalize = false>");
  EXPECT_EQ(toMlir(makeComposite(Kind::And, {makeCausal(false), makeNone()})),
            "#attn.and<#attn.causal<top_left>, #attn.none>");
}

TEST_F(ReferenceMlirTest, MaskTextParsesToTheSameKeep) {
  Rng rng(31);
  int64_t configs = 0, pairs = 0, dynamic = 0;
  for (int n = 0; n < 1500; ++n, ++configs) {
    int64_t nq, nk;
    Spec spec;
    if (n % 3 == 0) { // neighborhoods and composites on a grid
      unsigned rank = attnref::uniform(rng, 1, 3);
      std::vector<int64_t> grid = attnref::randomGrid(rng, rank,
                                                      rank == 1   ? 30
                                                      : rank == 2 ? 8
                                                                  : 4);
      nq = nk = attnref::product(grid);
      spec = attnref::coin(rng)
                 ? attnref::randomNeighborhood(rng, grid)
                 : attnref::randomGridComposite(rng,
                                                attnref::coin(rng)
                                                    ? attnref::Kind::And
                                                    : attnref::Kind::Or,
                                                grid);
    } else {
      nq = attnref::uniform(rng, 1, 20);
      nk = attnref::coin(rng, 0.5) ? nq : attnref::uniform(rng, 1, 20);
      bool dynamicAllowed = true;
      spec = attnref::randomMask(rng, nq, nk, attnref::uniform(rng, 0, 3),
                                 dynamicAllowed);
    }
    std::string text = attnref::toMlir(spec), error;
    auto mask = dyn_cast_or_null<MaskAttrInterface>(parse(text, &error));
    ASSERT_TRUE(mask) << text << ": " << error;
    // Run-time segments: offsets of other sizes than the Spec's, sometimes
    // ending before the sequence (padding).
    MaskContext context(nq, nk);
    attnref::SegmentOffsets offsets;
    const attnref::SegmentOffsets *offsetsPtr = nullptr;
    if (const Spec *seg = findDynamicSegments(spec)) {
      ++dynamic;
      int64_t qTotal = nq - attnref::uniform(rng, 0, nq / 3);
      int64_t kTotal = nk - attnref::uniform(rng, 0, nk / 3);
      offsets.query = attnref::prefixOffsets(attnref::randomComposition(
          rng, qTotal, static_cast<int64_t>(seg->qSizes.size())));
      if (attnref::coin(rng) || seg->qSizes.size() != seg->kSizes.size() ||
          qTotal > nk)
        offsets.key = attnref::prefixOffsets(attnref::randomComposition(
            rng, kTotal, static_cast<int64_t>(seg->kSizes.size())));
      context.querySegmentOffsets.assign(offsets.query.begin(),
                                         offsets.query.end());
      context.keySegmentOffsets.assign(offsets.key.begin(), offsets.key.end());
      offsetsPtr = &offsets;
    }
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t j = 0; j < nk; ++j, ++pairs) {
        bool expected = attnref::ref::keep(spec, i, j, nq, nk, offsetsPtr);
        ASSERT_EQ(mask.keep(i, j, context), expected)
            << text << ": keep(" << i << ", " << j << "), Nq = " << nq
            << ", Nk = " << nk;
      }
    }
  }
  EXPECT_GT(dynamic, 100);
  RecordProperty("configurations", configs);
  RecordProperty("pairs", pairs);
}

std::string typeName(Type t) {
  if (!t)
    return "";
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

TEST_F(ReferenceMlirTest, PresetsMatchTheDialect) {
  EXPECT_EQ(attnref::presetNames().size(),
            PrecisionAttr::getPresetNames().size());
  for (const std::string &name : attnref::presetNames()) {
    PrecisionAttr expected = PrecisionAttr::getPreset(&ctx, name);
    ASSERT_TRUE(expected) << name;
    std::string text = attnref::toMlir(attnref::preset(name)), error;
    Attribute parsed = parse(text, &error);
    EXPECT_EQ(parsed, Attribute(expected)) << text << ": " << error;
    EXPECT_EQ(parse("#attn.precision<" + name + ">"), Attribute(expected));
  }
  EXPECT_EQ(attnref::toMlir(attnref::preset("sage1")),
            "#attn.precision<qk = i8, qk_granularity = block(64), smooth_k, "
            "pv = f16, pv_accum = f16>");
  EXPECT_EQ(attnref::toMlir(attnref::PrecisionSpec()), "#attn.precision<>");
}

TEST_F(ReferenceMlirTest, PrecisionTextAndValidity) {
  using attnref::Accumulation;
  using attnref::ElemType;
  using attnref::Granularity;
  Rng rng(37);
  const ElemType types[] = {ElemType::F16,      ElemType::BF16,
                            ElemType::I8,       ElemType::I4,
                            ElemType::F8E4M3FN, ElemType::F4E2M1FN};
  int valid = 0, invalid = 0;
  for (int n = 0; n < 2000; ++n) {
    attnref::PrecisionSpec p;
    if (attnref::coin(rng, 0.8))
      p.qk = types[attnref::uniform(rng, 0, 5)];
    if (attnref::coin(rng, 0.7)) {
      p.granularity = static_cast<Granularity>(attnref::uniform(rng, 0, 3));
      if (p.granularity == Granularity::Block ||
          p.granularity == Granularity::Thread)
        p.granularitySize = attnref::coin(rng, 0.8)
                                ? 8 * attnref::uniform(rng, 1, 16)
                                : attnref::uniform(rng, 1, 20);
    }
    p.smoothK = attnref::coin(rng);
    p.smoothQ = attnref::coin(rng);
    if (attnref::coin(rng, 0.8))
      p.pv = types[attnref::uniform(rng, 0, 5)];
    p.pvAccum = static_cast<Accumulation>(attnref::uniform(rng, 0, 2));
    std::string text = attnref::toMlir(p), error;
    Attribute attr = parse(text, &error);
    std::string reason = attnref::validate(p);
    EXPECT_EQ(static_cast<bool>(attr), reason.empty())
        << text << ": validate says '" << reason << "', the dialect '" << error
        << "'";
    if (!attr) {
      ++invalid;
      continue;
    }
    ++valid;
    auto precision = cast<PrecisionAttr>(attr);
    EXPECT_EQ(typeName(precision.getQk()), p.qk ? attnref::toMlir(*p.qk) : "")
        << text;
    EXPECT_EQ(typeName(precision.getPv()), p.pv ? attnref::toMlir(*p.pv) : "")
        << text;
    EXPECT_EQ(precision.getQkGranularity().has_value(),
              p.granularity.has_value())
        << text;
    if (p.granularity) {
      EXPECT_EQ(static_cast<int>(*precision.getQkGranularity()),
                static_cast<int>(*p.granularity))
          << text;
    }
    EXPECT_EQ(precision.getQkGranularitySize(), p.granularitySize) << text;
    EXPECT_EQ(precision.getSmoothK(), p.smoothK) << text;
    EXPECT_EQ(precision.getSmoothQ(), p.smoothQ) << text;
    EXPECT_EQ(static_cast<int>(precision.getPvAccum()),
              static_cast<int>(p.pvAccum))
        << text;
  }
  EXPECT_GT(valid, 200);
  EXPECT_GT(invalid, 200);
}

} // namespace
