//===- CpuReferenceTest.cpp - compiled CPU attention vs the reference -----===//
//
// Every case: a random problem described once (attnref::Problem), printed as
// attn IR, compiled through attn-cpu-pipeline, run by the ExecutionEngine on
// random inputs with poisoned outputs, and compared with the independent f64
// reference of SEMANTICS.md (unittests/Reference). Sizes are not multiples
// of the tiles.
//
// Tolerances: the kernel computes in f32 what the reference computes in
// f64, so O agrees to 2e-5 (f32 outputs) and LSE to 1e-4; f16 outputs add
// their own rounding (half an f16 ulp, 2^-11 relative), hence 2e-3.
//
//===----------------------------------------------------------------------===//

#include "ProblemIR.h"

#include "llvm/ADT/APFloat.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <sstream>

using namespace mlir::attn::testing;
using attnref::Problem;
using attnref::Spec;

namespace {

struct Case {
  enum class Data { F32, F16, BF16 };
  enum class Check { Exact, AgainstEmulation };

  Case(Problem problem, Data data, int64_t queryTile, int64_t keyTile)
      : problem(std::move(problem)), half(data != Data::F32),
        bf16(data == Data::BF16), queryTile(queryTile), keyTile(keyTile) {}

  Problem problem;
  bool half;          // 16-bit Q, K, V and O (else f32)
  bool bf16;          // with `half`: bf16 instead of f16
  int64_t queryTile, keyTile;
  bool withLse = true;
  /// AgainstEmulation: quantized cases compare with the reference's
  /// emulation of the same precision instead of element-wise tolerances.
  Check check = Check::Exact;
  bool quantized() const { return check == Check::AgainstEmulation; }
  /// Quantization pre-steps as attn-quantize ops (else inside the loop
  /// nest of the unsplit op).
  bool splitQuantization = true;
  /// An N-D tiling of the mask's grid (the op's `tiling` attribute), used
  /// instead of queryTile / keyTile when set.
  std::vector<int64_t> gridQueryTile, gridKeyTile;
};

/// What a quantized case measured, for the accuracy report.
struct QuantizedOutcome {
  double relL1ToEmulation = 0, maxAbsToEmulation = 0;
  double cosineToExact = 0, relL1ToExact = 0;
  /// The kernel's O and LSE.
  std::vector<double> output, lse;
};

/// Runs one case; returns a description of the first failure, or "".
std::string runCase(const Case &c, uint32_t seed,
                    QuantizedOutcome *outcome = nullptr,
                    float keyChannelOffset = 0) {
  const Problem &p = c.problem;
  std::string halfName = c.bf16 ? "bf16" : "f16";
  std::string elem = c.half ? halfName : "f32";
  attnref::Rng rng(seed);
  std::normal_distribution<float> normal;
  auto random = [&](size_t n) {
    std::vector<float> x(n);
    for (float &e : x)
      e = normal(rng);
    if (!c.half)
      return x;
    return c.bf16 ? attnref::roundToBF16(x) : attnref::roundToF16(x);
  };
  std::vector<float> q = random(p.B * p.Hq * p.Nq * p.D);
  std::vector<float> k = random(p.B * p.Hkv * p.Nk * p.D);
  if (keyChannelOffset != 0) { // the outliers smoothing exists for
    for (size_t x = 0; x < k.size(); ++x)
      k[x] += keyChannelOffset * static_cast<float>(x % p.D % 3);
    if (c.half)
      k = c.bf16 ? attnref::roundToBF16(k) : attnref::roundToF16(k);
  }
  std::vector<float> v = random(p.B * p.Hkv * p.Nk * p.Dv);

  ProblemArguments arguments(p, c.half, c.bf16);
  arguments.addFloat("%q", {p.B, p.Hq, p.Nq, p.D}, q, c.half);
  arguments.addFloat("%k", {p.B, p.Hkv, p.Nk, p.D}, k, c.half);
  arguments.addFloat("%v", {p.B, p.Hkv, p.Nk, p.Dv}, v, c.half);
  std::string operands = arguments.addOptionalOperands();
  size_t outputIndex = arguments.size();
  arguments.addPoisoned("%o", {p.B, p.Hq, p.Nq, p.Dv}, c.half);
  std::string outs = "%o : " + arguments.typeOf(outputIndex);
  if (c.withLse) {
    arguments.addPoisoned("%lse", {p.B, p.Hq, p.Nq}, false);
    outs += ", %lse : " + arguments.typeOf(outputIndex + 1);
  }

  std::string attrs = problemAttributes(p);
  if (!c.gridQueryTile.empty())
    attrs += " tiling = #attn.tiling<query = " + list(c.gridQueryTile) +
             ", key = " + list(c.gridKeyTile) + ">";

  std::ostringstream source;
  source << "func.func @attn(" << arguments.signature()
         << ") attributes {llvm.emit_c_interface} {\n  attn.attention ins(%q, "
            "%k, %v : "
         << arguments.typeOf(0) << ", " << arguments.typeOf(1) << ", "
         << arguments.typeOf(2) << ")" << operands << " outs(" << outs << ")"
         << attrs << "\n  return\n}\n";

  std::string error;
  mlir::attn::CpuPipelineOptions tiles{c.queryTile, c.keyTile,
                                       c.splitQuantization};
  if (!c.gridQueryTile.empty())
    tiles = {0, 0, c.splitQuantization}; // the op's tiling
  auto kernel = CpuKernel::compile(source.str(), tiles, error);
  if (!kernel)
    return "compile failed: " + error + "\n" + source.str();
  if (!kernel->run("attn", arguments.args(), error))
    return "run failed: " + error;

  // The reference models the default precision: P rounded to V's type.
  Problem reference = p;
  if (c.half && !reference.precision.pv)
    reference.precision.pv = c.bf16 ? attnref::ElemType::BF16
                                    : attnref::ElemType::F16;
  reference.emulation.kvTile = c.keyTile > 0 ? c.keyTile : 64;
  attnref::Result expected = attnref::reference(reference, q, k, v);
  if (c.quantized()) {
    // Near-exact: the kernel computes means and scales in f32 where the
    // emulation uses f64, which can move a value across a rounding boundary
    // now and then; a wrong granularity or scaling costs ~1e-2.
    const HostBuffer &o = arguments.buffer(outputIndex);
    std::vector<double> actual;
    for (size_t x = 0; x < expected.O.size(); ++x)
      actual.push_back(c.half ? fromHalfBits(o.f16[x], c.bf16) : o.f32[x]);
    QuantizedOutcome result;
    result.relL1ToEmulation = attnref::relativeL1(actual, expected.O);
    for (size_t x = 0; x < actual.size(); ++x)
      result.maxAbsToEmulation = std::max(
          result.maxAbsToEmulation, std::abs(actual[x] - expected.O[x]));
    Problem exactProblem = p;
    exactProblem.precision = attnref::PrecisionSpec();
    attnref::Result exact = attnref::reference(exactProblem, q, k, v);
    result.cosineToExact = attnref::cosineSimilarity(actual, exact.O);
    result.relL1ToExact = attnref::relativeL1(actual, exact.O);
    result.output = actual;
    if (c.withLse)
      result.lse.assign(arguments.buffer(outputIndex + 1).f32.begin(),
                        arguments.buffer(outputIndex + 1).f32.end());
    if (outcome)
      *outcome = result;
    if (!(result.relL1ToEmulation <= 2e-3 && result.maxAbsToEmulation <= 5e-2))
      return "quantized output differs from the emulation: rel-L1 " +
             num(result.relL1ToEmulation) + ", max abs " +
             num(result.maxAbsToEmulation) + "\n" + source.str();
    if (c.withLse) {
      const HostBuffer &lse = arguments.buffer(outputIndex + 1);
      for (size_t x = 0; x < expected.LSE.size(); ++x) {
        double want = expected.LSE[x];
        bool same = std::isinf(want)
                        ? lse.f32[x] == want
                        : std::abs(lse.f32[x] - want) <= 2e-2 * (1 + std::abs(want));
        if (!same)
          return "LSE[" + std::to_string(x) + "] = " + num(lse.f32[x]) +
                 ", expected " + num(want) + "\n" + source.str();
      }
    }
    return "";
  }
  // A bf16 output rounds to 2^-8 relative, an f16 one to 2^-11.
  double atol = c.half ? (c.bf16 ? 8e-3 : 2e-3) : 2e-5;
  const HostBuffer &o = arguments.buffer(outputIndex);
  for (size_t x = 0; x < expected.O.size(); ++x) {
    double actual = c.half ? fromHalfBits(o.f16[x], c.bf16) : o.f32[x];
    double want = expected.O[x];
    if (!(std::abs(actual - want) <= atol + atol * std::abs(want)))
      return "O[" + std::to_string(x) + "] = " + num(actual) + ", expected " +
             num(want) + "\n" + source.str();
  }
  if (c.withLse) {
    const HostBuffer &lse = arguments.buffer(outputIndex + 1);
    for (size_t x = 0; x < expected.LSE.size(); ++x) {
      double actual = lse.f32[x], want = expected.LSE[x];
      bool same = std::isinf(want) ? actual == want
                                   : std::abs(actual - want) <= 1e-4 * (1 + std::abs(want));
      if (!same)
        return "LSE[" + std::to_string(x) + "] = " + num(actual) +
               ", expected " + num(want) + "\n" + source.str();
    }
  }
  return "";
}

/// Every mask is lowered (renormalize = false anywhere applies the head's
/// whole mask after the softmax, as the reference defines it).
bool isLowerable(const Spec &) { return true; }

TEST(CpuVsReference, RandomMasks) {
  attnref::Rng rng(2026);
  int cases = 0;
  for (int trial = 0; trial < 60; ++trial) {
    int64_t n = attnref::uniform(rng, 5, 23);
    Problem p = baseProblem(rng, n);
    if (trial % 3 == 1)
      p.Nk = attnref::uniform(rng, 3, 25); // cross attention
    bool dynamicAllowed = true;
    p.mask = attnref::randomMask(rng, p.Nq, p.Nk, 2, dynamicAllowed);
    if (!isLowerable(p.mask))
      continue;
    addOffsets(rng, p);
    Case c(p, trial % 2 == 0 ? Case::Data::F16 : Case::Data::F32,
           attnref::uniform(rng, 1, 7), attnref::uniform(rng, 1, 7));
    std::string failure = runCase(c, 100 + trial);
    ASSERT_EQ(failure, "") << "trial " << trial;
    ++cases;
  }
  EXPECT_GE(cases, 40);
}

/// Differential testing at scale: random ops that combine the mask
/// families (and their and / or compositions, run-time segments), cross
/// attention, GQA, odd head dims, the heads features, explicit masks,
/// biases and the quantized presets, through the CPU pipeline against the
/// f64 reference (or its emulation of the precision). Every trial has its
/// own seed, so a failure names the one op to replay:
/// ATTN_DIFF_CASES=1 ATTN_DIFF_SEED=<seed>. CI runs 200;
/// utils/differential.sh runs as many as asked.
TEST(CpuVsReference, Differential) {
  int64_t cases = environmentInt("ATTN_DIFF_CASES", 200);
  int64_t firstSeed = environmentInt("ATTN_DIFF_SEED", 20261206);
  const char *presets[] = {"sage1", "sage2_8b", "sage2_4b", "fp8", "nvfp4"};
  int64_t quantizedCases = 0, featureCases = 0;
  for (int64_t trial = 0; trial < cases; ++trial) {
    uint32_t seed = static_cast<uint32_t>(firstSeed + trial);
    attnref::Rng rng(seed);
    bool quantized = attnref::coin(rng, 0.25);
    Problem p = baseProblem(rng, quantized ? attnref::uniform(rng, 17, 60)
                                           : attnref::uniform(rng, 4, 29));
    if (attnref::coin(rng, 0.3))
      p.Nk = quantized ? attnref::uniform(rng, 17, 60)
                       : attnref::uniform(rng, 3, 29);
    if (quantized) { // scale groups of 16 along D
      p.D = 16 * attnref::uniform(rng, 1, 2);
      p.Dv = attnref::uniform(rng, 4, 16);
    }
    bool dynamicAllowed = !quantized;
    p.mask = attnref::randomMask(rng, p.Nq, p.Nk, 2, dynamicAllowed);
    addOffsets(rng, p);
    if (quantized) {
      p.precision = attnref::preset(
          presets[attnref::uniform(rng, 0, std::size(presets) - 1)]);
      ++quantizedCases;
    } else {
      featureCases += addRandomFeatures(rng, p);
    }
    Case::Data data = quantized || attnref::coin(rng) ? Case::Data::F16
                                                      : Case::Data::F32;
    Case c = quantized ? Case(p, data, 16, attnref::uniform(rng, 8, 32))
                       : Case(p, data, attnref::uniform(rng, 1, 7),
                              attnref::uniform(rng, 1, 7));
    if (quantized)
      c.check = Case::Check::AgainstEmulation;
    c.withLse = attnref::coin(rng, 0.8);
    ASSERT_EQ(runCase(c, seed), "")
        << "replay: ATTN_DIFF_CASES=1 ATTN_DIFF_SEED=" << seed;
  }
  // Both halves of the generator ran (not a vacuous run).
  if (cases >= 100) {
    EXPECT_GE(quantizedCases, cases / 10);
    EXPECT_GE(featureCases, cases / 10);
  }
}

TEST(CpuVsReference, GridMasks) {
  attnref::Rng rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    unsigned rank = attnref::uniform(rng, 1, 3);
    std::vector<int64_t> grid = attnref::randomGrid(rng, rank, rank == 1 ? 20 : 5);
    int64_t n = attnref::product(grid);
    Problem p = baseProblem(rng, n);
    do {
      p.mask = trial % 2 ? attnref::randomNeighborhood(rng, grid)
                         : attnref::randomGridComposite(
                               rng,
                               trial % 4 ? attnref::Kind::And
                                         : attnref::Kind::Or,
                               grid);
    } while (!isLowerable(p.mask));
    addOffsets(rng, p);
    Case c(p, trial % 3 == 0 ? Case::Data::F16 : Case::Data::F32,
           attnref::uniform(rng, 1, 9), attnref::uniform(rng, 1, 9));
    ASSERT_EQ(runCase(c, 300 + trial), "") << "trial " << trial;
  }
}

