//===- CpuExecutionTest.cpp - compiled CPU attention vs naive math --------===//

#include "CpuRunner.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>
#include <sstream>

using namespace mlir::attn;
using namespace mlir::attn::testing;

namespace {

/// Naive f64 causal (or dense) attention for f32 inputs, written here from
/// SEMANTICS.md section 1: the first sanity check of the pipeline.
void naiveAttention(const std::vector<float> &q, const std::vector<float> &k,
                    const std::vector<float> &v, int64_t b, int64_t hq,
                    int64_t hkv, int64_t nq, int64_t nk, int64_t d, int64_t dv,
                    bool causal, std::vector<double> &o,
                    std::vector<double> &lse) {
  o.assign(b * hq * nq * dv, 0.0);
  lse.assign(b * hq * nq, -INFINITY);
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t h = 0; h < hq; ++h) {
      int64_t kvh = h / (hq / hkv);
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<double> s(nk);
        double m = -INFINITY;
        for (int64_t j = 0; j < nk; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x)
            dot += double(q[((bi * hq + h) * nq + i) * d + x]) *
                   k[((bi * hkv + kvh) * nk + j) * d + x];
          s[j] = (causal && j > i + (nk - nq)) ? -INFINITY : scale * dot;
          m = std::max(m, s[j]);
        }
        if (m == -INFINITY)
          continue;
        double l = 0;
        for (int64_t j = 0; j < nk; ++j)
          l += std::exp(s[j] - m);
        for (int64_t c = 0; c < dv; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < nk; ++j)
            acc += std::exp(s[j] - m) * v[((bi * hkv + kvh) * nk + j) * dv + c];
          o[((bi * hq + h) * nq + i) * dv + c] = acc / l;
        }
        lse[(bi * hq + h) * nq + i] = m + std::log(l);
      }
    }
}

std::string memref(std::vector<int64_t> shape, const char *elem) {
  std::ostringstream os;
  os << "memref<";
  for (int64_t s : shape)
    os << s << "x";
  os << elem << ">";
  return os.str();
}

TEST(CpuExecution, CausalBottomRightGqaF32) {
  const int64_t b = 2, hq = 4, hkv = 2, nq = 13, nk = 19, d = 8, dv = 5;
  std::string qt = memref({b, hq, nq, d}, "f32"), kt = memref({b, hkv, nk, d}, "f32"),
              vt = memref({b, hkv, nk, dv}, "f32"), ot = memref({b, hq, nq, dv}, "f32"),
              lt = memref({b, hq, nq}, "f32");
  std::string source =
      "func.func @attn(%q: " + qt + ", %k: " + kt + ", %v: " + vt + ", %o: " +
      ot + ", %lse: " + lt + ") attributes {llvm.emit_c_interface} {\n" +
      "  attn.attention ins(%q, %k, %v : " + qt + ", " + kt + ", " + vt +
      ") outs(%o : " + ot + ", %lse : " + lt +
      ") mask = #attn.causal<bottom_right>\n  return\n}\n";
  std::string error;
  auto kernel = CpuKernel::compile(source, {4, 5}, error);
  ASSERT_TRUE(kernel) << error;

  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  auto random = [&](size_t n) {
    std::vector<float> x(n);
    for (float &e : x)
      e = normal(rng);
    return x;
  };
  std::vector<float> q = random(b * hq * nq * d), k = random(b * hkv * nk * d),
                     v = random(b * hkv * nk * dv);
  // Poisoned outputs: every element must be written.
  std::vector<float> o(b * hq * nq * dv, NAN), lse(b * hq * nq, NAN);
  ASSERT_TRUE(kernel->run("attn",
                          {{q.data(), {b, hq, nq, d}},
                           {k.data(), {b, hkv, nk, d}},
                           {v.data(), {b, hkv, nk, dv}},
                           {o.data(), {b, hq, nq, dv}},
                           {lse.data(), {b, hq, nq}}},
                          error))
      << error;
  std::vector<double> refO, refLse;
  naiveAttention(q, k, v, b, hq, hkv, nq, nk, d, dv, /*causal=*/true, refO,
                 refLse);
  for (size_t x = 0; x < o.size(); ++x)
    ASSERT_NEAR(o[x], refO[x], 1e-5) << "O element " << x;
  for (size_t x = 0; x < lse.size(); ++x)
    ASSERT_NEAR(lse[x], refLse[x], 1e-5) << "LSE element " << x;
}

