//===- CpuRunner.cpp - compile and run attn IR on the CPU -----------------===//

#include "CpuRunner.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn::testing;

CpuKernel::CpuKernel() = default;
CpuKernel::~CpuKernel() = default;

std::unique_ptr<CpuKernel>
CpuKernel::compile(const std::string &source,
                   const attn::CpuPipelineOptions &options,
                   std::string &error) {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;

  std::unique_ptr<CpuKernel> kernel(new CpuKernel());
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<attn::AttnDialect>();
  attn::registerBufferizableOpInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  kernel->context = std::make_unique<MLIRContext>(registry);

  llvm::raw_string_ostream errors(error);
  ScopedDiagnosticHandler handler(kernel->context.get(), [&](Diagnostic &d) {
    errors << d << "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, kernel->context.get());
  if (!module)
    return nullptr;
  PassManager pm(kernel->context.get());
  attn::buildCpuPipeline(pm, options);
  if (failed(pm.run(*module)))
    return nullptr;
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = makeOptimizingTransformer(
      /*optLevel=*/1, /*sizeLevel=*/0, /*targetMachine=*/nullptr);
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine) {
    errors << llvm::toString(engine.takeError());
    return nullptr;
  }
  kernel->engine = std::move(*engine);
  return kernel;
}

bool CpuKernel::run(const std::string &name, const std::vector<MemRefArg> &args,
                    std::string &error) {
  // Each memref descriptor is {allocated, aligned, offset, sizes, strides}
  // as 64-bit words; the C interface takes a pointer to it.
  std::vector<std::vector<int64_t>> descriptors;
  for (const MemRefArg &arg : args) {
    std::vector<int64_t> words = {reinterpret_cast<int64_t>(arg.data),
                                  reinterpret_cast<int64_t>(arg.data), 0};
    words.insert(words.end(), arg.shape.begin(), arg.shape.end());
    std::vector<int64_t> strides(arg.shape.size(), 1);
    for (int d = static_cast<int>(arg.shape.size()) - 2; d >= 0; --d)
      strides[d] = strides[d + 1] * arg.shape[d + 1];
    words.insert(words.end(), strides.begin(), strides.end());
    descriptors.push_back(std::move(words));
  }
  std::vector<void *> pointers, packed;
  for (auto &words : descriptors)
    pointers.push_back(words.data());
  for (void *&pointer : pointers)
    packed.push_back(&pointer);
  if (llvm::Error err = engine->invokePacked("_mlir_ciface_" + name, packed)) {
    llvm::raw_string_ostream errors(error);
    errors << llvm::toString(std::move(err));
    return false;
  }
  return true;
}
