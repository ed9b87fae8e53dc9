//===- MmaSyncEngine.cpp - the warp-level mma.sync engine -----------------===//
//
// Fragment layouts: docs/design/FragmentLayouts.md (mma.sync m16n8kK A, B
// and C; ldmatrix addressing; P's A operand from S's accumulator; the FP8
// key relabel).
//
//===----------------------------------------------------------------------===//

#include "MmaSyncEngine.h"

#include "BlockScaledMma.h"
#include "MmaSyncIntrinsics.h"

#include "../Common/Minifloats.h"

#include "../Common/TileWalk.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Query rows of one m-tile (the M of mma.sync m16n8kK); a warp holds one
/// or two (KernelShape::warpRows).
static constexpr int64_t kRowsPerWarp = 16;
/// Bytes of one cp.async / one ldmatrix row.
static constexpr int64_t kChunkBytes = 16;
/// Q fragments stay in registers up to rows of this many bytes (D = 128 in
/// 16 bits, D = 256 in int8); beyond, the register file holds O and S only
/// and Q is re-read from shared memory.
static constexpr int64_t kQueryRegisterRowBytes = 256;

MmaSyncEngine::MmaSyncEngine(OpBuilder &b, Location loc,
                             const KernelSignature &signature,
                             AttentionKernelContext &context)
    : MmaEngine(b, loc, signature, context),
      mTiles(ctx.shape.warpRows / kRowsPerWarp), fragmentLayout(layout(mTiles)),
      scoreFragmentLayout(fragmentLayout) {
  if (ctx.precision.fp4Value())
    scoreFragmentLayout.interleavedChunks = 4;
  // Two m-tiles would double Q's registers: they re-read Q instead.
  queryInRegisters = mTiles == 1 && ctx.qkRowBytes <= kQueryRegisterRowBytes &&
                     !(ctx.precision.fp4Value() && ctx.valueDim > 128);
}

LogicalResult MmaSyncEngine::verify(AttentionOp op, const KernelShape &shape,
                                    const KernelPrecision &precision) {
  int64_t queryTokens = 1, keyTokens = 1;
  for (int64_t s : shape.queryShape)
    queryTokens *= s;
  for (int64_t s : shape.keyShape)
    keyTokens *= s;
  if (shape.stages < 2 || shape.stages > TileWalk::kMaxLookahead + 1)
    return op.emitOpError() << "attn-lower-to-gpu: stages = " << shape.stages
                            << " is not supported; expected 2, 3 or 4";
  if (shape.warpRows != 16 && shape.warpRows != 32)
    return op.emitOpError()
           << "attn-lower-to-gpu: warp-rows = " << shape.warpRows
           << " is not supported by mma.sync kernels; "
              "expected 16 or 32";
  if (queryTokens % shape.warpRows != 0 || queryTokens > 256)
    return op.emitOpError()
           << "attn-lower-to-gpu: a query tile of " << queryTokens
           << " tokens is not supported; it must be a multiple of "
           << shape.warpRows << " (one warp per " << shape.warpRows
           << " rows) of at most 256";
  if (keyTokens % 16 != 0 || keyTokens > 128)
    return op.emitOpError()
           << "attn-lower-to-gpu: a key tile of " << keyTokens
           << " tokens is not supported; it must be a multiple of 16 of at "
              "most 128";
  int64_t headDim = getStagedHeadDim(op.getHeadDim());
  int64_t qkRowBytes =
      precision.quantizedQK() ? precision.rowBytes(headDim) : headDim * 2;
  if (qkRowBytes < 2 * kChunkBytes)
    return op.emitOpError()
           << "attn-lower-to-gpu: Q.K in " << precision.qkBits
           << "-bit integers needs rows of at least 32 bytes (head dim D >= "
           << 256 / precision.qkBits << "), got D = " << headDim;
  if (precision.fp4Value() &&
      (keyTokens % 64 != 0 || shape.keyShape.size() != 1))
    return op.emitOpError()
           << "attn-lower-to-gpu: NVFP4 P.V (block-scaled m16n8k64, V's "
              "scales per 16 consecutive keys) needs flat key tiles of a "
              "multiple of 64 tokens, got "
           << keyTokens << " in " << shape.keyShape.size() << " dimension"
           << (shape.keyShape.size() == 1 ? "" : "s");
  if (precision.fp8Value() && keyTokens % 32 != 0)
    return op.emitOpError()
           << "attn-lower-to-gpu: FP8 P.V (m16n8k32) needs key tiles of a "
              "multiple of 32 tokens, got "
           << keyTokens;
  return success();
}

