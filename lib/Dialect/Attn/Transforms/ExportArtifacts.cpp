//===- ExportArtifacts.cpp - GPU binary and launch manifest to files ------===//
//
// Writes what the MLIR-free launcher needs (docs/design/GpuArtifacts.md):
// the object of gpu.binary @attn_kernels and manifest.json built from the
// module attribute `attn.kernels` of attn-lower-to-gpu.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

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
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

/// A product of factors of `attn.kernels` as manifest factors: integers
/// and {"arg", "ceil_div"} objects.
static llvm::json::Array factorsToJson(ArrayAttr product) {
  llvm::json::Array factors;
  for (Attribute factor : product) {
    auto dict = cast<DictionaryAttr>(factor);
    int64_t constant = dict.getAs<IntegerAttr>("constant").getInt();
    if (auto arg = dict.getAs<StringAttr>("arg")) {
      if (constant != 1)
        factors.push_back(constant);
      llvm::json::Object f{{"arg", arg.str()}};
      int64_t divisor = dict.getAs<IntegerAttr>("ceil_div").getInt();
      if (divisor != 1)
        f["ceil_div"] = divisor;
      factors.push_back(std::move(f));
    } else {
      factors.push_back(constant);
    }
  }
  return factors;
}

/// One kernel of `attn.kernels` as a manifest entry.
static FailureOr<llvm::json::Object> kernelToJson(DictionaryAttr kernel) {
  auto name = kernel.getAs<StringAttr>("name");
  auto block = kernel.getAs<IntegerAttr>("block");
  auto shared = kernel.getAs<IntegerAttr>("shared_bytes");
  auto grid = kernel.getAs<ArrayAttr>("grid");
  auto params = kernel.getAs<ArrayAttr>("params");
  if (!name || !block || !shared || !grid || grid.size() != 3 || !params)
    return failure();
  llvm::json::Array gridJson;
  for (Attribute dim : grid)
    gridJson.push_back(factorsToJson(cast<ArrayAttr>(dim)));
  llvm::json::Array paramsJson;
  for (Attribute param : params) {
    auto pair = cast<ArrayAttr>(param);
    paramsJson.push_back(llvm::json::Object{
        {"name", cast<StringAttr>(pair[0]).str()},
        {"type", cast<StringAttr>(pair[1]).str()}});
  }
  return llvm::json::Object{{"name", name.str()},
                            {"block", llvm::json::Array{block.getInt(), 1, 1}},
                            {"shared_bytes", shared.getInt()},
                            {"grid", std::move(gridJson)},
                            {"params", std::move(paramsJson)}};
}

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
    auto binary = module.lookupSymbol<gpu::BinaryOp>("attn_kernels");
    auto kernels = module->getAttrOfType<ArrayAttr>("attn.kernels");
    if (!binary || !kernels) {
      module.emitError()
          << "attn-export-artifacts: no gpu.binary @attn_kernels with an "
             "attn.kernels launch description; run attn-gpu-pipeline (or "
             "attn-lower-to-gpu and gpu-module-to-binary) first";
      return signalPassFailure();
    }
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
      format = "cubin";
      break;
    case gpu::CompilationTarget::Assembly:
      fileName = "kernels.ptx";
      format = "ptx";
      break;
    case gpu::CompilationTarget::Fatbin:
      fileName = "kernels.fatbin";
      format = "fatbin";
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

    llvm::json::Array kernelList;
    for (Attribute kernel : kernels) {
      auto dict = dyn_cast<DictionaryAttr>(kernel);
      FailureOr<llvm::json::Object> json =
          dict ? kernelToJson(dict) : FailureOr<llvm::json::Object>(failure());
      if (failed(json)) {
        module.emitError() << "attn-export-artifacts: malformed attn.kernels "
                              "entry "
                           << kernel;
        return signalPassFailure();
      }
      kernelList.push_back(std::move(*json));
    }
    llvm::json::Object manifest{{"format", "attn-kernels"},
                                {"version", 1},
                                {"binary", fileName.str()},
                                {"binary_format", format.str()},
                                {"chip", chip},
                                {"kernels", std::move(kernelList)}};
    // Buffers the pre-kernels write and the attention kernel reads; the
    // launcher allocates those the caller does not pass.
    if (auto scratch = module->getAttrOfType<ArrayAttr>("attn.scratch")) {
      llvm::json::Array scratchList;
      for (Attribute entry : scratch) {
        auto dict = cast<DictionaryAttr>(entry);
        scratchList.push_back(llvm::json::Object{
            {"name", dict.getAs<StringAttr>("name").str()},
            {"bytes", factorsToJson(dict.getAs<ArrayAttr>("bytes"))}});
      }
      manifest["scratch"] = std::move(scratchList);
    }

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
          os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
             << "\n";
        }))
      return signalPassFailure();
  }
};
} // namespace
