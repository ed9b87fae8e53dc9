//===- GpuTarget.cpp - the GPU capability table ---------------------------===//

#include "attn/Target/GpuTarget.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

static constexpr MmaFamily kWarpLevel[] = {MmaFamily::MmaSync};
static constexpr MmaFamily kHopper[] = {MmaFamily::Wgmma, MmaFamily::MmaSync};
static constexpr MmaFamily kBlackwell[] = {MmaFamily::Tcgen05,
                                           MmaFamily::MmaSync};

/// Shared memory per block (opt-in maxima of the CUDA programming guide's
/// compute capability table): 163 KB on sm_80, 99 KB on sm_86/89/120,
/// 227 KB on sm_90/100.
static constexpr int64_t k99KB = 99 * 1024, k163KB = 163 * 1024,
                         k227KB = 227 * 1024;

// PTX versions: sm_89's default (7.8) cannot select the E4M3 mma.sync
// intrinsic, and sm_90a's (8.0) cannot either; 8.4 can. sm_100a (8.6),
// sm_120a (8.7) and sm_120f (8.8) default high enough.
static const GpuTarget kTargets[] = {
    // chip, capability, arch-specific, PTX features, MMA families,
    // fp8 mma.sync (exists, native), native int4 mma.sync, block-scaled
    // mma.sync, TMA, shared memory per block.
    {"sm_80", 8, 0, false, "", kWarpLevel, false, false, true, false, false,
     k163KB},
    {"sm_86", 8, 6, false, "", kWarpLevel, false, false, true, false, false,
     k99KB},
    {"sm_89", 8, 9, false, "+ptx84", kWarpLevel, true, true, true, false, false,
     k99KB},
    {"sm_90a", 9, 0, true, "+ptx84", kHopper, true, false, false, false, true,
     k227KB},
    {"sm_100a", 10, 0, true, "", kBlackwell, true, false, false, false, true,
     k227KB},
    {"sm_120a", 12, 0, true, "", kWarpLevel, true, true, false, true, true,
     k99KB},
    // The family target: the same kernels for every 12.x chip (RTX 50,
    // RTX PRO 6000, DGX Spark's sm_121), from PTX 8.8 (its default).
    {"sm_120f", 12, 0, false, "", kWarpLevel, true, true, false, true, true,
     k99KB},
};

StringRef mlir::attn::stringifyMmaFamily(MmaFamily family) {
  switch (family) {
  case MmaFamily::MmaSync:
    return "mma_sync";
  case MmaFamily::Wgmma:
    return "wgmma";
  case MmaFamily::Tcgen05:
    return "tcgen05";
  }
  llvm_unreachable("unknown MMA family");
}

std::optional<MmaFamily> mlir::attn::symbolizeMmaFamily(StringRef name) {
  return llvm::StringSwitch<std::optional<MmaFamily>>(name)
      .Case("mma_sync", MmaFamily::MmaSync)
      .Case("wgmma", MmaFamily::Wgmma)
      .Case("tcgen05", MmaFamily::Tcgen05)
      .Default(std::nullopt);
}

bool GpuTarget::supports(MmaFamily family) const {
  return llvm::is_contained(families, family);
}

MmaFamily GpuTarget::defaultFamily(bool defaultPrecision) const {
  for (MmaFamily family : families)
    if (isMmaFamilyImplemented(family) &&
        (defaultPrecision || isMmaFamilyQuantized(family)))
      return family;
  return MmaFamily::MmaSync; // every chip of the table executes it
}

ArrayRef<GpuTarget> mlir::attn::getGpuTargets() { return kTargets; }

FailureOr<GpuTarget>
mlir::attn::withEmulatedBlockScaledMma(const GpuTarget &target,
                                       std::string &refusal) {
  // The emulation converts E4M3 scales with the sm_89 conversions and
  // multiplies in f16 mma.sync.
  if (target.blockScaledMma) {
    refusal = (target.chip + " runs the block-scaled mma.sync natively").str();
    return failure();
  }
  if (!target.fp8MmaSync) {
    refusal = (target.chip + " lacks the E4M3 conversions the emulation uses "
                             "(sm_89 and later)")
                  .str();
    return failure();
  }
  GpuTarget emulated = target;
  emulated.blockScaledMma = true;
  emulated.emulatedBlockScaledMma = true;
  const GpuTarget *blackwell = lookupGpuTarget("sm_120a");
  emulated.maxSharedBytesPerBlock = std::min(emulated.maxSharedBytesPerBlock,
                                             blackwell->maxSharedBytesPerBlock);
  return emulated;
}

const GpuTarget *mlir::attn::lookupGpuTarget(StringRef chip) {
  for (const GpuTarget &target : getGpuTargets())
    if (target.chip == chip)
      return &target;
  return nullptr;
}

