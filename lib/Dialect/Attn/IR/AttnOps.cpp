//===- AttnOps.cpp - attn.attention ---------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
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

/// Parses the quantized bundles of attn.attention: one or more
/// `quantized([group = g,] role = %operand : type, ...)`, one per precision
/// (none: no value, so that the format's optional group is skipped).
static OptionalParseResult
parseQuantizedBundles(OpAsmParser &parser,
                      SmallVectorImpl<OpAsmParser::UnresolvedOperand> &operands,
                      SmallVectorImpl<Type> &types, DenseI64ArrayAttr &layout) {
  SmallVector<int64_t> entries;
  if (failed(parser.parseOptionalKeyword("quantized")))
    return std::nullopt;
  do {
    if (parser.parseLParen())
      return failure();
    int64_t bundle = 0;
    if (succeeded(parser.parseOptionalKeyword("group"))) {
      SMLoc loc = parser.getCurrentLocation();
      int64_t group = 0;
      if (parser.parseEqual() || parser.parseInteger(group) ||
          parser.parseComma())
        return failure();
      if (group < 0)
        return parser.emitError(loc, "head group index ")
               << group << " must not be negative";
      bundle = group + 1;
    }
    do {
      SMLoc loc = parser.getCurrentLocation();
      StringRef name;
      OpAsmParser::UnresolvedOperand operand;
      Type type;
      if (parser.parseKeyword(&name))
        return failure();
      std::optional<QuantizedRole> role = symbolizeQuantizedRole(name);
      if (!role)
        return parser.emitError(loc, "unknown quantized operand '")
               << name
               << "', expected key_mean, query_block_mean, "
                  "score_correction, query, query_scales, key, "
                  "key_scales, value or value_scales";
      if (parser.parseEqual() || parser.parseOperand(operand) ||
          parser.parseColonType(type))
        return failure();
      operands.push_back(operand);
      types.push_back(type);
      entries.push_back(kQuantizedBundleStride * bundle +
                        static_cast<int64_t>(*role));
    } while (succeeded(parser.parseOptionalComma()));
    if (parser.parseRParen())
      return failure();
  } while (succeeded(parser.parseOptionalKeyword("quantized")));
  layout = DenseI64ArrayAttr::get(parser.getContext(), entries);
  return success();
}

static void printQuantizedBundles(OpAsmPrinter &printer, Operation *,
                                  OperandRange operands, TypeRange types,
                                  DenseI64ArrayAttr layout) {
  if (!layout || layout.size() != static_cast<int64_t>(operands.size()))
    return; // Not verified; the generic form prints it.
  int64_t open = -1;
  for (auto [entry, operand, type] :
       llvm::zip_equal(layout.asArrayRef(), operands, types)) {
    int64_t bundle = entry / kQuantizedBundleStride;
    if (bundle != open) {
      if (open != -1)
        printer << ") ";
      printer << "quantized(";
      if (bundle > 0)
        printer << "group = " << bundle - 1 << ", ";
      open = bundle;
    } else {
      printer << ", ";
    }
    printer << stringifyQuantizedRole(
                   static_cast<QuantizedRole>(entry % kQuantizedBundleStride))
            << " = " << operand << " : " << type;
  }
  if (open != -1)
    printer << ")";
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Accessors
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOpInterfaces.cpp.inc"

MaskAttrInterface mlir::attn::detail::getMaskOrDense(MaskAttrInterface mask,
                                                     MLIRContext *context) {
  return mask ? mask : MaskAttrInterface(DenseMaskAttr::get(context));
}

MaskAttrInterface mlir::attn::detail::getMaskForHead(MaskAttrInterface mask,
                                                     HeadsAttr heads,
                                                     int64_t head,
                                                     MLIRContext *context) {
  if (heads)
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getMask() && llvm::is_contained(group.getHeads(), head))
        return group.getMask();
  return getMaskOrDense(mask, context);
}

/// The op's mask (dense when absent), then the masks of the head groups that
/// have one, in order.
SmallVector<MaskAttrInterface>
mlir::attn::detail::getMasks(MaskAttrInterface mask, HeadsAttr heads,
                             MLIRContext *context) {
  SmallVector<MaskAttrInterface> masks = {getMaskOrDense(mask, context)};
  if (heads)
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getMask())
        masks.push_back(group.getMask());
  return masks;
}

SmallVector<int64_t>
mlir::attn::detail::getTokenGrid(ArrayRef<MaskAttrInterface> masks) {
  for (MaskAttrInterface mask : masks)
    if (SmallVector<int64_t> grid = mask.getTokenGrid(); !grid.empty())
      return grid;
  return {};
}

static int64_t dynamicToNegative(int64_t size) {
  return ShapedType::isDynamic(size) ? -1 : size;
}

MaskContext mlir::attn::detail::getMaskContext(int64_t queryLength,
                                               int64_t keyLength) {
  return MaskContext(dynamicToNegative(queryLength),
                     dynamicToNegative(keyLength));
}

