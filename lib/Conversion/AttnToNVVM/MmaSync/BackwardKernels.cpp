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
//===----------------------------------------------------------------------===//

#include "BackwardKernels.h"

#include "MmaSyncEngine.h"
#include "MmaSyncIntrinsics.h"

#include "../Common/CpAsyncIntrinsics.h"
#include "../Common/FragmentLayout.h"
#include "../Common/KernelBuilderBase.h"
#include "../KernelSupport.h"

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"
#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

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
/// Default tiles of the key-tile-major kernel: 4 warps of 16 keys, and 64
/// queries per step up to D = Dv = 64, 32 beyond (dK and dV take D / 2 +
/// Dv / 2 registers per thread; S^T and dP^T a quarter of the queries
/// each: ptxas spills 24 bytes at D = 128 with 32 queries, 220 with 64).
constexpr int64_t kDefaultKeyTokens = 64;
constexpr int64_t kDefaultQueryTokens = 64;
constexpr int64_t kDefaultWideQueryTokens = 32;
/// Channels of dQ = dS K accumulated at a time (dK and dV hold most of the
/// registers meanwhile).
constexpr int64_t kQueryGradSlab = 32;
/// Head dims the backward serves for now (dK and dV live in registers).
constexpr int64_t kMaxHeadDim = 128;

/// The scratch buffers the kernels share, by name.
constexpr StringLiteral kQueryGradAccumulator = "bwd_q_grad_accumulator";
constexpr StringLiteral kRowDelta = "bwd_row_delta";
constexpr StringLiteral kRowFactor = "bwd_row_factor";
constexpr StringLiteral kGateSum = "bwd_gate_sum";

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
};

BackwardConfig getBackwardConfig(AttentionGradOp op) {
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
  bool wide = std::max(config.headDim, config.valueDim) > 64;
  SmallVector<int64_t> queryShape{wide ? kDefaultWideQueryTokens
                                       : kDefaultQueryTokens},
      keyShape{kDefaultKeyTokens}, grid;
  if (TilingAttr tiling = op.getTilingAttr()) {
    queryShape.assign(tiling.getQuery().begin(), tiling.getQuery().end());
    keyShape.assign(tiling.getKey().begin(), tiling.getKey().end());
    if (tiling.getRank() > 1)
      grid = op.getTokenGrid();
  }
  config.queries = TileGeometry::of(queryShape, grid);
  config.keys = TileGeometry::of(keyShape, grid);
  return config;
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
  /// The thread's query row of head slot y (a query head, or a kv head for
  /// `overKvHeads`) of batch element z, inside an scf.if on the row being
  /// in the sequence.
  void beginRow(int64_t heads) {
    BlockCoordinates block =
        launchOverHeads(GridFactor{1, "seq_q", kRowThreads}, heads);
    row = add(mul(block.x, idx(kRowThreads)),
              gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    headSlot = block.headSlot;
    batch = block.batch;
    auto inRange = scf::IfOp::create(b, loc, lt(row, toIndex(param("seq_q"))),
                                     /*withElse=*/false);
    b.setInsertionPointToStart(inRange.thenBlock());
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
  /// dot(dY[b, h, i], X[b, xHead, i]) over Dv for X = O or V.
  Value dotWithOutputGrad(Value head, StringRef name, Value operand,
                          Value operandHead) {
    auto loop = scf::ForOp::create(b, loc, idx(0), idx(config.sourceValueDim),
                                   idx(1), ValueRange{f32(0)});
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(loop.getBody());
    Value e = loop.getInductionVar();
    Value dy = loadElement("out_grad", op.getOutputGrad(),
                           {{batch, "b"}, {head, "h"}, {row, "n"}}, e);
    Value x = loadElement(name, operand,
                          {{batch, "b"}, {operandHead, "h"}, {row, "n"}}, e);
    scf::YieldOp::create(
        b, loc, ValueRange{nb::fma(b, loc, dy, x, loop.getRegionIterArg(0))});
    b.setInsertionPointAfter(loop);
    return loop.getResult(0);
  }
  /// The dense [B, Hq, Nq] index of (batch, head, row) in the scratch rows.
  Value scratchRowIndex(Value head) {
    return scratchRow(batch, config.numQueryHeads, head,
                      toIndex(param("seq_q")), row);
  }
  Value kvHeadOf(Value head) { return div(head, config.groupSize); }

  const BackwardConfig &config;
  Value row, headSlot, batch;

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
    addTensorParams("lse_grad", op.getLseGrad(), {"b", "h", "n"});
    if (config.softpag)
      addTensorParams("v", op.getValue(), {"b", "h", "n"});
    addTensorParams("gates", op.getGates(), {"b", "q", "h"});
    addTensorParams("gates_grad", op.getGatesGrad(), {"b", "q", "h"});
    for (StringRef buffer : {kRowDelta, kRowFactor, kQueryGradAccumulator})
      addParam(buffer, globalPtrType());
    if (op.getGates())
      addParam(kGateSum, globalPtrType());
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kRowThreads);
    beginRow(config.numQueryHeads);

    Value head = headSlot;
    auto [weight, u] = headFactors(head);
    Value c = outputFactor(head, weight);
    // Y = c ((1 - u) A + u V[i]): c (1 - u) dot(dY, A), the Dlt of section
    // 5, is dot(dY, Y) - c u dot(dY, V[i]) (no forward row recomputed, no
    // gate divided by).
    Value delta = dotWithOutputGrad(head, "out", op.getOutput(), head);
    Value identityDot = f32(0);
    if (config.softpag) {
      identityDot = dotWithOutputGrad(head, "v", op.getValue(), kvHeadOf(head));
      delta =
          arith::SubFOp::create(b, loc, delta, mulF(mulF(c, u), identityDot));
    }
    // dS = P (dP - Dlt + dLSE): one shift per row.
    if (op.getLseGrad())
      delta = arith::SubFOp::create(
          b, loc, delta,
          loadElement("lse_grad", op.getLseGrad(),
                      {{batch, "b"}, {head, "h"}, {row, "n"}}));
    Value rowIndex = scratchRowIndex(head);
    LLVM::StoreOp::create(b, loc, delta, scratchAt(kRowDelta, rowIndex));
    LLVM::StoreOp::create(b, loc,
                          mulF(c, arith::SubFOp::create(b, loc, f32(1), u)),
                          scratchAt(kRowFactor, rowIndex));
    Value accumulatorRow = i64Mul(rowIndex, toI64(idx(config.headDim)));
    for (int64_t e = 0; e < config.headDim; ++e)
      LLVM::StoreOp::create(b, loc, f32(0),
                            scratchAt(kQueryGradAccumulator,
                                      i64Add(accumulatorRow, toI64(idx(e)))));
    if (op.getGates()) {
      LLVM::StoreOp::create(b, loc, f32(0), scratchAt(kGateSum, rowIndex));
      storeElement(mulF(weight, mulF(u, identityDot)), "gates_grad",
                   op.getGatesGrad(), {{batch, "b"}, {row, "q"}, {head, "h"}});
    }
    b.setInsertionPointToEnd(&func.getBody().front());
    finishFunction();
    return launch;
  }
};

