//===- LoopNestEmitter.h - the CPU loop nest of attn.attention --*- C++ -*-===//
//
// Private to AttnToLoops: the emitter of attn-lower-to-loops, split over
// AttnToLoops.cpp (the schedule, masks, heads) and LowerQuantization.cpp
// (the quantization pre-passes and roundings of SEMANTICS.md section 3).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPNESTEMITTER_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPNESTEMITTER_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Utils/Schedule.h"
#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

#include <functional>

namespace mlir {
namespace attn {
namespace detail {

/// Keys per rounding of an f16 P.V accumulator (pv_accum = f16).
inline constexpr int64_t kF16Chunk = 16;

/// Emits the quantization pre-steps of SEMANTICS.md section 3 on memrefs
/// (the lowering of attn.key_mean, attn.query_block_mean, attn.quantize_rows
/// and attn.quantize_value, and the pre-passes of an attn.attention that
/// carries no quantized bundle), plus the builder helpers the loop nest
/// shares. Quantization arithmetic runs in f64 with f32 scales.
class QuantizationEmitter {
public:
  QuantizationEmitter(OpBuilder &builder, Location loc)
      : b(builder), loc(loc) {}

  /// The mean subtracted from element (batch, head, token, channel) before
  /// quantization (smoothing), as an f64.
  using MeanFn = std::function<Value(Value, Value, Value, Value)>;
  /// `mean` [B, H, D] per channel, or [B, H, blocks, D] per block of
  /// `meanBlock` tokens; null when `mean` is.
  MeanFn getMeanFn(Value mean, int64_t meanBlock);

