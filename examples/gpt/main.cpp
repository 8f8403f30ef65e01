// gpt: a word-level GPT (nn::GPT) on the Brown corpus, on exactly the data of
// examples/sequence_model (its reader, split, vocabulary and <unk> rule: the first 800,000
// tokens train, the next 200,000 validate, the rest test; words seen at most 3 times in training
// become <unk>), so the two models' perplexities compare on the same test set.
//
//   bash scripts/fetch_data.sh brown
//   ./build/examples/gpt                       # the short default run
//   ./build/examples/gpt --help                # every flag
//
// Training reads the training stream as windows of --context + 1 tokens (a random order each
// epoch; with --token-file they are read from the memory-mapped file of the training ids, made by
// --workers threads, in exactly the same batches), predicts every next token, and uses one AdamW with two parameter
// groups (optim::weight_decay_groups: weight decay on the 2-D weights except the embeddings), a linear warmup of the
// learning rate then a cosine decay to --min-lr times it over all the steps of --epochs, and gradient clipping.
// Evaluation reads --context windows every --eval-stride words (default: --context, no overlap) and scores each token
// once. Each epoch prints train and validation perplexity; the state and the best weights go to
// --checkpoint (--resume continues); the best weights give the test perplexity and a sample.
//
// --distributed (mpirun -np N gpt --distributed --threads 1): every rank reads the corpus and draws the
// same window order; each global batch of --batch windows is split between the ranks as evenly as it
// goes, and each rank's loss is scaled by its share (n_rank x N / n), so DistributedDataParallel's average
// of the gradients is the gradient of the whole batch's mean loss: without dropout, the one-process run's
// steps up to float rounding (examples/gpt/distributed_test.cmake checks the perplexities). Rank 0 prints
// and writes the checkpoint.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nabla/nabla.hpp>
#include <numbers>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "../common/distributed.hpp"
#include "../common/run.hpp"
#include "../common/token_file.hpp"
#include "../sequence_model/brown_corpus.hpp"

namespace {

namespace nb = nabla;
using sequence_model::BrownCorpus;
using sequence_model::kBrownCorpus;
using sequence_model::LanguageModelData;
using sequence_model::Vocabulary;
using Clock = nabla_examples::Clock;
using nabla_examples::seconds_since;

constexpr const char* kCheckpointFormat = "nabla gpt example 2";  // 2: one AdamW with groups

struct Options {
  std::int64_t context = 64, layers = 2, heads = 4, width = 128;
  double dropout = 0.0;  // the short default sees each word once: nothing to regularize yet
  double init_std = 0;   // 0: nn::GPT's own (GPT-2's scheme, std 0.02); S > 0: the same scheme with std S
  // The short default: 196 steps of 8 windows on 100,000 words (docs/results.md: more, smaller steps beat 49 of 32).
  std::int64_t epochs = 1, batch = 8, warmup = 20, eval_stride = 0;  // 0: --context
  double lr = 1e-3, min_lr = 1.0, weight_decay = 0.1, clip = 1.0;    // min_lr 1: no decay (best in 196 steps)
  std::int64_t max_train_tokens = 100000;                            // 0: all 800,000
  std::int64_t max_eval_tokens = 0;                                  // validation on its first N tokens; 0: all 200,000
  std::uint64_t seed = 1;
  int threads = 0;
  std::string device = "cpu";
  std::string data_dir;
  std::string token_file;  // the training ids on disk, written on the first run; empty: in memory
  int workers = 0;         // background threads that prepare the batches read from --token-file
  std::int64_t train_tokens = 800000, validation_tokens = 200000, rare_count = 3;
  std::string checkpoint = "gpt.nabla";
  bool resume = false;
  bool distributed = false;
  std::string plot, lstm_checkpoint;
  std::string prompt = "The jury said";
  std::int64_t generate = 30, top_k = 40;
  double temperature = 0.8;
};

struct History {
  std::vector<double> train_perplexity, validation_perplexity, seconds;
  double best_validation_perplexity = 0;
  std::int64_t best_epoch = 0, steps = 0;
  std::int64_t epochs() const { return static_cast<std::int64_t>(train_perplexity.size()); }
};

std::string join_numbers(const std::vector<double>& values) {
  std::string text;
  char buffer[64];
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto written = std::to_chars(buffer, buffer + sizeof(buffer), values[i]);
    text += (i ? "," : "") + std::string(buffer, written.ptr);
  }
  return text;
}

