//===- HostLaunch.cpp - the host side of the GPU lowering -----------------===//

#include "HostLaunch.h"

#include "attn/manifest_schema.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;


namespace {
/// Kernel arguments of one op, formed on the host from memref metadata.
class HostArguments {
public:
  HostArguments(AttentionProblemOpInterface op, OpBuilder &b)
      : op(op), b(b), loc(op.getLoc()) {}

  /// Scratch buffers are device allocations the kernels' `name` reads.
  void addScratch(StringRef name, Value buffer) { scratch[name] = buffer; }

  FailureOr<Value> get(const KernelParam &param) {
    StringRef name = param.name;
    // A TMA tensor map is encoded per launch by the launcher from the
    // tensor's address, sizes and strides (the manifest describes it); the
    // host IR passes a null placeholder and is not an executable launch of
    // such kernels.
    if (param.tensorMap)
      return Value(LLVM::ZeroOp::create(b, loc, param.type));
    if (Value buffer = scratch.lookup(name))
      return pointer(buffer);
    if (name == ATTN_MANIFEST_ARG_BATCH)
      return i32(dim(op.getQuery(), 0));
    if (name == ATTN_MANIFEST_ARG_SEQ_Q)
      return i32(dim(op.getQuery(), 2));
    if (name == ATTN_MANIFEST_ARG_SEQ_K)
      return i32(dim(op.getKey(), 2));
    auto [tensor, stride] = name.split(ATTN_MANIFEST_STRIDE_INFIX);
    Value operand = operandNamed(stride.empty() ? name : tensor);
    if (!operand)
      return op->emitOpError()
             << "no host value for kernel parameter '" << name << "'";
    if (stride.empty())
      return pointer(operand);
    return strideOf(operand, tensor, stride);
  }

  /// The grid dimension (or a size): the product of its factors.
  FailureOr<Value> gridDim(ArrayRef<GridFactor> factors) {
    Value product = arith::ConstantIndexOp::create(b, loc, 1);
    for (const GridFactor &f : factors) {
      Value term = arith::ConstantIndexOp::create(b, loc, f.constant);
      if (!f.arg.empty()) {
        FailureOr<Value> arg = get(KernelParam{f.arg, b.getI32Type()});
        if (failed(arg))
          return failure();
        Value value =
            arith::IndexCastOp::create(b, loc, b.getIndexType(), *arg);
        term = arith::CeilDivSIOp::create(
            b, loc, value, arith::ConstantIndexOp::create(b, loc, f.divisor));
      }
      product = arith::MulIOp::create(b, loc, product, term);
    }
    return product;
  }

private:
  /// The operand a parameter names: the problem's operands, then the
  /// forward's outputs or the backward's operands and gradients.
  Value operandNamed(StringRef name) {
    Value problemOperand =
        llvm::StringSwitch<Value>(name)
            .Case(ATTN_MANIFEST_ARG_Q, op.getQuery())
            .Case(ATTN_MANIFEST_ARG_K, op.getKey())
            .Case(ATTN_MANIFEST_ARG_V, op.getValue())
            .Case(ATTN_MANIFEST_ARG_EXPLICIT_MASK, op.getExplicitMask())
            .Case(ATTN_MANIFEST_ARG_BIAS, op.getBias())
            .Case(ATTN_MANIFEST_ARG_SEGMENT_OFFSETS, op.getSegmentOffsets())
            .Case(ATTN_MANIFEST_ARG_GATES, op.getGates())
            .Default(Value());
    if (problemOperand)
      return problemOperand;
    if (auto forward = dyn_cast<AttentionOp>(op.getOperation()))
      return llvm::StringSwitch<Value>(name)
          .Case(ATTN_MANIFEST_ARG_OUT, forward.getOutput())
          .Case(ATTN_MANIFEST_ARG_LSE, forward.getLseOutput())
          .Default(Value());
    auto backward = cast<AttentionGradOp>(op.getOperation());
    return llvm::StringSwitch<Value>(name)
        .Case(ATTN_MANIFEST_ARG_OUT, backward.getOutput())
        .Case(ATTN_MANIFEST_ARG_LSE, backward.getLse())
        .Case(ATTN_MANIFEST_ARG_OUT_GRAD, backward.getOutputGrad())
        .Case(ATTN_MANIFEST_ARG_LSE_GRAD, backward.getLseGrad())
        .Case(ATTN_MANIFEST_ARG_Q_GRAD, backward.getQueryGrad())
        .Case(ATTN_MANIFEST_ARG_K_GRAD, backward.getKeyGrad())
        .Case(ATTN_MANIFEST_ARG_V_GRAD, backward.getValueGrad())
        .Case(ATTN_MANIFEST_ARG_BIAS_GRAD, backward.getBiasGrad())
        .Case(ATTN_MANIFEST_ARG_GATES_GRAD, backward.getGatesGrad())
        .Default(Value());
  }
  Value dim(Value memref, int64_t d) {
    return memref::DimOp::create(b, loc, memref, d);
  }
  Value i32(Value index) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  }
  Value pointer(Value memref) {
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    Value aligned =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    int64_t bytes = llvm::divideCeil(
        cast<MemRefType>(memref.getType()).getElementTypeBitWidth(), 8);
    Value address = arith::AddIOp::create(
        b, loc, aligned,
        arith::MulIOp::create(b, loc, metadata.getOffset(),
                              arith::ConstantIndexOp::create(b, loc, bytes)));
    Value asI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
    return LLVM::IntToPtrOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext(), 1), asI64);
  }
  /// Kernel strides by role: b, h, n (tokens), q (query rows). Operands of
  /// rank 2 ([Nq, Nk] masks) broadcast over b and h.
  FailureOr<Value> strideOf(Value memref, StringRef tensor, StringRef role) {
    auto type = cast<MemRefType>(memref.getType());
    int64_t rank = type.getRank();
    int64_t d = -1;
    bool pairOperand = tensor == ATTN_MANIFEST_ARG_EXPLICIT_MASK ||
                       tensor == ATTN_MANIFEST_ARG_BIAS ||
                       tensor == ATTN_MANIFEST_ARG_BIAS_GRAD;
    if (tensor == ATTN_MANIFEST_ARG_GATES ||
        tensor == ATTN_MANIFEST_ARG_GATES_GRAD) // [B, Nq, Hq]
      d = llvm::StringSwitch<int64_t>(role).Case("b", 0).Case("q", 1).Case("h", 2);
    else if (pairOperand) // [.., Nq, Nk]
      d = llvm::StringSwitch<int64_t>(role)
              .Case("b", rank - 4)
              .Case("h", rank - 3)
              .Case("q", rank - 2);
    else // [B, H, N, ...]
      d = llvm::StringSwitch<int64_t>(role).Case("b", 0).Case("h", 1).Case("n", 2);
    Value zero = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
    if (d < 0)
      return zero;
    auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    Value stride = metadata.getStrides()[d];
    // A broadcast dimension of size 1 reads the same element.
    Value isOne = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq, metadata.getSizes()[d],
        arith::ConstantIndexOp::create(b, loc, 1));
    Value value = arith::IndexCastOp::create(b, loc, b.getI64Type(), stride);
    if (pairOperand && role != "q")
      value = arith::SelectOp::create(b, loc, isOne, zero, value);
    return value;
  }

  AttentionProblemOpInterface op;
  OpBuilder &b;
  Location loc;
  llvm::StringMap<Value> scratch;
};
} // namespace

