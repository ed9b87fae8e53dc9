//===- AttentionReference.cpp - independent reference of attn.attention ---===//
//
// Written from SEMANTICS.md sections 1-4; no dialect code. See the header for
// the conventions and the choices made where the contract is open.
//
//===----------------------------------------------------------------------===//

#include "Reference/AttentionReference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

namespace attnref {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
} // namespace

//===----------------------------------------------------------------------===//
// Rounding
//===----------------------------------------------------------------------===//

namespace {

/// Rounds a finite x to the binary format with `fraction` fraction bits and
/// smallest normal exponent `emin` (subnormals below it), round to nearest
/// even, ignoring the largest exponent (the callers handle overflow). Exact:
/// x / quantum only scales by a power of two, and nearbyint rounds to
/// nearest even in the default rounding mode.
double roundBinary(double x, int fraction, int emin) {
  if (x == 0 || !std::isfinite(x))
    return x;
  int e;
  std::frexp(x, &e); // |x| = f * 2^e, f in [0.5, 1): floor(log2|x|) = e - 1
  int exponent = std::max(e - 1, emin);
  double quantum = std::ldexp(1.0, exponent - fraction);
  return std::nearbyint(x / quantum) * quantum;
}

} // namespace

float roundToF16(float x) {
  return static_cast<float>(roundTo(ElemType::F16, x));
}

float roundToBF16(float x) {
  return static_cast<float>(roundTo(ElemType::BF16, x));
}

float roundToF8E4M3FN(double x) {
  if (std::isnan(x))
    return static_cast<float>(x);
  if (std::isinf(x))
    return static_cast<float>(std::copysign(448.0, x));
  double r = roundBinary(x, 3, -6);
  if (std::fabs(r) > 448.0)
    r = std::copysign(448.0, r);
  return static_cast<float>(r);
}

float roundToF4E2M1FN(double x) {
  if (std::isnan(x))
    return static_cast<float>(x);
  if (std::isinf(x))
    return static_cast<float>(std::copysign(6.0, x));
  double r = roundBinary(x, 1, 0);
  if (std::fabs(r) > 6.0)
    r = std::copysign(6.0, r);
  return static_cast<float>(r);
}

double roundTo(ElemType t, double x) {
  // One rounding from the exact value of x (an f32 or f64 value).
  switch (t) {
  case ElemType::F16: {
    if (std::isnan(x))
      return x;
    double r = roundBinary(x, 10, -14);
    return std::fabs(r) > 65504.0 ? std::copysign(kInf, r) : r;
  }
  case ElemType::BF16: {
    if (std::isnan(x))
      return x;
    double r = roundBinary(x, 7, -126);
    const double maxBF16 = std::ldexp(255.0, 120); // 0x1.fep127
    return std::fabs(r) > maxBF16 ? std::copysign(kInf, r) : r;
  }
  case ElemType::F8E4M3FN:
    return roundToF8E4M3FN(x);
  case ElemType::F4E2M1FN:
    return roundToF4E2M1FN(x);
  case ElemType::I8:
  case ElemType::I4:
    break;
  }
  throw std::invalid_argument("roundTo: not a floating-point type");
}

std::vector<float> roundToF16(const std::vector<float> &x) {
  std::vector<float> r(x.size());
  for (size_t n = 0; n < x.size(); ++n)
    r[n] = roundToF16(x[n]);
  return r;
}

std::vector<float> roundToBF16(const std::vector<float> &x) {
  std::vector<float> r(x.size());
  for (size_t n = 0; n < x.size(); ++n)
    r[n] = roundToBF16(x[n]);
  return r;
}

float integerScale(double maxAbs, int64_t qmax) {
  if (maxAbs == 0)
    return 1.0f;
  return static_cast<float>(maxAbs / static_cast<double>(qmax));
}

int64_t quantizeInteger(double x, float scale, int64_t qmax) {
  double r = std::nearbyint(x / static_cast<double>(scale));
  r = std::min<double>(std::max<double>(r, -qmax), qmax);
  return static_cast<int64_t>(r);
}

