// End-to-end check on a real GPU: hand-written PTX kernels run through
// libattn_launcher.so and their output is read back. Exits 77 (ctest: skipped)
// where there is no usable CUDA driver or device, so CI without a GPU passes.
//
// Kernels (PTX below):
//   fill(out, out_stride, n, scale): out[i * out_stride] = scale * i, i < n
//   add_via_shared(out, out_stride, n): out[i * out_stride] += 1, staged
//     through dynamic shared memory above 48 KiB (needs the opt-in).
//   stage(tmp, n): tmp[i] = 2 * i; consume(tmp, out, n): out[i] = tmp[i] + 3,
//     with tmp a scratch buffer the launcher allocates (and grows).
//   tma_tile(out, map, x0, y0) (sm_90 and later only): one TMA copy of the
//     64x8 box at (x0, y0) of a 16-bit pitched matrix through a tensor_map
//     param (128-byte swizzle) into shared memory, written to out as is.
#include "attn/launcher.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr int kSkip = 77;
constexpr int kSharedBytes = 98304;

const char *kPtx = R"(
.version 7.0
.target sm_80
.address_size 64

.extern .shared .align 4 .b8 dynamic_smem[];

.visible .entry fill(.param .u64 out, .param .u64 out_stride,
                     .param .u32 n, .param .f32 scale)
{
  .reg .pred %p;
  .reg .b32 %r<6>;
  .reg .b64 %rd<5>;
  .reg .f32 %f<3>;
  ld.param.u64 %rd1, [out];
  ld.param.u64 %rd2, [out_stride];
  ld.param.u32 %r1, [n];
  ld.param.f32 %f1, [scale];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.s32 %p, %r5, %r1;
  @%p bra DONE;
  cvt.rn.f32.s32 %f2, %r5;
  mul.f32 %f2, %f2, %f1;
  cvt.s64.s32 %rd3, %r5;
  mul.lo.s64 %rd3, %rd3, %rd2;
  shl.b64 %rd3, %rd3, 2;
  cvta.to.global.u64 %rd4, %rd1;
  add.s64 %rd4, %rd4, %rd3;
  st.global.f32 [%rd4], %f2;
DONE:
  ret;
}

.visible .entry add_via_shared(.param .u64 out, .param .u64 out_stride,
                               .param .u32 n)
{
  .reg .pred %p;
  .reg .b32 %r<8>;
  .reg .b64 %rd<5>;
  .reg .f32 %f<3>;
  ld.param.u64 %rd1, [out];
  ld.param.u64 %rd2, [out_stride];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.s32 %p, %r5, %r1;
  @%p bra DONE;
  cvt.s64.s32 %rd3, %r5;
  mul.lo.s64 %rd3, %rd3, %rd2;
  shl.b64 %rd3, %rd3, 2;
  cvta.to.global.u64 %rd4, %rd1;
  add.s64 %rd4, %rd4, %rd3;
  ld.global.f32 %f1, [%rd4];
  add.f32 %f1, %f1, 0f3F800000;
  // Slot near the end of the 96 KiB dynamic shared buffer.
  mov.u32 %r6, dynamic_smem;
  shl.b32 %r7, %r4, 2;
  add.u32 %r6, %r6, %r7;
  add.u32 %r6, %r6, 97280;
  st.shared.f32 [%r6], %f1;
  ld.shared.f32 %f2, [%r6];
  st.global.f32 [%rd4], %f2;
DONE:
  ret;
}

.visible .entry stage(.param .u64 tmp, .param .u32 n)
{
  .reg .pred %p;
  .reg .b32 %r<6>;
  .reg .b64 %rd<4>;
  .reg .f32 %f<2>;
  ld.param.u64 %rd1, [tmp];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.s32 %p, %r5, %r1;
  @%p bra DONE;
  cvt.rn.f32.s32 %f1, %r5;
  add.f32 %f1, %f1, %f1;
  mul.wide.s32 %rd2, %r5, 4;
  cvta.to.global.u64 %rd3, %rd1;
  add.s64 %rd3, %rd3, %rd2;
  st.global.f32 [%rd3], %f1;
DONE:
  ret;
}

