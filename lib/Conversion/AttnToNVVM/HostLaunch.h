//===- HostLaunch.h - the host side of the GPU lowering ---------*- C++ -*-===//
//
// Private to AttnToNVVM: the gpu.launch_func calls that replace an op,
// with their arguments read from the memrefs' metadata by parameter name.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_HOSTLAUNCH_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_HOSTLAUNCH_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace attn {
namespace detail {

/// Emits at `op` (attn.attention or attn.attention_grad): a device
/// allocation per scratch buffer, one gpu.launch_func per launch in order
/// (arguments from the op's memrefs,
/// scratch buffers by name), then the deallocations. A diagnostic when a
/// parameter names nothing the op has.
LogicalResult emitHostLaunches(OpBuilder &b, AttentionProblemOpInterface op,
                               gpu::GPUModuleOp kernels,
                               ArrayRef<KernelLaunch> launches,
                               ArrayRef<ScratchBuffer> scratch);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_HOSTLAUNCH_H