std::optional<double> mlir::attn::detail::getEffectiveScale(FloatAttr scale,
                                                            int64_t headDim) {
  if (scale)
    return scale.getValueAsDouble();
  if (ShapedType::isDynamic(headDim))
    return std::nullopt;
  return 1.0 / std::sqrt(static_cast<double>(headDim));
}

MutableOperandRange AttentionOp::getDpsInitsMutable() {
  unsigned first = getOutputMutable().getOperandNumber();
  return MutableOperandRange(getOperation(), first, getLseOutput() ? 2 : 1);
}

/// On memrefs, a destination-passing attn op reads its inputs and writes its
/// inits.
static void getDestinationStyleEffects(
    DestinationStyleOpInterface op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    if (op.isDpsInit(&operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    else
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

int64_t AttentionOp::getSmoothQueryBlockSize(PrecisionAttr precision) {
  constexpr int64_t kDefaultBlock = 64;
  std::optional<GranularityKind> kind =
      precision ? precision.getQkGranularity() : std::nullopt;
  switch (kind.value_or(GranularityKind::Block)) {
  case GranularityKind::Block:
  case GranularityKind::Thread:
    return kind ? precision.getQkGranularitySize() : kDefaultBlock;
  case GranularityKind::Token:
    return 1;
  case GranularityKind::Tensor:
    return ShapedType::isDynamic(getQueryLength())
               ? kDefaultBlock
               : std::max<int64_t>(getQueryLength(), 1);
  }
  llvm_unreachable("unknown granularity");
}

SmallVector<QuantizedRole>
AttentionOp::getQuantizedRoles(PrecisionAttr precision) {
  SmallVector<QuantizedRole> roles;
  if (!precision)
    return roles;
  // The same decisions the pre-steps of SEMANTICS.md section 3 make, in
  // the order of QuantizedRole.
  if (precision.getSmoothK())
    roles.push_back(QuantizedRole::KeyMean);
  if (precision.getSmoothQ())
    roles.append(
        {QuantizedRole::QueryBlockMean, QuantizedRole::ScoreCorrection});
  Type qk = precision.getQk();
  Type queryType = cast<ShapedType>(getQuery().getType()).getElementType();
  if (precision.isQuantizedQK()) {
    roles.append({QuantizedRole::Query, QuantizedRole::QueryScales,
                  QuantizedRole::Key, QuantizedRole::KeyScales});
  } else {
    // Q' and K' differ from Q and K when smoothed or rounded to another
    // 16-bit type.
    bool rounded = qk && qk != queryType;
    if (precision.getSmoothQ() || rounded)
      roles.push_back(QuantizedRole::Query);
    if (precision.getSmoothK() || rounded)
      roles.push_back(QuantizedRole::Key);
  }
  Type valueType = cast<ShapedType>(getValue().getType()).getElementType();
  Type pv = precision.getPv();
  if (isa_and_nonnull<Float8E4M3FNType>(pv))
    roles.append({QuantizedRole::Value, QuantizedRole::ValueScales});
  else if (pv && pv != valueType)
    roles.push_back(QuantizedRole::Value);
  return roles;
}

PrecisionAttr AttentionOp::getBundlePrecision(int64_t bundle) {
  if (bundle == 0)
    return getPrecisionAttr();
  HeadsAttr heads = getHeadsAttr();
  if (!heads || bundle > static_cast<int64_t>(heads.getGroups().size()))
    return nullptr;
  return heads.getGroups()[bundle - 1].getPrecision();
}

DenseMap<QuantizedRole, Value> AttentionOp::getQuantizedBundle(int64_t bundle) {
  DenseMap<QuantizedRole, Value> operands;
  DenseI64ArrayAttr layout = getQuantizedLayoutAttr();
  if (!layout)
    return operands;
  for (auto [entry, operand] :
       llvm::zip_equal(layout.asArrayRef(), getQuantized()))
    if (entry / kQuantizedBundleStride == bundle)
      operands[static_cast<QuantizedRole>(entry % kQuantizedBundleStride)] =
          operand;
  return operands;
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

/// The generic form's `operandSegmentSizes` may give a required operand
/// no value (ODS checks only the optional groups' sizes and the total):
/// every accessor of the op reads past its operands then (found by the
/// parse fuzzer). Checked before anything reads them.
template <typename OpT>
static LogicalResult
verifyRequiredOperands(OpT op,
                       ArrayRef<std::pair<unsigned, StringRef>> groups) {
  for (const std::pair<unsigned, StringRef> &group : groups) {
    unsigned length = op.getODSOperandIndexAndLength(group.first).second;
    if (length != 1)
      return op.emitOpError()
             << "needs exactly one '" << group.second
             << "' operand, but operandSegmentSizes gives it " << length;
  }
  return success();
}

static LogicalResult expectRank(Operation *op, StringRef name, Value value,
                                ArrayRef<int64_t> ranks, StringRef layout) {
  auto type = cast<ShapedType>(value.getType());
  if (llvm::is_contained(ranks, type.getRank()))
    return success();
  return op->emitOpError() << name << " must have shape " << layout
                           << ", got " << type;
}

/// Checks `value`'s shape against `expected` (kDynamic: any size), naming
/// the operand as `name` and each dimension by `meanings`.
static LogicalResult expectShape(Operation *op, const Twine &name, Value value,
                                 ArrayRef<int64_t> expected,
                                 ArrayRef<StringRef> meanings,
                                 StringRef layout) {
  auto type = cast<ShapedType>(value.getType());
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return op->emitOpError()
           << name << " must have shape " << layout << ", got " << type;
  if (!isa<FloatType>(type.getElementType()))
    return op->emitOpError() << name << " must have a float element type, got "
                             << type.getElementType();
  for (auto [dim, size] : llvm::enumerate(expected)) {
    int64_t actual = type.getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(size) ||
        actual == size)
      continue;
    return op->emitOpError() << name << " dimension " << dim << " is " << actual
                             << " but " << meanings[dim] << " is " << size;
  }
  return success();
}

static int64_t ceilDivOrDynamic(int64_t a, int64_t b) {
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || b <= 0)
    return ShapedType::kDynamic;
  return llvm::divideCeil(a, b);
}

/// Scale blocks along D of quantized Q.K: 16 channels each for NVFP4, else
/// one for all of D.
static int64_t getNumScaleBlocks(PrecisionAttr precision, int64_t headDim) {
  if (isa_and_nonnull<Float4E2M1FNType>(precision.getQk()))
    return ceilDivOrDynamic(headDim, 16);
  return 1;
}

/// Each bundle holds exactly the roles its precision needs, in order, with
/// the shapes of SEMANTICS.md section 3.
static LogicalResult verifyQuantizedBundles(AttentionOp op) {
  DenseI64ArrayAttr layout = op.getQuantizedLayoutAttr();
  size_t count = op.getQuantized().size();
  if (!layout) {
    if (count == 0)
      return success();
    return op.emitOpError()
           << "has " << count << " quantized operands but no quantized_layout";
  }
  if (static_cast<size_t>(layout.size()) != count)
    return op.emitOpError()
           << "quantized_layout has " << layout.size() << " entries for "
           << count << " quantized operands";
  // Group the entries by bundle, keeping their order.
  llvm::MapVector<int64_t, SmallVector<std::pair<QuantizedRole, Value>>>
      bundles;
  int64_t numGroups =
      op.getHeadsAttr() ? op.getHeadsAttr().getGroups().size() : 0;
  for (auto [entry, operand] :
       llvm::zip_equal(layout.asArrayRef(), op.getQuantized())) {
    int64_t bundle = entry / kQuantizedBundleStride;
    std::optional<QuantizedRole> role =
        entry < 0 ? std::nullopt
                  : symbolizeQuantizedRole(entry % kQuantizedBundleStride);
    if (!role || bundle > numGroups)
      return op.emitOpError() << "quantized_layout entry " << entry
                              << " names no role of the op's precision or "
                                 "of one of its "
                              << numGroups << " head groups";
    auto &roles = bundles[bundle];
    if (!roles.empty() && roles.back().first >= *role)
      return op.emitOpError()
             << "quantized operand " << stringifyQuantizedRole(*role)
             << " is repeated or out of order (expected key_mean, "
                "query_block_mean, score_correction, query, query_scales, "
                "key, key_scales, value, value_scales)";
    roles.push_back({*role, operand});
  }
  int64_t batch = op.getBatchSize(), hq = op.getNumQueryHeads();
  int64_t hkv = op.getNumKeyValueHeads(), nq = op.getQueryLength();
  int64_t nk = op.getKeyLength(), d = op.getHeadDim();
  int64_t dv = op.getValueHeadDim();
  for (auto &[bundle, operands] : bundles) {
    std::string owner = bundle == 0
                            ? std::string("the op's precision")
                            : "head group " + std::to_string(bundle - 1);
    PrecisionAttr precision = op.getBundlePrecision(bundle);
    if (!precision)
      return op.emitOpError() << "has a quantized bundle for " << owner
                              << ", which has no precision";
    SmallVector<QuantizedRole> expected = op.getQuantizedRoles(precision);
    for (QuantizedRole role : expected)
      if (!llvm::is_contained(llvm::make_first_range(operands), role))
        return op.emitOpError() << "the quantized bundle of " << owner
                                << " lacks " << stringifyQuantizedRole(role)
                                << ", which " << precision << " needs";
    int64_t blocks =
        ceilDivOrDynamic(nq, op.getSmoothQueryBlockSize(precision));
    int64_t scaleBlocks = getNumScaleBlocks(precision, d);
    for (auto [role, value] : operands) {
      if (!llvm::is_contained(expected, role))
        return op.emitOpError() << "the quantized bundle of " << owner
                                << " has " << stringifyQuantizedRole(role)
                                << ", which " << precision << " does not use";
      std::string name =
          ("quantized " + stringifyQuantizedRole(role) + " of " + owner).str();
      LogicalResult ok = success();
      switch (role) {
      case QuantizedRole::KeyMean:
        ok = expectShape(op, name, value, {batch, hkv, d},
                         {"B", "Hkv", "the head dim D"}, "[B, Hkv, D]");
        break;
      case QuantizedRole::QueryBlockMean:
        ok = expectShape(
            op, name, value, {batch, hq, blocks, d},
            {"B", "Hq", "the number of query blocks", "the head dim D"},
            "[B, Hq, blocks, D]");
        break;
      case QuantizedRole::ScoreCorrection:
        ok = expectShape(
            op, name, value, {batch, hq, blocks, nk},
            {"B", "Hq", "the number of query blocks", "the key length Nk"},
            "[B, Hq, blocks, Nk]");
        break;
      case QuantizedRole::Query:
        ok = expectShape(op, name, value, {batch, hq, nq, d},
                         {"B", "Hq", "the query length Nq", "the head dim D"},
                         "[B, Hq, Nq, D]");
        break;
      case QuantizedRole::QueryScales:
        ok = expectShape(
            op, name, value, {batch, hq, nq, scaleBlocks},
            {"B", "Hq", "the query length Nq", "the number of scale blocks"},
            "[B, Hq, Nq, S]");
        break;
      case QuantizedRole::Key:
        ok = expectShape(op, name, value, {batch, hkv, nk, d},
                         {"B", "Hkv", "the key length Nk", "the head dim D"},
                         "[B, Hkv, Nk, D]");
        break;
      case QuantizedRole::KeyScales:
        ok = expectShape(
            op, name, value, {batch, hkv, nk, scaleBlocks},
            {"B", "Hkv", "the key length Nk", "the number of scale blocks"},
            "[B, Hkv, Nk, S]");
        break;
      case QuantizedRole::Value:
        ok = expectShape(
            op, name, value, {batch, hkv, nk, dv},
            {"B", "Hkv", "the key length Nk", "the value head dim Dv"},
            "[B, Hkv, Nk, Dv]");
        break;
      case QuantizedRole::ValueScales:
        ok = expectShape(op, name, value, {batch, hkv, dv},
                         {"B", "Hkv", "the value head dim Dv"}, "[B, Hkv, Dv]");
        break;
      }
      if (failed(ok))
        return failure();
    }
  }
  return success();
}

/// Q [B, Hq, Nq, D], K [B, Hkv, Nk, D], V [B, Hkv, Nk, Dv], the pair
/// operands, gates, scale, masks (against the lengths, with their run-time
/// segment offsets) and heads: the problem the forward op and its gradient
/// share.
static LogicalResult
verifyAttentionProblem(AttentionProblemOpInterface problem) {
  Operation *op = problem;
  ShapeChecker check{op};
  if (failed(
          expectRank(op, "query", problem.getQuery(), {4}, "[B, Hq, Nq, D]")) ||
      failed(expectRank(op, "key", problem.getKey(), {4}, "[B, Hkv, Nk, D]")) ||
      failed(
          expectRank(op, "value", problem.getValue(), {4}, "[B, Hkv, Nk, Dv]")))
    return failure();
  for (auto [name, v] :
       {std::pair<StringRef, Value>{"query", problem.getQuery()},
        {"key", problem.getKey()},
        {"value", problem.getValue()}}) {
    Type elem = cast<ShapedType>(v.getType()).getElementType();
    if (!isa<FloatType>(elem))
      return op->emitOpError()
             << name << " must have a float element type, got " << elem;
  }
  ArrayRef<int64_t> q = AttentionOp::getShape(problem.getQuery());
  ArrayRef<int64_t> k = AttentionOp::getShape(problem.getKey());
  int64_t batch = q[0], hq = q[1], nq = q[2], d = q[3];
  int64_t hkv = k[1], nk = k[2];
  if (failed(check.expect("key", problem.getKey(), 0, batch,
                          "the batch size B")) ||
      failed(check.expect("value", problem.getValue(), 0, batch,
                          "the batch size B")) ||
      failed(check.expect("key", problem.getKey(), 3, d,
                          "the query head dim D")) ||
      failed(check.expect("value", problem.getValue(), 1, hkv,
                          "the number of key heads Hkv")) ||
      failed(check.expect("value", problem.getValue(), 2, nk,
                          "the key length Nk")))
    return failure();
  constexpr int64_t kMaxLength = int64_t(1) << 31;
  for (auto [name, length] : {std::pair<StringRef, int64_t>{"query", nq},
                              {"key", nk}})
    if (!ShapedType::isDynamic(length) && length > kMaxLength)
      return op->emitOpError()
             << "the " << name << " length " << length
             << " exceeds the supported " << kMaxLength << " tokens";
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return op->emitOpError()
           << "the number of query heads Hq = " << hq
           << " is not a multiple of the number of key/value heads Hkv = "
           << hkv;

  MaskContext context(ShapedType::isDynamic(nq) ? -1 : nq,
                      ShapedType::isDynamic(nk) ? -1 : nk);
  SmallVector<MaskAttrInterface> masks = problem.getMasks();

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
      return op->emitOpError()
             << name << " must have element type i1, got " << elem;
    if (!boolean && !isa<FloatType>(elem))
      return op->emitOpError()
             << name << " must have a float element type, got " << elem;
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
          return op->emitOpError()
                 << name << " dimension " << dim << " is " << size
                 << " but must be 1 or " << what << " = " << full;
      }
    }
    return success();
  };
  if (failed(verifyPairOperand("explicit_mask", problem.getExplicitMask(),
                               true)) ||
      failed(verifyPairOperand("bias", problem.getBias(), false)))
    return failure();

  // Gates [B, Nq, Hq].
  if (Value gates = problem.getGates()) {
    if (failed(expectRank(op, "gates", gates, {3}, "[B, Nq, Hq]")))
      return failure();
    Type elem = cast<ShapedType>(gates.getType()).getElementType();
    if (!isa<FloatType>(elem))
      return op->emitOpError()
             << "gates must have a float element type, got " << elem;
    if (failed(check.expect("gates", gates, 0, batch, "the batch size B")) ||
        failed(check.expect("gates", gates, 1, nq, "the query length Nq")) ||
        failed(check.expect("gates", gates, 2, hq,
                            "the number of query heads Hq")))
      return failure();
  }

  if (FloatAttr scale = problem.getScaleAttr()) {
    double s = scale.getValueAsDouble();
    if (!(s > 0.0) || !std::isfinite(s))
      return op->emitOpError()
             << "scale = " << s << " must be a positive finite number";
  }

  // Masks: the op's and every head group's, against the sequence lengths.
  auto emitError = [&]() { return op->emitOpError(); };
  HeadsAttr heads = problem.getHeadsAttr();
  bool needsOffsets = false;
  for (MaskAttrInterface mask : masks) {
    if (failed(mask.verifyLengths(context, emitError)))
      return failure();
    needsOffsets |= mask.needsSegmentOffsets();
  }

  // Run-time segment offsets: [B, S+1] or [B, 2, S+1].
  if (Value offsets = problem.getSegmentOffsets()) {
    if (!needsOffsets)
      return op->emitOpError()
             << "segment_offsets given but no mask has run-time "
                "segment sizes ('?')";
    if (failed(expectRank(op, "segment_offsets", offsets, {2, 3},
                          "[B, S+1] or [B, 2, S+1]")))
      return failure();
    auto type = cast<ShapedType>(offsets.getType());
    if (!type.getElementType().isSignlessInteger(32) &&
        !type.getElementType().isSignlessInteger(64))
      return op->emitOpError()
             << "segment_offsets must have element type i32 or "
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
          op->emitOpError()
              << "segments with " << segments.getNumQuerySegments()
              << " query and " << segments.getNumKeySegments()
              << " key segments need segment_offsets of shape "
                 "[B, 2, S+1]";
        else if (count != expected)
          op->emitOpError()
              << "segment_offsets has " << count
              << " offsets per list but the segments mask needs " << expected;
        else
          return;
        needsOffsets = false; // Marks the failure.
      });
    }
    if (!needsOffsets)
      return failure();
  } else if (needsOffsets) {
    return op->emitOpError()
           << "the mask has run-time segment sizes ('?') but no "
              "segment_offsets operand";
  }

  // Heads: indices in range, weights per head, softpag shapes.
  if (heads) {
    auto checkHead = [&](StringRef what, int64_t h) -> LogicalResult {
      if (ShapedType::isDynamic(hq) || h < hq)
        return success();
      return op->emitOpError() << what << " head index " << h
                               << " is out of range for Hq = " << hq;
    };
    if (heads.getWeights() && !ShapedType::isDynamic(hq) &&
        heads.getWeights().size() != hq)
      return op->emitOpError()
             << "heads has " << heads.getWeights().size()
             << " weights but there are Hq = " << hq << " query heads";
    if (SoftPagAttr softpag = heads.getSoftpag()) {
      for (int64_t h : softpag.getHeads())
        if (failed(checkHead("softpag", h)))
          return failure();
      if (!ShapedType::isDynamic(nq) && !ShapedType::isDynamic(nk) && nq != nk)
        return op->emitOpError() << "softpag needs Nq == Nk, got Nq = " << nq
                                 << " and Nk = " << nk;
    }
    for (HeadGroupAttr group : heads.getGroups())
      for (int64_t h : group.getHeads())
        if (failed(checkHead("head group", h)))
          return failure();
  }

  return success();
}

