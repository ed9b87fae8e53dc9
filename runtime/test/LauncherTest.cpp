// Tests of the launcher without a GPU: JSON and manifest parsing, argument
// binding, grid evaluation, parameter marshalling, and launches against fake
// drivers (an in-process function table and a stand-in libcuda.so).
#include "Driver.h"
#include "FakeCudaState.h"
#include "Json.h"
#include "Launcher.h"
#include "Manifest.h"
#include "attn/launcher.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

using namespace attn::launcher;

// ---------------------------------------------------------------------------
// A minimal test harness: a failed check reports and the test goes on.

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    auto _a = (a);                                                             \
    auto _b = (b);                                                             \
    if (!(_a == _b)) {                                                         \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s\n", __FILE__,     \
                   __LINE__, #a, #b);                                          \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

// `text` contains `part`; prints the text when it does not.
#define CHECK_CONTAINS(text, part)                                             \
  do {                                                                         \
    std::string _text = (text);                                                \
    if (_text.find(part) == std::string::npos) {                               \
      std::fprintf(stderr, "%s:%d: expected \"%s\" in: %s\n", __FILE__,        \
                   __LINE__, std::string(part).c_str(), _text.c_str());        \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static std::vector<std::pair<const char *, std::function<void()>>> &tests() {
  static std::vector<std::pair<const char *, std::function<void()>>> all;
  return all;
}
struct TestRegistration {
  TestRegistration(const char *name, std::function<void()> body) {
    tests().emplace_back(name, std::move(body));
  }
};
#define TEST(name)                                                             \
  static void name();                                                          \
  static TestRegistration name##Registration(#name, name);                     \
  static void name()

// ---------------------------------------------------------------------------
// Fixtures

// The manifest of GpuArtifacts.md plus a second kernel that reads an f32, a
// grid-only argument and a small shared size.
static const char *kManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "kernels.cubin", "binary_format": "cubin", "chip": "sm_90",
  "kernels": [
    {
      "name": "attn_fwd_0",
      "block": [256, 1, 1],
      "shared_bytes": 98304,
      "grid": [[{"arg": "seq_q", "ceil_div": 128}], [4], [{"arg": "batch"}]],
      "params": [{"name": "q", "type": "ptr"},
                 {"name": "q_stride_b", "type": "i64"},
                 {"name": "seq_q", "type": "i32"}]
    },
    {
      "name": "attn_combine_1",
      "block": [128, 2, 1],
      "shared_bytes": 1024,
      "grid": [[{"arg": "splits"}, 2], [1], [{"arg": "batch"}]],
      "params": [{"name": "out", "type": "ptr"},
                 {"name": "scale", "type": "f32"},
                 {"name": "batch", "type": "i32"}]
    }
  ]
})";

static const char *kArgNames[] = {"q",     "q_stride_b", "seq_q", "batch",
                                  "out",   "scale",      "splits"};
static const int kArgCount = 7;

static uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static std::vector<int64_t> defaultArgValues() {
  return {0x7f0000001000, 3 * 1000 * 64, 1000, 2, 0x7f0000002000,
          int64_t(floatBits(0.125f)), 3};
}

// Quantized attention in miniature: a pre-kernel writes two scratch buffers
// (int8 K and its scales) that the main kernel reads.
static const char *kScratchManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "kernels.cubin", "binary_format": "cubin", "chip": "sm_90",
  "scratch": [
    {"name": "k_quant",
     "bytes": [{"arg": "batch"}, 16, {"arg": "seq_k", "ceil_div": 16}, 16, 128]},
    {"name": "k_scale", "bytes": [{"arg": "batch"}, 16, {"arg": "seq_k"}, 4]}
  ],
  "kernels": [
    {
      "name": "quantize_k",
      "block": [128, 1, 1],
      "shared_bytes": 0,
      "grid": [[{"arg": "seq_k", "ceil_div": 64}], [16], [{"arg": "batch"}]],
      "params": [{"name": "k", "type": "ptr"},
                 {"name": "k_stride_b", "type": "i64"},
                 {"name": "k_quant", "type": "ptr"},
                 {"name": "k_scale", "type": "ptr"},
                 {"name": "seq_k", "type": "i32"}]
    },
    {
      "name": "attn_fwd_int8",
      "block": [256, 1, 1],
      "shared_bytes": 0,
      "grid": [[{"arg": "seq_q", "ceil_div": 128}], [16], [{"arg": "batch"}]],
      "params": [{"name": "q", "type": "ptr"},
                 {"name": "k_quant", "type": "ptr"},
                 {"name": "k_scale", "type": "ptr"},
                 {"name": "out", "type": "ptr"},
                 {"name": "seq_q", "type": "i32"},
                 {"name": "seq_k", "type": "i32"}]
    }
  ]
})";

// Sizes for batch 2: ceil(seq_k / 16) * 16 * 128 int8 per (batch, head), and
// one f32 scale per key row.
static uint64_t kQuantBytes(int64_t seqK) {
  return uint64_t(2 * 16 * ((seqK + 15) / 16) * 16 * 128);
}
static uint64_t kScaleBytes(int64_t seqK) {
  return uint64_t(2 * 16 * seqK * 4);
}

// Launch arguments for kScratchManifest; no scratch pointers unless set.
struct ScratchArgs {
  std::vector<const char *> names = {"k", "k_stride_b", "seq_k", "batch",
                                     "q", "out",        "seq_q"};
  std::vector<int64_t> values = {0x7f0000001000, 4096,           1000, 2,
                                 0x7f0000002000, 0x7f0000003000, 512};

  ScratchArgs &set(const char *name, int64_t value) {
    for (size_t i = 0; i < names.size(); ++i)
      if (std::strcmp(names[i], name) == 0) {
        values[i] = value;
        return *this;
      }
    names.push_back(name);
    values.push_back(value);
    return *this;
  }
  ScratchArgs &remove(const char *name) {
    for (size_t i = 0; i < names.size(); ++i)
      if (std::strcmp(names[i], name) == 0) {
        names.erase(names.begin() + long(i));
        values.erase(values.begin() + long(i));
      }
    return *this;
  }
  int count() const { return int(names.size()); }
};

static Manifest parsedManifest(const char *text = kManifest) {
  Manifest manifest;
  std::string error;
  bool ok = parseManifest(text, manifest, error);
  if (!ok)
    std::fprintf(stderr, "manifest: %s\n", error.c_str());
  CHECK(ok);
  return manifest;
}

// `text` with the first occurrence of `from` replaced by `to`.
static std::string replaced(std::string text, const std::string &from,
                            const std::string &to) {
  size_t at = text.find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "fixture does not contain %s\n", from.c_str());
    std::abort();
  }
  return text.replace(at, from.size(), to);
}

// A scratch directory holding a manifest and its binary.
class ArtifactDir {
public:
  ArtifactDir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") +
                          "/attn-launcher-test-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!mkdtemp(buffer.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = buffer.data();
  }
  ~ArtifactDir() {
    for (const std::string &file : files_)
      unlink(file.c_str());
    rmdir(path_.c_str());
  }
  std::string write(const std::string &name, const std::string &contents) {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << contents;
    files_.push_back(file);
    return file;
  }

private:
  std::string path_;
  std::vector<std::string> files_;
};

// ---------------------------------------------------------------------------
// In-process fake driver: records every call; handles are small integers
// cast to pointers (function handle = 1 + kernel index in fakeFunctionNames).

struct RecordedLaunch {
  std::string function;
  unsigned grid[3], block[3], sharedBytes;
  CUstream stream;
  std::vector<uint64_t> params; // 8 bytes read from each param pointer
  std::vector<const void *> paramPointers = {}; // kernelParams[i]
  // The 128 bytes behind each tensor_map param, by param index.
  std::map<size_t, std::vector<unsigned char>> tensorMaps = {};
};

// A cuTensorMapEncodeTiled call; the fake writes byte i of call n's map as
// fakeTensorMapByte(n, i).
struct FakeEncode {
  const void *map;
  int dataType;
  cuuint32_t rank;
  uint64_t address;
  std::vector<cuuint64_t> dims, strides;
  std::vector<cuuint32_t> box, elementStrides;
  int interleave, swizzle, l2Promotion, oobFill;
};
static unsigned char fakeTensorMapByte(size_t call, size_t i) {
  return static_cast<unsigned char>(0xA0 + 7 * call + i);
}
static std::vector<unsigned char> fakeTensorMapBytes(size_t call) {
  std::vector<unsigned char> bytes(128);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = fakeTensorMapByte(call, i);
  return bytes;
}

// A cuMemAlloc_v2 or cuMemFree_v2, with the context current at the time.
struct FakeMemoryCall {
  CUdeviceptr address;
  uint64_t bytes;
  CUcontext context;
};

struct FakeDriver {
  std::vector<std::string> calls;
  std::vector<std::string> functionNames;
  std::map<std::string, size_t> paramCounts; // by kernel name
  // Indices of the tensor_map params, by kernel name.
  std::map<std::string, std::vector<size_t>> tensorMapParams;
  std::vector<FakeEncode> encodes;
  CUresult encodeResult = CUDA_SUCCESS;
  std::vector<RecordedLaunch> launches;
  std::vector<std::string> loadedImages;
  std::map<std::string, int> sharedAttributes; // by kernel name
  CUcontext current = reinterpret_cast<CUcontext>(uintptr_t(0x100));
  CUcontext primary = reinterpret_cast<CUcontext>(uintptr_t(0x200));
  CUresult launchResult = CUDA_SUCCESS;
  CUresult moduleLoadResult = CUDA_SUCCESS;
  CUresult memAllocResult = CUDA_SUCCESS;
  std::vector<FakeMemoryCall> allocations; // in order
  std::vector<FakeMemoryCall> frees;       // bytes: of the freed allocation
  CUdeviceptr nextAddress = 0xd00000000000;
  int multiprocessors = 132;
};
static FakeDriver fake;