std::vector<double> split_numbers(const nb::io::Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = checkpoint.metadata_text(key);
  std::vector<double> values;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    double value = 0;
    const auto parsed = std::from_chars(text.data() + start, text.data() + comma, value);
    if (parsed.ec != std::errc() || parsed.ptr != text.data() + comma || start == comma)
      throw nb::IOError("checkpoint: metadata '" + key + "' is not a list of numbers");
    values.push_back(value);
    start = comma + 1;
  }
  return values;
}

/// The learning rate at optimizer step `step` (0-based) of `total` steps: a linear warmup over the
/// first `warmup` steps, then a cosine from lr down to min_lr * lr at the last step (the GPT schedule,
/// optim::CosineWithWarmup's, with the warmup counted from step 1 so that the first step is not lost).
double learning_rate(const Options& options, std::int64_t step, std::int64_t total) {
  if (step < options.warmup) return options.lr * static_cast<double>(step + 1) / static_cast<double>(options.warmup);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total - 1 - options.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - options.warmup) / span);
  return options.lr * (options.min_lr + (1 - options.min_lr) * (1 + std::cos(std::numbers::pi * progress)) / 2);
}

/// Windows [start, start + length] of `tokens` as inputs [B, length] and next-token targets.
void make_batch(const std::vector<std::int64_t>& tokens, const std::vector<std::int64_t>& starts, std::int64_t length,
                nb::IndexTensor& inputs, nb::IndexTensor& targets) {
  std::vector<std::int64_t> in, out;
  for (const std::int64_t start : starts) {
    in.insert(in.end(), tokens.begin() + start, tokens.begin() + start + length);
    out.insert(out.end(), tokens.begin() + start + 1, tokens.begin() + start + length + 1);
  }
  const auto rows = static_cast<std::int64_t>(starts.size());
  inputs = nb::from_vector<std::int64_t>(in, {rows, length});
  targets = nb::from_vector<std::int64_t>(out, {rows, length});
}

/// exp(mean negative log-likelihood) of `tokens`: windows of `context` tokens every `stride`
/// positions; each token is scored once, in the first window that holds it (so with a stride
/// below the context, every token after the first window has at least context - stride words
/// of context; with stride = context the windows do not overlap).
double perplexity(nb::nn::GPT<float>& gpt, const std::vector<std::int64_t>& tokens, std::int64_t context,
                  std::int64_t stride, std::int64_t batch, nb::Device device) {
  const bool was_training = gpt.is_training();
  gpt.eval();
  nb::NoGradGuard no_grad;
  const auto count = static_cast<std::int64_t>(tokens.size());
  std::vector<std::int64_t> starts;
  for (std::int64_t start = 0; start + 1 < count; start += stride) {
    starts.push_back(std::min(start, std::max<std::int64_t>(0, count - 1 - context)));
    if (start + context + 1 >= count) break;
  }
  const std::int64_t length = std::min(context, count - 1);
  double total = 0;
  std::int64_t scored = 0, scored_until = 0;  // tokens [0, scored_until] have been predicted
  for (std::size_t first = 0; first < starts.size(); first += static_cast<std::size_t>(batch)) {
    const std::vector<std::int64_t> part(
        starts.begin() + static_cast<std::ptrdiff_t>(first),
        starts.begin() + static_cast<std::ptrdiff_t>(std::min(starts.size(), first + static_cast<std::size_t>(batch))));
    nb::IndexTensor inputs, targets;
    make_batch(tokens, part, length, inputs, targets);
    std::int64_t* target = targets.data();
    for (std::size_t row = 0; row < part.size(); ++row)  // ignore the targets scored already
      for (std::int64_t t = 0; t < length; ++t) {
        const std::int64_t position = part[row] + 1 + t;
        if (position <= scored_until) target[row * length + t] = -100;
      }
    for (std::size_t row = 0; row < part.size(); ++row) scored_until = std::max(scored_until, part[row] + length);
    for (std::int64_t i = 0; i < targets.numel(); ++i) scored += target[i] != -100;
    total += nb::loss::cross_entropy(gpt(inputs.to(device)), targets.to(device), nb::loss::Reduction::sum).item();
  }
  gpt.train(was_training);
  return std::exp(total / static_cast<double>(std::max<std::int64_t>(1, scored)));
}