/// O [B, Hq, Nq, Dv] of a problem with `query` and `value`.
static LogicalResult verifyAttentionOutput(Operation *op, Value output,
                                           Value query, Value value) {
  ShapeChecker check{op};
  if (failed(expectRank(op, "output", output, {4}, "[B, Hq, Nq, Dv]")))
    return failure();
  if (Type elem = cast<ShapedType>(output.getType()).getElementType();
      !isa<FloatType>(elem))
    return op->emitOpError()
           << "output must have a float element type, got " << elem;
  ArrayRef<int64_t> q = AttentionOp::getShape(query);
  int64_t dv = AttentionOp::getShape(value)[3];
  if (failed(check.expect("output", output, 0, q[0], "the batch size B")) ||
      failed(check.expect("output", output, 1, q[1],
                          "the number of query heads Hq")) ||
      failed(check.expect("output", output, 2, q[2], "the query length Nq")) ||
      failed(check.expect("output", output, 3, dv, "the value head dim Dv")))
    return failure();
  return success();
}

/// An LSE (or its gradient) `name`: [B, Hq, Nq] f32 of a problem with
/// `query`.
static LogicalResult verifyLse(Operation *op, StringRef name, Value lse,
                               Value query) {
  ShapeChecker check{op};
  if (failed(expectRank(op, name, lse, {3}, "[B, Hq, Nq]")))
    return failure();
  Type elem = cast<ShapedType>(lse.getType()).getElementType();
  if (!elem.isF32())
    return op->emitOpError()
           << name << " must have element type f32, got " << elem;
  ArrayRef<int64_t> q = AttentionOp::getShape(query);
  if (failed(check.expect(name, lse, 0, q[0], "the batch size B")) ||
      failed(
          check.expect(name, lse, 1, q[1], "the number of query heads Hq")) ||
      failed(check.expect(name, lse, 2, q[2], "the query length Nq")))
    return failure();
  return success();
}

