//===- KernelSupport.cpp - what the GPU kernels take of an op -------------===//

#include "KernelSupport.h"

#include "attn/Dialect/Attn/Utils/Utils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

/// How the GPU kernels realize `precision` on inputs of `inputType`, or a
/// diagnostic for what they do not implement.
static FailureOr<KernelPrecision> getKernelPrecision(AttentionOp op,
                                                     PrecisionAttr precision,
                                                     Type inputType,
                                                     const GpuTarget &target) {
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
    return op.emitOpError()
           << "attn-lower-to-gpu: precision " << precision << ": " << what
           << " is not supported by the GPU kernels yet; "
              "the CPU pipeline emulates it";
  };
  Type qk = precision.getQk();
  if (qk && qk.isSignlessInteger(8)) {
    result.qkBits = 8;
  } else if (qk && qk.isSignlessInteger(4)) {
    result.qkBits = 4;
  } else if (isa_and_nonnull<Float8E4M3FNType>(qk)) {
    result.qkBits = 8;
    result.qkFloat8 = true;
  } else if (isa_and_nonnull<Float4E2M1FNType>(qk)) {
    result.qkBits = 4;
    result.qkNvfp4 = true;
  } else if (qk && qk != inputType) {
    return unsupported("qk = " + typeName(qk));
  }
  if (result.qkNvfp4) {
    // The scales are per 16 channels; granularity does not apply.
    result.smoothK = precision.getSmoothK();
  } else if (result.quantizedQK()) {
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
    if (result.qkNvfp4)
      return unsupported("smooth_q with NVFP4 Q.K");
    // Token granularity makes each query its own block: dS would be the
    // whole [Nq, Nk] score matrix.
    if (op.getSmoothQueryBlockSize(precision) < 16)
      return unsupported("smooth_q with query blocks of " +
                         Twine(op.getSmoothQueryBlockSize(precision)) +
                         " tokens (token granularity)");
    result.smoothQ = true;
    result.smoothQBlock = op.getSmoothQueryBlockSize(precision);
  }
  if (result.qkFloat8 && !target.fp8MmaSync)
    return op.emitOpError()
           << "attn-lower-to-gpu: precision " << precision
           << ": E4M3 Q.K (qk = f8E4M3FN) needs a chip with the E4M3 "
              "mma.sync (sm_89 and later), got target="
           << target.chip;
  Type pv = precision.getPv();
  if (pv && isa<Float8E4M3FNType>(pv) && !target.fp8MmaSync)
    return op.emitOpError()
           << "attn-lower-to-gpu: precision " << precision
           << ": FP8 P.V (pv = f8E4M3FN) needs a chip with the E4M3 "
              "mma.sync (sm_89 and later), got target="
           << target.chip;
  bool fp4Value = isa_and_nonnull<Float4E2M1FNType>(pv);
  if ((result.qkNvfp4 || fp4Value) && !target.blockScaledMma)
    return op.emitOpError()
           << "attn-lower-to-gpu: precision " << precision
           << ": NVFP4 (f4E2M1FN) needs the block-scaled mma.sync of sm_120a "
              "and sm_120f, got target="
           << target.chip
           << " (emulate-block-scaled-mma runs those kernels on sm_89 and "
              "later, slowly)";
  if (pv && !pv.isF16() && !pv.isBF16() && !isa<Float8E4M3FNType>(pv) &&
      !fp4Value)
    return unsupported("pv = " + typeName(pv));
  if (pv) {
    result.pvType = pv;
    result.roundedValue =
        pv != inputType && !isa<Float8E4M3FNType, Float4E2M1FNType>(pv);
  }
  // (The verifier ties pv_accum = f16 to an f16 P.V.)
  result.accumulation = precision.getPvAccum();
  return result;
}

/// Head dims the kernels serve: multiples of 8 (whole 16-byte chunks of a
/// 16-bit row) up to 256, staged as getStagedHeadDim pads them.
static bool isSupportedHeadDim(int64_t d) {
  return d > 0 && d % 8 == 0 && d <= 256;
}

FailureOr<KernelPrecision>
mlir::attn::detail::checkSupported(AttentionOp op, const GpuTarget &target) {
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
  for (auto [what, d] :
       {std::pair<StringRef, int64_t>{"head dim D", op.getHeadDim()},
        {"value head dim Dv", op.getValueHeadDim()}}) {
    if (ShapedType::isDynamic(d) || !isSupportedHeadDim(d))
      return op.emitOpError()
             << "attn-lower-to-gpu: " << what << " = "
             << (ShapedType::isDynamic(d) ? std::string("?")
                                          : std::to_string(d))
             << " is not supported; it must be static, a multiple of 8 and "
                "at most 256";
  }
  if (ShapedType::isDynamic(op.getNumQueryHeads()) ||
      ShapedType::isDynamic(op.getNumKeyValueHeads()))
    return op.emitOpError()
           << "attn-lower-to-gpu needs static head counts (blockIdx.y maps "
              "to heads at compile time)";
  if (HeadsAttr heads = op.getHeadsAttr())
    for (HeadGroupAttr group : heads.getGroups())
      if (group.getPrecision() && group.getPrecision() != op.getPrecisionAttr())
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

KernelShape mlir::attn::detail::getKernelShape(AttentionOp op, MmaFamily family,
                                               int64_t stages, int64_t warpRows,
                                               const GpuTarget &target) {
  KernelShape shape;
  shape.warpRows = warpRows;
  if (TilingAttr tiling = op.getTilingAttr()) {
    shape.queryShape.assign(tiling.getQuery().begin(), tiling.getQuery().end());
    shape.keyShape.assign(tiling.getKey().begin(), tiling.getKey().end());
    if (tiling.getRank() > 1)
      shape.grid = op.getTokenGrid();
  } else {
    TileSizes tiles =
        getDefaultTiles(family, getStagedHeadDim(op.getHeadDim()));
    shape.queryShape = {tiles.query};
    shape.keyShape = {tiles.key};
  }
  if (stages == 0) {
    int64_t queryTokens = 1, keyTokens = 1;
    for (int64_t s : shape.queryShape)
      queryTokens *= s;
    for (int64_t s : shape.keyShape)
      keyTokens *= s;
    // The wgmma kernel releases V a tile after K: a third stage keeps the
    // copies ahead where shared memory holds it. Rows as staged: 8-bit Q
    // and K, E4M3 V^T (Dv bytes per key).
    TileSizes tiles{queryTokens, keyTokens};
    MmaOperands operands = getMmaOperands(op);
    bool dynamic = ShapedType::isDynamic(operands.headDim) ||
                   ShapedType::isDynamic(operands.valueDim);
    stages = dynamic
                 ? 2
                 : getDefaultStages(
                       family, tiles, operands.headDim * operands.qkBits / 8,
                       operands.valueDim * (operands.fp8Value ? 1 : 2),
                       target.maxSharedBytesPerBlock);
  }
  shape.stages = stages;
  return shape;
}

void mlir::attn::detail::splitHeads(AttentionProblemOpInterface op,
                                    SmallVectorImpl<KernelHeads> &sets,
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
