//===- MaskCodegen.cpp - masks as IR: the element predicate ---------------===//
//
// emitKeep of every mask attribute: the rule of MaskAttrs.cpp, emitted as
// arith ops on `index` values, and the run-time tile classes and key and
// query ranges of the tile walks. Everything is built with createOrFold, so a
// predicate on constant indices folds to a constant (which is how the unit
// tests check it against the host rule on every pair).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/MaskAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Small builder for index arithmetic and i1 logic.
struct IndexMath {
  OpBuilder &b;
  Location loc;

  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value bit(bool v) { return arith::ConstantIntOp::create(b, loc, v, 1); }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(loc, x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(loc, x, y); }
  /// Division and remainder of non-negative values.
  Value div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(loc, x, y); }
  Value rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(loc, x, y); }
  Value min(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(loc, x, y); }
  Value max(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value land(Value x, Value y) { return b.createOrFold<arith::AndIOp>(loc, x, y); }
  Value lor(Value x, Value y) { return b.createOrFold<arith::OrIOp>(loc, x, y); }
  Value select(Value cond, Value x, Value y) {
    return b.createOrFold<arith::SelectOp>(loc, cond, x, y);
  }
  /// Logical shift right of a non-negative value.
  Value shr(Value x, int64_t bits) {
    return b.createOrFold<arith::ShRUIOp>(loc, x, c(bits));
  }
  /// lo <= x < hi.
  Value inRange(Value x, Value lo, Value hi) {
    return land(le(lo, x), lt(x, hi));
  }
};
} // namespace

/// [begin, end) clamped to [0, Nk) and made non-negative in length.
static std::pair<Value, Value> clampKeys(IndexMath &m, Value begin, Value end,
                                         const MaskIRContext &context) {
  Value lo = m.min(m.max(begin, m.c(0)), context.keyLength);
  Value hi = m.max(m.min(end, context.keyLength), lo);
  return {lo, hi};
}

/// [begin, end) clamped to [0, Nq) and made non-negative in length.
static std::pair<Value, Value> clampQueries(IndexMath &m, Value begin,
                                            Value end,
                                            const MaskIRContext &context) {
  Value lo = m.min(m.max(begin, m.c(0)), context.queryLength);
  Value hi = m.max(m.min(end, context.queryLength), lo);
  return {lo, hi};
}

/// The delta of causal and sliding-window masks (SEMANTICS.md 2.1).
static Value emitAlignmentDelta(IndexMath &m, CausalAlignment alignment,
                                const MaskIRContext &context) {
  if (alignment == CausalAlignment::TopLeft)
    return m.c(0);
  return m.sub(context.keyLength, context.queryLength);
}

Value DenseMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value, Value,
                              const MaskIRContext &) const {
  return IndexMath{builder, loc}.bit(true);
}

std::pair<Value, Value>
DenseMaskAttr::emitClassifyRange(OpBuilder &builder, Location loc, Value, Value,
                                 Value, Value, const MaskIRContext &) const {
  IndexMath m{builder, loc};
  return {m.bit(true), m.bit(true)};
}

std::pair<Value, Value>
NoneMaskAttr::emitClassifyRange(OpBuilder &builder, Location loc, Value, Value,
                                Value, Value, const MaskIRContext &) const {
  IndexMath m{builder, loc};
  return {m.bit(false), m.bit(false)};
}

std::pair<Value, Value>
NoneMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value, Value,
                           const MaskIRContext &) const {
  IndexMath m{builder, loc};
  return {m.c(0), m.c(0)};
}

std::pair<Value, Value>
NoneMaskAttr::emitQueryRange(OpBuilder &builder, Location loc, Value, Value,
                             const MaskIRContext &) const {
  IndexMath m{builder, loc};
  return {m.c(0), m.c(0)};
}

Value NoneMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value, Value,
                             const MaskIRContext &) const {
  return IndexMath{builder, loc}.bit(false);
}

Value CausalMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                               Value key, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return m.le(key, m.add(query, delta));
}

Value SlidingWindowMaskAttr::emitKeep(OpBuilder &builder, Location loc,
                                      Value query, Value key,
                                      const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value center = m.add(query, emitAlignmentDelta(m, getAlignment(), context));
  return m.land(m.le(m.sub(center, m.c(getLeft())), key),
                m.le(key, m.add(center, m.c(getRight()))));
}

