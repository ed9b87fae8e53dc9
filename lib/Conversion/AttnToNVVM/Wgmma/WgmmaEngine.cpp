//===- WgmmaEngine.cpp - the warpgroup wgmma engine (sm_90a) --------------===//
//
// Fragment layouts: docs/design/FragmentLayouts.md (the wgmma m64nN
// accumulator is mma.sync's C layout with rows + 16 (warp % 4), and P's
// register A operand is packed from it as mma.sync's is). Descriptor
// encodings: docs/design/WgmmaKernel.md, each checked on an H100 by
// utils/probes/wgmma_value_layout.cu.
//
//===----------------------------------------------------------------------===//

#include "WgmmaEngine.h"

#include "WgmmaIntrinsics.h"

#include "../Common/NvvmIntrinsics.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Bytes of one swizzled chunk, and of the widest swizzle (and TMA box
/// row) wgmma reads.
static constexpr int64_t kChunkBytes = 16;
static constexpr int64_t kMaxSwizzleBytes = 128;

/// The swizzle span of a staged tile's rows: 32, 64 or 128 bytes (wider
/// rows are slabs of 128).
static int64_t swizzleBytes(int64_t rowBytes) {
  return std::min(rowBytes, kMaxSwizzleBytes);
}

/// Rows the kernel stages: whole 128-byte slabs. The layout and the
/// descriptors also describe 32- and 64-byte rows (their swizzle modes),
/// which have not run on a GPU: such head dims take the mma.sync kernel.
static bool isStageableRow(int64_t rowBytes) {
  return rowBytes > 0 && rowBytes % kMaxSwizzleBytes == 0;
}

WgmmaEngine::WgmmaEngine(OpBuilder &b, Location loc,
                         const KernelSignature &signature,
                         AttentionKernelContext &context)
    : MmaEngine(b, loc, signature, context),
      fragmentLayout{/*rowSlots=*/2, /*chunkColumns=*/8,
                     /*columnsPerThread=*/2, /*rowPeerLanes=*/{1, 2}} {}

LogicalResult WgmmaEngine::verify(AttentionOp op, const KernelShape &shape,
                                  const KernelPrecision &precision) {
  int64_t queryTokens = 1, keyTokens = 1;
  for (int64_t s : shape.queryShape)
    queryTokens *= s;
  for (int64_t s : shape.keyShape)
    keyTokens *= s;
  auto refuse = [&]() {
    return op.emitOpError() << "attn-lower-to-gpu: the wgmma kernel ";
  };
  MmaOperands operands;
  operands.qkBits = precision.quantizedQK() ? precision.qkBits : 16;
  operands.fp8Value = precision.fp8Value();
  operands.nvfp4 = precision.blockScaled();
  operands.f16Accumulation = precision.accumulation == Accumulation::F16;
  operands.headDim = getStagedHeadDim(op.getHeadDim());
  operands.valueDim = getStagedHeadDim(op.getValueHeadDim());
  std::string operandRefusal = getMmaOperandRefusal(MmaFamily::Wgmma, operands);
  if (!operandRefusal.empty())
    return refuse() << operandRefusal;
  if (shape.stages < 2 || shape.stages > 4)
    return refuse() << "takes stages = 2, 3 or 4, got " << shape.stages;
  if (shape.warpRows != 16)
    return refuse() << "takes no warp-rows option (a warpgroup holds 64 "
                       "query rows), got warp-rows = "
                    << shape.warpRows;
  // A third consumer warpgroup would leave each 160 registers after the
  // producer's share: too few for S, O and P.
  if (queryTokens != kWarpgroupRows && queryTokens != 2 * kWarpgroupRows)
    return refuse() << "needs query tiles of 64 or 128 tokens (one "
                       "warpgroup per 64 rows), got "
                    << queryTokens;
  if (keyTokens % 16 != 0 || keyTokens > 256)
    return refuse() << "needs key tiles of a multiple of 16 tokens of at "
                       "most 256, got "
                    << keyTokens;
  // V^T rows of FP8 P.V are the key tile's bytes.
  if (precision.fp8Value() && !isStageableRow(keyTokens))
    return refuse() << "with FP8 P.V needs key tiles of a multiple of 128 "
                       "tokens (V^T rows of whole 128-byte slabs), got "
                    << keyTokens;
  return success();
}