TEST(CpuVsReference, OperandsAndHeads) {
  attnref::Rng rng(11);
  for (int trial = 0; trial < 24; ++trial) {
    int64_t n = attnref::uniform(rng, 6, 17);
    Problem p = baseProblem(rng, n);
    p.Hq = p.Hkv * 2;
    p.mask = trial % 2 ? attnref::makeCausal(trial % 4 == 1)
                       : attnref::randomSliding(rng, p.Nq, p.Nk, false);
    if (trial % 3 == 0) { // explicit mask, per batch and head sometimes
      p.explicitMask.batches = trial % 2 ? p.B : 1;
      p.explicitMask.heads = 1;
      int64_t count = p.explicitMask.batches * p.Nq * p.Nk;
      for (int64_t x = 0; x < count; ++x)
        p.explicitMask.values.push_back(attnref::coin(rng, 0.7));
    }
    if (trial % 3 == 1) { // bias
      p.bias.batches = 1;
      p.bias.heads = 1;
      for (int64_t x = 0; x < p.Nq * p.Nk; ++x)
        p.bias.values.push_back(std::normal_distribution<float>()(rng));
    }
    if (trial % 4 == 0) {
      for (int64_t h = 0; h < p.Hq; ++h)
        p.weights.push_back(h == 1 ? 0.0 : 0.5 + h);
    }
    if (trial % 4 == 1)
      for (int64_t x = 0; x < p.B * p.Nq * p.Hq; ++x)
        p.gates.push_back(attnref::coin(rng, 0.2)
                              ? 0.0f
                              : std::uniform_real_distribution<float>(0, 2)(rng));
    if (trial % 4 == 2) {
      const double us[] = {0.0, 0.3, 1.0};
      p.softpag = attnref::SoftPag{us[trial % 3], {0, p.Hq - 1}};
    }
    if (trial % 4 == 3) {
      attnref::HeadGroup group;
      group.heads = {p.Hq - 1};
      group.mask = attnref::makeSliding(1, 1, false);
      p.groups.push_back(group);
    }
    if (trial % 5 == 0)
      p.scale = 0.2;
    Case c(p, trial % 2 == 1 ? Case::Data::F16 : Case::Data::F32,
           attnref::uniform(rng, 1, 6), attnref::uniform(rng, 1, 6));
    c.withLse = trial % 6 != 5;
    ASSERT_EQ(runCase(c, 500 + trial), "") << "trial " << trial;
  }
}