/// attn_bwd_finish: dQ from its accumulator (scale applied there) in Q's
/// gradient type; dG += w (1 - u) sum_j P dot(dY, V[j]).
class FinishKernelBuilder : RowKernelBuilder {
public:
  using RowKernelBuilder::RowKernelBuilder;

  KernelLaunch build(StringRef name) {
    addTensorParams("q_grad", op.getQueryGrad(), {"b", "h", "n"});
    addTensorParams("gates_grad", op.getGatesGrad(), {"b", "q", "h"});
    addParam(kQueryGradAccumulator, globalPtrType());
    if (op.getGates())
      addParam(kGateSum, globalPtrType());
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kRowThreads);
    beginRow(config.numQueryHeads);

    Value head = headSlot;
    Value rowIndex = scratchRowIndex(head);
    Value accumulatorRow = i64Mul(rowIndex, toI64(idx(config.headDim)));
    for (int64_t e = 0; e < config.sourceHeadDim; ++e) {
      Value sum = loadGlobal(b.getF32Type(),
                             scratchAt(kQueryGradAccumulator,
                                       i64Add(accumulatorRow, toI64(idx(e)))));
      storeElement(sum, "q_grad", op.getQueryGrad(),
                   {{batch, "b"}, {head, "h"}, {row, "n"}}, idx(e));
    }
    if (op.getGates()) {
      auto [weight, u] = headFactors(head);
      SmallVector<std::pair<Value, StringRef>> at{
          {batch, "b"}, {row, "q"}, {head, "h"}};
      Value sum = loadGlobal(b.getF32Type(), scratchAt(kGateSum, rowIndex));
      Value attentionPart =
          mulF(weight, mulF(arith::SubFOp::create(b, loc, f32(1), u), sum));
      Value old = loadElement("gates_grad", op.getGatesGrad(), at);
      storeElement(addF(old, attentionPart), "gates_grad", op.getGatesGrad(),
                   at);
    }
    b.setInsertionPointToEnd(&func.getBody().front());
    finishFunction();
    return launch;
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
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kRowThreads);
    beginRow(config.numKvHeads);

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
    b.setInsertionPointToEnd(&func.getBody().front());
    finishFunction();
    return launch;
  }
};

/// attn_bwd: one block per (key tile, kv head, batch element) for one head
/// set (its mask): every query head of the set reading the kv head, each
/// over the query tiles that keep a key of the tile.
class KeyTileKernelBuilder : BackwardBuilderBase {
public:
  KeyTileKernelBuilder(AttentionGradOp op, gpu::GPUModuleOp module,
                       const BackwardConfig &config, const KernelHeads &heads,
                       bool accumulateKeyGrads)
      : BackwardBuilderBase(op, module), config(config), heads(heads),
        accumulateKeyGrads(accumulateKeyGrads),
        layout(MmaSyncEngine::layout(1)) {}

  KernelLaunch build(StringRef name);

private:
  int64_t numWarps() const { return config.keys.tokens / 16; }
  int64_t queryTokens() const { return config.queries.tokens; }
  void planSharedMemory();
  void declareParams();
  void emitTables(StringRef name);

  /// The query tiles of this block's key tile for the current head.
  struct QueryTileSlot {
    Value queryTile, mayKeep, keepsAll;
  };
  void beginWalk(Value keyTile);
  QueryTileSlot walkSlot(Value keyTile, Value position);

