#include "Manifest.h"

#include "Json.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace attn::launcher {

const char *paramTypeName(ParamType type) {
  switch (type) {
  case ParamType::Ptr:
    return "ptr";
  case ParamType::I64:
    return "i64";
  case ParamType::I32:
    return "i32";
  case ParamType::F32:
    return "f32";
  }
  return "?";
}

long Manifest::findArgument(std::string_view name) const {
  for (size_t i = 0; i < arguments.size(); ++i)
    if (arguments[i].name == name)
      return long(i);
  return -1;
}

namespace {

// Reads typed fields of the manifest; every failure message starts with the
// JSON path of the offending value.
class ManifestReader {
public:
  explicit ManifestReader(std::string &error) : error_(error) {}

  bool read(const JsonValue &root, Manifest &out) {
    if (!expectKind(root, JsonValue::Kind::Object, "manifest"))
      return false;
    std::string format;
    if (!readString(root, "format", "manifest", format))
      return false;
    if (format != "attn-kernels")
      return fail("format", "expected \"attn-kernels\", got \"" + format + "\"");
    int64_t version;
    if (!readInteger(root, "version", "manifest", version))
      return false;
    if (version != 1)
      return fail("version",
                  "unsupported version " + std::to_string(version) +
                      " (this launcher reads version 1)");
    if (!readString(root, "binary", "manifest", out.binaryFile))
      return false;
    if (out.binaryFile.empty())
      return fail("binary", "must not be empty");
    std::string binaryFormat;
    if (!readString(root, "binary_format", "manifest", binaryFormat))
      return false;
    if (binaryFormat == "cubin")
      out.binaryFormat = BinaryFormat::Cubin;
    else if (binaryFormat == "fatbin")
      out.binaryFormat = BinaryFormat::Fatbin;
    else if (binaryFormat == "ptx")
      out.binaryFormat = BinaryFormat::Ptx;
    else
      return fail("binary_format", "unknown binary format \"" + binaryFormat +
                                       "\" (expected cubin, fatbin or ptx)");
    if (const JsonValue *chip = root.find("chip")) {
      if (!expectKind(*chip, JsonValue::Kind::String, "chip"))
        return false;
      out.chip = chip->string;
    }
    const JsonValue *kernels = root.find("kernels");
    if (!kernels)
      return fail("manifest", "missing \"kernels\"");
    if (!expectKind(*kernels, JsonValue::Kind::Array, "kernels"))
      return false;
    for (size_t i = 0; i < kernels->items.size(); ++i) {
      KernelSpec kernel;
      if (!readKernel(kernels->items[i], "kernels[" + std::to_string(i) + "]",
                      out, kernel))
        return false;
      for (const KernelSpec &other : out.kernels)
        if (other.name == kernel.name)
          return fail("kernels[" + std::to_string(i) + "].name",
                      "duplicate kernel name \"" + kernel.name + "\"");
      out.kernels.push_back(std::move(kernel));
    }
    // After the kernels: a scratch buffer names one of their ptr params.
    if (const JsonValue *scratch = root.find("scratch"))
      if (!readScratchList(*scratch, out))
        return false;
    return true;
  }

private:
  std::string &error_;

  // Grid factors and scratch size factors share a format; they differ in
  // what a constant may be and in how errors call them.
  enum class FactorUse { Grid, ScratchSize };

  bool fail(const std::string &path, const std::string &what) {
    error_ = path + ": " + what;
    return false;
  }

  bool expectKind(const JsonValue &value, JsonValue::Kind kind,
                  const std::string &path) {
    if (value.kind == kind)
      return true;
    return fail(path, std::string("expected ") + jsonKindName(kind) +
                          ", got " + jsonKindName(value.kind));
  }

  const JsonValue *requireMember(const JsonValue &object, const char *key,
                                 const std::string &path) {
    const JsonValue *member = object.find(key);
    if (!member)
      fail(path, std::string("missing \"") + key + "\"");
    return member;
  }