FragmentLayout MmaSyncEngine::layout(int64_t mTiles) {
  return FragmentLayout{/*rowSlots=*/2 * mTiles, /*chunkColumns=*/8,
                        /*columnsPerThread=*/2, /*rowPeerLanes=*/{1, 2}};
}

Value MmaSyncEngine::fp8ValueSlot(OpBuilder &b, Location loc, Value position) {
  // The inverse of the FP8 key relabel pi within each group of 16 keys
  // (docs/design/FragmentLayouts.md):
  // ((k & 6) << 1) | (k & 1) | ((k & 8) >> 2).
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value k = arith::RemUIOp::create(b, loc, position, c(16));
  Value slot = arith::OrIOp::create(
      b, loc,
      arith::OrIOp::create(
          b, loc,
          arith::MulIOp::create(b, loc, arith::AndIOp::create(b, loc, k, c(6)),
                                c(2)),
          arith::AndIOp::create(b, loc, k, c(1))),
      arith::DivUIOp::create(b, loc, arith::AndIOp::create(b, loc, k, c(8)),
                             c(4)));
  return arith::AddIOp::create(
      b, loc, arith::SubIOp::create(b, loc, position, k), slot);
}

int64_t MmaSyncEngine::numThreads() const {
  return ctx.queries.tokens / ctx.shape.warpRows * 32;
}

int64_t MmaSyncEngine::minimumRegisters() const {
  // O (f32, or f16 pairs), S of one key tile, and Q's A fragments.
  int64_t output = numValueChunks() * (f16Accumulator() ? 2 : 4) * mTiles;
  int64_t scores = ctx.keys.tokens / 8 * 4 * mTiles;
  int64_t query = queryInRegisters ? ctx.qkRowBytes / (2 * kChunkBytes) * 4 : 0;
  return output + scores + query;
}

bool MmaSyncEngine::f16Accumulator() const {
  return ctx.precision.accumulation == Accumulation::F16;
}

FragmentPlacement MmaSyncEngine::placeThread() {
  FragmentPlacement placement;
  Value g = div(ctx.lane, 4);
  for (int64_t slot = 0; slot < fragmentLayout.rowSlots; ++slot)
    placement.rows.push_back(
        add(mul(ctx.warp, idx(ctx.shape.warpRows)),
            add(g, idx(16 * (slot / 2) + 8 * (slot % 2)))));
  return placement;
}

Value MmaSyncEngine::columnOffset() { return quadColumnOffset(); }

Value MmaSyncEngine::scoreColumnOffset() {
  return mul(quadColumnOffset(), idx(scoreFragmentLayout.columnOffsetScale()));
}

Value MmaSyncEngine::keyRow(int64_t chunk0, Value laneChunk, Value column) {
  if (scoreFragmentLayout.interleavedChunks == 1)
    return add(add(idx(8 * chunk0), mul(laneChunk, idx(8))), column);
  // Interleaved by 4: column c of chunk n is key
  // 32 (n / 4) + 2 (n % 4) + 8 (c / 2) + c % 2 (FragmentLayout::column with
  // the lane offset 8 (c / 2)).
  assert(scoreFragmentLayout.interleavedChunks == 4 && chunk0 % 2 == 0 &&
         "S chunks interleave in groups of 4, loaded in pairs");
  int64_t first = 32 * (chunk0 / 4) + 2 * (chunk0 % 4);
  return add(add(idx(first), mul(laneChunk, idx(2))),
             add(mul(div(column, 2), idx(8)), rem(column, 2)));
}

Value MmaSyncEngine::isRowLeader() { return isQuadLeader(); }

