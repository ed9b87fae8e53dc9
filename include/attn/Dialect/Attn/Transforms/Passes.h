//===- Passes.h - attn dialect passes ----------------------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace attn {

#define GEN_PASS_DECL
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

/// The pattern of attn-quantize: splits the quantization pre-steps out of
/// every attn.attention that has none yet.
void populateQuantizePatterns(RewritePatternSet &patterns);

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
  /// Kernel class (attn-plan / attn-lower-to-gpu target).
  std::string target = "sm_80";
  /// What ptxas compiles for; empty: `target`.
  std::string chip;
  /// gpu-module-to-binary format: bin (cubin), isa (PTX), fatbin.
  std::string format = "bin";
  int64_t stages = 2;
  /// attn-plan overrides (empty: the target's tiles).
  SmallVector<int64_t> queryTile, keyTile;
};

/// attn.attention (tensors or memrefs) -> tiles -> GPU kernels -> binary,
/// with gpu.launch_func on the host side.
void buildGpuPipeline(OpPassManager &pm, const GpuPipelineOptions &options);

/// Registers `attn-gpu-pipeline` with the pass registry.
void registerGpuPipeline();

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