.visible .entry consume(.param .u64 tmp, .param .u64 out, .param .u32 n)
{
  .reg .pred %p;
  .reg .b32 %r<6>;
  .reg .b64 %rd<6>;
  .reg .f32 %f<2>;
  ld.param.u64 %rd1, [tmp];
  ld.param.u64 %rd4, [out];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.s32 %p, %r5, %r1;
  @%p bra DONE;
  mul.wide.s32 %rd2, %r5, 4;
  cvta.to.global.u64 %rd3, %rd1;
  add.s64 %rd3, %rd3, %rd2;
  ld.global.f32 %f1, [%rd3];
  add.f32 %f1, %f1, 0f40400000;
  cvta.to.global.u64 %rd5, %rd4;
  add.s64 %rd5, %rd5, %rd2;
  st.global.f32 [%rd5], %f1;
DONE:
  ret;
}
)";

// Hopper's TMA: its own module, as sm_80 drivers cannot JIT it.
const char *kTmaPtx = R"(
.version 8.0
.target sm_90
.address_size 64

.visible .entry tma_tile(.param .u64 out, .param .align 64 .b8 map[128],
                         .param .u32 x0, .param .u32 y0)
{
  .reg .pred %p<3>;
  .reg .b32 %r<9>;
  .reg .b64 %rd<9>;
  .shared .align 1024 .b8 tile[1024];
  .shared .align 8 .b64 bar;

  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [x0];
  ld.param.u32 %r2, [y0];
  mov.u32 %r3, %tid.x;
  mov.u64 %rd2, tile;
  cvt.u32.u64 %r4, %rd2;
  mov.u64 %rd3, bar;
  cvt.u32.u64 %r5, %rd3;
  setp.ne.u32 %p1, %r3, 0;
  @%p1 bra SYNC;
  mbarrier.init.shared::cta.b64 [%r5], 1;
  fence.mbarrier_init.release.cluster;
SYNC:
  bar.sync 0;
  @%p1 bra WAIT;
  mbarrier.arrive.expect_tx.shared::cta.b64 %rd4, [%r5], 1024;
  mov.b64 %rd5, map;
  cvta.param.u64 %rd6, %rd5;
  cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%r4], [%rd6, {%r1, %r2}], [%r5];
WAIT:
  mbarrier.try_wait.parity.shared::cta.b64 %p2, [%r5], 0;
  @!%p2 bra WAIT;
  shl.b32 %r6, %r3, 3;
  add.u32 %r7, %r4, %r6;
  ld.shared.u64 %rd7, [%r7];
  mul.wide.u32 %rd8, %r3, 8;
  cvta.to.global.u64 %rd1, %rd1;
  add.s64 %rd1, %rd1, %rd8;
  st.global.u64 [%rd1], %rd7;
  ret;
}
)";

// The matrix is width x height 16-bit values, rows `pitch` elements apart.
const char *kTmaManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "tma.ptx", "binary_format": "ptx", "chip": "sm_90",
  "kernels": [
    {"name": "tma_tile", "block": [128, 1, 1], "shared_bytes": 0,
     "grid": [[1], [1], [1]],
     "params": [{"name": "out", "type": "ptr"},
                {"name": "map", "type": "tensor_map",
                 "tensor_map": {"tensor": "src", "data_type": "bf16",
                                "dims": [[{"arg": "width"}], [{"arg": "height"}]],
                                "strides": [[{"arg": "pitch"}, 2]],
                                "box": [64, 8], "swizzle": 128}},
                {"name": "x0", "type": "i32"},
                {"name": "y0", "type": "i32"}]}
  ]
})";

const char *kManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "kernels.ptx", "binary_format": "ptx", "chip": "sm_80",
  "kernels": [
    {"name": "fill", "block": [128, 1, 1], "shared_bytes": 0,
     "grid": [[{"arg": "n", "ceil_div": 128}], [1], [1]],
     "params": [{"name": "out", "type": "ptr"},
                {"name": "out_stride", "type": "i64"},
                {"name": "n", "type": "i32"},
                {"name": "scale", "type": "f32"}]},
    {"name": "add_via_shared", "block": [128, 1, 1], "shared_bytes": 98304,
     "grid": [[{"arg": "n", "ceil_div": 128}], [1], [1]],
     "params": [{"name": "out", "type": "ptr"},
                {"name": "out_stride", "type": "i64"},
                {"name": "n", "type": "i32"}]}
  ]
})";

