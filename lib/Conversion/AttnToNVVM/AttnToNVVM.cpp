//===- AttnToNVVM.cpp - attn.attention to GPU kernels ---------------------===//
//
// lowerAttentionToGpu: one op becomes its kernels (quantization
// pre-kernels, the zero-heads kernel, one attention kernel per head set)
// in the gpu.module @attn_kernels and the gpu.launch_func calls that run
// them. attn-lower-to-gpu applies it to every op of a module and records
// the launches (KernelManifest) for attn-export-artifacts.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Conversion/Passes.h"

#include "Common/AttentionKernel.h"
#include "Common/AuxKernels.h"
#include "Common/QuantizeKernels.h"
#include "Engines.h"
#include "HostLaunch.h"
#include "KernelSupport.h"
#include "Backward/BackwardKernels.h"
#include "attn/manifest_schema.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNLOWERTOGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

void mlir::attn::loadAttnToNVVMDialects(MLIRContext *context) {
  context->loadDialect<arith::ArithDialect, gpu::GPUDialect, LLVM::LLVMDialect,
                       memref::MemRefDialect, NVVM::NVVMDialect,
                       scf::SCFDialect, vector::VectorDialect>();
}

FailureOr<MmaFamily>
mlir::attn::selectMmaFamily(AttentionOp op, const GpuKernelOptions &options) {
  const GpuTarget &target = *options.target;
  MmaFamily family = options.family.value_or(
      target.defaultFamily(/*defaultPrecision=*/!op.getPrecisionAttr()));
  if (!target.supports(family))
    return op->emitError() << "attn-lower-to-gpu: kernel = "
                           << stringifyMmaFamily(family) << " is not an MMA "
                           << "family " << target.chip << " executes";
  if (!isMmaFamilyImplemented(family))
    return op->emitError()
           << "attn-lower-to-gpu: the " << stringifyMmaFamily(family)
           << " kernels for " << target.chip
           << " are not implemented yet; kernel = mma_sync runs the "
              "warp-level kernel on this chip";
  if (options.family)
    return family;
  // A defaulted family whose engine refuses the op's tiles or head dims
  // falls back to the warp-level kernel every chip runs (the manifest and
  // the Python API name the family that was compiled).
  if (family != MmaFamily::MmaSync) {
    ScopedDiagnosticHandler silence(op->getContext(),
                                    [](Diagnostic &) { return success(); });
    FailureOr<KernelPrecision> precision = checkSupported(op, target);
    KernelShape shape =
        getKernelShape(op, family, options.stages, options.warpRows, target);
    if (failed(precision) ||
        failed(verifyKernelShape(family, op, shape, *precision)))
      return MmaFamily::MmaSync;
  }
  return family;
}

/// `base`, or `base_<i>` for the first i that names nothing in `kernels`.
static std::string uniqueKernelName(gpu::GPUModuleOp kernels, StringRef base) {
  std::string name = base.str();
  for (int i = 0; kernels.lookupSymbol(name); ++i)
    name = (base + "_" + Twine(i)).str();
  return name;
}

/// Static sizes: the kernels' tile lists, grids and tensor maps were
/// computed for them (batch is dim 0 of Q; lengths dim 2 of Q and K).
static void fixStaticArguments(AttentionProblemOpInterface op,
                               KernelManifest &manifest) {
  for (auto [name, operand, dim] :
       {std::tuple<StringRef, Value, int64_t>{ATTN_MANIFEST_ARG_BATCH,
                                              op.getQuery(), 0},
        {ATTN_MANIFEST_ARG_SEQ_Q, op.getQuery(), 2},
        {ATTN_MANIFEST_ARG_SEQ_K, op.getKey(), 2}}) {
    int64_t size = cast<MemRefType>(operand.getType()).getDimSize(dim);
    if (!ShapedType::isDynamic(size))
      manifest.fixArgument(name, size);
  }
}