/// keep iff lo <= j - i <= hi on contiguous ranges: the differences cover
/// [kb - (qe - 1), (ke - 1) - qb], so comparing its ends is exact.
static std::pair<Value, Value> emitBandClass(IndexMath &m, Value lo, Value hi,
                                             Value queryBegin, Value queryEnd,
                                             Value keyBegin, Value keyEnd) {
  Value one = m.c(1);
  Value minDiff = m.sub(keyBegin, m.sub(queryEnd, one));
  Value maxDiff = m.sub(m.sub(keyEnd, one), queryBegin);
  Value mayKeep = m.land(m.le(lo, maxDiff), m.le(minDiff, hi));
  Value keepsAll = m.land(m.le(lo, minDiff), m.le(maxDiff, hi));
  return {mayKeep, keepsAll};
}

std::pair<Value, Value> CausalMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  // No lower bound: any lo below the smallest possible difference.
  Value lo = m.sub(keyBegin, queryEnd);
  return emitBandClass(m, lo, delta, queryBegin, queryEnd, keyBegin, keyEnd);
}

std::pair<Value, Value>
CausalMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value,
                             Value queryEnd,
                             const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  // The last query sees keys up to (queryEnd - 1) + delta.
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return clampKeys(m, m.c(0), m.add(queryEnd, delta), context);
}

std::pair<Value, Value>
CausalMaskAttr::emitQueryRange(OpBuilder &builder, Location loc, Value keyBegin,
                               Value, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  // Key j is kept by the queries i >= j - delta.
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return clampQueries(m, m.sub(keyBegin, delta), context.queryLength, context);
}

std::pair<Value, Value>
SlidingWindowMaskAttr::emitQueryRange(OpBuilder &builder, Location loc,
                                      Value keyBegin, Value keyEnd,
                                      const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  // Key j is kept by the queries j - delta - right <= i <= j - delta + left.
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return clampQueries(m, m.sub(m.sub(keyBegin, delta), m.c(getRight())),
                      m.add(m.sub(keyEnd, delta), m.c(getLeft())), context);
}

std::pair<Value, Value>
SlidingWindowMaskAttr::emitKeyRange(OpBuilder &builder, Location loc,
                                    Value queryBegin, Value queryEnd,
                                    const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return clampKeys(m, m.sub(m.add(queryBegin, delta), m.c(getLeft())),
                   m.add(m.add(queryEnd, delta), m.c(getRight())), context);
}

std::pair<Value, Value> SlidingWindowMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value delta = emitAlignmentDelta(m, getAlignment(), context);
  return emitBandClass(m, m.sub(delta, m.c(getLeft())),
                       m.add(delta, m.c(getRight())), queryBegin, queryEnd,
                       keyBegin, keyEnd);
}

/// The outermost grid dimension of a neighborhood, which bounds the key
/// and query ranges: tokens per row of it, its extent, window and stride.
struct OuterDimension {
  int64_t inner, extent, window, stride;
};
static OuterDimension getOuterDimension(NeighborhoodMaskAttr mask) {
  int64_t inner = 1;
  for (int64_t extent : mask.getGrid().drop_front())
    inner *= extent;
  return {inner, mask.getGrid()[0], mask.getWindow()[0], mask.getStride()[0]};
}

