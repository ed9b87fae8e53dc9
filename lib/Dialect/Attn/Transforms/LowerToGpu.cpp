//===- LowerToGpu.cpp - attn.attention to tensor-core GPU kernels ---------===//
//
// Replaces every attn.attention on memrefs by gpu.launch_func calls of
// kernels emitted into the gpu.module @attn_kernels (GpuKernelEmitter.cpp),
// and records how to launch them in the module attribute `attn.kernels`,
// which attn-export-artifacts turns into the launcher's manifest.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "GpuKernelEmitter.h"
#include "TransformUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringSwitch.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNLOWERTOGPU
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

static constexpr StringLiteral kKernelModuleName = "attn_kernels";

/// How the GPU kernels realize `precision` on inputs of `inputType`, or a
/// diagnostic for what they do not implement.
static FailureOr<KernelPrecision>
getKernelPrecision(AttentionOp op, PrecisionAttr precision, Type inputType,
                   StringRef target) {
  KernelPrecision result;
  result.pvType = inputType;
  if (!precision)
    return result;
  auto typeName = [](Type type) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << type;
    return text;
  };
  auto unsupported = [&](const Twine &what) {
    return op.emitOpError() << "attn-lower-to-gpu: precision " << precision
                            << ": " << what
                            << " is not supported by the GPU kernels yet; "
                               "the CPU pipeline emulates it";
  };
  Type qk = precision.getQk();
  if (qk && qk.isSignlessInteger(8)) {
    result.qkBits = 8;
  } else if (qk && qk.isSignlessInteger(4)) {
    result.qkBits = 4;
  } else if (qk && qk != inputType) {
    return unsupported("qk = " + typeName(qk));
  }
  if (result.quantizedQK()) {
    result.granularity = *precision.getQkGranularity();
    result.granularitySize = precision.getQkGranularitySize();
    result.smoothK = precision.getSmoothK();
  } else if (precision.getSmoothK()) {
    // Exact without quantization: the softmax cancels the shift.
    if (op.getLseOutput())
      return unsupported("smooth_k without integer Q.K but with an LSE");
  }
  if (precision.getSmoothQ()) {
    if (!result.quantizedQK())
      return unsupported("smooth_q without integer Q.K");
    // Token granularity makes each query its own block: dS would be the
    // whole [Nq, Nk] score matrix.
    if (op.getSmoothQueryBlockSize(precision) < 16)
      return unsupported("smooth_q with query blocks of " +
                         Twine(op.getSmoothQueryBlockSize(precision)) +
                         " tokens (token granularity)");
    result.smoothQ = true;
    result.smoothQBlock = op.getSmoothQueryBlockSize(precision);
  }
  Type pv = precision.getPv();
  if (pv && isa<Float8E4M3FNType>(pv) && target != "sm_89")
    return op.emitOpError()
           << "attn-lower-to-gpu: precision " << precision
           << ": FP8 P.V (pv = f8E4M3FN) needs target=sm_89 (mma.sync "
              "e4m3), got target=" << target;
  if (pv && !pv.isF16() && !pv.isBF16() && !isa<Float8E4M3FNType>(pv))
    return unsupported("pv = " + typeName(pv));
  if (pv) {
    result.pvType = pv;
    result.valueConverted = pv != inputType;
  }
  // (The verifier ties pv_accum = f16 to an f16 P.V.)
  result.accumulation = precision.getPvAccum();
  return result;
}

/// Head dims the swizzled 16-byte-chunk layout serves: 32, or multiples of
/// 64 up to 256.
static bool isSupportedHeadDim(int64_t d) {
  return d == 32 || (d % 64 == 0 && d <= 256);
}