LogicalResult mlir::attn::detail::emitHostLaunches(
    OpBuilder &b, AttentionProblemOpInterface op, gpu::GPUModuleOp kernels,
    ArrayRef<KernelLaunch> launches, ArrayRef<ScratchBuffer> scratch) {
  Location loc = op.getLoc();
  HostArguments args(op, b);
  SmallVector<Value> buffers;
  for (const ScratchBuffer &buffer : scratch) {
    FailureOr<Value> bytes = args.gridDim(buffer.bytes);
    if (failed(bytes))
      return failure();
    Value allocation =
        gpu::AllocOp::create(
            b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
            /*asyncToken=*/Type(), /*asyncDependencies=*/ValueRange(),
            ValueRange{*bytes}, /*symbolOperands=*/ValueRange(),
            /*hostShared=*/UnitAttr())
            .getMemref();
    args.addScratch(buffer.name, allocation);
    buffers.push_back(allocation);
  }
  for (const KernelLaunch &launch : launches) {
    SmallVector<Value> operands;
    for (const KernelParam &p : launch.params) {
      FailureOr<Value> value = args.get(p);
      if (failed(value))
        return failure();
      operands.push_back(*value);
    }
    auto func = kernels.lookupSymbol<gpu::GPUFuncOp>(launch.name);
    if (!func)
      return op->emitOpError()
             << "attn-lower-to-gpu: no kernel '" << launch.name << "' in @"
             << kernels.getSymName();
    SmallVector<Value, 3> dims;
    for (const auto &factors : launch.grid) {
      FailureOr<Value> dim = args.gridDim(factors);
      if (failed(dim))
        return failure();
      dims.push_back(*dim);
    }
    gpu::KernelDim3 grid{dims[0], dims[1], dims[2]};
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    gpu::KernelDim3 block{
        arith::ConstantIndexOp::create(b, loc, launch.blockSize), one, one};
    Value shared = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                                launch.sharedBytes);
    gpu::LaunchFuncOp::create(b, loc, func, grid, block, shared, operands);
  }
  for (Value buffer : buffers)
    gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(),
                           buffer);
  return success();
}
