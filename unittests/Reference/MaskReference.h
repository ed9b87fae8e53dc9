//===- MaskReference.h - independent reference of the attn masks ----------===//
//
// An independent description of every mask of SEMANTICS.md section 2 (Spec),
// its reference keep(i, j) written directly from the contract (ref::keep),
// its text in the dialect's attribute syntax (toMlir), and random mask
// generators for property tests.
//
// Plain C++17 and the standard library only: this code does not use the
// dialect, MLIR or LLVM, so that it stays an independent oracle.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_UNITTESTS_REFERENCE_MASKREFERENCE_H
#define ATTN_UNITTESTS_REFERENCE_MASKREFERENCE_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace attnref {

//===----------------------------------------------------------------------===//
// Mask descriptions
//===----------------------------------------------------------------------===//

enum class Kind {
  Dense,
  None,
  Causal,
  Sliding,
  Neighborhood,
  PowerLaw,
  Segments,
  And,
  Or
};

/// A mask, described independently of the attributes.
struct Spec {
  Kind kind = Kind::Dense;
  // causal, sliding window
  bool bottomRight = false;
  int64_t left = 0, right = 0;
  // neighborhood
  std::vector<int64_t> grid, window, stride, dilation;
  std::vector<bool> causalDims;
  // power law
  int64_t block = 1, plWindow = 0, sink = 0;
  bool plCausal = true;
  // segments: actual sizes (also when the attribute has run-time sizes; they
  // are then the sizes used when no SegmentOffsets are given to ref::keep)
  std::vector<int64_t> qSizes, kSizes;
  bool dynamic = false, renormalize = true;
  /// Segments: the table, row-major [query segment][key segment].
  /// and / or: the members.
  std::vector<Spec> children;
};

/// The run-time sizes of a segments mask with `dynamic` sizes, for one batch
/// element: prefix offsets [0, end of segment 0, end of segment 1, ...].
/// Segment a holds the tokens [offsets[a], offsets[a + 1]); tokens in no
/// segment (past the last offset: the padding of a variable-length batch)
/// keep nothing. An empty `key` list means the key offsets are the query
/// offsets (self-attention).
struct SegmentOffsets {
  std::vector<int64_t> query, key;
};

namespace ref {

/// One dimension of a neighborhood (SEMANTICS.md 2.3, steps 1-3).
bool keepInDim(int64_t L, int64_t w, int64_t s, int64_t d, bool causal,
               int64_t x, int64_t y);

/// Row-major coordinates of flat index `index` on `grid`.
std::vector<int64_t> coordsOf(int64_t index, const std::vector<int64_t> &grid);

bool isPowerOfTwo(int64_t v);

/// keep(i, j) of mask `s` on an nq x nk problem (SEMANTICS.md section 2).
/// `offsets`, when given, replace the sizes of the run-time (`dynamic`)
/// segments masks at the top of `s` or inside its and / or members; without
/// them the Spec's own qSizes / kSizes are used.
bool keep(const Spec &s, int64_t i, int64_t j, int64_t nq, int64_t nk,
          const SegmentOffsets *offsets = nullptr);

/// Whether `s` contains (anywhere) a segments mask with renormalize = false.
bool hasNoRenormalize(const Spec &s);

} // namespace ref

/// The mask in the dialect's attribute syntax, every parameter spelled out,
/// e.g. `#attn.neighborhood<grid = [4, 4], window = [3, 3], stride = [1, 1],
/// dilation = [1, 1], causal = [false, false]>`. Run-time segment sizes
/// print as `?`.
std::string toMlir(const Spec &s);

//===----------------------------------------------------------------------===//
// Constructors
//===----------------------------------------------------------------------===//

Spec makeDense();
Spec makeNone();
Spec makeCausal(bool bottomRight);
Spec makeSliding(int64_t left, int64_t right, bool bottomRight);
Spec makePowerLaw(int64_t block, int64_t window, int64_t sink, bool causal);
Spec makeNeighborhood(const std::vector<int64_t> &grid,
                      const std::vector<int64_t> &window,
                      const std::vector<int64_t> &stride,
                      const std::vector<int64_t> &dilation,
                      const std::vector<bool> &causal);
Spec makeComposite(Kind kind, std::vector<Spec> members);
Spec makeSegments(std::vector<int64_t> q, std::vector<int64_t> k,
                  std::vector<Spec> table, bool dynamic = false,
                  bool renormalize = true);

//===----------------------------------------------------------------------===//
// Random masks (fixed-seed property tests: the sequence of draws is part of
// the tests' configurations, so do not reorder calls on the generator)
//===----------------------------------------------------------------------===//

using Rng = std::mt19937;

int64_t uniform(Rng &rng, int64_t lo, int64_t hi);
bool coin(Rng &rng, double p = 0.5);
int64_t product(const std::vector<int64_t> &values);

/// A random grid of `rank` extents whose product is n >= 1.
std::vector<int64_t> randomFactorization(Rng &rng, int64_t n, unsigned rank);
/// Sizes of `parts` contiguous pieces (possibly empty) that sum to `total`.
std::vector<int64_t> randomComposition(Rng &rng, int64_t total, int64_t parts);
/// `rank` extents in [1, maxExtent].
std::vector<int64_t> randomGrid(Rng &rng, unsigned rank, int64_t maxExtent);

/// Random valid parameters on `grid` (1 <= s <= w, d >= 1, w * d <= L).
Spec randomNeighborhood(Rng &rng, const std::vector<int64_t> &grid,
                        double causalProb = 0.3);
Spec randomSliding(Rng &rng, int64_t nq, int64_t nk, bool bottomRight);
Spec randomPowerLaw(Rng &rng, bool causal);
/// A random entry of a segment table for a qLen x kLen segment pair.
Spec randomEntry(Rng &rng, int64_t qLen, int64_t kLen, int depth);
/// Random segments for nq x nk; self-attention (shared sizes) when nq == nk
/// and a coin says so.
Spec randomSegments(Rng &rng, int64_t nq, int64_t nk, int depth, bool dynamic);
/// Any random mask of an nq x nk problem. `dynamicAllowed` is cleared once
/// a segments mask with run-time sizes is made (one per problem).
Spec randomMask(Rng &rng, int64_t nq, int64_t nk, int depth,
                bool &dynamicAllowed);
/// A composite on a token grid: a neighborhood on `grid` first (so the
/// composite's token grid is `grid`), then flat masks or other neighborhoods
/// of the same number of tokens.
Spec randomGridComposite(Rng &rng, Kind kind, const std::vector<int64_t> &grid);

/// Prefix offsets [0, s0, s0 + s1, ...] of segment sizes.
std::vector<int64_t> prefixOffsets(const std::vector<int64_t> &sizes);

} // namespace attnref

#endif // ATTN_UNITTESTS_REFERENCE_MASKREFERENCE_H