int64_t WgmmaEngine::numThreads() const {
  return ctx.queries.tokens / kWarpgroupRows * kWarpgroupThreads;
}

int64_t WgmmaEngine::minimumRegisters() const {
  // O (Dv / 2 f32), S of one key tile (keys / 2 f32) and P's A registers
  // (keys / 4 b32) per thread.
  return ctx.valueDim / 2 + ctx.keys.tokens / 2 + ctx.keys.tokens / 4;
}

int64_t WgmmaEngine::stagedTileAlignment() const {
  // A 128-byte swizzle repeats every 8 rows of 128 bytes; descriptors
  // assume tiles start on that period (matrix base offset 0).
  return 8 * kMaxSwizzleBytes;
}

int64_t WgmmaEngine::stagedSlabBytes(int64_t rowBytes) const {
  return swizzleBytes(rowBytes);
}

Value WgmmaEngine::warpgroup() {
  // Warp-uniform (lane 0's value) where that measured better: ptxas keeps
  // what derives from a broadcast value (Q's descriptors, the turn
  // barriers) in uniform registers. A persistent grid needs it (its unit
  // loop runs inside the consumers' branch on the thread index; without it
  // the 2-D neighborhood kernel spilled 308 bytes), and the 8-bit kernels
  // (cp.async pipeline) ran 2-6 % faster with it on an H100; the 16-bit
  // kernel with one block per unit ran dense about 5 % slower with it, so
  // it keeps the plain division (bench/RESULTS.md, 2026-12-06).
  const KernelPrecision &precision = ctx.precision;
  if (!ctx.persistentGrid && !precision.quantizedQK() && !precision.fp8Value())
    return div(ctx.warp, kWarpgroupThreads / 32);
  return toIndex(nb::broadcastFirstLane(
      b, loc,
      arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                 div(ctx.tid, kWarpgroupThreads))));
}

FragmentPlacement WgmmaEngine::placeThread() {
  // Warpgroup w's rows are 64 w + 16 (warp % 4) + g (+ 8): 16 warp + g.
  FragmentPlacement placement;
  Value g = div(ctx.lane, 4);
  for (int64_t slot = 0; slot < fragmentLayout.rowSlots; ++slot)
    placement.rows.push_back(
        add(mul(ctx.warp, idx(16)), add(g, idx(8 * slot))));
  return placement;
}

Value WgmmaEngine::columnOffset() { return quadColumnOffset(); }

Value WgmmaEngine::isRowLeader() { return isQuadLeader(); }

Value WgmmaEngine::stagedChunkOffset(int64_t rows, int64_t rowChunks, Value row,
                                     Value chunk) {
  return emitWgmmaChunkOffset(b, loc, rows, rowChunks, row, chunk);
}

Value WgmmaEngine::tileDescriptor(Value tileOffset, int64_t rows,
                                  int64_t rowBytes, bool mnMajor) {
  return emitWgmmaTileDescriptor(b, loc, sharedAt(ctx.sharedBase, tileOffset),
                                 rows, rowBytes, mnMajor);
}

int64_t mlir::attn::detail::getWgmmaSwizzleBytes(int64_t rowBytes) {
  return swizzleBytes(rowBytes);
}

Value mlir::attn::detail::emitWgmmaChunkOffset(OpBuilder &b, Location loc,
                                               int64_t rows, int64_t rowChunks,
                                               Value row, Value chunk) {
  // Slab s = chunk / (span / 16) holds [rows][span]; chunk c of row r sits
  // at c ^ ((r * span / 128) % (span / 16)), the address bits 4.. XOR bits
  // 7.. pattern of the TMA's and wgmma's swizzle modes.
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  int64_t span = swizzleBytes(rowChunks * kChunkBytes);
  int64_t spanChunks = span / kChunkBytes;
  Value slab = arith::DivUIOp::create(b, loc, chunk, c(spanChunks));
  Value within = arith::RemUIOp::create(b, loc, chunk, c(spanChunks));
  Value phase = arith::RemUIOp::create(
      b, loc,
      arith::DivUIOp::create(b, loc,
                             arith::MulIOp::create(b, loc, row, c(span)),
                             c(kMaxSwizzleBytes)),
      c(spanChunks));
  Value physical = arith::XOrIOp::create(b, loc, within, phase);
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, slab, c(rows * span)),
      arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, row, c(span)),
          arith::MulIOp::create(b, loc, physical, c(kChunkBytes))));
}

