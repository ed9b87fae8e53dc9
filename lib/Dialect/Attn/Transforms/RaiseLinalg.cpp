//===- RaiseLinalg.cpp - attention written in linalg to attn.attention ----===//
//
// Finds softmax(scale * Q K^T + bias, masks) V written with linalg ops (as
// front ends lowering from PyTorch or JAX produce it) and replaces it by one
// attn.attention. Index comparisons that mask scores become mask attributes
// (causal, sliding window); mask and bias tensors become the op's explicit
// mask and bias. What is matched, and what the raised op computes
// differently (rounding of P, rows with no kept key), is in the pass
// description (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNRAISELINALG
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

namespace {

//===----------------------------------------------------------------------===//
// Small matchers
//===----------------------------------------------------------------------===//

/// The float a constant (scalar or splat) holds.
std::optional<double> constantFloat(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  if (auto splat = dyn_cast<SplatElementsAttr>(attr))
    attr = splat.getSplatValue<Attribute>();
  if (auto floatAttr = dyn_cast<FloatAttr>(attr))
    return floatAttr.getValueAsDouble();
  return std::nullopt;
}

/// Whether `value` is -inf or the type's lowest finite value (the two
/// fills front ends mask scores with).
bool isMaskedScore(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return false;
  if (auto splat = dyn_cast<SplatElementsAttr>(attr))
    attr = splat.getSplatValue<Attribute>();
  auto floatAttr = dyn_cast<FloatAttr>(attr);
  if (!floatAttr)
    return false;
  APFloat v = floatAttr.getValue();
  if (v.isInfinity() && v.isNegative())
    return true;
  return v.isNegative() && v.isLargest();
}

/// Whether `init` is a tensor filled with `expected` (linalg.fill of a
/// constant, or a splat constant).
bool isFilledWith(Value init, double expected) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>())
    init = fill.getInputs().front();
  std::optional<double> v = constantFloat(init);
  return v && *v == expected;
}

