#include "Driver.h"

#include <dlfcn.h>
#include <mutex>

namespace attn::launcher {

namespace {

template <typename Function>
bool resolve(void *handle, const char *library, const char *symbol,
             Function &out, std::string &error) {
  void *address = dlsym(handle, symbol);
  if (!address) {
    error = std::string(library) + " has no symbol " + symbol;
    return false;
  }
  out = reinterpret_cast<Function>(address);
  return true;
}

} // namespace

bool loadDriverApi(const char *library, DriverApi &out, std::string &error) {
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = dlerror();
    error = std::string("cannot load the CUDA driver ") + library + ": " +
            (reason ? reason : "unknown dlopen error");
    return false;
  }
  DriverApi api;
#define ATTN_RESOLVE(name)                                                     \
  if (!resolve(handle, library, #name, api.name, error))                       \
    return false;
  ATTN_RESOLVE(cuInit)
  ATTN_RESOLVE(cuCtxGetCurrent)
  ATTN_RESOLVE(cuCtxSetCurrent)
  ATTN_RESOLVE(cuDeviceGet)
  ATTN_RESOLVE(cuDevicePrimaryCtxRetain)
  ATTN_RESOLVE(cuCtxSynchronize)
  ATTN_RESOLVE(cuCtxGetDevice)
  ATTN_RESOLVE(cuDeviceGetAttribute)
  ATTN_RESOLVE(cuMemAlloc_v2)
  ATTN_RESOLVE(cuMemFree_v2)
  ATTN_RESOLVE(cuModuleLoadData)
  ATTN_RESOLVE(cuModuleUnload)
  ATTN_RESOLVE(cuModuleGetFunction)
  ATTN_RESOLVE(cuFuncSetAttribute)
  ATTN_RESOLVE(cuLaunchKernel)
  ATTN_RESOLVE(cuGetErrorName)
  ATTN_RESOLVE(cuGetErrorString)
#undef ATTN_RESOLVE
  // Optional: older drivers lack it, and only tensor_map params need it.
  api.cuTensorMapEncodeTiled =
      reinterpret_cast<decltype(api.cuTensorMapEncodeTiled)>(
          dlsym(handle, "cuTensorMapEncodeTiled"));
  out = api;
  return true;
}

const DriverApi *systemDriver(std::string &error) {
  static std::mutex mutex;
  static bool attempted = false;
  static DriverApi driver;
  static std::string loadError;
  std::lock_guard<std::mutex> lock(mutex);
  if (!attempted) {
    attempted = true;
    if (!loadDriverApi("libcuda.so.1", driver, loadError))
      driver = DriverApi();
  }
  if (!driver.cuInit) {
    error = loadError;
    return nullptr;
  }
  return &driver;
}

std::string describeDriverError(const DriverApi &driver, const char *call,
                                CUresult result) {
  const char *name = nullptr;
  const char *text = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &text);
  std::string message = std::string(call) + " failed: ";
  message += name ? name : "CUDA error " + std::to_string(result);
  if (text)
    message += std::string(" (") + text + ")";
  return message;
}

} // namespace attn::launcher
