// A user's program: one include, one tensor, a model built in a function and returned by
// value (modules are movable), kept in a vector, and the Keras-style model.
// Exit code 0 means nabla was found and works. It prints the trained weights (full precision);
// given the file another build of it printed (`consumer_precompiled consumer-output.txt`, as
// run_consumer_test.cmake does), it also checks that its own weights equal those, to float
// rounding (the two builds may be compiled with different vector instructions).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nabla/nabla.hpp>
#include <utility>
#include <vector>

namespace {
nabla::nn::Sequential<float> make_model() {
  nabla::nn::Sequential<float> model;
  model.add<nabla::nn::Dense>(3, 4).add<nabla::nn::ReLU>().add<nabla::nn::Dense>(4, 1);
  return model;
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<double> weights;
  auto t = nabla::zeros<float>({2, 3});
  if (t.numel() != 6) return 1;
  std::vector<nabla::nn::Sequential<float>> models;
  nabla::nn::Sequential<float> model = make_model();
  models.push_back(std::move(model));
  if (models.front().parameter_count() != 3 * 4 + 4 + 4 + 1) return 2;
  if (models.front()(t).shape() != nabla::Shape{2, 1}) return 3;

  nabla::Model<float> keras;
  keras.add<nabla::nn::Dense>(3, 1);
  keras.compile(nabla::optim::SGDOptions{.lr = 0.1}, nabla::loss::MSE{});
  keras.fit(t, nabla::zeros<float>({2, 1}), {.epochs = 1, .verbose = 0});
  for (const auto& parameter : keras.parameters())
    for (float value : parameter.to_vector()) weights.push_back(value);

  // A few steps of a hand-written loop on data that moves the weights (the fit above has zero
  // inputs), through matmul, broadcasting, a unary op, a reduction, backward and Adam.
  const auto x = nabla::randn<float>({16, 3}, /*seed=*/7);
  const auto y = nabla::sum(nabla::tanh(x), {1}, /*keepdim=*/true) * 0.5f + 1.0f;
  nabla::nn::Sequential<float> net = make_model();
  nabla::optim::Adam<float> adam(net.parameters(), {.lr = 1e-2});
  for (int step = 0; step < 20; ++step) {
    auto loss = nabla::loss::mse(net(x), y);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  for (const auto& parameter : net.parameters())
    for (float value : parameter.to_vector()) weights.push_back(value);
  for (double value : weights) std::printf("%.9g\n", value);
  if (argc > 1) {
    std::ifstream reference_file(argv[1]);
    std::vector<double> reference;
    for (double value; reference_file >> value;) reference.push_back(value);
    if (reference.size() != weights.size()) return 5;
    for (std::size_t i = 0; i < weights.size(); ++i)
      if (std::abs(weights[i] - reference[i]) > 1e-5 + 1e-4 * std::abs(reference[i])) {
        std::fprintf(stderr, "weight %zu: %.9g here, %.9g in %s\n", i, weights[i], reference[i], argv[1]);
        return 6;
      }
  }
  std::vector<nabla::Model<float>> keras_models;
  keras_models.push_back(std::move(keras));
  return keras_models.front().completed_epochs() == 1 ? 0 : 4;
}