/// Looks through casts between float types (precision changes of the
/// scores are not modelled: the raised op keeps scores in f32).
Value skipFloatCasts(Value value) {
  while (Operation *op = value.getDefiningOp()) {
    if (!isa<arith::ExtFOp, arith::TruncFOp>(op))
      break;
    value = op->getOperand(0);
  }
  return value;
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

/// C[batch..., m, n] = sum_r A[batch..., m, r] * B, B being [batch..., n, r]
/// (`rhsReductionInner`) or [batch..., r, n], with a zero-filled init.
struct Contraction {
  linalg::LinalgOp op;
  Value lhs, rhs;
  bool rhsReductionInner = false;
  int64_t rank = 0; // of C
};

FailureOr<Contraction> matchContraction(Operation *candidate) {
  auto op = dyn_cast_or_null<linalg::LinalgOp>(candidate);
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return failure();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t rank = maps[2].getNumResults();
  if (rank < 2 || rank > 4 || op.getNumLoops() != rank + 1 ||
      op.getNumReductionLoops() != 1)
    return failure();
  auto dimOf = [](AffineMap map, unsigned i) -> std::optional<unsigned> {
    if (auto dim = dyn_cast<AffineDimExpr>(map.getResult(i)))
      return dim.getPosition();
    return std::nullopt;
  };
  SmallVector<unsigned> outDims;
  for (unsigned i = 0; i < rank; ++i) {
    std::optional<unsigned> d = dimOf(maps[2], i);
    if (!d)
      return failure();
    outDims.push_back(*d);
  }
  unsigned reduction = 0;
  while (llvm::is_contained(outDims, reduction))
    ++reduction;
  unsigned m = outDims[rank - 2], n = outDims[rank - 1];
  auto hasDims = [&](AffineMap map, ArrayRef<unsigned> expected) {
    if (map.getNumResults() != expected.size())
      return false;
    for (auto [i, d] : llvm::enumerate(expected))
      if (dimOf(map, i) != d)
        return false;
    return true;
  };
  SmallVector<unsigned> batch(outDims.begin(), outDims.end() - 2);
  auto with = [&](unsigned a, unsigned b) {
    SmallVector<unsigned> dims = batch;
    dims.push_back(a);
    dims.push_back(b);
    return dims;
  };
  Contraction c{op, op.getDpsInputOperand(0)->get(),
                op.getDpsInputOperand(1)->get(), false, rank};
  if (!hasDims(maps[0], with(m, reduction)))
    return failure();
  if (hasDims(maps[1], with(n, reduction)))
    c.rhsReductionInner = true;
  else if (!hasDims(maps[1], with(reduction, n)))
    return failure();
  if (!isFilledWith(op.getDpsInitOperand(0)->get(), 0.0))
    return failure();
  return c;
}

/// The operand of a linalg.transpose that swaps the last two dimensions of
/// `value` (and keeps the others), or null.
Value transposedFrom(Value value) {
  auto transpose = value.getDefiningOp<linalg::TransposeOp>();
  if (!transpose)
    return {};
  ArrayRef<int64_t> perm = transpose.getPermutation();
  int64_t rank = perm.size();
  for (int64_t i = 0; i < rank - 2; ++i)
    if (perm[i] != i)
      return {};
  if (perm[rank - 2] != rank - 1 || perm[rank - 1] != rank - 2)
    return {};
  return transpose.getInput();
}

//===----------------------------------------------------------------------===//
// The steps between the scores and the softmax
//===----------------------------------------------------------------------===//

/// Kept keys as an interval of t = j - i (key index minus query index).
struct OffsetInterval {
  int64_t lo = std::numeric_limits<int64_t>::min();
  int64_t hi = std::numeric_limits<int64_t>::max();
  bool constrained() const {
    return lo != std::numeric_limits<int64_t>::min() ||
           hi != std::numeric_limits<int64_t>::max();
  }
};

/// What the elementwise ops between Q K^T and the softmax do, in order.
struct ScoreSteps {
  double scale = 1.0;
  /// A tensor added to the scores, and the loops (of the scores' rank) its
  /// dimensions follow.
  Value bias, explicitMask;
  AffineMap biasMap, maskMap;
  /// The explicit mask keeps where it is false (select(m, -inf, s)).
  bool maskKeepsFalse = false;
  OffsetInterval kept;
  bool biasAdded = false;
};

/// The predicate p' with (-x) p 0 iff x p' 0.
arith::CmpIPredicate reversed(arith::CmpIPredicate predicate) {
  switch (predicate) {
  case arith::CmpIPredicate::slt:
    return arith::CmpIPredicate::sgt;
  case arith::CmpIPredicate::sle:
    return arith::CmpIPredicate::sge;
  case arith::CmpIPredicate::sgt:
    return arith::CmpIPredicate::slt;
  case arith::CmpIPredicate::sge:
    return arith::CmpIPredicate::sle;
  default:
    return predicate; // eq, ne; unsigned ones are refused after
  }
}

/// An affine expression a * i + b * j + c of the query index i and the key
/// index j (the last two loops of the score generic).
struct IndexExpr {
  int64_t i = 0, j = 0, c = 0;
};

class ScoreChainMatcher {
public:
  ScoreChainMatcher(ScoreSteps &steps, int64_t rank)
      : steps(steps), rank(rank) {}

  /// Folds one elementwise generic that reads the scores (as its input
  /// `scoreInput`) into the steps.
  LogicalResult matchGeneric(linalg::GenericOp generic, unsigned scoreInput) {
    current = generic;
    this->scoreInput = scoreInput;
    auto yield = cast<linalg::YieldOp>(generic.getBody()->getTerminator());
    return matchValue(yield.getOperand(0));
  }

private:
  BlockArgument inputArg(Value value) {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != current.getBody() ||
        arg.getArgNumber() >= current.getNumDpsInputs())
      return {};
    return arg;
  }

  LogicalResult matchValue(Value value) {
    value = skipFloatCasts(value);
    if (BlockArgument arg = inputArg(value))
      return success(arg.getArgNumber() == scoreInput);
    Operation *op = value.getDefiningOp();
    if (!op || op->getBlock() != current.getBody())
      return failure();
    if (auto mul = dyn_cast<arith::MulFOp>(op)) {
      for (int side = 0; side < 2; ++side)
        if (std::optional<double> c = constantFloat(mul->getOperand(side))) {
          if (*c <= 0 || failed(matchValue(mul->getOperand(1 - side))))
            return failure();
          // attn adds the bias to the scaled scores.
          if (steps.biasAdded)
            return failure();
          steps.scale *= *c;
          return success();
        }
      return failure();
    }
    if (auto div = dyn_cast<arith::DivFOp>(op)) {
      std::optional<double> c = constantFloat(div.getRhs());
      if (!c || *c <= 0 || failed(matchValue(div.getLhs())) || steps.biasAdded)
        return failure();
      steps.scale /= *c;
      return success();
    }
    if (auto add = dyn_cast<arith::AddFOp>(op)) {
      for (int side = 0; side < 2; ++side) {
        BlockArgument arg = inputArg(skipFloatCasts(add->getOperand(side)));
        if (!arg || arg.getArgNumber() == scoreInput)
          continue;
        if (steps.bias || failed(matchValue(add->getOperand(1 - side))))
          return failure();
        steps.bias = current.getDpsInputOperand(arg.getArgNumber())->get();
        steps.biasMap = current.getMatchingIndexingMap(
            current.getDpsInputOperand(arg.getArgNumber()));
        steps.biasAdded = true;
        return success();
      }
      return failure();
    }
    if (auto select = dyn_cast<arith::SelectOp>(op)) {
      bool keepWhenTrue;
      Value scores;
      if (isMaskedScore(select.getFalseValue())) {
        keepWhenTrue = true;
        scores = select.getTrueValue();
      } else if (isMaskedScore(select.getTrueValue())) {
        keepWhenTrue = false;
        scores = select.getFalseValue();
      } else {
        return failure();
      }
      if (failed(matchValue(scores)))
        return failure();
      return matchCondition(select.getCondition(), keepWhenTrue);
    }
    return failure();
  }

  /// A condition on the scores' positions: a boolean input (the explicit
  /// mask) or comparisons of the query and key indices.
  LogicalResult matchCondition(Value condition, bool keepWhenTrue) {
    if (BlockArgument arg = inputArg(condition)) {
      if (steps.explicitMask)
        return failure();
      OpOperand *operand = current.getDpsInputOperand(arg.getArgNumber());
      steps.explicitMask = operand->get();
      steps.maskMap = current.getMatchingIndexingMap(operand);
      steps.maskKeepsFalse = !keepWhenTrue;
      return success();
    }
    // Kept where every comparison holds (select(c, s, -inf) with c an and
    // of comparisons), or where none does (select(c, -inf, s), c an or).
    Operation *op = condition.getDefiningOp();
    if (!op || op->getBlock() != current.getBody())
      return failure();
    if ((keepWhenTrue && isa<arith::AndIOp>(op)) ||
        (!keepWhenTrue && isa<arith::OrIOp>(op)))
      return success(
          succeeded(matchCondition(op->getOperand(0), keepWhenTrue)) &&
          succeeded(matchCondition(op->getOperand(1), keepWhenTrue)));
    auto cmp = dyn_cast<arith::CmpIOp>(op);
    if (!cmp)
      return failure();
    std::optional<IndexExpr> lhs = indexExpr(cmp.getLhs());
    std::optional<IndexExpr> rhs = indexExpr(cmp.getRhs());
    if (!lhs || !rhs)
      return failure();
    // lhs - rhs = sign * (j - i) + c.
    IndexExpr diff{lhs->i - rhs->i, lhs->j - rhs->j, lhs->c - rhs->c};
    if (diff.j == 0 || diff.i != -diff.j || (diff.j != 1 && diff.j != -1))
      return failure();
    arith::CmpIPredicate predicate = cmp.getPredicate();
    if (!keepWhenTrue)
      predicate = arith::invertPredicate(predicate);
    // With sign = -1, (-t + c) pred 0 is (t - c) reversed(pred) 0.
    int64_t c = diff.c;
    if (diff.j == -1) {
      predicate = reversed(predicate);
      c = -c;
    }
    // Now t + c pred 0, i.e. t pred -c.
    int64_t bound = -c;
    OffsetInterval &kept = steps.kept;
    switch (predicate) {
    case arith::CmpIPredicate::sle:
      kept.hi = std::min(kept.hi, bound);
      return success();
    case arith::CmpIPredicate::slt:
      kept.hi = std::min(kept.hi, bound - 1);
      return success();
    case arith::CmpIPredicate::sge:
      kept.lo = std::max(kept.lo, bound);
      return success();
    case arith::CmpIPredicate::sgt:
      kept.lo = std::max(kept.lo, bound + 1);
      return success();
    case arith::CmpIPredicate::eq:
      kept.lo = std::max(kept.lo, bound);
      kept.hi = std::min(kept.hi, bound);
      return success();
    default:
      return failure();
    }
  }

  /// a * i + b * j + c from linalg.index of the last two loops, constants,
  /// index casts, additions and subtractions.
  std::optional<IndexExpr> indexExpr(Value value) {
    if (auto cast = value.getDefiningOp<arith::IndexCastOp>())
      return indexExpr(cast.getIn());
    if (auto cast = value.getDefiningOp<arith::IndexCastUIOp>())
      return indexExpr(cast.getIn());
    IntegerAttr constant;
    if (matchPattern(value, m_Constant(&constant)))
      return IndexExpr{0, 0, constant.getInt()};
    Operation *op = value.getDefiningOp();
    if (!op || op->getBlock() != current.getBody())
      return std::nullopt;
    if (auto index = dyn_cast<linalg::IndexOp>(op)) {
      uint64_t dim = index.getDim();
      if (dim == static_cast<uint64_t>(rank - 2))
        return IndexExpr{1, 0, 0};
      if (dim == static_cast<uint64_t>(rank - 1))
        return IndexExpr{0, 1, 0};
      return std::nullopt;
    }
    if (isa<arith::AddIOp, arith::SubIOp>(op)) {
      std::optional<IndexExpr> a = indexExpr(op->getOperand(0));
      std::optional<IndexExpr> b = indexExpr(op->getOperand(1));
      if (!a || !b)
        return std::nullopt;
      int64_t sign = isa<arith::AddIOp>(op) ? 1 : -1;
      return IndexExpr{a->i + sign * b->i, a->j + sign * b->j,
                       a->c + sign * b->c};
    }
    return std::nullopt;
  }

  ScoreSteps &steps;
  int64_t rank;
  linalg::GenericOp current;
  unsigned scoreInput = 0;
};

