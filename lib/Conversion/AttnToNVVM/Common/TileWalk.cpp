//===- TileWalk.cpp - the key tiles a query tile visits -------------------===//

#include "TileWalk.h"

#include "attn/Dialect/Attn/Analysis/TileSparsity.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

static constexpr StringLiteral kOffsetsSuffix = "_tile_offsets";
static constexpr StringLiteral kEntriesSuffix = "_key_tiles";

TileWalk::TileWalk(OpBuilder &b, Location loc,
                   const KernelSignature &signature,
                   AttentionKernelContext &context)
    : EmitterBase(b, loc, signature), ctx(context) {
  // Table mode: the CSR list of active key tiles per query tile, from the
  // compile-time classes (attn-sparsity); entries are 2 * tile + full.
  DenseIntElementsAttr classes = ctx.op.getTileClassesAttr();
  tableMode = classes && !ctx.maskAfterSoftmax;
  if (!tableMode)
    return;
  TileLists lists =
      getTileLists(classes, ctx.heads.classTable, /*byKeyTile=*/false);
  int64_t seqKStatic = ctx.op.getKeyLength();
  offsets.assign(lists.offsets.begin(), lists.offsets.end());
  for (auto [keyTile, tileClass] :
       llvm::zip_equal(lists.tiles, lists.classes)) {
    // Tiles sticking out of the sequence or grid need the bounds check.
    bool full =
        tileClass == TileClass::Full && ctx.keys.isWhole(keyTile, seqKStatic);
    entries.push_back(2 * keyTile + full);
  }
  everyListedTileFull =
      llvm::all_of(entries, [](int32_t e) { return e % 2 == 1; });
  // A pipeline of S stages reads the slots of positions up to S - 2 past a
  // query tile's list (their loads are guarded, their reads are not):
  // padding keeps the last query tile's reads inside the array.
  entries.append(kMaxLookahead, 0);
}

void TileWalk::emitLists(gpu::GPUModuleOp module, StringRef kernelName) {
  if (!tableMode)
    return;
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(module.getBody());
  for (auto [suffix, data] :
       {std::pair<StringRef, ArrayRef<int32_t>>{kOffsetsSuffix, offsets},
        {kEntriesSuffix, entries}}) {
    auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                      b.getI32Type());
    LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(b.getI32Type(), data.size()),
        /*isConstant=*/true, LLVM::Linkage::Internal, (kernelName + suffix).str(),
        DenseElementsAttr::get(type, data), /*alignment=*/4,
        /*addrSpace=*/1);
  }
}

void TileWalk::begin(gpu::GPUModuleOp kernelModule, StringRef name) {
  module = kernelModule;
  kernelName = name.str();
  if (tableMode) {
    Value offsetsBase = LLVM::AddressOfOp::create(
        b, loc,
        module.lookupSymbol<LLVM::GlobalOp>((kernelName + kOffsetsSuffix).str()));
    listStart = toIndex(loadGlobal(
        b.getI32Type(), globalAt(offsetsBase, toI64(ctx.queryTile), 4)));
    Value listEnd = toIndex(loadGlobal(
        b.getI32Type(),
        globalAt(offsetsBase, toI64(add(ctx.queryTile, idx(1))), 4)));
    listCount = sub(listEnd, listStart);
  } else if (ctx.maskAfterSoftmax || !ctx.queries.grid.empty()) {
    // Every key enters the denominator, or boxes classified one by one.
    firstKeyTile = idx(0);
    listCount = numTiles(ctx.keys, ctx.seqK);
  } else {
    auto [qFirst, qEnd] = TileIndexing(b, loc, ctx.queries).hull(ctx.queryTile, ctx.seqQ);
    auto [keyBegin, keyEnd] = ctx.heads.mask.emitKeyRange(
        b, loc, qFirst, qEnd, ctx.maskContext);
    firstKeyTile =
        arith::DivSIOp::create(b, loc, keyBegin, idx(ctx.keys.tokens));
    Value endTile =
        arith::CeilDivSIOp::create(b, loc, keyEnd, idx(ctx.keys.tokens));
    listCount =
        arith::MaxSIOp::create(b, loc, sub(endTile, firstKeyTile), idx(0));
  }
}

