//===- FragmentLayout.h - accumulator registers as (row, column) -*- C++ -*-===//
//
// Private to AttnToNVVM: which elements of an MMA accumulator tile a thread
// holds, as data. Masking, dequantization, dS, the bias, the online
// softmax, two-level accumulation, the head features and the epilogue are
// written once over "element (row slot, column)" and serve every MMA
// family:
//
//   mma.sync m16n8 (every chip): rows g and g + 8 of each of the warp's
//     m16 tiles (one or two), columns 8 j + 2 t + {0, 1} of n8 chunk j; the
//     4 lanes of a quad share a row (docs/design/FragmentLayouts.md).
//   wgmma m64nN (sm_90a): the same, rows + 16 (warp % 4).
//   tcgen05.ld 32x32b (sm_100a): one row per thread, every column of the
//     chunk in the thread, no lane shares a row.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_FRAGMENTLAYOUT_H
#define ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_FRAGMENTLAYOUT_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <cassert>

namespace mlir {
namespace attn {
namespace detail {

/// The static shape of a thread's accumulator elements in an MMA tile.
/// The tile's columns come in chunks of `chunkColumns`; in each chunk the
/// thread holds, for each of its `rowSlots` rows, `columnsPerThread`
/// consecutive columns starting at its column offset (FragmentPlacement).
/// Element (chunk, slot, c) is register (chunk * rowSlots + slot) *
/// columnsPerThread + c.
///
/// `interleavedChunks` > 1 relabels the columns of each group of that many
/// chunks so that a thread's columns of the group are consecutive (the
/// engine then loads the operand's rows in that order): NVFP4 P.V wants
/// each lane's P registers to hold 8 consecutive keys.
struct FragmentLayout {
  int64_t rowSlots = 0;
  int64_t chunkColumns = 0;
  int64_t columnsPerThread = 0;
  /// Lane XOR masks that reach every lane holding the same rows (a row
  /// reduction is the thread's own values, then one butterfly shuffle per
  /// mask).
  SmallVector<int64_t, 2> rowPeerLanes;
  int64_t interleavedChunks = 1;

  int64_t elementsPerChunk() const { return rowSlots * columnsPerThread; }
  int64_t numChunks(int64_t columns) const { return columns / chunkColumns; }
  int64_t index(int64_t chunk, int64_t slot, int64_t c) const {
    return (chunk * rowSlots + slot) * columnsPerThread + c;
  }
  /// The static part of the column of element (chunk, c).
  int64_t column(int64_t chunk, int64_t c) const {
    int64_t group = chunk / interleavedChunks;
    int64_t member = chunk % interleavedChunks;
    return group * chunkColumns * interleavedChunks +
           member * columnsPerThread + c;
  }
  /// The factor of a thread's column offset (its offset in a chunk times
  /// this is its offset in a group of interleaved chunks).
  int64_t columnOffsetScale() const { return interleavedChunks; }
};

/// Where this thread's elements lie: the tile row of each row slot (the
/// engine also gives the offset this thread adds to every static column).
struct FragmentPlacement {
  SmallVector<Value, 2> rows;
};

/// A thread's elements of one accumulator tile of `numChunks` chunks.
struct Fragment {
  Fragment() = default;
  Fragment(const FragmentLayout &layout, int64_t numChunks, Value fill)
      : numChunks(numChunks),
        values(numChunks * layout.elementsPerChunk(), fill) {}

  Value &at(const FragmentLayout &layout, int64_t chunk, int64_t slot,
            int64_t c) {
    return values[layout.index(chunk, slot, c)];
  }
  Value at(const FragmentLayout &layout, int64_t chunk, int64_t slot,
           int64_t c) const {
    return values[layout.index(chunk, slot, c)];
  }

  int64_t numChunks = 0;
  SmallVector<Value> values;
};

/// Calls `fn(chunk, slot, c)` for every element of a fragment of `numChunks`
/// chunks, in register order.
template <typename Fn>
void forEachElement(const FragmentLayout &layout, int64_t numChunks, Fn fn) {
  for (int64_t chunk = 0; chunk < numChunks; ++chunk)
    for (int64_t slot = 0; slot < layout.rowSlots; ++slot)
      for (int64_t c = 0; c < layout.columnsPerThread; ++c)
        fn(chunk, slot, c);
}

/// An accumulator fragment as the 16-bit A operand of a k16 product
/// (mma.sync m16n8k16, wgmma with A from registers): k-step kk packs n8
/// chunks 2 kk and 2 kk + 1 as (row g, columns 2t..), (g + 8, 2t..),
/// (g, 8 + 2t..), (g + 8, 8 + 2t..); `pack(low, high)` rounds one pair
/// into a register. `kColumns` of the fragment are packed.
template <typename PackFn>
SmallVector<Value> packAccumulatorAsA(const FragmentLayout &layout,
                                      const Fragment &fragment,
                                      int64_t kColumns, PackFn pack) {
  assert(layout.rowSlots == 2 && layout.columnsPerThread == 2 &&
         layout.interleavedChunks == 1 &&
         "the m16n8 / wgmma accumulator layout (a tcgen05 fragment is not an "
         "A operand)");
  SmallVector<Value> registers;
  for (int64_t kk = 0; kk < kColumns / 16; ++kk)
    for (int64_t half = 0; half < 2; ++half)
      for (int64_t slot = 0; slot < 2; ++slot)
        registers.push_back(pack(fragment.at(layout, 2 * kk + half, slot, 0),
                                 fragment.at(layout, 2 * kk + half, slot, 1)));
  return registers;
}

} // namespace detail
} // namespace attn
} // namespace mlir

#endif // ATTN_LIB_CONVERSION_ATTNTONVVM_COMMON_FRAGMENTLAYOUT_H