std::pair<Value, Value>
NeighborhoodMaskAttr::emitKeyRange(OpBuilder &builder, Location loc,
                                   Value queryBegin, Value queryEnd,
                                   const MaskIRContext &context) const {
  // Bound by the outermost dimension: its windows move monotonically with
  // the coordinate, so the keys of rows x0 .. x1 lie in the rows
  // [window begin of x0, window end of x1) of the grid. Dilated outer
  // dimensions interleave their groups: no bound then.
  if (getDilation()[0] != 1)
    return detail::emitAllKeys(builder, loc, context);
  IndexMath m{builder, loc};
  // Named members, not structured bindings: the lambda below captures them.
  const OuterDimension outer = getOuterDimension(*this);
  const int64_t inner = outer.inner, extent = outer.extent,
                window = outer.window, stride = outer.stride;
  Value last = m.c(extent - 1);
  auto windowOf = [&](Value x) -> std::pair<Value, Value> {
    Value strideStart = m.mul(m.div(x, m.c(stride)), m.c(stride));
    if (getCausal()[0]) {
      Value leader = m.min(m.add(strideStart, m.c(stride - 1)), last);
      return {m.max(m.sub(leader, m.c(window - 1)), m.c(0)),
              m.add(x, m.c(1))};
    }
    Value leader = m.min(m.add(strideStart, m.c(stride / 2)), last);
    Value start = m.max(
        m.min(m.sub(leader, m.c(window / 2)), m.c(extent - window)), m.c(0));
    return {start, m.add(start, m.c(window))};
  };
  Value firstRow = m.div(queryBegin, m.c(inner));
  Value lastRow = m.div(m.sub(queryEnd, m.c(1)), m.c(inner));
  Value begin = windowOf(firstRow).first;
  Value end = windowOf(lastRow).second;
  return clampKeys(m, m.mul(begin, m.c(inner)), m.mul(end, m.c(inner)),
                   context);
}

std::pair<Value, Value>
NeighborhoodMaskAttr::emitQueryRange(OpBuilder &builder, Location loc,
                                     Value keyBegin, Value keyEnd,
                                     const MaskIRContext &context) const {
  // The inverse neighborhood along the outermost dimension: the rows x whose
  // window meets the key rows [y0, y1]. Windows move monotonically with x,
  // so these rows are contiguous.
  if (getDilation()[0] != 1)
    return detail::emitAllQueries(builder, loc, context);
  IndexMath m{builder, loc};
  auto [inner, extent, window, stride] = getOuterDimension(*this);
  Value y0 = m.div(keyBegin, m.c(inner));
  Value y1 = m.div(m.sub(keyEnd, m.c(1)), m.c(inner));
  // Windows belong to stride groups g = x / stride and move monotonically
  // with g, so the rows are those of the groups [gFirst, gLast]: inverting
  // the window's start (the rule of emitKeep) at y0 and y1.
  Value first, last;
  Value s = m.c(stride), zero = m.c(0), minusOne = m.c(-1);
  // floor(a / stride) of a >= -stride (DivUI needs a non-negative value).
  auto groupFloor = [&](Value a) {
    return m.sub(m.div(m.add(a, s), s), m.c(1));
  };
  if (getCausal()[0]) {
    // x's window [max(leader - window + 1, 0), x] with leader =
    // min(g stride + stride - 1, extent - 1): it reaches y1 while its
    // start is at most y1, and y0 only from x >= y0 on.
    first = y0;
    Value reach = m.add(y1, m.c(window - 1)); // the last leader
    Value gLast = m.select(m.le(m.c(extent - 1), reach), m.c(extent),
                           groupFloor(m.sub(reach, m.c(stride - 1))));
    last = m.select(m.lt(gLast, zero), minusOne,
                    m.sub(m.mul(m.add(gLast, m.c(1)), s), m.c(1)));
  } else {
    // Exact: x's window starts at clamp(leader - window / 2, 0,
    // extent - window) with leader = min(g stride + stride / 2,
    // extent - 1). It meets [y0, y1] when that start lies in
    // [y0 - window + 1, y1].
    int64_t half = stride / 2;
    Value low = m.sub(y0, m.c(window - 1)); // the least start
    Value lowLeader = m.add(low, m.c(window / 2));
    Value gFirst = m.select(
        m.le(low, zero), zero,
        m.div(m.add(m.max(m.sub(lowLeader, m.c(half)), zero), m.c(stride - 1)),
              s));
    Value highLeader = m.add(y1, m.c(window / 2)); // the greatest leader
    Value gLast = m.select(m.le(m.c(extent - window), y1), m.c(extent),
                           groupFloor(m.sub(highLeader, m.c(half))));
    first = m.mul(gFirst, s);
    last = m.select(m.lt(gLast, zero), minusOne,
                    m.sub(m.mul(m.add(gLast, m.c(1)), s), m.c(1)));
  }
  first = m.max(first, m.c(0));
  last = m.min(last, m.c(extent - 1));
  // No row (last < first) gives an empty range. Lengths other than the
  // grid's (a run-time segment the grid does not describe) wrap the
  // coordinates (emitKeep): every query then.
  Value gridSize = m.c(inner * extent);
  Value onGrid = m.land(m.eq(context.queryLength, gridSize),
                        m.eq(context.keyLength, gridSize));
  auto [begin, end] =
      clampQueries(m, m.mul(first, m.c(inner)),
                   m.mul(m.add(last, m.c(1)), m.c(inner)), context);
  return {m.select(onGrid, begin, m.c(0)),
          m.select(onGrid, end, context.queryLength)};
}

