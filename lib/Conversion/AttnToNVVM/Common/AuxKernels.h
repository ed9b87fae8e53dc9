//===- AuxKernels.h - small kernels beside the attention kernel -*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_AUXKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_AUXKERNELS_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace attn {
namespace detail {

/// Emits the kernel writing O = 0 and LSE = -inf for `heads` (weight 0).
KernelLaunch emitZeroHeadsKernel(AttentionOp op, gpu::GPUModuleOp module,
                                 StringRef name, ArrayRef<int64_t> heads);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_AUXKERNELS_H
