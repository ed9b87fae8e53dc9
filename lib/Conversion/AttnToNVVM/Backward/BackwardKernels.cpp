//===- BackwardKernels.cpp - the kernels of attn.attention_grad -----------===//
//
// SEMANTICS.md section 5 on mma.sync m16n8k16, in the fragment layouts of
// docs/design/FragmentLayouts.md. The key-tile-major kernel gives each
// warp 16 keys of its block's key tile, so every product has the keys as
// its M rows and P^T, dS^T come out of the accumulators in the layout the
// next products take as A operands:
//
//   S^T  = K Q^T          A: K rows (ldmatrix)     B: Q rows (ldmatrix)
//   dP^T = V dY^T         A: V rows                B: dY rows
//   dV  += (a P)^T dY     A: P^T from registers    B: dY (ldmatrix.trans)
//   dK  += dS^T Q         A: dS^T from registers   B: Q (ldmatrix.trans)
//   dQ  += dS K           A: dS^T staged, by ldmatrix.trans; B: K (.trans)
//
// with a = c (1 - u) the factor of dA = a dY per query row, and dQ summed
// over key tiles by f32 reductions into a scratch accumulator.
//
// On sm_90a (family wgmma, D and Dv of 64 or 128, 64 x 128 tiles) the same
// kernel runs the five products as warpgroup MMAs: a warpgroup's m64
// accumulator is the fragments of its four warps' 16 keys each, so
// everything between the products is shared with mma.sync. S^T and dP^T
// read K / V and Q / dY from shared memory (both K-major), dV and dK take
// P^T and dS^T from registers with dY and Q read MN-major, and dQ = dS K
// reads the staged dS^T MN-major as A (transposed) and K MN-major; tiles
// are staged in wgmma's swizzled slabs (emitWgmmaChunkOffset). The
// deterministic mode's query-tile-major kernel gives each warp 16 queries
// instead (S = Q K^T, dP = dY V^T, dQ += dS K with dS from registers) and
// writes each dQ row once.
//
//===----------------------------------------------------------------------===//

#include "BackwardKernels.h"

#include "../Common/CpAsyncIntrinsics.h"
#include "../Common/FragmentLayout.h"
#include "../Common/KernelBuilderBase.h"
#include "../Common/TilePipeline.h"
#include "../KernelSupport.h"
#include "../MmaSync/MmaSyncEngine.h"
#include "../MmaSync/MmaSyncIntrinsics.h"
#include "../Wgmma/WgmmaEngine.h"
#include "../Wgmma/WgmmaIntrinsics.h"

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/ScopeExit.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

namespace {

/// Bytes of one cp.async / ldmatrix row.
constexpr int64_t kChunkBytes = 16;
/// Threads of the per-row kernels (one query row each).
constexpr int64_t kRowThreads = 128;
constexpr int64_t kWarpSize = 32;
static_assert(kRowThreads % kWarpSize == 0, "row kernels take whole warps");
/// Channels of dQ = dS K accumulated at a time (dK and dV hold most of the
/// registers meanwhile).
constexpr int64_t kQueryGradSlab = 32;
/// Head dims the backward serves (the forward's mma.sync range).
constexpr int64_t kMaxHeadDim = 256;
/// Channels of dK, dV (key-tile kernel) or dQ (deterministic query-tile
/// kernel) a walk accumulates in registers: wider heads take one walk per
/// slice of this many channels, S and dP recomputed in each.
constexpr int64_t kPassChannels = 128;

/// The scratch buffers the kernels share, by name.
constexpr StringLiteral kQueryGradAccumulator = "bwd_q_grad_accumulator";
/// Per query row, [B, Hq, Nq, 4] f32: LSE log2(e) (+inf where P = 0: the
/// row keeps no key), Dlt - dLSE, a, and a pad word, so that one 16-byte
/// cp.async stages a row's values.
constexpr StringLiteral kRowValues = "bwd_row_values";
constexpr int64_t kRowValueWords = 4;
constexpr StringLiteral kGateSum = "bwd_gate_sum";
/// dBias in f32 at the bias's shape ([Bb, Hb, Nq, Nk], dense), summed by
/// f32 reductions from the key-tile kernels.
constexpr StringLiteral kBiasGradAccumulator = "bwd_bias_grad_accumulator";

/// What every backward kernel knows of the op.
struct BackwardConfig {
  Type elementType;
  int64_t numQueryHeads = 0, numKvHeads = 0, groupSize = 0;
  /// D and Dv as staged (padded to 16) and as stored.
  int64_t headDim = 0, valueDim = 0, sourceHeadDim = 0, sourceValueDim = 0;
  double scale = 1.0;
  SmallVector<HeadFactors> factors;
  bool softpag = false;
  TileGeometry queries, keys;
  /// The bias's heads (1 or Hq) and whether one bias serves every batch
  /// element (rank 2, or a static dim 0 of 1): dBias sums over those
  /// dimensions. A dynamic dim 0 gets an accumulator plane per batch
  /// element, summed by the finish kernel where it is 1 at run time.
  int64_t biasHeads = 0;
  bool biasBatchBroadcast = false;
  /// The chip's shared memory per block (the stages chosen from it) and
  /// whether dQ's reductions may add two words at once.
  int64_t maxSharedBytes = 0;
  bool vectorReductions = false;
  /// The key-tile kernel's products run on wgmma (isWgmmaBackwardShape),
  /// its tiles staged in wgmma's swizzled slabs.
  bool wgmma = false;
};

BackwardConfig getBackwardConfig(AttentionGradOp op, const GpuTarget &target,
                                 MmaFamily family) {
  BackwardConfig config;
  config.elementType =
      cast<MemRefType>(op.getQuery().getType()).getElementType();
  config.numQueryHeads = op.getNumQueryHeads();
  config.numKvHeads = op.getNumKeyValueHeads();
  config.groupSize = config.numQueryHeads / config.numKvHeads;
  config.sourceHeadDim = op.getHeadDim();
  config.sourceValueDim = op.getValueHeadDim();
  config.headDim = getStagedHeadDim(config.sourceHeadDim);
  config.valueDim = getStagedHeadDim(config.sourceValueDim);
  config.scale = *op.getEffectiveScale();
  for (int64_t h = 0; h < config.numQueryHeads; ++h)
    config.factors.push_back(getHeadFactors(op, h));
  config.softpag = op.getHeadsAttr() && op.getHeadsAttr().getSoftpag();
  config.maxSharedBytes = target.maxSharedBytesPerBlock;
  config.vectorReductions = target.hasVectorReductions();
  if (Value bias = op.getBias()) {
    // [Nq, Nk] or [B|1, Hq|1, Nq, Nk] (the verifier's shapes).
    auto type = cast<MemRefType>(bias.getType());
    bool perPair = type.getRank() == 2;
    config.biasHeads = perPair ? 1 : type.getDimSize(1);
    config.biasBatchBroadcast = perPair || type.getDimSize(0) == 1;
  }
  // Without a tiling (attn-plan gives one): flat tiles of the defaults.
  TileSizes tiles = getBackwardTiles(config.headDim, config.valueDim,
                                     target.maxSharedBytesPerBlock, family);
  SmallVector<int64_t> queryShape{tiles.query}, keyShape{tiles.key}, grid;
  if (TilingAttr tiling = op.getTilingAttr()) {
    queryShape.assign(tiling.getQuery().begin(), tiling.getQuery().end());
    keyShape.assign(tiling.getKey().begin(), tiling.getKey().end());
    if (tiling.getRank() > 1)
      grid = op.getTokenGrid();
  }
  config.queries = TileGeometry::of(queryShape, grid);
  config.keys = TileGeometry::of(keyShape, grid);
  config.wgmma =
      family == MmaFamily::Wgmma && target.hasWgmma() &&
      isWgmmaBackwardShape({config.queries.tokens, config.keys.tokens},
                           config.headDim, config.valueDim);
  return config;
}

/// Channels [first, first + count) of a head dim.
struct ChannelSlice {
  int64_t first = 0, count = 0;
  int64_t end() const { return first + count; }
};

/// Slice `pass` of `channels` staged channels in slices of kPassChannels
/// (empty past the end).
ChannelSlice channelSlice(int64_t channels, int64_t pass) {
  int64_t first = std::min(channels, pass * kPassChannels);
  return {first, std::min(channels - first, kPassChannels)};
}

/// The walks a kernel makes to accumulate `channels` channels.
int64_t numChannelPasses(int64_t channels) {
  return llvm::divideCeil(channels, kPassChannels);
}

using BackwardBuilderBase = KernelBuilderBaseFor<AttentionGradOp>;

/// What the three per-row kernels share: the grid (a thread per query row
/// of one head), the head's compile-time factors selected at run time, the
/// scratch rows.
class RowKernelBuilder : protected BackwardBuilderBase {
public:
  RowKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                   const BackwardConfig &config)
      : BackwardBuilderBase(op, module), config(config) {}

protected:
  /// Adds the size parameters (after the kernel's own), creates the
  /// function and enters the thread's query row of head slot y (a query
  /// head, or a kv head for `heads` = Hkv) of batch element z: an scf.if on
  /// the row being in the sequence.
  void beginRowKernel(StringRef name, int64_t heads) {
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kRowThreads);
    BlockCoordinates block =
        launchOverHeads(GridFactor{1, "seq_q", kRowThreads}, heads);
    thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    firstRow = mul(block.x, idx(kRowThreads));
    row = add(firstRow, thread);
    headSlot = block.headSlot;
    batch = block.batch;
    rowGuard = scf::IfOp::create(b, loc, lt(row, toIndex(param("seq_q"))),
                                 /*withElse=*/false);
    b.setInsertionPointToStart(rowGuard.thenBlock());
  }
  /// The same with a thread per (query row, `perThread` consecutive
  /// channels) of `channels`: consecutive threads take consecutive
  /// channels of a row, so a row's loads and stores coalesce. Returns the
  /// thread's first channel (a multiple of `perThread`).
  Value beginChannelKernel(StringRef name, int64_t heads, int64_t channels,
                           int64_t perThread = 1) {
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kRowThreads);
    int64_t groups = llvm::divideCeil(channels, perThread);
    BlockCoordinates block =
        launchOverHeads(GridFactor{groups, "seq_q", kRowThreads}, heads);
    Value element = add(mul(block.x, idx(kRowThreads)),
                        gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    row = div(element, idx(groups));
    headSlot = block.headSlot;
    batch = block.batch;
    auto inRange = scf::IfOp::create(b, loc, lt(row, toIndex(param("seq_q"))),
                                     /*withElse=*/false);
    b.setInsertionPointToStart(inRange.thenBlock());
    return mul(rem(element, idx(groups)), idx(perThread));
  }
  KernelLaunch endRowKernel() {
    b.setInsertionPointToEnd(&func.getBody().front());
    finishFunction();
    return launch;
  }
  /// Head `head`'s weight and SoftPAG u (compile-time per head).
  std::pair<Value, Value> headFactors(Value head) {
    SmallVector<Value> weights, us;
    for (const HeadFactors &f : config.factors) {
      weights.push_back(f32(f.weight));
      us.push_back(f32(f.softpagU));
    }
    return {selectBySlot(head, weights), selectBySlot(head, us)};
  }
  /// c = w G[b, i, h] (w without gates).
  Value outputFactor(Value head, Value weight) {
    if (!op.getGates())
      return weight;
    return mulF(weight, loadElement("gates", op.getGates(),
                                    {{batch, "b"}, {row, "q"}, {head, "h"}}));
  }
  /// Element `terms` of tensor parameter `name` (its strides by role), as
  /// f32.
  Value loadElement(StringRef name, Value operand,
                    ArrayRef<std::pair<Value, StringRef>> terms,
                    Value column = Value()) {
    Value offset = strided(name, terms, column);
    Type type = cast<MemRefType>(operand.getType()).getElementType();
    return toF32(
        loadGlobal(type, globalAt(param(name), offset, byteWidth(type))));
  }
  void storeElement(Value value, StringRef name, Value operand,
                    ArrayRef<std::pair<Value, StringRef>> terms,
                    Value column = Value()) {
    Value offset = strided(name, terms, column);
    Type type = cast<MemRefType>(operand.getType()).getElementType();
    LLVM::StoreOp::create(b, loc, fromF32(value, type),
                          globalAt(param(name), offset, byteWidth(type)));
  }
  /// f32 word `index` (i64) of scratch buffer `name`.
  Value scratchAt(StringRef name, Value index) {
    return globalAt(param(name), index, 4);
  }
  /// dot(dY[b, h, i], X[b, h', i]) over Dv for X = O (h' = h) or V (h' =
  /// the kv head of h, `ofKvHead`), of the thread's row i. Emitted before the
  /// row guard: each warp computes the dots of its 32 rows together, a row at a
  /// time with its lanes over consecutive channels (coalesced loads; a thread
  /// walking its own row touches a sector per lane per load), reduced by
  /// shuffles; lane r keeps row r's dot.
  Value dotWithOutputGrad(Value head, StringRef name, Value operand,
                          bool ofKvHead) {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPoint(rowGuard);
    Value operandHead = ofKvHead ? kvHeadOf(head) : head;
    Value lane = rem(thread, kWarpSize);
    Value warpFirstRow = add(firstRow, sub(thread, lane));
    Value seqQ = toIndex(param("seq_q"));
    auto rows = scf::ForOp::create(b, loc, idx(0), idx(kWarpSize), idx(1),
                                   ValueRange{f32(0)});
    b.setInsertionPointToStart(rows.getBody());
    Value r = rows.getInductionVar();
    Value rowR = add(warpFirstRow, r);
    // Warp-uniform: the whole warp skips rows past the sequence.
    auto inSequence = scf::IfOp::create(b, loc, TypeRange{b.getF32Type()},
                                        lt(rowR, seqQ), /*withElse=*/true);
    b.setInsertionPointToStart(inSequence.thenBlock());
    // Straight-line over the row's chunks of 32 channels, so every load
    // is in flight at once; lanes past a partial last chunk re-read the
    // row's last channel and add nothing.
    int64_t channels = config.sourceValueDim;
    Value partial = f32(0);
    for (int64_t first = 0; first < channels; first += kWarpSize) {
      Value e = add(lane, idx(first));
      bool partialChunk = first + kWarpSize > channels;
      Value inRow;
      if (partialChunk) {
        inRow = lt(e, idx(channels));
        e = select(inRow, e, idx(channels - 1));
      }
      Value dy = loadElement("out_grad", op.getOutputGrad(),
                             {{batch, "b"}, {head, "h"}, {rowR, "n"}}, e);
      Value x = loadElement(name, operand,
                            {{batch, "b"}, {operandHead, "h"}, {rowR, "n"}}, e);
      Value term = mulF(dy, x);
      partial =
          addF(partial, partialChunk ? select(inRow, term, f32(0)) : term);
    }
    for (int64_t mask = kWarpSize / 2; mask >= 1; mask /= 2)
      partial = addF(partial, nb::shuffleXor(b, loc, partial, mask));
    scf::YieldOp::create(b, loc, ValueRange{partial});
    b.setInsertionPointToStart(inSequence.elseBlock());
    scf::YieldOp::create(b, loc, ValueRange{f32(0)});
    b.setInsertionPointAfter(inSequence);
    Value mine = select(cmp(arith::CmpIPredicate::eq, r, lane),
                        inSequence.getResult(0), rows.getRegionIterArg(0));
    scf::YieldOp::create(b, loc, ValueRange{mine});
    return rows.getResult(0);
  }
  /// The dense [B, Hq, Nq] index of (batch, head, row) in the scratch rows.
  Value scratchRowIndex(Value head) {
    return scratchRow(batch, config.numQueryHeads, head,
                      toIndex(param("seq_q")), row);
  }
  Value kvHeadOf(Value head) { return div(head, config.groupSize); }

  const BackwardConfig &config;
  Value row, headSlot, batch;
  /// beginRowKernel's thread, its block's first row and the scf.if on the
  /// thread's row being in the sequence.
  Value thread, firstRow;
  scf::IfOp rowGuard;

