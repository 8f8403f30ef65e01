// fuzz/safetensors.cpp - libFuzzer target: the safetensors reader (io/safetensors.hpp): the
// 8-byte header length, the JSON header (nlohmann-json), dtypes, shapes and data offsets.
#include <nabla/io/safetensors.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nabla_fuzz::MemoryFile file;
  const std::string& path = file.hold(data, size);
  try {
    (void)nabla::io::load_safetensors(path);
  } catch (const nabla::Error&) {
  }
  return 0;
}
