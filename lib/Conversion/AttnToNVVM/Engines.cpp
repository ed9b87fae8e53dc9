//===- Engines.cpp - the MMA engines and tile pipelines by family ---------===//
//
// The one place that maps an MMA family to its engine and pipeline. A new
// generation adds its folder and a case here; GpuTarget.cpp's
// isMmaFamilyImplemented names the families that have one.
//
//===----------------------------------------------------------------------===//

#include "Engines.h"

#include "Common/CpAsyncPipeline.h"
#include "MmaSync/MmaSyncEngine.h"
#include "Tma/TmaPipeline.h"
#include "Wgmma/WgmmaEngine.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

std::unique_ptr<MmaEngine> mlir::attn::detail::createMmaEngine(
    MmaFamily family, OpBuilder &b, Location loc,
    const KernelSignature &signature, AttentionKernelContext &context) {
  switch (family) {
  case MmaFamily::MmaSync:
    return std::make_unique<MmaSyncEngine>(b, loc, signature, context);
  case MmaFamily::Wgmma:
    return std::make_unique<WgmmaEngine>(b, loc, signature, context);
  case MmaFamily::Tcgen05:
    return nullptr;
  }
  llvm_unreachable("unknown MMA family");
}

std::unique_ptr<TilePipeline> mlir::attn::detail::createTilePipeline(
    MmaFamily family, OpBuilder &b, Location loc,
    const KernelSignature &signature, AttentionKernelContext &context,
    MmaEngine &engine) {
  switch (family) {
  case MmaFamily::MmaSync:
    return std::make_unique<CpAsyncPipeline>(b, loc, signature, context,
                                             engine);
  case MmaFamily::Wgmma:
    // Tensor copies by a producer warpgroup where boxes cover the tiles;
    // per-thread copies otherwise (3-D patches).
    if (TmaPipeline::supports(context, engine))
      return std::make_unique<TmaPipeline>(b, loc, signature, context,
                                           engine);
    return std::make_unique<CpAsyncPipeline>(b, loc, signature, context,
                                             engine);
  case MmaFamily::Tcgen05:
    return nullptr;
  }
  llvm_unreachable("unknown MMA family");
}

Value mlir::attn::detail::emitFp8ValueSlot(MmaFamily family, OpBuilder &b,
                                           Location loc, Value position) {
  // wgmma's k32 E4M3 A operand has mma.sync's m16n8k32 layout per warp:
  // the same key relabel (checked on an H100 by the Hopper note's probe).
  assert((family == MmaFamily::MmaSync || family == MmaFamily::Wgmma) &&
         "FP8 V^T of an unimplemented family");
  (void)family;
  return MmaSyncEngine::fp8ValueSlot(b, loc, position);
}

LogicalResult mlir::attn::detail::verifyKernelShape(
    MmaFamily family, AttentionOp op, const KernelShape &shape,
    const KernelPrecision &precision) {
  switch (family) {
  case MmaFamily::MmaSync:
    return MmaSyncEngine::verify(op, shape, precision);
  case MmaFamily::Wgmma:
    return WgmmaEngine::verify(op, shape, precision);
  case MmaFamily::Tcgen05:
    return op.emitOpError() << "attn-lower-to-gpu: no "
                            << stringifyMmaFamily(family) << " engine";
  }
  llvm_unreachable("unknown MMA family");
}
