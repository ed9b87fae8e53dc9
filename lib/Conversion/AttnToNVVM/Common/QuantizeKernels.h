//===- QuantizeKernels.h - quantization pre-kernels -------------*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_QUANTIZEKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_QUANTIZEKERNELS_H

#include "KernelConfig.h"

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace attn {
namespace detail {

/// The quantization pre-kernels of `precision` for `op`, in launch order,
/// and the scratch buffers they fill, in the layouts the kernels of
/// `family` read.
void emitQuantizationKernels(AttentionOp op, gpu::GPUModuleOp module,
                             StringRef namePrefix, MmaFamily family,
                             const KernelShape &shape,
                             const KernelPrecision &precision,
                             SmallVectorImpl<KernelLaunch> &launches,
                             SmallVectorImpl<ScratchBuffer> &scratch);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_QUANTIZEKERNELS_H
