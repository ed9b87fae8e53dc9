//===- MaskTiles.cpp - token boxes and tile classification helpers --------===//

#include "attn/Dialect/Attn/IR/MaskTiles.h"

#include "llvm/ADT/STLExtras.h"
#include <algorithm>
#include <cassert>

using namespace mlir;
using namespace mlir::attn;

StringRef mlir::attn::stringifyTileClass(TileClass tileClass) {
  switch (tileClass) {
  case TileClass::Empty:
    return "empty";
  case TileClass::Partial:
    return "partial";
  case TileClass::Full:
    return "full";
  }
  return "unknown";
}

static int64_t product(ArrayRef<int64_t> values) {
  int64_t result = 1;
  for (int64_t v : values)
    result *= v;
  return result;
}

TokenBox TokenBox::all(ArrayRef<int64_t> grid) {
  SmallVector<int64_t, 3> zeros(grid.size(), 0);
  return TokenBox(grid, zeros, grid);
}

int64_t TokenBox::getNumTokens() const {
  int64_t result = 1;
  for (unsigned d = 0, e = getRank(); d < e; ++d)
    result *= std::max<int64_t>(end[d] - begin[d], 0);
  return result;
}

int64_t TokenBox::getGridSize() const { return product(grid); }

SmallVector<int64_t, 3> TokenBox::unflatten(int64_t index,
                                            ArrayRef<int64_t> grid) {
  SmallVector<int64_t, 3> coords(grid.size());
  for (int d = static_cast<int>(grid.size()) - 1; d >= 0; --d) {
    coords[d] = index % grid[d];
    index /= grid[d];
  }
  return coords;
}

static int64_t flatten(ArrayRef<int64_t> coords, ArrayRef<int64_t> grid) {
  int64_t index = 0;
  for (auto [c, extent] : llvm::zip_equal(coords, grid))
    index = index * extent + c;
  return index;
}

int64_t TokenBox::getFirstToken() const { return flatten(begin, grid); }

int64_t TokenBox::getLastToken() const {
  SmallVector<int64_t, 3> last;
  for (unsigned d = 0, e = getRank(); d < e; ++d)
    last.push_back(end[d] - 1);
  return flatten(last, grid);
}

void TokenBox::forEachRun(function_ref<void(int64_t, int64_t)> fn) const {
  if (isEmpty())
    return;
  unsigned rank = getRank();
  // Dimensions after `runDim` are whole, so each run spans them entirely.
  unsigned runDim = rank - 1;
  while (runDim > 0 && begin[runDim] == 0 && end[runDim] == grid[runDim])
    --runDim;
  SmallVector<int64_t, 3> strides(rank, 1);
  for (int d = static_cast<int>(rank) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * grid[d + 1];
  int64_t runLength = (end[runDim] - begin[runDim]) * strides[runDim];

  // Odometer over the coordinates of the dimensions before `runDim`.
  SmallVector<int64_t, 3> coords(begin.begin(), begin.begin() + runDim);
  while (true) {
    int64_t start = begin[runDim] * strides[runDim];
    for (unsigned d = 0; d < runDim; ++d)
      start += coords[d] * strides[d];
    fn(start, start + runLength);
    int d = static_cast<int>(runDim) - 1;
    for (; d >= 0; --d) {
      if (++coords[d] < end[d])
        break;
      coords[d] = begin[d];
    }
    if (d < 0)
      return;
  }
}

void TokenBox::forEachToken(function_ref<void(int64_t)> fn) const {
  forEachRun([&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i)
      fn(i);
  });
}

/// Appends the boxes of `grid` covering flat range [first, last) to `boxes`.
/// `prefix` holds the fixed coordinates of the dimensions already peeled.
static void decomposeRange(int64_t first, int64_t last, ArrayRef<int64_t> grid,
                           unsigned dim, SmallVectorImpl<int64_t> &prefix,
                           SmallVectorImpl<TokenBox> &boxes) {
  if (first >= last)
    return;
  auto emit = [&](int64_t lo, int64_t hi) {
    // Box with fixed prefix coordinates, [lo, hi) in `dim`, rest whole.
    SmallVector<int64_t, 3> b(prefix.begin(), prefix.end());
    SmallVector<int64_t, 3> e;
    for (int64_t c : prefix)
      e.push_back(c + 1);
    b.push_back(lo);
    e.push_back(hi);
    for (unsigned d = dim + 1; d < grid.size(); ++d) {
      b.push_back(0);
      e.push_back(grid[d]);
    }
    boxes.push_back(TokenBox(grid, b, e));
  };
  int64_t inner = product(grid.drop_front(dim + 1));
  if (dim + 1 == grid.size()) {
    emit(first, last);
    return;
  }
  int64_t firstRow = first / inner, firstOffset = first % inner;
  int64_t lastRow = last / inner, lastOffset = last % inner;
  auto recurseInRow = [&](int64_t row, int64_t lo, int64_t hi) {
    prefix.push_back(row);
    decomposeRange(lo, hi, grid, dim + 1, prefix, boxes);
    prefix.pop_back();
  };
  if (firstRow == lastRow) {
    recurseInRow(firstRow, firstOffset, lastOffset);
    return;
  }
  if (firstOffset != 0) {
    recurseInRow(firstRow, firstOffset, inner);
    ++firstRow;
  }
  if (firstRow < lastRow)
    emit(firstRow, lastRow);
  if (lastOffset != 0)
    recurseInRow(lastRow, 0, lastOffset);
}

