/* attn kernel launcher: runs the kernels of an attn artifact directory
 * (manifest.json + binary, see docs/design/GpuArtifacts.md) through the CUDA
 * driver API. libcuda.so.1 is loaded with dlopen on the first launch; no CUDA
 * toolkit is needed to build or load this library.
 *
 * Errors: functions that take `err`/`err_len` write a NUL-terminated message
 * there (truncated to err_len; `err` may be NULL). No function aborts.
 *
 * Thread safety: one launcher may be used from several threads; launches of
 * one launcher are serialized. */
#ifndef ATTN_LAUNCHER_H
#define ATTN_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ATTN_LAUNCHER_API __attribute__((visibility("default")))
#else
#define ATTN_LAUNCHER_API
#endif

typedef struct attn_launcher attn_launcher;

/* Return codes of attn_launcher_launch. */
enum {
  ATTN_LAUNCHER_OK = 0,
  ATTN_LAUNCHER_ERROR_INVALID = 1,   /* null launcher */
  ATTN_LAUNCHER_ERROR_ARGUMENTS = 2, /* missing/unknown/repeated/out-of-range argument */
  ATTN_LAUNCHER_ERROR_NO_DRIVER = 3, /* libcuda.so.1 missing or incomplete */
  ATTN_LAUNCHER_ERROR_CUDA = 4       /* a driver call failed */
};

/* Reads manifest_path and the binary it names (relative to the manifest's
 * directory). Returns NULL on error (unreadable file, bad manifest). Does
 * not touch the GPU. */
ATTN_LAUNCHER_API attn_launcher *attn_launcher_load(const char *manifest_path,
                                                    char *err, size_t err_len);

/* Launches every kernel of the manifest, in order, on `stream` (a CUstream;
 * NULL is the default stream) in the current CUDA context (the primary
 * context of device 0 is made current if there is none). The binary is
 * loaded once per context.
 *
 * Arguments are (names[i], values[i]) pairs, every argument of the manifest
 * exactly once, except that scratch buffers (below) may be left out, and
 * with them the arguments used only for their sizes. Values are int64:
 * device pointers cast to int64; i32
 * params must fit in int32; an f32 param takes the IEEE-754 bit pattern of
 * the float in the low 32 bits (e.g. struct.unpack("<I",
 * struct.pack("<f", x))[0]; a sign-extended int32 works too).
 * Kernels with a zero grid dimension are skipped. Arguments are checked
 * before anything is launched. Returns ATTN_LAUNCHER_OK or an error code. */
ATTN_LAUNCHER_API int attn_launcher_launch(attn_launcher *l,
                                           const char *const *names,
                                           const int64_t *values, int count,
                                           void *stream, char *err,
                                           size_t err_len);

/* Unloads the modules and frees the scratch buffers the launcher allocated
 * (best effort; work using them must have finished), then frees the
 * launcher. NULL is a no-op. */
ATTN_LAUNCHER_API void attn_launcher_free(attn_launcher *l);

/* The kernels, in launch order. Names are NULL for an out-of-range index;
 * strings live as long as the launcher. */
ATTN_LAUNCHER_API int attn_launcher_num_kernels(const attn_launcher *l);
ATTN_LAUNCHER_API const char *attn_launcher_kernel_name(const attn_launcher *l,
                                                        int kernel);

/* A kernel's parameters in order; type is "ptr", "i64", "i32", "f32" or
 * "tensor_map" (a TMA descriptor the launcher encodes on each launch from
 * the arguments its manifest entry names; not an argument itself). */
ATTN_LAUNCHER_API int attn_launcher_num_params(const attn_launcher *l,
                                               int kernel);
ATTN_LAUNCHER_API const char *attn_launcher_param_name(const attn_launcher *l,
                                                       int kernel, int param);
ATTN_LAUNCHER_API const char *attn_launcher_param_type(const attn_launcher *l,
                                                       int kernel, int param);

/* The argument names attn_launcher_launch takes (the union over kernels of
 * params but tensor maps, the tensors and sizes of tensor maps, and grid
 * arguments, then scratch size arguments; first-use order). Type as for
 * params ("ptr" for a tensor map's tensor), or "int" for a name only used
 * in a grid, a tensor map's dims or strides, or a scratch size. */
ATTN_LAUNCHER_API int attn_launcher_num_arguments(const attn_launcher *l);
ATTN_LAUNCHER_API const char *
attn_launcher_argument_name(const attn_launcher *l, int argument);
ATTN_LAUNCHER_API const char *
attn_launcher_argument_type(const attn_launcher *l, int argument);

/* Scratch buffers: ptr arguments that pre-kernels write and later kernels
 * read (e.g. quantized K). For each one the caller does not pass, the
 * launcher supplies a device buffer of the manifest's size: allocated with
 * cuMemAlloc in the current context, kept for later launches in that context
 * (grown when a launch needs more), freed by attn_launcher_free. Contents do
 * not carry over between launches. One buffer per context serves every
 * stream: launches that may overlap on different streams, and launches under
 * CUDA graph capture, should pass their own. A caller that passes one gives
 * at least the manifest's size. Names are NULL for an out-of-range index. */
ATTN_LAUNCHER_API int attn_launcher_num_scratch(const attn_launcher *l);
ATTN_LAUNCHER_API const char *attn_launcher_scratch_name(const attn_launcher *l,
                                                         int scratch);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_LAUNCHER_H */
