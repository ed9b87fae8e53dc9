//===- TileSparsity.cpp - full / partial / empty tile counts --------------===//

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"

using namespace mlir;
using namespace mlir::attn;

std::optional<double> TileSparsity::getTileSpeedupBound() const {
  int64_t computed = full + partial;
  if (computed == 0)
    return std::nullopt;
  return static_cast<double>(getNumTilePairs()) / computed;
}

std::optional<double> TileSparsity::getPairSpeedupBound() const {
  if (!keptPairs || *keptPairs == 0)
    return std::nullopt;
  return static_cast<double>(totalPairs) / *keptPairs;
}

int64_t mlir::attn::getNumTiles(ArrayRef<int64_t> grid,
                                ArrayRef<int64_t> tile) {
  int64_t count = 1;
  for (auto [extent, size] : llvm::zip_equal(grid, tile))
    count *= (extent + size - 1) / size;
  return count;
}

void mlir::attn::forEachTile(ArrayRef<int64_t> grid, ArrayRef<int64_t> tile,
                             function_ref<void(const TokenBox &)> fn) {
  unsigned rank = grid.size();
  if (llvm::is_contained(grid, 0))
    return;
  SmallVector<int64_t, 3> index(rank, 0);
  while (true) {
    SmallVector<int64_t, 3> begin, end;
    for (unsigned d = 0; d < rank; ++d) {
      begin.push_back(index[d] * tile[d]);
      end.push_back(std::min(grid[d], (index[d] + 1) * tile[d]));
    }
    fn(TokenBox(grid, begin, end));
    int d = static_cast<int>(rank) - 1;
    for (; d >= 0; --d) {
      if (++index[d] * tile[d] < grid[d])
        break;
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}

TileSparsity mlir::attn::computeTileSparsity(
    MaskAttrInterface mask, const MaskContext &context,
    ArrayRef<int64_t> queryGrid, ArrayRef<int64_t> keyGrid,
    ArrayRef<int64_t> queryTile, ArrayRef<int64_t> keyTile) {
  TileSparsity result;
  result.totalPairs = context.queryLength * context.keyLength;
  // Without the offsets, every tile is partial and pairs cannot be counted.
  bool countPairs = !mask.needsSegmentOffsets();
  int64_t kept = 0;
  SmallVector<TokenBox> keyTiles;
  forEachTile(keyGrid, keyTile,
              [&](const TokenBox &k) { keyTiles.push_back(k); });
  forEachTile(queryGrid, queryTile, [&](const TokenBox &q) {
    for (const TokenBox &k : keyTiles) {
      switch (mask.classifyTile(q, k, context)) {
      case TileClass::Full:
        ++result.full;
        kept += q.getNumTokens() * k.getNumTokens();
        break;
      case TileClass::Partial:
        ++result.partial;
        if (countPairs)
          kept += mask.countKept(q, k, context);
        break;
      case TileClass::Empty:
        ++result.empty;
        break;
      }
    }
  });
  if (countPairs)
    result.keptPairs = kept;
  return result;
}

TileLists
mlir::attn::getTileLists(int64_t numQueryTiles, int64_t numKeyTiles,
                         bool byKeyTile,
                         function_ref<TileClass(int64_t, int64_t)> classOf) {
  TileLists lists;
  int64_t outer = byKeyTile ? numKeyTiles : numQueryTiles;
  int64_t inner = byKeyTile ? numQueryTiles : numKeyTiles;
  lists.offsets.push_back(0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      TileClass tileClass = byKeyTile ? classOf(i, o) : classOf(o, i);
      if (tileClass == TileClass::Empty)
        continue;
      lists.tiles.push_back(static_cast<int32_t>(i));
      lists.classes.push_back(tileClass);
    }
    lists.offsets.push_back(static_cast<int32_t>(lists.tiles.size()));
  }
  return lists;
}

TileLists mlir::attn::getTileLists(DenseIntElementsAttr tileClasses,
                                   int64_t table, bool byKeyTile) {
  auto type = cast<ShapedType>(tileClasses.getType());
  int64_t numQueryTiles = type.getDimSize(1), numKeyTiles = type.getDimSize(2);
  auto values = tileClasses.getValues<int8_t>();
  return getTileLists(
      numQueryTiles, numKeyTiles, byKeyTile, [&](int64_t q, int64_t k) {
        int8_t value = values[(table * numQueryTiles + q) * numKeyTiles + k];
        return value == 0   ? TileClass::Empty
               : value == 2 ? TileClass::Full
                            : TileClass::Partial;
      });
}

LogicalResult
mlir::attn::verifyTileShapes(StringRef pass, ArrayRef<int64_t> queryTile,
                             ArrayRef<int64_t> keyTile,
                             function_ref<InFlightDiagnostic()> emitError) {
  for (auto [name, tile] :
       {std::pair<StringRef, ArrayRef<int64_t>>{"query-tile", queryTile},
        {"key-tile", keyTile}}) {
    if (tile.empty() || tile.size() > 3)
      return emitError() << pass << ": " << name << " has rank " << tile.size()
                         << ", expected 1 to 3";
    for (int64_t t : tile)
      if (t < 1)
        return emitError() << pass << ": " << name << " entry " << t
                           << " must be positive";
  }
  if (queryTile.size() != keyTile.size())
    return emitError() << pass << ": query-tile has rank " << queryTile.size()
                       << " but key-tile has rank " << keyTile.size();
  return success();
}

std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
mlir::attn::getTilingGrids(MaskAttrInterface mask, const MaskContext &context,
                           ArrayRef<int64_t> fallbackGrid, int64_t rank) {
  if (rank == 1)
    return std::make_pair(SmallVector<int64_t>{context.queryLength},
                          SmallVector<int64_t>{context.keyLength});
  SmallVector<int64_t> grid = mask.getTokenGrid();
  if (grid.empty())
    grid = SmallVector<int64_t>(fallbackGrid);
  if (static_cast<int64_t>(grid.size()) != rank)
    return std::nullopt;
  return std::make_pair(grid, grid);
}

std::pair<SmallVector<int64_t>, SmallVector<int64_t>>
mlir::attn::getTileShapeOptions(ArrayRef<int64_t> queryTile,
                                ArrayRef<int64_t> keyTile) {
  SmallVector<int64_t> query(queryTile), key(keyTile);
  if (query.empty())
    query = {128};
  if (key.empty())
    key = query;
  return {query, key};
}