// A pre-kernel writes a scratch buffer that the next kernel reads.
const char *kScratchManifest = R"({
  "format": "attn-kernels", "version": 1,
  "binary": "kernels.ptx", "binary_format": "ptx", "chip": "sm_80",
  "scratch": [{"name": "tmp", "bytes": [{"arg": "n"}, 4]}],
  "kernels": [
    {"name": "stage", "block": [128, 1, 1], "shared_bytes": 0,
     "grid": [[{"arg": "n", "ceil_div": 128}], [1], [1]],
     "params": [{"name": "tmp", "type": "ptr"}, {"name": "n", "type": "i32"}]},
    {"name": "consume", "block": [128, 1, 1], "shared_bytes": 0,
     "grid": [[{"arg": "n", "ceil_div": 128}], [1], [1]],
     "params": [{"name": "tmp", "type": "ptr"},
                {"name": "out", "type": "ptr"},
                {"name": "n", "type": "i32"}]}
  ]
})";

// The few driver calls the check itself needs (memory, sync).
struct Cuda {
  int (*cuInit)(unsigned);
  int (*cuDeviceGet)(int *, int);
  int (*cuDevicePrimaryCtxRetain)(void **, int);
  int (*cuCtxSetCurrent)(void *);
  int (*cuMemAlloc_v2)(uint64_t *, size_t);
  int (*cuMemsetD32_v2)(uint64_t, unsigned, size_t);
  int (*cuMemcpyDtoH_v2)(void *, uint64_t, size_t);
  int (*cuCtxSynchronize)();
  int (*cuMemFree_v2)(uint64_t);
  int (*cuDeviceGetAttribute)(int *, int, int);
  int (*cuMemcpyHtoD_v2)(uint64_t, const void *, size_t);
};
constexpr int kComputeCapabilityMajor = 75; // CU_DEVICE_ATTRIBUTE_...

bool loadCuda(Cuda &cuda) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib)
    return false;
