//===- AuxKernels.cpp - small kernels beside the attention kernel ---------===//
//
// The kernel writing O = 0 and LSE = -inf for heads of weight 0, which
// launch no attention block.
//
//===----------------------------------------------------------------------===//

#include "AuxKernels.h"

#include "KernelBuilderBase.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

namespace {
class ZeroHeadsKernelBuilder : KernelBuilderBase {
public:
  using KernelBuilderBase::KernelBuilderBaseFor;
  KernelLaunch build(StringRef name, ArrayRef<int64_t> heads) {
    constexpr int64_t kThreads = 128;
    addTensorParams("out", op.getOutput(), {"b", "h", "n"});
    addTensorParams("lse", op.getLseOutput(), {"b", "h", "n"});
    addParam("batch", b.getI32Type());
    addParam("seq_q", b.getI32Type());
    createFunction(name, kThreads);
    BlockCoordinates block = launchOverHeads(GridFactor{1, "seq_q", kThreads},
                                             static_cast<int64_t>(heads.size()));

    // One thread per query row: O = 0, LSE = -inf.
    Value row = add(mul(block.x, idx(kThreads)),
                    gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    SmallVector<Value> headValues;
    for (int64_t h : heads)
      headValues.push_back(idx(h));
    Value head = selectBySlot(block.headSlot, headValues);
    Value batch = block.batch;
    auto inRange = scf::IfOp::create(b, loc, lt(row, toIndex(param("seq_q"))),
                                     false);
    b.setInsertionPointToStart(inRange.thenBlock());
    Type outType = cast<MemRefType>(op.getOutput().getType()).getElementType();
    Value outRow = elementOffset(
        {{batch, "out_stride_b"}, {head, "out_stride_h"}, {row, "out_stride_n"}});
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(outType));
    for (int64_t c = 0; c < op.getValueHeadDim(); ++c)
      LLVM::StoreOp::create(
          b, loc, zero,
          globalAt(param("out"),
                   i64Add(outRow, arith::ConstantIntOp::create(
                                      b, loc, b.getI64Type(), c)),
                   byteWidth(outType)));
    if (op.getLseOutput()) {
      Value offset = elementOffset(
          {{batch, "lse_stride_b"}, {head, "lse_stride_h"}, {row, "lse_stride_n"}});
      LLVM::StoreOp::create(b, loc, negInf(),
                            globalAt(param("lse"), offset, 4));
    }
    b.setInsertionPointAfter(inRange);
    finishFunction();
    return launch;
  }
};
} // namespace

KernelLaunch mlir::attn::detail::emitZeroHeadsKernel(AttentionOp op,
                                                     gpu::GPUModuleOp module,
                                                     StringRef name,
                                                     ArrayRef<int64_t> heads) {
  return ZeroHeadsKernelBuilder(op, module).build(name, heads);
}
