//===- BlockScaledMma.cpp - sm_120a's NVFP4 mma.sync ----------------------===//

#include "BlockScaledMma.h"

#include "MmaSyncIntrinsics.h"

#include "../Common/Minifloats.h"

using namespace mlir;
using namespace mlir::attn;
namespace nb = mlir::attn::nvvm_builders;

namespace {
/// The emulation: every lane keeps its own k values (A's and B's k of a
/// lane coincide in the FP4 layouts), handed to four m16n8k16 steps.
struct EmulatedBlockScaledMma {
  OpBuilder &b;
  Location loc;

  Value i32(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  }
  Value laneId() { return NVVM::LaneIdOp::create(b, loc, b.getI32Type()); }
  Value shuffleFrom(Value value, Value lane) {
    return NVVM::ShflOp::create(b, loc, b.getI32Type(), i32(-1), value, lane,
                                i32(0x1f), NVVM::ShflKind::idx, UnitAttr());
  }
  /// Byte `index` (an i32 value) of `word`.
  Value byteOf(Value word, Value index) {
    Value shift = arith::MulIOp::create(b, loc, index, i32(8));
    return arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, word, shift), i32(0xff));
  }
  /// Two f16 of `scale` (f32, exact in f16: an E4M3 value).
  Value halfPair(Value scale) {
    Value half = arith::TruncFOp::create(b, loc, b.getF16Type(), scale);
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({2}, b.getF16Type()), half);
  }
  /// Nibbles 2 `pair` and 2 `pair` + 1 of `reg` as an f16 pair times
  /// `scale` (a pair of f16), as the b32 register mma.sync takes.
  Value decodePair(Value reg, int64_t pair, Value scale) {
    // E2M1 s.e1e0.m placed as f16 bits s.000e1e0.m00... is the value
    // times 2^-14 (0.5 lands on the subnormal 2^-15): exact, and undone by
    // one f16 multiply. This needs f16 subnormals kept: the pipeline sets
    // no flush-to-zero (a byte-permute table decode avoids the subnormal
    // but spilled 8 bytes at 16 heads on sm_90a).
    Value byte = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, reg, i32(8 * pair)), i32(0xff));
    auto halfBits = [&](Value nibble) -> Value {
      Value magnitude = arith::ShLIOp::create(
          b, loc, arith::AndIOp::create(b, loc, nibble, i32(7)), i32(9));
      Value sign = arith::ShLIOp::create(
          b, loc, arith::AndIOp::create(b, loc, nibble, i32(8)), i32(12));
      return arith::OrIOp::create(b, loc, magnitude, sign);
    };
    Value low = halfBits(arith::AndIOp::create(b, loc, byte, i32(0xf)));
    Value high = halfBits(arith::ShRUIOp::create(b, loc, byte, i32(4)));
    Value bits = arith::OrIOp::create(
        b, loc, low, arith::ShLIOp::create(b, loc, high, i32(16)));
    Type half2 = VectorType::get({2}, b.getF16Type());
    Value values = LLVM::BitcastOp::create(b, loc, half2, bits);
    Value unit = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(cast<ShapedType>(half2),
                               b.getF16FloatAttr(16384.0).getValue()));
    values = arith::MulFOp::create(b, loc, values, unit);
    values = arith::MulFOp::create(b, loc, values, scale);
    return LLVM::BitcastOp::create(b, loc, b.getI32Type(), values);
  }

  std::array<Value, 4> build(ArrayRef<Value> a, ArrayRef<Value> bOp,
                             ArrayRef<Value> c, Value scaleA, int64_t threadA,
                             Value scaleB, int64_t threadB) {
    Value lane = laneId();
    Value group = arith::DivUIOp::create(b, loc, lane, i32(4));
    Value quadLane = arith::RemUIOp::create(b, loc, lane, i32(4));
    // The scale registers of rows g and g + 8 and of column g.
    Value rowLane = arith::MulIOp::create(b, loc, group, i32(4));
    Value rowScales = shuffleFrom(
        scaleA, arith::AddIOp::create(b, loc, rowLane, i32(2 * threadA)));
    Value upperRowScales = shuffleFrom(
        scaleA, arith::AddIOp::create(b, loc, rowLane, i32(2 * threadA + 1)));
    Value columnScales = shuffleFrom(
        scaleB, arith::AddIOp::create(b, loc, rowLane, i32(threadB)));
    std::array<Value, 4> d = {c[0], c[1], c[2], c[3]};
    for (int64_t half = 0; half < 2; ++half) {
      // This lane's k of register pair `half` lie in scale block
      // 2 half + l / 2.
      Value block = arith::AddIOp::create(
          b, loc, i32(2 * half),
          arith::DivUIOp::create(b, loc, quadLane, i32(2)));
      auto scaleOf = [&](Value word) {
        return halfPair(nb::decodeE4M3(b, loc, byteOf(word, block)));
      };
      Value rowScale = scaleOf(rowScales);
      Value upperRowScale = scaleOf(upperRowScales);
      Value columnScale = scaleOf(columnScales);
      for (int64_t quarter = 0; quarter < 2; ++quarter) {
        // Nibbles 4 quarter .. 4 quarter + 3 of each register: the k slots
        // 2l, 2l + 1 (first pair) and 2l + 8, 2l + 9 (second) of m16n8k16.
        int64_t first = 2 * quarter, second = 2 * quarter + 1;
        std::array<Value, 4> aHalf = {
            decodePair(a[2 * half], first, rowScale),
            decodePair(a[2 * half + 1], first, upperRowScale),
            decodePair(a[2 * half], second, rowScale),
            decodePair(a[2 * half + 1], second, upperRowScale)};
        std::array<Value, 2> bHalf = {
            decodePair(bOp[half], first, columnScale),
            decodePair(bOp[half], second, columnScale)};
        d = nb::mmaM16N8K16(b, loc, /*bf16=*/false, aHalf, bHalf, d);
      }
    }
    return d;
  }
};
} // namespace

std::array<Value, 4> nb::mmaM16N8K64Nvfp4(OpBuilder &b, Location loc,
                                          ArrayRef<Value> a,
                                          ArrayRef<Value> bOp,
                                          ArrayRef<Value> c, Value scaleA,
                                          int64_t threadA, Value scaleB,
                                          int64_t threadB, bool emulate) {
  if (emulate)
    return EmulatedBlockScaledMma{b, loc}.build(a, bOp, c, scaleA, threadA,
                                                scaleB, threadB);
  Type f32 = b.getF32Type();
  Type result =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  auto i16 = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI16Type(), v);
  };
  Value d = NVVM::MmaBlockScaleOp::create(
      b, loc, result, a, bOp, c, scaleA, /*byteIdA=*/i16(0), i16(threadA),
      scaleB, /*byteIdB=*/i16(0), i16(threadB), /*shape=*/{16, 8, 64},
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::e2m1, NVVM::MMATypes::e2m1},
      NVVM::ScaleVecSize::X4, NVVM::BlockScaleFormat::UE4M3,
      NVVM::MMABlockScaleKind::MXF4NVF4);
  return nb::extractMembers<4>(b, loc, d);
}
