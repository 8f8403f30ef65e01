// bench/compile_time/train_wide.cpp - a wider compile-time probe than train_small.cpp (docs/performance.md,
// "Compile time"): the Keras-style model with more layers, a metric, save and load, and Embedding, LSTM,
// MultiheadAttention and a few ops by hand, all in float and in double. `WIDE=1 bash
// bench/compile_time/measure.sh` times it; it also runs and prints one number per element type.
#include <cstdio>
#include <nabla/nabla.hpp>
#include <string>
namespace nb = nabla;
template <typename T>
double run(const std::string& path) {
  auto x = nb::randn<T>({8, 6}, 3);
  auto ids = nb::from_vector<std::int64_t>({1, 2, 0, 3, 1, 2, 0, 3}, {8});
  nb::Model<T> model;
  model.template add<nb::nn::Dense>(6, 8)
      .template add<nb::nn::GELU>()
      .template add<nb::nn::LayerNorm>(8)
      .template add<nb::nn::Dropout>(0.1)
      .template add<nb::nn::Dense>(8, 4);
  model.compile(nb::optim::AdamWOptions{.lr = 1e-2}, nb::loss::CrossEntropy{}, {nb::metrics::Accuracy{}});
  auto history =
      model.fit(x, nb::from_vector<T>({1, 2, 0, 3, 1, 2, 0, 3}, {8}), {.epochs = 2, .batch_size = 4, .verbose = 0});
  auto p = model.predict(x);
  nb::nn::Embedding<T> emb(5, 6);
  nb::nn::LSTM<T> lstm(6, 5);
  auto seq = emb(nb::from_vector<T>({1, 2, 3, 4, 0, 1}, {2, 3}));
  auto h = lstm(seq);
  nb::nn::MultiheadAttention<T> mha(6, 2, {.batch_first = true});
  auto [a, w] = mha(seq, seq, seq);
  auto l = nb::mean(nb::softmax(h, -1)) + nb::sum(a) + nb::loss::cross_entropy(p, ids) + nb::var(x) + nb::max(x);
  l.backward();
  nb::optim::SGD<T> sgd(lstm.parameters(), {.lr = 0.1});
  sgd.step();
  nb::optim::clip_grad_norm_(mha.parameters(), 1.0);
  auto c = nb::concat<T>({x, x}, 0).narrow(0, 2, 3).transpose(0, 1).contiguous();
  auto am = nb::argmax(c, 1);
  model.save(path);
  nb::Model<T> m2;
  m2.template add<nb::nn::Dense>(6, 8)
      .template add<nb::nn::GELU>()
      .template add<nb::nn::LayerNorm>(8)
      .template add<nb::nn::Dropout>(0.1)
      .template add<nb::nn::Dense>(8, 4);
  m2.compile(nb::optim::AdamWOptions{.lr = 1e-2}, nb::loss::CrossEntropy{}, {nb::metrics::Accuracy{}});
  m2.load(path);
  return static_cast<double>(l.item()) + history.size() + am.numel() +
         static_cast<double>(nb::sum(m2.predict(x) - p).item());
}
int main() {
  const std::string path = "train_wide_probe.nabla";
  std::printf("%.6f %.6f\n", run<float>(path), run<double>(path));
  std::remove(path.c_str());
  return 0;
}
