//===- AttnToNVVM.h - attn.attention to GPU kernels -------------*- C++ -*-===//
//
// The reusable entry point of attn-lower-to-gpu, for compilers that embed
// the lowering: one attn.attention on memrefs becomes gpu.func kernels
// (NVVM, for one chip of the GpuTarget table and one MMA family) and the
// gpu.launch_func calls that run them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
#define ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <optional>

namespace mlir {
class RewriterBase;
namespace attn {

/// How the kernels of one op are built.
struct GpuKernelOptions {
  /// The chip the code is for.
  const GpuTarget *target = nullptr;
  /// The MMA family; none: the chip's default (GpuTarget::defaultFamily).
  std::optional<MmaFamily> family;
  /// Depth of the K/V pipeline (2 to 4); 0: the family's default
  /// (getDefaultStages).
  int64_t stages = 0;
  /// mma.sync: query rows per warp (16 or 32).
  int64_t warpRows = 16;
  /// Blocks take each head's query tiles last first (the longest first
  /// under causal, power-law and prefix masks); else in order.
  bool lastQueryTileFirst = true;
  /// Pipelines with a producer warpgroup run a persistent grid (blocks
  /// walk the work units; TilePipeline::supportsPersistentGrid).
  bool persistent = false;
  /// Work units take one query tile of every head and batch element before
  /// the next query tile (else every tile of a head before the next head).
  bool tilesFirst = false;
  /// attn.attention_grad: dQ without atomics (the same bits every run).
  bool deterministic = false;
};

/// The family `options` select, or a diagnostic on `op` when the chip
/// lacks it or no engine implements it yet. With no family requested: the
/// chip's default for the op's precision, or mma_sync where that default's
/// engine refuses the op's tiles or head dims.
FailureOr<MmaFamily> selectMmaFamily(AttentionOp op,
                                     const GpuKernelOptions &options);

/// Loads the dialects whose ops lowerAttentionToGpu creates (arith, gpu,
/// llvm, memref, nvvm, scf, vector). attn-lower-to-gpu declares them as
/// dependent dialects; another caller loads them once before lowering.
void loadAttnToNVVMDialects(MLIRContext *context);

/// Lowers `op` (memref operands) into kernels appended to `kernels` and
/// gpu.launch_func calls (with device scratch allocations) at the op, then
/// erases it. Appends the launches and scratch buffers, in launch order,
/// to `manifest`. On failure emits a diagnostic; the IR may hold kernels
/// emitted before the failure.
LogicalResult lowerAttentionToGpu(RewriterBase &rewriter, AttentionOp op,
                                  gpu::GPUModuleOp kernels,
                                  const GpuKernelOptions &options,
                                  KernelManifest &manifest);

/// Lowers a backward op (memref operands) the same way: the backward's
/// mma.sync kernels (docs/design/Backward.md) whatever `options.family`,
/// with their scratch buffers (one attn.attention_grad per module).
LogicalResult lowerAttentionGradToGpu(RewriterBase &rewriter,
                                      AttentionGradOp op,
                                      gpu::GPUModuleOp kernels,
                                      const GpuKernelOptions &options,
                                      KernelManifest &manifest);

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTONVVM_ATTNTONVVM_H