Value mlir::attn::detail::emitWgmmaTileDescriptor(OpBuilder &b, Location loc,
                                                  Value tileAddress,
                                                  int64_t rows,
                                                  int64_t rowBytes,
                                                  bool mnMajor) {
  // Bits 0-13: start address / 16; 16-29: leading byte offset / 16; 32-45:
  // stride byte offset / 16; 62-63: swizzle (1: 128 B, 2: 64 B, 3: 32 B).
  // K-major: the stride is the 8-row period (the leading offset is unused
  // under a swizzle). MN-major: the stride is still the 8-row (K) period,
  // the leading offset the step between slabs (MN atoms).
  int64_t span = swizzleBytes(rowBytes);
  int64_t swizzleMode = span == 128 ? 1 : span == 64 ? 2 : 3;
  int64_t leading = mnMajor ? rows * span : kChunkBytes;
  int64_t stride = 8 * span;
  uint64_t fixed = (static_cast<uint64_t>(leading >> 4) << 16) |
                   (static_cast<uint64_t>(stride >> 4) << 32) |
                   (static_cast<uint64_t>(swizzleMode) << 62);
  Type i64 = b.getI64Type();
  Value address = tileAddress;
  if (!address.getType().isInteger(64))
    address = LLVM::PtrToIntOp::create(b, loc, i64, tileAddress);
  auto c64 = [&](uint64_t v) {
    return arith::ConstantIntOp::create(b, loc, i64, static_cast<int64_t>(v));
  };
  Value start = arith::ShRUIOp::create(
      b, loc, arith::AndIOp::create(b, loc, address, c64(0x3FFFF)), c64(4));
  return arith::OrIOp::create(b, loc, start, c64(fixed));
}

Value mlir::attn::detail::addToWgmmaDescriptor(OpBuilder &b, Location loc,
                                               Value descriptor,
                                               int64_t byteOffset) {
  // The start address field is the low 14 bits and shared addresses stay
  // below 2^18 bytes, so adding offset / 16 never carries out of it.
  if (byteOffset == 0)
    return descriptor;
  return arith::AddIOp::create(
      b, loc, descriptor,
      arith::ConstantIntOp::create(b, loc, b.getI64Type(), byteOffset >> 4));
}

bool WgmmaEngine::pingPong() const {
  return ctx.queries.tokens == 2 * kWarpgroupRows;
}

/// Named barrier of warpgroup w's turn to issue (0 is the block barrier).
static Value issueBarrier(OpBuilder &b, Location loc, Value warpgroup) {
  return arith::AddIOp::create(
      b, loc, arith::IndexCastOp::create(b, loc, b.getI32Type(), warpgroup),
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), 1));
}

void WgmmaEngine::beginIssue() {
  // Wait for this warpgroup's turn (both warpgroups count: 256 threads).
  if (pingPong())
    nb::namedBarrier(b, loc, /*arriveOnly=*/false,
                     issueBarrier(b, loc, warpgroup()), 2 * kWarpgroupThreads);
}

void WgmmaEngine::endIssue() {
  // Hand the turn to the other warpgroup.
  if (pingPong())
    nb::namedBarrier(b, loc, /*arriveOnly=*/true,
                     issueBarrier(b, loc, sub(idx(1), warpgroup())),
                     2 * kWarpgroupThreads);
}

void WgmmaEngine::endIssueOrder() {
  // Warpgroup 1's first-turn arrival leaves warpgroup 0's barrier one
  // arrival ahead: warpgroup 0 takes that last turn, so no barrier is
  // left half-arrived when the block exits.
  if (pingPong())
    firstTurnBarrier(/*onWarpgroup=*/0, /*arriveOnly=*/false);
}

void WgmmaEngine::firstTurnBarrier(int64_t onWarpgroup, bool arriveOnly) {
  auto ifThis = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, warpgroup(), idx(onWarpgroup)),
      false);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifThis.thenBlock());
  nb::namedBarrier(b, loc, arriveOnly, issueBarrier(b, loc, idx(0)),
                   2 * kWarpgroupThreads);
}

