//===- GpuKernelEmitter.h - tensor-core attention kernels -------*- C++ -*-===//
//
// Private to AttnTransforms: builds the gpu.func kernels of
// attn-lower-to-gpu (LowerToGpu.cpp) and describes how to launch them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_GPUKERNELEMITTER_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_GPUKERNELEMITTER_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace mlir {
namespace attn {
namespace detail {

/// One factor of a grid dimension: `constant`, or the run-time argument
/// `arg` divided (rounding up) by `divisor`.
struct GridFactor {
  int64_t constant = 1;
  std::string arg;
  int64_t divisor = 1;
};

/// A kernel parameter, by name (docs/design/GpuArtifacts.md).
struct KernelParam {
  std::string name;
  Type type;
};

/// What the launcher (and the host rewrite) needs to launch a kernel.
struct KernelLaunch {
  std::string name;
  SmallVector<KernelParam> params;
  std::array<SmallVector<GridFactor>, 3> grid;
  int64_t blockSize = 0;
  int64_t sharedBytes = 0;
};

/// The heads one kernel serves, with their mask.
struct KernelHeads {
  MaskAttrInterface mask;
  /// Query heads (blockIdx.y indexes this list).
  SmallVector<int64_t> heads;
  /// The mask's table in the op's `tile_classes`.
  int64_t classTable = 0;
};

/// Tile and pipeline shape of the attention kernel.
struct KernelShape {
  /// Query and key tile shapes (tokens per grid dimension; one entry for
  /// flat tiles) and the token grid they tile (empty for flat tiles).
  SmallVector<int64_t> queryShape, keyShape, grid;
  int64_t stages = 2;
};

/// Emits the fused attention kernel for `heads` of `op` into `module`.
FailureOr<KernelLaunch> emitAttentionKernel(AttentionOp op,
                                            gpu::GPUModuleOp module,
                                            StringRef name,
                                            const KernelHeads &heads,
                                            const KernelShape &shape);

/// Emits the kernel writing O = 0 and LSE = -inf for `heads` (weight 0).
KernelLaunch emitZeroHeadsKernel(AttentionOp op, gpu::GPUModuleOp module,
                                 StringRef name, ArrayRef<int64_t> heads);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_GPUKERNELEMITTER_H
