//===- CpuGradientTest.cpp - compiled CPU gradients vs the reference ------===//
//
// Every case: a random problem (attnref::Problem: every mask family and
// their compositions, run-time segments, renormalize = false, cross
// attention, GQA, D != Dv, explicit masks, biases with broadcast
// dimensions, head weights including 0, gates including 0, SoftPAG, head
// groups, quantized presets), its attn.attention_grad printed as IR,
// compiled through attn-cpu-pipeline and run by the ExecutionEngine with
// poisoned gradient buffers, against attnref::gradients, the f64
// transcription of SEMANTICS.md section 5 (itself checked by finite
// differences in ReferenceTest). O and LSE come from the f64 forward;
// sizes and tiles are not multiples of each other.
//
// Tolerances: the kernel computes in f32 what the reference computes in
// f64, so each gradient agrees to 1e-4 of its largest magnitude (plus
// 1e-4 absolute). 16-bit gradients add their rounding, 2^-11 (f16) or
// 2^-8 (bf16) relative, four times over the largest magnitude. A 16-bit O
// (half of the 16-bit cases; else f32) moves Dlt = dot(dO, O) by at most
// that rounding times sum |dO O| of a row, which enters each gradient
// through its sums of dS (bounded per gradient below).
//
//===----------------------------------------------------------------------===//

#include "ProblemIR.h"

#include "gtest/gtest.h"

#include <cmath>
#include <sstream>

using namespace mlir::attn::testing;
using attnref::Problem;