TEST(CpuVsReference, UnnormalizedSegments) {
  attnref::Rng rng(13);
  for (int trial = 0; trial < 10; ++trial) {
    int64_t n = attnref::uniform(rng, 6, 20);
    Problem p = baseProblem(rng, n);
    do {
      p.mask = attnref::randomSegments(rng, n, n, 1, /*dynamic=*/trial % 2);
      p.mask.renormalize = false;
    } while (!isLowerable(p.mask));
    addOffsets(rng, p);
    Case c(p, Case::Data::F32, attnref::uniform(rng, 1, 6),
           attnref::uniform(rng, 1, 6));
    ASSERT_EQ(runCase(c, 700 + trial), "") << "trial " << trial;
  }
}

} // namespace

namespace {

/// The head dims of real models, with D != Dv, B > 1 and GQA.
TEST(CpuVsReference, HeadDims) {
  attnref::Rng rng(17);
  const int64_t dims[] = {32, 64, 128, 256};
  for (int64_t d : dims) {
    Problem p;
    p.B = 2;
    p.Hkv = 1;
    p.Hq = 2;
    p.Nq = 11;
    p.Nk = 13;
    p.D = d;
    p.Dv = d == 256 ? 64 : d;
    p.mask = attnref::makeCausal(/*bottomRight=*/true);
    Case c(p, Case::Data::F16, 4, 8);
    ASSERT_EQ(runCase(c, 900 + d), "") << "D = " << d;
  }
}

} // namespace

