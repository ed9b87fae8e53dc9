//===- LowerAttentionGrad.cpp - attn.attention_grad to a loop nest --------===//
//
// The CPU form of the backward schedule (SEMANTICS.md section 5), the one
// the GPU kernels follow: a row pass computes Dlt = dot(dO, O) minus the
// SoftPAG identity term, then key tiles are walked outermost. Each key tile
// visits the query tiles that keep one of its keys (the mask's closed-form
// query range, then each tile's class: empty tiles skipped, full ones
// without the predicate), recomputes P from the forward's LSE, and
// accumulates dK and dV of the tile over every query head of its kv head;
// dQ, dBias and the gates' sums go to f32 buffers (the GPU's atomics).
// Quantized precisions are differentiated as the identity.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToLoops/AttnToLoops.h"

#include "LoopNestEmitter.h"

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {
/// Loops over every index of a memref, row-major.
void forEachIndex(OpBuilder &b, Location loc, Value memref,
                  function_ref<void(ValueRange)> body) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<Value> lower, upper, steps;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    lower.push_back(arith::ConstantIndexOp::create(b, loc, 0));
    upper.push_back(memref::DimOp::create(b, loc, memref, d));
    steps.push_back(arith::ConstantIndexOp::create(b, loc, 1));
  }
  scf::buildLoopNest(b, loc, lower, upper, steps,
                     [&](OpBuilder &nested, Location, ValueRange indices) {
                       OpBuilder::InsertionGuard guard(b);
                       b.setInsertionPoint(nested.getInsertionBlock(),
                                           nested.getInsertionPoint());
                       body(indices);
                     });
}

/// An f32 buffer of `like`'s shape, zeroed.
Value allocZeroedLike(OpBuilder &b, Location loc, Value like) {
  auto type = cast<MemRefType>(like.getType());
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(memref::DimOp::create(b, loc, like, d));
  Value buffer = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), b.getF32Type()), dynamicSizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  forEachIndex(b, loc, buffer, [&](ValueRange indices) {
    memref::StoreOp::create(b, loc, zero, buffer, indices);
  });
  return buffer;
}
} // namespace

void GradientLoopNestEmitter::emitStoreGradient(Value accumulator,
                                                Value gradient) {
  Type type = elementType(gradient);
  forEachIndex(b, loc, gradient, [&](ValueRange indices) {
    store(fromF32(load(accumulator, indices), type), gradient, indices);
  });
}

void GradientLoopNestEmitter::emitRowTerms(Value head, Value kvHead,
                                           const HeadFactors &factors) {
  bool softpag = op.getHeadsAttr() && op.getHeadsAttr().getSoftpag();
  Value gates = op.getGates();
  loop(index(0), nq, [&](Value i) {
    auto dotWithOutputGrad = [&](Value other, Value otherHead) {
      return reduce(index(0), valueDim, f32(0), [&](Value e, Value sum) {
        Value dy = toF32(load(op.getOutputGrad(), {batch, head, i, e}));
        Value x = toF32(load(other, {batch, otherHead, i, e}));
        return Value(arith::AddFOp::create(
            b, loc, sum, arith::MulFOp::create(b, loc, dy, x)));
      });
    };
    // Y = c ((1 - u) A + u V[i]) with c = w g, so c (1 - u) dot(dY, A),
    // the Dlt of section 5, is dot(dY, Y) - c u dot(dY, V[i]).
    Value delta = dotWithOutputGrad(op.getOutput(), head);
    if (softpag || gates) {
      Value c = factors.weight;
      if (gates)
        c = arith::MulFOp::create(b, loc, c,
                                  toF32(load(gates, {batch, i, head})));
      Value identityDot = f32(0);
      if (softpag) {
        identityDot = dotWithOutputGrad(op.getValue(), kvHead);
        Value cu = arith::MulFOp::create(b, loc, c, factors.softpagU);
        delta = arith::SubFOp::create(
            b, loc, delta, arith::MulFOp::create(b, loc, cu, identityDot));
        // dV[i] += c u dY[i]: the identity term of SoftPAG.
        loop(index(0), valueDim, [&](Value e) {
          Value dy = toF32(load(op.getOutputGrad(), {batch, head, i, e}));
          Value old = load(valueGrad, {batch, kvHead, i, e});
          store(arith::AddFOp::create(b, loc, old,
                                      arith::MulFOp::create(b, loc, cu, dy)),
                valueGrad, {batch, kvHead, i, e});
        });
      }
      // dG = w ((1 - u) dot(dY, A) + u dot(dY, V[i])); the key tiles add
      // the first part.
      if (gates)
        store(arith::MulFOp::create(
                  b, loc, factors.weight,
                  arith::MulFOp::create(b, loc, factors.softpagU, identityDot)),
              gatesGrad, {batch, i, head});
    }
    store(delta, this->delta, {batch, head, i});
  });
}

