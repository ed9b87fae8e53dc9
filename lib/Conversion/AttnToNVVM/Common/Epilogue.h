//===- Epilogue.h - O and the LSE from the accumulators ---------*- C++ -*-===//
//
// Private to AttnToNVVM: the end of an attention kernel, over the
// FragmentLayout of O: O = w g ((1 - u) A / l + u V) per row (SEMANTICS.md
// section 4), with FP8 P.V's scales undone, stored as runs of adjacent
// columns; LSE = m scale + ln l (+ smooth_k's shift), -inf for rows with
// no kept key, written by one lane per row.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EPILOGUE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EPILOGUE_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"
#include "MmaEngine.h"
#include "OnlineSoftmax.h"

namespace mlir {
namespace attn {
namespace detail {

class Epilogue : EmitterBase {
public:
  Epilogue(OpBuilder &b, Location loc, const KernelSignature &signature,
           AttentionKernelContext &context, MmaEngine &engine,
           OnlineSoftmax &softmax)
      : EmitterBase(b, loc, signature), ctx(context), engine(engine),
        layout(engine.accumulatorLayout()), softmax(softmax) {}

  /// Writes O from `output` (f32, the accumulator layout) and the LSE from
  /// the softmax's final `rowState`.
  void emit(const Fragment &output, ValueRange rowState);

private:
  AttentionKernelContext &ctx;
  MmaEngine &engine;
  const FragmentLayout &layout;
  OnlineSoftmax &softmax;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EPILOGUE_H
