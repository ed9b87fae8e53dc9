// The launcher behind the C ABI. The driver comes from a provider so tests
// can run it against a fake driver without a GPU.
#pragma once

#include "Driver.h"
#include "Manifest.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace attn::launcher {

// Returns the driver to use, or null with `error` set. Called on the first
// launch (not at load, so loading works on machines without a GPU).
using DriverProvider = std::function<const DriverApi *(std::string &error)>;

class Launcher {
public:
  // Reads the manifest and its binary; null with `error` set on failure.
  static std::unique_ptr<Launcher> load(const std::string &manifestPath,
                                        DriverProvider driverProvider,
                                        std::string &error);
  ~Launcher();

  Launcher(const Launcher &) = delete;
  Launcher &operator=(const Launcher &) = delete;

  // Returns an ATTN_LAUNCHER_* code; see attn_launcher_launch.
  int launch(const char *const *names, const int64_t *values, int count,
             void *stream, std::string &error);

  const Manifest &manifest() const { return manifest_; }

private:
  Launcher() = default;

  struct LoadedModule {
    CUmodule module = nullptr;
    std::vector<CUfunction> functions; // one per manifest kernel
    // The context's device's SMs (caps persistent grids).
    uint32_t multiprocessors = 0;
  };

  // A launcher-owned scratch buffer; its contents do not outlive a launch.
  struct ScratchBuffer {
    CUdeviceptr address = 0;
    uint64_t bytes = 0; // 0: none allocated
  };

  int acquireDriver(std::string &error);
  int currentContext(CUcontext &context, std::string &error);
  int loadedModule(CUcontext context, const LoadedModule *&out,
                   std::string &error);
  // Fills the param slots of the scratch buffers the caller did not pass
  // with buffers of `context`, allocating or growing them as needed.
  int provideScratch(CUcontext context, LaunchPlan &plan, std::string &error);
  // Encodes the tensor_map params of every planned launch into `maps` (in
  // launch, then param order; an empty tensor's map is left zero).
  int encodeTensorMaps(const LaunchPlan &plan, std::vector<CUtensorMap> &maps,
                       std::string &error);
  void freeScratch();

  Manifest manifest_;
  std::string binaryPath_;
  std::vector<char> binary_; // PTX is NUL-terminated, as cuModuleLoadData wants
  DriverProvider driverProvider_;

  std::mutex mutex_; // guards everything below
  const DriverApi *driver_ = nullptr;
  // Modules are per context; PyTorch may run on several devices.
  std::map<CUcontext, LoadedModule> modules_;
  // So are scratch buffers: one per Manifest::scratch entry and context,
  // kept at the largest size a launch needed.
  std::map<CUcontext, std::vector<ScratchBuffer>> scratch_;
};

} // namespace attn::launcher