/// What the GPU kernels need of `op`, and how they realize its precision.
static FailureOr<KernelPrecision> checkSupported(AttentionOp op,
                                                 StringRef target) {
  if (op.hasTensorSemantics())
    return op.emitOpError()
           << "attn-lower-to-gpu needs memref operands; bufferize first";
  Type inputType = cast<MemRefType>(op.getQuery().getType()).getElementType();
  if (!inputType.isF16() && !inputType.isBF16())
    return op.emitOpError() << "attn-lower-to-gpu: Q, K and V of type "
                            << inputType << " are not supported; the "
                            << "tensor-core kernel takes f16 or bf16";
  for (Value v : {op.getKey(), op.getValue()})
    if (cast<MemRefType>(v.getType()).getElementType() != inputType)
      return op.emitOpError()
             << "attn-lower-to-gpu: K and V must have Q's element type "
             << inputType;
  Type outType = cast<MemRefType>(op.getOutput().getType()).getElementType();
  if (!outType.isF16() && !outType.isBF16() && !outType.isF32())
    return op.emitOpError() << "attn-lower-to-gpu: output element type "
                            << outType << " is not f16, bf16 or f32";
  for (auto [what, d] : {std::pair<StringRef, int64_t>{"head dim D", op.getHeadDim()},
                         {"value head dim Dv", op.getValueHeadDim()}}) {
    if (ShapedType::isDynamic(d) || !isSupportedHeadDim(d))
      return op.emitOpError()
             << "attn-lower-to-gpu: " << what << " = "
             << (ShapedType::isDynamic(d) ? std::string("?")
                                          : std::to_string(d))
             << " is not supported; it must be static and 32, 64, 128, 192 "
                "or 256";
  }
  if (ShapedType::isDynamic(op.getNumQueryHeads()) ||
      ShapedType::isDynamic(op.getNumKeyValueHeads()))
    return op.emitOpError()
           << "attn-lower-to-gpu needs static head counts (blockIdx.y maps "
              "to heads at compile time)";
  if (HeadsAttr heads = op.getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getPrecision() &&
          group.getPrecision() != op.getPrecisionAttr())
        return op.emitOpError()
               << "attn-lower-to-gpu: head group precision "
               << group.getPrecision()
               << " differs from the op's; the GPU kernels serve one "
                  "precision per op (the CPU pipeline emulates per-group "
                  "precisions)";
  std::optional<double> scale = op.getEffectiveScale();
  if (!scale || !(*scale > 0))
    return op.emitOpError() << "attn-lower-to-gpu needs a positive scale "
                               "(the online softmax keeps raw q.k maxima)";
  return getKernelPrecision(op, op.getPrecisionAttr(), inputType, target);
}

/// The tile shapes of `op` for the kernel: its tiling (attn-plan), else the
/// target's default flat tiles.
static FailureOr<KernelShape> getKernelShape(AttentionOp op, int64_t stages) {
  KernelShape shape;
  shape.stages = stages;
  if (TilingAttr tiling = op.getTilingAttr()) {
    shape.queryShape.assign(tiling.getQuery().begin(), tiling.getQuery().end());
    shape.keyShape.assign(tiling.getKey().begin(), tiling.getKey().end());
    if (tiling.getRank() > 1)
      shape.grid = op.getTokenGrid();
  } else {
    shape.queryShape = {op.getHeadDim() > 128 ? 64 : 128};
    shape.keyShape = {64};
  }
  int64_t queryTokens = 1, keyTokens = 1;
  for (int64_t s : shape.queryShape)
    queryTokens *= s;
  for (int64_t s : shape.keyShape)
    keyTokens *= s;
  if (queryTokens % 16 != 0 || queryTokens > 256)
    return op.emitOpError()
           << "attn-lower-to-gpu: a query tile of " << queryTokens
           << " tokens is not supported; it must be a multiple of 16 (one "
              "warp per 16 rows) of at most 256";
  if (keyTokens % 16 != 0 || keyTokens > 128)
    return op.emitOpError()
           << "attn-lower-to-gpu: a key tile of " << keyTokens
           << " tokens is not supported; it must be a multiple of 16 of at "
              "most 128";
  return shape;
}

