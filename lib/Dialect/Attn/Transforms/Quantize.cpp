//===- Quantize.cpp - split quantization pre-steps out of attn.attention --===//
//
// attn-quantize: for every precision an attn.attention uses (its own and its
// head groups'), creates the pre-step ops of SEMANTICS.md section 3 (K mean,
// Q block means with dS, Q' / K' values and scales, V values and scales)
// into fresh destinations and hands their results to the op as a quantized
// bundle, so that GPU backends run them as pre-kernels and the main loop
// only reads quantized operands.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNQUANTIZE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Creates the destinations and pre-step ops of one attn.attention, before
/// it; on memrefs it also frees the buffers after it.
class BundleBuilder {
public:
  BundleBuilder(RewriterBase &rewriter, AttentionOp op)
      : b(rewriter), op(op), loc(op.getLoc()),
        tensors(op.hasTensorSemantics()) {}

  /// The pre-step results for `precision`, in the order of its roles.
  SmallVector<Value> build(PrecisionAttr precision,
                           ArrayRef<QuantizedRole> roles);

  /// Frees the memref destinations after the op.
  void freeBuffers() {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfter(op);
    for (Value buffer : buffers)
      memref::DeallocOp::create(b, loc, buffer);
  }

private:
  /// Size `d` of `shaped`, static when its type knows it.
  OpFoldResult size(Value shaped, int64_t d) {
    int64_t known = cast<ShapedType>(shaped.getType()).getDimSize(d);
    if (!ShapedType::isDynamic(known))
      return b.getIndexAttr(known);
    if (tensors)
      return tensor::DimOp::create(b, loc, shaped, d).getResult();
    return memref::DimOp::create(b, loc, shaped, d).getResult();
  }
  /// ceil(size / divisor), folded when static.
  OpFoldResult ceilDiv(OpFoldResult size, int64_t divisor) {
    if (std::optional<int64_t> known = getConstantIntValue(size))
      return b.getIndexAttr(llvm::divideCeil(*known, divisor));
    return arith::CeilDivSIOp::create(
               b, loc, cast<Value>(size),
               arith::ConstantIndexOp::create(b, loc, divisor))
        .getResult();
  }
  /// A fresh destination: tensor.empty on tensors, memref.alloc on memrefs.
  Value destination(ArrayRef<OpFoldResult> sizes, Type elementType) {
    if (tensors)
      return tensor::EmptyOp::create(b, loc, sizes, elementType);
    SmallVector<int64_t> shape;
    SmallVector<Value> dynamicSizes;
    dispatchIndexOpFoldResults(sizes, dynamicSizes, shape);
    Value buffer = memref::AllocOp::create(
        b, loc, MemRefType::get(shape, elementType), dynamicSizes);
    buffers.push_back(buffer);
    return buffer;
  }
  /// The values a pre-step leaves for the op: its results on tensors, its
  /// destinations on memrefs.
  SmallVector<Value> outputs(Operation *step, ValueRange inits) {
    if (tensors)
      return SmallVector<Value>(step->getResults());
    return SmallVector<Value>(inits);
  }
  TypeRange resultTypes(ValueRange inits) {
    return tensors ? TypeRange(inits) : TypeRange();
  }

  RewriterBase &b;
  AttentionOp op;
  Location loc;
  bool tensors;
  SmallVector<Value> buffers;
};
} // namespace

