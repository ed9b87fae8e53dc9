//===- MaskTiles.h - token boxes, tile classes, mask context ----*- C++ -*-===//
//
// The vocabulary of the mask interface: a TokenBox is an N-D rectangle of a
// row-major token grid (a 1-D grid is a plain index range), a TileClass says
// how much of a query box x key box a mask keeps, and a MaskContext carries
// the sequence lengths a mask needs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_MASKTILES_H
#define ATTN_DIALECT_ATTN_IR_MASKTILES_H

#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/raw_ostream.h"
#include <cstdint>
#include <functional>
#include <optional>

namespace mlir {
class OpBuilder;
namespace attn {

/// How much of a tile a mask keeps.
enum class TileClass { Empty, Partial, Full };

StringRef stringifyTileClass(TileClass tileClass);

/// Classification of a union of disjoint parts, built one part at a time.
class TileClassUnion {
public:
  void add(TileClass part) {
    if (!result)
      result = part;
    else if (*result != part)
      result = TileClass::Partial;
  }
  bool isPartial() const { return result == TileClass::Partial; }
  /// The class of the union; an empty union keeps nothing.
  TileClass get() const { return result.value_or(TileClass::Empty); }

private:
  std::optional<TileClass> result;
};

/// Sequence lengths and, for run-time segments, the segment offsets of one
/// batch element. Negative lengths are dynamic.
struct MaskContext {
  int64_t queryLength = -1;
  int64_t keyLength = -1;
  /// Prefix offsets [0, q0, q0+q1, ...] of query and key segments, when the
  /// mask has run-time segment sizes.
  SmallVector<int64_t> querySegmentOffsets;
  SmallVector<int64_t> keySegmentOffsets;

  MaskContext() = default;
  MaskContext(int64_t queryLength, int64_t keyLength)
      : queryLength(queryLength), keyLength(keyLength) {}
  bool hasStaticLengths() const { return queryLength >= 0 && keyLength >= 0; }
  /// The context of the sub-problem of one segment pair.
  MaskContext forSegment(int64_t queryLength, int64_t keyLength) const {
    return MaskContext(queryLength, keyLength);
  }
};

/// The IR counterpart of MaskContext, for emitKeep: `index` values of the
/// sequence lengths, and a callback that emits the run-time segment offset
/// `position` (0 .. S) of the query (`ofKeys` false) or key list.
struct MaskIRContext {
  Value queryLength;
  Value keyLength;
  std::function<Value(OpBuilder &, Location, bool ofKeys, int64_t position)>
      segmentOffset;

  /// The context of segment-local indices with the given lengths.
  MaskIRContext forSegment(Value queryLength, Value keyLength) const {
    MaskIRContext local;
    local.queryLength = queryLength;
    local.keyLength = keyLength;
    return local;
  }
};

/// An N-D box [begin, end) of a row-major token grid. A 1-D grid [N] with
/// one range is a plain index range.
struct TokenBox {
  SmallVector<int64_t, 3> grid;
  SmallVector<int64_t, 3> begin;
  SmallVector<int64_t, 3> end;

  TokenBox() = default;
  TokenBox(ArrayRef<int64_t> grid, ArrayRef<int64_t> begin,
           ArrayRef<int64_t> end)
      : grid(grid), begin(begin), end(end) {}
  /// The flat index range [begin, end) of a sequence of `length` tokens.
  static TokenBox range(int64_t length, int64_t begin, int64_t end) {
    int64_t grid[] = {length}, first[] = {begin}, last[] = {end};
    return TokenBox(grid, first, last);
  }
  /// The whole grid.
  static TokenBox all(ArrayRef<int64_t> grid);

  unsigned getRank() const { return grid.size(); }
  int64_t getNumTokens() const;
  int64_t getGridSize() const;
  bool isEmpty() const { return getNumTokens() == 0; }
  int64_t getExtent(unsigned dim) const { return end[dim] - begin[dim]; }

  /// Calls `fn(flatBegin, flatEnd)` on the maximal contiguous runs of flat
  /// indices the box covers, in increasing order.
  void forEachRun(function_ref<void(int64_t, int64_t)> fn) const;
  /// Calls `fn(flatIndex)` on every token of the box, in increasing order.
  void forEachToken(function_ref<void(int64_t)> fn) const;
  /// The smallest and largest flat index of a non-empty box.
  int64_t getFirstToken() const;
  int64_t getLastToken() const;
  /// The same tokens as disjoint boxes of `otherGrid`, which must have the
  /// same number of tokens.
  SmallVector<TokenBox, 4> reshapeTo(ArrayRef<int64_t> otherGrid) const;
  /// Splits a box of at least two tokens in two halves along its longest
  /// dimension.
  std::pair<TokenBox, TokenBox> split() const;
  /// Row-major coordinates of a flat index on `grid`.
  static SmallVector<int64_t, 3> unflatten(int64_t index,
                                           ArrayRef<int64_t> grid);
};

raw_ostream &operator<<(raw_ostream &os, const TokenBox &box);

/// Classifies `queries` x `keys` by splitting both into contiguous flat
/// runs and asking `classifyRuns(queryBegin, queryEnd, keyBegin, keyEnd)`.
/// Exact when `classifyRuns` is: used by masks defined on flat indices.
TileClass classifyByRuns(
    const TokenBox &queries, const TokenBox &keys,
    function_ref<TileClass(int64_t, int64_t, int64_t, int64_t)> classifyRuns);

/// Sums `countRuns(queryBegin, queryEnd, keyBegin, keyEnd)` over the runs.
int64_t countByRuns(
    const TokenBox &queries, const TokenBox &keys,
    function_ref<int64_t(int64_t, int64_t, int64_t, int64_t)> countRuns);

/// Splits the tiles into the boxes of `grid` (for masks defined on a grid)
/// and calls `classifyBoxes` on every pair of boxes, combining the results.
TileClass classifyOnGrid(
    const TokenBox &queries, const TokenBox &keys, ArrayRef<int64_t> grid,
    function_ref<TileClass(const TokenBox &, const TokenBox &)> classifyBoxes);
int64_t countOnGrid(
    const TokenBox &queries, const TokenBox &keys, ArrayRef<int64_t> grid,
    function_ref<int64_t(const TokenBox &, const TokenBox &)> countBoxes);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_IR_MASKTILES_H
