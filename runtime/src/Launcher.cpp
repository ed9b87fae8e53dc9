#include "Launcher.h"

#include "attn/launcher.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace attn::launcher {

namespace {

bool readFile(const std::string &path, std::vector<char> &out,
              std::string &error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = std::strerror(errno);
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(file),
             std::istreambuf_iterator<char>());
  if (file.bad()) {
    error = "read error";
    return false;
  }
  return true;
}

// The binary is named relative to the manifest's directory.
std::string resolveBinaryPath(const std::string &manifestPath,
                              const std::string &binary) {
  if (!binary.empty() && binary.front() == '/')
    return binary;
  size_t slash = manifestPath.rfind('/');
  if (slash == std::string::npos)
    return binary;
  return manifestPath.substr(0, slash + 1) + binary;
}

} // namespace

std::unique_ptr<Launcher> Launcher::load(const std::string &manifestPath,
                                         DriverProvider driverProvider,
                                         std::string &error) {
  std::unique_ptr<Launcher> launcher(new Launcher());
  std::vector<char> manifestText;
  std::string reason;
  if (!readFile(manifestPath, manifestText, reason)) {
    error = "cannot read manifest " + manifestPath + ": " + reason;
    return nullptr;
  }
  if (!parseManifest(std::string_view(manifestText.data(), manifestText.size()),
                     launcher->manifest_, reason)) {
    error = "bad manifest " + manifestPath + ": " + reason;
    return nullptr;
  }
  launcher->binaryPath_ =
      resolveBinaryPath(manifestPath, launcher->manifest_.binaryFile);
  if (!readFile(launcher->binaryPath_, launcher->binary_, reason)) {
    error = "cannot read binary " + launcher->binaryPath_ +
            " (named by manifest " + manifestPath + "): " + reason;
    return nullptr;
  }
  if (launcher->binary_.empty()) {
    error = "binary " + launcher->binaryPath_ + " is empty";
    return nullptr;
  }
  if (launcher->manifest_.binaryFormat == BinaryFormat::Ptx)
    launcher->binary_.push_back('\0');
  launcher->driverProvider_ = std::move(driverProvider);
  return launcher;
}

Launcher::~Launcher() {
  // Best effort: at process exit the driver may already be shut down, and
  // then there is nothing left to free anyway.
  if (!driver_)
    return;
  for (auto &entry : modules_)
    driver_->cuModuleUnload(entry.second.module);
  freeScratch();
}

void Launcher::freeScratch() {
  // cuMemFree needs a current context: each buffer's own is made current (it
  // may be gone at exit; then there is nothing to free) and the caller's is
  // given back afterwards.
  CUcontext callerContext = nullptr;
  if (driver_->cuCtxGetCurrent(&callerContext) != CUDA_SUCCESS)
    return;
  bool switched = false;
  for (auto &[context, buffers] : scratch_) {
    bool allocated = false;
    for (const ScratchBuffer &buffer : buffers)
      allocated |= buffer.address != 0;
    if (!allocated)
      continue;
    if (context != callerContext) {
      if (driver_->cuCtxSetCurrent(context) != CUDA_SUCCESS)
        continue;
      switched = true;
    }
    for (ScratchBuffer &buffer : buffers)
      if (buffer.address)
        driver_->cuMemFree_v2(buffer.address);
  }
  if (switched)
    driver_->cuCtxSetCurrent(callerContext);
  scratch_.clear();
}

