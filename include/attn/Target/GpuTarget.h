//===- GpuTarget.h - what each GPU chip offers the kernels ------*- C++ -*-===//
//
// One capability table for every NVIDIA chip attn compiles for. attn-plan,
// the GPU lowering, the GPU pipeline, the manifest and the Python package
// (through `attn-opt --attn-gpu-targets`) read chips, PTX features, MMA
// families and limits from here; no other file spells a chip name.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_GPUTARGET_H
#define ATTN_TARGET_GPUTARGET_H

#include "mlir/Support/LLVM.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace mlir {
namespace attn {

/// A family of tensor-core instructions; each implemented one has its own
/// MMA engine in the GPU backend (lib/Conversion/AttnToNVVM/<Family>/;
/// isMmaFamilyImplemented).
enum class MmaFamily {
  /// Warp-level `mma.sync` m16n8kK with ldmatrix and cp.async (Ampere
  /// onwards; sm_120a adds block-scaled forms).
  MmaSync,
  /// Warpgroup-level `wgmma.mma_async` with TMA and mbarriers (sm_90a).
  Wgmma,
  /// Single-thread `tcgen05.mma` into tensor memory (sm_100a).
  Tcgen05,
};

/// `mma_sync`, `wgmma`, `tcgen05`.
StringRef stringifyMmaFamily(MmaFamily family);
std::optional<MmaFamily> symbolizeMmaFamily(StringRef name);

/// Query and key tile sizes in tokens.
struct TileSizes {
  int64_t query = 0, key = 0;
};

/// What one chip offers the kernels.
struct GpuTarget {
  /// The name of the chip the code is for, as ptxas spells it.
  StringRef chip;
  /// Its compute capability.
  unsigned major = 0, minor = 0;
  /// `sm_XYa`: the code runs on compute capability X.Y only (otherwise on
  /// every X.Z with Z >= Y).
  bool archSpecific = false;
  /// NVVM target features (the PTX version the kernels need).
  StringRef ptxFeatures;
  /// The MMA families the chip executes natively, best first.
  ArrayRef<MmaFamily> families;
  /// `mma.sync` m16n8k32 with E4M3 operands exists (sm_89 onwards)...
  bool fp8MmaSync = false;
  /// ... and runs on FP8 tensor cores (Hopper and sm_100a emulate it with
  /// f16 MMAs: correct, not fast).
  bool nativeFp8MmaSync = false;
  /// `mma.sync` m16n8k64 s4 runs at twice the int8 rate (not on Hopper
  /// and later, which emulate it).
  bool nativeInt4MmaSync = false;
  /// Block-scaled `mma.sync` (mxf8f6f4, mxf4nvf4) and the E2M1
  /// conversions, natively or (emulatedBlockScaledMma) emulated.
  bool blockScaledMma = false;
  /// `cp.async.bulk.tensor` (TMA) and transaction mbarriers.
  bool tma = false;
  /// Largest dynamic shared memory one thread block may use (opt-in).
  int64_t maxSharedBytesPerBlock = 0;
  int64_t maxRegistersPerThread = 255;
  /// The block-scaled MMAs and E2M1 conversions are emitted as sequences of
  /// ordinary instructions with the same register contract, within sm_120a's
  /// shared memory (withEmulatedBlockScaledMma): sm_120a's NVFP4 kernels
  /// run, slowly, on a chip without them.
  bool emulatedBlockScaledMma = false;

