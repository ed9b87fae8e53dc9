//===- KernelBuilderBase.h - one gpu.func and its launch --------*- C++ -*-===//
//
// Private to AttnToNVVM: what every kernel builder of attn-lower-to-gpu
// shares (the attention kernel, the pre-kernels, the zero-heads kernel, the
// backward's kernels): the builder, the signature by parameter name, the
// gpu.func and its grid over (x, heads, batch). `OpT` is the op the
// kernels are built for (attn.attention or attn.attention_grad).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H

#include "EmitterBase.h"

namespace mlir {
namespace attn {
namespace detail {

/// The module-level symbol of dynamic shared memory.
inline constexpr StringLiteral kSharedMemorySymbol = "attn_shared_memory";

/// The builder and signature a kernel builder owns; a base class so that
/// they exist before EmitterBase refers to them.
struct KernelBuilderStorage {
  explicit KernelBuilderStorage(MLIRContext *context) : builder(context) {}
  OpBuilder builder;
  KernelSignature kernelSignature;
};

template <typename OpT>
class KernelBuilderBaseFor : private KernelBuilderStorage,
                             protected EmitterBase {
public:
  KernelBuilderBaseFor(OpT op, gpu::GPUModuleOp module)
      : KernelBuilderStorage(op.getContext()),
        EmitterBase(builder, op.getLoc(), kernelSignature), op(op),
        module(module), launch(kernelSignature.launch),
        func(kernelSignature.func) {}

protected:
  void addParam(StringRef name, Type type) { kernelSignature.add(name, type); }
  /// Adds a pointer parameter and its strides when `operand` exists.
  void addTensorParams(StringRef name, Value operand,
                       ArrayRef<StringRef> strides) {
    if (!operand)
      return;
    addParam(name, globalPtrType());
    for (StringRef stride : strides)
      addParam((name + "_stride_" + stride).str(), b.getI64Type());
  }
  /// Creates the gpu.func with the parameters added so far.
  void createFunction(StringRef name, int64_t blockSize) {
    launch.name = name.str();
    launch.blockSize = blockSize;
    SmallVector<Type> types;
    for (const KernelParam &p : launch.params)
      types.push_back(p.type);
    b.setInsertionPointToEnd(module.getBody());
    func = gpu::GPUFuncOp::create(b, loc, name,
                                  b.getFunctionType(types, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    func.setKnownBlockSize(
        ArrayRef<int32_t>{static_cast<int32_t>(blockSize), 1, 1});
    b.setInsertionPointToStart(&func.getBody().front());
  }
  void finishFunction() { gpu::ReturnOp::create(b, loc); }

  /// Declares the module's dynamic shared memory (one symbol every kernel
  /// of the module shares, aligned to the largest `alignment` any asks
  /// for); call before createFunction.
  void declareDynamicSharedMemory(int64_t alignment) {
    if (auto global =
            module.template lookupSymbol<LLVM::GlobalOp>(kSharedMemorySymbol)) {
      if (global.getAlignment().value_or(0) < uint64_t(alignment))
        global.setAlignment(alignment);
      return;
    }
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(module.getBody());
    LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External,
                           kSharedMemorySymbol, Attribute(), alignment,
                           /*addrSpace=*/3);
  }
  /// The base of dynamic shared memory, in the function body.
  Value dynamicSharedMemoryBase() {
    return LLVM::AddressOfOp::create(
        b, loc,
        module.template lookupSymbol<LLVM::GlobalOp>(kSharedMemorySymbol));
  }

  /// Every kernel's grid: x as `x`, y over `heads` heads, z over the batch;
  /// and this block's coordinates in it.
  struct BlockCoordinates {
    Value x, headSlot, batch;
  };
  BlockCoordinates launchOverHeads(GridFactor x, int64_t heads) {
    launch.grid[0] = {x};
    launch.grid[1] = {GridFactor{heads, "", 1}};
    launch.grid[2] = {GridFactor{1, "batch", 1}};
    return {gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
            gpu::BlockIdOp::create(b, loc, gpu::Dimension::y),
            gpu::BlockIdOp::create(b, loc, gpu::Dimension::z)};
  }

  OpT op;
  gpu::GPUModuleOp module;
  KernelLaunch &launch;
  gpu::GPUFuncOp &func;
};

using KernelBuilderBase = KernelBuilderBaseFor<AttentionOp>;

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELBUILDERBASE_H
