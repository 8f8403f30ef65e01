// fuzz/model_file.cpp - libFuzzer target: model files of the Keras-style model
// (train/model_file.hpp): load_model<float> (the layer-configuration lines parsed and the
// layers rebuilt) and model.load into a compiled model (configuration compared, optimizer
// state, epoch and generator read back).
#include <nabla/nabla.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nabla_fuzz::MemoryFile file;
  const std::string& path = file.hold(data, size);
  try {
    auto model = nabla::train::load_model<float>(path);
    (void)model->summary();
  } catch (const nabla::Error&) {
  }
  try {
    // The model of the seed files (fuzz/corpus/model_file/, scripts/fuzz.sh writes them).
    nabla::Model<float> model;
    model.add<nabla::nn::Dense>(3, 4).add<nabla::nn::ReLU>().add<nabla::nn::Dropout>(0.5).add<nabla::nn::Dense>(4, 1);
    model.compile(nabla::optim::AdamOptions{.lr = 1e-3}, nabla::loss::MSE{});
    const nabla::Generator saved = nabla::default_generator();
    model.load(path);
    nabla::default_generator() = saved;
  } catch (const nabla::Error&) {
  }
  return 0;
}
