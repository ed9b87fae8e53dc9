//===- AttnToLoops.cpp - attn.attention to a tiled loop nest --------------===//
//
// The CPU form of the tiled schedule: query tiles x key tiles with an online
// softmax in f32, the mask predicate on partial tiles only, the head rules
// of SEMANTICS.md section 4 in the epilogue, and the quantized precisions of
// section 3 emulated bit-faithfully (pre-passes over Q, K and V, then the
// main loop on quantized values).
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToLoops/AttnToLoops.h"
#include "attn/Conversion/Passes.h"

#include "LoopNestEmitter.h"

#include "attn/Dialect/Attn/Utils/Schedule.h"
#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNLOWERTOLOOPS
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void LoopNestEmitter::emitTileRows(Value batch, Value head, Value kvHead,
                                   const Tile &queries, const Tile &keys,
                                   bool applyMask) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  forEachToken(queries, [&](Value i, Value r) {
    // Scores s_j = scale * q.k_j (+ bias), -inf where the mask drops j.
    Value tileMax = reduceTokens(keys, index(0), keys.count, negInf(),
                                 [&](Value j, Value jj, Value runMax) {
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
        Value block = arith::DivUIOp::create(
            b, loc, i, index(op.getSmoothQueryBlockSize(precision)));
        s = arith::AddFOp::create(
            b, loc, s,
            arith::MulFOp::create(
                b, loc, scale,
                load(quantized.scoreCorrection, {batch, head, block, j})));
      }
      if (Value bias = op.getBias())
        s = arith::AddFOp::create(
            b, loc, s, toF32(loadPairOperand(bias, batch, head, i, j)));
      Value keep = emitPairKeep(batch, head, i, j, applyMask);
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
    Value tileSum = reduce(index(0), keys.count, f32(0), [&](Value jj,
                                                             Value sum) {
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
    // NVFP4 blocks of 16 keys: aligned to multiples of 16 of the sequence
    // for flat tiles, to the tile's positions for boxes.
    if (isNvfp4(probabilityType)) {
      if (keys.begin.empty())
        emitRoundProbabilitiesNvfp4(keys.first, keys.end);
      else
        emitRoundProbabilitiesNvfp4(index(0), keys.count);
    }

    // acc = alpha acc + P V.
    Value vSource = quantized.value ? quantized.value : v;
    bool f16Accumulator =
        precision && precision.getPvAccum() == Accumulation::F16;
    auto productSum = [&](Value c, Value from, Value to, Value init) {
      return reduceTokens(keys, from, to, init,
                          [&](Value j, Value jj, Value a) {
                            Value p = load(probs, {jj});
                            Value vj = toF32(load(vSource, {batch, kvHead, j, c}));
                            return Value(arith::AddFOp::create(
                                b, loc, a, arith::MulFOp::create(b, loc, p, vj)));
                          });
    };
    loop(index(0), valueDim, [&](Value c) {
      Value start = arith::MulFOp::create(b, loc, alpha, load(acc, {r, c}));
      if (!f16Accumulator) {
        store(productSum(c, index(0), keys.count, start), acc, {r, c});
        return;
      }
      // An f16 accumulator: the rescale rounds once, then every chunk of
      // 16 keys adds its sum with one rounding.
      store(roundToF16(start), acc, {r, c});
      auto chunks =
          scf::ForOp::create(b, loc, index(0), keys.count, index(kF16Chunk));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value c0 = chunks.getInductionVar();
      Value c1 = arith::MinSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, c0, index(kF16Chunk)),
          keys.count);
      Value chunk = productSum(c, c0, c1, f32(0));
      store(roundToF16(arith::AddFOp::create(b, loc, load(acc, {r, c}), chunk)),
            acc, {r, c});
    });
    store(newMax, rowMax, {r});
  });
}

