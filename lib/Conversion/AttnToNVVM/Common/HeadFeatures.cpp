//===- HeadFeatures.cpp - the head a block computes -----------------------===//

#include "HeadFeatures.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void HeadFeatures::selectHead(Value slot) {
  SmallVector<Value> headValues, weights, softpags;
  for (int64_t h : ctx.heads.heads) {
    headValues.push_back(idx(h));
    HeadFactors factors = getHeadFactors(ctx.op, h);
    weights.push_back(f32(factors.weight));
    softpags.push_back(f32(factors.softpagU));
  }
  ctx.head = selectBySlot(slot, headValues);
  ctx.headWeight = selectBySlot(slot, weights);
  ctx.headSoftpag = selectBySlot(slot, softpags);
  ctx.kvHead = div(ctx.head, ctx.op.getNumQueryHeads() /
                                 ctx.op.getNumKeyValueHeads());
}

Value HeadFeatures::computesAttention() {
  // Heads with u = 1 compute no attention unless the LSE output asks for
  // their scores (as the CPU schedule).
  if (ctx.op.getLseOutput())
    return Value();
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                               ctx.headSoftpag, f32(1));
}