const char *toMlir(ElemType t) {
  switch (t) {
  case ElemType::F16:
    return "f16";
  case ElemType::BF16:
    return "bf16";
  case ElemType::I8:
    return "i8";
  case ElemType::I4:
    return "i4";
  case ElemType::F8E4M3FN:
    return "f8E4M3FN";
  case ElemType::F4E2M1FN:
    return "f4E2M1FN";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Precision
//===----------------------------------------------------------------------===//

bool PrecisionSpec::isDefault() const {
  return !qk && !granularity && granularitySize == 0 && !smoothK && !smoothQ &&
         !pv && pvAccum == Accumulation::F32;
}

bool PrecisionSpec::operator==(const PrecisionSpec &o) const {
  return qk == o.qk && granularity == o.granularity &&
         granularitySize == o.granularitySize && smoothK == o.smoothK &&
         smoothQ == o.smoothQ && pv == o.pv && pvAccum == o.pvAccum;
}

namespace {
bool needsGranularity(std::optional<ElemType> t) {
  return t == ElemType::I8 || t == ElemType::I4 || t == ElemType::F8E4M3FN;
}
} // namespace

std::string validate(const PrecisionSpec &p) {
  if (p.pv == ElemType::I8 || p.pv == ElemType::I4)
    return "pv must be f16, bf16, f8E4M3FN or f4E2M1FN";
  if (needsGranularity(p.qk) && !p.granularity)
    return "qk = i8, i4 and f8E4M3FN need a granularity";
  if (p.granularity && !needsGranularity(p.qk))
    return "a granularity applies only to qk = i8, i4 or f8E4M3FN";
  bool sized = p.granularity == Granularity::Block ||
               p.granularity == Granularity::Thread;
  if (sized && p.granularitySize < 1)
    return "block(n) and thread(n) need n >= 1";
  if (p.granularity == Granularity::Thread && p.granularitySize % 8 != 0)
    return "thread(n) needs a multiple of 8";
  if (!sized && p.granularitySize != 0)
    return "a granularity size without block or thread";
  if (p.pvAccum == Accumulation::F16 && p.pv && *p.pv != ElemType::F16)
    return "pv_accum = f16 needs pv = f16";
  return "";
}

namespace {
PrecisionSpec makePrecision(std::optional<ElemType> qk,
                            std::optional<Granularity> g, int64_t size,
                            bool smoothK, bool smoothQ,
                            std::optional<ElemType> pv, Accumulation acc) {
  PrecisionSpec p;
  p.qk = qk;
  p.granularity = g;
  p.granularitySize = size;
  p.smoothK = smoothK;
  p.smoothQ = smoothQ;
  p.pv = pv;
  p.pvAccum = acc;
  return p;
}
} // namespace

const std::vector<std::string> &presetNames() {
  static const std::vector<std::string> names = {"sage1", "sage2_8b",
                                                 "sage2_4b", "fp8", "nvfp4"};
  return names;
}

PrecisionSpec preset(const std::string &name) {
  // The table of the PrecisionAttr documentation (AttnAttrDefs.td).
  if (name == "sage1") // i8 Q.K, block(64), smooth_k, f16 P.V, f16 accum.
    return makePrecision(ElemType::I8, Granularity::Block, 64, true, false,
                         ElemType::F16, Accumulation::F16);
  if (name == "sage2_8b") // i8 Q.K, thread(64), smooth_k, f8 P.V, two_level
    return makePrecision(ElemType::I8, Granularity::Thread, 64, true, false,
                         ElemType::F8E4M3FN, Accumulation::TwoLevel);
  if (name == "sage2_4b") // i4 Q.K, thread(64), smooth_k, smooth_q, f8 P.V
    return makePrecision(ElemType::I4, Granularity::Thread, 64, true, true,
                         ElemType::F8E4M3FN, Accumulation::TwoLevel);
  if (name == "fp8") // f8 Q.K, block(64), smooth_k, f8 P.V, two_level
    return makePrecision(ElemType::F8E4M3FN, Granularity::Block, 64, true,
                         false, ElemType::F8E4M3FN, Accumulation::TwoLevel);
  if (name == "nvfp4") // f4 Q.K (16-element E4M3 scales), smooth_k, f4 P.V
    return makePrecision(ElemType::F4E2M1FN, std::nullopt, 0, true, false,
                         ElemType::F4E2M1FN, Accumulation::F32);
  throw std::invalid_argument("unknown precision preset '" + name + "'");
}

std::string toMlir(const PrecisionSpec &p) {
  std::vector<std::string> fields;
  if (p.qk)
    fields.push_back(std::string("qk = ") + toMlir(*p.qk));
  if (p.granularity) {
    switch (*p.granularity) {
    case Granularity::Tensor:
      fields.push_back("qk_granularity = tensor");
      break;
    case Granularity::Token:
      fields.push_back("qk_granularity = token");
      break;
    case Granularity::Block:
      fields.push_back("qk_granularity = block(" +
                       std::to_string(p.granularitySize) + ")");
      break;
    case Granularity::Thread:
      fields.push_back("qk_granularity = thread(" +
                       std::to_string(p.granularitySize) + ")");
      break;
    }
  }
  if (p.smoothK)
    fields.push_back("smooth_k");
  if (p.smoothQ)
    fields.push_back("smooth_q");
  if (p.pv)
    fields.push_back(std::string("pv = ") + toMlir(*p.pv));
  if (p.pvAccum == Accumulation::F16)
    fields.push_back("pv_accum = f16");
  else if (p.pvAccum == Accumulation::TwoLevel)
    fields.push_back("pv_accum = two_level");
  std::string text = "#attn.precision<";
  for (size_t n = 0; n < fields.size(); ++n)
    text += (n ? ", " : "") + fields[n];
  return text + ">";
}

int64_t scaleGroup(Granularity g, int64_t size, int64_t t) {
  switch (g) {
  case Granularity::Tensor:
    return 0;
  case Granularity::Block:
    return t / size;
  case Granularity::Thread:
    return (t / size) * 8 + t % 8;
  case Granularity::Token:
    return t;
  }
  return 0;
}

QuantizedRows quantizeQK(const std::vector<double> &x, int64_t rows,
                         int64_t cols, const PrecisionSpec &p) {
  QuantizedRows r;
  r.rows = rows;
  r.cols = cols;
  r.blockCols = std::max<int64_t>(cols, 1);
  r.values = x;
  if (!p.qk) {
    r.scales.assign(rows, 1.0);
    return r;
  }
  ElemType t = *p.qk;
  if (t == ElemType::F16 || t == ElemType::BF16) {
    for (double &v : r.values)
      v = roundTo(t, v);
    r.scales.assign(rows, 1.0);
    return r;
  }
  if (t == ElemType::F4E2M1FN) {
    // NVFP4: one E4M3 scale per 16 consecutive values of the reduction (D)
    // axis.
    r.blockCols = 16;
    int64_t numBlocks = r.numBlocks();
    r.scales.assign(rows * numBlocks, 1.0);
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t blk = 0; blk < numBlocks; ++blk) {
        int64_t c0 = blk * 16, c1 = std::min(cols, c0 + 16);
        double maxAbs = 0;
        for (int64_t c = c0; c < c1; ++c)
          maxAbs = std::max(maxAbs, std::fabs(x[row * cols + c]));
        double scale = maxAbs == 0 ? 1.0 : roundToF8E4M3FN(maxAbs / 6.0);
        r.scales[row * numBlocks + blk] = scale;
        for (int64_t c = c0; c < c1; ++c) {
          double &v = r.values[row * cols + c];
          v = scale == 0 ? 0.0 : roundToF4E2M1FN(v / scale);
        }
      }
    }
    return r;
  }
  // I8, I4, F8E4M3FN: one scale per scale group of tokens (rows).
  const Granularity g = *p.granularity;
  const int64_t qmax = t == ElemType::I8 ? 127 : t == ElemType::I4 ? 7 : 448;
  std::vector<int64_t> groupOf(rows);
  int64_t numGroups = 0;
  for (int64_t row = 0; row < rows; ++row) {
    groupOf[row] = scaleGroup(g, p.granularitySize, row);
    numGroups = std::max(numGroups, groupOf[row] + 1);
  }
  std::vector<double> maxAbs(numGroups, 0.0);
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t c = 0; c < cols; ++c)
      maxAbs[groupOf[row]] =
          std::max(maxAbs[groupOf[row]], std::fabs(x[row * cols + c]));
  r.scales.assign(rows, 1.0);
  for (int64_t row = 0; row < rows; ++row) {
    // The scale is stored in f32 (1 for an all-zero group).
    float scale = integerScale(maxAbs[groupOf[row]], qmax);
    r.scales[row] = scale;
    for (int64_t c = 0; c < cols; ++c) {
      double &v = r.values[row * cols + c];
      if (t == ElemType::F8E4M3FN)
        v = roundToF8E4M3FN(v / static_cast<double>(scale));
      else
        v = static_cast<double>(quantizeInteger(v, scale, qmax));
    }
  }
  return r;
}

