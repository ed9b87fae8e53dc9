//===- Dialects.cpp - C API of the attn dialect ---------------------------===//

#include "attn-c/Dialects.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"
#include "attn/InitAllPasses.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Attn, attn, mlir::attn::AttnDialect)

void attnRegisterPasses(void) { mlir::attn::registerAllAttnPasses(); }

void attnRegisterDialects(MlirDialectRegistry registry) {
  unwrap(registry)
      ->insert<mlir::attn::AttnDialect, mlir::arith::ArithDialect,
               mlir::func::FuncDialect, mlir::memref::MemRefDialect,
               mlir::tensor::TensorDialect>();
  mlir::attn::registerBufferizableOpInterfaceExternalModels(*unwrap(registry));
}