std::string mlir::attn::listGpuTargets() {
  std::string names;
  for (const GpuTarget &target : getGpuTargets())
    names += (names.empty() ? "" : ", ") + target.chip.str();
  return names;
}

bool mlir::attn::isMmaFamilyImplemented(MmaFamily family) {
  return family == MmaFamily::MmaSync || family == MmaFamily::Wgmma;
}

bool mlir::attn::isMmaFamilyQuantized(MmaFamily family) {
  return family == MmaFamily::MmaSync || family == MmaFamily::Wgmma;
}

std::string mlir::attn::getMmaOperandRefusal(MmaFamily family,
                                             const MmaOperands &operands) {
  // checkSupported's rules bound every family (and refuse dynamic dims).
  if (family != MmaFamily::Wgmma || ShapedType::isDynamic(operands.headDim) ||
      ShapedType::isDynamic(operands.valueDim))
    return {};
  // wgmma: Q.K in 16 bits, s8 or E4M3 (no 4-bit form), f32 accumulators
  // only; staged rows are whole 128-byte swizzle slabs (the 32- and 64-byte
  // swizzles have not run on a GPU); FP8 P.V keeps O and the two-level
  // products in registers: Dv <= 128.
  if (operands.nvfp4)
    return "has no block-scaled form for NVFP4; kernel = mma_sync runs it on "
           "chips with the block-scaled mma.sync (sm_120a, sm_120f)";
  if (operands.qkBits == 4 || operands.f16Accumulation)
    return "runs Q.K in 16 bits, int8 or E4M3 and P.V with f32 or two-level "
           "accumulation; kernel = mma_sync runs this precision";
  auto wholeSlabs = [](int64_t bytes) { return bytes > 0 && bytes % 128 == 0; };
  std::string text;
  llvm::raw_string_ostream os(text);
  if (!wholeSlabs(operands.headDim * operands.qkBits / 8) ||
      operands.headDim > 256)
    os << "needs Q and K rows of whole 128-byte slabs (D in {64, 128, 192, "
          "256}, 8-bit D in {128, 256}; kernel = mma_sync serves the "
          "others), got D = "
       << operands.headDim;
  else if (operands.fp8Value &&
           (operands.valueDim % 8 != 0 || operands.valueDim > 128))
    os << "with FP8 P.V needs Dv a multiple of 8 of at most 128 (O and the "
          "two-level products in registers); kernel = mma_sync serves the "
          "others, got Dv = "
       << operands.valueDim;
  else if (!operands.fp8Value &&
           (!wholeSlabs(operands.valueDim * 2) || operands.valueDim > 256))
    os << "needs Dv in {64, 128, 192, 256} (rows of whole 128-byte slabs; "
          "kernel = mma_sync serves the others), got Dv = "
       << operands.valueDim;
  return text;
}

int64_t mlir::attn::getStagedHeadDim(int64_t headDim) {
  if (ShapedType::isDynamic(headDim) || headDim <= 0 || headDim > 256)
    return headDim;
  return headDim <= 32 ? 32 : llvm::alignTo(headDim, 64);
}

TileSizes mlir::attn::getDefaultTiles(MmaFamily family, int64_t headDim) {
  // Large head dims halve the query tile where registers bound it; the
  // mma.sync kernels also halve the key tile (D = 256 keeps O's 128 f32
  // registers per thread, leaving room for 32 keys of S, not 64). The
  // warpgroup kernels halve the key tile instead, where shared memory
  // bounds it (the 128-row Q plus two stages of K and V at D = 256: 192 KB
  // with 64 keys, 320 KB with 128).
  bool largeHead = !ShapedType::isDynamic(headDim) && headDim > 128;
  if (family == MmaFamily::MmaSync)
    return {largeHead ? 64 : 128, largeHead ? 32 : 64};
  if (family == MmaFamily::Wgmma)
    return {128, largeHead ? 64 : 128};
  return {largeHead ? 64 : 128, 128};
}

bool mlir::attn::isWgmmaBackwardShape(TileSizes tiles, int64_t headDim,
                                      int64_t valueDim) {
  auto wholeSlabs = [](int64_t d) { return d == 64 || d == 128; };
  return tiles.query == 64 && tiles.key == 128 && wholeSlabs(headDim) &&
         wholeSlabs(valueDim);
}