static CUresult fakeInit(unsigned) {
  fake.calls.push_back("cuInit");
  return CUDA_SUCCESS;
}
static CUresult fakeCtxGetCurrent(CUcontext *context) {
  *context = fake.current;
  return CUDA_SUCCESS;
}
static CUresult fakeCtxSetCurrent(CUcontext context) {
  fake.calls.push_back("cuCtxSetCurrent");
  fake.current = context;
  return CUDA_SUCCESS;
}
static CUresult fakeDeviceGet(CUdevice *device, int ordinal) {
  *device = ordinal;
  return CUDA_SUCCESS;
}
static CUresult fakePrimaryCtxRetain(CUcontext *context, CUdevice) {
  fake.calls.push_back("cuDevicePrimaryCtxRetain");
  *context = fake.primary;
  return CUDA_SUCCESS;
}
static CUresult fakeCtxGetDevice(CUdevice *device) {
  *device = 0;
  return CUDA_SUCCESS;
}
static CUresult fakeDeviceGetAttribute(int *value, int attribute, CUdevice) {
  CHECK_EQ(attribute, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  *value = fake.multiprocessors;
  return CUDA_SUCCESS;
}
static CUresult fakeCtxSynchronize() {
  fake.calls.push_back("cuCtxSynchronize");
  return CUDA_SUCCESS;
}
static CUresult fakeMemAlloc(CUdeviceptr *address, size_t bytes) {
  fake.calls.push_back("cuMemAlloc_v2");
  if (fake.memAllocResult != CUDA_SUCCESS)
    return fake.memAllocResult;
  *address = fake.nextAddress;
  fake.nextAddress += 0x100000000; // 256-aligned like the driver's
  fake.allocations.push_back({*address, bytes, fake.current});
  return CUDA_SUCCESS;
}
static CUresult fakeMemFree(CUdeviceptr address) {
  fake.calls.push_back("cuMemFree_v2");
  uint64_t bytes = 0;
  for (const FakeMemoryCall &allocation : fake.allocations)
    if (allocation.address == address)
      bytes = allocation.bytes;
  CHECK(bytes != 0); // only what was allocated is freed
  fake.frees.push_back({address, bytes, fake.current});
  return CUDA_SUCCESS;
}
static CUresult fakeModuleLoadData(CUmodule *module, const void *image) {
  fake.calls.push_back("cuModuleLoadData");
  if (fake.moduleLoadResult != CUDA_SUCCESS)
    return fake.moduleLoadResult;
  fake.loadedImages.push_back(static_cast<const char *>(image));
  *module = reinterpret_cast<CUmodule>(uintptr_t(fake.loadedImages.size()));
  return CUDA_SUCCESS;
}
static CUresult fakeModuleUnload(CUmodule) {
  fake.calls.push_back("cuModuleUnload");
  return CUDA_SUCCESS;
}
static CUresult fakeModuleGetFunction(CUfunction *function, CUmodule,
                                      const char *name) {
  fake.functionNames.push_back(name);
  *function = reinterpret_cast<CUfunction>(uintptr_t(fake.functionNames.size()));
  return CUDA_SUCCESS;
}
static std::string fakeFunctionName(CUfunction function) {
  return fake.functionNames[reinterpret_cast<uintptr_t>(function) - 1];
}
static CUresult fakeFuncSetAttribute(CUfunction function, int attribute,
                                     int value) {
  if (attribute == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
    fake.sharedAttributes[fakeFunctionName(function)] = value;
  return CUDA_SUCCESS;
}
static CUresult fakeLaunchKernel(CUfunction function, unsigned gx, unsigned gy,
                                 unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned shared, CUstream stream,
                                 void **params, void **extra) {
  CHECK(extra == nullptr);
  if (fake.launchResult != CUDA_SUCCESS)
    return fake.launchResult;
  RecordedLaunch launch{fakeFunctionName(function), {gx, gy, gz}, {bx, by, bz},
                        shared, stream, {}};
  for (size_t i = 0; i < fake.paramCounts[launch.function]; ++i) {
    uint64_t bytes;
    std::memcpy(&bytes, params[i], sizeof(bytes));
    launch.params.push_back(bytes);
    launch.paramPointers.push_back(params[i]);
  }
  for (size_t i : fake.tensorMapParams[launch.function]) {
    const auto *bytes = static_cast<const unsigned char *>(params[i]);
    launch.tensorMaps[i].assign(bytes, bytes + 128);
  }
  fake.launches.push_back(launch);
  return CUDA_SUCCESS;
}
static CUresult fakeTensorMapEncodeTiled(
    CUtensorMap *map, int dataType, cuuint32_t rank, void *address,
    const cuuint64_t *dims, const cuuint64_t *strides, const cuuint32_t *box,
    const cuuint32_t *elementStrides, int interleave, int swizzle,
    int l2Promotion, int oobFill) {
  fake.calls.push_back("cuTensorMapEncodeTiled");
  if (fake.encodeResult != CUDA_SUCCESS)
    return fake.encodeResult;
  FakeEncode encode{map,
                    dataType,
                    rank,
                    uint64_t(reinterpret_cast<uintptr_t>(address)),
                    std::vector<cuuint64_t>(dims, dims + rank),
                    std::vector<cuuint64_t>(strides, strides + rank - 1),
                    std::vector<cuuint32_t>(box, box + rank),
                    std::vector<cuuint32_t>(elementStrides,
                                            elementStrides + rank),
                    interleave,
                    swizzle,
                    l2Promotion,
                    oobFill};
  for (size_t i = 0; i < sizeof(map->opaque); ++i)
    map->opaque[i] = fakeTensorMapByte(fake.encodes.size(), i);
  fake.encodes.push_back(encode);
  return CUDA_SUCCESS;
}
static CUresult fakeGetErrorName(CUresult result, const char **name) {
  *name = result == 700 ? "CUDA_ERROR_ILLEGAL_ADDRESS" : "CUDA_ERROR_UNKNOWN";
  return CUDA_SUCCESS;
}
static CUresult fakeGetErrorString(CUresult, const char **text) {
  *text = "an illegal memory access was encountered";
  return CUDA_SUCCESS;
}

static DriverApi fakeDriverApi() {
  DriverApi api;
  api.cuInit = fakeInit;
  api.cuCtxGetCurrent = fakeCtxGetCurrent;
  api.cuCtxSetCurrent = fakeCtxSetCurrent;
  api.cuDeviceGet = fakeDeviceGet;
  api.cuDevicePrimaryCtxRetain = fakePrimaryCtxRetain;
  api.cuCtxSynchronize = fakeCtxSynchronize;
  api.cuCtxGetDevice = fakeCtxGetDevice;
  api.cuDeviceGetAttribute = fakeDeviceGetAttribute;
  api.cuMemAlloc_v2 = fakeMemAlloc;
  api.cuMemFree_v2 = fakeMemFree;
  api.cuModuleLoadData = fakeModuleLoadData;
  api.cuModuleUnload = fakeModuleUnload;
  api.cuModuleGetFunction = fakeModuleGetFunction;
  api.cuFuncSetAttribute = fakeFuncSetAttribute;
  api.cuLaunchKernel = fakeLaunchKernel;
  api.cuGetErrorName = fakeGetErrorName;
  api.cuGetErrorString = fakeGetErrorString;
  api.cuTensorMapEncodeTiled = fakeTensorMapEncodeTiled;
  return api;
}

static const DriverApi *fakeDriverProvider(std::string &) {
  static DriverApi api = fakeDriverApi();
  return &api;
}

// Resets the fake and loads a launcher over `manifestText`.
static std::unique_ptr<Launcher> loadWithFake(ArtifactDir &dir,
                                              const std::string &manifestText,
                                              const std::string &binary) {
  fake = FakeDriver();
  Manifest manifest = parsedManifest(manifestText.c_str());
  for (const KernelSpec &kernel : manifest.kernels) {
    fake.paramCounts[kernel.name] = kernel.params.size();
    for (size_t p = 0; p < kernel.params.size(); ++p)
      if (kernel.params[p].type == ParamType::TensorMap)
        fake.tensorMapParams[kernel.name].push_back(p);
  }
  std::string binaryName = manifest.binaryFile;
  // The fake reads the image as a C string, and the launcher ends only PTX
  // with a NUL: a cubin stand-in carries its own.
  dir.write(binaryName, manifest.binaryFormat == BinaryFormat::Ptx
                            ? binary
                            : binary + std::string(1, '\0'));
  std::string error;
  auto launcher = Launcher::load(dir.write("manifest.json", manifestText),
                                 fakeDriverProvider, error);
  if (!launcher)
    std::fprintf(stderr, "load: %s\n", error.c_str());
  CHECK(launcher != nullptr);
  return launcher;
}

// ---------------------------------------------------------------------------
// JSON

TEST(JsonParsesNestedValues) {
  JsonValue value;
  std::string error;
  CHECK(parseJson(R"( {"a": [1, -2, {"b": "x\"y\u00e9\n"}], "t": true,
                       "f": false, "n": null, "min": -9223372036854775808} )",
                  value, error));
  CHECK(value.isObject());
  const JsonValue *a = value.find("a");
  CHECK(a && a->isArray() && a->items.size() == 3);
  CHECK_EQ(a->items[1].integer, int64_t(-2));
  CHECK_EQ(a->items[2].find("b")->string, std::string("x\"y\xc3\xa9\n"));
  CHECK(value.find("t")->boolean);
  CHECK_EQ(value.find("n")->kind, JsonValue::Kind::Null);
  CHECK_EQ(value.find("min")->integer, INT64_MIN);
  CHECK(value.find("missing") == nullptr);
}

TEST(JsonErrorsSayWhatAndWhere) {
  struct Case {
    const char *text, *expected;
  } cases[] = {
      {"{\"a\": 1,}", "line 1, column 9: expected a string key"},
      {"{\"a\": 1.5}", "line 1, column 8: only integers"},
      {"[1,\n 2,\n 3", "line 3, column 3: expected ',' or ']'"},
      {"\"abc", "unterminated string"},
      {"{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key \"a\""},
      {"99999999999999999999", "does not fit in 64 bits"},
      {"[1] x", "unexpected text after the JSON value"},
      {"", "unexpected end of input"},
      {"[tru]", "invalid literal"},
      {"\"\\q\"", "invalid escape"},
      {"012", "leading zeros"},
  };
  for (const Case &c : cases) {
    JsonValue value;
    std::string error;
    CHECK(!parseJson(c.text, value, error));
    CHECK_CONTAINS(error, c.expected);
  }
}

// ---------------------------------------------------------------------------
// Manifest

TEST(ManifestParsesTheDesignExample) {
  Manifest manifest = parsedManifest();
  CHECK_EQ(manifest.binaryFile, std::string("kernels.cubin"));
  CHECK_EQ(manifest.binaryFormat, BinaryFormat::Cubin);
  CHECK_EQ(manifest.chip, std::string("sm_90"));
  CHECK_EQ(manifest.kernels.size(), size_t(2));
  CHECK(manifest.scratch.empty()); // the key is optional
  const KernelSpec &fwd = manifest.kernels[0];
  CHECK_EQ(fwd.name, std::string("attn_fwd_0"));
  CHECK_EQ(fwd.block[0], 256u);
  CHECK_EQ(fwd.sharedBytes, 98304u);
  CHECK_EQ(fwd.params.size(), size_t(3));
  CHECK_EQ(fwd.params[2].type, ParamType::I32);
  CHECK(fwd.grid[0][0].isArgument);
  CHECK_EQ(fwd.grid[0][0].ceilDiv, int64_t(128));
  CHECK_EQ(fwd.grid[1][0].constant, int64_t(4));
  // The union of names, in first-use order; "splits" is grid-only.
  std::vector<std::string> names;
  for (const ArgumentInfo &argument : manifest.arguments)
    names.push_back(argument.name);
  CHECK(names == std::vector<std::string>(kArgNames, kArgNames + kArgCount));
  CHECK(!manifest.arguments[manifest.findArgument("splits")].isParam);
  // "batch" is used by a grid first, then typed by the second kernel's params.
  CHECK(manifest.arguments[manifest.findArgument("batch")].isParam);
  CHECK_EQ(manifest.arguments[manifest.findArgument("batch")].type,
           ParamType::I32);
}

// The optional top-level "kernel" (the MMA family of the kernels) and
// "chip" are strings; absent, they read as empty.
TEST(ManifestReadsTheKernelFamily) {
  std::string base = kManifest;
  std::string withFamily =
      replaced(base, "\"chip\": \"sm_90\",",
               "\"chip\": \"sm_90\", \"kernel\": \"mma_sync\",");
  Manifest manifest = parsedManifest(withFamily.c_str());
  CHECK_EQ(manifest.kernelFamily, std::string("mma_sync"));
  CHECK_EQ(manifest.chip, std::string("sm_90"));
  CHECK_EQ(manifest.kernels.size(), size_t(2));

  Manifest without = parsedManifest();
  CHECK(without.kernelFamily.empty());
  std::string noChip = replaced(base, "\"chip\": \"sm_90\",", "");
  CHECK(parsedManifest(noChip.c_str()).chip.empty());

  struct Case {
    std::string text;
    const char *expected;
  } cases[] = {
      {replaced(base, "\"chip\": \"sm_90\",",
                "\"chip\": \"sm_90\", \"kernel\": 3,"),
       "kernel: expected string, got integer"},
      {replaced(base, "\"chip\": \"sm_90\",",
                "\"chip\": \"sm_90\", \"kernel\": [\"mma_sync\"],"),
       "kernel: expected string, got array"},
      {replaced(base, "\"chip\": \"sm_90\"", "\"chip\": 90"),
       "chip: expected string, got integer"},
  };
  for (const Case &c : cases) {
    Manifest bad;
    std::string error;
    CHECK(!parseManifest(c.text, bad, error));
    CHECK_CONTAINS(error, c.expected);
  }
}

TEST(ManifestErrorsNameTheLocation) {
  std::string base = kManifest;
  struct Case {
    std::string text;
    const char *expected;
  } cases[] = {
      {replaced(base, "attn-kernels", "other"),
       "format: expected \"attn-kernels\", got \"other\""},
      {replaced(base, "\"version\": 1", "\"version\": 2"),
       "version: unsupported version 2"},
      {replaced(base, "\"binary\": \"kernels.cubin\",", ""),
       "manifest: missing \"binary\""},
      {replaced(base, "\"binary_format\": \"cubin\"",
                "\"binary_format\": \"elf\""),
       "binary_format: unknown binary format \"elf\""},
      {replaced(base, "\"type\": \"i64\"", "\"type\": \"f64\""),
       "kernels[0].params[1].type: unknown param type \"f64\""},
      {replaced(base, "\"ceil_div\": 128", "\"ceil_div\": 0"),
       "kernels[0].grid[0][0].ceil_div: must be positive, got 0"},
      {replaced(base, "[4]", "[\"4\"]"),
       "kernels[0].grid[1][0]: expected an integer or {\"arg\": ...}, got "
       "string"},
      {replaced(base, "{\"arg\": \"batch\"}]]",
                "{\"arg\": \"batch\", \"div\": 2}]]"),
       "kernels[0].grid[2][0]: unknown key \"div\""},
      {replaced(base, "[256, 1, 1]", "[256, 1]"),
       "kernels[0].block: expected 3 dimensions, got 2"},
      {replaced(base, "[128, 2, 1]", "[128, 0, 1]"),
       "kernels[1].block[1]: block dimension 0 out of range"},
      {replaced(base, "\"shared_bytes\": 1024", "\"shared_bytes\": -1"),
       "kernels[1].shared_bytes: -1 out of range"},
      {replaced(base, "\"attn_combine_1\"", "\"attn_fwd_0\""),
       "kernels[1].name: duplicate kernel name \"attn_fwd_0\""},
      {replaced(base, "{\"name\": \"batch\", \"type\": \"i32\"}",
                "{\"name\": \"seq_q\", \"type\": \"i64\"}"),
       "kernels[1].params[2]: argument \"seq_q\" is i64 here but i32 "
       "elsewhere"},
      {replaced(base, "{\"name\": \"scale\", \"type\": \"f32\"}",
                "{\"name\": \"out\", \"type\": \"ptr\"}"),
       "kernels[1].params[1].name: duplicate param \"out\""},
      {replaced(base, "\"kernels\": [", "\"kernels\": {\"x\": ["),
       "invalid JSON: line"},
      {"[]", "manifest: expected object, got array"},
  };
  for (const Case &c : cases) {
    Manifest manifest;
    std::string error;
    CHECK(!parseManifest(c.text, manifest, error));
    CHECK_CONTAINS(error, c.expected);
  }
}

// kScratchManifest with the size of k_scale taken from a head count that
// nothing else uses.
static std::string scratchManifestWithHeadsK() {
  return replaced(
      kScratchManifest, "{\"arg\": \"batch\"}, 16, {\"arg\": \"seq_k\"}, 4]",
      "{\"arg\": \"batch\"}, {\"arg\": \"heads_k\"}, {\"arg\": \"seq_k\"}, 4]");
}

TEST(ManifestParsesScratch) {
  Manifest manifest = parsedManifest(kScratchManifest);
  CHECK_EQ(manifest.scratch.size(), size_t(2));
  const ScratchSpec &quant = manifest.scratch[0];
  CHECK_EQ(quant.name, std::string("k_quant"));
  CHECK_EQ(quant.bytes.size(), size_t(5));
  CHECK(quant.bytes[0].isArgument);
  CHECK_EQ(quant.bytes[1].constant, int64_t(16));
  CHECK_EQ(quant.bytes[2].argumentName, std::string("seq_k"));
  CHECK_EQ(quant.bytes[2].ceilDiv, int64_t(16));
  CHECK_EQ(long(quant.argument), manifest.findArgument("k_quant"));
  CHECK_EQ(manifest.scratch[1].name, std::string("k_scale"));
  CHECK_EQ(long(manifest.scratch[1].argument),
           manifest.findArgument("k_scale"));
  // Scratch buffers stay ptr arguments, marked as such; the rest are not.
  const ArgumentInfo &quantArgument = manifest.arguments[quant.argument];
  CHECK(quantArgument.isParam);
  CHECK_EQ(quantArgument.type, ParamType::Ptr);
  CHECK_EQ(quantArgument.scratch, 0L);
  CHECK_EQ(manifest.arguments[manifest.scratch[1].argument].scratch, 1L);
  for (const char *name : {"k", "seq_k", "batch"}) {
    CHECK_EQ(manifest.arguments[manifest.findArgument(name)].scratch, -1L);
    CHECK(!manifest.arguments[manifest.findArgument(name)].sizesScratchOnly);
  }
  CHECK_EQ(manifest.arguments.size(), size_t(9));

  // An argument first used by a size is listed, marked size-only.
  Manifest withHeads = parsedManifest(scratchManifestWithHeadsK().c_str());
  long headsK = withHeads.findArgument("heads_k");
  CHECK(headsK >= 0);
  if (headsK >= 0) {
    CHECK(withHeads.arguments[headsK].sizesScratchOnly);
    CHECK(!withHeads.arguments[headsK].isParam);
  }
}

