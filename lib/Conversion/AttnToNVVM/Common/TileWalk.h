//===- TileWalk.h - the key tiles a query tile visits -----------*- C++ -*-===//
//
// Private to AttnToNVVM: the sequence of key tiles of one query tile and
// the class of each (may keep a pair; keeps every pair), from the mask
// attribute: a compile-time list per query tile when attn-sparsity left a
// `tile_classes` table (table mode), else the mask's closed-form key range
// and run-time classification (range mode). Every pipeline walks this
// sequence, so loads and compute agree on which tiles exist.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEWALK_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEWALK_H

#include "AttentionKernelContext.h"
#include "EmitterBase.h"
#include "FragmentLayout.h"

namespace mlir {
namespace attn {
namespace detail {

/// A key tile of the walk and its class.
struct TileSlot {
  Value keyTile;
  /// Some pair of the tile may be kept (false: skip the tile).
  Value mayKeep;
  /// Every pair is kept and in bounds (true: no mask code).
  Value keepsAll;
};

/// `fragment` with `mask` applied where a tile is partial: nothing where
/// `keepsAll` is constant true, `mask` inline where it is constant false,
/// else an scf.if marked `attn.partial_tile_mask` (lit tests check where it
/// is) that yields the fragment unmasked on full tiles. Forward and
/// backward kernels alike.
void emitPartialTileMask(OpBuilder &b, Location loc, Value keepsAll,
                         Fragment &fragment,
                         function_ref<void(Fragment &)> mask);

class TileWalk : EmitterBase {
public:
  /// Positions past the end of the walk a pipeline may classify ahead
  /// (S - 1 for S stages, at most 4 stages).
  static constexpr int64_t kMaxLookahead = 3;

  /// Builds the compile-time lists when the op has a table.
  TileWalk(OpBuilder &b, Location loc, const KernelSignature &signature,
           AttentionKernelContext &context);

  /// Emits the constant lists of table mode into `module` as globals named
  /// after `kernelName` (before the kernel function exists).
  void emitLists(gpu::GPUModuleOp module, StringRef kernelName);
  /// Emits the walk's start and length for this block's query tile.
  void begin(gpu::GPUModuleOp module, StringRef kernelName);
  /// The number of tiles in the walk (the loop bound).
  Value count() const { return listCount; }
  /// Sets the loop bound (heads that compute nothing walk no tile).
  void setCount(Value value) { listCount = value; }
  /// The tile at walk position `position` and its class.
  TileSlot slot(Value position);

  /// Which parts of a slot are run-time values at a run-time position (the
  /// others are the same constant at every position).
  struct VaryingParts {
    bool keyTile = true, mayKeep = true, keepsAll = true;
  };
  VaryingParts varyingParts();

private:
  AttentionKernelContext &ctx;
  bool tableMode = false;
  /// Table mode with no partial tile (e.g. dense with whole tiles).
  bool everyListedTileFull = false;
  /// Table mode: offsets[q] .. offsets[q + 1] index `entries`, each
  /// 2 * key tile + (1 when full).
  SmallVector<int32_t> offsets, entries;
  gpu::GPUModuleOp module;
  std::string kernelName;
  Value listStart, listCount;
  Value firstKeyTile; // range mode
};

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_TILEWALK_H
