//===- MmaSyncIntrinsics.h - mma.sync and ldmatrix --------------*- C++ -*-===//
//
// Private to AttnToNVVM: the warp-level tensor-core instructions of the
// MmaSync engine (every chip of the target table; sm_120a's block-scaled
// form is in BlockScaledMma.h), one builder per shape
// family (docs/design/FragmentLayouts.md gives the fragment layouts).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCINTRINSICS_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCINTRINSICS_H

#include "../Common/NvvmIntrinsics.h"

namespace mlir {
namespace attn {
namespace nvvm_builders {

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
/// intrinsic (NVVM's op rejects dense FP8; sm_89 needs +ptx84), or with
/// `kindF8F6F4` sm_120a's `...row.col.kind::f8f6f4.f32.e4m3.e4m3.f32` (the
/// same fragments).
inline std::array<Value, 4> mmaM16N8K32E4M3(OpBuilder &b, Location loc,
                                            ArrayRef<Value> a,
                                            ArrayRef<Value> bOperand,
                                            ArrayRef<Value> c,
                                            bool kindF8F6F4 = false) {
  Type f32 = b.getF32Type();
  Type result =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  SmallVector<Value> operands(a.begin(), a.end());
  operands.append(bOperand.begin(), bOperand.end());
  operands.append(c.begin(), c.end());
  Value d = LLVM::CallIntrinsicOp::create(
                b, loc, result,
                b.getStringAttr(
                    kindF8F6F4
                        ? "llvm.nvvm.mma.m16n8k32.row.col.kind.f8f6f4.f32.e4m3."
                          "e4m3.f32"
                        : "llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"),
                operands)
                .getResult(0);
  return extractMembers<4>(b, loc, d);
}

} // namespace nvvm_builders
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_MMASYNC_MMASYNCINTRINSICS_H
