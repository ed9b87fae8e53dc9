//===- Schedule.cpp - the tiled schedule both backends share --------------===//

#include "attn/Dialect/Attn/Utils/Schedule.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Tiles
//===----------------------------------------------------------------------===//

Value TileIndexing::constant(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value TileIndexing::numTiles(Value length) {
  if (g.isFlat())
    return arith::CeilDivSIOp::create(b, loc, length, constant(g.shape[0]));
  return constant(g.numBoxes());
}

SmallVector<Value> TileIndexing::boxBegin(Value tile) {
  SmallVector<Value> begin(g.grid.size());
  Value rest = tile;
  for (int d = static_cast<int>(g.grid.size()) - 1; d >= 0; --d) {
    Value along = constant(g.boxesAlong(d));
    Value coordinate = arith::RemUIOp::create(b, loc, rest, along);
    rest = arith::DivUIOp::create(b, loc, rest, along);
    begin[d] = arith::MulIOp::create(b, loc, coordinate, constant(g.shape[d]));
  }
  return begin;
}

std::pair<Value, Value> TileIndexing::tokenOf(Value tile, Value position,
                                              Value length) {
  auto lt = [&](Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
  };
  if (g.isFlat()) {
    Value token = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, tile, constant(g.shape[0])),
        position);
    return {token, lt(token, length)};
  }
  SmallVector<Value> begin = boxBegin(tile);
  Value token = constant(0);
  Value valid = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value rest = position;
  SmallVector<Value> coordinates(g.grid.size());
  for (int d = static_cast<int>(g.grid.size()) - 1; d >= 0; --d) {
    coordinates[d] = arith::AddIOp::create(
        b, loc, begin[d],
        arith::RemUIOp::create(b, loc, rest, constant(g.shape[d])));
    rest = arith::DivUIOp::create(b, loc, rest, constant(g.shape[d]));
  }
  for (size_t d = 0; d < g.grid.size(); ++d) {
    valid = arith::AndIOp::create(b, loc, valid,
                                  lt(coordinates[d], constant(g.grid[d])));
    token = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, token, constant(g.grid[d])),
        coordinates[d]);
  }
  return {token, valid};
}

std::pair<Value, Value> TileIndexing::hull(Value tile, Value length) {
  if (g.isFlat()) {
    Value first = arith::MulIOp::create(b, loc, tile, constant(g.shape[0]));
    Value end = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, first, constant(g.shape[0])),
        length);
    return {first, end};
  }
  SmallVector<Value> begin = boxBegin(tile);
  Value first = constant(0), last = constant(0);
  for (size_t d = 0; d < g.grid.size(); ++d) {
    Value lastCoordinate = arith::MinSIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, begin[d], constant(g.shape[d] - 1)),
        constant(g.grid[d] - 1));
    first = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, first, constant(g.grid[d])),
        begin[d]);
    last = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, last, constant(g.grid[d])),
        lastCoordinate);
  }
  return {first, arith::AddIOp::create(b, loc, last, constant(1))};
}

Value TileIndexing::isWhole(Value tile, Value length) {
  auto sle = [&](Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, x, y);
  };
  if (g.isFlat())
    return sle(arith::MulIOp::create(
                   b, loc, arith::AddIOp::create(b, loc, tile, constant(1)),
                   constant(g.shape[0])),
               length);
  SmallVector<Value> begin = boxBegin(tile);
  Value whole = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (size_t d = 0; d < g.grid.size(); ++d)
    whole = arith::AndIOp::create(
        b, loc, whole,
        sle(arith::AddIOp::create(b, loc, begin[d], constant(g.shape[d])),
            constant(g.grid[d])));
  return whole;
}

TileIndexing::ClippedTile TileIndexing::clip(Value tile, Value length) {
  ClippedTile clipped;
  if (g.isFlat()) {
    clipped.first = arith::MulIOp::create(b, loc, tile, constant(g.shape[0]));
    clipped.end = arith::MinSIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, clipped.first, constant(g.shape[0])),
        length);
    clipped.count = arith::SubIOp::create(b, loc, clipped.end, clipped.first);
    return clipped;
  }
  clipped.begin = boxBegin(tile);
  unsigned rank = g.grid.size();
  for (unsigned d = 0; d < rank; ++d)
    clipped.extent.push_back(arith::MinSIOp::create(
        b, loc, constant(g.shape[d]),
        arith::SubIOp::create(b, loc, constant(g.grid[d]), clipped.begin[d])));
  Value first = constant(0), last = constant(0);
  clipped.count = constant(1);
  for (unsigned d = 0; d < rank; ++d) {
    Value extent = constant(g.grid[d]);
    first = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, first, extent),
        clipped.begin[d]);
    Value lastCoordinate = arith::SubIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, clipped.begin[d], clipped.extent[d]),
        constant(1));
    last = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, last, extent), lastCoordinate);
    clipped.count =
        arith::MulIOp::create(b, loc, clipped.count, clipped.extent[d]);
  }
  clipped.first = first;
  clipped.end = arith::AddIOp::create(b, loc, last, constant(1));
  return clipped;
}

Value TileIndexing::tokenOf(const ClippedTile &tile, Value position) {
  if (tile.begin.empty())
    return arith::AddIOp::create(b, loc, tile.first, position);
  unsigned rank = g.grid.size();
  SmallVector<Value> coordinates(rank);
  Value rest = position;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
    coordinates[d] = arith::AddIOp::create(
        b, loc, tile.begin[d],
        arith::RemUIOp::create(b, loc, rest, tile.extent[d]));
    rest = arith::DivUIOp::create(b, loc, rest, tile.extent[d]);
  }
  Value token = constant(0);
  for (unsigned d = 0; d < rank; ++d)
    token = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, token, constant(g.grid[d])),
        coordinates[d]);
  return token;
}

//===----------------------------------------------------------------------===//
// Heads
//===----------------------------------------------------------------------===//

HeadFactors mlir::attn::getHeadFactors(AttentionProblemOpInterface op,
                                       int64_t head) {
  HeadFactors factors;
  HeadsAttr heads = op.getHeadsAttr();
  if (!heads)
    return factors;
  if (heads.getWeights())
    factors.weight = heads.getWeights().asArrayRef()[head];
  if (SoftPagAttr softpag = heads.getSoftpag();
      softpag && llvm::is_contained(softpag.getHeads(), head))
    factors.softpagU = softpag.getU().convertToDouble();
  return factors;
}

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

Value mlir::attn::emitOutputElement(OpBuilder &b, Location loc,
                                    const OutputTerms &terms) {
  auto f32 = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  };
  auto mul = [&](Value x, Value y) {
    return arith::MulFOp::create(b, loc, x, y);
  };
  Value o = mul(terms.accumulated, terms.inverseSum);
  // FP8 P.V: undo V's per-channel scale and what P's factor left.
  if (terms.valueScale)
    o = mul(o, mul(terms.valueScale, f32(1.0 / terms.probabilityScale)));
  if (terms.softpagU)
    o = arith::AddFOp::create(
        b, loc,
        mul(arith::SubFOp::create(b, loc, f32(1), terms.softpagU), o),
        mul(terms.softpagU, terms.identity));
  return mul(o, terms.factor);
}
