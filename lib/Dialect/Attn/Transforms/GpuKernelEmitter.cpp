//===- GpuKernelEmitter.cpp - tensor-core attention kernels ---------------===//
//
// The Ampere-class fused attention kernel (FlashAttention-2 structure):
// one thread block per (query tile, head, batch), one warp per 16 query
// rows. Q is loaded once; K and V tiles stream through a two-stage
// cp.async pipeline into swizzled shared memory; S = Q K^T and O += P V run
// on mma.sync m16n8k16 with the S accumulator reused as P's A operand; the
// online softmax lives in registers (exp2, quad shuffles). Empty key tiles
// are never loaded, full ones evaluate no mask arithmetic, partial ones the
// predicate the mask attribute emits. Register layouts: GPU-NOTES.md.
//
//===----------------------------------------------------------------------===//

#include "GpuKernelEmitter.h"

#include "NvvmBuilders.h"
#include "TransformUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Query rows per warp (the M of mma.sync m16n8k16).
static constexpr int64_t kRowsPerWarp = 16;
/// Bytes of one cp.async / one ldmatrix row.
static constexpr int64_t kChunkBytes = 16;
/// The module-level symbol of dynamic shared memory.
static constexpr StringLiteral kSharedMemorySymbol = "attn_shared_memory";