SmallVector<Value> BundleBuilder::build(PrecisionAttr precision,
                                        ArrayRef<QuantizedRole> roles) {
  MLIRContext *context = b.getContext();
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  OpFoldResult batch = size(q, 0), hq = size(q, 1), hkv = size(k, 1);
  OpFoldResult nq = size(q, 2), nk = size(k, 2), d = size(q, 3);
  OpFoldResult dv = size(v, 3);
  Type f32 = b.getF32Type(), f64 = b.getF64Type();
  DenseMap<QuantizedRole, Value> results;
  auto has = [&](QuantizedRole role) {
    return llvm::is_contained(roles, role);
  };

  // Means in f64, values and scales in f32: what the emulation of
  // SEMANTICS.md section 3 needs to be exact for f16 / bf16 inputs.
  Value keyMean;
  if (has(QuantizedRole::KeyMean)) {
    Value init = destination({batch, hkv, d}, f64);
    auto step = KeyMeanOp::create(b, loc, resultTypes(init), k, init);
    keyMean = results[QuantizedRole::KeyMean] = outputs(step, init)[0];
  }
  int64_t block = op.getSmoothQueryBlockSize(precision);
  Value queryMean;
  if (has(QuantizedRole::QueryBlockMean)) {
    OpFoldResult blocks = ceilDiv(nq, block);
    Value means = destination({batch, hq, blocks, d}, f64);
    Value correction = destination({batch, hq, blocks, nk}, f32);
    SmallVector<Value> inits = {means, correction};
    auto step = QueryBlockMeanOp::create(b, loc, resultTypes(inits), q, k,
                                         keyMean, means, correction, block);
    SmallVector<Value> out = outputs(step, inits);
    queryMean = results[QuantizedRole::QueryBlockMean] = out[0];
    results[QuantizedRole::ScoreCorrection] = out[1];
  }

  // Q' and K': quantized with the qk fields of the precision, or smoothed
  // and rounded to a 16-bit qk other than the inputs' type.
  Type qk = precision.getQk();
  PrecisionAttr rowPrecision;
  if (precision.isQuantizedQK())
    rowPrecision = PrecisionAttr::get(context, qk, precision.getQkGranularity(),
                                      precision.getQkGranularitySize(), false,
                                      false, Type(), Accumulation::F32);
  else if (qk && qk != getElementTypeOrSelf(q.getType()))
    rowPrecision = PrecisionAttr::get(context, qk, std::nullopt, 0, false,
                                      false, Type(), Accumulation::F32);
  OpFoldResult scaleBlocks = isa_and_nonnull<Float4E2M1FNType>(qk)
                                 ? ceilDiv(d, 16)
                                 : OpFoldResult(b.getIndexAttr(1));
  auto quantizeRows = [&](Value input, Value mean,
                          std::optional<int64_t> meanBlock, OpFoldResult heads,
                          OpFoldResult length, QuantizedRole valuesRole,
                          QuantizedRole scalesRole) {
    if (!has(valuesRole))
      return;
    SmallVector<Value> inits = {destination({batch, heads, length, d}, f32)};
    if (has(scalesRole))
      inits.push_back(destination({batch, heads, length, scaleBlocks}, f32));
    auto step = QuantizeRowsOp::create(
        b, loc, resultTypes(inits), input, mean, inits[0],
        inits.size() > 1 ? inits[1] : Value(), rowPrecision,
        meanBlock && mean ? b.getI64IntegerAttr(*meanBlock) : IntegerAttr());
    SmallVector<Value> out = outputs(step, inits);
    results[valuesRole] = out[0];
    if (out.size() > 1)
      results[scalesRole] = out[1];
  };
  quantizeRows(q, queryMean, block, hq, nq, QuantizedRole::Query,
               QuantizedRole::QueryScales);
  quantizeRows(k, keyMean, std::nullopt, hkv, nk, QuantizedRole::Key,
               QuantizedRole::KeyScales);

  if (has(QuantizedRole::Value)) {
    SmallVector<Value> inits = {destination({batch, hkv, nk, dv}, f32)};
    if (has(QuantizedRole::ValueScales))
      inits.push_back(destination({batch, hkv, dv}, f32));
    auto step = QuantizeValueOp::create(b, loc, resultTypes(inits), v, inits[0],
                                        inits.size() > 1 ? inits[1] : Value(),
                                        precision.getPv());
    SmallVector<Value> out = outputs(step, inits);
    results[QuantizedRole::Value] = out[0];
    if (out.size() > 1)
      results[QuantizedRole::ValueScales] = out[1];
  }

  SmallVector<Value> bundle;
  for (QuantizedRole role : roles)
    bundle.push_back(results.lookup(role));
  return bundle;
}

/// Whether some head computes with the op's own precision (one outside
/// every head group that has its own).
static bool usesOpPrecision(AttentionOp op) {
  HeadsAttr heads = op.getHeadsAttr();
  int64_t numHeads = op.getNumQueryHeads();
  if (!heads || ShapedType::isDynamic(numHeads))
    return true;
  SmallVector<bool> covered(numHeads, false);
  for (HeadGroupAttr group : heads.getGroups())
    if (group.getPrecision())
      for (int64_t h : group.getHeads())
        covered[h] = true;
  return !llvm::all_of(covered, [](bool c) { return c; });
}

namespace {
/// Splits the quantization pre-steps out of one attn.attention.
struct SplitQuantization : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getQuantized().empty())
      return rewriter.notifyMatchFailure(op, "already has quantized operands");
    // Bundle 0 serves the op's precision, bundle g + 1 head group g's.
    SmallVector<std::pair<int64_t, PrecisionAttr>> precisions;
    if (op.getPrecisionAttr() && usesOpPrecision(op))
      precisions.push_back({0, op.getPrecisionAttr()});
    if (HeadsAttr heads = op.getHeadsAttr())
      for (auto [index, group] : llvm::enumerate(heads.getGroups()))
        if (group.getPrecision())
          precisions.push_back({index + 1, group.getPrecision()});

    BundleBuilder builder(rewriter, op);
    SmallVector<Value> operands;
    SmallVector<int64_t> layout;
    rewriter.setInsertionPoint(op);
    for (auto [bundle, precision] : precisions) {
      SmallVector<QuantizedRole> roles = op.getQuantizedRoles(precision);
      if (roles.empty())
        continue;
      llvm::append_range(operands, builder.build(precision, roles));
      for (QuantizedRole role : roles)
        layout.push_back(kQuantizedBundleStride * bundle +
                         static_cast<int64_t>(role));
    }
    if (operands.empty())
      return rewriter.notifyMatchFailure(op, "no quantization pre-steps");
    rewriter.modifyOpInPlace(op, [&] {
      op.getQuantizedMutable().append(operands);
      op.setQuantizedLayout(layout);
    });
    builder.freeBuffers();
    return success();
  }
};

struct AttnQuantizePass : mlir::attn::impl::AttnQuantizeBase<AttnQuantizePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateQuantizePatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void mlir::attn::populateQuantizePatterns(RewritePatternSet &patterns) {
  patterns.add<SplitQuantization>(patterns.getContext());
}
