//===- CpAsyncIntrinsics.h - cp.async and its groups ------------*- C++ -*-===//
//
// Private to AttnToNVVM: the asynchronous copies of the CpAsyncPipeline
// (sm_80 onwards).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCINTRINSICS_H

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// `cp.async.{ca,cg}.shared.global [dst], [src], size, srcBytes`: `size`
/// is 4 (cached at all levels) or 16 (global only, the one size cg takes);
/// srcBytes < size zero-fills the rest (0 for rows out of range).
inline void copyAsync(OpBuilder &b, Location loc, Value sharedPtr,
                      Value globalPtr, int64_t size, Value srcBytes) {
  NVVM::CpAsyncOp::create(
      b, loc, sharedPtr, globalPtr, b.getI32IntegerAttr(size),
      NVVM::LoadCacheModifierKindAttr::get(
          b.getContext(), size == 16 ? NVVM::LoadCacheModifierKind::CG
                                     : NVVM::LoadCacheModifierKind::CA),
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

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCINTRINSICS_H
