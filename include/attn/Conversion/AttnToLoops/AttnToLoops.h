//===- AttnToLoops.h - attn.attention to a CPU loop nest --------*- C++ -*-===//
//
// The reusable entry points of attn-lower-to-loops: the tiled online-softmax
// loop nest of one attn.attention, the backward loop nest of one
// attn.attention_grad, and the loops of one quantization pre-step.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
#define ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

namespace mlir {
class RewriterBase;
namespace attn {

/// Loads the dialects whose ops the loop nest is made of (arith, math,
/// memref, scf). attn-lower-to-loops declares them as dependent dialects;
/// another caller loads them once before lowering.
void loadAttnToLoopsDialects(MLIRContext *context);

/// Replaces `op` (memref operands) by its loop nest. Tile shapes:
/// `queryTile` / `keyTile` when non-zero (flat tiles), else the op's tiling
/// (attn-plan; N-D tilings walk boxes of the mask's token grid), else 16.
LogicalResult lowerAttentionToLoops(RewriterBase &rewriter, AttentionOp op,
                                    int64_t queryTile = 0,
                                    int64_t keyTile = 0);

/// Replaces `op` (memref operands) by the loop nest of its gradients
/// (SEMANTICS.md section 5), on flat tiles of `queryTile` x `keyTile`
/// tokens (16 when zero).
LogicalResult lowerAttentionGradToLoops(RewriterBase &rewriter,
                                        AttentionGradOp op,
                                        int64_t queryTile = 0,
                                        int64_t keyTile = 0);

/// Replaces a quantization pre-step on memrefs (attn.key_mean,
/// attn.query_block_mean, attn.quantize_rows, attn.quantize_value) by its
/// loops.
LogicalResult lowerQuantizationStepToLoops(RewriterBase &rewriter,
                                           Operation *step);

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