  /// smooth_k: mean [B, Hkv, D] of `key` [B, Hkv, Nk, D] over the keys.
  void emitKeyMean(Value key, Value mean);
  /// smooth_q: the means of Q over blocks of `block` queries and the
  /// correction dS[block, j] = dot(mean_q, K'[j]), K' = K - keyMean when
  /// given.
  void emitQueryBlockMeans(Value query, Value key, Value keyMean, int64_t block,
                           Value means, Value correction);
  /// Quantizes `src` [B, H, N, D] (minus `mean`) per scale group of
  /// `precision`'s qk granularity into `values` and `scales` [B, H, N, S].
  void emitQuantizeRows(Value src, const MeanFn &mean, PrecisionAttr precision,
                        Value values, Value scales);
  /// Unquantized Q' or K': `src` minus `mean`, rounded to `roundTo` when
  /// given (a 16-bit float), into `values` (smoothing without quantization).
  void emitSmoothedRows(Value src, const MeanFn &mean, Type roundTo,
                        Value values);
  /// V [B, Hkv, Nk, Dv] as P.V in `to` reads it: FP8 values with channel
  /// `scales`, dequantized NVFP4 values, or values rounded to f16 / bf16.
  void emitQuantizeValue(Value value, Type to, Value values, Value scales);

protected:
  // Constants and arithmetic.
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value f64(double v) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
  }
  /// Widens a float to f64 (quantization arithmetic is exact there).
  Value toF64(Value v) {
    if (v.getType().isF64())
      return v;
    return arith::ExtFOp::create(b, loc, b.getF64Type(), v);
  }
  Value negInf() {
    return arith::ConstantOp::create(
        b, loc,
        b.getFloatAttr(b.getF32Type(),
                       APFloat::getInf(APFloat::IEEEsingle(), true)));
  }
  Value dim(Value memref, int64_t d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  Value load(Value memref, ValueRange indices) {
    return memref::LoadOp::create(b, loc, memref, indices);
  }
  void store(Value value, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, value, memref, indices);
  }
  /// Widens (or narrows) a float to f32.
  Value toF32(Value v) {
    auto type = cast<FloatType>(v.getType());
    if (type.isF32())
      return v;
    if (type.getWidth() < 32)
      return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
    return arith::TruncFOp::create(b, loc, b.getF32Type(), v);
  }
  Value fromF32(Value v, Type type) {
    if (type.isF32())
      return v;
    if (cast<FloatType>(type).getWidth() < 32)
      return arith::TruncFOp::create(b, loc, type, v);
    return arith::ExtFOp::create(b, loc, type, v);
  }
  static Type elementType(Value memref) {
    return cast<MemRefType>(memref.getType()).getElementType();
  }
  /// An f64 result in the element type of the buffer `dest` stores.
  Value fromF64(Value v, Value dest) {
    Type type = elementType(dest);
    if (type.isF64())
      return v;
    return arith::TruncFOp::create(b, loc, type, v);
  }
  /// Rounds an f32 to `type` and back (P is rounded to V's type).
  Value roundThrough(Value v, Type type) {
    if (type.isF32() || cast<FloatType>(type).getWidth() > 32)
      return v;
    return toF32(fromF32(v, type));
  }
  /// for (iv = lb; iv < ub; ++iv) body(iv).
  void loop(Value lb, Value ub, function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, index(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    body(forOp.getInductionVar());
  }
  /// A loop carrying one f32 value.
  Value reduce(Value lb, Value ub, Value init,
               function_ref<Value(Value, Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, index(1), init);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    Value next = body(forOp.getInductionVar(), forOp.getRegionIterArgs()[0]);
    scf::YieldOp::create(b, loc, next);
    return forOp.getResult(0);
  }

  /// NVFP4 Q.K: one E4M3 scale per 16 channels of a token.
  void emitQuantizeRowsNvfp4(Value src, const MeanFn &mean, Value values,
                             Value blockScales);
  /// x rounded to a finite-only minifloat: round to nearest even,
  /// saturating at `maxValue`.
  Value roundToMinifloat(Value x, int64_t mantissaBits, int64_t minExponent,
                         double maxValue);
  /// E4M3FN: 3 mantissa bits, exponents from -6, at most 448.
  Value roundToF8E4M3FN(Value x) { return roundToMinifloat(x, 3, -6, 448); }
  /// E2M1FN: values 0, 0.5, 1, 1.5, 2, 3, 4, 6.
  Value roundToF4E2M1FN(Value x) { return roundToMinifloat(x, 1, 0, 6); }
  /// NVFP4 block value: 0 when the block scale rounded to 0, else
  /// E2M1(x / scale) (f64 values).
  Value quantizeNvfp4(Value x, Value blockScale);
  /// NVFP4 block scale E4M3(max / 6), 1 for an all-zero block (f64).
  Value nvfp4BlockScale(Value absMax);
  bool isNvfp4(Type t) { return t && isa<Float4E2M1FNType>(t); }
  Value roundToF16(Value x) { return toF32(fromF32(x, b.getF16Type())); }

  OpBuilder &b;
  Location loc;
};

/// Emits the pre-steps `precision` needs for `op` (an attn.attention
/// without a quantized bundle) into `buffers`, one per role of
/// op.getQuantizedRoles(precision): the loops its ops would lower to.
void emitQuantizationSteps(AttentionOp op, PrecisionAttr precision,
                           const DenseMap<QuantizedRole, Value> &buffers,
                           QuantizationEmitter &emitter);

/// The tiles a loop nest walks: the pass's flat `queryTile` / `keyTile`
/// when either is non-zero, else the op's tiling (N-D tilings walk boxes of
/// the masks' token grid), else 16 x 16. The op's compile-time tile classes
/// describe its own tiling only: `useTileClasses` says whether they apply.
struct LoopTiles {
  SmallVector<int64_t> queries, keys, grid;
  bool useTileClasses = false;
};
LoopTiles getLoopTiles(AttentionProblemOpInterface op, int64_t queryTile,
                       int64_t keyTile);

/// What the loop nests of the forward (attn.attention) and of its gradients
/// (attn.attention_grad) share: the problem's sizes, scale and mask context,
/// the tiles, the heads and the pair operands. Scalar code: the point is the
/// schedule (tiles, masking, head rules), not CPU speed.
class ProblemEmitter : public QuantizationEmitter {
protected:
  /// Tiles of `tiles.queries` x `tiles.keys` tokens: flat ranges when
  /// `tiles.grid` is empty, else boxes of that token grid (an N-D tiling).
  ProblemEmitter(AttentionProblemOpInterface problem, OpBuilder &builder,
                 const LoopTiles &tiles)
      : QuantizationEmitter(builder, problem->getLoc()), problem(problem),
        grid(tiles.grid),
        queryGeometry(TileGeometry::of(tiles.queries, tiles.grid)),
        keyGeometry(TileGeometry::of(tiles.keys, tiles.grid)),
        queryTile(queryGeometry.tokens), keyTile(keyGeometry.tokens),
        useTileClasses(tiles.useTileClasses) {}

