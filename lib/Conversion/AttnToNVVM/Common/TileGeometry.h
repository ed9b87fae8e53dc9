//===- TileGeometry.h - the shape of query and key tiles --------*- C++ -*-===//
//
// Private to AttnToNVVM: a query or key tile as a flat range of tokens, or
// a box of the token grid (N-D tiles of grid masks).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEGEOMETRY_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEGEOMETRY_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"

#include "llvm/Support/MathExtras.h"

namespace mlir {
namespace attn {
namespace detail {

/// A query or key tile: flat ranges, or boxes of the token grid.
struct TileGeometry {
  SmallVector<int64_t> shape, grid;
  int64_t tokens = 0;

  /// Tiles of `shape` tokens (one entry for flat tiles) on `grid` (empty
  /// for flat tiles).
  static TileGeometry of(ArrayRef<int64_t> shape, ArrayRef<int64_t> grid) {
    TileGeometry g{SmallVector<int64_t>(shape), SmallVector<int64_t>(grid),
                   1};
    for (int64_t s : shape)
      g.tokens *= s;
    return g;
  }
  /// Tiles along grid dimension `d`, and boxes of the whole grid.
  int64_t boxesAlong(unsigned d) const {
    return llvm::divideCeil(grid[d], shape[d]);
  }
  int64_t numBoxes() const {
    int64_t count = 1;
    for (unsigned d = 0; d < grid.size(); ++d)
      count *= boxesAlong(d);
    return count;
  }
  /// Whether tile `tile` lies in the sequence of `length` tokens (flat) or
  /// in the grid (boxes) as a whole.
  bool isWhole(int64_t tile, int64_t length) const {
    if (grid.empty())
      return (tile + 1) * shape[0] <= length;
    bool whole = true;
    for (int d = static_cast<int>(grid.size()) - 1; d >= 0; --d) {
      whole &= (tile % boxesAlong(d) + 1) * shape[d] <= grid[d];
      tile /= boxesAlong(d);
    }
    return whole;
  }
  /// The number of tiles as a grid (or size) factor: ceil(`lengthArg` /
  /// tokens) for flat tiles, the boxes of the grid otherwise.
  GridFactor countFactor(StringRef lengthArg) const {
    if (grid.empty())
      return GridFactor{1, lengthArg.str(), tokens};
    return GridFactor{numBoxes(), "", 1};
  }
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEGEOMETRY_H