namespace {

struct GradientCase {
  Problem problem;
  bool half = false, bf16 = false;
  /// With `half`: O in the data's 16-bit type too (else f32).
  bool halfOutput = false;
  int64_t queryTile = 16, keyTile = 16;
  bool withLseGrad = false;
  /// Without it a bias is a constant of the loss: no bias_grad operand
  /// (the other gradients unchanged).
  bool withBiasGrad = true;
  /// The op's `tiling` (flat or N-D boxes of the mask's grid), used instead
  /// of queryTile / keyTile when set: attn-sparsity then records the tile
  /// classes, and each key tile walks its list of query tiles.
  std::vector<int64_t> tilingQuery, tilingKey;
};

/// The largest |x|.
double maxAbs(const std::vector<double> &x) {
  double m = 0;
  for (double e : x)
    m = std::max(m, std::abs(e));
  return m;
}

/// Runs one case; returns a description of the first failure, or "".
std::string runGradientCase(const GradientCase &c, uint32_t seed) {
  const Problem &p = c.problem;
  attnref::Rng rng(seed);
  std::normal_distribution<float> normal;
  auto random = [&](size_t n, bool round) {
    std::vector<float> x(n);
    for (float &e : x)
      e = normal(rng);
    if (!round || !c.half)
      return x;
    return c.bf16 ? attnref::roundToBF16(x) : attnref::roundToF16(x);
  };
  std::vector<float> q = random(p.B * p.Hq * p.Nq * p.D, true);
  std::vector<float> k = random(p.B * p.Hkv * p.Nk * p.D, true);
  std::vector<float> v = random(p.B * p.Hkv * p.Nk * p.Dv, true);
  std::vector<float> dO = random(p.B * p.Hq * p.Nq * p.Dv, true);
  std::vector<float> dLSE;
  if (c.withLseGrad)
    dLSE = random(p.B * p.Hq * p.Nq, false);

  // The forward's O and LSE: f64, unquantized (the backward differentiates
  // the quantization as the identity).
  Problem exact = p;
  exact.precision = attnref::PrecisionSpec();
  attnref::Result forward = attnref::reference(exact, q, k, v);
  std::vector<float> o(forward.O.begin(), forward.O.end());
  bool halfOutput = c.half && c.halfOutput;
  if (halfOutput)
    o = c.bf16 ? attnref::roundToBF16(o) : attnref::roundToF16(o);
  std::vector<float> lse(forward.LSE.begin(), forward.LSE.end());

  ProblemArguments arguments(p, c.half, c.bf16);
  arguments.addFloat("%q", {p.B, p.Hq, p.Nq, p.D}, q, c.half);
  arguments.addFloat("%k", {p.B, p.Hkv, p.Nk, p.D}, k, c.half);
  arguments.addFloat("%v", {p.B, p.Hkv, p.Nk, p.Dv}, v, c.half);
  arguments.addFloat("%o", {p.B, p.Hq, p.Nq, p.Dv}, o, halfOutput);
  arguments.addFloat("%lse", {p.B, p.Hq, p.Nq}, lse, false);
  arguments.addFloat("%do", {p.B, p.Hq, p.Nq, p.Dv}, dO, c.half);
  std::string ins = "%q, %k, %v, %o, %lse, %do : ";
  for (size_t x = 0; x < 6; ++x)
    ins += (x ? ", " : "") + arguments.typeOf(x);
  std::string operands;
  if (c.withLseGrad) {
    arguments.addFloat("%dlse", {p.B, p.Hq, p.Nq}, dLSE, false);
    operands += " lse_grad(%dlse : " + arguments.typeOf(6) + ")";
  }
  operands += arguments.addOptionalOperands();

  // The gradients, poisoned.
  size_t firstGrad = arguments.size();
  arguments.addPoisoned("%dq", {p.B, p.Hq, p.Nq, p.D}, c.half);
  arguments.addPoisoned("%dk", {p.B, p.Hkv, p.Nk, p.D}, c.half);
  arguments.addPoisoned("%dv", {p.B, p.Hkv, p.Nk, p.Dv}, c.half);
  std::string outs = "%dq, %dk, %dv : " + arguments.typeOf(firstGrad) + ", " +
                     arguments.typeOf(firstGrad + 1) + ", " +
                     arguments.typeOf(firstGrad + 2) + ")";
  size_t biasGrad = 0, gatesGrad = 0;
  if (p.bias.present() && c.withBiasGrad) {
    biasGrad = arguments.size();
    std::vector<int64_t> shape =
        p.bias.batches == 1 && p.bias.heads == 1
            ? std::vector<int64_t>{p.Nq, p.Nk}
            : std::vector<int64_t>{p.bias.batches, p.bias.heads, p.Nq, p.Nk};
    arguments.addPoisoned("%dbias", shape, false);
    outs += " bias_grad(%dbias : " + arguments.typeOf(biasGrad) + ")";
  }
  if (!p.gates.empty()) {
    gatesGrad = arguments.size();
    arguments.addPoisoned("%dgates", {p.B, p.Nq, p.Hq}, false);
    outs += " gates_grad(%dgates : " + arguments.typeOf(gatesGrad) + ")";
  }

  std::ostringstream source;
  source << "func.func @grad(" << arguments.signature()
         << ") attributes {llvm.emit_c_interface} {\n"
         << "  attn.attention_grad ins(" << ins << ")" << operands << " outs("
         << outs << problemAttributes(p);
  if (!c.tilingQuery.empty())
    source << " tiling = #attn.tiling<query = " << list(c.tilingQuery)
           << ", key = " << list(c.tilingKey) << ">";
  source << "\n  return\n}\n";

  std::string error;
  mlir::attn::CpuPipelineOptions tiles{c.queryTile, c.keyTile, true};
  if (!c.tilingQuery.empty())
    tiles = {0, 0, true}; // the op's tiling
  auto kernel = CpuKernel::compile(source.str(), tiles, error);
  if (!kernel)
    return "compile failed: " + error + "\n" + source.str();
  if (!kernel->run("grad", arguments.args(), error))
    return "run failed: " + error;

  std::vector<double> dOWide(dO.begin(), dO.end());
  std::vector<double> dLSEWide(dLSE.begin(), dLSE.end());
  attnref::Gradients expected =
      attnref::gradients(p, q, k, v, dOWide, dLSEWide);
  double rounding = c.half ? (c.bf16 ? 0x1p-8 : 0x1p-11) : 0;
  // A 16-bit O moves Dlt = dot(dO, O) by up to `deltaError` per row; dS
  // moves by P times that, and each gradient by its sums of dS.
  double deltaError = 0;
  if (halfOutput)
    for (int64_t row = 0; row < p.B * p.Hq * p.Nq; ++row) {
      double bound = 0;
      for (int64_t e = 0; e < p.Dv; ++e)
        bound += std::abs(dO[row * p.Dv + e] * o[row * p.Dv + e]);
      deltaError = std::max(deltaError, rounding * bound);
    }
  auto maxAbsOf = [](const std::vector<float> &x) {
    double m = 0;
    for (float e : x)
      m = std::max(m, static_cast<double>(std::abs(e)));
    return m;
  };
  double scale = p.effectiveScale();
  double rowsPerKey = static_cast<double>(p.Nq * (p.Hq / p.Hkv));
  auto compare = [&](const char *name, size_t index,
                     const std::vector<double> &want, bool half,
                     double deltaFactor) {
    HostBuffer &buffer = arguments.buffer(index);
    double magnitude = 1 + maxAbs(want);
    double tolerance = 1e-4 * magnitude +
                       (half ? 4 * rounding * magnitude : 0) +
                       deltaError * deltaFactor;
    for (size_t x = 0; x < want.size(); ++x) {
      double actual =
          half ? fromHalfBits(buffer.f16[x], c.bf16) : buffer.f32[x];
      if (!(std::abs(actual - want[x]) <= tolerance))
        return std::string(name) + "[" + std::to_string(x) +
               "] = " + num(actual) + ", expected " + num(want[x]) +
               " (tolerance " + num(tolerance) + ")\n" + source.str();
    }
    return std::string();
  };
  // dQ[i] sums P dS K over one row, dK[j] over the rows of its kv head,
  // dBias over the heads and batches it broadcasts to.
  std::string failure =
      compare("dQ", firstGrad, expected.dQ, c.half, scale * maxAbsOf(k));
  if (failure.empty())
    failure = compare("dK", firstGrad + 1, expected.dK, c.half,
                      scale * maxAbsOf(q) * rowsPerKey);
  if (failure.empty())
    failure = compare("dV", firstGrad + 2, expected.dV, c.half, 0);
  if (failure.empty() && biasGrad)
    failure = compare("dBias", biasGrad, expected.dBias, false,
                      static_cast<double>(p.B * p.Hq));
  if (failure.empty() && gatesGrad)
    failure = compare("dGates", gatesGrad, expected.dGates, false, 0);
  return failure;
}

/// Random problems of every feature, f32 and 16-bit data, odd tiles. Every
/// trial has its own seed, so a failure names the one op to replay:
/// ATTN_DIFF_CASES=1 ATTN_DIFF_SEED=<seed>. CI runs 120;
/// utils/differential.sh runs as many as asked.
TEST(CpuGradients, RandomProblems) {
  int64_t quantizedCases = 0, featureCases = 0, halfCases = 0;
  int64_t cases = environmentInt("ATTN_DIFF_CASES", 120);
  int64_t firstSeed = environmentInt("ATTN_DIFF_SEED", 5000);
  for (int64_t trial = 0; trial < cases; ++trial) {
    uint32_t seed = static_cast<uint32_t>(firstSeed + trial);
    attnref::Rng rng(seed);
    GradientCase c;
    c.problem = baseProblem(rng, attnref::uniform(rng, 3, 24));
    Problem &p = c.problem;
    if (attnref::coin(rng, 0.3))
      p.Nk = attnref::uniform(rng, 2, 26); // cross attention
    bool dynamicAllowed = true;
    p.mask = attnref::randomMask(rng, p.Nq, p.Nk, 2, dynamicAllowed);
    addOffsets(rng, p);
    featureCases += addRandomFeatures(rng, p);
    if (attnref::coin(rng, 0.15)) { // differentiated as the identity
      const std::vector<std::string> &names = attnref::presetNames();
      p.precision =
          attnref::preset(names[attnref::uniform(rng, 0, names.size() - 1)]);
      ++quantizedCases;
    }
    c.half = attnref::coin(rng, 0.4);
    c.bf16 = c.half && attnref::coin(rng);
    c.halfOutput = attnref::coin(rng);
    halfCases += c.half;
    c.queryTile = attnref::uniform(rng, 1, 7);
    c.keyTile = attnref::uniform(rng, 1, 7);
    c.withLseGrad = attnref::coin(rng, 0.3);
    // From the seed, not the generator: the trials' problems stay the same.
    c.withBiasGrad = seed % 3 != 0;
    ASSERT_EQ(runGradientCase(c, seed), "")
        << "replay: ATTN_DIFF_CASES=1 ATTN_DIFF_SEED=" << seed;
  }
  // Every part of the generator ran (not a vacuous run).
  if (cases >= 100) {
    EXPECT_GE(featureCases, cases / 4);
    EXPECT_GE(quantizedCases, cases / 20);
    EXPECT_GE(halfCases, cases / 4);
  }
}

/// The op's tiling: flat tiles on random masks and N-D boxes on grid masks,
/// walked through the key-tile-major lists of attn-sparsity's table (or,
/// with run-time segments, through the query range).
TEST(CpuGradients, TiledWalks) {
  for (int trial = 0; trial < 30; ++trial) {
    uint32_t seed = 7000 + trial;
    attnref::Rng rng(seed);
    GradientCase c;
    bool grid = trial % 2 == 1;
    if (grid) {
      unsigned rank = attnref::uniform(rng, 2, 3);
      std::vector<int64_t> tokenGrid =
          attnref::randomGrid(rng, rank, rank == 2 ? 6 : 4);
      c.problem = baseProblem(rng, attnref::product(tokenGrid));
      c.problem.mask =
          attnref::coin(rng)
              ? attnref::randomNeighborhood(rng, tokenGrid)
              : attnref::randomGridComposite(
                    rng,
                    attnref::coin(rng) ? attnref::Kind::And : attnref::Kind::Or,
                    tokenGrid);
      for (int64_t extent : tokenGrid) {
        c.tilingQuery.push_back(attnref::uniform(rng, 1, extent));
        c.tilingKey.push_back(attnref::uniform(rng, 1, extent));
      }
    } else {
      c.problem = baseProblem(rng, attnref::uniform(rng, 4, 30));
      if (attnref::coin(rng))
        c.problem.Nk = attnref::uniform(rng, 3, 30);
      bool dynamicAllowed = false; // tables need static segments
      c.problem.mask = attnref::randomMask(rng, c.problem.Nq, c.problem.Nk, 2,
                                           dynamicAllowed);
      c.tilingQuery = {attnref::uniform(rng, 1, 9)};
      c.tilingKey = {attnref::uniform(rng, 1, 9)};
    }
    // Run-time segments leave no table: their N-D boxes walk the query
    // range instead.
    addOffsets(rng, c.problem);
    addRandomFeatures(rng, c.problem);
    c.half = attnref::coin(rng, 0.3);
    c.halfOutput = attnref::coin(rng);
    c.withLseGrad = attnref::coin(rng, 0.3);
    ASSERT_EQ(runGradientCase(c, seed), "") << "trial " << trial;
  }
}

/// Each head feature on its own, on one mask, so that a failure names it.
TEST(CpuGradients, HeadFeatures) {
  attnref::Rng rng(77);
  for (int feature = 0; feature < 5; ++feature) {
    GradientCase c;
    Problem &p = c.problem;
    p.B = 2;
    p.Hkv = 2;
    p.Hq = 4;
    p.Nq = p.Nk = 19;
    p.D = 9;
    p.Dv = 5;
    p.mask = attnref::makeSliding(4, 2, false);
    switch (feature) {
    case 0:
      p.weights = {0.0, 1.5, 0.25, 2.0};
      break;
    case 1:
      for (int64_t x = 0; x < p.B * p.Nq * p.Hq; ++x)
        p.gates.push_back(x % 7 == 0 ? 0.0f : 0.1f * (x % 13));
      break;
    case 2:
      p.softpag = attnref::SoftPag{0.3, {1, 3}};
      break;
    case 3: {
      attnref::HeadGroup group;
      group.heads = {1, 2};
      group.mask = attnref::makeSliding(0, 5, false);
      p.groups.push_back(group);
      break;
    }
    case 4:
      p.weights = {1.0, 0.5, 2.0, 1.0};
      p.softpag = attnref::SoftPag{1.0, {0, 2}};
      for (int64_t x = 0; x < p.B * p.Nq * p.Hq; ++x)
        p.gates.push_back(0.05f * (x % 17));
      break;
    }
    c.queryTile = 4;
    c.keyTile = 6;
    c.withLseGrad = feature % 2 == 0;
    EXPECT_EQ(runGradientCase(c, 900 + feature), "") << "feature " << feature;
  }
}

} // namespace
