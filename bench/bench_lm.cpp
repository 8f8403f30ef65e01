// Whole training and inference steps of the models nabla ships, the configurations of
// bench/compare_pytorch.py (which times the same models in PyTorch); bench/lm_models.hpp builds
// the language models (bench_cuda.cpp times the same ones on the GPU):
//
//   LM S   Embedding(1000, 64)  -> LSTM(64 -> 128)            -> Dense(128 -> 1000)
//   LM L   Embedding(10000, 128) -> LSTM(128 -> 256)          -> Dense(256 -> 10000)
//   LM XL  Embedding(10000, 256) -> LSTM(256 -> 1024, 2 layers) -> Dense(1024 -> 10000)
//          batch 32 x 35 steps, cross-entropy over every step, Adam; a training step is
//          forward + loss + backward + Adam, an inference step is the forward under NoGradGuard.
//   classifier  Embedding(20000, 128) -> LSTM(128 -> 128, last state) -> Dense(128 -> 1) +
//          sigmoid, binary cross-entropy, Adam, batch 64 x 200 steps (the Keras-style spam model).
//
// Counters: tokens/s (batch x steps per step), GFLOP/s of the model's GEMM FLOPs (training:
// 3x the forward's, forward + two backward GEMMs) and % of the FP32 peak measured here.
//
//   ./build/bench/bench_lm --benchmark_min_time=2 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "lm_models.hpp"
#include "peak.hpp"
#include "run.hpp"

namespace nb = nabla;

namespace {

using bench::forward_flops;
using bench::kBatch;
using bench::kExtraLarge;
using bench::kLarge;
using bench::kSmall;
using bench::kSteps;
using bench::LanguageModel;
using bench::LanguageModelConfig;
using bench::random_ids;

void set_counters(benchmark::State& state, double tokens, double flops, int threads) {
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOP/s"] = bench::peak_flops(threads) * 1e-9;
}

void language_model_training(benchmark::State& state, LanguageModelConfig config) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  LanguageModel model(config);
  nb::optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-3});
  const nb::IndexTensor inputs = random_ids(config.vocabulary, kBatch, kSteps, 4);
  const nb::IndexTensor targets = random_ids(config.vocabulary, kBatch, kSteps, 5);
  for (auto _ : state) {
    const nb::Tensor<float> loss = nb::loss::cross_entropy(model.logits(inputs), targets);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item());
  }
  set_counters(state, kBatch * kSteps, 3 * forward_flops(config, kBatch * kSteps), threads);
}

void language_model_inference(benchmark::State& state, LanguageModelConfig config) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  LanguageModel model(config);
  const nb::IndexTensor inputs = random_ids(config.vocabulary, kBatch, kSteps, 4);
  nb::NoGradGuard no_grad;
  for (auto _ : state) {
    const nb::Tensor<float> logits = model.logits(inputs);
    benchmark::DoNotOptimize(logits.data());
  }
  set_counters(state, kBatch * kSteps, forward_flops(config, kBatch * kSteps), threads);
}

void classifier_training(benchmark::State& state) {
  constexpr std::int64_t kVocabulary = 20000, kEmbedding = 128, kHidden = 128, kClassifierBatch = 64, kLength = 200;
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  nb::nn::Embedding<float> embedding(kVocabulary, kEmbedding, {.seed = 1});
  nb::nn::LSTM<float> lstm(kEmbedding, kHidden, {.seed = 2});  // the last state only (Keras default)
  nb::nn::Dense<float> output(kHidden, 1, {.seed = 3});
  std::vector<nb::Tensor<float>> parameters;
  for (const auto* module : std::vector<const nb::nn::Module<float>*>{&embedding, &lstm, &output})
    for (const auto& parameter : module->parameters()) parameters.push_back(parameter);
  nb::optim::Adam<float> optimizer(parameters, {.lr = 1e-3});
  const nb::IndexTensor inputs = random_ids(kVocabulary, kClassifierBatch, kLength, 4);
  std::vector<float> label_values(kClassifierBatch);
  for (std::size_t i = 0; i < label_values.size(); ++i) label_values[i] = static_cast<float>(i % 2);
  const nb::Tensor<float> labels = nb::from_vector<float>(label_values, {kClassifierBatch, 1});
  for (auto _ : state) {
    const nb::Tensor<float> probability = nb::sigmoid(output(lstm(embedding.forward(inputs))));
    const nb::Tensor<float> loss = nb::loss::binary_cross_entropy(probability, labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item());
  }
  const double tokens = kClassifierBatch * kLength;
  set_counters(state, tokens, 3 * tokens * 2.0 * 4 * kHidden * (kEmbedding + kHidden), threads);
}

void register_all() {
  const std::vector<std::pair<std::string, LanguageModelConfig>> configs = {
      {"S", kSmall}, {"L", kLarge}, {"XL", kExtraLarge}};
  for (const auto& [name, config] : configs) {
    benchmark::RegisterBenchmark(("lm_train/" + name).c_str(),
                                 [config](benchmark::State& state) { language_model_training(state, config); })
        ->Arg(1)
        ->Arg(2)
        ->ArgName("threads")
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("lm_inference/" + name).c_str(),
                                 [config](benchmark::State& state) { language_model_inference(state, config); })
        ->Arg(1)
        ->Arg(2)
        ->ArgName("threads")
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("classifier_train", classifier_training)
      ->Arg(1)
      ->Arg(2)
      ->ArgName("threads")
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) { return bench::run(argc, argv, register_all); }