/// The tiling and the tile classes of either op: N-D tiles tile a token
/// grid of matching rank, and the classes hold one table per mask.
static LogicalResult verifyTiling(AttentionProblemOpInterface op) {
  SmallVector<MaskAttrInterface> masks = op.getMasks();
  TilingAttr tiling = op.getTilingAttr();
  if (tiling && tiling.getRank() > 1 &&
      op.getTokenGrid().size() != tiling.getRank())
    return op->emitOpError() << "tiling of rank " << tiling.getRank()
                             << " needs a mask with a token grid of that rank";
  DenseIntElementsAttr classes = op.getTileClassesAttr();
  if (!classes)
    return success();
  if (!tiling)
    return op->emitOpError() << "tile_classes needs a tiling";
  auto type = cast<ShapedType>(classes.getType());
  if (type.getRank() != 3 ||
      type.getDimSize(0) != static_cast<int64_t>(masks.size()))
    return op->emitOpError() << "tile_classes must have shape [" << masks.size()
                             << " masks, query tiles, key tiles], got " << type;
  auto checkEntry = [&](int8_t c) -> LogicalResult {
    if (c >= 0 && c <= 2)
      return success();
    return op->emitOpError() << "tile_classes entry " << int(c)
                             << " is not 0 (empty), 1 (partial) or 2 (full)";
  };
  // A splat stores one value whatever its shape (which may be huge): check
  // that value, never walk the elements (found by the parse fuzzer).
  if (classes.isSplat())
    return checkEntry(classes.getSplatValue<int8_t>());
  for (int8_t c : classes.getValues<int8_t>())
    if (failed(checkEntry(c)))
      return failure();
  return success();
}

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyRequiredOperands(
          *this, {{0, "query"}, {1, "key"}, {2, "value"}, {8, "output"}})))
    return failure();

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

  if (failed(verifyAttentionProblem(*this)))
    return failure();
  if (failed(verifyAttentionOutput(op, getOutput(), getQuery(), getValue())))
    return failure();
  if (Value lse = getLseOutput();
      lse && failed(verifyLse(op, "lse_output", lse, getQuery())))
    return failure();

  HeadsAttr heads = getHeadsAttr();

  if (failed(verifyTiling(*this)))
    return failure();

  if (failed(verifyQuantizedBundles(*this)))
    return failure();

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

