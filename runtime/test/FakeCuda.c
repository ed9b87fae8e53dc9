/* A stand-in libcuda.so exporting the driver symbols the launcher resolves.
 * It pretends to be a device with one current context and records what it
 * is asked to do. */
#include "FakeCudaState.h"

#include <stddef.h>
#include <string.h>

typedef int CUresult;
static struct FakeCudaState state;
static int contextToken, moduleToken, functionToken;

#define EXPORT __attribute__((visibility("default")))

EXPORT struct FakeCudaState *fake_cuda_state(void) { return &state; }

EXPORT CUresult cuInit(unsigned flags) {
  (void)flags;
  ++state.initCalls;
  return 0;
}
EXPORT CUresult cuCtxGetCurrent(void **context) {
  *context = &contextToken;
  return 0;
}
EXPORT CUresult cuCtxSetCurrent(void *context) {
  (void)context;
  return 0;
}
EXPORT CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return 0;
}
EXPORT CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  (void)device;
  *context = &contextToken;
  return 0;
}
EXPORT CUresult cuCtxGetDevice(int *device) {
  *device = 0;
  return 0;
}
EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  /* 16: CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT (132 unless set). */
  if (attribute != 16)
    return 1;
  *value = state.multiprocessors ? state.multiprocessors : 132;
  return 0;
}
EXPORT CUresult cuCtxSynchronize(void) {
  ++state.syncs;
  return 0;
}
EXPORT CUresult cuMemAlloc_v2(uint64_t *address, size_t bytes) {
  int n = state.allocs++;
  /* Distinct, 256-aligned, and far from the fake tensors of the tests. */
  *address = 0xd00000000000ull + (uint64_t)(n + 1) * 0x10000000ull;
  if (n < 8) {
    state.allocBytes[n] = bytes;
    state.allocAddress[n] = *address;
  }
  return 0;
}
EXPORT CUresult cuMemFree_v2(uint64_t address) {
  int n = state.frees++;
  if (n < 8)
    state.freedAddress[n] = address;
  return 0;
}
EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
  (void)image;
  ++state.moduleLoads;
  *module = &moduleToken;
  return 0;
}
EXPORT CUresult cuModuleUnload(void *module) {
  (void)module;
  return 0;
}
EXPORT CUresult cuModuleGetFunction(void **function, void *module,
                                    const char *name) {
  (void)module;
  strncpy(state.function, name, sizeof(state.function) - 1);
  *function = &functionToken;
  return 0;
}
EXPORT CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)function;
  if (attribute == 8)
    state.sharedAttribute = value;
  return 0;
}
EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, void *stream,
                               void **params, void **extra) {
  (void)function;
  (void)extra;
  ++state.launches;
  state.grid[0] = gx, state.grid[1] = gy, state.grid[2] = gz;
  state.block[0] = bx, state.block[1] = by, state.block[2] = bz;
  state.sharedBytes = shared;
  state.stream = stream;
  if (params) {
    memcpy(&state.firstParam, params[0], sizeof(state.firstParam));
    state.firstParamAddress = params[0];
  }
  return 0;
}
EXPORT CUresult cuTensorMapEncodeTiled(
    void *tensorMap, int dataType, uint32_t rank, void *globalAddress,
    const uint64_t *globalDim, const uint64_t *globalStrides,
    const uint32_t *boxDim, const uint32_t *elementStrides, int interleave,
    int swizzle, int l2Promotion, int oobFill) {
  unsigned char *bytes = tensorMap;
  int call = state.tensorMapEncodes++;
  unsigned i;
  if (rank < 1 || rank > 5 || interleave != 0 || l2Promotion != 3 ||
      oobFill != 0)
    return 1; /* CUDA_ERROR_INVALID_VALUE */
  for (i = 0; i < 128; ++i)
    bytes[i] = (unsigned char)(0x40 + 16 * call + (int)i);
  state.tensorMap = tensorMap;
  state.dataType = dataType;
  state.swizzle = swizzle;
  state.rank = rank;
  state.globalAddress = (uint64_t)(uintptr_t)globalAddress;
  for (i = 0; i < rank; ++i) {
    state.globalDim[i] = globalDim[i];
    state.boxDim[i] = boxDim[i];
    state.elementStrides[i] = elementStrides[i];
    if (i + 1 < rank)
      state.globalStrides[i] = globalStrides[i];
  }
  return 0;
}
EXPORT CUresult cuGetErrorName(CUresult result, const char **name) {
  (void)result;
  *name = "CUDA_ERROR_FAKE";
  return 0;
}
EXPORT CUresult cuGetErrorString(CUresult result, const char **text) {
  (void)result;
  *text = "fake error";
  return 0;
}