LogicalResult mlir::attn::lowerAttentionToGpu(RewriterBase &rewriter,
                                              AttentionOp op,
                                              gpu::GPUModuleOp kernels,
                                              const GpuKernelOptions &options,
                                              KernelManifest &manifest) {
  if (!options.target)
    return op.emitOpError()
           << "attn-lower-to-gpu: no target chip given (GpuKernelOptions)";
  FailureOr<MmaFamily> family = selectMmaFamily(op, options);
  if (failed(family))
    return failure();
  FailureOr<KernelPrecision> precision = checkSupported(op, *options.target);
  if (failed(precision))
    return failure();
  KernelShape shape = getKernelShape(op, *family, options.stages,
                                     options.warpRows, *options.target);
  shape.lastQueryTileFirst = options.lastQueryTileFirst;
  shape.persistent = options.persistent;
  shape.tilesFirst = options.tilesFirst;
  if (failed(verifyKernelShape(*family, op, shape, *precision)))
    return failure();
  SmallVector<KernelHeads, 2> sets;
  SmallVector<int64_t> zeroHeads;
  splitHeads(op, sets, zeroHeads);

  auto uniqueName = [&](StringRef base) {
    return uniqueKernelName(kernels, base);
  };
  // The pre-kernels run first; their buffers live for this op, and their
  // names are the module's (one quantized op per module).
  bool usesScratch = precision->quantizedQK() || precision->fp8Value() ||
                     precision->fp4Value() || precision->roundedValue;
  if (usesScratch && !manifest.scratch.empty())
    return op.emitOpError()
           << "attn-lower-to-gpu: a second quantized attention op in one "
              "module would share scratch buffer '"
           << manifest.scratch.front().name
           << "'; compile such ops in separate modules";
  SmallVector<KernelLaunch, 2> launches;
  SmallVector<ScratchBuffer> scratch;
  emitQuantizationKernels(op, kernels, uniqueName("attn_quantize"), *family,
                          shape, *precision, launches, scratch);
  if (!zeroHeads.empty())
    launches.push_back(emitZeroHeadsKernel(
        op, kernels, uniqueName("attn_zero_heads"), zeroHeads));
  for (const KernelHeads &heads : sets) {
    FailureOr<KernelLaunch> launch =
        emitAttentionKernel(op, kernels, uniqueName("attn_fwd"),
                            *options.target, *family, heads, shape, *precision);
    if (failed(launch))
      return failure();
    launches.push_back(*launch);
  }

  fixStaticArguments(op, manifest);
  // The op becomes one launch per kernel, in manifest order.
  rewriter.setInsertionPoint(op);
  if (failed(emitHostLaunches(rewriter, op, kernels, launches, scratch)))
    return failure();
  rewriter.eraseOp(op);
  manifest.kernelFamily = stringifyMmaFamily(*family).str();
  llvm::append_range(manifest.kernels, launches);
  llvm::append_range(manifest.scratch, scratch);
  return success();
}

LogicalResult mlir::attn::lowerAttentionGradToGpu(
    RewriterBase &rewriter, AttentionGradOp op, gpu::GPUModuleOp kernels,
    const GpuKernelOptions &options, KernelManifest &manifest) {
  if (!options.target)
    return op.emitOpError()
           << "attn-lower-to-gpu: no target chip given (GpuKernelOptions)";
  // The scratch buffers are named per module.
  for (const ScratchBuffer &buffer : manifest.scratch)
    if (StringRef(buffer.name).starts_with("bwd_"))
      return op.emitOpError()
             << "attn-lower-to-gpu: a second attn.attention_grad in one "
                "module would share scratch buffer '"
             << buffer.name << "'; compile such ops in separate modules";
  SmallVector<KernelLaunch, 4> launches;
  SmallVector<ScratchBuffer, 4> scratch;
  MmaFamily family = options.family.value_or(options.target->defaultFamily());
  if (failed(emitBackwardKernels(
          op, kernels, *options.target, family, options.deterministic,
          [&](StringRef base) { return uniqueKernelName(kernels, base); },
          launches, scratch)))
    return failure();
  fixStaticArguments(op, manifest);
  rewriter.setInsertionPoint(op);
  if (failed(emitHostLaunches(rewriter, op, kernels, launches, scratch)))
    return failure();
  rewriter.eraseOp(op);
  // A module of forward ops keeps their family as its record.
  if (manifest.kernelFamily.empty())
    manifest.kernelFamily = stringifyMmaFamily(getBackwardProductFamily(
                                                   op, *options.target, family))
                                .str();
  llvm::append_range(manifest.kernels, launches);
  llvm::append_range(manifest.scratch, scratch);
  return success();
}

