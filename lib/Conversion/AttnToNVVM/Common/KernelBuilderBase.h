//===- KernelBuilderBase.h - what every kernel builder shares -*- C++ -*-===//
//
// Private to AttnToNVVM: what every kernel builder of attn-lower-to-gpu
// shares (the attention kernel, the quantization pre-kernels): the
// signature by parameter name, index arithmetic, global addresses.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H

#include "KernelConfig.h"

#include "attn/Conversion/AttnToNVVM/KernelManifest.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

namespace mlir {
namespace attn {
namespace detail {

/// A query or key tile: flat ranges, or boxes of the token grid.
struct TileGeometry {
  SmallVector<int64_t> shape, grid;
  int64_t tokens = 0;

  /// Tiles of `shape` tokens (one entry for flat tiles) on `grid` (empty
  /// for flat tiles).
  static TileGeometry of(ArrayRef<int64_t> shape, ArrayRef<int64_t> grid) {
    TileGeometry g{SmallVector<int64_t>(shape), SmallVector<int64_t>(grid),
                   1};
    for (int64_t s : shape)
      g.tokens *= s;
    return g;
  }
  /// Tiles along grid dimension `d`, and boxes of the whole grid.
  int64_t boxesAlong(unsigned d) const {
    return llvm::divideCeil(grid[d], shape[d]);
  }
  int64_t numBoxes() const {
    int64_t count = 1;
    for (unsigned d = 0; d < grid.size(); ++d)
      count *= boxesAlong(d);
    return count;
  }
  /// The number of tiles as a grid (or size) factor: ceil(`lengthArg` /
  /// tokens) for flat tiles, the boxes of the grid otherwise.
  GridFactor countFactor(StringRef lengthArg) const {
    if (grid.empty())
      return GridFactor{1, lengthArg.str(), tokens};
    return GridFactor{numBoxes(), "", 1};
  }
};

/// Shared scaffolding of the kernels: the signature by parameter name and
/// index arithmetic.
class KernelBuilderBase {
public:
  KernelBuilderBase(AttentionOp op, gpu::GPUModuleOp module)
      : op(op), module(module), b(op.getContext()), loc(op.getLoc()) {}

protected:
  void addParam(StringRef name, Type type) {
    launch.params.push_back({name.str(), type});
  }
  /// Adds a pointer parameter and its strides when `operand` exists.
  void addTensorParams(StringRef name, Value operand,
                       ArrayRef<StringRef> strides) {
    if (!operand)
      return;
    addParam(name, globalPtrType());
    for (StringRef stride : strides)
      addParam((name + "_stride_" + stride).str(), b.getI64Type());
  }
  Value param(StringRef name) {
    for (auto [i, p] : llvm::enumerate(launch.params))
      if (p.name == name)
        return func.getArgument(i);
    llvm_unreachable("unknown kernel parameter");
  }
  /// Creates the gpu.func with the parameters added so far.
  void createFunction(StringRef name, int64_t blockSize) {
    launch.name = name.str();
    launch.blockSize = blockSize;
    SmallVector<Type> types;
    for (const KernelParam &p : launch.params)
      types.push_back(p.type);
    b.setInsertionPointToEnd(module.getBody());
    func = gpu::GPUFuncOp::create(b, loc, name,
                                  b.getFunctionType(types, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    func.setKnownBlockSize(
        ArrayRef<int32_t>{static_cast<int32_t>(blockSize), 1, 1});
    b.setInsertionPointToStart(&func.getBody().front());
  }
  void finishFunction() { gpu::ReturnOp::create(b, loc); }

  /// Every kernel's grid: x as `x`, y over `heads` heads, z over the batch;
  /// and this block's coordinates in it.
  struct BlockCoordinates {
    Value x, headSlot, batch;
  };
  BlockCoordinates launchOverHeads(GridFactor x, int64_t heads) {
    launch.grid[0] = {x};
    launch.grid[1] = {GridFactor{heads, "", 1}};
    launch.grid[2] = {GridFactor{1, "batch", 1}};
    return {gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
            gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
            gpu::BlockIdOp::create(b, loc, gpu::Dimension::z)};
  }

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
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value i1(bool v) { return arith::ConstantIntOp::create(b, loc, v, 1); }
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
  /// `values[slot]` for a run-time slot in [0, values.size()).
  Value selectBySlot(Value slot, ArrayRef<Value> values) {
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
  /// The row (i64) of token `token` (default 0) of head `h` of batch
  /// `batchIndex` in a dense [B, numHeads, length, ...] scratch buffer: the
  /// one layout of every buffer the quantization pre-kernels write.
  Value scratchRow(Value batchIndex, int64_t numHeads, Value h, Value length,
                   Value token = Value()) {
    Value row = mul(add(mul(batchIndex, idx(numHeads)), h), length);
    return toI64(token ? add(row, token) : row);
  }
  /// The tiles of `length` tokens (flat tiles) or of the grid.
  Value numTiles(const TileGeometry &g, Value length) {
    if (g.grid.empty())
      return arith::CeilDivSIOp::create(b, loc, length, idx(g.shape[0]));
    return idx(g.numBoxes());
  }
  /// Row-major coordinates of a box tile's origin in the grid.
  SmallVector<Value> boxBegin(const TileGeometry &g, Value tile) {
    SmallVector<Value> begin(g.grid.size());
    Value rest = tile;
    for (int d = static_cast<int>(g.grid.size()) - 1; d >= 0; --d) {
      Value along = idx(g.boxesAlong(d));
      Value coordinate = arith::RemUIOp::create(b, loc, rest, along);
      rest = arith::DivUIOp::create(b, loc, rest, along);
      begin[d] = mul(coordinate, idx(g.shape[d]));
    }
    return begin;
  }
  /// Token of position `position` of tile `tile` and whether it lies in
  /// the sequence (or grid).
  std::pair<Value, Value> tokenOf(const TileGeometry &g, Value tile,
                                  Value position, Value length) {
    if (g.grid.empty()) {
      Value token = add(mul(tile, idx(g.shape[0])), position);
      return {token, lt(token, length)};
    }
    SmallVector<Value> begin = boxBegin(g, tile);
    Value token = idx(0), valid = i1(true), rest = position;
    SmallVector<Value> coordinates(g.grid.size());
    for (int d = static_cast<int>(g.grid.size()) - 1; d >= 0; --d) {
      coordinates[d] = add(begin[d], rem(rest, g.shape[d]));
      rest = div(rest, g.shape[d]);
    }
    for (size_t d = 0; d < g.grid.size(); ++d) {
      valid = andI(valid, lt(coordinates[d], idx(g.grid[d])));
      token = add(mul(token, idx(g.grid[d])), coordinates[d]);
    }
    return {token, valid};
  }
  static int64_t byteWidth(Type t) {
    return llvm::divideCeil(t.getIntOrFloatBitWidth(), 8);
  }

  AttentionOp op;
  gpu::GPUModuleOp module;
  OpBuilder b;
  Location loc;
  gpu::GPUFuncOp func;
  KernelLaunch launch;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H