/// The heads of each kernel (partitionHeads: one per mask, as the
/// precision is the op's), without the heads of weight 0, which compute
/// nothing (the zero-heads kernel writes their O and LSE).
static void splitHeads(AttentionOp op, SmallVectorImpl<KernelHeads> &sets,
                       SmallVectorImpl<int64_t> &zeroHeads) {
  HeadsAttr headsAttr = op.getHeadsAttr();
  auto weightOf = [&](int64_t h) {
    if (headsAttr && headsAttr.getWeights())
      return headsAttr.getWeights().asArrayRef()[h];
    return 1.0;
  };
  for (const HeadSet &set : partitionHeads(op)) {
    KernelHeads kernel{set.mask, {}, set.classTable};
    auto add = [&](int64_t h) {
      if (weightOf(h) == 0)
        zeroHeads.push_back(h);
      else
        kernel.heads.push_back(h);
    };
    if (set.heads.empty())
      for (int64_t h = 0; h < op.getNumQueryHeads(); ++h)
        add(h);
    else
      llvm::for_each(set.heads, add);
    if (!kernel.heads.empty())
      sets.push_back(kernel);
  }
  llvm::sort(zeroHeads);
}

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

namespace {
/// Kernel arguments of one op, formed on the host from memref metadata.
class HostArguments {
public:
  HostArguments(AttentionOp op, OpBuilder &b) : op(op), b(b), loc(op.getLoc()) {}

  /// Scratch buffers are device allocations the kernels' `name` reads.
  void addScratch(StringRef name, Value buffer) { scratch[name] = buffer; }

  FailureOr<Value> get(const KernelParam &param) {
    StringRef name = param.name;
    if (Value buffer = scratch.lookup(name))
      return pointer(buffer);
    if (name == "batch")
      return i32(dim(op.getQuery(), 0));
    if (name == "seq_q")
      return i32(dim(op.getQuery(), 2));
    if (name == "seq_k")
      return i32(dim(op.getKey(), 2));
    auto [tensor, stride] = name.split("_stride_");
    Value operand = operandNamed(stride.empty() ? name : tensor);
    if (!operand)
      return op.emitOpError() << "no host value for kernel parameter '"
                              << name << "'";
    if (stride.empty())
      return pointer(operand);
    return strideOf(operand, tensor, stride);
  }

  /// The grid dimension: the product of its factors.
  Value gridDim(ArrayRef<GridFactor> factors) {
    Value product = arith::ConstantIndexOp::create(b, loc, 1);
    for (const GridFactor &f : factors) {
      Value term = arith::ConstantIndexOp::create(b, loc, f.constant);
      if (!f.arg.empty()) {
        Value value = arith::IndexCastOp::create(
            b, loc, b.getIndexType(), *get(KernelParam{f.arg, b.getI32Type()}));
        term = arith::CeilDivSIOp::create(
            b, loc, value, arith::ConstantIndexOp::create(b, loc, f.divisor));
      }
      product = arith::MulIOp::create(b, loc, product, term);
    }
    return product;
  }

private:
  Value operandNamed(StringRef name) {
    return llvm::StringSwitch<Value>(name)
        .Case("q", op.getQuery())
        .Case("k", op.getKey())
        .Case("v", op.getValue())
        .Case("out", op.getOutput())
        .Case("lse", op.getLseOutput())
        .Case("explicit_mask", op.getExplicitMask())
        .Case("bias", op.getBias())
        .Case("segment_offsets", op.getSegmentOffsets())
        .Case("gates", op.getGates())
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
    if (tensor == "gates") // [B, Nq, Hq]
      d = llvm::StringSwitch<int64_t>(role).Case("b", 0).Case("q", 1).Case("h", 2);
    else if (tensor == "explicit_mask" || tensor == "bias") // [.., Nq, Nk]
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
    if ((tensor == "explicit_mask" || tensor == "bias") && role != "q")
      value = arith::SelectOp::create(b, loc, isOne, zero, value);
    return value;
  }

