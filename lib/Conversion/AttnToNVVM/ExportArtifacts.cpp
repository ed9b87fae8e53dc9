//===- ExportArtifacts.cpp - GPU binary and launch manifest to files ------===//
//
// Writes what the MLIR-free launcher needs (docs/design/GpuArtifacts.md):
// the object of gpu.binary @attn_kernels and manifest.json built from the
// module attribute `attn.kernels` of attn-lower-to-gpu.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Conversion/Passes.h"

#include "attn/manifest_schema.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNEXPORTARTIFACTS
#include "attn/Conversion/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnExportArtifactsPass
    : mlir::attn::impl::AttnExportArtifactsBase<AttnExportArtifactsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (directory.empty()) {
      module.emitError() << "attn-export-artifacts: the dir option is "
                            "required";
      return signalPassFailure();
    }
    auto binary = module.lookupSymbol<gpu::BinaryOp>(getKernelModuleName());
    if (!binary || !hasKernelManifest(module)) {
      module.emitError()
          << "attn-export-artifacts: no gpu.binary @" << getKernelModuleName()
          << " with an attn.kernels launch description; run "
             "attn-gpu-pipeline (or attn-lower-to-gpu and "
             "gpu-module-to-binary) first";
      return signalPassFailure();
    }
    FailureOr<KernelManifest> manifest = readKernelManifest(module);
    if (failed(manifest))
      return signalPassFailure();
    if (binary.getObjects().size() != 1) {
      binary.emitError() << "attn-export-artifacts: expected one object, got "
                         << binary.getObjects().size();
      return signalPassFailure();
    }
    auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
    StringRef fileName, format;
    switch (object.getFormat()) {
    case gpu::CompilationTarget::Binary:
      fileName = "kernels.cubin";
      format = ATTN_MANIFEST_BINARY_CUBIN;
      break;
    case gpu::CompilationTarget::Assembly:
      fileName = "kernels.ptx";
      format = ATTN_MANIFEST_BINARY_PTX;
      break;
    case gpu::CompilationTarget::Fatbin:
      fileName = "kernels.fatbin";
      format = ATTN_MANIFEST_BINARY_FATBIN;
      break;
    default:
      binary.emitError() << "attn-export-artifacts: objects in format "
                         << stringifyCompilationTarget(object.getFormat())
                         << " cannot be launched; use bin, isa or fatbin";
      return signalPassFailure();
    }
    std::string chip;
    if (auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget()))
      chip = target.getChip().str();

    llvm::json::Object json =
        kernelManifestToJson(*manifest, fileName, format, chip);

    if (std::error_code ec = llvm::sys::fs::create_directories(directory)) {
      module.emitError() << "attn-export-artifacts: cannot create directory '"
                         << directory << "': " << ec.message();
      return signalPassFailure();
    }
    auto write = [&](StringRef name, function_ref<void(raw_ostream &)> fn) {
      SmallString<256> path(directory);
      llvm::sys::path::append(path, name);
      std::error_code ec;
      llvm::raw_fd_ostream os(path, ec);
      if (ec) {
        module.emitError() << "attn-export-artifacts: cannot write '" << path
                           << "': " << ec.message();
        return false;
      }
      fn(os);
      return true;
    };
    if (!write(fileName,
               [&](raw_ostream &os) { os << object.getObject().getValue(); }) ||
        !write("manifest.json", [&](raw_ostream &os) {
          os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json)))
             << "\n";
        }))
      return signalPassFailure();
  }
};
} // namespace