TileSizes mlir::attn::getBackwardTiles(int64_t headDim, int64_t valueDim,
                                       int64_t maxSharedBytes,
                                       MmaFamily family) {
  // wgmma reads each operand tile once per warpgroup (mma.sync: once per
  // warp), so 64 queries cost no registers for B fragments.
  TileSizes wgmmaTiles{64, 128};
  if (family == MmaFamily::Wgmma &&
      isWgmmaBackwardShape(wgmmaTiles, headDim, valueDim) &&
      getBackwardSharedBytes(wgmmaTiles, headDim, valueDim, 2) <=
          maxSharedBytes)
    return wgmmaTiles;
  // ptxas (sm_90a) at D = 128: 24 bytes of spills with 32 queries per
  // step, 220 with 64; at D = 64 none with 64.
  bool wide = ShapedType::isDynamic(headDim) ||
              ShapedType::isDynamic(valueDim) ||
              std::max(headDim, valueDim) > 64;
  TileSizes tiles{wide ? 32 : 64, 64};
  if (wide && getBackwardSharedBytes(tiles, headDim, valueDim) > maxSharedBytes)
    tiles.query = 16;
  // 128 keys (8 warps) where two query buffers fit: each query tile's Q
  // and dY are read and dQ reduced once per 128 keys instead of 64. H100,
  // D = 128, N = 16384: forward + backward 33.1 -> 30.8 ms. Wider heads
  // keep 64 (unmeasured; their walks recompute S and dP already).
  bool atMost128 = !ShapedType::isDynamic(headDim) &&
                   !ShapedType::isDynamic(valueDim) &&
                   std::max(headDim, valueDim) <= 128;
  if (atMost128 && getBackwardSharedBytes({tiles.query, 128}, headDim, valueDim,
                                          2) <= maxSharedBytes)
    tiles.key = 128;
  return tiles;
}

int64_t mlir::attn::getBackwardSharedBytes(TileSizes tiles, int64_t headDim,
                                           int64_t valueDim, int64_t stages) {
  if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
    return 0;
  return 2 * tiles.key * (headDim + valueDim) + 2 * tiles.key * tiles.query +
         stages * (2 * tiles.query * (headDim + valueDim) + 16 * tiles.query);
}

int64_t mlir::attn::getBackwardStages(TileSizes tiles, int64_t headDim,
                                      int64_t valueDim,
                                      int64_t maxSharedBytes) {
  // Wider heads walk per 128 channels with S and dP recomputed and every
  // register taken already: ptxas (sm_90a, D = Dv = 256) spills 1048 bytes
  // of loads with two stages against 504 with one.
  bool wide = std::max(headDim, valueDim) > 128;
  return !wide && getBackwardSharedBytes(tiles, headDim, valueDim, 2) <=
                      maxSharedBytes
             ? 2
             : 1;
}

int64_t mlir::attn::getDefaultStages(MmaFamily family, TileSizes tiles,
                                     int64_t qkRowBytes, int64_t valueRowBytes,
                                     int64_t maxSharedBytes) {
  if (family != MmaFamily::Wgmma || ShapedType::isDynamic(qkRowBytes) ||
      qkRowBytes <= 0 || valueRowBytes <= 0)
    return 2;
  // Tiles start on 1024-byte boundaries; the barriers take one more block.
  auto aligned = [](int64_t bytes) { return llvm::alignTo(bytes, 1024); };
  int64_t perStage =
      aligned(tiles.key * qkRowBytes) + aligned(tiles.key * valueRowBytes);
  int64_t three = aligned(tiles.query * qkRowBytes) + 3 * perStage + 1024;
  return three <= maxSharedBytes ? 3 : 2;
}

void mlir::attn::printGpuTargetsJson(llvm::raw_ostream &os) {
  llvm::json::Array targets;
  for (const GpuTarget &target : getGpuTargets()) {
    llvm::json::Array families, implemented, quantized;
    for (MmaFamily family : target.families) {
      families.push_back(stringifyMmaFamily(family));
      if (isMmaFamilyImplemented(family))
        implemented.push_back(stringifyMmaFamily(family));
      if (isMmaFamilyImplemented(family) && isMmaFamilyQuantized(family))
        quantized.push_back(stringifyMmaFamily(family));
    }
    targets.push_back(llvm::json::Object{
        {"chip", target.chip},
        {"compute_capability", llvm::json::Array{target.major, target.minor}},
        {"arch_specific", target.archSpecific},
        {"ptx_features", target.ptxFeatures},
        {"kernels", std::move(families)},
        {"implemented_kernels", std::move(implemented)},
        {"quantized_kernels", std::move(quantized)},
        {"default_kernel", stringifyMmaFamily(target.defaultFamily())},
        {"fp8_mma_sync", target.fp8MmaSync},
        {"native_fp8_mma_sync", target.nativeFp8MmaSync},
        {"native_int4_mma_sync", target.nativeInt4MmaSync},
        {"block_scaled_mma", target.blockScaledMma},
        {"tma", target.tma},
        {"wgmma", target.hasWgmma()},
        {"tcgen05", target.hasTcgen05()},
        {"max_shared_bytes_per_block", target.maxSharedBytesPerBlock},
        {"max_registers_per_thread", target.maxRegistersPerThread},
    });
  }
  llvm::json::Object table{{"format", "attn-gpu-targets"},
                           {"version", 1},
                           {"targets", std::move(targets)}};
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(table))) << "\n";
}
