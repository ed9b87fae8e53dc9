//===- AttentionKernel.cpp - the fused attention kernel -------------------===//
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

#include "AttentionKernel.h"

#include "KernelBuilderBase.h"
#include "NvvmIntrinsics.h"

#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

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

class AttentionKernelBuilder : KernelBuilderBase {
public:
  AttentionKernelBuilder(AttentionOp op, gpu::GPUModuleOp module,
                         const KernelHeads &heads, const KernelShape &shape,
                         const KernelPrecision &precision)
      : KernelBuilderBase(op, module), heads(heads), shape(shape),
        precision(precision) {}

  FailureOr<KernelLaunch> build(StringRef name);

private:
  /// Fragment registers of one thread: four f32 per n8 tile.
  using Fragments = SmallVector<std::array<Value, 4>>;

  struct TileSlot {
    Value keyTile, mayKeep, keepsAll;
  };

  void declareParams();
  /// [first, end) of the flat indices of the tile's tokens (its hull).
  std::pair<Value, Value> hullOf(const TileGeometry &geometry, Value tile,
                                 Value length);
  /// Whether every position of the tile lies in the sequence (or grid).
  Value isWhole(const TileGeometry &geometry, Value tile, Value length);

  /// Byte offset in shared memory of 16-byte chunk `chunk` of row `row`
  /// of a tile starting at `base` with `rowChunks` chunks per row.
  Value swizzled(int64_t base, int64_t rowChunks, Value row, Value chunk);
  Value sharedAt(Value byteOffset);
  /// The B fragments one ldmatrix.x4 reads at (row, chunk) of the
  /// swizzled tile at `base`.
  std::array<Value, 4> loadSharedB(Value base, int64_t rowChunks, Value row,
                                   Value chunk, bool transpose);
  /// cp.async of the rows of a tile ([tokens, rowBytes]) into shared memory
  /// at `sharedOffset`; row t starts at element tensorBase + t * rowStride
  /// (i64, in elements of `elementBytes`).
  void loadTile(const TileGeometry &geometry, Value tile, Value length,
                Value tensor, Value tensorBase, Value rowStride,
                int64_t elementBytes, int64_t rowBytes, Value sharedOffset);
  /// cp.async of the f32 scales of a key tile's tokens.
  void loadKeyScales(Value tile, Value sharedOffset);
  /// cp.async of dS[block, key] for the query tile's blocks and the key
  /// tile's keys (smooth_q).
  void loadScoreCorrections(Value tile, Value sharedOffset);
  /// Byte offsets of stage `stage` of each staged tile. Shared memory
  /// holds Q, then the K stages, the V stages, the K scale stages and the
  /// dS stages.
  Value stageOffset(int64_t regionStart, int64_t stageBytes, Value stage) {
    return add(idx(regionStart), mul(stage, idx(stageBytes)));
  }
  Value keyStage(Value stage) {
    return stageOffset(queryBytes, keyStageBytes, stage);
  }
  Value valueStage(Value stage) {
    return stageOffset(queryBytes + shape.stages * keyStageBytes,
                       valueStageBytes, stage);
  }
  Value keyScaleStage(Value stage) {
    return stageOffset(
        queryBytes + shape.stages * (keyStageBytes + valueStageBytes),
        keyScaleStageBytes, stage);
  }
  Value correctionStage(Value stage) {
    return stageOffset(queryBytes + shape.stages *
                                        (keyStageBytes + valueStageBytes +
                                         keyScaleStageBytes),
                       correctionStageBytes, stage);
  }
  void loadKeyValueTile(Value tile, Value stage);

  /// The key tile at list position `a` and its class.
  TileSlot getSlot(Value position);
  /// Emits one key tile: S = Q K^T, mask, online softmax, O += P V.
  SmallVector<Value> emitTile(Value stage, const TileSlot &slot,
                              ValueRange state);
  void emitEpilogue(ValueRange state);
  /// O += P V with P * 448 and V in E4M3 (m16n8k32; V^T tile in shared
  /// memory, k-slots permuted as P's registers hold the keys).
  void emitValueProductFp8(Value valueTile, const Fragments &probabilities,
                           Fragments &acc);
  /// Values of the O accumulator in the loop state.
  int64_t numAccumulatorValues() const {
    return valueDim / 8 *
           (precision.accumulation == Accumulation::F16 ? 2 : 4);
  }