  static std::string memberPath(const std::string &path, const char *key) {
    return path == "manifest" ? std::string(key) : path + "." + key;
  }

  bool readString(const JsonValue &object, const char *key,
                  const std::string &path, std::string &out) {
    const JsonValue *member = requireMember(object, key, path);
    if (!member ||
        !expectKind(*member, JsonValue::Kind::String, memberPath(path, key)))
      return false;
    out = member->string;
    return true;
  }

  bool readInteger(const JsonValue &object, const char *key,
                   const std::string &path, int64_t &out) {
    const JsonValue *member = requireMember(object, key, path);
    if (!member ||
        !expectKind(*member, JsonValue::Kind::Integer, memberPath(path, key)))
      return false;
    out = member->integer;
    return true;
  }

  // Registers a use of argument `name` (as a param of `type`, or in a grid)
  // and returns its index. The same name must have one type everywhere.
  bool useArgument(Manifest &manifest, const std::string &name, bool isParam,
                   ParamType type, const std::string &path,
                   ArgumentIndex &index) {
    long found = manifest.findArgument(name);
    if (found < 0) {
      manifest.arguments.push_back({name, isParam, type});
      index = manifest.arguments.size() - 1;
      return true;
    }
    ArgumentInfo &info = manifest.arguments[size_t(found)];
    if (isParam) {
      if (info.isParam && info.type != type)
        return fail(path, "argument \"" + name + "\" is " +
                              paramTypeName(type) + " here but " +
                              paramTypeName(info.type) + " elsewhere");
      info.isParam = true;
      info.type = type;
    }
    index = size_t(found);
    return true;
  }

  bool readKernel(const JsonValue &value, const std::string &path,
                  Manifest &manifest, KernelSpec &kernel) {
    if (!expectKind(value, JsonValue::Kind::Object, path))
      return false;
    if (!readString(value, "name", path, kernel.name))
      return false;
    if (kernel.name.empty())
      return fail(path + ".name", "must not be empty");

    const JsonValue *block = requireMember(value, "block", path);
    if (!block || !expectKind(*block, JsonValue::Kind::Array, path + ".block"))
      return false;
    if (block->items.size() != 3)
      return fail(path + ".block", "expected 3 dimensions, got " +
                                       std::to_string(block->items.size()));
    for (size_t d = 0; d < 3; ++d) {
      std::string dimPath = path + ".block[" + std::to_string(d) + "]";
      const JsonValue &dim = block->items[d];
      if (!expectKind(dim, JsonValue::Kind::Integer, dimPath))
        return false;
      if (dim.integer < 1 || dim.integer > std::numeric_limits<uint32_t>::max())
        return fail(dimPath, "block dimension " + std::to_string(dim.integer) +
                                 " out of range");
      kernel.block[d] = uint32_t(dim.integer);
    }

    int64_t sharedBytes;
    if (!readInteger(value, "shared_bytes", path, sharedBytes))
      return false;
    if (sharedBytes < 0 || sharedBytes > std::numeric_limits<uint32_t>::max())
      return fail(path + ".shared_bytes",
                  std::to_string(sharedBytes) + " out of range");
    kernel.sharedBytes = uint32_t(sharedBytes);

    // Params before the grid, so an argument used in both gets its param type
    // regardless of order.
    const JsonValue *params = requireMember(value, "params", path);
    if (!params ||
        !expectKind(*params, JsonValue::Kind::Array, path + ".params"))
      return false;
    for (size_t p = 0; p < params->items.size(); ++p) {
      std::string paramPath = path + ".params[" + std::to_string(p) + "]";
      const JsonValue &param = params->items[p];
      if (!expectKind(param, JsonValue::Kind::Object, paramPath))
        return false;
      KernelParam kernelParam;
      std::string type;
      if (!readString(param, "name", paramPath, kernelParam.name) ||
          !readString(param, "type", paramPath, type))
        return false;
      if (kernelParam.name.empty())
        return fail(paramPath + ".name", "must not be empty");
      if (type == "ptr")
        kernelParam.type = ParamType::Ptr;
      else if (type == "i64")
        kernelParam.type = ParamType::I64;
      else if (type == "i32")
        kernelParam.type = ParamType::I32;
      else if (type == "f32")
        kernelParam.type = ParamType::F32;
      else
        return fail(paramPath + ".type", "unknown param type \"" + type +
                                             "\" (expected ptr, i64, i32 or f32)");
      for (const KernelParam &earlier : kernel.params)
        if (earlier.name == kernelParam.name)
          return fail(paramPath + ".name",
                      "duplicate param \"" + kernelParam.name + "\"");
      if (!useArgument(manifest, kernelParam.name, true, kernelParam.type,
                       paramPath, kernelParam.argument))
        return false;
      kernel.params.push_back(std::move(kernelParam));
    }

    const JsonValue *grid = requireMember(value, "grid", path);
    if (!grid || !expectKind(*grid, JsonValue::Kind::Array, path + ".grid"))
      return false;
    if (grid->items.size() != 3)
      return fail(path + ".grid", "expected 3 dimensions, got " +
                                      std::to_string(grid->items.size()));
    for (size_t d = 0; d < 3; ++d) {
      std::string dimPath = path + ".grid[" + std::to_string(d) + "]";
      const JsonValue &factors = grid->items[d];
      if (!expectKind(factors, JsonValue::Kind::Array, dimPath))
        return false;
      for (size_t f = 0; f < factors.items.size(); ++f) {
        GridFactor factor;
        if (!readFactor(factors.items[f],
                        dimPath + "[" + std::to_string(f) + "]",
                        FactorUse::Grid, manifest, factor))
          return false;
        kernel.grid[d].push_back(factor);
      }
    }
    return true;
  }

