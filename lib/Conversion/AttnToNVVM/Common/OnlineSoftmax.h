//===- OnlineSoftmax.h - the running row max and sum ------------*- C++ -*-===//
//
// Private to AttnToNVVM: the exp2 online softmax over a FragmentLayout
// (docs/design/GpuBackend.md): per row slot the running max m (raw q.k
// units), the running sum l (per thread; summed over the row's lanes once,
// in the epilogue) and, for renormalize = false, the count of kept keys.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ONLINESOFTMAX_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ONLINESOFTMAX_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"

namespace mlir {
namespace attn {
namespace detail {

class OnlineSoftmax : EmitterBase {
public:
  OnlineSoftmax(OpBuilder &b, Location loc, const KernelSignature &signature,
                AttentionKernelContext &context, const FragmentLayout &layout)
      : EmitterBase(b, loc, signature), ctx(context), layout(layout) {}

  /// The row state: m per row slot, l per row slot, then (renormalize =
  /// false) the kept count per row slot.
  int64_t numStateValues() const;
  SmallVector<Value> initState();
  Value rowMax(ValueRange state, int64_t slot) const { return state[slot]; }
  Value rowSum(ValueRange state, int64_t slot) const {
    return state[layout.rowSlots + slot];
  }
  Value rowKept(ValueRange state, int64_t slot) const {
    return state[2 * layout.rowSlots + slot];
  }

  /// The factor P and l carry: 448 for FP8 P.V (folded into the exponent,
  /// so the E4M3 packing multiplies nothing; O = acc / l cancels it, the
  /// LSE subtracts its log), else 1.
  double probabilityScale() const;

  /// One key tile: turns `scores` (q.k units, -inf where masked) into
  /// P = probabilityScale() exp2(s c - m c) in place, with `kept` (renormalize
  /// = false) the mask of P; calls `rescale(slot, alpha)` once per row slot,
  /// when O must be scaled by alpha; returns the new row state.
  SmallVector<Value> update(Fragment &scores, ValueRange state,
                            ArrayRef<Value> kept,
                            function_ref<void(int64_t, Value)> rescale);

  /// `value` summed over the lanes that share its row.
  Value sumOverRow(Value value);

private:
  AttentionKernelContext &ctx;
  const FragmentLayout &layout;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ONLINESOFTMAX_H