private:
  Value strided(StringRef name, ArrayRef<std::pair<Value, StringRef>> terms,
                Value column) {
    SmallVector<std::pair<Value, StringRef>> named;
    SmallVector<std::string> strideNames;
    for (auto [index, role] : terms)
      strideNames.push_back((name + "_stride_" + role).str());
    for (auto [term, strideName] : llvm::zip(terms, strideNames))
      named.push_back({term.first, strideName});
    Value offset = elementOffset(named);
    return column ? i64Add(offset, toI64(column)) : offset;
  }
};

/// attn_bwd_rows: per query row, Dlt - dLSE (the dS shift), a = c (1 - u),
/// dQ's accumulator zeroed, and for gates dG's SoftPAG part (the key tiles
/// add the rest).
class RowsKernelBuilder : RowKernelBuilder {
public:
  using RowKernelBuilder::RowKernelBuilder;

  KernelLaunch build(StringRef name) {
    addTensorParams("out", op.getOutput(), {"b", "h", "n"});
    addTensorParams("out_grad", op.getOutputGrad(), {"b", "h", "n"});
    addTensorParams("lse", op.getLse(), {"b", "h", "n"});
    addTensorParams("lse_grad", op.getLseGrad(), {"b", "h", "n"});
    if (config.softpag)
      addTensorParams("v", op.getValue(), {"b", "h", "n"});
    addTensorParams("gates", op.getGates(), {"b", "q", "h"});
    addTensorParams("gates_grad", op.getGatesGrad(), {"b", "q", "h"});
    for (StringRef buffer : {kRowValues, kQueryGradAccumulator})
      addParam(buffer, globalPtrType());
    if (op.getGates())
      addParam(kGateSum, globalPtrType());
    beginRowKernel(name, config.numQueryHeads);

    Value head = headSlot;
    auto [weight, u] = headFactors(head);
    Value c = outputFactor(head, weight);
    // Y = c ((1 - u) A + u V[i]): c (1 - u) dot(dY, A), the Dlt of section
    // 5, is dot(dY, Y) - c u dot(dY, V[i]) (no forward row recomputed, no
    // gate divided by).
    Value delta = dotWithOutputGrad(head, "out", op.getOutput(), false);
    Value identityDot = f32(0);
    if (config.softpag) {
      identityDot = dotWithOutputGrad(head, "v", op.getValue(), true);
      delta =
          arith::SubFOp::create(b, loc, delta, mulF(mulF(c, u), identityDot));
    }
    // dS = P (dP - Dlt + dLSE): one shift per row.
    if (op.getLseGrad())
      delta = arith::SubFOp::create(
          b, loc, delta,
          loadElement("lse_grad", op.getLseGrad(),
                      {{batch, "b"}, {head, "h"}, {row, "n"}}));
    Value lse = loadElement("lse", op.getLse(),
                            {{batch, "b"}, {head, "h"}, {row, "n"}});
    Value live =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, lse, negInf());
    Value rowIndex = scratchRowIndex(head);
    Value values[kRowValueWords] = {
        select(live, mulF(lse, f32(M_LOG2E)),
               f32(std::numeric_limits<double>::infinity())),
        delta, mulF(c, arith::SubFOp::create(b, loc, f32(1), u)), f32(0)};
    Value firstWord = i64Mul(rowIndex, toI64(idx(kRowValueWords)));
    for (auto [word, value] : llvm::enumerate(values))
      LLVM::StoreOp::create(
          b, loc, value,
          scratchAt(kRowValues, i64Add(firstWord, toI64(idx(word)))));
    zeroQueryGradRows(head);
    if (op.getGates()) {
      LLVM::StoreOp::create(b, loc, f32(0), scratchAt(kGateSum, rowIndex));
      storeElement(mulF(weight, mulF(u, identityDot)), "gates_grad",
                   op.getGatesGrad(), {{batch, "b"}, {row, "q"}, {head, "h"}});
    }
    return endRowKernel();
  }

private:
  /// dQ's accumulator rows of the block's queries zeroed (before the row
  /// guard: every thread takes part), consecutive threads on consecutive
  /// words: the rows of a head are contiguous.
  void zeroQueryGradRows(Value head) {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPoint(rowGuard);
    Value seqQ = toIndex(param("seq_q"));
    Value rows =
        arith::MinSIOp::create(b, loc, sub(seqQ, firstRow), idx(kRowThreads));
    Value words = mul(rows, idx(config.headDim));
    Value base =
        i64Mul(scratchRow(batch, config.numQueryHeads, head, seqQ, firstRow),
               toI64(idx(config.headDim)));
    auto loop = scf::ForOp::create(b, loc, idx(0), idx(config.headDim), idx(1),
                                   ValueRange{});
    b.setInsertionPointToStart(loop.getBody());
    Value word = add(mul(loop.getInductionVar(), idx(kRowThreads)), thread);
    auto inRange = scf::IfOp::create(b, loc, lt(word, words), false);
    b.setInsertionPointToStart(inRange.thenBlock());
    LLVM::StoreOp::create(
        b, loc, f32(0),
        scratchAt(kQueryGradAccumulator, i64Add(base, toI64(word))));
  }
};

/// attn_bwd_finish: dQ from its accumulator (scale applied there) in Q's
/// gradient type; dG += w (1 - u) sum_j P dot(dY, V[j]).
/// attn_bwd_bias_grad_init (`finish` false: dBias's f32 accumulator
/// zeroed) and attn_bwd_bias_finish (stored in dBias's type): a block per
/// (query row, bias head, batch element), its threads over the keys.
class BiasGradKernelBuilder : BackwardBuilderBase {
public:
  BiasGradKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                        const BackwardConfig &config)
      : BackwardBuilderBase(op, module), config(config) {}

  KernelLaunch build(StringRef name, bool finish) {
    if (finish)
      addTensorParams("bias_grad", op.getBiasGrad(), {"b", "h", "q"});
    addParam(kBiasGradAccumulator, globalPtrType());
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    addParam("seq_k", b.getI32Type());
    createFunction(name, kRowThreads);
    BlockCoordinates block =
        launchOverHeads(GridFactor{1, "seq_q", 1}, config.biasHeads);
    Value query = block.x, head = block.headSlot;
    Value batch = config.biasBatchBroadcast ? idx(0) : block.batch;
    Value seqQ = toIndex(param("seq_q")), seqK = toIndex(param("seq_k"));
    // A dynamic batch dimension of 1 at run time (dBias's batch stride is 0
    // then): batch element 0's blocks sum every element's plane.
    Value planes = idx(1);
    Value sharedAtRunTime;
    if (finish && !config.biasBatchBroadcast) {
      sharedAtRunTime = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, param("bias_grad_stride_b"),
          arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0));
      planes = select(sharedAtRunTime, toIndex(param("batch")), idx(1));
      batch = select(sharedAtRunTime, idx(0), batch);
    }
    // One bias for every batch element: element 0's blocks write it.
    std::optional<OpBuilder::InsertionGuard> insertion;
    if (config.biasBatchBroadcast || sharedAtRunTime) {
      insertion.emplace(b);
      Value first = cmp(arith::CmpIPredicate::eq, block.batch, idx(0));
      if (sharedAtRunTime)
        first = arith::OrIOp::create(
            b, loc, first,
            arith::XOrIOp::create(b, loc, sharedAtRunTime, i1(true)));
      auto writes = scf::IfOp::create(b, loc, first, false);
      b.setInsertionPointToStart(writes.thenBlock());
    }
    Value planeWords = toI64(mul(mul(idx(config.biasHeads), seqQ), seqK));
    Value row =
        i64Mul(toI64(scratchIndex(batch, config.biasHeads, head, seqQ, query)),
               toI64(seqK));
    Value gradRow = finish ? elementOffset({{batch, "bias_grad_stride_b"},
                                            {head, "bias_grad_stride_h"},
                                            {query, "bias_grad_stride_q"}})
                           : Value();
    Type gradType =
        finish ? cast<MemRefType>(op.getBiasGrad().getType()).getElementType()
               : Type();
    auto loop = scf::ForOp::create(
        b, loc, gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x), seqK,
        idx(kRowThreads));
    {
      OpBuilder::InsertionGuard body(b);
      b.setInsertionPointToStart(loop.getBody());
      Value key = loop.getInductionVar();
      if (!finish) {
        LLVM::StoreOp::create(
            b, loc, f32(0),
            globalAt(param(kBiasGradAccumulator), i64Add(row, toI64(key)), 4));
      } else {
        // Planes of batch elements in order: the same sum every run.
        auto sumPlanes = scf::ForOp::create(b, loc, idx(0), planes, idx(1),
                                            ValueRange{f32(0)});
        {
          OpBuilder::InsertionGuard sumBody(b);
          b.setInsertionPointToStart(sumPlanes.getBody());
          Value element =
              i64Add(i64Add(row, toI64(key)),
                     i64Mul(toI64(sumPlanes.getInductionVar()), planeWords));
          Value word =
              loadGlobal(b.getF32Type(),
                         globalAt(param(kBiasGradAccumulator), element, 4));
          scf::YieldOp::create(
              b, loc, ValueRange{addF(sumPlanes.getRegionIterArg(0), word)});
        }
        Value sum = sumPlanes.getResult(0);
        LLVM::StoreOp::create(b, loc, fromF32(sum, gradType),
                              globalAt(param("bias_grad"),
                                       i64Add(gradRow, toI64(key)),
                                       byteWidth(gradType)));
      }
    }
    insertion.reset();
    finishFunction();
    return launch;
  }

private:
  const BackwardConfig &config;
};

class FinishKernelBuilder : RowKernelBuilder {
public:
  using RowKernelBuilder::RowKernelBuilder;

  KernelLaunch build(StringRef name) {
    addTensorParams("q_grad", op.getQueryGrad(), {"b", "h", "n"});
    addTensorParams("gates_grad", op.getGatesGrad(), {"b", "q", "h"});
    addParam(kQueryGradAccumulator, globalPtrType());
    if (op.getGates())
      addParam(kGateSum, globalPtrType());
    // A thread per 4 channels (D is a multiple of 8): one 16-byte load of
    // the accumulator. A thread per channel made 4 x more blocks than the
    // copy needs (0.16 ms at N = 16384, H = 16, D = 128, under ncu).
    constexpr int64_t kChannelsPerThread = 4;
    int64_t channels = config.sourceHeadDim;
    Value firstChannel = beginChannelKernel(name, config.numQueryHeads,
                                            channels, kChannelsPerThread);

    Value head = headSlot;
    Value rowIndex = scratchRowIndex(head);
    Value sums = LLVM::LoadOp::create(
        b, loc, VectorType::get({kChannelsPerThread}, b.getF32Type()),
        scratchAt(kQueryGradAccumulator,
                  i64Add(i64Mul(rowIndex, toI64(idx(config.headDim))),
                         toI64(firstChannel))),
        /*alignment=*/4 * kChannelsPerThread);
    assert(channels % kChannelsPerThread == 0 &&
           "checkBackwardSupported admits multiples of 8 only");
    for (int64_t i = 0; i < kChannelsPerThread; ++i)
      storeElement(LLVM::ExtractElementOp::create(b, loc, sums, i32(i)),
                   "q_grad", op.getQueryGrad(),
                   {{batch, "b"}, {head, "h"}, {row, "n"}},
                   add(firstChannel, idx(i)));
    if (op.getGates()) {
      // Once per row.
      auto first = scf::IfOp::create(
          b, loc, cmp(arith::CmpIPredicate::eq, firstChannel, idx(0)), false);
      b.setInsertionPointToStart(first.thenBlock());
      auto [weight, u] = headFactors(head);
      SmallVector<std::pair<Value, StringRef>> at{
          {batch, "b"}, {row, "q"}, {head, "h"}};
      Value gateSum = loadGlobal(b.getF32Type(), scratchAt(kGateSum, rowIndex));
      Value attentionPart =
          mulF(weight, mulF(arith::SubFOp::create(b, loc, f32(1), u), gateSum));
      Value old = loadElement("gates_grad", op.getGatesGrad(), at);
      storeElement(addF(old, attentionPart), "gates_grad", op.getGatesGrad(),
                   at);
    }
    return endRowKernel();
  }
};

/// attn_bwd_identity (SoftPAG): dV[i] += sum over the query heads h of the
/// kv head of c_h u_h dY_h[i] (Nq == Nk), after the key tiles wrote dV.
class IdentityKernelBuilder : RowKernelBuilder {
public:
  using RowKernelBuilder::RowKernelBuilder;

