//===- AttnDialect.cpp - attn dialect registration ------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnDialect.cpp.inc"

void AttnDialect::initialize() {
  registerMaskAttributes();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  // Implemented in AttnTransforms (BufferizableOpInterfaceImpl.cpp).
  declarePromisedInterface<bufferization::BufferizableOpInterface,
                           AttentionOp>();
}
