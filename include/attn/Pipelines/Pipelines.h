//===- Pipelines.h - the named attn pipelines --------------------*- C++
//-*-===//
//
// attn-cpu-pipeline and attn-gpu-pipeline: attn.attention (tensors or
// memrefs) down to the LLVM dialect, or to a GPU binary with host launches.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace mlir {
namespace attn {

/// One-shot bufferization of attn.attention on tensors (a no-op on memref
/// IR): O and LSE are written into their destinations, function boundaries
/// take identity-layout memrefs.
void addOneShotBufferization(OpPassManager &pm);

/// Options of the CPU pipeline; 0 takes the tile size from the op's flat
/// tiling (attn-plan), else 16.
struct CpuPipelineOptions {
  int64_t queryTile = 0;
  int64_t keyTile = 0;
  /// Run attn-quantize first, so that the loop nest reads the pre-steps'
  /// results; false lowers the quantization inside the loop nest.
  bool splitQuantization = true;
};

/// attn.attention on memrefs -> tiled loops -> LLVM dialect, ready for the
/// ExecutionEngine or mlir-runner.
void buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options);

/// Registers `attn-cpu-pipeline` with the pass registry.
void registerCpuPipeline();

/// Options of the GPU pipeline.
struct GpuPipelineOptions {
  /// The chip the code is for (a GpuTarget: sm_80, ..., sm_120a).
  std::string target = "sm_80";
  /// The MMA family (mma_sync, wgmma, tcgen05); empty: the chip's default.
  std::string kernel;
  /// gpu-module-to-binary format: bin (cubin), isa (PTX), fatbin.
  std::string format = "bin";
  /// Depth of the K/V pipeline (2 to 4); 0: the kernel family's default.
  int64_t stages = 0;
  /// mma_sync kernels: query rows per warp (16 or 32).
  int64_t warpRows = 16;
  /// ascending or descending (attn-lower-to-gpu's query-tile-order).
  std::string queryTileOrder = "descending";
  /// attn-lower-to-gpu's persistent and unit-order.
  bool persistent = false;
  std::string unitOrder = "heads-first";
  /// attn-lower-to-gpu's deterministic (the backward's dQ without atomics).
  bool deterministic = false;
  /// attn-lower-to-gpu's emulate-block-scaled-mma (sm_120a's NVFP4 kernels
  /// on a chip without the block-scaled mma.sync).
  bool emulateBlockScaledMma = false;
  /// attn-plan overrides (empty: the target's tiles).
  SmallVector<int64_t> queryTile, keyTile;
};

/// attn.attention (tensors or memrefs) -> tiles -> GPU kernels -> binary,
/// with gpu.launch_func on the host side. An unknown target or kernel
/// family makes the pipeline's passes fail with a diagnostic.
void buildGpuPipeline(OpPassManager &pm, const GpuPipelineOptions &options);

/// Registers `attn-gpu-pipeline` with the pass registry.
void registerGpuPipeline();

} // namespace attn
} // namespace mlir

#endif // ATTN_PIPELINES_PIPELINES_H
