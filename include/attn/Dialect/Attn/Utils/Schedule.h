//===- Schedule.h - the tiled schedule both backends share ------*- C++ -*-===//
//
// The parts of the tiled online-softmax schedule that the CPU loop nest
// (AttnToLoops) and the GPU kernels (AttnToNVVM) must agree on, in one
// place: the geometry of query and key tiles (flat ranges, or boxes of the
// token grid) and its index arithmetic, the static factors of each head,
// and the formula of an output element (SEMANTICS.md section 4).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_SCHEDULE_H
#define ATTN_DIALECT_ATTN_UTILS_SCHEDULE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/MathExtras.h"

namespace mlir {
namespace attn {

//===----------------------------------------------------------------------===//
// Tiles
//===----------------------------------------------------------------------===//

/// A query or key tile: a flat range of `shape[0]` tokens (empty `grid`),
/// or a box of `shape` on the token grid `grid`. Tiles are numbered in
/// order along the sequence, or row-major over the grid's boxes.
struct TileGeometry {
  SmallVector<int64_t> shape, grid;
  int64_t tokens = 0;

  static TileGeometry of(ArrayRef<int64_t> shape, ArrayRef<int64_t> grid) {
    TileGeometry g{SmallVector<int64_t>(shape), SmallVector<int64_t>(grid),
                   1};
    for (int64_t s : shape)
      g.tokens *= s;
    return g;
  }
  bool isFlat() const { return grid.empty(); }
  /// Boxes along grid dimension `d`, and boxes of the whole grid.
  int64_t boxesAlong(unsigned d) const {
    return llvm::divideCeil(grid[d], shape[d]);
  }
  int64_t numBoxes() const {
    int64_t count = 1;
    for (unsigned d = 0; d < grid.size(); ++d)
      count *= boxesAlong(d);
    return count;
  }
  /// Whether tile `tile` lies within the sequence of `length` tokens (flat)
  /// or the grid (boxes) as a whole.
  bool isWhole(int64_t tile, int64_t length) const {
    if (isFlat())
      return (tile + 1) * shape[0] <= length;
    bool whole = true;
    for (int d = static_cast<int>(grid.size()) - 1; d >= 0; --d) {
      whole &= (tile % boxesAlong(d) + 1) * shape[d] <= grid[d];
      tile /= boxesAlong(d);
    }
    return whole;
  }
};

/// The IR of a TileGeometry: index arithmetic on `index` values, emitted
/// where `builder` points.
class TileIndexing {
public:
  TileIndexing(OpBuilder &builder, Location loc, const TileGeometry &geometry)
      : b(builder), loc(loc), g(geometry) {}

  /// The tiles of `length` tokens (flat) or of the grid.
  Value numTiles(Value length);
  /// The grid coordinates of box `tile`'s origin.
  SmallVector<Value> boxBegin(Value tile);
  /// The token at `position` of tile `tile` (positions enumerate the full
  /// tile shape row-major) and whether it lies in the sequence or grid.
  std::pair<Value, Value> tokenOf(Value tile, Value position, Value length);
  /// [first, end) of the flat indices of the tile's tokens (its hull; its
  /// tokens exactly for flat tiles), clipped to the sequence or grid.
  std::pair<Value, Value> hull(Value tile, Value length);
  /// Whether every position of the tile lies in the sequence or grid.
  Value isWhole(Value tile, Value length);

  /// A tile clipped to the sequence or grid: its hull [first, end), its
  /// token count, and per grid dimension its origin and extent.
  struct ClippedTile {
    Value first, end, count;
    SmallVector<Value> begin, extent;
  };
  ClippedTile clip(Value tile, Value length);
  /// The token at position `position` (< count) of a clipped tile,
  /// row-major over its extents.
  Value tokenOf(const ClippedTile &tile, Value position);

private:
  Value constant(int64_t v);

  OpBuilder &b;
  Location loc;
  const TileGeometry &g;
};

//===----------------------------------------------------------------------===//
// Heads
//===----------------------------------------------------------------------===//

/// The compile-time factors of one query head (SEMANTICS.md section 4):
/// its weight and its SoftPAG blend u (0 when not perturbed).
struct HeadFactors {
  double weight = 1.0;
  double softpagU = 0.0;
};
HeadFactors getHeadFactors(AttentionProblemOpInterface op, int64_t head);

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

/// What one element of O is made of.
/// FP8 P: P in [0, 1] times 448 (E4M3's largest finite value) before the
/// cast (SEMANTICS.md section 3).
constexpr double kFp8ProbabilityScale = 448;

struct OutputTerms {
  /// The P.V accumulator (f32) and 1 / l (0 for rows with no kept key).
  Value accumulated, inverseSum;
  /// FP8 P.V: the channel's V scale; else null.
  Value valueScale;
  /// FP8 P.V: the factor P was multiplied by before its E4M3 rounding
  /// (SEMANTICS.md: 448) that the row sum l does not carry; 1 where l was
  /// summed from the scaled P too (the GPU kernels), so that it cancels.
  double probabilityScale = kFp8ProbabilityScale;
  /// SoftPAG: u and the identity term V[token, channel] (f32); else null.
  Value softpagU, identity;
  /// The head weight times the gate.
  Value factor;
};
/// O = w g ((1 - u) A + u V), A = acc / l (times V's scale /
/// probabilityScale for FP8 P.V), in f32.
Value emitOutputElement(OpBuilder &b, Location loc, const OutputTerms &terms);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_UTILS_SCHEDULE_H
