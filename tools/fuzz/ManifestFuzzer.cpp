//===- ManifestFuzzer.cpp - libFuzzer target: the launcher's manifest -----===//
//
// Arbitrary bytes as a kernel manifest (docs/design/GpuArtifacts.md): the
// launcher's JSON reader and manifest checks must refuse with a message,
// never crash or read out of bounds. No driver is involved.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  attn::launcher::Manifest manifest;
  std::string error;
  std::string_view text(reinterpret_cast<const char *>(data), size);
  if (!attn::launcher::parseManifest(text, manifest, error) && error.empty())
    __builtin_trap(); // a refusal must say why
  return 0;
}