namespace {

/// Every lowered precision against the reference's emulation of it, with
/// masks, GQA and sizes that are not multiples of the tiles or the scale
/// blocks.
TEST(CpuVsReference, Precisions) {
  using attnref::ElemType;
  using attnref::Granularity;
  std::vector<attnref::PrecisionSpec> precisions = {
      attnref::preset("sage1"), attnref::preset("sage2_8b"),
      attnref::preset("sage2_4b"), attnref::preset("fp8"),
      attnref::preset("nvfp4")};
  auto make = [](ElemType qk, Granularity g, int64_t size, bool smoothK,
                 std::optional<ElemType> pv, attnref::Accumulation acc) {
    attnref::PrecisionSpec spec;
    spec.qk = qk;
    spec.granularity = g;
    spec.granularitySize = size;
    spec.smoothK = smoothK;
    spec.pv = pv;
    spec.pvAccum = acc;
    return spec;
  };
  precisions.push_back(make(ElemType::I8, Granularity::Token, 0, false,
                            std::nullopt, attnref::Accumulation::F32));
  precisions.push_back(make(ElemType::I4, Granularity::Block, 8, true,
                            ElemType::F16, attnref::Accumulation::F32));
  precisions.push_back(make(ElemType::I8, Granularity::Tensor, 0, true,
                            ElemType::F8E4M3FN, attnref::Accumulation::TwoLevel));
  precisions.push_back(make(ElemType::I4, Granularity::Thread, 16, false,
                            ElemType::F16, attnref::Accumulation::F16));
  attnref::PrecisionSpec smoothOnly;
  smoothOnly.smoothK = true;
  precisions.push_back(smoothOnly);
  smoothOnly.smoothQ = true;
  precisions.push_back(smoothOnly);
  attnref::PrecisionSpec tokenSmoothQ = make(
      ElemType::I8, Granularity::Token, 0, false, std::nullopt,
      attnref::Accumulation::F32);
  tokenSmoothQ.smoothQ = true;
  precisions.push_back(tokenSmoothQ);
  attnref::PrecisionSpec tensorSmoothQ = make(
      ElemType::F8E4M3FN, Granularity::Tensor, 0, true, ElemType::F16,
      attnref::Accumulation::F32);
  tensorSmoothQ.smoothQ = true;
  precisions.push_back(tensorSmoothQ);
  precisions.push_back(make(ElemType::I8, Granularity::Block, 32, true,
                            ElemType::F4E2M1FN, attnref::Accumulation::F32));
  // 16-bit rounding to the other 16-bit type (on f16 data): Q, K to bf16,
  // and P, V to bf16.
  attnref::PrecisionSpec bf16Rounding;
  bf16Rounding.qk = ElemType::BF16;
  bf16Rounding.pv = ElemType::BF16;
  precisions.push_back(bf16Rounding);
  attnref::PrecisionSpec bf16Smoothed = bf16Rounding;
  bf16Smoothed.smoothK = true;
  bf16Smoothed.smoothQ = true;
  precisions.push_back(bf16Smoothed);

  attnref::Rng rng(23);
  for (size_t x = 0; x < precisions.size(); ++x) {
    for (int variant = 0; variant < 3; ++variant) {
      Problem p;
      p.B = 2;
      p.Hkv = 1 + variant % 2;
      p.Hq = 2 * p.Hkv;
      p.Nq = attnref::uniform(rng, 20, 70);
      p.Nk = variant == 2 ? attnref::uniform(rng, 20, 70) : p.Nq;
      p.D = variant == 1 ? 64 : variant == 2 ? 40 : 16;
      p.Dv = 12;
      p.mask = variant == 0 ? attnref::makeDense()
               : variant == 1
                   ? attnref::makeCausal(false)
                   : attnref::randomSliding(rng, p.Nq, p.Nk, true);
      p.precision = precisions[x];
      Case c(p, Case::Data::F16, 16, attnref::uniform(rng, 8, 32));
      c.check = Case::Check::AgainstEmulation;
      QuantizedOutcome outcome;
      std::string failure = runCase(c, 1000 + 10 * x + variant, &outcome);
      ASSERT_EQ(failure, "") << attnref::toMlir(precisions[x]) << " variant "
                             << variant;
    }
  }
}

} // namespace