#define RESOLVE(name)                                                          \
  cuda.name = reinterpret_cast<decltype(cuda.name)>(dlsym(lib, #name));        \
  if (!cuda.name)                                                              \
    return false;
  RESOLVE(cuInit)
  RESOLVE(cuDeviceGet)
  RESOLVE(cuDevicePrimaryCtxRetain)
  RESOLVE(cuCtxSetCurrent)
  RESOLVE(cuMemAlloc_v2)
  RESOLVE(cuMemsetD32_v2)
  RESOLVE(cuMemcpyDtoH_v2)
  RESOLVE(cuCtxSynchronize)
  RESOLVE(cuMemFree_v2)
  RESOLVE(cuDeviceGetAttribute)
  RESOLVE(cuMemcpyHtoD_v2)
#undef RESOLVE
  return true;
}

// Writes `text` to `dir`/`name`; returns the path.
std::string writeFile(const char *dir, const char *name, const char *text) {
  std::string path = std::string(dir) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// tma_tile on a 200 x 100 matrix with a pitch of 256: boxes inside, and
// across the right and bottom edges (zeros past them). Returns the number
// of wrong values, or -1 on a failure already reported.
int checkTensorMaps(const Cuda &cuda) {
  char dir[] = "/tmp/attn-gpu-smoke-tma-XXXXXX";
  if (!mkdtemp(dir))
    return -1;
  std::string manifestPath = writeFile(dir, "manifest.json", kTmaManifest);
  std::string ptxPath = writeFile(dir, "tma.ptx", kTmaPtx);
  char err[512];
  attn_launcher *launcher =
      attn_launcher_load(manifestPath.c_str(), err, sizeof(err));
  unlink(manifestPath.c_str());
  unlink(ptxPath.c_str());
  rmdir(dir);
  if (!launcher) {
    std::printf("tensor map load failed: %s\n", err);
    return -1;
  }
  const int width = 200, height = 100, pitch = 256;
  std::vector<uint16_t> matrix(size_t(pitch) * height, 0xffff); // padding
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      matrix[size_t(y) * pitch + x] = uint16_t(y * 256 + x);
  const int boxes[][2] = {{0, 0}, {64, 40}, {168, 96}};
  const int count = 3, boxBytes = 64 * 8 * 2;
  uint64_t src = 0, out = 0;
  if (cuda.cuMemAlloc_v2(&src, matrix.size() * 2) != 0 ||
      cuda.cuMemcpyHtoD_v2(src, matrix.data(), matrix.size() * 2) != 0 ||
      cuda.cuMemAlloc_v2(&out, size_t(count) * boxBytes) != 0 ||
      cuda.cuMemsetD32_v2(out, 0x5a5a5a5a, size_t(count) * boxBytes / 4) !=
          0) {
    std::printf("tensor map: device allocation failed\n");
    return -1;
  }
  const char *names[] = {"out", "src", "width", "height", "pitch", "x0", "y0"};
  for (int b = 0; b < count; ++b) {
    int64_t values[] = {int64_t(out) + b * boxBytes, int64_t(src), width,
                        height, pitch, boxes[b][0], boxes[b][1]};
    if (attn_launcher_launch(launcher, names, values, 7, nullptr, err,
                             sizeof(err)) != ATTN_LAUNCHER_OK) {
      std::printf("tensor map launch failed: %s\n", err);
      return -1;
    }
  }
  std::vector<uint16_t> host(size_t(count) * boxBytes / 2);
  if (cuda.cuCtxSynchronize() != 0 ||
      cuda.cuMemcpyDtoH_v2(host.data(), out, host.size() * 2) != 0) {
    std::printf("synchronize/copy failed after the tensor map launches "
                "(kernel fault?)\n");
    return -1;
  }
  int wrong = 0;
  for (int b = 0; b < count; ++b)
    for (int by = 0; by < 8; ++by)
      for (int bx = 0; bx < 64; ++bx) {
        int x = boxes[b][0] + bx, y = boxes[b][1] + by;
        uint16_t expected =
            x < width && y < height ? uint16_t(y * 256 + x) : uint16_t(0);
        // 128-byte swizzle: 16-byte chunk c of row r lands at c ^ (r % 8).
        int chunk = (bx * 2 / 16) ^ (by % 8);
        size_t at = size_t(b) * boxBytes / 2 + size_t(by) * 64 +
                    size_t(chunk) * 8 + size_t(bx % 8);
        if (host[at] != expected && wrong++ < 5)
          std::printf("tensor map box (%d, %d) element (%d, %d) = 0x%04x, "
                      "expected 0x%04x\n",
                      boxes[b][0], boxes[b][1], bx, by, host[at], expected);
      }
  attn_launcher_free(launcher);
  cuda.cuMemFree_v2(src);
  cuda.cuMemFree_v2(out);
  return wrong;
}

} // namespace

int main() {
  Cuda cuda;
  int device = 0;
  void *context = nullptr;
  if (!loadCuda(cuda) || cuda.cuInit(0) != 0 ||
      cuda.cuDeviceGet(&device, 0) != 0 ||
      cuda.cuDevicePrimaryCtxRetain(&context, device) != 0 ||
      cuda.cuCtxSetCurrent(context) != 0) {
    std::printf("no usable CUDA driver/device: skipped\n");
    return kSkip;
  }

  char dir[] = "/tmp/attn-gpu-smoke-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  std::string manifestPath = std::string(dir) + "/manifest.json";
  std::string scratchManifestPath = std::string(dir) + "/scratch.json";
  std::string ptxPath = std::string(dir) + "/kernels.ptx";
  std::ofstream(manifestPath) << kManifest;
  std::ofstream(scratchManifestPath) << kScratchManifest;
  std::ofstream(ptxPath) << kPtx;

  char err[512];
  attn_launcher *launcher = attn_launcher_load(manifestPath.c_str(), err, sizeof(err));
  char scratchErr[512];
  attn_launcher *scratchLauncher = attn_launcher_load(
      scratchManifestPath.c_str(), scratchErr, sizeof(scratchErr));
  unlink(manifestPath.c_str());
  unlink(scratchManifestPath.c_str());
  unlink(ptxPath.c_str());
  rmdir(dir);
  if (!launcher || !scratchLauncher) {
    std::printf("load failed: %s\n", launcher ? scratchErr : err);
    return 1;
  }

  const int n = 1000, stride = 2;
  uint64_t out = 0;
  if (cuda.cuMemAlloc_v2(&out, sizeof(float) * n * stride) != 0 ||
      cuda.cuMemsetD32_v2(out, 0, size_t(n) * stride) != 0) {
    std::printf("device allocation failed\n");
    return 1;
  }
  float scale = 0.5f;
  uint32_t scaleBits;
  std::memcpy(&scaleBits, &scale, sizeof(scaleBits));
  const char *names[] = {"out", "out_stride", "n", "scale"};
  int64_t values[] = {int64_t(out), stride, n, int64_t(scaleBits)};
  for (int repeat = 0; repeat < 2; ++repeat) { // second run: cached module
    if (attn_launcher_launch(launcher, names, values, 4, nullptr, err,
                             sizeof(err)) != ATTN_LAUNCHER_OK) {
      std::printf("launch failed: %s\n", err);
      return 1;
    }
  }
  std::vector<float> host(size_t(n) * stride);
  if (cuda.cuCtxSynchronize() != 0 ||
      cuda.cuMemcpyDtoH_v2(host.data(), out, host.size() * sizeof(float)) != 0) {
    std::printf("synchronize/copy failed (kernel fault?)\n");
    return 1;
  }
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    float expected = 0.5f * float(i) + 1.0f;
    if (host[size_t(i) * stride] != expected || host[size_t(i) * stride + 1] != 0.0f) {
      if (wrong++ < 5)
        std::printf("out[%d] = %g, expected %g\n", i * stride,
                    double(host[size_t(i) * stride]), double(expected));
    }
  }
  // An argument error is still caught on the real path.
  int status = attn_launcher_launch(launcher, names, values, 3, nullptr, err,
                                    sizeof(err));
  if (status != ATTN_LAUNCHER_ERROR_ARGUMENTS ||
      std::strcmp(err, "missing argument \"scale\"") != 0) {
    std::printf("expected a missing-argument error, got %d: %s\n", status, err);
    ++wrong;
  }
  cuda.cuMemFree_v2(out);
  attn_launcher_free(launcher);

  // Scratch: the launcher allocates tmp, then grows it for a larger n.
  const int largeN = 20000;
  uint64_t staged = 0;
  if (cuda.cuMemAlloc_v2(&staged, sizeof(float) * largeN) != 0 ||
      cuda.cuMemsetD32_v2(staged, 0, size_t(largeN)) != 0) {
    std::printf("device allocation failed\n");
    return 1;
  }
  const char *scratchNames[] = {"out", "n"};
  for (int scratchN : {n, largeN}) {
    int64_t scratchValues[] = {int64_t(staged), scratchN};
    if (attn_launcher_launch(scratchLauncher, scratchNames, scratchValues, 2,
                             nullptr, err, sizeof(err)) != ATTN_LAUNCHER_OK) {
      std::printf("scratch launch (n = %d) failed: %s\n", scratchN, err);
      return 1;
    }
  }
  std::vector<float> stagedHost(largeN);
  if (cuda.cuCtxSynchronize() != 0 ||
      cuda.cuMemcpyDtoH_v2(stagedHost.data(), staged,
                           stagedHost.size() * sizeof(float)) != 0) {
    std::printf("synchronize/copy failed after the scratch launches\n");
    return 1;
  }
  for (int i = 0; i < largeN; ++i) {
    float expected = 2.0f * float(i) + 3.0f;
    if (stagedHost[size_t(i)] != expected && wrong++ < 5)
      std::printf("staged[%d] = %g, expected %g\n", i,
                  double(stagedHost[size_t(i)]), double(expected));
  }
  attn_launcher_free(scratchLauncher); // frees tmp
  cuda.cuMemFree_v2(staged);

  // Tensor maps need TMA: sm_90 and later.
  int major = 0;
  const bool tma =
      cuda.cuDeviceGetAttribute(&major, kComputeCapabilityMajor, device) == 0 &&
      major >= 9;
  if (tma) {
    int tmaWrong = checkTensorMaps(cuda);
    if (tmaWrong < 0)
      return 1;
    wrong += tmaWrong;
  } else {
    std::printf("tensor maps not checked: compute capability %d.x has no "
                "TMA\n",
                major);
  }
  if (wrong) {
    std::printf("%d wrong\n", wrong);
    return 1;
  }
  std::printf("GPU smoke passed (%d elements, shared %d bytes; scratch up to "
              "%d floats%s)\n",
              n, kSharedBytes, largeN,
              tma ? "; tensor map boxes with 128-byte swizzle" : "");
  return 0;
}
