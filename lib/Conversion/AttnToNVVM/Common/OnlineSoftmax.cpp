//===- OnlineSoftmax.cpp - the running row max and sum --------------------===//

#include "OnlineSoftmax.h"

#include "NvvmIntrinsics.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

double OnlineSoftmax::probabilityScale() const {
  return ctx.precision.fp8Value() ? kFp8ProbabilityScale : 1.0;
}

int64_t OnlineSoftmax::numStateValues() const {
  return layout.rowSlots * (ctx.maskAfterSoftmax ? 3 : 2);
}

SmallVector<Value> OnlineSoftmax::initState() {
  SmallVector<Value> state(layout.rowSlots, negInf());
  state.append(layout.rowSlots, f32(0));
  if (ctx.maskAfterSoftmax)
    state.append(layout.rowSlots, f32(0));
  return state;
}

Value OnlineSoftmax::sumOverRow(Value value) {
  for (int64_t mask : layout.rowPeerLanes)
    value = addF(value, nb::shuffleXor(b, loc, value, mask));
  return value;
}

SmallVector<Value>
OnlineSoftmax::update(Fragment &scores, ValueRange state, ArrayRef<Value> kept,
                      function_ref<void(int64_t, Value)> rescale) {
  // In units of q.k: c = scale * log2(e) (docs/design/GpuBackend.md).
  int64_t slots = layout.rowSlots;
  SmallVector<Value> newMax(slots), newSum(slots), newKept(slots);
  Value c = f32(ctx.scale * M_LOG2E);
  for (int64_t row = 0; row < slots; ++row) {
    Value m = rowMax(state, row), l = rowSum(state, row);
    Value tileMax = negInf();
    for (int64_t chunk = 0; chunk < scores.numChunks; ++chunk)
      for (int64_t i = 0; i < layout.columnsPerThread; ++i)
        tileMax = arith::MaximumFOp::create(
            b, loc, tileMax, scores.at(layout, chunk, row, i));
    for (int64_t mask : layout.rowPeerLanes)
      tileMax = arith::MaximumFOp::create(
          b, loc, tileMax, nb::shuffleXor(b, loc, tileMax, mask));
    Value mNew = arith::MaximumFOp::create(b, loc, m, tileMax);
    // A row with no kept key so far keeps m = -inf: subtract 0, not -inf.
    Value isEmpty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                          mNew, negInf());
    Value mu = select(isEmpty, f32(0), mNew);
    Value negMuC = mulF(arith::NegFOp::create(b, loc, mu), c);
    if (double factor = probabilityScale(); factor != 1)
      negMuC = addF(negMuC, f32(std::log2(factor)));
    Value alpha = nb::exp2Approx(
        b, loc, mulF(arith::SubFOp::create(b, loc, m, mu), c));
    Value sum = f32(0);
    Value keptCount = ctx.maskAfterSoftmax ? rowKept(state, row) : Value();
    for (int64_t chunk = 0; chunk < scores.numChunks; ++chunk) {
      for (int64_t i = 0; i < layout.columnsPerThread; ++i) {
        Value &s = scores.at(layout, chunk, row, i);
        Value p = nb::exp2Approx(b, loc, nb::fma(b, loc, s, c, negMuC));
        sum = addF(sum, p);
        if (ctx.maskAfterSoftmax) {
          Value keep = kept[layout.index(chunk, row, i)];
          p = select(keep, p, f32(0));
          keptCount = addF(keptCount, select(keep, f32(1), f32(0)));
        }
        s = p;
      }
    }
    newSum[row] = addF(mulF(l, alpha), sum);
    newMax[row] = mNew;
    newKept[row] = keptCount;
    rescale(row, alpha);
  }
  SmallVector<Value> next(newMax);
  next.append(newSum);
  if (ctx.maskAfterSoftmax)
    next.append(newKept);
  return next;
}
