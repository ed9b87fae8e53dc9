//===- ScoreOps.cpp - what happens to S before the softmax ----------------===//

#include "ScoreOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

Value ScoreOps::keyPosition(int64_t chunk, int64_t c) {
  return add(idx(layout.column(chunk, c)), columnOffset);
}

void ScoreOps::dequantize(Fragment &scores, Value keyScaleOffset) {
  // One multiply per element once the pair's factor is formed.
  Type run = VectorType::get({layout.columnsPerThread}, b.getF32Type());
  for (int64_t chunk = 0; chunk < scores.numChunks; ++chunk) {
    Value offset = add(keyScaleOffset, mul(keyPosition(chunk, 0), idx(4)));
    Value keyScales =
        LLVM::LoadOp::create(b, loc, run, sharedAt(ctx.sharedBase, offset));
    for (int64_t slot = 0; slot < layout.rowSlots; ++slot)
      for (int64_t c = 0; c < layout.columnsPerThread; ++c) {
        Value factor = mulF(ctx.queryScales[slot],
                            vector::ExtractOp::create(b, loc, keyScales, c));
        Value &s = scores.at(layout, chunk, slot, c);
        // Integer MMAs give exact s32 dot products; E4M3 ones f32.
        Value dot = isa<IntegerType>(s.getType())
                        ? arith::SIToFPOp::create(b, loc, b.getF32Type(), s)
                        : s;
        s = mulF(dot, factor);
      }
  }
}

void ScoreOps::addScoreCorrections(Fragment &scores, const TileSlot &slot,
                                   Value correctionOffset) {
  const KernelPrecision &precision = ctx.precision;
  if (correctionOffset) {
    // dS of the row's block, staged per key tile.
    Type run = VectorType::get({layout.columnsPerThread}, b.getF32Type());
    for (int64_t row = 0; row < layout.rowSlots; ++row) {
      Value rowStart = add(correctionOffset, mul(ctx.rowCorrectionBlock[row],
                                                 idx(ctx.keys.tokens * 4)));
      for (int64_t chunk = 0; chunk < scores.numChunks; ++chunk) {
        Value offset = add(rowStart, mul(keyPosition(chunk, 0), idx(4)));
        Value corrections =
            LLVM::LoadOp::create(b, loc, run, sharedAt(ctx.sharedBase, offset));
        for (int64_t c = 0; c < layout.columnsPerThread; ++c) {
          Value &s = scores.at(layout, chunk, row, c);
          s = addF(s, vector::ExtractOp::create(b, loc, corrections, c));
        }
      }
    }
    return;
  }
  if (!precision.smoothQ)
    return;
  // Grid query tiles: the rows' blocks are scattered; read dS directly.
  Value numBlocks =
      arith::CeilDivSIOp::create(b, loc, ctx.seqQ, idx(precision.smoothQBlock));
  SmallVector<Value, 2> rowBase;
  for (int64_t row = 0; row < layout.rowSlots; ++row) {
    Value blk = div(select(ctx.rowValid[row], ctx.rowTokens[row], idx(0)),
                    precision.smoothQBlock);
    rowBase.push_back(i64Mul(scratchRow(ctx.batch, ctx.op.getNumQueryHeads(),
                                        ctx.head, numBlocks, blk),
                             toI64(ctx.seqK)));
  }
  forEachElement(
      layout, scores.numChunks, [&](int64_t chunk, int64_t row, int64_t c) {
        auto [key, valid] =
            tokenOf(ctx.keys, slot.keyTile, keyPosition(chunk, c), ctx.seqK);
        Value correction = loadGlobal(
            b.getF32Type(),
            globalAt(param("score_correction"),
                     i64Add(rowBase[row], toI64(select(valid, key, idx(0)))),
                     4));
        Value &s = scores.at(layout, chunk, row, c);
        s = addF(s, correction);
      });
}

Value ScoreOps::loadPairOperand(Value operand, StringRef name, int64_t slot,
                                Value key) {
  // Rows past the sequence (in a partial last query tile) read row 0.
  Value row = select(ctx.rowValid[slot], ctx.rowTokens[slot], idx(0));
  return loadPairElement(operand, name, ctx.batch, ctx.head, row, key);
}

Value ScoreOps::keepPredicate(int64_t slot, Value keyTile, Value position,
                              bool withMask) {
  auto [key, valid] = tokenOf(ctx.keys, keyTile, position, ctx.seqK);
  if (!withMask)
    return valid;
  Value keep = andI(valid, ctx.heads.mask.emitKeep(b, loc, ctx.rowTokens[slot],
                                                   key, ctx.maskContext));
  if (Value explicitMask = ctx.op.getExplicitMask()) {
    Value byte = loadPairOperand(explicitMask, "explicit_mask", slot,
                                 select(valid, key, idx(0)));
    keep =
        andI(keep, cmp(arith::CmpIPredicate::ne, byte,
                       arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0)));
  }
  return keep;
}

void ScoreOps::maskAndBias(Fragment &scores, const TileSlot &slot) {
  forEachElement(
      layout, scores.numChunks, [&](int64_t chunk, int64_t row, int64_t c) {
        Value position = keyPosition(chunk, c);
        // renormalize = false applies the mask to P (keptAfterSoftmax);
        // the scores keep only the bounds.
        Value keep = keepPredicate(row, slot.keyTile, position,
                                   /*withMask=*/!ctx.maskAfterSoftmax);
        Value &s = scores.at(layout, chunk, row, c);
        if (Value bias = ctx.op.getBias()) {
          auto [key, valid] =
              tokenOf(ctx.keys, slot.keyTile, position, ctx.seqK);
          Value bv = toF32(
              loadPairOperand(bias, "bias", row, select(valid, key, idx(0))));
          // s stays in units of q.k: the bias enters divided by the scale.
          s = addF(s, mulF(bv, f32(1.0 / ctx.scale)));
        }
        s = select(keep, s, negInf());
      });
}

void ScoreOps::applyMask(Fragment &scores, const TileSlot &slot) {
  emitPartialTileMask(b, loc, slot.keepsAll, scores,
                      [&](Fragment &masked) { maskAndBias(masked, slot); });
}

SmallVector<Value> ScoreOps::keptAfterSoftmax(const TileSlot &slot) {
  SmallVector<Value> kept;
  forEachElement(layout, layout.numChunks(ctx.keys.tokens),
                 [&](int64_t chunk, int64_t row, int64_t c) {
                   kept.push_back(keepPredicate(row, slot.keyTile,
                                                keyPosition(chunk, c),
                                                /*withMask=*/true));
                 });
  return kept;
}
