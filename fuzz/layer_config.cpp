// fuzz/layer_config.cpp - libFuzzer target: one line of a model file's "model.config" (the
// layer's constructor call, e.g. "LSTM(64, 128, num_layers=2)") through LayerConfigParser and
// build_layer, against a checkpoint that stores a few thousand values per layer (so small
// layers are really built and big ones are refused by the stored-values bound).
#include <nabla/nabla.hpp>

#include "fuzz_input.hpp"

namespace {
const nabla::io::Checkpoint& stored_weights() {
  static const nabla::io::Checkpoint checkpoint = [] {
    nabla::io::Checkpoint c;
    c.set_tensor("model.0.weight", nabla::zeros<float>({64, 64}));
    c.set_tensor("model.0.0.weight", nabla::zeros<float>({32, 32}));
    return c;
  }();
  return checkpoint;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  try {
    const auto spec = nabla::train::detail::LayerConfigParser(line, "fuzz: layer 0").parse();
    auto layer = nabla::train::detail::build_layer<float>(spec, "fuzz: layer 0", stored_weights(), "model.0.");
    // What save() would write for it must parse back to the same layer.
    const std::string written = nabla::train::detail::layer_config(*layer);
    const auto again = nabla::train::detail::LayerConfigParser(written, "fuzz: again").parse();
    if (again.type != spec.type) __builtin_trap();
  } catch (const nabla::Error&) {
  }
  return 0;
}
