//===- TileSparsity.h - full / partial / empty tile counts -------*- C++ -*-===//
//
// Tiles the query and key token grids of one attention head and classifies
// every (query tile, key tile) pair with the mask interface. Used by
// --attn-sparsity-report, and the basis of the tile schedule.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_ANALYSIS_TILESPARSITY_H
#define ATTN_DIALECT_ATTN_ANALYSIS_TILESPARSITY_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include <optional>

namespace mlir {
namespace attn {

struct TileSparsity {
  int64_t full = 0, partial = 0, empty = 0;
  /// Kept (query, key) pairs; unknown for run-time segment sizes.
  std::optional<int64_t> keptPairs;
  int64_t totalPairs = 0;

  int64_t getNumTilePairs() const { return full + partial + empty; }
  /// Total / computed tile pairs: the bound of a kernel that skips empty
  /// tiles. Infinite (nullopt) when no tile is computed.
  std::optional<double> getTileSpeedupBound() const;
  /// Total / kept pairs. Nullopt when none or unknown.
  std::optional<double> getPairSpeedupBound() const;
};

/// Number of tiles of shape `tile` covering `grid` (edge tiles clipped).
int64_t getNumTiles(ArrayRef<int64_t> grid, ArrayRef<int64_t> tile);

/// Calls `fn` on every tile of `grid` with tile shape `tile` (edge tiles are
/// clipped), in row-major tile order. `tile` has the rank of `grid`.
void forEachTile(ArrayRef<int64_t> grid, ArrayRef<int64_t> tile,
                 function_ref<void(const TokenBox &)> fn);

/// Classifies every pair of query tiles (of `queryGrid`) and key tiles (of
/// `keyGrid`), and counts kept pairs unless the mask needs run-time segment
/// offsets.
TileSparsity computeTileSparsity(MaskAttrInterface mask,
                                 const MaskContext &context,
                                 ArrayRef<int64_t> queryGrid,
                                 ArrayRef<int64_t> keyGrid,
                                 ArrayRef<int64_t> queryTile,
                                 ArrayRef<int64_t> keyTile);

/// The non-empty tile pairs of one mask's class table as compressed lists:
/// per query tile its key tiles (the forward's walk) or, transposed, per key
/// tile its query tiles (the backward's walk), in increasing order, each
/// with its class.
struct TileLists {
  /// offsets[t] .. offsets[t + 1] index `tiles` and `classes` for tile t of
  /// the walking side.
  SmallVector<int32_t> offsets;
  SmallVector<int32_t> tiles;
  SmallVector<TileClass> classes;

  int64_t getNumLists() const {
    return static_cast<int64_t>(offsets.size()) - 1;
  }
};

/// The lists of the table `classOf(queryTile, keyTile)` of `numQueryTiles`
/// x `numKeyTiles` tiles, walked by query tile, or by key tile when
/// `byKeyTile`.
TileLists getTileLists(int64_t numQueryTiles, int64_t numKeyTiles,
                       bool byKeyTile,
                       function_ref<TileClass(int64_t, int64_t)> classOf);

/// Table `table` of an op's `tile_classes` attribute ([masks, query tiles,
/// key tiles] of 0 empty, 1 partial, 2 full) as lists.
TileLists getTileLists(DenseIntElementsAttr tileClasses, int64_t table,
                       bool byKeyTile);

/// The query and key tile shapes of a pass's `query-tile` / `key-tile`
/// options: 128 tokens when no query tile is given, the query tile when no
/// key tile is.
std::pair<SmallVector<int64_t>, SmallVector<int64_t>>
getTileShapeOptions(ArrayRef<int64_t> queryTile, ArrayRef<int64_t> keyTile);

/// Checks the query and key tile shapes a pass option gives (`pass` names
/// it in the diagnostic): ranks 1 to 3, equal, positive entries.
LogicalResult verifyTileShapes(StringRef pass, ArrayRef<int64_t> queryTile,
                               ArrayRef<int64_t> keyTile,
                               function_ref<InFlightDiagnostic()> emitError);

/// The query and key grids tiles of rank `rank` tile for `mask`: the flat
/// lengths for rank 1, else the mask's token grid (or, for a mask on flat
/// indices, `fallbackGrid`, another mask's grid). Nullopt when no grid has
/// that rank.
std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
getTilingGrids(MaskAttrInterface mask, const MaskContext &context,
               ArrayRef<int64_t> fallbackGrid, int64_t rank);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_ANALYSIS_TILESPARSITY_H
