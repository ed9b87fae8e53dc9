//===- Passes.h - attn dialect passes ----------------------------*- C++ -*-===//
//
// Dialect-level transformations of attn.attention: analyses, tile plans,
// mask materialization and the quantization split. The lowerings are in
// attn/Conversion/Passes.h, the named pipelines in attn/Pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace arith {
class ArithDialect;
} // namespace arith
namespace memref {
class MemRefDialect;
} // namespace memref
namespace tensor {
class TensorDialect;
} // namespace tensor

namespace attn {

#define GEN_PASS_DECL
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

/// The pattern of attn-quantize: splits the quantization pre-steps out of
/// every attn.attention that has none yet.
void populateQuantizePatterns(RewritePatternSet &patterns);

} // namespace attn
} // namespace mlir

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
