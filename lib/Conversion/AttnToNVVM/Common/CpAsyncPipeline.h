//===- CpAsyncPipeline.h - cp.async stages of K and V -----------*- C++ -*-===//
//
// Private to AttnToNVVM: the load pipeline of the mma.sync kernels, and of
// the wgmma kernels where tensor copies cannot stage the tiles (3-D
// patches, gathered words); any chip from sm_80 on runs it. Every thread
// copies 16-byte chunks (rows) or 4-byte words with cp.async; tile i lands
// in stage i % S; one barrier per tile publishes it and ends every
// read of the stage refilled next.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCPIPELINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCPIPELINE_H

#include "TilePipeline.h"

namespace mlir {
namespace attn {
namespace detail {

class CpAsyncPipeline : public TilePipeline {
public:
  using TilePipeline::TilePipeline;

  int64_t numStages() const override { return ctx.shape.stages; }
  /// With three stages or more, one fewer tile in flight: a stage is
  /// refilled a tile after its computation, when the next tile's has read
  /// its V (an engine that issues asynchronously only).
  bool allowsDeferredValueReads() const override {
    return numStages() >= 3 && engine.issuesAsynchronously();
  }
  void copyRows(const TileGeometry &rows, Value tile, Value length,
                Value tensor, Value tensorBase, Value rowStride,
                int64_t elementBytes, int64_t rowBytes, int64_t readRowBytes,
                Value sharedOffset) override;
  void copyWords(int64_t count,
                 function_ref<std::pair<Value, Value>(Value index)> source,
                 Value sharedOffset) override;
  void copyOperand(unsigned operand, Value tile, Value sharedOffset) override;
  void emitMainLoop(TileWalk &walk, const TileCallbacks &callbacks) override;

private:
  /// Waits until at most `pendingGroups` copy groups are in flight and
  /// publishes what landed to every thread (and to the engine's reads).
  void publishLandedTile(int64_t pendingGroups);
  /// Emits `copy(first + tid)` for every round of the block's threads over
  /// `count` items, guarding the last round when it is partial.
  void forEachItem(int64_t count, function_ref<void(Value)> copy);
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_CPASYNCPIPELINE_H
