// The kernel manifest (docs/design/GpuArtifacts.md) and everything the
// launcher derives from it without touching a GPU: argument binding, grid
// evaluation and parameter marshalling.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace attn::launcher {

// TensorMap: a 128-byte CUtensorMap (TMA descriptor) passed by value, which
// the launcher encodes per launch from other arguments; not an argument.
enum class ParamType { Ptr, I64, I32, F32, TensorMap };
const char *paramTypeName(ParamType type);

// Element types of a tensor map.
enum class TensorMapDataType { U8, F16, BF16 };
const char *tensorMapDataTypeName(TensorMapDataType type);
unsigned tensorMapElementBytes(TensorMapDataType type);

// What cuTensorMapEncodeTiled accepts (interleave none).
constexpr size_t kTensorMapMaxRank = 5;
constexpr uint32_t kTensorMapMaxBox = 256;
constexpr uint64_t kTensorMapMaxDim = uint64_t(1) << 32;       // inclusive
constexpr uint64_t kTensorMapStrideLimit = uint64_t(1) << 40;  // exclusive
constexpr uint64_t kTensorMapAlignment = 16; // address and strides, bytes

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

// The "tensor_map" object of a tensor_map param: a tiled TMA descriptor of
// the ptr argument `tensor`.
struct TensorMapSpec {
  ArgumentIndex tensor = 0; // a ptr argument (a caller tensor or scratch)
  std::string tensorName;
  TensorMapDataType dataType = TensorMapDataType::BF16;
  // Innermost first, 1 to kTensorMapMaxRank; each the product of its factors.
  std::vector<std::vector<GridFactor>> dims;
  // Byte strides of dims 1 .. rank-1 (rank-1 entries), same form.
  std::vector<std::vector<GridFactor>> strides;
  std::vector<uint32_t> box; // elements per copy, innermost first; rank entries
  uint32_t swizzle = 0;      // bytes: 0 (none), 32, 64 or 128
};

struct KernelParam {
  std::string name;
  ParamType type = ParamType::Ptr;
  ArgumentIndex argument = 0; // the argument it passes; unused for TensorMap
  TensorMapSpec tensorMap;    // TensorMap only
};

struct KernelSpec {
  std::string name;
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
  std::vector<GridFactor> grid[3]; // each dimension is the product
  std::vector<KernelParam> params;
  // Persistent: at most this many blocks per multiprocessor walk grid[0]'s
  // work units (capPersistentGrid); 0: one block per grid position.
  uint32_t persistentBlocksPerSM = 0;
};

// A name the caller may supply to launch: the union of all kernels' params
// (but tensor_map params), the tensors and sizes tensor maps are encoded
// from, grid arguments and scratch size arguments, in first-use order. All
// are required except scratch buffers (the launcher allocates those the
// caller does not pass) and arguments only used to size them.
struct ArgumentInfo {
  std::string name;
  // Typed: a kernel param or a tensor map's tensor (ptr). False: only used
  // by a grid, a tensor map's dims or strides, or a scratch size.
  bool isParam = false;
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
  // Index of each of `arguments` by name: a launch looks up every name it
  // is given (about 60 for a backward), so a scan per name would be
  // quadratic on every call.
  std::map<std::string, long, std::less<>> argumentIndex;
  // Arguments the kernels were compiled for one value of (static shapes),
  // with that value; bindArguments refuses any other.
  std::vector<std::pair<ArgumentIndex, int64_t>> fixedArguments;

  // Index of the argument named `name`, or -1.
  long findArgument(std::string_view name) const;
  // Appends an argument (a name not yet used) and returns its index.
  long addArgument(ArgumentInfo info);
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
//  - tensor_map: 0, unused (see planTensorMaps).
bool marshalParams(const KernelSpec &kernel,
                   const std::vector<int64_t> &argumentValues,
                   std::vector<uint64_t> &slots, std::string &error);

// A tensor_map param evaluated for one launch: what cuTensorMapEncodeTiled
// gets, but for the fixed parts (data type, box, swizzle) in the spec.
struct PlannedTensorMap {
  size_t param = 0; // index into KernelSpec::params
  // The tensor's address; 0 until the launcher fills it in for a scratch
  // buffer it provides (addressKnown false).
  uint64_t address = 0;
  bool addressKnown = true;
  // Some dim is 0: the tensor has no elements, and the kernel reads none of
  // it. Nothing is checked or encoded; the kernel gets 128 zero bytes.
  bool empty = false;
  uint64_t dims[kTensorMapMaxRank] = {};        // elements, innermost first
  uint64_t strides[kTensorMapMaxRank - 1] = {}; // bytes, of dims 1 .. rank-1
};

// Evaluates the kernel's tensor_map params (one PlannedTensorMap each, in
// param order) from the bound arguments and checks what the driver
// requires: every dim at most 2^32 (a dim of 0 makes the map empty), every
// stride a multiple of 16 below 2^40, and a non-null, 16-byte aligned
// address, except for a scratch buffer the caller did not pass (`given`),
// whose address the launcher checks with checkTensorMapAddress once it has
// one. A negative argument in a dim or stride is an error even for an empty
// map; nothing else is checked for one. Errors name the kernel, the param
// and the tensor.
bool planTensorMaps(const KernelSpec &kernel,
                    const std::vector<int64_t> &argumentValues,
                    const std::vector<bool> &given,
                    std::vector<PlannedTensorMap> &maps, std::string &error);

// Checks a (non-empty) tensor map's address: non-null and 16-byte aligned.
bool checkTensorMapAddress(const KernelSpec &kernel, const KernelParam &param,
                           uint64_t address, std::string &error);

// How errors name a tensor map: kernel K: tensor map "P" of "T".
std::string describeTensorMap(const KernelSpec &kernel,
                              const KernelParam &param);

// The blocks to launch for `kernel`'s evaluated `grid` on a device with
// `multiprocessors` SMs: a persistent kernel's grid[0] is capped at its
// blocks per SM times the SMs (its blocks walk the remaining units).
void capPersistentGrid(const KernelSpec &kernel, uint32_t multiprocessors,
                       uint32_t grid[3]);

// The work of one launch call, before any driver call: kernels whose grid has
// a zero dimension are left out.
struct PlannedLaunch {
  size_t kernel; // index into Manifest::kernels
  uint32_t grid[3];
  std::vector<uint64_t> paramSlots;
  std::vector<PlannedTensorMap> tensorMaps; // its tensor_map params
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