  KernelLaunch build(StringRef name) {
    addTensorParams("out_grad", op.getOutputGrad(), {"b", "h", "n"});
    addTensorParams("gates", op.getGates(), {"b", "q", "h"});
    addTensorParams("v_grad", op.getValueGrad(), {"b", "h", "n"});
    beginRowKernel(name, config.numKvHeads);

    Value kvHead = headSlot;
    // c u of each query head of the kv head (heads of u = 0 or w = 0 add
    // nothing and are left out at compile time).
    SmallVector<std::pair<Value, Value>> terms;
    for (int64_t j = 0; j < config.groupSize; ++j) {
      SmallVector<Value> weights, us;
      bool any = false;
      for (int64_t kv = 0; kv < config.numKvHeads; ++kv) {
        const HeadFactors &f = config.factors[kv * config.groupSize + j];
        weights.push_back(f32(f.weight * f.softpagU));
        any |= f.weight * f.softpagU != 0;
      }
      if (!any)
        continue;
      Value head = add(mul(kvHead, idx(config.groupSize)), idx(j));
      Value cu = outputFactor(head, selectBySlot(kvHead, weights));
      terms.push_back({head, cu});
    }
    for (int64_t e = 0; e < config.sourceValueDim; ++e) {
      SmallVector<std::pair<Value, StringRef>> at{
          {batch, "b"}, {kvHead, "h"}, {row, "n"}};
      Value sum = loadElement("v_grad", op.getValueGrad(), at, idx(e));
      for (auto [head, cu] : terms)
        sum = nb::fma(b, loc, cu,
                      loadElement("out_grad", op.getOutputGrad(),
                                  {{batch, "b"}, {head, "h"}, {row, "n"}},
                                  idx(e)),
                      sum);
      storeElement(sum, "v_grad", op.getValueGrad(), at, idx(e));
    }
    return endRowKernel();
  }
};

/// What the tile kernels (key-tile-major and, deterministic, query-tile
/// major) share: the thread's coordinates, staging by cp.async, the
/// warp-level products over staged tiles, constant tables.
class TileKernelBuilder : protected BackwardBuilderBase {
protected:
  TileKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                    const BackwardConfig &config, const KernelHeads &heads,
                    int64_t numThreads)
      : BackwardBuilderBase(op, module), config(config), heads(heads),
        numThreads(numThreads), layout(MmaSyncEngine::layout(1)),
        unnormalized(hasUnnormalizedSegments(heads.mask)) {}

  /// The parameters every tile kernel reads (and dK, dV where
  /// `withKeyGrads`), in one order.
  void declareTileParams(bool withKeyGrads);
  /// After createFunction: the thread, the lengths, shared memory and the
  /// mask's context of batch element `batchIndex`.
  void setUpThread(Value batchIndex) {
    batch = batchIndex;
    tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    lane = rem(tid, 32);
    warp = div(tid, 32);
    seqQ = toIndex(param("seq_q"));
    seqK = toIndex(param("seq_k"));
    sharedBase = dynamicSharedMemoryBase();
    maskContext.queryLength = seqQ;
    maskContext.keyLength = seqK;
    if (Value offsets = op.getSegmentOffsets())
      maskContext.segmentOffset = segmentOffsetLoader(offsets, batch);
  }
  /// A constant i32 table `<kernel><suffix>` in global memory.
  void emitConstantTable(StringRef kernelName, StringRef suffix,
                         ArrayRef<int32_t> data, int64_t alignment = 4) {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(module.getBody());
    auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                      b.getI32Type());
    LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getI32Type(), data.size()),
        /*isConstant=*/true, LLVM::Linkage::Internal,
        (kernelName + suffix).str(), DenseElementsAttr::get(type, data),
        alignment, /*addrSpace=*/1);
  }
  /// The address of a constant table.
  Value tableAddress(StringRef kernelName, StringRef suffix) {
    return LLVM::AddressOfOp::create(
        b, loc,
        module.lookupSymbol<LLVM::GlobalOp>((kernelName + suffix).str()));
  }
  /// Entry `index` of a constant table.
  Value loadTableEntry(StringRef kernelName, StringRef suffix, Value index) {
    return toIndex(
        loadGlobal(b.getI32Type(), globalAt(tableAddress(kernelName, suffix),
                                            toI64(index), 4)));
  }

  /// cp.async of the rows of `g`'s tile `tile` into the swizzled tile at
  /// `sharedOffset` (rows past `length` and channels past `readRowBytes`
  /// zero-filled).
  void stageRows(const TileGeometry &g, Value tile, Value length,
                 StringRef tensor, Value tensorBase, int64_t rowBytes,
                 int64_t readRowBytes, Value sharedOffset);
  /// A k16 A fragment of the warp's 16 rows of a staged tile.
  std::array<Value, 4> loadRowsA(Value sharedOffset, int64_t rowChunks,
                                 Value firstRow, int64_t kk);
  /// The byte offset of chunk `chunk` of row `row` in a staged tile of
  /// `rows` rows of `rowChunks` chunks: wgmma's slabs where the products
  /// run on wgmma, else rows swizzled for ldmatrix.
  Value stagedChunkOffset(int64_t rows, int64_t rowChunks, Value row,
                          Value chunk);
  /// Where the products read staged tiles through the async proxy
  /// (wgmma): this thread's writes to shared memory (stores, landed
  /// cp.async copies) made visible to it; a barrier then publishes them.
  void fenceForProductReads();
  /// mma.sync: A B^T over the rows' `rowChunks` 16-byte chunks: A the
  /// warp's 16 rows of the tile at `aOffset`, B the `bRows` rows of the tile
  /// at `bOffset` (wgmma: issueRowProduct).
  Fragment multiplyRows(Value aOffset, Value bOffset, int64_t rowChunks,
                        int64_t bRows);
  /// mma.sync: acc += A B with A (16 x kRows) packed from the accumulator
  /// fragment `a` (16-bit pairs) and B the channels `slice` of the kRows x
  /// rowChannels tile at `bOffset` by ldmatrix.trans (wgmma:
  /// issueOverRows).
  void accumulateOverRows(MutableArrayRef<Value> acc, const Fragment &a,
                          Value bOffset, int64_t rowChannels,
                          ChannelSlice slice, int64_t kRows);
  /// The A registers of a 16-bit product whose A is the accumulator
  /// fragment `a` over `kRows` columns (per k16 step, four pairs).
  SmallVector<Value> packAccumulatorA(const Fragment &a, int64_t kRows);
  /// wgmma: multiplyRows' product issued and committed as one group; its
  /// accumulators are pending until a wait (nb::wgmmaWait) returns them.
  SmallVector<Value> issueRowProduct(Value aOffset, int64_t aRows,
                                     Value bOffset, int64_t rowChunks,
                                     int64_t bRows);
  /// wgmma: acc + A B as accumulateOverRows (A the packed `registers`),
  /// issued and committed as one group.
  SmallVector<Value> issueOverRows(ArrayRef<Value> acc,
                                   ArrayRef<Value> registers, Value bOffset,
                                   int64_t rowChannels, int64_t kRows);
  /// The column offset of this thread's accumulator elements.
  Value quadColumn() { return mul(rem(lane, 4), idx(2)); }
  /// This thread's warpgroup (wgmma products).
  Value warpgroup() { return div(warp, kWarpgroupThreads / 32); }
  /// The address of shared memory at byte `offset` as an i64 (a wgmma
  /// descriptor's).
  Value descriptorAddress(Value offset) {
    return arith::AddIOp::create(
        b, loc, LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), sharedBase),
        arith::IndexCastUIOp::create(b, loc, b.getI64Type(), offset));
  }
  /// With wgmma products, `sharedBase` and the thread's indices replaced,
  /// until the guard's end, by copies LLVM cannot see through: what a
  /// tile's body derives from them (every k-step's descriptors, the
  /// addresses of the row values, of dS^T, of the copies and of dQ's
  /// reductions) is then computed per tile where it is used, not hoisted
  /// out of the walk as loop invariants (at D = 128 these held about 100
  /// registers across the walk and spilled 200 bytes).
  [[nodiscard]] auto perTileAddresses() {
    std::array<Value, 4> kernelValues = {sharedBase, tid, lane, warp};
    if (wgmmaProducts) {
      auto opaque = [&](Value v, StringRef ptx, StringRef constraints) {
        return nb::inlinePtx(b, loc, ptx, constraints, {v}, 1, v.getType())
            .front();
      };
      Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), sharedBase);
      sharedBase =
          LLVM::IntToPtrOp::create(b, loc, sharedBase.getType(),
                                   opaque(base, "mov.b64 $0, $1;", "=l,l"));
      Value thread = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), tid);
      tid = arith::IndexCastUIOp::create(
          b, loc, b.getIndexType(), opaque(thread, "mov.b32 $0, $1;", "=r,r"));
      lane = rem(tid, 32);
      warp = div(tid, 32);
    }
    return llvm::scope_exit([this, kernelValues] {
      std::tie(sharedBase, tid, lane, warp) = std::tuple(
          kernelValues[0], kernelValues[1], kernelValues[2], kernelValues[3]);
    });
  }
  /// The tile row of accumulator row slot `slot` of this warp's 16 rows.
  Value slotRow(int64_t slot) {
    return add(mul(warp, idx(16)), add(div(lane, 4), idx(8 * slot)));
  }
  /// The (query, key) pair of an accumulator element, whether both lie in
  /// their sequences, and indices safe to read at (0 outside).
  struct Pair {
    Value query, key, valid, safeQuery, safeKey;
  };
  /// Calls `fn(element, pair)` for every element of `fragment`: element
  /// (row slot, column) is the pair (rowToken(slot), columnToken(column))
  /// with rows the queries or the keys.
  void forEachPair(Fragment &fragment, bool rowsAreKeys, Value rowTile,
                   Value columnTile,
                   function_ref<void(Value &, const Pair &)> fn);
  /// `probabilities` with the mask's predicate (and the bounds) applied.
  void maskPairs(Fragment &probabilities, bool rowsAreKeys, Value rowTile,
                 Value columnTile);
  /// S (raw q.k) += bias / scale, as the forward scores it.
  void addBias(Fragment &scores, bool rowsAreKeys, Value rowTile,
               Value columnTile);
  /// P on the tile: what enters dS, and its kept part, what enters dV
  /// and dP. With renormalize = true both are the masked P (dropped
  /// pairs have no P); with `renormalize = false` (SEMANTICS.md section 5)
  /// P covers every key in the sequences and keep gates dV and dP only
  /// (`dp` zeroed where P's kept part is).
  struct MaskedProbabilities {
    Fragment p, kept;
  };
  MaskedProbabilities maskProbabilities(Fragment p, Value keepsAll,
                                        bool rowsAreKeys, Value rowTile,
                                        Value columnTile);
  /// dP on the kept pairs of `masked` (renormalize = false; else `dp`).
  Fragment keptScoreGrads(Fragment dp, const MaskedProbabilities &masked);
  /// The same on tiles whose class is a run-time value: full tiles skip
  /// it (the forward's `attn.partial_tile_mask` branch).
  void maskPartialTile(Fragment &probabilities, Value keepsAll,
                       bool rowsAreKeys, Value rowTile, Value columnTile);

  /// The tiles of the other side a block's tile visits, for one head: the
  /// key tile's query tiles (`walkByKeyTile`) or the query tile's key
  /// tiles. From the `attn-sparsity` table (its CSC or CSR lists) when the
  /// op has a `tiling` (then the table's tiles are the kernel's), else from
  /// the mask's closed-form range (flat tiles) or every box (grid tiles),
  /// each tile classified at run time.
  struct WalkSlot {
    Value tile, mayKeep, keepsAll;
  };
  /// The lists as constant tables of kernel `name` (before the function
  /// exists).
  void emitWalkTables(StringRef name);
  /// This block's walk from its own tile `ownTile`: its start and length.
  void beginWalk(Value ownTile);
  WalkSlot walkSlot(Value ownTile, Value position);
  /// The loop over the walk begun for `ownTile`, carrying `init`: `body`
  /// on every tile that may keep a pair (the others pass the values on).
  ValueRange emitWalkLoop(
      Value ownTile, ValueRange init,
      function_ref<SmallVector<Value>(const WalkSlot &, ValueRange)> body);
  /// The same walk with the rows of each tile it keeps staged by
  /// `stage(slot, buffer)` (cp.async copies into buffer 0 or 1 of
  /// `stages`, not waited for) and used by `body(slot, buffer, carried)`
  /// once they landed. With 2 stages the next tile's copies are issued
  /// before this tile's body, so they overlap its products.
  ValueRange emitStagedWalk(
      Value ownTile, int64_t stages, ValueRange init,
      function_ref<void(const WalkSlot &, Value)> stage,
      function_ref<SmallVector<Value>(const WalkSlot &, Value, ValueRange)>
          body);
  /// `fn` under `condition` (inline where it is a constant).
  void emitIf(Value condition, function_ref<void()> fn);
  /// `fn()`'s values where `condition` holds, else `carried` (inline where
  /// it is a constant).
  SmallVector<Value> emitIfElseCarry(Value condition, ValueRange carried,
                                     function_ref<SmallVector<Value>()> fn);
  const TileGeometry &ownTiles() const {
    return walkByKeyTile ? config.keys : config.queries;
  }
  const TileGeometry &visitedTiles() const {
    return walkByKeyTile ? config.queries : config.keys;
  }

  const BackwardConfig &config;
  const KernelHeads &heads;
  int64_t numThreads;
  FragmentLayout layout;
  /// The set's mask has segments with renormalize = false: every tile is
  /// walked (each key enters the denominator) and keep gates dV and dP.
  bool unnormalized;
  /// The products run on wgmma (the key-tile kernel where config.wgmma).
  bool wgmmaProducts = false;
  Value tid, lane, warp, seqQ, seqK, batch, sharedBase;
  MaskIRContext maskContext;
  std::string kernelName;
  bool walkByKeyTile = true;
  bool tableMode = false, everyListedTileFull = false;
  Value walkStart, walkCount, firstVisitedTile;
  /// The query head of the tiles being walked (the explicit mask's head).
  Value walkHead;
};

/// attn_bwd: one block per (key tile, kv head, batch element) for one head
/// set (its mask): every query head of the set reading the kv head, each
/// over the query tiles that keep a key of the tile.
class KeyTileKernelBuilder : TileKernelBuilder {
public:
  KeyTileKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                       const BackwardConfig &config, const KernelHeads &heads,
                       bool accumulateKeyGrads, bool reduceQueryGrads)
      : TileKernelBuilder(op, module, config, heads,
                          32 * config.keys.tokens / 16),
        accumulateKeyGrads(accumulateKeyGrads),
        reduceQueryGrads(reduceQueryGrads) {
    wgmmaProducts = config.wgmma;
    // a = c (1 - u) is 1 on every row that has P: no gates, no SoftPAG and
    // weight 1 on every head of the set (rows without P have a = 0 and
    // P = 0, so the product is 0 either way).
    unitOutputFactor =
        !op.getGates() && llvm::all_of(heads.heads, [&](int64_t h) {
          return config.factors[h].weight == 1.0 &&
                 config.factors[h].softpagU == 0.0;
        });
  }

  KernelLaunch build(StringRef name);