Value NeighborhoodMaskAttr::emitKeep(OpBuilder &builder, Location loc,
                                     Value query, Value key,
                                     const MaskIRContext &) const {
  IndexMath m{builder, loc};
  Value keep = m.bit(true);
  int64_t inner = 1;
  for (int d = static_cast<int>(getRank()) - 1; d >= 0; --d) {
    int64_t extent = getGrid()[d], window = getWindow()[d];
    int64_t stride = getStride()[d], dilation = getDilation()[d];
    Value x = m.rem(m.div(query, m.c(inner)), m.c(extent));
    Value y = m.rem(m.div(key, m.c(inner)), m.c(extent));
    inner *= extent;
    // Dilation groups: x and y must agree mod d; a, b index the group.
    Value dil = m.c(dilation);
    Value group = m.rem(x, dil), a = m.div(x, dil), b = m.div(y, dil);
    Value sameGroup = m.eq(m.rem(y, dil), group);
    Value groupLength = m.div(m.sub(m.c(extent + dilation - 1), group), dil);
    Value last = m.sub(groupLength, m.c(1));
    Value strideStart = m.mul(m.div(a, m.c(stride)), m.c(stride));
    Value inWindow;
    if (getCausal()[d]) {
      Value leader = m.min(m.add(strideStart, m.c(stride - 1)), last);
      Value first = m.max(m.sub(leader, m.c(window - 1)), m.c(0));
      inWindow = m.land(m.le(first, b), m.le(b, a));
    } else {
      Value leader = m.min(m.add(strideStart, m.c(stride / 2)), last);
      Value start = m.max(m.min(m.sub(leader, m.c(window / 2)),
                                m.sub(groupLength, m.c(window))),
                          m.c(0));
      inWindow = m.inRange(b, start, m.add(start, m.c(window)));
    }
    keep = m.land(keep, m.land(sameGroup, inWindow));
  }
  return keep;
}

std::pair<Value, Value>
PowerLawMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value,
                               Value queryEnd,
                               const MaskIRContext &context) const {
  if (!getCausal())
    return detail::emitAllKeys(builder, loc, context);
  IndexMath m{builder, loc};
  return clampKeys(m, m.c(0), queryEnd, context);
}

std::pair<Value, Value>
PowerLawMaskAttr::emitQueryRange(OpBuilder &builder, Location loc,
                                 Value keyBegin, Value,
                                 const MaskIRContext &context) const {
  // The sink blocks and the power-of-two offsets reach every query block;
  // only causality bounds the queries.
  if (!getCausal())
    return detail::emitAllQueries(builder, loc, context);
  IndexMath m{builder, loc};
  return clampQueries(m, keyBegin, context.queryLength, context);
}

/// x > 0 and a power of two.
static Value emitIsPowerOfTwo(IndexMath &m, Value x) {
  return m.land(m.lt(m.c(0), x), m.eq(m.b.createOrFold<arith::AndIOp>(
                                          m.loc, x, m.sub(x, m.c(1))),
                                      m.c(0)));
}

/// The largest power of two <= x for 0 < x < 2^32 (block offsets), 0 for
/// x <= 0: x's bits smeared right, less their half.
static Value emitFloorPowerOfTwo(IndexMath &m, Value x) {
  Value smeared = m.max(x, m.c(0));
  for (int64_t bits : {1, 2, 4, 8, 16})
    smeared = m.lor(smeared, m.shr(smeared, bits));
  return m.sub(smeared, m.shr(smeared, 1));
}

/// The block rule of the power-law mask (PowerLawMaskAttr::keepBlocks):
/// key block < sink, or delta < window, or delta a power of two.
static Value emitKeepBlocks(IndexMath &m, PowerLawMaskAttr mask,
                            Value queryBlock, Value keyBlock) {
  Value delta = m.sub(queryBlock, keyBlock);
  if (!mask.getCausal())
    delta = m.max(delta, m.sub(m.c(0), delta));
  return m.lor(
      m.lt(keyBlock, m.c(mask.getSink())),
      m.lor(m.lt(delta, m.c(mask.getWindow())), emitIsPowerOfTwo(m, delta)));
}

