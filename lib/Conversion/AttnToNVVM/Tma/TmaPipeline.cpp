//===- TmaPipeline.cpp - bulk tensor copies by a producer warp ------------===//
//
// docs/design/WgmmaKernel.md ("Loads: the TMA pipeline"): barrier layout
// and phases, the producer's and consumers' loops, tensor-map parameters.
//
//===----------------------------------------------------------------------===//

#include "TmaPipeline.h"

#include "TmaIntrinsics.h"

#include "../Common/CpAsyncIntrinsics.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

/// Bytes of one mbarrier.
static constexpr int64_t kBarrierBytes = 8;
/// The producer warpgroup's register budget after `setmaxnreg.dec` (it
/// only computes tile indices and issues copies), and the most a consumer
/// warpgroup asks for.
static constexpr int64_t kProducerRegisters = 24;
static constexpr int64_t kMaxConsumerRegisters = 240;
static constexpr int64_t kWarpThreads = 32;
/// The register file per SM, in registers per thread of one warpgroup.
static constexpr int64_t kRegistersPerWarpgroupSlot = 65536 / 128;

bool TmaPipeline::supports(const AttentionKernelContext &context,
                           const MmaEngine &engine) {
  // Boxes cover flat tiles, 2-D and 3-D patches (rank 5 with the column
  // slab, head and batch) and the FP8 V^T channel rows; gathered words
  // (key scales, dS) are copied by the producer warp.
  const KernelPrecision &precision = context.precision;
  // Consumers and the producer are whole warpgroups (setmaxnreg).
  if (engine.numThreads() % kWarpgroupThreads != 0)
    return false;
  ArrayRef<int64_t> grid = context.shape.grid;
  if (grid.size() > 3)
    return false;
  int64_t valueRowBytes = precision.fp8Value()
                              ? context.keys.tokens
                              : context.valueDim * byteWidth(context.pvType);
  for (int64_t rowBytes : {context.qkRowBytes, valueRowBytes})
    if (engine.stagedSlabBytes(rowBytes) == 0)
      return false;
  // A 3-D patch is one box per plane, on the grid's rows of columns: its
  // rows must not run into the next plane (they would not be zero-filled),
  // and each plane's box must start where the engine aligns staged tiles
  // (the swizzle's period).
  auto planesFit = [&](const TileGeometry &tiles, int64_t rowBytes) {
    return grid[1] % tiles.shape[1] == 0 &&
           tiles.shape[1] * tiles.shape[2] * engine.stagedSlabBytes(rowBytes) %
                   engine.stagedTileAlignment() ==
               0;
  };
  if (grid.size() == 3 &&
      !(planesFit(context.queries, context.qkRowBytes) &&
        planesFit(context.keys, context.qkRowBytes) &&
        (precision.fp8Value() || planesFit(context.keys, valueRowBytes))))
    return false;
  return true;
}

int64_t TmaPipeline::numProducerThreads() const { return kWarpgroupThreads; }

bool TmaPipeline::supportsPersistentGrid() const {
  return engine.numThreads() / kWarpgroupThreads > 1;
}

int64_t TmaPipeline::sharedBytes() const {
  return (3 * numStages() + 1 + (runsPersistentGrid() ? 1 : 0)) * kBarrierBytes;
}

int64_t TmaPipeline::tileBytes(StagedOperand::Rows rows) const {
  bool query = rows == StagedOperand::Rows::Query;
  int64_t bytes = 0;
  for (const StagedOperand &operand : operands)
    if (operand.rows == rows)
      bytes += operand.rowBytes *
               operand.rowsPerTile(query ? ctx.queries : ctx.keys);
  return bytes;
}

