//===- Engines.h - the MMA engines and tile pipelines by family -*- C++ -*-===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_ENGINES_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_ENGINES_H

#include "Common/MmaEngine.h"
#include "Common/TilePipeline.h"

namespace mlir {
namespace attn {
namespace detail {

/// The rules of `family`'s instructions for the kernel's tiles, head dims
/// and precision, checked before any kernel is emitted (a diagnostic on
/// the op).
LogicalResult verifyKernelShape(MmaFamily family, AttentionOp op,
                                const KernelShape &shape,
                                const KernelPrecision &precision);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_ENGINES_H
