//===- Minifloats.cpp - E2M1 and E4M3 conversions -------------------------===//

#include "Minifloats.h"

#include "NvvmIntrinsics.h"

using namespace mlir;
using namespace mlir::attn;

Value nvvm_builders::emulatedE2M1Code(OpBuilder &b, Location loc, Value x) {
  // The codes 0..7 are the magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 in order:
  // the code is the number of midpoints below |x|, a midpoint counting when
  // |x| passes it or, on a tie, when the value above has the even code
  // (0.75, 1.75 and 3.5 round up; 0.25, 1.25, 2.5 and 5 down). NaN gives 0.
  Type i32 = b.getI32Type();
  // max(x, -x): the GPU lowering sends fabs to libdevice.
  Value magnitude =
      arith::MaximumFOp::create(b, loc, x, arith::NegFOp::create(b, loc, x));
  Value code = arith::ConstantIntOp::create(b, loc, i32, 0);
  for (auto [midpoint, roundsUp] : {std::pair<double, bool>{0.25, false},
                                    {0.75, true},
                                    {1.25, false},
                                    {1.75, true},
                                    {2.5, false},
                                    {3.5, true},
                                    {5.0, false}}) {
    Value above = arith::CmpFOp::create(
        b, loc,
        roundsUp ? arith::CmpFPredicate::OGE : arith::CmpFPredicate::OGT,
        magnitude,
        arith::ConstantOp::create(b, loc,
                                  b.getFloatAttr(x.getType(), midpoint)));
    code = arith::AddIOp::create(b, loc, code,
                                 arith::ExtUIOp::create(b, loc, i32, above));
  }
  Value negative = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OLT, x,
      arith::ConstantOp::create(b, loc, b.getFloatAttr(x.getType(), 0)));
  Value sign = arith::SelectOp::create(
      b, loc, negative, arith::ConstantIntOp::create(b, loc, i32, 8),
      arith::ConstantIntOp::create(b, loc, i32, 0));
  return arith::OrIOp::create(b, loc, code, sign);
}

Value nvvm_builders::packE2M1Pair(OpBuilder &b, Location loc, Value low,
                                  Value high, bool emulate) {
  if (!emulate)
    // The first operand lands in the high nibble.
    return NVVM::ConvertF32x2ToF4x2Op::create(b, loc, b.getI8Type(), high, low,
                                              /*relu=*/false,
                                              b.getType<Float4E2M1FNType>());
  Type i32 = b.getI32Type();
  Value packed = arith::OrIOp::create(
      b, loc, emulatedE2M1Code(b, loc, low),
      arith::ShLIOp::create(b, loc, emulatedE2M1Code(b, loc, high),
                            arith::ConstantIntOp::create(b, loc, i32, 4)));
  return arith::TruncIOp::create(b, loc, b.getI8Type(), packed);
}

Value nvvm_builders::decodeE4M3(OpBuilder &b, Location loc, Value byte) {
  Value pair = arith::TruncIOp::create(b, loc, b.getI16Type(), byte);
  Type halves = VectorType::get({2}, b.getF16Type());
  Value decoded =
      LLVM::CallIntrinsicOp::create(
          b, loc, halves, b.getStringAttr("llvm.nvvm.e4m3x2.to.f16x2.rn"),
          ValueRange{pair})
          .getResult(0);
  Value half = vector::ExtractOp::create(b, loc, decoded, 0);
  return arith::ExtFOp::create(b, loc, b.getF32Type(), half);
}

Value nvvm_builders::encodeE4M3(OpBuilder &b, Location loc, Value x) {
  Value pair = packE4M3Pair(
      b, loc, x, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)));
  Value word = arith::ExtUIOp::create(b, loc, b.getI32Type(), pair);
  return arith::AndIOp::create(
      b, loc, word, arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0xff));
}
