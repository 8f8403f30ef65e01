// examples/sequence_model/training.hpp - one epoch of truncated BPTT, evaluation, and
// sampling text from the model.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <limits>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "../common/run.hpp"
#include "brown_corpus.hpp"
#include "language_model.hpp"

namespace sequence_model {

using nabla_examples::Clock;
using nabla_examples::seconds_since;

/// CPU time of the whole process (all threads) in seconds. On a machine shared with other
/// work, wall time depends on the neighbours; CPU time measures what the run itself costs.
inline double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

/// Streams evaluated at once. Each stream starts from a zero state, so fewer streams mean
/// more context per word; ten is what Zaremba et al. and PyTorch's example use.
inline constexpr std::int64_t kEvaluationStreams = 10;

/// exp(mean cross-entropy) of the model on `tokens`: the text is read as kEvaluationStreams
/// streams in windows of `bptt` steps, the state carried across windows, no dropout, no graph.
inline double perplexity(LanguageModel& model, const std::vector<std::int64_t>& tokens, std::int64_t bptt) {
  const std::int64_t streams = std::min<std::int64_t>(
      kEvaluationStreams, std::max<std::int64_t>(1, static_cast<std::int64_t>(tokens.size()) / 2));
  const nb::data::LanguageModelBatcher batcher(tokens, streams, bptt);
  model.eval();
  nb::NoGradGuard no_grad;
  RecurrentState state;
  double total_loss = 0;
  std::int64_t total_tokens = 0;
  for (const auto& [inputs, targets] : batcher) {
    LanguageModel::Output output = model.forward(inputs, state);
    const std::int64_t count = targets.numel();
    const nb::Tensor<float> loss = nb::loss::cross_entropy(output.logits, targets.to(output.logits.device()));
    total_loss += static_cast<double>(loss.to(nb::Device::cpu()).item()) * static_cast<double>(count);
    total_tokens += count;
    state = output.state;
  }
  return std::exp(total_loss / static_cast<double>(std::max<std::int64_t>(total_tokens, 1)));
}

struct EpochResult {
  double train_perplexity = 0;
  double seconds = 0;
  double largest_gradient_norm = 0;
};

/// One pass over `tokens` with truncated BPTT: `batch` parallel streams, windows of `bptt`
/// steps, the LSTM state carried from each window into the next but detached from its graph,
/// the global gradient norm clipped to `clip` before every optimizer step.
///
/// `batcher` yields Batch{inputs, targets} [batch, steps] in which row b of each batch continues
/// row b of the one before: a LanguageModelBatcher over ids in memory, or a DataLoader over a
/// token file read in stream_rows_order (see token_file_batches in main.cpp).
template <typename Batches>
EpochResult train_epoch_on(LanguageModel& model, nb::optim::Optimizer<float>& optimizer, Batches& batcher, double clip,
                           std::int64_t log_interval, const std::string& epoch_label) {
  const std::int64_t batches = batcher.size();
  if (log_interval <= 0) log_interval = std::max<std::int64_t>(1, batches / 10);
  const auto parameters = model.parameters();
  model.train();
  RecurrentState state;  // zeros at the start of the text
  double total_loss = 0, interval_loss = 0;
  std::int64_t total_tokens = 0, interval_tokens = 0;
  EpochResult result;
  const auto start = Clock::now();
  auto interval_start = start;
  std::int64_t index = 0;
  for (const auto& [inputs, targets] : batcher) {
    LanguageModel::Output output = model.forward(inputs, state);
    // The ids come from the host; the logits live where the model does.
    nb::Tensor<float> loss = nb::loss::cross_entropy(output.logits, targets.to(output.logits.device()));
    optimizer.zero_grad();
    loss.backward();
    const double norm = nb::optim::clip_grad_norm_(parameters, clip);
    optimizer.step();
    // Truncated BPTT: the next window starts from this state's values, but its gradient
    // stops here, so each backward pass covers `bptt` steps only.
    state = detached(output.state);

    const double batch_loss = static_cast<double>(loss.to(nb::Device::cpu()).item());
    if (!std::isfinite(batch_loss))
      throw nb::ValueError("training diverged: the loss of batch " + std::to_string(index + 1) + " is " +
                           std::to_string(batch_loss) + " (try a smaller --lr or --clip)");
    result.largest_gradient_norm = std::max(result.largest_gradient_norm, norm);
    const std::int64_t count = targets.numel();
    total_loss += batch_loss * static_cast<double>(count);
    interval_loss += batch_loss * static_cast<double>(count);
    total_tokens += count;
    interval_tokens += count;
    ++index;
    if (index % log_interval == 0 && index < batches) {
      const double elapsed = seconds_since(interval_start);
      std::printf("  %s batch %5lld/%lld  train ppl %8.2f  %6.1f ms/batch  %7.0f words/s\n", epoch_label.c_str(),
                  static_cast<long long>(index), static_cast<long long>(batches),
                  std::exp(interval_loss / static_cast<double>(interval_tokens)),
                  1000.0 * elapsed / static_cast<double>(log_interval), static_cast<double>(interval_tokens) / elapsed);
      std::fflush(stdout);
      interval_loss = 0;
      interval_tokens = 0;
      interval_start = Clock::now();
    }
  }
  result.train_perplexity = std::exp(total_loss / static_cast<double>(total_tokens));
  result.seconds = seconds_since(start);
  return result;
}

/// One epoch over ids held in memory.
inline EpochResult train_epoch(LanguageModel& model, nb::optim::Optimizer<float>& optimizer,
                               const std::vector<std::int64_t>& tokens, std::int64_t batch, std::int64_t bptt,
                               double clip, std::int64_t log_interval, const std::string& epoch_label) {
  const nb::data::LanguageModelBatcher batcher(tokens, batch, bptt);
  return train_epoch_on(model, optimizer, batcher, clip, log_interval, epoch_label);
}

struct SamplingOptions {
  std::int64_t words = 30;
  double temperature = 1.0;
  std::int64_t top_k = 0;  // 0: every word
  std::uint64_t seed = 1;
};

/// Reads `prompt` and continues it by sampling one word at a time from
/// softmax(logits / temperature), restricted to the top_k likeliest words. <unk> is never
/// sampled (it is not a word one can print).
inline std::vector<std::string> generate(LanguageModel& model, const Vocabulary& vocabulary,
                                         const std::vector<std::int64_t>& prompt, const SamplingOptions& options) {
  model.eval();
  nb::NoGradGuard no_grad;
  nb::Generator generator(options.seed);
  RecurrentState state;
  std::vector<std::string> words;
  std::vector<std::int64_t> input = prompt.empty() ? std::vector<std::int64_t>{0} : prompt;
  const std::int64_t vocabulary_size = vocabulary.size();
  std::vector<double> probabilities(static_cast<std::size_t>(vocabulary_size));
  for (std::int64_t step = 0; step < options.words; ++step) {
    const auto length = static_cast<std::int64_t>(input.size());
    LanguageModel::Output output = model.forward(nb::from_vector<std::int64_t>(input, {1, length}), state);
    state = output.state;
    // The logits after the last input word.
    const nb::Tensor<float> last = output.logits.narrow(1, length - 1, 1).to(nb::Device::cpu()).contiguous();
    const float* logits = last.data();
    std::vector<double> scaled(static_cast<std::size_t>(vocabulary_size));
    for (std::int64_t w = 0; w < vocabulary_size; ++w)
      scaled[static_cast<std::size_t>(w)] = static_cast<double>(logits[w]) / options.temperature;
    scaled[static_cast<std::size_t>(Vocabulary::kUnknown)] = -std::numeric_limits<double>::infinity();
    // Keep the top_k scores: everything below the k-th largest gets probability 0.
    double cutoff = -std::numeric_limits<double>::infinity();
    if (options.top_k > 0 && options.top_k < vocabulary_size) {
      std::vector<double> sorted = scaled;
      std::nth_element(sorted.begin(), sorted.begin() + (options.top_k - 1), sorted.end(), std::greater<double>());
      cutoff = sorted[static_cast<std::size_t>(options.top_k - 1)];
    }
    const double largest = *std::max_element(scaled.begin(), scaled.end());
    double total = 0;
    for (std::size_t w = 0; w < scaled.size(); ++w) {
      probabilities[w] = scaled[w] >= cutoff ? std::exp(scaled[w] - largest) : 0.0;
      total += probabilities[w];
    }
    // Inverse-CDF sampling with one Philox uniform draw.
    double target = static_cast<double>(nb::uniform<double>({1}, 0.0, 1.0, generator).item()) * total;
    std::int64_t chosen = -1;
    for (std::int64_t w = 0; w < vocabulary_size; ++w) {
      if (probabilities[static_cast<std::size_t>(w)] == 0) continue;
      chosen = w;  // the last word with a chance, should rounding leave target >= 0
      target -= probabilities[static_cast<std::size_t>(w)];
      if (target < 0) break;
    }
    if (chosen < 0) break;  // the vocabulary is only <unk>
    words.push_back(vocabulary.word(chosen));
    input = {chosen};
  }
  return words;
}

}  // namespace sequence_model
