#include "Manifest.h"

#include "Json.h"
#include "attn/manifest_schema.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace attn::launcher {

const char *paramTypeName(ParamType type) {
  switch (type) {
  case ParamType::Ptr:
    return ATTN_MANIFEST_PARAM_PTR;
  case ParamType::I64:
    return ATTN_MANIFEST_PARAM_I64;
  case ParamType::I32:
    return ATTN_MANIFEST_PARAM_I32;
  case ParamType::F32:
    return ATTN_MANIFEST_PARAM_F32;
  case ParamType::TensorMap:
    return ATTN_MANIFEST_PARAM_TENSOR_MAP;
  }
  return "?";
}

const char *tensorMapDataTypeName(TensorMapDataType type) {
  switch (type) {
  case TensorMapDataType::U8:
    return ATTN_MANIFEST_DATA_U8;
  case TensorMapDataType::F16:
    return ATTN_MANIFEST_DATA_F16;
  case TensorMapDataType::BF16:
    return ATTN_MANIFEST_DATA_BF16;
  }
  return "?";
}

unsigned tensorMapElementBytes(TensorMapDataType type) {
  return type == TensorMapDataType::U8 ? 1 : 2;
}

long Manifest::findArgument(std::string_view name) const {
  auto found = argumentIndex.find(name);
  return found == argumentIndex.end() ? -1 : found->second;
}

long Manifest::addArgument(ArgumentInfo info) {
  long index = long(arguments.size());
  argumentIndex.emplace(info.name, index);
  arguments.push_back(std::move(info));
  return index;
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
    if (!readString(root, ATTN_MANIFEST_KEY_FORMAT, "manifest", format))
      return false;
    if (format != ATTN_MANIFEST_FORMAT)
      return fail(ATTN_MANIFEST_KEY_FORMAT,
                  std::string("expected \"") + ATTN_MANIFEST_FORMAT +
                      "\", got \"" + format + "\"");
    int64_t version;
    if (!readInteger(root, ATTN_MANIFEST_KEY_VERSION, "manifest", version))
      return false;
    if (version != ATTN_MANIFEST_VERSION)
      return fail(ATTN_MANIFEST_KEY_VERSION,
                  "unsupported version " + std::to_string(version) +
                      " (this launcher reads version " +
                      std::to_string(ATTN_MANIFEST_VERSION) + ")");
    if (!readString(root, ATTN_MANIFEST_KEY_BINARY, "manifest",
                    out.binaryFile))
      return false;
    if (out.binaryFile.empty())
      return fail(ATTN_MANIFEST_KEY_BINARY, "must not be empty");
    std::string binaryFormat;
    if (!readString(root, ATTN_MANIFEST_KEY_BINARY_FORMAT, "manifest",
                    binaryFormat))
      return false;
    if (binaryFormat == ATTN_MANIFEST_BINARY_CUBIN)
      out.binaryFormat = BinaryFormat::Cubin;
    else if (binaryFormat == ATTN_MANIFEST_BINARY_FATBIN)
      out.binaryFormat = BinaryFormat::Fatbin;
    else if (binaryFormat == ATTN_MANIFEST_BINARY_PTX)
      out.binaryFormat = BinaryFormat::Ptx;
    else
      return fail(ATTN_MANIFEST_KEY_BINARY_FORMAT,
                  "unknown binary format \"" + binaryFormat +
                      "\" (expected " ATTN_MANIFEST_BINARY_CUBIN
                      ", " ATTN_MANIFEST_BINARY_FATBIN
                      " or " ATTN_MANIFEST_BINARY_PTX ")");
    if (!readOptionalString(root, ATTN_MANIFEST_KEY_CHIP, out.chip) ||
        !readOptionalString(root, ATTN_MANIFEST_KEY_KERNEL_FAMILY,
                            out.kernelFamily))
      return false;
    const JsonValue *kernels = root.find(ATTN_MANIFEST_KEY_KERNELS);
    if (!kernels)
      return fail("manifest",
                  std::string("missing \"") + ATTN_MANIFEST_KEY_KERNELS + "\"");
    if (!expectKind(*kernels, JsonValue::Kind::Array,
                    ATTN_MANIFEST_KEY_KERNELS))
      return false;
    for (size_t i = 0; i < kernels->items.size(); ++i) {
      const std::string path = std::string(ATTN_MANIFEST_KEY_KERNELS) + "[" +
                               std::to_string(i) + "]";
      KernelSpec kernel;
      if (!readKernel(kernels->items[i], path, out, kernel))
        return false;
      for (const KernelSpec &other : out.kernels)
        if (other.name == kernel.name)
          return fail(memberPath(path, ATTN_MANIFEST_KEY_NAME),
                      "duplicate kernel name \"" + kernel.name + "\"");
      out.kernels.push_back(std::move(kernel));
    }
    // Once every name has its type.
    if (!checkTensorMapNames(out))
      return false;
    // After the kernels: a scratch buffer names one of their ptr params.
    if (const JsonValue *scratch = root.find(ATTN_MANIFEST_KEY_SCRATCH))
      if (!readScratchList(*scratch, out))
        return false;
    // Last: the names are the kernels' arguments.
    if (const JsonValue *fixed = root.find(ATTN_MANIFEST_KEY_FIXED_ARGUMENTS))
      if (!readFixedArguments(*fixed, out))
        return false;
    return true;
  }