private:
  int64_t numWarps() const { return config.keys.tokens / 16; }
  int64_t queryTokens() const { return config.queries.tokens; }
  void planSharedMemory();

  /// The channels of dK and of dV walk `pass` accumulates.
  ChannelSlice keySlice(int64_t pass) const {
    return channelSlice(config.headDim, pass);
  }
  ChannelSlice valueSlice(int64_t pass) const {
    return channelSlice(config.valueDim, pass);
  }
  /// One query tile of walk `pass`: its slices of dK and dV updated; the
  /// first walk also takes dQ, dBias and the gates' sums.
  SmallVector<Value> computeQueryTile(Value keyTile, Value head,
                                      const WalkSlot &slot, Value buffer,
                                      ValueRange gradients, int64_t pass);
  /// cp.async of the query tile's rows of Q and dY and its row values into
  /// query buffer `buffer`.
  void stageQueryRows(Value queryTile, Value buffer);
  /// Where query buffer `buffer` starts.
  Value queryBufferAt(Value buffer) {
    return add(idx(queryBuffersOffset), mul(buffer, idx(queryBufferBytes)));
  }
  /// Gates: dG's sum_j P dot(dY, V[j]) per query, reduced into its f32
  /// scratch row.
  void accumulateGateSums(const Fragment &p, const Fragment &dp,
                          Value queryTile);
  /// dS^T to shared memory (the swizzled [key][query] tile dQ reads).
  void stageScoreGrads(const Fragment &ds);
  /// dBias += dS on the tile's pairs in the sequences, by f32 reductions
  /// into the bias's accumulator (its broadcast dimensions summed).
  void accumulateBiasGrads(Fragment ds, Value head, Value keyTile,
                           Value queryTile);
  /// dQ += scale dS K for the staged dS^T.
  void accumulateQueryGrads(Value head, Value queryTile);
  /// The same on wgmma: dQ = dS K with dS^T read MN-major as A, issued
  /// and committed as one group (reduceQueryGradProduct once waited for).
  SmallVector<Value> issueQueryGradProduct();
  void reduceQueryGradProduct(ArrayRef<Value> acc, Value queryTile);
  /// How the two warpgroups share dQ = dS K on wgmma: at D = 128
  /// warpgroup w takes 64-channel slab w over every key; at D = 64 the one
  /// slab over keys [64 w, 64 w + 64), both reducing into it.
  struct QueryGradShare {
    Value slab, firstKey;
    int64_t keySteps = 0;
  };
  QueryGradShare queryGradShare();
  /// queryGradShare's slab alone (no key offset built where none is used).
  Value queryGradSlab();
  bool queryGradBySlabs() const { return config.headDim == 128; }
  /// Reduces scale times the accumulator `acc` (`chunks` n8 chunks) into
  /// dQ's f32 accumulator: its rows are the query tile's positions
  /// `firstRow` + g (+ 8), chunk j's channels `firstChannel` + 8 j + 2 t.
  void reduceIntoQueryGrads(ArrayRef<Value> acc, int64_t chunks,
                            Value queryTile, Value firstRow,
                            Value firstChannel);
  void storeKeyGrads(Value keyTile, ValueRange gradients, int64_t pass);

  /// Head sets after the first add to the dK and dV the first stored.
  bool accumulateKeyGrads;
  /// dA = a dY with a = 1 wherever P is not 0: a is not read.
  bool unitOutputFactor = false;
  /// dQ and the gates' sums by f32 reductions here (else the
  /// deterministic query-tile kernel computes them).
  bool reduceQueryGrads;
  bool everyHeadInSet = false;
  /// K, V and dS^T once; `queryStages` buffers of the query tile's Q, dY
  /// and row values, at these offsets inside a buffer.
  int64_t keyOffset = 0, valueOffset = 0, dsOffset = 0;
  int64_t queryStages = 1, queryBuffersOffset = 0, queryBufferBytes = 0;
  int64_t queryOffset = 0, outGradOffset = 0, rowValuesOffset = 0;
  Value kvHead;
  /// Per (batch, head): the element offsets of Q and dY, the scratch row.
  Value queryBase, outGradBase, scratchRowBase;
};

void KeyTileKernelBuilder::planSharedMemory() {
  // wgmma descriptors assume tiles on the 128-byte swizzle's 8-row period.
  SharedMemoryPlan plan(wgmmaProducts ? 8 * 128 : 128);
  auto region = [&](int64_t bytes) {
    return plan.start(plan.addRegion(bytes, /*stages=*/1));
  };
  keyOffset = region(config.keys.tokens * config.headDim * 2);
  valueOffset = region(config.keys.tokens * config.valueDim * 2);
  dsOffset = region(config.keys.tokens * queryTokens() * 2);
  // getBackwardSharedBytes' rule, which attn-plan checked.
  TileSizes tiles{queryTokens(), config.keys.tokens};
  queryStages = getBackwardStages(tiles, config.headDim, config.valueDim,
                                  config.maxSharedBytes);
  outGradOffset = queryTokens() * config.headDim * 2;
  rowValuesOffset = outGradOffset + queryTokens() * config.valueDim * 2;
  unsigned buffers = plan.addRegion(
      rowValuesOffset + queryTokens() * kRowValueWords * 4, queryStages);
  queryBuffersOffset = plan.start(buffers);
  queryBufferBytes = plan.bytesPerStage(buffers);
  launch.sharedBytes = plan.size();
}

void TileKernelBuilder::declareTileParams(bool withKeyGrads) {
  addTensorParams("q", op.getQuery(), {"b", "h", "n"});
  addTensorParams("k", op.getKey(), {"b", "h", "n"});
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addTensorParams("out_grad", op.getOutputGrad(), {"b", "h", "n"});
  if (withKeyGrads) {
    addTensorParams("k_grad", op.getKeyGrad(), {"b", "h", "n"});
    addTensorParams("v_grad", op.getValueGrad(), {"b", "h", "n"});
  }
  addTensorParams("segment_offsets", op.getSegmentOffsets(), {"b"});
  addTensorParams("explicit_mask", op.getExplicitMask(), {"b", "h", "q"});
  addTensorParams("bias", op.getBias(), {"b", "h", "q"});
  if (withKeyGrads && op.getBiasGrad())
    addParam(kBiasGradAccumulator, globalPtrType());
  for (StringRef buffer : {kRowValues, kQueryGradAccumulator})
    addParam(buffer, globalPtrType());
  if (op.getGates())
    addParam(kGateSum, globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  addParam("seq_k", b.getI32Type());
}

void TileKernelBuilder::emitWalkTables(StringRef name) {
  kernelName = name.str();
  // Table mode: the lists of the table attn-sparsity made for the op's own
  // tiling, entries 2 * tile + full.
  DenseIntElementsAttr classes = op.getTileClassesAttr();
  // renormalize = false walks every tile, which the table does not list.
  tableMode = classes && op.getTilingAttr() && !unnormalized;
  if (!tableMode)
    return;
  TileLists lists = getTileLists(classes, heads.classTable, walkByKeyTile);
  SmallVector<int32_t> entries;
  for (auto [tile, tileClass] : llvm::zip_equal(lists.tiles, lists.classes))
    entries.push_back(2 * tile + (tileClass == TileClass::Full));
  everyListedTileFull =
      llvm::all_of(entries, [](int32_t e) { return e % 2 == 1; });
  // An empty list still needs an array to point at.
  entries.push_back(0);
  emitConstantTable(kernelName, "_tile_offsets", lists.offsets);
  emitConstantTable(kernelName, "_tiles", entries);
}

void TileKernelBuilder::beginWalk(Value ownTile) {
  if (tableMode) {
    walkStart = loadTableEntry(kernelName, "_tile_offsets", ownTile);
    walkCount =
        sub(loadTableEntry(kernelName, "_tile_offsets", add(ownTile, idx(1))),
            walkStart);
    return;
  }
  const TileGeometry &visited = visitedTiles();
  if (!visited.isFlat() || unnormalized) {
    // Boxes are classified one by one; renormalize = false visits all.
    firstVisitedTile = idx(0);
    walkCount =
        TileIndexing(b, loc, visited).numTiles(walkByKeyTile ? seqQ : seqK);
    return;
  }
  auto [first, end] = TileIndexing(b, loc, ownTiles())
                          .hull(ownTile, walkByKeyTile ? seqK : seqQ);
  auto [begin, rangeEnd] =
      walkByKeyTile ? heads.mask.emitQueryRange(b, loc, first, end, maskContext)
                    : heads.mask.emitKeyRange(b, loc, first, end, maskContext);
  firstVisitedTile = arith::DivSIOp::create(b, loc, begin, idx(visited.tokens));
  Value endTile =
      arith::CeilDivSIOp::create(b, loc, rangeEnd, idx(visited.tokens));
  walkCount =
      arith::MaxSIOp::create(b, loc, sub(endTile, firstVisitedTile), idx(0));
}

TileKernelBuilder::WalkSlot TileKernelBuilder::walkSlot(Value ownTile,
                                                        Value position) {
  WalkSlot slot;
  if (tableMode) {
    Value entry =
        loadTableEntry(kernelName, "_tiles", add(walkStart, position));
    slot.tile = div(entry, 2);
    slot.mayKeep = i1(true);
    slot.keepsAll = everyListedTileFull
                        ? i1(true)
                        : cmp(arith::CmpIPredicate::eq, rem(entry, 2), idx(1));
    // The explicit mask is read on every pair.
    if (op.getExplicitMask())
      slot.keepsAll = i1(false);
    return slot;
  }
  slot.tile = add(firstVisitedTile, position);
  if (unnormalized) {
    slot.mayKeep = i1(true);
    slot.keepsAll = i1(false);
    return slot;
  }
  Value queryTile = walkByKeyTile ? slot.tile : ownTile;
  Value keyTile = walkByKeyTile ? ownTile : slot.tile;
  auto [queryFirst, queryEnd] =
      TileIndexing(b, loc, config.queries).hull(queryTile, seqQ);
  auto [keyFirst, keyEnd] =
      TileIndexing(b, loc, config.keys).hull(keyTile, seqK);
  std::tie(slot.mayKeep, slot.keepsAll) = heads.mask.emitClassifyRange(
      b, loc, queryFirst, queryEnd, keyFirst, keyEnd, maskContext);
  if (op.getExplicitMask())
    slot.keepsAll = i1(false);
  return slot;
}

ValueRange TileKernelBuilder::emitWalkLoop(
    Value ownTile, ValueRange init,
    function_ref<SmallVector<Value>(const WalkSlot &, ValueRange)> body) {
  auto loop = scf::ForOp::create(b, loc, idx(0), walkCount, idx(1), init);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(loop.getBody());
  WalkSlot slot = walkSlot(ownTile, loop.getInductionVar());
  ValueRange carried = loop.getRegionIterArgs();
  scf::YieldOp::create(b, loc, emitIfElseCarry(slot.mayKeep, carried, [&] {
                         return body(slot, carried);
                       }));
  return loop.getResults();
}

SmallVector<Value>
TileKernelBuilder::emitIfElseCarry(Value condition, ValueRange carried,
                                   function_ref<SmallVector<Value>()> fn) {
  std::optional<int64_t> constant = getConstantIntValue(condition);
  if (constant)
    return *constant != 0 ? fn() : SmallVector<Value>(carried);
  auto ifOp = scf::IfOp::create(b, loc, carried.getTypes(), condition,
                                /*withElse=*/true);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loc, fn());
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc, carried);
  return ifOp.getResults();
}

void TileKernelBuilder::emitIf(Value condition, function_ref<void()> fn) {
  std::optional<int64_t> constant = getConstantIntValue(condition);
  if (constant) {
    if (*constant != 0)
      fn();
    return;
  }
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElse=*/false);
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  fn();
}

ValueRange TileKernelBuilder::emitStagedWalk(
    Value ownTile, int64_t stages, ValueRange init,
    function_ref<void(const WalkSlot &, Value)> stage,
    function_ref<SmallVector<Value>(const WalkSlot &, Value, ValueRange)>
        body) {
  if (stages == 1)
    return emitWalkLoop(ownTile, init,
                        [&](const WalkSlot &slot, ValueRange carried) {
                          // The previous tile's reads of the buffer are done.
                          gpu::BarrierOp::create(b, loc);
                          stage(slot, idx(0));
                          nb::commitAsyncGroup(b, loc);
                          nb::waitAsyncGroups(b, loc, 0);
                          fenceForProductReads();
                          gpu::BarrierOp::create(b, loc);
                          return body(slot, idx(0), carried);
                        });
  emitIf(lt(idx(0), walkCount), [&] {
    WalkSlot first = walkSlot(ownTile, idx(0));
    emitIf(first.mayKeep, [&] {
      // Walks run back to back (per query head of a GQA group, per channel
      // pass): every warp must be done with the previous walk's last body,
      // which may have read buffer 0, before it is refilled.
      gpu::BarrierOp::create(b, loc);
      stage(first, idx(0));
    });
  });
  nb::commitAsyncGroup(b, loc);
  // Tile `position` from buffer `buffer` (a constant: shared-memory
  // addresses with a run-time buffer cost registers the products need).
  // One barrier per position: it publishes this tile's rows (each thread
  // waited for its copies) and certifies that every warp is done with the
  // previous tile's body, whose buffer the next tile's copies refill.
  // Positions where neither this tile nor the next is kept need none.
  auto visit = [&](Value position, int64_t buffer,
                   ValueRange carried) -> SmallVector<Value> {
    WalkSlot slot = walkSlot(ownTile, position);
    Value next = add(position, idx(1));
    Value hasNext = lt(next, walkCount);
    WalkSlot nextSlot = walkSlot(ownTile, select(hasNext, next, position));
    Value stageNext = andI(hasNext, nextSlot.mayKeep);
    emitIf(slot.mayKeep, [&] {
      // Nothing newer than this tile's group is pending.
      nb::waitAsyncGroups(b, loc, 0);
      fenceForProductReads();
    });
    emitIf(arith::OrIOp::create(b, loc, slot.mayKeep, stageNext),
           [&] { gpu::BarrierOp::create(b, loc); });
    emitIf(stageNext, [&] { stage(nextSlot, idx(1 - buffer)); });
    // One group per tile (empty where nothing was staged).
    nb::commitAsyncGroup(b, loc);
    return emitIfElseCarry(slot.mayKeep, carried, [&] {
      return body(slot, idx(buffer), carried);
    });
  };
  // Two tiles per iteration, one per buffer.
  auto loop = scf::ForOp::create(b, loc, idx(0), walkCount, idx(2), init);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(loop.getBody());
    Value position = loop.getInductionVar();
    SmallVector<Value> first = visit(position, 0, loop.getRegionIterArgs());
    Value second = add(position, idx(1));
    scf::YieldOp::create(b, loc,
                         emitIfElseCarry(lt(second, walkCount), first, [&] {
                           return visit(second, 1, first);
                         }));
  }
  nb::waitAsyncGroups(b, loc, 0);
  return loop.getResults();
}

