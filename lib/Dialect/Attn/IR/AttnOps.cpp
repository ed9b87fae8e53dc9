//===- AttnOps.cpp - attn.attention ---------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/DenseSet.h"
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

/// Parses and prints an attribute in its full `#attn.name<...>` form.
template <typename AttrT>
static ParseResult parseFullAttr(OpAsmParser &parser, AttrT &result) {
  SMLoc loc = parser.getCurrentLocation();
  Attribute attr;
  if (parser.parseAttribute(attr))
    return failure();
  result = dyn_cast<AttrT>(attr);
  if (!result)
    return parser.emitError(loc, "unexpected attribute ") << attr;
  return success();
}

static void printFullAttr(OpAsmPrinter &printer, Operation *, Attribute attr) {
  printer.printAttribute(attr);
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Accessors
//===----------------------------------------------------------------------===//

MaskAttrInterface AttentionOp::getMaskOrDense() {
  if (MaskAttrInterface mask = getMaskAttr())
    return mask;
  return DenseMaskAttr::get(getContext());
}

MaskAttrInterface AttentionOp::getMaskForHead(int64_t head) {
  if (HeadsAttr heads = getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getMask() && llvm::is_contained(group.getHeads(), head))
        return group.getMask();
  return getMaskOrDense();
}

SmallVector<MaskAttrInterface> AttentionOp::getMasks() {
  SmallVector<MaskAttrInterface> masks = {getMaskOrDense()};
  if (HeadsAttr heads = getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getMask())
        masks.push_back(group.getMask());
  return masks;
}

SmallVector<int64_t> AttentionOp::getTokenGrid() {
  for (MaskAttrInterface mask : getMasks())
    if (SmallVector<int64_t> grid = mask.getTokenGrid(); !grid.empty())
      return grid;
  return {};
}

static int64_t dynamicToNegative(int64_t size) {
  return ShapedType::isDynamic(size) ? -1 : size;
}

MaskContext AttentionOp::getMaskContext() {
  return MaskContext(dynamicToNegative(getQueryLength()),
                     dynamicToNegative(getKeyLength()));
}

std::optional<double> AttentionOp::getEffectiveScale() {
  if (FloatAttr scale = getScaleAttr())
    return scale.getValueAsDouble();
  if (ShapedType::isDynamic(getHeadDim()))
    return std::nullopt;
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

MutableOperandRange AttentionOp::getDpsInitsMutable() {
  unsigned first = getOutputMutable().getOperandNumber();
  return MutableOperandRange(getOperation(), first, getLseOutput() ? 2 : 1);
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : getOperation()->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    if (isDpsInit(&operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    else
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

//===----------------------------------------------------------------------===//
// Verifier
//===----------------------------------------------------------------------===//

namespace {
/// Checks one dimension of an operand against the size it must have.
struct ShapeChecker {
  Operation *op;

  LogicalResult expect(StringRef operand, Value value, unsigned dim,
                       int64_t expected, StringRef meaning) {
    int64_t actual = cast<ShapedType>(value.getType()).getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError() << operand << " dimension " << dim << " is "
                             << actual << " but " << meaning << " is "
                             << expected;
  }
};
} // namespace

static LogicalResult expectRank(Operation *op, StringRef name, Value value,
                                ArrayRef<int64_t> ranks, StringRef layout) {
  auto type = cast<ShapedType>(value.getType());
  if (llvm::is_contained(ranks, type.getRank()))
    return success();
  return op->emitOpError() << name << " must have shape " << layout
                           << ", got " << type;
}

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  ShapeChecker check{op};

  // Tensor or memref, consistently.
  bool tensors = isa<RankedTensorType>(getOutput().getType());
  for (Value v : op->getOperands()) {
    if (isa<RankedTensorType>(v.getType()) != tensors)
      return emitOpError() << "operands must be all tensors or all memrefs, "
                              "but got "
                           << v.getType();
  }
  if (tensors) {
    SmallVector<Type> expected = {getOutput().getType()};
    if (getLseOutput())
      expected.push_back(getLseOutput().getType());
    if (TypeRange(getResultTypes()) != TypeRange(expected))
      return emitOpError() << "on tensors the results must have the types of "
                              "the outs operands";
  } else if (getNumResults() != 0) {
    return emitOpError() << "on memrefs the op has no results";
  }

  // Q [B, Hq, Nq, D], K [B, Hkv, Nk, D], V [B, Hkv, Nk, Dv], O [B, Hq, Nq, Dv].
  if (failed(expectRank(op, "query", getQuery(), {4}, "[B, Hq, Nq, D]")) ||
      failed(expectRank(op, "key", getKey(), {4}, "[B, Hkv, Nk, D]")) ||
      failed(expectRank(op, "value", getValue(), {4}, "[B, Hkv, Nk, Dv]")) ||
      failed(expectRank(op, "output", getOutput(), {4}, "[B, Hq, Nq, Dv]")))
    return failure();
  for (auto [name, v] : {std::pair<StringRef, Value>{"query", getQuery()},
                         {"key", getKey()},
                         {"value", getValue()},
                         {"output", getOutput()}}) {
    Type elem = cast<ShapedType>(v.getType()).getElementType();
    if (!isa<FloatType>(elem))
      return emitOpError() << name << " must have a float element type, got "
                           << elem;
  }
  int64_t batch = getBatchSize(), hq = getNumQueryHeads();
  int64_t hkv = getNumKeyValueHeads(), nq = getQueryLength();
  int64_t nk = getKeyLength(), d = getHeadDim(), dv = getValueHeadDim();
  if (failed(check.expect("key", getKey(), 0, batch, "the batch size B")) ||
      failed(check.expect("value", getValue(), 0, batch, "the batch size B")) ||
      failed(check.expect("key", getKey(), 3, d, "the query head dim D")) ||
      failed(check.expect("value", getValue(), 1, hkv,
                          "the number of key heads Hkv")) ||
      failed(check.expect("value", getValue(), 2, nk, "the key length Nk")) ||
      failed(check.expect("output", getOutput(), 0, batch, "the batch size B")) ||
      failed(check.expect("output", getOutput(), 1, hq,
                          "the number of query heads Hq")) ||
      failed(check.expect("output", getOutput(), 2, nq, "the query length Nq")) ||
      failed(check.expect("output", getOutput(), 3, dv,
                          "the value head dim Dv")))
    return failure();
  constexpr int64_t kMaxLength = int64_t(1) << 31;
  for (auto [name, length] : {std::pair<StringRef, int64_t>{"query", nq},
                              {"key", nk}})
    if (!ShapedType::isDynamic(length) && length > kMaxLength)
      return emitOpError() << "the " << name << " length " << length
                           << " exceeds the supported " << kMaxLength
                           << " tokens";
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return emitOpError() << "the number of query heads Hq = " << hq
                         << " is not a multiple of the number of key/value "
                            "heads Hkv = "
                         << hkv;

  if (Value lse = getLseOutput()) {
    if (failed(expectRank(op, "lse_output", lse, {3}, "[B, Hq, Nq]")))
      return failure();
    Type elem = cast<ShapedType>(lse.getType()).getElementType();
    if (!elem.isF32())
      return emitOpError() << "lse_output must have element type f32, got "
                           << elem;
    if (failed(check.expect("lse_output", lse, 0, batch, "the batch size B")) ||
        failed(check.expect("lse_output", lse, 1, hq,
                            "the number of query heads Hq")) ||
        failed(check.expect("lse_output", lse, 2, nq, "the query length Nq")))
      return failure();
  }

  // Explicit mask and bias: [Nq, Nk] or [B|1, Hq|1, Nq, Nk].
  auto verifyPairOperand = [&](StringRef name, Value v,
                               bool boolean) -> LogicalResult {
    if (!v)
      return success();
    if (failed(expectRank(op, name, v, {2, 4},
                          "[Nq, Nk] or [B|1, Hq|1, Nq, Nk]")))
      return failure();
    auto type = cast<ShapedType>(v.getType());
    Type elem = type.getElementType();
    if (boolean && !elem.isInteger(1))
      return emitOpError() << name << " must have element type i1, got "
                           << elem;
    if (!boolean && !isa<FloatType>(elem))
      return emitOpError() << name << " must have a float element type, got "
                           << elem;
    unsigned lead = type.getRank() - 2;
    if (failed(check.expect(name, v, lead, nq, "the query length Nq")) ||
        failed(check.expect(name, v, lead + 1, nk, "the key length Nk")))
      return failure();
    if (type.getRank() == 4) {
      for (auto [dim, full, what] :
           {std::tuple<unsigned, int64_t, StringRef>{0, batch, "B"},
            {1, hq, "Hq"}}) {
        int64_t size = type.getDimSize(dim);
        if (size != 1 && !ShapedType::isDynamic(size) &&
            !ShapedType::isDynamic(full) && size != full)
          return emitOpError() << name << " dimension " << dim << " is "
                               << size << " but must be 1 or " << what
                               << " = " << full;
      }
    }
    return success();
  };
  if (failed(verifyPairOperand("explicit_mask", getExplicitMask(), true)) ||
      failed(verifyPairOperand("bias", getBias(), false)))
    return failure();

  // Gates [B, Nq, Hq].
  if (Value gates = getGates()) {
    if (failed(expectRank(op, "gates", gates, {3}, "[B, Nq, Hq]")))
      return failure();
    Type elem = cast<ShapedType>(gates.getType()).getElementType();
    if (!isa<FloatType>(elem))
      return emitOpError() << "gates must have a float element type, got "
                           << elem;
    if (failed(check.expect("gates", gates, 0, batch, "the batch size B")) ||
        failed(check.expect("gates", gates, 1, nq, "the query length Nq")) ||
        failed(check.expect("gates", gates, 2, hq,
                            "the number of query heads Hq")))
      return failure();
  }

  if (FloatAttr scale = getScaleAttr()) {
    double s = scale.getValueAsDouble();
    if (!(s > 0.0) || !std::isfinite(s))
      return emitOpError() << "scale = " << s
                           << " must be a positive finite number";
  }

  // Masks: the op's and every head group's, against the sequence lengths.
  MaskContext context = getMaskContext();
  auto emitError = [&]() { return emitOpError(); };
  SmallVector<MaskAttrInterface> masks = getMasks();
  HeadsAttr heads = getHeadsAttr();
  bool needsOffsets = false;
  for (MaskAttrInterface mask : masks) {
    if (failed(mask.verifyLengths(context, emitError)))
      return failure();
    needsOffsets |= mask.needsSegmentOffsets();
  }

  // Run-time segment offsets: [B, S+1] or [B, 2, S+1].
  if (Value offsets = getSegmentOffsets()) {
    if (!needsOffsets)
      return emitOpError() << "segment_offsets given but no mask has run-time "
                              "segment sizes ('?')";
    if (failed(expectRank(op, "segment_offsets", offsets, {2, 3},
                          "[B, S+1] or [B, 2, S+1]")))
      return failure();
    auto type = cast<ShapedType>(offsets.getType());
    if (!type.getElementType().isSignlessInteger(32) &&
        !type.getElementType().isSignlessInteger(64))
      return emitOpError() << "segment_offsets must have element type i32 or "
                              "i64, got "
                           << type.getElementType();
    if (failed(check.expect("segment_offsets", offsets, 0, batch,
                            "the batch size B")))
      return failure();
    if (type.getRank() == 3 &&
        failed(check.expect("segment_offsets", offsets, 1, 2,
                            "the number of offset lists (query, key)")))
      return failure();
    int64_t count = type.getDimSize(type.getRank() - 1);
    for (MaskAttrInterface mask : masks) {
      mask.walk([&](SegmentsMaskAttr segments) {
        if (!segments.hasDynamicSizes() || ShapedType::isDynamic(count))
          return;
        int64_t expected = std::max(segments.getNumQuerySegments(),
                                    segments.getNumKeySegments()) + 1;
        if (type.getRank() == 2 &&
            segments.getNumQuerySegments() != segments.getNumKeySegments())
          emitOpError() << "segments with " << segments.getNumQuerySegments()
                        << " query and " << segments.getNumKeySegments()
                        << " key segments need segment_offsets of shape "
                           "[B, 2, S+1]";
        else if (count != expected)
          emitOpError() << "segment_offsets has " << count
                        << " offsets per list but the segments mask needs "
                        << expected;
        else
          return;
        needsOffsets = false; // Marks the failure.
      });
    }
    if (!needsOffsets)
      return failure();
  } else if (needsOffsets) {
    return emitOpError() << "the mask has run-time segment sizes ('?') but no "
                            "segment_offsets operand";
  }

  // Heads: indices in range, weights per head, softpag shapes.
  if (heads) {
    auto checkHead = [&](StringRef what, int64_t h) -> LogicalResult {
      if (ShapedType::isDynamic(hq) || h < hq)
        return success();
      return emitOpError() << what << " head index " << h
                           << " is out of range for Hq = " << hq;
    };
    if (heads.getWeights() && !ShapedType::isDynamic(hq) &&
        heads.getWeights().size() != hq)
      return emitOpError() << "heads has " << heads.getWeights().size()
                           << " weights but there are Hq = " << hq
                           << " query heads";
    if (SoftPagAttr softpag = heads.getSoftpag()) {
      for (int64_t h : softpag.getHeads())
        if (failed(checkHead("softpag", h)))
          return failure();
      if (!ShapedType::isDynamic(nq) && !ShapedType::isDynamic(nk) && nq != nk)
        return emitOpError() << "softpag needs Nq == Nk, got Nq = " << nq
                             << " and Nk = " << nk;
    }
    for (HeadGroupAttr group : heads.getGroups())
      for (int64_t h : group.getHeads())
        if (failed(checkHead("head group", h)))
          return failure();
  }

  // N-D tiles tile a token grid of matching rank and size.
  if (TilingAttr tiling = getTilingAttr(); tiling && tiling.getRank() > 1) {
    if (getTokenGrid().size() != tiling.getRank())
      return emitOpError() << "tiling of rank " << tiling.getRank()
                           << " needs a mask with a token grid of that rank";
  }

  // Tile classes: one table per mask, one entry per tile pair.
  if (auto classes = getTileClassesAttr()) {
    TilingAttr tiling = getTilingAttr();
    if (!tiling)
      return emitOpError() << "tile_classes needs a tiling";
    auto type = cast<ShapedType>(classes.getType());
    if (type.getRank() != 3 ||
        type.getDimSize(0) != static_cast<int64_t>(masks.size()))
      return emitOpError() << "tile_classes must have shape [" << masks.size()
                           << " masks, query tiles, key tiles], got " << type;
    for (int8_t c : classes.getValues<int8_t>())
      if (c < 0 || c > 2)
        return emitOpError() << "tile_classes entry " << int(c)
                             << " is not 0 (empty), 1 (partial) or 2 (full)";
  }

  // pv_accum = f16 needs an f16 P.V product.
  auto checkPrecision = [&](PrecisionAttr precision) -> LogicalResult {
    if (!precision || precision.getPvAccum() != Accumulation::F16)
      return success();
    Type pv = precision.getPv()
                  ? precision.getPv()
                  : cast<ShapedType>(getValue().getType()).getElementType();
    if (pv.isF16())
      return success();
    return emitOpError() << "pv_accum = f16 needs an f16 P.V product, but "
                            "P.V runs in "
                         << pv;
  };
  if (failed(checkPrecision(getPrecisionAttr())))
    return failure();
  if (heads)
    for (HeadGroupAttr group : heads.getGroups())
      if (failed(checkPrecision(group.getPrecision())))
        return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// Canonicalization
//===----------------------------------------------------------------------===//

namespace {
/// Replaces every mask of the op (its own and its head groups') by its
/// simplest equivalent, drops a dense mask attribute, and drops the
/// segment_offsets operand once no mask needs it.
struct SimplifyMasks : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    MaskContext context = op.getMaskContext();
    bool changed = false;
    MaskAttrInterface mask = op.getMaskAttr();
    MaskAttrInterface newMask = mask ? mask.simplify(context) : mask;
    if (newMask && isa<DenseMaskAttr>(newMask))
      newMask = nullptr;
    changed |= newMask != mask;

    HeadsAttr heads = op.getHeadsAttr();
    HeadsAttr newHeads = heads;
    if (heads) {
      SmallVector<HeadGroupAttr> groups;
      for (HeadGroupAttr group : heads.getGroups()) {
        MaskAttrInterface groupMask =
            group.getMask() ? group.getMask().simplify(context) : nullptr;
        groups.push_back(HeadGroupAttr::get(op.getContext(), group.getHeads(),
                                            groupMask, group.getPrecision()));
      }
      newHeads = HeadsAttr::get(op.getContext(), heads.getWeights(),
                                heads.getSoftpag(), groups);
      changed |= newHeads != heads;
    }

    bool needsOffsets = newMask && newMask.needsSegmentOffsets();
    if (newHeads)
      for (HeadGroupAttr group : newHeads.getGroups())
        needsOffsets |= group.getMask() && group.getMask().needsSegmentOffsets();
    bool dropOffsets = op.getSegmentOffsets() && !needsOffsets;
    if (!changed && !dropOffsets)
      return failure();

    rewriter.modifyOpInPlace(op, [&] {
      if (newMask)
        op.setMaskAttr(newMask);
      else
        op.removeMaskAttr();
      if (newHeads)
        op.setHeadsAttr(newHeads);
      if (dropOffsets)
        op.getSegmentOffsetsMutable().clear();
    });
    return success();
  }
};
} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<SimplifyMasks>(context);
}
