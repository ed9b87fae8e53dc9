//===- TmaPipeline.h - bulk tensor copies by a producer warp ----*- C++ -*-===//
//
// Private to AttnToNVVM: the load pipeline of sm_90a (and later) kernels.
// A producer warpgroup (the block's last 128 threads; one thread issues)
// walks the same tile slots as the consumers and loads only the kept key
// tiles with `cp.async.bulk.tensor` boxes into S stages; full / empty
// mbarriers per stage hand each stage from the copy engine to the consumer
// warpgroups and back. Tensor maps (one per staged operand: the rows of a
// flat tile, the 2-D patch of a grid tile, or a tile's FP8 V^T channel
// rows, as one box per column slab) are kernel parameters the launcher
// encodes per launch. Gathered words (quantized keys' scales, smooth_q's
// dS) are copied by the producer's first warp with cp.async, whose
// completions arrive on the same full barriers
// (docs/design/WgmmaKernel.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAPIPELINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAPIPELINE_H

#include "../Common/TilePipeline.h"

namespace mlir {
namespace attn {
namespace detail {

class TmaPipeline : public TilePipeline {
public:
  using TilePipeline::TilePipeline;

  /// Whether the kernel's tiles and precision can be staged by tensor
  /// copies into `engine`'s layout (else the cp.async pipeline serves it).
  static bool supports(const AttentionKernelContext &context,
                       const MmaEngine &engine);

  int64_t numStages() const override { return ctx.shape.stages; }
  int64_t numProducerThreads() const override;
  int64_t sharedBytes() const override;
  void placeSharedMemory(int64_t offset) override { barrierOffset = offset; }
  unsigned declareOperand(const StagedOperand &operand,
                          function_ref<void(KernelParam)> addParam) override;
  void declareGatheredWords() override { gathersWords = true; }
  void annotateFunction(gpu::GPUFuncOp function) override;
  bool releasesStagesExplicitly() const override { return true; }
  /// With two consumer warpgroups (one block per SM under setmaxnreg).
  bool supportsPersistentGrid() const override;
  void releaseStage(Value stage, StagedOperand::Rows rows) override;
  void copyOperand(unsigned operand, Value tile, Value sharedOffset) override;
  void copyRows(const TileGeometry &rows, Value tile, Value length,
                Value tensor, Value tensorBase, Value rowStride,
                int64_t elementBytes, int64_t rowBytes, int64_t readRowBytes,
                Value sharedOffset) override;
  void copyWords(int64_t count,
                 function_ref<std::pair<Value, Value>(Value index)> source,
                 Value sharedOffset) override;
  void emitMainLoop(TileWalk &walk, const TileCallbacks &callbacks) override;

private:
  /// The 32-bit shared address of barrier `index` (full stages first, then
  /// the key rows' empty stages, the value rows' empty stages, then Q's
  /// full and, in a persistent grid, Q's empty barrier).
  Value barrierAddress(Value index);
  Value fullBarrier(Value stage) { return barrierAddress(stage); }
  Value emptyBarrier(Value stage, StagedOperand::Rows rows) {
    assert(rows != StagedOperand::Rows::Query && "Q's rows are never released");
    int64_t group = rows == StagedOperand::Rows::Value ? 2 : 1;
    return barrierAddress(add(stage, idx(group * numStages())));
  }
  Value queryBarrier() { return barrierAddress(idx(3 * numStages())); }
  Value queryEmptyBarrier() { return barrierAddress(idx(3 * numStages() + 1)); }
  /// Emits `body` once per work unit of this block (once, with iteration
  /// 0, outside a persistent grid) after `callbacks.beginUnit`, carrying
  /// `carried` through the units: body(iteration, carried) -> next.
  SmallVector<Value> forEachUnit(
      const TileCallbacks &callbacks, ValueRange carried,
      function_ref<SmallVector<Value>(Value iteration, ValueRange carried)>
          body);
  /// One arrival per consumer warp on `barrier` once the warp's lanes are
  /// done reading the rows it guards.
  void releaseRows(Value barrier);
  /// Transaction bytes of a tile's rows of one kind (Q, K, V).
  int64_t tileBytes(StagedOperand::Rows rows) const;
  /// Emits `body` on the thread that issues the tensor copies: lane 0
  /// where the producer's warp walks the tiles, else where it is.
  void asIssuer(function_ref<void()> body);
  /// Waits until the rows of kind `rows` of the stage being loaded are
  /// free and arms its full barrier with their tensor copies' bytes (once
  /// per tile).
  void armRows(StagedOperand::Rows rows);
  int64_t numConsumerWarps() const { return engine.numThreads() / 32; }

  int64_t barrierOffset = 0;
  /// Key tiles gather words: the producer's first warp walks the tiles
  /// (its lanes copy the words with cp.async) and `issuerLane` (lane 0)
  /// issues the tensor copies; else one thread does everything (null).
  bool gathersWords = false;
  Value issuerLane;
  /// The tensor-map parameter of each declared operand.
  SmallVector<std::string, 4> mapParams;
  /// The barrier the copies being issued complete on.
  Value landingBarrier;
  /// The key tile being loaded: its stage, the parity its empty barriers
  /// wait for, and which row kinds have been armed.
  Value loadingStage, emptyParity;
  bool keysArmed = false, valuesArmed = false;
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_TMA_TMAPIPELINE_H
