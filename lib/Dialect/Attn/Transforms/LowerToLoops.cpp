//===- LowerToLoops.cpp - attn.attention to a tiled loop nest -------------===//
//
// The CPU form of the tiled schedule: query tiles x key tiles with an online
// softmax in f32, the mask predicate on partial tiles only, the head rules
// of SEMANTICS.md section 4 in the epilogue, and the quantized precisions of
// section 3 emulated bit-faithfully (pre-passes over Q, K and V, then the
// main loop on quantized values).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <functional>

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNLOWERTOLOOPS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

/// Keys per rounding of an f16 P.V accumulator (pv_accum = f16).
static constexpr int64_t kF16Chunk = 16;
/// The Q block of smooth_q when the granularity gives none.
static constexpr int64_t kSmoothQueryBlock = 64;

namespace {

/// Emits the loop nest of one attn.attention. Scalar code: the point is the
/// schedule (tiles, online softmax, masking), not CPU speed.
class LoopNestEmitter {
public:
  LoopNestEmitter(AttentionOp op, OpBuilder &builder, int64_t queryTile,
                  int64_t keyTile)
      : op(op), b(builder), loc(op.getLoc()), queryTile(queryTile),
        keyTile(keyTile) {}

  void emit();

private:
  /// Heads that share one mask and precision; `heads` empty means every
  /// head.
  struct HeadSet {
    MaskAttrInterface mask;
    PrecisionAttr precision;
    SmallVector<int64_t> heads;
  };
  SmallVector<HeadSet> getHeadSets();

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

  /// The element of an explicit mask or bias operand ([Nq, Nk] or
  /// [B|1, Hq|1, Nq, Nk]) for (batch, head, i, j).
  Value loadPairOperand(Value operand, Value batch, Value head, Value i,
                        Value j) {
    auto type = cast<MemRefType>(operand.getType());
    if (type.getRank() == 2)
      return load(operand, {i, j});
    auto broadcast = [&](Value idx, unsigned d) {
      if (type.getDimSize(d) == 1)
        return index(0);
      if (!type.isDynamicDim(d))
        return idx;
      Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          dim(operand, d), index(1));
      return Value(arith::SelectOp::create(b, loc, isOne, index(0), idx));
    };
    return load(operand, {broadcast(batch, 0), broadcast(head, 1), i, j});
  }

  /// Per-head factors of the epilogue: weight w, SoftPAG u, and whether
  /// the attention is computed at all (w != 0 and u != 1).
  struct HeadFactors {
    Value weight, softpagU, compute;
  };
  HeadFactors emitHeadFactors(Value head);
  /// `values[head]` for a constant table, as a select chain.
  Value selectByHead(Value head, ArrayRef<double> values);
  void emitQueryTile(Value batch, Value head, Value kvHead, Value tile,
                     const HeadFactors &factors);
  /// One key tile for the rows [q0, q1): scores, online-softmax update and
  /// P.V; the mask predicate only when `applyMask`.
  void emitTileRows(Value batch, Value head, Value kvHead, Value q0, Value q1,
                    Value k0, Value k1, bool applyMask);

  AttentionOp op;
  OpBuilder &b;
  Location loc;
  int64_t queryTile, keyTile;

  // Filled by emit().
  Value nq, nk, headDim, valueDim, scale;
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

  void emitQuantization(Value batchSize, Value numHeads, Value numKvHeads);
  /// Quantizes `src` [B, H, N, D] (minus `mean` [B, H, D] when given) per
  /// scale group into `values` and `tokenScales` [B, H, N].
  /// The mean subtracted from element (batch, head, token, channel) before
  /// quantization (smoothing), as an f64.
  using MeanFn = std::function<Value(Value, Value, Value, Value)>;
  void emitQuantizeRows(Value src, const MeanFn &mean, Value batchSize,
                        Value heads, Value length, Value values,
                        Value tokenScales);
  /// NVFP4 Q.K: one E4M3 scale per 16 channels of a token.
  void emitQuantizeRowsNvfp4(Value src, const MeanFn &mean, Value batchSize,
                             Value heads, Value length, Value values,
                             Value blockScales);
  /// Scale blocks along D: 16 channels for NVFP4, else one.
  Value numScaleBlocks();
  /// smooth_q: per-block Q means and the correction dS[block, j] =
  /// dot(mean_q, K'[j]) (f32).
  void emitQueryBlockMeans(Value batchSize, Value numHeads);
  /// The Q block of smooth_q (SEMANTICS.md section 3).
  int64_t getQueryBlock();
  /// The smoothing means as MeanFn, or null when not smoothed.
  MeanFn getQueryMean();
  MeanFn getKeyMean();
  /// Unquantized Q' and K' (smoothing without quantization).
  void emitSmoothedCopies(Value batchSize, Value numHeads, Value numKvHeads);
  /// A scratch buffer with run-time sizes, freed after the loop nest.
  Value allocScratch(ArrayRef<Value> sizes, Type type);
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
  /// Two-level NVFP4 rounding of the tile's probabilities in `probs`.
  void emitRoundProbabilitiesNvfp4(Value k0, Value k1);
  bool isNvfp4(Type t) { return t && isa<Float4E2M1FNType>(t); }
  Value roundToF16(Value x) { return toF32(fromF32(x, b.getF16Type())); }
  SmallVector<Value> scratch;

  /// Segments with renormalize = false: the mask applies to the numerator
  /// only (after the softmax), through `kept` (1 or 0 per key of the tile).
  bool maskAfterSoftmax = false;
  Value kept, rowKept;
  MaskAttrInterface mask;
  MaskIRContext maskContext;
  Type valueElementType, outputElementType;
};

} // namespace

Value LoopNestEmitter::selectByHead(Value head, ArrayRef<double> values) {
  Value result = f32(values.back());
  for (int64_t h = static_cast<int64_t>(values.size()) - 2; h >= 0; --h) {
    Value isHead = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                         head, index(h));
    result = arith::SelectOp::create(b, loc, isHead, f32(values[h]), result);
  }
  return result;
}

