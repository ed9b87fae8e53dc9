//===- ProblemEmitter.cpp - what the forward and backward nests share -----===//
//
// The parts of the CPU loop nests that depend on the attention problem only
// (AttentionProblemOpInterface), not on the direction: sizes, scale, the
// mask context with run-time segment offsets, head selection and factors,
// the pair operands and the keep predicate, and token iteration over tiles.
//
//===----------------------------------------------------------------------===//

#include "LoopNestEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

LoopTiles mlir::attn::detail::getLoopTiles(AttentionProblemOpInterface op,
                                           int64_t queryTile, int64_t keyTile) {
  LoopTiles tiles;
  TilingAttr tiling = op.getTilingAttr();
  if (queryTile || keyTile || !tiling) {
    tiles.queries = {queryTile ? queryTile : 16};
    tiles.keys = {keyTile ? keyTile : 16};
    return tiles;
  }
  tiles.queries.assign(tiling.getQuery().begin(), tiling.getQuery().end());
  tiles.keys.assign(tiling.getKey().begin(), tiling.getKey().end());
  if (tiling.getRank() > 1)
    tiles.grid = op.getTokenGrid(); // checked by the verifier
  tiles.useTileClasses = op.getTileClassesAttr() != nullptr;
  return tiles;
}

void ProblemEmitter::emitProblemSizes() {
  Value q = problem.getQuery(), k = problem.getKey(), v = problem.getValue();
  nq = dim(q, 2);
  nk = dim(k, 2);
  headDim = dim(q, 3);
  valueDim = dim(v, 3);
  double scaleValue = problem.getEffectiveScale().value_or(0.0);
  if (problem.getScaleAttr() || !ShapedType::isDynamic(problem.getHeadDim())) {
    scale = f32(scaleValue);
  } else {
    // 1/sqrt(D) of a run-time D.
    Value d = arith::UIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim));
    scale = math::RsqrtOp::create(b, loc, d);
  }

  mask = problem.getMaskOrDense();
  maskContext.queryLength = nq;
  maskContext.keyLength = nk;
  if (Value offsets = problem.getSegmentOffsets()) {
    auto type = cast<MemRefType>(offsets.getType());
    maskContext.segmentOffset = [this, offsets,
                                 type](OpBuilder &builder, Location l,
                                       bool ofKeys, int64_t position) -> Value {
      SmallVector<Value> indices = {batch};
      if (type.getRank() == 3)
        indices.push_back(arith::ConstantIndexOp::create(builder, l, ofKeys));
      indices.push_back(arith::ConstantIndexOp::create(builder, l, position));
      Value raw = memref::LoadOp::create(builder, l, offsets, indices);
      return arith::IndexCastOp::create(builder, l, builder.getIndexType(),
                                        raw);
    };
  }
}

Value ProblemEmitter::emitHeadOfSet(const HeadSet &set, Value position) {
  if (set.heads.empty())
    return position;
  Value head = index(set.heads.back());
  for (int64_t p = static_cast<int64_t>(set.heads.size()) - 2; p >= 0; --p) {
    Value isP = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                      position, index(p));
    head = arith::SelectOp::create(b, loc, isP, index(set.heads[p]), head);
  }
  return head;
}

void ProblemEmitter::forEachHeadOfSet(const HeadSet &set, Value numHeads,
                                      Value headsPerKv,
                                      function_ref<void(Value, Value)> body) {
  Value count = set.heads.empty() ? numHeads : index(set.heads.size());
  loop(index(0), count, [&](Value position) {
    Value head = emitHeadOfSet(set, position);
    body(head, arith::DivSIOp::create(b, loc, head, headsPerKv));
  });
}

SmallVector<Value> ProblemEmitter::pairOperandIndices(Value operand,
                                                      Value batch, Value head,
                                                      Value i, Value j) {
  auto type = cast<MemRefType>(operand.getType());
  if (type.getRank() == 2)
    return {i, j};
  auto broadcast = [&](Value idx, unsigned d) {
    if (type.getDimSize(d) == 1)
      return index(0);
    if (!type.isDynamicDim(d))
      return idx;
    Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        dim(operand, d), index(1));
    return Value(arith::SelectOp::create(b, loc, isOne, index(0), idx));
  };
  return {broadcast(batch, 0), broadcast(head, 1), i, j};
}

Value ProblemEmitter::loadPairOperand(Value operand, Value batch, Value head,
                                      Value i, Value j) {
  return load(operand, pairOperandIndices(operand, batch, head, i, j));
}

Value ProblemEmitter::emitPairKeep(Value batch, Value head, Value i, Value j,
                                   bool applyMask) {
  Value keep = applyMask ? mask.emitKeep(b, loc, i, j, maskContext)
                         : Value(arith::ConstantIntOp::create(b, loc, 1, 1));
  if (Value explicitMask = problem.getExplicitMask())
    keep = arith::AndIOp::create(
        b, loc, keep, loadPairOperand(explicitMask, batch, head, i, j));
  return keep;
}

Value ProblemEmitter::selectByHead(Value head, ArrayRef<double> values) {
  Value result = f32(values.back());
  for (int64_t h = static_cast<int64_t>(values.size()) - 2; h >= 0; --h) {
    Value isHead =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, head, index(h));
    result = arith::SelectOp::create(b, loc, isHead, f32(values[h]), result);
  }
  return result;
}

ProblemEmitter::HeadFactors ProblemEmitter::emitHeadFactors(Value head,
                                                            bool scoresNeeded) {
  HeadFactors factors{f32(1), f32(0), nullptr};
  HeadsAttr heads = problem.getHeadsAttr();
  SmallVector<double> weights, softpagU;
  for (int64_t h = 0; heads && h < problem.getNumQueryHeads(); ++h) {
    attn::HeadFactors fixed = getHeadFactors(problem, h);
    weights.push_back(fixed.weight);
    softpagU.push_back(fixed.softpagU);
  }
  if (heads && heads.getWeights())
    factors.weight = selectByHead(head, weights);
  if (heads && heads.getSoftpag())
    factors.softpagU = selectByHead(head, softpagU);
  Value nonZeroWeight = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                              factors.weight, f32(0));
  factors.compute = nonZeroWeight;
  // u = 1 replaces the attention by V; it is still computed when the LSE
  // output asks for its scores.
  if (!scoresNeeded)
    factors.compute = arith::AndIOp::create(
        b, loc, nonZeroWeight,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                              factors.softpagU, f32(1)));
  return factors;
}

void ProblemEmitter::forEachToken(const Tile &tile,
                                  function_ref<void(Value, Value)> fn) {
  loop(index(0), tile.count, [&](Value position) {
    fn(indexing(tile).tokenOf(tile, position), position);
  });
}

void ProblemEmitter::emitByTileClass(Value mayKeep, Value keepsAll,
                                     function_ref<void(bool)> body) {
  auto ifMayKeep = scf::IfOp::create(b, loc, mayKeep, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifMayKeep.thenBlock());
  auto ifFull = scf::IfOp::create(b, loc, keepsAll, /*withElse=*/true);
  b.setInsertionPointToStart(ifFull.thenBlock());
  body(/*applyMask=*/false);
  b.setInsertionPointToStart(ifFull.elseBlock());
  body(/*applyMask=*/true);
}

Value ProblemEmitter::reduceTokens(
    const Tile &tile, Value from, Value to, Value init,
    function_ref<Value(Value, Value, Value)> fn) {
  return reduce(from, to, init, [&](Value position, Value acc) {
    return fn(indexing(tile).tokenOf(tile, position), position, acc);
  });
}
