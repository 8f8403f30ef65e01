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
//   gpt_train/S  nn::GPT, 4 layers, 4 heads, width 128, context 64, vocabulary 10k, batch 32 x 64
//   gpt_train/M  nn::GPT, 6 layers, 6 heads, width 384, context 256, vocabulary 10k, batch 8 x 256
//          a training step: forward over the whole context + cross-entropy + backward + AdamW.
//   gpt_generate  GPT-2 124M's shape (12 layers, 12 heads, width 768, context 1024, vocabulary
//          50257), random weights, batch 1: a 16-token prompt, then 128 new tokens (greedy) with
//          the KV cache; tokens/s counts the new tokens.
//
// Counters: tokens/s (batch x steps per step), GFLOP/s of the model's GEMM FLOPs (training:
// 3x the forward's, forward + two backward GEMMs) and % of the FP32 peak measured here.
// Every bench runs one untimed step first, as compare_pytorch.py's PyTorch side does: the first
// step allocates (Adam's moments, the caching of big blocks) and page-faults it all in, and with a
// step of about a second (gpt_train/M) Google Benchmark would otherwise time that one cold step.
//
//   ./build/bench/bench_lm --benchmark_min_time=2 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//
// NABLA_MATMUL_PRECISION=medium (or high, highest) in the environment sets
// nabla::set_float32_matmul_precision before the benches run (read here, not by the library):
// "medium" times the bf16 GEMM path on a CPU with AVX512_BF16 (docs/performance.md, Session 9).
// NABLA_PROFILE=N: after each bench, N more steps timed op by op (nabla::profiler), printed to
// stderr: where a step's time goes.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nabla/nabla.hpp>
#include <set>
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

/// Minor page faults and blocks taken from the system (not from nabla's block cache) per timed
/// step: both should be about 0 once the untimed warm-up step has run (issue 17).
class OverheadCounters {
 public:
  static long minor_faults() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  }
  OverheadCounters() : faults_(minor_faults()), allocations_(allocations()) {}
  void report(benchmark::State& state) const {
    const double steps = static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
    state.counters["faults/step"] = static_cast<double>(minor_faults() - faults_) / steps;
    state.counters["allocs/step"] = static_cast<double>(allocations() - allocations_) / steps;
  }

 private:
  static std::uint64_t allocations() { return nb::detail::HostBlockCache::instance().system_allocations(); }
  long faults_;
  std::uint64_t allocations_;
};

/// With NABLA_PROFILE=N in the environment, times N more steps op by op after the timed loop
/// (nabla::profiler, autograd/profiler.hpp) and prints the table to stderr, once per bench.
template <typename Step>
void profile_steps(const benchmark::State& state, const std::string& bench, const Step& step) {
  const char* setting = std::getenv("NABLA_PROFILE");
  if (setting == nullptr) return;
  const std::string label = bench + "/threads:" + std::to_string(state.range(0));
  static std::set<std::string> printed;  // Google Benchmark runs a bench more than once
  if (!printed.insert(label).second) return;
  const int steps = std::max(1, std::atoi(setting));
  // As many untimed steps first: Google Benchmark's first (short) run of a bench is where this
  // lands, before glibc's malloc thresholds have settled, and a fault-ridden step is no profile.
  for (int i = 0; i < steps; ++i) step();
  const long faults = OverheadCounters::minor_faults();
  nb::profiler::start();
  for (int i = 0; i < steps; ++i) step();
  nb::profiler::stop();
  std::fprintf(stderr, "\n%s: %d steps op by op (NABLA_PROFILE), %.1f minor page faults a step\n%s\n", label.c_str(),
               steps, static_cast<double>(OverheadCounters::minor_faults() - faults) / steps,
               nb::profiler::table(30).c_str());
}

/// "vocabulary 10000, embedding 128, hidden 256, 1 layer(s)": a language model's profile label.
std::string describe(const LanguageModelConfig& c) {
  return "vocabulary " + std::to_string(c.vocabulary) + ", embedding " + std::to_string(c.embedding) + ", hidden " +
         std::to_string(c.hidden) + ", " + std::to_string(c.layers) + " layer(s)";
}

void language_model_training(benchmark::State& state, LanguageModelConfig config) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  LanguageModel model(config);
  nb::optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-3});
  const nb::IndexTensor inputs = random_ids(config.vocabulary, kBatch, kSteps, 4);
  const nb::IndexTensor targets = random_ids(config.vocabulary, kBatch, kSteps, 5);
  const auto step = [&] {
    const nb::Tensor<float> loss = nb::loss::cross_entropy(model.logits(inputs), targets);
    optimizer.zero_grad({.set_to_none = true});  // PyTorch 2's default: first gradients handed over
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item());
  };
  step();  // warm-up, untimed (see the top of the file)
  const OverheadCounters overheads;
  for (auto _ : state) step();
  overheads.report(state);
  profile_steps(state, "lm_train " + describe(config), step);
  set_counters(state, kBatch * kSteps, 3 * forward_flops(config, kBatch * kSteps), threads);
}

