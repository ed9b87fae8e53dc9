/* What the fake libcuda (FakeCuda.c) records; read by the tests through
 * fake_cuda_state(), found with dlsym. */
#ifndef ATTN_FAKE_CUDA_STATE_H
#define ATTN_FAKE_CUDA_STATE_H

#include <stdint.h>

struct FakeCudaState {
  int initCalls;
  int moduleLoads;
  int launches;
  int sharedAttribute; /* last value set for MAX_DYNAMIC_SHARED_SIZE_BYTES */
  unsigned grid[3], block[3], sharedBytes;
  void *stream;
  int64_t firstParam; /* 8 bytes at kernelParams[0] */
  char function[64];  /* name asked of cuModuleGetFunction */
  /* Device memory: addresses are fake (never dereferenced), 256-aligned. */
  int syncs;                 /* cuCtxSynchronize calls */
  int allocs, frees;         /* cuMemAlloc_v2 / cuMemFree_v2 calls */
  uint64_t allocBytes[8];    /* sizes of the first 8 allocations, in order */
  uint64_t allocAddress[8];  /* and the addresses handed out */
  uint64_t freedAddress[8];  /* addresses of the first 8 frees, in order */
  /* Tensor maps: the last cuTensorMapEncodeTiled call, which writes byte i
   * of the map as (0x40 + 16 * call index + i) mod 256. */
  int tensorMapEncodes;
  void *tensorMap;        /* the map it wrote */
  int dataType, swizzle;  /* enum values */
  unsigned rank;
  uint64_t globalAddress;
  uint64_t globalDim[5], globalStrides[4];
  unsigned boxDim[5], elementStrides[5];
  void *firstParamAddress; /* kernelParams[0] itself */
  int multiprocessors;     /* the SM count it reports (0: 132) */
};

#endif
