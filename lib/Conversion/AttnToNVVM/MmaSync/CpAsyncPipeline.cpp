//===- CpAsyncPipeline.cpp - cp.async stages of K and V -------------------===//

#include "CpAsyncPipeline.h"

#include "CpAsyncIntrinsics.h"

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

void CpAsyncPipeline::copyRows(const TileGeometry &g, Value tile,
                               Value length, Value tensor, Value tensorBase,
                               Value rowStride, int64_t elementBytes,
                               int64_t rowBytes, Value sharedOffset) {
  int64_t rowChunks = rowBytes / kChunkBytes;
  forEachItem(g.tokens * rowChunks, [&](Value chunkIndex) {
    Value row = div(chunkIndex, rowChunks);
    Value chunk = rem(chunkIndex, rowChunks);
    auto [token, valid] = tokenOf(g, tile, row, length);
    // Rows outside the sequence read nothing (zero-fill) from a legal
    // address.
    Value safeToken = select(valid, token, idx(0));
    Value element =
        i64Add(tensorBase,
               i64Add(i64Mul(toI64(safeToken), rowStride),
                      toI64(mul(chunk, idx(kChunkBytes / elementBytes)))));
    Value src = globalAt(tensor, element, elementBytes);
    Value bytes = select(valid, i32(kChunkBytes), i32(0));
    nb::copyAsync16(
        b, loc,
        sharedAt(ctx.sharedBase,
                 add(sharedOffset,
                     engine.stagedChunkOffset(rowChunks, row, chunk))),
        src, bytes);
  });
}

void CpAsyncPipeline::copyWords(
    int64_t count, function_ref<std::pair<Value, Value>(Value index)> source,
    Value sharedOffset) {
  forEachItem(count, [&](Value index) {
    auto [src, valid] = source(index);
    Value bytes = select(valid, i32(4), i32(0));
    nb::copyAsync4(b, loc,
                   sharedAt(ctx.sharedBase, add(sharedOffset, mul(index, idx(4)))),
                   src, bytes);
  });
}

SmallVector<Value>
CpAsyncPipeline::emitMainLoop(TileWalk &walk, const TileCallbacks &callbacks) {
  int64_t stages = numStages();
  // Prologue: Q and the first key tile in one group.
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
  };
  loadIfKept(idx(0), idx(0));
  nb::commitAsyncGroup(b, loc);
  nb::waitAsyncGroups(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
  callbacks.queryLanded();

  SmallVector<Value> init = callbacks.initialState();
  auto loop = scf::ForOp::create(b, loc, idx(0), walk.count(), idx(1), init);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(loop.getBody());
    Value position = loop.getInductionVar();
    Value stage = rem(position, stages);
    // Tile `position` has landed in its stage, and every warp is done with
    // the stage refilled next.
    nb::waitAsyncGroups(b, loc, 0);
    gpu::BarrierOp::create(b, loc);
    Value nextPosition = add(position, idx(1));
    loadIfKept(nextPosition, rem(nextPosition, stages));
    nb::commitAsyncGroup(b, loc);
    TileSlot slot = walk.slot(position);
    ValueRange state = loop.getRegionIterArgs();
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
      scf::YieldOp::create(b, loc, state);
      next.assign(ifKeep.getResults().begin(), ifKeep.getResults().end());
    }
    scf::YieldOp::create(b, loc, next);
  }
  return SmallVector<Value>(loop.getResults());
}
