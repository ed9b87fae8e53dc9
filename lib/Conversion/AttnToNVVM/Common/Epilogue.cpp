//===- Epilogue.cpp - O and the LSE from the accumulators -----------------===//

#include "Epilogue.h"

#include "NvvmIntrinsics.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;
namespace nb = mlir::attn::nvvm_builders;

void Epilogue::emit(const Fragment &output, ValueRange rowState) {
  AttentionOp op = ctx.op;
  Type outType = cast<MemRefType>(op.getOutput().getType()).getElementType();
  int64_t run = layout.columnsPerThread;
  bool softpag = op.getHeadsAttr() && op.getHeadsAttr().getSoftpag();
  for (int64_t row = 0; row < layout.rowSlots; ++row) {
    Value m = softmax.rowMax(rowState, row);
    Value l = softmax.sumOverRow(softmax.rowSum(rowState, row));
    Value empty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, l, f32(0));
    if (ctx.maskAfterSoftmax)
      empty = arith::OrIOp::create(
          b, loc, empty,
          arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OEQ,
              softmax.sumOverRow(softmax.rowKept(rowState, row)), f32(0)));
    Value inverse =
        select(empty, f32(0), arith::DivFOp::create(b, loc, f32(1), l));
    Value token = ctx.rowTokens[row];
    auto ifValid = scf::IfOp::create(b, loc, ctx.rowValid[row], false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(ifValid.thenBlock());
    // O = w * g * ((1 - u) attention + u V) (SEMANTICS.md section 4).
    Value factor = ctx.headWeight;
    if (op.getGates()) {
      Type gateType =
          cast<MemRefType>(op.getGates().getType()).getElementType();
      Value offset = elementOffset({{ctx.batch, "gates_stride_b"},
                                    {token, "gates_stride_q"},
                                    {ctx.head, "gates_stride_h"}});
      factor = mulF(factor,
                    toF32(loadGlobal(gateType, globalAt(param("gates"), offset,
                                                        byteWidth(gateType)))));
    }
    Value outRow = elementOffset({{ctx.batch, "out_stride_b"},
                                  {ctx.head, "out_stride_h"},
                                  {token, "out_stride_n"}});
    Value valueRowOffset;
    if (softpag)
      valueRowOffset = elementOffset({{ctx.batch, "v_stride_b"},
                                      {ctx.kvHead, "v_stride_h"},
                                      {token, "v_stride_n"}});
    for (int64_t chunk = 0; chunk < output.numChunks; ++chunk) {
      Value column = add(idx(layout.column(chunk, 0)), engine.columnOffset());
      // A padded Dv's channels are not the output's (a thread's run of
      // columns lies within one 8-channel group, so all or none are).
      OpBuilder::InsertionGuard chunkInsertion(b);
      if (ctx.sourceValueDim < ctx.valueDim) {
        auto ifChannel = scf::IfOp::create(
            b, loc, lt(column, idx(ctx.sourceValueDim)), false);
        b.setInsertionPointToStart(ifChannel.thenBlock());
      }
      SmallVector<Value> values;
      SmallVector<Value> identity;
      // FP8 P.V: undo V's per-channel scale.
      Value valueScales;
      if (ctx.precision.fp8Value()) {
        Value element = i64Add(scratchRow(ctx.batch, op.getNumKeyValueHeads(),
                                          ctx.kvHead, idx(ctx.valueDim)),
                               toI64(column));
        valueScales = loadGlobal(VectorType::get({run}, b.getF32Type()),
                                 globalAt(param("v_scale"), element, 4));
      }
      if (softpag) {
        Value ptr =
            globalAt(param("v"), i64Add(valueRowOffset, toI64(column)),
                     byteWidth(ctx.elementType));
        Value v = loadGlobal(VectorType::get({run}, ctx.elementType), ptr);
        for (int64_t c = 0; c < run; ++c)
          identity.push_back(toF32(vector::ExtractOp::create(b, loc, v, c)));
      }
      for (int64_t c = 0; c < run; ++c) {
        OutputTerms terms;
        terms.accumulated = output.at(layout, chunk, row, c);
        terms.inverseSum = inverse;
        if (valueScales) {
          terms.valueScale = vector::ExtractOp::create(b, loc, valueScales, c);
          // l carries P's factor too (OnlineSoftmax::probabilityScale).
          terms.probabilityScale = 1;
        }
        if (softpag) {
          terms.softpagU = ctx.headSoftpag;
          terms.identity = identity[c];
        }
        terms.factor = factor;
        values.push_back(fromF32(emitOutputElement(b, loc, terms), outType));
      }
      Value vec = vector::FromElementsOp::create(
          b, loc, VectorType::get({run}, outType), values);
      LLVM::StoreOp::create(
          b, loc, vec,
          globalAt(param("out"), i64Add(outRow, toI64(column)),
                   byteWidth(outType)));
    }
    if (op.getLseOutput()) {
      auto ifLeader = scf::IfOp::create(b, loc, engine.isRowLeader(), false);
      OpBuilder::InsertionGuard lseInsertion(b);
      b.setInsertionPointToStart(ifLeader.thenBlock());
      // ln(l / probabilityScale): l carries P's factor.
      Value log2Sum = nb::log2Approx(b, loc, l);
      if (double factor = softmax.probabilityScale(); factor != 1)
        log2Sum = addF(log2Sum, f32(-std::log2(factor)));
      Value lse = addF(mulF(m, f32(ctx.scale)), mulF(log2Sum, f32(M_LN2)));
      if (ctx.precision.smoothK) {
        // smooth_k shifted every score of the row by -scale q.mean(K).
        Value element =
            i64Add(scratchRow(ctx.batch, op.getNumQueryHeads(), ctx.head,
                              ctx.seqQ),
                   toI64(token));
        lse = addF(lse, loadGlobal(b.getF32Type(),
                                   globalAt(param("lse_correction"), element,
                                            4)));
      }
      lse = select(empty, negInf(), lse);
      Value offset = elementOffset({{ctx.batch, "lse_stride_b"},
                                    {ctx.head, "lse_stride_h"},
                                    {token, "lse_stride_n"}});
      LLVM::StoreOp::create(b, loc, lse, globalAt(param("lse"), offset, 4));
    }
  }
}