  /// The mask predicate of (query row `row` of this thread, key at
  /// position `position` of `keyTile`), bounds included.
  Value emitKeep(int64_t row, Value keyTile, Value position);
  Value loadPairOperand(Value operand, StringRef name, int64_t row,
                        Value key);

  const KernelHeads &heads;
  const KernelShape &shape;
  const KernelPrecision &precision;
  TileGeometry queries, keys;
  int64_t numWarps = 0, numThreads = 0, headDim = 0, valueDim = 0;
  /// Bytes of a Q or K row in shared memory (quantized or 16-bit).
  int64_t qkRowBytes = 0;
  /// Q.K in bf16 (unquantized bf16 inputs); P.V in bf16.
  bool qkBf16 = false, pvBf16 = false;
  /// The inputs' type, and the type of P and V in P.V.
  Type elementType, pvType;
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
  /// Per stage: the f32 scales of the key tile's tokens (quantized Q.K).
  int64_t keyScaleStageBytes = 0;
  /// smooth_q with flat query tiles: dS of the (at most) correctionRows
  /// query blocks the tile's rows lie in, for the key tile, per stage.
  int64_t correctionRows = 0, correctionStageBytes = 0;
  /// The tile's first query block, and this thread's rows' blocks relative
  /// to it.
  Value firstCorrectionBlock;
  std::array<Value, 2> rowCorrectionBlock;
  /// Quantized Q.K: the scale of each of this thread's two query rows.
  std::array<Value, 2> queryScales;
  /// FP8 P.V: key slots per row of V^T (whole key tiles).
  Value valueSlots;
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


std::pair<Value, Value>
AttentionKernelBuilder::hullOf(const TileGeometry &g, Value tile,
                               Value length) {
  if (g.grid.empty()) {
    Value first = mul(tile, idx(g.shape[0]));
    Value end = arith::MinSIOp::create(b, loc, add(first, idx(g.shape[0])),
                                       length);
    return {first, end};
  }
  SmallVector<Value> begin = boxBegin(g, tile);
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
  SmallVector<Value> begin = boxBegin(g, tile);
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
  // Chunk c of row r goes to chunk c ^ (r & mask): the 8 rows of an
  // ldmatrix phase and the chunks of one row each hit all 32 banks. The
  // mask stays below the largest power of two dividing the row's chunks
  // (at most 8), so the XOR never leaves the row (12 chunks of int8 D = 192
  // swizzle within groups of 4).
  int64_t swizzleMask =
      std::min<int64_t>(8, rowChunks & -rowChunks) - 1;
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

std::array<Value, 4> AttentionKernelBuilder::loadSharedB(Value base,
                                                         int64_t rowChunks,
                                                         Value row, Value chunk,
                                                         bool transpose) {
  Value ptr = sharedAt(add(base, swizzled(0, rowChunks, row, chunk)));
  return nb::loadMatrixX4(b, loc, ptr, transpose);
}


void AttentionKernelBuilder::loadTile(const TileGeometry &g, Value tile,
                                      Value length, Value tensor,
                                      Value tensorBase, Value rowStride,
                                      int64_t elementBytes, int64_t rowBytes,
                                      Value sharedOffset) {
  int64_t rowChunks = rowBytes / kChunkBytes;
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
          i64Add(i64Mul(toI64(safeToken), rowStride),
                 toI64(mul(chunk, idx(kChunkBytes / elementBytes)))));
      Value src = globalAt(tensor, element, elementBytes);
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

void AttentionKernelBuilder::loadKeyScales(Value tile, Value sharedOffset) {
  // One key token per thread and round: the tile's tokens need not be
  // contiguous, and there may be more keys than threads.
  for (int64_t first = 0; first < keys.tokens; first += numThreads) {
    Value position = add(tid, idx(first));
    auto guard = scf::IfOp::create(b, loc, lt(position, idx(keys.tokens)),
                                   /*withElse=*/false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(guard.thenBlock());
    auto [token, valid] = tokenOf(keys, tile, position, seqK);
    Value element = i64Add(
        scratchRow(batch, op.getNumKeyValueHeads(), kvHead, seqK),
        toI64(select(valid, token, idx(0))));
    Value bytes = arith::SelectOp::create(
        b, loc, valid,
        arith::ConstantIntOp::create(b, loc, b.getI32Type(), 4),
        arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0));
    nb::copyAsync4(b, loc, sharedAt(add(sharedOffset, mul(position, idx(4)))),
                   globalAt(param("k_scale"), element, 4), bytes);
  }
}

void AttentionKernelBuilder::loadScoreCorrections(Value tile,
                                                  Value sharedOffset) {
  // correctionRows x keys.tokens floats, one per thread and round.
  int64_t count = correctionRows * keys.tokens;
  Value numBlocks = arith::CeilDivSIOp::create(b, loc, seqQ,
                                               idx(precision.smoothQBlock));
  for (int64_t first = 0; first < count; first += numThreads) {
    Value flat = add(tid, idx(first));
    auto copy = [&] {
      Value blk = add(firstCorrectionBlock, div(flat, keys.tokens));
      auto [key, valid] =
          tokenOf(keys, tile, rem(flat, keys.tokens), seqK);
      valid = andI(valid, lt(blk, numBlocks));
      Value row = add(mul(add(mul(batch, idx(op.getNumQueryHeads())), head),
                          numBlocks),
                      select(valid, blk, idx(0)));
      Value element = i64Add(i64Mul(toI64(row), toI64(seqK)),
                             toI64(select(valid, key, idx(0))));
      Value bytes = arith::SelectOp::create(
          b, loc, valid,
          arith::ConstantIntOp::create(b, loc, b.getI32Type(), 4),
          arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0));
      nb::copyAsync4(b, loc, sharedAt(add(sharedOffset, mul(flat, idx(4)))),
                     globalAt(param("score_correction"), element, 4), bytes);
    };
    if (first + numThreads <= count) {
      copy();
      continue;
    }
    auto guard = scf::IfOp::create(b, loc, lt(flat, idx(count)), false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(guard.thenBlock());
    copy();
  }
}

void AttentionKernelBuilder::loadKeyValueTile(Value tile, Value stage) {
  if (precision.quantizedQK()) {
    loadTile(keys, tile, seqK, param("k_quant"), keyBase,
             toI64(idx(qkRowBytes)), 1, qkRowBytes, keyStage(stage));
    loadKeyScales(tile, keyScaleStage(stage));
  } else {
    loadTile(keys, tile, seqK, param("k"), keyBase, param("k_stride_n"), 2,
             qkRowBytes, keyStage(stage));
  }
  if (correctionRows)
    loadScoreCorrections(tile, correctionStage(stage));
  int64_t valueBytes = byteWidth(pvType);
  if (precision.fp8Value()) {
    // V^T rows (channels) of this key tile's slots.
    TileGeometry channels{{valueDim}, {}, valueDim};
    Value tileStart = i64Add(valueBase, toI64(mul(tile, idx(keys.tokens))));
    loadTile(channels, idx(0), idx(valueDim), param("v_quant"), tileStart,
             toI64(valueSlots), 1, keys.tokens, valueStage(stage));
  } else if (precision.valueConverted)
    loadTile(keys, tile, seqK, param("v_quant"), valueBase,
             toI64(idx(valueDim)), valueBytes, valueDim * valueBytes,
             valueStage(stage));
  else
    loadTile(keys, tile, seqK, param("v"), valueBase, param("v_stride_n"), 2,
             valueDim * 2, valueStage(stage));
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
  // Quantized Q.K reads the pre-kernels' dense buffers instead of Q and K.
  if (precision.quantizedQK()) {
    for (StringRef name : {"q_quant", "q_scale", "k_quant", "k_scale"})
      addParam(name, globalPtrType());
  } else {
    addTensorParams("q", op.getQuery(), {"b", "h", "n"});
    addTensorParams("k", op.getKey(), {"b", "h", "n"});
  }
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  if (precision.valueConverted)
    addParam("v_quant", globalPtrType());
  if (precision.fp8Value())
    addParam("v_scale", globalPtrType());
  if (precision.smoothQ)
    addParam("score_correction", globalPtrType());
  if (precision.smoothK && op.getLseOutput())
    addParam("lse_correction", globalPtrType());
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
  Value keyTile = keyStage(stage);
  Value valueTile = valueStage(stage);
  int64_t keyChunks = qkRowBytes / kChunkBytes;
  int64_t valueChunks = valueDim * byteWidth(pvType) / kChunkBytes;

  // S = Q K^T: B fragments of keys 16jj..16jj+15 by ldmatrix.x4 (lane l
  // addresses key (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of the k-step).
  // A k-step is two 16-byte chunks of a row: k16 of f16/bf16, k32 of s8,
  // k64 of s4, with the same fragment addressing (GPU-NOTES.md 1-2).
  bool quantized = precision.quantizedQK();
  Value zero = quantized
                   ? Value(arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0))
                   : f32(0);
  Fragments scores(keyTiles8, {zero, zero, zero, zero});
  Value keyRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value keyChunk = rem(div(lane, 8), 2);
  for (int64_t kk = 0; kk < qkRowBytes / (2 * kChunkBytes); ++kk) {
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
      std::array<Value, 4> frag =
          loadSharedB(keyTile, keyChunks, add(idx(16 * jj), keyRow),
                      add(idx(2 * kk), keyChunk), /*transpose=*/false);
      for (int64_t half = 0; half < 2; ++half) {
        std::array<Value, 4> &c = scores[2 * jj + half];
        std::array<Value, 2> bRegs = {frag[2 * half], frag[2 * half + 1]};
        c = quantized ? nb::mmaInteger(b, loc, precision.qkBits, a, bRegs, c)
                      : nb::mmaM16N8K16(b, loc, qkBf16, a, bRegs, c);
      }
    }
  }
  // Dequantize: s = dot * q_scale[row] * k_scale[key], one multiply per
  // element once the pair's factor is formed; s is then in units of q.k as
  // in the unquantized kernel.
  Value t = rem(lane, 4);
  if (quantized) {
    Value scaleStage = keyScaleStage(stage);
    Type pair = VectorType::get({2}, b.getF32Type());
    for (int64_t j = 0; j < keyTiles8; ++j) {
      Value offset = add(scaleStage, mul(add(idx(8 * j), mul(t, idx(2))),
                                         idx(4)));
      Value keyScales = LLVM::LoadOp::create(b, loc, pair, sharedAt(offset));
      for (int64_t e = 0; e < 4; ++e) {
        Value factor = arith::MulFOp::create(
            b, loc, queryScales[e / 2],
            vector::ExtractOp::create(b, loc, keyScales, e % 2));
        Value dot = arith::SIToFPOp::create(b, loc, b.getF32Type(),
                                            scores[j][e]);
        scores[j][e] = arith::MulFOp::create(b, loc, dot, factor);
      }
    }
  }
  // smooth_q: the scores get back dS[block of the row, key], staged in
  // shared memory for flat query tiles.
  if (correctionRows) {
    Type pair = VectorType::get({2}, b.getF32Type());
    for (int64_t row = 0; row < 2; ++row) {
      Value rowStart = add(correctionStage(stage),
                           mul(rowCorrectionBlock[row], idx(keys.tokens * 4)));
      for (int64_t j = 0; j < keyTiles8; ++j) {
        Value offset =
            add(rowStart, mul(add(idx(8 * j), mul(t, idx(2))), idx(4)));
        Value corrections =
            LLVM::LoadOp::create(b, loc, pair, sharedAt(offset));
        for (int64_t e = 2 * row; e < 2 * row + 2; ++e)
          scores[j][e] = arith::AddFOp::create(
              b, loc, scores[j][e],
              vector::ExtractOp::create(b, loc, corrections, e % 2));
      }
    }
  } else if (precision.smoothQ) {
    Value numBlocks = arith::CeilDivSIOp::create(
        b, loc, seqQ, idx(precision.smoothQBlock));
    std::array<Value, 2> rowBase;
    for (int64_t row = 0; row < 2; ++row) {
      Value blk = div(select(rowValid[row], rowTokens[row], idx(0)),
                      precision.smoothQBlock);
      rowBase[row] = i64Mul(
          toI64(add(mul(add(mul(batch, idx(op.getNumQueryHeads())), head),
                        numBlocks),
                    blk)),
          toI64(seqK));
    }
    for (int64_t j = 0; j < keyTiles8; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        Value position = add(idx(8 * j + (e % 2)), mul(t, idx(2)));
        auto [key, valid] = tokenOf(keys, slot.keyTile, position, seqK);
        Value correction = loadGlobal(
            b.getF32Type(),
            globalAt(param("score_correction"),
                     i64Add(rowBase[e / 2], toI64(select(valid, key, idx(0)))),
                     4));
        scores[j][e] = arith::AddFOp::create(b, loc, scores[j][e], correction);
      }
  }

