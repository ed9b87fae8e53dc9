//===- BufferizableOpInterfaceImpl.cpp - bufferization of attn ops --------===//

#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::bufferization;

namespace {
struct AttentionOpInterface
    : DstBufferizableOpInterfaceExternalModel<AttentionOpInterface,
                                              AttentionOp> {
  /// O and LSE are written in full: their initial contents are never read.
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const AnalysisState &) const {
    return !cast<AttentionOp>(op).isDpsInit(&operand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto attention = cast<AttentionOp>(op);
    SmallVector<Value> operands;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<TensorType>(operand.get().getType())) {
        operands.push_back(operand.get());
        continue;
      }
      FailureOr<Value> buffer =
          getBuffer(rewriter, operand.get(), options, state);
      if (failed(buffer))
        return failure();
      operands.push_back(*buffer);
    }
    rewriter.setInsertionPoint(op);
    auto bufferized = AttentionOp::create(rewriter, op->getLoc(), TypeRange{},
                                          operands, op->getAttrs());
    (void)bufferized;
    SmallVector<Value> results;
    for (OpOperand &init : attention.getDpsInitsMutable())
      results.push_back(operands[init.getOperandNumber()]);
    replaceOpWithBufferizedValues(rewriter, op, results);
    return success();
  }
};
} // namespace

void mlir::attn::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, AttnDialect *) {
    AttentionOp::attachInterface<AttentionOpInterface>(*context);
  });
}
