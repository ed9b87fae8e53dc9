//===- ParseFuzzer.cpp - libFuzzer target: parse and verify attn IR -------===//
//
// Arbitrary bytes as MLIR text with the attn dialect (and the dialects its
// ops use): parsing and verification must diagnose, never crash. The
// attributes' custom parsers and verifiers, the ops' verifiers and the
// mask canonicalization (`simplify`) are attn's code under test.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    DialectRegistry registry;
    registry.insert<attn::AttnDialect, arith::ArithDialect, func::FuncDialect,
                    memref::MemRefDialect, tensor::TensorDialect>();
    auto *ctx = new MLIRContext(registry);
    ctx->loadAllAvailableDialects();
    // Diagnostics are the expected outcome of most inputs.
    ctx->getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
    return ctx;
  }();
  // The lexer reads the buffer up to a terminating NUL: a copy has one.
  StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text),
                               llvm::SMLoc());
  ParserConfig config(context);
  OwningOpRef<Operation *> module =
      parseSourceFile<Operation *>(sourceMgr, config);
  if (!module)
    return 0;
  if (failed(verify(*module)))
    return 0;
  // What passes over verified IR ask of every op: its masks' simplified
  // forms and effective scales.
  module->walk([](attn::AttentionOp op) {
    (void)op.getEffectiveScale();
    (void)op.getTokenGrid();
    attn::MaskContext maskContext = op.getMaskContext();
    (void)op.getMaskOrDense().simplify(maskContext);
  });
  return 0;
}
