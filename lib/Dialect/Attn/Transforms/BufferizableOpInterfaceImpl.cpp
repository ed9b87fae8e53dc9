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
/// attn.attention, attn.attention_grad and the quantization pre-steps are
/// destination-passing: each bufferizes to its memref form, writing into the
/// buffers of its outs operands, whose initial contents it never reads
/// (written in full).
template <typename OpTy>
struct DestinationStyleBufferization
    : DstBufferizableOpInterfaceExternalModel<
          DestinationStyleBufferization<OpTy>, OpTy> {
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const AnalysisState &) const {
    return !cast<OpTy>(op).isDpsInit(&operand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto dpsOp = cast<OpTy>(op);
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
    OpTy::create(rewriter, op->getLoc(), TypeRange{}, operands, op->getAttrs());
    SmallVector<Value> results;
    for (OpOperand &init : dpsOp.getDpsInitsMutable())
      results.push_back(operands[init.getOperandNumber()]);
    replaceOpWithBufferizedValues(rewriter, op, results);
    return success();
  }
};
} // namespace

void mlir::attn::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, AttnDialect *) {
    AttentionOp::attachInterface<DestinationStyleBufferization<AttentionOp>>(
        *context);
    AttentionGradOp::attachInterface<
        DestinationStyleBufferization<AttentionGradOp>>(*context);
    KeyMeanOp::attachInterface<DestinationStyleBufferization<KeyMeanOp>>(
        *context);
    QueryBlockMeanOp::attachInterface<
        DestinationStyleBufferization<QueryBlockMeanOp>>(*context);
    QuantizeRowsOp::attachInterface<
        DestinationStyleBufferization<QuantizeRowsOp>>(*context);
    QuantizeValueOp::attachInterface<
        DestinationStyleBufferization<QuantizeValueOp>>(*context);
  });
}