  bool readFactor(const JsonValue &value, const std::string &path,
                  FactorUse use, Manifest &manifest, GridFactor &factor) {
    const char *noun = use == FactorUse::Grid ? "grid factor" : "size factor";
    if (value.isInteger()) {
      // A zero grid dimension skips the kernel; a constant zero size would
      // make the buffer always empty, which no kernel that reads it wants.
      if (use == FactorUse::Grid && value.integer < 0)
        return fail(path, "negative grid factor " +
                              std::to_string(value.integer));
      if (use == FactorUse::ScratchSize && value.integer <= 0)
        return fail(path, "size factor must be positive, got " +
                              std::to_string(value.integer));
      factor.constant = value.integer;
      return true;
    }
    if (!value.isObject())
      return fail(path, std::string("expected an integer or {\"arg\": ...}, "
                                    "got ") +
                            jsonKindName(value.kind));
    for (const auto &member : value.members)
      if (member.first != "arg" && member.first != "ceil_div")
        return fail(path, "unknown key \"" + member.first + "\" in " + noun +
                              " (expected arg, ceil_div)");
    std::string name;
    if (!readString(value, "arg", path, name))
      return false;
    if (name.empty())
      return fail(path + ".arg", "must not be empty");
    if (value.find("ceil_div")) {
      if (!readInteger(value, "ceil_div", path, factor.ceilDiv))
        return false;
      if (factor.ceilDiv <= 0)
        return fail(path + ".ceil_div",
                    "must be positive, got " + std::to_string(factor.ceilDiv));
    }
    factor.isArgument = true;
    factor.argumentName = name;
    return useArgument(manifest, name, false, ParamType::I64, path,
                       factor.argument);
  }

