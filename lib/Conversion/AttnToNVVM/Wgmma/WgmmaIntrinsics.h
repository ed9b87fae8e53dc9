//===- WgmmaIntrinsics.h - warpgroup MMA instructions -----------*- C++ -*-===//
//
// Private to AttnToNVVM: sm_90a's warpgroup-level `wgmma.mma_async` and its
// fences, as inline PTX. NVVM 22 has no register-A form, and its wait does
// not carry data (LLVM may move uses of the results above it): the wait here
// takes the accumulators and returns them, so every use depends on it, and
// keeps register-A operands alive until the products that read them are
// done (docs/design/WgmmaKernel.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAINTRINSICS_H

#include "../Common/NvvmIntrinsics.h"

#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// `{$first, ..., $first+count-1}`.
inline std::string ptxRegisterList(int64_t first, int64_t count) {
  std::string text = "{";
  for (int64_t i = 0; i < count; ++i)
    text += (i ? ", $" : "$") + std::to_string(first + i);
  return text + "}";
}

/// `wgmma.fence.sync.aligned`: register writes of the accumulators and A
/// operands are ordered before the next wgmma.
inline void wgmmaFence(OpBuilder &b, Location loc) {
  inlinePtx(b, loc, "wgmma.fence.sync.aligned;", "", {}, 0);
}

/// `wgmma.commit_group.sync.aligned`.
inline void wgmmaCommit(OpBuilder &b, Location loc) {
  inlinePtx(b, loc, "wgmma.commit_group.sync.aligned;", "", {}, 0);
}

/// `wgmma.wait_group.sync.aligned N` (at most N groups still pending) that
/// takes `accumulators` and returns them (uses depend on the wait) and
/// reads `operands` (register A fragments live until the products that
/// read them finish).
inline SmallVector<Value> wgmmaWait(OpBuilder &b, Location loc,
                                    ValueRange accumulators,
                                    ValueRange operands = {},
                                    int64_t groupsInFlight = 0) {
  int64_t n = accumulators.size();
  bool integer = n && accumulators.front().getType().isInteger(32);
  std::string constraints;
  for (int64_t i = 0; i < n; ++i)
    constraints += (i ? "," : "") + std::string(integer ? "=r" : "=f");
  for (int64_t i = 0; i < n; ++i)
    constraints += "," + std::to_string(i);
  for (size_t i = 0; i < operands.size(); ++i)
    constraints += ",r";
  if (n == 0 && !constraints.empty())
    constraints.erase(0, 1);
  SmallVector<Value> inputs(accumulators.begin(), accumulators.end());
  inputs.append(operands.begin(), operands.end());
  return inlinePtx(b, loc,
                   "wgmma.wait_group.sync.aligned " +
                       std::to_string(groupsInFlight) + ";",
                   constraints, inputs, n,
                   integer ? Type(b.getI32Type()) : Type(b.getF32Type()));
}

/// `bar.sync id, threads` / `bar.arrive id, threads` on a named barrier.
inline void namedBarrier(OpBuilder &b, Location loc, bool arriveOnly, Value id,
                         int64_t threads) {
  Value count = arith::ConstantIntOp::create(b, loc, b.getI32Type(), threads);
  inlinePtx(b, loc, arriveOnly ? "bar.arrive $0, $1;" : "bar.sync $0, $1;",
            "r,r", {id, count}, 0);
}

/// The multiplicand type of one wgmma: bf16, f16 (k16, f32 accumulators),
/// e4m3 (k32, f32) or s8 (k32, s32).
inline int64_t wgmmaK(StringRef type) {
  return type == "bf16" || type == "f16" ? 16 : 32;
}

/// One `wgmma.mma_async.sync.aligned.m64n{n}k{16,32}.{f32,s32}.{type}.{type}`:
/// D (n / 2 accumulators per thread) = A B + (accumulators, or 0 when
/// empty). A is one i64 shared-memory descriptor, or four b32 registers
/// (16-bit pairs or four 8-bit values); B is a shared-memory descriptor,
/// MN-major when `transposeB`, and a descriptor A MN-major when
/// `transposeA` (16-bit types only; 8-bit operands are K-major).
inline SmallVector<Value> wgmmaAsync(OpBuilder &b, Location loc, int64_t n,
                                     StringRef type, ValueRange a,
                                     Value descriptorB, bool transposeB,
                                     ValueRange accumulators,
                                     bool transposeA = false) {
  int64_t outputs = n / 2;
  bool registerA = a.size() == 4;
  bool integer = type == "s8";
  bool sixteenBit = wgmmaK(type) == 16;
  std::string aList =
      registerA ? ptxRegisterList(outputs, 4) : "$" + std::to_string(outputs);
  int64_t bIndex = outputs + a.size();
  // Scale-d is a predicate: 0 overwrites D, 1 accumulates. Integer types
  // take no scale or transpose immediates, 8-bit floats no transposes.
  std::string immediates;
  if (!integer)
    immediates += ", 1, 1";
  if (sixteenBit)
    immediates += std::string(registerA    ? ""
                              : transposeA ? ", 1"
                                           : ", 0") +
                  (transposeB ? ", 1" : ", 0");
  std::string ptx = llvm::formatv(
      "{{ .reg .pred p; setp.ne.b32 p, {0}, 0; "
      "wgmma.mma_async.sync.aligned.m64n{1}k{2}.{3}.{4}.{4} {5}, {6}, ${7}, "
      "p{8}; }",
      accumulators.empty() ? 0 : 1, n, wgmmaK(type), integer ? "s32" : "f32",
      type, ptxRegisterList(0, outputs), aList, bIndex, immediates);
  std::string output = integer ? "=r" : "=f";
  std::string constraints;
  for (int64_t i = 0; i < outputs; ++i)
    constraints += (i ? "," : "") + output;
  constraints += registerA ? ",r,r,r,r" : ",l";
  constraints += ",l";
  for (size_t i = 0; i < accumulators.size(); ++i)
    constraints += "," + std::to_string(i);
  SmallVector<Value> inputs(a.begin(), a.end());
  inputs.push_back(descriptorB);
  inputs.append(accumulators.begin(), accumulators.end());
  return inlinePtx(b, loc, ptx, constraints, inputs, outputs,
                   integer ? Type(b.getI32Type()) : Type(b.getF32Type()));
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_WGMMA_WGMMAINTRINSICS_H
