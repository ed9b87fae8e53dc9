//===- PassTensorMapsByValue.cpp - tensor maps as grid constants ----------===//
//
// The TMA pipeline's kernels take their tensor maps as 128-byte by-value
// parameters (the launcher encodes them per launch). The launch record
// says which parameters those are; after convert-gpu-to-nvvm this pass
// gives them the by-value, alignment and grid-constant attributes.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNPASSTENSORMAPSBYVALUE
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

/// Bytes and alignment of a CUtensorMap.
static constexpr int64_t kTensorMapBytes = 128;
static constexpr int64_t kTensorMapAlignment = 64;

namespace {
struct AttnPassTensorMapsByValuePass
    : mlir::attn::impl::AttnPassTensorMapsByValueBase<
          AttnPassTensorMapsByValuePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!hasKernelManifest(module))
      return;
    FailureOr<KernelManifest> manifest = readKernelManifest(module);
    if (failed(manifest))
      return signalPassFailure();
    auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(getKernelModuleName());
    MLIRContext *context = module.getContext();
    Builder b(context);
    Type mapType =
        LLVM::LLVMArrayType::get(IntegerType::get(context, 8), kTensorMapBytes);
    for (const KernelLaunch &launch : manifest->kernels) {
      bool hasMaps = llvm::any_of(launch.params, [](const KernelParam &p) {
        return p.tensorMap.has_value();
      });
      if (!hasMaps)
        continue;
      auto func = kernels ? kernels.lookupSymbol<LLVM::LLVMFuncOp>(launch.name)
                          : LLVM::LLVMFuncOp();
      if (!func || func.getNumArguments() != launch.params.size()) {
        module.emitError() << "attn-pass-tensor-maps-by-value: no llvm.func @"
                           << launch.name << " with " << launch.params.size()
                           << " parameters in @" << getKernelModuleName()
                           << " (run it after convert-gpu-to-nvvm)";
        return signalPassFailure();
      }
      for (auto [index, param] : llvm::enumerate(launch.params)) {
        if (!param.tensorMap)
          continue;
        func.setArgAttr(index, LLVM::LLVMDialect::getByValAttrName(),
                        TypeAttr::get(mapType));
        func.setArgAttr(index, LLVM::LLVMDialect::getAlignAttrName(),
                        b.getI64IntegerAttr(kTensorMapAlignment));
        func.setArgAttr(index, NVVM::NVVMDialect::getGridConstantAttrName(),
                        b.getUnitAttr());
      }
    }
  }
};
} // namespace