//===----------------------------------------------------------------------===//
// Problems
//===----------------------------------------------------------------------===//

double Problem::effectiveScale() const {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(D));
}

namespace {

template <typename T>
std::string validateOperand(const PairOperand<T> &op, const Problem &p,
                            const char *name) {
  if (!op.present())
    return "";
  if (!(op.batches == 1 || op.batches == p.B) ||
      !(op.heads == 1 || op.heads == p.Hq))
    return std::string(name) + ": batches must be 1 or B, heads 1 or Hq";
  if (static_cast<int64_t>(op.values.size()) !=
      op.batches * op.heads * p.Nq * p.Nk)
    return std::string(name) + ": wrong number of values";
  return "";
}

std::string checkHeads(const std::vector<int64_t> &heads, int64_t Hq,
                       const char *what) {
  std::set<int64_t> seen;
  for (int64_t h : heads) {
    if (h < 0 || h >= Hq)
      return std::string(what) + ": head " + std::to_string(h) +
             " out of range";
    if (!seen.insert(h).second)
      return std::string(what) + ": head " + std::to_string(h) + " twice";
  }
  return "";
}

} // namespace

std::string validate(const Problem &p, size_t qSize, size_t kSize,
                     size_t vSize) {
  if (p.B < 1 || p.Hq < 1 || p.Hkv < 1 || p.Nq < 0 || p.Nk < 0 || p.D < 1 ||
      p.Dv < 1)
    return "bad dimensions";
  if (p.Hq % p.Hkv != 0)
    return "Hq must be a multiple of Hkv";
  if (qSize != static_cast<size_t>(p.B * p.Hq * p.Nq * p.D))
    return "Q has the wrong size";
  if (kSize != static_cast<size_t>(p.B * p.Hkv * p.Nk * p.D))
    return "K has the wrong size";
  if (vSize != static_cast<size_t>(p.B * p.Hkv * p.Nk * p.Dv))
    return "V has the wrong size";
  std::string e;
  if (!(e = validateOperand(p.explicitMask, p, "explicit mask")).empty() ||
      !(e = validateOperand(p.bias, p, "bias")).empty())
    return e;
  if (!p.segmentOffsets.empty() &&
      static_cast<int64_t>(p.segmentOffsets.size()) != p.B)
    return "segment offsets: one entry per batch element";
  if (!p.weights.empty() && static_cast<int64_t>(p.weights.size()) != p.Hq)
    return "weights: one per query head";
  if (!p.gates.empty() &&
      static_cast<int64_t>(p.gates.size()) != p.B * p.Nq * p.Hq)
    return "gates: [B, Nq, Hq]";
  if (p.softpag) {
    if (!(p.softpag->u >= 0 && p.softpag->u <= 1))
      return "softpag: u must be in [0, 1]";
    if (p.Nq != p.Nk)
      return "softpag needs Nq == Nk";
    if (!(e = checkHeads(p.softpag->heads, p.Hq, "softpag")).empty())
      return e;
  }
  std::vector<int64_t> grouped;
  for (const HeadGroup &g : p.groups) {
    grouped.insert(grouped.end(), g.heads.begin(), g.heads.end());
    if (g.precision && !(e = validate(*g.precision)).empty())
      return "head group precision: " + e;
  }
  if (!(e = checkHeads(grouped, p.Hq, "head groups")).empty())
    return e;
  if (!(e = validate(p.precision)).empty())
    return "precision: " + e;
  if (p.emulation.kvTile < 1 || p.emulation.f16AccumChunk < 1 ||
      p.emulation.smoothQBlock < 1)
    return "emulation sizes must be positive";
  return "";
}