private:
  std::string &error_;

  // Grid factors, scratch size factors and tensor map dim and stride factors
  // share a format; they differ in what a constant may be and in how errors
  // call them.
  enum class FactorUse { Grid, ScratchSize, TensorMapDim, TensorMapStride };

  static const char *factorNoun(FactorUse use) {
    switch (use) {
    case FactorUse::Grid:
      return "grid factor";
    case FactorUse::ScratchSize:
      return "size factor";
    case FactorUse::TensorMapDim:
      return "dim factor";
    case FactorUse::TensorMapStride:
      return "stride factor";
    }
    return "factor";
  }

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

  static std::string elementPath(const std::string &path, size_t index) {
    return path + "[" + std::to_string(index) + "]";
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

  // A top-level key that may be absent (`out` is left as is then).
  bool readOptionalString(const JsonValue &root, const char *key,
                          std::string &out) {
    const JsonValue *member = root.find(key);
    if (!member)
      return true;
    if (!expectKind(*member, JsonValue::Kind::String, key))
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
      index = ArgumentIndex(manifest.addArgument({name, isParam, type}));
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
    if (!readString(value, ATTN_MANIFEST_KEY_NAME, path, kernel.name))
      return false;
    if (kernel.name.empty())
      return fail(memberPath(path, ATTN_MANIFEST_KEY_NAME), "must not be empty");

    const std::string blockPath = memberPath(path, ATTN_MANIFEST_KEY_BLOCK);
    const JsonValue *block = requireMember(value, ATTN_MANIFEST_KEY_BLOCK, path);
    if (!block || !expectKind(*block, JsonValue::Kind::Array, blockPath))
      return false;
    if (block->items.size() != 3)
      return fail(blockPath, "expected 3 dimensions, got " +
                                 std::to_string(block->items.size()));
    for (size_t d = 0; d < 3; ++d) {
      std::string dimPath = elementPath(blockPath, d);
      const JsonValue &dim = block->items[d];
      if (!expectKind(dim, JsonValue::Kind::Integer, dimPath))
        return false;
      if (dim.integer < 1 || dim.integer > std::numeric_limits<uint32_t>::max())
        return fail(dimPath, "block dimension " + std::to_string(dim.integer) +
                                 " out of range");
      kernel.block[d] = uint32_t(dim.integer);
    }

    int64_t sharedBytes;
    if (!readInteger(value, ATTN_MANIFEST_KEY_SHARED_BYTES, path, sharedBytes))
      return false;
    if (sharedBytes < 0 || sharedBytes > std::numeric_limits<uint32_t>::max())
      return fail(memberPath(path, ATTN_MANIFEST_KEY_SHARED_BYTES),
                  std::to_string(sharedBytes) + " out of range");
    kernel.sharedBytes = uint32_t(sharedBytes);

    // Params before the grid, so an argument used in both gets its param type
    // regardless of order.
    const std::string paramsPath = memberPath(path, ATTN_MANIFEST_KEY_PARAMS);
    const JsonValue *params =
        requireMember(value, ATTN_MANIFEST_KEY_PARAMS, path);
    if (!params || !expectKind(*params, JsonValue::Kind::Array, paramsPath))
      return false;
    for (size_t p = 0; p < params->items.size(); ++p) {
      std::string paramPath = elementPath(paramsPath, p);
      const JsonValue &param = params->items[p];
      if (!expectKind(param, JsonValue::Kind::Object, paramPath))
        return false;
      KernelParam kernelParam;
      std::string type;
      if (!readString(param, ATTN_MANIFEST_KEY_NAME, paramPath,
                      kernelParam.name) ||
          !readString(param, ATTN_MANIFEST_KEY_TYPE, paramPath, type))
        return false;
      const std::string namePath = memberPath(paramPath, ATTN_MANIFEST_KEY_NAME);
      if (kernelParam.name.empty())
        return fail(namePath, "must not be empty");
      for (const KernelParam &earlier : kernel.params)
        if (earlier.name == kernelParam.name)
          return fail(namePath, "duplicate param \"" + kernelParam.name + "\"");
      const JsonValue *tensorMap = param.find(ATTN_MANIFEST_KEY_TENSOR_MAP);
      if (type == ATTN_MANIFEST_PARAM_TENSOR_MAP) {
        // Not an argument: encoded from the ones its spec names.
        kernelParam.type = ParamType::TensorMap;
        const std::string mapPath =
            memberPath(paramPath, ATTN_MANIFEST_KEY_TENSOR_MAP);
        if (!tensorMap)
          return fail(paramPath, std::string("missing \"") +
                                     ATTN_MANIFEST_KEY_TENSOR_MAP + "\"");
        if (!readTensorMap(*tensorMap, mapPath, manifest,
                           kernelParam.tensorMap))
          return false;
        kernel.params.push_back(std::move(kernelParam));
        continue;
      }
      if (tensorMap)
        return fail(memberPath(paramPath, ATTN_MANIFEST_KEY_TENSOR_MAP),
                    "only a " ATTN_MANIFEST_PARAM_TENSOR_MAP
                    " param has one (this param is " +
                        type + ")");
      if (type == ATTN_MANIFEST_PARAM_PTR)
        kernelParam.type = ParamType::Ptr;
      else if (type == ATTN_MANIFEST_PARAM_I64)
        kernelParam.type = ParamType::I64;
      else if (type == ATTN_MANIFEST_PARAM_I32)
        kernelParam.type = ParamType::I32;
      else if (type == ATTN_MANIFEST_PARAM_F32)
        kernelParam.type = ParamType::F32;
      else
        return fail(memberPath(paramPath, ATTN_MANIFEST_KEY_TYPE),
                    "unknown param type \"" + type +
                        "\" (expected " ATTN_MANIFEST_PARAM_PTR
                        ", " ATTN_MANIFEST_PARAM_I64
                        ", " ATTN_MANIFEST_PARAM_I32
                        ", " ATTN_MANIFEST_PARAM_F32
                        " or " ATTN_MANIFEST_PARAM_TENSOR_MAP ")");
      if (!useArgument(manifest, kernelParam.name, true, kernelParam.type,
                       paramPath, kernelParam.argument))
        return false;
      kernel.params.push_back(std::move(kernelParam));
    }

    const std::string gridPath = memberPath(path, ATTN_MANIFEST_KEY_GRID);
    const JsonValue *grid = requireMember(value, ATTN_MANIFEST_KEY_GRID, path);
    if (!grid || !expectKind(*grid, JsonValue::Kind::Array, gridPath))
      return false;
    if (grid->items.size() != 3)
      return fail(gridPath, "expected 3 dimensions, got " +
                                std::to_string(grid->items.size()));
    for (size_t d = 0; d < 3; ++d) {
      std::string dimPath = elementPath(gridPath, d);
      const JsonValue &factors = grid->items[d];
      if (!expectKind(factors, JsonValue::Kind::Array, dimPath))
        return false;
      for (size_t f = 0; f < factors.items.size(); ++f) {
        GridFactor factor;
        if (!readFactor(factors.items[f], elementPath(dimPath, f),
                        FactorUse::Grid, manifest, factor))
          return false;
        kernel.grid[d].push_back(factor);
      }
    }

    if (value.find(ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM)) {
      const std::string persistentPath =
          memberPath(path, ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM);
      int64_t blocks;
      if (!readInteger(value, ATTN_MANIFEST_KEY_PERSISTENT_BLOCKS_PER_SM, path,
                       blocks))
        return false;
      if (blocks < 1 || blocks > 64)
        return fail(persistentPath, "blocks per multiprocessor " +
                                        std::to_string(blocks) +
                                        " out of range (1 to 64)");
      // The blocks walk grid[0]'s units only.
      for (size_t d = 1; d < 3; ++d)
        for (const GridFactor &factor : kernel.grid[d])
          if (factor.isArgument || factor.constant != 1)
            return fail(elementPath(gridPath, d),
                        "a persistent kernel's grid is one-dimensional");
      kernel.persistentBlocksPerSM = uint32_t(blocks);
    }
    return true;
  }

  bool readFactor(const JsonValue &value, const std::string &path,
                  FactorUse use, Manifest &manifest, GridFactor &factor) {
    const char *noun = factorNoun(use);
    if (value.isInteger()) {
      // A zero grid dimension skips the kernel; a constant zero size would
      // make the buffer always empty, which no kernel that reads it wants
      // (nor a tensor map: a constant zero dim or stride is a mistake).
      if (use == FactorUse::Grid && value.integer < 0)
        return fail(path, "negative grid factor " +
                              std::to_string(value.integer));
      if (use != FactorUse::Grid && value.integer <= 0)
        return fail(path, std::string(noun) + " must be positive, got " +
                              std::to_string(value.integer));
      factor.constant = value.integer;
      return true;
    }
    if (!value.isObject())
      return fail(path, std::string("expected an integer or "
                                    "{\"" ATTN_MANIFEST_KEY_ARG "\": ...}, "
                                    "got ") +
                            jsonKindName(value.kind));
    for (const auto &member : value.members)
      if (member.first != ATTN_MANIFEST_KEY_ARG &&
          member.first != ATTN_MANIFEST_KEY_CEIL_DIV)
        return fail(path, "unknown key \"" + member.first + "\" in " + noun +
                              " (expected " ATTN_MANIFEST_KEY_ARG
                              ", " ATTN_MANIFEST_KEY_CEIL_DIV ")");
    std::string name;
    if (!readString(value, ATTN_MANIFEST_KEY_ARG, path, name))
      return false;
    if (name.empty())
      return fail(memberPath(path, ATTN_MANIFEST_KEY_ARG), "must not be empty");
    if (value.find(ATTN_MANIFEST_KEY_CEIL_DIV)) {
      if (!readInteger(value, ATTN_MANIFEST_KEY_CEIL_DIV, path, factor.ceilDiv))
        return false;
      if (factor.ceilDiv <= 0)
        return fail(memberPath(path, ATTN_MANIFEST_KEY_CEIL_DIV),
                    "must be positive, got " + std::to_string(factor.ceilDiv));
    }
    factor.isArgument = true;
    factor.argumentName = name;
    return useArgument(manifest, name, false, ParamType::I64, path,
                       factor.argument);
  }

  // A list of factor lists (tensor map dims or strides): `count` entries,
  // each a non-empty product.
  bool readFactorLists(const JsonValue &object, const char *key,
                       const std::string &mapPath, size_t count,
                       const char *what, FactorUse use, Manifest &manifest,
                       std::vector<std::vector<GridFactor>> &out) {
    const std::string path = memberPath(mapPath, key);
    const JsonValue *lists = requireMember(object, key, mapPath);
    if (!lists || !expectKind(*lists, JsonValue::Kind::Array, path))
      return false;
    if (lists->items.size() != count)
      return fail(path, "expected " + std::to_string(count) + " " + what +
                            ", got " + std::to_string(lists->items.size()));
    for (size_t i = 0; i < count; ++i) {
      const std::string listPath = elementPath(path, i);
      const JsonValue &factors = lists->items[i];
      if (!expectKind(factors, JsonValue::Kind::Array, listPath))
        return false;
      if (factors.items.empty())
        return fail(listPath, std::string("expected at least one ") +
                                  factorNoun(use));
      std::vector<GridFactor> product;
      for (size_t f = 0; f < factors.items.size(); ++f) {
        GridFactor factor;
        if (!readFactor(factors.items[f], elementPath(listPath, f), use,
                        manifest, factor))
          return false;
        product.push_back(factor);
      }
      out.push_back(std::move(product));
    }
    return true;
  }

  // The "tensor_map" object of a tensor_map param. The names it uses become
  // arguments of the manifest: the tensor a ptr, the sizes untyped.
  bool readTensorMap(const JsonValue &value, const std::string &path,
                     Manifest &manifest, TensorMapSpec &spec) {
    if (!expectKind(value, JsonValue::Kind::Object, path))
      return false;
    for (const auto &member : value.members)
      if (member.first != ATTN_MANIFEST_KEY_TENSOR &&
          member.first != ATTN_MANIFEST_KEY_DATA_TYPE &&
          member.first != ATTN_MANIFEST_KEY_DIMS &&
          member.first != ATTN_MANIFEST_KEY_STRIDES &&
          member.first != ATTN_MANIFEST_KEY_BOX &&
          member.first != ATTN_MANIFEST_KEY_SWIZZLE)
        return fail(path, "unknown key \"" + member.first +
                              "\" (expected " ATTN_MANIFEST_KEY_TENSOR
                              ", " ATTN_MANIFEST_KEY_DATA_TYPE
                              ", " ATTN_MANIFEST_KEY_DIMS
                              ", " ATTN_MANIFEST_KEY_STRIDES
                              ", " ATTN_MANIFEST_KEY_BOX
                              ", " ATTN_MANIFEST_KEY_SWIZZLE ")");

    const std::string tensorPath = memberPath(path, ATTN_MANIFEST_KEY_TENSOR);
    if (!readString(value, ATTN_MANIFEST_KEY_TENSOR, path, spec.tensorName))
      return false;
    if (spec.tensorName.empty())
      return fail(tensorPath, "must not be empty");
    if (!useArgument(manifest, spec.tensorName, true, ParamType::Ptr,
                     tensorPath, spec.tensor))
      return false;

    std::string dataType;
    if (!readString(value, ATTN_MANIFEST_KEY_DATA_TYPE, path, dataType))
      return false;
    if (dataType == ATTN_MANIFEST_DATA_BF16)
      spec.dataType = TensorMapDataType::BF16;
    else if (dataType == ATTN_MANIFEST_DATA_F16)
      spec.dataType = TensorMapDataType::F16;
    else if (dataType == ATTN_MANIFEST_DATA_U8)
      spec.dataType = TensorMapDataType::U8;
    else
      return fail(memberPath(path, ATTN_MANIFEST_KEY_DATA_TYPE),
                  "unknown data type \"" + dataType +
                      "\" (expected " ATTN_MANIFEST_DATA_BF16
                      ", " ATTN_MANIFEST_DATA_F16
                      " or " ATTN_MANIFEST_DATA_U8 ")");

    // The rank is the number of dims.
    const std::string dimsPath = memberPath(path, ATTN_MANIFEST_KEY_DIMS);
    const JsonValue *dims = requireMember(value, ATTN_MANIFEST_KEY_DIMS, path);
    if (!dims || !expectKind(*dims, JsonValue::Kind::Array, dimsPath))
      return false;
    const size_t rank = dims->items.size();
    if (rank < 1 || rank > kTensorMapMaxRank)
      return fail(dimsPath, "rank " + std::to_string(rank) +
                                " out of range (1 to " +
                                std::to_string(kTensorMapMaxRank) + " dims)");
    if (!readFactorLists(value, ATTN_MANIFEST_KEY_DIMS, path, rank, "dims",
                         FactorUse::TensorMapDim, manifest, spec.dims) ||
        !readFactorLists(value, ATTN_MANIFEST_KEY_STRIDES, path, rank - 1,
                         "strides (rank - 1)", FactorUse::TensorMapStride,
                         manifest, spec.strides))
      return false;

    int64_t swizzle;
    if (!readInteger(value, ATTN_MANIFEST_KEY_SWIZZLE, path, swizzle))
      return false;
    if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
      return fail(memberPath(path, ATTN_MANIFEST_KEY_SWIZZLE),
                  "swizzle " + std::to_string(swizzle) +
                      " bytes is not 0, 32, 64 or 128");
    spec.swizzle = uint32_t(swizzle);

    const std::string boxPath = memberPath(path, ATTN_MANIFEST_KEY_BOX);
    const JsonValue *box = requireMember(value, ATTN_MANIFEST_KEY_BOX, path);
    if (!box || !expectKind(*box, JsonValue::Kind::Array, boxPath))
      return false;
    if (box->items.size() != rank)
      return fail(boxPath, "expected " + std::to_string(rank) +
                               " entries (the rank), got " +
                               std::to_string(box->items.size()));
    for (size_t d = 0; d < rank; ++d) {
      const std::string entryPath = elementPath(boxPath, d);
      const JsonValue &entry = box->items[d];
      if (!expectKind(entry, JsonValue::Kind::Integer, entryPath))
        return false;
      if (entry.integer < 1 || entry.integer > kTensorMapMaxBox)
        return fail(entryPath, "box size " + std::to_string(entry.integer) +
                                   " out of range (1 to " +
                                   std::to_string(kTensorMapMaxBox) + ")");
      spec.box.push_back(uint32_t(entry.integer));
    }
    // The innermost box row is what one swizzle pattern spans.
    const uint64_t rowBytes =
        uint64_t(spec.box[0]) * tensorMapElementBytes(spec.dataType);
    const std::string rowText = std::to_string(spec.box[0]) + " " + dataType +
                                " elements are " + std::to_string(rowBytes) +
                                " bytes";
    if (rowBytes % kTensorMapAlignment != 0)
      return fail(elementPath(boxPath, 0),
                  rowText + ", not a multiple of " +
                      std::to_string(kTensorMapAlignment));
    if (spec.swizzle != 0 && rowBytes > spec.swizzle)
      return fail(elementPath(boxPath, 0),
                  rowText + ", more than the " +
                      std::to_string(spec.swizzle) + "-byte swizzle span");
    return true;
  }

  // What only holds once all kernels are read: a tensor_map param's name is
  // not also an argument (the caller would think it passes it), and its dims
  // and strides are not sized by a pointer.
  bool checkTensorMapNames(const Manifest &manifest) {
    for (size_t k = 0; k < manifest.kernels.size(); ++k) {
      const KernelSpec &kernel = manifest.kernels[k];
      for (size_t p = 0; p < kernel.params.size(); ++p) {
        const KernelParam &param = kernel.params[p];
        if (param.type != ParamType::TensorMap)
          continue;
        const std::string paramPath = elementPath(
            memberPath(elementPath(ATTN_MANIFEST_KEY_KERNELS, k),
                       ATTN_MANIFEST_KEY_PARAMS),
            p);
        if (manifest.findArgument(param.name) >= 0)
          return fail(memberPath(paramPath, ATTN_MANIFEST_KEY_NAME),
                      "tensor_map param \"" + param.name +
                          "\" is also the name of an argument");
        const std::string mapPath =
            memberPath(paramPath, ATTN_MANIFEST_KEY_TENSOR_MAP);
        const TensorMapSpec &spec = param.tensorMap;
        for (int strides = 0; strides < 2; ++strides) {
          const auto &lists = strides ? spec.strides : spec.dims;
          const char *key =
              strides ? ATTN_MANIFEST_KEY_STRIDES : ATTN_MANIFEST_KEY_DIMS;
          for (size_t d = 0; d < lists.size(); ++d)
            for (size_t f = 0; f < lists[d].size(); ++f) {
              const GridFactor &factor = lists[d][f];
              if (!factor.isArgument)
                continue;
              const ArgumentInfo &info = manifest.arguments[factor.argument];
              if (info.isParam && info.type == ParamType::Ptr)
                return fail(elementPath(elementPath(memberPath(mapPath, key),
                                                    d),
                                        f),
                            "argument \"" + factor.argumentName +
                                "\" is a pointer (ptr), not a size");
            }
        }
      }
    }
    return true;
  }

  bool readFixedArguments(const JsonValue &object, Manifest &manifest) {
    if (!expectKind(object, JsonValue::Kind::Object,
                    ATTN_MANIFEST_KEY_FIXED_ARGUMENTS))
      return false;
    for (const auto &[name, value] : object.members) {
      std::string path =
          std::string(ATTN_MANIFEST_KEY_FIXED_ARGUMENTS) + "." + name;
      long index = manifest.findArgument(name);
      if (index < 0)
        return fail(path, "not an argument of the kernels");
      if (!expectKind(value, JsonValue::Kind::Integer, path))
        return false;
      if (value.integer < 0)
        return fail(path, "negative value " + std::to_string(value.integer));
      manifest.fixedArguments.emplace_back(ArgumentIndex(index), value.integer);
    }
    return true;
  }

  bool readScratchList(const JsonValue &list, Manifest &manifest) {
    if (!expectKind(list, JsonValue::Kind::Array, ATTN_MANIFEST_KEY_SCRATCH))
      return false;
    // Arguments first seen from here on only size scratch buffers.
    size_t kernelArguments = manifest.arguments.size();
    for (size_t i = 0; i < list.items.size(); ++i) {
      std::string path = elementPath(ATTN_MANIFEST_KEY_SCRATCH, i);
      const JsonValue &value = list.items[i];
      if (!expectKind(value, JsonValue::Kind::Object, path))
        return false;
      ScratchSpec scratch;
      if (!readString(value, ATTN_MANIFEST_KEY_NAME, path, scratch.name))
        return false;
      const std::string namePath = memberPath(path, ATTN_MANIFEST_KEY_NAME);
      if (scratch.name.empty())
        return fail(namePath, "must not be empty");
      for (const ScratchSpec &earlier : manifest.scratch)
        if (earlier.name == scratch.name)
          return fail(namePath,
                      "duplicate scratch buffer \"" + scratch.name + "\"");
      if (!bindScratchName(manifest, scratch, namePath))
        return false;

      const std::string bytesPath = memberPath(path, ATTN_MANIFEST_KEY_BYTES);
      const JsonValue *bytes =
          requireMember(value, ATTN_MANIFEST_KEY_BYTES, path);
      if (!bytes || !expectKind(*bytes, JsonValue::Kind::Array, bytesPath))
        return false;
      if (bytes->items.empty())
        return fail(bytesPath, "expected at least one size factor");
      for (size_t f = 0; f < bytes->items.size(); ++f) {
        GridFactor factor;
        if (!readFactor(bytes->items[f], elementPath(bytesPath, f),
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
      const std::string bytesPath =
          memberPath(elementPath(ATTN_MANIFEST_KEY_SCRATCH, i),
                     ATTN_MANIFEST_KEY_BYTES);
      for (size_t f = 0; f < bytes.size(); ++f)
        if (bytes[f].isArgument &&
            manifest.arguments[bytes[f].argument].scratch >= 0)
          return fail(elementPath(bytesPath, f),
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
          return fail(path, quoted +
                                (param.type == ParamType::TensorMap
                                     ? " is a "
                                     : " is an ") +
                                paramTypeName(param.type) + " param of kernel " +
                                kernel.name +
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
  // Tile lists, grids and tensor maps of static shapes hold for their
  // sizes only.
  for (const auto &[index, value] : manifest.fixedArguments) {
    if (!given[index] || argumentValues[index] == value)
      continue;
    const std::string &name = manifest.arguments[index].name;
    error = "argument \"" + name +
            "\" = " + std::to_string(argumentValues[index]) +
            ", but the kernels were compiled for " + name + " = " +
            std::to_string(value) + " (a static shape)";
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

void capPersistentGrid(const KernelSpec &kernel, uint32_t multiprocessors,
                       uint32_t grid[3]) {
  if (kernel.persistentBlocksPerSM == 0 || multiprocessors == 0)
    return;
  uint64_t blocks = uint64_t(kernel.persistentBlocksPerSM) * multiprocessors;
  if (grid[0] > blocks)
    grid[0] = uint32_t(blocks);
}

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
    if (param.type == ParamType::TensorMap)
      continue; // encoded by the launcher (planTensorMaps)
    int64_t value = argumentValues[param.argument];
    void *slot = &slots[p];
    switch (param.type) {
    case ParamType::TensorMap:
      break;
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

std::string describeTensorMap(const KernelSpec &kernel,
                              const KernelParam &param) {
  return "kernel " + kernel.name + ": tensor map \"" + param.name + "\" of \"" +
         param.tensorMap.tensorName + "\"";
}

namespace {

// " (a = 1, b = 2)": the arguments among `factors`, for error messages.
std::string argumentValuesOf(const std::vector<GridFactor> &factors,
                             const std::vector<int64_t> &argumentValues) {
  std::string text;
  for (const GridFactor &factor : factors)
    if (factor.isArgument)
      text += (text.empty() ? " (" : ", ") + factor.argumentName + " = " +
              std::to_string(argumentValues[factor.argument]);
  return text.empty() ? text : text + ")";
}

std::string hexAddress(uint64_t address) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%llx",
                static_cast<unsigned long long>(address));
  return text;
}

} // namespace

bool checkTensorMapAddress(const KernelSpec &kernel, const KernelParam &param,
                           uint64_t address, std::string &error) {
  if (address == 0) {
    error = describeTensorMap(kernel, param) + ": null address";
    return false;
  }
  if (address % kTensorMapAlignment != 0) {
    error = describeTensorMap(kernel, param) + ": address " +
            hexAddress(address) + " is not " +
            std::to_string(kTensorMapAlignment) + "-byte aligned";
    return false;
  }
  return true;
}

bool planTensorMaps(const KernelSpec &kernel,
                    const std::vector<int64_t> &argumentValues,
                    const std::vector<bool> &given,
                    std::vector<PlannedTensorMap> &maps, std::string &error) {
  maps.clear();
  for (size_t p = 0; p < kernel.params.size(); ++p) {
    const KernelParam &param = kernel.params[p];
    if (param.type != ParamType::TensorMap)
      continue;
    const TensorMapSpec &spec = param.tensorMap;
    PlannedTensorMap map;
    map.param = p;
    // Negative sizes are the caller's error even for an empty tensor.
    for (int strides = 0; strides < 2; ++strides) {
      const auto &lists = strides ? spec.strides : spec.dims;
      for (size_t d = 0; d < lists.size(); ++d) {
        // Dims up to 2^32, strides below 2^40; a zero factor gives 0.
        FactorProduct product = multiplyFactors(
            lists[d], argumentValues,
            strides ? kTensorMapStrideLimit - 1 : kTensorMapMaxDim);
        const std::string what =
            strides ? "stride " + std::to_string(d + 1)
                    : "dim " + std::to_string(d);
        if (product.negative) {
          error = describeTensorMap(kernel, param) + ": argument \"" +
                  product.negative->argumentName + "\" = " +
                  std::to_string(argumentValues[product.negative->argument]) +
                  " is negative but sizes its " + what;
          return false;
        }
        if (product.tooLarge) {
          error = describeTensorMap(kernel, param) + ": " + what +
                  argumentValuesOf(lists[d], argumentValues) +
                  (strides ? " is 2^40 bytes or more" : " is above 2^32");
          return false;
        }
        if (strides) {
          map.strides[d] = product.value;
        } else {
          map.dims[d] = product.value;
          map.empty |= product.value == 0;
        }
      }
    }
    if (!map.empty) {
      for (size_t d = 0; d < spec.strides.size(); ++d)
        if (map.strides[d] % kTensorMapAlignment != 0) {
          error = describeTensorMap(kernel, param) + ": stride " +
                  std::to_string(d + 1) + " = " +
                  std::to_string(map.strides[d]) + " bytes" +
                  argumentValuesOf(spec.strides[d], argumentValues) +
                  " is not a multiple of " +
                  std::to_string(kTensorMapAlignment);
          return false;
        }
      // A scratch buffer the launcher provides has no address yet.
      if (given[spec.tensor]) {
        map.address = uint64_t(argumentValues[spec.tensor]);
        if (!checkTensorMapAddress(kernel, param, map.address, error))
          return false;
      } else {
        map.addressKnown = false;
      }
    }
    maps.push_back(map);
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
    if (!marshalParams(kernel, argumentValues, launch.paramSlots, error) ||
        !planTensorMaps(kernel, argumentValues, given,
                        launch.tensorMaps, error))
      return false;
    if (launch.grid[0] == 0 || launch.grid[1] == 0 || launch.grid[2] == 0)
      continue;
    // A kernel that runs reads every tensor it takes (scratch buffers may
    // be empty, hence null).
    for (const KernelParam &param : kernel.params) {
      if (param.type != ParamType::Ptr || argumentValues[param.argument] != 0 ||
          manifest.arguments[param.argument].scratch >= 0)
        continue;
      error = "kernel " + kernel.name + ": argument \"" + param.name +
              "\" is a null pointer";
      return false;
    }
    plan.launches.push_back(std::move(launch));
  }
  // Sized even when no kernel that uses them runs, for the same reason.
  return sizeScratch(manifest, argumentValues, given, plan.scratch, error);
}

} // namespace attn::launcher