TEST(ScratchManifestErrorsNameTheValue) {
  std::string base = kScratchManifest;
  struct Case {
    std::string text;
    const char *expected;
  } cases[] = {
      {replaced(base, "\"name\": \"k_scale\", \"bytes\"",
                "\"name\": \"k_quant\", \"bytes\""),
       "scratch[1].name: duplicate scratch buffer \"k_quant\""},
      {replaced(base, "16, 128]", "0, 128]"),
       "scratch[0].bytes[3]: size factor must be positive, got 0"},
      {replaced(base, "{\"arg\": \"seq_k\"}, 4]", "{\"arg\": \"seq_k\"}, -4]"),
       "scratch[1].bytes[3]: size factor must be positive, got -4"},
      {replaced(base, "\"ceil_div\": 16}", "\"ceil_div\": 0}"),
       "scratch[0].bytes[2].ceil_div: must be positive, got 0"},
      {replaced(base, "\"ceil_div\": 16}", "\"div\": 16}"),
       "scratch[0].bytes[2]: unknown key \"div\" in size factor"},
      {replaced(base, "{\"arg\": \"seq_k\"}, 4]",
                "{\"arg\": \"seq_k\"}, \"4\"]"),
       "scratch[1].bytes[3]: expected an integer or {\"arg\": ...}, got "
       "string"},
      {replaced(base, "\"name\": \"k_scale\", \"bytes\"",
                "\"name\": \"k_stride_b\", \"bytes\""),
       "scratch[1].name: scratch buffer \"k_stride_b\" is an i64 param of "
       "kernel quantize_k (a scratch buffer must be a ptr param)"},
      {replaced(base, "\"name\": \"k_scale\", \"bytes\"",
                "\"name\": \"batch\", \"bytes\""),
       "scratch[1].name: scratch buffer \"batch\" is used by the grid of "
       "kernel quantize_k"},
      {replaced(base, "\"name\": \"k_scale\", \"bytes\"",
                "\"name\": \"v_fp8\", \"bytes\""),
       "scratch[1].name: scratch buffer \"v_fp8\" is not a param of any "
       "kernel"},
      {replaced(base, "{\"arg\": \"seq_k\"}, 4]", "{\"arg\": \"k_quant\"}, 4]"),
       "scratch[1].bytes[2]: scratch buffer \"k_quant\" cannot size a scratch "
       "buffer"},
      {replaced(
           base, "{\"arg\": \"batch\"}, 16, {\"arg\": \"seq_k\", \"ceil_div\"",
           "{\"arg\": \"k_scale\"}, 16, {\"arg\": \"seq_k\", \"ceil_div\""),
       "scratch[0].bytes[0]: scratch buffer \"k_scale\" cannot size a scratch "
       "buffer"},
      {replaced(base, "[{\"arg\": \"batch\"}, 16, {\"arg\": \"seq_k\"}, 4]",
                "[]"),
       "scratch[1].bytes: expected at least one size factor"},
      {replaced(
           base,
           ", \"bytes\": [{\"arg\": \"batch\"}, 16, {\"arg\": \"seq_k\"}, 4]",
           ""),
       "scratch[1]: missing \"bytes\""},
      {replaced(base, "\"name\": \"k_scale\", ", "\"name\": \"\", "),
       "scratch[1].name: must not be empty"},
      {replaced(base, "\"scratch\": [", "\"scratch\": 3, \"unused\": ["),
       "scratch: expected array, got integer"},
  };
  for (const Case &c : cases) {
    Manifest manifest;
    std::string error;
    CHECK(!parseManifest(c.text, manifest, error));
    CHECK_CONTAINS(error, c.expected);
  }
}

// ---------------------------------------------------------------------------
// Arguments, grids, marshalling

TEST(ArgumentErrorsNameTheArgument) {
  Manifest manifest = parsedManifest();
  std::vector<int64_t> values = defaultArgValues(), bound;
  std::vector<bool> given;
  std::string error;

  CHECK(bindArguments(manifest, kArgNames, values.data(), kArgCount, bound,
                      given, error));
  CHECK(bound == values);
  CHECK(given == std::vector<bool>(kArgCount, true));

  CHECK(!bindArguments(manifest, kArgNames, values.data(), 5, bound, given,
                       error));
  CHECK_CONTAINS(error, "missing arguments \"scale\", \"splits\"");

  CHECK(!bindArguments(manifest, kArgNames, values.data(), 6, bound, given,
                       error));
  CHECK_EQ(error, std::string("missing argument \"splits\""));

  const char *unknown[] = {"q", "k_stride_b"};
  CHECK(
      !bindArguments(manifest, unknown, values.data(), 2, bound, given, error));
  CHECK_EQ(error, std::string("unknown argument \"k_stride_b\""));

  const char *twice[] = {"q", "q"};
  CHECK(!bindArguments(manifest, twice, values.data(), 2, bound, given, error));
  CHECK_EQ(error, std::string("argument \"q\" given twice"));

  const char *nullName[] = {"q", nullptr};
  CHECK(!bindArguments(manifest, nullName, values.data(), 2, bound, given,
                       error));
  CHECK_CONTAINS(error, "argument #1 has a null name");

  CHECK(!bindArguments(manifest, kArgNames, values.data(), -1, bound, given,
                       error));
  CHECK_CONTAINS(error, "negative argument count");
}

TEST(GridEvaluation) {
  Manifest manifest = parsedManifest();
  std::vector<int64_t> values = defaultArgValues();
  uint32_t grid[3];
  std::string error;
  // seq_q = 1000 -> ceil(1000 / 128) = 8; 4; batch = 2.
  CHECK(evaluateGrid(manifest.kernels[0], values, grid, error));
  CHECK(grid[0] == 8 && grid[1] == 4 && grid[2] == 2);
  // splits * 2 = 6; 1; batch.
  CHECK(evaluateGrid(manifest.kernels[1], values, grid, error));
  CHECK(grid[0] == 6 && grid[1] == 1 && grid[2] == 2);

  values[2] = 1024; // exact multiple: no round-up
  CHECK(evaluateGrid(manifest.kernels[0], values, grid, error));
  CHECK_EQ(grid[0], 8u);
  values[2] = 0;
  CHECK(evaluateGrid(manifest.kernels[0], values, grid, error));
  CHECK_EQ(grid[0], 0u);

  values[3] = -1; // batch
  CHECK(!evaluateGrid(manifest.kernels[0], values, grid, error));
  CHECK_CONTAINS(error, "kernel attn_fwd_0: argument \"batch\" = -1 is negative");

  values = defaultArgValues();
  values[6] = int64_t(1) << 31; // splits * 2 = 2^32
  CHECK(!evaluateGrid(manifest.kernels[1], values, grid, error));
  CHECK_CONTAINS(error, "kernel attn_combine_1: grid dimension 0 does not fit 32 bits");
  values[6] = (int64_t(1) << 32) - 1 - ((int64_t(1) << 31)); // 2^31 - 1
  CHECK(evaluateGrid(manifest.kernels[1], values, grid, error));
  CHECK_EQ(grid[0], 0xFFFFFFFEu);
}

TEST(ParamsAreMarshalledByType) {
  Manifest manifest = parsedManifest();
  std::vector<int64_t> values = defaultArgValues();
  std::vector<uint64_t> slots;
  std::string error;
  CHECK(marshalParams(manifest.kernels[0], values, slots, error));
  CHECK_EQ(slots.size(), size_t(3));
  CHECK_EQ(slots[0], uint64_t(0x7f0000001000));
  CHECK_EQ(slots[1], uint64_t(3 * 1000 * 64));
  CHECK_EQ(slots[2], uint64_t(1000)); // 4 bytes, upper half zero

  values[2] = -5; // i32 keeps its sign in its 4 bytes
  CHECK(marshalParams(manifest.kernels[0], values, slots, error));
  int32_t seqQ;
  std::memcpy(&seqQ, &slots[2], sizeof(seqQ));
  CHECK_EQ(seqQ, -5);
  CHECK_EQ(slots[2] >> 32, uint64_t(0));

  values[2] = int64_t(1) << 31;
  CHECK(!marshalParams(manifest.kernels[0], values, slots, error));
  CHECK_EQ(error, std::string("argument \"seq_q\" = 2147483648 does not fit i32"));

  // f32: the bit pattern, unsigned or sign-extended.
  values = defaultArgValues();
  CHECK(marshalParams(manifest.kernels[1], values, slots, error));
  CHECK_EQ(slots[1], uint64_t(floatBits(0.125f)));
  values[5] = int64_t(int32_t(floatBits(-2.0f)));
  CHECK(values[5] < 0);
  CHECK(marshalParams(manifest.kernels[1], values, slots, error));
  float scale;
  std::memcpy(&scale, &slots[1], sizeof(scale));
  CHECK_EQ(scale, -2.0f);
  values[5] = int64_t(1) << 32;
  CHECK(!marshalParams(manifest.kernels[1], values, slots, error));
  CHECK_CONTAINS(error, "argument \"scale\" = 4294967296 is not a 32-bit float");
}

// Static shapes: the manifest names the sizes the kernels were compiled
// for, and a launch with others is refused before any driver call.
static std::string fixedManifest(const std::string &fixed) {
  return replaced(kManifest, R"("kernels": [)",
                  R"("fixed_arguments": )" + fixed + R"(, "kernels": [)");
}

TEST(FixedArgumentsAreChecked) {
  Manifest manifest =
      parsedManifest(fixedManifest(R"({"seq_q": 1000, "batch": 2})").c_str());
  CHECK_EQ(manifest.fixedArguments.size(), size_t(2));
  std::vector<int64_t> values = defaultArgValues(); // seq_q 1000, batch 2
  LaunchPlan plan;
  std::string error;
  CHECK(
      planLaunches(manifest, kArgNames, values.data(), kArgCount, plan, error));
  values[2] = 999; // seq_q
  CHECK(!planLaunches(manifest, kArgNames, values.data(), kArgCount, plan,
                      error));
  CHECK_EQ(error, std::string("argument \"seq_q\" = 999, but the kernels "
                              "were compiled for seq_q = 1000 (a static "
                              "shape)"));
  values[2] = 1000;
  values[3] = 1; // batch
  CHECK(!planLaunches(manifest, kArgNames, values.data(), kArgCount, plan,
                      error));
  CHECK_CONTAINS(error, "compiled for batch = 2");

  Manifest bad;
  CHECK(!parseManifest(fixedManifest(R"({"heads": 4})"), bad, error));
  CHECK_EQ(error, std::string(
                      "fixed_arguments.heads: not an argument of the kernels"));
  CHECK(!parseManifest(fixedManifest(R"({"seq_q": -1})"), bad, error));
  CHECK_EQ(error, std::string("fixed_arguments.seq_q: negative value -1"));
  CHECK(!parseManifest(fixedManifest(R"({"seq_q": "1000"})"), bad, error));
  CHECK_CONTAINS(error, "fixed_arguments.seq_q");
  CHECK(!parseManifest(fixedManifest("[1000]"), bad, error));
  CHECK_CONTAINS(error, "fixed_arguments");
}

TEST(NullPointersOfKernelsThatRunAreRefused) {
  Manifest manifest = parsedManifest(kManifest);
  std::vector<int64_t> values = defaultArgValues();
  LaunchPlan plan;
  std::string error;
  values[0] = 0; // q
  CHECK(!planLaunches(manifest, kArgNames, values.data(), kArgCount, plan,
                      error));
  CHECK_EQ(error, std::string("kernel attn_fwd_0: argument \"q\" is a null "
                              "pointer"));
  // A kernel with nothing to do reads nothing: seq_q = 0 skips attn_fwd_0.
  values[2] = 0;
  CHECK(
      planLaunches(manifest, kArgNames, values.data(), kArgCount, plan, error));
  CHECK_EQ(plan.launches.size(), size_t(1));
}

TEST(ZeroGridSkipsKernel) {
  Manifest manifest = parsedManifest();
  std::vector<int64_t> values = defaultArgValues();
  values[6] = 0; // splits: the second kernel has nothing to do
  LaunchPlan plan;
  std::string error;
  CHECK(planLaunches(manifest, kArgNames, values.data(), kArgCount, plan, error));
  CHECK_EQ(plan.launches.size(), size_t(1));
  CHECK_EQ(plan.launches[0].kernel, size_t(0));
  values[3] = 0; // batch: nothing at all
  CHECK(planLaunches(manifest, kArgNames, values.data(), kArgCount, plan, error));
  CHECK(plan.launches.empty());
}

TEST(ScratchIsSizedFromArguments) {
  Manifest manifest = parsedManifest(kScratchManifest);
  ScratchArgs args;
  LaunchPlan plan;
  std::string error;
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK_EQ(plan.scratch.size(), size_t(2));
  CHECK(plan.scratch[0].allocate && plan.scratch[1].allocate);
  CHECK_EQ(plan.scratch[0].bytes, kQuantBytes(1000)); // 4128768
  CHECK_EQ(plan.scratch[1].bytes, kScaleBytes(1000)); // 128000
  CHECK_EQ(plan.launches.size(), size_t(2));

  // The caller's pointer: nothing to allocate, and it is the param.
  args.set("k_scale", 0x7f0000009000);
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK(plan.scratch[0].allocate);
  CHECK(!plan.scratch[1].allocate);
  CHECK_EQ(plan.launches[1].paramSlots[2], uint64_t(0x7f0000009000));

  // Batch 0: empty buffers and no kernel to run.
  args.set("batch", 0);
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK(plan.scratch[0].allocate);
  CHECK_EQ(plan.scratch[0].bytes, uint64_t(0));
  CHECK(plan.launches.empty());
}