/// Whether the block rule keeps some offset in [lo, hi] (0 <= lo <= hi):
/// one under the window, or a power of two at least max(lo, 1).
static Value emitSomeOffsetKept(IndexMath &m, PowerLawMaskAttr mask, Value lo,
                                Value hi) {
  return m.lor(m.lt(lo, m.c(mask.getWindow())),
               m.le(m.max(lo, m.c(1)), emitFloorPowerOfTwo(m, hi)));
}

/// Whether it keeps every offset in [lo, hi] (0 <= lo): those from the
/// window on must all be powers of two, which consecutive integers are
/// only one at a time or as {1, 2}.
static Value emitEveryOffsetKept(IndexMath &m, PowerLawMaskAttr mask, Value lo,
                                 Value hi) {
  Value first = m.max(lo, m.c(mask.getWindow()));
  return m.lor(m.lt(hi, first),
               m.lor(m.land(m.eq(first, hi), emitIsPowerOfTwo(m, first)),
                     m.land(m.eq(first, m.c(1)), m.eq(hi, m.c(2)))));
}

/// The absolute values of the integers in [lo, hi], as an interval.
static std::pair<Value, Value> emitAbsoluteRange(IndexMath &m, Value lo,
                                                 Value hi) {
  Value zero = m.c(0);
  return {m.max(m.max(lo, m.sub(zero, hi)), zero), m.max(m.sub(zero, lo), hi)};
}

std::pair<Value, Value> PowerLawMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &) const {
  // Closed form over the block pairs the tile spans, query blocks [a, b]
  // and key blocks [c, d]: their offsets qb - kb fill [a - d, b - c], and
  // the rule is a predicate on the offset (the sink one on the key block),
  // so "some pair kept" and "every pair kept" are questions about an
  // interval of offsets. Exact for every tile (PowerLawMaskAttr::classifyTile).
  IndexMath m{builder, loc};
  Value blockSize = m.c(getBlock()), one = m.c(1), sink = m.c(getSink());
  Value a = m.div(queryBegin, blockSize);
  Value b = m.div(m.sub(queryEnd, one), blockSize);
  Value c = m.div(keyBegin, blockSize);
  Value d = m.div(m.sub(keyEnd, one), blockSize);
  // Key blocks past the sink, [cPast, d]: only they can drop a pair.
  Value cPast = m.max(c, sink);
  Value allInSink = m.lt(d, cPast);
  if (!getCausal()) {
    auto [lo, hi] = emitAbsoluteRange(m, m.sub(a, d), m.sub(b, c));
    auto [loPast, hiPast] = emitAbsoluteRange(m, m.sub(a, d), m.sub(b, cPast));
    return {m.lor(m.lt(c, sink), emitSomeOffsetKept(m, *this, lo, hi)),
            m.lor(allInSink, emitEveryOffsetKept(m, *this, loPast, hiPast))};
  }
  // Causal: j <= i. Block pairs below the diagonal (offset >= 1) keep every
  // token pair or none. On the diagonal (offset 0) some pair has j <= i
  // unless the tile's first key is past its last query of key block c
  // (the diagonal's other blocks, after c, always have one).
  Value hi = m.sub(b, c);
  Value below =
      m.land(m.le(one, hi),
             m.lor(m.lt(c, sink),
                   emitSomeOffsetKept(m, *this, m.max(m.sub(a, d), one), hi)));
  Value diagonalFirst = m.max(a, c), diagonalLast = m.min(b, d);
  if (getWindow() == 0) // offset 0 is kept in the sink only
    diagonalLast = m.min(diagonalLast, m.sub(sink, one));
  Value lastQueryOfC =
      m.sub(m.min(queryEnd, m.mul(m.add(c, one), blockSize)), one);
  Value onDiagonal =
      m.land(m.le(diagonalFirst, diagonalLast), m.le(keyBegin, lastQueryOfC));
  // Every pair: every key at or before every query, and every offset of
  // the blocks past the sink kept.
  Value keysBeforeQueries = m.le(m.sub(keyEnd, one), queryBegin);
  Value everyBlock = m.lor(
      allInSink, emitEveryOffsetKept(m, *this, m.sub(a, d), m.sub(b, cPast)));
  return {m.lor(below, onDiagonal), m.land(keysBeforeQueries, everyBlock)};
}

