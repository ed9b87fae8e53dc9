//===- GpuPipeline.cpp - attn.attention to a GPU binary -------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Target/GpuTarget.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::attn;

void mlir::attn::buildGpuPipeline(OpPassManager &pm,
                                  const GpuPipelineOptions &options) {
  addOneShotBufferization(pm);
  AttnPlanOptions plan;
  plan.target = options.target;
  plan.kernel = options.kernel;
  plan.stages = options.stages;
  plan.queryTile = options.queryTile;
  plan.keyTile = options.keyTile;
  pm.addPass(createAttnPlan(plan));
  pm.addPass(createAttnSparsity());
  AttnLowerToGpuOptions lower;
  lower.target = options.target;
  lower.kernel = options.kernel;
  lower.stages = options.stages;
  lower.warpRows = options.warpRows;
  lower.queryTileOrder = options.queryTileOrder;
  lower.persistent = options.persistent;
  lower.unitOrder = options.unitOrder;
  lower.deterministic = options.deterministic;
  lower.emulateBlockScaledMma = options.emulateBlockScaledMma;
  pm.addPass(createAttnLowerToGpu(lower));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // The chip and its PTX features come from the table (an unknown chip
  // has already failed attn-plan).
  GpuNVVMAttachTargetOptions attach;
  attach.chip = options.target;
  attach.optLevel = 3;
  if (const GpuTarget *target = lookupGpuTarget(options.target))
    attach.features = target->ptxFeatures.str();
  pm.addPass(createGpuNVVMAttachTarget(attach));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions toNvvm;
  // Token indices fit 32 bits (lengths < 2^31); addresses are formed in
  // i64 explicitly.
  toNvvm.indexBitwidth = 32;
  toNvvm.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNvvm));
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  pm.addPass(createAttnPassTensorMapsByValue());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

namespace {
struct GpuPipelineCommandLineOptions
    : PassPipelineOptions<GpuPipelineCommandLineOptions> {
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("The chip the code is for: sm_80, sm_86, sm_89, sm_90a, "
                     "sm_100a or sm_120a"),
      llvm::cl::init("sm_80")};
  Option<std::string> kernel{
      *this, "kernel",
      llvm::cl::desc("MMA family of the kernels: mma_sync, wgmma or tcgen05 "
                     "(default: the chip's best implemented one)"),
      llvm::cl::init("")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Binary format: bin (cubin), isa (PTX) or fatbin"),
      llvm::cl::init("bin")};
  Option<int64_t> stages{
      *this, "stages",
      llvm::cl::desc("Depth of the K/V pipeline (2 to 4; 0: the kernel "
                     "family's default, 3 for wgmma where shared memory "
                     "holds it, else 2)"),
      llvm::cl::init(0)};
  Option<int64_t> warpRows{
      *this, "warp-rows",
      llvm::cl::desc("mma_sync kernels: query rows per warp (16 or 32)"),
      llvm::cl::init(16)};
  Option<std::string> queryTileOrder{
      *this, "query-tile-order",
      llvm::cl::desc("ascending, or descending: blocks take a head's query "
                     "tiles last first"),
      llvm::cl::init("descending")};
  Option<bool> persistent{
      *this, "persistent",
      llvm::cl::desc("Kernels with a producer warpgroup (TMA) run a "
                     "persistent grid"),
      llvm::cl::init(false)};
  Option<std::string> unitOrder{
      *this, "unit-order",
      llvm::cl::desc("heads-first, or tiles-first: one query tile of every "
                     "head and batch element before the next"),
      llvm::cl::init("heads-first")};
  Option<bool> deterministic{
      *this, "deterministic",
      llvm::cl::desc("The backward's dQ without atomics: the same bits every "
                     "run"),
      llvm::cl::init(false)};
  Option<bool> emulateBlockScaledMma{
      *this, "emulate-block-scaled-mma",
      llvm::cl::desc("sm_120a's NVFP4 kernels for a chip without the "
                     "block-scaled mma.sync (emulated; sm_89 and later)"),
      llvm::cl::init(false)};
  ListOption<int64_t> queryTile{
      *this, "query-tile",
      llvm::cl::desc("Query tile shape for attn-plan (default: the target's)")};
  ListOption<int64_t> keyTile{
      *this, "key-tile",
      llvm::cl::desc("Key tile shape for attn-plan (default: the target's)")};
};
} // namespace

void mlir::attn::registerGpuPipeline() {
  PassPipelineRegistration<GpuPipelineCommandLineOptions>(
      "attn-gpu-pipeline",
      "Lower attn.attention to tensor-core GPU kernels in a gpu.binary, with "
      "gpu.launch_func on the host",
      [](OpPassManager &pm, const GpuPipelineCommandLineOptions &options) {
        GpuPipelineOptions o;
        o.target = options.target;
        o.kernel = options.kernel;
        o.format = options.format;
        o.stages = options.stages;
        o.warpRows = options.warpRows;
        o.queryTileOrder = options.queryTileOrder;
        o.persistent = options.persistent;
        o.unitOrder = options.unitOrder;
        o.deterministic = options.deterministic;
        o.emulateBlockScaledMma = options.emulateBlockScaledMma;
        o.queryTile.assign(options.queryTile.begin(), options.queryTile.end());
        o.keyTile.assign(options.keyTile.begin(), options.keyTile.end());
        buildGpuPipeline(pm, o);
      });
}
