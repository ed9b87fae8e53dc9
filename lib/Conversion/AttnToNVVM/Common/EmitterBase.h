//===- EmitterBase.h - what every part of a kernel emitter shares -*- C++
//-*-===//
//
// Private to AttnToNVVM: the builder, the location and the small IR
// helpers (index arithmetic in 32-bit `index`, i64 addresses, f32
// constants, tile/token arithmetic) that the kernel skeleton, the MMA
// engines, the tile pipelines and the pre-kernels all emit with, and the
// kernel's parameters by name.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EMITTERBASE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EMITTERBASE_H

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Utils/Schedule.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <functional>
#include <limits>

namespace mlir {
namespace attn {
namespace detail {

/// The number of tiles of `g` as a grid (or size) factor: ceil(`lengthArg`
/// / tokens) for flat tiles, the boxes of the grid otherwise.
inline GridFactor tileCountFactor(const TileGeometry &g, StringRef lengthArg) {
  if (g.isFlat())
    return GridFactor{1, lengthArg.str(), g.tokens};
  return GridFactor{g.numBoxes(), "", 1};
}

/// The parameters of one kernel, by name (docs/design/GpuArtifacts.md), and
/// its launch record.
class KernelSignature {
public:
  void add(StringRef name, Type type) {
    launch.params.push_back({name.str(), type});
  }
  /// The gpu.func argument of parameter `name` (which must exist).
  Value get(StringRef name) const {
    gpu::GPUFuncOp function = func;
    for (auto [i, p] : llvm::enumerate(launch.params))
      if (p.name == name)
        return function.getArgument(i);
    llvm::report_fatal_error("attn-lower-to-gpu: kernel parameter '" + name +
                             "' was never declared");
  }

  KernelLaunch launch;
  gpu::GPUFuncOp func;
};

class EmitterBase {
public:
  EmitterBase(OpBuilder &b, Location loc, const KernelSignature &signature)
      : b(b), loc(loc), signature(signature) {}

protected:
  Value param(StringRef name) const { return signature.get(name); }

  Type globalPtrType() {
    return LLVM::LLVMPointerType::get(b.getContext(), 1);
  }
  Type sharedPtrType() {
    return LLVM::LLVMPointerType::get(b.getContext(), 3);
  }

