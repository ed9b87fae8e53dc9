//===- CpuPipeline.cpp - attn.attention to runnable CPU code --------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::addOneShotBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
}

void mlir::attn::buildCpuPipeline(OpPassManager &pm,
                                  const CpuPipelineOptions &options) {
  // Quantization pre-steps as their own ops, which the loop nest then
  // reads (the path GPU backends take).
  if (options.splitQuantization)
    pm.addPass(createAttnQuantize());
  addOneShotBufferization(pm);
  AttnLowerToLoopsOptions loops;
  loops.queryTile = options.queryTile;
  loops.keyTile = options.keyTile;
  // Compile-time tile classes for ops that carry a tiling (attn-plan).
  pm.addPass(createAttnSparsity());
  pm.addPass(createAttnLowerToLoops(loops));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {
struct CpuPipelineCommandLineOptions
    : PassPipelineOptions<CpuPipelineCommandLineOptions> {
  Option<int64_t> queryTile{
      *this, "query-tile",
      llvm::cl::desc("Queries per tile (0: the op's flat tiling, else 16)"),
      llvm::cl::init(0)};
  Option<int64_t> keyTile{
      *this, "key-tile",
      llvm::cl::desc("Keys per tile (0: the op's flat tiling, else 16)"),
      llvm::cl::init(0)};
  Option<bool> splitQuantization{
      *this, "split-quantization",
      llvm::cl::desc("Run attn-quantize first (false: the loop nest computes "
                     "the quantization pre-passes itself)"),
      llvm::cl::init(true)};
};
} // namespace

void mlir::attn::registerCpuPipeline() {
  PassPipelineRegistration<CpuPipelineCommandLineOptions>(
      "attn-cpu-pipeline",
      "Lower attn.attention on memrefs to the LLVM dialect through the tiled "
      "CPU loop nest",
      [](OpPassManager &pm, const CpuPipelineCommandLineOptions &options) {
        buildCpuPipeline(pm, {options.queryTile, options.keyTile,
                              options.splitQuantization});
      });
}