  /// Reads the sizes and the scale, and sets up the mask context (its
  /// run-time segment offsets are those of `batch`, set per iteration).
  void emitProblemSizes();
  /// The query head at `position` of the head set (a select chain).
  Value emitHeadOfSet(const HeadSet &set, Value position);
  /// Loops over the query heads of `set` (every one of `numHeads` when it
  /// lists none): body(head, its kv head).
  void forEachHeadOfSet(const HeadSet &set, Value numHeads, Value headsPerKv,
                        function_ref<void(Value, Value)> body);

  /// The element of an explicit mask or bias operand ([Nq, Nk] or
  /// [B|1, Hq|1, Nq, Nk]) for (batch, head, i, j).
  Value loadPairOperand(Value operand, Value batch, Value head, Value i,
                        Value j);
  /// The indices of that element, for a gradient of the operand.
  SmallVector<Value> pairOperandIndices(Value operand, Value batch, Value head,
                                        Value i, Value j);
  /// Whether pair (i, j) is kept: the mask's predicate (when `applyMask`;
  /// a full tile needs none) and the explicit mask's.
  Value emitPairKeep(Value batch, Value head, Value i, Value j, bool applyMask);

  /// Per-head factors of the epilogue: weight w, SoftPAG u, and whether
  /// the attention is computed at all (w != 0, and u != 1 unless
  /// `scoresNeeded`: the LSE or the gradients still read the scores).
  struct HeadFactors {
    Value weight, softpagU, compute;
  };
  HeadFactors emitHeadFactors(Value head, bool scoresNeeded);
  /// `values[head]` for a constant table, as a select chain.
  Value selectByHead(Value head, ArrayRef<double> values);

  /// One query or key tile clipped to the sequence or grid: [first, end)
  /// is the hull of its flat indices (exactly its tokens for a flat tile);
  /// positions 0 .. count - 1 enumerate its tokens row-major.
  struct Tile : TileIndexing::ClippedTile {
    const TileGeometry *geometry = nullptr;
  };
  Tile clipTile(const TileGeometry &geometry, Value tileIndex, Value length) {
    Tile tile;
    static_cast<TileIndexing::ClippedTile &>(tile) =
        TileIndexing(b, loc, geometry).clip(tileIndex, length);
    tile.geometry = &geometry;
    return tile;
  }
  TileIndexing indexing(const Tile &tile) {
    return TileIndexing(b, loc, *tile.geometry);
  }
  void forEachToken(const Tile &tile, function_ref<void(Value, Value)> fn);
  /// Emits `body(applyMask)` for one tile of run-time class (mayKeep,
  /// keepsAll): nothing when it keeps nothing, the body without the mask's
  /// predicate when it keeps everything, with it otherwise.
  void emitByTileClass(Value mayKeep, Value keepsAll,
                       function_ref<void(bool applyMask)> body);
  Value reduceTokens(const Tile &tile, Value from, Value to, Value init,
                     function_ref<Value(Value, Value, Value)> fn);

  AttentionProblemOpInterface problem;
  SmallVector<int64_t> grid;
  TileGeometry queryGeometry, keyGeometry;
  /// Tokens per query and key tile (the products of the shapes).
  int64_t queryTile, keyTile;
  /// Whether the op's `tile_classes` describe these tiles.
  bool useTileClasses;

  // Filled by emitProblemSizes().
  Value nq, nk, headDim, valueDim, scale;
  /// The batch element of the loop iteration being emitted.
  Value batch;
  /// The mask of the head set being emitted.
  MaskAttrInterface mask;
  MaskIRContext maskContext;
};

/// Emits the loop nest of one attn.attention: query tiles x key tiles with
/// an online softmax.
class LoopNestEmitter : public ProblemEmitter {
public:
  LoopNestEmitter(AttentionOp op, OpBuilder &builder, const LoopTiles &tiles)
      : ProblemEmitter(op, builder, tiles), op(op) {}

  void emit();

private:
  void emitQueryTile(Value batch, Value head, Value kvHead, Value tile,
                     const HeadFactors &factors);
  /// One key tile for the rows [q0, q1): scores, online-softmax update and
  /// P.V; the mask predicate only when `applyMask`.
  void emitTileRows(Value batch, Value head, Value kvHead, const Tile &queries,
                    const Tile &keys, bool applyMask);

  AttentionOp op;
  /// The op's compile-time tile classes (attn-sparsity), as a memref, and
  /// the table of the head set being emitted.
  Value tileClasses;
  int64_t classTable = 0;