TEST(ScratchSizeErrorsNameTheBuffer) {
  Manifest manifest = parsedManifest(scratchManifestWithHeadsK().c_str());
  LaunchPlan plan;
  std::string error;
  auto plans = [&](const ScratchArgs &args) {
    return planLaunches(manifest, args.names.data(), args.values.data(),
                        args.count(), plan, error);
  };

  // heads_k only sizes k_scale: needed only when the launcher allocates it.
  CHECK(!plans(ScratchArgs()));
  CHECK_EQ(error,
           std::string("missing argument \"heads_k\" for the size of "
                       "scratch buffer \"k_scale\" (or pass \"k_scale\")"));
  CHECK(plans(ScratchArgs().set("k_scale", 0x7f0000009000)));
  CHECK(plans(ScratchArgs().set("heads_k", 16)));
  CHECK_EQ(plan.scratch[1].bytes, kScaleBytes(1000));

  // An argument kernels use too is missing as for any kernel.
  CHECK(!plans(ScratchArgs().set("heads_k", 16).remove("seq_k")));
  CHECK_EQ(error, std::string("missing argument \"seq_k\""));

  CHECK(!plans(ScratchArgs().set("heads_k", -1)));
  CHECK_EQ(error, std::string("argument \"heads_k\" = -1 is negative but sizes "
                              "scratch buffer \"k_scale\""));

  // 2 * 2^62 * 1000 * 4 bytes.
  CHECK(!plans(ScratchArgs().set("heads_k", int64_t(1) << 62)));
  CHECK_EQ(error,
           std::string("scratch buffer \"k_scale\": size does not fit 64 "
                       "bits (batch = 2, heads_k = 4611686018427387904, "
                       "seq_k = 1000)"));
  // The edge: 2 * 2^50 * 2047 * 4 < 2^64 = 2 * 2^50 * 2048 * 4.
  ScratchArgs edge = ScratchArgs().set("heads_k", int64_t(1) << 50);
  CHECK(plans(edge.set("seq_k", 2047)));
  CHECK_EQ(plan.scratch[1].bytes, (uint64_t(1) << 51) * 2047 * 4);
  CHECK(!plans(edge.set("seq_k", 2048)));
  CHECK_CONTAINS(error,
                 "scratch buffer \"k_scale\": size does not fit 64 bits");
  // A zero factor wins over overflow: an empty buffer.
  CHECK(plans(ScratchArgs().set("heads_k", int64_t(1) << 62).set("batch", 0)));
  CHECK_EQ(plan.scratch[1].bytes, uint64_t(0));

  // Two size-only arguments missing are listed together.
  Manifest twoMissing = parsedManifest(
      replaced(scratchManifestWithHeadsK(), "{\"arg\": \"seq_k\"}, 4]",
               "{\"arg\": \"seq_k\"}, {\"arg\": \"scale_bytes\"}]")
          .c_str());
  ScratchArgs args;
  CHECK(!planLaunches(twoMissing, args.names.data(), args.values.data(),
                      args.count(), plan, error));
  CHECK_EQ(error, std::string("missing arguments \"heads_k\", \"scale_bytes\" "
                              "for the size of scratch buffer \"k_scale\" (or "
                              "pass \"k_scale\")"));
}

// ---------------------------------------------------------------------------
// Launches against the in-process fake driver

TEST(LaunchRecordsGridBlockSharedAndParamBytes) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kManifest, "CUBIN-BYTES");
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  CUstream stream = reinterpret_cast<CUstream>(uintptr_t(0x5000));
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, stream, error),
           ATTN_LAUNCHER_OK);
  CHECK(error.empty());

  CHECK_EQ(fake.loadedImages.size(), size_t(1));
  CHECK_EQ(fake.loadedImages[0], std::string("CUBIN-BYTES"));
  // Opt-in only above 48 KiB.
  CHECK_EQ(fake.sharedAttributes.size(), size_t(1));
  CHECK_EQ(fake.sharedAttributes["attn_fwd_0"], 98304);

  CHECK_EQ(fake.launches.size(), size_t(2));
  const RecordedLaunch &fwd = fake.launches[0];
  CHECK_EQ(fwd.function, std::string("attn_fwd_0"));
  CHECK(fwd.grid[0] == 8 && fwd.grid[1] == 4 && fwd.grid[2] == 2);
  CHECK(fwd.block[0] == 256 && fwd.block[1] == 1 && fwd.block[2] == 1);
  CHECK_EQ(fwd.sharedBytes, 98304u);
  CHECK_EQ(fwd.stream, stream);
  CHECK(fwd.params ==
        std::vector<uint64_t>({0x7f0000001000, 3 * 1000 * 64, 1000}));
  const RecordedLaunch &combine = fake.launches[1];
  CHECK_EQ(combine.function, std::string("attn_combine_1"));
  CHECK(combine.grid[0] == 6 && combine.grid[1] == 1 && combine.grid[2] == 2);
  CHECK(combine.block[0] == 128 && combine.block[1] == 2);
  CHECK_EQ(combine.sharedBytes, 1024u);
  CHECK(combine.params ==
        std::vector<uint64_t>({0x7f0000002000, floatBits(0.125f), 2}));
}

// A persistent kernel: its blocks walk grid[0]'s units, so the launcher
// launches at most blocks_per_sm per multiprocessor.
static std::string persistentManifest(int blocksPerSM) {
  return replaced(
      kManifest,
      R"("grid": [[{"arg": "seq_q", "ceil_div": 128}], [4], [{"arg": "batch"}]],)",
      R"("grid": [[{"arg": "seq_q", "ceil_div": 128}, 4, {"arg": "batch"}], )"
      R"([1], [1]], "persistent_blocks_per_sm": )" +
          std::to_string(blocksPerSM) + ",");
}

TEST(PersistentGridIsCappedPerMultiprocessor) {
  ArtifactDir dir;
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  // 8 query tiles x 4 heads x 2 batch = 64 work units.
  struct Case {
    int blocksPerSM, multiprocessors;
    unsigned blocks;
  };
  for (Case c :
       {Case{1, 10, 10}, Case{2, 20, 40}, Case{1, 132, 64}, Case{3, 22, 64}}) {
    auto launcher =
        loadWithFake(dir, persistentManifest(c.blocksPerSM), "CUBIN");
    fake.multiprocessors = c.multiprocessors;
    CHECK_EQ(
        launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
        ATTN_LAUNCHER_OK);
    CHECK_EQ(fake.launches.size(), size_t(2));
    const RecordedLaunch &fwd = fake.launches[0];
    CHECK(fwd.grid[0] == c.blocks && fwd.grid[1] == 1 && fwd.grid[2] == 1);
    // The other kernel is not persistent: its grid as evaluated.
    CHECK(fake.launches[1].grid[0] == 6);
  }
}

TEST(PersistentManifestErrorsNameTheLocation) {
  Manifest manifest;
  std::string error;
  CHECK(!parseManifest(replaced(persistentManifest(1),
                                R"("persistent_blocks_per_sm": 1)",
                                R"("persistent_blocks_per_sm": 0)"),
                       manifest, error));
  CHECK_EQ(error, std::string("kernels[0].persistent_blocks_per_sm: blocks "
                              "per multiprocessor 0 out of range (1 to 64)"));
  CHECK(!parseManifest(replaced(persistentManifest(1), "[1], [1]]",
                                R"([1], [{"arg": "batch"}]])"),
                       manifest, error));
  CHECK_EQ(error, std::string("kernels[0].grid[2]: a persistent kernel's "
                              "grid is one-dimensional"));
  CHECK(!parseManifest(replaced(persistentManifest(1),
                                R"("persistent_blocks_per_sm": 1)",
                                R"("persistent_blocks_per_sm": "1")"),
                       manifest, error));
  CHECK_CONTAINS(error, "kernels[0].persistent_blocks_per_sm");
}

TEST(ModuleIsLoadedOncePerContext) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kManifest, "CUBIN");
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  for (int i = 0; i < 3; ++i)
    CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
             ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.loadedImages.size(), size_t(1));
  CHECK_EQ(fake.launches.size(), size_t(6));

  fake.current = reinterpret_cast<CUcontext>(uintptr_t(0x300)); // another device
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.loadedImages.size(), size_t(2));

  int inits = 0;
  for (const std::string &call : fake.calls)
    inits += call == "cuInit";
  CHECK_EQ(inits, 1);

  launcher.reset();
  int unloads = 0;
  for (const std::string &call : fake.calls)
    unloads += call == "cuModuleUnload";
  CHECK_EQ(unloads, 2);
}

TEST(NoCurrentContextUsesThePrimaryContext) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kManifest, "CUBIN");
  fake.current = nullptr;
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.calls == std::vector<std::string>({"cuInit",
                                                "cuDevicePrimaryCtxRetain",
                                                "cuCtxSetCurrent",
                                                "cuModuleLoadData"}));
  CHECK_EQ(fake.current, fake.primary);
}

TEST(PtxIsPassedNulTerminated) {
  ArtifactDir dir;
  std::string manifest = replaced(
      replaced(kManifest, "\"binary\": \"kernels.cubin\"", "\"binary\": \"kernels.ptx\""),
      "\"binary_format\": \"cubin\"", "\"binary_format\": \"ptx\"");
  auto launcher = loadWithFake(dir, manifest, ".version 8.0\n.target sm_90\n");
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_OK);
  // The fake read the image as a C string: it ended where the file did.
  CHECK_EQ(fake.loadedImages[0], std::string(".version 8.0\n.target sm_90\n"));
}

TEST(ArgumentErrorsLaunchNothing) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kManifest, "CUBIN");
  std::vector<int64_t> values = defaultArgValues();
  values[2] = int64_t(1) << 31; // seq_q too large for i32 (grid still fits)
  std::string error;
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_CONTAINS(error, "\"seq_q\"");
  CHECK(fake.calls.empty());
  CHECK(fake.launches.empty());
}

TEST(DriverErrorsAreNamed) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kManifest, "CUBIN");
  fake.launchResult = 700;
  std::vector<int64_t> values = defaultArgValues();
  std::string error;
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_ERROR_CUDA);
  CHECK_CONTAINS(error, "cuLaunchKernel(attn_fwd_0, grid 8x4x2, block 256x1x1, "
                        "shared 98304) failed: CUDA_ERROR_ILLEGAL_ADDRESS (an "
                        "illegal memory access was encountered)");

  auto reloaded = loadWithFake(dir, kManifest, "CUBIN");
  fake.moduleLoadResult = 200;
  CHECK_EQ(reloaded->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_ERROR_CUDA);
  CHECK_CONTAINS(error, "cuModuleLoadData failed: CUDA_ERROR_UNKNOWN");
  CHECK_CONTAINS(error, "kernels.cubin");
}

TEST(MissingDriverIsReported) {
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  std::string error;
  auto launcher = Launcher::load(
      dir.write("manifest.json", kManifest),
      [](std::string &why) -> const DriverApi * {
        why = "cannot load the CUDA driver libcuda.so.1: not found";
        return nullptr;
      },
      error);
  CHECK(launcher != nullptr);
  std::vector<int64_t> values = defaultArgValues();
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_ERROR_NO_DRIVER);
  CHECK_CONTAINS(error, "libcuda.so.1");

  DriverApi api;
  CHECK(!loadDriverApi("libattn-no-such-driver.so.1", api, error));
  CHECK_CONTAINS(error, "cannot load the CUDA driver libattn-no-such-driver.so.1");
  CHECK(api.cuInit == nullptr);
}

TEST(LoadErrorsNameTheFile) {
  ArtifactDir dir;
  std::string error;
  std::string manifestPath = dir.write("manifest.json", kManifest);
  // No kernels.cubin next to it.
  CHECK(!Launcher::load(manifestPath, fakeDriverProvider, error));
  CHECK_CONTAINS(error, "cannot read binary " + manifestPath.substr(0, manifestPath.size() - 13) +
                            "kernels.cubin (named by manifest " + manifestPath +
                            "): No such file or directory");

  CHECK(!Launcher::load(manifestPath + ".missing", fakeDriverProvider, error));
  CHECK_CONTAINS(error, "cannot read manifest " + manifestPath + ".missing");

  std::string bad = dir.write("bad.json", replaced(kManifest, "\"i32\"", "\"u8\""));
  CHECK(!Launcher::load(bad, fakeDriverProvider, error));
  CHECK_CONTAINS(error, "bad manifest " + bad + ": kernels[0].params[2].type");
}

// ---------------------------------------------------------------------------
// Scratch buffers against the in-process fake driver

static int launchScratch(Launcher &launcher, const ScratchArgs &args,
                         std::string &error) {
  return launcher.launch(args.names.data(), args.values.data(), args.count(),
                         nullptr, error);
}

TEST(ScratchIsAllocatedOnFirstLaunchAndPassedToKernels) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kScratchManifest, "CUBIN");
  std::string error;
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error), ATTN_LAUNCHER_OK);
  CHECK(error.empty());
  CHECK(fake.calls ==
        std::vector<std::string>(
            {"cuInit", "cuModuleLoadData", "cuMemAlloc_v2", "cuMemAlloc_v2"}));
  CHECK_EQ(fake.allocations.size(), size_t(2));
  if (fake.allocations.size() != 2)
    return;
  const FakeMemoryCall &quant = fake.allocations[0],
                       &scale = fake.allocations[1];
  CHECK_EQ(quant.bytes, kQuantBytes(1000)); // 2*16*63*16*128 = 4128768
  CHECK_EQ(scale.bytes, kScaleBytes(1000)); // 2*16*1000*4 = 128000
  CHECK_EQ(quant.context, fake.current);
  CHECK(quant.address != scale.address);

  // Both kernels get the same buffers, in their own param positions.
  CHECK_EQ(fake.launches.size(), size_t(2));
  CHECK(fake.launches[0].params ==
        std::vector<uint64_t>(
            {0x7f0000001000, 4096, quant.address, scale.address, 1000}));
  CHECK(fake.launches[1].params ==
        std::vector<uint64_t>({0x7f0000002000, quant.address, scale.address,
                               0x7f0000003000, 512, 1000}));
}