  /// cp.async of the rows of `g`'s tile `tile` into the swizzled tile at
  /// `sharedOffset` (rows past `length` and channels past `readRowBytes`
  /// zero-filled).
  void stageRows(const TileGeometry &g, Value tile, Value length,
                 StringRef tensor, Value tensorBase, int64_t rowBytes,
                 int64_t readRowBytes, int64_t sharedOffset);
  /// A k16 A fragment of the warp's 16 rows of a staged tile.
  std::array<Value, 4> loadRowsA(int64_t sharedOffset, int64_t rowChunks,
                                 Value firstRow, int64_t kk);
  /// t = A B^T over `kSteps` k16 steps: A the warp's 16 rows of the tile at
  /// `aOffset`, B the `queryTokens()` rows of the tile at `bOffset`.
  Fragment multiplyRows(int64_t aOffset, int64_t bOffset, int64_t rowChunks);
  /// acc += A B with A (16 x queries) packed from `a` (16-bit pairs) and B
  /// the queries x channels tile at `bOffset` (ldmatrix.trans).
  void accumulateOverQueries(MutableArrayRef<Value> acc, const Fragment &a,
                             int64_t bOffset, int64_t channels);
  /// One query tile: dK, dV updated.
  SmallVector<Value> computeQueryTile(Value keyTile, Value head,
                                      const QueryTileSlot &slot,
                                      ValueRange gradients);
  void stageQueryRows(Value head, Value queryTile);
  /// Gates: dG's sum_j P dot(dY, V[j]) per query, reduced into its f32
  /// scratch row.
  void accumulateGateSums(const Fragment &p, const Fragment &dp,
                          Value queryTile);
  /// The column offset of this thread's accumulator elements.
  Value quadColumn() { return mul(rem(lane, 4), idx(2)); }
  /// dQ += scale dS K for the staged dS^T.
  void accumulateQueryGrads(Value head, Value queryTile);
  void storeKeyGrads(Value keyTile, ValueRange gradients);

  const BackwardConfig &config;
  const KernelHeads &heads;
  bool accumulateKeyGrads;
  FragmentLayout layout;
  bool tableMode = false, everyListedTileFull = false, everyHeadInSet = false;
  SmallVector<int32_t> offsets, entries;
  std::string kernelName;
  int64_t keyOffset = 0, valueOffset = 0, queryOffset = 0, outGradOffset = 0,
          dsOffset = 0, rowValuesOffset = 0;
  Value tid, lane, warp, seqQ, seqK, batch, kvHead, sharedBase;
  MaskIRContext maskContext;
  Value walkStart, walkCount, firstQueryTile;
  /// Per (batch, head): the element offsets of Q and dY, the scratch row.
  Value queryBase, outGradBase, scratchRowBase;
};

void KeyTileKernelBuilder::planSharedMemory() {
  int64_t offset = 0;
  auto region = [&](int64_t bytes) {
    int64_t start = offset;
    offset += llvm::alignTo(bytes, 128);
    return start;
  };
  keyOffset = region(config.keys.tokens * config.headDim * 2);
  valueOffset = region(config.keys.tokens * config.valueDim * 2);
  queryOffset = region(queryTokens() * config.headDim * 2);
  outGradOffset = region(queryTokens() * config.valueDim * 2);
  dsOffset = region(config.keys.tokens * queryTokens() * 2);
  // Per query of the tile: LSE log2(e) (+inf: P = 0), Dlt - dLSE, a.
  rowValuesOffset = region(3 * queryTokens() * 4);
  launch.sharedBytes = offset;
}

void KeyTileKernelBuilder::declareParams() {
  addTensorParams("q", op.getQuery(), {"b", "h", "n"});
  addTensorParams("k", op.getKey(), {"b", "h", "n"});
  addTensorParams("v", op.getValue(), {"b", "h", "n"});
  addTensorParams("lse", op.getLse(), {"b", "h", "n"});
  addTensorParams("out_grad", op.getOutputGrad(), {"b", "h", "n"});
  addTensorParams("k_grad", op.getKeyGrad(), {"b", "h", "n"});
  addTensorParams("v_grad", op.getValueGrad(), {"b", "h", "n"});
  addTensorParams("segment_offsets", op.getSegmentOffsets(), {"b"});
  for (StringRef buffer : {kRowDelta, kRowFactor, kQueryGradAccumulator})
    addParam(buffer, globalPtrType());
  if (op.getGates())
    addParam(kGateSum, globalPtrType());
  addParam("batch", b.getI32Type());
  addParam("seq_q", b.getI32Type());
  addParam("seq_k", b.getI32Type());
}

