//===- InitAllPasses.h - register every attn pass ----------------*- C++ -*-===//

#ifndef ATTN_INITALLPASSES_H
#define ATTN_INITALLPASSES_H

namespace mlir {
namespace attn {

/// Registers the dialect passes, the conversions and the named pipelines
/// (attn-opt, the mlir-opt plugin and the C API call this).
void registerAllAttnPasses();

} // namespace attn
} // namespace mlir

#endif // ATTN_INITALLPASSES_H