namespace {

/// Everything one (batch, query head) needs.
struct HeadInputs {
  const Problem *p;
  int64_t b, h;
  const float *q; // [Nq, D]
  const float *k; // [Nk, D]
  const float *v; // [Nk, Dv]
  const Spec *mask;
  const PrecisionSpec *precision;
  const SegmentOffsets *offsets;
};

/// Head h of batch element b: its rows of Q, its kv head's K and V, and
/// its mask and precision (its group's, else the problem's).
HeadInputs headInputs(const Problem &p, int64_t b, int64_t h,
                      const std::vector<float> &q, const std::vector<float> &k,
                      const std::vector<float> &v) {
  HeadInputs in;
  in.p = &p;
  in.b = b;
  in.h = h;
  int64_t g = p.kvHead(h);
  in.q = &q[(b * p.Hq + h) * p.Nq * p.D];
  in.k = &k[(b * p.Hkv + g) * p.Nk * p.D];
  in.v = &v[(b * p.Hkv + g) * p.Nk * p.Dv];
  in.mask = &p.mask;
  in.precision = &p.precision;
  for (const HeadGroup &group : p.groups) {
    if (std::find(group.heads.begin(), group.heads.end(), h) ==
        group.heads.end())
      continue;
    if (group.mask)
      in.mask = &*group.mask;
    if (group.precision)
      in.precision = &*group.precision;
  }
  in.offsets = p.segmentOffsets.empty() ? nullptr : &p.segmentOffsets[b];
  return in;
}

/// The keep matrices of one head: `num` keeps a pair in the numerator (the
/// mask ANDed with the explicit mask), `den` in the denominator (the same,
/// or every pair under renormalize = false).
struct KeepMatrices {
  std::vector<uint8_t> num, den;
};

KeepMatrices keepMatrices(const HeadInputs &in) {
  const Problem &p = *in.p;
  KeepMatrices km;
  km.num.assign(p.Nq * p.Nk, 0);
  const bool all = ref::hasNoRenormalize(*in.mask);
  for (int64_t i = 0; i < p.Nq; ++i) {
    for (int64_t j = 0; j < p.Nk; ++j) {
      bool kept = ref::keep(*in.mask, i, j, p.Nq, p.Nk, in.offsets);
      if (kept && p.explicitMask.present()) {
        int64_t bb = p.explicitMask.batches == 1 ? 0 : in.b;
        int64_t hh = p.explicitMask.heads == 1 ? 0 : in.h;
        kept =
            p.explicitMask
                .values[((bb * p.explicitMask.heads + hh) * p.Nq + i) * p.Nk +
                        j] != 0;
      }
      km.num[i * p.Nk + j] = kept;
    }
  }
  km.den = all ? std::vector<uint8_t>(p.Nq * p.Nk, 1) : km.num;
  return km;
}

double biasOf(const HeadInputs &in, int64_t i, int64_t j) {
  const Problem &p = *in.p;
  if (!p.bias.present())
    return 0;
  int64_t bb = p.bias.batches == 1 ? 0 : in.b;
  int64_t hh = p.bias.heads == 1 ? 0 : in.h;
  return p.bias.values[((bb * p.bias.heads + hh) * p.Nq + i) * p.Nk + j];
}

/// Section 1, literally, in f64: per row the max over the kept scores, then
/// the sums.
void exactHead(const HeadInputs &in, const KeepMatrices &km, double *O,
               double *LSE) {
  const Problem &p = *in.p;
  const double scale = p.effectiveScale();
  std::vector<double> s(p.Nk);
  for (int64_t i = 0; i < p.Nq; ++i) {
    const uint8_t *num = &km.num[i * p.Nk], *den = &km.den[i * p.Nk];
    double *o = O + i * p.Dv;
    std::fill(o, o + p.Dv, 0.0);
    LSE[i] = -kInf;
    if (std::none_of(num, num + p.Nk, [](uint8_t x) { return x != 0; }))
      continue; // no kept key: O = 0, LSE = -inf
    double m = -kInf;
    for (int64_t j = 0; j < p.Nk; ++j) {
      if (!den[j])
        continue;
      double dot = 0;
      for (int64_t c = 0; c < p.D; ++c)
        dot += static_cast<double>(in.q[i * p.D + c]) * in.k[j * p.D + c];
      s[j] = scale * dot + biasOf(in, i, j);
      m = std::max(m, s[j]);
    }
    if (m == -kInf)
      continue; // every score is -inf (a -inf bias): nothing to average
    double l = 0;
    for (int64_t j = 0; j < p.Nk; ++j) {
      if (!den[j])
        continue;
      double e = std::exp(s[j] - m);
      l += e;
      if (num[j])
        for (int64_t c = 0; c < p.Dv; ++c)
          o[c] += e * in.v[j * p.Dv + c];
    }
    for (int64_t c = 0; c < p.Dv; ++c)
      o[c] /= l;
    LSE[i] = m + std::log(l);
  }
}

/// V prepared for P.V: contributions are P^[j] * vhat[j, c], and the O of a
/// row is acc[c] * undo[c] / l at the end.
struct PreparedV {
  std::vector<double> vhat; // [Nk, Dv]
  std::vector<double> undo; // [Dv]
};

PreparedV prepareV(const HeadInputs &in) {
  const Problem &p = *in.p;
  PreparedV pv;
  pv.vhat.assign(in.v, in.v + p.Nk * p.Dv);
  pv.undo.assign(p.Dv, 1.0);
  if (!in.precision->pv)
    return pv;
  ElemType t = *in.precision->pv;
  if (t == ElemType::F16 || t == ElemType::BF16) {
    for (double &x : pv.vhat)
      x = roundTo(t, x);
  } else if (t == ElemType::F8E4M3FN) {
    // Per channel: scale = max|V[:, c]| / 448 (f32; 1 when all zero); the
    // P side carries the factor 448. Both are undone on O.
    for (int64_t c = 0; c < p.Dv; ++c) {
      double maxAbs = 0;
      for (int64_t j = 0; j < p.Nk; ++j)
        maxAbs = std::max(maxAbs, std::fabs(pv.vhat[j * p.Dv + c]));
      float scale = maxAbs == 0 ? 1.0f : static_cast<float>(maxAbs / 448.0);
      for (int64_t j = 0; j < p.Nk; ++j) {
        double &x = pv.vhat[j * p.Dv + c];
        x = roundToF8E4M3FN(x / static_cast<double>(scale));
      }
      pv.undo[c] = static_cast<double>(scale) / 448.0;
    }
  } else if (t == ElemType::F4E2M1FN) {
    // NVFP4 along the reduction axis of P.V (the keys): per channel, each
    // run of 16 keys (aligned to multiples of 16) shares one E4M3 scale =
    // E4M3(max|V| / 6); vhat holds the dequantized value (exact).
    for (int64_t c = 0; c < p.Dv; ++c) {
      for (int64_t j0 = 0; j0 < p.Nk; j0 += 16) {
        int64_t j1 = std::min(p.Nk, j0 + 16);
        double maxAbs = 0;
        for (int64_t j = j0; j < j1; ++j)
          maxAbs = std::max(maxAbs, std::fabs(pv.vhat[j * p.Dv + c]));
        double scale = maxAbs == 0 ? 1.0 : roundToF8E4M3FN(maxAbs / 6.0);
        for (int64_t j = j0; j < j1; ++j) {
          double &x = pv.vhat[j * p.Dv + c];
          x = scale == 0 ? 0.0 : roundToF4E2M1FN(x / scale) * scale;
        }
      }
    }
  }
  return pv;
}

/// P of one row and one kv tile [j0, j1) rounded to the pv type, in the units
/// PreparedV expects. `pn` holds the unrounded numerator p (0 for dropped
/// keys), values in [0, 1].
void roundP(const PrecisionSpec &prec, std::vector<double> &pn, int64_t j0,
            int64_t j1) {
  if (!prec.pv)
    return;
  ElemType t = *prec.pv;
  if (t == ElemType::F16 || t == ElemType::BF16) {
    for (int64_t j = j0; j < j1; ++j)
      pn[j] = roundTo(t, pn[j]);
  } else if (t == ElemType::F8E4M3FN) {
    // P in [0, 1] times 448, cast to E4M3 (round to nearest even,
    // saturating); the 448 is undone on O (PreparedV::undo).
    for (int64_t j = j0; j < j1; ++j)
      pn[j] = roundToF8E4M3FN(pn[j] * 448.0);
  } else if (t == ElemType::F4E2M1FN) {
    // Two levels: a per-row f32 scale maps the tile's largest P to
    // 6 * 448 (the largest E2M1 value times the largest E4M3 scale); then
    // each run of 16 keys (aligned to multiples of 16, clipped to the tile)
    // shares an E4M3 scale = E4M3(max / 6). pn receives the dequantized
    // value (exact in f64).
    double rowMax = 0;
    for (int64_t j = j0; j < j1; ++j)
      rowMax = std::max(rowMax, pn[j]);
    if (rowMax == 0)
      return;
    double rowScale = static_cast<float>(rowMax / (6.0 * 448.0));
    if (rowScale == 0) { // f32 underflow (an f32 p would be 0 already)
      std::fill(pn.begin() + j0, pn.begin() + j1, 0.0);
      return;
    }
    for (int64_t b0 = j0; b0 < j1; b0 = (b0 / 16 + 1) * 16) {
      int64_t b1 = std::min(j1, (b0 / 16 + 1) * 16);
      double blockMax = 0;
      for (int64_t j = b0; j < b1; ++j)
        blockMax = std::max(blockMax, pn[j] / rowScale);
      double blockScale = blockMax == 0 ? 1.0 : roundToF8E4M3FN(blockMax / 6.0);
      for (int64_t j = b0; j < b1; ++j)
        pn[j] = blockScale == 0
                    ? 0.0
                    : roundToF4E2M1FN(pn[j] / rowScale / blockScale) *
                          blockScale * rowScale;
    }
  }
}

/// The emulation of a quantized flash-attention kernel (header: Emulation).
void emulatedHead(const HeadInputs &in, const KeepMatrices &km, double *O,
                  double *LSE) {
  const Problem &p = *in.p;
  const PrecisionSpec &prec = *in.precision;
  const Emulation &em = p.emulation;
  const double scale = p.effectiveScale();
  const int64_t Nq = p.Nq, Nk = p.Nk, D = p.D, Dv = p.Dv;

  // Smoothing, exact (f64). K' = K - mean over all Nk tokens per channel.
  std::vector<double> q(in.q, in.q + Nq * D), k(in.k, in.k + Nk * D);
  std::vector<double> meanK(D, 0.0);
  if (prec.smoothK && Nk > 0) {
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t c = 0; c < D; ++c)
        meanK[c] += k[j * D + c];
    for (int64_t c = 0; c < D; ++c)
      meanK[c] /= static_cast<double>(Nk);
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t c = 0; c < D; ++c)
        k[j * D + c] -= meanK[c];
  }
  // Q' = Q - mean of each Q block; dS[block, j] = dot(mean_q, K'[j]) in f32.
  int64_t qBlock = 1;
  std::vector<double> dS; // [numQBlocks, Nk]
  if (prec.smoothQ) {
    if (prec.granularity == Granularity::Block ||
        prec.granularity == Granularity::Thread)
      qBlock = prec.granularitySize;
    else if (prec.granularity == Granularity::Token)
      qBlock = 1;
    else if (prec.granularity == Granularity::Tensor)
      qBlock = std::max<int64_t>(Nq, 1);
    else
      qBlock = em.smoothQBlock;
    int64_t numBlocks = (Nq + qBlock - 1) / qBlock;
    dS.assign(numBlocks * Nk, 0.0);
    for (int64_t blk = 0; blk < numBlocks; ++blk) {
      int64_t i0 = blk * qBlock, i1 = std::min(Nq, i0 + qBlock);
      std::vector<double> meanQ(D, 0.0);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t c = 0; c < D; ++c)
          meanQ[c] += q[i * D + c];
      for (int64_t c = 0; c < D; ++c)
        meanQ[c] /= static_cast<double>(i1 - i0);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t c = 0; c < D; ++c)
          q[i * D + c] -= meanQ[c];
      for (int64_t j = 0; j < Nk; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < D; ++c)
          dot += meanQ[c] * k[j * D + c];
        dS[blk * Nk + j] = static_cast<float>(dot);
      }
    }
  }

  // Quantization of Q' and K'; s = (q_scale * k_scale * scale) * exact dot
  // (per NVFP4 block, summed), plus scale * dS, plus the bias.
  QuantizedRows qq = quantizeQK(q, Nq, D, prec);
  QuantizedRows kq = quantizeQK(k, Nk, D, prec);
  const int64_t numBlocks = qq.numBlocks();
  auto score = [&](int64_t i, int64_t j) {
    double s = 0;
    for (int64_t blk = 0; blk < numBlocks; ++blk) {
      int64_t c0 = blk * qq.blockCols, c1 = std::min(D, c0 + qq.blockCols);
      double dot = 0; // exact for integer, E4M3 and E2M1 values
      for (int64_t c = c0; c < c1; ++c)
        dot += qq.values[i * D + c] * kq.values[j * D + c];
      double factor = qq.scales[i * numBlocks + blk] *
                      kq.scales[j * numBlocks + blk] * scale;
      s += factor * dot;
    }
    if (prec.smoothQ)
      s += scale * dS[(i / qBlock) * Nk + j];
    return s + biasOf(in, i, j);
  };

  PreparedV pv = prepareV(in);
  const int64_t T = em.kvTile;
  std::vector<double> s(Nk), pn(Nk), acc(Dv), tileAcc(Dv);
  for (int64_t i = 0; i < Nq; ++i) {
    const uint8_t *num = &km.num[i * Nk], *den = &km.den[i * Nk];
    double *o = O + i * Dv;
    std::fill(o, o + Dv, 0.0);
    LSE[i] = -kInf;
    if (std::none_of(num, num + Nk, [](uint8_t x) { return x != 0; }))
      continue; // no kept key: O = 0, LSE = -inf
    for (int64_t j = 0; j < Nk; ++j)
      s[j] = den[j] ? score(i, j) : -kInf;
    double m = -kInf, l = 0;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t j0 = 0; j0 < Nk; j0 += T) {
      int64_t j1 = std::min(Nk, j0 + T);
      double mNew = m;
      for (int64_t j = j0; j < j1; ++j)
        if (den[j])
          mNew = std::max(mNew, s[j]);
      // The -inf guard of GPU-NOTES section 6: with mu = 0 for a row whose
      // max is still -inf, p = exp(-inf) = 0 and alpha = 0, never NaN.
      double mu = mNew == -kInf ? 0.0 : mNew;
      double alpha = std::exp(m - mu);
      double rowSum = 0;
      for (int64_t j = j0; j < j1; ++j) {
        double e = den[j] ? std::exp(s[j] - mu) : 0.0;
        rowSum += e;
        pn[j] = num[j] ? e : 0.0;
      }
      l = alpha * l + rowSum;
      roundP(prec, pn, j0, j1);
      switch (prec.pvAccum) {
      case Accumulation::F32:
        // The f32 accumulator, modelled exactly: O = alpha O + P.V.
        for (int64_t c = 0; c < Dv; ++c) {
          acc[c] *= alpha;
          for (int64_t j = j0; j < j1; ++j)
            acc[c] += pn[j] * pv.vhat[j * Dv + c];
        }
        break;
      case Accumulation::TwoLevel:
        // A fresh accumulator per tile, added into the f32 O. With exact
        // accumulation this equals F32; the in-MMA precision of the fresh
        // accumulator (about 22 bits on FP8 MMAs) is not modelled.
        for (int64_t c = 0; c < Dv; ++c) {
          tileAcc[c] = 0;
          for (int64_t j = j0; j < j1; ++j)
            tileAcc[c] += pn[j] * pv.vhat[j * Dv + c];
          acc[c] = alpha * acc[c] + tileAcc[c];
        }
        break;
      case Accumulation::F16:
        // An f16 accumulator: rescaled with one rounding, then each run of
        // f16AccumChunk keys adds its exact sum with one rounding.
        for (int64_t c = 0; c < Dv; ++c) {
          acc[c] = roundTo(ElemType::F16, alpha * acc[c]);
          for (int64_t c0 = j0; c0 < j1; c0 += em.f16AccumChunk) {
            int64_t c1 = std::min(j1, c0 + em.f16AccumChunk);
            double chunk = 0;
            for (int64_t j = c0; j < c1; ++j)
              chunk += pn[j] * pv.vhat[j * Dv + c];
            acc[c] = roundTo(ElemType::F16, acc[c] + chunk);
          }
        }
        break;
      }
      m = mNew;
    }
    if (m == -kInf || l == 0)
      continue; // every score -inf: O = 0, LSE = -inf
    for (int64_t c = 0; c < Dv; ++c)
      o[c] = acc[c] * pv.undo[c] / l;
    // smooth_k shifted row i by scale * dot(Q[i], mean_k): add it back.
    double shift = 0;
    if (prec.smoothK)
      for (int64_t c = 0; c < D; ++c)
        shift += static_cast<double>(in.q[i * D + c]) * meanK[c];
    LSE[i] = m + std::log(l) + scale * shift;
  }
}

} // namespace