LoopNestEmitter::HeadFactors LoopNestEmitter::emitHeadFactors(Value head) {
  HeadFactors factors{f32(1), f32(0), nullptr};
  HeadsAttr heads = op.getHeadsAttr();
  if (heads && heads.getWeights())
    factors.weight = selectByHead(head, heads.getWeights().asArrayRef());
  if (SoftPagAttr softpag = heads ? heads.getSoftpag() : nullptr) {
    SmallVector<double> u(op.getNumQueryHeads(), 0.0);
    for (int64_t h : softpag.getHeads())
      u[h] = softpag.getU().convertToDouble();
    factors.softpagU = selectByHead(head, u);
  }
  Value nonZeroWeight = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::ONE, factors.weight, f32(0));
  factors.compute = nonZeroWeight;
  // u = 1 replaces the attention by V; it is still computed when the LSE
  // output asks for its scores.
  if (!op.getLseOutput())
    factors.compute = arith::AndIOp::create(
        b, loc, nonZeroWeight,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                              factors.softpagU, f32(1)));
  return factors;
}

void LoopNestEmitter::emitTileRows(Value batch, Value head, Value kvHead,
                                   Value q0, Value q1, Value k0, Value k1,
                                   bool applyMask) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  loop(q0, q1, [&](Value i) {
    Value r = arith::SubIOp::create(b, loc, i, q0);
    // Scores s_j = scale * q.k_j (+ bias), -inf where the mask drops j.
    Value tileMax = reduce(k0, k1, negInf(), [&](Value j, Value runMax) {
      Value qSource = quantized.query ? quantized.query : q;
      Value kSource = quantized.key ? quantized.key : k;
      // Integer and E2M1 products are exact in f32 (|dot| <= 127^2 * 256 <
      // 2^24); E4M3 products span 36 bits of exponent, exact in f64. Each
      // scale block (all of D, or 16 channels for NVFP4) gets one factor:
      // q scale * k scale * softmax scale.
      bool wideDot = precision && precision.getQk() &&
                     isa<Float8E4M3FNType>(precision.getQk());
      auto widen = [&](Value x) { return wideDot ? toF64(x) : toF32(x); };
      auto blockDot = [&](Value c0, Value c1) {
        Value dot = reduce(c0, c1, wideDot ? f64(0) : f32(0),
                           [&](Value d, Value acc) {
                             Value qd =
                                 widen(load(qSource, {batch, head, i, d}));
                             Value kd =
                                 widen(load(kSource, {batch, kvHead, j, d}));
                             return Value(arith::AddFOp::create(
                                 b, loc, acc,
                                 arith::MulFOp::create(b, loc, qd, kd)));
                           });
        return toF32(dot);
      };
      Value s;
      if (!quantized.queryScale) {
        s = arith::MulFOp::create(b, loc, blockDot(index(0), headDim), scale);
      } else {
        Value blockCols = isNvfp4(precision.getQk()) ? index(16) : headDim;
        s = reduce(index(0), numScaleBlocks(), f32(0), [&](Value blk,
                                                           Value acc) {
          Value c0 = arith::MulIOp::create(b, loc, blk, blockCols);
          Value c1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, c0, blockCols), headDim);
          Value factor = arith::MulFOp::create(
              b, loc,
              arith::MulFOp::create(
                  b, loc, load(quantized.queryScale, {batch, head, i, blk}),
                  load(quantized.keyScale, {batch, kvHead, j, blk})),
              scale);
          return Value(arith::AddFOp::create(
              b, loc, acc,
              arith::MulFOp::create(b, loc, blockDot(c0, c1), factor)));
        });
      }
      if (quantized.scoreCorrection) {
        Value block =
            arith::DivUIOp::create(b, loc, i, index(getQueryBlock()));
        s = arith::AddFOp::create(
            b, loc, s,
            arith::MulFOp::create(
                b, loc, scale,
                load(quantized.scoreCorrection, {batch, head, block, j})));
      }
      if (Value bias = op.getBias())
        s = arith::AddFOp::create(
            b, loc, s, toF32(loadPairOperand(bias, batch, head, i, j)));
      Value jj = arith::SubIOp::create(b, loc, j, k0);
      Value keep = applyMask
                       ? mask.emitKeep(b, loc, i, j, maskContext)
                       : Value(arith::ConstantIntOp::create(b, loc, 1, 1));
      if (Value explicitMask = op.getExplicitMask())
        keep = arith::AndIOp::create(
            b, loc, keep,
            loadPairOperand(explicitMask, batch, head, i, j));
      if (maskAfterSoftmax) {
        // Every key enters m and l; the mask only gates the numerator.
        store(arith::SelectOp::create(b, loc, keep, f32(1), f32(0)), kept,
              {jj});
        Value anyKept = load(rowKept, {r});
        store(arith::SelectOp::create(b, loc, keep, f32(1), anyKept),
              rowKept, {r});
      } else {
        s = arith::SelectOp::create(b, loc, keep, s, negInf());
      }
      store(s, scores, {jj});
      return Value(arith::MaximumFOp::create(b, loc, runMax, s));
    });

    // m' = max(m, tile max); mu = m' or 0 when -inf; alpha = exp(m - mu).
    Value oldMax = load(rowMax, {r});
    Value newMax = arith::MaximumFOp::create(b, loc, oldMax, tileMax);
    Value isNegInf = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           newMax, negInf());
    Value mu = arith::SelectOp::create(b, loc, isNegInf, f32(0), newMax);
    Value alpha =
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, oldMax, mu));

    // p_j = exp(s_j - mu) (0 where masked); l = alpha l + sum p.
    Value tileSum = reduce(k0, k1, f32(0), [&](Value j, Value sum) {
      Value jj = arith::SubIOp::create(b, loc, j, k0);
      Value p = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, load(scores, {jj}), mu));
      Value numerator = p;
      if (maskAfterSoftmax)
        numerator = arith::MulFOp::create(b, loc, p, load(kept, {jj}));
      if (isa<Float8E4M3FNType>(probabilityType))
        numerator = roundToF8E4M3FN(arith::MulFOp::create(b, loc, numerator,
                                                          f32(448)));
      else if (!isNvfp4(probabilityType)) // NVFP4 rounds the whole tile below
        numerator = roundThrough(numerator, probabilityType);
      store(numerator, probs, {jj});
      return Value(arith::AddFOp::create(b, loc, sum, p));
    });
    store(arith::AddFOp::create(
              b, loc, arith::MulFOp::create(b, loc, alpha, load(rowSum, {r})),
              tileSum),
          rowSum, {r});
    if (isNvfp4(probabilityType))
      emitRoundProbabilitiesNvfp4(k0, k1);

    // acc = alpha acc + P V.
    Value vSource = quantized.value ? quantized.value : v;
    bool f16Accumulator =
        precision && precision.getPvAccum() == Accumulation::F16;
    auto productSum = [&](Value c, Value from, Value to, Value init) {
      return reduce(from, to, init, [&](Value j, Value a) {
        Value p = load(probs, {arith::SubIOp::create(b, loc, j, k0)});
        Value vj = toF32(load(vSource, {batch, kvHead, j, c}));
        return Value(arith::AddFOp::create(
            b, loc, a, arith::MulFOp::create(b, loc, p, vj)));
      });
    };
    loop(index(0), valueDim, [&](Value c) {
      Value start = arith::MulFOp::create(b, loc, alpha, load(acc, {r, c}));
      if (!f16Accumulator) {
        store(productSum(c, k0, k1, start), acc, {r, c});
        return;
      }
      // An f16 accumulator: the rescale rounds once, then every chunk of
      // 16 keys adds its sum with one rounding.
      store(roundToF16(start), acc, {r, c});
      auto chunks = scf::ForOp::create(b, loc, k0, k1, index(kF16Chunk));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value c0 = chunks.getInductionVar();
      Value c1 = arith::MinSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, c0, index(kF16Chunk)), k1);
      Value chunk = productSum(c, c0, c1, f32(0));
      store(roundToF16(arith::AddFOp::create(b, loc, load(acc, {r, c}), chunk)),
            acc, {r, c});
    });
    store(newMax, rowMax, {r});
  });
}

