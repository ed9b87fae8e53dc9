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

/// How the kernels compute Q.K and P.V (SEMANTICS.md section 3), as the
/// GPU realizes a precision: the pre-kernels write quantized Q and K (and
/// V where P.V needs another type) into scratch buffers the attention
/// kernel reads.
struct KernelPrecision {
  /// Bits of the integer Q and K (8 or 4); 0: Q.K in the inputs' type.
  int64_t qkBits = 0;
  /// Scale groups of Q and K (with qkBits).
  GranularityKind granularity = GranularityKind::Token;
  int64_t granularitySize = 0;
  bool smoothK = false;
  /// smooth_q: Q minus its mean over blocks of smoothQBlock queries; the
  /// scores get dS back.
  bool smoothQ = false;
  int64_t smoothQBlock = 0;
  /// The type P and V are multiplied in (f16, bf16, f8E4M3FN).
  Type pvType;
  /// V is read from the pre-kernels' `v_quant` instead of `v`: rounded to
  /// the 16-bit pvType, or E4M3 V^T per key tile (fp8Value()).
  bool valueConverted = false;
  Accumulation accumulation = Accumulation::F32;

  bool quantizedQK() const { return qkBits != 0; }
  bool fp8Value() const { return pvType && isa<Float8E4M3FNType>(pvType); }
  /// Bytes of one row of quantized Q or K.
  int64_t rowBytes(int64_t headDim) const { return headDim * qkBits / 8; }
};

/// A device buffer the pre-kernels write and the attention kernel reads;
/// the launcher allocates it (`scratch` in the manifest).
struct ScratchBuffer {
  std::string name;
  /// Size in bytes: the product of the factors.
  SmallVector<GridFactor> bytes;
};

/// Emits the fused attention kernel for `heads` of `op` into `module`.
FailureOr<KernelLaunch> emitAttentionKernel(AttentionOp op,
                                            gpu::GPUModuleOp module,
                                            StringRef name,
                                            const KernelHeads &heads,
                                            const KernelShape &shape,
                                            const KernelPrecision &precision);

/// The quantization pre-kernels of `precision` for `op`, in launch order,
/// and the scratch buffers they fill (GpuQuantizeKernels.cpp).
void emitQuantizationKernels(AttentionOp op, gpu::GPUModuleOp module,
                             StringRef namePrefix, const KernelShape &shape,
                             const KernelPrecision &precision,
                             SmallVectorImpl<KernelLaunch> &launches,
                             SmallVectorImpl<ScratchBuffer> &scratch);

/// Emits the kernel writing O = 0 and LSE = -inf for `heads` (weight 0).
KernelLaunch emitZeroHeadsKernel(AttentionOp op, gpu::GPUModuleOp module,
                                 StringRef name, ArrayRef<int64_t> heads);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_GPUKERNELEMITTER_H