/// An elementwise generic over the scores' shape that reads `scores` with
/// the identity map (once): the input position, or none.
std::optional<unsigned> elementwiseScoreInput(linalg::GenericOp generic,
                                              Value scores) {
  if (!generic.hasPureTensorSemantics() || generic.getNumDpsInits() != 1 ||
      generic.getNumReductionLoops() != 0 ||
      !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0))
           .isIdentity())
    return std::nullopt;
  std::optional<unsigned> found;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    if (input->get() != scores)
      continue;
    if (found || !generic.getMatchingIndexingMap(input).isIdentity())
      return std::nullopt;
    found = input->getOperandNumber();
  }
  return found;
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// The scalar a linalg.fill writes into `init`, or `init` itself.
Value fillValue(Value init) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>())
    return fill.getInputs().front();
  return init;
}

/// A reduction generic over the last of `rank` loops of `input` (identity
/// map) into a rank - 1 init that `isIdentity` accepts, whose body combines
/// the element and the accumulator with one of `Combiners`.
template <typename... Combiners>
linalg::GenericOp matchRowReduction(Operation *user, Value input, int64_t rank,
                                    function_ref<bool(Value)> isIdentity) {
  auto generic = dyn_cast<linalg::GenericOp>(user);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 ||
      generic.getDpsInputOperand(0)->get() != input ||
      generic.getNumLoops() != static_cast<unsigned>(rank) ||
      generic.getNumReductionLoops() != 1 ||
      generic.getIteratorTypesArray().back() !=
          utils::IteratorType::reduction ||
      !generic.getMatchingIndexingMap(generic.getDpsInputOperand(0))
           .isIdentity())
    return {};
  AffineMap initMap =
      generic.getMatchingIndexingMap(generic.getDpsInitOperand(0));
  if (initMap != AffineMap::getMultiDimIdentityMap(rank, generic.getContext())
                     .dropResult(rank - 1) ||
      !isIdentity(fillValue(generic.getDpsInitOperand(0)->get())))
    return {};
  Block *body = generic.getBody();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *combine = yield.getOperand(0).getDefiningOp();
  if (!combine || !isa<Combiners...>(combine) || combine->getNumOperands() != 2)
    return {};
  Value element = body->getArgument(0), accumulator = body->getArgument(1);
  if (!((combine->getOperand(0) == element &&
         combine->getOperand(1) == accumulator) ||
        (combine->getOperand(0) == accumulator &&
         combine->getOperand(1) == element)))
    return {};
  return generic;
}