Value PowerLawMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                                 Value key, const MaskIRContext &) const {
  IndexMath m{builder, loc};
  Value blockSize = m.c(getBlock());
  Value queryBlock = m.div(query, blockSize), keyBlock = m.div(key, blockSize);
  Value blocks = emitKeepBlocks(m, *this, queryBlock, keyBlock);
  if (!getCausal())
    return blocks;
  return m.land(m.le(key, query), blocks);
}

/// The prefix offsets of a segments mask's query (`ofKeys` false) or key
/// segments, static or from the run-time operand.
static SmallVector<Value> emitSegmentOffsets(IndexMath &m,
                                             SegmentsMaskAttr mask, bool ofKeys,
                                             const MaskIRContext &context) {
  ArrayRef<int64_t> sizes = ofKeys ? mask.getKeySizes() : mask.getQuerySizes();
  SmallVector<Value> result;
  int64_t total = 0;
  for (size_t p = 0; p <= sizes.size(); ++p) {
    if (mask.hasDynamicSizes()) {
      result.push_back(context.segmentOffset(m.b, m.loc, ofKeys, p));
      continue;
    }
    result.push_back(m.c(total));
    if (p < sizes.size())
      total += sizes[p];
  }
  return result;
}

Value SegmentsMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                                 Value key,
                                 const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  SmallVector<Value> queryOffsets =
      emitSegmentOffsets(m, *this, false, context);
  SmallVector<Value> keyOffsets = emitSegmentOffsets(m, *this, true, context);
  // OR over segment pairs of (query in a) & (key in b) & entry(local indices).
  Value keep = m.bit(false);
  for (int64_t a = 0; a < getNumQuerySegments(); ++a) {
    for (int64_t b = 0; b < getNumKeySegments(); ++b) {
      MaskAttrInterface entry = getEntry(a, b);
      if (isa<NoneMaskAttr>(entry))
        continue;
      Value q0 = queryOffsets[a], q1 = queryOffsets[a + 1];
      Value k0 = keyOffsets[b], k1 = keyOffsets[b + 1];
      Value inside =
          m.land(m.inRange(query, q0, q1), m.inRange(key, k0, k1));
      MaskIRContext local = context.forSegment(m.sub(q1, q0), m.sub(k1, k0));
      Value entryKeep = entry.emitKeep(builder, loc, m.sub(query, q0),
                                       m.sub(key, k0), local);
      keep = m.lor(keep, m.land(inside, entryKeep));
    }
  }
  return keep;
}

std::pair<Value, Value>
SegmentsMaskAttr::emitQueryRange(OpBuilder &builder, Location loc,
                                 Value keyBegin, Value keyEnd,
                                 const MaskIRContext &context) const {
  // The transposed visibility table: the hull, over the key segments b the
  // keys meet and the query segments a with a non-empty entry (a, b), of the
  // entry's own query range on the segment-local keys.
  IndexMath m{builder, loc};
  SmallVector<Value> queryOffsets =
      emitSegmentOffsets(m, *this, false, context);
  SmallVector<Value> keyOffsets = emitSegmentOffsets(m, *this, true, context);
  Value begin = context.queryLength, end = m.c(0);
  for (int64_t b = 0; b < getNumKeySegments(); ++b) {
    Value k0 = keyOffsets[b], k1 = keyOffsets[b + 1];
    Value meets = m.land(m.lt(keyBegin, k1), m.lt(k0, keyEnd));
    Value keyLength = m.sub(k1, k0);
    Value localBegin = m.min(m.max(m.sub(keyBegin, k0), m.c(0)), keyLength);
    Value localEnd = m.max(m.min(m.sub(keyEnd, k0), keyLength), localBegin);
    for (int64_t a = 0; a < getNumQuerySegments(); ++a) {
      MaskAttrInterface entry = getEntry(a, b);
      if (isa<NoneMaskAttr>(entry))
        continue;
      Value q0 = queryOffsets[a], q1 = queryOffsets[a + 1];
      MaskIRContext local = context.forSegment(m.sub(q1, q0), keyLength);
      auto [entryBegin, entryEnd] =
          entry.emitQueryRange(builder, loc, localBegin, localEnd, local);
      Value found = m.land(meets, m.lt(entryBegin, entryEnd));
      begin = m.select(found, m.min(begin, m.add(q0, entryBegin)), begin);
      end = m.select(found, m.max(end, m.add(q0, entryEnd)), end);
    }
  }
  return {begin, m.max(end, begin)};
}