unsigned TmaPipeline::declareOperand(const StagedOperand &operand,
                                     function_ref<void(KernelParam)> addParam) {
  // The tensor as [row elements, tokens (or the 2-D grid's columns, rows),
  // heads, batch], innermost first; a box is one column slab of the tile.
  bool query = operand.rows == StagedOperand::Rows::Query;
  const TileGeometry &geometry = query ? ctx.queries : ctx.keys;
  int64_t elementBytes = byteWidth(operand.elementType);
  int64_t slabBytes = engine.stagedSlabBytes(operand.rowBytes);
  int64_t heads =
      query ? ctx.op.getNumQueryHeads() : ctx.op.getNumKeyValueHeads();
  std::string length = query ? "seq_q" : "seq_k";
  auto constant = [](int64_t v) { return SmallVector<GridFactor>{{v, "", 1}}; };
  auto scaledArg = [](int64_t scale, StringRef arg) {
    return SmallVector<GridFactor>{{scale, arg.str(), 1}};
  };
  TensorMapDescription map;
  map.tensor = operand.tensor;
  map.swizzle = slabBytes;
  if (operand.channels) {
    // [slots, channels, heads, batch] bytes: a box is one slab of a tile's
    // slots across its channels.
    assert(elementBytes == 1 && !query && "channel rows are FP8 V^T");
    map.dataType = "u8";
    // Slots: whole key tiles (ceil(seq_k / tokens) tiles on a flat
    // sequence, the grid's boxes otherwise).
    int64_t tokens = geometry.tokens;
    SmallVector<GridFactor> slots =
        geometry.isFlat() ? SmallVector<GridFactor>{{tokens, length, tokens}}
                          : constant(geometry.numBoxes() * tokens);
    map.dims = {slots, constant(operand.channels), constant(heads),
                scaledArg(1, "batch")};
    SmallVector<GridFactor> headStride = slots, batchStride = slots;
    headStride.front().constant *= operand.channels;
    batchStride.front().constant *= operand.channels * heads;
    map.strides = {slots, headStride, batchStride};
    map.box = {slabBytes, operand.channels, 1, 1};
    std::string name = operand.tensor + "_tensor_map";
    addParam(KernelParam{name, LLVM::LLVMPointerType::get(b.getContext()),
                         std::move(map)});
    mapParams.push_back(name);
    return TilePipeline::declareOperand(operand, addParam);
  }
  map.dataType = elementBytes == 1              ? "u8"
                 : operand.elementType.isBF16() ? "bf16"
                                                : "f16";
  // A padded head dim's box reaches past the tensor's row: the copy fills
  // those elements with zeros (and still counts them in its bytes).
  map.dims.push_back(constant(operand.readRowBytes() / elementBytes));
  map.box.push_back(slabBytes / elementBytes);
  // Byte strides of the token dimension(s), the head and the batch.
  SmallVector<GridFactor> tokenStride, headStride, batchStride;
  if (operand.dense) {
    tokenStride = constant(operand.rowBytes);
    headStride = scaledArg(operand.rowBytes, length);
    batchStride = scaledArg(operand.rowBytes * heads, length);
  } else {
    tokenStride = scaledArg(elementBytes, operand.tensor + "_stride_n");
    headStride = scaledArg(elementBytes, operand.tensor + "_stride_h");
    batchStride = scaledArg(elementBytes, operand.tensor + "_stride_b");
  }
  if (geometry.isFlat()) {
    map.dims.push_back(scaledArg(1, length));
    map.strides.push_back(tokenStride);
    map.box.push_back(geometry.tokens);
  } else {
    // A row-major grid as columns and rows of columns (the rows of a 3-D
    // grid's planes one after another); a box is the last two dimensions
    // of the patch, written row-major as the tile's positions: a 2-D patch
    // is one box, a 3-D patch one box per plane (copyOperand).
    int64_t columns = geometry.grid.back();
    int64_t rows = 1;
    for (int64_t extent : ArrayRef<int64_t>(geometry.grid).drop_back())
      rows *= extent;
    map.dims.push_back(constant(columns));
    map.dims.push_back(constant(rows));
    map.strides.push_back(tokenStride);
    SmallVector<GridFactor> rowStride = tokenStride;
    rowStride.front().constant *= columns;
    map.strides.push_back(rowStride);
    map.box.push_back(geometry.shape.back());
    map.box.push_back(geometry.shape[geometry.shape.size() - 2]);
  }
  map.dims.push_back(constant(heads));
  map.strides.push_back(headStride);
  map.box.push_back(1);
  map.dims.push_back(scaledArg(1, "batch"));
  map.strides.push_back(batchStride);
  map.box.push_back(1);

  std::string name = operand.tensor + "_tensor_map";
  addParam(KernelParam{name, LLVM::LLVMPointerType::get(b.getContext()),
                       std::move(map)});
  mapParams.push_back(name);
  return TilePipeline::declareOperand(operand, addParam);
}

void TmaPipeline::annotateFunction(gpu::GPUFuncOp function) {
  // setmaxnreg needs a register count at entry, which ptxas derives from
  // the block size (maxntid, from the known block size) and one block per
  // SM.
  function->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
}

