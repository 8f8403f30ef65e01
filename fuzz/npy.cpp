// fuzz/npy.cpp - libFuzzer target: the .npy reader (io/npy.hpp): magic, version, header
// length, the Python-literal header dict, dtype, shape and data size.
#include <nabla/io/npy.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nabla_fuzz::MemoryFile file;
  const std::string& path = file.hold(data, size);
  try {
    (void)nabla::io::load_npy_variant(path);
  } catch (const nabla::Error&) {
  }
  return 0;
}
