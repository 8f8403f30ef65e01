// sequence_model: a word-level LSTM language model on the Brown corpus.
//
//   bash scripts/fetch_data.sh brown
//   ./build/examples/sequence_model            # the short default run
//   ./build/examples/sequence_model --help     # every flag
//
// The data are split as in Bengio et al. (2003), "A Neural Probabilistic Language Model":
// the 500 files in corpus order, the first 800,000 tokens for training, the next 200,000 for
// validation, the remaining 161,192 for the test; words seen at most 3 times in training
// become <unk>. Their best neural model reached a test perplexity of 252 on this split.
//
// Each epoch prints train and validation perplexity; the training state and the best weights
// go to --checkpoint after every epoch (--resume continues from it); at the end the best
// weights give the test perplexity, and the model writes a few sentences from --prompt.
// docs/examples.md explains the output; docs/results.md records measured runs.
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
#if defined(__GLIBC__)  // (defined by the C++ headers above)
#include <malloc.h>     // mallopt
#endif

#include <nabla/nabla.hpp>

#include "../common/token_file.hpp"
#include "brown_corpus.hpp"
#include "checkpoint.hpp"
#include "language_model.hpp"
#include "options.hpp"
#include "training.hpp"

namespace {

using namespace sequence_model;

using nabla_examples::checked_device;

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

void write_plot(const std::string& path, const TrainingHistory& history, double unigram) {
  std::vector<double> epochs;
  for (std::int64_t e = 1; e <= history.epochs(); ++e) epochs.push_back(static_cast<double>(e));
  nb::train::ChartPanel panel;
  panel.title = "perplexity (Brown corpus, lower is better)";
  panel.series.push_back({"train", history.train_perplexity, "#1f77b4", false});
  panel.series.push_back({"validation", history.validation_perplexity, "#d62728", false});
  panel.series.push_back({"unigram (validation)", std::vector<double>(epochs.size(), unigram), "#7f7f7f", true});
  panel.series.push_back({"Bengio et al. 2003 (test)", std::vector<double>(epochs.size(), 252.0), "#2ca02c", true});
  std::ofstream out(path);
  out << nb::train::line_chart_svg({panel}, epochs);
  if (!out) throw nb::IOError("--plot: cannot write '" + path + "'");
}

int run(const Options& options) {
  const nb::Device device = checked_device(options.device);
  // --distributed: each rank trains on its share of the training text with batch / world streams.
  const int world = options.distributed ? nabla_examples::start_distributed() : 1;
  if (options.distributed && !options.token_file.empty())
    throw nb::ValueError("--distributed with --token-file is not supported yet: each rank would read the same windows");
  if (options.batch % world != 0)
    throw nb::ValueError("--distributed: --batch " + std::to_string(options.batch) + " does not split over " +
                         std::to_string(world) + " ranks");
  if (options.threads > 0) nb::set_num_threads(options.threads);
  nb::set_float32_matmul_precision(options.matmul_precision);
  if (options.matmul_precision == "medium")
    std::printf("matmul precision: medium (%s)\n", nb::backend::cpu_bf16_matmul_active()
                                                       ? "bfloat16 GEMM inputs, float32 accumulation"
                                                       : "this CPU has no AVX512_BF16: float32");
    // A batch allocates the same few 40 MB buffers (logits and their gradients) every step.
    // glibc serves blocks that large with mmap and returns them at free(), so each step would
    // page-fault its way through fresh zeroed memory (14% of the step time, measured with perf).
    // Keeping them in the heap lets the next step reuse the pages.
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
#endif
  nb::manual_seed(options.seed);  // dropout masks

  // ---- data ----
  auto start = Clock::now();
  const BrownCorpus corpus = read_brown_corpus(options.data_dir);
  const LanguageModelData data =
      split_corpus(corpus, options.train_tokens, options.validation_tokens, options.rare_count);
  const Vocabulary& vocabulary = data.vocabulary;
  std::vector<std::int64_t> train_tokens = data.train;
  if (options.max_train_tokens > 0 && options.max_train_tokens < static_cast<std::int64_t>(train_tokens.size()))
    train_tokens.resize(static_cast<std::size_t>(options.max_train_tokens));
  const double unigram_validation = unigram_perplexity(data.train, data.validation, vocabulary.size());
  const double unigram_test = unigram_perplexity(data.train, data.test, vocabulary.size());
  std::printf("Brown corpus: %lld files, %lld tokens read from %s in %.1f s\n", static_cast<long long>(data.file_count),
              static_cast<long long>(data.corpus_tokens), options.data_dir.c_str(), seconds_since(start));
  std::printf(
      "split: %zu train / %zu validation / %zu test tokens; vocabulary %lld words "
      "(words seen <= %lld times in training -> <unk>: %.1f%% of validation tokens)\n",
      data.train.size(), data.validation.size(), data.test.size(), static_cast<long long>(vocabulary.size()),
      static_cast<long long>(options.rare_count), 100.0 * data.unknown_rate_validation);
  if (train_tokens.size() < data.train.size())
    std::printf("training on the first %zu training tokens (--max-train-tokens; 0 = all)\n", train_tokens.size());
  std::printf(
      "unigram model (word frequencies, no context): validation perplexity %.1f, "
      "test %.1f\n",
      unigram_validation, unigram_test);

  // With --token-file, training reads the ids from the memory-mapped file: windows of --bptt
  // steps, read as --batch parallel streams (data::stream_rows_order), made by --workers threads.
  std::optional<nb::data::TokenFileDataset> token_windows;
  if (!options.token_file.empty()) {
    nabla_examples::ensure_token_file(kBrownCorpus, options.token_file, train_tokens, vocabulary.size());
    token_windows.emplace(options.token_file,
                          nb::data::TokenFileOptions{.context = options.bptt, .validate_ids = true});
    std::printf("training ids memory-mapped from %s (%llu ids of %u bytes; %lld windows of %lld steps), %d worker%s\n",
                options.token_file.c_str(), static_cast<unsigned long long>(token_windows->token_count()),
                token_windows->token_width(), static_cast<long long>(token_windows->size()),
                static_cast<long long>(options.bptt), options.workers, options.workers == 1 ? "" : "s");
  }
  std::optional<nb::data::DataLoader<nb::data::TokenFileDataset>> token_loader;
  if (token_windows) {
    token_loader.emplace(*token_windows,
                         nb::data::DataLoaderOptions{.batch_size = options.batch, .num_workers = options.workers});
    const std::int64_t windows = token_windows->size(), rows = options.batch;
    token_loader->set_sampler(
        nb::data::order_sampler([windows, rows](std::uint64_t) { return nb::data::stream_rows_order(windows, rows); }));
  }

  // ---- model and optimizer ----
  const ModelConfig config{vocabulary.size(), options.embedding_size, options.hidden_size,
                           options.layers,    options.dropout,        options.tie_weights};
  LanguageModel model(config, options.seed);
  model.to(device);  // before the optimizer, whose state is made where the parameters are
  std::unique_ptr<nb::optim::Optimizer<float>> optimizer;
  if (options.optimizer == "sgd")
    optimizer = std::make_unique<nb::optim::SGD<float>>(model.parameters(), nb::optim::SGDOptions{.lr = options.lr});
  else
    optimizer = std::make_unique<nb::optim::Adam<float>>(model.parameters(), nb::optim::AdamOptions{.lr = options.lr});
  std::printf(
      "model: Embedding(%lld, %lld) -> LSTM(%lld -> %lld, %lld %s) -> Dense(%lld -> %lld%s), "
      "%lld parameters, dropout %.2f\n",
      static_cast<long long>(config.vocabulary_size), static_cast<long long>(config.embedding_size),
      static_cast<long long>(config.embedding_size), static_cast<long long>(config.hidden_size),
      static_cast<long long>(config.layers), config.layers == 1 ? "layer" : "layers",
      static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocabulary_size),
      config.tie_weights ? ", weight tied to the embedding" : "", static_cast<long long>(model.parameter_count()),
      config.dropout);
  std::printf(
      "training: %s, lr %g (x%g per epoch, /4 after an epoch without improvement), "
      "batch %lld x bptt %lld, clip %g, %d thread%s, seed %llu\n",
      optimizer->type_name().c_str(), options.lr, options.lr_decay, static_cast<long long>(options.batch),
      static_cast<long long>(options.bptt), options.clip, nb::get_num_threads(), nb::get_num_threads() == 1 ? "" : "s",
      static_cast<unsigned long long>(options.seed));