void LoopNestEmitter::emitQueryTile(Value batch, Value head, Value kvHead,
                                    Value tile, const HeadFactors &factors) {
  Tile queries = clipTile(queryGeometry, tile, nq);

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
  // Boxes of the grid are classified through their flat hulls, which is
  // safe (a hull with no kept pair has none in the box; one keeping every
  // pair keeps the box's) and exact for flat tiles.
  Value firstKeyTile = index(0);
  Value endKeyTile = TileIndexing(b, loc, keyGeometry).numTiles(nk);
  Value keyBegin, keyEnd;
  if (!maskAfterSoftmax) {
    std::tie(keyBegin, keyEnd) =
        mask.emitKeyRange(b, loc, queries.first, queries.end, maskContext);
    if (grid.empty()) {
      firstKeyTile = arith::DivSIOp::create(b, loc, keyBegin, index(keyTile));
      endKeyTile = arith::CeilDivSIOp::create(b, loc, keyEnd, index(keyTile));
    }
  }
  endKeyTile =
      arith::SelectOp::create(b, loc, factors.compute, endKeyTile, index(0));
  loop(firstKeyTile, endKeyTile, [&](Value keyTileIndex) {
    Tile keys = clipTile(keyGeometry, keyTileIndex, nk);
    // Empty tiles are skipped, full ones evaluate no predicate: the class
    // comes from the compile-time table when attn-sparsity made one.
    Value mayKeep, keepsAll;
    if (tileClasses) {
      Value cls = load(tileClasses, {index(classTable), tile, keyTileIndex});
      auto i8 = b.getI8Type();
      mayKeep = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ne, cls,
          arith::ConstantIntOp::create(b, loc, i8, 0));
      keepsAll = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, cls,
          arith::ConstantIntOp::create(b, loc, i8, 2));
    } else {
      std::tie(mayKeep, keepsAll) =
          mask.emitClassifyRange(b, loc, queries.first, queries.end,
                                 keys.first, keys.end, maskContext);
    }
    if (!grid.empty() && keyBegin) // box tiles outside the key range
      mayKeep = arith::AndIOp::create(
          b, loc, mayKeep,
          arith::AndIOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                    keys.first, keyEnd),
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                    keys.end, keyBegin)));
    if (maskAfterSoftmax) // Every key enters the denominator.
      mayKeep = arith::ConstantIntOp::create(b, loc, 1, 1);
    if (maskAfterSoftmax || op.getExplicitMask())
      keepsAll = arith::ConstantIntOp::create(b, loc, 0, 1);
    emitByTileClass(mayKeep, keepsAll, [&](bool applyMask) {
      emitTileRows(batch, head, kvHead, queries, keys, applyMask);
    });
  });

  // O = acc / l (0 when l == 0), LSE = m + log l (-inf when l == 0).
  forEachToken(queries, [&](Value i, Value r) {
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
      OutputTerms terms;
      terms.accumulated = load(acc, {r, c});
      terms.inverseSum = inverse;
      if (quantized.valueScale) // V scale of FP8 P.V
        terms.valueScale = load(quantized.valueScale, {batch, kvHead, c});
      if (softpag) {
        terms.softpagU = factors.softpagU;
        terms.identity = toF32(load(op.getValue(), {batch, kvHead, i, c}));
      }
      terms.factor = rowFactor;
      Value out = emitOutputElement(b, loc, terms);
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

void LoopNestEmitter::emit() {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  valueElementType = cast<MemRefType>(v.getType()).getElementType();
  outputElementType =
      cast<MemRefType>(op.getOutput().getType()).getElementType();

  Value batchSize = dim(q, 0), numHeads = dim(q, 1), numKvHeads = dim(k, 1);
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, numKvHeads);
  emitProblemSizes();

  auto f32Type = b.getF32Type();
  rowMax = memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  rowSum = memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  acc = memref::AllocOp::create(
      b, loc, MemRefType::get({queryTile, ShapedType::kDynamic}, f32Type),
      ValueRange{valueDim});
  scores = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
  probs = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
  // renormalize = false anywhere in a head's mask applies that whole mask
  // (and the explicit mask) to the numerator only, for that head.
  SmallVector<HeadSet> headSets = partitionHeads(op);
  if (llvm::any_of(headSets, [](const HeadSet &set) {
        return hasUnnormalizedSegments(set.mask);
      })) {
    kept = memref::AllocOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
    rowKept =
        memref::AllocOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  }

  Value numQueryTiles = TileIndexing(b, loc, queryGeometry).numTiles(nq);
  if (auto classes = op.getTileClassesAttr(); classes && useTileClasses)
    tileClasses = createConstantGlobal(
        b, loc, SymbolTable::getNearestSymbolTable(op), "attn_tile_classes",
        cast<DenseElementsAttr>(classes));
  // One loop nest per distinct (mask, precision): the op's heads, then each
  // head group with its own (their predicates and arithmetic differ). The
  // quantization pre-passes run per set.
  for (const HeadSet &set : headSets) {
    mask = set.mask;
    maskAfterSoftmax = hasUnnormalizedSegments(mask);
    classTable = set.classTable;
    precision = set.precision;
    probabilityType = precision && precision.getPv() ? precision.getPv()
                                                      : valueElementType;
    quantized = Quantized();
    emitQuantization(set.bundle, batchSize, numHeads, numKvHeads);
    loop(index(0), batchSize, [&](Value batchIndex) {
      batch = batchIndex;
      forEachHeadOfSet(
          set, numHeads, headsPerKv, [&](Value head, Value kvHead) {
            HeadFactors factors = emitHeadFactors(
                head, /*scoresNeeded=*/op.getLseOutput() != nullptr);
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
    // Every value the verifier accepts is lowered; the check stays as the
    // one place to refuse a future precision value.
    (void)inputType;
    bool qkSupported = !qk || qk.isF16() || qk.isBF16() ||
                       qk.isSignlessInteger(8) || qk.isSignlessInteger(4) ||
                       isa<Float8E4M3FNType, Float4E2M1FNType>(qk);
    bool pvSupported = !pv || pv.isF16() || pv.isBF16() ||
                       isa<Float8E4M3FNType, Float4E2M1FNType>(pv);
    if (!qkSupported || !pvSupported)
      return op.emitOpError() << "attn-lower-to-loops cannot lower "
                              << precision;
  }
  if (HeadsAttr heads = op.getHeadsAttr()) {
    if (ShapedType::isDynamic(op.getNumQueryHeads()))
      return op.emitOpError() << "attn-lower-to-loops needs a static number "
                                 "of query heads to lower a heads attribute";
  }
  return success();
}

void mlir::attn::loadAttnToLoopsDialects(MLIRContext *context) {
  context->loadDialect<arith::ArithDialect, math::MathDialect,
                       memref::MemRefDialect, scf::SCFDialect>();
}

LogicalResult mlir::attn::lowerAttentionToLoops(RewriterBase &rewriter,
                                                AttentionOp op,
                                                int64_t queryTile,
                                                int64_t keyTile) {
  if (failed(checkSupported(op)))
    return failure();
  rewriter.setInsertionPoint(op);
  LoopNestEmitter(op, rewriter, getLoopTiles(op, queryTile, keyTile)).emit();
  rewriter.eraseOp(op);
  return success();
}

namespace {
struct AttnLowerToLoopsPass
    : mlir::attn::impl::AttnLowerToLoopsBase<AttnLowerToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (queryTile < 0 || keyTile < 0) {
      getOperation()->emitError()
          << "attn-lower-to-loops: query-tile = "
          << static_cast<int64_t>(queryTile)
          << " and key-tile = " << static_cast<int64_t>(keyTile)
          << " must not be negative";
      return signalPassFailure();
    }
    // The quantization pre-steps of attn-quantize write their buffers in
    // place; the attention ops that read them follow.
    SmallVector<Operation *> steps;
    getOperation()->walk([&](Operation *op) {
      if (isa<KeyMeanOp, QueryBlockMeanOp, QuantizeRowsOp, QuantizeValueOp>(op))
        steps.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *step : steps)
      if (failed(lowerQuantizationStepToLoops(rewriter, step)))
        return signalPassFailure();
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      if (failed(lowerAttentionToLoops(rewriter, op, queryTile, keyTile)))
        return signalPassFailure();
    SmallVector<AttentionGradOp> gradOps;
    getOperation()->walk([&](AttentionGradOp op) { gradOps.push_back(op); });
    for (AttentionGradOp op : gradOps)
      if (failed(lowerAttentionGradToLoops(rewriter, op, queryTile, keyTile)))
        return signalPassFailure();
  }
};
} // namespace