void save_state(const std::string& path, const nb::nn::GPT<float>& gpt,
                const std::map<std::string, nb::Tensor<float>>& best, const nb::optim::AdamW<float>& optimizer,
                const Vocabulary& vocabulary, const History& history) {
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, gpt, "model.");
  for (const auto& [name, tensor] : best) checkpoint.set_tensor("best." + name, tensor);
  nb::io::add_optimizer_state(checkpoint, optimizer, "optimizer.");
  nb::io::add_generator_state(checkpoint, nb::default_generator(), "rng.");
  const nb::nn::GPTOptions& o = gpt.options();
  checkpoint.set_metadata("gpt.format", kCheckpointFormat);
  checkpoint.set_metadata("gpt.vocabulary_fingerprint", vocabulary.fingerprint());
  checkpoint.set_metadata("gpt.config", gpt.describe());
  checkpoint.set_metadata("gpt.context", o.context);
  checkpoint.set_metadata("history.epochs", history.epochs());
  checkpoint.set_metadata("history.steps", history.steps);
  checkpoint.set_metadata("history.train_perplexity", join_numbers(history.train_perplexity));
  checkpoint.set_metadata("history.validation_perplexity", join_numbers(history.validation_perplexity));
  checkpoint.set_metadata("history.seconds", join_numbers(history.seconds));
  checkpoint.set_metadata("history.best_validation_perplexity", history.best_validation_perplexity);
  checkpoint.set_metadata("history.best_epoch", history.best_epoch);
  nb::io::save_checkpoint(path, checkpoint);
}

void load_state(const std::string& path, nb::nn::GPT<float>& gpt, std::map<std::string, nb::Tensor<float>>& best,
                nb::optim::AdamW<float>& optimizer, const Vocabulary& vocabulary, History& history) {
  const nb::io::Checkpoint checkpoint = nb::io::load_checkpoint(path);
  if (!checkpoint.has_metadata("gpt.format") || checkpoint.metadata_text("gpt.format") != kCheckpointFormat)
    throw nb::IOError("--resume: '" + path + "' is not a checkpoint of this example");
  if (checkpoint.metadata_text("gpt.config") != gpt.describe())
    throw nb::IOError("--resume: '" + path + "' holds a GPT(" + checkpoint.metadata_text("gpt.config") +
                      "), this run asks for GPT(" + gpt.describe() + "): use the same model flags");
  if (checkpoint.metadata_number<std::uint64_t>("gpt.vocabulary_fingerprint") != vocabulary.fingerprint())
    throw nb::IOError("--resume: '" + path + "' was trained on another vocabulary (other --split or data)");
  History loaded;
  loaded.train_perplexity = split_numbers(checkpoint, "history.train_perplexity");
  loaded.validation_perplexity = split_numbers(checkpoint, "history.validation_perplexity");
  loaded.seconds = split_numbers(checkpoint, "history.seconds");
  loaded.best_validation_perplexity = checkpoint.metadata_number<double>("history.best_validation_perplexity");
  loaded.best_epoch = checkpoint.metadata_number<std::int64_t>("history.best_epoch");
  loaded.steps = checkpoint.metadata_number<std::int64_t>("history.steps");
  std::map<std::string, nb::Tensor<float>> stored_best;
  for (const auto& [name, tensor] : gpt.state_dict())
    stored_best.emplace(name, checkpoint.tensor<float>("best." + name));
  nb::io::load_module_state(checkpoint, gpt, "model.");
  nb::io::load_optimizer_state(checkpoint, optimizer, "optimizer.");
  nb::io::load_generator_state(checkpoint, nb::default_generator(), "rng.");
  best = std::move(stored_best);
  history = std::move(loaded);
}

