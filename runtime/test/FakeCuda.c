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
  if (params)
    memcpy(&state.firstParam, params[0], sizeof(state.firstParam));
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