void KeyTileKernelBuilder::emitTables(StringRef name) {
  kernelName = name.str();
  // Table mode: the CSC lists of the forward's table (attn-sparsity, for
  // the op's own tiling), entries 2 * query tile + full.
  DenseIntElementsAttr classes = op.getTileClassesAttr();
  tableMode = classes && op.getTilingAttr();
  SmallVector<std::pair<StringRef, SmallVector<int32_t>>> globals;
  if (tableMode) {
    TileLists lists =
        getTileLists(classes, heads.classTable, /*byKeyTile=*/true);
    offsets.assign(lists.offsets.begin(), lists.offsets.end());
    for (auto [queryTile, tileClass] :
         llvm::zip_equal(lists.tiles, lists.classes))
      entries.push_back(2 * queryTile + (tileClass == TileClass::Full));
    everyListedTileFull =
        llvm::all_of(entries, [](int32_t e) { return e % 2 == 1; });
    // An empty list still needs an array to point at.
    entries.push_back(0);
    globals.push_back({"_query_tile_offsets", offsets});
    globals.push_back({"_query_tiles", entries});
  }
  // The heads of the set among each kv head's query heads.
  SmallVector<int32_t> member(config.numQueryHeads, 0);
  for (int64_t h : heads.heads)
    member[h] = 1;
  everyHeadInSet = llvm::all_of(member, [](int32_t m) { return m == 1; });
  if (!everyHeadInSet)
    globals.push_back({"_heads", member});
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(module.getBody());
  for (auto &[suffix, data] : globals) {
    auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                      b.getI32Type());
    LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getI32Type(), data.size()),
        /*isConstant=*/true, LLVM::Linkage::Internal,
        (kernelName + suffix).str(),
        DenseElementsAttr::get(type, ArrayRef<int32_t>(data)),
        /*alignment=*/4, /*addrSpace=*/1);
  }
}

void KeyTileKernelBuilder::beginWalk(Value keyTile) {
  if (tableMode) {
    Value table =
        LLVM::AddressOfOp::create(b, loc,
                                  module.lookupSymbol<LLVM::GlobalOp>(
                                      kernelName + "_query_tile_offsets"));
    walkStart =
        toIndex(loadGlobal(b.getI32Type(), globalAt(table, toI64(keyTile), 4)));
    Value end = toIndex(loadGlobal(
        b.getI32Type(), globalAt(table, toI64(add(keyTile, idx(1))), 4)));
    walkCount = sub(end, walkStart);
    return;
  }
  if (!config.queries.isFlat()) {
    // Boxes are classified one by one.
    firstQueryTile = idx(0);
    walkCount = TileIndexing(b, loc, config.queries).numTiles(seqQ);
    return;
  }
  auto [keyFirst, keyEnd] =
      TileIndexing(b, loc, config.keys).hull(keyTile, seqK);
  auto [queryBegin, queryEnd] =
      heads.mask.emitQueryRange(b, loc, keyFirst, keyEnd, maskContext);
  firstQueryTile =
      arith::DivSIOp::create(b, loc, queryBegin, idx(queryTokens()));
  Value endTile =
      arith::CeilDivSIOp::create(b, loc, queryEnd, idx(queryTokens()));
  walkCount =
      arith::MaxSIOp::create(b, loc, sub(endTile, firstQueryTile), idx(0));
}

KeyTileKernelBuilder::QueryTileSlot
KeyTileKernelBuilder::walkSlot(Value keyTile, Value position) {
  QueryTileSlot slot;
  if (tableMode) {
    Value table = LLVM::AddressOfOp::create(
        b, loc,
        module.lookupSymbol<LLVM::GlobalOp>(kernelName + "_query_tiles"));
    Value entry = toIndex(loadGlobal(
        b.getI32Type(), globalAt(table, toI64(add(walkStart, position)), 4)));
    slot.queryTile = div(entry, 2);
    slot.mayKeep = i1(true);
    slot.keepsAll = everyListedTileFull
                        ? i1(true)
                        : cmp(arith::CmpIPredicate::eq, rem(entry, 2), idx(1));
    return slot;
  }
  slot.queryTile = add(firstQueryTile, position);
  auto [queryFirst, queryEnd] =
      TileIndexing(b, loc, config.queries).hull(slot.queryTile, seqQ);
  auto [keyFirst, keyEnd] =
      TileIndexing(b, loc, config.keys).hull(keyTile, seqK);
  std::tie(slot.mayKeep, slot.keepsAll) = heads.mask.emitClassifyRange(
      b, loc, queryFirst, queryEnd, keyFirst, keyEnd, maskContext);
  return slot;
}

void KeyTileKernelBuilder::stageRows(const TileGeometry &g, Value tile,
                                     Value length, StringRef tensor,
                                     Value tensorBase, int64_t rowBytes,
                                     int64_t readRowBytes,
                                     int64_t sharedOffset) {
  int64_t rowChunks = rowBytes / kChunkBytes;
  int64_t count = g.tokens * rowChunks;
  int64_t numThreads = 32 * numWarps();
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
    nb::copyAsync(b, loc,
                  sharedAt(sharedBase, add(idx(sharedOffset),
                                           emitSwizzledChunkOffset(
                                               b, loc, rowChunks, row, chunk))),
                  globalAt(param(tensor), element, 2), kChunkBytes,
                  select(valid, i32(kChunkBytes), i32(0)));
  }
}

std::array<Value, 4> KeyTileKernelBuilder::loadRowsA(int64_t sharedOffset,
                                                     int64_t rowChunks,
                                                     Value firstRow,
                                                     int64_t kk) {
  // Lane l addresses row l % 16, chunk l / 16 of the k-step.
  Value row = add(firstRow, rem(lane, 16));
  Value chunk = add(idx(2 * kk), div(lane, 16));
  return nb::loadMatrixX4(
      b, loc,
      sharedAt(sharedBase,
               add(idx(sharedOffset),
                   emitSwizzledChunkOffset(b, loc, rowChunks, row, chunk))),
      /*transpose=*/false);
}

