//===- ProblemIR.cpp - random attention problems as attn IR ---------------===//

#include "ProblemIR.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

using namespace mlir::attn::testing;
using attnref::Problem;
using attnref::Spec;

namespace mlir {
namespace attn {
namespace testing {

std::string num(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.9e", v);
  return buffer;
}

std::string list(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

std::string memref(const std::vector<int64_t> &shape, const std::string &elem) {
  std::string s = "memref<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + elem + ">";
}

const llvm::fltSemantics &halfSemantics(bool bf16) {
  return bf16 ? llvm::APFloat::BFloat() : llvm::APFloat::IEEEhalf();
}

uint16_t toHalfBits(float value, bool bf16) {
  llvm::APFloat f(value);
  bool losesInfo;
  f.convert(halfSemantics(bf16), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
}

float fromHalfBits(uint16_t bits, bool bf16) {
  llvm::APFloat f(halfSemantics(bf16), llvm::APInt(16, bits));
  bool losesInfo;
  f.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
            &losesInfo);
  return f.convertToFloat();
}

void *HostBuffer::data() {
  if (!f16.empty())
    return f16.data();
  if (!bytes.empty())
    return bytes.data();
  if (!i64.empty())
    return i64.data();
  return f32.data();
}

void ProblemArguments::addFloat(const std::string &name,
                                std::vector<int64_t> shape,
                                const std::vector<float> &values, bool isHalf) {
  HostBuffer buffer;
  buffer.shape = shape;
  if (isHalf)
    for (float x : values)
      buffer.f16.push_back(toHalfBits(x, bf16));
  else
    buffer.f32 = values;
  buffers.push_back(buffer);
  names.push_back(name);
  types.push_back(memref(shape, isHalf ? (bf16 ? "bf16" : "f16") : "f32"));
}

void ProblemArguments::addPoisoned(const std::string &name,
                                   std::vector<int64_t> shape, bool isHalf) {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  HostBuffer buffer;
  buffer.shape = shape;
  if (isHalf)
    buffer.f16.assign(count, bf16 ? 0x7fc0 : 0x7e00); // NaN
  else
    buffer.f32.assign(count, NAN);
  buffers.push_back(buffer);
  names.push_back(name);
  types.push_back(memref(shape, isHalf ? (bf16 ? "bf16" : "f16") : "f32"));
}

std::string ProblemArguments::addOptionalOperands() {
  std::string operands;
  // [Nq, Nk] when shared by every batch and head, else rank 4.
  auto pairShape = [&](int64_t batches, int64_t heads) {
    return batches == 1 && heads == 1
               ? std::vector<int64_t>{p.Nq, p.Nk}
               : std::vector<int64_t>{batches, heads, p.Nq, p.Nk};
  };
  if (p.explicitMask.present()) {
    HostBuffer buffer;
    buffer.shape = pairShape(p.explicitMask.batches, p.explicitMask.heads);
    buffer.bytes = p.explicitMask.values;
    buffers.push_back(buffer);
    names.push_back("%mask");
    types.push_back(memref(buffer.shape, "i1"));
    operands += " explicit_mask(%mask : " + types.back() + ")";
  }
  if (p.bias.present()) {
    addFloat("%bias", pairShape(p.bias.batches, p.bias.heads), p.bias.values,
             false);
    operands += " bias(%bias : " + types.back() + ")";
  }
  if (!p.segmentOffsets.empty()) {
    HostBuffer buffer;
    bool separate = !p.segmentOffsets[0].key.empty();
    size_t count = std::max(p.segmentOffsets[0].query.size(),
                            p.segmentOffsets[0].key.size());
    for (const attnref::SegmentOffsets &o : p.segmentOffsets) {
      for (const std::vector<int64_t> *list :
           {&o.query, separate ? &o.key : nullptr}) {
        if (!list)
          continue;
        for (size_t x = 0; x < count; ++x)
          buffer.i64.push_back((*list)[std::min(x, list->size() - 1)]);
      }
    }
    buffer.shape = separate ? std::vector<int64_t>{p.B, 2, int64_t(count)}
                            : std::vector<int64_t>{p.B, int64_t(count)};
    buffers.push_back(buffer);
    names.push_back("%offsets");
    types.push_back(memref(buffer.shape, "i64"));
    operands += " segment_offsets(%offsets : " + types.back() + ")";
  }
  if (!p.gates.empty()) {
    addFloat("%gates", {p.B, p.Nq, p.Hq}, p.gates, false);
    operands += " gates(%gates : " + types.back() + ")";
  }
  return operands;
}

std::string ProblemArguments::signature() const {
  std::string s;
  for (size_t x = 0; x < names.size(); ++x)
    s += (x ? ", " : "") + names[x] + ": " + types[x];
  return s;
}

std::vector<MemRefArg> ProblemArguments::args() {
  std::vector<MemRefArg> result;
  for (HostBuffer &buffer : buffers)
    result.push_back({buffer.data(), buffer.shape});
  return result;
}

int64_t environmentInt(const char *name, int64_t fallback) {
  const char *text = std::getenv(name);
  return text && *text ? std::strtoll(text, nullptr, 10) : fallback;
}

std::string problemAttributes(const Problem &p) {
  std::string attrs = " mask = " + attnref::toMlir(p.mask);
  if (!p.precision.isDefault()) // the op's format: precision before heads
    attrs += " precision = " + attnref::toMlir(p.precision);
  std::vector<std::string> headFields;
  if (!p.weights.empty()) {
    std::string w = "weights = [";
    for (size_t h = 0; h < p.weights.size(); ++h)
      w += (h ? ", " : "") + num(p.weights[h]);
    headFields.push_back(w + "]");
  }
  if (p.softpag)
    headFields.push_back("softpag = #attn.softpag<u = " + num(p.softpag->u) +
                         ", heads = " + list(p.softpag->heads) + ">");
  if (!p.groups.empty()) {
    std::string g = "groups = [";
    for (size_t x = 0; x < p.groups.size(); ++x) {
      const attnref::HeadGroup &group = p.groups[x];
      g += std::string(x ? ", " : "") +
           "#attn.head_group<heads = " + list(group.heads);
      if (group.mask)
        g += ", mask = " + attnref::toMlir(*group.mask);
      if (group.precision)
        g += ", precision = " + attnref::toMlir(*group.precision);
      g += ">";
    }
    headFields.push_back(g + "]");
  }
  if (!headFields.empty()) {
    attrs += " heads = #attn.heads<";
    for (size_t x = 0; x < headFields.size(); ++x)
      attrs += (x ? ", " : "") + headFields[x];
    attrs += ">";
  }
  if (p.scale)
    attrs += " scale = " + num(*p.scale);
  return attrs;
}

Problem baseProblem(attnref::Rng &rng, int64_t n) {
  Problem p;
  p.B = attnref::uniform(rng, 1, 2);
  p.Hkv = attnref::uniform(rng, 1, 2);
  p.Hq = p.Hkv * attnref::uniform(rng, 1, 3);
  p.Nq = p.Nk = n;
  p.D = attnref::uniform(rng, 1, 3) * 4 + 1;
  p.Dv = attnref::uniform(rng, 1, 9);
  return p;
}

/// Random run-time segment offsets for `spec` (every dynamic segments mask
/// at the top or in and / or members shares them), with padding.
void addOffsets(attnref::Rng &rng, Problem &p) {
  const Spec *segments = nullptr;
  std::function<void(const Spec &)> find = [&](const Spec &s) {
    if (s.kind == attnref::Kind::Segments && s.dynamic)
      segments = &s;
    if (s.kind == attnref::Kind::And || s.kind == attnref::Kind::Or)
      for (const Spec &child : s.children)
        find(child);
  };
  find(p.mask);
  if (!segments)
    return;
  bool separate = segments->qSizes.size() != segments->kSizes.size() ||
                  p.Nq != p.Nk || attnref::coin(rng);
  for (int64_t b = 0; b < p.B; ++b) {
    attnref::SegmentOffsets o;
    int64_t qTotal = attnref::uniform(rng, 0, p.Nq);
    o.query = attnref::prefixOffsets(
        attnref::randomComposition(rng, qTotal, segments->qSizes.size()));
    if (separate) {
      int64_t kTotal = attnref::uniform(rng, 0, p.Nk);
      o.key = attnref::prefixOffsets(
          attnref::randomComposition(rng, kTotal, segments->kSizes.size()));
    }
    p.segmentOffsets.push_back(o);
  }
}

bool addRandomFeatures(attnref::Rng &rng, Problem &p) {
  if (attnref::coin(rng, 0.2)) {
    p.explicitMask.batches = attnref::coin(rng) ? p.B : 1;
    p.explicitMask.heads = 1;
    int64_t count = p.explicitMask.batches * p.Nq * p.Nk;
    for (int64_t x = 0; x < count; ++x)
      p.explicitMask.values.push_back(attnref::coin(rng, 0.7));
  }
  if (attnref::coin(rng, 0.2)) {
    p.bias.batches = attnref::coin(rng) ? p.B : 1;
    p.bias.heads = attnref::coin(rng) ? p.Hq : 1;
    int64_t count = p.bias.batches * p.bias.heads * p.Nq * p.Nk;
    for (int64_t x = 0; x < count; ++x)
      p.bias.values.push_back(std::normal_distribution<float>()(rng));
  }
  if (attnref::coin(rng, 0.2))
    for (int64_t h = 0; h < p.Hq; ++h)
      p.weights.push_back(attnref::coin(rng, 0.3) ? 0.0 : 0.5 + h);
  if (attnref::coin(rng, 0.2))
    for (int64_t x = 0; x < p.B * p.Nq * p.Hq; ++x)
      p.gates.push_back(attnref::coin(rng, 0.2)
                            ? 0.0f
                            : std::uniform_real_distribution<float>(0, 2)(rng));
  if (p.Nq == p.Nk && attnref::coin(rng, 0.15)) {
    const double us[] = {0.0, 0.3, 1.0};
    std::vector<int64_t> heads = {0};
    if (p.Hq > 1)
      heads.push_back(p.Hq - 1);
    p.softpag = attnref::SoftPag{us[attnref::uniform(rng, 0, 2)], heads};
  }
  if (p.Hq > 1 && attnref::coin(rng, 0.15)) {
    attnref::HeadGroup group;
    group.heads = {p.Hq - 1};
    group.mask = attnref::makeSliding(attnref::uniform(rng, 0, 3),
                                      attnref::uniform(rng, 0, 3), false);
    p.groups.push_back(group);
  }
  if (attnref::coin(rng, 0.1))
    p.scale = 0.2;
  return !p.weights.empty() || !p.gates.empty() || p.softpag.has_value() ||
         !p.groups.empty() || p.explicitMask.present() || p.bias.present() ||
         p.scale.has_value();
}

} // namespace testing
} // namespace attn
} // namespace mlir
