// bench/lm_models.hpp - the language models of bench_lm.cpp (CPU) and bench_cuda.cpp (GPU), the
// configurations of bench/compare_pytorch.py:
//
//   LM S   Embedding(1000, 64)  -> LSTM(64 -> 128)              -> Dense(128 -> 1000)
//   LM L   Embedding(10000, 128) -> LSTM(128 -> 256)            -> Dense(256 -> 10000)
//   LM XL  Embedding(10000, 256) -> LSTM(256 -> 1024, 2 layers) -> Dense(1024 -> 10000)
//          batch 32 x 35 steps, cross-entropy over every step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nabla/nabla.hpp>
#include <vector>

namespace bench {

struct LanguageModelConfig {
  std::int64_t vocabulary, embedding, hidden, layers;
};
inline constexpr LanguageModelConfig kSmall{1000, 64, 128, 1}, kLarge{10000, 128, 256, 1},
    kExtraLarge{10000, 256, 1024, 2};
inline constexpr std::int64_t kBatch = 32, kSteps = 35;

/// Random word ids in [0, vocabulary), shape [batch, steps], on the CPU.
inline nabla::IndexTensor random_ids(std::int64_t vocabulary, std::int64_t batch, std::int64_t steps,
                                     std::uint64_t seed) {
  const nabla::Tensor<float> uniform = nabla::uniform<float>({batch, steps}, 0.f, static_cast<float>(vocabulary), seed);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * steps));
  for (std::size_t i = 0; i < ids.size(); ++i)
    ids[i] = std::min<std::int64_t>(vocabulary - 1, static_cast<std::int64_t>(uniform.data()[i]));
  return nabla::from_vector<std::int64_t>(ids, {batch, steps});
}

class LanguageModel {
 public:
  explicit LanguageModel(const LanguageModelConfig& config)
      : embedding(config.vocabulary, config.embedding, {.seed = 1}),
        lstm(config.embedding, config.hidden, {.num_layers = config.layers, .return_sequences = true, .seed = 2}),
        decoder(config.hidden, config.vocabulary, {.seed = 3}) {}

  nabla::Tensor<float> logits(const nabla::IndexTensor& ids) { return decoder(lstm(embedding.forward(ids))); }

  std::vector<nabla::Tensor<float>> parameters() const {
    std::vector<nabla::Tensor<float>> all;
    for (const auto* module : std::vector<const nabla::nn::Module<float>*>{&embedding, &lstm, &decoder})
      for (const auto& parameter : module->parameters()) all.push_back(parameter);
    return all;
  }

  /// Moves every parameter to `device` (before an optimizer is created over them).
  void to(nabla::Device device) {
    embedding.to(device);
    lstm.to(device);
    decoder.to(device);
  }

  nabla::nn::Embedding<float> embedding;
  nabla::nn::LSTM<float> lstm;
  nabla::nn::Dense<float> decoder;
};

/// GEMM FLOPs of one forward pass over `tokens` tokens.
inline double forward_flops(const LanguageModelConfig& config, std::int64_t tokens) {
  double per_token = 2.0 * static_cast<double>(config.hidden * config.vocabulary);  // decoder
  std::int64_t input = config.embedding;
  for (std::int64_t layer = 0; layer < config.layers; ++layer) {
    per_token += 2.0 * 4 * static_cast<double>(config.hidden * (input + config.hidden));
    input = config.hidden;
  }
  return per_token * static_cast<double>(tokens);
}

}  // namespace bench