Value MmaSyncEngine::stagedChunkOffset(int64_t /*rows*/, int64_t rowChunks,
                                       Value row, Value chunk) {
  return swizzledChunkOffset(rowChunks, row, chunk);
}

Value mlir::attn::detail::emitSwizzledChunkOffset(OpBuilder &b, Location loc,
                                                  int64_t rowChunks, Value row,
                                                  Value chunk) {
  // Chunk c of row r goes to chunk c ^ (r & mask): the 8 rows of an
  // ldmatrix phase and the chunks of one row each hit all 32 banks. The
  // mask stays below the largest power of two dividing the row's chunks
  // (at most 8), so the XOR never leaves the row (12 chunks of int8 D = 192
  // swizzle within groups of 4).
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  int64_t swizzleMask = std::min<int64_t>(8, rowChunks & -rowChunks) - 1;
  Value physical = arith::XOrIOp::create(
      b, loc, chunk, arith::AndIOp::create(b, loc, row, c(swizzleMask)));
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, row, c(rowChunks * kChunkBytes)),
      arith::MulIOp::create(b, loc, physical, c(kChunkBytes)));
}

Value MmaSyncEngine::swizzledChunkOffset(int64_t rowChunks, Value row,
                                         Value chunk) {
  return emitSwizzledChunkOffset(b, loc, rowChunks, row, chunk);
}

std::array<Value, 4> MmaSyncEngine::loadSharedB(Value tileOffset,
                                                int64_t rowChunks, Value row,
                                                Value chunk, bool transpose) {
  Value ptr =
      sharedAt(ctx.sharedBase,
               add(tileOffset, swizzledChunkOffset(rowChunks, row, chunk)));
  return nb::loadMatrixX4(b, loc, ptr, transpose);
}

std::array<Value, 4> MmaSyncEngine::loadQueryFragment(int64_t mt, int64_t kk) {
  // Lane l addresses row l % 16 of the m-tile, chunk l / 16 of the k-step.
  int64_t chunks = ctx.qkRowBytes / kChunkBytes;
  Value warpRow = mul(ctx.warp, idx(ctx.shape.warpRows));
  if (mt != 0)
    warpRow = add(warpRow, idx(kRowsPerWarp * mt));
  Value row = add(warpRow, rem(ctx.lane, 16));
  Value chunk = add(idx(2 * kk), div(ctx.lane, 16));
  return nb::loadMatrixX4(
      b, loc,
      sharedAt(ctx.sharedBase,
               add(queryOffset, swizzledChunkOffset(chunks, row, chunk))),
      /*transpose=*/false);
}

void MmaSyncEngine::loadQuery(Value offset) {
  queryOffset = offset;
  if (ctx.precision.qkNvfp4) {
    // Lane 4 g + r + 2 t holds the scales of row g + 8 r of k64 step
    // 2 j + t in register j (thread-id-a t): rows past the sequence read
    // row 0, steps past the row the last.
    Value quadLane = rem(ctx.lane, 4);
    Value upperRow = cmp(arith::CmpIPredicate::eq, rem(quadLane, 2), idx(1));
    int64_t steps = numQueryKeySteps();
    int64_t rowWords = nvfp4ScaleBytes(ctx.headDim) / 4;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      Value token = select(
          upperRow,
          select(ctx.rowValid[2 * mt + 1], ctx.rowTokens[2 * mt + 1], idx(0)),
          select(ctx.rowValid[2 * mt], ctx.rowTokens[2 * mt], idx(0)));
      Value rowStart = i64Mul(scratchRow(ctx.batch, ctx.op.getNumQueryHeads(),
                                         ctx.head, ctx.seqQ, token),
                              toI64(idx(rowWords)));
      SmallVector<Value, 2> registers;
      for (int64_t j = 0; 2 * j < steps; ++j) {
        Value step = arith::MinUIOp::create(
            b, loc, add(idx(2 * j), div(quadLane, 2)), idx(steps - 1));
        registers.push_back(loadGlobal(
            b.getI32Type(),
            globalAt(param("q_scale"), i64Add(rowStart, toI64(step)), 4)));
      }
      queryScaleRegisters.push_back(std::move(registers));
    }
  }
  if (!queryInRegisters)
    return;
  for (int64_t kk = 0; kk < ctx.qkRowBytes / (2 * kChunkBytes); ++kk)
    queryFragments.push_back(loadQueryFragment(/*mt=*/0, kk));
}

