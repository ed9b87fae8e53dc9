//===- AttentionKernel.h - the fused attention kernel -----------*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNEL_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNEL_H

#include "KernelConfig.h"

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace attn {
namespace detail {

/// Emits the fused attention kernel for `heads` of `op` into `module`, for
/// `target` with the engine and pipeline of `family`.
FailureOr<KernelLaunch>
emitAttentionKernel(AttentionOp op, gpu::GPUModuleOp module, StringRef name,
                    const GpuTarget &target, MmaFamily family,
                    const KernelHeads &heads, const KernelShape &shape,
                    const KernelPrecision &precision);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_ATTENTIONKERNEL_H
