//===- AttentionKernel.cpp - the fused attention kernel skeleton ----------===//
//
// What an attention kernel does on every GPU generation: one thread block
// per (query tile, head, batch element); the walk over the query tile's
// key tiles (TileWalk); per tile S = Q K^T, the score steps (ScoreOps),
// the online softmax and O += P V; the epilogue. How data moves and how
// the products run is the MMA engine's (MmaEngine.h) and the tile
// pipeline's (TilePipeline.h), chosen by the kernel's MMA family. Empty
// key tiles are never loaded, full ones evaluate no mask arithmetic,
// partial ones the predicate the mask attribute emits.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernel.h"

#include "Epilogue.h"
#include "HeadFeatures.h"
#include "KernelBuilderBase.h"
#include "MmaEngine.h"
#include "OnlineSoftmax.h"
#include "ScoreOps.h"
#include "TilePipeline.h"
#include "TileWalk.h"

#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {

class AttentionKernelBuilder : KernelBuilderBase {
public:
  AttentionKernelBuilder(AttentionOp op, gpu::GPUModuleOp module,
                         const GpuTarget &target, MmaFamily family,
                         const KernelHeads &heads, const KernelShape &shape,
                         const KernelPrecision &precision)
      : KernelBuilderBase(op, module), family(family),
        ctx(op, target, heads, shape, precision) {}

  FailureOr<KernelLaunch> build(StringRef name);

private:
  /// The static configuration: tile geometry, types, row bytes.
  void configure();
  /// Shared memory regions (Q once, per stage K, V, K scales, dS) and the
  /// compile-time checks against the chip.
  LogicalResult planSharedMemory();
  void declareParams();
  /// What a thread knows for every work unit: its lane, warp and fragment
  /// rows, the sequence lengths.
  void emitThreadSetup();
  /// One work unit (query tile `tileX` in launch order, head slot, batch
  /// element): head, mask context, operand bases, this thread's rows, the
  /// walk over its key tiles.
  void emitUnitSetup(Value tileX, Value headSlot, Value batch, TileWalk &walk,
                     StringRef name);
  Value stageOffset(unsigned region, Value stage) {
    return add(idx(plan.start(region)),
               mul(stage, idx(plan.bytesPerStage(region))));
  }
  void loadQuery();
  void loadKeyTile(Value keyTile, Value stage);
  /// Dequantization, dS, bias and mask on a tile's scores; returns the
  /// mask of P for renormalize = false.
  SmallVector<Value> applyScoreSteps(Fragment &scores, Value stage,
                                     const TileSlot &slot);
  /// The main loop's state: O's accumulator, the softmax row state and,
  /// when P.V is deferred, the previous tile's packed P, whether there is
  /// one, and its stage.
  struct LoopState {
    SmallVector<Value> output, rows, packedP;
    Value hasPrevious, previousStage;
  };
  LoopState unpack(ValueRange values) const;
  static SmallVector<Value> pack(const LoopState &state);
  SmallVector<Value> initialState();
  /// P of no tile (zeros), packed: the deferred P V's operand while no tile
  /// is pending.
  SmallVector<Value> noProbabilities();
  /// One key tile: S = Q K^T, score steps, online softmax, O += P V.
  SmallVector<Value> computeTile(Value stage, const TileSlot &slot,
                                 ValueRange state);
  /// One key tile with the previous tile's P V issued behind this tile's
  /// Q K^T and finished during its softmax (asynchronous engines whose
  /// pipeline lets a stage be read into the next tile).
  SmallVector<Value> computeTileDeferred(Value stage, const TileSlot &slot,
                                         ValueRange state);
  /// After the last tile: the deferred P V, then the epilogue.
  void finish(ValueRange state);
  /// The deferred P V of the last computed tile issued and landed in O
  /// (nothing where no tile is pending): the loop state without it.
  LoopState flushDeferredValues(LoopState state);
  /// Issues P V (`packedP` against the V rows at `valueTile`) into O's
  /// accumulators or, two_level, into fresh ones: the accumulators in
  /// flight.
  SmallVector<Value> issueDeferredValues(ArrayRef<Value> output,
                                         ArrayRef<Value> packedP,
                                         Value valueTile);
  /// Waits for those products: O with them in it.
  SmallVector<Value> landDeferredValues(ArrayRef<Value> output,
                                        SmallVector<Value> products,
                                        ArrayRef<Value> packedP);