namespace {

/// The accuracy of each lowered quantized precision against the exact f64
/// reference, on standard normal inputs and with a large per-channel offset
/// on K (what smoothing is for). Prints the table recorded in
/// docs/Accuracy.md; asserts only loose floors (the CPU code is checked
/// against the emulation above).
TEST(CpuVsReference, AccuracyReport) {
  using attnref::ElemType;
  struct Row {
    std::string name;
    attnref::PrecisionSpec spec;
  };
  std::vector<Row> rows;
  for (const char *name : {"sage1", "sage2_8b"}) {
    attnref::PrecisionSpec spec = attnref::preset(name);
    rows.push_back({name, spec});
    spec.smoothK = false;
    rows.push_back({std::string(name) + " without smooth_k", spec});
  }
  attnref::PrecisionSpec int4 = attnref::preset("sage2_4b");
  rows.push_back({"sage2_4b", int4});
  int4.smoothQ = false;
  rows.push_back({"sage2_4b without smooth_q", int4});
  int4.smoothK = false;
  rows.push_back({"sage2_4b without smoothing", int4});
  attnref::PrecisionSpec fp8 = attnref::preset("fp8");
  rows.push_back({"fp8", fp8});
  fp8.smoothK = false;
  rows.push_back({"fp8 without smooth_k", fp8});
  attnref::PrecisionSpec nvfp4 = attnref::preset("nvfp4");
  rows.push_back({"nvfp4", nvfp4});
  nvfp4.smoothK = false;
  rows.push_back({"nvfp4 without smooth_k", nvfp4});

  std::printf("| precision | normal: cos | normal: rel-L1 | K offset: cos | "
              "K offset: rel-L1 |\n|---|---|---|---|---|\n");
  for (const Row &row : rows) {
    double cosine[2], relL1[2];
    for (int offset = 0; offset < 2; ++offset) {
      Problem p;
      p.B = 1;
      p.Hkv = 2;
      p.Hq = 4;
      p.Nq = p.Nk = 256;
      p.D = p.Dv = 64;
      p.precision = row.spec;
      Case c(p, Case::Data::F16, 32, 64);
      c.withLse = false;
      c.check = Case::Check::AgainstEmulation;
      QuantizedOutcome outcome;
      ASSERT_EQ(runCase(c, 4242, &outcome, offset ? 8.0f : 0.0f), "")
          << row.name;
      cosine[offset] = outcome.cosineToExact;
      relL1[offset] = outcome.relL1ToExact;
    }
    std::printf("| %s | %.5f | %.4f | %.5f | %.4f |\n", row.name.c_str(),
                cosine[0], relL1[0], cosine[1], relL1[1]);
    if (row.name == "sage1") {
      EXPECT_GE(cosine[0], 0.9995);
      EXPECT_LE(relL1[0], 0.02);
    }
    EXPECT_GE(cosine[0], 0.98) << row.name;
  }
}

} // namespace