void GradientLoopNestEmitter::emitTilePairs(Value head, Value kvHead,
                                            const Tile &queries,
                                            const Tile &keys,
                                            const HeadFactors &factors,
                                            bool applyMask) {
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value outputGrad = op.getOutputGrad();
  Value gates = op.getGates(), bias = op.getBias();
  Value oneMinusU = arith::SubFOp::create(b, loc, f32(1), factors.softpagU);
  forEachToken(queries, [&](Value i, Value) {
    Value lse = load(op.getLse(), {batch, head, i});
    Value rowEmpty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse, negInf());
    Value c = factors.weight;
    if (gates)
      c = arith::MulFOp::create(b, loc, c,
                                toF32(load(gates, {batch, i, head})));
    // dA = c (1 - u) dY.
    Value attentionFactor = arith::MulFOp::create(b, loc, c, oneMinusU);
    Value delta = load(this->delta, {batch, head, i});
    if (Value lseGrad = op.getLseGrad())
      delta =
          arith::SubFOp::create(b, loc, delta, load(lseGrad, {batch, head, i}));
    forEachToken(keys, [&](Value j, Value jj) {
      auto dot = [&](Value x, Value xHead, Value xi, Value y, Value yHead,
                     Value yj, Value length) {
        return reduce(index(0), length, f32(0), [&](Value d, Value sum) {
          Value xd = toF32(load(x, {batch, xHead, xi, d}));
          Value yd = toF32(load(y, {batch, yHead, yj, d}));
          return Value(arith::AddFOp::create(
              b, loc, sum, arith::MulFOp::create(b, loc, xd, yd)));
        });
      };
      Value s = arith::MulFOp::create(
          b, loc, dot(q, head, i, k, kvHead, j, headDim), scale);
      if (bias)
        s = arith::AddFOp::create(
            b, loc, s, toF32(loadPairOperand(bias, batch, head, i, j)));
      Value keep = emitPairKeep(batch, head, i, j, applyMask);
      // P = exp(s - LSE) over the softmax's denominator: the kept keys, or
      // every key for renormalize = false; 0 in an empty row.
      Value inDenominator =
          maskAfterSoftmax ? Value(arith::ConstantIntOp::create(b, loc, 1, 1))
                           : keep;
      Value defined = arith::AndIOp::create(
          b, loc, inDenominator,
          arith::XOrIOp::create(b, loc, rowEmpty,
                                arith::ConstantIntOp::create(b, loc, 1, 1)));
      Value p = arith::SelectOp::create(
          b, loc, defined,
          math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, lse)),
          f32(0));
      // dP / (c (1 - u)) = keep dot(dY, V[j]).
      Value outputGradDotV = arith::SelectOp::create(
          b, loc, keep, dot(outputGrad, head, i, v, kvHead, j, valueDim),
          f32(0));
      Value dp = arith::MulFOp::create(b, loc, attentionFactor, outputGradDotV);
      // dS = P (dP - Dlt + dLSE).
      Value ds = arith::MulFOp::create(
          b, loc, p, arith::SubFOp::create(b, loc, dp, delta));
      Value scaledDs = arith::MulFOp::create(b, loc, ds, scale);
      // dV[j] += keep P dA[i].
      Value keptP = arith::SelectOp::create(b, loc, keep, p, f32(0));
      Value valueFactor = arith::MulFOp::create(b, loc, keptP, attentionFactor);
      loop(index(0), valueDim, [&](Value e) {
        Value dy = toF32(load(outputGrad, {batch, head, i, e}));
        Value old = load(valueTileGrad, {jj, e});
        store(arith::AddFOp::create(
                  b, loc, old, arith::MulFOp::create(b, loc, valueFactor, dy)),
              valueTileGrad, {jj, e});
      });
      // dK[j] += scale dS Q[i]; dQ[i] += scale dS K[j].
      loop(index(0), headDim, [&](Value d) {
        Value qd = toF32(load(q, {batch, head, i, d}));
        Value kd = toF32(load(k, {batch, kvHead, j, d}));
        Value oldK = load(keyTileGrad, {jj, d});
        store(arith::AddFOp::create(
                  b, loc, oldK, arith::MulFOp::create(b, loc, scaledDs, qd)),
              keyTileGrad, {jj, d});
        Value oldQ = load(queryGrad, {batch, head, i, d});
        store(arith::AddFOp::create(
                  b, loc, oldQ, arith::MulFOp::create(b, loc, scaledDs, kd)),
              queryGrad, {batch, head, i, d});
      });
      // dBias[i, j] += dS, summed over the bias's broadcast dimensions.
      if (biasGrad) {
        SmallVector<Value> at = pairOperandIndices(bias, batch, head, i, j);
        store(arith::AddFOp::create(b, loc, load(biasGrad, at), ds), biasGrad,
              at);
      }
      // dG += w (1 - u) P keep dot(dY, V[j]).
      if (gates) {
        Value term = arith::MulFOp::create(
            b, loc, arith::MulFOp::create(b, loc, factors.weight, oneMinusU),
            arith::MulFOp::create(b, loc, p, outputGradDotV));
        Value old = load(gatesGrad, {batch, i, head});
        store(arith::AddFOp::create(b, loc, old, term), gatesGrad,
              {batch, i, head});
      }
    });
  });
}