void TileKernelBuilder::stageRows(const TileGeometry &g, Value tile,
                                  Value length, StringRef tensor,
                                  Value tensorBase, int64_t rowBytes,
                                  int64_t readRowBytes, Value sharedOffset) {
  int64_t rowChunks = rowBytes / kChunkBytes;
  int64_t count = g.tokens * rowChunks;
  Value rowStride = param((tensor + "_stride_n").str());
  for (int64_t first = 0; first < count; first += numThreads) {
    Value item = add(tid, idx(first));
    std::optional<OpBuilder::InsertionGuard> insertion;
    if (first + numThreads > count) {
      insertion.emplace(b);
      auto guard = scf::IfOp::create(b, loc, lt(item, idx(count)), false);
      b.setInsertionPointToStart(guard.thenBlock());
    }
    Value row = div(item, rowChunks);
    Value chunk = rem(item, rowChunks);
    auto [token, valid] = tokenOf(g, tile, row, length);
    if (readRowBytes < rowBytes)
      valid = andI(valid, lt(chunk, idx(readRowBytes / kChunkBytes)));
    Value element =
        i64Add(tensorBase,
               i64Add(i64Mul(toI64(select(valid, token, idx(0))), rowStride),
                      toI64(mul(chunk, idx(kChunkBytes / 2)))));
    nb::copyAsync(
        b, loc,
        sharedAt(sharedBase,
                 add(sharedOffset,
                     stagedChunkOffset(g.tokens, rowChunks, row, chunk))),
        globalAt(param(tensor), element, 2), kChunkBytes,
        select(valid, i32(kChunkBytes), i32(0)));
  }
}

std::array<Value, 4> TileKernelBuilder::loadRowsA(Value sharedOffset,
                                                  int64_t rowChunks,
                                                  Value firstRow, int64_t kk) {
  // Lane l addresses row l % 16, chunk l / 16 of the k-step.
  Value row = add(firstRow, rem(lane, 16));
  Value chunk = add(idx(2 * kk), div(lane, 16));
  return nb::loadMatrixX4(
      b, loc,
      sharedAt(sharedBase,
               add(sharedOffset,
                   emitSwizzledChunkOffset(b, loc, rowChunks, row, chunk))),
      /*transpose=*/false);
}

Value TileKernelBuilder::stagedChunkOffset(int64_t rows, int64_t rowChunks,
                                           Value row, Value chunk) {
  if (wgmmaProducts)
    return emitWgmmaChunkOffset(b, loc, rows, rowChunks, row, chunk);
  return emitSwizzledChunkOffset(b, loc, rowChunks, row, chunk);
}

void TileKernelBuilder::fenceForProductReads() {
  if (wgmmaProducts)
    nb::fenceProxyAsyncShared(b, loc);
}

SmallVector<Value> TileKernelBuilder::packAccumulatorA(const Fragment &a,
                                                       int64_t kRows) {
  return packAccumulatorAsA(layout, a, kRows, [&](Value low, Value high) {
    return nb::packPair(b, loc, config.elementType, low, high);
  });
}

SmallVector<Value>
TileKernelBuilder::issueRowProduct(Value aOffset, int64_t aRows, Value bOffset,
                                   int64_t rowChunks, int64_t bRows) {
  // m64n{bRows}k16 per 32 bytes of the rows, both tiles K-major: A the
  // warpgroup's 64 rows, whose accumulator rows are the warps' 16 rows as
  // on mma.sync.
  int64_t rowBytes = rowChunks * kChunkBytes;
  int64_t span = getWgmmaSwizzleBytes(rowBytes);
  Value aDescriptor = emitWgmmaTileDescriptor(
      b, loc,
      descriptorAddress(
          add(aOffset, mul(warpgroup(), idx(kWarpgroupRows * span)))),
      aRows, rowBytes, /*mnMajor=*/false);
  Value bDescriptor = emitWgmmaTileDescriptor(
      b, loc, descriptorAddress(bOffset), bRows, rowBytes, /*mnMajor=*/false);
  nb::wgmmaFence(b, loc);
  SmallVector<Value> acc;
  for (int64_t kk = 0; kk < rowBytes / kWgmmaStepBytes; ++kk) {
    int64_t slab = kk * kWgmmaStepBytes / span;
    int64_t within = kk * kWgmmaStepBytes % span;
    Value a =
        addToWgmmaDescriptor(b, loc, aDescriptor, slab * aRows * span + within);
    acc = nb::wgmmaAsync(
        b, loc, bRows, config.elementType.isBF16() ? "bf16" : "f16", a,
        addToWgmmaDescriptor(b, loc, bDescriptor, slab * bRows * span + within),
        /*transposeB=*/false, acc);
  }
  nb::wgmmaCommit(b, loc);
  return acc;
}

SmallVector<Value> TileKernelBuilder::issueOverRows(ArrayRef<Value> acc,
                                                    ArrayRef<Value> registers,
                                                    Value bOffset,
                                                    int64_t rowChannels,
                                                    int64_t kRows) {
  // m64n{rowChannels}k16 per 16 rows, A from registers, B the tile
  // MN-major (the forward's P V).
  int64_t span = getWgmmaSwizzleBytes(rowChannels * 2);
  Value descriptor =
      emitWgmmaTileDescriptor(b, loc, descriptorAddress(bOffset), kRows,
                              rowChannels * 2, /*mnMajor=*/true);
  nb::wgmmaFence(b, loc);
  SmallVector<Value> values(acc.begin(), acc.end());
  for (int64_t kk = 0; kk < kRows / 16; ++kk)
    values = nb::wgmmaAsync(
        b, loc, rowChannels, config.elementType.isBF16() ? "bf16" : "f16",
        registers.slice(4 * kk, 4),
        addToWgmmaDescriptor(b, loc, descriptor, 16 * kk * span),
        /*transposeB=*/true, values);
  nb::wgmmaCommit(b, loc);
  return values;
}

Fragment TileKernelBuilder::multiplyRows(Value aOffset, Value bOffset,
                                         int64_t rowChunks, int64_t bRows) {
  bool bf16 = config.elementType.isBF16();
  Fragment t(layout, layout.numChunks(bRows), f32(0));
  Value warpRow = mul(warp, idx(16));
  // B fragments of rows 16jj..16jj+15 by ldmatrix.x4: lane l addresses row
  // (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of the k-step.
  Value bRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value bChunk = rem(div(lane, 8), 2);
  for (int64_t kk = 0; kk < rowChunks / 2; ++kk) {
    std::array<Value, 4> a = loadRowsA(aOffset, rowChunks, warpRow, kk);
    for (int64_t jj = 0; jj < bRows / 16; ++jj) {
      Value ptr =
          sharedAt(sharedBase,
                   add(bOffset, emitSwizzledChunkOffset(
                                    b, loc, rowChunks, add(idx(16 * jj), bRow),
                                    add(idx(2 * kk), bChunk))));
      std::array<Value, 4> frag = nb::loadMatrixX4(b, loc, ptr, false);
      for (int64_t half = 0; half < 2; ++half) {
        MutableArrayRef<Value> c(&t.values[layout.index(2 * jj + half, 0, 0)],
                                 4);
        llvm::copy(nb::mmaM16N8K16(b, loc, bf16, a,
                                   {frag[2 * half], frag[2 * half + 1]}, c),
                   c.begin());
      }
    }
  }
  return t;
}

void TileKernelBuilder::accumulateOverRows(MutableArrayRef<Value> acc,
                                           const Fragment &a, Value bOffset,
                                           int64_t rowChannels,
                                           ChannelSlice slice, int64_t kRows) {
  // The forward's P V: the A fragment of k-step kk is the accumulator of n8
  // tiles 2kk, 2kk + 1; B by ldmatrix.x4.trans (lane l addresses row
  // (l % 8) + 8 ((l / 8) % 2), chunk l / 16 of the 16 columns).
  bool bf16 = config.elementType.isBF16();
  int64_t rowChunks = rowChannels * 2 / kChunkBytes;
  Value bRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value bChunk = div(lane, 16);
  for (int64_t kk = 0; kk < kRows / 16; ++kk) {
    ArrayRef<Value> t0(&a.values[layout.index(2 * kk, 0, 0)], 4),
        t1(&a.values[layout.index(2 * kk + 1, 0, 0)], 4);
    Type half = config.elementType;
    std::array<Value, 4> aRegs = {nb::packPair(b, loc, half, t0[0], t0[1]),
                                  nb::packPair(b, loc, half, t0[2], t0[3]),
                                  nb::packPair(b, loc, half, t1[0], t1[1]),
                                  nb::packPair(b, loc, half, t1[2], t1[3])};
    for (int64_t dd = 0; dd < slice.count / 16; ++dd) {
      int64_t group = slice.first / 16 + dd;
      Value ptr =
          sharedAt(sharedBase,
                   add(bOffset, emitSwizzledChunkOffset(
                                    b, loc, rowChunks, add(idx(16 * kk), bRow),
                                    add(idx(2 * group), bChunk))));
      std::array<Value, 4> frag = nb::loadMatrixX4(b, loc, ptr, true);
      for (int64_t half2 = 0; half2 < 2; ++half2) {
        MutableArrayRef<Value> c =
            acc.slice(layout.index(2 * dd + half2, 0, 0), 4);
        llvm::copy(nb::mmaM16N8K16(b, loc, bf16, aRegs,
                                   {frag[2 * half2], frag[2 * half2 + 1]}, c),
                   c.begin());
      }
    }
  }
}

void TileKernelBuilder::forEachPair(
    Fragment &fragment, bool rowsAreKeys, Value rowTile, Value columnTile,
    function_ref<void(Value &, const Pair &)> fn) {
  const TileGeometry &rowTiles = rowsAreKeys ? config.keys : config.queries;
  const TileGeometry &columnTiles = rowsAreKeys ? config.queries : config.keys;
  Value rowLength = rowsAreKeys ? seqK : seqQ;
  Value columnLength = rowsAreKeys ? seqQ : seqK;
  forEachElement(
      layout, fragment.numChunks, [&](int64_t chunk, int64_t slot, int64_t c) {
        auto [rowToken, rowValid] =
            tokenOf(rowTiles, rowTile, slotRow(slot), rowLength);
        auto [columnToken, columnValid] = tokenOf(
            columnTiles, columnTile,
            add(idx(layout.column(chunk, c)), quadColumn()), columnLength);
        Pair pair;
        pair.query = rowsAreKeys ? columnToken : rowToken;
        pair.key = rowsAreKeys ? rowToken : columnToken;
        Value queryValid = rowsAreKeys ? columnValid : rowValid;
        Value keyValid = rowsAreKeys ? rowValid : columnValid;
        pair.valid = andI(rowValid, columnValid);
        pair.safeQuery = select(queryValid, pair.query, idx(0));
        pair.safeKey = select(keyValid, pair.key, idx(0));
        fn(fragment.at(layout, chunk, slot, c), pair);
      });
}

void TileKernelBuilder::maskPairs(Fragment &probabilities, bool rowsAreKeys,
                                  Value rowTile, Value columnTile) {
  forEachPair(probabilities, rowsAreKeys, rowTile, columnTile,
              [&](Value &value, const Pair &pair) {
                Value keep = andI(pair.valid,
                                  heads.mask.emitKeep(b, loc, pair.query,
                                                      pair.key, maskContext));
                if (Value explicitMask = op.getExplicitMask()) {
                  Value byte =
                      loadPairElement(explicitMask, "explicit_mask", batch,
                                      walkHead, pair.safeQuery, pair.safeKey);
                  keep = andI(keep, cmp(arith::CmpIPredicate::ne, byte,
                                        arith::ConstantIntOp::create(
                                            b, loc, byte.getType(), 0)));
                }
                value = select(keep, value, f32(0));
              });
}

TileKernelBuilder::MaskedProbabilities
TileKernelBuilder::maskProbabilities(Fragment p, Value keepsAll,
                                     bool rowsAreKeys, Value rowTile,
                                     Value columnTile) {
  if (!unnormalized) {
    maskPartialTile(p, keepsAll, rowsAreKeys, rowTile, columnTile);
    return {p, p};
  }
  Fragment kept = p;
  maskPairs(kept, rowsAreKeys, rowTile, columnTile);
  // The bounds alone: keys past the sequence are zero rows (S = 0).
  forEachPair(p, rowsAreKeys, rowTile, columnTile,
              [&](Value &value, const Pair &pair) {
                value = select(pair.valid, value, f32(0));
              });
  return {p, kept};
}

Fragment TileKernelBuilder::keptScoreGrads(Fragment dp,
                                           const MaskedProbabilities &masked) {
  if (!unnormalized)
    return dp;
  // A kept pair whose P underflowed to 0 contributes nothing either way.
  for (auto [value, kept] : llvm::zip_equal(dp.values, masked.kept.values))
    value = select(
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, kept, f32(0)),
        f32(0), value);
  return dp;
}

void TileKernelBuilder::addBias(Fragment &scores, bool rowsAreKeys,
                                Value rowTile, Value columnTile) {
  Value bias = op.getBias();
  if (!bias)
    return;
  Value inverseScale = f32(1.0 / config.scale);
  forEachPair(scores, rowsAreKeys, rowTile, columnTile,
              [&](Value &s, const Pair &pair) {
                Value element =
                    toF32(loadPairElement(bias, "bias", batch, walkHead,
                                          pair.safeQuery, pair.safeKey));
                s = nb::fma(b, loc, element, inverseScale, s);
              });
}

void TileKernelBuilder::maskPartialTile(Fragment &probabilities, Value keepsAll,
                                        bool rowsAreKeys, Value rowTile,
                                        Value columnTile) {
  emitPartialTileMask(b, loc, keepsAll, probabilities, [&](Fragment &masked) {
    maskPairs(masked, rowsAreKeys, rowTile, columnTile);
  });
}