void WgmmaEngine::loadQuery(Value queryOffset) {
  // This warpgroup's 64 rows of every slab.
  int64_t span = swizzleBytes(ctx.qkRowBytes);
  queryDescriptor = tileDescriptor(
      add(queryOffset, mul(warpgroup(), idx(kWarpgroupRows * span))),
      ctx.queries.tokens, ctx.qkRowBytes, /*mnMajor=*/false);
}

void WgmmaEngine::beginIssueOrder() {
  // Warpgroup 0 issues first: warpgroup 1 gives it the first turn.
  if (pingPong())
    firstTurnBarrier(/*onWarpgroup=*/1, /*arriveOnly=*/true);
}

SmallVector<Value> WgmmaEngine::issueScores(Value keyOffset) {
  // S = Q K^T: one m64nNk16 (16-bit) or m64nNk32 (s8 with s32
  // accumulators, e4m3 with f32) per 32 bytes of the rows, N = the key
  // tile.
  int64_t keys = ctx.keys.tokens;
  int64_t span = swizzleBytes(ctx.qkRowBytes);
  Value keyDescriptor =
      tileDescriptor(keyOffset, keys, ctx.qkRowBytes, /*mnMajor=*/false);
  StringRef type = ctx.precision.qkFloat8        ? "e4m3"
                   : ctx.precision.quantizedQK() ? "s8"
                   : ctx.elementType.isBF16()    ? "bf16"
                                                 : "f16";
  nb::wgmmaFence(b, loc);
  SmallVector<Value> scores;
  for (int64_t kk = 0; kk < ctx.qkRowBytes / kWgmmaStepBytes; ++kk) {
    int64_t slab = kk * kWgmmaStepBytes / span,
            within = kk * kWgmmaStepBytes % span;
    Value a = addToWgmmaDescriptor(b, loc, queryDescriptor,
                                   slab * ctx.queries.tokens * span + within);
    Value bDesc = addToWgmmaDescriptor(b, loc, keyDescriptor,
                                       slab * keys * span + within);
    scores = nb::wgmmaAsync(b, loc, keys, type, a, bDesc,
                            /*transposeB=*/false, scores);
  }
  nb::wgmmaCommit(b, loc);
  return scores;
}

Fragment WgmmaEngine::waitScores(ArrayRef<Value> pending,
                                 int64_t groupsInFlight) {
  Fragment fragment;
  fragment.numChunks = fragmentLayout.numChunks(ctx.keys.tokens);
  fragment.values = nb::wgmmaWait(b, loc, pending, {}, groupsInFlight);
  return fragment;
}

Fragment WgmmaEngine::computeScores(Value keyOffset) {
  return waitScores(issueScores(keyOffset), 0);
}

SmallVector<Value> WgmmaEngine::initOutput() {
  return SmallVector<Value>(fragmentLayout.numChunks(ctx.valueDim) *
                                fragmentLayout.elementsPerChunk(),
                            f32(0));
}

void WgmmaEngine::rescaleOutput(MutableArrayRef<Value> output, int64_t slot,
                                Value alpha) {
  for (int64_t n = 0; n < fragmentLayout.numChunks(ctx.valueDim); ++n)
    for (int64_t c = 0; c < fragmentLayout.columnsPerThread; ++c) {
      Value &o = output[fragmentLayout.index(n, slot, c)];
      o = mulF(o, alpha);
    }
}