Fragment MmaSyncEngine::computeScores(Value keyOffset) {
  // S = Q K^T: B fragments of keys 16jj..16jj+15 by ldmatrix.x4 (lane l
  // addresses key (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of the k-step).
  // A k-step is two 16-byte chunks of a row: k16 of f16/bf16, k32 of s8 or
  // e4m3, k64 of s4, with the same fragment addressing (the 8-bit A and B
  // layouts of m16n8k32 are the same for s8 and e4m3).
  const KernelPrecision &precision = ctx.precision;
  bool quantized = precision.quantizedQK();
  bool integerProducts = quantized && !precision.qkFloat8 && !precision.qkNvfp4;
  bool bf16 = ctx.elementType.isBF16();
  int64_t keyChunks = ctx.qkRowBytes / kChunkBytes;
  Value zero = integerProducts ? i32(0) : f32(0);
  Fragment scores(scoreFragmentLayout,
                  scoreFragmentLayout.numChunks(ctx.keys.tokens), zero);
  Value laneChunk = div(ctx.lane, 16);
  Value keyColumn = rem(ctx.lane, 8);
  Value keyChunk = rem(div(ctx.lane, 8), 2);
  // NVFP4: the B scale registers of each n8 chunk, per 4 k64 steps.
  SmallVector<SmallVector<Value, 2>> keyScales;
  if (precision.qkNvfp4)
    for (int64_t n = 0; n < scores.numChunks; ++n) {
      keyScales.emplace_back();
      for (int64_t j = 0; 4 * j < numQueryKeySteps(); ++j)
        keyScales.back().push_back(loadKeyScales(keyOffset, n, j));
    }
  for (int64_t kk = 0; kk < ctx.qkRowBytes / (2 * kChunkBytes); ++kk) {
    SmallVector<std::array<Value, 4>, 2> a;
    for (int64_t mt = 0; mt < mTiles; ++mt)
      a.push_back(queryInRegisters ? queryFragments[kk]
                                   : loadQueryFragment(mt, kk));
    for (int64_t jj = 0; jj < ctx.keys.tokens / 16; ++jj) {
      std::array<Value, 4> frag = loadSharedB(
          keyOffset, keyChunks, keyRow(2 * jj, laneChunk, keyColumn),
          add(idx(2 * kk), keyChunk), /*transpose=*/false);
      for (int64_t half = 0; half < 2; ++half) {
        std::array<Value, 2> bRegs = {frag[2 * half], frag[2 * half + 1]};
        int64_t n = 2 * jj + half;
        for (int64_t mt = 0; mt < mTiles; ++mt) {
          MutableArrayRef<Value> c(&scores.values[fragmentStart(mt, n)], 4);
          std::array<Value, 4> d =
              precision.qkNvfp4
                  ? nb::mmaM16N8K64Nvfp4(b, loc, a[mt], bRegs, c,
                                         queryScaleRegisters[mt][kk / 2],
                                         kk % 2, keyScales[n][kk / 4], kk % 4,
                                         ctx.target.emulatedBlockScaledMma)
              : precision.qkFloat8
                  ? nb::mmaM16N8K32E4M3(b, loc, a[mt], bRegs, c, fp8Kind())
              : quantized
                  ? nb::mmaInteger(b, loc, precision.qkBits, a[mt], bRegs, c)
                  : nb::mmaM16N8K16(b, loc, bf16, a[mt], bRegs, c);
          llvm::copy(d, c.begin());
        }
      }
    }
  }
  return scores;
}

