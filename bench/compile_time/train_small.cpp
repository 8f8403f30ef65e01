// bench/compile_time/train_small.cpp - the compile-time probe of docs/performance.md ("Compile
// time"): what a user's first program looks like (one include, a small model trained with the
// Keras-style fit and with a hand-written loop), timed at -O2 by bench/compile_time/measure.sh.
// Not part of any build target. -DPROBE_FIT=0 or -DPROBE_LOOP=0 leaves one half out, so the
// script can say which half costs what. It also runs: ./a.out prints the epochs and a loss, and
// fails unless training lowered the loss (the CTest precompiled_probe runs it against
// nabla::precompiled).
#include <cstdio>
#include <nabla/nabla.hpp>

#ifndef PROBE_FIT
#define PROBE_FIT 1
#endif
#ifndef PROBE_LOOP
#define PROBE_LOOP 1
#endif

namespace nb = nabla;

int main() {
  auto x = nb::randn<float>({256, 4}, /*seed=*/1);
  auto y = nb::sum(x, {1}, /*keepdim=*/true) * 0.5f + 1.0f;

#if PROBE_FIT
  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 16).add<nb::nn::ReLU>().add<nb::nn::Dense>(16, 1);
  model.compile(nb::optim::Adam<float>::Options{.lr = 1e-2}, nb::loss::MeanSquaredError{});
  auto history = model.fit(x, y, {.epochs = 5, .batch_size = 32, .verbose = 0});
  std::printf("fit: %zu epochs\n", history.size());
  if (history.size() != 5) return 1;
#endif

#if PROBE_LOOP
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(4, 16).add<nb::nn::Tanh>().add<nb::nn::Dense>(16, 1);
  nb::optim::AdamW<float> optimizer(net.parameters(), {.lr = 1e-2});
  float first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    auto loss = nb::loss::mse(net(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    last = loss.item();
    if (step == 0) first = last;
  }
  std::printf("loop: loss %.4f (first step %.4f)\n", last, first);
  if (!(last < 0.5f * first)) return 1;
#endif
  return 0;
}