namespace {

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
  /// `values[key]` over the compile-time table `keys -> values`.
  Value selectByIndex(Value key, ArrayRef<int64_t> keys,
                      ArrayRef<Value> values) {
    Value result = values.front();
    for (size_t i = 1; i < keys.size(); ++i)
      result = select(cmp(arith::CmpIPredicate::eq, key, idx(keys[i])),
                      values[i], result);
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

/// A query or key tile: flat ranges, or boxes of the token grid.
struct TileGeometry {
  SmallVector<int64_t> shape, grid;
  int64_t tokens = 0;
};

class AttentionKernelBuilder : KernelBuilderBase {
public:
  AttentionKernelBuilder(AttentionOp op, gpu::GPUModuleOp module,
                         const KernelHeads &heads, const KernelShape &shape)
      : KernelBuilderBase(op, module), heads(heads), shape(shape) {}

  FailureOr<KernelLaunch> build(StringRef name);

private:
  /// Fragment registers of one thread: four f32 per n8 tile.
  using Fragments = SmallVector<std::array<Value, 4>>;

  struct TileSlot {
    Value keyTile, mayKeep, keepsAll;
  };

  void declareParams();
  /// Token of position `position` of tile `tileIndex` and whether it lies
  /// in the sequence (or grid).
  std::pair<Value, Value> tokenOf(const TileGeometry &geometry, Value tile,
                                  Value position, Value length);
  /// [first, end) of the flat indices of the tile's tokens (its hull).
  std::pair<Value, Value> hullOf(const TileGeometry &geometry, Value tile,
                                 Value length);
  /// Whether every position of the tile lies in the sequence (or grid).
  Value isWhole(const TileGeometry &geometry, Value tile, Value length);
  Value numTiles(const TileGeometry &geometry, Value length);

  /// Byte offset in shared memory of 16-byte chunk `chunk` of row `row`
  /// of a tile starting at `base` with `rowChunks` chunks per row.
  Value swizzled(int64_t base, int64_t rowChunks, Value row, Value chunk);
  Value sharedAt(Value byteOffset);
  /// Two m16n8k16 mma of `a` with the B fragments one ldmatrix.x4 reads at
  /// (row, chunk) of the swizzled tile at `base`: registers 0-1 feed `c0`,
  /// 2-3 feed `c1`.
  void mmaWithSharedB(ArrayRef<Value> a, Value base, int64_t rowChunks,
                      Value row, Value chunk, bool transpose,
                      std::array<Value, 4> &c0, std::array<Value, 4> &c1);
  /// cp.async of the rows of a tile ([tokens, width] elements) into shared
  /// memory at `sharedBase`.
  void loadTile(const TileGeometry &geometry, Value tile, Value length,
                Value tensor, Value tensorBase, StringRef strideName,
                int64_t width, Value sharedOffset);
  void loadKeyValueTile(Value tile, Value stage);

  /// The key tile at list position `a` and its class.
  TileSlot getSlot(Value position);
  /// Emits one key tile: S = Q K^T, mask, online softmax, O += P V.
  SmallVector<Value> emitTile(Value stage, const TileSlot &slot,
                              ValueRange state);
  void emitEpilogue(ValueRange state);

  /// The mask predicate of (query row `row` of this thread, key at
  /// position `position` of `keyTile`), bounds included.
  Value emitKeep(int64_t row, Value keyTile, Value position);
  Value loadPairOperand(Value operand, StringRef name, int64_t row,
                        Value key);

  const KernelHeads &heads;
  const KernelShape &shape;
  TileGeometry queries, keys;
  int64_t numWarps = 0, numThreads = 0, headDim = 0, valueDim = 0;
  bool bf16 = false;
  Type elementType;
  bool maskAfterSoftmax = false;
  bool queryInRegisters = true;
  double scale = 1.0;
  MaskIRContext maskContext;

  // Values of the kernel body.
  Value tid, lane, warp, laneRow, laneCol;
  Value queryTile, head, kvHead, batch, seqQ, seqK;
  Value queryBase, keyBase, valueBase; // i64 element offsets
  std::array<Value, 2> rowTokens, rowValid;
  SmallVector<std::array<Value, 4>> queryFragments;
  Value sharedBase;
  int64_t queryBytes = 0, keyStageBytes = 0, valueStageBytes = 0;
  // Table mode: CSR lists of active key tiles per query tile.
  Value listStart, listCount;
  Value firstKeyTile; // range mode
  bool tableMode = false;
  /// Table mode with no partial tile (e.g. dense with whole tiles).
  bool everyListedTileFull = false;
  Value headWeight, headSoftpag;
};

} // namespace

//===----------------------------------------------------------------------===//
// Tiles
//===----------------------------------------------------------------------===//

Value AttentionKernelBuilder::numTiles(const TileGeometry &g, Value length) {
  if (g.grid.empty())
    return arith::CeilDivSIOp::create(b, loc, length, idx(g.shape[0]));
  int64_t count = 1;
  for (auto [extent, size] : llvm::zip_equal(g.grid, g.shape))
    count *= llvm::divideCeil(extent, size);
  return idx(count);
}

/// Row-major coordinates of a box tile's origin in the grid.
static SmallVector<Value> boxBegin(OpBuilder &b, Location loc,
                                   const TileGeometry &g, Value tile) {
  SmallVector<Value> begin(g.grid.size());
  Value rest = tile;
  for (int d = static_cast<int>(g.grid.size()) - 1; d >= 0; --d) {
    Value along = arith::ConstantIndexOp::create(
        b, loc, llvm::divideCeil(g.grid[d], g.shape[d]));
    Value coordinate = arith::RemUIOp::create(b, loc, rest, along);
    rest = arith::DivUIOp::create(b, loc, rest, along);
    begin[d] = arith::MulIOp::create(
        b, loc, coordinate,
        arith::ConstantIndexOp::create(b, loc, g.shape[d]));
  }
  return begin;
}

std::pair<Value, Value>
AttentionKernelBuilder::tokenOf(const TileGeometry &g, Value tile,
                                Value position, Value length) {
  if (g.grid.empty()) {
    Value token = add(mul(tile, idx(g.shape[0])), position);
    return {token, lt(token, length)};
  }
  SmallVector<Value> begin = boxBegin(b, loc, g, tile);
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

std::pair<Value, Value>
AttentionKernelBuilder::hullOf(const TileGeometry &g, Value tile,
                               Value length) {
  if (g.grid.empty()) {
    Value first = mul(tile, idx(g.shape[0]));
    Value end = arith::MinSIOp::create(b, loc, add(first, idx(g.shape[0])),
                                       length);
    return {first, end};
  }
  SmallVector<Value> begin = boxBegin(b, loc, g, tile);
  Value first = idx(0), last = idx(0);
  for (size_t d = 0; d < g.grid.size(); ++d) {
    Value lastCoordinate = arith::MinSIOp::create(
        b, loc, add(begin[d], idx(g.shape[d] - 1)), idx(g.grid[d] - 1));
    first = add(mul(first, idx(g.grid[d])), begin[d]);
    last = add(mul(last, idx(g.grid[d])), lastCoordinate);
  }
  return {first, add(last, idx(1))};
}

Value AttentionKernelBuilder::isWhole(const TileGeometry &g, Value tile,
                                      Value length) {
  if (g.grid.empty())
    return cmp(arith::CmpIPredicate::sle,
               mul(add(tile, idx(1)), idx(g.shape[0])), length);
  SmallVector<Value> begin = boxBegin(b, loc, g, tile);
  Value whole = i1(true);
  for (size_t d = 0; d < g.grid.size(); ++d)
    whole = andI(whole, cmp(arith::CmpIPredicate::sle,
                            add(begin[d], idx(g.shape[d])), idx(g.grid[d])));
  return whole;
}

//===----------------------------------------------------------------------===//
// Shared memory and loads
//===----------------------------------------------------------------------===//

Value AttentionKernelBuilder::swizzled(int64_t base, int64_t rowChunks,
                                       Value row, Value chunk) {
  // Chunk c of row r goes to chunk c ^ (r & 7): the 8 rows of an ldmatrix
  // phase and the chunks of one row each hit all 32 banks.
  int64_t swizzleMask = std::min<int64_t>(7, rowChunks - 1);
  Value physical = arith::XOrIOp::create(
      b, loc, chunk, arith::AndIOp::create(b, loc, row, idx(swizzleMask)));
  return add(idx(base), add(mul(row, idx(rowChunks * kChunkBytes)),
                            mul(physical, idx(kChunkBytes))));
}

Value AttentionKernelBuilder::sharedAt(Value byteOffset) {
  Value offset =
      arith::IndexCastOp::create(b, loc, b.getI32Type(), byteOffset);
  return LLVM::GEPOp::create(b, loc, sharedPtrType(), b.getI8Type(),
                             sharedBase, ValueRange{offset});
}

void AttentionKernelBuilder::mmaWithSharedB(ArrayRef<Value> a, Value base,
                                            int64_t rowChunks, Value row,
                                            Value chunk, bool transpose,
                                            std::array<Value, 4> &c0,
                                            std::array<Value, 4> &c1) {
  Value ptr = sharedAt(add(base, swizzled(0, rowChunks, row, chunk)));
  std::array<Value, 4> frag = nb::loadMatrixX4(b, loc, ptr, transpose);
  c0 = nb::mmaM16N8K16(b, loc, bf16, a, {frag[0], frag[1]}, c0);
  c1 = nb::mmaM16N8K16(b, loc, bf16, a, {frag[2], frag[3]}, c1);
}

void AttentionKernelBuilder::loadTile(const TileGeometry &g, Value tile,
                                      Value length, Value tensor,
                                      Value tensorBase, StringRef strideName,
                                      int64_t width, Value sharedOffset) {
  int64_t rowChunks = width * byteWidth(elementType) / kChunkBytes;
  int64_t chunks = g.tokens * rowChunks;
  for (int64_t first = 0; first < chunks; first += numThreads) {
    Value chunkIndex = add(tid, idx(first));
    auto emitCopy = [&] {
      Value row = div(chunkIndex, rowChunks);
      Value chunk = rem(chunkIndex, rowChunks);
      auto [token, valid] = tokenOf(g, tile, row, length);
      // Rows outside the sequence read nothing (zero-fill) from a legal
      // address.
      Value safeToken = select(valid, token, idx(0));
      Value element = i64Add(
          tensorBase,
          i64Add(i64Mul(toI64(safeToken), param(strideName)),
                 toI64(mul(chunk, idx(kChunkBytes / byteWidth(elementType))))));
      Value src = globalAt(tensor, element, byteWidth(elementType));
      Value bytes = arith::SelectOp::create(
          b, loc, valid,
          arith::ConstantIntOp::create(b, loc, b.getI32Type(), kChunkBytes),
          arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0));
      nb::copyAsync16(b, loc,
                      sharedAt(add(sharedOffset,
                                   swizzled(0, rowChunks, row, chunk))),
                      src, bytes);
    };
    if (first + numThreads <= chunks) {
      emitCopy();
      continue;
    }
    auto guard = scf::IfOp::create(b, loc, lt(chunkIndex, idx(chunks)),
                                   /*withElse=*/false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(guard.thenBlock());
    emitCopy();
  }
}

void AttentionKernelBuilder::loadKeyValueTile(Value tile, Value stage) {
  // K stages follow Q; V stages follow every K stage.
  Value keyStage = add(idx(queryBytes), mul(stage, idx(keyStageBytes)));
  Value valueStage = add(idx(queryBytes + shape.stages * keyStageBytes),
                         mul(stage, idx(valueStageBytes)));
  loadTile(keys, tile, seqK, param("k"), keyBase, "k_stride_n", headDim,
           keyStage);
  loadTile(keys, tile, seqK, param("v"), valueBase, "v_stride_n", valueDim,
           valueStage);
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

Value AttentionKernelBuilder::loadPairOperand(Value operand, StringRef name,
                                              int64_t row, Value key) {
  auto type = cast<MemRefType>(operand.getType());
  Value offset = elementOffset({{batch, (name + "_stride_b").str()},
                                {head, (name + "_stride_h").str()},
                                {rowTokens[row], (name + "_stride_q").str()}});
  offset = i64Add(offset, toI64(key));
  Type stored = type.getElementType();
  if (stored.isInteger(1))
    stored = b.getI8Type();
  return loadGlobal(stored, globalAt(param(name), offset, byteWidth(stored)));
}

Value AttentionKernelBuilder::emitKeep(int64_t row, Value keyTile,
                                       Value position) {
  auto [key, valid] = tokenOf(keys, keyTile, position, seqK);
  if (maskAfterSoftmax)
    return valid; // the mask applies to P (see emitTile)
  Value keep = andI(valid, heads.mask.emitKeep(b, loc, rowTokens[row], key,
                                               maskContext));
  if (Value explicitMask = op.getExplicitMask()) {
    Value byte = loadPairOperand(explicitMask, "explicit_mask", row,
                                 select(valid, key, idx(0)));
    keep = andI(keep, cmp(arith::CmpIPredicate::ne, byte,
                          arith::ConstantIntOp::create(b, loc, b.getI8Type(),
                                                       0)));
  }
  return keep;
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

void AttentionKernelBuilder::declareParams() {
  addTensorParams("q", op.getQuery(), {"b", "h", "n"});
  addTensorParams("k", op.getKey(), {"b", "h", "n"});
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addTensorParams("out", op.getOutput(), {"b", "h", "n"});
  addTensorParams("lse", op.getLseOutput(), {"b", "h", "n"});
  addTensorParams("explicit_mask", op.getExplicitMask(), {"b", "h", "q"});
  addTensorParams("bias", op.getBias(), {"b", "h", "q"});
  addTensorParams("segment_offsets", op.getSegmentOffsets(), {"b"});
  addTensorParams("gates", op.getGates(), {"b", "q", "h"});
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  addParam("seq_k", b.getI32Type());
}

AttentionKernelBuilder::TileSlot
AttentionKernelBuilder::getSlot(Value position) {
  TileSlot slot;
  if (tableMode) {
    auto entries = module.lookupSymbol<LLVM::GlobalOp>(
        launch.name + "_key_tiles");
    Value base = LLVM::AddressOfOp::create(b, loc, entries);
    Value entry = loadGlobal(
        b.getI32Type(),
        globalAt(base, toI64(add(listStart, position)), /*elementBytes=*/4));
    entry = toIndex(entry);
    slot.keyTile = div(entry, 2);
    slot.mayKeep = i1(true);
    slot.keepsAll = everyListedTileFull
                        ? i1(true)
                        : cmp(arith::CmpIPredicate::eq, rem(entry, 2), idx(1));
  } else {
    slot.keyTile = add(firstKeyTile, position);
    if (maskAfterSoftmax) {
      slot.mayKeep = i1(true);
      slot.keepsAll = i1(false);
    } else {
      auto [qFirst, qEnd] = hullOf(queries, queryTile, seqQ);
      auto [kFirst, kEnd] = hullOf(keys, slot.keyTile, seqK);
      std::tie(slot.mayKeep, slot.keepsAll) = heads.mask.emitClassifyRange(
          b, loc, qFirst, qEnd, kFirst, kEnd, maskContext);
      slot.keepsAll =
          andI(slot.keepsAll, isWhole(keys, slot.keyTile, seqK));
    }
  }
  if (op.getExplicitMask() || op.getBias())
    slot.keepsAll = i1(false);
  return slot;
}

SmallVector<Value> AttentionKernelBuilder::emitTile(Value stage,
                                                    const TileSlot &slot,
                                                    ValueRange state) {
  int64_t keyTiles8 = keys.tokens / 8;
  int64_t valueTiles8 = valueDim / 8;
  Value keyStage = add(idx(queryBytes), mul(stage, idx(keyStageBytes)));
  Value valueStage =
      add(idx(queryBytes + shape.stages * keyStageBytes),
          mul(stage, idx(valueStageBytes)));
  int64_t keyChunks = headDim * 2 / kChunkBytes;
  int64_t valueChunks = valueDim * 2 / kChunkBytes;

  // S = Q K^T: B fragments of keys 16jj..16jj+15 by ldmatrix.x4 (lane l
  // addresses key (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of the k-step).
  Fragments scores(keyTiles8, {f32(0), f32(0), f32(0), f32(0)});
  Value keyRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value keyChunk = rem(div(lane, 8), 2);
  for (int64_t kk = 0; kk < headDim / 16; ++kk) {
    std::array<Value, 4> a;
    if (queryInRegisters) {
      a = queryFragments[kk];
    } else {
      Value row = add(mul(warp, idx(kRowsPerWarp)), rem(lane, 16));
      Value chunk = add(idx(2 * kk), div(lane, 16));
      a = nb::loadMatrixX4(b, loc, sharedAt(swizzled(0, keyChunks, row, chunk)),
                           /*transpose=*/false);
    }
    for (int64_t jj = 0; jj < keys.tokens / 16; ++jj) {
      mmaWithSharedB(a, keyStage, keyChunks, add(idx(16 * jj), keyRow),
                     add(idx(2 * kk), keyChunk), /*transpose=*/false,
                     scores[2 * jj], scores[2 * jj + 1]);
    }
  }

  // Mask: only partial tiles evaluate the predicate. Element e of n8 tile j
  // is (row g + 8 (e / 2), key 8 j + 2 t + e % 2).
  Value t = rem(lane, 4);
  auto keyPosition = [&](int64_t j, int64_t e) {
    return add(idx(8 * j + (e % 2)), mul(t, idx(2)));
  };
  SmallVector<Value> kept; // renormalize = false: the mask of P
  auto applyMask = [&](Fragments &s) {
    for (int64_t j = 0; j < keyTiles8; ++j) {
      for (int64_t e = 0; e < 4; ++e) {
        Value position = keyPosition(j, e);
        Value keep = emitKeep(e / 2, slot.keyTile, position);
        if (Value bias = op.getBias()) {
          auto [key, valid] = tokenOf(keys, slot.keyTile, position, seqK);
          Value bv = toF32(loadPairOperand(bias, "bias", e / 2,
                                           select(valid, key, idx(0))));
          // s stays in units of q.k: the bias enters divided by the scale.
          s[j][e] = arith::AddFOp::create(
              b, loc, s[j][e],
              arith::MulFOp::create(b, loc, bv, f32(1.0 / scale)));
        }
        s[j][e] = select(keep, s[j][e], negInf());
      }
    }
  };
  auto flatten = [](const Fragments &f) {
    SmallVector<Value> values;
    for (const auto &frag : f)
      values.append(frag.begin(), frag.end());
    return values;
  };
  auto unflatten = [](ValueRange values) {
    Fragments f(values.size() / 4);
    for (size_t i = 0; i < values.size(); ++i)
      f[i / 4][i % 4] = values[i];
    return f;
  };
  std::optional<int64_t> constantClass = getConstantIntValue(slot.keepsAll);
  if (constantClass && *constantClass == 0) {
    applyMask(scores);
  } else if (constantClass) { // i1 true reads as -1
    // Every tile is full: no mask code at all.
  } else {
    SmallVector<Value> flat = flatten(scores);
    auto ifFull = scf::IfOp::create(b, loc, ValueRange(flat).getTypes(),
                                    slot.keepsAll, /*withElse=*/true);
    // Names the partial-tile path in the IR (lit tests check where it is).
    ifFull->setAttr("attn.partial_tile_mask", b.getUnitAttr());
    {
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(ifFull.thenBlock());
      scf::YieldOp::create(b, loc, flat);
      b.setInsertionPointToStart(ifFull.elseBlock());
      Fragments masked = scores;
      applyMask(masked);
      scf::YieldOp::create(b, loc, flatten(masked));
    }
    scores = unflatten(ifFull.getResults());
  }
  if (maskAfterSoftmax) {
    for (int64_t j = 0; j < keyTiles8; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        auto [key, valid] =
            tokenOf(keys, slot.keyTile, keyPosition(j, e), seqK);
        Value keep = andI(valid, heads.mask.emitKeep(b, loc, rowTokens[e / 2],
                                                     key, maskContext));
        if (Value explicitMask = op.getExplicitMask())
          keep = andI(keep,
                      cmp(arith::CmpIPredicate::ne,
                          loadPairOperand(explicitMask, "explicit_mask", e / 2,
                                          select(valid, key, idx(0))),
                          arith::ConstantIntOp::create(b, loc, b.getI8Type(),
                                                       0)));
        kept.push_back(keep);
      }
  }

  // Online softmax in units of q.k: c = scale * log2(e).
  Fragments acc = unflatten(state.take_front(valueTiles8 * 4));
  ValueRange rowState = state.drop_front(valueTiles8 * 4);
  SmallVector<Value> next;
  std::array<Value, 2> newMax, newSum, newKept;
  Value c = f32(scale * M_LOG2E);
  for (int64_t row = 0; row < 2; ++row) {
    Value m = rowState[row], l = rowState[2 + row];
    Value tileMax = negInf();
    for (int64_t j = 0; j < keyTiles8; ++j)
      for (int64_t e = 2 * row; e < 2 * row + 2; ++e)
        tileMax = arith::MaximumFOp::create(b, loc, tileMax, scores[j][e]);
    for (int64_t mask : {1, 2})
      tileMax = arith::MaximumFOp::create(
          b, loc, tileMax, nb::shuffleXor(b, loc, tileMax, mask));
    Value mNew = arith::MaximumFOp::create(b, loc, m, tileMax);
    // A row with no kept key so far keeps m = -inf: subtract 0, not -inf.
    Value isEmpty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                          mNew, negInf());
    Value mu = select(isEmpty, f32(0), mNew);
    Value negMuC = arith::MulFOp::create(
        b, loc, arith::NegFOp::create(b, loc, mu), c);
    Value alpha = nb::exp2Approx(
        b, loc,
        arith::MulFOp::create(b, loc, arith::SubFOp::create(b, loc, m, mu), c));
    Value sum = f32(0);
    Value keptCount = maskAfterSoftmax ? rowState[4 + row] : Value();
    for (int64_t j = 0; j < keyTiles8; ++j) {
      for (int64_t e = 2 * row; e < 2 * row + 2; ++e) {
        Value p = nb::exp2Approx(b, loc,
                                 nb::fma(b, loc, scores[j][e], c, negMuC));
        sum = arith::AddFOp::create(b, loc, sum, p);
        if (maskAfterSoftmax) {
          Value keep = kept[j * 4 + e];
          p = select(keep, p, f32(0));
          keptCount = arith::AddFOp::create(
              b, loc, keptCount, select(keep, f32(1), f32(0)));
        }
        scores[j][e] = p;
      }
    }
    newSum[row] = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, l, alpha), sum);
    newMax[row] = mNew;
    newKept[row] = keptCount;
    for (int64_t n = 0; n < valueTiles8; ++n)
      for (int64_t e = 2 * row; e < 2 * row + 2; ++e)
        acc[n][e] = arith::MulFOp::create(b, loc, acc[n][e], alpha);
  }

  // O += P V: P's A fragment is the S accumulator of two n8 tiles; V's B
  // fragments by ldmatrix.x4.trans (lane l addresses key (l % 8) +
  // 8 ((l / 8) % 2), chunk l / 16 of the 16 columns).
  Value valueRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value valueChunk = div(lane, 16);
  for (int64_t kk = 0; kk < keys.tokens / 16; ++kk) {
    const auto &t0 = scores[2 * kk], &t1 = scores[2 * kk + 1];
    std::array<Value, 4> a = {
        nb::packPair(b, loc, elementType, t0[0], t0[1]),
        nb::packPair(b, loc, elementType, t0[2], t0[3]),
        nb::packPair(b, loc, elementType, t1[0], t1[1]),
        nb::packPair(b, loc, elementType, t1[2], t1[3])};
    for (int64_t dd = 0; dd < valueDim / 16; ++dd) {
      mmaWithSharedB(a, valueStage, valueChunks, add(idx(16 * kk), valueRow),
                     add(idx(2 * dd), valueChunk), /*transpose=*/true,
                     acc[2 * dd], acc[2 * dd + 1]);
    }
  }

  next = flatten(acc);
  next.append({newMax[0], newMax[1], newSum[0], newSum[1]});
  if (maskAfterSoftmax)
    next.append({newKept[0], newKept[1]});
  return next;
}

void AttentionKernelBuilder::emitEpilogue(ValueRange state) {
  int64_t valueTiles8 = valueDim / 8;
  Fragments acc(valueTiles8);
  for (int64_t i = 0; i < valueTiles8 * 4; ++i)
    acc[i / 4][i % 4] = state[i];
  ValueRange rowState = state.drop_front(valueTiles8 * 4);
  Value t = rem(lane, 4);
  Type outType = cast<MemRefType>(op.getOutput().getType()).getElementType();
  auto quadSum = [&](Value v) {
    for (int64_t mask : {1, 2})
      v = arith::AddFOp::create(b, loc, v, nb::shuffleXor(b, loc, v, mask));
    return v;
  };
  bool softpag = op.getHeadsAttr() && op.getHeadsAttr().getSoftpag();
  for (int64_t row = 0; row < 2; ++row) {
    Value m = rowState[row];
    Value l = quadSum(rowState[2 + row]);
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l, f32(0));
    if (maskAfterSoftmax)
      empty = arith::OrIOp::create(
          b, loc, empty,
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                quadSum(rowState[4 + row]), f32(0)));
    Value inverse =
        select(empty, f32(0), arith::DivFOp::create(b, loc, f32(1), l));
    Value token = rowTokens[row];
    auto ifValid = scf::IfOp::create(b, loc, rowValid[row], false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifValid.thenBlock());
    // O = w * g * ((1 - u) attention + u V) (SEMANTICS.md section 4).
    Value factor = headWeight;
    if (op.getGates()) {
      Type gateType = cast<MemRefType>(op.getGates().getType()).getElementType();
      Value offset = elementOffset({{batch, "gates_stride_b"},
                                    {token, "gates_stride_q"},
                                    {head, "gates_stride_h"}});
      factor = arith::MulFOp::create(
          b, loc, factor,
          toF32(loadGlobal(gateType, globalAt(param("gates"), offset,
                                              byteWidth(gateType)))));
    }
    Value outRow = elementOffset(
        {{batch, "out_stride_b"}, {head, "out_stride_h"}, {token, "out_stride_n"}});
    Value valueRowOffset;
    if (softpag)
      valueRowOffset = elementOffset(
          {{batch, "v_stride_b"}, {kvHead, "v_stride_h"}, {token, "v_stride_n"}});
    for (int64_t n = 0; n < valueTiles8; ++n) {
      Value column = add(idx(8 * n), mul(t, idx(2)));
      SmallVector<Value> pair;
      SmallVector<Value> identity;
      if (softpag) {
        Value ptr = globalAt(param("v"), i64Add(valueRowOffset, toI64(column)),
                             byteWidth(elementType));
        Value v2 = loadGlobal(VectorType::get({2}, elementType), ptr);
        for (int64_t e = 0; e < 2; ++e)
          identity.push_back(toF32(vector::ExtractOp::create(b, loc, v2, e)));
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value o = arith::MulFOp::create(b, loc, acc[n][2 * row + e], inverse);
        if (softpag) {
          Value u = headSoftpag;
          o = arith::AddFOp::create(
              b, loc,
              arith::MulFOp::create(b, loc,
                                    arith::SubFOp::create(b, loc, f32(1), u), o),
              arith::MulFOp::create(b, loc, u, identity[e]));
        }
        o = arith::MulFOp::create(b, loc, o, factor);
        pair.push_back(fromF32(o, outType));
      }
      Value vec = vector::FromElementsOp::create(
          b, loc, VectorType::get({2}, outType), pair);
      LLVM::StoreOp::create(
          b, loc, vec,
          globalAt(param("out"), i64Add(outRow, toI64(column)),
                   byteWidth(outType)));
    }
    if (op.getLseOutput()) {
      auto ifFirst = scf::IfOp::create(
          b, loc, cmp(arith::CmpIPredicate::eq, t, idx(0)), false);
      OpBuilder::InsertionGuard lseInsertion(b);
      b.setInsertionPointToStart(ifFirst.thenBlock());
      Value lse = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, m, f32(scale)),
          arith::MulFOp::create(b, loc, nb::log2Approx(b, loc, l),
                                f32(M_LN2)));
      lse = select(empty, negInf(), lse);
      Value offset = elementOffset(
          {{batch, "lse_stride_b"}, {head, "lse_stride_h"}, {token, "lse_stride_n"}});
      LLVM::StoreOp::create(b, loc, lse, globalAt(param("lse"), offset, 4));
    }
  }
}

