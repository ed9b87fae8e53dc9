//===- KernelConfig.h - what the lowering decided for a kernel --*- C++ -*-===//
//
// Private to AttnToNVVM: the heads, tile shapes and precision one kernel is
// built for, as the lowering (KernelSupport.cpp) derives them from the op,
// its attributes and the target. Every kernel builder reads them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELCONFIG_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELCONFIG_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

namespace mlir {
namespace attn {
namespace detail {

/// Threads of a warpgroup: the unit of wgmma, of setmaxnreg and of the TMA
/// pipeline's producer.
constexpr int64_t kWarpgroupThreads = 128;

/// The heads one kernel serves, with their mask.
struct KernelHeads {
  MaskAttrInterface mask;
  /// Query heads (blockIdx.y indexes this list).
  SmallVector<int64_t> heads;
  /// The mask's table in the op's `tile_classes`.
  int64_t classTable = 0;
};

/// Tile and pipeline shape of the attention kernel.
struct KernelShape {
  /// Query and key tile shapes (tokens per grid dimension; one entry for
  /// flat tiles) and the token grid they tile (empty for flat tiles).
  SmallVector<int64_t> queryShape, keyShape, grid;
  int64_t stages = 2;
  /// Query rows per warp of the mma.sync engine: 16 (one m16 tile), or 32
  /// (two m16 tiles share every K and V fragment a warp loads).
  int64_t warpRows = 16;
  /// Each head's query tiles are taken last first (block x counts down).
  bool lastQueryTileFirst = true;
  /// A persistent grid where the pipeline supports one.
  bool persistent = false;
  /// Work units run query tile by query tile across heads and batch
  /// elements (else head by head).
  bool tilesFirst = false;
};

/// How the kernels compute Q.K and P.V (SEMANTICS.md section 3), as the
/// GPU realizes a precision: the pre-kernels write quantized Q and K (and
/// V where P.V needs another type) into scratch buffers the attention
/// kernel reads.
struct KernelPrecision {
  /// Bits of the quantized Q and K (8 or 4); 0: Q.K in the inputs' type.
  int64_t qkBits = 0;
  /// The 8-bit Q and K are E4M3 (scale = max / 448) instead of int8.
  bool qkFloat8 = false;
  /// The 4-bit Q and K are NVFP4: E2M1 values, one E4M3 scale per 16
  /// channels of a token (`q_scale`, `k_scale` [B, H, N, D / 16] bytes),
  /// multiplied by the block-scaled mma.sync; no granularity, no per-token
  /// factor.
  bool qkNvfp4 = false;
  /// Scale groups of Q and K (with qkBits).
  GranularityKind granularity = GranularityKind::Token;
  int64_t granularitySize = 0;
  bool smoothK = false;
  /// smooth_q: Q minus its mean over blocks of smoothQBlock queries; the
  /// scores get dS back.
  bool smoothQ = false;
  int64_t smoothQBlock = 0;
  /// The type P and V are multiplied in (f16, bf16, f8E4M3FN, f4E2M1FN).
  Type pvType;
  /// P.V reads V rounded to the 16-bit pvType by a pre-kernel
  /// (`v_rounded`, [B, Hkv, Nk, Dv]) instead of `v`. FP8 P.V (fp8Value())
  /// reads E4M3 V^T per key tile (`v_e4m3_t`) instead, NVFP4 P.V
  /// (fp4Value()) NVFP4 V^T per key tile (`v_nvfp4_t`, `v_block_scale`).
  bool roundedValue = false;
  Accumulation accumulation = Accumulation::F32;

  bool quantizedQK() const { return qkBits != 0; }
  bool fp8Value() const { return pvType && isa<Float8E4M3FNType>(pvType); }
  bool fp4Value() const { return pvType && isa<Float4E2M1FNType>(pvType); }
  /// Whether a product runs on the block-scaled mma.sync.
  bool blockScaled() const { return qkNvfp4 || fp4Value(); }
  /// Bytes of one row of quantized Q or K.
  int64_t rowBytes(int64_t headDim) const { return headDim * qkBits / 8; }
};

/// NVFP4 scale bytes of `elements` values along the scaled axis (one E4M3
/// scale per 16).
inline int64_t nvfp4ScaleBytes(int64_t elements) { return elements / 16; }
/// Staged NVFP4 tiles (K rows, V^T channel rows) carry their scales right
/// after their `rows` rows of `rowBytes`: the scales' offset in the tile.
inline int64_t nvfp4ScaleStart(int64_t rows, int64_t rowBytes) {
  return rows * rowBytes;
}

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_KERNELCONFIG_H