TEST(ScratchIsReusedUntilALaunchNeedsMore) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, scratchManifestWithHeadsK(), "CUBIN");
  std::string error;
  ScratchArgs args = ScratchArgs().set("heads_k", 16);
  CHECK_EQ(launchScratch(*launcher, args, error), ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(2));
  if (fake.allocations.size() != 2)
    return;
  const CUdeviceptr quant = fake.allocations[0].address;
  const CUdeviceptr scale = fake.allocations[1].address;

  // Smaller, then the same: the buffers are reused as they are.
  for (int64_t seqK : {500, 1000}) {
    fake.calls.clear();
    fake.launches.clear();
    CHECK_EQ(launchScratch(*launcher, args.set("seq_k", seqK), error),
             ATTN_LAUNCHER_OK);
    CHECK(fake.calls.empty()); // no allocation, free or synchronization
    CHECK_EQ(fake.launches.size(), size_t(2));
    CHECK_EQ(fake.launches[1].params[1], quant);
    CHECK_EQ(fake.launches[1].params[2], scale);
    CHECK_EQ(fake.launches[1].params[5], uint64_t(seqK));
  }
  CHECK_EQ(fake.allocations.size(), size_t(2));

  // More heads: only k_scale grows, after the queued work is done.
  fake.calls.clear();
  fake.launches.clear();
  CHECK_EQ(launchScratch(*launcher, args.set("heads_k", 32), error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.calls ==
        std::vector<std::string>(
            {"cuCtxSynchronize", "cuMemFree_v2", "cuMemAlloc_v2"}));
  CHECK_EQ(fake.frees.size(), size_t(1));
  CHECK_EQ(fake.allocations.size(), size_t(3));
  if (fake.frees.size() != 1 || fake.allocations.size() != 3)
    return;
  CHECK_EQ(fake.frees[0].address, scale);
  CHECK_EQ(fake.allocations[2].bytes, uint64_t(2 * 32 * 1000 * 4));
  const CUdeviceptr grownScale = fake.allocations[2].address;
  CHECK(grownScale != scale);
  CHECK_EQ(fake.launches[0].params[2], quant);
  CHECK_EQ(fake.launches[0].params[3], grownScale);
  CHECK_EQ(fake.launches[1].params[2], grownScale);

  // Longer keys: both grow, with one synchronization for the two frees.
  fake.calls.clear();
  CHECK_EQ(launchScratch(*launcher, args.set("seq_k", 2000), error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.calls == std::vector<std::string>(
                          {"cuCtxSynchronize", "cuMemFree_v2", "cuMemAlloc_v2",
                           "cuMemFree_v2", "cuMemAlloc_v2"}));
  CHECK_EQ(fake.allocations.size(), size_t(5));
  if (fake.allocations.size() != 5)
    return;
  CHECK_EQ(fake.allocations[3].bytes, kQuantBytes(2000));
  CHECK_EQ(fake.allocations[4].bytes, uint64_t(2 * 32 * 2000 * 4));
  CHECK_EQ(fake.frees.size(), size_t(3));
  CHECK_EQ(fake.frees[1].address, quant);
  CHECK_EQ(fake.frees[2].address, grownScale);
}

TEST(CallerScratchPointerBypassesAllocation) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kScratchManifest, "CUBIN");
  std::string error;
  ScratchArgs args = ScratchArgs()
                         .set("k_quant", 0x7f0000008000)
                         .set("k_scale", 0x7f0000009000);
  CHECK_EQ(launchScratch(*launcher, args, error), ATTN_LAUNCHER_OK);
  CHECK(fake.allocations.empty());
  CHECK_EQ(fake.launches.size(), size_t(2));
  CHECK(fake.launches[0].params ==
        std::vector<uint64_t>(
            {0x7f0000001000, 4096, 0x7f0000008000, 0x7f0000009000, 1000}));
  CHECK(fake.launches[1].params ==
        std::vector<uint64_t>({0x7f0000002000, 0x7f0000008000, 0x7f0000009000,
                               0x7f0000003000, 512, 1000}));

  // One of each: only the other is allocated.
  fake.launches.clear();
  CHECK_EQ(launchScratch(*launcher,
                         ScratchArgs().set("k_scale", 0x7f0000009000), error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(1));
  if (fake.allocations.size() != 1)
    return;
  CHECK_EQ(fake.allocations[0].bytes, kQuantBytes(1000));
  CHECK_EQ(fake.launches[1].params[1], fake.allocations[0].address);
  CHECK_EQ(fake.launches[1].params[2], uint64_t(0x7f0000009000));

  // A buffer the caller passes needs no size arguments.
  launcher.reset();
  auto withHeads = loadWithFake(dir, scratchManifestWithHeadsK(), "CUBIN");
  CHECK_EQ(launchScratch(*withHeads,
                         ScratchArgs().set("k_scale", 0x7f0000009000), error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(1));
}

TEST(EmptyScratchIsANullPointer) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kScratchManifest, "CUBIN");
  std::string error;
  // No keys: quantize_k has no blocks, attn_fwd_int8 still runs (it writes
  // the empty-softmax output) and gets null buffers.
  CHECK_EQ(launchScratch(*launcher, ScratchArgs().set("seq_k", 0), error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.allocations.empty());
  CHECK_EQ(fake.launches.size(), size_t(1));
  if (fake.launches.size() != 1)
    return;
  CHECK_EQ(fake.launches[0].function, std::string("attn_fwd_int8"));
  CHECK_EQ(fake.launches[0].params[1], uint64_t(0));
  CHECK_EQ(fake.launches[0].params[2], uint64_t(0));

  // Also once buffers exist: null, and the buffers are kept.
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error), ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(2));
  fake.launches.clear();
  CHECK_EQ(launchScratch(*launcher, ScratchArgs().set("seq_k", 0), error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.launches.size(), size_t(1));
  CHECK_EQ(fake.launches[0].params[1], uint64_t(0));
  CHECK(fake.frees.empty());

  // Batch 0: nothing runs, so the driver is not even touched.
  launcher.reset();
  auto fresh = loadWithFake(dir, kScratchManifest, "CUBIN");
  CHECK_EQ(launchScratch(*fresh, ScratchArgs().set("batch", 0), error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.calls.empty());
}

TEST(ScratchOnlyReadBySkippedKernelsIsNotAllocated) {
  ArtifactDir dir;
  // k_scale is read only by attn_fwd_int8, which has no blocks for seq_q 0.
  auto launcher =
      loadWithFake(dir,
                   replaced(kScratchManifest,
                            "{\"name\": \"k_scale\", \"type\": \"ptr\"},\n"
                            "                 {\"name\": \"seq_k\"",
                            "{\"name\": \"seq_k\""),
                   "CUBIN");
  std::string error;
  CHECK_EQ(launchScratch(*launcher, ScratchArgs().set("seq_q", 0), error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.launches.size(), size_t(1));
  CHECK_EQ(fake.allocations.size(), size_t(1));
  if (fake.allocations.size() == 1)
    CHECK_EQ(fake.allocations[0].bytes, kQuantBytes(1000));
}

TEST(ScratchIsPerContextAndFreedWithTheLauncher) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kScratchManifest, "CUBIN");
  std::string error;
  const CUcontext first = fake.current;
  const CUcontext second = reinterpret_cast<CUcontext>(uintptr_t(0x300));
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error), ATTN_LAUNCHER_OK);
  fake.current = second; // another device: buffers of its own
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error), ATTN_LAUNCHER_OK);
  fake.current = first; // the first context's buffers are still there
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error), ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(4));
  if (fake.allocations.size() != 4)
    return;
  CHECK_EQ(fake.allocations[0].context, first);
  CHECK_EQ(fake.allocations[2].context, second);
  CHECK_EQ(fake.launches.size(), size_t(6));
  CHECK_EQ(fake.launches[5].params[1], fake.allocations[0].address);
  CHECK_EQ(fake.launches[3].params[1], fake.allocations[2].address);
  CHECK(fake.frees.empty());

  // Freed with the launcher (attn_launcher_free deletes it), each buffer in
  // its own context; the caller's context is current again afterwards.
  const CUcontext callers = reinterpret_cast<CUcontext>(uintptr_t(0x400));
  fake.current = callers;
  launcher.reset();
  CHECK_EQ(fake.frees.size(), size_t(4));
  for (const FakeMemoryCall &allocation : fake.allocations) {
    bool freedInItsContext = false;
    for (const FakeMemoryCall &freed : fake.frees)
      freedInItsContext |= freed.address == allocation.address &&
                           freed.context == allocation.context;
    CHECK(freedInItsContext);
  }
  CHECK_EQ(fake.current, callers);
}

TEST(ScratchErrorsLaunchNothing) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, scratchManifestWithHeadsK(), "CUBIN");
  std::string error;
  CHECK_EQ(launchScratch(*launcher, ScratchArgs(), error),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_CONTAINS(error, "missing argument \"heads_k\" for the size of "
                        "scratch buffer \"k_scale\"");
  CHECK_EQ(launchScratch(*launcher,
                         ScratchArgs().set("heads_k", int64_t(1) << 62), error),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_CONTAINS(error,
                 "scratch buffer \"k_scale\": size does not fit 64 bits");
  CHECK(fake.calls.empty());

  // A failed allocation is the driver's error; nothing runs, and the next
  // launch tries again.
  fake.memAllocResult = 2;
  CHECK_EQ(launchScratch(*launcher, ScratchArgs().set("heads_k", 16), error),
           ATTN_LAUNCHER_ERROR_CUDA);
  CHECK_CONTAINS(error, "cuMemAlloc_v2(scratch buffer \"k_quant\", 4128768 "
                        "bytes) failed: CUDA_ERROR_UNKNOWN");
  CHECK(fake.launches.empty());
  fake.memAllocResult = CUDA_SUCCESS;
  CHECK_EQ(launchScratch(*launcher, ScratchArgs().set("heads_k", 16), error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(2));
  CHECK_EQ(fake.launches.size(), size_t(2));
}

// ---------------------------------------------------------------------------
// Tensor maps (TMA descriptors) encoded by the launcher

// A pre-kernel writes int8 K into a scratch buffer; the attention kernel
// reads bf16 K and the int8 copy through tensor maps. K is [B, N, H, D] with
// 2 heads of 128: its byte strides are element strides times 2.
static const char *kTensorMapManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "kernels.cubin", "binary_format": "cubin", "chip": "sm_90a",
  "scratch": [
    {"name": "k_quant", "bytes": [{"arg": "batch"}, 2, {"arg": "seq_k"}, 128]}
  ],
  "kernels": [
    {
      "name": "quantize_k",
      "block": [128, 1, 1],
      "shared_bytes": 0,
      "grid": [[{"arg": "seq_k", "ceil_div": 64}], [2], [{"arg": "batch"}]],
      "params": [{"name": "k", "type": "ptr"},
                 {"name": "k_quant", "type": "ptr"},
                 {"name": "seq_k", "type": "i32"}]
    },
    {
      "name": "attn_fwd_tma",
      "block": [384, 1, 1],
      "shared_bytes": 0,
      "grid": [[{"arg": "seq_q", "ceil_div": 128}], [2], [{"arg": "batch"}]],
      "params": [
        {"name": "q", "type": "ptr"},
        {"name": "k_tensor_map", "type": "tensor_map",
         "tensor_map": {
           "tensor": "k", "data_type": "bf16",
           "dims": [[128], [{"arg": "seq_k"}], [2], [{"arg": "batch"}]],
           "strides": [[{"arg": "k_stride_n"}, 2], [{"arg": "k_stride_h"}, 2],
                       [{"arg": "k_stride_b"}, 2]],
           "box": [64, 128, 1, 1],
           "swizzle": 128}},
        {"name": "k_quant_tensor_map", "type": "tensor_map",
         "tensor_map": {
           "tensor": "k_quant", "data_type": "u8",
           "dims": [[128], [{"arg": "seq_k"}], [2, {"arg": "batch"}]],
           "strides": [[128], [{"arg": "seq_k"}, 128]],
           "box": [128, 64, 1],
           "swizzle": 128}},
        {"name": "out", "type": "ptr"},
        {"name": "seq_q", "type": "i32"},
        {"name": "seq_k", "type": "i32"}]
    }
  ]
})";

// Launch arguments for kTensorMapManifest (k_quant left to the launcher).
static ScratchArgs tensorMapArgs() {
  ScratchArgs args;
  args.names = {"k",          "seq_k",      "batch",      "q",  "k_stride_n",
                "k_stride_h", "k_stride_b", "out",        "seq_q"};
  args.values = {0x7f0000001000, 1000, 2, 0x7f0000002000, 256, 128,
                 1000 * 256,     0x7f0000003000, 512};
  return args;
}