FailureOr<KernelLaunch> AttentionKernelBuilder::build(StringRef name) {
  auto queryType = cast<MemRefType>(op.getQuery().getType());
  elementType = queryType.getElementType();
  bf16 = elementType.isBF16();
  headDim = op.getHeadDim();
  valueDim = op.getValueHeadDim();
  scale = *op.getEffectiveScale();
  maskAfterSoftmax = hasUnnormalizedSegments(heads.mask);
  queries = {shape.queryShape, shape.grid, 1};
  keys = {shape.keyShape, shape.grid, 1};
  for (int64_t s : shape.queryShape)
    queries.tokens *= s;
  for (int64_t s : shape.keyShape)
    keys.tokens *= s;
  numWarps = queries.tokens / kRowsPerWarp;
  numThreads = numWarps * 32;
  // Q fragments stay in registers up to D = 128; beyond, the register file
  // holds O and S only and Q is re-read from shared memory.
  queryInRegisters = headDim <= 128;
  queryBytes = queries.tokens * headDim * 2;
  keyStageBytes = keys.tokens * headDim * 2;
  valueStageBytes = keys.tokens * valueDim * 2;
  launch.sharedBytes =
      queryBytes + shape.stages * (keyStageBytes + valueStageBytes);

  // Table mode: the CSR list of active key tiles per query tile, from the
  // compile-time classes (attn-sparsity); entries are 2 * tile + full.
  DenseIntElementsAttr classes = op.getTileClassesAttr();
  tableMode = classes && !maskAfterSoftmax;
  SmallVector<int32_t> offsets, entries;
  if (tableMode) {
    auto type = cast<ShapedType>(classes.getType());
    int64_t numQueryTiles = type.getDimSize(1), numKeyTiles = type.getDimSize(2);
    auto values = classes.getValues<int8_t>();
    int64_t seqKStatic = op.getKeyLength();
    offsets.push_back(0);
    for (int64_t qt = 0; qt < numQueryTiles; ++qt) {
      for (int64_t kt = 0; kt < numKeyTiles; ++kt) {
        int8_t cls =
            values[(heads.classTable * numQueryTiles + qt) * numKeyTiles + kt];
        if (cls == 0)
          continue;
        // Tiles sticking out of the sequence or grid need the bounds check.
        bool whole = true;
        if (keys.grid.empty()) {
          whole = (kt + 1) * keys.shape[0] <= seqKStatic;
        } else {
          int64_t rest = kt;
          for (int d = static_cast<int>(keys.grid.size()) - 1; d >= 0; --d) {
            int64_t along = llvm::divideCeil(keys.grid[d], keys.shape[d]);
            whole &= (rest % along + 1) * keys.shape[d] <= keys.grid[d];
            rest /= along;
          }
        }
        entries.push_back(static_cast<int32_t>(2 * kt + (cls == 2 && whole)));
      }
      offsets.push_back(static_cast<int32_t>(entries.size()));
    }
    everyListedTileFull =
        llvm::all_of(entries, [](int32_t e) { return e % 2 == 1; });
    if (entries.empty())
      entries.push_back(0);
  }

  declareParams();
  if (tableMode) {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(module.getBody());
    for (auto [suffix, data] :
         {std::pair<StringRef, ArrayRef<int32_t>>{"_tile_offsets", offsets},
          {"_key_tiles", entries}}) {
      auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                        b.getI32Type());
      LLVM::GlobalOp::create(
          b, loc, LLVM::LLVMArrayType::get(b.getI32Type(), data.size()),
          /*isConstant=*/true, LLVM::Linkage::Internal, (name + suffix).str(),
          DenseElementsAttr::get(type, data), /*alignment=*/4,
          /*addrSpace=*/1);
    }
  }
  if (!module.lookupSymbol(kSharedMemorySymbol)) {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(module.getBody());
    LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
        /*isConstant=*/false, LLVM::Linkage::External, kSharedMemorySymbol,
        Attribute(), /*alignment=*/128, /*addrSpace=*/3);
  }
  createFunction(name, numThreads);
  sharedBase = LLVM::AddressOfOp::create(
      b, loc, module.lookupSymbol<LLVM::GlobalOp>(kSharedMemorySymbol));

  // Grid: (query tiles, heads of this kernel, batch).
  if (queries.grid.empty()) {
    launch.grid[0] = {GridFactor{1, "seq_q", queries.shape[0]}};
  } else {
    int64_t count = 1;
    for (auto [extent, size] : llvm::zip_equal(queries.grid, queries.shape))
      count *= llvm::divideCeil(extent, size);
    launch.grid[0] = {GridFactor{count, "", 1}};
  }
  launch.grid[1] = {GridFactor{static_cast<int64_t>(heads.heads.size()), "", 1}};
  launch.grid[2] = {GridFactor{1, "batch", 1}};

  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = rem(tid, 32);
  warp = div(tid, 32);
  queryTile = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value headSlot = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  seqQ = toIndex(param("seq_q"));
  seqK = toIndex(param("seq_k"));
  {
    SmallVector<int64_t> slots;
    SmallVector<Value> headValues, weights, softpags;
    HeadsAttr headsAttr = op.getHeadsAttr();
    for (auto [i, h] : llvm::enumerate(heads.heads)) {
      slots.push_back(i);
      headValues.push_back(idx(h));
      double w = 1, u = 0;
      if (headsAttr && headsAttr.getWeights())
        w = headsAttr.getWeights().asArrayRef()[h];
      if (headsAttr && headsAttr.getSoftpag() &&
          llvm::is_contained(headsAttr.getSoftpag().getHeads(), h))
        u = headsAttr.getSoftpag().getU().convertToDouble();
      weights.push_back(f32(w));
      softpags.push_back(f32(u));
    }
    head = selectByIndex(headSlot, slots, headValues);
    headWeight = selectByIndex(headSlot, slots, weights);
    headSoftpag = selectByIndex(headSlot, slots, softpags);
  }
  kvHead = div(head, op.getNumQueryHeads() / op.getNumKeyValueHeads());

  maskContext.queryLength = seqQ;
  maskContext.keyLength = seqK;
  if (Value offsetsOperand = op.getSegmentOffsets()) {
    auto type = cast<MemRefType>(offsetsOperand.getType());
    int64_t rowLength = type.getShape().back();
    Value table = param("segment_offsets");
    Value stride = param("segment_offsets_stride_b");
    Value batchValue = batch;
    // The mask emits its IR with this kernel's builder.
    maskContext.segmentOffset = [this, type, rowLength, table, stride,
                                 batchValue](OpBuilder &builder, Location,
                                             bool ofKeys,
                                             int64_t position) -> Value {
      assert(&builder == &b && "mask IR is emitted by the kernel builder");
      (void)builder;
      int64_t within =
          position + (type.getRank() == 3 && ofKeys ? rowLength : 0);
      Value offset = i64Add(i64Mul(toI64(batchValue), stride),
                            arith::ConstantIntOp::create(
                                b, loc, b.getI64Type(), within));
      Type stored = type.getElementType();
      return toIndex(
          loadGlobal(stored, globalAt(table, offset, byteWidth(stored))));
    };
  }

  queryBase = elementOffset({{batch, "q_stride_b"}, {head, "q_stride_h"}});
  keyBase = elementOffset({{batch, "k_stride_b"}, {kvHead, "k_stride_h"}});
  valueBase = elementOffset({{batch, "v_stride_b"}, {kvHead, "v_stride_h"}});
  Value g = div(lane, 4);
  for (int64_t row = 0; row < 2; ++row) {
    Value position = add(mul(warp, idx(kRowsPerWarp)), add(g, idx(8 * row)));
    std::tie(rowTokens[row], rowValid[row]) =
        tokenOf(queries, queryTile, position, seqQ);
  }

  // The active key tiles of this query tile.
  if (tableMode) {
    Value offsetsBase = LLVM::AddressOfOp::create(
        b, loc, module.lookupSymbol<LLVM::GlobalOp>((name + "_tile_offsets").str()));
    listStart = toIndex(loadGlobal(b.getI32Type(),
                                   globalAt(offsetsBase, toI64(queryTile), 4)));
    Value listEnd = toIndex(loadGlobal(
        b.getI32Type(), globalAt(offsetsBase, toI64(add(queryTile, idx(1))), 4)));
    listCount = sub(listEnd, listStart);
  } else if (maskAfterSoftmax || !queries.grid.empty()) {
    // Every key enters the denominator, or boxes classified one by one.
    firstKeyTile = idx(0);
    listCount = numTiles(keys, seqK);
  } else {
    auto [qFirst, qEnd] = hullOf(queries, queryTile, seqQ);
    auto [keyBegin, keyEnd] =
        heads.mask.emitKeyRange(b, loc, qFirst, qEnd, maskContext);
    firstKeyTile = arith::DivSIOp::create(b, loc, keyBegin, idx(keys.tokens));
    Value endTile = arith::CeilDivSIOp::create(b, loc, keyEnd, idx(keys.tokens));
    listCount = arith::MaxSIOp::create(b, loc, sub(endTile, firstKeyTile), idx(0));
  }
  // Heads with u = 1 compute no attention unless the LSE output asks for
  // their scores (as the CPU schedule).
  if (!op.getLseOutput()) {
    Value computes = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                                           headSoftpag, f32(1));
    listCount = select(computes, listCount, idx(0));
  }

  // Prologue: Q and the first key tile in one group.
  loadTile(queries, queryTile, seqQ, param("q"), queryBase, "q_stride_n",
           headDim, idx(0));
  // Range mode visits every tile of the closed-form range; tiles the
  // mask's run-time classification finds empty are neither loaded nor
  // computed.
  auto loadIfKept = [&](Value position, Value stage) {
    TileSlot slot = getSlot(position);
    Value load = lt(position, listCount);
    if (auto constant = getConstantIntValue(slot.mayKeep);
        !constant || *constant == 0)
      load = andI(load, slot.mayKeep);
    auto ifLoad = scf::IfOp::create(b, loc, load, false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifLoad.thenBlock());
    loadKeyValueTile(slot.keyTile, stage);
  };
  loadIfKept(idx(0), idx(0));
  nb::commitAsyncGroup(b, loc);
  nb::waitAsyncGroups(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
  if (queryInRegisters) {
    int64_t chunks = headDim * 2 / kChunkBytes;
    for (int64_t kk = 0; kk < headDim / 16; ++kk) {
      Value row = add(mul(warp, idx(kRowsPerWarp)), rem(lane, 16));
      Value chunk = add(idx(2 * kk), div(lane, 16));
      queryFragments.push_back(nb::loadMatrixX4(
          b, loc, sharedAt(swizzled(0, chunks, row, chunk)), false));
    }
  }

  // State: O fragments, m (2 rows), l (2 rows)[, kept counts (2 rows)].
  SmallVector<Value> init(valueDim / 8 * 4, f32(0));
  init.append({negInf(), negInf(), f32(0), f32(0)});
  if (maskAfterSoftmax)
    init.append({f32(0), f32(0)});
  auto loop = scf::ForOp::create(b, loc, idx(0), listCount, idx(1), init);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(loop.getBody());
    Value position = loop.getInductionVar();
    Value stage = rem(position, shape.stages);
    // Tile `position` has landed in its stage, and every warp is done with
    // the stage refilled next.
    nb::waitAsyncGroups(b, loc, 0);
    gpu::BarrierOp::create(b, loc);
    Value nextPosition = add(position, idx(1));
    loadIfKept(nextPosition, rem(nextPosition, shape.stages));
    nb::commitAsyncGroup(b, loc);
    TileSlot slot = getSlot(position);
    ValueRange state = loop.getRegionIterArgs();
    SmallVector<Value> next;
    if (auto constant = getConstantIntValue(slot.mayKeep);
        constant && *constant != 0) {
      next = emitTile(stage, slot, state);
    } else {
      auto ifKeep = scf::IfOp::create(b, loc, state.getTypes(), slot.mayKeep,
                                      /*withElse=*/true);
      OpBuilder::InsertionGuard keepInsertion(b);
      b.setInsertionPointToStart(ifKeep.thenBlock());
      scf::YieldOp::create(b, loc, emitTile(stage, slot, state));
      b.setInsertionPointToStart(ifKeep.elseBlock());
      scf::YieldOp::create(b, loc, state);
      next.assign(ifKeep.getResults().begin(), ifKeep.getResults().end());
    }
    scf::YieldOp::create(b, loc, next);
  }
  emitEpilogue(loop.getResults());
  finishFunction();
  return launch;
}