SmallVector<Value> MmaSyncEngine::initOutput() {
  if (f16Accumulator()) {
    Value zero = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(VectorType::get({2}, b.getF16Type()),
                               b.getF16FloatAttr(0).getValue()));
    return SmallVector<Value>(numValueChunks() * fragmentLayout.rowSlots, zero);
  }
  return SmallVector<Value>(
      numValueChunks() * fragmentLayout.elementsPerChunk(), f32(0));
}

void MmaSyncEngine::rescaleOutput(MutableArrayRef<Value> output, int64_t slot,
                                  Value alpha) {
  if (f16Accumulator()) {
    // Two f16 pairs per n8 chunk: rows g and g + 8.
    Type half2 = VectorType::get({2}, b.getF16Type());
    Value alpha2 = vector::BroadcastOp::create(
        b, loc, half2, arith::TruncFOp::create(b, loc, b.getF16Type(), alpha));
    for (int64_t n = 0; n < numValueChunks(); ++n) {
      Value &pair = output[halfPairIndex(n, slot)];
      pair = mulF(pair, alpha2);
    }
    return;
  }
  for (int64_t n = 0; n < numValueChunks(); ++n)
    for (int64_t c = 0; c < 2; ++c) {
      Value &o = output[fragmentLayout.index(n, slot, c)];
      o = mulF(o, alpha);
    }
}

Value MmaSyncEngine::loadKeyScales(Value keyOffset, int64_t chunk, int64_t j) {
  // Lane 4 c + t holds the scales of column c (key keyRow(chunk, c)) for
  // k64 step 4 j + t (thread-id-b t); steps past the row read the last.
  Value column = div(ctx.lane, 4);
  Value step = arith::MinUIOp::create(b, loc, add(idx(4 * j), rem(ctx.lane, 4)),
                                      idx(numQueryKeySteps() - 1));
  Value key = keyRow(chunk - chunk % 2, idx(chunk % 2), column);
  int64_t rowBytes = nvfp4ScaleBytes(ctx.headDim);
  Value offset =
      add(add(keyOffset, idx(nvfp4ScaleStart(ctx.keys.tokens, ctx.qkRowBytes))),
          add(mul(key, idx(rowBytes)), mul(step, idx(4))));
  return LLVM::LoadOp::create(b, loc, b.getI32Type(),
                              sharedAt(ctx.sharedBase, offset));
}

void MmaSyncEngine::accumulateValues(MutableArrayRef<Value> output,
                                     const Fragment &p, Value valueOffset) {
  if (ctx.precision.fp8Value())
    return accumulateValuesFp8(output, p, valueOffset);
  if (ctx.precision.fp4Value())
    return accumulateValuesNvfp4(output, p, valueOffset);
  // O += P V: P's A fragment is the S accumulator of two n8 tiles; V's B
  // fragments by ldmatrix.x4.trans (lane l addresses key (l % 8) +
  // 8 ((l / 8) % 2), chunk l / 16 of the 16 columns).
  bool bf16 = ctx.pvType.isBF16();
  int64_t valueChunks = ctx.valueDim * byteWidth(ctx.pvType) / kChunkBytes;
  Value valueRow = add(rem(ctx.lane, 8), mul(rem(div(ctx.lane, 8), 2), idx(8)));
  Value valueChunk = div(ctx.lane, 16);
  for (int64_t kk = 0; kk < ctx.keys.tokens / 16; ++kk) {
    SmallVector<std::array<Value, 4>, 2> a;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      ArrayRef<Value> t0(&p.values[fragmentStart(mt, 2 * kk)], 4),
          t1(&p.values[fragmentStart(mt, 2 * kk + 1)], 4);
      a.push_back({nb::packPair(b, loc, ctx.pvType, t0[0], t0[1]),
                   nb::packPair(b, loc, ctx.pvType, t0[2], t0[3]),
                   nb::packPair(b, loc, ctx.pvType, t1[0], t1[1]),
                   nb::packPair(b, loc, ctx.pvType, t1[2], t1[3])});
    }
    for (int64_t dd = 0; dd < ctx.valueDim / 16; ++dd) {
      std::array<Value, 4> frag =
          loadSharedB(valueOffset, valueChunks, add(idx(16 * kk), valueRow),
                      add(idx(2 * dd), valueChunk), /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half) {
        int64_t n = 2 * dd + half;
        std::array<Value, 2> bRegs = {frag[2 * half], frag[2 * half + 1]};
        for (int64_t mt = 0; mt < mTiles; ++mt) {
          if (f16Accumulator()) {
            Value &low = output[halfPairIndex(n, 2 * mt)];
            Value &high = output[halfPairIndex(n, 2 * mt + 1)];
            std::array<Value, 2> d =
                nb::mmaM16N8K16F16Accumulate(b, loc, a[mt], bRegs, {low, high});
            low = d[0];
            high = d[1];
          } else {
            MutableArrayRef<Value> c = output.slice(fragmentStart(mt, n), 4);
            llvm::copy(nb::mmaM16N8K16(b, loc, bf16, a[mt], bRegs, c),
                       c.begin());
          }
        }
      }
    }
  }
}