void KeyTileKernelBuilder::stageQueryRows(Value queryTile, Value buffer) {
  Value at = queryBufferAt(buffer);
  auto addresses = perTileAddresses();
  stageRows(config.queries, queryTile, seqQ, "q", queryBase, config.headDim * 2,
            config.sourceHeadDim * 2, add(at, idx(queryOffset)));
  stageRows(config.queries, queryTile, seqQ, "out_grad", outGradBase,
            config.valueDim * 2, config.sourceValueDim * 2,
            add(at, idx(outGradOffset)));
  // A row's values in one copy; rows outside the sequence copy the dead
  // row's (+inf: P = 0; no Dlt, a = 0).
  Value deadRow = tableAddress(kernelName, "_dead_row");
  for (int64_t first = 0; first < queryTokens(); first += numThreads) {
    Value position = add(tid, idx(first));
    OpBuilder::InsertionGuard insertion(b);
    if (first + numThreads > queryTokens()) {
      auto guard =
          scf::IfOp::create(b, loc, lt(position, idx(queryTokens())), false);
      b.setInsertionPointToStart(guard.thenBlock());
    }
    auto [token, valid] = tokenOf(config.queries, queryTile, position, seqQ);
    Value row = globalAt(
        param(kRowValues),
        i64Mul(i64Add(scratchRowBase, toI64(select(valid, token, idx(0)))),
               toI64(idx(kRowValueWords))),
        4);
    nb::copyAsync(
        b, loc,
        sharedAt(sharedBase, add(add(at, idx(rowValuesOffset)),
                                 mul(position, idx(kRowValueWords * 4)))),
        LLVM::SelectOp::create(b, loc, valid, row, deadRow), kRowValueWords * 4,
        i32(kRowValueWords * 4));
  }
}

SmallVector<Value>
KeyTileKernelBuilder::computeQueryTile(Value keyTile, Value head,
                                       const WalkSlot &slot, Value buffer,
                                       ValueRange gradients, int64_t pass) {
  auto addresses = perTileAddresses();
  bool firstPass = pass == 0;
  int64_t numKeyChunks = layout.numChunks(keySlice(pass).count);
  SmallVector<Value> keyGrads(gradients.begin(),
                              gradients.begin() + numKeyChunks * 4);
  SmallVector<Value> valueGrads(gradients.begin() + numKeyChunks * 4,
                                gradients.end());
  Value bufferAt = queryBufferAt(buffer);
  Value queryAt = add(bufferAt, idx(queryOffset));
  Value outGradAt = add(bufferAt, idx(outGradOffset));

  // S^T (+ bias / scale), then P^T = exp2(S^T scale log2(e) - LSE log2(e)).
  // wgmma: dP^T = V dY^T is issued behind S^T and computes while P is
  // formed.
  Fragment p;
  SmallVector<Value> pendingScoreGrads;
  if (wgmmaProducts) {
    SmallVector<Value> pendingScores =
        issueRowProduct(idx(keyOffset), config.keys.tokens, queryAt,
                        config.headDim * 2 / 16, queryTokens());
    pendingScoreGrads =
        issueRowProduct(idx(valueOffset), config.keys.tokens, outGradAt,
                        config.valueDim * 2 / 16, queryTokens());
    p.numChunks = layout.numChunks(queryTokens());
    p.values = nb::wgmmaWait(b, loc, pendingScores, {}, /*groupsInFlight=*/1);
  } else {
    p = multiplyRows(idx(keyOffset), queryAt, config.headDim * 2 / 16,
                     queryTokens());
  }
  addBias(p, /*rowsAreKeys=*/true, keyTile, slot.tile);
  Value column = quadColumn();
  // The row values of the thread's query columns.
  auto rowValue = [&](int64_t which, int64_t chunk, int64_t c) {
    Value position = add(idx(layout.column(chunk, c)), column);
    return loadGlobal(
        b.getF32Type(),
        sharedAt(sharedBase,
                 add(add(bufferAt, idx(rowValuesOffset + 4 * which)),
                     mul(position, idx(kRowValueWords * 4)))));
  };
  Value scoreScale = f32(config.scale * M_LOG2E);
  forEachElement(
      layout, p.numChunks, [&](int64_t chunk, int64_t slotIndex, int64_t c) {
        Value &s = p.at(layout, chunk, slotIndex, c);
        s = nb::exp2Approx(b, loc,
                           arith::SubFOp::create(b, loc, mulF(s, scoreScale),
                                                 rowValue(0, chunk, c)));
      });
  // Partial tiles: the mask's predicate on (query, key) pairs.
  MaskedProbabilities masked = maskProbabilities(
      p, slot.keepsAll, /*rowsAreKeys=*/true, keyTile, slot.tile);
  p = masked.p;

  // dP^T (of dY, not yet of dA = a dY), on the kept pairs.
  Fragment rawScoreGrads;
  if (wgmmaProducts) {
    rawScoreGrads.numChunks = p.numChunks;
    rawScoreGrads.values = nb::wgmmaWait(b, loc, pendingScoreGrads);
  } else {
    rawScoreGrads = multiplyRows(idx(valueOffset), outGradAt,
                                 config.valueDim * 2 / 16, queryTokens());
  }
  Fragment dp = keptScoreGrads(rawScoreGrads, masked);
  if (op.getGates() && reduceQueryGrads && firstPass)
    accumulateGateSums(masked.kept, dp, slot.tile);
  Fragment scaledP = masked.kept;
  if (!unitOutputFactor)
    forEachElement(layout, p.numChunks,
                   [&](int64_t chunk, int64_t slotIndex, int64_t c) {
                     Value &value = scaledP.at(layout, chunk, slotIndex, c);
                     value = mulF(value, rowValue(2, chunk, c));
                   });
  // dS = P (a dP - (Dlt - dLSE)).
  Fragment ds = p;
  auto formScoreGrads = [&] {
    forEachElement(
        layout, p.numChunks, [&](int64_t chunk, int64_t slotIndex, int64_t c) {
          Value &value = ds.at(layout, chunk, slotIndex, c);
          Value dpv = dp.at(layout, chunk, slotIndex, c);
          if (!unitOutputFactor)
            dpv = mulF(rowValue(2, chunk, c), dpv);
          value = mulF(value,
                       arith::SubFOp::create(b, loc, dpv, rowValue(1, chunk, c)));
        });
  };
  bool queryGrads = reduceQueryGrads && firstPass;
  if (wgmmaProducts) {
    // dS first, so P and dP die before the products (B fragments take no
    // registers here); then dV += (a P)^T dY, dK += dS^T Q and dQ = dS K
    // in flight together, dS^T staged while dV computes.
    formScoreGrads();
    SmallVector<Value> scaledRegisters =
        packAccumulatorA(scaledP, queryTokens());
    SmallVector<Value> pending = issueOverRows(
        valueGrads, scaledRegisters, outGradAt, config.valueDim, queryTokens());
    if (queryGrads)
      stageScoreGrads(ds);
    SmallVector<Value> dsRegisters = packAccumulatorA(ds, queryTokens());
    llvm::append_range(pending, issueOverRows(keyGrads, dsRegisters, queryAt,
                                              config.headDim, queryTokens()));
    if (op.getBiasGrad() && firstPass)
      accumulateBiasGrads(ds, head, keyTile, slot.tile);
    if (queryGrads) {
      fenceForProductReads();
      gpu::BarrierOp::create(b, loc);
      llvm::append_range(pending, issueQueryGradProduct());
    }
    SmallVector<Value> operands(scaledRegisters);
    llvm::append_range(operands, dsRegisters);
    SmallVector<Value> done = nb::wgmmaWait(b, loc, pending, operands);
    ArrayRef<Value> results(done);
    llvm::copy(results.take_front(valueGrads.size()), valueGrads.begin());
    results = results.drop_front(valueGrads.size());
    llvm::copy(results.take_front(keyGrads.size()), keyGrads.begin());
    if (queryGrads)
      reduceQueryGradProduct(results.drop_front(keyGrads.size()), slot.tile);
  } else {
    // dV += (a P)^T dY first, so a P dies before dS is formed.
    accumulateOverRows(valueGrads, scaledP, outGradAt, config.valueDim,
                       valueSlice(pass), queryTokens());
    formScoreGrads();
    // dK += dS^T Q.
    accumulateOverRows(keyGrads, ds, queryAt, config.headDim, keySlice(pass),
                       queryTokens());
    if (op.getBiasGrad() && firstPass)
      accumulateBiasGrads(ds, head, keyTile, slot.tile);
    if (queryGrads) {
      stageScoreGrads(ds);
      gpu::BarrierOp::create(b, loc);
      accumulateQueryGrads(head, slot.tile);
    }
  }

  SmallVector<Value> results(keyGrads);
  llvm::append_range(results, valueGrads);
  return results;
}

void KeyTileKernelBuilder::stageScoreGrads(const Fragment &ds) {
  // dS^T to shared memory in the inputs' type, [key][query], for dQ.
  int64_t dsChunks = queryTokens() * 2 / kChunkBytes;
  for (int64_t chunk = 0; chunk < ds.numChunks; ++chunk)
    for (int64_t slotIndex = 0; slotIndex < 2; ++slotIndex) {
      Value key =
          add(mul(warp, idx(16)), add(div(lane, 4), idx(8 * slotIndex)));
      Value pair = nb::packPair(b, loc, config.elementType,
                                ds.at(layout, chunk, slotIndex, 0),
                                ds.at(layout, chunk, slotIndex, 1));
      Value offset = add(
          idx(dsOffset),
          add(stagedChunkOffset(config.keys.tokens, dsChunks, key, idx(chunk)),
              mul(rem(lane, 4), idx(4))));
      LLVM::StoreOp::create(b, loc, pair, sharedAt(sharedBase, offset));
    }
}

void KeyTileKernelBuilder::accumulateBiasGrads(Fragment ds, Value head,
                                               Value keyTile, Value queryTile) {
  Value biasBatch = config.biasBatchBroadcast ? idx(0) : batch;
  Value biasHead = config.biasHeads == 1 ? idx(0) : head;
  Value plane =
      i64Mul(toI64(scratchIndex(biasBatch, config.biasHeads, biasHead, seqQ)),
             toI64(seqK));
  forEachPair(ds, /*rowsAreKeys=*/true, keyTile, queryTile,
              [&](Value &value, const Pair &pair) {
                auto inRange = scf::IfOp::create(b, loc, pair.valid, false);
                OpBuilder::InsertionGuard insertion(b);
                b.setInsertionPointToStart(inRange.thenBlock());
                Value element = i64Add(
                    i64Add(plane, i64Mul(toI64(pair.query), toI64(seqK))),
                    toI64(pair.key));
                LLVM::AtomicRMWOp::create(
                    b, loc, LLVM::AtomicBinOp::fadd,
                    globalAt(param(kBiasGradAccumulator), element, 4), value,
                    LLVM::AtomicOrdering::monotonic);
              });
}

void KeyTileKernelBuilder::accumulateGateSums(const Fragment &p,
                                              const Fragment &dp,
                                              Value queryTile) {
  // Over the thread's two keys, the lanes of the other rows (xor 4, 8, 16),
  // then one reduction per warp and query.
  for (int64_t chunk = 0; chunk < p.numChunks; ++chunk)
    for (int64_t c = 0; c < 2; ++c) {
      Value sum =
          addF(mulF(p.at(layout, chunk, 0, c), dp.at(layout, chunk, 0, c)),
               mulF(p.at(layout, chunk, 1, c), dp.at(layout, chunk, 1, c)));
      for (int64_t mask : {4, 8, 16})
        sum = addF(sum, nb::shuffleXor(b, loc, sum, mask));
      auto [query, valid] =
          tokenOf(config.queries, queryTile,
                  add(idx(layout.column(chunk, c)), quadColumn()), seqQ);
      auto leader = scf::IfOp::create(b, loc, andI(valid, lt(lane, idx(4))),
                                      /*withElse=*/false);
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(leader.thenBlock());
      LLVM::AtomicRMWOp::create(
          b, loc, LLVM::AtomicBinOp::fadd,
          globalAt(param(kGateSum), i64Add(scratchRowBase, toI64(query)), 4),
          sum, LLVM::AtomicOrdering::monotonic);
    }
}

void KeyTileKernelBuilder::accumulateQueryGrads(Value head, Value queryTile) {
  // dQ (queries x D) = dS K in items of (m-tile, slab of channels), item
  // slab * mTiles + m-tile to warp item % warps: every warp gets a share
  // even where the m-tiles are fewer than the warps. A from the staged
  // dS^T by ldmatrix.x4.trans (lane l addresses key row (l % 8) + 8
  // (l / 16), query chunk (l / 8) % 2 of the m-tile), B = K rows by
  // ldmatrix.x4.trans as the forward's V.
  bool bf16 = config.elementType.isBF16();
  int64_t mTiles = queryTokens() / 16;
  int64_t dsChunks = queryTokens() * 2 / kChunkBytes;
  int64_t keyChunks = config.headDim * 2 / kChunkBytes;
  Value aRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value aChunk = rem(div(lane, 8), 2);
  Value bRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value bChunk = div(lane, 16);
  int64_t slabs = llvm::divideCeil(config.sourceHeadDim, kQueryGradSlab);
  for (int64_t slab = 0; slab < slabs; ++slab) {
    int64_t firstGroup = slab * kQueryGradSlab / 16;
    int64_t groups =
        std::min(kQueryGradSlab, config.headDim - slab * kQueryGradSlab) / 16;
    // This warp's first m-tile of the slab: the m with (slab * mTiles + m)
    // % warps == warp.
    Value firstTile =
        rem(add(warp, idx(numWarps() - (slab * mTiles) % numWarps())),
            idx(numWarps()));
    for (int64_t round = 0; round * numWarps() < mTiles; ++round) {
      Value mTile = add(firstTile, idx(round * numWarps()));
      OpBuilder::InsertionGuard insertion(b);
      // Every warp's m-tile exists where the warps divide the m-tiles.
      if (mTiles % numWarps() != 0) {
        auto guard = scf::IfOp::create(b, loc, lt(mTile, idx(mTiles)), false);
        b.setInsertionPointToStart(guard.thenBlock());
      }
      SmallVector<Value> acc(groups * 2 * 4, f32(0));
      for (int64_t kk = 0; kk < config.keys.tokens / 16; ++kk) {
        std::array<Value, 4> a = nb::loadMatrixX4(
            b, loc,
            sharedAt(sharedBase,
                     add(idx(dsOffset),
                         emitSwizzledChunkOffset(
                             b, loc, dsChunks, add(idx(16 * kk), aRow),
                             add(mul(mTile, idx(2)), aChunk)))),
            /*transpose=*/true);
        for (int64_t dd = 0; dd < groups; ++dd) {
          std::array<Value, 4> frag = nb::loadMatrixX4(
              b, loc,
              sharedAt(sharedBase,
                       add(idx(keyOffset),
                           emitSwizzledChunkOffset(
                               b, loc, keyChunks, add(idx(16 * kk), bRow),
                               add(idx(2 * (firstGroup + dd)), bChunk)))),
              /*transpose=*/true);
          for (int64_t half = 0; half < 2; ++half) {
            MutableArrayRef<Value> c(&acc[layout.index(2 * dd + half, 0, 0)],
                                     4);
            llvm::copy(nb::mmaM16N8K16(b, loc, bf16, a,
                                       {frag[2 * half], frag[2 * half + 1]}, c),
                       c.begin());
          }
        }
      }
      // Chunks past the tensor's channels (padding) are not reduced.
      int64_t chunks = std::min<int64_t>(2 * groups, config.sourceHeadDim / 8 -
                                                         2 * firstGroup);
      reduceIntoQueryGrads(acc, chunks, queryTile, mul(mTile, idx(16)),
                           idx(16 * firstGroup));
    }
  }
}