SmallVector<Value> WgmmaEngine::packProbabilities(const Fragment &p) {
  SmallVector<Value> registers;
  if (ctx.precision.fp8Value()) {
    // Per 32 keys (chunks T0..T3), P (already times 448: OnlineSoftmax) in
    // E4M3, byte 0 first:
    // r0 = [T0.c0, T0.c1, T1.c0, T1.c1] of row g, r1 the same of row g + 8,
    // r2, r3 the same of T2, T3: the k32 A layout under the key relabel the
    // pre-kernel applies to V^T (docs/design/FragmentLayouts.md, FP8 P.V).
    Type i32Type = b.getI32Type();
    auto pack = [&](int64_t lowChunk, int64_t highChunk, int64_t slot) {
      auto pair = [&](int64_t chunk) {
        return arith::ExtUIOp::create(
            b, loc, i32Type,
            nb::packE4M3Pair(b, loc, p.at(fragmentLayout, chunk, slot, 0),
                             p.at(fragmentLayout, chunk, slot, 1)));
      };
      Value high = arith::ShLIOp::create(
          b, loc, pair(highChunk),
          arith::ConstantIntOp::create(b, loc, i32Type, 16));
      return arith::OrIOp::create(b, loc, pair(lowChunk), high).getResult();
    };
    for (int64_t kk = 0; kk < ctx.keys.tokens / 32; ++kk)
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t slot = 0; slot < 2; ++slot)
          registers.push_back(
              pack(4 * kk + 2 * half, 4 * kk + 2 * half + 1, slot));
    return registers;
  }
  // 16-bit P's A registers are the S accumulator, packed in place.
  return packAccumulatorAsA(
      fragmentLayout, p, ctx.keys.tokens, [&](Value low, Value high) {
        return nb::packPair(b, loc, ctx.pvType, low, high);
      });
}

void WgmmaEngine::issueValues(MutableArrayRef<Value> output,
                              ArrayRef<Value> packedP, Value valueOffset) {
  nb::wgmmaFence(b, loc);
  SmallVector<Value> acc(output.begin(), output.end());
  if (ctx.precision.fp8Value()) {
    // FP8: V^T [Dv channels][key slots] is K-major (N = Dv rows of key
    // bytes); one m64nDvk32 per 32 keys, 32 bytes along the rows.
    int64_t rowBytes = ctx.keys.tokens;
    int64_t span = swizzleBytes(rowBytes);
    Value transposed = tileDescriptor(valueOffset, ctx.valueDim, rowBytes,
                                      /*mnMajor=*/false);
    for (int64_t kk = 0; kk < ctx.keys.tokens / 32; ++kk) {
      int64_t slab = kk * kWgmmaStepBytes / span,
              within = kk * kWgmmaStepBytes % span;
      acc = nb::wgmmaAsync(
          b, loc, ctx.valueDim, "e4m3", packedP.slice(4 * kk, 4),
          addToWgmmaDescriptor(b, loc, transposed,
                               slab * ctx.valueDim * span + within),
          /*transposeB=*/false, acc);
    }
  } else {
    // 16-bit: V's 16 rows per step read MN-major (N = Dv over its slabs).
    int64_t valueRowBytes = ctx.valueDim * 2;
    int64_t span = swizzleBytes(valueRowBytes);
    Value valueDescriptor = tileDescriptor(valueOffset, ctx.keys.tokens,
                                           valueRowBytes, /*mnMajor=*/true);
    StringRef type = ctx.pvType.isBF16() ? "bf16" : "f16";
    for (int64_t kk = 0; kk < ctx.keys.tokens / 16; ++kk)
      acc = nb::wgmmaAsync(
          b, loc, ctx.valueDim, type, packedP.slice(4 * kk, 4),
          addToWgmmaDescriptor(b, loc, valueDescriptor, 16 * kk * span),
          /*transposeB=*/true, acc);
  }
  nb::wgmmaCommit(b, loc);
  llvm::copy(acc, output.begin());
}

void WgmmaEngine::waitValues(MutableArrayRef<Value> output,
                             ArrayRef<Value> packedP) {
  SmallVector<Value> acc(output.begin(), output.end());
  llvm::copy(nb::wgmmaWait(b, loc, acc, packedP, /*groupsInFlight=*/0),
             output.begin());
}

void WgmmaEngine::accumulateValues(MutableArrayRef<Value> output,
                                   const Fragment &p, Value valueOffset) {
  SmallVector<Value> packed = packProbabilities(p);
  issueValues(output, packed, valueOffset);
  waitValues(output, packed);
}

void WgmmaEngine::addOutput(MutableArrayRef<Value> output,
                            ArrayRef<Value> tile) {
  for (auto [o, t] : llvm::zip_equal(output, tile))
    o = addF(o, t);
}

Fragment WgmmaEngine::readOutput(ValueRange output) {
  Fragment o;
  o.numChunks = fragmentLayout.numChunks(ctx.valueDim);
  o.values.assign(output.begin(), output.end());
  return o;
}