  AttentionOp op;
  OpBuilder &b;
  Location loc;
  llvm::StringMap<Value> scratch;
};
} // namespace

/// A product of factors as `attn.kernels` records it.
static Attribute factorsToAttribute(Builder &b, ArrayRef<GridFactor> product) {
  SmallVector<Attribute> factors;
  for (const GridFactor &f : product) {
    SmallVector<NamedAttribute> fields;
    fields.push_back(b.getNamedAttr("constant", b.getI64IntegerAttr(f.constant)));
    if (!f.arg.empty()) {
      fields.push_back(b.getNamedAttr("arg", b.getStringAttr(f.arg)));
      fields.push_back(
          b.getNamedAttr("ceil_div", b.getI64IntegerAttr(f.divisor)));
    }
    factors.push_back(b.getDictionaryAttr(fields));
  }
  return b.getArrayAttr(factors);
}

static Attribute launchToAttribute(Builder &b, const KernelLaunch &launch) {
  SmallVector<Attribute> grid;
  for (const auto &dim : launch.grid)
    grid.push_back(factorsToAttribute(b, dim));
  SmallVector<Attribute> params;
  for (const KernelParam &p : launch.params) {
    std::string type = isa<LLVM::LLVMPointerType>(p.type) ? "ptr"
                       : p.type.isInteger(64)               ? "i64"
                       : p.type.isInteger(32)               ? "i32"
                                                            : "f32";
    params.push_back(b.getArrayAttr(
        {b.getStringAttr(p.name), b.getStringAttr(type)}));
  }
  return b.getDictionaryAttr({
      b.getNamedAttr("name", b.getStringAttr(launch.name)),
      b.getNamedAttr("block", b.getI64IntegerAttr(launch.blockSize)),
      b.getNamedAttr("shared_bytes", b.getI64IntegerAttr(launch.sharedBytes)),
      b.getNamedAttr("grid", b.getArrayAttr(grid)),
      b.getNamedAttr("params", b.getArrayAttr(params)),
  });
}