KeyTileKernelBuilder::QueryGradShare KeyTileKernelBuilder::queryGradShare() {
  int64_t keys = config.keys.tokens;
  if (queryGradBySlabs())
    return {queryGradSlab(), idx(0), keys / 16};
  return {queryGradSlab(), mul(warpgroup(), idx(keys / 2)), keys / 32};
}

Value KeyTileKernelBuilder::queryGradSlab() {
  return queryGradBySlabs() ? warpgroup() : idx(0);
}

SmallVector<Value> KeyTileKernelBuilder::issueQueryGradProduct() {
  // dQ (64 queries x D) = dS K, m64n64k16: A = dS^T [key][query] read
  // MN-major, B = K [key][channel] MN-major (the forward's V); the
  // warpgroups' shares as queryGradShare says.
  int64_t keys = config.keys.tokens;
  int64_t dsRowBytes = queryTokens() * 2;
  int64_t keySpan = getWgmmaSwizzleBytes(config.headDim * 2);
  auto [slab, firstKey, steps] = queryGradShare();
  Value dsDescriptor = emitWgmmaTileDescriptor(
      b, loc,
      descriptorAddress(add(idx(dsOffset), mul(firstKey, idx(dsRowBytes)))),
      keys, dsRowBytes, /*mnMajor=*/true);
  Value keyDescriptor = emitWgmmaTileDescriptor(
      b, loc,
      descriptorAddress(add(idx(keyOffset), add(mul(slab, idx(keys * keySpan)),
                                                mul(firstKey, idx(keySpan))))),
      keys, config.headDim * 2, /*mnMajor=*/true);
  nb::wgmmaFence(b, loc);
  SmallVector<Value> acc;
  for (int64_t kk = 0; kk < steps; ++kk)
    acc = nb::wgmmaAsync(
        b, loc, 64, config.elementType.isBF16() ? "bf16" : "f16",
        addToWgmmaDescriptor(b, loc, dsDescriptor, 16 * kk * dsRowBytes),
        addToWgmmaDescriptor(b, loc, keyDescriptor, 16 * kk * keySpan),
        /*transposeB=*/true, acc, /*transposeA=*/true);
  nb::wgmmaCommit(b, loc);
  return acc;
}

void KeyTileKernelBuilder::reduceQueryGradProduct(ArrayRef<Value> acc,
                                                  Value queryTile) {
  // Rows: the warp's 16 of the warpgroup's 64 queries; channels: the
  // warpgroup's slab.
  reduceIntoQueryGrads(acc, 8, queryTile,
                       mul(rem(warp, kWarpgroupThreads / 32), idx(16)),
                       mul(queryGradSlab(), idx(64)));
}

void KeyTileKernelBuilder::reduceIntoQueryGrads(ArrayRef<Value> acc,
                                                int64_t chunks, Value queryTile,
                                                Value firstRow,
                                                Value firstChannel) {
  // scale dS K, reduced into the f32 accumulator row by row: the thread's
  // two adjacent channels in one reduction where the chip has them (every
  // 32-byte sector of the row then whole).
  Value column = add(firstChannel, quadColumn());
  for (int64_t slotIndex = 0; slotIndex < 2; ++slotIndex) {
    Value position = add(firstRow, add(div(lane, 4), idx(8 * slotIndex)));
    auto [query, valid] = tokenOf(config.queries, queryTile, position, seqQ);
    auto ifValid = scf::IfOp::create(b, loc, valid, /*withElse=*/false);
    OpBuilder::InsertionGuard rowInsertion(b);
    b.setInsertionPointToStart(ifValid.thenBlock());
    Value rowStart = i64Mul(i64Add(scratchRowBase, toI64(query)),
                            toI64(idx(config.headDim)));
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      Value channel = add(idx(8 * chunk), column);
      Value address = globalAt(param(kQueryGradAccumulator),
                               i64Add(rowStart, toI64(channel)), 4);
      Value pair[2];
      for (int64_t c = 0; c < 2; ++c)
        pair[c] =
            mulF(acc[layout.index(chunk, slotIndex, c)], f32(config.scale));
      if (config.vectorReductions) {
        nb::inlinePtx(b, loc, "red.global.add.v2.f32 [$0], {$1, $2};", "l,f,f",
                      {address, pair[0], pair[1]}, 0);
        continue;
      }
      for (int64_t c = 0; c < 2; ++c)
        LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::fadd,
                                  c == 0 ? address
                                         : globalAt(address, toI64(idx(1)), 4),
                                  pair[c], LLVM::AtomicOrdering::monotonic);
    }
  }
}

void KeyTileKernelBuilder::storeKeyGrads(Value keyTile, ValueRange gradients,
                                         int64_t pass) {
  int64_t numKeyChunks = layout.numChunks(keySlice(pass).count);
  Value column = quadColumn();
  // The slice's channels inside the tensor (`sourceDim`): its values are
  // the slice's chunks from 0.
  auto store = [&](StringRef name, Value operand, ValueRange values,
                   ChannelSlice slice, int64_t sourceDim, double factor) {
    int64_t end = std::min(slice.end(), sourceDim);
    if (slice.first >= end)
      return;
    Type type = cast<MemRefType>(operand.getType()).getElementType();
    for (int64_t slotIndex = 0; slotIndex < 2; ++slotIndex) {
      Value position =
          add(mul(warp, idx(16)), add(div(lane, 4), idx(8 * slotIndex)));
      auto [key, valid] = tokenOf(config.keys, keyTile, position, seqK);
      auto ifValid = scf::IfOp::create(b, loc, valid, /*withElse=*/false);
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(ifValid.thenBlock());
      Value rowOffset = elementOffset({{batch, (name + "_stride_b").str()},
                                       {kvHead, (name + "_stride_h").str()},
                                       {key, (name + "_stride_n").str()}});
      for (int64_t chunk = 0; slice.first + chunk * 8 < end; ++chunk)
        for (int64_t c = 0; c < 2; ++c) {
          Value channel =
              add(idx(slice.first + layout.column(chunk, c)), column);
          Value address = globalAt(
              param(name), i64Add(rowOffset, toI64(channel)), byteWidth(type));
          Value value = values[layout.index(chunk, slotIndex, c)];
          if (factor != 1.0)
            value = mulF(value, f32(factor));
          // Head sets after the first add to what the first wrote.
          if (accumulateKeyGrads)
            value = addF(toF32(loadGlobal(type, address)), value);
          LLVM::StoreOp::create(b, loc, fromF32(value, type), address);
        }
    }
  };
  store("k_grad", op.getKeyGrad(), gradients.take_front(numKeyChunks * 4),
        keySlice(pass), config.sourceHeadDim, config.scale);
  store("v_grad", op.getValueGrad(), gradients.drop_front(numKeyChunks * 4),
        valueSlice(pass), config.sourceValueDim, 1.0);
}

KernelLaunch KeyTileKernelBuilder::build(StringRef name) {
  planSharedMemory();
  declareTileParams(/*withKeyGrads=*/true);
  walkByKeyTile = true;
  emitWalkTables(name);
  // The heads of the set among each kv head's query heads.
  SmallVector<int32_t> member(config.numQueryHeads, 0);
  for (int64_t h : heads.heads)
    member[h] = 1;
  everyHeadInSet = llvm::all_of(member, [](int32_t m) { return m == 1; });
  if (!everyHeadInSet)
    emitConstantTable(name, "_heads", member);
  // The row values of rows outside the sequence (+inf, 0, 0, 0), aligned
  // for cp.async.
  emitConstantTable(name, "_dead_row",
                    {static_cast<int32_t>(0x7f800000), 0, 0, 0},
                    /*alignment=*/kRowValueWords * 4);
  declareDynamicSharedMemory(wgmmaProducts ? 8 * 128 : 128);
  createFunction(name, numThreads);
  BlockCoordinates block =
      launchOverHeads(tileCountFactor(config.keys, "seq_k"), config.numKvHeads);
  Value keyTile = block.x;
  kvHead = block.headSlot;
  setUpThread(block.batch);

  // K and V of the key tile, staged once.
  stageRows(config.keys, keyTile, seqK, "k",
            elementOffset({{batch, "k_stride_b"}, {kvHead, "k_stride_h"}}),
            config.headDim * 2, config.sourceHeadDim * 2, idx(keyOffset));
  stageRows(config.keys, keyTile, seqK, "v",
            elementOffset({{batch, "v_stride_b"}, {kvHead, "v_stride_h"}}),
            config.valueDim * 2, config.sourceValueDim * 2, idx(valueOffset));
  nb::commitAsyncGroup(b, loc);

  // One walk per slice of dK and dV channels (one up to D = Dv = 128),
  // dK and dV carried over every query head of the kv head in the set.
  int64_t passes = numChannelPasses(std::max(config.headDim, config.valueDim));
  for (int64_t pass = 0; pass < passes; ++pass) {
    SmallVector<Value> zeros((layout.numChunks(keySlice(pass).count) +
                              layout.numChunks(valueSlice(pass).count)) *
                                 4,
                             f32(0));
    auto headLoop = scf::ForOp::create(b, loc, idx(0), idx(config.groupSize),
                                       idx(1), zeros);
    {
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(headLoop.getBody());
      Value head =
          add(mul(kvHead, idx(config.groupSize)), headLoop.getInductionVar());
      queryBase = elementOffset({{batch, "q_stride_b"}, {head, "q_stride_h"}});
      outGradBase = elementOffset(
          {{batch, "out_grad_stride_b"}, {head, "out_grad_stride_h"}});
      scratchRowBase = scratchRow(batch, config.numQueryHeads, head, seqQ);
      walkHead = head;
      beginWalk(keyTile);
      if (!everyHeadInSet)
        walkCount = select(cmp(arith::CmpIPredicate::ne,
                               loadTableEntry(name, "_heads", head), idx(0)),
                           walkCount, idx(0));
      scf::YieldOp::create(
          b, loc,
          emitStagedWalk(
              keyTile, queryStages, headLoop.getRegionIterArgs(),
              [&](const WalkSlot &slot, Value buffer) {
                stageQueryRows(slot.tile, buffer);
              },
              [&](const WalkSlot &slot, Value buffer, ValueRange carried) {
                return computeQueryTile(keyTile, head, slot, buffer, carried,
                                        pass);
              }));
    }
    // A block whose kv head keeps no query: K and V were staged but never
    // waited for.
    if (pass == 0)
      nb::waitAsyncGroups(b, loc, 0);
    storeKeyGrads(keyTile, headLoop.getResults(), pass);
  }
  finishFunction();
  return launch;
}

/// attn_bwd_query_grads (deterministic mode): dQ and the gates' sums
/// without atomics. One block per (query tile, head of the set, batch
/// element) walks the query tile's key tiles (the forward's lists or key
/// range), recomputes S and dP there, and writes its rows of dQ's
/// accumulator (and of the gates' sums) once: the same bits every run, for
/// three products per tile pair more than the atomics' schedule.
class QueryTileKernelBuilder : TileKernelBuilder {
public:
  QueryTileKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                         const BackwardConfig &config, const KernelHeads &heads)
      : TileKernelBuilder(op, module, config, heads,
                          32 * config.queries.tokens / 16) {}

  KernelLaunch build(StringRef name);

private:
  int64_t keyTokens() const { return config.keys.tokens; }

  /// Q and dY once; `keyStages` buffers of the key tile's K and V.
  int64_t queryOffset = 0, outGradOffset = 0;
  int64_t keyStages = 1, keyBuffersOffset = 0, keyBufferBytes = 0,
          valueOffset = 0;
};

