//===- ProblemIR.h - random attention problems as attn IR -------*- C++ -*-===//
//
// Test support shared by the forward (CpuReferenceTest) and gradient
// (CpuGradientTest) comparisons: the host buffers and `func.func` arguments
// of one attnref::Problem, the attribute text of its op, the problem
// generators, and 16-bit float conversions.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_UNITTESTS_PROBLEMIR_H
#define ATTN_UNITTESTS_PROBLEMIR_H

#include "CpuRunner.h"
#include "Reference/AttentionReference.h"

#include <string>
#include <vector>

namespace mlir {
namespace attn {
namespace testing {

/// A float in scientific notation exact enough for an f32 attribute.
std::string num(double v);
/// "[a, b, ...]".
std::string list(const std::vector<int64_t> &values);
/// "memref<AxBx...xelem>".
std::string memref(const std::vector<int64_t> &shape, const std::string &elem);

uint16_t toHalfBits(float value, bool bf16);
float fromHalfBits(uint16_t bits, bool bf16);

/// Host data of one memref argument, f32 or f16 (stored as bits), or bytes.
struct HostBuffer {
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  std::vector<uint8_t> bytes;
  std::vector<int64_t> i64;
  void *data();
};

/// The arguments of a `func.func` around one attn op on a problem: host
/// buffers with their names and memref types, in order.
class ProblemArguments {
public:
  /// `half`: 16-bit Q, K, V (and whatever addFloat is told is half), bf16
  /// when `bf16` else f16.
  ProblemArguments(const attnref::Problem &p, bool half, bool bf16)
      : p(p), half(half), bf16(bf16) {}

  /// Adds a float buffer (rounded to 16 bits when `isHalf`).
  void addFloat(const std::string &name, std::vector<int64_t> shape,
                const std::vector<float> &values, bool isHalf);
  /// Adds an output buffer of NaNs (poisoned: an unwritten element shows).
  void addPoisoned(const std::string &name, std::vector<int64_t> shape,
                   bool isHalf);
  /// Adds the problem's explicit mask, bias, segment offsets and gates (the
  /// ones it has) and returns their operand syntax, e.g.
  /// " bias(%bias : memref<...>)".
  std::string addOptionalOperands();

  const std::string &typeOf(size_t index) const { return types[index]; }
  size_t size() const { return buffers.size(); }
  HostBuffer &buffer(size_t index) { return buffers[index]; }
  /// "%q: memref<...>, ...".
  std::string signature() const;
  std::vector<MemRefArg> args();

private:
  const attnref::Problem &p;
  bool half, bf16;
  std::vector<HostBuffer> buffers;
  std::vector<std::string> names, types;
};

/// The mask, precision, heads and scale attributes of the problem's op
/// (" mask = ... precision = ...").
std::string problemAttributes(const attnref::Problem &p);

/// The integer in environment variable `name` (ATTN_DIFF_CASES,
/// ATTN_DIFF_SEED of utils/differential.sh), or `fallback`.
int64_t environmentInt(const char *name, int64_t fallback);

/// B, heads (GQA), N and odd head dims at random.
attnref::Problem baseProblem(attnref::Rng &rng, int64_t n);
/// Random run-time segment offsets for the problem's dynamic segments mask
/// (at the top or in and / or members), with padding.
void addOffsets(attnref::Rng &rng, attnref::Problem &p);
/// Each with some probability: an explicit mask, a bias, head weights
/// (some 0), gates (some 0), SoftPAG (Nq == Nk), a head group with its own
/// mask, a scale. Returns whether any was added.
bool addRandomFeatures(attnref::Rng &rng, attnref::Problem &p);

} // namespace testing
} // namespace attn
} // namespace mlir

#endif // ATTN_UNITTESTS_PROBLEMIR_H
