// bench/compile_time/train_small.cpp - the compile-time probe of docs/performance.md ("Compile
// time"): what a user's first program looks like (one include, a small model trained with the
// Keras-style fit and with a hand-written loop), timed at -O2. Not part of any build target;
// docs/performance.md gives the command. It also runs: ./a.out prints two losses.
#include <cstdio>
#include <nabla/nabla.hpp>

namespace nb = nabla;

int main() {
  auto x = nb::randn<float>({256, 4}, /*seed=*/1);
  auto y = nb::sum(x, {1}, /*keepdim=*/true) * 0.5f + 1.0f;

  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 16).add<nb::nn::ReLU>().add<nb::nn::Dense>(16, 1);
  model.compile(nb::optim::Adam<float>::Options{.lr = 1e-2}, nb::loss::MeanSquaredError{});
  auto history = model.fit(x, y, {.epochs = 5, .batch_size = 32, .verbose = 0});

  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(4, 16).add<nb::nn::Tanh>().add<nb::nn::Dense>(16, 1);
  nb::optim::AdamW<float> optimizer(net.parameters(), {.lr = 1e-2});
  float last = 0;
  for (int step = 0; step < 50; ++step) {
    auto loss = nb::loss::mse(net(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    last = loss.item();
  }
  std::printf("fit: %zu epochs; loop: loss %.4f\n", history.size(), last);
  return 0;
}