void MmaSyncEngine::accumulateValuesFp8(MutableArrayRef<Value> output,
                                        const Fragment &p, Value valueOffset) {
  // Per 32 keys, n8 tiles T0..T3; the A registers are, byte 0 first,
  // r0 = [T0.c0, T0.c1, T1.c0, T1.c1], r1 = the same of c2, c3 (row g + 8),
  // r2, r3 the same of T2, T3 (FragmentLayouts.md, FP8 P.V). P is already
  // times 448 (OnlineSoftmax::probabilityScale).
  auto pack = [&](ArrayRef<Value> lowTile, ArrayRef<Value> highTile,
                  int64_t e) {
    Value low = nb::packE4M3Pair(b, loc, lowTile[e], lowTile[e + 1]);
    Value high = nb::packE4M3Pair(b, loc, highTile[e], highTile[e + 1]);
    Type i32Type = b.getI32Type();
    Value wideHigh = arith::ShLIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, i32Type, high),
        arith::ConstantIntOp::create(b, loc, i32Type, 16));
    return arith::OrIOp::create(
        b, loc, arith::ExtUIOp::create(b, loc, i32Type, low), wideHigh);
  };
  int64_t rowChunks = ctx.keys.tokens / kChunkBytes;
  for (int64_t kk = 0; kk < ctx.keys.tokens / 32; ++kk) {
    SmallVector<std::array<Value, 4>, 2> a;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      auto tile = [&](int64_t j) {
        return ArrayRef<Value>(&p.values[fragmentStart(mt, 4 * kk + j)], 4);
      };
      a.push_back({pack(tile(0), tile(1), 0), pack(tile(0), tile(1), 2),
                   pack(tile(2), tile(3), 0), pack(tile(2), tile(3), 2)});
    }
    forEachTransposedValueChunk(
        valueOffset, rowChunks, kk, [&](int64_t n, ArrayRef<Value> bRegs) {
          for (int64_t mt = 0; mt < mTiles; ++mt) {
            MutableArrayRef<Value> c = output.slice(fragmentStart(mt, n), 4);
            llvm::copy(nb::mmaM16N8K32E4M3(b, loc, a[mt], bRegs, c, fp8Kind()),
                       c.begin());
          }
        });
  }
}

void MmaSyncEngine::forEachTransposedValueChunk(
    Value valueOffset, int64_t rowChunks, int64_t kk,
    function_ref<void(int64_t, ArrayRef<Value>)> fn) {
  // Lane l addresses channel (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of
  // the k-step: registers 0, 1 are the B of channels 0-7, 2, 3 of 8-15.
  Value channelRow = add(rem(ctx.lane, 8), mul(div(ctx.lane, 16), idx(8)));
  Value chunkOfLane = rem(div(ctx.lane, 8), 2);
  for (int64_t dd = 0; dd < ctx.valueDim / 16; ++dd) {
    std::array<Value, 4> frag =
        loadSharedB(valueOffset, rowChunks, add(idx(16 * dd), channelRow),
                    add(idx(2 * kk), chunkOfLane), /*transpose=*/false);
    for (int64_t half = 0; half < 2; ++half)
      fn(2 * dd + half, {frag[2 * half], frag[2 * half + 1]});
  }
}

