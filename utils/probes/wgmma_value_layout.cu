// Probe: which shared-memory descriptor encodings make the register-A wgmma
// O = P V right for a 16-bit V tile (64 keys x 128 channels), checked
// exactly against the host (integer-valued inputs). Build and run on an
// sm_90a GPU:
//   nvcc -gencode=arch=compute_90a,code=sm_90a -o probe wgmma_value_layout.cu
//   ./probe
// Each line says which layout and descriptor fields were tried and how many
// of the 64 x N outputs were wrong. V is written in shared memory with the
// 128-byte swizzle a TMA box of 128-byte rows produces (16-byte chunk c of
// 128-byte row r at chunk c ^ (r % 8), the tile 1024-byte aligned).
#include <cstdio>
#include <cstdint>
#include <cuda_bf16.h>

#include "wgmma_rs.h"

constexpr int kKeys = 64, kChannels = 128, kRows = 64;

__device__ unsigned long long descriptor(uint32_t address, uint32_t lbo,
                                         uint32_t sbo) {
  return (uint64_t)((address & 0x3FFFF) >> 4) |
         ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

__device__ unsigned pack(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned *>(&v);
}

__host__ __device__ float pValue(int row, int key) {
  return float((row * 5 + key * 3) % 7 - 3);
}
__host__ __device__ float vValue(int key, int channel) {
  return float((key * 3 + channel * 7) % 9 - 4);
}

// mode 0: V MN-major [key][channel] in two 64-channel slabs of 8192 bytes,
//         trans-b = 1, one n128 wgmma per k16 (LBO, SBO as given).
// mode 1: the same, one n64 wgmma per slab.
// mode 2: V^T K-major [channel][key], trans-b = 0, n128 (control).
__global__ void probe(float *out, int mode, uint32_t lbo, uint32_t sbo,
                      uint32_t kStep) {
  extern __shared__ __align__(1024) unsigned char smem[];
  int tid = threadIdx.x;
  for (int i = tid; i < kKeys * kChannels; i += blockDim.x) {
    int key = i / kChannels, ch = i % kChannels;
    uint32_t byte;
    if (mode == 2) {
      int chunk = key / 8;
      byte = ch * 128 + ((chunk ^ (ch % 8)) * 16) + (key % 8) * 2;
    } else {
      int slab = ch / 64, within = ch % 64, chunk = within / 8;
      byte = slab * 8192 + key * 128 + ((chunk ^ (key % 8)) * 16) +
             (within % 8) * 2;
    }
    *reinterpret_cast<__nv_bfloat16 *>(smem + byte) =
        __float2bfloat16(vValue(key, ch));
  }
  asm volatile("fence.proxy.async.shared::cta;");
  __syncthreads();
  int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  int row0 = 16 * warp + g;
  float d[64];
  for (int i = 0; i < 64; ++i)
    d[i] = 0.f;
  uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  for (int kk = 0; kk < kKeys / 16; ++kk) {
    int k0 = 16 * kk + 2 * t;
    unsigned a[4] = {pack(pValue(row0, k0), pValue(row0, k0 + 1)),
                     pack(pValue(row0 + 8, k0), pValue(row0 + 8, k0 + 1)),
                     pack(pValue(row0, k0 + 8), pValue(row0, k0 + 9)),
                     pack(pValue(row0 + 8, k0 + 8), pValue(row0 + 8, k0 + 9))};
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    if (mode == 1) {
      wgmma_rs_m64n64(d, a, descriptor(base + kk * kStep, lbo, sbo), 1);
      wgmma_rs_m64n64(d + 32, a, descriptor(base + 8192 + kk * kStep, lbo, sbo),
                      1);
    } else {
      wgmma_rs_m64n128(d, a, descriptor(base + kk * kStep, lbo, sbo),
                       mode == 0);
    }
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  }
  for (int i = 0; i < 64; ++i) {
    int half = (mode == 1) ? i / 32 : 0;
    int j = (mode == 1) ? i % 32 : i;
    int row = row0 + 8 * ((j >> 1) & 1);
    int col = half * 64 + 8 * (j >> 2) + 2 * t + (j & 1);
    out[row * kChannels + col] = d[i];
  }
}

int main() {
  float *out;
  cudaMalloc(&out, kRows * kChannels * sizeof(float));
  cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       32768);
  static float host[kRows * kChannels], expect[kRows * kChannels];
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kChannels; ++c) {
      float s = 0;
      for (int k = 0; k < kKeys; ++k)
        s += pValue(r, k) * vValue(k, c);
      expect[r * kChannels + c] = s;
    }
  struct Variant {
    const char *name;
    int mode;
    uint32_t lbo, sbo, kStep;
  } variants[] = {
      {"V^T K-major n128 (control) LBO=16 SBO=1024 step=32", 2, 16, 1024, 32},
      {"V MN-major n128 LBO=8192 SBO=1024 step=2048", 0, 8192, 1024, 2048},
      {"V MN-major n128 LBO=1024 SBO=8192 step=2048", 0, 1024, 8192, 2048},
      {"V MN-major n64x2 LBO=16 SBO=1024 step=2048", 1, 16, 1024, 2048},
      {"V MN-major n64x2 LBO=1024 SBO=16 step=2048", 1, 1024, 16, 2048},
      {"V MN-major n64x2 LBO=1024 SBO=1024 step=2048", 1, 1024, 1024, 2048},
      {"V MN-major n64x2 LBO=8192 SBO=1024 step=2048", 1, 8192, 1024, 2048},
      {"V MN-major n64x2 LBO=1024 SBO=8192 step=2048", 1, 1024, 8192, 2048},
  };
  for (const Variant &v : variants) {
    cudaMemset(out, 0xFF, kRows * kChannels * sizeof(float));
    probe<<<1, 128, 32768>>>(out, v.mode, v.lbo, v.sbo, v.kStep);
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
      printf("%-52s launch error %s\n", v.name, cudaGetErrorString(err));
      return 1;
    }
    cudaMemcpy(host, out, sizeof(host), cudaMemcpyDeviceToHost);
    int wrong = 0;
    for (int i = 0; i < kRows * kChannels; ++i)
      wrong += host[i] != expect[i];
    printf("%-52s %s (%d/%d wrong)\n", v.name, wrong ? "FAIL" : "ok", wrong,
           kRows * kChannels);
  }
  return 0;
}