  // Index arithmetic (index is 32-bit in the kernels; addresses use i64).
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t d) {
    return arith::DivUIOp::create(b, loc, x, idx(d));
  }
  Value rem(Value x, int64_t d) {
    return arith::RemUIOp::create(b, loc, x, idx(d));
  }
  Value div(Value x, Value d) { return arith::DivUIOp::create(b, loc, x, d); }
  Value rem(Value x, Value d) { return arith::RemUIOp::create(b, loc, x, d); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value i1(bool v) { return arith::ConstantIntOp::create(b, loc, v, 1); }
  Value i32(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  }
  Value toIndex(Value v) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  Value toI64(Value v) {
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
  }
  Value i64Mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value i64Add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value negInf() { return f32(-std::numeric_limits<double>::infinity()); }
  Value toF32(Value v) {
    if (v.getType().isF32())
      return v;
    return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  }
  Value fromF32(Value v, Type type) {
    if (type.isF32())
      return v;
    return arith::TruncFOp::create(b, loc, type, v);
  }
  Value addF(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value mulF(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  /// `values[slot]` for a run-time slot in [0, values.size()).
  Value selectBySlot(Value slot, ArrayRef<Value> values) {
    if (values.empty())
      return Value();
    Value result = values.front();
    for (size_t i = 1; i < values.size(); ++i)
      result = select(cmp(arith::CmpIPredicate::eq, slot, idx(i)), values[i],
                      result);
    return result;
  }
  /// The address of element `offset` (i64, in elements of `elementBytes`)
  /// of a global buffer.
  Value globalAt(Value base, Value offset, int64_t elementBytes) {
    Value bytes = i64Mul(offset, arith::ConstantIntOp::create(
                                     b, loc, b.getI64Type(), elementBytes));
    return LLVM::GEPOp::create(b, loc, globalPtrType(), b.getI8Type(), base,
                               ValueRange{bytes});
  }
  /// The address `byteOffset` (index) bytes past `base` in shared memory.
  Value sharedAt(Value base, Value byteOffset) {
    Value offset =
        arith::IndexCastOp::create(b, loc, b.getI32Type(), byteOffset);
    return LLVM::GEPOp::create(b, loc, sharedPtrType(), b.getI8Type(), base,
                               ValueRange{offset});
  }
  Value loadGlobal(Type type, Value ptr) {
    return LLVM::LoadOp::create(b, loc, type, ptr);
  }
  /// Element [b, i, j, ...] of a tensor parameter: sum of index * stride.
  Value elementOffset(ArrayRef<std::pair<Value, StringRef>> terms) {
    Value offset = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
    for (auto [index, strideName] : terms)
      offset = i64Add(offset, i64Mul(toI64(index), param(strideName)));
    return offset;
  }
  /// Element [batchIndex, head, query, key] of the [.., Nq, Nk] operand
  /// `operand` (the explicit mask, the bias) passed as parameter `name`
  /// with strides `<name>_stride_{b,h,q}` (0 along broadcast dimensions);
  /// i1 elements are read as bytes.
  Value loadPairElement(Value operand, StringRef name, Value batchIndex,
                        Value head, Value query, Value key) {
    Value offset = elementOffset({{batchIndex, (name + "_stride_b").str()},
                                  {head, (name + "_stride_h").str()},
                                  {query, (name + "_stride_q").str()}});
    offset = i64Add(offset, toI64(key));
    Type stored = cast<MemRefType>(operand.getType()).getElementType();
    if (stored.isInteger(1))
      stored = b.getI8Type();
    return loadGlobal(stored, globalAt(param(name), offset, byteWidth(stored)));
  }
  /// The row of token `token` (default 0) of head `h` of batch
  /// `batchIndex` in a dense [B, numHeads, length, ...] buffer: the one
  /// layout of every buffer the quantization pre-kernels write (`length`
  /// tokens, blocks, chunks or channels per head).
  Value scratchIndex(Value batchIndex, int64_t numHeads, Value h,
                     Value length, Value token = Value()) {
    Value row = mul(add(mul(batchIndex, idx(numHeads)), h), length);
    return token ? add(row, token) : row;
  }
  /// scratchIndex as an i64 element offset.
  Value scratchRow(Value batchIndex, int64_t numHeads, Value h, Value length,
                   Value token = Value()) {
    return toI64(scratchIndex(batchIndex, numHeads, h, length, token));
  }
  /// Tile arithmetic (Schedule.h, shared with the CPU loop nest).
  Value numTiles(const TileGeometry &g, Value length) {
    return TileIndexing(b, loc, g).numTiles(length);
  }
  std::pair<Value, Value> tokenOf(const TileGeometry &g, Value tile,
                                  Value position, Value length) {
    return TileIndexing(b, loc, g).tokenOf(tile, position, length);
  }
  /// The mask's run-time segment offsets (MaskIRContext::segmentOffset)
  /// of batch element `batchIndex`, read from the `segment_offsets`
  /// parameter ([B, S + 1], or [B, 2, S + 1] with the keys' row second).
  std::function<Value(OpBuilder &, Location, bool, int64_t)>
  segmentOffsetLoader(Value offsetsOperand, Value batchIndex) {
    auto type = cast<MemRefType>(offsetsOperand.getType());
    int64_t rowLength = type.getShape().back();
    Value table = param("segment_offsets");
    Value stride = param("segment_offsets_stride_b");
    // The mask emits its IR with this emitter's builder.
    return [this, type, rowLength, table, stride,
            batchIndex](OpBuilder &builder, Location, bool ofKeys,
                        int64_t position) -> Value {
      assert(&builder == &b && "mask IR is emitted by the kernel builder");
      (void)builder;
      int64_t within =
          position + (type.getRank() == 3 && ofKeys ? rowLength : 0);
      Value offset =
          i64Add(i64Mul(toI64(batchIndex), stride),
                 arith::ConstantIntOp::create(b, loc, b.getI64Type(), within));
      Type stored = type.getElementType();
      return toIndex(
          loadGlobal(stored, globalAt(table, offset, byteWidth(stored))));
    };
  }
  static int64_t byteWidth(Type t) {
    return llvm::divideCeil(t.getIntOrFloatBitWidth(), 8);
  }

  OpBuilder &b;
  Location loc;
  const KernelSignature &signature;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_EMITTERBASE_H