namespace {

/// Head groups with their own precision (and mask): each group gets its own
/// quantization pre-passes and loop nest.
TEST(CpuVsReference, HeadGroupPrecisions) {
  attnref::Rng rng(29);
  const char *presets[] = {"sage1", "sage2_8b", "nvfp4"};
  for (int trial = 0; trial < 3; ++trial) {
    Problem p;
    p.B = 1;
    p.Hkv = 2;
    p.Hq = 4;
    p.Nq = p.Nk = attnref::uniform(rng, 30, 50);
    p.D = 32;
    p.Dv = 16;
    p.mask = attnref::makeCausal(false);
    attnref::HeadGroup quantizedGroup;
    quantizedGroup.heads = {1, 2};
    quantizedGroup.precision = attnref::preset(presets[trial]);
    if (trial == 1)
      quantizedGroup.mask = attnref::makeSliding(8, 0, false);
    p.groups.push_back(quantizedGroup);
    attnref::HeadGroup windowGroup;
    windowGroup.heads = {3};
    windowGroup.mask = attnref::makeSliding(4, 4, false);
    p.groups.push_back(windowGroup);
    Case c(p, Case::Data::F16, 8, 16);
    c.check = Case::Check::AgainstEmulation;
    ASSERT_EQ(runCase(c, 1300 + trial), "") << presets[trial];
  }
}

} // namespace