Value TmaPipeline::barrierAddress(Value index) {
  return nb::sharedAddress(
      b, loc,
      sharedAt(ctx.sharedBase,
               add(idx(barrierOffset), mul(index, idx(kBarrierBytes)))));
}

void TmaPipeline::asIssuer(function_ref<void()> body) {
  if (!issuerLane) {
    body();
    return;
  }
  auto ifIssuer = scf::IfOp::create(b, loc, issuerLane, false);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifIssuer.thenBlock());
  body();
}

void TmaPipeline::armRows(StagedOperand::Rows rows) {
  bool &armed = rows == StagedOperand::Rows::Key ? keysArmed : valuesArmed;
  if (armed)
    return;
  armed = true;
  nb::mbarrierWait(b, loc, emptyBarrier(loadingStage, rows), emptyParity);
  if (tileBytes(rows) == 0)
    return;
  asIssuer([&] {
    nb::mbarrierArriveExpectTx(b, loc, landingBarrier, tileBytes(rows));
  });
}

void TmaPipeline::copyOperand(unsigned operand, Value tile,
                              Value sharedOffset) {
  const StagedOperand &staged = operands[operand];
  if (staged.rows != StagedOperand::Rows::Query)
    armRows(staged.rows);
  bool query = staged.rows == StagedOperand::Rows::Query;
  const TileGeometry &geometry = query ? ctx.queries : ctx.keys;
  int64_t slabBytes = engine.stagedSlabBytes(staged.rowBytes);
  int64_t slabElements = slabBytes / byteWidth(staged.elementType);
  int64_t rowsPerTile = staged.rowsPerTile(geometry);
  Type i32 = b.getI32Type();
  auto toI32 = [&](Value v) {
    return arith::IndexCastOp::create(b, loc, i32, v).getResult();
  };
  asIssuer([&] {
    // The box's coordinates past the first (the slab's): the tile's
    // tokens, or for channel rows the first channel.
    SmallVector<Value> tokenCoordinates;
    Value rowStart; // channel rows: the tile's first slot
    if (staged.channels) {
      rowStart = toI32(mul(tile, idx(geometry.tokens)));
      tokenCoordinates.push_back(nb::i32Constant(b, loc, 0));
    } else if (geometry.isFlat()) {
      tokenCoordinates.push_back(toI32(mul(tile, idx(geometry.tokens))));
    } else {
      // The box's column and row (of the patch's first plane).
      SmallVector<Value> origin = TileIndexing(b, loc, geometry).boxBegin(tile);
      Value row = origin[origin.size() - 2];
      if (origin.size() == 3)
        row = add(mul(origin[0], idx(geometry.grid[1])), row);
      tokenCoordinates = {toI32(origin.back()), toI32(row)};
    }
    Value head = toI32(query ? ctx.head : ctx.kvHead);
    Value batch = toI32(ctx.batch);
    Value map = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(),
                                         param(mapParams[operand]));
    // A 3-D patch's planes are boxes grid[1] rows apart (channel rows are
    // one box per slab whatever the tiles).
    int64_t planes =
        geometry.grid.size() == 3 && !staged.channels ? geometry.shape[0] : 1;
    int64_t planeRows = rowsPerTile / planes;
    for (int64_t slab = 0; slab < staged.rowBytes / slabBytes; ++slab) {
      for (int64_t plane = 0; plane < planes; ++plane) {
        Value slabStart = nb::i32Constant(b, loc, slab * slabElements);
        SmallVector<Value> coordinates = {
            rowStart ? arith::AddIOp::create(b, loc, rowStart, slabStart)
                     : slabStart};
        llvm::append_range(coordinates, tokenCoordinates);
        if (plane != 0)
          coordinates[2] = arith::AddIOp::create(
              b, loc, coordinates[2],
              nb::i32Constant(b, loc, plane * geometry.grid[1]));
        coordinates.push_back(head);
        coordinates.push_back(batch);
        Value destination = nb::sharedAddress(
            b, loc,
            sharedAt(ctx.sharedBase, add(sharedOffset, idx((slab * rowsPerTile +
                                                            plane * planeRows) *
                                                           slabBytes))));
        nb::bulkTensorLoad(b, loc, destination, map, landingBarrier,
                           coordinates);
      }
    }
  });
}