KernelLaunch QueryTileKernelBuilder::build(StringRef name) {
  SharedMemoryPlan plan(128);
  auto region = [&](int64_t bytes) {
    return plan.start(plan.addRegion(bytes, /*stages=*/1));
  };
  queryOffset = region(config.queries.tokens * config.headDim * 2);
  outGradOffset = region(config.queries.tokens * config.valueDim * 2);
  // K then V in each buffer; two where they fit.
  valueOffset = keyTokens() * config.headDim * 2;
  int64_t keyBuffer = valueOffset + keyTokens() * config.valueDim * 2;
  int64_t alignedKeyBuffer = llvm::alignTo(keyBuffer, plan.getAlignment());
  keyStages =
      plan.size() + 2 * alignedKeyBuffer <= config.maxSharedBytes ? 2 : 1;
  unsigned buffers = plan.addRegion(keyBuffer, keyStages);
  keyBuffersOffset = plan.start(buffers);
  keyBufferBytes = plan.bytesPerStage(buffers);
  launch.sharedBytes = plan.size();

  declareTileParams(/*withKeyGrads=*/false);
  walkByKeyTile = false;
  emitWalkTables(name);
  declareDynamicSharedMemory(128);
  createFunction(name, numThreads);
  BlockCoordinates block =
      launchOverHeads(tileCountFactor(config.queries, "seq_q"),
                      static_cast<int64_t>(heads.heads.size()));
  Value queryTile = block.x;
  setUpThread(block.batch);
  SmallVector<Value> headValues;
  for (int64_t h : heads.heads)
    headValues.push_back(idx(h));
  Value head = selectBySlot(block.headSlot, headValues);
  Value kvHead = div(head, config.groupSize);
  walkHead = head;

  stageRows(config.queries, queryTile, seqQ, "q",
            elementOffset({{batch, "q_stride_b"}, {head, "q_stride_h"}}),
            config.headDim * 2, config.sourceHeadDim * 2, idx(queryOffset));
  stageRows(config.queries, queryTile, seqQ, "out_grad",
            elementOffset(
                {{batch, "out_grad_stride_b"}, {head, "out_grad_stride_h"}}),
            config.valueDim * 2, config.sourceValueDim * 2, idx(outGradOffset));
  nb::commitAsyncGroup(b, loc);
  // The thread's two query rows: LSE log2(e) (+inf: P = 0), Dlt - dLSE, a
  // (rows outside the sequence: P = 0, no Dlt, a = 0).
  Value scratchRowBase = scratchRow(batch, config.numQueryHeads, head, seqQ);
  SmallVector<Value, 2> rowTokens, rowValid, lseLog2, delta, factor;
  for (int64_t slot = 0; slot < 2; ++slot) {
    Value token, valid;
    std::tie(token, valid) =
        tokenOf(config.queries, queryTile, slotRow(slot), seqQ);
    Value firstWord =
        i64Mul(i64Add(scratchRowBase, toI64(select(valid, token, idx(0)))),
               toI64(idx(kRowValueWords)));
    auto word = [&](int64_t which, double outside) {
      Value value = loadGlobal(
          b.getF32Type(),
          globalAt(param(kRowValues), i64Add(firstWord, toI64(idx(which))), 4));
      return select(valid, value, f32(outside));
    };
    lseLog2.push_back(word(0, std::numeric_limits<double>::infinity()));
    delta.push_back(word(1, 0));
    factor.push_back(word(2, 0));
    rowTokens.push_back(token);
    rowValid.push_back(valid);
  }

  Value keyBase =
      elementOffset({{batch, "k_stride_b"}, {kvHead, "k_stride_h"}});
  Value valueBase =
      elementOffset({{batch, "v_stride_b"}, {kvHead, "v_stride_h"}});
  Value scoreScale = f32(config.scale * M_LOG2E);
  Value column = quadColumn();
  // One walk per slice of dQ's channels (one up to D = 128); the first
  // also sums the gates' terms.
  for (int64_t pass = 0; pass < numChannelPasses(config.headDim); ++pass) {
    ChannelSlice slice = channelSlice(config.headDim, pass);
    bool gateSums = op.getGates() && pass == 0;
    int64_t numQueryGrads = layout.numChunks(slice.count) * 4;
    SmallVector<Value> init(numQueryGrads, f32(0));
    if (gateSums)
      init.append(2, f32(0));
    beginWalk(queryTile);
    auto keyBufferAt = [&](Value buffer) {
      return add(idx(keyBuffersOffset), mul(buffer, idx(keyBufferBytes)));
    };
    auto stageKeys = [&](const WalkSlot &slot, Value buffer) {
      Value at = keyBufferAt(buffer);
      stageRows(config.keys, slot.tile, seqK, "k", keyBase, config.headDim * 2,
                config.sourceHeadDim * 2, at);
      stageRows(config.keys, slot.tile, seqK, "v", valueBase,
                config.valueDim * 2, config.sourceValueDim * 2,
                add(at, idx(valueOffset)));
    };
    ValueRange sums = emitStagedWalk(
        queryTile, keyStages, init, stageKeys,
        [&](const WalkSlot &slot, Value buffer, ValueRange carried) {
          SmallVector<Value> queryGrads(carried.take_front(numQueryGrads));
          Value keyAt = keyBufferAt(buffer);
          Value valueAt = add(keyAt, idx(valueOffset));
          Fragment p =
              multiplyRows(idx(queryOffset), keyAt,
                           config.headDim * 2 / kChunkBytes, keyTokens());
          addBias(p, /*rowsAreKeys=*/false, queryTile, slot.tile);
          forEachElement(
              layout, p.numChunks, [&](int64_t chunk, int64_t row, int64_t c) {
                Value &value = p.at(layout, chunk, row, c);
                value = nb::exp2Approx(
                    b, loc,
                    arith::SubFOp::create(b, loc, mulF(value, scoreScale),
                                          lseLog2[row]));
              });
          MaskedProbabilities masked = maskProbabilities(
              p, slot.keepsAll, /*rowsAreKeys=*/false, queryTile, slot.tile);
          p = masked.p;
          Fragment dp = keptScoreGrads(
              multiplyRows(idx(outGradOffset), valueAt,
                           config.valueDim * 2 / kChunkBytes, keyTokens()),
              masked);
          SmallVector<Value> results;
          SmallVector<Value, 2> rowGateSums;
          if (gateSums)
            rowGateSums.assign(carried.begin() + numQueryGrads, carried.end());
          Fragment ds = p;
          forEachElement(
              layout, p.numChunks, [&](int64_t chunk, int64_t row, int64_t c) {
                Value pv = p.at(layout, chunk, row, c);
                Value dpv = dp.at(layout, chunk, row, c);
                if (!rowGateSums.empty())
                  rowGateSums[row] =
                      nb::fma(b, loc, masked.kept.at(layout, chunk, row, c),
                              dpv, rowGateSums[row]);
                ds.at(layout, chunk, row, c) =
                    mulF(pv, arith::SubFOp::create(
                                 b, loc, mulF(factor[row], dpv), delta[row]));
              });
          accumulateOverRows(queryGrads, ds, keyAt, config.headDim, slice,
                             keyTokens());
          results = queryGrads;
          llvm::append_range(results, rowGateSums);
          return results;
        });
    // A block that walked no tile never waited for Q and dY.
    if (pass == 0)
      nb::waitAsyncGroups(b, loc, 0);

    int64_t end = std::min(slice.end(), config.sourceHeadDim);
    for (int64_t slot = 0; slot < 2; ++slot) {
      Value gateSum;
      if (gateSums) {
        // The quad's four lanes hold the row's columns.
        gateSum = sums[numQueryGrads + slot];
        for (int64_t mask : {1, 2})
          gateSum = addF(gateSum, nb::shuffleXor(b, loc, gateSum, mask));
      }
      auto ifValid = scf::IfOp::create(b, loc, rowValid[slot], false);
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(ifValid.thenBlock());
      Value rowIndex = i64Add(scratchRowBase, toI64(rowTokens[slot]));
      Value rowStart = i64Mul(rowIndex, toI64(idx(config.headDim)));
      for (int64_t chunk = 0; slice.first + chunk * 8 < end; ++chunk)
        for (int64_t c = 0; c < 2; ++c) {
          Value channel =
              add(idx(slice.first + layout.column(chunk, c)), column);
          LLVM::StoreOp::create(
              b, loc,
              mulF(sums[layout.index(chunk, slot, c)], f32(config.scale)),
              globalAt(param(kQueryGradAccumulator),
                       i64Add(rowStart, toI64(channel)), 4));
        }
      if (gateSum) {
        auto leader = scf::IfOp::create(
            b, loc, cmp(arith::CmpIPredicate::eq, rem(lane, 4), idx(0)), false);
        b.setInsertionPointToStart(leader.thenBlock());
        LLVM::StoreOp::create(b, loc, gateSum,
                              globalAt(param(kGateSum), rowIndex, 4));
      }
    }
  }
  finishFunction();
  return launch;
}

} // namespace

LogicalResult mlir::attn::detail::checkBackwardSupported(
    AttentionGradOp op, const GpuTarget &target, MmaFamily family) {
  if (op.hasTensorSemantics())
    return op.emitOpError()
           << "attn-lower-to-gpu needs memref operands; bufferize first";
  auto elementOf = [](Value v) {
    return cast<MemRefType>(v.getType()).getElementType();
  };
  Type inputType = elementOf(op.getQuery());
  if (!inputType.isF16() && !inputType.isBF16())
    return op.emitOpError()
           << "attn-lower-to-gpu: Q, K and V of type " << inputType
           << " are not supported; the backward kernel "
              "takes f16 or bf16";
  for (auto [what, v] : {std::pair<StringRef, Value>{"K", op.getKey()},
                         {"V", op.getValue()},
                         {"dY (output_grad)", op.getOutputGrad()}})
    if (elementOf(v) != inputType)
      return op.emitOpError()
             << "attn-lower-to-gpu: " << what << " of type " << elementOf(v)
             << " must have Q's element type " << inputType
             << " (the backward multiplies them on tensor cores)";
  for (auto [what, v] :
       {std::pair<StringRef, Value>{"O (output)", op.getOutput()},
        {"dQ", op.getQueryGrad()},
        {"dK", op.getKeyGrad()},
        {"dV", op.getValueGrad()}}) {
    Type t = elementOf(v);
    if (!t.isF16() && !t.isBF16() && !t.isF32())
      return op.emitOpError() << "attn-lower-to-gpu: " << what << " of type "
                              << t << " is not f16, bf16 or f32";
  }
  for (auto [what, d] :
       {std::pair<StringRef, int64_t>{"head dim D", op.getHeadDim()},
        {"value head dim Dv", op.getValueHeadDim()}})
    if (ShapedType::isDynamic(d) || d % 8 != 0 || d > kMaxHeadDim)
      return op.emitOpError()
             << "attn-lower-to-gpu: the backward kernel takes static head "
                "dims that are multiples of 8 of at most "
             << kMaxHeadDim << ", got " << what << " = "
             << (ShapedType::isDynamic(d) ? std::string("?")
                                          : std::to_string(d));
  if (ShapedType::isDynamic(op.getNumQueryHeads()) ||
      ShapedType::isDynamic(op.getNumKeyValueHeads()))
    return op.emitOpError()
           << "attn-lower-to-gpu needs static head counts (blockIdx.y maps "
              "to heads at compile time)";
  std::optional<double> scale = op.getEffectiveScale();
  if (!scale || !(*scale > 0))
    return op.emitOpError() << "attn-lower-to-gpu needs a positive scale";
  BackwardConfig config = getBackwardConfig(op, target, family);
  for (auto [what, tokens] :
       {std::pair<StringRef, int64_t>{"query", config.queries.tokens},
        {"key", config.keys.tokens}})
    if (tokens % 16 != 0 || tokens > 128)
      return op.emitOpError()
             << "attn-lower-to-gpu: the backward kernel takes " << what
             << " tiles of a multiple of 16 tokens of at most 128, got "
             << tokens;
  int64_t sharedBytes =
      getBackwardSharedBytes({config.queries.tokens, config.keys.tokens},
                             config.headDim, config.valueDim);
  if (sharedBytes > target.maxSharedBytesPerBlock)
    return op.emitOpError()
           << "attn-lower-to-gpu: the backward kernel's tiles need "
           << sharedBytes << " bytes of shared memory; " << target.chip
           << " allows " << target.maxSharedBytesPerBlock;
  return success();
}

MmaFamily mlir::attn::detail::getBackwardProductFamily(AttentionGradOp op,
                                                       const GpuTarget &target,
                                                       MmaFamily family) {
  return getBackwardConfig(op, target, family).wgmma ? MmaFamily::Wgmma
                                                     : MmaFamily::MmaSync;
}

LogicalResult mlir::attn::detail::emitBackwardKernels(
    AttentionGradOp op, gpu::GPUModuleOp module, const GpuTarget &target,
    MmaFamily family, bool deterministic,
    function_ref<std::string(StringRef)> uniqueName,
    SmallVectorImpl<KernelLaunch> &launches,
    SmallVectorImpl<ScratchBuffer> &scratch) {
  if (failed(checkBackwardSupported(op, target, family)))
    return failure();
  BackwardConfig config = getBackwardConfig(op, target, family);
  SmallVector<KernelHeads, 2> sets;
  SmallVector<int64_t> zeroHeads;
  splitHeads(op, sets, zeroHeads);

  // Scratch rows [B, Hq, Nq] (f32) and dQ's accumulator [B, Hq, Nq, D].
  auto rows = [&](int64_t words) {
    return SmallVector<GridFactor>{
        GridFactor{config.numQueryHeads * words * 4, "", 1},
        GridFactor{1, "batch", 1}, GridFactor{1, "seq_q", 1}};
  };
  scratch.push_back({kQueryGradAccumulator.str(), rows(config.headDim)});
  scratch.push_back({kRowValues.str(), rows(kRowValueWords)});
  if (op.getGates())
    scratch.push_back({kGateSum.str(), rows(1)});
  if (op.getBiasGrad()) {
    // A bias shared by batch elements or heads sums their dS with f32
    // reductions in an order that varies from run to run.
    auto queryType = cast<MemRefType>(op.getQuery().getType());
    bool sumsBatch = config.biasBatchBroadcast && queryType.getDimSize(0) != 1;
    bool sumsHeads = config.biasHeads == 1 && config.numQueryHeads > 1;
    if (deterministic && (sumsBatch || sumsHeads))
      return op.emitOpError()
             << "attn-lower-to-gpu: deterministic: dBias of a bias broadcast "
                "over "
             << (sumsBatch ? "batch elements" : "heads")
             << " is summed with f32 reductions whose order varies; give the "
                "bias a dimension per batch element and head, or drop "
                "deterministic";
    SmallVector<GridFactor> bytes{GridFactor{config.biasHeads * 4, "", 1}};
    if (!config.biasBatchBroadcast)
      bytes.push_back(GridFactor{1, "batch", 1});
    bytes.push_back(GridFactor{1, "seq_q", 1});
    bytes.push_back(GridFactor{1, "seq_k", 1});
    scratch.push_back({kBiasGradAccumulator.str(), bytes});
  }

  launches.push_back(
      RowsKernelBuilder(op, module, config).build(uniqueName("attn_bwd_rows")));
  if (op.getBiasGrad())
    launches.push_back(BiasGradKernelBuilder(op, module, config)
                           .build(uniqueName("attn_bwd_bias_grad_init"),
                                  /*finish=*/false));
  if (sets.empty()) {
    // Every head has weight 0: dK and dV are zero. One key-tile kernel over
    // no head writes them.
    sets.push_back(KernelHeads{op.getMaskOrDense(), {}, 0});
  }
  for (auto [index, heads] : llvm::enumerate(sets))
    launches.push_back(KeyTileKernelBuilder(op, module, config, heads,
                                            /*accumulateKeyGrads=*/index > 0,
                                            /*reduceQueryGrads=*/!deterministic)
                           .build(uniqueName("attn_bwd")));
  // Deterministic: each set's query rows of dQ (and the gates' sums)
  // written once by a query-tile-major kernel.
  if (deterministic)
    for (const KernelHeads &heads : sets)
      if (!heads.heads.empty())
        launches.push_back(QueryTileKernelBuilder(op, module, config, heads)
                               .build(uniqueName("attn_bwd_query_grads")));
  launches.push_back(FinishKernelBuilder(op, module, config)
                         .build(uniqueName("attn_bwd_finish")));
  if (op.getBiasGrad())
    launches.push_back(BiasGradKernelBuilder(op, module, config)
                           .build(uniqueName("attn_bwd_bias_finish"),
                                  /*finish=*/true));
  if (config.softpag)
    launches.push_back(IdentityKernelBuilder(op, module, config)
                           .build(uniqueName("attn_bwd_identity")));
  return success();
}