void LoopNestEmitter::emitQueryTile(Value batch, Value head, Value kvHead,
                                    Value tile, const HeadFactors &factors) {
  Value q0 = arith::MulIOp::create(b, loc, tile, index(queryTile));
  Value q1 = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, q0, index(queryTile)), nq);

  // m = -inf, l = 0, acc = 0.
  loop(index(0), index(queryTile), [&](Value r) {
    store(negInf(), rowMax, {r});
    store(f32(0), rowSum, {r});
    if (maskAfterSoftmax)
      store(f32(0), rowKept, {r});
    loop(index(0), valueDim, [&](Value c) { store(f32(0), acc, {r, c}); });
  });

  // The active key tiles, in closed form from the mask; every tile when the
  // denominator runs over all keys. Heads with weight 0 (or u = 1) compute
  // no attention: l stays 0.
  Value firstKeyTile = index(0);
  Value endKeyTile = arith::CeilDivSIOp::create(b, loc, nk, index(keyTile));
  if (!maskAfterSoftmax) {
    auto [keyBegin, keyEnd] = mask.emitKeyRange(b, loc, q0, q1, maskContext);
    firstKeyTile = arith::DivSIOp::create(b, loc, keyBegin, index(keyTile));
    endKeyTile = arith::CeilDivSIOp::create(b, loc, keyEnd, index(keyTile));
  }
  endKeyTile =
      arith::SelectOp::create(b, loc, factors.compute, endKeyTile, index(0));
  loop(firstKeyTile, endKeyTile, [&](Value keyTileIndex) {
    Value k0 = arith::MulIOp::create(b, loc, keyTileIndex, index(keyTile));
    Value k1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, k0, index(keyTile)), nk);
    // Empty tiles are skipped, full ones evaluate no predicate.
    auto [mayKeep, keepsAll] =
        mask.emitClassifyRange(b, loc, q0, q1, k0, k1, maskContext);
    if (maskAfterSoftmax) // Every key enters the denominator.
      mayKeep = arith::ConstantIntOp::create(b, loc, 1, 1);
    if (maskAfterSoftmax || op.getExplicitMask())
      keepsAll = arith::ConstantIntOp::create(b, loc, 0, 1);
    auto ifMayKeep = scf::IfOp::create(b, loc, mayKeep, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifMayKeep.thenBlock());
    auto ifFull = scf::IfOp::create(b, loc, keepsAll, /*withElse=*/true);
    b.setInsertionPointToStart(ifFull.thenBlock());
    emitTileRows(batch, head, kvHead, q0, q1, k0, k1, /*applyMask=*/false);
    b.setInsertionPointToStart(ifFull.elseBlock());
    emitTileRows(batch, head, kvHead, q0, q1, k0, k1, /*applyMask=*/true);
  });

  // O = acc / l (0 when l == 0), LSE = m + log l (-inf when l == 0).
  loop(q0, q1, [&](Value i) {
    Value r = arith::SubIOp::create(b, loc, i, q0);
    Value l = load(rowSum, {r});
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l, f32(0));
    if (maskAfterSoftmax)
      empty = arith::OrIOp::create(
          b, loc, empty,
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                load(rowKept, {r}), f32(0)));
    Value inverse = arith::SelectOp::create(
        b, loc, empty, f32(0), arith::DivFOp::create(b, loc, f32(1), l));
    // O = w * g * ((1 - u) attention + u V) (SEMANTICS.md section 4).
    Value rowFactor = factors.weight;
    if (Value gates = op.getGates())
      rowFactor = arith::MulFOp::create(b, loc, rowFactor,
                                        toF32(load(gates, {batch, i, head})));
    bool softpag = op.getHeadsAttr() && op.getHeadsAttr().getSoftpag();
    loop(index(0), valueDim, [&](Value c) {
      Value out = arith::MulFOp::create(b, loc, load(acc, {r, c}), inverse);
      if (quantized.valueScale) // V scale / 448 of FP8 P.V
        out = arith::MulFOp::create(
            b, loc, out,
            arith::DivFOp::create(
                b, loc, load(quantized.valueScale, {batch, kvHead, c}),
                f32(448)));
      if (softpag) {
        Value keep = arith::SubFOp::create(b, loc, f32(1), factors.softpagU);
        Value identity = toF32(load(op.getValue(), {batch, kvHead, i, c}));
        out = arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, keep, out),
            arith::MulFOp::create(b, loc, factors.softpagU, identity));
      }
      out = arith::MulFOp::create(b, loc, out, rowFactor);
      store(fromF32(out, outputElementType), op.getOutput(),
            {batch, head, i, c});
    });
    if (Value lse = op.getLseOutput()) {
      Value value = arith::AddFOp::create(b, loc, load(rowMax, {r}),
                                          math::LogOp::create(b, loc, l));
      if (quantized.keyMean) {
        // smooth_k shifted the row by scale * dot(q, mean(K)): add it back.
        Value shift = reduce(index(0), headDim, f32(0), [&](Value d, Value a) {
          Value qd = toF32(load(op.getQuery(), {batch, head, i, d}));
          Value md = toF32(load(quantized.keyMean, {batch, kvHead, d}));
          return Value(arith::AddFOp::create(
              b, loc, a, arith::MulFOp::create(b, loc, qd, md)));
        });
        value = arith::AddFOp::create(
            b, loc, value, arith::MulFOp::create(b, loc, scale, shift));
      }
      store(arith::SelectOp::create(b, loc, empty, negInf(), value), lse,
            {batch, head, i});
    }
  });
}