  bool supports(MmaFamily family) const;
  bool hasWgmma() const { return supports(MmaFamily::Wgmma); }
  bool hasTcgen05() const { return supports(MmaFamily::Tcgen05); }
  /// `red.global.add.v2.f32` and wider (sm_90 onwards, PTX 8.1).
  bool hasVectorReductions() const { return major >= 9; }
  /// The family a kernel uses when none is requested: the best supported
  /// one whose engine exists for the op's precision (`defaultPrecision`:
  /// 16-bit Q.K and P.V with f32 accumulation, no precision attribute).
  MmaFamily defaultFamily(bool defaultPrecision = true) const;
};

/// `target` with sm_120a's block-scaled MMAs emulated (GpuTarget::
/// emulatedBlockScaledMma) and its shared memory capped at sm_120a's, or a
/// sentence saying why that chip cannot emulate them.
FailureOr<GpuTarget> withEmulatedBlockScaledMma(const GpuTarget &target,
                                                std::string &refusal);

/// Every chip attn compiles for, in the order of their capability.
ArrayRef<GpuTarget> getGpuTargets();
/// The table row of `chip`, or null.
const GpuTarget *lookupGpuTarget(StringRef chip);
/// "sm_80, sm_86, ..." for diagnostics.
std::string listGpuTargets();

/// Whether the GPU backend has an MMA engine for `family` (the one place to
/// update when an engine lands; the backend checks it against its engines).
bool isMmaFamilyImplemented(MmaFamily family);
/// Whether that engine also runs the quantized precisions (SEMANTICS.md
/// section 3); a chip's default family skips engines that do not.
bool isMmaFamilyQuantized(MmaFamily family);

/// What an attention kernel multiplies, as its MMA instructions see the
/// operands (after the quantization pre-kernels of SEMANTICS.md section 3).
/// The head dim the tensor-core kernels stage and multiply for a tensor
/// head dim `headDim`: 32, or the next multiple of 64 up to 256 (the
/// swizzled 16-byte-chunk layouts). Channels past `headDim` are zero in
/// shared memory (zero-filled copies) and never stored, as FlashAttention
/// pads; head dims above 256 and dynamic ones are returned as they are
/// (the lowering refuses them).
int64_t getStagedHeadDim(int64_t headDim);

struct MmaOperands {
  /// Bits of Q and K as multiplied: 16 (f16, bf16), 8 (int8, E4M3) or 4.
  int64_t qkBits = 16;
  /// P.V in E4M3 (V transposed by its pre-kernel).
  bool fp8Value = false;
  /// Q.K or P.V in NVFP4 (E2M1 with E4M3 scales per 16 elements): only the
  /// block-scaled mma.sync multiplies them.
  bool nvfp4 = false;
  /// P.V accumulates in f16 (pv_accum = f16).
  bool f16Accumulation = false;
  /// The staged head dims (getStagedHeadDim of the op's D and Dv).
  int64_t headDim = 0, valueDim = 0;
};

/// Why the kernels of `family` cannot multiply `operands` (a sentence that
/// follows "the <family> kernel "), or an empty string when they can. Tile
/// rules are the engine's; this is what the plan and the default-family
/// choice know before tiles exist.
std::string getMmaOperandRefusal(MmaFamily family, const MmaOperands &operands);

/// The tile sizes a kernel of `family` starts from for head dim `headDim`
/// (dynamic: the small-head sizes): register-bound for warp-level MMAs.
TileSizes getDefaultTiles(MmaFamily family, int64_t headDim);

/// The tile sizes of the backward's key-tile-major kernel for staged head
/// dims `headDim` and `valueDim` on a chip with `maxSharedBytes` per block,
/// for `family`'s products. wgmma (where isWgmmaBackwardShape holds): 64
/// queries x 128 keys (two warpgroups of 64 keys; dQ = dS K is one m64
/// product). mma.sync: 128 keys (8 warps of 16) up to D = Dv = 128 where
/// two query buffers fit, else 64 keys (4 warps); 64 queries per step up
/// to D = Dv = 64, 32 beyond (dK and dV hold up to 128 channels each in
/// registers), 16 where 32 do not fit the shared memory (D = Dv = 256 on
/// 99 KB chips).
TileSizes getBackwardTiles(int64_t headDim, int64_t valueDim,
                           int64_t maxSharedBytes,
                           MmaFamily family = MmaFamily::MmaSync);

/// Whether the backward's key-tile kernel runs its products on wgmma for
/// `tiles` and staged head dims `headDim`, `valueDim`: 64 x 128 tiles and
/// head dims of 64 or 128 (rows of whole 128-byte swizzle slabs, dK and
/// dV in one walk). Others take the mma.sync products.
bool isWgmmaBackwardShape(TileSizes tiles, int64_t headDim, int64_t valueDim);

/// The shared memory of the backward's key-tile-major kernel for `tiles`:
/// K, V and dS^T once, and per stage the Q and dY tiles in 16-bit with four
/// f32 row values per query.
int64_t getBackwardSharedBytes(TileSizes tiles, int64_t headDim,
                               int64_t valueDim, int64_t stages = 1);

/// The query-side stages of the backward's key-tile-major kernel: 2 (the
/// next query tile's Q and dY copied while this one is multiplied) up to
/// D = Dv = 128 where they fit `maxSharedBytes`, else 1.
int64_t getBackwardStages(TileSizes tiles, int64_t headDim, int64_t valueDim,
                          int64_t maxSharedBytes);

/// The depth of the K/V pipeline a kernel of `family` uses by default for
/// `tiles` with Q/K rows of `qkRowBytes` and V rows of `valueRowBytes`:
/// 2 for mma_sync; 3 for wgmma where Q and three stages fit in
/// `maxSharedBytes` (its V rows stay in use a tile longer than K's), else 2.
int64_t getDefaultStages(MmaFamily family, TileSizes tiles, int64_t qkRowBytes,
                         int64_t valueRowBytes, int64_t maxSharedBytes);

/// The table as JSON (`attn-opt --attn-gpu-targets`; keys listed in
/// docs/design/GpuBackend.md, "The target table").
void printGpuTargetsJson(llvm::raw_ostream &os);

} // namespace attn
} // namespace mlir

#endif // ATTN_TARGET_GPUTARGET_H