namespace {

/// bf16 inputs and outputs: P is rounded to bf16 before P.V.
TEST(CpuVsReference, Bf16) {
  attnref::Rng rng(31);
  for (int trial = 0; trial < 8; ++trial) {
    int64_t n = attnref::uniform(rng, 10, 30);
    Problem p = baseProblem(rng, n);
    bool dynamicAllowed = false;
    do {
      p.mask = attnref::randomMask(rng, p.Nq, p.Nk, 1, dynamicAllowed);
    } while (!isLowerable(p.mask));
    Case c(p, Case::Data::BF16, attnref::uniform(rng, 2, 8),
           attnref::uniform(rng, 2, 8));
    if (trial % 2) { // i8 Q.K with smooth_k, P in bf16 (V's type)
      attnref::PrecisionSpec spec = attnref::preset("sage1");
      spec.pv = std::nullopt;
      spec.pvAccum = attnref::Accumulation::F32;
      c.problem.precision = spec;
      c.check = Case::Check::AgainstEmulation;
    }
    ASSERT_EQ(runCase(c, 1500 + trial), "") << "trial " << trial;
  }
}

} // namespace

namespace {

/// N-D tilings (attn-plan's patches of the token grid): query and key tiles
/// are boxes of the grid, clipped at its edges.
TEST(CpuVsReference, GridTilings) {
  attnref::Rng rng(37);
  for (int trial = 0; trial < 24; ++trial) {
    unsigned rank = attnref::uniform(rng, 2, 3);
    std::vector<int64_t> grid = attnref::randomGrid(rng, rank, 6);
    int64_t n = attnref::product(grid);
    Problem p = baseProblem(rng, n);
    do {
      p.mask = trial % 3 ? attnref::randomNeighborhood(rng, grid)
                         : attnref::randomGridComposite(
                               rng,
                               trial % 2 ? attnref::Kind::And
                                         : attnref::Kind::Or,
                               grid);
    } while (!isLowerable(p.mask));
    addOffsets(rng, p);
    Case c(p, trial % 2 ? Case::Data::F16 : Case::Data::F32, 0, 0);
    if (trial % 4 == 3) { // a flat tiling, classified by attn-sparsity too
      c.gridQueryTile = {attnref::uniform(rng, 1, n)};
      c.gridKeyTile = {attnref::uniform(rng, 1, n)};
    } else {
      for (int64_t extent : grid) {
        c.gridQueryTile.push_back(attnref::uniform(rng, 1, extent));
        c.gridKeyTile.push_back(attnref::uniform(rng, 1, extent));
      }
    }
    ASSERT_EQ(runCase(c, 1700 + trial), "") << "trial " << trial;
  }
}

} // namespace