SmallVector<TokenBox, 4> TokenBox::reshapeTo(ArrayRef<int64_t> otherGrid) const {
  if (ArrayRef<int64_t>(grid) == otherGrid)
    return {*this};
  assert(product(otherGrid) == getGridSize() &&
         "reshaping a box onto a grid of another size");
  SmallVector<TokenBox, 4> boxes;
  forEachRun([&](int64_t first, int64_t last) {
    SmallVector<int64_t, 3> prefix;
    decomposeRange(first, last, otherGrid, 0, prefix, boxes);
  });
  return boxes;
}

std::pair<TokenBox, TokenBox> TokenBox::split() const {
  unsigned longest = 0;
  for (unsigned d = 1, e = getRank(); d < e; ++d)
    if (getExtent(d) > getExtent(longest))
      longest = d;
  int64_t middle = begin[longest] + getExtent(longest) / 2;
  TokenBox low = *this, high = *this;
  low.end[longest] = middle;
  high.begin[longest] = middle;
  return {low, high};
}

raw_ostream &mlir::attn::operator<<(raw_ostream &os, const TokenBox &box) {
  os << "[";
  for (unsigned d = 0, e = box.getRank(); d < e; ++d)
    os << (d ? ", " : "") << box.begin[d] << ":" << box.end[d];
  os << "] of [";
  llvm::interleaveComma(box.grid, os);
  return os << "]";
}

using Run = std::pair<int64_t, int64_t>;

static SmallVector<Run> collectRuns(const TokenBox &box) {
  SmallVector<Run> runs;
  box.forEachRun([&](int64_t b, int64_t e) { runs.push_back({b, e}); });
  return runs;
}

TileClass mlir::attn::classifyByRuns(
    const TokenBox &queries, const TokenBox &keys,
    function_ref<TileClass(int64_t, int64_t, int64_t, int64_t)> classifyRuns) {
  SmallVector<Run> queryRuns = collectRuns(queries);
  SmallVector<Run> keyRuns = collectRuns(keys);
  TileClassUnion result;
  for (Run q : queryRuns) {
    for (Run k : keyRuns) {
      result.add(classifyRuns(q.first, q.second, k.first, k.second));
      if (result.isPartial())
        return TileClass::Partial;
    }
  }
  return result.get();
}

int64_t mlir::attn::countByRuns(
    const TokenBox &queries, const TokenBox &keys,
    function_ref<int64_t(int64_t, int64_t, int64_t, int64_t)> countRuns) {
  SmallVector<Run> keyRuns = collectRuns(keys);
  int64_t count = 0;
  queries.forEachRun([&](int64_t qb, int64_t qe) {
    for (Run k : keyRuns)
      count += countRuns(qb, qe, k.first, k.second);
  });
  return count;
}

TileClass mlir::attn::classifyOnGrid(
    const TokenBox &queries, const TokenBox &keys, ArrayRef<int64_t> grid,
    function_ref<TileClass(const TokenBox &, const TokenBox &)> classifyBoxes) {
  SmallVector<TokenBox, 4> queryBoxes = queries.reshapeTo(grid);
  SmallVector<TokenBox, 4> keyBoxes = keys.reshapeTo(grid);
  TileClassUnion result;
  for (const TokenBox &q : queryBoxes) {
    for (const TokenBox &k : keyBoxes) {
      result.add(classifyBoxes(q, k));
      if (result.isPartial())
        return TileClass::Partial;
    }
  }
  return result.get();
}

int64_t mlir::attn::countOnGrid(
    const TokenBox &queries, const TokenBox &keys, ArrayRef<int64_t> grid,
    function_ref<int64_t(const TokenBox &, const TokenBox &)> countBoxes) {
  SmallVector<TokenBox, 4> queryBoxes = queries.reshapeTo(grid);
  SmallVector<TokenBox, 4> keyBoxes = keys.reshapeTo(grid);
  int64_t count = 0;
  for (const TokenBox &q : queryBoxes)
    for (const TokenBox &k : keyBoxes)
      count += countBoxes(q, k);
  return count;
}
