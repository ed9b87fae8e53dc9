//===- BackwardKernels.h - the kernels of attn.attention_grad ---*- C++ -*-===//
//
// Private to AttnToNVVM: the backward pass on mma.sync (every chip of the
// target table), FlashAttention-2's schedule as docs/design/Backward.md
// draws it: a row kernel (Dlt and the factor of dA per query row, dQ's f32
// accumulator zeroed), one key-tile-major kernel per head set (P from the
// LSE, dK and dV in registers over every query head of a kv head, dQ by
// f32 reductions), a finishing kernel (dQ in its type, dG) and, for SoftPAG,
// the identity term of dV.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARD_BACKWARDKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARD_BACKWARDKERNELS_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace attn {
namespace detail {

/// What the backward kernels take of `op` (memrefs, 16-bit Q, K, V and dY
/// of one type, head dims, static heads, a positive scale, the features
/// implemented so far), with a diagnostic on the op otherwise.
LogicalResult checkBackwardSupported(AttentionGradOp op,
                                     const GpuTarget &target, MmaFamily family);

/// The MMA family the key-tile kernel's products run on for `family` (the
/// requested or the chip's default): wgmma where the chip has it and the
/// op's tiles and head dims fit it (isWgmmaBackwardShape), else mma_sync.
/// The other backward kernels run on mma.sync or none.
MmaFamily getBackwardProductFamily(AttentionGradOp op, const GpuTarget &target,
                                   MmaFamily family);

/// Emits the backward's kernels for `op` into `module` (names from
/// `uniqueName`), appending their launches in order and the scratch
/// buffers they share, with the products on getBackwardProductFamily's
/// family. `deterministic`: dQ and the gates' sums by a
/// query-tile-major kernel without atomics (the same bits every run).
LogicalResult
emitBackwardKernels(AttentionGradOp op, gpu::GPUModuleOp module,
                    const GpuTarget &target, MmaFamily family,
                    bool deterministic,
                    function_ref<std::string(StringRef)> uniqueName,
                    SmallVectorImpl<KernelLaunch> &launches,
                    SmallVectorImpl<ScratchBuffer> &scratch);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_BACKWARD_BACKWARDKERNELS_H
