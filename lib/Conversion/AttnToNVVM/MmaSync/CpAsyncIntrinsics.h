//===- CpAsyncIntrinsics.h - cp.async and its groups ------------*- C++ -*-===//
//
// Private to AttnToNVVM: the asynchronous copies of the CpAsyncPipeline
// (sm_80 onwards).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_CPASYNCINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_CPASYNCINTRINSICS_H

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// `cp.async.ca.shared.global [dst], [src], 4, srcBytes`.
inline void copyAsync4(OpBuilder &b, Location loc, Value sharedPtr,
                       Value globalPtr, Value srcBytes) {
  NVVM::CpAsyncOp::create(b, loc, sharedPtr, globalPtr,
                          b.getI32IntegerAttr(4),
                          NVVM::LoadCacheModifierKindAttr::get(
                              b.getContext(), NVVM::LoadCacheModifierKind::CA),
                          srcBytes);
}

/// `cp.async.cg.shared.global [dst], [src], 16, srcBytes`: srcBytes < 16
/// zero-fills the rest (0 for rows out of range).
inline void copyAsync16(OpBuilder &b, Location loc, Value sharedPtr,
                        Value globalPtr, Value srcBytes) {
  NVVM::CpAsyncOp::create(b, loc, sharedPtr, globalPtr,
                          b.getI32IntegerAttr(16),
                          NVVM::LoadCacheModifierKindAttr::get(
                              b.getContext(), NVVM::LoadCacheModifierKind::CG),
                          srcBytes);
}

inline void commitAsyncGroup(OpBuilder &b, Location loc) {
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

/// Waits until at most `pending` of this thread's newest groups are in
/// flight.
inline void waitAsyncGroups(OpBuilder &b, Location loc, int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, pending);
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_CPASYNCINTRINSICS_H
