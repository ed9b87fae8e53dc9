//===- KernelManifest.h - how to launch the generated kernels ---*- C++ -*-===//
//
// What attn-lower-to-gpu records for each kernel it emits (grid, block,
// shared memory, parameters by name) and the scratch buffers they share,
// in memory, as module attributes, and as the manifest.json that
// attn-export-artifacts writes for the launcher. The JSON names come from
// runtime/include/attn/manifest_schema.h, which the launcher reads too.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTONVVM_KERNELMANIFEST_H
#define ATTN_CONVERSION_ATTNTONVVM_KERNELMANIFEST_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace attn {

/// One factor of a grid dimension or a scratch size: `constant`, times
/// ceil(`arg` / `divisor`) when `arg` names a run-time argument.
struct GridFactor {
  int64_t constant = 1;
  std::string arg;
  int64_t divisor = 1;
};

/// A TMA tensor map the launcher encodes per launch from other arguments
/// (docs/design/GpuArtifacts.md, "tensor_map" parameters): the tensor (a
/// ptr argument) seen as `dims` (innermost first, each the product of its
/// factors) with byte `strides` for dims 1 .. rank-1, copied in `box`es
/// into shared memory with a `swizzle` of 0, 32, 64 or 128 bytes.
struct TensorMapDescription {
  std::string tensor;
  /// bf16, f16 or u8.
  std::string dataType;
  std::vector<SmallVector<GridFactor>> dims, strides;
  std::vector<int64_t> box;
  int64_t swizzle = 0;
};

/// A kernel parameter, by name (docs/design/GpuArtifacts.md). Its type is
/// an LLVM pointer (a device address, or with `tensorMap` the generic
/// address of a 128-byte map passed by value), i64, i32 or f32.
struct KernelParam {
  std::string name;
  Type type;
  std::optional<TensorMapDescription> tensorMap = std::nullopt;
};

/// What the launcher (and the host rewrite) needs to launch a kernel.
struct KernelLaunch {
  std::string name;
  SmallVector<KernelParam> params;
  std::array<SmallVector<GridFactor>, 3> grid;
  int64_t blockSize = 0;
  int64_t sharedBytes = 0;
  /// A persistent kernel: its blocks walk the work units of grid[0] (the
  /// other dimensions are 1) in steps of the launched block count, which
  /// the launcher caps at this many blocks per multiprocessor; 0: one block
  /// per grid position.
  int64_t persistentBlocksPerSM = 0;
};

/// A device buffer the pre-kernels write and the attention kernel reads;
/// the launcher allocates it.
struct ScratchBuffer {
  std::string name;
  /// Size in bytes: the product of the factors.
  SmallVector<GridFactor> bytes;
};

/// The launches of a module, in order, and their scratch buffers.
struct KernelManifest {
  /// The MMA family of the attention kernels (`mma_sync`, ...).
  std::string kernelFamily;
  std::vector<KernelLaunch> kernels;
  std::vector<ScratchBuffer> scratch;
  /// Run-time arguments the kernels were compiled for one value of (static
  /// batch and lengths), in recording order; the launcher refuses others.
  /// A name whose ops disagree holds kConflictingValue (not written to
  /// manifest.json: no check).
  std::vector<std::pair<std::string, int64_t>> fixedArguments;
  static constexpr int64_t kConflictingValue = -1;
  /// Records that the kernels need `name` = `value`.
  void fixArgument(StringRef name, int64_t value);
};

/// The symbol of the gpu.module (and, after gpu-module-to-binary, of the
/// gpu.binary) that holds the kernels.
StringRef getKernelModuleName();

/// Records `manifest` on `module` (module attributes `attn.kernels`,
/// `attn.scratch`, `attn.kernel_family` and `attn.static_arguments`),
/// replacing any record.
void writeKernelManifest(ModuleOp module, const KernelManifest &manifest);

/// Whether `module` holds a recorded manifest.
bool hasKernelManifest(ModuleOp module);

/// The manifest recorded on `module`; a diagnostic when it is missing or
/// malformed.
FailureOr<KernelManifest> readKernelManifest(ModuleOp module);

/// The manifest.json object for a binary named `binaryFile` in format
/// `binaryFormat` (cubin, fatbin or ptx) compiled for `chip`.
llvm::json::Object kernelManifestToJson(const KernelManifest &manifest,
                                        StringRef binaryFile,
                                        StringRef binaryFormat,
                                        StringRef chip);

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTONVVM_KERNELMANIFEST_H