int Launcher::acquireDriver(std::string &error) {
  if (driver_)
    return ATTN_LAUNCHER_OK;
  const DriverApi *driver = driverProvider_ ? driverProvider_(error) : nullptr;
  if (!driver) {
    if (error.empty())
      error = "no CUDA driver";
    return ATTN_LAUNCHER_ERROR_NO_DRIVER;
  }
  if (CUresult result = driver->cuInit(0); result != CUDA_SUCCESS) {
    error = describeDriverError(*driver, "cuInit", result);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  driver_ = driver;
  return ATTN_LAUNCHER_OK;
}

int Launcher::currentContext(CUcontext &context, std::string &error) {
  context = nullptr;
  if (CUresult result = driver_->cuCtxGetCurrent(&context);
      result != CUDA_SUCCESS) {
    error = describeDriverError(*driver_, "cuCtxGetCurrent", result);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  if (context)
    return ATTN_LAUNCHER_OK;
  // No context on this thread (no PyTorch or a fresh thread): use device 0's
  // primary context, the one the runtime API would pick. It stays retained
  // for the life of the process.
  CUdevice device = 0;
  if (CUresult result = driver_->cuDeviceGet(&device, 0);
      result != CUDA_SUCCESS) {
    error = describeDriverError(*driver_, "cuDeviceGet(0)", result);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  if (CUresult result = driver_->cuDevicePrimaryCtxRetain(&context, device);
      result != CUDA_SUCCESS) {
    error = describeDriverError(*driver_, "cuDevicePrimaryCtxRetain", result);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  if (CUresult result = driver_->cuCtxSetCurrent(context);
      result != CUDA_SUCCESS) {
    error = describeDriverError(*driver_, "cuCtxSetCurrent", result);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  return ATTN_LAUNCHER_OK;
}

int Launcher::loadedModule(CUcontext context, const LoadedModule *&out,
                           std::string &error) {
  if (auto found = modules_.find(context); found != modules_.end()) {
    out = &found->second;
    return ATTN_LAUNCHER_OK;
  }
  LoadedModule loaded;
  if (CUresult result = driver_->cuModuleLoadData(&loaded.module, binary_.data());
      result != CUDA_SUCCESS) {
    error = describeDriverError(*driver_, "cuModuleLoadData", result) +
            " for " + binaryPath_;
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  for (const KernelSpec &kernel : manifest_.kernels) {
    CUfunction function = nullptr;
    CUresult result =
        driver_->cuModuleGetFunction(&function, loaded.module, kernel.name.c_str());
    std::string call;
    if (result != CUDA_SUCCESS) {
      call = "cuModuleGetFunction(" + kernel.name + ")";
    } else if (kernel.sharedBytes > kDefaultSharedLimitBytes) {
      result = driver_->cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
          int(kernel.sharedBytes));
      call = "cuFuncSetAttribute(" + kernel.name +
             ", MAX_DYNAMIC_SHARED_SIZE_BYTES=" +
             std::to_string(kernel.sharedBytes) + ")";
    }
    if (result != CUDA_SUCCESS) {
      error = describeDriverError(*driver_, call.c_str(), result) + " in " +
              binaryPath_;
      driver_->cuModuleUnload(loaded.module);
      return ATTN_LAUNCHER_ERROR_CUDA;
    }
    loaded.functions.push_back(function);
  }
  CUdevice device = 0;
  int multiprocessors = 0;
  CUresult result = driver_->cuCtxGetDevice(&device);
  if (result == CUDA_SUCCESS)
    result = driver_->cuDeviceGetAttribute(
        &multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
  if (result != CUDA_SUCCESS || multiprocessors <= 0) {
    error = result != CUDA_SUCCESS
                ? describeDriverError(
                      *driver_, "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)",
                      result)
                : "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT) reported " +
                      std::to_string(multiprocessors) + " multiprocessors";
    driver_->cuModuleUnload(loaded.module);
    return ATTN_LAUNCHER_ERROR_CUDA;
  }
  loaded.multiprocessors = uint32_t(multiprocessors);
  out = &modules_.emplace(context, std::move(loaded)).first->second;
  return ATTN_LAUNCHER_OK;
}

int Launcher::provideScratch(CUcontext context, LaunchPlan &plan,
                             std::string &error) {
  if (manifest_.scratch.empty())
    return ATTN_LAUNCHER_OK;
  // Only buffers that a kernel which runs reads (through a ptr param or a
  // tensor map) are worth allocating.
  std::vector<bool> read(manifest_.scratch.size(), false);
  for (const PlannedLaunch &launch : plan.launches)
    for (const KernelParam &param : manifest_.kernels[launch.kernel].params) {
      ArgumentIndex argument = param.type == ParamType::TensorMap
                                   ? param.tensorMap.tensor
                                   : param.argument;
      if (long s = manifest_.arguments[argument].scratch; s >= 0)
        read[size_t(s)] = true;
    }

  std::vector<ScratchBuffer> &buffers = scratch_[context];
  buffers.resize(manifest_.scratch.size());
  std::vector<CUdeviceptr> addresses(manifest_.scratch.size(), 0);
  bool synchronized = false;
  for (size_t s = 0; s < manifest_.scratch.size(); ++s) {
    const PlannedScratch &planned = plan.scratch[s];
    // An empty buffer is a null pointer: there is nothing to read.
    if (!planned.allocate || !read[s] || planned.bytes == 0)
      continue;
    ScratchBuffer &buffer = buffers[s];
    const std::string quoted =
        "scratch buffer \"" + manifest_.scratch[s].name + "\"";
    if (buffer.bytes < planned.bytes && buffer.address) {
      // Launches already queued on any stream of this context may still use
      // the old buffer, and cuMemFree does not promise to wait for them.
      if (!synchronized) {
        if (CUresult result = driver_->cuCtxSynchronize();
            result != CUDA_SUCCESS) {
          error = describeDriverError(
              *driver_, ("cuCtxSynchronize (to grow " + quoted + ")").c_str(),
              result);
          return ATTN_LAUNCHER_ERROR_CUDA;
        }
        synchronized = true;
      }
      CUresult result = driver_->cuMemFree_v2(buffer.address);
      buffer = ScratchBuffer(); // unusable now whether or not the free worked
      if (result != CUDA_SUCCESS) {
        error = describeDriverError(
            *driver_, ("cuMemFree_v2(" + quoted + ")").c_str(), result);
        return ATTN_LAUNCHER_ERROR_CUDA;
      }
    }
    if (buffer.bytes < planned.bytes) {
      static_assert(sizeof(size_t) >= sizeof(uint64_t),
                    "scratch sizes are 64-bit");
      CUdeviceptr address = 0;
      if (CUresult result = driver_->cuMemAlloc_v2(&address, planned.bytes);
          result != CUDA_SUCCESS) {
        error = describeDriverError(*driver_,
                                    ("cuMemAlloc_v2(" + quoted + ", " +
                                     std::to_string(planned.bytes) + " bytes)")
                                        .c_str(),
                                    result);
        return ATTN_LAUNCHER_ERROR_CUDA;
      }
      buffer.address = address;
      buffer.bytes = planned.bytes;
    }
    addresses[s] = buffer.address;
  }

  for (PlannedLaunch &launch : plan.launches) {
    const std::vector<KernelParam> &params =
        manifest_.kernels[launch.kernel].params;
    for (size_t p = 0; p < params.size(); ++p) {
      if (params[p].type == ParamType::TensorMap)
        continue;
      long s = manifest_.arguments[params[p].argument].scratch;
      if (s >= 0 && plan.scratch[size_t(s)].allocate)
        launch.paramSlots[p] = addresses[size_t(s)];
    }
    for (PlannedTensorMap &map : launch.tensorMaps) {
      long s = manifest_.arguments[params[map.param].tensorMap.tensor].scratch;
      if (s >= 0 && plan.scratch[size_t(s)].allocate) {
        map.address = addresses[size_t(s)];
        map.addressKnown = true;
      }
    }
  }
  return ATTN_LAUNCHER_OK;
}

namespace {

int tensorMapDataType(TensorMapDataType type) {
  switch (type) {
  case TensorMapDataType::U8:
    return CU_TENSOR_MAP_DATA_TYPE_UINT8;
  case TensorMapDataType::F16:
    return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  case TensorMapDataType::BF16:
    return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  }
  return -1;
}

int tensorMapSwizzle(uint32_t bytes) {
  switch (bytes) {
  case 32:
    return CU_TENSOR_MAP_SWIZZLE_32B;
  case 64:
    return CU_TENSOR_MAP_SWIZZLE_64B;
  case 128:
    return CU_TENSOR_MAP_SWIZZLE_128B;
  default:
    return CU_TENSOR_MAP_SWIZZLE_NONE;
  }
}

template <typename T> std::string listText(const T *values, size_t count) {
  std::string text = "[";
  for (size_t i = 0; i < count; ++i)
    text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

} // namespace

int Launcher::encodeTensorMaps(const LaunchPlan &plan,
                               std::vector<CUtensorMap> &maps,
                               std::string &error) {
  size_t count = 0;
  for (const PlannedLaunch &launch : plan.launches)
    count += launch.tensorMaps.size();
  maps.assign(count, CUtensorMap{}); // an empty tensor's map stays zero
  size_t next = 0;
  for (const PlannedLaunch &launch : plan.launches) {
    const KernelSpec &kernel = manifest_.kernels[launch.kernel];
    for (const PlannedTensorMap &planned : launch.tensorMaps) {
      CUtensorMap &map = maps[next++];
      if (planned.empty)
        continue;
      const KernelParam &param = kernel.params[planned.param];
      const TensorMapSpec &spec = param.tensorMap;
      // A scratch buffer's address is only known now (provideScratch gives
      // every buffer a kernel that runs reads one; empty ones are null).
      if (!planned.addressKnown) {
        error = describeTensorMap(kernel, param) + ": no address";
        return ATTN_LAUNCHER_ERROR_ARGUMENTS;
      }
      if (!checkTensorMapAddress(kernel, param, planned.address, error))
        return ATTN_LAUNCHER_ERROR_ARGUMENTS;
      if (!driver_->cuTensorMapEncodeTiled) {
        error = "the CUDA driver has no cuTensorMapEncodeTiled (a CUDA 12 or "
                "later driver is needed for tensor_map params; " +
                describeTensorMap(kernel, param) + ")";
        return ATTN_LAUNCHER_ERROR_NO_DRIVER;
      }
      const cuuint32_t rank = cuuint32_t(spec.dims.size());
      cuuint32_t box[kTensorMapMaxRank], elementStrides[kTensorMapMaxRank];
      for (size_t d = 0; d < rank; ++d) {
        box[d] = spec.box[d];
        elementStrides[d] = 1;
      }
      CUresult result = driver_->cuTensorMapEncodeTiled(
          &map, tensorMapDataType(spec.dataType), rank,
          reinterpret_cast<void *>(uintptr_t(planned.address)), planned.dims,
          planned.strides, box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
          tensorMapSwizzle(spec.swizzle), CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
          CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
      if (result != CUDA_SUCCESS) {
        std::ostringstream call;
        call << "cuTensorMapEncodeTiled(" << describeTensorMap(kernel, param)
             << ": " << tensorMapDataTypeName(spec.dataType) << ", address 0x"
             << std::hex << planned.address << std::dec << ", dims "
             << listText(planned.dims, rank) << ", strides "
             << listText(planned.strides, rank - 1) << " bytes, box "
             << listText(box, rank) << ", swizzle " << spec.swizzle << ")";
        error = describeDriverError(*driver_, call.str().c_str(), result);
        return ATTN_LAUNCHER_ERROR_CUDA;
      }
    }
  }
  return ATTN_LAUNCHER_OK;
}

int Launcher::launch(const char *const *names, const int64_t *values,
                     int count, void *stream, std::string &error) {
  // Arguments first: a caller mistake is reported the same way with or
  // without a GPU, and nothing is launched if any argument is bad.
  LaunchPlan plan;
  if (!planLaunches(manifest_, names, values, count, plan, error))
    return ATTN_LAUNCHER_ERROR_ARGUMENTS;

  if (plan.launches.empty()) // every grid has a zero dimension: no driver work
    return ATTN_LAUNCHER_OK;

  std::lock_guard<std::mutex> lock(mutex_);
  if (int status = acquireDriver(error); status != ATTN_LAUNCHER_OK)
    return status;
  CUcontext context;
  if (int status = currentContext(context, error); status != ATTN_LAUNCHER_OK)
    return status;
  const LoadedModule *module;
  if (int status = loadedModule(context, module, error);
      status != ATTN_LAUNCHER_OK)
    return status;
  if (int status = provideScratch(context, plan, error);
      status != ATTN_LAUNCHER_OK)
    return status;
  // All maps before any launch: a bad one launches nothing. They live until
  // the last cuLaunchKernel has returned (it copies the param bytes).
  std::vector<CUtensorMap> tensorMaps;
  if (int status = encodeTensorMaps(plan, tensorMaps, error);
      status != ATTN_LAUNCHER_OK)
    return status;

  size_t nextTensorMap = 0;
  for (PlannedLaunch &launch : plan.launches) {
    const KernelSpec &kernel = manifest_.kernels[launch.kernel];
    std::vector<void *> params;
    params.reserve(launch.paramSlots.size());
    for (uint64_t &slot : launch.paramSlots)
      params.push_back(&slot);
    for (const PlannedTensorMap &map : launch.tensorMaps)
      params[map.param] = &tensorMaps[nextTensorMap++];
    capPersistentGrid(kernel, module->multiprocessors, launch.grid);
    CUresult result = driver_->cuLaunchKernel(
        module->functions[launch.kernel], launch.grid[0], launch.grid[1],
        launch.grid[2], kernel.block[0], kernel.block[1], kernel.block[2],
        kernel.sharedBytes, static_cast<CUstream>(stream),
        params.empty() ? nullptr : params.data(), nullptr);
    if (result != CUDA_SUCCESS) {
      std::ostringstream call;
      call << "cuLaunchKernel(" << kernel.name << ", grid " << launch.grid[0]
           << "x" << launch.grid[1] << "x" << launch.grid[2] << ", block "
           << kernel.block[0] << "x" << kernel.block[1] << "x"
           << kernel.block[2] << ", shared " << kernel.sharedBytes << ")";
      error = describeDriverError(*driver_, call.str().c_str(), result);
      return ATTN_LAUNCHER_ERROR_CUDA;
    }
  }
  return ATTN_LAUNCHER_OK;
}

} // namespace attn::launcher