TileSlot TileWalk::slot(Value position) {
  TileSlot slot;
  if (tableMode) {
    auto entriesGlobal = module.lookupSymbol<LLVM::GlobalOp>(
        (kernelName + kEntriesSuffix).str());
    Value base = LLVM::AddressOfOp::create(b, loc, entriesGlobal);
    Value entry = loadGlobal(
        b.getI32Type(),
        globalAt(base, toI64(add(listStart, position)), /*elementBytes=*/4));
    entry = toIndex(entry);
    slot.keyTile = div(entry, 2);
    slot.mayKeep = i1(true);
    slot.keepsAll = everyListedTileFull
                        ? i1(true)
                        : cmp(arith::CmpIPredicate::eq, rem(entry, 2), idx(1));
  } else {
    slot.keyTile = add(firstKeyTile, position);
    if (ctx.maskAfterSoftmax) {
      slot.mayKeep = i1(true);
      slot.keepsAll = i1(false);
    } else {
      auto [qFirst, qEnd] = TileIndexing(b, loc, ctx.queries).hull(ctx.queryTile, ctx.seqQ);
      auto [kFirst, kEnd] = TileIndexing(b, loc, ctx.keys).hull(slot.keyTile, ctx.seqK);
      std::tie(slot.mayKeep, slot.keepsAll) =
          ctx.heads.mask.emitClassifyRange(b, loc, qFirst, qEnd, kFirst, kEnd,
                                           ctx.maskContext);
      slot.keepsAll =
          andI(slot.keepsAll, TileIndexing(b, loc, ctx.keys).isWhole(slot.keyTile, ctx.seqK));
    }
  }
  if (ctx.op.getExplicitMask() || ctx.op.getBias())
    slot.keepsAll = i1(false);
  return slot;
}

TileWalk::VaryingParts TileWalk::varyingParts() {
  // Classify a tile at an unknown position in a scratch block, look at
  // which results folded to constants, and drop the block.
  auto probe = std::make_unique<Block>();
  Value position = probe->addArgument(b.getIndexType(), loc);
  VaryingParts parts;
  {
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(probe.get());
    TileSlot probed = slot(position);
    parts.keyTile = !getConstantIntValue(probed.keyTile);
    parts.mayKeep = !getConstantIntValue(probed.mayKeep);
    parts.keepsAll = !getConstantIntValue(probed.keepsAll);
  }
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*probe)))
    op.erase();
  return parts;
}

void mlir::attn::detail::emitPartialTileMask(
    OpBuilder &b, Location loc, Value keepsAll, Fragment &fragment,
    function_ref<void(Fragment &)> mask) {
  if (std::optional<int64_t> constantClass = getConstantIntValue(keepsAll)) {
    // i1 true reads as -1: every tile is full, no mask code.
    if (*constantClass == 0)
      mask(fragment);
    return;
  }
  auto ifFull =
      scf::IfOp::create(b, loc, ValueRange(fragment.values).getTypes(),
                        keepsAll, /*withElse=*/true);
  ifFull->setAttr("attn.partial_tile_mask", b.getUnitAttr());
  OpBuilder::InsertionGuard insertion(b);
  b.setInsertionPointToStart(ifFull.thenBlock());
  scf::YieldOp::create(b, loc, fragment.values);
  b.setInsertionPointToStart(ifFull.elseBlock());
  Fragment masked = fragment;
  mask(masked);
  scf::YieldOp::create(b, loc, masked.values);
  fragment.values.assign(ifFull.getResults().begin(),
                         ifFull.getResults().end());
}