Result reference(const Problem &p, const std::vector<float> &q,
                 const std::vector<float> &k, const std::vector<float> &v) {
  std::string error = validate(p, q.size(), k.size(), v.size());
  if (!error.empty())
    throw std::invalid_argument("attnref::reference: " + error);
  Result r;
  r.O.assign(p.B * p.Hq * p.Nq * p.Dv, 0.0);
  r.LSE.assign(p.B * p.Hq * p.Nq, -kInf);
  for (int64_t b = 0; b < p.B; ++b) {
    for (int64_t h = 0; h < p.Hq; ++h) {
      double *O = &r.O[(b * p.Hq + h) * p.Nq * p.Dv];
      double *LSE = &r.LSE[(b * p.Hq + h) * p.Nq];
      // 1. A zero weight: the head is not computed.
      double w = p.weights.empty() ? 1.0 : p.weights[h];
      if (w == 0)
        continue;
      // 2. Attention with the head's mask and precision.
      HeadInputs in = headInputs(p, b, h, q, k, v);
      KeepMatrices km = keepMatrices(in);
      if (in.precision->isDefault())
        exactHead(in, km, O, LSE);
      else
        emulatedHead(in, km, O, LSE);
      // 3. SoftPAG.
      if (p.softpag &&
          std::find(p.softpag->heads.begin(), p.softpag->heads.end(), h) !=
              p.softpag->heads.end()) {
        double u = p.softpag->u;
        for (int64_t i = 0; i < p.Nq; ++i)
          for (int64_t c = 0; c < p.Dv; ++c)
            O[i * p.Dv + c] =
                (1 - u) * O[i * p.Dv + c] + u * in.v[i * p.Dv + c];
      }
      // 4. Weight and gates.
      for (int64_t i = 0; i < p.Nq; ++i) {
        double factor = w;
        if (!p.gates.empty())
          factor *= p.gates[(b * p.Nq + i) * p.Hq + h];
        for (int64_t c = 0; c < p.Dv; ++c)
          O[i * p.Dv + c] *= factor;
      }
    }
  }
  return r;
}