  MmaFamily family;
  AttentionKernelContext ctx;
  std::unique_ptr<MmaEngine> engine;
  std::unique_ptr<TilePipeline> pipeline;
  std::unique_ptr<OnlineSoftmax> softmax;
  SharedMemoryPlan plan;
  /// P V of tile n is issued in iteration n + 1 (computeTileDeferred).
  bool deferValues = false;
  int64_t numOutputValues = 0, numPackedP = 0;
  unsigned queryRegion = 0, keyRegion = 0, valueRegion = 0, keyScaleRegion = 0,
           correctionRegion = 0, pipelineRegion = 0;
  /// The staged operands (TilePipeline::declareOperand handles).
  unsigned queryOperand = 0, keyOperand = 0, valueOperand = 0;
};

} // namespace

void AttentionKernelBuilder::configure() {
  auto queryType = cast<MemRefType>(op.getQuery().getType());
  const KernelPrecision &precision = ctx.precision;
  ctx.elementType = queryType.getElementType();
  ctx.pvType = precision.pvType ? precision.pvType : ctx.elementType;
  ctx.sourceHeadDim = op.getHeadDim();
  ctx.sourceValueDim = op.getValueHeadDim();
  ctx.headDim = getStagedHeadDim(ctx.sourceHeadDim);
  ctx.valueDim = getStagedHeadDim(ctx.sourceValueDim);
  ctx.scale = *op.getEffectiveScale();
  ctx.maskAfterSoftmax = hasUnnormalizedSegments(ctx.heads.mask);
  ctx.queries = TileGeometry::of(ctx.shape.queryShape, ctx.shape.grid);
  ctx.keys = TileGeometry::of(ctx.shape.keyShape, ctx.shape.grid);
  ctx.qkRowBytes = precision.quantizedQK() ? precision.rowBytes(ctx.headDim)
                                           : ctx.headDim * 2;
  if (precision.smoothQ && ctx.queries.grid.empty())
    ctx.correctionRows =
        llvm::divideCeil(ctx.queries.tokens, precision.smoothQBlock) + 1;
}

LogicalResult AttentionKernelBuilder::planSharedMemory() {
  const KernelPrecision &precision = ctx.precision;
  int64_t stages = pipeline->numStages();
  int64_t keyTokens = ctx.keys.tokens;
  queryRegion = plan.addRegion(ctx.queries.tokens * ctx.qkRowBytes, 1);
  // NVFP4 tiles carry their E4M3 scales after their rows (the engine reads
  // them there: nvfp4ScaleStart).
  int64_t keyBytes = keyTokens * ctx.qkRowBytes;
  if (precision.qkNvfp4)
    keyBytes += keyTokens * nvfp4ScaleBytes(ctx.headDim);
  keyRegion = plan.addRegion(keyBytes, stages);
  int64_t valueBytes =
      precision.fp4Value()
          ? ctx.valueDim * (keyTokens / 2 + nvfp4ScaleBytes(keyTokens))
          : keyTokens * ctx.valueDim * byteWidth(ctx.pvType);
  valueRegion = plan.addRegion(valueBytes, stages);
  keyScaleRegion = plan.addRegion(
      precision.quantizedQK() && !precision.qkNvfp4 ? keyTokens * 4 : 0,
      stages);
  correctionRegion = plan.addRegion(ctx.correctionRows * keyTokens * 4, stages);
  pipelineRegion = plan.addRegion(pipeline->sharedBytes(), 1);
  pipeline->placeSharedMemory(plan.start(pipelineRegion));
  launch.sharedBytes = plan.size();

  auto tileShape = [&] {
    std::string text;
    llvm::raw_string_ostream os(text);
    auto shapeOf = [&](ArrayRef<int64_t> shape) {
      llvm::interleave(shape, os, "x");
    };
    shapeOf(ctx.shape.queryShape);
    os << " query by ";
    shapeOf(ctx.shape.keyShape);
    os << " key tokens";
    return text;
  };
  const GpuTarget &target = ctx.target;
  if (launch.sharedBytes > target.maxSharedBytesPerBlock)
    return op.emitOpError()
           << "attn-lower-to-gpu: tiles of " << tileShape()
           << " with D = " << ctx.headDim << ", Dv = " << ctx.valueDim
           << " and " << stages << " stages need " << launch.sharedBytes
           << " bytes of shared memory; " << target.chip << " allows "
           << target.maxSharedBytesPerBlock << " per block"
           << (target.emulatedBlockScaledMma ? " (sm_120a's, as emulated)" : "")
           << " (use smaller tiles or fewer stages)";
  int64_t registers = engine->minimumRegisters();
  if (registers > target.maxRegistersPerThread)
    return op.emitOpError()
           << "attn-lower-to-gpu: tiles of " << tileShape()
           << " with D = " << ctx.headDim << ", Dv = " << ctx.valueDim
           << " keep at least " << registers
           << " values per thread in registers (the O "
              "accumulator grows with Dv and the query rows per warp, S with "
              "the key tile); "
           << target.chip << " allows " << target.maxRegistersPerThread
           << " (use smaller key tiles or fewer rows per warp)";
  return success();
}

