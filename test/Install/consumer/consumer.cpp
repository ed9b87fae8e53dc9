// Registers the installed attn dialect and passes in a fresh context, parses
// an attention op, verifies it and runs the sparsity report on it; then
// lowers an op on memrefs to GPU kernels through the embeddable entry
// point, as a compiler with its own pass structure would.

#include "attn/Conversion/AttnToNVVM/AttnToNVVM.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

static const char *kSource = R"mlir(
func.func @f(%q: tensor<1x1x16x8xf16>, %k: tensor<1x1x16x8xf16>,
             %v: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>)
    -> tensor<1x1x16x8xf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>)
         outs(%o : tensor<1x1x16x8xf16>) mask = #attn.causal -> tensor<1x1x16x8xf16>
  return %r : tensor<1x1x16x8xf16>
}
)mlir";

static const char *kMemrefSource = R"mlir(
func.func @g(%q: memref<1x2x?x64xf16>, %o: memref<1x2x?x64xf16>) {
  attn.attention ins(%q, %q, %q : memref<1x2x?x64xf16>, memref<1x2x?x64xf16>, memref<1x2x?x64xf16>)
    outs(%o : memref<1x2x?x64xf16>) mask = #attn.causal
  return
}
)mlir";

/// Lowers the op of kMemrefSource with lowerAttentionToGpu.
static int lowerToGpu(mlir::MLIRContext &context) {
  mlir::attn::loadAttnToNVVMDialects(&context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kMemrefSource, &context);
  if (!module)
    return 3;
  mlir::attn::GpuKernelOptions options;
  options.target = mlir::attn::lookupGpuTarget("sm_90a");
  mlir::IRRewriter rewriter(&context);
  rewriter.setInsertionPointToEnd(module->getBody());
  auto kernels = mlir::gpu::GPUModuleOp::create(
      rewriter, module->getLoc(), mlir::attn::getKernelModuleName());
  mlir::attn::KernelManifest manifest;
  mlir::attn::AttentionOp op;
  module->walk([&](mlir::attn::AttentionOp found) { op = found; });
  if (failed(mlir::attn::lowerAttentionToGpu(rewriter, op, kernels, options,
                                             manifest)))
    return 4;
  llvm::outs() << "kernel family: " << manifest.kernelFamily << "\n";
  for (const mlir::attn::KernelLaunch &launch : manifest.kernels)
    llvm::outs() << "kernel: " << launch.name << " block " << launch.blockSize
                 << " shared " << launch.sharedBytes << "\n";
  return 0;
}

int main() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, mlir::func::FuncDialect,
                  mlir::memref::MemRefDialect>();
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kSource, &context);
  if (!module)
    return 1;
  int ops = 0;
  module->walk([&](mlir::attn::AttentionOp op) {
    ++ops;
    llvm::outs() << "mask: " << op.getMaskOrDense() << "\n";
  });
  llvm::outs() << "attention ops: " << ops << "\n";
  mlir::PassManager pm(&context);
  pm.addPass(mlir::attn::createAttnSparsityReport(
      mlir::attn::AttnSparsityReportOptions{{4}, {4}, true}));
  if (mlir::failed(pm.run(*module)))
    return 2;
  module->walk([&](mlir::attn::AttentionOp op) {
    llvm::outs() << "sparsity: " << op->getAttr("attn.sparsity") << "\n";
  });
  return lowerToGpu(context);
}