TEST(TensorMapManifestParses) {
  Manifest manifest = parsedManifest(kTensorMapManifest);
  CHECK_EQ(manifest.kernels.size(), size_t(2));
  if (manifest.kernels.size() != 2)
    return;
  const KernelSpec &fwd = manifest.kernels[1];
  CHECK_EQ(fwd.params.size(), size_t(6));
  const KernelParam &kMap = fwd.params[1];
  CHECK_EQ(kMap.type, ParamType::TensorMap);
  CHECK_EQ(std::string(paramTypeName(kMap.type)), std::string("tensor_map"));
  const TensorMapSpec &spec = kMap.tensorMap;
  CHECK_EQ(spec.tensorName, std::string("k"));
  CHECK_EQ(long(spec.tensor), manifest.findArgument("k"));
  CHECK_EQ(spec.dataType, TensorMapDataType::BF16);
  CHECK_EQ(spec.dims.size(), size_t(4));
  CHECK_EQ(spec.dims[0][0].constant, int64_t(128));
  CHECK_EQ(spec.dims[1][0].argumentName, std::string("seq_k"));
  CHECK_EQ(spec.strides.size(), size_t(3));
  CHECK_EQ(spec.strides[2][0].argumentName, std::string("k_stride_b"));
  CHECK_EQ(spec.strides[2][1].constant, int64_t(2));
  CHECK(spec.box == std::vector<uint32_t>({64, 128, 1, 1}));
  CHECK_EQ(spec.swizzle, 128u);
  const TensorMapSpec &quant = fwd.params[2].tensorMap;
  CHECK_EQ(quant.dataType, TensorMapDataType::U8);
  CHECK_EQ(quant.dims[2].size(), size_t(2));
  CHECK_EQ(std::string(tensorMapDataTypeName(quant.dataType)),
           std::string("u8"));

  // A tensor_map param is no argument; the names it uses are, in first-use
  // order: the tensor a ptr, the sizes untyped (like grid arguments).
  std::vector<std::string> names;
  for (const ArgumentInfo &argument : manifest.arguments)
    names.push_back(argument.name);
  CHECK(names == std::vector<std::string>(
                     {"k", "k_quant", "seq_k", "batch", "q", "k_stride_n",
                      "k_stride_h", "k_stride_b", "out", "seq_q"}));
  CHECK(manifest.findArgument("k_tensor_map") < 0);
  const ArgumentInfo &strideN =
      manifest.arguments[manifest.findArgument("k_stride_n")];
  CHECK(!strideN.isParam && !strideN.sizesScratchOnly);
  CHECK_EQ(manifest.arguments[manifest.findArgument("k_quant")].scratch, 0L);

  // A tensor only a tensor map uses is a ptr argument all the same, and a
  // stride may be a typed argument.
  Manifest mapOnly = parsedManifest(
      replaced(kTensorMapManifest, "{\"name\": \"k\", \"type\": \"ptr\"}",
               "{\"name\": \"k_stride_b\", \"type\": \"i64\"}")
          .c_str());
  long k = mapOnly.findArgument("k");
  CHECK(k >= 0);
  if (k >= 0) {
    CHECK(mapOnly.arguments[k].isParam);
    CHECK_EQ(mapOnly.arguments[k].type, ParamType::Ptr);
  }
  CHECK_EQ(mapOnly.arguments[mapOnly.findArgument("k_stride_b")].type,
           ParamType::I64);
  // Without swizzle the box row may be longer than 128 bytes; rank 1 has no
  // strides.
  parsedManifest(replaced(replaced(kTensorMapManifest, "\"box\": [64, 128, 1, 1],\n"
                                   "           \"swizzle\": 128",
                                   "\"box\": [256, 128, 1, 1],\n"
                                   "           \"swizzle\": 0"),
                          "\"dims\": [[128], [{\"arg\": \"seq_k\"}], [2, "
                          "{\"arg\": \"batch\"}]],\n"
                          "           \"strides\": [[128], [{\"arg\": "
                          "\"seq_k\"}, 128]],\n"
                          "           \"box\": [128, 64, 1]",
                          "\"dims\": [[128, {\"arg\": \"seq_k\"}, 2, "
                          "{\"arg\": \"batch\"}]],\n"
                          "           \"strides\": [],\n"
                          "           \"box\": [128]")
                     .c_str());
}

TEST(TensorMapManifestErrorsNameTheLocation) {
  std::string base = kTensorMapManifest;
  const std::string kMap = "kernels[1].params[1]";
  const std::string kMapBody =
      "\"tensor\": \"k\", \"data_type\": \"bf16\",";
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {replaced(base, "\"type\": \"tensor_map\",\n         \"tensor_map\"",
                "\"type\": \"tensor_map\",\n         \"tensor_mop\""),
       kMap + ": missing \"tensor_map\""},
      {replaced(base, "{\"name\": \"q\", \"type\": \"ptr\"}",
                "{\"name\": \"q\", \"type\": \"ptr\", \"tensor_map\": {}}"),
       "kernels[1].params[0].tensor_map: only a tensor_map param has one "
       "(this param is ptr)"},
      {replaced(base, "\"type\": \"tensor_map\",\n         \"tensor_map\": {",
                "\"type\": \"tensor_map\",\n         \"tensor_map\": 7, \"x\": {"),
       kMap + ".tensor_map: expected object, got integer"},
      {replaced(base, kMapBody, kMapBody + " \"stride\": 1,"),
       kMap + ".tensor_map: unknown key \"stride\" (expected tensor, "
              "data_type, dims, strides, box, swizzle)"},
      {replaced(base, "\"tensor\": \"k\",", ""),
       kMap + ".tensor_map: missing \"tensor\""},
      {replaced(base, "\"tensor\": \"k\",", "\"tensor\": \"\","),
       kMap + ".tensor_map.tensor: must not be empty"},
      {replaced(base, "\"tensor\": \"k\",", "\"tensor\": \"seq_k\","),
       kMap + ".tensor_map.tensor: argument \"seq_k\" is ptr here but i32 "
              "elsewhere"},
      {replaced(base, "\"data_type\": \"bf16\"", "\"data_type\": \"f32\""),
       kMap + ".tensor_map.data_type: unknown data type \"f32\" (expected "
              "bf16, f16 or u8)"},
      {replaced(base, "\"data_type\": \"bf16\"", "\"data_type\": 16"),
       kMap + ".tensor_map.data_type: expected string, got integer"},
      {replaced(base, "\"dims\": [[128], [{\"arg\": \"seq_k\"}], [2], "
                      "[{\"arg\": \"batch\"}]]",
                "\"dims\": []"),
       kMap + ".tensor_map.dims: rank 0 out of range (1 to 5 dims)"},
      {replaced(base, "\"dims\": [[128], [{\"arg\": \"seq_k\"}], [2], ",
                "\"dims\": [[128], [1], [1], [{\"arg\": \"seq_k\"}], [2], "),
       kMap + ".tensor_map.dims: rank 6 out of range (1 to 5 dims)"},
      {replaced(base, "\"dims\": [[128],", "\"dims\": [128,"),
       kMap + ".tensor_map.dims[0]: expected array, got integer"},
      {replaced(base, "\"dims\": [[128],", "\"dims\": [[],"),
       kMap + ".tensor_map.dims[0]: expected at least one dim factor"},
      {replaced(base, "\"dims\": [[128],", "\"dims\": [[0],"),
       kMap + ".tensor_map.dims[0][0]: dim factor must be positive, got 0"},
      {replaced(base, "[{\"arg\": \"seq_k\"}], [2], [{\"arg\": \"batch\"}]]",
                "[{\"arg\": \"seq_k\", \"ceil_div\": 0}], [2], "
                "[{\"arg\": \"batch\"}]]"),
       kMap + ".tensor_map.dims[1][0].ceil_div: must be positive, got 0"},
      {replaced(base, "[{\"arg\": \"seq_k\"}], [2], [{\"arg\": \"batch\"}]]",
                "[{\"arg\": \"q\"}], [2], [{\"arg\": \"batch\"}]]"),
       kMap + ".tensor_map.dims[1][0]: argument \"q\" is a pointer (ptr), "
              "not a size"},
      {replaced(base, "[{\"arg\": \"k_stride_h\"}, 2]",
                "[{\"arg\": \"k_quant\"}, 2]"),
       kMap + ".tensor_map.strides[1][0]: argument \"k_quant\" is a pointer "
              "(ptr), not a size"},
      {replaced(base, "[{\"arg\": \"k_stride_h\"}, 2]",
                "[{\"arg\": \"k_stride_h\"}, -2]"),
       kMap + ".tensor_map.strides[1][1]: stride factor must be positive, "
              "got -2"},
      {replaced(base, "[{\"arg\": \"k_stride_h\"}, 2]",
                "[{\"arg\": \"k_stride_h\", \"div\": 2}]"),
       kMap + ".tensor_map.strides[1][0]: unknown key \"div\" in stride "
              "factor (expected arg, ceil_div)"},
      {replaced(base, "[{\"arg\": \"k_stride_h\"}, 2],", ""),
       kMap + ".tensor_map.strides: expected 3 strides (rank - 1), got 2"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [64, 128, 1]"),
       kMap + ".tensor_map.box: expected 4 entries (the rank), got 3"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [64, 257, 1, 1]"),
       kMap + ".tensor_map.box[1]: box size 257 out of range (1 to 256)"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [64, 128, 0, 1]"),
       kMap + ".tensor_map.box[2]: box size 0 out of range (1 to 256)"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [64, \"128\", 1, 1]"),
       kMap + ".tensor_map.box[1]: expected integer, got string"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [4, 128, 1, 1]"),
       kMap + ".tensor_map.box[0]: 4 bf16 elements are 8 bytes, not a "
              "multiple of 16"},
      {replaced(base, "\"box\": [64, 128, 1, 1]", "\"box\": [128, 128, 1, 1]"),
       kMap + ".tensor_map.box[0]: 128 bf16 elements are 256 bytes, more "
              "than the 128-byte swizzle span"},
      {replaced(base, "\"box\": [64, 128, 1, 1],\n           \"swizzle\": 128",
                "\"box\": [64, 128, 1, 1],\n           \"swizzle\": 64"),
       kMap + ".tensor_map.box[0]: 64 bf16 elements are 128 bytes, more than "
              "the 64-byte swizzle span"},
      {replaced(base, "\"box\": [128, 64, 1]", "\"box\": [8, 64, 1]"),
       "kernels[1].params[2].tensor_map.box[0]: 8 u8 elements are 8 bytes, "
       "not a multiple of 16"},
      {replaced(base, "\"box\": [64, 128, 1, 1],\n           \"swizzle\": 128",
                "\"box\": [64, 128, 1, 1],\n           \"swizzle\": 16"),
       kMap + ".tensor_map.swizzle: swizzle 16 bytes is not 0, 32, 64 or 128"},
      {replaced(base, "\"box\": [64, 128, 1, 1],\n           \"swizzle\": 128",
                "\"box\": [64, 128, 1, 1]"),
       kMap + ".tensor_map: missing \"swizzle\""},
      {replaced(base, "{\"name\": \"k_tensor_map\"", "{\"name\": \"batch\""),
       kMap + ".name: tensor_map param \"batch\" is also the name of an "
              "argument"},
      {replaced(base, "{\"name\": \"k_tensor_map\"", "{\"name\": \"q\""),
       kMap + ".name: duplicate param \"q\""},
      {replaced(base, "{\"name\": \"k_quant\", \"bytes\"",
                "{\"name\": \"k_tensor_map\", \"bytes\""),
       "scratch[0].name: scratch buffer \"k_tensor_map\" is a tensor_map "
       "param of kernel attn_fwd_tma (a scratch buffer must be a ptr param)"},
      {replaced(base, "{\"name\": \"q\", \"type\": \"ptr\"}",
                "{\"name\": \"q\", \"type\": \"tensormap\"}"),
       "kernels[1].params[0].type: unknown param type \"tensormap\" (expected "
       "ptr, i64, i32, f32 or tensor_map)"},
  };
  for (const Case &c : cases) {
    Manifest manifest;
    std::string error;
    CHECK(!parseManifest(c.text, manifest, error));
    CHECK_EQ(error, c.expected);
    if (error != c.expected)
      std::fprintf(stderr, "  got: %s\n", error.c_str());
  }
}

TEST(TensorMapArgumentsAreRequired) {
  Manifest manifest = parsedManifest(kTensorMapManifest);
  LaunchPlan plan;
  std::string error;
  auto plans = [&](const Manifest &m, const ScratchArgs &args) {
    return planLaunches(m, args.names.data(), args.values.data(), args.count(),
                        plan, error);
  };
  CHECK(plans(manifest, tensorMapArgs()));
  CHECK(!plans(manifest, tensorMapArgs().remove("k_stride_h")));
  CHECK_EQ(error, std::string("missing argument \"k_stride_h\""));
  CHECK(!plans(manifest,
               tensorMapArgs().remove("k_stride_n").remove("k_stride_b")));
  CHECK_EQ(error,
           std::string("missing arguments \"k_stride_n\", \"k_stride_b\""));
  // The map's param name is not an argument.
  CHECK(!plans(manifest, tensorMapArgs().set("k_tensor_map", 0)));
  CHECK_EQ(error, std::string("unknown argument \"k_tensor_map\""));

  // A tensor only a map reads is required like any tensor.
  Manifest mapOnly = parsedManifest(
      replaced(kTensorMapManifest, "{\"name\": \"k\", \"type\": \"ptr\"}",
               "{\"name\": \"k_stride_b\", \"type\": \"i64\"}")
          .c_str());
  CHECK(!plans(mapOnly, tensorMapArgs().remove("k")));
  CHECK_EQ(error, std::string("missing argument \"k\""));
  CHECK(plans(mapOnly, tensorMapArgs()));
}

TEST(TensorMapsAreEvaluatedFromArguments) {
  Manifest manifest = parsedManifest(kTensorMapManifest);
  LaunchPlan plan;
  std::string error;
  ScratchArgs args = tensorMapArgs();
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK_EQ(plan.launches.size(), size_t(2));
  if (plan.launches.size() != 2)
    return;
  CHECK(plan.launches[0].tensorMaps.empty());
  const std::vector<PlannedTensorMap> &maps = plan.launches[1].tensorMaps;
  CHECK_EQ(maps.size(), size_t(2));
  if (maps.size() != 2)
    return;
  CHECK_EQ(maps[0].param, size_t(1));
  CHECK(maps[0].addressKnown && !maps[0].empty);
  CHECK_EQ(maps[0].address, uint64_t(0x7f0000001000));
  CHECK(std::vector<uint64_t>(maps[0].dims, maps[0].dims + 4) ==
        std::vector<uint64_t>({128, 1000, 2, 2}));
  CHECK(std::vector<uint64_t>(maps[0].strides, maps[0].strides + 3) ==
        std::vector<uint64_t>({512, 256, 512000}));
  // The scratch buffer's address is the launcher's to give.
  CHECK_EQ(maps[1].param, size_t(2));
  CHECK(!maps[1].addressKnown);
  CHECK(std::vector<uint64_t>(maps[1].dims, maps[1].dims + 3) ==
        std::vector<uint64_t>({128, 1000, 4}));
  CHECK(std::vector<uint64_t>(maps[1].strides, maps[1].strides + 2) ==
        std::vector<uint64_t>({128, 128000}));
  // The param slots of tensor maps are unused zeros.
  CHECK_EQ(plan.launches[1].paramSlots[1], uint64_t(0));

  // A k_quant of the caller's: its address, checked now.
  args.set("k_quant", 0x7f0000004000);
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK(plan.launches[1].tensorMaps[1].addressKnown);
  CHECK_EQ(plan.launches[1].tensorMaps[1].address, uint64_t(0x7f0000004000));
  args.set("k_quant", 0x7f0000004004);
  CHECK(!planLaunches(manifest, args.names.data(), args.values.data(),
                      args.count(), plan, error));
  CHECK_EQ(error, std::string("kernel attn_fwd_tma: tensor map "
                              "\"k_quant_tensor_map\" of \"k_quant\": address "
                              "0x7f0000004004 is not 16-byte aligned"));

  // No keys: both maps are empty (nothing checked, not even the null k).
  args = tensorMapArgs().set("seq_k", 0).set("k", 0).set("k_stride_b", 8);
  CHECK(planLaunches(manifest, args.names.data(), args.values.data(),
                     args.count(), plan, error));
  CHECK_EQ(plan.launches.size(), size_t(1)); // quantize_k has no blocks
  CHECK(plan.launches[0].tensorMaps[0].empty);
  CHECK(plan.launches[0].tensorMaps[1].empty);
}

