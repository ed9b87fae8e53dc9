// The slice of the CUDA driver API the launcher uses, declared here so the
// runtime builds without the CUDA toolkit. Signatures and values follow the
// driver's stable C ABI (cuda.h); only what we call is declared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attn::launcher {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUdeviceptr = unsigned long long; // 64-bit on every supported host

using cuuint32_t = uint32_t;
using cuuint64_t = uint64_t;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
// Dynamic shared memory above this needs the opt-in attribute.
constexpr unsigned kDefaultSharedLimitBytes = 48 * 1024;

// A TMA descriptor: 128 opaque bytes the driver encodes. CUDA 12 declares it
// alignas(64), CUDA 13 alignas(128); a kernel takes it by value, and the
// kernelParams entry must point at storage aligned to at least 64 bytes.
struct alignas(128) CUtensorMap {
  unsigned char opaque[128];
};
static_assert(sizeof(CUtensorMap) == 128, "CUtensorMap is 128 bytes");

// The enums of cuTensorMapEncodeTiled (C enums: passed as int).
constexpr int CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0;
constexpr int CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6;
constexpr int CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9;
constexpr int CU_TENSOR_MAP_INTERLEAVE_NONE = 0;
constexpr int CU_TENSOR_MAP_SWIZZLE_NONE = 0;
constexpr int CU_TENSOR_MAP_SWIZZLE_32B = 1;
constexpr int CU_TENSOR_MAP_SWIZZLE_64B = 2;
constexpr int CU_TENSOR_MAP_SWIZZLE_128B = 3;
constexpr int CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
constexpr int CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0;

// Function table; the real one is filled by dlsym on libcuda, tests fill it
// with fakes.
struct DriverApi {
  CUresult (*cuInit)(unsigned flags) = nullptr;
  CUresult (*cuCtxGetCurrent)(CUcontext *context) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext context) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice *device, int ordinal) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context,
                                       CUdevice device) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuCtxGetDevice)(CUdevice *device) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int *value, int attribute,
                                   CUdevice device) = nullptr;
  // The _v2 names are the 64-bit-pointer versions cuda.h maps cuMemAlloc and
  // cuMemFree to.
  CUresult (*cuMemAlloc_v2)(CUdeviceptr *address, size_t bytes) = nullptr;
  CUresult (*cuMemFree_v2)(CUdeviceptr address) = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule *module, const void *image) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule module) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module,
                                  const char *name) = nullptr;
  CUresult (*cuFuncSetAttribute)(CUfunction function, int attribute,
                                 int value) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned gridX,
                             unsigned gridY, unsigned gridZ, unsigned blockX,
                             unsigned blockY, unsigned blockZ,
                             unsigned sharedBytes, CUstream stream,
                             void **kernelParams, void **extra) = nullptr;
  CUresult (*cuGetErrorName)(CUresult result, const char **name) = nullptr;
  CUresult (*cuGetErrorString)(CUresult result, const char **text) = nullptr;
  // Optional (CUDA 12+ drivers): null where the driver lacks it; only
  // manifests with tensor_map params need it.
  CUresult (*cuTensorMapEncodeTiled)(
      CUtensorMap *tensorMap, int dataType, cuuint32_t rank,
      void *globalAddress, const cuuint64_t *globalDim,
      const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
      const cuuint32_t *elementStrides, int interleave, int swizzle,
      int l2Promotion, int oobFill) = nullptr;
};

// dlopens `library` and resolves every DriverApi entry by name. Fails with a
// message naming the library (dlerror) or the missing symbol; an optional
// entry the library lacks stays null. The library is never closed: the
// driver stays loaded for the life of the process.
bool loadDriverApi(const char *library, DriverApi &out, std::string &error);

// The process-wide driver from libcuda.so.1, loaded on first call; null with
// `error` set if it cannot be loaded (the error is remembered).
const DriverApi *systemDriver(std::string &error);

// "call: CUDA_ERROR_NAME (description)" for a failed driver call.
std::string describeDriverError(const DriverApi &driver, const char *call,
                                CUresult result);

} // namespace attn::launcher
