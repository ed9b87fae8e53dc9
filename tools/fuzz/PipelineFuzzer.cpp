//===- PipelineFuzzer.cpp - libFuzzer target: the pipelines users run -----===//
//
// Arbitrary bytes as MLIR text; a module that parses and verifies goes
// through a pipeline a user runs, chosen by the first byte: materialize
// the mask, the sparsity report, plan + the CPU pipeline, the quantization
// split, or the GPU pipeline up to PTX for one chip of the target table.
// Every input the passes cannot serve must end in a diagnostic: a crash,
// a failed assertion or LLVM's "Cannot select" (report_fatal_error) is
// what this finds. One input costs a compile (0.1-1 s): run it for hours.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"
#include "attn/InitAllPasses.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace mlir;

static const char *const kPipelines[] = {
    "builtin.module(attn-materialize-mask)",
    // One pipeline split over two lines (parenthesized: not a lost comma).
    ("builtin.module(func.func(attn-sparsity-report{query-tile=16 "
     "key-tile=16}))"),
    "builtin.module(attn-plan{target=cpu},attn-cpu-pipeline)",
    "builtin.module(attn-quantize)",
    "builtin.module(attn-gpu-pipeline{target=sm_90a format=isa})",
    "builtin.module(attn-gpu-pipeline{target=sm_80 format=isa})",
    "builtin.module(attn-gpu-pipeline{target=sm_89 format=isa})",
    "builtin.module(attn-gpu-pipeline{target=sm_120a format=isa})",
};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static DialectRegistry *registry = [] {
    registerAllPasses();
    attn::registerAllAttnPasses();
    auto *r = new DialectRegistry();
    registerAllDialects(*r);
    registerAllExtensions(*r);
    registerAllGPUToLLVMIRTranslations(*r);
    r->insert<attn::AttnDialect>();
    attn::registerBufferizableOpInterfaceExternalModels(*r);
    return r;
  }();
  if (size < 1)
    return 0;
  const char *pipeline = kPipelines[data[0] % std::size(kPipelines)];
  // A fresh context per input: the pipelines load dialects and intern
  // attributes, which would otherwise grow without bound.
  MLIRContext context(*registry);
  // ATTN_FUZZ_VERBOSE=1 shows the diagnostics (to see why an input stops).
  static const bool verbose = std::getenv("ATTN_FUZZ_VERBOSE") != nullptr;
  if (!verbose)
    context.getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          StringRef(reinterpret_cast<const char *>(data) + 1, size - 1)),
      llvm::SMLoc());
  ParserConfig config(&context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, config);
  if (!module || failed(verify(*module)))
    return 0;
  PassManager pm(&context);
  if (failed(parsePassPipeline(pipeline, pm)))
    __builtin_trap(); // the list above is wrong
  (void)pm.run(*module);
  return 0;
}