Fragment KeyTileKernelBuilder::multiplyRows(int64_t aOffset, int64_t bOffset,
                                            int64_t rowChunks) {
  bool bf16 = config.elementType.isBF16();
  Fragment t(layout, layout.numChunks(queryTokens()), f32(0));
  Value warpRow = mul(warp, idx(16));
  // B fragments of rows 16jj..16jj+15 by ldmatrix.x4: lane l addresses row
  // (l % 8) + 8 (l / 16), chunk (l / 8) % 2 of the k-step.
  Value bRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value bChunk = rem(div(lane, 8), 2);
  for (int64_t kk = 0; kk < rowChunks / 2; ++kk) {
    std::array<Value, 4> a = loadRowsA(aOffset, rowChunks, warpRow, kk);
    for (int64_t jj = 0; jj < queryTokens() / 16; ++jj) {
      Value ptr = sharedAt(
          sharedBase,
          add(idx(bOffset), emitSwizzledChunkOffset(b, loc, rowChunks,
                                                    add(idx(16 * jj), bRow),
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

void KeyTileKernelBuilder::accumulateOverQueries(MutableArrayRef<Value> acc,
                                                 const Fragment &a,
                                                 int64_t bOffset,
                                                 int64_t channels) {
  // The forward's P V: the A fragment of k-step kk is the accumulator of n8
  // tiles 2kk, 2kk + 1; B by ldmatrix.x4.trans (lane l addresses row
  // (l % 8) + 8 ((l / 8) % 2), chunk l / 16 of the 16 columns).
  bool bf16 = config.elementType.isBF16();
  int64_t rowChunks = channels * 2 / kChunkBytes;
  Value bRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value bChunk = div(lane, 16);
  for (int64_t kk = 0; kk < queryTokens() / 16; ++kk) {
    ArrayRef<Value> t0(&a.values[layout.index(2 * kk, 0, 0)], 4),
        t1(&a.values[layout.index(2 * kk + 1, 0, 0)], 4);
    Type half = config.elementType;
    std::array<Value, 4> aRegs = {nb::packPair(b, loc, half, t0[0], t0[1]),
                                  nb::packPair(b, loc, half, t0[2], t0[3]),
                                  nb::packPair(b, loc, half, t1[0], t1[1]),
                                  nb::packPair(b, loc, half, t1[2], t1[3])};
    for (int64_t dd = 0; dd < channels / 16; ++dd) {
      Value ptr = sharedAt(
          sharedBase,
          add(idx(bOffset), emitSwizzledChunkOffset(b, loc, rowChunks,
                                                    add(idx(16 * kk), bRow),
                                                    add(idx(2 * dd), bChunk))));
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

void KeyTileKernelBuilder::stageQueryRows(Value head, Value queryTile) {
  stageRows(config.queries, queryTile, seqQ, "q", queryBase, config.headDim * 2,
            config.sourceHeadDim * 2, queryOffset);
  stageRows(config.queries, queryTile, seqQ, "out_grad", outGradBase,
            config.valueDim * 2, config.sourceValueDim * 2, outGradOffset);
  nb::commitAsyncGroup(b, loc);
  // The per-query values: LSE in log2 units (+inf for rows outside the
  // sequence or with no kept key: P = 0 there), Dlt - dLSE and a (0
  // outside the sequence).
  for (int64_t first = 0; first < queryTokens(); first += 32 * numWarps()) {
    Value position = add(tid, idx(first));
    OpBuilder::InsertionGuard insertion(b);
    if (first + 32 * numWarps() > queryTokens()) {
      auto guard =
          scf::IfOp::create(b, loc, lt(position, idx(queryTokens())), false);
      b.setInsertionPointToStart(guard.thenBlock());
    }
    auto [token, valid] = tokenOf(config.queries, queryTile, position, seqQ);
    Value safeToken = select(valid, token, idx(0));
    Value lse = loadGlobal(
        b.getF32Type(), globalAt(param("lse"),
                                 elementOffset({{batch, "lse_stride_b"},
                                                {head, "lse_stride_h"},
                                                {safeToken, "lse_stride_n"}}),
                                 4));
    Value live =
        andI(valid, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                          lse, negInf()));
    Value inf = f32(std::numeric_limits<double>::infinity());
    Value lseLog2 = select(live, mulF(lse, f32(M_LOG2E)), inf);
    Value scratchIndex = i64Add(scratchRowBase, toI64(safeToken));
    Value delta = select(
        valid,
        loadGlobal(b.getF32Type(), globalAt(param(kRowDelta), scratchIndex, 4)),
        f32(0));
    Value factor = select(valid,
                          loadGlobal(b.getF32Type(), globalAt(param(kRowFactor),
                                                              scratchIndex, 4)),
                          f32(0));
    SmallVector<Value, 3> values{lseLog2, delta, factor};
    for (auto [slot, value] : llvm::enumerate(values))
      LLVM::StoreOp::create(
          b, loc, value,
          sharedAt(sharedBase,
                   add(idx(rowValuesOffset + 4 * queryTokens() * slot),
                       mul(position, idx(4)))));
  }
  nb::waitAsyncGroups(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
}

SmallVector<Value>
KeyTileKernelBuilder::computeQueryTile(Value keyTile, Value head,
                                       const QueryTileSlot &slot,
                                       ValueRange gradients) {
  int64_t numKeyChunks = layout.numChunks(config.headDim);
  SmallVector<Value> keyGrads(gradients.begin(),
                              gradients.begin() + numKeyChunks * 4);
  SmallVector<Value> valueGrads(gradients.begin() + numKeyChunks * 4,
                                gradients.end());
  // The previous tile's reads of Q, dY, dS and the row values are done.
  gpu::BarrierOp::create(b, loc);
  stageQueryRows(head, slot.queryTile);

  // S^T, then P^T = exp2(S^T scale log2(e) - LSE log2(e)).
  Fragment p = multiplyRows(keyOffset, queryOffset, config.headDim * 2 / 16);
  Value column = quadColumn();
  auto rowValue = [&](int64_t which, int64_t chunk, int64_t c) {
    Value position = add(idx(layout.column(chunk, c)), column);
    return loadGlobal(b.getF32Type(),
                      sharedAt(sharedBase, add(idx(rowValuesOffset +
                                                   4 * queryTokens() * which),
                                               mul(position, idx(4)))));
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
  auto maskProbabilities = [&](Fragment &probabilities) {
    forEachElement(
        layout, probabilities.numChunks,
        [&](int64_t chunk, int64_t slotIndex, int64_t c) {
          Value keyPosition =
              add(mul(warp, idx(16)), add(div(lane, 4), idx(8 * slotIndex)));
          Value queryPosition = add(idx(layout.column(chunk, c)), column);
          auto [key, keyValid] =
              tokenOf(config.keys, keyTile, keyPosition, seqK);
          auto [query, queryValid] =
              tokenOf(config.queries, slot.queryTile, queryPosition, seqQ);
          Value keep =
              andI(andI(keyValid, queryValid),
                   heads.mask.emitKeep(b, loc, query, key, maskContext));
          Value &value = probabilities.at(layout, chunk, slotIndex, c);
          value = select(keep, value, f32(0));
        });
  };
  std::optional<int64_t> constantClass = getConstantIntValue(slot.keepsAll);
  if (!constantClass) {
    auto ifFull = scf::IfOp::create(b, loc, ValueRange(p.values).getTypes(),
                                    slot.keepsAll, /*withElse=*/true);
    ifFull->setAttr("attn.partial_tile_mask", b.getUnitAttr());
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifFull.thenBlock());
    scf::YieldOp::create(b, loc, p.values);
    b.setInsertionPointToStart(ifFull.elseBlock());
    Fragment masked = p;
    maskProbabilities(masked);
    scf::YieldOp::create(b, loc, masked.values);
    b.setInsertionPointAfter(ifFull);
    p.values.assign(ifFull.getResults().begin(), ifFull.getResults().end());
  } else if (*constantClass == 0) {
    maskProbabilities(p);
  }

  // dP^T (of dY, not yet of dA = a dY).
  Fragment dp =
      multiplyRows(valueOffset, outGradOffset, config.valueDim * 2 / 16);
  // dV += (a P)^T dY first: a P dies before dS is formed.
  Fragment scaledP = p;
  forEachElement(layout, p.numChunks,
                 [&](int64_t chunk, int64_t slotIndex, int64_t c) {
                   Value &value = scaledP.at(layout, chunk, slotIndex, c);
                   value = mulF(value, rowValue(2, chunk, c));
                 });
  accumulateOverQueries(valueGrads, scaledP, outGradOffset, config.valueDim);
  if (op.getGates())
    accumulateGateSums(p, dp, slot.queryTile);
  // dS = P (a dP - (Dlt - dLSE)); dK += dS^T Q.
  Fragment ds = p;
  forEachElement(
      layout, p.numChunks, [&](int64_t chunk, int64_t slotIndex, int64_t c) {
        Value &value = ds.at(layout, chunk, slotIndex, c);
        Value dpv = dp.at(layout, chunk, slotIndex, c);
        value =
            mulF(value,
                 arith::SubFOp::create(b, loc, mulF(rowValue(2, chunk, c), dpv),
                                       rowValue(1, chunk, c)));
      });
  accumulateOverQueries(keyGrads, ds, queryOffset, config.headDim);

  // dS^T to shared memory in the inputs' type, [key][query], for dQ.
  int64_t dsChunks = queryTokens() * 2 / kChunkBytes;
  for (int64_t chunk = 0; chunk < ds.numChunks; ++chunk)
    for (int64_t slotIndex = 0; slotIndex < 2; ++slotIndex) {
      Value key =
          add(mul(warp, idx(16)), add(div(lane, 4), idx(8 * slotIndex)));
      Value pair = nb::packPair(b, loc, config.elementType,
                                ds.at(layout, chunk, slotIndex, 0),
                                ds.at(layout, chunk, slotIndex, 1));
      Value offset =
          add(idx(dsOffset),
              add(emitSwizzledChunkOffset(b, loc, dsChunks, key, idx(chunk)),
                  mul(rem(lane, 4), idx(4))));
      LLVM::StoreOp::create(b, loc, pair, sharedAt(sharedBase, offset));
    }
  gpu::BarrierOp::create(b, loc);
  accumulateQueryGrads(head, slot.queryTile);

  SmallVector<Value> results(keyGrads);
  llvm::append_range(results, valueGrads);
  return results;
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
  // dQ (queries x D) = dS K: warp w takes m-tiles w, w + warps, ...; A from
  // the staged dS^T by ldmatrix.x4.trans (lane l addresses key row
  // (l % 8) + 8 (l / 16), query chunk (l / 8) % 2 of the m-tile), B = K
  // rows by ldmatrix.x4.trans as the forward's V.
  bool bf16 = config.elementType.isBF16();
  int64_t mTiles = queryTokens() / 16;
  int64_t dsChunks = queryTokens() * 2 / kChunkBytes;
  int64_t keyChunks = config.headDim * 2 / kChunkBytes;
  Value aRow = add(rem(lane, 8), mul(div(lane, 16), idx(8)));
  Value aChunk = rem(div(lane, 8), 2);
  Value bRow = add(rem(lane, 8), mul(rem(div(lane, 8), 2), idx(8)));
  Value bChunk = div(lane, 16);
  Value column = quadColumn();
  for (int64_t round = 0; round * numWarps() < mTiles; ++round) {
    Value mTile = add(warp, idx(round * numWarps()));
    OpBuilder::InsertionGuard insertion(b);
    if ((round + 1) * numWarps() > mTiles) {
      auto guard = scf::IfOp::create(b, loc, lt(mTile, idx(mTiles)), false);
      b.setInsertionPointToStart(guard.thenBlock());
    }
    // Slabs of kQueryGradSlab channels: dK and dV stay in registers, so the
    // dQ accumulator takes one slab at a time (the dS fragments are
    // re-read per slab, a few ldmatrix).
    for (int64_t slab = 0; slab * kQueryGradSlab < config.sourceHeadDim;
         ++slab) {
      int64_t firstGroup = slab * kQueryGradSlab / 16;
      int64_t groups =
          std::min(kQueryGradSlab, config.headDim - slab * kQueryGradSlab) / 16;
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
      // scale dS K, reduced into the f32 accumulator row by row.
      for (int64_t slotIndex = 0; slotIndex < 2; ++slotIndex) {
        Value position =
            add(mul(mTile, idx(16)), add(div(lane, 4), idx(8 * slotIndex)));
        auto [query, valid] =
            tokenOf(config.queries, queryTile, position, seqQ);
        auto ifValid = scf::IfOp::create(b, loc, valid, /*withElse=*/false);
        OpBuilder::InsertionGuard rowInsertion(b);
        b.setInsertionPointToStart(ifValid.thenBlock());
        Value rowStart = i64Mul(i64Add(scratchRowBase, toI64(query)),
                                toI64(idx(config.headDim)));
        for (int64_t chunk = 0; chunk < 2 * groups; ++chunk) {
          int64_t firstChannel = 8 * (2 * firstGroup + chunk);
          if (firstChannel >= config.sourceHeadDim)
            continue;
          for (int64_t c = 0; c < 2; ++c) {
            Value channel = add(idx(firstChannel + c), column);
            LLVM::AtomicRMWOp::create(
                b, loc, LLVM::AtomicBinOp::fadd,
                globalAt(param(kQueryGradAccumulator),
                         i64Add(rowStart, toI64(channel)), 4),
                mulF(acc[layout.index(chunk, slotIndex, c)], f32(config.scale)),
                LLVM::AtomicOrdering::monotonic);
          }
        }
      }
    }
  }
}

void KeyTileKernelBuilder::storeKeyGrads(Value keyTile, ValueRange gradients) {
  int64_t numKeyChunks = layout.numChunks(config.headDim);
  Value column = quadColumn();
  auto store = [&](StringRef name, Value operand, ValueRange values,
                   int64_t sourceDim, double factor) {
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
      for (int64_t chunk = 0; chunk * 8 < sourceDim; ++chunk)
        for (int64_t c = 0; c < 2; ++c) {
          Value channel = add(idx(layout.column(chunk, c)), column);
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
        config.sourceHeadDim, config.scale);
  store("v_grad", op.getValueGrad(), gradients.drop_front(numKeyChunks * 4),
        config.sourceValueDim, 1.0);
}

KernelLaunch KeyTileKernelBuilder::build(StringRef name) {
  planSharedMemory();
  declareParams();
  emitTables(name);
  declareDynamicSharedMemory(128);
  createFunction(name, 32 * numWarps());
  BlockCoordinates block =
      launchOverHeads(tileCountFactor(config.keys, "seq_k"), config.numKvHeads);
  Value keyTile = block.x;
  kvHead = block.headSlot;
  batch = block.batch;
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

  // K and V of the key tile, staged once.
  stageRows(config.keys, keyTile, seqK, "k",
            elementOffset({{batch, "k_stride_b"}, {kvHead, "k_stride_h"}}),
            config.headDim * 2, config.sourceHeadDim * 2, keyOffset);
  stageRows(config.keys, keyTile, seqK, "v",
            elementOffset({{batch, "v_stride_b"}, {kvHead, "v_stride_h"}}),
            config.valueDim * 2, config.sourceValueDim * 2, valueOffset);
  nb::commitAsyncGroup(b, loc);

  SmallVector<Value> zeros(
      (layout.numChunks(config.headDim) + layout.numChunks(config.valueDim)) *
          4,
      f32(0));
  // Every query head of the kv head in the set, dK and dV carried.
  auto headLoop =
      scf::ForOp::create(b, loc, idx(0), idx(config.groupSize), idx(1), zeros);
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(headLoop.getBody());
    Value head =
        add(mul(kvHead, idx(config.groupSize)), headLoop.getInductionVar());
    queryBase = elementOffset({{batch, "q_stride_b"}, {head, "q_stride_h"}});
    outGradBase = elementOffset(
        {{batch, "out_grad_stride_b"}, {head, "out_grad_stride_h"}});
    scratchRowBase = scratchRow(batch, config.numQueryHeads, head, seqQ);
    beginWalk(keyTile);
    Value count = walkCount;
    if (!everyHeadInSet) {
      Value table = LLVM::AddressOfOp::create(
          b, loc, module.lookupSymbol<LLVM::GlobalOp>(kernelName + "_heads"));
      Value member =
          loadGlobal(b.getI32Type(), globalAt(table, toI64(head), 4));
      count =
          select(cmp(arith::CmpIPredicate::ne, member, i32(0)), count, idx(0));
    }
    auto tileLoop = scf::ForOp::create(b, loc, idx(0), count, idx(1),
                                       headLoop.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard tileInsertion(b);
      b.setInsertionPointToStart(tileLoop.getBody());
      QueryTileSlot slot = walkSlot(keyTile, tileLoop.getInductionVar());
      ValueRange carried = tileLoop.getRegionIterArgs();
      std::optional<int64_t> alwaysKept = getConstantIntValue(slot.mayKeep);
      if (alwaysKept && *alwaysKept != 0) {
        scf::YieldOp::create(b, loc,
                             computeQueryTile(keyTile, head, slot, carried));
      } else {
        auto ifKept = scf::IfOp::create(b, loc, carried.getTypes(),
                                        slot.mayKeep, /*withElse=*/true);
        {
          OpBuilder::InsertionGuard ifInsertion(b);
          b.setInsertionPointToStart(ifKept.thenBlock());
          scf::YieldOp::create(b, loc,
                               computeQueryTile(keyTile, head, slot, carried));
          b.setInsertionPointToStart(ifKept.elseBlock());
          scf::YieldOp::create(b, loc, carried);
        }
        scf::YieldOp::create(b, loc, ifKept.getResults());
      }
    }
    scf::YieldOp::create(b, loc, tileLoop.getResults());
  }
  // A block whose kv head keeps no query: K and V were staged but never
  // waited for.
  nb::waitAsyncGroups(b, loc, 0);
  storeKeyGrads(keyTile, headLoop.getResults());
  finishFunction();
  return launch;
}

} // namespace

LogicalResult
mlir::attn::detail::checkBackwardSupported(AttentionGradOp op,
                                           const GpuTarget &target) {
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
  auto notYet = [&](StringRef what) {
    return op.emitOpError()
           << "attn-lower-to-gpu: the backward kernel does not take " << what
           << " yet; lower attn.attention_grad with attn-lower-to-loops (CPU)";
  };
  if (op.getExplicitMask())
    return notYet("an explicit mask");
  if (op.getBias())
    return notYet("a bias (dBias)");
  for (MaskAttrInterface mask : op.getMasks())
    if (hasUnnormalizedSegments(mask))
      return notYet("segments with renormalize = false");
  BackwardConfig config = getBackwardConfig(op);
  for (auto [what, tokens] :
       {std::pair<StringRef, int64_t>{"query", config.queries.tokens},
        {"key", config.keys.tokens}})
    if (tokens % 16 != 0 || tokens > 128)
      return op.emitOpError()
             << "attn-lower-to-gpu: the backward kernel takes " << what
             << " tiles of a multiple of 16 tokens of at most 128, got "
             << tokens;
  int64_t sharedBytes = 2 * (config.keys.tokens + config.queries.tokens) *
                            (config.headDim + config.valueDim) +
                        2 * config.keys.tokens * config.queries.tokens +
                        12 * config.queries.tokens;
  if (sharedBytes > target.maxSharedBytesPerBlock)
    return op.emitOpError()
           << "attn-lower-to-gpu: the backward kernel's tiles need "
           << sharedBytes << " bytes of shared memory; " << target.chip
           << " allows " << target.maxSharedBytesPerBlock;
  return success();
}

LogicalResult mlir::attn::detail::emitBackwardKernels(
    AttentionGradOp op, gpu::GPUModuleOp module, const GpuTarget &target,
    function_ref<std::string(StringRef)> uniqueName,
    SmallVectorImpl<KernelLaunch> &launches,
    SmallVectorImpl<ScratchBuffer> &scratch) {
  if (failed(checkBackwardSupported(op, target)))
    return failure();
  BackwardConfig config = getBackwardConfig(op);
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
  scratch.push_back({kRowDelta.str(), rows(1)});
  scratch.push_back({kRowFactor.str(), rows(1)});
  if (op.getGates())
    scratch.push_back({kGateSum.str(), rows(1)});

  launches.push_back(
      RowsKernelBuilder(op, module, config).build(uniqueName("attn_bwd_rows")));
  if (sets.empty()) {
    // Every head has weight 0: dK and dV are zero. One key-tile kernel over
    // no head writes them.
    sets.push_back(KernelHeads{op.getMaskOrDense(), {}, 0});
  }
  for (auto [index, heads] : llvm::enumerate(sets))
    launches.push_back(KeyTileKernelBuilder(op, module, config, heads,
                                            /*accumulateKeyGrads=*/index > 0)
                           .build(uniqueName("attn_bwd")));
  launches.push_back(FinishKernelBuilder(op, module, config)
                         .build(uniqueName("attn_bwd_finish")));
  if (config.softpag)
    launches.push_back(IdentityKernelBuilder(op, module, config)
                           .build(uniqueName("attn_bwd_identity")));
  return success();
}