  Value rowMax, rowSum, acc, scores, probs; // scratch buffers
  /// Quantized operands (SEMANTICS.md section 3), prepared before the main
  /// loop nest: integer Q' and K' values (as f32) with the scale of each
  /// token's group, the K mean of smooth_k, FP8 V with its channel scales.
  struct Quantized {
    Value query, queryScale, key, keyScale, keyMean, value, valueScale;
    Value queryBlockMean, scoreCorrection; // smooth_q: mean_q and dS
  } quantized;
  PrecisionAttr precision;
  /// The type P is rounded to before P.V.
  Type probabilityType;

  /// Fills `quantized` for the head set's precision: from the op's
  /// quantized bundle `bundle` when it has one, else by emitting the
  /// pre-steps into scratch buffers.
  void emitQuantization(int64_t bundle, Value batchSize, Value numHeads,
                        Value numKvHeads);
  /// Scale blocks along D: 16 channels for NVFP4, else one.
  Value numScaleBlocks();
  /// A scratch buffer with run-time sizes, freed after the loop nest.
  Value allocScratch(ArrayRef<Value> sizes, Type type);
  /// Two-level NVFP4 rounding of the tile's probabilities in `probs`.
  void emitRoundProbabilitiesNvfp4(Value k0, Value k1);
  SmallVector<Value> scratch;

  /// Segments with renormalize = false: the mask applies to the numerator
  /// only (after the softmax), through `kept` (1 or 0 per key of the tile).
  bool maskAfterSoftmax = false;
  Value kept, rowKept;
  Type valueElementType, outputElementType;
};

/// Emits the loop nest of one attn.attention_grad (SEMANTICS.md section 5),
/// FlashAttention-2's schedule: a pass over the query rows for
/// Dlt = dot(dO, O), then key tiles outermost, each walking the query tiles
/// that keep one of its keys (the mask's query range and tile classes), P
/// recomputed from the LSE, dK and dV accumulated per key tile over every
/// query head of its kv head, dQ, dBias and the gates' sums in f32 buffers.
class GradientLoopNestEmitter : public ProblemEmitter {
public:
  GradientLoopNestEmitter(AttentionGradOp op, OpBuilder &builder,
                          const LoopTiles &tiles)
      : ProblemEmitter(op, builder, tiles), op(op) {}

  void emit();

private:
  /// Dlt, and the SoftPAG parts of dV and of the gates' sums, per row.
  void emitRowTerms(Value head, Value kvHead, const HeadFactors &factors);
  /// The query tiles key tile `keys` (number `keyTileIndex`) walks:
  /// entries [first, end) of its list in table mode, else query tiles
  /// [first, end) with the closed-form query range [queryBegin, queryEnd)
  /// (null when every query is in range).
  struct QueryWalk {
    Value first, end, queryBegin, queryEnd;
  };
  QueryWalk emitQueryWalk(Value keyTileIndex, const Tile &keys);
  /// Every query tile of `walk` for `head` against the key tile `keys`.
  void emitKeyTile(Value head, Value kvHead, const QueryWalk &walk,
                   const Tile &keys, const HeadFactors &factors);
  /// The key-tile-major lists of table `table` of `classes` as constant
  /// memrefs (listOffsets, listQueryTiles, listClasses).
  void emitTileLists(DenseIntElementsAttr classes, int64_t table);
  /// The pairs of one (query tile, key tile); the predicate only when
  /// `applyMask`.
  void emitTilePairs(Value head, Value kvHead, const Tile &queries,
                     const Tile &keys, const HeadFactors &factors,
                     bool applyMask);
  /// Writes an f32 accumulator into a gradient operand of any float type.
  void emitStoreGradient(Value accumulator, Value gradient);

  AttentionGradOp op;
  /// Segments with renormalize = false: P is defined for every key.
  bool maskAfterSoftmax = false;
  /// With compile-time tile classes: per key tile, its non-empty query
  /// tiles and their classes (getTileLists by key tile), as memrefs.
  Value listOffsets, listQueryTiles, listClasses;
  /// f32 accumulators of the shapes of dQ, dK, dV, dBias and the gates.
  Value queryGrad, keyGrad, valueGrad, biasGrad, gatesGrad;
  /// Dlt [B, Hq, Nq], and dK, dV of the key tile being walked.
  Value delta, keyTileGrad, valueTileGrad;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_LOOPNESTEMITTER_H
