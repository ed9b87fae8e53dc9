//===- NvvmIntrinsics.h - instructions every kernel family uses -*- C++ -*-===//
//
// Private to AttnToNVVM: the conversion, warp and math instructions the
// kernels of every generation use, each behind one function so that the
// emitters read as the algorithm. Tensor-core and copy instructions live
// with their family (MmaSync/MmaSyncIntrinsics.h, ...).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_NVVMINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_NVVMINTRINSICS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include <array>

namespace mlir {
namespace attn {
namespace nvvm_builders {

/// An inline PTX statement with side effects (it is never moved or
/// removed) returning `resultCount` values of `resultElement` (f32 by
/// default; none: no result); for the instructions NVVM 22 lacks or whose
/// NVVM form carries no data.
inline SmallVector<Value> inlinePtx(OpBuilder &b, Location loc,
                                    StringRef ptx, StringRef constraints,
                                    ValueRange operands, int64_t resultCount,
                                    Type resultElement = Type()) {
  Type element = resultElement ? resultElement : b.getF32Type();
  Type resultType =
      resultCount == 0
          ? Type()
          : (resultCount == 1
                 ? element
                 : LLVM::LLVMStructType::getLiteral(
                       b.getContext(),
                       SmallVector<Type>(resultCount, element)));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, resultType ? TypeRange(resultType) : TypeRange(), operands, ptx,
      constraints, /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  SmallVector<Value> results;
  if (resultCount == 1)
    results.push_back(asmOp.getResult(0));
  for (int64_t i = 0; resultCount > 1 && i < resultCount; ++i)
    results.push_back(
        LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0), i));
  return results;
}

/// The members of a struct of `N` values (instruction results).
template <size_t N>
inline std::array<Value, N> extractMembers(OpBuilder &b, Location loc,
                                           Value aggregate) {
  std::array<Value, N> members;
  for (size_t i = 0; i < N; ++i)
    members[i] = LLVM::ExtractValueOp::create(b, loc, aggregate, i);
  return members;
}

/// `cvt.rn.satfinite.e4m3x2.f32 d, high, low`: two f32 to E4M3 bytes,
/// `low` in the low byte (i16).
inline Value packE4M3Pair(OpBuilder &b, Location loc, Value low, Value high) {
  return LLVM::CallIntrinsicOp::create(
             b, loc, b.getI16Type(),
             b.getStringAttr("llvm.nvvm.ff.to.e4m3x2.rn"),
             ValueRange{high, low})
      .getResult(0);
}

/// `cvt.rni.s32.{f32,f64}`: round half to even to an integer.
inline Value roundToInt(OpBuilder &b, Location loc, Value x) {
  StringRef name =
      x.getType().isF64() ? "llvm.nvvm.d2i.rn" : "llvm.nvvm.f2i.rn";
  return LLVM::CallIntrinsicOp::create(b, loc, b.getI32Type(),
                                       b.getStringAttr(name), ValueRange{x})
      .getResult(0);
}

/// Lane 0's `value` (i32) in every lane (`shfl.sync.idx`): ptxas then
/// knows the value is the same across the warp, so branches on it are
/// warp-uniform and what derives from it may live in uniform registers.
inline Value broadcastFirstLane(OpBuilder &b, Location loc, Value value) {
  Type i32 = b.getI32Type();
  auto c = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(i32, v));
  };
  return NVVM::ShflOp::create(b, loc, i32, c(-1), value, c(0), c(0x1f),
                              NVVM::ShflKind::idx, UnitAttr());
}

/// `shfl.sync.bfly.b32` over the full warp (an f64 as two halves).
inline Value shuffleXor(OpBuilder &b, Location loc, Value value,
                        int64_t laneMask) {
  Type i32 = b.getI32Type();
  auto c = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(i32, v));
  };
  auto shuffle = [&](Value v) -> Value {
    return NVVM::ShflOp::create(b, loc, v.getType(), c(-1), v, c(laneMask),
                                c(0x1f), NVVM::ShflKind::bfly, UnitAttr());
  };
  if (!value.getType().isF64())
    return shuffle(value);
  Type halves = VectorType::get({2}, i32);
  Value pair = LLVM::BitcastOp::create(b, loc, halves, value);
  SmallVector<Value> shuffled;
  for (int64_t i = 0; i < 2; ++i)
    shuffled.push_back(
        shuffle(vector::ExtractOp::create(b, loc, pair, i)));
  return LLVM::BitcastOp::create(
      b, loc, b.getF64Type(),
      vector::FromElementsOp::create(b, loc, halves, shuffled));
}

/// Two f32 rounded to a b32 register of 16-bit floats, `low` in the low
/// half (cvt.rn.{f16x2,bf16x2}.f32).
inline Value packPair(OpBuilder &b, Location loc, Type halfType, Value low,
                      Value high) {
  Value pair = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{low, high});
  Value rounded = arith::TruncFOp::create(
      b, loc, VectorType::get({2}, halfType), pair);
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), rounded);
}

/// `ex2.approx.ftz.f32`: 2^x (NVVM's math lowering would call libdevice).
inline Value exp2Approx(OpBuilder &b, Location loc, Value x) {
  return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                       b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f"),
                                       ValueRange{x})
      .getResult(0);
}

/// `lg2.approx.f32`: log2(x).
inline Value log2Approx(OpBuilder &b, Location loc, Value x) {
  return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                       b.getStringAttr("llvm.nvvm.lg2.approx.f"),
                                       ValueRange{x})
      .getResult(0);
}

/// `fence.proxy.async.shared::cta`: this thread's generic-proxy writes to
/// shared memory become visible to the async proxy (wgmma operands, bulk
/// copies).
inline void fenceProxyAsyncShared(OpBuilder &b, Location loc) {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}

/// `fma.rn.f32`: a * b + c in one rounding.
inline Value fma(OpBuilder &b, Location loc, Value x, Value y, Value z) {
  return LLVM::FMAOp::create(b, loc, x, y, z);
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_NVVMINTRINSICS_H
