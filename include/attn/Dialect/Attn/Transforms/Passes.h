//===- Passes.h - attn dialect passes ----------------------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