GradientLoopNestEmitter::QueryWalk
GradientLoopNestEmitter::emitQueryWalk(Value keyTileIndex, const Tile &keys) {
  QueryWalk walk;
  // Table mode: the key tile's entries in the lists.
  if (listOffsets) {
    walk.first = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                            load(listOffsets, {keyTileIndex}));
    walk.end = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        load(listOffsets,
             {arith::AddIOp::create(b, loc, keyTileIndex, index(1))}));
    return walk;
  }
  // Range mode: the queries that may keep a key of the tile, in closed
  // form (every query when the denominator runs over all keys).
  walk.first = index(0);
  walk.end = TileIndexing(b, loc, queryGeometry).numTiles(nq);
  if (!maskAfterSoftmax) {
    std::tie(walk.queryBegin, walk.queryEnd) =
        mask.emitQueryRange(b, loc, keys.first, keys.end, maskContext);
    if (grid.empty()) {
      walk.first =
          arith::DivSIOp::create(b, loc, walk.queryBegin, index(queryTile));
      walk.end =
          arith::CeilDivSIOp::create(b, loc, walk.queryEnd, index(queryTile));
    }
  }
  return walk;
}

void GradientLoopNestEmitter::emitKeyTile(Value head, Value kvHead,
                                          const QueryWalk &walk,
                                          const Tile &keys,
                                          const HeadFactors &factors) {
  // Visits query tile `tileIndex` when `mayKeep`, without the predicate
  // when `keepsAll`.
  auto visit = [&](Value tileIndex, Value mayKeep, Value keepsAll) {
    Tile queries = clipTile(queryGeometry, tileIndex, nq);
    if (maskAfterSoftmax || op.getExplicitMask())
      keepsAll = arith::ConstantIntOp::create(b, loc, 0, 1);
    emitByTileClass(mayKeep, keepsAll, [&](bool applyMask) {
      emitTilePairs(head, kvHead, queries, keys, factors, applyMask);
    });
  };

  // Table mode: the listed query tiles and their classes.
  if (listOffsets) {
    loop(walk.first, walk.end, [&](Value entry) {
      Value tileIndex = arith::IndexCastOp::create(
          b, loc, b.getIndexType(), load(listQueryTiles, {entry}));
      Value full = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, load(listClasses, {entry}),
          arith::ConstantIntOp::create(b, loc, b.getI8Type(),
                                       static_cast<int64_t>(TileClass::Full)));
      visit(tileIndex, arith::ConstantIntOp::create(b, loc, 1, 1), full);
    });
    return;
  }

  // Range mode: each tile of the range classified at run time. Boxes of a
  // grid are classified through their flat hulls, which is safe.
  loop(walk.first, walk.end, [&](Value tileIndex) {
    auto [first, end] = TileIndexing(b, loc, queryGeometry).hull(tileIndex, nq);
    auto [mayKeep, keepsAll] = mask.emitClassifyRange(
        b, loc, first, end, keys.first, keys.end, maskContext);
    if (!grid.empty() && walk.queryBegin) // box tiles outside the range
      mayKeep = arith::AndIOp::create(
          b, loc, mayKeep,
          arith::AndIOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, first,
                                    walk.queryEnd),
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, end,
                                    walk.queryBegin)));
    if (maskAfterSoftmax) // P is defined for every pair.
      mayKeep = arith::ConstantIntOp::create(b, loc, 1, 1);
    visit(tileIndex, mayKeep, keepsAll);
  });
}