namespace {
struct AttnLowerToGpuPass
    : mlir::attn::impl::AttnLowerToGpuBase<AttnLowerToGpuPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    GpuKernelOptions options;
    options.target = lookupGpuTarget(target);
    if (!options.target) {
      module.emitError() << "attn-lower-to-gpu: unknown target '" << target
                         << "', expected one of " << listGpuTargets();
      return signalPassFailure();
    }
    FailureOr<GpuTarget> emulated;
    if (emulateBlockScaledMma) {
      std::string refusal;
      emulated = withEmulatedBlockScaledMma(*options.target, refusal);
      if (failed(emulated)) {
        module.emitError() << "attn-lower-to-gpu: emulate-block-scaled-mma: "
                           << refusal;
        return signalPassFailure();
      }
      options.target = &*emulated;
    }
    if (!kernel.empty()) {
      options.family = symbolizeMmaFamily(kernel);
      if (!options.family) {
        module.emitError() << "attn-lower-to-gpu: unknown kernel '" << kernel
                           << "', expected mma_sync, wgmma or tcgen05";
        return signalPassFailure();
      }
    }
    if (stages != 0 && (stages < 2 || stages > 4)) {
      module.emitError() << "attn-lower-to-gpu: stages = "
                         << static_cast<int64_t>(stages)
                         << " is not supported; expected 2, 3 or 4 (0: the "
                            "kernel family's default)";
      return signalPassFailure();
    }
    options.stages = stages;
    options.warpRows = warpRows;
    if (queryTileOrder != "ascending" && queryTileOrder != "descending") {
      module.emitError() << "attn-lower-to-gpu: query-tile-order = '"
                         << queryTileOrder
                         << "' is not supported; expected ascending or "
                            "descending";
      return signalPassFailure();
    }
    options.lastQueryTileFirst = queryTileOrder == "descending";
    options.persistent = persistent;
    if (unitOrder != "heads-first" && unitOrder != "tiles-first") {
      module.emitError() << "attn-lower-to-gpu: unit-order = '" << unitOrder
                         << "' is not supported; expected heads-first or "
                            "tiles-first";
      return signalPassFailure();
    }
    options.tilesFirst = unitOrder == "tiles-first";
    options.deterministic = deterministic;
    SmallVector<AttentionOp> ops;
    SmallVector<AttentionGradOp> gradOps;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    module.walk([&](AttentionGradOp op) { gradOps.push_back(op); });
    if (ops.empty() && gradOps.empty())
      return;

    IRRewriter rewriter(module.getContext());
    auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(getKernelModuleName());
    if (!kernels) {
      rewriter.setInsertionPointToEnd(module.getBody());
      kernels = gpu::GPUModuleOp::create(rewriter, module.getLoc(),
                                         getKernelModuleName());
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    rewriter.getUnitAttr());
    KernelManifest manifest;
    if (hasKernelManifest(module)) {
      FailureOr<KernelManifest> recorded = readKernelManifest(module);
      if (failed(recorded))
        return signalPassFailure();
      manifest = std::move(*recorded);
    }
    std::string recordedFamily = manifest.kernelFamily;
    for (AttentionOp op : ops)
      if (failed(lowerAttentionToGpu(rewriter, op, kernels, options, manifest)))
        return signalPassFailure();
    for (AttentionGradOp op : gradOps)
      if (failed(lowerAttentionGradToGpu(rewriter, op, kernels, options,
                                         manifest)))
        return signalPassFailure();
    if (!recordedFamily.empty() && recordedFamily != manifest.kernelFamily) {
      module.emitError() << "attn-lower-to-gpu: the module already holds "
                         << recordedFamily
                         << " kernels; one module takes one kernel family, "
                            "got "
                         << manifest.kernelFamily;
      return signalPassFailure();
    }
    writeKernelManifest(module, manifest);
  }
};
} // namespace
