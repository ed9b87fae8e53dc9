// The kernel manifest (docs/design/GpuArtifacts.md) and everything the
// launcher derives from it without touching a GPU: argument binding, grid
// evaluation and parameter marshalling.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attn::launcher {

enum class ParamType { Ptr, I64, I32, F32 };
const char *paramTypeName(ParamType type);

enum class BinaryFormat { Cubin, Fatbin, Ptx };

// Index into Manifest::arguments.
using ArgumentIndex = size_t;

// One factor of a grid dimension or of a scratch buffer's size: a constant,
// an argument's value, or ceil(argument / ceilDiv).
struct GridFactor {
  bool isArgument = false;
  int64_t constant = 1;
  ArgumentIndex argument = 0;
  std::string argumentName;
  int64_t ceilDiv = 0; // 0: the argument's value as is
};

struct KernelParam {
  std::string name;
  ParamType type = ParamType::Ptr;
  ArgumentIndex argument = 0;
};

struct KernelSpec {
  std::string name;
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<GridFactor> grid[3]; // each dimension is the product
  std::vector<KernelParam> params;
};

// A name the caller may supply to launch: the union of all kernels' params,
// grid arguments and scratch size arguments, in first-use order. All are
// required except scratch buffers (the launcher allocates those the caller
// does not pass) and arguments only used to size them.
struct ArgumentInfo {
  std::string name;
  bool isParam = false; // false: only used by a grid or a scratch size
  ParamType type = ParamType::I64;
  long scratch = -1; // index into Manifest::scratch when it is a buffer
  // Only sizes scratch buffers: needed only when the launcher allocates one.
  bool sizesScratchOnly = false;
};

// An intermediate buffer that pre-kernels write and later kernels read
// (e.g. quantized K). It is a ptr param; the launcher allocates it when the
// caller does not pass a pointer of that name.
struct ScratchSpec {
  std::string name;
  std::vector<GridFactor> bytes; // the size is their product
  ArgumentIndex argument = 0;    // the ptr argument it fills
};

struct Manifest {
  std::string binaryFile; // as written in the manifest
  BinaryFormat binaryFormat = BinaryFormat::Cubin;
  std::string chip;         // optional "chip" (sm_XY[a]); empty if absent
  std::string kernelFamily; // optional "kernel" (mma_sync, ...); empty if absent
  std::vector<KernelSpec> kernels;
  std::vector<ScratchSpec> scratch;
  std::vector<ArgumentInfo> arguments;

  // Index of the argument named `name`, or -1.
  long findArgument(std::string_view name) const;
};

// Parses and validates manifest text. Errors name the JSON location, e.g.
// "kernels[0].grid[1][0]: ceil_div must be positive".
bool parseManifest(std::string_view text, Manifest &out, std::string &error);

// Maps caller-supplied (name, value) pairs to a value per manifest argument;
// `given` says which were passed (the others hold 0). Fails on a null or
// unknown name, a repeated name, or any missing required argument (all
// missing names are listed). Scratch buffers and arguments that only size
// them may be missing; sizeScratch checks those.
bool bindArguments(const Manifest &manifest, const char *const *names,
                   const int64_t *values, int count,
                   std::vector<int64_t> &argumentValues,
                   std::vector<bool> &given, std::string &error);

// Evaluates the kernel's grid. Fails on a negative argument used in a grid or
// a dimension that does not fit 32 bits.
bool evaluateGrid(const KernelSpec &kernel,
                  const std::vector<int64_t> &argumentValues,
                  uint32_t grid[3], std::string &error);

// What the launch needs of each Manifest::scratch entry.
struct PlannedScratch {
  bool allocate = false; // the caller did not pass it: the launcher provides
  uint64_t bytes = 0;    // size to provide (0: a null pointer)
};

// Sizes the scratch buffers the caller did not pass. Fails on a missing size
// argument (naming the buffer), a negative one, or a size above 64 bits.
bool sizeScratch(const Manifest &manifest,
                 const std::vector<int64_t> &argumentValues,
                 const std::vector<bool> &given,
                 std::vector<PlannedScratch> &scratch, std::string &error);

// One 8-byte slot per kernel parameter, holding its bytes as the kernel
// expects them (little-endian; 4-byte types in the slot's first 4 bytes).
// The driver gets a pointer to each slot.
//  - ptr, i64: the 64-bit value.
//  - i32: must fit in int32.
//  - f32: the IEEE-754 bit pattern of the float in the low 32 bits of the
//    value (given as an unsigned 0..2^32-1 or a sign-extended int32).
bool marshalParams(const KernelSpec &kernel,
                   const std::vector<int64_t> &argumentValues,
                   std::vector<uint64_t> &slots, std::string &error);

// The work of one launch call, before any driver call: kernels whose grid has
// a zero dimension are left out.
struct PlannedLaunch {
  size_t kernel; // index into Manifest::kernels
  uint32_t grid[3];
  std::vector<uint64_t> paramSlots;
};

struct LaunchPlan {
  std::vector<PlannedLaunch> launches;
  // One per Manifest::scratch. The param slots of buffers to allocate hold 0
  // until the launcher fills in the address.
  std::vector<PlannedScratch> scratch;
};

bool planLaunches(const Manifest &manifest, const char *const *names,
                  const int64_t *values, int count, LaunchPlan &plan,
                  std::string &error);

} // namespace attn::launcher