void TmaPipeline::releaseStage(Value stage, StagedOperand::Rows rows) {
  // Gathered words are rewritten by the producer lanes' cp.async (generic
  // proxy): every consumer thread releases the key rows it read, which
  // compute-sanitizer's racecheck follows (one arrival per warp after
  // bar.warp.sync orders the same, but racecheck reported it on an H100).
  if (gathersWords && rows == StagedOperand::Rows::Key) {
    nb::mbarrierArrive(b, loc, emptyBarrier(stage, rows));
    return;
  }
  releaseRows(emptyBarrier(stage, rows));
}

void TmaPipeline::releaseRows(Value barrier) {
  // One arrival per consumer warp, after all its lanes are done.
  nb::warpSync(b, loc);
  auto ifLeader = scf::IfOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, ctx.lane, idx(0)), false);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifLeader.thenBlock());
  nb::mbarrierArrive(b, loc, barrier);
}

void TmaPipeline::copyRows(const TileGeometry &, Value, Value, Value, Value,
                           Value, int64_t, int64_t, int64_t, Value) {
  llvm::report_fatal_error("attn-lower-to-gpu: the TMA pipeline stages "
                           "declared operands only (TmaPipeline::supports)");
}

void TmaPipeline::copyWords(
    int64_t count, function_ref<std::pair<Value, Value>(Value index)> source,
    Value sharedOffset) {
  // The producer warp's lanes copy the words of the key rows being loaded
  // (once their stage is free); each lane arrives on the full barrier once
  // its copies have landed (emitMainLoop).
  assert(gathersWords && issuerLane && "words declared, copied by a warp");
  armRows(StagedOperand::Rows::Key);
  auto loop =
      scf::ForOp::create(b, loc, ctx.lane, idx(count), idx(kWarpThreads));
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(loop.getBody());
  Value index = loop.getInductionVar();
  auto [src, valid] = source(index);
  Value bytes = select(valid, i32(4), i32(0));
  nb::copyAsync(b, loc,
                sharedAt(ctx.sharedBase, add(sharedOffset, mul(index, idx(4)))),
                src, /*size=*/4, bytes);
}

SmallVector<Value> TmaPipeline::forEachUnit(
    const TileCallbacks &callbacks, ValueRange carried,
    function_ref<SmallVector<Value>(Value iteration, ValueRange carried)>
        body) {
  if (!callbacks.numUnits)
    return body(idx(0), carried);
  // Units blockIdx.x, blockIdx.x + gridDim.x, ...: unit / gridDim.x counts
  // them (blockIdx.x < gridDim.x) and gives the phase of Q's barriers.
  Value step = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  auto loop = scf::ForOp::create(
      b, loc, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
      callbacks.numUnits, step, carried);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(loop.getBody());
  Value unit = loop.getInductionVar();
  callbacks.beginUnit(unit);
  scf::YieldOp::create(b, loc, body(div(unit, step), loop.getRegionIterArgs()));
  return SmallVector<Value>(loop.getResults());
}

