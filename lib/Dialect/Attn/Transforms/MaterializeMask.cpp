//===- MaterializeMask.cpp - mask attributes to explicit masks ------------===//
//
// Evaluates every mask attribute of an attn.attention on all (query, key)
// pairs and replaces it by the equivalent explicit boolean mask operand.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/MathExtras.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNMATERIALIZEMASK
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {
/// A boolean [B', H', Nq, Nk] array, B' and H' being 1 or the full size.
struct KeepTable {
  SmallVector<int64_t, 4> shape;
  std::vector<bool> values;

  bool at(int64_t b, int64_t h, int64_t i, int64_t j) const {
    int64_t bb = shape[0] == 1 ? 0 : b, hh = shape[1] == 1 ? 0 : h;
    return values[((bb * shape[1] + hh) * shape[2] + i) * shape[3] + j];
  }
};
} // namespace

/// The explicit-mask shape as rank 4 ([Nq, Nk] becomes [1, 1, Nq, Nk]).
static SmallVector<int64_t, 4> asRank4(ArrayRef<int64_t> shape) {
  SmallVector<int64_t, 4> result(4 - shape.size(), 1);
  result.append(shape.begin(), shape.end());
  return result;
}


static LogicalResult materialize(AttentionOp op, int64_t maxPairs) {
  HeadsAttr heads = op.getHeadsAttr();
  bool groupMasks = heads && llvm::any_of(heads.getGroups(), [](auto g) {
                      return static_cast<bool>(g.getMask());
                    });
  if (!op.getMaskAttr() && !groupMasks)
    return success(); // Dense: nothing to materialize.

  int64_t nq = op.getQueryLength(), nk = op.getKeyLength();
  int64_t hq = op.getNumQueryHeads();
  if (ShapedType::isDynamic(nq) || ShapedType::isDynamic(nk) ||
      (groupMasks && ShapedType::isDynamic(hq)))
    return op.emitOpError() << "cannot materialize a mask with dynamic "
                               "sequence lengths or head count";
  int64_t pairs = 0;
  bool overflow = llvm::MulOverflow(nq, nk, pairs);
  if (overflow || pairs > maxPairs) {
    InFlightDiagnostic diag = op.emitOpError() << "mask has ";
    if (overflow)
      diag << nq << " x " << nk;
    else
      diag << pairs;
    return diag << " pairs per head, more than max-pairs = " << maxPairs;
  }

  SmallVector<MaskAttrInterface> headMasks;
  int64_t numHeadMasks = groupMasks ? hq : 1;
  for (int64_t h = 0; h < numHeadMasks; ++h)
    headMasks.push_back(groupMasks ? op.getMaskForHead(h)
                                   : op.getMaskOrDense());
  for (MaskAttrInterface mask : headMasks) {
    if (mask.needsSegmentOffsets())
      return op.emitOpError() << "cannot materialize a mask with run-time "
                                 "segment sizes";
    if (hasUnnormalizedSegments(mask))
      return op.emitOpError() << "cannot materialize segments with "
                                 "renormalize = false as an explicit mask";
  }

  // Evaluate each distinct mask once.
  MaskContext context = op.getMaskContext();
  KeepTable table;
  table.shape = {1, numHeadMasks, nq, nk};
  table.values.resize(numHeadMasks * nq * nk);
  DenseMap<MaskAttrInterface, int64_t> firstHead;
  for (int64_t h = 0; h < numHeadMasks; ++h) {
    auto [it, inserted] = firstHead.try_emplace(headMasks[h], h);
    int64_t base = h * nq * nk;
    if (!inserted) {
      int64_t source = it->second * nq * nk;
      for (int64_t p = 0; p < nq * nk; ++p)
        table.values[base + p] = table.values[source + p];
      continue;
    }
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < nk; ++j)
        table.values[base + i * nk + j] = headMasks[h].keep(i, j, context);
  }

  OpBuilder builder(op);
  Location loc = op.getLoc();
  Value existing = op.getExplicitMask();
  SmallVector<int64_t, 4> resultShape =
      groupMasks ? SmallVector<int64_t, 4>{1, hq, nq, nk}
                 : SmallVector<int64_t, 4>{nq, nk};
  std::vector<bool> resultValues;
  auto fill = [&](ArrayRef<int64_t> shape4,
                  function_ref<bool(int64_t, int64_t, int64_t, int64_t)> keep) {
    resultValues.clear();
    for (int64_t b = 0; b < shape4[0]; ++b)
      for (int64_t h = 0; h < shape4[1]; ++h)
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t j = 0; j < nk; ++j)
            resultValues.push_back(keep(b, h, i, j));
  };

  if (existing) {
    // Fold an existing constant mask into the table; AND a non-constant one
    // of the same shape elementwise.
    auto existingType = cast<ShapedType>(existing.getType());
    DenseElementsAttr constant;
    if (auto cst = existing.getDefiningOp<arith::ConstantOp>())
      constant = dyn_cast<DenseElementsAttr>(cst.getValue());
    if (constant) {
      SmallVector<int64_t, 4> other = asRank4(existingType.getShape());
      SmallVector<int64_t, 4> shape4 = {std::max<int64_t>(other[0], 1),
                                        std::max(other[1], table.shape[1]), nq,
                                        nk};
      resultShape = existingType.getRank() == 2 && !groupMasks
                        ? SmallVector<int64_t, 4>{nq, nk}
                        : shape4;
      SmallVector<bool> existingValues(constant.getValues<bool>());
      KeepTable existingTable{other, std::vector<bool>(existingValues.begin(),
                                                       existingValues.end())};
      fill(asRank4(resultShape), [&](int64_t b, int64_t h, int64_t i,
                                     int64_t j) {
        return table.at(b, h, i, j) && existingTable.at(b, h, i, j);
      });
    } else if (asRank4(existingType.getShape()) == asRank4(resultShape) &&
               existingType.getRank() == static_cast<int64_t>(resultShape.size())) {
      fill(asRank4(resultShape), [&](int64_t b, int64_t h, int64_t i,
                                     int64_t j) { return table.at(b, h, i, j); });
    } else {
      return op.emitOpError()
             << "cannot AND the materialized mask "
             << RankedTensorType::get(resultShape, builder.getI1Type())
             << " with the non-constant explicit_mask of type "
             << existingType
             << ": only a constant or an equally shaped mask is combined";
    }
  } else {
    fill(asRank4(resultShape), [&](int64_t b, int64_t h, int64_t i,
                                   int64_t j) { return table.at(b, h, i, j); });
  }

  auto tensorType = RankedTensorType::get(resultShape, builder.getI1Type());
  SmallVector<bool> flat(resultValues.begin(), resultValues.end());
  auto valuesAttr = DenseElementsAttr::get(tensorType, ArrayRef<bool>(flat));
  Value keep;
  if (op.hasTensorSemantics()) {
    keep = arith::ConstantOp::create(builder, loc, valuesAttr);
    if (existing && !existing.getDefiningOp<arith::ConstantOp>())
      keep = arith::AndIOp::create(builder, loc, keep, existing);
  } else {
    if (existing)
      return op.emitOpError() << "cannot combine the materialized mask with "
                                 "an existing memref explicit_mask";
    Operation *symbolTableOp = SymbolTable::getNearestSymbolTable(op);
    if (!symbolTableOp)
      return op.emitOpError() << "needs an enclosing symbol table to hold the "
                                 "materialized memref mask";
    keep = createConstantGlobal(builder, loc, symbolTableOp, "attn_mask",
                                valuesAttr);
  }

  op.getExplicitMaskMutable().assign(keep);
  op.removeMaskAttr();
  if (heads && groupMasks) {
    SmallVector<HeadGroupAttr> groups;
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getPrecision())
        groups.push_back(HeadGroupAttr::get(op.getContext(), group.getHeads(),
                                            nullptr, group.getPrecision()));
    if (heads.getWeights() || heads.getSoftpag() || !groups.empty())
      op.setHeadsAttr(HeadsAttr::get(op.getContext(), heads.getWeights(),
                                     heads.getSoftpag(), groups));
    else
      op.removeHeadsAttr();
  }
  if (existing && existing.use_empty())
    if (Operation *def = existing.getDefiningOp())
      if (isa<arith::ConstantOp>(def))
        def->erase();
  return success();
}

namespace {
struct AttnMaterializeMaskPass
    : mlir::attn::impl::AttnMaterializeMaskBase<AttnMaterializeMaskPass> {
  using Base::Base;

  void runOnOperation() override {
    if (maxPairs < 1) {
      getOperation()->emitError()
          << "attn-materialize-mask: max-pairs = " << maxPairs.getValue()
          << " must be positive";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      if (failed(materialize(op, maxPairs)))
        signalPassFailure();
  }
};
} // namespace