  bool readScratchList(const JsonValue &list, Manifest &manifest) {
    if (!expectKind(list, JsonValue::Kind::Array, "scratch"))
      return false;
    // Arguments first seen from here on only size scratch buffers.
    size_t kernelArguments = manifest.arguments.size();
    for (size_t i = 0; i < list.items.size(); ++i) {
      std::string path = "scratch[" + std::to_string(i) + "]";
      const JsonValue &value = list.items[i];
      if (!expectKind(value, JsonValue::Kind::Object, path))
        return false;
      ScratchSpec scratch;
      if (!readString(value, "name", path, scratch.name))
        return false;
      if (scratch.name.empty())
        return fail(path + ".name", "must not be empty");
      for (const ScratchSpec &earlier : manifest.scratch)
        if (earlier.name == scratch.name)
          return fail(path + ".name",
                      "duplicate scratch buffer \"" + scratch.name + "\"");
      if (!bindScratchName(manifest, scratch, path + ".name"))
        return false;

      const JsonValue *bytes = requireMember(value, "bytes", path);
      if (!bytes ||
          !expectKind(*bytes, JsonValue::Kind::Array, path + ".bytes"))
        return false;
      if (bytes->items.empty())
        return fail(path + ".bytes", "expected at least one size factor");
      for (size_t f = 0; f < bytes->items.size(); ++f) {
        GridFactor factor;
        if (!readFactor(bytes->items[f],
                        path + ".bytes[" + std::to_string(f) + "]",
                        FactorUse::ScratchSize, manifest, factor))
          return false;
        scratch.bytes.push_back(factor);
      }
      manifest.arguments[scratch.argument].scratch =
          long(manifest.scratch.size());
      manifest.scratch.push_back(std::move(scratch));
    }
    for (size_t a = kernelArguments; a < manifest.arguments.size(); ++a)
      manifest.arguments[a].sizesScratchOnly = true;

    // A size cannot depend on a buffer's address, which the launcher may
    // only pick after sizing.
    for (size_t i = 0; i < manifest.scratch.size(); ++i) {
      const std::vector<GridFactor> &bytes = manifest.scratch[i].bytes;
      for (size_t f = 0; f < bytes.size(); ++f)
        if (bytes[f].isArgument &&
            manifest.arguments[bytes[f].argument].scratch >= 0)
          return fail("scratch[" + std::to_string(i) + "].bytes[" +
                          std::to_string(f) + "]",
                      "scratch buffer \"" + bytes[f].argumentName +
                          "\" cannot size a scratch buffer");
    }
    return true;
  }

  // Points `scratch` at its argument: a ptr param of some kernel that no
  // grid uses (a grid would be sized by the buffer's address).
  bool bindScratchName(const Manifest &manifest, ScratchSpec &scratch,
                       const std::string &path) {
    const std::string quoted = "scratch buffer \"" + scratch.name + "\"";
    for (const KernelSpec &kernel : manifest.kernels) {
      for (const KernelParam &param : kernel.params)
        if (param.name == scratch.name && param.type != ParamType::Ptr)
          return fail(path, quoted + " is an " + paramTypeName(param.type) +
                                " param of kernel " + kernel.name +
                                " (a scratch buffer must be a ptr param)");
      for (const std::vector<GridFactor> &dim : kernel.grid)
        for (const GridFactor &factor : dim)
          if (factor.isArgument && factor.argumentName == scratch.name)
            return fail(path, quoted + " is used by the grid of kernel " +
                                  kernel.name);
    }
    long found = manifest.findArgument(scratch.name);
    if (found < 0 || !manifest.arguments[size_t(found)].isParam)
      return fail(path, quoted + " is not a param of any kernel");
    scratch.argument = size_t(found);
    return true;
  }
};

} // namespace

bool parseManifest(std::string_view text, Manifest &out, std::string &error) {
  out = Manifest();
  JsonValue root;
  std::string jsonError;
  if (!parseJson(text, root, jsonError)) {
    error = "invalid JSON: " + jsonError;
    return false;
  }
  return ManifestReader(error).read(root, out);
}

