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

// One factor of a grid dimension: a constant, an argument's value, or
// ceil(argument / ceilDiv).
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

// A name the caller must supply to launch: the union of all kernels' params
// and grid arguments, in first-use order.
struct ArgumentInfo {
  std::string name;
  bool isParam = false; // false: only used by a grid
  ParamType type = ParamType::I64;
};

struct Manifest {
  std::string binaryFile; // as written in the manifest
  BinaryFormat binaryFormat = BinaryFormat::Cubin;
  std::string chip;
  std::vector<KernelSpec> kernels;
  std::vector<ArgumentInfo> arguments;

  // Index of the argument named `name`, or -1.
  long findArgument(std::string_view name) const;
};

// Parses and validates manifest text. Errors name the JSON location, e.g.
// "kernels[0].grid[1][0]: ceil_div must be positive".
bool parseManifest(std::string_view text, Manifest &out, std::string &error);

// Maps caller-supplied (name, value) pairs to a value per manifest argument.
// Fails on a null or unknown name, a repeated name, or any missing argument
// (all missing names are listed).
bool bindArguments(const Manifest &manifest, const char *const *names,
                   const int64_t *values, int count,
                   std::vector<int64_t> &argumentValues, std::string &error);

// Evaluates the kernel's grid. Fails on a negative argument used in a grid or
// a dimension that does not fit 32 bits.
bool evaluateGrid(const KernelSpec &kernel,
                  const std::vector<int64_t> &argumentValues,
                  uint32_t grid[3], std::string &error);

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

bool planLaunches(const Manifest &manifest, const char *const *names,
                  const int64_t *values, int count,
                  std::vector<PlannedLaunch> &plan, std::string &error);

} // namespace attn::launcher
