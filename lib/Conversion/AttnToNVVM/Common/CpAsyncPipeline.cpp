//===- CpAsyncPipeline.cpp - cp.async stages of K and V -------------------===//

#include "CpAsyncPipeline.h"

#include "CpAsyncIntrinsics.h"
#include "NvvmIntrinsics.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Bytes of one cp.async of a row chunk.
static constexpr int64_t kChunkBytes = 16;

void CpAsyncPipeline::forEachItem(int64_t count,
                                  function_ref<void(Value)> copy) {
  int64_t numThreads = engine.numThreads();
  for (int64_t first = 0; first < count; first += numThreads) {
    Value item = add(ctx.tid, idx(first));
    if (first + numThreads <= count) {
      copy(item);
      continue;
    }
    auto guard = scf::IfOp::create(b, loc, lt(item, idx(count)),
                                   /*withElse=*/false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(guard.thenBlock());
    copy(item);
  }
}

void CpAsyncPipeline::copyRows(const TileGeometry &g, Value tile, Value length,
                               Value tensor, Value tensorBase, Value rowStride,
                               int64_t elementBytes, int64_t rowBytes,
                               int64_t readRowBytes, Value sharedOffset) {
  int64_t rowChunks = rowBytes / kChunkBytes;
  forEachItem(g.tokens * rowChunks, [&](Value chunkIndex) {
    Value row = div(chunkIndex, rowChunks);
    Value chunk = rem(chunkIndex, rowChunks);
    auto [token, valid] = tokenOf(g, tile, row, length);
    // A padded head dim's chunks past the tensor's row read nothing.
    if (readRowBytes < rowBytes)
      valid = arith::AndIOp::create(b, loc, valid,
                                    lt(chunk, idx(readRowBytes / kChunkBytes)));
    // Rows outside the sequence read nothing (zero-fill) from a legal
    // address.
    Value safeToken = select(valid, token, idx(0));
    Value element = i64Add(
        tensorBase, i64Add(i64Mul(toI64(safeToken), rowStride),
                           toI64(mul(chunk, idx(kChunkBytes / elementBytes)))));
    Value src = globalAt(tensor, element, elementBytes);
    Value bytes = select(valid, i32(kChunkBytes), i32(0));
    nb::copyAsync(
        b, loc,
        sharedAt(ctx.sharedBase,
                 add(sharedOffset, engine.stagedChunkOffset(g.tokens, rowChunks,
                                                            row, chunk))),
        src, kChunkBytes, bytes);
  });
}

void CpAsyncPipeline::copyOperand(unsigned operand, Value tile,
                                  Value sharedOffset) {
  const StagedOperand &staged = operands[operand];
  OperandRows rows = rowsOf(staged);
  if (staged.channels) {
    // The channel rows of this key tile's slots (rowBytes of each row).
    Value tileStart = i64Add(rows.base, toI64(mul(tile, idx(staged.rowBytes))));
    copyRows(*rows.geometry, idx(0), rows.length, param(staged.tensor),
             tileStart, rows.rowStride, byteWidth(staged.elementType),
             staged.rowBytes, staged.readRowBytes(), sharedOffset);
    return;
  }
  copyRows(*rows.geometry, tile, rows.length, param(staged.tensor), rows.base,
           rows.rowStride, byteWidth(staged.elementType), staged.rowBytes,
           staged.readRowBytes(), sharedOffset);
}

void CpAsyncPipeline::copyWords(
    int64_t count, function_ref<std::pair<Value, Value>(Value index)> source,
    Value sharedOffset) {
  forEachItem(count, [&](Value index) {
    auto [src, valid] = source(index);
    Value bytes = select(valid, i32(4), i32(0));
    nb::copyAsync(
        b, loc, sharedAt(ctx.sharedBase, add(sharedOffset, mul(index, idx(4)))),
        src, /*size=*/4, bytes);
  });
}

void CpAsyncPipeline::publishLandedTile(int64_t pendingGroups) {
  nb::waitAsyncGroups(b, loc, pendingGroups);
  // cp.async writes through the generic proxy; an engine that reads
  // through the async proxy (wgmma) needs each thread's writes fenced
  // before the barrier publishes them.
  if (engine.readsStagedTilesAsynchronously())
    nb::fenceProxyAsyncShared(b, loc);
  gpu::BarrierOp::create(b, loc);
}

namespace {
/// The run-time parts of a tile slot, carried in loop state from the
/// iteration that loads the tile to the one that computes it, so that each
/// tile is classified once. Parts that are the same constant at every
/// position (TileWalk::varyingParts) are not carried.
struct CarriedSlot {
  TileWalk::VaryingParts varying;
  /// A slot whose constant parts every slot shares.
  TileSlot constants;

  SmallVector<Value> values(const TileSlot &slot) const {
    SmallVector<Value> carried;
    if (varying.keyTile)
      carried.push_back(slot.keyTile);
    if (varying.mayKeep)
      carried.push_back(slot.mayKeep);
    if (varying.keepsAll)
      carried.push_back(slot.keepsAll);
    return carried;
  }
  int64_t size() const {
    return varying.keyTile + varying.mayKeep + varying.keepsAll;
  }
  TileSlot rebuild(ValueRange carried) const {
    TileSlot slot = constants;
    if (varying.keyTile) {
      slot.keyTile = carried.front();
      carried = carried.drop_front();
    }
    if (varying.mayKeep) {
      slot.mayKeep = carried.front();
      carried = carried.drop_front();
    }
    if (varying.keepsAll)
      slot.keepsAll = carried.front();
    return slot;
  }
};
} // namespace

void CpAsyncPipeline::emitMainLoop(TileWalk &walk,
                                   const TileCallbacks &callbacks) {
  // S stages keep S - 1 tiles in flight: the prologue
  // loads tiles 0 .. S-2, one commit group each (Q joins tile 0's);
  // iteration i waits until at most S - 2 groups are pending (tile i has
  // landed), syncs (every warp is done with tile i - 1, whose stage is
  // refilled next), loads tile i + S - 1 and computes tile i. When the
  // computation of tile i still reads tile i - 1's V (deferred P V), S - 2
  // tiles are in flight and the stage refilled is tile i - 2's.
  int64_t stages = numStages();
  int64_t inFlight = callbacks.deferredValueReads ? stages - 2 : stages - 1;
  assert(inFlight >= 1 && "deferred value reads need three stages");
  callbacks.loadQuery();
  // Range mode visits every tile of the closed-form range; tiles the
  // mask's run-time classification finds empty are neither loaded nor
  // computed.
  auto loadIfKept = [&](Value position, Value stage) {
    TileSlot slot = walk.slot(position);
    Value load = lt(position, walk.count());
    if (auto constant = getConstantIntValue(slot.mayKeep);
        !constant || *constant == 0)
      load = andI(load, slot.mayKeep);
    auto ifLoad = scf::IfOp::create(b, loc, load, false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifLoad.thenBlock());
    callbacks.loadKeyTile(slot.keyTile, stage);
    return slot;
  };
  SmallVector<TileSlot> prologueSlots;
  for (int64_t p = 0; p < inFlight; ++p) {
    prologueSlots.push_back(loadIfKept(idx(p), idx(p)));
    nb::commitAsyncGroup(b, loc);
  }
  // Q (group 0) has landed.
  publishLandedTile(inFlight - 1);
  callbacks.queryLanded();

  // Loop state: the kernel's, then the slots of tiles i .. i + S - 2.
  SmallVector<Value> init = callbacks.initialState();
  int64_t numKernelValues = init.size();
  CarriedSlot carriedSlot{walk.varyingParts(), prologueSlots.front()};
  for (const TileSlot &slot : prologueSlots)
    llvm::append_range(init, carriedSlot.values(slot));
  int64_t slotValues = carriedSlot.size();
  auto loop = scf::ForOp::create(b, loc, idx(0), walk.count(), idx(1), init);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(loop.getBody());
    Value position = loop.getInductionVar();
    Value stage = rem(position, stages);
    ValueRange iterArgs = loop.getRegionIterArgs();
    publishLandedTile(inFlight - 1);
    Value nextPosition = add(position, idx(inFlight));
    TileSlot loaded = loadIfKept(nextPosition, rem(nextPosition, stages));
    nb::commitAsyncGroup(b, loc);
    ValueRange carried = iterArgs.drop_front(numKernelValues);
    TileSlot slot = carriedSlot.rebuild(carried.take_front(slotValues));
    ValueRange state = iterArgs.take_front(numKernelValues);
    SmallVector<Value> next;
    if (auto constant = getConstantIntValue(slot.mayKeep);
        constant && *constant != 0) {
      next = callbacks.computeTile(stage, slot, state);
    } else {
      auto ifKeep = scf::IfOp::create(b, loc, state.getTypes(), slot.mayKeep,
                                      /*withElse=*/true);
      OpBuilder::InsertionGuard keepInsertion(b);
      b.setInsertionPointToStart(ifKeep.thenBlock());
      scf::YieldOp::create(b, loc, callbacks.computeTile(stage, slot, state));
      b.setInsertionPointToStart(ifKeep.elseBlock());
      scf::YieldOp::create(b, loc,
                           callbacks.skipTile ? callbacks.skipTile(state)
                                              : SmallVector<Value>(state));
      next.assign(ifKeep.getResults().begin(), ifKeep.getResults().end());
    }
    // The slots of tiles i + 1 .. i + S - 1.
    llvm::append_range(next, carried.drop_front(slotValues));
    llvm::append_range(next, carriedSlot.values(loaded));
    scf::YieldOp::create(b, loc, next);
  }
  callbacks.walkEnded();
  callbacks.finish(loop.getResults().take_front(numKernelValues));
}