void GradientLoopNestEmitter::emitTileLists(DenseIntElementsAttr classes,
                                            int64_t table) {
  TileLists lists = getTileLists(classes, table, /*byKeyTile=*/true);
  SmallVector<int8_t> tileClasses;
  for (TileClass tileClass : lists.classes)
    tileClasses.push_back(static_cast<int8_t>(tileClass));
  Operation *symbolTable = SymbolTable::getNearestSymbolTable(op);
  auto constant = [&](StringRef name, auto values, Type type) {
    // An empty list still needs one element to be a valid global.
    SmallVector<typename decltype(values)::value_type> data(values.begin(),
                                                            values.end());
    int64_t size = data.size();
    if (data.empty())
      data.push_back(0);
    auto tensorType = RankedTensorType::get({std::max<int64_t>(size, 1)}, type);
    return createConstantGlobal(
        b, loc, symbolTable, name,
        DenseElementsAttr::get(tensorType, ArrayRef(data)));
  };
  listOffsets =
      constant("attn_grad_tile_offsets", lists.offsets, b.getI32Type());
  listQueryTiles =
      constant("attn_grad_query_tiles", lists.tiles, b.getI32Type());
  listClasses = constant("attn_grad_tile_classes", tileClasses, b.getI8Type());
}

void GradientLoopNestEmitter::emit() {
  Value q = op.getQuery(), k = op.getKey();
  Value batchSize = dim(q, 0), numHeads = dim(q, 1), numKvHeads = dim(k, 1);
  Value headsPerKv = arith::DivSIOp::create(b, loc, numHeads, numKvHeads);
  emitProblemSizes();

  queryGrad = allocZeroedLike(b, loc, op.getQueryGrad());
  keyGrad = allocZeroedLike(b, loc, op.getKeyGrad());
  valueGrad = allocZeroedLike(b, loc, op.getValueGrad());
  if (Value grad = op.getBiasGrad())
    biasGrad = allocZeroedLike(b, loc, grad);
  if (Value grad = op.getGatesGrad())
    gatesGrad = allocZeroedLike(b, loc, grad);
  auto f32Type = b.getF32Type();
  delta = memref::AllocOp::create(
      b, loc,
      MemRefType::get(
          {ShapedType::kDynamic, ShapedType::kDynamic, ShapedType::kDynamic},
          f32Type),
      ValueRange{batchSize, numHeads, nq});
  keyTileGrad = memref::AllocOp::create(
      b, loc, MemRefType::get({keyTile, ShapedType::kDynamic}, f32Type),
      ValueRange{headDim});
  valueTileGrad = memref::AllocOp::create(
      b, loc, MemRefType::get({keyTile, ShapedType::kDynamic}, f32Type),
      ValueRange{valueDim});
  Value numKeyTiles = TileIndexing(b, loc, keyGeometry).numTiles(nk);

  // One walk per distinct mask (head sets; the precision plays no part).
  for (const HeadSet &set : partitionHeads(op)) {
    mask = set.mask;
    maskAfterSoftmax = hasUnnormalizedSegments(mask);
    listOffsets = listQueryTiles = listClasses = nullptr;
    if (DenseIntElementsAttr classes = op.getTileClassesAttr();
        classes && useTileClasses && !maskAfterSoftmax)
      emitTileLists(classes, set.classTable);
    loop(index(0), batchSize, [&](Value batchIndex) {
      batch = batchIndex;
      // Rows: Dlt and the SoftPAG terms. Heads with weight 0 get no
      // gradient.
      forEachHeadOfSet(
          set, numHeads, headsPerKv, [&](Value head, Value kvHead) {
            HeadFactors factors = emitHeadFactors(head, /*scoresNeeded=*/true);
            auto ifCompute =
                scf::IfOp::create(b, loc, factors.compute, /*withElse=*/false);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(ifCompute.thenBlock());
            emitRowTerms(head, kvHead, factors);
          });
      // Key tiles, each over every query head of its kv head in the set.
      loop(index(0), numKvHeads, [&](Value kvHead) {
        loop(index(0), numKeyTiles, [&](Value keyTileIndex) {
          Tile keys = clipTile(keyGeometry, keyTileIndex, nk);
          for (Value tileGrad : {keyTileGrad, valueTileGrad})
            forEachIndex(b, loc, tileGrad,
                         [&](ValueRange at) { store(f32(0), tileGrad, at); });
          // The query tiles the key tile reaches: the same for every head
          // of the set.
          QueryWalk queryWalk = emitQueryWalk(keyTileIndex, keys);
          loop(index(0), headsPerKv, [&](Value offset) {
            Value head = arith::AddIOp::create(
                b, loc, arith::MulIOp::create(b, loc, kvHead, headsPerKv),
                offset);
            HeadFactors factors = emitHeadFactors(head, /*scoresNeeded=*/true);
            Value walk = factors.compute;
            if (!set.heads.empty()) {
              Value inSet = arith::ConstantIntOp::create(b, loc, 0, 1);
              for (int64_t member : set.heads)
                inSet = arith::OrIOp::create(
                    b, loc, inSet,
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          head, index(member)));
              walk = arith::AndIOp::create(b, loc, walk, inSet);
            }
            auto ifWalk = scf::IfOp::create(b, loc, walk, /*withElse=*/false);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(ifWalk.thenBlock());
            emitKeyTile(head, kvHead, queryWalk, keys, factors);
          });
          // The tile's dK and dV join the kv head's (other head sets add
          // theirs in their own walks).
          forEachToken(keys, [&](Value j, Value jj) {
            auto addTile = [&](Value tileGrad, Value grad, Value length) {
              loop(index(0), length, [&](Value c) {
                Value sum = arith::AddFOp::create(
                    b, loc, load(grad, {batch, kvHead, j, c}),
                    load(tileGrad, {jj, c}));
                store(sum, grad, {batch, kvHead, j, c});
              });
            };
            addTile(keyTileGrad, keyGrad, headDim);
            addTile(valueTileGrad, valueGrad, valueDim);
          });
        });
      });
    });
  }

  emitStoreGradient(queryGrad, op.getQueryGrad());
  emitStoreGradient(keyGrad, op.getKeyGrad());
  emitStoreGradient(valueGrad, op.getValueGrad());
  if (biasGrad)
    emitStoreGradient(biasGrad, op.getBiasGrad());
  if (gatesGrad)
    emitStoreGradient(gatesGrad, op.getGatesGrad());
  for (Value buffer : {queryGrad, keyGrad, valueGrad, biasGrad, gatesGrad,
                       delta, keyTileGrad, valueTileGrad})
    if (buffer)
      memref::DeallocOp::create(b, loc, buffer);
}

LogicalResult mlir::attn::lowerAttentionGradToLoops(RewriterBase &rewriter,
                                                    AttentionGradOp op,
                                                    int64_t queryTile,
                                                    int64_t keyTile) {
  if (op.hasTensorSemantics())
    return op.emitOpError() << "attn-lower-to-loops needs memref operands; "
                               "bufferize first";
  if (op.getHeadsAttr() && ShapedType::isDynamic(op.getNumQueryHeads()))
    return op.emitOpError() << "attn-lower-to-loops needs a static number of "
                               "query heads to lower a heads attribute";
  rewriter.setInsertionPoint(op);
  GradientLoopNestEmitter(op, rewriter, getLoopTiles(op, queryTile, keyTile))
      .emit();
  rewriter.eraseOp(op);
  return success();
}
