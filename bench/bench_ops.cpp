// The building blocks of a training step, each on its own: elementwise ops and reductions
// (GB/s: bytes read + written per second), the fused softmax cross-entropy forward + backward,
// the embedding lookup and its scatter-add backward, and one fused Adam step.
//
// Sizes are those of the language model of bench_lm.cpp, config L (batch 32 x 35 steps, hidden
// 256, vocabulary 10,000): 1120 x 10000 logits, a 10000 x 128 embedding table, 4.2 M parameters.
//
//   ./build/bench/bench_ops --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <nabla/nabla.hpp>
#include <vector>

namespace nb = nabla;

namespace {

constexpr std::int64_t kRows = 32 * 35, kVocabulary = 10000, kEmbedding = 128;

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

/// add(a, b) on 4 M floats: reads 2, writes 1 per element.
void elementwise_add(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const std::int64_t n = std::int64_t{1} << 22;
  const nb::Tensor<float> a = nb::randn<float>({n}, 1), b = nb::randn<float>({n}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(nb::add(a, b).data());
  set_bytes(state, 3.0 * 4 * static_cast<double>(n));
}

/// add with broadcasting: [1120, 10000] + [10000] (a bias), the decoder's shape.
void broadcast_add(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const nb::Tensor<float> a = nb::randn<float>({kRows, kVocabulary}, 1), bias = nb::randn<float>({kVocabulary}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(nb::add(a, bias).data());
  set_bytes(state, 2.0 * 4 * static_cast<double>(kRows * kVocabulary));
}

/// tanh on 4 M floats (a transcendental: compute-bound, not memory-bound).
void unary_tanh(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const std::int64_t n = std::int64_t{1} << 22;
  const nb::Tensor<float> a = nb::randn<float>({n}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(nb::tanh(a).data());
  set_bytes(state, 2.0 * 4 * static_cast<double>(n));
}

/// sum over the last dimension of [1120, 10000], and over everything.
void reduce_sum_rows(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const nb::Tensor<float> a = nb::randn<float>({kRows, kVocabulary}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(nb::sum(a, {1}).data());
  set_bytes(state, 4.0 * static_cast<double>(kRows * kVocabulary));
}

void reduce_sum_all(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const nb::Tensor<float> a = nb::randn<float>({kRows, kVocabulary}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(nb::sum(a).item());
  set_bytes(state, 4.0 * static_cast<double>(kRows * kVocabulary));
}

/// Fused softmax cross-entropy over [1120, 10000] logits, forward + backward: reads the logits
/// twice (forward, backward) and writes their gradient once.
void softmax_cross_entropy(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  nb::Tensor<float> logits = nb::randn<float>({kRows, kVocabulary}, 1);
  logits.requires_grad_(true);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(kRows));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>((i * 7919) % kVocabulary);
  const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {kRows});
  for (auto _ : state) {
    nb::loss::cross_entropy(logits, targets).backward();
    benchmark::DoNotOptimize(logits.grad().data());
    logits.zero_grad();
  }
  set_bytes(state, 3.0 * 4 * static_cast<double>(kRows * kVocabulary));
}

/// Embedding lookup of 1120 ids in a 10000 x 128 table, forward + backward (scatter-add into
/// the used rows only).
void embedding_forward_backward(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  nb::nn::Embedding<float> embedding(kVocabulary, kEmbedding, {.seed = 1});
  std::vector<std::int64_t> ids(static_cast<std::size_t>(kRows));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>((i * 7919) % kVocabulary);
  const nb::IndexTensor inputs = nb::from_vector<std::int64_t>(ids, {32, 35});
  const nb::Tensor<float> output_gradient = nb::ones<float>({32, 35, kEmbedding});
  for (auto _ : state) {
    embedding.forward(inputs).backward(output_gradient);
    benchmark::DoNotOptimize(embedding.weight().grad().data());
    embedding.zero_grad();
  }
  set_bytes(state, 3.0 * 4 * static_cast<double>(kRows * kEmbedding));
}

/// One Adam step over the L model's 4.2 M parameters: reads parameter, gradient and both
/// moments, writes parameter and moments (7 x 4 bytes per parameter).
void adam_step(benchmark::State& state) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  const std::vector<nb::Shape> shapes = {{kVocabulary, kEmbedding}, {1024, kEmbedding}, {1024, 256}, {1024}, {1024},
                                         {kVocabulary, 256},        {kVocabulary}};
  std::vector<nb::Tensor<float>> parameters;
  double count = 0;
  std::uint64_t seed = 1;
  for (const auto& shape : shapes) {
    nb::Tensor<float> parameter = nb::randn<float>(shape, seed++);
    parameter.requires_grad_(true);
    nb::sum(parameter).backward();  // a gradient of ones
    parameters.push_back(parameter);
    count += static_cast<double>(parameter.numel());
  }
  nb::optim::Adam<float> optimizer(parameters, {.lr = 1e-3});
  for (auto _ : state) optimizer.step();
  set_bytes(state, 7.0 * 4 * count);
  state.counters["parameters"] = count;
}

#define NABLA_BENCH(function) \
  BENCHMARK(function)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond)
NABLA_BENCH(elementwise_add);
NABLA_BENCH(broadcast_add);
NABLA_BENCH(unary_tanh);
NABLA_BENCH(reduce_sum_rows);
NABLA_BENCH(reduce_sum_all);
NABLA_BENCH(softmax_cross_entropy);
NABLA_BENCH(embedding_forward_backward);
NABLA_BENCH(adam_step);

}  // namespace

BENCHMARK_MAIN();