void AttentionKernelBuilder::declareParams() {
  const KernelPrecision &precision = ctx.precision;
  // Quantized Q.K reads the pre-kernels' dense buffers instead of Q and K.
  if (precision.quantizedQK()) {
    for (StringRef name : {"q_quant", "q_scale", "k_quant", "k_scale"})
      addParam(name, globalPtrType());
  } else {
    addTensorParams("q", op.getQuery(), {"b", "h", "n"});
    addTensorParams("k", op.getKey(), {"b", "h", "n"});
  }
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  if (precision.roundedValue)
    addParam("v_rounded", globalPtrType());
  if (precision.fp8Value()) {
    addParam("v_e4m3_t", globalPtrType());
    addParam("v_scale", globalPtrType());
  }
  if (precision.fp4Value()) {
    addParam("v_nvfp4_t", globalPtrType());
    addParam("v_block_scale", globalPtrType());
  }
  // The rows the kernel stages, through the pipeline (which may read them
  // through parameters of its own).
  Type i8 = b.getI8Type();
  auto declare = [&](const StagedOperand &operand) {
    return pipeline->declareOperand(operand, [&](KernelParam param) {
      launch.params.push_back(std::move(param));
    });
  };
  queryOperand = declare(
      precision.quantizedQK()
          ? StagedOperand{StagedOperand::Rows::Query, "q_quant", i8,
                          ctx.qkRowBytes, /*dense=*/true}
          : StagedOperand{StagedOperand::Rows::Query, "q", ctx.elementType,
                          ctx.qkRowBytes, /*dense=*/false, /*channels=*/0,
                          /*sourceRowBytes=*/ctx.sourceHeadDim * 2});
  keyOperand = declare(precision.quantizedQK()
                           ? StagedOperand{StagedOperand::Rows::Key, "k_quant",
                                           i8, ctx.qkRowBytes, /*dense=*/true}
                           : StagedOperand{StagedOperand::Rows::Key, "k",
                                           ctx.elementType, ctx.qkRowBytes,
                                           /*dense=*/false, /*channels=*/0,
                                           /*sourceRowBytes=*/
                                           ctx.sourceHeadDim * 2});
  if (engine->valueLayout() == ValueOperandLayout::TransposedPermutedFp8)
    valueOperand = declare(StagedOperand{
        StagedOperand::Rows::Value, "v_e4m3_t", i8, ctx.keys.tokens,
        /*dense=*/true, /*channels=*/ctx.valueDim});
  else if (engine->valueLayout() == ValueOperandLayout::TransposedNvfp4)
    valueOperand = declare(StagedOperand{
        StagedOperand::Rows::Value, "v_nvfp4_t", i8, ctx.keys.tokens / 2,
        /*dense=*/true, /*channels=*/ctx.valueDim});
  else
    valueOperand = declare(
        precision.roundedValue
            ? StagedOperand{StagedOperand::Rows::Value, "v_rounded", ctx.pvType,
                            ctx.valueDim * byteWidth(ctx.pvType),
                            /*dense=*/true}
            : StagedOperand{StagedOperand::Rows::Value, "v", ctx.elementType,
                            ctx.valueDim * 2, /*dense=*/false, /*channels=*/0,
                            /*sourceRowBytes=*/ctx.sourceValueDim * 2});
  // Key tiles gather their keys' scales and the dS words of smooth_q.
  if (precision.quantizedQK() || precision.fp4Value() || ctx.correctionRows)
    pipeline->declareGatheredWords();
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

void AttentionKernelBuilder::emitThreadSetup() {
  ctx.tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  ctx.lane = rem(ctx.tid, 32);
  ctx.warp = div(ctx.tid, 32);
  ctx.seqQ = toIndex(param("seq_q"));
  ctx.seqK = toIndex(param("seq_k"));
  ctx.maskContext.queryLength = ctx.seqQ;
  ctx.maskContext.keyLength = ctx.seqK;
}

void AttentionKernelBuilder::emitUnitSetup(Value tileX, Value headSlot,
                                           Value batch, TileWalk &walk,
                                           StringRef name) {
  const KernelPrecision &precision = ctx.precision;
  // Units start in launch order (x fastest): counting x down starts each
  // head's last query tile first, which under causal, power-law and prefix
  // masks is the longest (the shortest then fill the last wave).
  ctx.queryTile = ctx.shape.lastQueryTileFirst
                      ? sub(sub(numTiles(ctx.queries, ctx.seqQ), idx(1)), tileX)
                      : tileX;
  ctx.batch = batch;
  HeadFeatures(b, loc, signature, ctx).selectHead(headSlot);
  if (Value offsetsOperand = op.getSegmentOffsets())
    ctx.maskContext.segmentOffset =
        segmentOffsetLoader(offsetsOperand, ctx.batch);

  // Element offsets of this (batch, head) in Q, K and V; the pre-kernels'
  // buffers are dense [B, H, N, row].
  int64_t numKvHeads = op.getNumKeyValueHeads();
  if (precision.quantizedQK()) {
    ctx.queryBase =
        i64Mul(scratchRow(ctx.batch, op.getNumQueryHeads(), ctx.head, ctx.seqQ),
               toI64(idx(ctx.qkRowBytes)));
    ctx.keyBase =
        i64Mul(scratchRow(ctx.batch, numKvHeads, ctx.kvHead, ctx.seqK),
               toI64(idx(ctx.qkRowBytes)));
  } else {
    ctx.queryBase =
        elementOffset({{ctx.batch, "q_stride_b"}, {ctx.head, "q_stride_h"}});
    ctx.keyBase =
        elementOffset({{ctx.batch, "k_stride_b"}, {ctx.kvHead, "k_stride_h"}});
  }
  if (precision.fp8Value() || precision.fp4Value()) {
    // Bytes per channel row of V^T: whole key tiles of E4M3 or E2M1.
    ctx.transposedValueRowBytes =
        mul(numTiles(ctx.keys, ctx.seqK),
            idx(precision.fp4Value() ? ctx.keys.tokens / 2 : ctx.keys.tokens));
    ctx.valueBase =
        i64Mul(scratchRow(ctx.batch, numKvHeads, ctx.kvHead, idx(ctx.valueDim)),
               toI64(ctx.transposedValueRowBytes));
  } else if (precision.roundedValue) {
    ctx.valueBase =
        i64Mul(scratchRow(ctx.batch, numKvHeads, ctx.kvHead, ctx.seqK),
               toI64(idx(ctx.valueDim)));
  } else {
    ctx.valueBase =
        elementOffset({{ctx.batch, "v_stride_b"}, {ctx.kvHead, "v_stride_h"}});
  }

  // This thread's query rows.
  ctx.placement = engine->placeThread();
  ctx.rowTokens.clear();
  ctx.rowValid.clear();
  ctx.queryScales.clear();
  ctx.rowCorrectionBlock.clear();
  for (Value position : ctx.placement.rows) {
    auto [token, valid] =
        tokenOf(ctx.queries, ctx.queryTile, position, ctx.seqQ);
    ctx.rowTokens.push_back(token);
    ctx.rowValid.push_back(valid);
    if (precision.quantizedQK() && !precision.qkNvfp4) {
      Value element = i64Add(
          scratchRow(ctx.batch, op.getNumQueryHeads(), ctx.head, ctx.seqQ),
          toI64(select(valid, token, idx(0))));
      ctx.queryScales.push_back(
          loadGlobal(b.getF32Type(), globalAt(param("q_scale"), element, 4)));
    }
  }
  if (ctx.correctionRows) {
    // Flat tiles: rows [tile * tokens, ...) lie in blocks from this one on.
    ctx.firstCorrectionBlock = div(mul(ctx.queryTile, idx(ctx.queries.tokens)),
                                   precision.smoothQBlock);
    for (auto [token, valid] : llvm::zip(ctx.rowTokens, ctx.rowValid))
      ctx.rowCorrectionBlock.push_back(sub(
          div(select(valid, token, mul(ctx.queryTile, idx(ctx.queries.tokens))),
              precision.smoothQBlock),
          ctx.firstCorrectionBlock));
  }

  // The key tiles of this query tile; heads that compute no attention walk
  // none.
  walk.begin(module, name);
  if (Value computes = HeadFeatures(b, loc, signature, ctx).computesAttention())
    walk.setCount(select(computes, walk.count(), idx(0)));
}

void AttentionKernelBuilder::loadQuery() {
  pipeline->copyOperand(queryOperand, ctx.queryTile,
                        idx(plan.start(queryRegion)));
}

void AttentionKernelBuilder::loadKeyTile(Value tile, Value stage) {
  const KernelPrecision &precision = ctx.precision;
  const TileGeometry &keys = ctx.keys;
  pipeline->copyOperand(keyOperand, tile, stageOffset(keyRegion, stage));
  if (precision.quantizedQK()) {
    // The scales of the tile's keys (its tokens need not be contiguous):
    // one f32 word per key, or NVFP4's E4M3 bytes (D / 64 words per key)
    // after the rows.
    int64_t keyWords = precision.qkNvfp4 ? nvfp4ScaleBytes(ctx.headDim) / 4 : 1;
    Value scaleRow =
        scratchRow(ctx.batch, op.getNumKeyValueHeads(), ctx.kvHead, ctx.seqK);
    Value destination =
        precision.qkNvfp4
            ? add(stageOffset(keyRegion, stage),
                  idx(nvfp4ScaleStart(keys.tokens, ctx.qkRowBytes)))
            : stageOffset(keyScaleRegion, stage);
    pipeline->copyWords(
        keys.tokens * keyWords,
        [&](Value index) -> std::pair<Value, Value> {
          auto [token, valid] =
              tokenOf(keys, tile, div(index, keyWords), ctx.seqK);
          Value word = i64Add(
              i64Mul(i64Add(scaleRow, toI64(select(valid, token, idx(0)))),
                     toI64(idx(keyWords))),
              toI64(rem(index, keyWords)));
          return {globalAt(param("k_scale"), word, 4), valid};
        },
        destination);
  }
  if (ctx.correctionRows) {
    // dS[block, key] for the query tile's blocks and the tile's keys.
    Value numBlocks = arith::CeilDivSIOp::create(b, loc, ctx.seqQ,
                                                 idx(precision.smoothQBlock));
    pipeline->copyWords(
        ctx.correctionRows * keys.tokens,
        [&](Value flat) -> std::pair<Value, Value> {
          Value blk = add(ctx.firstCorrectionBlock, div(flat, keys.tokens));
          auto [key, valid] =
              tokenOf(keys, tile, rem(flat, keys.tokens), ctx.seqK);
          valid = andI(valid, lt(blk, numBlocks));
          Value row = scratchIndex(ctx.batch, op.getNumQueryHeads(), ctx.head,
                                   numBlocks, select(valid, blk, idx(0)));
          Value element = i64Add(i64Mul(toI64(row), toI64(ctx.seqK)),
                                 toI64(select(valid, key, idx(0))));
          return {globalAt(param("score_correction"), element, 4), valid};
        },
        stageOffset(correctionRegion, stage));
  }
  pipeline->copyOperand(valueOperand, tile, stageOffset(valueRegion, stage));
  if (precision.fp4Value()) {
    // Each channel's E4M3 scale words of this tile's keys (keys / 64 per
    // channel) after the V^T rows; tiles lie whole in the scale rows.
    int64_t channelWords = nvfp4ScaleBytes(keys.tokens) / 4;
    // Two keys per byte, one scale byte per 16 keys, four per word.
    Value rowWords = div(ctx.transposedValueRowBytes, idx(32));
    Value channelBase = i64Mul(scratchRow(ctx.batch, op.getNumKeyValueHeads(),
                                          ctx.kvHead, idx(ctx.valueDim)),
                               toI64(rowWords));
    pipeline->copyWords(
        ctx.valueDim * channelWords,
        [&](Value index) -> std::pair<Value, Value> {
          Value channel = div(index, channelWords);
          Value word = i64Add(
              i64Add(channelBase, i64Mul(toI64(channel), toI64(rowWords))),
              toI64(
                  add(mul(tile, idx(channelWords)), rem(index, channelWords))));
          return {globalAt(param("v_block_scale"), word, 4), i1(true)};
        },
        add(stageOffset(valueRegion, stage),
            idx(nvfp4ScaleStart(ctx.valueDim, ctx.keys.tokens / 2))));
  }
}

SmallVector<Value>
AttentionKernelBuilder::applyScoreSteps(Fragment &scores, Value stage,
                                        const TileSlot &slot) {
  ScoreOps scoreOps(b, loc, signature, ctx, engine->scoreLayout(),
                    engine->scoreColumnOffset());
  // NVFP4 products come out of the block-scaled MMA in units of q.k.
  if (ctx.precision.quantizedQK() && !ctx.precision.qkNvfp4)
    scoreOps.dequantize(scores, stageOffset(keyScaleRegion, stage));
  scoreOps.addScoreCorrections(
      scores, slot,
      ctx.correctionRows ? stageOffset(correctionRegion, stage) : Value());
  scoreOps.applyMask(scores, slot);
  SmallVector<Value> kept;
  if (ctx.maskAfterSoftmax)
    kept = scoreOps.keptAfterSoftmax(slot);
  return kept;
}

AttentionKernelBuilder::LoopState
AttentionKernelBuilder::unpack(ValueRange values) const {
  LoopState state;
  auto take = [&](SmallVector<Value> &into, int64_t count) {
    into.assign(values.begin(), values.begin() + count);
    values = values.drop_front(count);
  };
  take(state.output, numOutputValues);
  take(state.rows, softmax->numStateValues());
  if (deferValues) {
    take(state.packedP, numPackedP);
    state.hasPrevious = values[0];
    state.previousStage = values[1];
  }
  return state;
}

SmallVector<Value> AttentionKernelBuilder::pack(const LoopState &state) {
  SmallVector<Value> values(state.output);
  llvm::append_range(values, state.rows);
  llvm::append_range(values, state.packedP);
  if (state.hasPrevious) {
    values.push_back(state.hasPrevious);
    values.push_back(state.previousStage);
  }
  return values;
}

SmallVector<Value> AttentionKernelBuilder::noProbabilities() {
  Fragment zeros(engine->accumulatorLayout(),
                 engine->accumulatorLayout().numChunks(ctx.keys.tokens),
                 f32(0));
  return engine->packProbabilities(zeros);
}

SmallVector<Value> AttentionKernelBuilder::initialState() {
  LoopState state;
  state.output = engine->initOutput();
  numOutputValues = state.output.size();
  state.rows = softmax->initState();
  if (deferValues) {
    state.packedP = noProbabilities();
    numPackedP = state.packedP.size();
    state.hasPrevious = i1(false);
    state.previousStage = idx(0);
  }
  return pack(state);
}

SmallVector<Value>
AttentionKernelBuilder::computeTileDeferred(Value stage, const TileSlot &slot,
                                            ValueRange values) {
  const FragmentLayout &layout = engine->accumulatorLayout();
  LoopState state = unpack(values);
  engine->beginIssue();
  SmallVector<Value> pendingScores =
      engine->issueScores(stageOffset(keyRegion, stage));
  // The previous tile's P V goes in behind the scores; wait for the scores
  // only (the older group). While no tile is pending (before the first kept
  // tile, after a skipped tile landed it) P is 0 and V is this tile's
  // (landed, finite where the inputs are): no branch, so no copy of an
  // accumulator in flight (ptxas would serialize the wgmmas).
  SmallVector<Value> products = issueDeferredValues(
      state.output, state.packedP,
      stageOffset(valueRegion,
                  select(state.hasPrevious, state.previousStage, stage)));
  engine->endIssue();
  Fragment scores = engine->waitScores(pendingScores, 1);

  SmallVector<Value> kept = applyScoreSteps(scores, stage, slot);
  // K's rows (and what the score steps read with them) are free once S has
  // landed and been read; V's wait for the next tile.
  if (pipeline->releasesStagesExplicitly())
    pipeline->releaseStage(stage, StagedOperand::Rows::Key);
  // O is rescaled once the previous P V has landed in it.
  SmallVector<Value> alphas(layout.rowSlots);
  SmallVector<Value> rows =
      softmax->update(scores, state.rows, kept,
                      [&](int64_t row, Value alpha) { alphas[row] = alpha; });

  SmallVector<Value> output =
      landDeferredValues(state.output, std::move(products), state.packedP);
  if (pipeline->releasesStagesExplicitly()) {
    auto ifPrevious = scf::IfOp::create(b, loc, state.hasPrevious, false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifPrevious.thenBlock());
    pipeline->releaseStage(state.previousStage, StagedOperand::Rows::Value);
  }
  for (auto [row, alpha] : llvm::enumerate(alphas))
    if (alpha)
      engine->rescaleOutput(output, row, alpha);

  LoopState next;
  next.output = std::move(output);
  next.rows = std::move(rows);
  next.packedP = engine->packProbabilities(scores);
  next.hasPrevious = i1(true);
  next.previousStage = stage;
  return pack(next);
}

SmallVector<Value>
AttentionKernelBuilder::issueDeferredValues(ArrayRef<Value> output,
                                            ArrayRef<Value> packedP,
                                            Value valueTile) {
  // two_level: a fresh accumulator, added into O once it has landed.
  SmallVector<Value> products =
      ctx.precision.accumulation == Accumulation::TwoLevel
          ? engine->initOutput()
          : SmallVector<Value>(output);
  engine->issueValues(products, packedP, valueTile);
  return products;
}

SmallVector<Value>
AttentionKernelBuilder::landDeferredValues(ArrayRef<Value> output,
                                           SmallVector<Value> products,
                                           ArrayRef<Value> packedP) {
  engine->waitValues(products, packedP);
  if (ctx.precision.accumulation != Accumulation::TwoLevel)
    return products;
  SmallVector<Value> sum(output);
  engine->addOutput(sum, products);
  return sum;
}

AttentionKernelBuilder::LoopState
AttentionKernelBuilder::flushDeferredValues(LoopState state) {
  SmallVector<Type> types;
  for (Value v : state.output)
    types.push_back(v.getType());
  auto ifPending =
      scf::IfOp::create(b, loc, types, state.hasPrevious, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifPending.thenBlock());
    SmallVector<Value> products = issueDeferredValues(
        state.output, state.packedP,
        stageOffset(valueRegion, state.previousStage));
    scf::YieldOp::create(b, loc,
                         landDeferredValues(state.output, std::move(products),
                                            state.packedP));
    b.setInsertionPointToStart(ifPending.elseBlock());
    scf::YieldOp::create(b, loc, state.output);
  }
  state.output.assign(ifPending.getResults().begin(),
                      ifPending.getResults().end());
  // No tile is pending now: the next tile's branch-free P V issue (before
  // its own P exists) must multiply zeros, not this tile's P again.
  state.packedP = noProbabilities();
  state.hasPrevious = i1(false);
  return state;
}