Value LoopNestEmitter::roundToMinifloat(Value x, int64_t mantissaBits,
                                        int64_t minExponent, double maxValue) {
  // |x| = m 2^e with e = max(floor(log2 |x|), minExponent): the mantissa
  // bits give a quantum of 2^(e - mantissaBits) (subnormals below the
  // smallest normal exponent); round to even, saturate, keep the sign.
  auto constant = [&](double v) {
    return x.getType().isF64() ? f64(v) : f32(v);
  };
  Value ax = math::AbsFOp::create(b, loc, x);
  Value e = arith::MaximumFOp::create(
      b, loc, math::FloorOp::create(b, loc, math::Log2Op::create(b, loc, ax)),
      constant(minExponent));
  Value quantum = math::Exp2Op::create(
      b, loc, arith::SubFOp::create(b, loc, e, constant(mantissaBits)));
  Value rounded = arith::MulFOp::create(
      b, loc,
      math::RoundEvenOp::create(b, loc,
                                arith::DivFOp::create(b, loc, ax, quantum)),
      quantum);
  Value saturated =
      arith::MinimumFOp::create(b, loc, rounded, constant(maxValue));
  return math::CopySignOp::create(b, loc, saturated, x);
}

Value LoopNestEmitter::numScaleBlocks() {
  if (isNvfp4(precision.getQk()))
    return arith::CeilDivSIOp::create(b, loc, headDim, index(16));
  return index(1);
}

void LoopNestEmitter::emitQuantizeRowsNvfp4(Value src, const MeanFn &mean,
                                            Value batchSize, Value heads,
                                            Value length, Value values,
                                            Value blockScales) {
  loop(index(0), batchSize, [&](Value batch) {
    loop(index(0), heads, [&](Value head) {
      loop(index(0), length, [&](Value t) {
        loop(index(0), numScaleBlocks(), [&](Value block) {
          Value c0 = arith::MulIOp::create(b, loc, block, index(16));
          Value c1 = arith::MinSIOp::create(
              b, loc, arith::AddIOp::create(b, loc, c0, index(16)), headDim);
          auto element = [&](Value d) {
            Value x = toF64(load(src, {batch, head, t, d}));
            if (mean)
              x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
            return x;
          };
          Value absMax = reduce(c0, c1, f64(0), [&](Value d, Value m) {
            return Value(arith::MaximumFOp::create(
                b, loc, m, math::AbsFOp::create(b, loc, element(d))));
          });
          Value scale = nvfp4BlockScale(absMax);
          store(toF32(scale), blockScales, {batch, head, t, block});
          loop(c0, c1, [&](Value d) {
            store(toF32(quantizeNvfp4(element(d), scale)), values,
                  {batch, head, t, d});
          });
        });
      });
    });
  });
}

Value LoopNestEmitter::nvfp4BlockScale(Value absMax) {
  Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                       absMax, f64(0));
  return arith::SelectOp::create(
      b, loc, isZero, f64(1),
      roundToF8E4M3FN(arith::DivFOp::create(b, loc, absMax, f64(6))));
}

Value LoopNestEmitter::quantizeNvfp4(Value x, Value blockScale) {
  Value scaleIsZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            blockScale, f64(0));
  return arith::SelectOp::create(
      b, loc, scaleIsZero, f64(0),
      roundToF4E2M1FN(arith::DivFOp::create(b, loc, x, blockScale)));
}