void write_plot(const Options& options, const History& history, double unigram) {
  std::vector<double> epochs;
  for (std::int64_t e = 1; e <= history.epochs(); ++e) epochs.push_back(static_cast<double>(e));
  nb::train::ChartPanel panel;
  panel.title = "perplexity (Brown corpus, lower is better)";
  panel.series.push_back({"GPT train", history.train_perplexity, "#1f77b4", false});
  panel.series.push_back({"GPT validation", history.validation_perplexity, "#d62728", false});
  if (!options.lstm_checkpoint.empty()) {  // the LSTM's validation curve, from its checkpoint
    std::vector<double> lstm =
        split_numbers(nb::io::load_checkpoint(options.lstm_checkpoint), "history.validation_perplexity");
    lstm.resize(epochs.size(), lstm.empty() ? 0.0 : lstm.back());
    panel.series.push_back({"LSTM validation", lstm, "#2ca02c", false});
  }
  panel.series.push_back({"unigram (validation)", std::vector<double>(epochs.size(), unigram), "#7f7f7f", true});
  std::ofstream out(options.plot);
  out << nb::train::line_chart_svg({panel}, epochs);
  if (!out) throw nb::IOError("--plot: cannot write '" + options.plot + "'");
}

int run(const Options& options) {
  const nb::Device device = nabla_examples::checked_device(options.device);
  if (options.threads > 0) nb::set_num_threads(options.threads);
  nb::manual_seed(options.seed);  // the initial weights, the dropout masks and the batch order
  // --distributed: joins the MPI job first, so that ranks other than 0 print nothing.
  const int world = options.distributed ? nabla_examples::start_distributed() : 1;
  if (options.distributed && !options.token_file.empty())
    throw nb::ValueError("--distributed with --token-file is not supported yet: each rank would read the same windows");
  if (options.batch < world)
    throw nb::ValueError("--distributed: --batch " + std::to_string(options.batch) + " is smaller than the " +
                         std::to_string(world) + " ranks it is split across");

  auto start = Clock::now();
  const BrownCorpus corpus = sequence_model::read_brown_corpus(options.data_dir);
  const LanguageModelData data =
      sequence_model::split_corpus(corpus, options.train_tokens, options.validation_tokens, options.rare_count);
  const Vocabulary& vocabulary = data.vocabulary;
  std::vector<std::int64_t> train = data.train;
  if (options.max_train_tokens > 0 && options.max_train_tokens < static_cast<std::int64_t>(train.size()))
    train.resize(static_cast<std::size_t>(options.max_train_tokens));
  const double unigram_validation = sequence_model::unigram_perplexity(data.train, data.validation, vocabulary.size());
  std::printf("Brown corpus: %lld tokens read in %.1f s; split %zu / %zu / %zu; vocabulary %lld words\n",
              static_cast<long long>(data.corpus_tokens), seconds_since(start), data.train.size(),
              data.validation.size(), data.test.size(), static_cast<long long>(vocabulary.size()));
  if (train.size() < data.train.size())
    std::printf("training on the first %zu training tokens (--max-train-tokens; 0 = all)\n", train.size());
  std::printf("unigram model: validation perplexity %.1f\n", unigram_validation);
  if (static_cast<std::int64_t>(train.size()) < options.context + 1)
    throw nb::ValueError("--context " + std::to_string(options.context) + " is longer than the " +
                         std::to_string(train.size()) + " training tokens");

  // With --token-file, the windows come from the memory-mapped file (window i starts at word
  // i * context, as in memory) in the epoch's order below: the same batches, whatever --workers.
  std::vector<std::int64_t> order;
  std::optional<nb::data::TokenFileDataset> token_windows;
  std::optional<nb::data::DataLoader<nb::data::TokenFileDataset>> token_loader;
  if (!options.token_file.empty()) {
    nabla_examples::ensure_token_file(kBrownCorpus, options.token_file, train, vocabulary.size());
    token_windows.emplace(options.token_file,
                          nb::data::TokenFileOptions{.context = options.context, .validate_ids = true});
    token_loader.emplace(*token_windows,
                         nb::data::DataLoaderOptions{.batch_size = options.batch, .num_workers = options.workers});
    token_loader->set_sampler(nb::data::order_sampler([&order](std::uint64_t) { return order; }));
    std::printf("training windows memory-mapped from %s (%llu ids of %u bytes), %d worker%s\n",
                options.token_file.c_str(), static_cast<unsigned long long>(token_windows->token_count()),
                token_windows->token_width(), options.workers, options.workers == 1 ? "" : "s");
  }

  nb::nn::GPT<float> gpt({.vocab_size = vocabulary.size(),
                          .context = options.context,
                          .layers = options.layers,
                          .heads = options.heads,
                          .width = options.width,
                          .dropout = options.dropout});
  // nn::GPT starts from GPT-2's initialization (nanoGPT's): every weight matrix and both embedding tables
  // N(0, 0.02^2), the projections back into the residual stream (attn.out_proj, mlp.c_proj) N(0, 0.02^2 / (2 layers)),
  // biases 0, LayerNorms 1 and 0. --init-std S draws the same scheme again with std S (from the default generator,
  // so the batch order changes too).
  if (options.init_std > 0) {
    const double projection_std = options.init_std / std::sqrt(2.0 * static_cast<double>(options.layers));
    const auto ends_with = [](const std::string& name, const std::string& tail) {
      return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    for (auto& [name, parameter] : gpt.named_parameters()) {
      float* value = parameter.data();
      if (parameter.dim() == 2) {
        const bool projection = ends_with(name, "out_proj.weight") || ends_with(name, "c_proj.weight");
        const nb::Tensor<float> drawn = nb::randn<float>(parameter.shape());
        const auto scale = static_cast<float>(projection ? projection_std : options.init_std);
        for (std::int64_t i = 0; i < parameter.numel(); ++i) value[i] = scale * drawn.data()[i];
      } else if (ends_with(name, "bias")) {
        std::fill(value, value + parameter.numel(), 0.0f);
      }
    }
  }
  gpt.to(device);
  nb::optim::AdamW<float> optimizer(nb::optim::weight_decay_groups(gpt, options.weight_decay), {.lr = options.lr});
  std::printf(
      "model: GPT(%s), %lld parameters, dropout %.2f; AdamW lr %g (warmup %lld steps, cosine to x%g), "
      "weight decay %g, batch %lld, clip %g, %d threads\n",
      gpt.describe().c_str(), static_cast<long long>(gpt.parameter_count()), options.dropout, options.lr,
      static_cast<long long>(options.warmup), options.min_lr, options.weight_decay,
      static_cast<long long>(options.batch), options.clip, nb::get_num_threads());

  History history;
  std::map<std::string, nb::Tensor<float>> best;
  if (options.resume) {
    if (!std::filesystem::exists(options.checkpoint))
      throw nb::IOError("--resume: there is no checkpoint '" + options.checkpoint + "'");
    load_state(options.checkpoint, gpt, best, optimizer, vocabulary, history);
    std::printf("resumed from '%s' after epoch %lld\n", options.checkpoint.c_str(),
                static_cast<long long>(history.epochs()));
  }

  // After a resume: every rank then starts from rank 0's weights (DistributedDataParallel).
  const auto data_parallel = nabla_examples::data_parallel_run(gpt, options.distributed);
  const std::int64_t windows = (static_cast<std::int64_t>(train.size()) - 1) / options.context;
  if (data_parallel) {
    std::printf("data-parallel: %d ranks, each global batch of %lld windows split across them\n", world,
                static_cast<long long>(options.batch));
    if (windows % options.batch != 0 && windows % options.batch < world)
      std::printf("note: the last batch of each epoch (%lld windows) is skipped: fewer windows than ranks\n",
                  static_cast<long long>(windows % options.batch));
  }
  const std::int64_t total_steps = options.epochs * ((windows + options.batch - 1) / options.batch);
  std::vector<std::int64_t> validation_tokens = data.validation;
  if (options.max_eval_tokens > 0 && options.max_eval_tokens < static_cast<std::int64_t>(validation_tokens.size())) {
    validation_tokens.resize(static_cast<std::size_t>(options.max_eval_tokens));
    std::printf("validating on the first %zu validation tokens (--max-eval-tokens; 0 = all)\n",
                validation_tokens.size());
  }
  const std::int64_t eval_stride =
      options.eval_stride > 0 ? std::min(options.eval_stride, options.context) : options.context;
  for (std::int64_t epoch = history.epochs() + 1; epoch <= options.epochs; ++epoch) {
    start = Clock::now();
    gpt.train();
    // A random order of the non-overlapping windows, from the default generator (checkpointed).
    const nb::Tensor<float> keys = nb::rand<float>({windows});
    order.assign(static_cast<std::size_t>(windows), 0);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int64_t a, std::int64_t b) { return keys.data()[a] < keys.data()[b]; });
    // --distributed: every rank's dropout masks come from a stream of its own during the epoch; the
    // shared generator (rank 0's, the one the checkpoint keeps) is restored on every rank at its end.
    nb::Generator& generator = nb::default_generator();
    if (data_parallel && data_parallel->rank() > 0)
      generator.set_state(generator.seed() + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(data_parallel->rank()),
                          generator.offset());
    double total = 0;
    std::int64_t tokens = 0;
    // share: this rank's windows over the global batch's (1 without --distributed); the loss scaled
    // by share x world makes the ranks' averaged gradients the global batch's.
    const auto train_step = [&](const nb::IndexTensor& inputs, const nb::IndexTensor& targets, double share) {
      optimizer.set_lr(learning_rate(options, history.steps, total_steps));
      const nb::Tensor<float> loss = nb::loss::cross_entropy(gpt(inputs.to(device)), targets.to(device));
      optimizer.zero_grad();
      if (data_parallel) {
        (loss * static_cast<float>(share * world)).backward();
        data_parallel->finish_gradients();
      } else {
        loss.backward();
      }
      if (options.clip > 0) nb::optim::clip_grad_norm_(gpt.parameters(), options.clip);
      optimizer.step();
      ++history.steps;
      total += loss.item() * static_cast<double>(targets.numel());
      tokens += targets.numel();
    };
    if (token_loader) {
      for (const auto& batch : *token_loader) train_step(batch.inputs, batch.targets, 1.0);
    } else {
      for (std::int64_t first = 0; first < windows; first += options.batch) {
        const std::int64_t count = std::min(windows, first + options.batch) - first;  // the global batch
        if (count < world) continue;  // a rank would have no window (the note above)
        const int rank = data_parallel ? data_parallel->rank() : 0;
        std::vector<std::int64_t> starts;
        for (std::int64_t i = first + count * rank / world; i < first + count * (rank + 1) / world; ++i)
          starts.push_back(order[static_cast<std::size_t>(i)] * options.context);
        nb::IndexTensor inputs, targets;
        make_batch(train, starts, options.context, inputs, targets);
        train_step(inputs, targets, static_cast<double>(starts.size()) / static_cast<double>(count));
      }
    }
    if (data_parallel) {
      const std::vector<double> sums = data_parallel->sum({total, static_cast<double>(tokens)});
      total = sums[0];
      tokens = static_cast<std::int64_t>(sums[1]);
      const std::uint64_t shared_seed = data_parallel->broadcast_seed(generator.seed());
      generator.set_state(shared_seed, data_parallel->broadcast_seed(generator.offset()));
    }
    const double train_perplexity = std::exp(total / static_cast<double>(tokens));
    const double validation = perplexity(gpt, validation_tokens, options.context, eval_stride, options.batch, device);
    history.train_perplexity.push_back(train_perplexity);
    history.validation_perplexity.push_back(validation);
    history.seconds.push_back(seconds_since(start));
    const bool improved = history.best_epoch == 0 || validation < history.best_validation_perplexity;
    if (improved) {
      history.best_validation_perplexity = validation;
      history.best_epoch = epoch;
      best = gpt.state_dict();
    }
    if (nabla_examples::is_main_rank())  // one writer; every rank holds the same state
      save_state(options.checkpoint, gpt, best, optimizer, vocabulary, history);
    std::printf("epoch %lld/%lld  train ppl %8.2f  valid ppl %8.2f  lr %.3g  time %.1f s  %s\n",
                static_cast<long long>(epoch), static_cast<long long>(options.epochs), train_perplexity, validation,
                learning_rate(options, history.steps - 1, total_steps), history.seconds.back(),
                improved ? "best so far, saved" : "");
    std::fflush(stdout);
  }
  if (history.epochs() == 0) best = gpt.state_dict();

  gpt.load_state_dict(best);
  const double test = perplexity(gpt, data.test, options.context, eval_stride, options.batch, device);
  std::printf("\nbest epoch %lld: validation perplexity %.2f; test perplexity %.2f (unigram validation %.1f)\n",
              static_cast<long long>(history.best_epoch), history.best_validation_perplexity, test, unigram_validation);
  if (!options.plot.empty() && history.epochs() > 0) {
    write_plot(options, history, unigram_validation);
    std::printf("perplexity curves written to %s\n", options.plot.c_str());
  }
  if (options.generate > 0) {
    std::istringstream stream(options.prompt);
    std::vector<std::string> words;
    for (std::string word; stream >> word;) words.push_back(word);
    std::vector<std::int64_t> ids = vocabulary.encode(words);
    if (ids.empty()) ids.push_back(0);
    const auto length = static_cast<std::int64_t>(ids.size());
    const nb::IndexTensor prompt = nb::from_vector<std::int64_t>(ids, {1, length}).to(device);
    const nb::IndexTensor out = gpt.generate(prompt, {.max_new_tokens = options.generate,
                                                      .temperature = options.temperature,
                                                      .top_k = options.top_k,
                                                      .seed = options.seed});
    const std::vector<std::int64_t> tokens = out.to_host_vector();
    std::printf("\nsample (temperature %g, top-k %lld, seed %llu):\n%s", options.temperature,
                static_cast<long long>(options.top_k), static_cast<unsigned long long>(options.seed),
                options.prompt.c_str());
    for (std::size_t i = static_cast<std::size_t>(length); i < tokens.size(); ++i)
      std::printf(" %s", vocabulary.word(tokens[i]).c_str());
    std::printf("\n");
  }
  return 0;
}