void AttentionKernelBuilder::finish(ValueRange values) {
  LoopState state = unpack(values);
  if (deferValues) {
    Value pending = state.hasPrevious, pendingStage = state.previousStage;
    state = flushDeferredValues(std::move(state));
    // A persistent block's producer refills the last tile's V rows for its
    // next unit (a block of one unit exits).
    if (ctx.persistentGrid) {
      auto ifPending = scf::IfOp::create(b, loc, pending, false);
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(ifPending.thenBlock());
      pipeline->releaseStage(pendingStage, StagedOperand::Rows::Value);
    }
  }
  Fragment output = engine->readOutput(state.output);
  Epilogue(b, loc, signature, ctx, *engine, *softmax).emit(output, state.rows);
}

SmallVector<Value> AttentionKernelBuilder::computeTile(Value stage,
                                                       const TileSlot &slot,
                                                       ValueRange values) {
  Value keyTile = stageOffset(keyRegion, stage);
  Value valueTile = stageOffset(valueRegion, stage);
  Fragment scores = engine->computeScores(keyTile);
  SmallVector<Value> kept = applyScoreSteps(scores, stage, slot);

  LoopState state = unpack(values);
  SmallVector<Value> &output = state.output;
  state.rows =
      softmax->update(scores, state.rows, kept, [&](int64_t row, Value alpha) {
        engine->rescaleOutput(output, row, alpha);
      });
  // two_level: the tile's P V goes into a fresh accumulator, added into O
  // once per tile.
  if (ctx.precision.accumulation == Accumulation::TwoLevel) {
    SmallVector<Value> tile = engine->initOutput();
    engine->accumulateValues(tile, scores, valueTile);
    engine->addOutput(output, tile);
  } else {
    engine->accumulateValues(output, scores, valueTile);
  }
  return pack(state);
}