//===----------------------------------------------------------------------===//
// Gradients
//===----------------------------------------------------------------------===//

Gradients gradients(const Problem &p, const std::vector<float> &q,
                    const std::vector<float> &k, const std::vector<float> &v,
                    const std::vector<double> &dO,
                    const std::vector<double> &dLSE) {
  std::string error = validate(p, q.size(), k.size(), v.size());
  if (error.empty() &&
      dO.size() != static_cast<size_t>(p.B * p.Hq * p.Nq * p.Dv))
    error = "dO must have B * Hq * Nq * Dv elements";
  if (error.empty() && !dLSE.empty() &&
      dLSE.size() != static_cast<size_t>(p.B * p.Hq * p.Nq))
    error = "dLSE must be empty or have B * Hq * Nq elements";
  if (!error.empty())
    throw std::invalid_argument("attnref::gradients: " + error);
  Gradients g;
  g.dQ.assign(q.size(), 0.0);
  g.dK.assign(k.size(), 0.0);
  g.dV.assign(v.size(), 0.0);
  g.dBias.assign(p.bias.values.size(), 0.0);
  g.dGates.assign(p.gates.size(), 0.0);
  const double scale = p.effectiveScale();
  std::vector<double> A(p.Nq * p.Dv), LSE(p.Nq), dA(p.Dv);
  for (int64_t b = 0; b < p.B; ++b) {
    for (int64_t h = 0; h < p.Hq; ++h) {
      double w = p.weights.empty() ? 1.0 : p.weights[h];
      if (w == 0)
        continue; // the head is not computed: no gradient flows
      HeadInputs in = headInputs(p, b, h, q, k, v);
      int64_t kv = p.kvHead(h);
      KeepMatrices km = keepMatrices(in);
      exactHead(in, km, A.data(), LSE.data());
      double u = 0;
      if (p.softpag &&
          std::find(p.softpag->heads.begin(), p.softpag->heads.end(), h) !=
              p.softpag->heads.end())
        u = p.softpag->u;
      double *dQ = &g.dQ[(b * p.Hq + h) * p.Nq * p.D];
      double *dK = &g.dK[(b * p.Hkv + kv) * p.Nk * p.D];
      double *dV = &g.dV[(b * p.Hkv + kv) * p.Nk * p.Dv];
      for (int64_t i = 0; i < p.Nq; ++i) {
        const double *dY = &dO[((b * p.Hq + h) * p.Nq + i) * p.Dv];
        const double gate =
            p.gates.empty() ? 1.0 : p.gates[(b * p.Nq + i) * p.Hq + h];
        const double c = w * gate;
        const double *a = &A[i * p.Dv];
        // Y = c ((1 - u) A + u V[i]).
        if (!p.gates.empty()) {
          // V[i] exists only where SoftPAG applies (Nq == Nk).
          double dot = 0;
          for (int64_t e = 0; e < p.Dv; ++e)
            dot += dY[e] *
                   ((1 - u) * a[e] + (u != 0 ? u * in.v[i * p.Dv + e] : 0.0));
          g.dGates[(b * p.Nq + i) * p.Hq + h] += w * dot;
        }
        for (int64_t e = 0; e < p.Dv; ++e) {
          dA[e] = c * (1 - u) * dY[e];
          if (u != 0)
            dV[i * p.Dv + e] += c * u * dY[e];
        }
        if (LSE[i] == -kInf)
          continue; // no kept key: A = 0 and nothing depends on the scores
        double delta = 0;
        for (int64_t e = 0; e < p.Dv; ++e)
          delta += dA[e] * a[e];
        double dl = dLSE.empty() ? 0.0 : dLSE[(b * p.Hq + h) * p.Nq + i];
        for (int64_t j = 0; j < p.Nk; ++j) {
          if (!km.den[i * p.Nk + j])
            continue; // P = 0: outside the softmax's denominator
          double dot = 0;
          for (int64_t e = 0; e < p.D; ++e)
            dot += static_cast<double>(in.q[i * p.D + e]) * in.k[j * p.D + e];
          double P = std::exp(scale * dot + biasOf(in, i, j) - LSE[i]);
          bool kept = km.num[i * p.Nk + j];
          double dP = 0;
          if (kept)
            for (int64_t e = 0; e < p.Dv; ++e) {
              dP += dA[e] * in.v[j * p.Dv + e];
              dV[j * p.Dv + e] += P * dA[e];
            }
          double dS = P * (dP - delta + dl);
          for (int64_t e = 0; e < p.D; ++e) {
            dQ[i * p.D + e] += scale * dS * in.k[j * p.D + e];
            dK[j * p.D + e] += scale * dS * in.q[i * p.D + e];
          }
          if (p.bias.present()) {
            int64_t bb = p.bias.batches == 1 ? 0 : b;
            int64_t hh = p.bias.heads == 1 ? 0 : h;
            g.dBias[((bb * p.bias.heads + hh) * p.Nq + i) * p.Nk + j] += dS;
          }
        }
      }
    }
  }
  return g;
}

//===----------------------------------------------------------------------===//
// Accuracy
//===----------------------------------------------------------------------===//

double cosineSimilarity(const std::vector<double> &x,
                        const std::vector<double> &ref) {
  if (x.size() != ref.size())
    throw std::invalid_argument("cosineSimilarity: sizes differ");
  double dot = 0, xx = 0, rr = 0;
  for (size_t n = 0; n < x.size(); ++n) {
    dot += x[n] * ref[n];
    xx += x[n] * x[n];
    rr += ref[n] * ref[n];
  }
  if (xx == 0 && rr == 0)
    return 1;
  if (xx == 0 || rr == 0)
    return 0;
  return dot / (std::sqrt(xx) * std::sqrt(rr));
}

double relativeL1(const std::vector<double> &x,
                  const std::vector<double> &ref) {
  if (x.size() != ref.size())
    throw std::invalid_argument("relativeL1: sizes differ");
  double diff = 0, norm = 0;
  for (size_t n = 0; n < x.size(); ++n) {
    diff += std::fabs(x[n] - ref[n]);
    norm += std::fabs(ref[n]);
  }
  if (norm == 0)
    return diff == 0 ? 0 : kInf;
  return diff / norm;
}

} // namespace attnref