TEST(TensorMapErrorsNameTheParamAndTensor) {
  // heads_k sizes dim 2 only, so it can exceed what grids and i32 allow.
  Manifest manifest = parsedManifest(
      replaced(kTensorMapManifest, "[{\"arg\": \"seq_k\"}], [2], ",
               "[{\"arg\": \"seq_k\"}], [{\"arg\": \"heads_k\"}], ")
          .c_str());
  LaunchPlan plan;
  std::string error;
  auto fails = [&](const ScratchArgs &args) {
    bool ok = planLaunches(manifest, args.names.data(), args.values.data(),
                           args.count(), plan, error);
    return !ok;
  };
  const ScratchArgs args = tensorMapArgs().set("heads_k", 2);
  const std::string k =
      "kernel attn_fwd_tma: tensor map \"k_tensor_map\" of \"k\": ";
  CHECK(!fails(args));

  CHECK(fails(ScratchArgs(args).set("k", 0x7f0000001008)));
  CHECK_EQ(error, k + "address 0x7f0000001008 is not 16-byte aligned");
  // The pre-kernel reads k first, as a plain pointer.
  CHECK(fails(ScratchArgs(args).set("k", 0)));
  CHECK_EQ(error, std::string("kernel quantize_k: argument \"k\" is a null "
                              "pointer"));
  CHECK(fails(ScratchArgs(args).set("k_stride_n", 100)));
  CHECK_EQ(error, k + "stride 1 = 200 bytes (k_stride_n = 100) is not a "
                      "multiple of 16");
  // Strides below 2^40 bytes.
  CHECK(fails(ScratchArgs(args).set("k_stride_b", int64_t(1) << 39)));
  CHECK_EQ(error, k + "stride 3 (k_stride_b = 549755813888) is 2^40 bytes or "
                      "more");
  CHECK(!fails(ScratchArgs(args).set("k_stride_b", (int64_t(1) << 39) - 8)));
  CHECK_EQ(plan.launches[1].tensorMaps[0].strides[2],
           (uint64_t(1) << 40) - 16);
  CHECK(fails(ScratchArgs(args).set("k_stride_b", int64_t(1) << 62)));
  CHECK_CONTAINS(error, "stride 3 (k_stride_b = 4611686018427387904) is 2^40");
  // Dims up to 2^32.
  CHECK(!fails(ScratchArgs(args).set("heads_k", int64_t(1) << 32)));
  CHECK_EQ(plan.launches[1].tensorMaps[0].dims[2], uint64_t(1) << 32);
  CHECK(fails(ScratchArgs(args).set("heads_k", (int64_t(1) << 32) + 1)));
  CHECK_EQ(error, k + "dim 2 (heads_k = 4294967297) is above 2^32");
  // Negative sizes, even of an empty tensor.
  CHECK(fails(ScratchArgs(args).set("k_stride_h", -1)));
  CHECK_EQ(error, k + "argument \"k_stride_h\" = -1 is negative but sizes "
                      "its stride 2");
  CHECK(fails(ScratchArgs(args).set("heads_k", -2)));
  CHECK_EQ(error,
           k + "argument \"heads_k\" = -2 is negative but sizes its dim 2");
  CHECK(fails(ScratchArgs(args).set("heads_k", 0).set("k_stride_h", -1)));
  CHECK_CONTAINS(error, "\"k_stride_h\" = -1 is negative");
  // An empty tensor is not checked otherwise.
  CHECK(!fails(ScratchArgs(args).set("heads_k", 0).set("k", 8).set(
      "k_stride_n", 3)));
}

TEST(TensorMapsAreEncodedPerLaunchAndPassedByValue) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kTensorMapManifest, "CUBIN");
  std::string error;
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs(), error), ATTN_LAUNCHER_OK);
  CHECK(error.empty());
  // The scratch buffer first: one map addresses it.
  CHECK(fake.calls == std::vector<std::string>(
                          {"cuInit", "cuModuleLoadData", "cuMemAlloc_v2",
                           "cuTensorMapEncodeTiled",
                           "cuTensorMapEncodeTiled"}));
  CHECK_EQ(fake.encodes.size(), size_t(2));
  CHECK_EQ(fake.allocations.size(), size_t(1));
  CHECK_EQ(fake.launches.size(), size_t(2));
  if (fake.encodes.size() != 2 || fake.allocations.size() != 1 ||
      fake.launches.size() != 2)
    return;

  const FakeEncode &k = fake.encodes[0];
  CHECK_EQ(k.dataType, 9); // CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
  CHECK_EQ(k.rank, 4u);
  CHECK_EQ(k.address, uint64_t(0x7f0000001000));
  CHECK(k.dims == std::vector<cuuint64_t>({128, 1000, 2, 2}));
  CHECK(k.strides == std::vector<cuuint64_t>({512, 256, 512000}));
  CHECK(k.box == std::vector<cuuint32_t>({64, 128, 1, 1}));
  CHECK(k.elementStrides == std::vector<cuuint32_t>({1, 1, 1, 1}));
  CHECK_EQ(k.interleave, 0); // NONE
  CHECK_EQ(k.swizzle, 3);    // 128B
  CHECK_EQ(k.l2Promotion, 3); // L2_256B
  CHECK_EQ(k.oobFill, 0);    // NONE

  const FakeEncode &quant = fake.encodes[1];
  CHECK_EQ(quant.dataType, 0); // UINT8
  CHECK_EQ(quant.rank, 3u);
  CHECK_EQ(quant.address, fake.allocations[0].address);
  CHECK_EQ(fake.allocations[0].bytes, uint64_t(2 * 2 * 1000 * 128));
  CHECK(quant.dims == std::vector<cuuint64_t>({128, 1000, 4}));
  CHECK(quant.strides == std::vector<cuuint64_t>({128, 128000}));
  CHECK(quant.box == std::vector<cuuint32_t>({128, 64, 1}));
  CHECK_EQ(quant.swizzle, 3);

  // The kernel gets a pointer to the encoded bytes themselves, 64-byte
  // aligned, alive during cuLaunchKernel; the other params as before.
  const RecordedLaunch &fwd = fake.launches[1];
  CHECK_EQ(fwd.function, std::string("attn_fwd_tma"));
  for (size_t i = 0; i < 2; ++i) {
    const void *pointer = fwd.paramPointers[1 + i];
    CHECK_EQ(pointer, fake.encodes[i].map);
    CHECK_EQ(reinterpret_cast<uintptr_t>(pointer) % 64, uintptr_t(0));
    CHECK(fwd.tensorMaps.at(1 + i) == fakeTensorMapBytes(i));
  }
  CHECK_EQ(fwd.params[0], uint64_t(0x7f0000002000));
  CHECK_EQ(fwd.params[3], uint64_t(0x7f0000003000));
  CHECK_EQ(fwd.params[4], uint64_t(512));
  CHECK_EQ(fwd.params[5], uint64_t(1000));
  CHECK(fake.launches[0].params ==
        std::vector<uint64_t>(
            {0x7f0000001000, fake.allocations[0].address, 1000}));

  // Encoded again on every launch, from that launch's arguments.
  fake.calls.clear();
  fake.launches.clear();
  CHECK_EQ(launchScratch(*launcher,
                         tensorMapArgs().set("seq_k", 500).set("k", 0x7f0000005000),
                         error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.calls == std::vector<std::string>({"cuTensorMapEncodeTiled",
                                                "cuTensorMapEncodeTiled"}));
  CHECK_EQ(fake.encodes.size(), size_t(4));
  if (fake.encodes.size() != 4 || fake.launches.size() != 2)
    return;
  CHECK_EQ(fake.encodes[2].address, uint64_t(0x7f0000005000));
  CHECK(fake.encodes[2].dims == std::vector<cuuint64_t>({128, 500, 2, 2}));
  CHECK(fake.encodes[3].strides == std::vector<cuuint64_t>({128, 64000}));
  CHECK(fake.launches[1].tensorMaps.at(1) == fakeTensorMapBytes(2));
  CHECK(fake.launches[1].tensorMaps.at(2) == fakeTensorMapBytes(3));
}

TEST(EmptyTensorMapIsZeroBytes) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kTensorMapManifest, "CUBIN");
  std::string error;
  // No keys: quantize_k has no blocks, attn_fwd_tma runs with two empty
  // maps (K is PyTorch's empty tensor: a null pointer) and encodes nothing.
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs().set("seq_k", 0).set("k", 0),
                         error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.encodes.empty());
  CHECK(fake.allocations.empty());
  CHECK_EQ(fake.launches.size(), size_t(1));
  if (fake.launches.size() != 1)
    return;
  CHECK_EQ(fake.launches[0].function, std::string("attn_fwd_tma"));
  CHECK(fake.launches[0].tensorMaps.at(1) == std::vector<unsigned char>(128));
  CHECK(fake.launches[0].tensorMaps.at(2) == std::vector<unsigned char>(128));
  CHECK_EQ(reinterpret_cast<uintptr_t>(fake.launches[0].paramPointers[1]) % 64,
           uintptr_t(0));
}

TEST(ScratchReadOnlyThroughATensorMapIsAllocated) {
  ArtifactDir dir;
  // quantize_k no longer touches k_quant: only attn_fwd_tma's map reads it.
  auto launcher = loadWithFake(
      dir,
      replaced(kTensorMapManifest, "{\"name\": \"k_quant\", \"type\": \"ptr\"},",
               ""),
      "CUBIN");
  std::string error;
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs(), error), ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.allocations.size(), size_t(1));
  CHECK_EQ(fake.encodes.size(), size_t(2));
  if (fake.allocations.size() == 1 && fake.encodes.size() == 2)
    CHECK_EQ(fake.encodes[1].address, fake.allocations[0].address);

  // Only a skipped kernel reads it: not allocated, not encoded.
  launcher.reset();
  launcher = loadWithFake(
      dir,
      replaced(kTensorMapManifest, "{\"name\": \"k_quant\", \"type\": \"ptr\"},",
               ""),
      "CUBIN");
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs().set("seq_q", 0), error),
           ATTN_LAUNCHER_OK);
  CHECK(fake.allocations.empty());
  CHECK(fake.encodes.empty());
  CHECK_EQ(fake.launches.size(), size_t(1));
}

TEST(TensorMapLaunchErrorsLaunchNothing) {
  ArtifactDir dir;
  auto launcher = loadWithFake(dir, kTensorMapManifest, "CUBIN");
  std::string error;
  // Caller mistakes: before any driver call.
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs().set("k", 0x7f0000001001),
                         error),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_CONTAINS(error, "tensor map \"k_tensor_map\" of \"k\": address "
                        "0x7f0000001001 is not 16-byte aligned");
  CHECK(fake.calls.empty());

  // The driver refuses: its error, with everything it was given.
  fake.encodeResult = 1;
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs(), error),
           ATTN_LAUNCHER_ERROR_CUDA);
  CHECK_EQ(error,
           std::string("cuTensorMapEncodeTiled(kernel attn_fwd_tma: tensor map "
                       "\"k_tensor_map\" of \"k\": bf16, address 0x7f0000001000, "
                       "dims [128, 1000, 2, 2], strides [512, 256, 512000] "
                       "bytes, box [64, 128, 1, 1], swizzle 128) failed: "
                       "CUDA_ERROR_UNKNOWN (an illegal memory access was "
                       "encountered)"));
  CHECK(fake.launches.empty());
  fake.encodeResult = CUDA_SUCCESS;
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs(), error), ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.launches.size(), size_t(2));

  // A scratch buffer sized empty under a map that is not: null address.
  launcher.reset();
  auto emptyScratch = loadWithFake(
      dir,
      replaced(kTensorMapManifest, "[{\"arg\": \"batch\"}, 2, {\"arg\": \"seq_k\"}, 128]",
               "[{\"arg\": \"quant_bytes\"}]"),
      "CUBIN");
  CHECK_EQ(launchScratch(*emptyScratch, tensorMapArgs().set("quant_bytes", 0),
                         error),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_EQ(error, std::string("kernel attn_fwd_tma: tensor map "
                              "\"k_quant_tensor_map\" of \"k_quant\": null "
                              "address"));
  CHECK(fake.launches.empty());
}