  TrainingHistory history;
  std::map<std::string, nb::Tensor<float>> best_weights;
  if (options.resume) {
    if (!std::filesystem::exists(options.checkpoint))
      throw nb::IOError("--resume: there is no checkpoint '" + options.checkpoint +
                        "' (train without --resume first, or pass --checkpoint FILE)");
    load_training_state(options.checkpoint, model, best_weights, *optimizer, vocabulary, options.optimizer, history);
    std::printf(
        "resumed from '%s' after epoch %lld (best validation perplexity %.2f at epoch "
        "%lld, learning rate now %g)\n",
        options.checkpoint.c_str(), static_cast<long long>(history.epochs()), history.best_validation_perplexity,
        static_cast<long long>(history.best_epoch), optimizer->lr());
  } else if (std::filesystem::exists(options.checkpoint)) {
    std::printf("note: '%s' exists and will be overwritten (use --resume to continue it)\n",
                options.checkpoint.c_str());
  }
  // After a resume: every rank then starts from rank 0's weights (DistributedDataParallel).
  const auto data_parallel = nabla_examples::data_parallel_run(model, options.distributed);
  if (data_parallel) {
    train_tokens = nabla_examples::rank_share(train_tokens, world, data_parallel->rank());
    std::printf("data-parallel: %d ranks, %zu training tokens and %lld streams each (rank 0's shown)\n", world,
                train_tokens.size(), static_cast<long long>(options.batch / world));
  }
  // The per-epoch decay. Made after a resume, so it starts from the restored learning rate
  // (the chainable form multiplies the current rate: nothing else to restore).
  nb::optim::ExponentialLR decay(*optimizer, {.gamma = options.lr_decay});