void language_model_inference(benchmark::State& state, LanguageModelConfig config) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  LanguageModel model(config);
  const nb::IndexTensor inputs = random_ids(config.vocabulary, kBatch, kSteps, 4);
  nb::NoGradGuard no_grad;
  benchmark::DoNotOptimize(model.logits(inputs).data());  // warm-up, untimed (see the top of the file)
  const OverheadCounters overheads;
  for (auto _ : state) {
    const nb::Tensor<float> logits = model.logits(inputs);
    benchmark::DoNotOptimize(logits.data());
  }
  overheads.report(state);
  profile_steps(state, "lm_inference " + describe(config),
                [&] { benchmark::DoNotOptimize(model.logits(inputs).data()); });
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
  const auto step = [&] {
    const nb::Tensor<float> probability = nb::sigmoid(output(lstm(embedding.forward(inputs))));
    const nb::Tensor<float> loss = nb::loss::binary_cross_entropy(probability, labels);
    optimizer.zero_grad({.set_to_none = true});  // PyTorch 2's default: first gradients handed over
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item());
  };
  step();  // warm-up, untimed (see the top of the file)
  const OverheadCounters overheads;
  for (auto _ : state) step();
  overheads.report(state);
  profile_steps(state, "classifier_train", step);
  const double tokens = kClassifierBatch * kLength;
  set_counters(state, tokens, 3 * tokens * 2.0 * 4 * kHidden * (kEmbedding + kHidden), threads);
}

// ---- GPT ------------------------------------------------------------------------------------

struct GPTConfig {
  nb::nn::GPTOptions options;
  std::int64_t batch;
};
const GPTConfig kGPTSmall{{.vocab_size = 10000, .context = 64, .layers = 4, .heads = 4, .width = 128, .seed = 1}, 32};
const GPTConfig kGPTMedium{{.vocab_size = 10000, .context = 256, .layers = 6, .heads = 6, .width = 384, .seed = 1}, 8};

/// GEMM FLOPs of one forward per token at sequence length `steps`: the projections (qkv 3E^2,
/// out E^2, MLP 8E^2, times 2 for multiply-add), the attention (q k^T and p v over all `steps`
/// keys: 4 steps E) and the tied LM head (2 E V).
double gpt_forward_flops_per_token(const nb::nn::GPTOptions& o, std::int64_t steps) {
  const double width = static_cast<double>(o.width);
  return static_cast<double>(o.layers) * (24.0 * width * width + 4.0 * static_cast<double>(steps) * width) +
         2.0 * width * static_cast<double>(o.vocab_size);
}

void gpt_training(benchmark::State& state, GPTConfig config) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  nb::nn::GPT<float> gpt(config.options);
  nb::optim::AdamW<float> optimizer(gpt.parameters(), {.lr = 1e-3});
  const std::int64_t steps = config.options.context, vocabulary = config.options.vocab_size;
  const nb::IndexTensor inputs = random_ids(vocabulary, config.batch, steps, 4);
  const nb::IndexTensor targets = random_ids(vocabulary, config.batch, steps, 5);
  const auto step = [&] {
    const nb::Tensor<float> loss = nb::loss::cross_entropy(gpt(inputs), targets);
    optimizer.zero_grad({.set_to_none = true});  // PyTorch 2's default: first gradients handed over
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item());
  };
  step();  // warm-up, untimed (see the top of the file)
  const OverheadCounters overheads;
  for (auto _ : state) step();
  overheads.report(state);
  profile_steps(state, "gpt_train width " + std::to_string(config.options.width), step);
  const double tokens = static_cast<double>(config.batch * steps);
  set_counters(state, tokens, 3 * tokens * gpt_forward_flops_per_token(config.options, steps), threads);
}

void gpt_generation(benchmark::State& state) {
  constexpr std::int64_t kPrompt = 16, kNewTokens = 128;
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  const nb::nn::GPTOptions options{
      .vocab_size = 50257, .context = 1024, .layers = 12, .heads = 12, .width = 768, .seed = 1};
  nb::nn::GPT<float> gpt(options);
  const nb::IndexTensor prompt = random_ids(options.vocab_size, 1, kPrompt, 4);
  benchmark::DoNotOptimize(gpt.generate(prompt, {.max_new_tokens = kNewTokens, .temperature = 0.0}).data());  // warm-up
  for (auto _ : state) {
    const nb::IndexTensor tokens = gpt.generate(prompt, {.max_new_tokens = kNewTokens, .temperature = 0.0});
    benchmark::DoNotOptimize(tokens.data());
  }
  // Each new token: the projections and the head for one position, attention over ~kPrompt + 64 keys.
  set_counters(state, kNewTokens, kNewTokens * gpt_forward_flops_per_token(options, kPrompt + kNewTokens / 2), threads);
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
  for (const auto& [name, config] : std::vector<std::pair<std::string, GPTConfig>>{{"S", kGPTSmall}, {"M", kGPTMedium}})
    benchmark::RegisterBenchmark(("gpt_train/" + name).c_str(),
                                 [config](benchmark::State& state) { gpt_training(state, config); })
        ->Arg(1)
        ->Arg(2)
        ->ArgName("threads")
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("gpt_generate", gpt_generation)
      ->Arg(1)
      ->Arg(2)
      ->ArgName("threads")
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* precision = std::getenv("NABLA_MATMUL_PRECISION")) {
    nb::set_float32_matmul_precision(precision);
    std::fprintf(stderr, "float32 matmul precision: %s (bf16 GEMM %s)\n", precision,
                 nb::backend::cpu_bf16_matmul_active() ? "on" : "off");
  }
  return bench::run(argc, argv, register_all);
}
