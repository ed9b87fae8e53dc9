//===- Plan.cpp - tile shapes per target ----------------------------------===//
//
// Chooses the query and key tile shapes of every attn.attention and
// attn.attention_grad for a target, as N-D patches of the token grid when
// a mask has one.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "attn/Dialect/Attn/Utils/Utils.h"
#include "attn/Target/GpuTarget.h"

#include "llvm/Support/MathExtras.h"

namespace mlir {
namespace attn {
#define GEN_PASS_DEF_ATTNPLAN
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace attn
} // namespace mlir

using namespace mlir;
using namespace mlir::attn;

/// CPU tiles: the loop nest keeps a tile's scores in one small buffer.
static constexpr TileSizes kCpuTiles = {16, 16};

/// A patch of `tokens` tokens of `grid` for the CPU loop nest: from the
/// last dimension, at most 16 along it, then powers of two along the others.
static SmallVector<int64_t> getRowPatch(ArrayRef<int64_t> grid,
                                        int64_t tokens) {
  SmallVector<int64_t> tile(grid.size(), 1);
  int64_t remaining = tokens;
  for (int d = static_cast<int>(grid.size()) - 1; d >= 0; --d) {
    int64_t cap = std::min(grid[d], remaining);
    if (d == static_cast<int>(grid.size()) - 1 && grid.size() > 1)
      cap = std::min<int64_t>(cap, 16);
    tile[d] = std::max<int64_t>(1, llvm::bit_floor(static_cast<uint64_t>(cap)));
    remaining = std::max<int64_t>(1, remaining / tile[d]);
  }
  return tile;
}

/// A patch of `tokens` tokens of `grid` for the GPU kernels: as square as
/// the grid allows (the smallest side doubles first, the last dimension on
/// ties), which minimizes the key footprint of a window around the patch:
/// 8 x 8 for 64 tokens of a 128 x 128 grid, 4 x 4 x 4 on a 3-D grid.
static SmallVector<int64_t> getBalancedPatch(ArrayRef<int64_t> grid,
                                             int64_t tokens) {
  SmallVector<int64_t> tile(grid.size(), 1);
  int64_t size = 1;
  while (size * 2 <= tokens) {
    int best = -1;
    for (int d = static_cast<int>(grid.size()) - 1; d >= 0; --d) {
      if (tile[d] * 2 > grid[d])
        continue;
      if (best < 0 || tile[d] < tile[best])
        best = d;
    }
    if (best < 0)
      break;
    tile[best] *= 2;
    size *= 2;
  }
  return tile;
}

/// Query tokens of an mma.sync tile on a token grid: windows around a
/// 64-token patch need far fewer key tiles than around a 128-token one
/// (measured on the H200: 13 x 13 window on 128 x 128, 8 x 8 patches
/// 0.32 ms against 0.61 ms for 8 x 16), and 4-warp blocks fit two per SM.
/// The wgmma kernel keeps its 128-token patches: two warpgroups share each
/// staged key tile (H100, 128 x 128 grid, 8 x 16 against 8 x 8 query
/// patches: window 31 0.513 against 0.682 ms, blocked 16 0.133 against
/// 0.182 ms, window 13 0.353 against 0.373 ms).
static constexpr int64_t kGridQueryTokens = 64;
/// Query and key tokens of an mma.sync tile with integer Q.K (see plan()).
static constexpr int64_t kIntegerQueryTokens = 64;
static constexpr int64_t kIntegerKeyTokens = 128;

namespace {
struct AttnPlanPass : mlir::attn::impl::AttnPlanBase<AttnPlanPass> {
  using Base::Base;

  void runOnOperation() override {
    if (target != "cpu") {
      gpuTarget = lookupGpuTarget(target);
      if (!gpuTarget) {
        getOperation()->emitError() << "attn-plan: unknown target '" << target
                                    << "', expected cpu, " << listGpuTargets();
        return signalPassFailure();
      }
      if (!kernel.empty()) {
        std::optional<MmaFamily> requested = symbolizeMmaFamily(kernel);
        if (!requested || !gpuTarget->supports(*requested)) {
          getOperation()->emitError()
              << "attn-plan: kernel '" << kernel << "' is not an MMA family "
              << target << " executes";
          return signalPassFailure();
        }
        requestedFamily = *requested;
      }
    } else if (!kernel.empty()) {
      getOperation()->emitError()
          << "attn-plan: kernel = '" << kernel << "' needs a GPU target";
      return signalPassFailure();
    }
    for (auto [name, tile] :
         {std::pair<StringRef, ArrayRef<int64_t>>{"query-tile", queryTile},
          {"key-tile", keyTile}}) {
      for (int64_t t : tile) {
        if (t < 1) {
          getOperation()->emitError()
              << "attn-plan: " << name << " entry " << t << " must be positive";
          return signalPassFailure();
        }
      }
    }
    getOperation()->walk([&](AttentionOp op) {
      if (failed(plan(op)))
        signalPassFailure();
    });
    getOperation()->walk([&](AttentionGradOp op) {
      if (failed(planGradient(op)))
        signalPassFailure();
    });
  }

  /// The backward's tiles: the key-tile-major kernel's sizes for the
  /// family its products use (wgmma where the chip has it and `kernel`
  /// does not ask for mma_sync), the CPU loop nest's on the CPU, as
  /// patches of the token grid when a mask has one.
  LogicalResult planGradient(AttentionGradOp op) {
    bool gpu = gpuTarget != nullptr;
    TileSizes sizes = kCpuTiles;
    if (gpu) {
      MmaFamily family = requestedFamily.value_or(gpuTarget->defaultFamily());
      sizes = getBackwardTiles(getStagedHeadDim(op.getHeadDim()),
                               getStagedHeadDim(op.getValueHeadDim()),
                               gpuTarget->maxSharedBytesPerBlock, family);
    }
    return setTiling(op, sizes, op.getTokenGrid(), gpu);
  }

