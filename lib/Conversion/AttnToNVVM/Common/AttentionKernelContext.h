//===- AttentionKernelContext.h - what the kernel parts share ---*- C++ -*-===//
//
// Private to AttnToNVVM: the static configuration of one attention kernel
// and the values its skeleton computes at the top of the kernel body
// (thread coordinates, the head, run-time lengths, operand bases, this
// thread's query rows). The MMA engine, the tile pipeline and the score,
// softmax and epilogue emitters all read it; only the skeleton writes it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNELCONTEXT_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNELCONTEXT_H

#include "FragmentLayout.h"
#include "KernelConfig.h"

#include "attn/Dialect/Attn/Utils/Schedule.h"
#include "attn/Target/GpuTarget.h"

namespace mlir {
namespace attn {
namespace detail {

struct AttentionKernelContext {
  AttentionKernelContext(AttentionOp op, const GpuTarget &target,
                         const KernelHeads &heads, const KernelShape &shape,
                         const KernelPrecision &precision)
      : op(op), target(target), heads(heads), shape(shape),
        precision(precision) {}

  //===--------------------------------------------------------------------===//
  // Static
  //===--------------------------------------------------------------------===//

  AttentionOp op;
  const GpuTarget &target;
  const KernelHeads &heads;
  const KernelShape &shape;
  const KernelPrecision &precision;
  TileGeometry queries, keys;
  /// D and Dv as staged and multiplied (getStagedHeadDim), and as the
  /// tensors hold them: channels from sourceHeadDim / sourceValueDim on are
  /// zero in shared memory and never stored.
  int64_t headDim = 0, valueDim = 0;
  int64_t sourceHeadDim = 0, sourceValueDim = 0;
  /// Bytes of a Q or K row as the Q.K instruction reads it (quantized or
  /// 16-bit).
  int64_t qkRowBytes = 0;
  /// The inputs' element type, and the type P and V are multiplied in.
  Type elementType, pvType;
  double scale = 1.0;
  /// renormalize = false: the mask applies to P after the softmax.
  bool maskAfterSoftmax = false;
  /// Blocks walk work units (TilePipeline::runsPersistentGrid).
  bool persistentGrid = false;
  MaskIRContext maskContext;

  //===--------------------------------------------------------------------===//
  // Values of the kernel body
  //===--------------------------------------------------------------------===//

  Value tid, lane, warp;
  Value queryTile, batch, seqQ, seqK;
  /// The query head this block computes, its key/value head, and its head
  /// factors (weight, SoftPAG u).
  Value head, kvHead, headWeight, headSoftpag;
  /// Element offsets (i64) of this (batch, head) in Q, K and V as the
  /// kernel reads them (inputs, or the pre-kernels' buffers).
  Value queryBase, keyBase, valueBase;
  /// FP8 and NVFP4 P.V: bytes per channel row of V^T (whole key tiles).
  Value transposedValueRowBytes;
  /// Base of dynamic shared memory.
  Value sharedBase;
  /// This thread's accumulator rows and columns (from the engine), the
  /// token of each row slot and whether it lies in the sequence or grid.
  FragmentPlacement placement;
  SmallVector<Value, 2> rowTokens, rowValid;
  /// Quantized Q.K: the scale of each row slot's query.
  SmallVector<Value, 2> queryScales;
  /// smooth_q with flat query tiles: dS of the (at most) correctionRows
  /// query blocks the tile's rows lie in is staged per key tile; the
  /// tile's first block and each row slot's block relative to it.
  int64_t correctionRows = 0;
  Value firstCorrectionBlock;
  SmallVector<Value, 2> rowCorrectionBlock;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNELCONTEXT_H