bool bindArguments(const Manifest &manifest, const char *const *names,
                   const int64_t *values, int count,
                   std::vector<int64_t> &argumentValues,
                   std::vector<bool> &given, std::string &error) {
  if (count < 0) {
    error = "negative argument count " + std::to_string(count);
    return false;
  }
  if (count > 0 && (!names || !values)) {
    error = "null names or values array with " + std::to_string(count) +
            " arguments";
    return false;
  }
  argumentValues.assign(manifest.arguments.size(), 0);
  given.assign(manifest.arguments.size(), false);
  for (int i = 0; i < count; ++i) {
    if (!names[i]) {
      error = "argument #" + std::to_string(i) + " has a null name";
      return false;
    }
    long index = manifest.findArgument(names[i]);
    if (index < 0) {
      error = std::string("unknown argument \"") + names[i] + "\"";
      return false;
    }
    if (given[size_t(index)]) {
      error = std::string("argument \"") + names[i] + "\" given twice";
      return false;
    }
    given[size_t(index)] = true;
    argumentValues[size_t(index)] = values[i];
  }
  std::string missing;
  size_t missingCount = 0;
  for (size_t i = 0; i < given.size(); ++i) {
    const ArgumentInfo &info = manifest.arguments[i];
    if (given[i] || info.scratch >= 0 || info.sizesScratchOnly)
      continue;
    missing += (missingCount++ ? ", \"" : "\"") + manifest.arguments[i].name + "\"";
  }
  if (missingCount) {
    error = std::string(missingCount == 1 ? "missing argument "
                                          : "missing arguments ") +
            missing;
    return false;
  }
  return true;
}

namespace {

// The product of grid or size factors for the bound argument values.
struct FactorProduct {
  uint64_t value = 0;
  const GridFactor *negative = nullptr; // the first negative argument, if any
  bool tooLarge = false;                // above the limit, with no zero factor
};

// Multiplies with an overflow check against `limit`. A zero factor wins over
// overflow: zero work (a skipped kernel, an empty buffer) is never too large.
FactorProduct multiplyFactors(const std::vector<GridFactor> &factors,
                              const std::vector<int64_t> &argumentValues,
                              uint64_t limit) {
  FactorProduct result;
  uint64_t product = 1;
  bool zero = false;
  for (const GridFactor &factor : factors) {
    int64_t value = factor.constant;
    if (factor.isArgument) {
      value = argumentValues[factor.argument];
      if (value < 0) {
        result.negative = &factor;
        return result;
      }
      if (factor.ceilDiv > 0)
        value = value / factor.ceilDiv + (value % factor.ceilDiv != 0);
    }
    if (value == 0)
      zero = true;
    else if (uint64_t(value) > limit / product)
      result.tooLarge = true;
    else
      product *= uint64_t(value);
  }
  if (zero)
    result.tooLarge = false;
  else if (!result.tooLarge)
    result.value = product;
  return result;
}

} // namespace

bool evaluateGrid(const KernelSpec &kernel,
                  const std::vector<int64_t> &argumentValues, uint32_t grid[3],
                  std::string &error) {
  for (int d = 0; d < 3; ++d) {
    FactorProduct product = multiplyFactors(
        kernel.grid[d], argumentValues, std::numeric_limits<uint32_t>::max());
    if (product.negative) {
      error = "kernel " + kernel.name + ": argument \"" +
              product.negative->argumentName + "\" = " +
              std::to_string(argumentValues[product.negative->argument]) +
              " is negative but sizes grid dimension " + std::to_string(d);
      return false;
    }
    if (product.tooLarge) {
      error = "kernel " + kernel.name + ": grid dimension " +
              std::to_string(d) + " does not fit 32 bits";
      return false;
    }
    grid[d] = uint32_t(product.value);
  }
  return true;
}

