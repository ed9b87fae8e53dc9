//===- HeadFeatures.h - the head a block computes ---------------*- C++ -*-===//
//
// Private to AttnToNVVM: the head rules of SEMANTICS.md section 4 in a
// kernel: which query head a block's head slot computes, its key/value
// head (GQA), its weight and SoftPAG u (compile-time per head, selected at
// run time), and whether it computes attention at all.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_HEADFEATURES_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_HEADFEATURES_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"

namespace mlir {
namespace attn {
namespace detail {

class HeadFeatures : EmitterBase {
public:
  HeadFeatures(OpBuilder &b, Location loc, const KernelSignature &signature,
               AttentionKernelContext &context)
      : EmitterBase(b, loc, signature), ctx(context) {}

  /// Sets the context's head, kvHead, headWeight and headSoftpag for the
  /// kernel's head slot `slot` (blockIdx.y).
  void selectHead(Value slot);
  /// Whether the selected head computes attention: not for u = 1 (O is V)
  /// unless the LSE output asks for its scores; null when every head of
  /// the kernel does.
  Value computesAttention();

private:
  AttentionKernelContext &ctx;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_HEADFEATURES_H
