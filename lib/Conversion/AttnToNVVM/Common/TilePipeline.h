//===- TilePipeline.h - how tiles reach shared memory -----------*- C++ -*-===//
//
// Private to AttnToNVVM: the load mechanism of an attention kernel and the
// loop it imposes. One pipeline per mechanism: CpAsyncPipeline (cp.async,
// every thread copies, S stages; Common/, every chip) and TmaPipeline
// (bulk tensor copies, full/empty mbarriers, a producer warpgroup; Tma/,
// sm_90a). The skeleton says what to stage per key tile (through the copy
// primitives) and what to compute on a staged tile; the pipeline owns the
// order: prologue, waits, barriers, stage rotation. Both walk one TileWalk,
// so loads and compute agree on the tiles and their classes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEPIPELINE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEPIPELINE_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"
#include "MmaEngine.h"
#include "TileWalk.h"

#include <memory>

namespace mlir {
namespace attn {
namespace detail {

/// Dynamic shared memory of a kernel as regions in order, each one tile per
/// stage, every tile starting at a multiple of the plan's alignment.
class SharedMemoryPlan {
public:
  explicit SharedMemoryPlan(int64_t alignment = 16) : alignment(alignment) {}

  /// Appends a region of `stages` copies of `bytesPerStage` (rounded up to
  /// the alignment); returns its index.
  unsigned addRegion(int64_t bytesPerStage, int64_t stages) {
    bytesPerStage = llvm::alignTo(bytesPerStage, alignment);
    regions.push_back({totalBytes, bytesPerStage, stages});
    totalBytes += bytesPerStage * stages;
    return regions.size() - 1;
  }
  int64_t start(unsigned region) const { return regions[region].start; }
  int64_t bytesPerStage(unsigned region) const {
    return regions[region].bytesPerStage;
  }
  int64_t size() const { return totalBytes; }
  int64_t getAlignment() const { return alignment; }

private:
  int64_t alignment;
  struct Region {
    int64_t start, bytesPerStage, stages;
  };
  SmallVector<Region> regions;
  int64_t totalBytes = 0;
};

/// A tensor whose rows the kernel stages tile by tile (Q, K, V or their
/// pre-kernels' rows), declared before the kernel's function exists so
/// that a pipeline can add the parameters it reads it through.
struct StagedOperand {
  enum class Rows { Query, Key, Value };
  /// Whose tokens the rows are: Q's rows follow the query tiles and heads,
  /// K's and V's the key tiles and key/value heads.
  Rows rows;
  /// The ptr parameter of the tensor.
  std::string tensor;
  /// Element type of the tensor (i8 for quantized rows).
  Type elementType;
  /// Bytes of a row as staged (the whole row).
  int64_t rowBytes = 0;
  /// A pre-kernel's dense [B, H, N, rowBytes] buffer; else a caller tensor
  /// with `<tensor>_stride_{b,h,n}` parameters.
  bool dense = false;
  /// Nonzero: the rows are channels, not tokens (FP8 V^T). The tensor is a
  /// pre-kernel's dense [B, H, channels, slots] buffer, slots = the key
  /// tiles' positions (KeyTiles x tile tokens), and a tile stages the
  /// `channels` rows of its own slots (rowBytes = the tile's tokens).
  int64_t channels = 0;
  /// Nonzero: only the first sourceRowBytes of a row are the tensor's (a
  /// head dim padded to its staged dim); the rest is zero-filled.
  int64_t sourceRowBytes = 0;

  /// Bytes of a row read from the tensor.
  int64_t readRowBytes() const {
    return sourceRowBytes ? sourceRowBytes : rowBytes;
  }
  /// Rows of one staged tile.
  int64_t rowsPerTile(const TileGeometry &tokens) const {
    return channels ? channels : tokens.tokens;
  }
};

class TilePipeline : protected EmitterBase {
public:
  TilePipeline(OpBuilder &b, Location loc, const KernelSignature &signature,
               AttentionKernelContext &context, MmaEngine &engine)
      : EmitterBase(b, loc, signature), ctx(context), engine(engine) {}
  virtual ~TilePipeline() = default;