/// An elementwise generic of (x, row) over `rank` loops, x read with the
/// identity map and row without the last loop, whose body is
/// `combine(x, row)` (after `x`'s own op for exp(x - row)).
linalg::GenericOp matchRowBroadcast(Operation *user, Value x, Value row,
                                    int64_t rank) {
  auto generic = dyn_cast<linalg::GenericOp>(user);
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 || generic.getNumReductionLoops() != 0 ||
      generic.getNumLoops() != static_cast<unsigned>(rank) ||
      generic.getDpsInputOperand(0)->get() != x ||
      generic.getDpsInputOperand(1)->get() != row)
    return {};
  MLIRContext *ctx = generic.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  if (generic.getMatchingIndexingMap(generic.getDpsInputOperand(0)) !=
          identity ||
      generic.getMatchingIndexingMap(generic.getDpsInputOperand(1)) !=
          identity.dropResult(rank - 1) ||
      generic.getMatchingIndexingMap(generic.getDpsInitOperand(0)) != identity)
    return {};
  return generic;
}

/// The softmax over the last dimension of `scores`: linalg.softmax, or the
/// generic form max, exp(x - max), sum, divide. Returns its result.
Value matchSoftmax(Value scores, int64_t rank) {
  if (scores.hasOneUse()) {
    auto softmax = dyn_cast<linalg::SoftmaxOp>(*scores.getUsers().begin());
    if (softmax && softmax.getDimension() == static_cast<uint64_t>(rank - 1) &&
        softmax.getInput() == scores)
      return softmax.getResult()[0];
    return {};
  }
  if (!llvm::hasNItems(scores.getUses(), 2))
    return {};
  linalg::GenericOp max, exp;
  for (Operation *user : scores.getUsers())
    if (!max)
      max = matchRowReduction<arith::MaximumFOp, arith::MaxNumFOp>(
          user, scores, rank, isMaskedScore);
  if (!max || !max->getResult(0).hasOneUse())
    return {};
  for (Operation *user : scores.getUsers())
    if (user != max)
      exp = matchRowBroadcast(user, scores, max->getResult(0), rank);
  if (!exp)
    return {};
  {
    Block *body = exp.getBody();
    auto yield = cast<linalg::YieldOp>(body->getTerminator());
    auto expOp = yield.getOperand(0).getDefiningOp<math::ExpOp>();
    auto sub = expOp ? expOp.getOperand().getDefiningOp<arith::SubFOp>()
                     : arith::SubFOp();
    if (!sub || sub.getLhs() != body->getArgument(0) ||
        sub.getRhs() != body->getArgument(1))
      return {};
  }
  Value e = exp->getResult(0);
  if (!llvm::hasNItems(e.getUses(), 2))
    return {};
  linalg::GenericOp sum, div;
  for (Operation *user : e.getUsers())
    if (!sum)
      sum = matchRowReduction<arith::AddFOp>(user, e, rank, [](Value v) {
        std::optional<double> c = constantFloat(v);
        return c && *c == 0.0;
      });
  if (!sum || !sum->getResult(0).hasOneUse())
    return {};
  for (Operation *user : e.getUsers())
    if (user != sum)
      div = matchRowBroadcast(user, e, sum->getResult(0), rank);
  if (!div)
    return {};
  Block *body = div.getBody();
  auto divide = cast<linalg::YieldOp>(body->getTerminator())
                    .getOperand(0)
                    .getDefiningOp<arith::DivFOp>();
  if (!divide || divide.getLhs() != body->getArgument(0) ||
      divide.getRhs() != body->getArgument(1))
    return {};
  return div->getResult(0);
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

/// How rank 2 or 3 [batch..., N, X] folds into rank 4 [B, H, N, X].
SmallVector<ReassociationIndices> rank4Groups(int64_t rank) {
  return rank == 3 ? SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}}
                   : SmallVector<ReassociationIndices>{{0, 1, 2}, {3}};
}