FailureOr<KernelLaunch> AttentionKernelBuilder::build(StringRef name) {
  configure();
  engine = createMmaEngine(family, b, loc, signature, ctx);
  if (!engine)
    return op.emitOpError() << "attn-lower-to-gpu: no engine implements "
                            << stringifyMmaFamily(family);
  pipeline = createTilePipeline(family, b, loc, signature, ctx, *engine);
  if (!pipeline)
    return op.emitOpError() << "attn-lower-to-gpu: no tile pipeline for "
                            << stringifyMmaFamily(family);
  ctx.persistentGrid = pipeline->runsPersistentGrid();
  plan = SharedMemoryPlan(engine->stagedTileAlignment());
  deferValues = engine->issuesAsynchronously() &&
                pipeline->allowsDeferredValueReads() &&
                ctx.precision.accumulation != Accumulation::F16;
  softmax = std::make_unique<OnlineSoftmax>(b, loc, signature, ctx,
                                            engine->accumulatorLayout());
  if (failed(planSharedMemory()))
    return failure();

  TileWalk walk(b, loc, signature, ctx);
  declareParams();
  walk.emitLists(module, name);
  declareDynamicSharedMemory(std::max<int64_t>(128, plan.getAlignment()));
  createFunction(name, engine->numThreads() + pipeline->numProducerThreads());
  pipeline->annotateFunction(func);
  ctx.sharedBase = dynamicSharedMemoryBase();
  // Work units: (query tile, head of this kernel, batch element). One block
  // each, or a persistent grid whose blocks walk them in the same order:
  // query tiles fastest (heads-first: a head's units run together and share
  // its K and V), or heads and batch elements fastest (tiles-first).
  GridFactor queryTiles = tileCountFactor(ctx.queries, "seq_q");
  int64_t numHeadSlots = static_cast<int64_t>(ctx.heads.heads.size());
  auto setupUnit = [&](Value unit) {
    if (ctx.shape.tilesFirst) {
      Value tileAndBatch = div(unit, numHeadSlots);
      Value batches = toIndex(param("batch"));
      emitUnitSetup(div(tileAndBatch, batches), rem(unit, numHeadSlots),
                    rem(tileAndBatch, batches), walk, name);
      return;
    }
    Value tilesPerHead = numTiles(ctx.queries, ctx.seqQ);
    Value slotAndBatch = div(unit, tilesPerHead);
    emitUnitSetup(rem(unit, tilesPerHead), rem(slotAndBatch, numHeadSlots),
                  div(slotAndBatch, numHeadSlots), walk, name);
  };
  Value numUnits;
  if (ctx.persistentGrid) {
    emitThreadSetup();
    launch.grid[0] = {queryTiles, GridFactor{numHeadSlots, "", 1},
                      GridFactor{1, "batch", 1}};
    launch.grid[1] = launch.grid[2] = {GridFactor{1, "", 1}};
    // The producer's and consumers' register split (setmaxnreg) takes the
    // whole register file: one block per multiprocessor.
    launch.persistentBlocksPerSM = 1;
    numUnits = mul(mul(numTiles(ctx.queries, ctx.seqQ), idx(numHeadSlots)),
                   toIndex(param("batch")));
  } else {
    BlockCoordinates block = launchOverHeads(queryTiles, numHeadSlots);
    emitThreadSetup();
    if (ctx.shape.tilesFirst)
      setupUnit(add(block.x, mul(numTiles(ctx.queries, ctx.seqQ),
                                 add(block.headSlot,
                                     mul(block.batch, idx(numHeadSlots))))));
    else
      emitUnitSetup(block.x, block.headSlot, block.batch, walk, name);
  }

  // A pipeline that refills stages by tile position (cp.async) lets the
  // pending P V finish on a skipped tile; explicit releases need nothing.
  auto flushOnSkip = [&](ValueRange state) {
    return pack(flushDeferredValues(unpack(state)));
  };
  function_ref<SmallVector<Value>(ValueRange)> skipTile = nullptr;
  if (deferValues && !pipeline->releasesStagesExplicitly())
    skipTile = flushOnSkip;
  pipeline->emitMainLoop(
      walk, {[&] { loadQuery(); },
             [&](Value keyTile, Value stage) { loadKeyTile(keyTile, stage); },
             [&] {
               engine->loadQuery(idx(plan.start(queryRegion)));
               if (deferValues)
                 engine->beginIssueOrder();
             },
             [&] { return initialState(); },
             [&](Value stage, const TileSlot &slot, ValueRange state) {
               return deferValues ? computeTileDeferred(stage, slot, state)
                                  : computeTile(stage, slot, state);
             },
             [&] {
               if (deferValues)
                 engine->endIssueOrder();
             },
             [&](ValueRange finalState) { finish(finalState); },
             /*deferredValueReads=*/deferValues, skipTile, numUnits,
             numUnits ? function_ref<void(Value)>(setupUnit) : nullptr});
  finishFunction();
  return launch;
}

FailureOr<KernelLaunch> mlir::attn::detail::emitAttentionKernel(
    AttentionOp op, gpu::GPUModuleOp module, StringRef name,
    const GpuTarget &target, MmaFamily family, const KernelHeads &heads,
    const KernelShape &shape, const KernelPrecision &precision) {
  return AttentionKernelBuilder(op, module, target, family, heads, shape,
                                precision)
      .build(name);
}
