//===- GpuPipeline.cpp - attn.attention to a GPU binary -------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "TransformUtils.h"

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
  plan.queryTile = options.queryTile;
  plan.keyTile = options.keyTile;
  pm.addPass(createAttnPlan(plan));
  pm.addPass(createAttnSparsity());
  AttnLowerToGpuOptions lower;
  lower.target = options.target;
  lower.stages = options.stages;
  pm.addPass(createAttnLowerToGpu(lower));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  GpuNVVMAttachTargetOptions attach;
  attach.chip = options.chip.empty() ? options.target : options.chip;
  attach.optLevel = 3;
  // Ada's dense FP8 mma.sync (the LLVM intrinsic) needs PTX 8.4; the
  // sm_89 default, 7.8, aborts instruction selection.
  if (options.target == "sm_89")
    attach.features = "+ptx84";
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
      llvm::cl::desc("Kernel class: sm_80, sm_86 or sm_89"),
      llvm::cl::init("sm_80")};
  Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Chip ptxas compiles for (default: target; sm_90 runs "
                     "the Ampere-class kernel on Hopper)"),
      llvm::cl::init("")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Binary format: bin (cubin), isa (PTX) or fatbin"),
      llvm::cl::init("bin")};
  Option<int64_t> stages{*this, "stages",
                         llvm::cl::desc("K/V cp.async pipeline depth"),
                         llvm::cl::init(2)};
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
        o.chip = options.chip;
        o.format = options.format;
        o.stages = options.stages;
        o.queryTile.assign(options.queryTile.begin(), options.queryTile.end());
        o.keyTile.assign(options.keyTile.begin(), options.keyTile.end());
        buildGpuPipeline(pm, o);
      });
}