/// Operands all tensors (results = the inits' types) or all memrefs (no
/// results).
static LogicalResult verifyDestinationStyle(DestinationStyleOpInterface op) {
  bool tensors = isa<RankedTensorType>(op->getOperand(0).getType());
  for (Value v : op->getOperands())
    if (isa<RankedTensorType>(v.getType()) != tensors)
      return op->emitOpError() << "operands must be all tensors or all "
                                  "memrefs, but got "
                               << v.getType();
  if (!tensors) {
    if (op->getNumResults() != 0)
      return op->emitOpError() << "on memrefs the op has no results";
    return success();
  }
  SmallVector<Type> expected;
  for (OpOperand &init : op.getDpsInitsMutable())
    expected.push_back(init.get().getType());
  if (TypeRange(op->getResultTypes()) != TypeRange(expected))
    return op->emitOpError() << "on tensors the results must have the types "
                                "of the outs operands";
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionGradOp
//===----------------------------------------------------------------------===//

MutableOperandRange AttentionGradOp::getDpsInitsMutable() {
  unsigned first = getQueryGradMutable().getOperandNumber();
  return MutableOperandRange(getOperation(), first,
                             3 + (getBiasGrad() ? 1 : 0) +
                                 (getGatesGrad() ? 1 : 0));
}

void AttentionGradOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

/// `value` has the shape of `reference` (dynamic sizes match anything) and
/// a float element type.
static LogicalResult expectShapeOf(Operation *op, StringRef name, Value value,
                                   StringRef referenceName, Value reference) {
  auto type = cast<ShapedType>(value.getType());
  auto referenceType = cast<ShapedType>(reference.getType());
  if (!isa<FloatType>(type.getElementType()))
    return op->emitOpError() << name << " must have a float element type, got "
                             << type.getElementType();
  if (type.getRank() != referenceType.getRank() ||
      failed(verifyCompatibleShape(type.getShape(), referenceType.getShape())))
    return op->emitOpError()
           << name << " must have the shape of " << referenceName << ", "
           << referenceType << ", got " << type;
  return success();
}

LogicalResult AttentionGradOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyRequiredOperands(*this, {{0, "query"},
                                            {1, "key"},
                                            {2, "value"},
                                            {3, "output"},
                                            {4, "lse"},
                                            {5, "output_grad"},
                                            {11, "query_grad"},
                                            {12, "key_grad"},
                                            {13, "value_grad"}})))
    return failure();
  if (failed(verifyDestinationStyle(*this)))
    return failure();
  if (failed(verifyAttentionProblem(*this)))
    return failure();

  // The forward's O [B, Hq, Nq, Dv] and LSE [B, Hq, Nq] f32, and their
  // gradients.
  if (failed(verifyAttentionOutput(op, getOutput(), getQuery(), getValue())))
    return failure();
  for (auto [name, lse] : {std::pair<StringRef, Value>{"lse", getLse()},
                           {"lse_grad", getLseGrad()}})
    if (lse && failed(verifyLse(op, name, lse, getQuery())))
      return failure();
  if (failed(expectShapeOf(op, "output_grad", getOutputGrad(), "output",
                           getOutput())) ||
      failed(expectShapeOf(op, "query_grad", getQueryGrad(), "query",
                           getQuery())) ||
      failed(expectShapeOf(op, "key_grad", getKeyGrad(), "key", getKey())) ||
      failed(
          expectShapeOf(op, "value_grad", getValueGrad(), "value", getValue())))
    return failure();
  // A bias without bias_grad is a constant of the loss (no dBias is
  // computed); gates always get their gradient.
  for (auto [name, grad, operandName, operand] :
       {std::tuple<StringRef, Value, StringRef, Value>{
            "bias_grad", getBiasGrad(), "bias", getBias()},
        {"gates_grad", getGatesGrad(), "gates", getGates()}}) {
    if (!grad && operand && operandName == "gates")
      return emitOpError() << "the op has " << operandName << " but no " << name
                           << " to write its gradient to";
    if (grad && !operand)
      return emitOpError() << name << " given but the op has no "
                           << operandName;
    if (grad && failed(expectShapeOf(op, name, grad, operandName, operand)))
      return failure();
  }
  return verifyTiling(*this);
}

