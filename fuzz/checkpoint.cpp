// fuzz/checkpoint.cpp - libFuzzer target: nabla's checkpoint reader (io/checkpoint.hpp) and
// what reads a checkpoint's metadata and tensors back into state: the optimizer state
// (optim/state_io.hpp), the generator position and a module's tensors.
// The CRCs are not compared in fuzzing builds (io/crc32.hpp, kVerifyChecksums), so mutations
// reach the header, shape and offset checks.
#include <nabla/io/checkpoint.hpp>
#include <nabla/nn/dense.hpp>
#include <nabla/optim/state_io.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nabla_fuzz::MemoryFile file;
  const std::string& path = file.hold(data, size);
  try {
    const nabla::io::Checkpoint checkpoint = nabla::io::load_checkpoint(path);
    try {
      (void)nabla::io::optimizer_state_from<float>(checkpoint);
    } catch (const nabla::Error&) {
    }
    try {
      nabla::Generator generator(1);
      nabla::io::load_generator_state(checkpoint, generator);
    } catch (const nabla::Error&) {
    }
    try {
      nabla::nn::Dense<float> dense(3, 2);
      nabla::io::load_module_state(checkpoint, dense, "model.", /*strict=*/false);
    } catch (const nabla::Error&) {
    }
  } catch (const nabla::Error&) {
  }
  return 0;
}