TEST(DriverWithoutTensorMapEncoding) {
  ArtifactDir dir;
  dir.write("kernels.cubin", std::string("CUBIN", 6)); // NUL: see loadWithFake
  std::string error;
  auto oldDriver = [](std::string &) -> const DriverApi * {
    static DriverApi api = [] {
      DriverApi driver = fakeDriverApi();
      driver.cuTensorMapEncodeTiled = nullptr;
      return driver;
    }();
    return &api;
  };
  fake = FakeDriver();
  auto launcher = Launcher::load(dir.write("manifest.json", kTensorMapManifest),
                                 oldDriver, error);
  CHECK(launcher != nullptr);
  if (!launcher)
    return;
  CHECK_EQ(launchScratch(*launcher, tensorMapArgs(), error),
           ATTN_LAUNCHER_ERROR_NO_DRIVER);
  CHECK_EQ(error, std::string("the CUDA driver has no cuTensorMapEncodeTiled "
                              "(a CUDA 12 or later driver is needed for "
                              "tensor_map params; kernel attn_fwd_tma: tensor "
                              "map \"k_tensor_map\" of \"k\")"));
  CHECK(fake.launches.empty());

  // Manifests without tensor maps do not need it.
  auto plain = Launcher::load(dir.write("plain.json", kManifest), oldDriver,
                              error);
  CHECK(plain != nullptr);
  fake.paramCounts["attn_fwd_0"] = 3;
  fake.paramCounts["attn_combine_1"] = 3;
  std::vector<int64_t> values = defaultArgValues();
  CHECK_EQ(plain->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(fake.launches.size(), size_t(2));
}

TEST(CApiTensorMapQueries) {
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  std::string manifestPath = dir.write("manifest.json", kTensorMapManifest);
  char err[512] = "";
  attn_launcher *l = attn_launcher_load(manifestPath.c_str(), err, sizeof(err));
  CHECK(l != nullptr);
  if (!l)
    return;
  CHECK_EQ(attn_launcher_num_params(l, 1), 6);
  CHECK_EQ(std::string(attn_launcher_param_name(l, 1, 1)),
           std::string("k_tensor_map"));
  CHECK_EQ(std::string(attn_launcher_param_type(l, 1, 1)),
           std::string("tensor_map"));
  CHECK_EQ(attn_launcher_num_arguments(l), 10);
  CHECK_EQ(std::string(attn_launcher_argument_name(l, 5)),
           std::string("k_stride_n"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 5)), std::string("int"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 0)), std::string("ptr"));

  // Checked before any driver use: holds with or without libcuda.
  ScratchArgs args = tensorMapArgs().set("k_stride_n", 100);
  CHECK_EQ(attn_launcher_launch(l, args.names.data(), args.values.data(),
                                args.count(), nullptr, err, sizeof(err)),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_EQ(std::string(err),
           std::string("kernel attn_fwd_tma: tensor map \"k_tensor_map\" of "
                       "\"k\": stride 1 = 200 bytes (k_stride_n = 100) is not "
                       "a multiple of 16"));
  attn_launcher_free(l);
}

// ---------------------------------------------------------------------------
// The C ABI and the dlopen path

TEST(CApiLoadQueryAndErrors) {
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  std::string manifestPath = dir.write("manifest.json", kManifest);
  char err[256] = "untouched";
  attn_launcher *l = attn_launcher_load(manifestPath.c_str(), err, sizeof(err));
  CHECK(l != nullptr);
  CHECK_EQ(attn_launcher_num_kernels(l), 2);
  CHECK_EQ(std::string(attn_launcher_kernel_name(l, 1)), std::string("attn_combine_1"));
  CHECK(attn_launcher_kernel_name(l, 2) == nullptr);
  CHECK(attn_launcher_kernel_name(l, -1) == nullptr);
  CHECK_EQ(attn_launcher_num_params(l, 0), 3);
  CHECK_EQ(std::string(attn_launcher_param_name(l, 0, 1)), std::string("q_stride_b"));
  CHECK_EQ(std::string(attn_launcher_param_type(l, 1, 1)), std::string("f32"));
  CHECK(attn_launcher_param_type(l, 1, 3) == nullptr);
  CHECK_EQ(attn_launcher_num_arguments(l), kArgCount);
  CHECK_EQ(std::string(attn_launcher_argument_name(l, 6)), std::string("splits"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 6)), std::string("int"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 0)), std::string("ptr"));
  CHECK_EQ(attn_launcher_num_scratch(l), 0);
  CHECK(attn_launcher_scratch_name(l, 0) == nullptr);

  // Argument errors come before any driver use, so this holds with or
  // without libcuda on the machine.
  std::vector<int64_t> values = defaultArgValues();
  CHECK_EQ(attn_launcher_launch(l, kArgNames, values.data(), 3, nullptr, err,
                                sizeof(err)),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_EQ(std::string(err),
           std::string("missing arguments \"batch\", \"out\", \"scale\", \"splits\""));
  char tiny[8];
  CHECK_EQ(attn_launcher_launch(l, kArgNames, values.data(), 3, nullptr, tiny,
                                sizeof(tiny)),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_EQ(std::string(tiny), std::string("missing"));
  CHECK_EQ(attn_launcher_launch(l, kArgNames, values.data(), 3, nullptr, nullptr, 0),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  attn_launcher_free(l);

  CHECK_EQ(attn_launcher_launch(nullptr, kArgNames, values.data(), 3, nullptr,
                                err, sizeof(err)),
           ATTN_LAUNCHER_ERROR_INVALID);
  CHECK_EQ(std::string(err), std::string("null launcher"));
  CHECK(attn_launcher_load((manifestPath + "x").c_str(), err, sizeof(err)) == nullptr);
  CHECK_CONTAINS(err, "cannot read manifest");
  CHECK(attn_launcher_load(nullptr, err, sizeof(err)) == nullptr);
  CHECK_EQ(attn_launcher_num_kernels(nullptr), 0);
  attn_launcher_free(nullptr);
}

TEST(CApiScratchQueriesAndErrors) {
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  std::string manifestPath =
      dir.write("manifest.json", scratchManifestWithHeadsK());
  char err[256] = "untouched";
  attn_launcher *l = attn_launcher_load(manifestPath.c_str(), err, sizeof(err));
  CHECK(l != nullptr);
  CHECK_EQ(attn_launcher_num_scratch(l), 2);
  CHECK_EQ(std::string(attn_launcher_scratch_name(l, 0)),
           std::string("k_quant"));
  CHECK_EQ(std::string(attn_launcher_scratch_name(l, 1)),
           std::string("k_scale"));
  CHECK(attn_launcher_scratch_name(l, 2) == nullptr);
  CHECK(attn_launcher_scratch_name(l, -1) == nullptr);
  CHECK(attn_launcher_scratch_name(nullptr, 0) == nullptr);
  CHECK_EQ(attn_launcher_num_scratch(nullptr), 0);
  // Buffers stay ptr arguments; a size-only argument comes last, as "int".
  CHECK_EQ(attn_launcher_num_arguments(l), 10);
  CHECK_EQ(std::string(attn_launcher_argument_name(l, 2)),
           std::string("k_quant"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 2)), std::string("ptr"));
  CHECK_EQ(std::string(attn_launcher_argument_name(l, 9)),
           std::string("heads_k"));
  CHECK_EQ(std::string(attn_launcher_argument_type(l, 9)), std::string("int"));

  // Checked before any driver use: holds with or without libcuda.
  ScratchArgs args;
  CHECK_EQ(attn_launcher_launch(l, args.names.data(), args.values.data(),
                                args.count(), nullptr, err, sizeof(err)),
           ATTN_LAUNCHER_ERROR_ARGUMENTS);
  CHECK_EQ(std::string(err),
           std::string("missing argument \"heads_k\" for the size of scratch "
                       "buffer \"k_scale\" (or pass \"k_scale\")"));
  attn_launcher_free(l);

  std::string bad = dir.write(
      "bad.json", replaced(kScratchManifest, "\"name\": \"k_scale\", \"bytes\"",
                           "\"name\": \"k_quant\", \"bytes\""));
  CHECK(attn_launcher_load(bad.c_str(), err, sizeof(err)) == nullptr);
  CHECK_EQ(std::string(err),
           "bad manifest " + bad +
               ": scratch[1].name: duplicate scratch buffer \"k_quant\"");
}

// The stand-in libcuda.so through the real loader (every symbol resolved by
// name) into `api`; returns its record, cleared, or null on failure.
static DriverApi dlopenedApi;
static FakeCudaState *dlopenFakeCuda() {
  std::string error;
  bool loaded = loadDriverApi(ATTN_FAKE_CUDA_PATH, dlopenedApi, error);
  if (!loaded)
    std::fprintf(stderr, "%s\n", error.c_str());
  CHECK(loaded);
  if (!loaded)
    return nullptr;
  void *handle = dlopen(ATTN_FAKE_CUDA_PATH, RTLD_NOW | RTLD_NOLOAD);
  CHECK(handle != nullptr);
  auto stateOf = reinterpret_cast<FakeCudaState *(*)()>(
      handle ? dlsym(handle, "fake_cuda_state") : nullptr);
  CHECK(stateOf != nullptr);
  if (!stateOf)
    return nullptr;
  FakeCudaState *state = stateOf();
  *state = FakeCudaState();
  return state;
}
static const DriverApi *dlopenedDriverProvider(std::string &) {
  return &dlopenedApi;
}

// The real loader against a stand-in libcuda.so: a launch goes through it.
TEST(DlopenedDriverLaunches) {
  FakeCudaState *state = dlopenFakeCuda();
  if (!state)
    return;
  const DriverApi &api = dlopenedApi;
  std::string error;
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  auto launcher = Launcher::load(dir.write("manifest.json", kManifest),
                                 dlopenedDriverProvider, error);
  CHECK(launcher != nullptr);
  std::vector<int64_t> values = defaultArgValues();
  values[6] = 0; // only attn_fwd_0 runs
  CHECK_EQ(launcher->launch(kArgNames, values.data(), kArgCount, nullptr, error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(state->initCalls, 1);
  CHECK_EQ(state->moduleLoads, 1);
  CHECK_EQ(state->launches, 1);
  CHECK_EQ(state->sharedAttribute, 98304);
  CHECK(state->grid[0] == 8 && state->grid[1] == 4 && state->grid[2] == 2);
  CHECK_EQ(state->block[0], 256u);
  CHECK_EQ(state->sharedBytes, 98304u);
  CHECK_EQ(state->firstParam, int64_t(0x7f0000001000));
  CHECK_EQ(std::string(state->function), std::string("attn_combine_1"));
  CHECK_EQ(describeDriverError(api, "cuX", 1),
           std::string("cuX failed: CUDA_ERROR_FAKE (fake error)"));
}

// Scratch allocation through the dlopened cuMemAlloc_v2 and cuMemFree_v2.
TEST(DlopenedDriverAllocatesAndFreesScratch) {
  FakeCudaState *state = dlopenFakeCuda();
  if (!state)
    return;
  std::string error;
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  auto launcher = Launcher::load(dir.write("manifest.json", kScratchManifest),
                                 dlopenedDriverProvider, error);
  CHECK(launcher != nullptr);
  if (!launcher)
    return;
  ScratchArgs args;
  for (int i = 0; i < 2; ++i) // the second launch reuses the buffers
    CHECK_EQ(launcher->launch(args.names.data(), args.values.data(),
                              args.count(), nullptr, error),
             ATTN_LAUNCHER_OK);
  CHECK_EQ(state->launches, 4);
  CHECK_EQ(state->allocs, 2);
  CHECK_EQ(state->allocBytes[0], kQuantBytes(1000));
  CHECK_EQ(state->allocBytes[1], kScaleBytes(1000));
  CHECK_EQ(state->allocAddress[0] % 256, uint64_t(0));
  CHECK_EQ(state->frees, 0);
  launcher.reset();
  CHECK_EQ(state->frees, 2);
  CHECK((state->freedAddress[0] == state->allocAddress[0] &&
         state->freedAddress[1] == state->allocAddress[1]) ||
        (state->freedAddress[0] == state->allocAddress[1] &&
         state->freedAddress[1] == state->allocAddress[0]));
  CHECK_EQ(state->syncs, 0);
}

// A tensor map through the dlopened cuTensorMapEncodeTiled: the kernel's
// first param is the map, so the stand-in records its bytes and address.
TEST(DlopenedDriverEncodesTensorMaps) {
  FakeCudaState *state = dlopenFakeCuda();
  if (!state)
    return;
  CHECK(dlopenedApi.cuTensorMapEncodeTiled != nullptr);
  std::string error;
  ArtifactDir dir;
  dir.write("kernels.cubin", "CUBIN");
  auto launcher = Launcher::load(dir.write("manifest.json", R"({
    "format": "attn-kernels", "version": 1,
    "binary": "kernels.cubin", "binary_format": "cubin",
    "kernels": [{
      "name": "tma_copy", "block": [128, 1, 1], "shared_bytes": 0,
      "grid": [[{"arg": "n", "ceil_div": 256}], [1], [1]],
      "params": [
        {"name": "src_map", "type": "tensor_map",
         "tensor_map": {"tensor": "src", "data_type": "f16",
                        "dims": [[{"arg": "n"}]], "strides": [],
                        "box": [256], "swizzle": 0}},
        {"name": "dst", "type": "ptr"},
        {"name": "n", "type": "i32"}]
    }]
  })"), dlopenedDriverProvider, error);
  CHECK(launcher != nullptr);
  if (!launcher)
    return;
  const char *names[] = {"src", "dst", "n"};
  const int64_t values[] = {0x7f0000001000, 0x7f0000002000, 1000};
  CHECK_EQ(launcher->launch(names, values, 3, nullptr, error),
           ATTN_LAUNCHER_OK);
  CHECK_EQ(state->tensorMapEncodes, 1);
  CHECK_EQ(state->launches, 1);
  CHECK_EQ(state->dataType, 6); // FLOAT16
  CHECK_EQ(state->swizzle, 0);
  CHECK_EQ(state->rank, 1u);
  CHECK_EQ(state->globalAddress, uint64_t(0x7f0000001000));
  CHECK_EQ(state->globalDim[0], uint64_t(1000));
  CHECK_EQ(state->boxDim[0], 256u);
  CHECK_EQ(state->elementStrides[0], 1u);
  CHECK_EQ(state->firstParamAddress, state->tensorMap);
  CHECK_EQ(reinterpret_cast<uintptr_t>(state->firstParamAddress) % 64,
           uintptr_t(0));
  unsigned char expected[8];
  for (int i = 0; i < 8; ++i)
    expected[i] = static_cast<unsigned char>(0x40 + i); // call 0
  CHECK(std::memcmp(&state->firstParam, expected, 8) == 0);
}

int main() {
  for (auto &[name, body] : tests()) {
    int before = failures;
    body();
    std::printf("[%s] %s\n", failures == before ? "  OK  " : "FAILED", name);
  }
  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all %zu tests passed\n", tests().size());
  return 0;
}
