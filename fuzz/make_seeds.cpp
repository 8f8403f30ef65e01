// fuzz/make_seeds.cpp - writes the binary seed files of fuzz/corpus/ with nabla's own writers
// (checkpoints, model files, safetensors, .npy), so the seeds are valid files of the current
// format. The text seeds (CSV, token streams, e-mails, Brown files, layer lines) are written
// by hand. Rebuild them after a format change:
//   g++ -std=c++20 -O1 -Iinclude -I/usr/include/eigen3 -fopenmp fuzz/make_seeds.cpp -o /tmp/make_seeds
//   /tmp/make_seeds fuzz/corpus
#include <filesystem>
#include <nabla/nabla.hpp>

namespace nb = nabla;

int main(int argc, char** argv) {
  const std::filesystem::path root = argc > 1 ? argv[1] : "fuzz/corpus";
  for (const char* target : {"checkpoint", "model_file", "safetensors", "npy"})
    std::filesystem::create_directories(root / target);

  // Checkpoints: every dtype, a scalar, an empty tensor, metadata.
  nb::io::Checkpoint small;
  small.set_tensor("a", nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  small.set_tensor("b", nb::from_vector<double>({0.5}, {}));
  small.set_tensor("c", nb::IndexTensor(nb::Shape{0, 4}));
  small.set_tensor("model.weight", nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  small.set_tensor("model.bias", nb::from_vector<float>({1, 2}, {2}));
  small.set_metadata("epoch", 3);
  small.set_metadata("rng.seed", 42);
  small.set_metadata("rng.offset", 7);
  nb::io::save_checkpoint((root / "checkpoint/small.ckpt").string(), small);
  nb::io::Checkpoint empty;
  nb::io::save_checkpoint((root / "checkpoint/empty.ckpt").string(), empty);
  {
    nb::nn::Dense<float> dense(3, 2);
    nb::optim::Adam<float> adam(dense.parameters(), {.lr = 1e-3});
    auto loss = nb::sum(dense(nb::ones<float>({1, 3})));
    loss.backward();
    adam.step();
    nb::io::Checkpoint with_optimizer;
    nb::io::add_module_state(with_optimizer, dense);
    nb::io::add_optimizer_state(with_optimizer, adam);
    nb::io::add_generator_state(with_optimizer, nb::Generator(5));
    nb::io::save_checkpoint((root / "checkpoint/optimizer.ckpt").string(), with_optimizer);
  }

  // Model files: the fuzz target's model, compiled and not; and one of every built-in layer.
  nb::Model<float> model;
  model.add<nb::nn::Dense>(3, 4).add<nb::nn::ReLU>().add<nb::nn::Dropout>(0.5).add<nb::nn::Dense>(4, 1);
  model.save((root / "model_file/uncompiled.ckpt").string());
  model.compile(nb::optim::AdamOptions{.lr = 1e-3}, nb::loss::MSE{});
  model.fit(nb::ones<float>({4, 3}), nb::ones<float>({4, 1}), {.epochs = 1, .batch_size = 2, .verbose = 0});
  model.save((root / "model_file/compiled.ckpt").string());
  nb::Model<float> layers;
  layers.add<nb::nn::Embedding>(5, 3)
      .add<nb::nn::LSTM>(3, 2, nb::nn::LSTMOptions{.num_layers = 2, .return_sequences = true})
      .add<nb::nn::Tanh>()
      .add<nb::nn::LeakyReLU>(0.1)
      .add<nb::nn::GELU>()
      .add<nb::nn::Dense>(2, 2, nb::nn::DenseOptions{.bias = false})
      .add<nb::nn::Softmax>(-1)
      .add<nb::nn::Sigmoid>();
  layers.save((root / "model_file/layers.ckpt").string());

  // safetensors and .npy.
  nb::save_safetensors((root / "safetensors/small.safetensors").string(), small);
  nb::io::Checkpoint no_metadata;
  no_metadata.set_tensor("x", nb::from_vector<float>({1, 2}, {2}));
  nb::save_safetensors((root / "safetensors/one.safetensors").string(), no_metadata);
  nb::save_npy((root / "npy/f4.npy").string(), nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  nb::save_npy((root / "npy/f8.npy").string(), nb::from_vector<double>({1.5}, {}));
  nb::save_npy((root / "npy/i8.npy").string(), nb::IndexTensor(nb::Shape{0, 2}));
  nb::save_npy((root / "npy/vector.npy").string(), nb::from_vector<float>({1, 2, 3}, {3}));
  return 0;
}
