// Registers the installed attn dialect and passes in a fresh context, parses
// an attention op, verifies it and runs the sparsity report on it.

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

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

int main() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, mlir::func::FuncDialect>();
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
  return 0;
}