  // Mask: only partial tiles evaluate the predicate. Element e of n8 tile j
  // is (row g + 8 (e / 2), key 8 j + 2 t + e % 2).
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

  // Online softmax in units of q.k: c = scale * log2(e). The O
  // accumulator is four f32 per n8 tile, or two f16 pairs (rows g, g + 8)
  // with pv_accum = f16.
  bool f16Accumulator = precision.accumulation == Accumulation::F16;
  int64_t accumulatorCount = numAccumulatorValues();
  Fragments acc;
  SmallVector<std::array<Value, 2>> acc16;
  if (f16Accumulator) {
    for (int64_t n = 0; n < valueTiles8; ++n)
      acc16.push_back({state[2 * n], state[2 * n + 1]});
  } else {
    acc = unflatten(state.take_front(accumulatorCount));
  }
  ValueRange rowState = state.drop_front(accumulatorCount);
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
    if (f16Accumulator) {
      Type half2 = VectorType::get({2}, b.getF16Type());
      Value alpha2 = vector::BroadcastOp::create(
          b, loc, half2,
          arith::TruncFOp::create(b, loc, b.getF16Type(), alpha));
      for (int64_t n = 0; n < valueTiles8; ++n)
        acc16[n][row] = arith::MulFOp::create(b, loc, acc16[n][row], alpha2);
    } else {
      for (int64_t n = 0; n < valueTiles8; ++n)
        for (int64_t e = 2 * row; e < 2 * row + 2; ++e)
          acc[n][e] = arith::MulFOp::create(b, loc, acc[n][e], alpha);
    }
  }

  // O += P V: P's A fragment is the S accumulator of two n8 tiles; V's B
  // fragments by ldmatrix.x4.trans (lane l addresses key (l % 8) +
  // 8 ((l / 8) % 2), chunk l / 16 of the 16 columns).
  // two_level: the tile's P V goes into a fresh f32 accumulator, added
  // into O once per tile.
  bool twoLevel = precision.accumulation == Accumulation::TwoLevel;
  Fragments tileAcc =
      twoLevel ? Fragments(valueTiles8, {f32(0), f32(0), f32(0), f32(0)})
               : Fragments();
  Fragments &target = twoLevel ? tileAcc : acc;
  if (precision.fp8Value()) {
    emitValueProductFp8(valueTile, scores, target);
  } else {
  Value valueRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value valueChunk = div(lane, 16);
  for (int64_t kk = 0; kk < keys.tokens / 16; ++kk) {
    const auto &t0 = scores[2 * kk], &t1 = scores[2 * kk + 1];
    std::array<Value, 4> a = {nb::packPair(b, loc, pvType, t0[0], t0[1]),
                              nb::packPair(b, loc, pvType, t0[2], t0[3]),
                              nb::packPair(b, loc, pvType, t1[0], t1[1]),
                              nb::packPair(b, loc, pvType, t1[2], t1[3])};
    for (int64_t dd = 0; dd < valueDim / 16; ++dd) {
      std::array<Value, 4> frag =
          loadSharedB(valueTile, valueChunks, add(idx(16 * kk), valueRow),
                      add(idx(2 * dd), valueChunk), /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half) {
        int64_t n = 2 * dd + half;
        std::array<Value, 2> bRegs = {frag[2 * half], frag[2 * half + 1]};
        if (f16Accumulator) {
          acc16[n] = nb::mmaM16N8K16F16Accumulate(
              b, loc, a, bRegs, {acc16[n][0], acc16[n][1]});
        } else {
          target[n] = nb::mmaM16N8K16(b, loc, pvBf16, a, bRegs, target[n]);
        }
      }
    }
  }
  }
  if (twoLevel)
    for (int64_t n = 0; n < valueTiles8; ++n)
      for (int64_t e = 0; e < 4; ++e)
        acc[n][e] = arith::AddFOp::create(b, loc, acc[n][e], tileAcc[n][e]);

  if (f16Accumulator) {
    for (const auto &pair : acc16)
      next.append({pair[0], pair[1]});
  } else {
    next = flatten(acc);
  }
  next.append({newMax[0], newMax[1], newSum[0], newSum[1]});
  if (maskAfterSoftmax)
    next.append({newKept[0], newKept[1]});
  return next;
}