  // ---- training ----
  std::fflush(stdout);
  for (std::int64_t epoch = history.epochs() + 1; epoch <= options.epochs; ++epoch) {
    const double lr = optimizer->lr();
    const double cpu_start = cpu_seconds();
    const std::string label = "epoch " + std::to_string(epoch);
    const EpochResult trained =
        token_loader ? train_epoch_on(model, *optimizer, *token_loader, options.clip, options.log_interval, label)
                     : train_epoch(model, *optimizer, train_tokens, options.batch / world, options.bptt, options.clip,
                                   options.log_interval, label);
    start = Clock::now();
    const double validation = perplexity(model, data.validation, options.bptt);
    const double validation_seconds = seconds_since(start);
    history.train_perplexity.push_back(trained.train_perplexity);
    history.validation_perplexity.push_back(validation);
    history.learning_rate.push_back(lr);
    history.seconds.push_back(trained.seconds + validation_seconds);
    history.cpu_seconds.push_back(cpu_seconds() - cpu_start);
    const bool improved = history.best_epoch == 0 || validation < history.best_validation_perplexity;
    if (improved) {
      history.best_validation_perplexity = validation;
      history.best_epoch = epoch;
      best_weights = model.state_dict();
    }
    decay.step();
    if (!improved) optimizer->set_lr(optimizer->lr() / 4);  // a plateau: smaller steps
    start = Clock::now();
    if (nabla_examples::is_main_rank())  // one writer; every rank holds the same state
      save_training_state(options.checkpoint, model, best_weights, *optimizer, vocabulary, history);
    std::printf(
        "epoch %lld/%lld  train ppl %8.2f  valid ppl %8.2f  lr %.3g  time %.1f s "
        "(train %.1f s, valid %.1f s; CPU %.1f s)  %s\n",
        static_cast<long long>(epoch), static_cast<long long>(options.epochs), trained.train_perplexity, validation, lr,
        trained.seconds + validation_seconds, trained.seconds, validation_seconds, history.cpu_seconds.back(),
        improved ? "best so far, saved" : "no improvement: lr / 4");
    std::fflush(stdout);
  }
  if (history.epochs() == 0) {
    std::printf("no epoch trained (--epochs 0): the test below uses the initial weights\n");
    best_weights = model.state_dict();
  }