  /// Records the tiles of `sizes` tokens (patches of `grid` where the mask
  /// has one; the pass options take precedence) on `op`.
  template <typename OpT>
  LogicalResult setTiling(OpT op, TileSizes sizes, ArrayRef<int64_t> grid,
                          bool gpu) {
    auto choose = [&](ArrayRef<int64_t> requested,
                      int64_t tokens) -> SmallVector<int64_t> {
      if (!requested.empty())
        return SmallVector<int64_t>(requested);
      if (grid.empty())
        return {tokens};
      return gpu ? getBalancedPatch(grid, tokens) : getRowPatch(grid, tokens);
    };
    SmallVector<int64_t> query = choose(queryTile, sizes.query);
    SmallVector<int64_t> key = choose(keyTile, sizes.key);
    if (query.size() != key.size())
      return op.emitError() << "attn-plan: query tile of rank " << query.size()
                            << " and key tile of rank " << key.size();
    if (query.size() > 1 && query.size() != grid.size())
      return op.emitError() << "attn-plan: tiles of rank " << query.size()
                            << " need a mask with a token grid of that rank";
    if (failed(TilingAttr::verify([&] { return op.emitError(); }, query, key)))
      return failure();
    op.setTilingAttr(TilingAttr::get(op.getContext(), query, key));
    return success();
  }

  LogicalResult plan(AttentionOp op) {
    bool gpu = gpuTarget != nullptr;
    // The lowering's rule (GpuTarget::defaultFamily): a precision attribute
    // keeps the chip's default among the families that quantize, and a
    // defaulted family that cannot multiply the op's operands falls back to
    // mma.sync, whose tiles the plan then picks.
    MmaFamily family = !gpu ? MmaFamily::MmaSync
                            : requestedFamily.value_or(gpuTarget->defaultFamily(
                                  !op.getPrecisionAttr()));
    if (gpu && !requestedFamily &&
        !getMmaOperandRefusal(family, getMmaOperands(op)).empty())
      family = MmaFamily::MmaSync;
    TileSizes sizes =
        gpu ? getDefaultTiles(family, getStagedHeadDim(op.getHeadDim()))
            : kCpuTiles;
    SmallVector<int64_t> grid = op.getTokenGrid();
    int64_t queryTokens = sizes.query;
    if (gpu && !grid.empty() && family == MmaFamily::MmaSync)
      queryTokens = std::min(queryTokens, kGridQueryTokens);
    // Integer Q.K halves the Q.K work per key tile; 64-row tiles (four
    // warps, more blocks per SM) and, with a 16-bit P.V (f16 or f32
    // accumulators, no FP8 tile accumulator), 128-key tiles hide the rest
    // better where shared memory holds them (not on the 99 KB of sm_86,
    // sm_89, sm_120a at D = 128). Dense N = 16384 sage1 on the H200:
    // 6.01 ms with 128 x 64 tiles, 5.35 ms with 64 x 64, 5.17 ms with
    // 64 x 128.
    PrecisionAttr precision = op.getPrecisionAttr();
    int64_t keyTokens = sizes.key;
    if (gpu && family == MmaFamily::MmaSync && precision && precision.getQk() &&
        precision.getQk().isSignlessInteger()) {
      queryTokens = std::min<int64_t>(queryTokens, kIntegerQueryTokens);
      Type pv = precision.getPv();
      bool sixteenBitProduct = !pv || pv.getIntOrFloatBitWidth() == 16;
      if (grid.empty() && sixteenBitProduct && sizes.key == 64 &&
          fitsSharedMemory(op, precision, queryTokens, kIntegerKeyTokens))
        keyTokens = kIntegerKeyTokens;
    }
    // NVFP4 P.V: V's scale blocks are 16 consecutive keys, one k64 MMA
    // step 64 of them: flat key tiles of a multiple of 64.
    if (gpu && precision &&
        isa_and_nonnull<Float4E2M1FNType>(precision.getPv())) {
      grid.clear();
      keyTokens = std::max<int64_t>(keyTokens, 64);
    }
    return setTiling(op, TileSizes{queryTokens, keyTokens}, grid, gpu);
  }

  /// Whether an mma.sync kernel with integer Q.K and a 16-bit P.V keeps
  /// `stages` stages of `keyTokens`-key tiles within the chip's shared
  /// memory. An upper bound of the kernel's plan (Q rows, then per stage
  /// the K rows, V rows, K scales and smooth_q's dS rows), so a tile it
  /// accepts always fits; the lowering checks the exact size.
  bool fitsSharedMemory(AttentionOp op, PrecisionAttr precision,
                        int64_t queryTokens, int64_t keyTokens) {
    MmaOperands staged = getMmaOperands(op);
    int64_t headDim = staged.headDim, valueDim = staged.valueDim;
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return false;
    int64_t rowBytes = headDim * precision.getQk().getIntOrFloatBitWidth() / 8;
    int64_t correctionRows = precision.getSmoothQ() ? queryTokens / 16 + 1 : 0;
    int64_t perKey = rowBytes + valueDim * 2 + 4 + 4 * correctionRows;
    // The mma.sync kernels' default depth is 2.
    int64_t depth = stages ? static_cast<int64_t>(stages) : 2;
    int64_t bytes = queryTokens * rowBytes + depth * keyTokens * perKey;
    return bytes <= gpuTarget->maxSharedBytesPerBlock;
  }

  const GpuTarget *gpuTarget = nullptr;
  std::optional<MmaFamily> requestedFamily;
};
} // namespace
