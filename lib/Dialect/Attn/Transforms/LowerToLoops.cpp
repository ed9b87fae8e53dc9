//===- LowerToLoops.cpp - attn.attention to a tiled loop nest -------------===//
//
// The CPU form of the tiled schedule (SEMANTICS.md section 1, default
// precision): query tiles x key tiles with an online softmax in f32.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNLOWERTOLOOPS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

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
  // Constants and arithmetic.
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
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

  void emitQueryTile(Value batch, Value head, Value kvHead, Value tile);

  AttentionOp op;
  OpBuilder &b;
  Location loc;
  int64_t queryTile, keyTile;

  // Filled by emit().
  Value nq, nk, headDim, valueDim, scale;
  Value rowMax, rowSum, acc, scores, probs; // scratch buffers
  MaskAttrInterface mask;
  MaskIRContext maskContext;
  Type valueElementType, outputElementType;
};

} // namespace

void LoopNestEmitter::emitQueryTile(Value batch, Value head, Value kvHead,
                                    Value tile) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value q0 = arith::MulIOp::create(b, loc, tile, index(queryTile));
  Value q1 = arith::MinSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, q0, index(queryTile)), nq);

  // m = -inf, l = 0, acc = 0.
  loop(index(0), index(queryTile), [&](Value r) {
    store(negInf(), rowMax, {r});
    store(f32(0), rowSum, {r});
    loop(index(0), valueDim, [&](Value c) { store(f32(0), acc, {r, c}); });
  });

  Value numKeyTiles = arith::CeilDivSIOp::create(b, loc, nk, index(keyTile));
  loop(index(0), numKeyTiles, [&](Value keyTileIndex) {
    Value k0 = arith::MulIOp::create(b, loc, keyTileIndex, index(keyTile));
    Value k1 = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, k0, index(keyTile)), nk);
    loop(q0, q1, [&](Value i) {
      Value r = arith::SubIOp::create(b, loc, i, q0);
      // Scores s_j = scale * q.k_j (+ bias), -inf where the mask drops j.
      Value tileMax = reduce(k0, k1, negInf(), [&](Value j, Value runMax) {
        Value dot = reduce(index(0), headDim, f32(0), [&](Value d, Value s) {
          Value qd = toF32(load(q, {batch, head, i, d}));
          Value kd = toF32(load(k, {batch, kvHead, j, d}));
          return Value(arith::AddFOp::create(
              b, loc, s, arith::MulFOp::create(b, loc, qd, kd)));
        });
        Value s = arith::MulFOp::create(b, loc, dot, scale);
        if (Value bias = op.getBias())
          s = arith::AddFOp::create(
              b, loc, s, toF32(loadPairOperand(bias, batch, head, i, j)));
        Value keep = mask.emitKeep(b, loc, i, j, maskContext);
        if (Value explicitMask = op.getExplicitMask())
          keep = arith::AndIOp::create(
              b, loc, keep,
              loadPairOperand(explicitMask, batch, head, i, j));
        s = arith::SelectOp::create(b, loc, keep, s, negInf());
        store(s, scores, {arith::SubIOp::create(b, loc, j, k0)});
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
        store(roundThrough(p, valueElementType), probs, {jj});
        return Value(arith::AddFOp::create(b, loc, sum, p));
      });
      store(arith::AddFOp::create(
                b, loc, arith::MulFOp::create(b, loc, alpha, load(rowSum, {r})),
                tileSum),
            rowSum, {r});

      // acc = alpha acc + P V.
      loop(index(0), valueDim, [&](Value c) {
        Value start = arith::MulFOp::create(b, loc, alpha, load(acc, {r, c}));
        Value total = reduce(k0, k1, start, [&](Value j, Value a) {
          Value p = load(probs, {arith::SubIOp::create(b, loc, j, k0)});
          Value vj = toF32(load(v, {batch, kvHead, j, c}));
          return Value(arith::AddFOp::create(
              b, loc, a, arith::MulFOp::create(b, loc, p, vj)));
        });
        store(total, acc, {r, c});
      });
      store(newMax, rowMax, {r});
    });
  });

  // O = acc / l (0 when l == 0), LSE = m + log l (-inf when l == 0).
  loop(q0, q1, [&](Value i) {
    Value r = arith::SubIOp::create(b, loc, i, q0);
    Value l = load(rowSum, {r});
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l, f32(0));
    Value inverse = arith::SelectOp::create(
        b, loc, empty, f32(0), arith::DivFOp::create(b, loc, f32(1), l));
    loop(index(0), valueDim, [&](Value c) {
      Value out = arith::MulFOp::create(b, loc, load(acc, {r, c}), inverse);
      store(fromF32(out, outputElementType), op.getOutput(),
            {batch, head, i, c});
    });
    if (Value lse = op.getLseOutput()) {
      Value value = arith::AddFOp::create(b, loc, load(rowMax, {r}),
                                          math::LogOp::create(b, loc, l));
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

  auto scope = memref::AllocaScopeOp::create(b, loc, TypeRange{});
  Block *body = new Block();
  scope.getBodyRegion().push_back(body);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);

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
  rowMax = memref::AllocaOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  rowSum = memref::AllocaOp::create(b, loc, MemRefType::get({queryTile}, f32Type));
  acc = memref::AllocaOp::create(
      b, loc, MemRefType::get({queryTile, ShapedType::kDynamic}, f32Type),
      ValueRange{valueDim});
  scores = memref::AllocaOp::create(b, loc, MemRefType::get({keyTile}, f32Type));
  probs = memref::AllocaOp::create(b, loc, MemRefType::get({keyTile}, f32Type));

  Value numQueryTiles = arith::CeilDivSIOp::create(b, loc, nq, index(queryTile));
  loop(index(0), batchSize, [&](Value batchIndex) {
    batch = batchIndex;
    loop(index(0), numHeads, [&](Value head) {
      Value kvHead = arith::DivSIOp::create(b, loc, head, headsPerKv);
      loop(index(0), numQueryTiles, [&](Value tile) {
        emitQueryTile(batchIndex, head, kvHead, tile);
      });
    });
  });
  memref::AllocaScopeReturnOp::create(b, loc);
}

/// Why `op` cannot be lowered yet, or success.
static LogicalResult checkSupported(AttentionOp op) {
  if (op.hasTensorSemantics())
    return op.emitOpError() << "attn-lower-to-loops needs memref operands; "
                               "bufferize first";
  if (op.getPrecisionAttr())
    return op.emitOpError() << "attn-lower-to-loops does not lower precision "
                               "attributes yet";
  if (op.getHeadsAttr() || op.getGates())
    return op.emitOpError() << "attn-lower-to-loops does not lower heads "
                               "attributes or gates yet";
  bool unnormalized = false;
  op.getMaskOrDense().walk([&](SegmentsMaskAttr segments) {
    unnormalized |= !segments.getRenormalize();
  });
  if (unnormalized)
    return op.emitOpError() << "attn-lower-to-loops does not lower segments "
                               "with renormalize = false yet";
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