bool sizeScratch(const Manifest &manifest,
                 const std::vector<int64_t> &argumentValues,
                 const std::vector<bool> &given,
                 std::vector<PlannedScratch> &scratch, std::string &error) {
  scratch.assign(manifest.scratch.size(), PlannedScratch());
  for (size_t s = 0; s < manifest.scratch.size(); ++s) {
    const ScratchSpec &spec = manifest.scratch[s];
    if (given[spec.argument]) // the caller's buffer, whatever its size
      continue;
    const std::string quoted = "scratch buffer \"" + spec.name + "\"";
    // Only arguments that size nothing but scratch buffers can be missing
    // here; bindArguments reported the others.
    std::vector<ArgumentIndex> missing;
    for (const GridFactor &factor : spec.bytes)
      if (factor.isArgument && !given[factor.argument] &&
          std::find(missing.begin(), missing.end(), factor.argument) ==
              missing.end())
        missing.push_back(factor.argument);
    if (!missing.empty()) {
      error = missing.size() == 1 ? "missing argument " : "missing arguments ";
      for (size_t i = 0; i < missing.size(); ++i)
        error +=
            (i ? ", \"" : "\"") + manifest.arguments[missing[i]].name + "\"";
      error +=
          " for the size of " + quoted + " (or pass \"" + spec.name + "\")";
      return false;
    }
    FactorProduct bytes = multiplyFactors(spec.bytes, argumentValues,
                                          std::numeric_limits<uint64_t>::max());
    if (bytes.negative) {
      error = "argument \"" + bytes.negative->argumentName + "\" = " +
              std::to_string(argumentValues[bytes.negative->argument]) +
              " is negative but sizes " + quoted;
      return false;
    }
    if (bytes.tooLarge) {
      std::string arguments;
      for (const GridFactor &factor : spec.bytes)
        if (factor.isArgument)
          arguments += (arguments.empty() ? "" : ", ") + factor.argumentName +
                       " = " + std::to_string(argumentValues[factor.argument]);
      error = quoted + ": size does not fit 64 bits (" + arguments + ")";
      return false;
    }
    scratch[s].allocate = true;
    scratch[s].bytes = bytes.value;
  }
  return true;
}

bool marshalParams(const KernelSpec &kernel,
                   const std::vector<int64_t> &argumentValues,
                   std::vector<uint64_t> &slots, std::string &error) {
  slots.assign(kernel.params.size(), 0);
  for (size_t p = 0; p < kernel.params.size(); ++p) {
    const KernelParam &param = kernel.params[p];
    int64_t value = argumentValues[param.argument];
    void *slot = &slots[p];
    switch (param.type) {
    case ParamType::Ptr:
    case ParamType::I64:
      std::memcpy(slot, &value, sizeof(value));
      break;
    case ParamType::I32: {
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max()) {
        error = "argument \"" + param.name + "\" = " + std::to_string(value) +
                " does not fit i32";
        return false;
      }
      int32_t narrow = int32_t(value);
      std::memcpy(slot, &narrow, sizeof(narrow));
      break;
    }
    case ParamType::F32: {
      if (value < std::numeric_limits<int32_t>::min() ||
          value > int64_t(std::numeric_limits<uint32_t>::max())) {
        error = "argument \"" + param.name + "\" = " + std::to_string(value) +
                " is not a 32-bit float bit pattern";
        return false;
      }
      uint32_t bits = uint32_t(uint64_t(value));
      std::memcpy(slot, &bits, sizeof(bits));
      break;
    }
    }
  }
  return true;
}

bool planLaunches(const Manifest &manifest, const char *const *names,
                  const int64_t *values, int count, LaunchPlan &plan,
                  std::string &error) {
  plan = LaunchPlan();
  std::vector<int64_t> argumentValues;
  std::vector<bool> given;
  if (!bindArguments(manifest, names, values, count, argumentValues, given,
                     error))
    return false;
  for (size_t k = 0; k < manifest.kernels.size(); ++k) {
    const KernelSpec &kernel = manifest.kernels[k];
    PlannedLaunch launch;
    launch.kernel = k;
    if (!evaluateGrid(kernel, argumentValues, launch.grid, error))
      return false;
    // Marshal even skipped kernels: a bad value is the caller's error
    // whatever the sizes are.
    if (!marshalParams(kernel, argumentValues, launch.paramSlots, error))
      return false;
    if (launch.grid[0] == 0 || launch.grid[1] == 0 || launch.grid[2] == 0)
      continue;
    plan.launches.push_back(std::move(launch));
  }
  // Sized even when no kernel that uses them runs, for the same reason.
  return sizeScratch(manifest, argumentValues, given, plan.scratch, error);
}

} // namespace attn::launcher