namespace {

/// attn-quantize's split (pre-step ops, then the op reading the quantized
/// bundle) against the reference's emulation for every preset, with odd
/// sizes (no length a multiple of a tile, a scale block or 16; D not a
/// multiple of 16), GQA and a head group with its own precision; and the
/// unsplit op (pre-passes inside its loop nest) giving the same bits.
TEST(CpuVsReference, QuantizeSplitAndFused) {
  attnref::Rng rng(41);
  const char *presets[] = {"sage1", "sage2_8b", "sage2_4b", "fp8", "nvfp4"};
  for (const char *name : presets) {
    for (int variant = 0; variant < 2; ++variant) {
      Problem p;
      p.B = 2;
      p.Hkv = 2;
      p.Hq = 6;
      p.Nq = 2 * attnref::uniform(rng, 15, 35) + 1;
      p.Nk = 2 * attnref::uniform(rng, 15, 35) + 1;
      p.D = 40;
      p.Dv = 13;
      p.mask = variant == 0 ? attnref::makeCausal(true) : attnref::makeDense();
      p.precision = attnref::preset(name);
      if (variant == 1) { // heads 1 and 4 in sage2_8b, 5 smoothed only
        attnref::HeadGroup quantizedGroup;
        quantizedGroup.heads = {1, 4};
        quantizedGroup.precision = attnref::preset("sage2_8b");
        p.groups.push_back(quantizedGroup);
        attnref::HeadGroup smoothedGroup;
        smoothedGroup.heads = {5};
        smoothedGroup.precision = attnref::PrecisionSpec();
        smoothedGroup.precision->smoothK = true;
        p.groups.push_back(smoothedGroup);
      }
      QuantizedOutcome outcomes[2];
      for (bool split : {true, false}) {
        Case c(p, Case::Data::F16, 16, 24);
        c.check = Case::Check::AgainstEmulation;
        c.splitQuantization = split;
        ASSERT_EQ(runCase(c, 4100 + variant, &outcomes[split]), "")
            << name << " variant " << variant << (split ? " split" : " fused");
      }
      ASSERT_FALSE(outcomes[1].output.empty());
      EXPECT_EQ(outcomes[1].output, outcomes[0].output)
          << name << " variant " << variant;
      EXPECT_EQ(outcomes[1].lse, outcomes[0].lse)
          << name << " variant " << variant;
    }
  }
}

} // namespace
