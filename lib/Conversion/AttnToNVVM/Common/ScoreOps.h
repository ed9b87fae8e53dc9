//===- ScoreOps.h - what happens to S before the softmax --------*- C++ -*-===//
//
// Private to AttnToNVVM: the element-wise steps between S = Q K^T and the
// online softmax, written once over FragmentLayout elements: the
// dequantization of integer dot products, smooth_q's dS, the bias and the
// mask (partial tiles only), and the mask of P for renormalize = false.
// The backward pass recomputes P with the same steps.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_SCOREOPS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_SCOREOPS_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"
#include "TileWalk.h"

namespace mlir {
namespace attn {
namespace detail {

class ScoreOps : EmitterBase {
public:
  /// Steps on fragments of `layout` whose columns this thread offsets by
  /// `columnOffset`.
  ScoreOps(OpBuilder &b, Location loc, const KernelSignature &signature,
           AttentionKernelContext &context, const FragmentLayout &layout,
           Value columnOffset)
      : EmitterBase(b, loc, signature), ctx(context), layout(layout),
        columnOffset(columnOffset) {}

  /// Integer Q.K: s = dot * q_scale[row] * k_scale[key] (in units of q.k as
  /// unquantized scores), the key scales staged at `keyScaleOffset`.
  void dequantize(Fragment &scores, Value keyScaleOffset);
  /// smooth_q: s += dS[block of the row, key], staged at `correctionOffset`
  /// (flat query tiles) or read from global memory (null offset).
  void addScoreCorrections(Fragment &scores, const TileSlot &slot,
                           Value correctionOffset);
  /// The mask (and the bias) on tiles the walk does not call full; full
  /// tiles run no mask code, tiles of a run-time class branch (the partial
  /// path is an scf.if marked `attn.partial_tile_mask`).
  void applyMask(Fragment &scores, const TileSlot &slot);
  /// renormalize = false: whether each element's pair is kept (the mask
  /// applies to P after the softmax).
  SmallVector<Value> keptAfterSoftmax(const TileSlot &slot);

private:
  /// The key tile position of element (chunk, c) of this thread.
  Value keyPosition(int64_t chunk, int64_t c);
  /// Whether the pair (row slot `slot`, key at `position` of `keyTile`) is
  /// kept: in bounds, kept by the mask and by the explicit mask.
  Value keepPredicate(int64_t slot, Value keyTile, Value position,
                      bool withMask);
  /// Element (row slot `slot`, key) of an [.., Nq, Nk] operand.
  Value loadPairOperand(Value operand, StringRef name, int64_t slot,
                        Value key);
  void maskAndBias(Fragment &scores, const TileSlot &slot);

  AttentionKernelContext &ctx;
  const FragmentLayout &layout;
  Value columnOffset;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_SCOREOPS_H