TEST(CpuExecution, EmptyRowsGiveZeroAndMinusInf) {
  // Top-left causal with Nk < Nq... every row keeps key 0: use a
  // sliding window that misses the keys of late rows instead.
  const int64_t nq = 6, nk = 3, d = 4;
  std::string qt = memref({1, 1, nq, d}, "f32"), kt = memref({1, 1, nk, d}, "f32"),
              ot = memref({1, 1, nq, d}, "f32"), lt = memref({1, 1, nq}, "f32");
  std::string source =
      "func.func @attn(%q: " + qt + ", %k: " + kt + ", %o: " + ot +
      ", %lse: " + lt + ") attributes {llvm.emit_c_interface} {\n" +
      "  attn.attention ins(%q, %k, %k : " + qt + ", " + kt + ", " + kt +
      ") outs(%o : " + ot + ", %lse : " + lt +
      ") mask = #attn.sliding_window<left = 1, right = 0>\n  return\n}\n";
  std::string error;
  auto kernel = CpuKernel::compile(source, {4, 2}, error);
  ASSERT_TRUE(kernel) << error;
  std::vector<float> q(nq * d, 0.5f), k(nk * d, 0.25f), o(nq * d, NAN),
      lse(nq, NAN);
  ASSERT_TRUE(kernel->run("attn",
                          {{q.data(), {1, 1, nq, d}},
                           {k.data(), {1, 1, nk, d}},
                           {o.data(), {1, 1, nq, d}},
                           {lse.data(), {1, 1, nq}}},
                          error))
      << error;
  // Rows 0..3 keep keys in [i-1, i] that exist; rows 4 and 5 keep nothing.
  for (int64_t i = 0; i < nq; ++i) {
    bool empty = i >= nk + 1;
    for (int64_t c = 0; c < d; ++c)
      EXPECT_EQ(o[i * d + c], empty ? 0.0f : 0.25f) << "row " << i;
    if (empty)
      EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "row " << i;
    else
      EXPECT_TRUE(std::isfinite(lse[i])) << "row " << i;
  }
}

} // namespace

namespace {

/// The tensor form goes through one-shot bufferization in the same pipeline
/// and computes bit for bit what the memref form computes.
TEST(CpuExecution, TensorFormEqualsMemrefForm) {
  const int64_t nq = 9, nk = 7, d = 4;
  std::string qm = memref({1, 2, nq, d}, "f32"), km = memref({1, 1, nk, d}, "f32"),
              om = memref({1, 2, nq, d}, "f32");
  auto tensor = [](std::string t) { return "tensor" + t.substr(6); };
  std::string attrs = " mask = #attn.sliding_window<left = 2, right = 1>";
  std::string memrefSource =
      "func.func @attn(%q: " + qm + ", %k: " + km + ", %o: " + om +
      ") attributes {llvm.emit_c_interface} {\n  attn.attention ins(%q, %k, "
      "%k : " + qm + ", " + km + ", " + km + ") outs(%o : " + om + ")" +
      attrs + "\n  return\n}\n";
  std::string tensorSource =
      "func.func @attn(%qm: " + qm + ", %km: " + km + ", %om: " + om +
      ") attributes {llvm.emit_c_interface} {\n"
      "  %q = bufferization.to_tensor %qm restrict : " + qm + " to " +
      tensor(qm) + "\n  %k = bufferization.to_tensor %km restrict : " + km +
      " to " + tensor(km) + "\n  %init = tensor.empty() : " + tensor(om) +
      "\n  %r = attn.attention ins(%q, %k, %k : " + tensor(qm) + ", " +
      tensor(km) + ", " + tensor(km) + ") outs(%init : " + tensor(om) + ")" +
      attrs + " -> " + tensor(om) +
      "\n  bufferization.materialize_in_destination %r in restrict writable "
      "%om : (" + tensor(om) + ", " + om + ") -> ()\n  return\n}\n";
  std::vector<float> q(2 * nq * d), k(nk * d);
  for (size_t x = 0; x < q.size(); ++x)
    q[x] = std::sin(0.37f * x);
  for (size_t x = 0; x < k.size(); ++x)
    k[x] = std::cos(0.21f * x);
  std::vector<std::vector<float>> outputs;
  for (const std::string &source : {memrefSource, tensorSource}) {
    std::string error;
    auto kernel = CpuKernel::compile(source, {4, 3}, error);
    ASSERT_TRUE(kernel) << error << "\n" << source;
    std::vector<float> o(2 * nq * d, NAN);
    ASSERT_TRUE(kernel->run("attn",
                            {{q.data(), {1, 2, nq, d}},
                             {k.data(), {1, 1, nk, d}},
                             {o.data(), {1, 2, nq, d}}},
                            error))
        << error;
    outputs.push_back(o);
  }
  for (size_t x = 0; x < outputs[0].size(); ++x) {
    ASSERT_FALSE(std::isnan(outputs[0][x])) << x;
    ASSERT_EQ(outputs[0][x], outputs[1][x]) << x;
  }
}

} // namespace