Value AndMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                            Value key, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value keep = m.bit(true);
  for (MaskAttrInterface member : getMembers())
    keep = m.land(keep, member.emitKeep(builder, loc, query, key, context));
  return keep;
}

/// `and` may keep only if every member may, keeps all if every member does;
/// `or` may keep if any member may, keeps all if any member does. Both are
/// safe (never call a non-empty tile empty, nor a non-full tile full).
static std::pair<Value, Value>
emitCompositeClass(OpBuilder &builder, Location loc, bool isAnd,
                   ArrayRef<MaskAttrInterface> members, Value queryBegin,
                   Value queryEnd, Value keyBegin, Value keyEnd,
                   const MaskIRContext &context) {
  IndexMath m{builder, loc};
  Value mayKeep = m.bit(isAnd), keepsAll = m.bit(isAnd);
  for (MaskAttrInterface member : members) {
    auto [memberMay, memberAll] = member.emitClassifyRange(
        builder, loc, queryBegin, queryEnd, keyBegin, keyEnd, context);
    mayKeep = isAnd ? m.land(mayKeep, memberMay) : m.lor(mayKeep, memberMay);
    keepsAll = isAnd ? m.land(keepsAll, memberAll) : m.lor(keepsAll, memberAll);
  }
  return {mayKeep, keepsAll};
}

/// `and`: the intersection of the members' ranges; `or`: their hull. The
/// ranges are key ranges or query ranges, whichever `memberRange` emits.
static std::pair<Value, Value> emitCompositeRange(
    OpBuilder &builder, Location loc, bool isAnd,
    ArrayRef<MaskAttrInterface> members,
    function_ref<std::pair<Value, Value>(MaskAttrInterface)> memberRange) {
  IndexMath m{builder, loc};
  Value begin, end;
  for (MaskAttrInterface member : members) {
    auto [memberBegin, memberEnd] = memberRange(member);
    if (!begin) {
      begin = memberBegin;
      end = memberEnd;
      continue;
    }
    begin = isAnd ? m.max(begin, memberBegin) : m.min(begin, memberBegin);
    end = isAnd ? m.min(end, memberEnd) : m.max(end, memberEnd);
  }
  return {begin, m.max(end, begin)};
}

static std::pair<Value, Value>
emitCompositeKeyRange(OpBuilder &builder, Location loc, bool isAnd,
                      ArrayRef<MaskAttrInterface> members, Value queryBegin,
                      Value queryEnd, const MaskIRContext &context) {
  return emitCompositeRange(
      builder, loc, isAnd, members, [&](MaskAttrInterface member) {
        return member.emitKeyRange(builder, loc, queryBegin, queryEnd, context);
      });
}

static std::pair<Value, Value>
emitCompositeQueryRange(OpBuilder &builder, Location loc, bool isAnd,
                        ArrayRef<MaskAttrInterface> members, Value keyBegin,
                        Value keyEnd, const MaskIRContext &context) {
  return emitCompositeRange(
      builder, loc, isAnd, members, [&](MaskAttrInterface member) {
        return member.emitQueryRange(builder, loc, keyBegin, keyEnd, context);
      });
}

std::pair<Value, Value>
AndMaskAttr::emitQueryRange(OpBuilder &builder, Location loc, Value keyBegin,
                            Value keyEnd, const MaskIRContext &context) const {
  return emitCompositeQueryRange(builder, loc, /*isAnd=*/true, getMembers(),
                                 keyBegin, keyEnd, context);
}

std::pair<Value, Value>
OrMaskAttr::emitQueryRange(OpBuilder &builder, Location loc, Value keyBegin,
                           Value keyEnd, const MaskIRContext &context) const {
  return emitCompositeQueryRange(builder, loc, /*isAnd=*/false, getMembers(),
                                 keyBegin, keyEnd, context);
}