void MmaSyncEngine::accumulateValuesNvfp4(MutableArrayRef<Value> output,
                                          const Fragment &p,
                                          Value valueOffset) {
  // SEMANTICS.md section 3, NVFP4 P: per row, the tile's largest p maps to
  // 6 * 448 (an f32 row scale); each 16 keys share the E4M3 scale of their
  // largest scaled value / 6; values are E2M1. With S interleaved
  // (scoreLayout), lane l's registers of row slot s hold keys
  // 64 kk + 32 h + 8 l + (0..7) in chunks 8 kk + 4 h + (0..3): block
  // 4 kk + 2 h + l / 2, shared with lane l ^ 1 (docs/design/Nvfp4Kernels.md).
  const FragmentLayout &layout = scoreFragmentLayout;
  bool emulate = ctx.target.emulatedBlockScaledMma;
  Type i32Type = b.getI32Type();
  auto i32c = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, loc, i32Type, v);
  };
  auto maxF = [&](Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y).getResult();
  };
  auto quadMax = [&](Value v, ArrayRef<int64_t> masks) {
    for (int64_t mask : masks)
      v = maxF(v, nb::shuffleXor(b, loc, v, mask));
    return v;
  };
  // Row scales (and their inverses; 0 for rows whose tile P is all zero).
  int64_t numChunks = layout.numChunks(ctx.keys.tokens);
  SmallVector<Value, 4> rowScales, inverseRowScales;
  for (int64_t slot = 0; slot < layout.rowSlots; ++slot) {
    Value rowMax = f32(0);
    for (int64_t n = 0; n < numChunks; ++n)
      for (int64_t c = 0; c < layout.columnsPerThread; ++c)
        rowMax = maxF(rowMax, p.at(layout, n, slot, c));
    rowMax = quadMax(rowMax, layout.rowPeerLanes);
    Value scale = arith::DivFOp::create(b, loc, rowMax, f32(6.0 * 448.0));
    Value positive =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, scale, f32(0));
    rowScales.push_back(scale);
    inverseRowScales.push_back(
        select(positive, arith::DivFOp::create(b, loc, f32(1), scale), f32(0)));
  }
  Value quadLane = rem(ctx.lane, 4);
  Value laneBlock = div(quadLane, 2);
  Value upperRowLane = cmp(arith::CmpIPredicate::eq, rem(quadLane, 2), idx(1));
  int64_t rowChunks = ctx.keys.tokens / 2 / kChunkBytes;
  int64_t scaleRowBytes = nvfp4ScaleBytes(ctx.keys.tokens);
  Value scaleStart =
      add(valueOffset, idx(nvfp4ScaleStart(ctx.valueDim, ctx.keys.tokens / 2)));
  for (int64_t kk = 0; kk < ctx.keys.tokens / 64; ++kk) {
    // P's A registers and scale register of each m-tile.
    SmallVector<std::array<Value, 4>, 2> a(mTiles);
    SmallVector<Value, 2> aScales;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      // scaleBytes[r][h]: this lane's scale byte of block 2 h + l / 2 of
      // row g + 8 r.
      std::array<std::array<Value, 2>, 2> scaleBytes;
      for (int64_t reg = 0; reg < 4; ++reg) {
        int64_t r = reg % 2, h = reg / 2, slot = 2 * mt + r;
        SmallVector<Value, 8> scaled;
        Value localMax = f32(0);
        for (int64_t m = 0; m < 4; ++m)
          for (int64_t c = 0; c < 2; ++c) {
            Value x = mulF(p.at(layout, 8 * kk + 4 * h + m, slot, c),
                           inverseRowScales[slot]);
            scaled.push_back(x);
            localMax = maxF(localMax, x);
          }
        Value blockMax = quadMax(localMax, {1});
        // E4M3(max / 6), 1 for an all-zero block; values of a block whose
        // scale rounds to 0 are 0.
        Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                             blockMax, f32(0));
        Value byte = select(
            isZero, i32c(0x38),
            nb::encodeE4M3(b, loc,
                           arith::DivFOp::create(b, loc, blockMax, f32(6))));
        Value scale = nb::decodeE4M3(b, loc, byte);
        Value inverse =
            select(arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                         scale, f32(0)),
                   arith::DivFOp::create(b, loc, f32(1), scale), f32(0));
        scaleBytes[r][h] = byte;
        Value packed = i32c(0);
        for (int64_t e = 0; e < 4; ++e) {
          Value pair =
              nb::packE2M1Pair(b, loc, mulF(scaled[2 * e], inverse),
                               mulF(scaled[2 * e + 1], inverse), emulate);
          packed = arith::OrIOp::create(
              b, loc, packed,
              arith::ShLIOp::create(
                  b, loc, arith::ExtUIOp::create(b, loc, i32Type, pair),
                  i32c(8 * e)));
        }
        a[mt][reg] = packed;
      }
      // The A scale register (thread-id-a 0): lane 4 g + r holds row
      // g + 8 r's four bytes; this lane has bytes l / 2 and 2 + l / 2 of
      // both rows, lane l ^ 2 the other two.
      auto partOf = [&](int64_t r) {
        Value shift =
            arith::IndexCastOp::create(b, loc, i32Type, mul(laneBlock, idx(8)));
        Value low = arith::ShLIOp::create(b, loc, scaleBytes[r][0], shift);
        Value high = arith::ShLIOp::create(
            b, loc, scaleBytes[r][1],
            arith::AddIOp::create(b, loc, shift, i32c(16)));
        return arith::OrIOp::create(b, loc, low, high).getResult();
      };
      Value mine = select(upperRowLane, partOf(1), partOf(0));
      aScales.push_back(
          arith::OrIOp::create(b, loc, mine, nb::shuffleXor(b, loc, mine, 2)));
    }
    forEachTransposedValueChunk(
        valueOffset, rowChunks, kk, [&](int64_t n, ArrayRef<Value> bRegs) {
          // Lane 4 c (thread-id-b 0) holds channel 8 n + c's scales of k64
          // step kk; the quad's other lanes read the same word.
          Value channel = add(idx(8 * n), div(ctx.lane, 4));
          Value bScales = LLVM::LoadOp::create(
              b, loc, i32Type,
              sharedAt(ctx.sharedBase,
                       add(scaleStart, add(mul(channel, idx(scaleRowBytes)),
                                           idx(4 * kk)))));
          for (int64_t mt = 0; mt < mTiles; ++mt) {
            std::array<Value, 4> tile = nb::mmaM16N8K64Nvfp4(
                b, loc, a[mt], bRegs, {f32(0), f32(0), f32(0), f32(0)},
                aScales[mt], 0, bScales, 0, emulate);
            MutableArrayRef<Value> o = output.slice(fragmentStart(mt, n), 4);
            for (int64_t e = 0; e < 4; ++e)
              o[e] = nb::fma(b, loc, tile[e], rowScales[2 * mt + e / 2], o[e]);
          }
        });
  }
}

void MmaSyncEngine::addOutput(MutableArrayRef<Value> output,
                              ArrayRef<Value> tile) {
  for (auto [o, t] : llvm::zip_equal(output, tile))
    o = addF(o, t);
}

Fragment MmaSyncEngine::readOutput(ValueRange output) {
  Fragment o;
  o.numChunks = numValueChunks();
  if (!f16Accumulator()) {
    o.values.assign(output.begin(), output.end());
    return o;
  }
  for (int64_t n = 0; n < numValueChunks(); ++n)
    for (int64_t slot = 0; slot < fragmentLayout.rowSlots; ++slot)
      for (int64_t c = 0; c < 2; ++c)
        o.values.push_back(toF32(vector::ExtractOp::create(
            b, loc, output[halfPairIndex(n, slot)], c)));
  return o;
}

ValueOperandLayout MmaSyncEngine::valueLayout() const {
  if (ctx.precision.fp4Value())
    return ValueOperandLayout::TransposedNvfp4;
  return ctx.precision.fp8Value() ? ValueOperandLayout::TransposedPermutedFp8
                                  : ValueOperandLayout::KeyMajor;
}