FailureOr<KernelLaunch>
mlir::attn::detail::emitAttentionKernel(AttentionOp op, gpu::GPUModuleOp module,
                                        StringRef name,
                                        const KernelHeads &heads,
                                        const KernelShape &shape) {
  return AttentionKernelBuilder(op, module, heads, shape).build(name);
}

//===----------------------------------------------------------------------===//
// Heads with weight 0
//===----------------------------------------------------------------------===//

namespace {
class ZeroHeadsKernelBuilder : KernelBuilderBase {
public:
  using KernelBuilderBase::KernelBuilderBase;
  KernelLaunch build(StringRef name, ArrayRef<int64_t> heads) {
    constexpr int64_t kThreads = 128;
    addTensorParams("out", op.getOutput(), {"b", "h", "n"});
    addTensorParams("lse", op.getLseOutput(), {"b", "h", "n"});
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kThreads);
    launch.grid[0] = {GridFactor{1, "seq_q", kThreads}};
    launch.grid[1] = {GridFactor{static_cast<int64_t>(heads.size()), "", 1}};
    launch.grid[2] = {GridFactor{1, "batch", 1}};

    // One thread per query row: O = 0, LSE = -inf.
    Value row = add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                        idx(kThreads)),
                    gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    SmallVector<int64_t> slots;
    SmallVector<Value> headValues;
    for (auto [i, h] : llvm::enumerate(heads)) {
      slots.push_back(i);
      headValues.push_back(idx(h));
    }
    Value head = selectByIndex(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
                               slots, headValues);
    Value batch = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
    auto inRange = scf::IfOp::create(b, loc, lt(row, toIndex(param("seq_q"))),
                                     false);
    b.setInsertionPointToStart(inRange.thenBlock());
    Type outType = cast<MemRefType>(op.getOutput().getType()).getElementType();
    Value outRow = elementOffset(
        {{batch, "out_stride_b"}, {head, "out_stride_h"}, {row, "out_stride_n"}});
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(outType));
    for (int64_t c = 0; c < op.getValueHeadDim(); ++c)
      LLVM::StoreOp::create(
          b, loc, zero,
          globalAt(param("out"),
                   i64Add(outRow, arith::ConstantIntOp::create(
                                      b, loc, b.getI64Type(), c)),
                   byteWidth(outType)));
    if (op.getLseOutput()) {
      Value offset = elementOffset(
          {{batch, "lse_stride_b"}, {head, "lse_stride_h"}, {row, "lse_stride_n"}});
      LLVM::StoreOp::create(b, loc, negInf(),
                            globalAt(param("lse"), offset, 4));
    }
    b.setInsertionPointAfter(inRange);
    finishFunction();
    return launch;
  }
};
} // namespace

KernelLaunch mlir::attn::detail::emitZeroHeadsKernel(AttentionOp op,
                                                     gpu::GPUModuleOp module,
                                                     StringRef name,
                                                     ArrayRef<int64_t> heads) {
  return ZeroHeadsKernelBuilder(op, module).build(name, heads);
}