  /// Copies of the K/V ring the kernel's shared memory holds.
  virtual int64_t numStages() const = 0;
  /// Threads the pipeline adds to the engine's (a producer warpgroup), as
  /// the block's last threads.
  virtual int64_t numProducerThreads() const { return 0; }
  /// Shared memory the pipeline needs besides the staged tiles (barriers).
  virtual int64_t sharedBytes() const { return 0; }
  /// Places the pipeline's own shared memory at `offset` (before the
  /// kernel body is emitted).
  virtual void placeSharedMemory(int64_t offset) {}

  /// Declares a staged operand (before the function exists; the pipeline
  /// may add parameters through `addParam`); returns its handle for
  /// copyOperand.
  virtual unsigned declareOperand(const StagedOperand &operand,
                                  function_ref<void(KernelParam)> addParam) {
    operands.push_back(operand);
    return operands.size() - 1;
  }
  /// Key tiles also stage gathered words (copyWords); declared before the
  /// kernel body is emitted.
  virtual void declareGatheredWords() {}
  /// Attributes the pipeline needs on the kernel function.
  virtual void annotateFunction(gpu::GPUFuncOp function) {}
  /// Whether a stage is refilled only after the computing threads release
  /// it (releaseStage), rather than after a block barrier.
  virtual bool releasesStagesExplicitly() const { return false; }
  /// Whether the pipeline can run a persistent grid: its loading and its
  /// computing threads walk the work units independently, each calling
  /// TileCallbacks::beginUnit, and the next unit's loads overlap the
  /// current unit's last products and epilogue.
  virtual bool supportsPersistentGrid() const { return false; }
  /// Whether this kernel runs a persistent grid (asked for and supported).
  bool runsPersistentGrid() const {
    return ctx.shape.persistent && supportsPersistentGrid();
  }
  /// Whether the kernel may keep reading a tile's V rows into the next
  /// tile's computation (TileCallbacks::deferredValueReads): stages
  /// released explicitly, or refilled a tile later.
  virtual bool allowsDeferredValueReads() const {
    return releasesStagesExplicitly();
  }
  /// The computing threads are done with the key rows (K and what comes
  /// with it) or the value rows of `stage` (every thread calls it).
  virtual void releaseStage(Value stage, StagedOperand::Rows rows) {
    llvm_unreachable("this pipeline refills stages after a barrier");
  }
  /// The rows of tile `tile` of operand `operand` into shared memory at
  /// `sharedOffset`, in the engine's staged layout; rows past the sequence
  /// (or the grid) are zero.
  virtual void copyOperand(unsigned operand, Value tile,
                           Value sharedOffset) = 0;

  //===--------------------------------------------------------------------===//
  // Copy primitives (the skeleton describes a tile's operands with them)
  //===--------------------------------------------------------------------===//

  /// Rows of a tile into shared memory at `sharedOffset`, in the engine's
  /// staged layout: row r is `rowBytes` bytes from element tensorBase +
  /// token(r) * rowStride (i64, in elements of `elementBytes`), where
  /// token(r) is position r of tile `tile` of `rows`; rows past `length`
  /// (or the grid), and bytes of a row from `readRowBytes` on, are zero.
  virtual void copyRows(const TileGeometry &rows, Value tile, Value length,
                        Value tensor, Value tensorBase, Value rowStride,
                        int64_t elementBytes, int64_t rowBytes,
                        int64_t readRowBytes, Value sharedOffset) = 0;
  /// `count` 4-byte words into shared memory at `sharedOffset`: word i from
  /// the address `source(i)` returns, or 0 where it says invalid.
  virtual void
  copyWords(int64_t count,
            function_ref<std::pair<Value, Value>(Value index)> source,
            Value sharedOffset) = 0;

  //===--------------------------------------------------------------------===//
  // The main loop
  //===--------------------------------------------------------------------===//