void LoopNestEmitter::emitRoundProbabilitiesNvfp4(Value k0, Value k1) {
  // Two levels: a per-row f32 scale maps the tile's largest p to 6 * 448;
  // every 16 keys (aligned to multiples of 16, clipped to the tile) share
  // the E4M3 scale E4M3(max / 6). probs keeps the dequantized values.
  Value rowMax = reduce(k0, k1, f64(0), [&](Value j, Value m) {
    Value p = load(probs, {arith::SubIOp::create(b, loc, j, k0)});
    return Value(arith::MaximumFOp::create(b, loc, m, toF64(p)));
  });
  Value rowScale = toF64(toF32(arith::DivFOp::create(b, loc, rowMax,
                                                     f64(6.0 * 448.0))));
  Value usable = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                       rowScale, f64(0));
  auto ifUsable = scf::IfOp::create(b, loc, usable, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifUsable.elseBlock());
  loop(k0, k1, [&](Value j) {
    store(f32(0), probs, {arith::SubIOp::create(b, loc, j, k0)});
  });
  b.setInsertionPointToStart(ifUsable.thenBlock());
  Value firstBlock = arith::DivUIOp::create(b, loc, k0, index(16));
  Value lastBlock = arith::CeilDivUIOp::create(b, loc, k1, index(16));
  loop(firstBlock, lastBlock, [&](Value block) {
    Value start = arith::MulIOp::create(b, loc, block, index(16));
    Value b0 = arith::MaxSIOp::create(b, loc, start, k0);
    Value b1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, start, index(16)), k1);
    auto scaled = [&](Value j) {
      Value p = toF64(load(probs, {arith::SubIOp::create(b, loc, j, k0)}));
      return arith::DivFOp::create(b, loc, p, rowScale);
    };
    Value blockMax = reduce(b0, b1, f64(0), [&](Value j, Value m) {
      return Value(arith::MaximumFOp::create(b, loc, m, scaled(j)));
    });
    Value blockScale = nvfp4BlockScale(blockMax);
    loop(b0, b1, [&](Value j) {
      Value value = arith::MulFOp::create(
          b, loc,
          arith::MulFOp::create(b, loc, quantizeNvfp4(scaled(j), blockScale),
                                blockScale),
          rowScale);
      store(toF32(value), probs, {arith::SubIOp::create(b, loc, j, k0)});
    });
  });
}

void LoopNestEmitter::emitQuantizeRows(Value src, const MeanFn &mean,
                                       Value batchSize, Value heads,
                                       Value length, Value values,
                                       Value tokenScales) {
  Type qk = precision.getQk();
  if (isNvfp4(qk))
    return emitQuantizeRowsNvfp4(src, mean, batchSize, heads, length, values,
                                 tokenScales);
  GranularityKind kind = *precision.getQkGranularity();
  int64_t size = precision.getQkGranularitySize();
  bool fp8 = isa<Float8E4M3FNType>(qk);
  double qmax = fp8 ? 448 : qk.isSignlessInteger(8) ? 127 : 7;
  // The scale group of token t (SEMANTICS.md section 3, granularity).
  auto groupOf = [&](Value t) -> Value {
    switch (kind) {
    case GranularityKind::Tensor:
      return index(0);
    case GranularityKind::Block:
      return arith::DivUIOp::create(b, loc, t, index(size));
    case GranularityKind::Token:
      return t;
    case GranularityKind::Thread:
      return arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(
              b, loc, arith::DivUIOp::create(b, loc, t, index(size)), index(8)),
          arith::RemUIOp::create(b, loc, t, index(8)));
    }
    llvm_unreachable("unknown granularity");
  };
  Value lastToken = arith::SubIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, length, index(1)), index(1));
  Value numGroups = arith::AddIOp::create(
      b, loc, groupOf(lastToken),
      index(kind == GranularityKind::Thread ? 8 : 1));
  Value groupMax = memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF64Type()),
      ValueRange{numGroups});
  // Smoothing and quantization in f64, where the contract's arithmetic is
  // exact for f16/bf16 inputs (only the stored scale rounds, to f32).
  auto element = [&](Value batch, Value head, Value t, Value d) {
    Value x = toF64(load(src, {batch, head, t, d}));
    if (mean)
      x = arith::SubFOp::create(b, loc, x, mean(batch, head, t, d));
    return x;
  };
  loop(index(0), batchSize, [&](Value batch) {
    loop(index(0), heads, [&](Value head) {
      loop(index(0), numGroups, [&](Value g) { store(f64(0), groupMax, {g}); });
      loop(index(0), length, [&](Value t) {
        Value rowMax = reduce(index(0), headDim, f64(0), [&](Value d, Value m) {
          return Value(arith::MaximumFOp::create(
              b, loc, m,
              math::AbsFOp::create(b, loc, element(batch, head, t, d))));
        });
        Value g = groupOf(t);
        store(arith::MaximumFOp::create(b, loc, load(groupMax, {g}), rowMax),
              groupMax, {g});
      });
      // scale = max|x| / qmax (1 for an all-zero group); values are
      // round-half-to-even(x / scale) clamped to [-qmax, qmax].
      loop(index(0), length, [&](Value t) {
        Value groupAbsMax = load(groupMax, {groupOf(t)});
        Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                             groupAbsMax, f64(0));
        Value tokenScale = arith::SelectOp::create(
            b, loc, isZero, f32(1),
            toF32(arith::DivFOp::create(b, loc, groupAbsMax, f64(qmax))));
        store(tokenScale, tokenScales, {batch, head, t, index(0)});
        loop(index(0), headDim, [&](Value d) {
          Value scaled = arith::DivFOp::create(
              b, loc, element(batch, head, t, d), toF64(tokenScale));
          Value quantizedValue;
          if (fp8) {
            quantizedValue = roundToF8E4M3FN(scaled);
          } else {
            Value q = math::RoundEvenOp::create(b, loc, scaled);
            quantizedValue = arith::MaximumFOp::create(
                b, loc, arith::MinimumFOp::create(b, loc, q, f64(qmax)),
                f64(-qmax));
          }
          store(toF32(quantizedValue), values, {batch, head, t, d});
        });
      });
    });
  });
  memref::DeallocOp::create(b, loc, groupMax);
}

Value LoopNestEmitter::allocScratch(ArrayRef<Value> sizes, Type type) {
  SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
  Value buffer = memref::AllocOp::create(b, loc, MemRefType::get(shape, type),
                                         ValueRange(sizes));
  scratch.push_back(buffer);
  return buffer;
}

