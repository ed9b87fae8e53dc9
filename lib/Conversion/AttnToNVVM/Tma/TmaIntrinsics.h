//===- TmaIntrinsics.h - bulk tensor copies and mbarriers -------*- C++ -*-===//
//
// Private to AttnToNVVM: the instructions of the TMA pipeline (sm_90a and
// later): mbarrier init / arrive / expect-tx / parity wait,
// `cp.async.bulk.tensor` tile loads completing on an mbarrier, and the
// register reallocation of warp-specialized kernels. Inline PTX, one
// function per instruction; shared-memory addresses are 32-bit
// (shared::cta window) values.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAINTRINSICS_H

#include "../Common/NvvmIntrinsics.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// The 32-bit shared-window address of a shared-memory pointer.
inline Value sharedAddress(OpBuilder &b, Location loc, Value sharedPtr) {
  return LLVM::PtrToIntOp::create(b, loc, b.getI32Type(), sharedPtr);
}

inline Value i32Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}

/// `mbarrier.init.shared::cta.b64 [bar], count`.
inline void mbarrierInit(OpBuilder &b, Location loc, Value barrier,
                         int64_t count) {
  inlinePtx(b, loc, "mbarrier.init.shared::cta.b64 [$0], $1;", "r,r",
            {barrier, i32Constant(b, loc, count)}, 0);
}

/// Makes initialized mbarriers visible to the async proxy (the bulk copies
/// complete on them) before the block's barrier publishes them.
inline void fenceMbarrierInit(OpBuilder &b, Location loc) {
  inlinePtx(b, loc, "fence.mbarrier_init.release.cluster;", "", {}, 0);
  fenceProxyAsyncShared(b, loc);
}

/// `mbarrier.arrive.expect_tx`: this thread's arrival, and `bytes` more
/// transaction bytes the current phase waits for.
inline void mbarrierArriveExpectTx(OpBuilder &b, Location loc, Value barrier,
                                   int64_t bytes) {
  inlinePtx(b, loc, "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;",
            "r,r", {barrier, i32Constant(b, loc, bytes)}, 0);
}

/// Waits for this thread's cp.async copies (`cp.async.wait_all`), then
/// arrives on `barrier`: the arrival's release orders the copied words
/// before the reads of the threads that wait for the phase. (A
/// `cp.async.mbarrier.arrive.noinc` would not block the thread, but
/// compute-sanitizer's racecheck does not follow it: 1-4 reported hazards
/// per kernel on an H100.)
inline void arriveAfterCopies(OpBuilder &b, Location loc, Value barrier) {
  inlinePtx(b, loc, "cp.async.wait_all;", "", {}, 0);
  inlinePtx(b, loc, "mbarrier.arrive.shared::cta.b64 _, [$0];", "r", {barrier},
            0);
}

/// `mbarrier.arrive`: this thread's arrival.
inline void mbarrierArrive(OpBuilder &b, Location loc, Value barrier) {
  inlinePtx(b, loc, "mbarrier.arrive.shared::cta.b64 _, [$0];", "r", {barrier},
            0);
}

/// Spins until the phase of parity `parity` (i32, 0 or 1) of `barrier` has
/// completed (a fresh barrier counts parity 1 as completed).
inline void mbarrierWait(OpBuilder &b, Location loc, Value barrier,
                         Value parity) {
  // The braces scope the label: the statement may appear many times.
  inlinePtx(b, loc,
            "{ .reg .pred done; wait_${:uid}: "
            "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1; "
            "@!done bra wait_${:uid}; }",
            "r,r", {barrier, parity}, 0);
}

/// `cp.async.bulk.tensor.<rank>d` of the box at `coordinates` (i32,
/// innermost first) of the tensor map at generic address `tensorMap` (i64)
/// into shared memory at `destination`, completing `barrier`'s transaction
/// bytes.
inline void bulkTensorLoad(OpBuilder &b, Location loc, Value destination,
                           Value tensorMap, Value barrier,
                           ArrayRef<Value> coordinates) {
  std::string ptx = "cp.async.bulk.tensor." +
                    std::to_string(coordinates.size()) +
                    "d.shared::cluster.global.tile.mbarrier::complete_tx::"
                    "bytes [$0], [$1, {";
  std::string constraints = "r,l,r";
  for (size_t i = 0; i < coordinates.size(); ++i) {
    ptx += (i ? ", $" : "$") + std::to_string(3 + i);
    constraints += ",r";
  }
  ptx += "}], [$2];";
  SmallVector<Value> operands = {destination, tensorMap, barrier};
  operands.append(coordinates.begin(), coordinates.end());
  inlinePtx(b, loc, ptx, constraints, operands, 0);
}

/// `setmaxnreg.{inc,dec}.sync.aligned.u32 count`: the warpgroup's register
/// budget (a multiple of 8 in [24, 256]).
inline void setMaxRegisters(OpBuilder &b, Location loc, bool increase,
                            int64_t count) {
  inlinePtx(b, loc,
            std::string("setmaxnreg.") + (increase ? "inc" : "dec") +
                ".sync.aligned.u32 " + std::to_string(count) + ";",
            "", {}, 0);
}

/// `bar.warp.sync -1`: the warp's lanes reconverge.
inline void warpSync(OpBuilder &b, Location loc) {
  inlinePtx(b, loc, "bar.warp.sync -1;", "", {}, 0);
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAINTRINSICS_H