void TmaPipeline::emitMainLoop(TileWalk &walk, const TileCallbacks &callbacks) {
  int64_t stages = numStages();
  int64_t consumerThreads = engine.numThreads();
  bool persistent = callbacks.numUnits != nullptr;
  assert(persistent == runsPersistentGrid() &&
         "the skeleton hands out units exactly when the grid is persistent");
  // Each kind of row a key tile stages arms the full barrier once.
  int64_t numRowKinds = 0;
  for (StagedOperand::Rows rows :
       {StagedOperand::Rows::Key, StagedOperand::Rows::Value})
    numRowKinds += llvm::any_of(operands, [&](const StagedOperand &operand) {
      return operand.rows == rows;
    });
  // One thread initializes the barriers: a full barrier completes when the
  // producer has armed it for the key rows and for the value rows and
  // their bytes have landed; the key rows' and the value rows' empty
  // barriers complete when every consumer warp has released them (the
  // value rows may be released a tile later than the key rows). In a
  // persistent grid Q's rows have an empty barrier too: the next unit's Q
  // loads once every consumer warp is past its last score product.
  {
    auto ifFirst = scf::IfOp::create(
        b, loc, cmp(arith::CmpIPredicate::eq, ctx.tid, idx(0)), false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifFirst.thenBlock());
    // With gathered words, each producer lane's cp.async completions
    // arrive too.
    int64_t fullArrivals = numRowKinds + (gathersWords ? kWarpThreads : 0);
    for (int64_t s = 0; s < stages; ++s) {
      nb::mbarrierInit(b, loc, fullBarrier(idx(s)), fullArrivals);
      for (StagedOperand::Rows rows :
           {StagedOperand::Rows::Key, StagedOperand::Rows::Value})
        nb::mbarrierInit(b, loc, emptyBarrier(idx(s), rows),
                         gathersWords && rows == StagedOperand::Rows::Key
                             ? consumerThreads
                             : numConsumerWarps());
    }
    nb::mbarrierInit(b, loc, queryBarrier(), 1);
    if (persistent)
      nb::mbarrierInit(b, loc, queryEmptyBarrier(), numConsumerWarps());
    nb::fenceMbarrierInit(b, loc);
  }
  gpu::BarrierOp::create(b, loc);

  // Stage and phase of the n-th loaded tile (or unit): the producer and
  // the consumers count the kept tiles, and the units, alike.
  auto stageOf = [&](Value loaded) { return rem(loaded, stages); };
  auto phaseParity = [&](Value count, int64_t period) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                      rem(div(count, period), 2))
        .getResult();
  };
  auto parityOf = [&](Value loaded) { return phaseParity(loaded, stages); };
  // A fresh barrier counts parity 1 as complete: a producer's first wait
  // on an empty barrier passes.
  auto emptyParityOf = [&](Value parity) {
    return arith::XOrIOp::create(b, loc, parity, nb::i32Constant(b, loc, 1))
        .getResult();
  };
  // The run-time condition of a slot's tile being kept; none when it is
  // kept whatever the run-time values (a constant-false slot keeps the
  // branch, which canonicalization folds).
  auto keeps = [&](const TileSlot &slot) -> std::optional<Value> {
    if (auto constant = getConstantIntValue(slot.mayKeep))
      return *constant ? std::optional<Value>()
                       : std::optional<Value>(i1(false));
    return slot.mayKeep;
  };

  Value isProducer =
      cmp(arith::CmpIPredicate::sge, ctx.tid, idx(consumerThreads));
  auto roles = scf::IfOp::create(b, loc, isProducer, /*withElse=*/true);
  OpBuilder::InsertionGuard insertion(b);

  // The producer warpgroup: one thread issues every tensor copy; with
  // gathered words its whole first warp walks the tiles and copies them.
  b.setInsertionPointToStart(roles.thenBlock());
  // Registers move from the producer to the consumers only with two
  // consumer warpgroups: with one, 256 threads already have the most a
  // thread may use at entry.
  int64_t consumerWarpgroups = consumerThreads / kWarpgroupThreads;
  bool reallocate = consumerWarpgroups > 1;
  if (reallocate)
    nb::setMaxRegisters(b, loc, /*increase=*/false, kProducerRegisters);
  {
    Value walks = gathersWords ? cmp(arith::CmpIPredicate::slt, ctx.tid,
                                     idx(consumerThreads + kWarpThreads))
                               : cmp(arith::CmpIPredicate::eq, ctx.tid,
                                     idx(consumerThreads));
    issuerLane = gathersWords ? cmp(arith::CmpIPredicate::eq, ctx.lane, idx(0))
                              : Value();
    auto ifIssuer = scf::IfOp::create(b, loc, walks, false);
    OpBuilder::InsertionGuard issuerInsertion(b);
    b.setInsertionPointToStart(ifIssuer.thenBlock());
    forEachUnit(callbacks, {idx(0)}, [&](Value iteration, ValueRange carried) {
      if (persistent)
        nb::mbarrierWait(b, loc, queryEmptyBarrier(),
                         emptyParityOf(phaseParity(iteration, 1)));
      landingBarrier = queryBarrier();
      asIssuer([&] {
        nb::mbarrierArriveExpectTx(b, loc, landingBarrier,
                                   tileBytes(StagedOperand::Rows::Query));
      });
      callbacks.loadQuery();
      auto loop =
          scf::ForOp::create(b, loc, idx(0), walk.count(), idx(1), carried);
      OpBuilder::InsertionGuard loopInsertion(b);
      b.setInsertionPointToStart(loop.getBody());
      Value loaded = loop.getRegionIterArgs().front();
      TileSlot slot = walk.slot(loop.getInductionVar());
      auto emitLoad = [&]() {
        Value stage = stageOf(loaded);
        // Each kind of rows waits for its own release when its first copy
        // is issued (armRows).
        loadingStage = stage;
        emptyParity = emptyParityOf(parityOf(loaded));
        landingBarrier = fullBarrier(stage);
        keysArmed = valuesArmed = false;
        callbacks.loadKeyTile(slot.keyTile, stage);
        if (gathersWords)
          nb::arriveAfterCopies(b, loc, landingBarrier);
        return add(loaded, idx(1));
      };
      Value next;
      if (std::optional<Value> keep = keeps(slot)) {
        auto ifKeep = scf::IfOp::create(b, loc, TypeRange{b.getIndexType()},
                                        *keep, /*withElse=*/true);
        OpBuilder::InsertionGuard keepInsertion(b);
        b.setInsertionPointToStart(ifKeep.thenBlock());
        scf::YieldOp::create(b, loc, emitLoad());
        b.setInsertionPointToStart(ifKeep.elseBlock());
        scf::YieldOp::create(b, loc, loaded);
        next = ifKeep.getResult(0);
      } else {
        next = emitLoad();
      }
      scf::YieldOp::create(b, loc, next);
      return SmallVector<Value>(loop.getResults());
    });
  }

  // The consumer warpgroups: wait for each kept tile, compute it, release
  // its stage (one arrival per warp, after the warp's reads are done).
  b.setInsertionPointToStart(roles.elseBlock());
  if (reallocate)
    nb::setMaxRegisters(
        b, loc, /*increase=*/true,
        std::min<int64_t>(kMaxConsumerRegisters,
                          (kRegistersPerWarpgroupSlot - kProducerRegisters) /
                              consumerWarpgroups / 8 * 8));
  forEachUnit(callbacks, {idx(0)}, [&](Value iteration, ValueRange carried) {
    nb::mbarrierWait(b, loc, queryBarrier(), phaseParity(iteration, 1));
    callbacks.queryLanded();
    SmallVector<Value> init = callbacks.initialState();
    int64_t numKernelValues = init.size();
    init.push_back(carried.front());
    auto loop = scf::ForOp::create(b, loc, idx(0), walk.count(), idx(1), init);
    {
      OpBuilder::InsertionGuard loopInsertion(b);
      b.setInsertionPointToStart(loop.getBody());
      ValueRange iterArgs = loop.getRegionIterArgs();
      ValueRange state = iterArgs.take_front(numKernelValues);
      Value loaded = iterArgs.back();
      TileSlot slot = walk.slot(loop.getInductionVar());
      auto emitCompute = [&]() {
        Value stage = stageOf(loaded);
        nb::mbarrierWait(b, loc, fullBarrier(stage), parityOf(loaded));
        SmallVector<Value> next = callbacks.computeTile(stage, slot, state);
        if (!callbacks.deferredValueReads) {
          releaseStage(stage, StagedOperand::Rows::Key);
          releaseStage(stage, StagedOperand::Rows::Value);
        }
        next.push_back(add(loaded, idx(1)));
        return next;
      };
      SmallVector<Value> next;
      if (std::optional<Value> keep = keeps(slot)) {
        auto ifKeep = scf::IfOp::create(b, loc, iterArgs.getTypes(), *keep,
                                        /*withElse=*/true);
        OpBuilder::InsertionGuard keepInsertion(b);
        b.setInsertionPointToStart(ifKeep.thenBlock());
        scf::YieldOp::create(b, loc, emitCompute());
        b.setInsertionPointToStart(ifKeep.elseBlock());
        scf::YieldOp::create(b, loc, iterArgs);
        next.assign(ifKeep.getResults().begin(), ifKeep.getResults().end());
      } else {
        next = emitCompute();
      }
      scf::YieldOp::create(b, loc, next);
    }
    callbacks.walkEnded();
    // Every score product of the unit has landed: Q's rows are free for
    // the next unit while this one's last P V and epilogue run. (After
    // walkEnded: a warpgroup that has ended its turns here cannot start the
    // next unit's before the other has ended this unit's, since the next Q
    // waits for both.)
    if (persistent)
      releaseRows(queryEmptyBarrier());
    callbacks.finish(loop.getResults().take_front(numKernelValues));
    return SmallVector<Value>{loop.getResults().back()};
  });
}