LoopNestEmitter::MeanFn LoopNestEmitter::getQueryMean() {
  if (!quantized.queryBlockMean)
    return nullptr;
  return [this](Value batch, Value head, Value t, Value d) {
    Value block = arith::DivUIOp::create(b, loc, t, index(getQueryBlock()));
    return load(quantized.queryBlockMean, {batch, head, block, d});
  };
}

LoopNestEmitter::MeanFn LoopNestEmitter::getKeyMean() {
  if (!quantized.keyMean)
    return nullptr;
  return [this](Value batch, Value head, Value, Value d) {
    return load(quantized.keyMean, {batch, head, d});
  };
}

void LoopNestEmitter::emitSmoothedCopies(Value batchSize, Value numHeads,
                                         Value numKvHeads) {
  // Smoothing alone is exact: smooth_k shifts every score row by a constant
  // the softmax cancels (and the LSE gets back), smooth_q's dS restores the
  // scores. The copies hold Q' and K' rounded once to f32.
  auto smoothed = [&](Value src, const MeanFn &mean, Value heads,
                      Value length) {
    Value copy = allocScratch({batchSize, heads, length, headDim},
                              b.getF32Type());
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), heads, [&](Value head) {
        loop(index(0), length, [&](Value t) {
          loop(index(0), headDim, [&](Value d) {
            Value x = toF64(load(src, {batch, head, t, d}));
            store(toF32(arith::SubFOp::create(b, loc, x,
                                              mean(batch, head, t, d))),
                  copy, {batch, head, t, d});
          });
        });
      });
    });
    return copy;
  };
  if (MeanFn mean = getQueryMean())
    quantized.query = smoothed(op.getQuery(), mean, numHeads, nq);
  if (MeanFn mean = getKeyMean())
    quantized.key = smoothed(op.getKey(), mean, numKvHeads, nk);
}

int64_t LoopNestEmitter::getQueryBlock() {
  switch (precision.getQkGranularity().value_or(GranularityKind::Block)) {
  case GranularityKind::Block:
  case GranularityKind::Thread:
    return precision.getQkGranularity() ? precision.getQkGranularitySize()
                                        : kSmoothQueryBlock;
  case GranularityKind::Token:
    return 1;
  case GranularityKind::Tensor:
    return ShapedType::isDynamic(op.getQueryLength())
               ? kSmoothQueryBlock
               : std::max<int64_t>(op.getQueryLength(), 1);
  }
  llvm_unreachable("unknown granularity");
}

void LoopNestEmitter::emitQueryBlockMeans(Value batchSize, Value numHeads) {
  Value q = op.getQuery(), k = op.getKey();
  int64_t block = getQueryBlock();
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, nq, index(block));
  auto alloc = [&](ArrayRef<Value> sizes, Type type) {
    return allocScratch(sizes, type);
  };
  quantized.queryBlockMean =
      alloc({batchSize, numHeads, numBlocks, headDim}, b.getF64Type());
  quantized.scoreCorrection =
      alloc({batchSize, numHeads, numBlocks, nk}, b.getF32Type());
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, dim(k, 1));
  loop(index(0), batchSize, [&](Value batch) {
    loop(index(0), numHeads, [&](Value head) {
      Value kvHead = arith::DivSIOp::create(b, loc, head, headsPerKv);
      loop(index(0), numBlocks, [&](Value blk) {
        Value i0 = arith::MulIOp::create(b, loc, blk, index(block));
        Value i1 = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, i0, index(block)), nq);
        Value count = arith::UIToFPOp::create(
            b, loc, b.getF64Type(),
            arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                       arith::SubIOp::create(b, loc, i1, i0)));
        loop(index(0), headDim, [&](Value d) {
          Value sum = reduce(i0, i1, f64(0), [&](Value i, Value a) {
            return Value(arith::AddFOp::create(
                b, loc, a, toF64(load(q, {batch, head, i, d}))));
          });
          store(arith::DivFOp::create(b, loc, sum, count),
                quantized.queryBlockMean, {batch, head, blk, d});
        });
        // dS[blk, j] = dot(mean_q, K'[j]) in f64, stored as f32.
        loop(index(0), nk, [&](Value j) {
          Value dot = reduce(index(0), headDim, f64(0), [&](Value d, Value a) {
            Value kd = toF64(load(k, {batch, kvHead, j, d}));
            if (quantized.keyMean)
              kd = arith::SubFOp::create(
                  b, loc, kd, load(quantized.keyMean, {batch, kvHead, d}));
            Value md = load(quantized.queryBlockMean, {batch, head, blk, d});
            return Value(arith::AddFOp::create(
                b, loc, a, arith::MulFOp::create(b, loc, md, kd)));
          });
          store(toF32(dot), quantized.scoreCorrection, {batch, head, blk, j});
        });
      });
    });
  });
}