void AttentionKernelBuilder::emitValueProductFp8(Value valueTile,
                                                 const Fragments &p,
                                                 Fragments &acc) {
  // Per 32 keys, n8 tiles T0..T3; the A registers are, byte 0 first,
  // r0 = [T0.c0, T0.c1, T1.c0, T1.c1], r1 = the same of c2, c3 (row g + 8),
  // r2, r3 the same of T2, T3 (GPU-NOTES.md 4).
  auto scaled = [&](Value x) {
    return arith::MulFOp::create(b, loc, x, f32(448));
  };
  auto pack = [&](const std::array<Value, 4> &lowTile,
                  const std::array<Value, 4> &highTile, int64_t e) {
    Value low = nb::packE4M3Pair(b, loc, scaled(lowTile[e]),
                                 scaled(lowTile[e + 1]));
    Value high = nb::packE4M3Pair(b, loc, scaled(highTile[e]),
                                  scaled(highTile[e + 1]));
    Type i32 = b.getI32Type();
    Value wideHigh = arith::ShLIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, i32, high),
        arith::ConstantIntOp::create(b, loc, i32, 16));
    return arith::OrIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, i32, low), wideHigh);
  };
  int64_t rowChunks = keys.tokens / kChunkBytes;
  // Lane l addresses channel (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of
  // the k-step: registers 0, 1 are the B of channels 0-7, 2, 3 of 8-15.
  Value channelRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value chunkOfLane = rem(div(lane, 8), 2);
  for (int64_t kk = 0; kk < keys.tokens / 32; ++kk) {
    const auto &t0 = p[4 * kk], &t1 = p[4 * kk + 1], &t2 = p[4 * kk + 2],
               &t3 = p[4 * kk + 3];
    std::array<Value, 4> a = {pack(t0, t1, 0), pack(t0, t1, 2),
                              pack(t2, t3, 0), pack(t2, t3, 2)};
    for (int64_t dd = 0; dd < valueDim / 16; ++dd) {
      std::array<Value, 4> frag =
          loadSharedB(valueTile, rowChunks, add(idx(16 * dd), channelRow),
                      add(idx(2 * kk), chunkOfLane), /*transpose=*/false);
      for (int64_t half = 0; half < 2; ++half) {
        int64_t n = 2 * dd + half;
        acc[n] = nb::mmaM16N8K32E4M3(b, loc, a,
                                     {frag[2 * half], frag[2 * half + 1]},
                                     acc[n]);
      }
    }
  }
}

