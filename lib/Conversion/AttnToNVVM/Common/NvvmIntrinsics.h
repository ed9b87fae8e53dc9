//===- NvvmBuilders.h - one small builder per GPU instruction ---*- C++ -*-===//
//
// Private to AttnToNVVM: the tensor-core, shared-memory and warp
// instructions the GPU kernels use, each behind one function so that the
// kernel emitter reads as the algorithm (GPU-NOTES.md gives the layouts).
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

/// The members of a struct of `N` values (instruction results).
template <size_t N>
inline std::array<Value, N> extractMembers(OpBuilder &b, Location loc,
                                           Value aggregate) {
  std::array<Value, N> members;
  for (size_t i = 0; i < N; ++i)
    members[i] = LLVM::ExtractValueOp::create(b, loc, aggregate, i);
  return members;
}

/// `mma.sync.aligned.m16n8kK.row.col` with A and B of `type`, N result
/// registers of `member` type.
template <size_t N>
inline std::array<Value, N>
mmaSyncRowCol(OpBuilder &b, Location loc, Type member, int64_t k,
              NVVM::MMATypes type, ArrayRef<Value> a, ArrayRef<Value> bOperand,
              ArrayRef<Value> c,
              std::optional<NVVM::MMAIntOverflow> overflow = std::nullopt) {
  SmallVector<Type, 4> members(N, member);
  Type result = LLVM::LLVMStructType::getLiteral(b.getContext(), members);
  Value d = NVVM::MmaOp::create(
      b, loc, result, a, bOperand, c, /*shape=*/{16, 8, k},
      /*b1Op=*/std::nullopt, overflow,
      std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  return extractMembers<N>(b, loc, d);
}

/// `ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16`: four 8x8 16-bit
/// matrices, one b32 register each (lane l addresses row l % 8 of matrix
/// l / 8).
inline std::array<Value, 4> loadMatrixX4(OpBuilder &b, Location loc,
                                         Value sharedPtr, bool transpose) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  Type result = LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32});
  Value loaded = NVVM::LdMatrixOp::create(
      b, loc, result, sharedPtr, b.getI32IntegerAttr(4),
      NVVM::MMALayoutAttr::get(ctx, transpose ? NVVM::MMALayout::col
                                              : NVVM::MMALayout::row),
      NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8),
      NVVM::LdStMatrixEltTypeAttr::get(ctx, NVVM::LdStMatrixEltType::B16));
  return extractMembers<4>(b, loc, loaded);
}

/// `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.f32`: D = A B + C with
/// A and B as b32 registers holding element pairs (first element low).
inline std::array<Value, 4> mmaM16N8K16(OpBuilder &b, Location loc,
                                        bool bf16, ArrayRef<Value> a,
                                        ArrayRef<Value> bOperand,
                                        ArrayRef<Value> c) {
  // nvvm.mma.sync takes f16 pairs as vector<2xf16> and bf16 pairs as i32.
  auto asOperands = [&](ArrayRef<Value> regs) {
    SmallVector<Value, 4> ops;
    for (Value reg : regs)
      ops.push_back(bf16 ? reg
                         : LLVM::BitcastOp::create(
                               b, loc, VectorType::get({2}, b.getF16Type()),
                               reg));
    return ops;
  };
  return mmaSyncRowCol<4>(b, loc, b.getF32Type(), 16,
                          bf16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16,
                          asOperands(a), asOperands(bOperand), c);
}

/// `mma.sync.aligned.m16n8k16.row.col.f16.{f16,bf16}.f16`: as mmaM16N8K16
/// with an f16 accumulator: C and D are two vector<2xf16> (rows g, g+8).
inline std::array<Value, 2> mmaM16N8K16F16Accumulate(OpBuilder &b,
                                                     Location loc,
                                                     ArrayRef<Value> a,
                                                     ArrayRef<Value> bOperand,
                                                     ArrayRef<Value> c) {
  Type half2 = VectorType::get({2}, b.getF16Type());
  auto asHalves = [&](ArrayRef<Value> regs) {
    SmallVector<Value, 4> ops;
    for (Value reg : regs)
      ops.push_back(LLVM::BitcastOp::create(b, loc, half2, reg));
    return ops;
  };
  return mmaSyncRowCol<2>(b, loc, half2, 16, NVVM::MMATypes::f16,
                          asHalves(a), asHalves(bOperand), c);
}

/// `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (bits = 8) or
/// `m16n8k64 ... s4.s4` (bits = 4): the exact int32 dot product. A and B
/// are b32 registers of packed bytes (nibbles, even k low).
inline std::array<Value, 4> mmaInteger(OpBuilder &b, Location loc,
                                       int64_t bits, ArrayRef<Value> a,
                                       ArrayRef<Value> bOperand,
                                       ArrayRef<Value> c) {
  // |dot| <= 64 * 7 * 7 * 4 or 32 * 127 * 127 per step, and D <= 256:
  // no overflow, so the cheaper wrapping form is exact.
  return mmaSyncRowCol<4>(
      b, loc, b.getI32Type(), bits == 8 ? 32 : 64,
      bits == 8 ? NVVM::MMATypes::s8 : NVVM::MMATypes::s4, a, bOperand, c,
      NVVM::MMAIntOverflow::wrapped);
}

/// `mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32` through the LLVM
/// intrinsic (NVVM's op rejects dense FP8; sm_89 needs +ptx84).
inline std::array<Value, 4> mmaM16N8K32E4M3(OpBuilder &b, Location loc,
                                            ArrayRef<Value> a,
                                            ArrayRef<Value> bOperand,
                                            ArrayRef<Value> c) {
  Type f32 = b.getF32Type();
  Type result =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  SmallVector<Value> operands(a.begin(), a.end());
  operands.append(bOperand.begin(), bOperand.end());
  operands.append(c.begin(), c.end());
  Value d = LLVM::CallIntrinsicOp::create(
                b, loc, result,
                b.getStringAttr("llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"),
                operands)
                .getResult(0);
  return extractMembers<4>(b, loc, d);
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

/// `fma.rn.f32`: a * b + c in one rounding.
inline Value fma(OpBuilder &b, Location loc, Value x, Value y, Value z) {
  return LLVM::FMAOp::create(b, loc, x, y, z);
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_NVVMINTRINSICS_H