//===----------------------------------------------------------------------===//
// Quantization pre-steps
//===----------------------------------------------------------------------===//

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<ShapedType>(v.getType()).getShape();
}

void KeyMeanOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

LogicalResult KeyMeanOp::verify() {
  if (failed(verifyDestinationStyle(*this)))
    return failure();
  Operation *op = getOperation();
  if (failed(expectShape(op, "key", getKey(),
                         {ShapedType::kDynamic, ShapedType::kDynamic,
                          ShapedType::kDynamic, ShapedType::kDynamic},
                         {}, "[B, Hkv, Nk, D]")))
    return failure();
  ArrayRef<int64_t> k = shapeOf(getKey());
  return expectShape(
      op, "mean", getMean(), {k[0], k[1], k[3]},
      {"the batch size B", "the number of key heads Hkv", "the key head dim D"},
      "[B, Hkv, D]");
}

void QueryBlockMeanOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

LogicalResult QueryBlockMeanOp::verify() {
  if (failed(verifyDestinationStyle(*this)))
    return failure();
  Operation *op = getOperation();
  int64_t any = ShapedType::kDynamic;
  if (getBlockSize() <= 0)
    return emitOpError() << "block_size = " << getBlockSize()
                         << " must be positive";
  if (failed(expectShape(op, "query", getQuery(), {any, any, any, any}, {},
                         "[B, Hq, Nq, D]")))
    return failure();
  ArrayRef<int64_t> q = shapeOf(getQuery());
  int64_t blocks = ceilDivOrDynamic(q[2], getBlockSize());
  if (failed(expectShape(op, "key", getKey(), {q[0], any, any, q[3]},
                         {"the batch size B", "", "", "the query head dim D"},
                         "[B, Hkv, Nk, D]")))
    return failure();
  ArrayRef<int64_t> k = shapeOf(getKey());
  if (!ShapedType::isDynamic(q[1]) && !ShapedType::isDynamic(k[1]) &&
      (k[1] == 0 || q[1] % k[1] != 0))
    return emitOpError() << "the number of query heads Hq = " << q[1]
                         << " is not a multiple of the number of key heads "
                            "Hkv = "
                         << k[1];
  if (Value keyMean = getKeyMean())
    if (failed(expectShape(op, "key_mean", keyMean, {k[0], k[1], k[3]},
                           {"the batch size B", "the number of key heads Hkv",
                            "the head dim D"},
                           "[B, Hkv, D]")))
      return failure();
  if (failed(expectShape(op, "mean", getMean(), {q[0], q[1], blocks, q[3]},
                         {"the batch size B", "the number of query heads Hq",
                          "ceil(Nq / block_size)", "the head dim D"},
                         "[B, Hq, blocks, D]")))
    return failure();
  return expectShape(op, "score_correction", getScoreCorrection(),
                     {q[0], q[1], blocks, k[2]},
                     {"the batch size B", "the number of query heads Hq",
                      "ceil(Nq / block_size)", "the key length Nk"},
                     "[B, Hq, blocks, Nk]");
}

void QuantizeRowsOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

LogicalResult QuantizeRowsOp::verify() {
  if (failed(verifyDestinationStyle(*this)))
    return failure();
  Operation *op = getOperation();
  int64_t any = ShapedType::kDynamic;
  if (failed(expectShape(op, "input", getInput(), {any, any, any, any}, {},
                         "[B, H, N, D]")))
    return failure();
  ArrayRef<int64_t> x = shapeOf(getInput());
  std::optional<int64_t> meanBlock = getMeanBlockSize();
  if (meanBlock && *meanBlock <= 0)
    return emitOpError() << "mean_block_size = " << *meanBlock
                         << " must be positive";
  if (Value mean = getMean()) {
    int64_t rank = cast<ShapedType>(mean.getType()).getRank();
    if (rank == 4 && !meanBlock)
      return emitOpError() << "a mean of shape [B, H, blocks, D] needs "
                              "mean_block_size";
    if (rank == 3 && meanBlock)
      return emitOpError() << "mean_block_size needs a mean of shape "
                              "[B, H, blocks, D], got "
                           << mean.getType();
    LogicalResult ok =
        rank == 4 ? expectShape(
                        op, "mean", mean,
                        {x[0], x[1], ceilDivOrDynamic(x[2], *meanBlock), x[3]},
                        {"the batch size B", "the number of heads H",
                         "ceil(N / mean_block_size)", "the head dim D"},
                        "[B, H, D] or [B, H, blocks, D]")
                  : expectShape(op, "mean", mean, {x[0], x[1], x[3]},
                                {"the batch size B", "the number of heads H",
                                 "the head dim D"},
                                "[B, H, D] or [B, H, blocks, D]");
    if (failed(ok))
      return failure();
  } else if (meanBlock) {
    return emitOpError() << "mean_block_size needs a mean operand";
  }
  if (failed(expectShape(op, "values", getValues(), x,
                         {"the batch size B", "the number of heads H",
                          "the length N", "the head dim D"},
                         "[B, H, N, D]")))
    return failure();
  PrecisionAttr precision = getPrecisionAttr();
  if (precision) {
    if (!precision.getQk())
      return emitOpError() << "precision " << precision << " sets no qk";
    if (precision.getSmoothK() || precision.getSmoothQ() || precision.getPv() ||
        precision.getPvAccum() != Accumulation::F32)
      return emitOpError() << "precision " << precision
                           << " may set only qk and qk_granularity (the "
                              "smoothing is the mean operand)";
  }
  bool quantized = isQuantized();
  if (!quantized) {
    if (!getScales())
      return success();
    if (!precision)
      return emitOpError() << "scales given but there is no precision to "
                              "quantize with";
    return emitOpError() << "scales given but qk = " << precision.getQk()
                         << " rounds without scales";
  }
  if (!getScales())
    return emitOpError() << "qk = " << precision.getQk()
                         << " needs a scales operand of shape [B, H, N, S]";
  return expectShape(op, "scales", getScales(),
                     {x[0], x[1], x[2], getNumScaleBlocks(precision, x[3])},
                     {"the batch size B", "the number of heads H",
                      "the length N", "the number of scale blocks"},
                     "[B, H, N, S]");
}

void QuantizeValueOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

LogicalResult QuantizeValueOp::verify() {
  if (failed(verifyDestinationStyle(*this)))
    return failure();
  Operation *op = getOperation();
  int64_t any = ShapedType::kDynamic;
  if (failed(expectShape(op, "value", getValue(), {any, any, any, any}, {},
                         "[B, Hkv, Nk, Dv]")))
    return failure();
  ArrayRef<int64_t> v = shapeOf(getValue());
  if (failed(expectShape(op, "values", getValues(), v,
                         {"the batch size B", "the number of key heads Hkv",
                          "the key length Nk", "the value head dim Dv"},
                         "[B, Hkv, Nk, Dv]")))
    return failure();
  Type to = getTo();
  bool perChannel = isa<Float8E4M3FNType>(to);
  if (!perChannel && !to.isF16() && !to.isBF16() && !isa<Float4E2M1FNType>(to))
    return emitOpError() << "to = " << to
                         << " must be f16, bf16, f8E4M3FN or f4E2M1FN";
  if (!perChannel) {
    if (getScales())
      return emitOpError() << "scales given but to = " << to
                           << " has no per-channel scales";
    return success();
  }
  if (!getScales())
    return emitOpError() << "to = " << to
                         << " needs a scales operand of shape [B, Hkv, Dv]";
  return expectShape(op, "scales", getScales(), {v[0], v[1], v[3]},
                     {"the batch size B", "the number of key heads Hkv",
                      "the value head dim Dv"},
                     "[B, Hkv, Dv]");
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