RankedTensorType rank4Type(RankedTensorType type);

/// [batch..., N, X] as the op's rank-4 [B, H, N, X]: rank 2 gets [1, 1],
/// rank 3's batch becomes the heads.
Value toRank4(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  if (rank == 4)
    return value;
  return tensor::ExpandShapeOp::create(b, loc, rank4Type(type), value,
                                       rank4Groups(rank));
}

/// The type toRank4 gives `type`.
RankedTensorType rank4Type(RankedTensorType type) {
  SmallVector<int64_t> shape(4 - type.getRank(), 1);
  llvm::append_range(shape, type.getShape());
  return RankedTensorType::get(shape, type.getElementType());
}

/// A bias or mask read with `map` (over the scores' loops): as the op's
/// [Nq, Nk] or rank-4 operand, or null when its broadcast is not one the op
/// takes.
Value asPairOperand(OpBuilder &b, Location loc, Value value, AffineMap map,
                    int64_t rank) {
  MLIRContext *ctx = map.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  if (map == identity)
    return rank == 2 ? value : toRank4(b, loc, value);
  if (rank > 2 && map == identity.getMinorSubMap(2))
    return value;
  return {};
}

struct RaiseAttention : public RewritePattern {
  RaiseAttention(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}

  LogicalResult matchAndRewrite(Operation *candidate,
                                PatternRewriter &rewriter) const override {
    // O = P V, P the softmax of the steps applied to S = Q K^T.
    FailureOr<Contraction> pv = matchContraction(candidate);
    if (failed(pv))
      return failure();
    int64_t rank = pv->rank;
    Value value = pv->rhsReductionInner ? transposedFrom(pv->rhs) : pv->rhs;
    if (!value || !pv->lhs.hasOneUse())
      return rewriter.notifyMatchFailure(candidate, "not P V");

    // Walk back from P through the softmax and the score steps to S.
    Value probabilities = pv->lhs;
    // The elementwise generics between S and the softmax, nearest the
    // softmax first, with the input each reads the scores from.
    SmallVector<std::pair<linalg::GenericOp, unsigned>> chain;
    FailureOr<Contraction> qk = failure();
    Value scores;
    {
      // Candidates for the softmax input: walk up single-use elementwise
      // generics from P's softmax input until a contraction appears.
      Operation *producer = probabilities.getDefiningOp();
      Value softmaxInput;
      if (auto softmax = dyn_cast_or_null<linalg::SoftmaxOp>(producer))
        softmaxInput = softmax.getInput();
      else if (auto div = dyn_cast_or_null<linalg::GenericOp>(producer);
               div && div.getNumDpsInputs() == 2)
        if (auto exp = div.getDpsInputOperand(0)
                           ->get()
                           .getDefiningOp<linalg::GenericOp>();
            exp && exp.getNumDpsInputs() == 2)
          softmaxInput = exp.getDpsInputOperand(0)->get();
      if (!softmaxInput || matchSoftmax(softmaxInput, rank) != probabilities)
        return rewriter.notifyMatchFailure(candidate, "no softmax of P");
      scores = softmaxInput;
      while (!succeeded(qk = matchContraction(scores.getDefiningOp()))) {
        auto generic = scores.getDefiningOp<linalg::GenericOp>();
        if (!generic)
          return rewriter.notifyMatchFailure(candidate, "no Q K^T");
        // The score input: the one read with the identity map whose
        // producer continues the chain (the others are bias / masks).
        std::optional<unsigned> input;
        for (OpOperand *operand : generic.getDpsInputOperands()) {
          Value v = operand->get();
          if (!generic.getMatchingIndexingMap(operand).isIdentity() ||
              cast<ShapedType>(v.getType()).getShape() !=
                  cast<ShapedType>(scores.getType()).getShape() ||
              !isa<FloatType>(getElementTypeOrSelf(v.getType())))
            continue;
          if (succeeded(matchContraction(v.getDefiningOp())) ||
              v.getDefiningOp<linalg::GenericOp>()) {
            input = operand->getOperandNumber();
            break;
          }
        }
        if (!input || elementwiseScoreInput(
                          generic, generic->getOperand(*input)) != input)
          return rewriter.notifyMatchFailure(candidate, "no Q K^T");
        chain.push_back({generic, *input});
        scores = generic->getOperand(*input);
        if (!scores.hasOneUse())
          return rewriter.notifyMatchFailure(candidate, "scores reused");
      }
    }
    // (Every step's input had one use, checked on the way; the softmax
    // input's with the softmax.)
    if (qk->rank != rank)
      return rewriter.notifyMatchFailure(candidate, "ranks differ");
    Value query = qk->lhs;
    Value key = qk->rhsReductionInner ? qk->rhs : transposedFrom(qk->rhs);
    if (!key)
      return rewriter.notifyMatchFailure(candidate, "K^T not from K");

    // The steps, innermost (nearest S) first.
    ScoreSteps steps;
    for (auto [generic, position] : llvm::reverse(chain))
      if (failed(
              ScoreChainMatcher(steps, rank).matchGeneric(generic, position)))
        return rewriter.notifyMatchFailure(candidate, "unknown score step");

    // The mask attribute of the index comparisons.
    MaskAttrInterface mask;
    MLIRContext *ctx = rewriter.getContext();
    if (steps.kept.constrained()) {
      auto qType = cast<RankedTensorType>(query.getType());
      auto kType = cast<RankedTensorType>(key.getType());
      int64_t nq = qType.getDimSize(rank - 2), nk = kType.getDimSize(rank - 2);
      constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
      constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
      OffsetInterval kept = steps.kept;
      // Bottom-right alignment where the offset is Nk - Nq.
      auto alignment = CausalAlignment::TopLeft;
      int64_t delta = 0;
      if (!ShapedType::isDynamic(nq) && !ShapedType::isDynamic(nk) &&
          nk != nq && kept.hi == nk - nq) {
        alignment = CausalAlignment::BottomRight;
        delta = nk - nq;
      }
      int64_t hi = kept.hi == kMax ? kMax : kept.hi - delta;
      int64_t lo = kept.lo == kMin ? kMin : kept.lo - delta;
      if (hi == 0 && lo == kMin) {
        mask = CausalMaskAttr::get(ctx, alignment);
      } else {
        // Unbounded sides as windows wider than the sequences.
        bool staticLengths =
            !ShapedType::isDynamic(nq) && !ShapedType::isDynamic(nk);
        if ((lo == kMin || hi == kMax) && !staticLengths)
          return rewriter.notifyMatchFailure(candidate, "unbounded window");
        int64_t left = lo == kMin ? nq + nk : -lo;
        int64_t right = hi == kMax ? nq + nk : hi;
        if (left < 0 || right < 0)
          return rewriter.notifyMatchFailure(candidate, "window misses j = i");
        mask = SlidingWindowMaskAttr::get(ctx, left, right, alignment);
      }
    }

    Location loc = candidate->getLoc();
    Value explicitMask, bias;
    if (steps.explicitMask) {
      explicitMask =
          asPairOperand(rewriter, loc, steps.explicitMask, steps.maskMap, rank);
      if (!explicitMask)
        return rewriter.notifyMatchFailure(candidate, "mask broadcast");
      if (steps.maskKeepsFalse) {
        // keep = not m.
        auto type = cast<RankedTensorType>(explicitMask.getType());
        Value ones = arith::ConstantOp::create(
            rewriter, loc, DenseElementsAttr::get(type, true));
        explicitMask = arith::XOrIOp::create(rewriter, loc, explicitMask, ones);
      }
    }
    if (steps.bias) {
      bias = asPairOperand(rewriter, loc, steps.bias, steps.biasMap, rank);
      if (!bias)
        return rewriter.notifyMatchFailure(candidate, "bias broadcast");
    }

    auto outType = cast<RankedTensorType>(candidate->getResult(0).getType());
    Value q4 = toRank4(rewriter, loc, query);
    Value k4 = toRank4(rewriter, loc, key);
    Value v4 = toRank4(rewriter, loc, value);
    RankedTensorType out4Type = rank4Type(outType);
    Value init = tensor::EmptyOp::create(rewriter, loc, out4Type.getShape(),
                                         out4Type.getElementType());
    auto attention = AttentionOp::create(
        rewriter, loc, TypeRange{out4Type}, q4, k4, v4, explicitMask, bias,
        /*segment_offsets=*/Value(), /*gates=*/Value(), ValueRange(), init,
        /*lse_output=*/Value(), mask, PrecisionAttr(), HeadsAttr(),
        rewriter.getF64FloatAttr(steps.scale), TilingAttr(),
        DenseIntElementsAttr(), DenseI64ArrayAttr());
    // Whatever the op's verifier refuses (types, shapes) stays linalg.
    {
      ScopedDiagnosticHandler quiet(ctx,
                                    [](Diagnostic &) { return success(); });
      if (failed(verify(attention))) {
        // Undo what was built (the pattern leaves the IR as it was).
        SmallVector<Operation *> created = {attention, init.getDefiningOp()};
        for (Value operand : {v4, k4, q4, bias, explicitMask})
          if (operand && operand.getDefiningOp() &&
              isa<tensor::ExpandShapeOp, arith::XOrIOp, arith::ConstantOp>(
                  operand.getDefiningOp()) &&
              !llvm::is_contained(created, operand.getDefiningOp()))
            created.push_back(operand.getDefiningOp());
        if (auto negated = dyn_cast_or_null<arith::XOrIOp>(
                explicitMask ? explicitMask.getDefiningOp() : nullptr))
          created.push_back(negated.getRhs().getDefiningOp());
        for (Operation *op : created)
          if (op->use_empty())
            rewriter.eraseOp(op);
        return rewriter.notifyMatchFailure(candidate, "not an attn.attention");
      }
    }
    Value result = attention.getResult(0);
    if (rank != 4)
      result = tensor::CollapseShapeOp::create(rewriter, loc, outType, result,
                                               rank4Groups(rank));
    rewriter.replaceOp(candidate, result);
    return success();
  }
};

struct AttnRaiseLinalgPass
    : public attn::impl::AttnRaiseLinalgBase<AttnRaiseLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
