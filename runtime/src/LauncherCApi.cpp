// The C ABI of include/attn/launcher.h over attn::launcher::Launcher.
#include "attn/launcher.h"

#include "Launcher.h"

#include <cstring>
#include <new>

using attn::launcher::Launcher;
using attn::launcher::Manifest;

// The opaque handle owns the C++ launcher.
struct attn_launcher {
  std::unique_ptr<Launcher> impl;
};

namespace {

void writeError(const std::string &message, char *err, size_t errLen) {
  if (!err || errLen == 0)
    return;
  size_t length = message.size() < errLen - 1 ? message.size() : errLen - 1;
  std::memcpy(err, message.data(), length);
  err[length] = '\0';
}

const Manifest *manifestOf(const attn_launcher *l) {
  return l && l->impl ? &l->impl->manifest() : nullptr;
}

bool validKernel(const Manifest *manifest, int kernel) {
  return manifest && kernel >= 0 && size_t(kernel) < manifest->kernels.size();
}

} // namespace

extern "C" {

attn_launcher *attn_launcher_load(const char *manifest_path, char *err,
                                  size_t err_len) {
  if (!manifest_path) {
    writeError("null manifest path", err, err_len);
    return nullptr;
  }
  std::string error;
  std::unique_ptr<Launcher> impl =
      Launcher::load(manifest_path, attn::launcher::systemDriver, error);
  if (!impl) {
    writeError(error, err, err_len);
    return nullptr;
  }
  auto *handle = new (std::nothrow) attn_launcher{std::move(impl)};
  if (!handle)
    writeError("out of memory", err, err_len);
  return handle;
}

int attn_launcher_launch(attn_launcher *l, const char *const *names,
                         const int64_t *values, int count, void *stream,
                         char *err, size_t err_len) {
  if (!l || !l->impl) {
    writeError("null launcher", err, err_len);
    return ATTN_LAUNCHER_ERROR_INVALID;
  }
  std::string error;
  int status = l->impl->launch(names, values, count, stream, error);
  if (status != ATTN_LAUNCHER_OK)
    writeError(error, err, err_len);
  return status;
}

void attn_launcher_free(attn_launcher *l) { delete l; }

int attn_launcher_num_kernels(const attn_launcher *l) {
  const Manifest *manifest = manifestOf(l);
  return manifest ? int(manifest->kernels.size()) : 0;
}

const char *attn_launcher_kernel_name(const attn_launcher *l, int kernel) {
  const Manifest *manifest = manifestOf(l);
  return validKernel(manifest, kernel)
             ? manifest->kernels[size_t(kernel)].name.c_str()
             : nullptr;
}

int attn_launcher_num_params(const attn_launcher *l, int kernel) {
  const Manifest *manifest = manifestOf(l);
  return validKernel(manifest, kernel)
             ? int(manifest->kernels[size_t(kernel)].params.size())
             : 0;
}

static const attn::launcher::KernelParam *paramOf(const attn_launcher *l,
                                                  int kernel, int param) {
  const Manifest *manifest = manifestOf(l);
  if (!validKernel(manifest, kernel))
    return nullptr;
  const auto &params = manifest->kernels[size_t(kernel)].params;
  if (param < 0 || size_t(param) >= params.size())
    return nullptr;
  return &params[size_t(param)];
}

const char *attn_launcher_param_name(const attn_launcher *l, int kernel,
                                     int param) {
  const auto *p = paramOf(l, kernel, param);
  return p ? p->name.c_str() : nullptr;
}

const char *attn_launcher_param_type(const attn_launcher *l, int kernel,
                                     int param) {
  const auto *p = paramOf(l, kernel, param);
  return p ? attn::launcher::paramTypeName(p->type) : nullptr;
}

int attn_launcher_num_arguments(const attn_launcher *l) {
  const Manifest *manifest = manifestOf(l);
  return manifest ? int(manifest->arguments.size()) : 0;
}

const char *attn_launcher_argument_name(const attn_launcher *l, int argument) {
  const Manifest *manifest = manifestOf(l);
  if (!manifest || argument < 0 || size_t(argument) >= manifest->arguments.size())
    return nullptr;
  return manifest->arguments[size_t(argument)].name.c_str();
}

const char *attn_launcher_argument_type(const attn_launcher *l, int argument) {
  const Manifest *manifest = manifestOf(l);
  if (!manifest || argument < 0 || size_t(argument) >= manifest->arguments.size())
    return nullptr;
  const auto &info = manifest->arguments[size_t(argument)];
  return info.isParam ? attn::launcher::paramTypeName(info.type) : "int";
}

int attn_launcher_num_scratch(const attn_launcher *l) {
  const Manifest *manifest = manifestOf(l);
  return manifest ? int(manifest->scratch.size()) : 0;
}

const char *attn_launcher_scratch_name(const attn_launcher *l, int scratch) {
  const Manifest *manifest = manifestOf(l);
  if (!manifest || scratch < 0 || size_t(scratch) >= manifest->scratch.size())
    return nullptr;
  return manifest->scratch[size_t(scratch)].name.c_str();
}

} // extern "C"