  struct TileCallbacks {
    /// Stages Q (once).
    function_ref<void()> loadQuery;
    /// Stages the operands of key tile `keyTile` into stage `stage`.
    function_ref<void(Value keyTile, Value stage)> loadKeyTile;
    /// Q is in shared memory and visible to every thread.
    function_ref<void()> queryLanded;
    /// The loop state before the first tile.
    function_ref<SmallVector<Value>()> initialState;
    /// Computes the tile of `slot` staged in `stage`: the next loop state.
    function_ref<SmallVector<Value>(Value stage, const TileSlot &slot,
                                    ValueRange state)>
        computeTile;
    /// After the last tile, on the threads that computed, before Q's rows
    /// are released: every product of the walk has been issued.
    function_ref<void()> walkEnded;
    /// Then: the final loop state (the epilogue).
    function_ref<void(ValueRange state)> finish;
    /// computeTile reads a tile's V rows during the next tile's
    /// computation, and releases stages itself where the pipeline releases
    /// them explicitly (releaseStage); else each stage is free after its
    /// computeTile.
    bool deferredValueReads = false;
    /// The loop state after a tile the walk skips at run time (null: the
    /// state as it was). With deferredValueReads, a pipeline that refills
    /// stages by tile position calls it: the pending reads of the last
    /// computed tile's V finish before its stage comes round again.
    function_ref<SmallVector<Value>(ValueRange state)> skipTile = nullptr;
    /// A persistent grid (runsPersistentGrid): the number of work units,
    /// which the block walks from blockIdx.x in steps of gridDim.x, and the
    /// setup of one (its query tile, head, batch element and walk), which
    /// every role runs before the unit. Null: the block is one unit, set up
    /// before emitMainLoop.
    Value numUnits = nullptr;
    function_ref<void(Value unit)> beginUnit = nullptr;
  };
  /// Emits the loads, the loop over `walk`'s tiles and the finish.
  virtual void emitMainLoop(TileWalk &walk, const TileCallbacks &callbacks) = 0;

protected:
  /// The rows of a declared operand as the kernel's setup located them:
  /// element offset of this (batch, head), the row stride (elements), the
  /// sequence length and the tile geometry. Channel rows (FP8 V^T) are one
  /// tile of `channels` rows: `base` is the first of tile 0's slots.
  struct OperandRows {
    const TileGeometry *geometry;
    Value base, rowStride, length;
  };
  OperandRows rowsOf(const StagedOperand &operand) {
    if (operand.channels) {
      assert(operand.rows == StagedOperand::Rows::Value &&
             "only V is staged as channel rows");
      channelGeometry = TileGeometry{{operand.channels}, {}, operand.channels};
      return {&channelGeometry, ctx.valueBase,
              toI64(ctx.transposedValueRowBytes), idx(operand.channels)};
    }
    bool queryRows = operand.rows == StagedOperand::Rows::Query;
    Value base = queryRows                                  ? ctx.queryBase
                 : operand.rows == StagedOperand::Rows::Key ? ctx.keyBase
                                                            : ctx.valueBase;
    Value rowStride =
        operand.dense
            ? toI64(idx(operand.rowBytes / byteWidth(operand.elementType)))
            : param(operand.tensor + "_stride_n");
    return {queryRows ? &ctx.queries : &ctx.keys, base, rowStride,
            queryRows ? ctx.seqQ : ctx.seqK};
  }

  AttentionKernelContext &ctx;
  MmaEngine &engine;
  SmallVector<StagedOperand, 4> operands;

private:
  /// The geometry rowsOf gives channel rows.
  TileGeometry channelGeometry;
};

/// The pipeline the kernels of `family` use on `target` (null when none).
std::unique_ptr<TilePipeline>
createTilePipeline(MmaFamily family, OpBuilder &b, Location loc,
                   const KernelSignature &signature,
                   AttentionKernelContext &context, MmaEngine &engine);

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEPIPELINE_H