namespace {
struct AttnLowerToGpuPass
    : mlir::attn::impl::AttnLowerToGpuBase<AttnLowerToGpuPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!llvm::is_contained({"sm_80", "sm_86", "sm_89"}, target)) {
      module.emitError() << "attn-lower-to-gpu: unknown target '" << target
                         << "', expected sm_80, sm_86 or sm_89";
      return signalPassFailure();
    }
    if (stages < 2 || stages > 4) {
      module.emitError() << "attn-lower-to-gpu: stages = "
                         << static_cast<int64_t>(stages)
                         << " is not supported; expected 2, 3 or 4";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    if (ops.empty())
      return;
    SmallVector<KernelPrecision> precisions;
    for (AttentionOp op : ops) {
      FailureOr<KernelPrecision> precision = checkSupported(op, target);
      if (failed(precision))
        return signalPassFailure();
      precisions.push_back(*precision);
    }

    OpBuilder b(module.getBodyRegion());
    auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
    if (!kernels) {
      b.setInsertionPointToEnd(module.getBody());
      kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModuleName);
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    SmallVector<Attribute> manifest, scratchManifest;
    if (auto existing = module->getAttrOfType<ArrayAttr>("attn.kernels"))
      manifest.assign(existing.begin(), existing.end());
    if (auto existing = module->getAttrOfType<ArrayAttr>("attn.scratch"))
      scratchManifest.assign(existing.begin(), existing.end());

    for (size_t i = 0; i < ops.size(); ++i) {
      AttentionOp op = ops[i];
      const KernelPrecision &precision = precisions[i];
      FailureOr<KernelShape> shape = getKernelShape(op, stages);
      if (failed(shape))
        return signalPassFailure();
      SmallVector<KernelHeads, 2> sets;
      SmallVector<int64_t> zeroHeads;
      splitHeads(op, sets, zeroHeads);
      SmallVector<KernelLaunch, 2> launches;
      auto uniqueName = [&](StringRef base) {
        std::string name = base.str();
        for (int i = 0; kernels.lookupSymbol(name); ++i)
          name = (base + "_" + Twine(i)).str();
        return name;
      };
      // The pre-kernels run first; their buffers live for this op.
      SmallVector<ScratchBuffer> scratch;
      emitQuantizationKernels(op, kernels, uniqueName("attn_quantize"),
                              *shape, precision, launches, scratch);
      if (!zeroHeads.empty())
        launches.push_back(emitZeroHeadsKernel(
            op, kernels, uniqueName("attn_zero_heads"), zeroHeads));
      for (const KernelHeads &heads : sets) {
        FailureOr<KernelLaunch> launch = emitAttentionKernel(
            op, kernels, uniqueName("attn_fwd"), heads, *shape, precision);
        if (failed(launch))
          return signalPassFailure();
        launches.push_back(*launch);
      }

      // The op becomes one launch per kernel, in manifest order.
      b.setInsertionPoint(op);
      HostArguments args(op, b);
      SmallVector<Value> buffers;
      for (const ScratchBuffer &buffer : scratch) {
        for (Attribute existing : scratchManifest)
          if (cast<DictionaryAttr>(existing).getAs<StringAttr>("name") ==
              buffer.name) {
            op.emitOpError()
                << "attn-lower-to-gpu: a second quantized attention op in "
                   "one module would share scratch buffer '"
                << buffer.name << "'; compile such ops in separate modules";
            return signalPassFailure();
          }
        Value bytes = args.gridDim(buffer.bytes);
        Value allocation = gpu::AllocOp::create(
            b, op.getLoc(),
            MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
            /*asyncToken=*/Type(), /*asyncDependencies=*/ValueRange(),
            ValueRange{bytes}, /*symbolOperands=*/ValueRange(),
            /*hostShared=*/UnitAttr())
                                .getMemref();
        args.addScratch(buffer.name, allocation);
        buffers.push_back(allocation);
        scratchManifest.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("name", b.getStringAttr(buffer.name)),
             b.getNamedAttr("bytes", factorsToAttribute(b, buffer.bytes))}));
      }
      for (const KernelLaunch &launch : launches) {
        SmallVector<Value> operands;
        for (const KernelParam &p : launch.params) {
          FailureOr<Value> value = args.get(p);
          if (failed(value))
            return signalPassFailure();
          operands.push_back(*value);
        }
        auto func = kernels.lookupSymbol<gpu::GPUFuncOp>(launch.name);
        gpu::KernelDim3 grid{args.gridDim(launch.grid[0]),
                             args.gridDim(launch.grid[1]),
                             args.gridDim(launch.grid[2])};
        Value one = arith::ConstantIndexOp::create(b, op.getLoc(), 1);
        gpu::KernelDim3 block{
            arith::ConstantIndexOp::create(b, op.getLoc(), launch.blockSize),
            one, one};
        Value shared = arith::ConstantIntOp::create(
            b, op.getLoc(), b.getI32Type(), launch.sharedBytes);
        gpu::LaunchFuncOp::create(b, op.getLoc(), func, grid, block, shared,
                                  operands);
        manifest.push_back(launchToAttribute(b, launch));
      }
      for (Value buffer : buffers)
        gpu::DeallocOp::create(b, op.getLoc(), /*asyncToken=*/Type(),
                               ValueRange(), buffer);
      op.erase();
    }
    module->setAttr("attn.kernels", b.getArrayAttr(manifest));
    if (!scratchManifest.empty())
      module->setAttr("attn.scratch", b.getArrayAttr(scratchManifest));
  }
};
} // namespace