  // ---- test and generation with the best weights ----
  model.load_state_dict(best_weights);
  start = Clock::now();
  const double test = perplexity(model, data.test, options.bptt);
  double total_seconds = 0, total_cpu_seconds = 0;
  for (const double s : history.seconds) total_seconds += s;
  for (const double s : history.cpu_seconds) total_cpu_seconds += s;
  std::printf(
      "\nbest epoch %lld: validation perplexity %.2f; test perplexity %.2f "
      "(unigram: %.1f and %.1f; Bengio et al. 2003, test: 252)\n"
      "training: %.1f min wall, %.1f min CPU over %lld epochs; test evaluation %.1f s\n",
      static_cast<long long>(history.best_epoch), history.best_validation_perplexity, test, unigram_validation,
      unigram_test, total_seconds / 60.0, total_cpu_seconds / 60.0, static_cast<long long>(history.epochs()),
      seconds_since(start));
  if (!options.plot.empty() && history.epochs() > 0) {
    write_plot(options.plot, history, unigram_validation);
    std::printf("perplexity curves written to %s\n", options.plot.c_str());
  }
  if (options.generate > 0) {
    const std::vector<std::string> prompt_words = split_words(options.prompt);
    std::vector<std::int64_t> prompt_ids = vocabulary.encode(prompt_words);
    std::string unknown;
    for (const auto& word : prompt_words)
      if (!vocabulary.contains(word)) unknown += " '" + word + "'";
    if (!unknown.empty()) std::printf("(not in the vocabulary, read as <unk>:%s)\n", unknown.c_str());
    const SamplingOptions sampling{options.generate, options.temperature, options.top_k, options.seed};
    const std::vector<std::string> words = generate(model, vocabulary, prompt_ids, sampling);
    std::printf("\nsample (temperature %g, top-k %lld, seed %llu):\n%s", options.temperature,
                static_cast<long long>(options.top_k), static_cast<unsigned long long>(options.seed),
                options.prompt.c_str());
    for (const auto& word : words) std::printf(" %s", word.c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  nabla_examples::CommandLine cli(
      "sequence_model",
      "A word-level LSTM language model on the Brown corpus (Bengio et al. 2003 split:\n"
      "800,000 training, 200,000 validation, 161,192 test tokens; words seen <= 3 times\n"
      "in training become <unk>). Prints train/validation perplexity per epoch, the test\n"
      "perplexity of the best epoch, and text sampled from a prompt.\n"
      "Data: " +
          kBrownCorpus.fetch_command() + "\n",
      "Exit status: 0 after a run; 1 when the data is missing or damaged, a checkpoint does not\n"
      "fit the run or a file cannot be written; 2 for a bad command line.");
  define_options(cli, options);
  return nabla_examples::run_example(cli, argc, argv, [&] {
    try {
      return run(options);
    } catch (const CheckpointMismatch& error) {
      throw CheckpointMismatch(std::string("checkpoint mismatch: ") + error.what());
    }
  });
}