std::pair<Value, Value>
AndMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value queryBegin,
                          Value queryEnd, const MaskIRContext &context) const {
  return emitCompositeKeyRange(builder, loc, /*isAnd=*/true, getMembers(),
                               queryBegin, queryEnd, context);
}

std::pair<Value, Value>
OrMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value queryBegin,
                         Value queryEnd, const MaskIRContext &context) const {
  return emitCompositeKeyRange(builder, loc, /*isAnd=*/false, getMembers(),
                               queryBegin, queryEnd, context);
}

std::pair<Value, Value> AndMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &context) const {
  return emitCompositeClass(builder, loc, /*isAnd=*/true, getMembers(),
                            queryBegin, queryEnd, keyBegin, keyEnd, context);
}

std::pair<Value, Value> OrMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &context) const {
  return emitCompositeClass(builder, loc, /*isAnd=*/false, getMembers(),
                            queryBegin, queryEnd, keyBegin, keyEnd, context);
}

Value OrMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                           Value key, const MaskIRContext &context) const {
  IndexMath m{builder, loc};
  Value keep = m.bit(false);
  for (MaskAttrInterface member : getMembers())
    keep = m.lor(keep, member.emitKeep(builder, loc, query, key, context));
  return keep;
}

//===----------------------------------------------------------------------===//
// shard: the mask at global positions, with the global lengths
//===----------------------------------------------------------------------===//

static MaskIRContext globalIRContext(OpBuilder &builder, Location loc,
                                     ShardMaskAttr shard) {
  IndexMath m{builder, loc};
  MaskIRContext global;
  global.queryLength = m.c(shard.getQueryLength());
  global.keyLength = m.c(shard.getKeyLength());
  return global;
}

Value ShardMaskAttr::emitKeep(OpBuilder &builder, Location loc, Value query,
                              Value key, const MaskIRContext &) const {
  IndexMath m{builder, loc};
  return getMask().emitKeep(builder, loc, m.add(query, m.c(getQueryStart())),
                            m.add(key, m.c(getKeyStart())),
                            globalIRContext(builder, loc, *this));
}

std::pair<Value, Value> ShardMaskAttr::emitClassifyRange(
    OpBuilder &builder, Location loc, Value queryBegin, Value queryEnd,
    Value keyBegin, Value keyEnd, const MaskIRContext &) const {
  IndexMath m{builder, loc};
  Value qs = m.c(getQueryStart()), ks = m.c(getKeyStart());
  return getMask().emitClassifyRange(
      builder, loc, m.add(queryBegin, qs), m.add(queryEnd, qs),
      m.add(keyBegin, ks), m.add(keyEnd, ks),
      globalIRContext(builder, loc, *this));
}

std::pair<Value, Value>
ShardMaskAttr::emitKeyRange(OpBuilder &builder, Location loc, Value queryBegin,
                            Value queryEnd,
                            const MaskIRContext &context) const {
  // The global key range, moved to local indices and clipped to [0, Nk).
  IndexMath m{builder, loc};
  Value qs = m.c(getQueryStart()), ks = m.c(getKeyStart());
  auto [begin, end] = getMask().emitKeyRange(
      builder, loc, m.add(queryBegin, qs), m.add(queryEnd, qs),
      globalIRContext(builder, loc, *this));
  Value zero = m.c(0);
  Value localBegin = m.min(m.max(m.sub(begin, ks), zero), context.keyLength);
  Value localEnd = m.min(m.max(m.sub(end, ks), zero), context.keyLength);
  return {localBegin, m.max(localEnd, localBegin)};
}

std::pair<Value, Value>
ShardMaskAttr::emitQueryRange(OpBuilder &builder, Location loc, Value keyBegin,
                              Value keyEnd,
                              const MaskIRContext &context) const {
  // The global query range, moved to local indices and clipped to [0, Nq).
  IndexMath m{builder, loc};
  Value qs = m.c(getQueryStart()), ks = m.c(getKeyStart());
  auto [begin, end] = getMask().emitQueryRange(
      builder, loc, m.add(keyBegin, ks), m.add(keyEnd, ks),
      globalIRContext(builder, loc, *this));
  return clampQueries(m, m.sub(begin, qs), m.sub(end, qs), context);
}