void AttentionKernelBuilder::emitEpilogue(ValueRange state) {
  int64_t valueTiles8 = valueDim / 8;
  Fragments acc(valueTiles8);
  if (precision.accumulation == Accumulation::F16) {
    for (int64_t n = 0; n < valueTiles8; ++n)
      for (int64_t e = 0; e < 4; ++e)
        acc[n][e] = toF32(
            vector::ExtractOp::create(b, loc, state[2 * n + e / 2], e % 2));
  } else {
    for (int64_t i = 0; i < valueTiles8 * 4; ++i)
      acc[i / 4][i % 4] = state[i];
  }
  ValueRange rowState = state.drop_front(numAccumulatorValues());
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
      // FP8 P.V: undo P's 448 and V's per-channel scale.
      Value valueScales;
      if (precision.fp8Value()) {
        Value element = i64Add(
            toI64(mul(add(mul(batch, idx(op.getNumKeyValueHeads())), kvHead),
                      idx(valueDim))),
            toI64(column));
        valueScales = loadGlobal(VectorType::get({2}, b.getF32Type()),
                                 globalAt(param("v_scale"), element, 4));
      }
      if (softpag) {
        Value ptr = globalAt(param("v"), i64Add(valueRowOffset, toI64(column)),
                             byteWidth(elementType));
        Value v2 = loadGlobal(VectorType::get({2}, elementType), ptr);
        for (int64_t e = 0; e < 2; ++e)
          identity.push_back(toF32(vector::ExtractOp::create(b, loc, v2, e)));
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value o = arith::MulFOp::create(b, loc, acc[n][2 * row + e], inverse);
        if (valueScales)
          o = arith::MulFOp::create(
              b, loc, o,
              arith::MulFOp::create(
                  b, loc, vector::ExtractOp::create(b, loc, valueScales, e),
                  f32(1.0 / 448)));
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
      if (precision.smoothK) {
        // smooth_k shifted every score of the row by -scale q.mean(K).
        Value element = i64Add(
            scratchRow(batch, op.getNumQueryHeads(), head, seqQ), toI64(token));
        lse = arith::AddFOp::create(
            b, loc, lse,
            loadGlobal(b.getF32Type(),
                       globalAt(param("lse_correction"), element, 4)));
      }
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
  pvType = precision.pvType ? precision.pvType : elementType;
  qkBf16 = elementType.isBF16();
  pvBf16 = pvType.isBF16();
  headDim = op.getHeadDim();
  valueDim = op.getValueHeadDim();
  scale = *op.getEffectiveScale();
  maskAfterSoftmax = hasUnnormalizedSegments(heads.mask);
  queries = TileGeometry::of(shape.queryShape, shape.grid);
  keys = TileGeometry::of(shape.keyShape, shape.grid);
  numWarps = queries.tokens / kRowsPerWarp;
  numThreads = numWarps * 32;
  // Q fragments stay in registers up to 256 bytes per row (D = 128 in 16
  // bits, D = 256 in int8); beyond, the register file holds O and S only
  // and Q is re-read from shared memory.
  qkRowBytes = precision.quantizedQK() ? precision.rowBytes(headDim)
                                       : headDim * 2;
  if (qkRowBytes < 2 * kChunkBytes)
    return op.emitOpError()
           << "attn-lower-to-gpu: Q.K in " << precision.qkBits
           << "-bit integers needs rows of at least 32 bytes (head dim D >= "
           << 256 / precision.qkBits << "), got D = " << headDim;
  if (precision.fp8Value() && keys.tokens % 32 != 0)
    return op.emitOpError()
           << "attn-lower-to-gpu: FP8 P.V (m16n8k32) needs key tiles of a "
              "multiple of 32 tokens, got "
           << keys.tokens;
  queryInRegisters = qkRowBytes <= 256;
  queryBytes = queries.tokens * qkRowBytes;
  keyStageBytes = keys.tokens * qkRowBytes;
  valueStageBytes = keys.tokens * valueDim * byteWidth(pvType);
  keyScaleStageBytes = precision.quantizedQK() ? keys.tokens * 4 : 0;
  if (precision.smoothQ && queries.grid.empty()) {
    correctionRows =
        llvm::divideCeil(queries.tokens, precision.smoothQBlock) + 1;
    correctionStageBytes = correctionRows * keys.tokens * 4;
  }
  launch.sharedBytes =
      queryBytes + shape.stages * (keyStageBytes + valueStageBytes +
                                   keyScaleStageBytes + correctionStageBytes);

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
            whole &= (rest % keys.boxesAlong(d) + 1) * keys.shape[d] <=
                     keys.grid[d];
            rest /= keys.boxesAlong(d);
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
  BlockCoordinates block = launchOverHeads(
      queries.countFactor("seq_q"), static_cast<int64_t>(heads.heads.size()));
  queryTile = block.x;
  Value headSlot = block.headSlot;
  batch = block.batch;
  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  lane = rem(tid, 32);
  warp = div(tid, 32);
  seqQ = toIndex(param("seq_q"));
  seqK = toIndex(param("seq_k"));
  {
    SmallVector<Value> headValues, weights, softpags;
    HeadsAttr headsAttr = op.getHeadsAttr();
    for (int64_t h : heads.heads) {
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
    head = selectBySlot(headSlot, headValues);
    headWeight = selectBySlot(headSlot, weights);
    headSoftpag = selectBySlot(headSlot, softpags);
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

  // Element offsets of this (batch, head) in Q, K and V; the pre-kernels'
  // buffers are dense [B, H, N, row].
  int64_t numKvHeads = op.getNumKeyValueHeads();
  if (precision.quantizedQK()) {
    queryBase = i64Mul(scratchRow(batch, op.getNumQueryHeads(), head, seqQ),
                       toI64(idx(qkRowBytes)));
    keyBase = i64Mul(scratchRow(batch, numKvHeads, kvHead, seqK),
                     toI64(idx(qkRowBytes)));
  } else {
    queryBase = elementOffset({{batch, "q_stride_b"}, {head, "q_stride_h"}});
    keyBase = elementOffset({{batch, "k_stride_b"}, {kvHead, "k_stride_h"}});
  }
  if (precision.fp8Value()) {
    valueSlots = mul(numTiles(keys, seqK), idx(keys.tokens));
    valueBase = i64Mul(
        toI64(mul(add(mul(batch, idx(numKvHeads)), kvHead), idx(valueDim))),
        toI64(valueSlots));
  } else if (precision.valueConverted)
    valueBase = i64Mul(scratchRow(batch, numKvHeads, kvHead, seqK),
                       toI64(idx(valueDim)));
  else
    valueBase = elementOffset({{batch, "v_stride_b"}, {kvHead, "v_stride_h"}});
  Value g = div(lane, 4);
  for (int64_t row = 0; row < 2; ++row) {
    Value position = add(mul(warp, idx(kRowsPerWarp)), add(g, idx(8 * row)));
    std::tie(rowTokens[row], rowValid[row]) =
        tokenOf(queries, queryTile, position, seqQ);
    if (precision.quantizedQK()) {
      Value element = i64Add(
          scratchRow(batch, op.getNumQueryHeads(), head, seqQ),
          toI64(select(rowValid[row], rowTokens[row], idx(0))));
      queryScales[row] = loadGlobal(b.getF32Type(),
                                    globalAt(param("q_scale"), element, 4));
    }
  }
  if (correctionRows) {
    // Flat tiles: rows [tile * tokens, ...) lie in blocks from this one on.
    firstCorrectionBlock = div(mul(queryTile, idx(queries.tokens)),
                               precision.smoothQBlock);
    for (int64_t row = 0; row < 2; ++row)
      rowCorrectionBlock[row] = sub(
          div(select(rowValid[row], rowTokens[row],
                     mul(queryTile, idx(queries.tokens))),
              precision.smoothQBlock),
          firstCorrectionBlock);
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
  if (precision.quantizedQK())
    loadTile(queries, queryTile, seqQ, param("q_quant"), queryBase,
             toI64(idx(qkRowBytes)), 1, qkRowBytes, idx(0));
  else
    loadTile(queries, queryTile, seqQ, param("q"), queryBase,
             param("q_stride_n"), 2, qkRowBytes, idx(0));
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
    int64_t chunks = qkRowBytes / kChunkBytes;
    for (int64_t kk = 0; kk < chunks / 2; ++kk) {
      Value row = add(mul(warp, idx(kRowsPerWarp)), rem(lane, 16));
      Value chunk = add(idx(2 * kk), div(lane, 16));
      queryFragments.push_back(nb::loadMatrixX4(
          b, loc, sharedAt(swizzled(0, chunks, row, chunk)), false));
    }
  }

  // State: O fragments, m (2 rows), l (2 rows)[, kept counts (2 rows)].
  Value accumulatorZero =
      precision.accumulation == Accumulation::F16
          ? Value(arith::ConstantOp::create(
                b, loc, DenseElementsAttr::get(
                            VectorType::get({2}, b.getF16Type()),
                            b.getF16FloatAttr(0).getValue())))
          : f32(0);
  SmallVector<Value> init(numAccumulatorValues(), accumulatorZero);
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
                                        const KernelShape &shape,
                                        const KernelPrecision &precision) {
  return AttentionKernelBuilder(op, module, heads, shape, precision)
      .build(name);
}