void LoopNestEmitter::emitQuantization(Value batchSize, Value numHeads,
                                       Value numKvHeads) {
  if (!precision)
    return;
  auto f32Type = b.getF32Type();
  auto alloc = [&](ArrayRef<Value> sizes, Type type = nullptr) {
    return allocScratch(sizes, type ? type : f32Type);
  };
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  if (precision.getSmoothK()) {
    // mean over all Nk tokens per (batch, kv head, channel).
    quantized.keyMean =
        alloc({batchSize, numKvHeads, headDim}, b.getF64Type());
    Value count = arith::UIToFPOp::create(
        b, loc, b.getF64Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), nk));
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), headDim, [&](Value d) {
          Value sum = reduce(index(0), nk, f64(0), [&](Value j, Value a) {
            return Value(arith::AddFOp::create(
                b, loc, a, toF64(load(k, {batch, head, j, d}))));
          });
          store(arith::DivFOp::create(b, loc, sum, count), quantized.keyMean,
                {batch, head, d});
        });
      });
    });
  }
  if (precision.getSmoothQ())
    emitQueryBlockMeans(batchSize, numHeads);
  if (precision.isQuantizedQK()) {
    quantized.query = alloc({batchSize, numHeads, nq, headDim});
    quantized.queryScale = alloc({batchSize, numHeads, nq, numScaleBlocks()});
    quantized.key = alloc({batchSize, numKvHeads, nk, headDim});
    quantized.keyScale = alloc({batchSize, numKvHeads, nk, numScaleBlocks()});
    emitQuantizeRows(q, getQueryMean(), batchSize, numHeads, nq, quantized.query,
                     quantized.queryScale);
    emitQuantizeRows(k, getKeyMean(), batchSize, numKvHeads, nk,
                     quantized.key, quantized.keyScale);
  } else {
    emitSmoothedCopies(batchSize, numHeads, numKvHeads);
  }
  if (isNvfp4(probabilityType)) {
    // NVFP4 along the keys: per channel, each run of 16 keys (aligned to
    // multiples of 16) shares the E4M3 scale E4M3(max / 6); the dequantized
    // values are exact in f32.
    quantized.value = alloc({batchSize, numKvHeads, nk, valueDim});
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), valueDim, [&](Value c) {
          Value numBlocks = arith::CeilDivSIOp::create(b, loc, nk, index(16));
          loop(index(0), numBlocks, [&](Value block) {
            Value j0 = arith::MulIOp::create(b, loc, block, index(16));
            Value j1 = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, j0, index(16)), nk);
            Value absMax = reduce(j0, j1, f64(0), [&](Value j, Value m) {
              return Value(arith::MaximumFOp::create(
                  b, loc, m,
                  math::AbsFOp::create(b, loc,
                                       toF64(load(v, {batch, head, j, c})))));
            });
            Value scale = nvfp4BlockScale(absMax);
            loop(j0, j1, [&](Value j) {
              Value x = toF64(load(v, {batch, head, j, c}));
              store(toF32(arith::MulFOp::create(b, loc, quantizeNvfp4(x, scale),
                                                scale)),
                    quantized.value, {batch, head, j, c});
            });
          });
        });
      });
    });
  }
  if (isa<Float8E4M3FNType>(probabilityType)) {
    // V per channel: scale = max|V[:, c]| / 448 (1 when all zero).
    quantized.value = alloc({batchSize, numKvHeads, nk, valueDim});
    quantized.valueScale = alloc({batchSize, numKvHeads, valueDim});
    loop(index(0), batchSize, [&](Value batch) {
      loop(index(0), numKvHeads, [&](Value head) {
        loop(index(0), valueDim, [&](Value c) {
          Value absMax = reduce(index(0), nk, f64(0), [&](Value j, Value m) {
            return Value(arith::MaximumFOp::create(
                b, loc, m,
                math::AbsFOp::create(b, loc,
                                     toF64(load(v, {batch, head, j, c})))));
          });
          Value isZero = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OEQ, absMax, f64(0));
          Value channelScale = arith::SelectOp::create(
              b, loc, isZero, f32(1),
              toF32(arith::DivFOp::create(b, loc, absMax, f64(448))));
          store(channelScale, quantized.valueScale, {batch, head, c});
          loop(index(0), nk, [&](Value j) {
            Value x = toF64(load(v, {batch, head, j, c}));
            store(toF32(roundToF8E4M3FN(
                      arith::DivFOp::create(b, loc, x, toF64(channelScale)))),
                  quantized.value, {batch, head, j, c});
          });
        });
      });
    });
  }
}

SmallVector<LoopNestEmitter::HeadSet> LoopNestEmitter::getHeadSets() {
  HeadsAttr heads = op.getHeadsAttr();
  SmallVector<HeadSet> sets;
  SmallVector<bool> inGroup(heads ? op.getNumQueryHeads() : 0, false);
  if (heads) {
    for (HeadGroupAttr group : heads.getGroups()) {
      if (!group.getMask() && !group.getPrecision())
        continue;
      sets.push_back(
          {group.getMask() ? group.getMask() : op.getMaskOrDense(),
           group.getPrecision() ? group.getPrecision() : op.getPrecisionAttr(),
           SmallVector<int64_t>(group.getHeads())});
      for (int64_t h : group.getHeads())
        inGroup[h] = true;
    }
  }
  if (sets.empty())
    return {{op.getMaskOrDense(), op.getPrecisionAttr(), {}}};
  HeadSet rest{op.getMaskOrDense(), op.getPrecisionAttr(), {}};
  for (auto [h, grouped] : llvm::enumerate(inGroup))
    if (!grouped)
      rest.heads.push_back(h);
  if (!rest.heads.empty())
    sets.insert(sets.begin(), rest);
  return sets;
}