void define_options(nabla_examples::CommandLine& cli, Options& options) {
  const Options d;
  const auto show = [](auto value) {
    std::ostringstream text;
    text << "(default " << value << ")";
    return text.str();
  };
  cli.integer<std::int64_t>("--context", options.context, 2, "tokens the model reads " + show(d.context))
      ->group("model");
  cli.integer<std::int64_t>("--layers", options.layers, 1, "Transformer blocks " + show(d.layers))->group("model");
  cli.integer<std::int64_t>("--heads", options.heads, 1, "attention heads " + show(d.heads))->group("model");
  cli.integer<std::int64_t>("--width", options.width, 2, "embedding width " + show(d.width))->group("model");
  cli.real("--dropout", options.dropout, {.low = 0, .high = 1, .include_low = true}, "dropout " + show(d.dropout))
      ->group("model");
  cli.real(
         "--init-std", options.init_std, {.low = 0, .include_low = true},
         "GPT-2's initialization with std S: weight matrices N(0, S^2),\nresidual projections N(0, S^2 / (2 layers)), "
         "biases 0\n(0: nn::GPT's own, the same with S = 0.02) " +
             show(d.init_std))
      ->type_name("S")
      ->group("model");
  cli.integer<std::int64_t>("--epochs", options.epochs, 0, "epochs in total " + show(d.epochs))->group("training");
  cli.integer<std::int64_t>("--batch", options.batch, 1, "windows per batch " + show(d.batch))->group("training");
  cli.real("--lr", options.lr, {.low = 0}, "peak learning rate " + show(d.lr))->group("training");
  cli.integer<std::int64_t>("--warmup", options.warmup, 0, "steps of linear warmup " + show(d.warmup))
      ->group("training");
  cli.integer<std::int64_t>("--eval-stride", options.eval_stride, 0,
                            "evaluation windows start every N words; each word is scored once,\n"
                            "in the first window that holds it (0: --context, no overlap)")
      ->group("training");
  cli.real("--min-lr", options.min_lr, {.low = 0, .high = 1, .include_low = true, .include_high = true},
           "the cosine ends at F times --lr, at the last step of --epochs\n(1: no decay) " + show(d.min_lr))
      ->type_name("F")
      ->group("training");
  cli.real("--weight-decay", options.weight_decay, {.low = 0, .include_low = true},
           "AdamW decay of the 2-D weights " + show(d.weight_decay))
      ->group("training");
  cli.real("--clip", options.clip, {.low = 0, .include_low = true}, "gradient norm clip " + show(d.clip))
      ->group("training");
  cli.integer<std::int64_t>("--max-train-tokens", options.max_train_tokens, 0,
                            "train on the first N tokens; 0 = all " + show(d.max_train_tokens))
      ->group("training");
  cli.integer<std::int64_t>("--max-eval-tokens", options.max_eval_tokens, 0,
                            "validate on the first N validation tokens; 0 = all " + show(d.max_eval_tokens))
      ->group("training");
  cli.seed(options.seed, "the weights, dropout masks, batch order and sampling")->group("training");
  cli.threads(options.threads)->group("training");
  cli.device(options.device)->group("training");
  cli.data_dir(options.data_dir, kBrownCorpus, "the corpus files ca01..cr09")->group("data and files");
  cli.custom("--split", "TRAIN,VALID", "training and validation token counts, the rest is test (800000,200000)",
             [&options](const std::string& text) {
               const auto comma = text.find(',');
               if (comma == std::string::npos)
                 throw nabla_examples::UsageError("--split expects TRAIN,VALID token counts, got '" + text + "'");
               const auto count = [](const std::string& part) {
                 return nabla_examples::parse_whole_number<std::int64_t>("--split", part, 2,
                                                                         std::numeric_limits<std::int64_t>::max());
               };
               options.train_tokens = count(text.substr(0, comma));
               options.validation_tokens = count(text.substr(comma + 1));
             })
      ->group("data and files");
  cli.text("--token-file", options.token_file, "FILE",
           "train from the training ids in this token file, memory-mapped;\n"
           "written on the first run, checked against the corpus on later ones")
      ->group("data and files");
  cli.integer<int>("--workers", options.workers, 0, 64,
                   "threads that prepare batches from --token-file ahead of the\ntraining step " + show(d.workers))
      ->group("data and files");
  cli.text("--checkpoint", options.checkpoint, "FILE", "training state and best weights " + show(d.checkpoint))
      ->group("data and files");
  cli.flag("--resume", options.resume, "continue from --checkpoint (same model flags)")->group("data and files");
  nabla_examples::distributed_flag(cli, options.distributed)->group("training");
  cli.text("--plot", options.plot, "FILE.svg", "draw the perplexity curves", true)->group("data and files");
  cli.text("--lstm-checkpoint", options.lstm_checkpoint, "FILE",
           "a sequence_model checkpoint whose validation curve joins the plot", true)
      ->group("data and files");
  cli.text("--prompt", options.prompt, "TEXT", "words to start from", true)->group("generation");
  cli.integer<std::int64_t>("--generate", options.generate, 0, "words to sample " + show(d.generate))
      ->group("generation");
  cli.real("--temperature", options.temperature, {.low = 0, .include_low = true},
           "sampling temperature, 0 = greedy " + show(d.temperature))
      ->group("generation");
  cli.integer<std::int64_t>("--top-k", options.top_k, 0, "sample among the K likeliest words " + show(d.top_k))
      ->group("generation");
  cli.check([&options] {
    if (options.width % options.heads != 0)
      throw nabla_examples::UsageError("--width " + std::to_string(options.width) + " is not divisible by --heads " +
                                       std::to_string(options.heads));
    if (options.workers > 0 && options.token_file.empty())
      throw nabla_examples::UsageError(
          "--workers: the workers prepare batches read from a token file; add --token-file FILE");
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  nabla_examples::CommandLine cli(
      "gpt",
      "A word-level GPT on the Brown corpus, on the split, vocabulary and <unk> rule of\n"
      "examples/sequence_model. Prints train/validation perplexity per epoch, the test\n"
      "perplexity of the best epoch, and text sampled from a prompt (KV-cache decoding).\n"
      "Data: " +
          kBrownCorpus.fetch_command() + "\n",
      "Exit status: 0 after a run; 1 when the data is missing or damaged, a checkpoint does not\n"
      "fit the run or a file cannot be written; 2 for a bad command line.");
  define_options(cli, options);
  return nabla_examples::run_example(cli, argc, argv, [&] { return run(options); });
}
