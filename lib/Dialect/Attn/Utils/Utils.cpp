//===- Utils.cpp - helpers every attn lowering shares ---------------------===//

#include "attn/Dialect/Attn/Utils/Utils.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;

bool mlir::attn::hasUnnormalizedSegments(MaskAttrInterface mask) {
  bool found = false;
  mask.walk(
      [&](SegmentsMaskAttr segments) { found |= !segments.getRenormalize(); });
  return found;
}

Value mlir::attn::createConstantGlobal(OpBuilder &builder, Location loc,
                                       Operation *symbolTableOp, StringRef name,
                                       DenseElementsAttr values) {
  auto type = MemRefType::get(values.getType().getShape(),
                              values.getType().getElementType());
  // Built detached so that `insert` sees a clash with an earlier global of
  // the same name and renames this one.
  SymbolTable symbolTable(symbolTableOp);
  OpBuilder detached(builder.getContext());
  auto global = memref::GlobalOp::create(
      detached, loc, name, builder.getStringAttr("private"), type, values,
      /*constant=*/true, /*alignment=*/nullptr);
  symbolTable.insert(global, symbolTableOp->getRegion(0).front().begin());
  return memref::GetGlobalOp::create(builder, loc, type, global.getSymName());
}

SmallVector<mlir::attn::HeadSet>
mlir::attn::partitionHeads(AttentionProblemOpInterface op) {
  HeadsAttr heads = op.getHeadsAttr();
  SmallVector<HeadSet> sets;
  SmallVector<bool> inGroup(heads ? op.getNumQueryHeads() : 0, false);
  if (heads) {
    int64_t maskedGroups = 0;
    for (auto [index, group] : llvm::enumerate(heads.getGroups())) {
      if (group.getMask())
        ++maskedGroups;
      if (!group.getMask() && !group.getPrecision())
        continue;
      sets.push_back(
          {group.getMask() ? group.getMask() : op.getMaskOrDense(),
           group.getPrecision() ? group.getPrecision() : op.getPrecisionAttr(),
           SmallVector<int64_t>(group.getHeads()),
           group.getMask() ? maskedGroups : 0,
           group.getPrecision() ? static_cast<int64_t>(index) + 1 : 0});
      for (int64_t h : group.getHeads())
        inGroup[h] = true;
    }
  }
  if (sets.empty())
    return {{op.getMaskOrDense(), op.getPrecisionAttr(), {}}};
  HeadSet rest{op.getMaskOrDense(), op.getPrecisionAttr(), {}};
  for (auto [h, grouped] : llvm::enumerate(inGroup))
    if (!grouped)
      rest.heads.push_back(h);
  if (!rest.heads.empty())
    sets.insert(sets.begin(), rest);
  return sets;
}

mlir::attn::MmaOperands mlir::attn::getMmaOperands(AttentionOp op) {
  MmaOperands operands;
  operands.headDim = getStagedHeadDim(op.getHeadDim());
  operands.valueDim = getStagedHeadDim(op.getValueHeadDim());
  if (PrecisionAttr precision = op.getPrecisionAttr()) {
    if (Type qk = precision.getQk(); qk && qk.getIntOrFloatBitWidth() < 16)
      operands.qkBits = qk.getIntOrFloatBitWidth();
    operands.fp8Value = isa_and_nonnull<Float8E4M3FNType>(precision.getPv());
    operands.nvfp4 = isa_and_nonnull<Float4E2M1FNType>(precision.getQk()) ||
                     isa_and_nonnull<Float4E2M1FNType>(precision.getPv());
    operands.f16Accumulation = precision.getPvAccum() == Accumulation::F16;
  }
  return operands;
}
