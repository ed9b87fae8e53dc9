//===- KernelSupport.h - what the GPU kernels take of an op -----*- C++ -*-===//
//
// Private to AttnToNVVM: the op-level checks of the GPU lowering and the
// configuration it derives for the kernels (precision, tile shapes, head
// sets), before any engine is involved.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELSUPPORT_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELSUPPORT_H

#include "Common/KernelConfig.h"

#include "attn/Target/GpuTarget.h"

namespace mlir {
namespace attn {
namespace detail {

/// What the GPU kernels need of `op` (memrefs, element types, head dims,
/// static head counts, a positive scale) and how they realize its
/// precision on `target`; a diagnostic on the op otherwise.
FailureOr<KernelPrecision> checkSupported(AttentionOp op,
                                          const GpuTarget &target);

/// The tile shapes of `op` for the kernel: its tiling (attn-plan), else
/// the family's default flat tiles (the ones attn-plan would choose). The
/// family's engine checks them (verifyKernelShape).
/// `stages` = 0 picks the family's depth (getDefaultStages).
KernelShape getKernelShape(AttentionOp op, MmaFamily family, int64_t stages,
                           int64_t warpRows, const GpuTarget &target);

/// The heads of each kernel (partitionHeads: one per mask, as the
/// precision is the op's), without the heads of weight 0, which compute
/// nothing (the zero-heads kernel writes their O and LSE).
void splitHeads(AttentionProblemOpInterface op,
                SmallVectorImpl<KernelHeads> &sets,
                SmallVectorImpl<int64_t> &zeroHeads);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_KERNELSUPPORT_H