void LoopNestEmitter::emit() {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  valueElementType = cast<MemRefType>(v.getType()).getElementType();
  outputElementType =
      cast<MemRefType>(op.getOutput().getType()).getElementType();


  Value batchSize = dim(q, 0), numHeads = dim(q, 1), numKvHeads = dim(k, 1);
  nq = dim(q, 2);
  nk = dim(k, 2);
  headDim = dim(q, 3);
  valueDim = dim(v, 3);
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, numKvHeads);
  double scaleValue = op.getEffectiveScale().value_or(0.0);
  if (op.getScaleAttr() || !ShapedType::isDynamic(op.getHeadDim())) {
    scale = f32(scaleValue);
  } else {
    // 1/sqrt(D) of a run-time D.
    Value d = arith::UIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim));
    scale = math::RsqrtOp::create(b, loc, d);
  }

  mask = op.getMaskOrDense();
  maskContext.queryLength = nq;
  maskContext.keyLength = nk;
  Value batch; // Set per iteration; read by the offsets callback.
  if (Value offsets = op.getSegmentOffsets()) {
    auto type = cast<MemRefType>(offsets.getType());
    maskContext.segmentOffset = [&, offsets, type](OpBuilder &builder,
                                                   Location l, bool ofKeys,
                                                   int64_t position) -> Value {
      SmallVector<Value> indices = {batch};
      if (type.getRank() == 3)
        indices.push_back(arith::ConstantIndexOp::create(builder, l, ofKeys));
      indices.push_back(arith::ConstantIndexOp::create(builder, l, position));
      Value raw = memref::LoadOp::create(builder, l, offsets, indices);
      return arith::IndexCastOp::create(builder, l, builder.getIndexType(),
                                        raw);
    };
  }

  auto f32Type = b.getF32Type();
  rowMax = memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  rowSum = memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  acc = memref::AllocOp::create(
      b, loc, MemRefType::get({queryTile, ShapedType::kDynamic}, f32Type),
      ValueRange{valueDim});
  scores = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
  probs = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
  if (auto segments = dyn_cast<SegmentsMaskAttr>(op.getMaskOrDense()))
    maskAfterSoftmax = !segments.getRenormalize();
  if (maskAfterSoftmax) {
    kept = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
    rowKept =
        memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  }

  Value numQueryTiles = arith::CeilDivSIOp::create(b, loc, nq, index(queryTile));
  // One loop nest per distinct (mask, precision): the op's heads, then each
  // head group with its own (their predicates and arithmetic differ). The
  // quantization pre-passes run per set.
  for (const HeadSet &set : getHeadSets()) {
    mask = set.mask;
    precision = set.precision;
    probabilityType = precision && precision.getPv() ? precision.getPv()
                                                      : valueElementType;
    quantized = Quantized();
    emitQuantization(batchSize, numHeads, numKvHeads);
    Value count = set.heads.empty() ? numHeads : index(set.heads.size());
    loop(index(0), batchSize, [&](Value batchIndex) {
      batch = batchIndex;
      loop(index(0), count, [&](Value position) {
        Value head = position;
        if (!set.heads.empty()) {
          // The position-th head of the set, as a select chain.
          head = index(set.heads.back());
          for (int64_t p = static_cast<int64_t>(set.heads.size()) - 2; p >= 0;
               --p) {
            Value isP = arith::CmpIOp::create(
                b, loc, arith::CmpIPredicate::eq, position, index(p));
            head = arith::SelectOp::create(b, loc, isP, index(set.heads[p]),
                                           head);
          }
        }
        Value kvHead = arith::DivSIOp::create(b, loc, head, headsPerKv);
        HeadFactors factors = emitHeadFactors(head);
        loop(index(0), numQueryTiles, [&](Value tile) {
          emitQueryTile(batchIndex, head, kvHead, tile, factors);
        });
      });
    });
  }
  for (Value buffer : {rowMax, rowSum, acc, scores, probs, kept, rowKept})
    if (buffer)
      memref::DeallocOp::create(b, loc, buffer);
  for (Value buffer : scratch)
    memref::DeallocOp::create(b, loc, buffer);
}

/// Why `op` cannot be lowered yet, or success.
static LogicalResult checkSupported(AttentionOp op) {
  if (op.hasTensorSemantics())
    return op.emitOpError() << "attn-lower-to-loops needs memref operands; "
                               "bufferize first";
  SmallVector<PrecisionAttr> precisions = {op.getPrecisionAttr()};
  if (HeadsAttr heads = op.getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      precisions.push_back(group.getPrecision());
  for (PrecisionAttr precision : precisions) {
    if (!precision)
      continue;
    Type qk = precision.getQk(), pv = precision.getPv();
    Type inputType = cast<MemRefType>(op.getQuery().getType()).getElementType();
    bool qkSupported = !qk || qk == inputType || qk.isSignlessInteger(8) ||
                       qk.isSignlessInteger(4) ||
                       isa<Float8E4M3FNType, Float4E2M1FNType>(qk);
    bool pvSupported =
        !pv || pv.isF16() || isa<Float8E4M3FNType, Float4E2M1FNType>(pv) ||
        pv == cast<MemRefType>(op.getValue().getType()).getElementType();
    if (!qkSupported || !pvSupported)
      return op.emitOpError()
             << "attn-lower-to-loops lowers qk = i8 / i4 / f8E4M3FN / "
                "f4E2M1FN (or the input type), smoothing, pv = f16 / "
                "f8E4M3FN / f4E2M1FN and every pv_accum; not yet "
             << precision;
  }
  if (HeadsAttr heads = op.getHeadsAttr()) {
    if (ShapedType::isDynamic(op.getNumQueryHeads()))
      return op.emitOpError() << "attn-lower-to-loops needs a static number "
                                 "of query heads to lower a heads attribute";
  }
  // renormalize = false is lowered for the op's own segments mask; inside
  // a composite or a head group its meaning would depend on the nesting.
  MaskAttrInterface mask = op.getMaskOrDense();
  bool nestedUnnormalized = false;
  auto findNested = [&](MaskAttrInterface root) {
    root.walk([&](SegmentsMaskAttr segments) {
      nestedUnnormalized |= !segments.getRenormalize() && segments != root;
    });
  };
  findNested(mask);
  if (HeadsAttr heads = op.getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getMask())
        group.getMask().walk([&](SegmentsMaskAttr segments) {
          nestedUnnormalized |= !segments.getRenormalize();
        });
  if (nestedUnnormalized)
    return op.emitOpError() << "attn-lower-to-loops lowers renormalize = "
                               "false only on the op's own segments mask";
  return success();
}

namespace {
struct AttnLowerToLoopsPass
    : mlir::attn::impl::AttnLowerToLoopsBase<AttnLowerToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (queryTile < 1 || keyTile < 1) {
      getOperation()->emitError()
          << "attn-lower-to-loops: query-tile = "
          << static_cast<int64_t>(queryTile)
          << " and key-tile = " << static_cast<int64_t>(keyTile)
          << " must be positive";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops) {
      if (failed(checkSupported(op)))
        return signalPassFailure();
      OpBuilder builder(op);
      LoopNestEmitter(op, builder, queryTile, keyTile).emit();
      op.erase();
    }
  }
};
} // namespace
