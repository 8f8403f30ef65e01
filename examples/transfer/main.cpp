// examples/transfer/main.cpp - transfer learning on real data (issue 19): an LSTM language
// model pretrained on the Brown corpus gives its embedding and LSTM to the seed's spam
// classifier (Embedding -> LSTM -> Dense(1) -> Sigmoid, as in examples/spam_classifier), which
// is then fine-tuned on 1%, 5%, 10% and 100% of the training e-mails and compared, at each size
// and with the same seeds, with the same classifier trained from scratch.
//
//   1. The language model: pretrained here on the first --pretrain-tokens of the Brown corpus's
//      training part (examples/sequence_model's model, trainer and checkpoint format), or taken
//      from a file examples/sequence_model wrote (--pretrained FILE), which is what a user with
//      a trained model does. Its vocabulary is rebuilt from the corpus and checked against the
//      fingerprint in the file.
//   2. The move: nb::train::load_pretrained(file, *classifier[1], "lstm.") copies the LSTM by
//      name; the embedding's rows follow the LM's vocabulary (Brown words), the classifier's the
//      e-mails' tokenizer, so load_pretrained(file, *classifier[0], "embedding.") reports a shape
//      mismatch and nb::train::align_embedding copies the rows word by word (Brown's words
//      lowercased, as the tokenizer lowercases; the commonest spelling wins); the e-mails' words
//      Brown lacks keep their fresh initialisation. The counts are printed.
//   3. Fine-tuning: the pretrained part frozen for the first --freeze-epochs epochs
//      (nb::train::UnfreezeAfter) and trained at --pretrained-lr-scale times the learning rate
//      (optimizer parameter groups); the scratch model trains everything at --lr from the
//      start. Both start from the same seed (same head, same embedding rows for the words Brown
//      lacks), see the same e-mails in the same order, and are tested on the same test set.
//
// Prints one line per model, then test accuracy and F1 per training size (mean ± standard
// deviation over --runs), and writes them to --csv and an SVG chart (--svg). On this data
// pretraining on Brown did not help at any size (docs/results.md, 10 runs per size): the
// pretrained LSTM alone is level with training from scratch, the pretrained embedding hurts.
//
//   bash scripts/fetch_data.sh brown spam-assassin
//   build/examples/transfer                      # the short default run (20-40 s on two cores)
//   build/examples/transfer --help               # every flag; docs/examples.md has the full run
//
// Exit status: 0 when every check passed; 1 when a check failed, the data is missing or
// damaged, or the pretrained file does not fit; 2 for a bad command line.
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nabla/nabla.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/run.hpp"
#include "../sequence_model/brown_corpus.hpp"
#include "../sequence_model/checkpoint.hpp"
#include "../sequence_model/language_model.hpp"
#include "../sequence_model/training.hpp"
#include "../spam_classifier/spam_corpus.hpp"

namespace nb = nabla;
namespace lm = sequence_model;
namespace spam = spam_classifier;

namespace {

using nabla_examples::checked_device;
using nabla_examples::Checks;
using nabla_examples::Clock;
using nabla_examples::format;
using nabla_examples::seconds_since;
using nabla_examples::UsageError;

// ---- command line ----------------------------------------------------------------------------

struct Options {
  std::string data_dir;                               // the e-mails
  std::string brown_dir;                              // the Brown corpus
  std::string pretrained;                             // a sequence_model checkpoint; empty: pretrain here
  std::string save_pretrained = "transfer_lm.nabla";  // where the LM pretrained here goes
  std::int64_t brown_train_tokens = 800000, brown_validation_tokens = 200000;  // sequence_model's --split
  bool split_given = false;
  std::optional<std::int64_t> pretrain_tokens;
  std::optional<std::int64_t> pretrain_epochs;
  std::optional<std::int64_t> size;
  std::optional<std::vector<double>> fractions;
  std::optional<int> runs;
  std::optional<int> epochs;
  std::optional<std::int64_t> min_steps;
  std::optional<std::int64_t> batch;
  std::optional<std::int64_t> maxlen;
  std::optional<std::int64_t> num_words;
  std::optional<double> lr;
  bool matched_fresh_rows = false;  // fresh rows at the pretrained rows' scale
  std::string transfer = "both";    // which pretrained parts move: both, embedding, lstm
  double pretrained_lr_scale = 0.5;
  int freeze_epochs = 1;
  std::uint64_t seed = 1;
  int threads = 0;
  double test_fraction = 0.2;
  std::string csv = "transfer_results.csv";
  std::string svg = "transfer_accuracy.svg";
  std::string device = "cpu";
  bool quick = false;
};

/// What a run uses: the defaults, the --quick ones, or the flags.
struct Settings {
  std::int64_t pretrain_tokens;  // 0: the whole training part
  std::int64_t pretrain_epochs;
  std::int64_t size;  // embedding = hidden size of a model pretrained here
  std::vector<double> fractions;
  int runs;
  int epochs;
  std::int64_t min_steps;  // a small subset trains for more epochs, up to this many steps
  std::int64_t batch;
  std::int64_t maxlen;
  std::int64_t num_words;
  double lr;
};

// The short default run (22 s on two busy cores). docs/results.md has the full run's flags.
const Settings kDefaults{.pretrain_tokens = 100000,
                         .pretrain_epochs = 1,
                         .size = 64,
                         .fractions = {0.05, 1.0},
                         .runs = 1,
                         .epochs = 2,
                         .min_steps = 60,
                         .batch = 32,
                         .maxlen = 100,
                         .num_words = 10000,
                         .lr = 2e-3};
// --quick: the bundled test slices (48 e-mails, a 1,108-token corpus) in a few seconds.
const Settings kQuick{.pretrain_tokens = 0,
                      .pretrain_epochs = 3,
                      .size = 16,
                      .fractions = {0.5, 1.0},
                      .runs = 2,
                      .epochs = 2,
                      .min_steps = 6,
                      .batch = 8,
                      .maxlen = 40,
                      .num_words = 1000,
                      .lr = 1e-2};
constexpr std::int64_t kRareCount = 3;             // sequence_model's: words seen <= 3 times -> <unk>
constexpr std::int64_t kValidationTokens = 50000;  // the LM's validation perplexity reads this many
constexpr double kPretrainLr = 3e-3;               // sequence_model's Adam default
constexpr double kPretrainDropout = 0.1;

Settings settings_of(const Options& options) {
  const Settings& base = options.quick ? kQuick : kDefaults;
  return {.pretrain_tokens = options.pretrain_tokens.value_or(base.pretrain_tokens),
          .pretrain_epochs = options.pretrain_epochs.value_or(base.pretrain_epochs),
          .size = options.size.value_or(base.size),
          .fractions = options.fractions.value_or(base.fractions),
          .runs = options.runs.value_or(base.runs),
          .epochs = options.epochs.value_or(base.epochs),
          .min_steps = options.min_steps.value_or(base.min_steps),
          .batch = options.batch.value_or(base.batch),
          .maxlen = options.maxlen.value_or(base.maxlen),
          .num_words = options.num_words.value_or(base.num_words),
          .lr = options.lr.value_or(base.lr)};
}

std::string list_text(const std::vector<double>& values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + format("%g", values[i]);
  return text;
}

void define_options(nabla_examples::CommandLine& cli, Options& options) {
  const auto defaults = [](const std::string& value, const std::string& quick) {
    return "(default " + value + "; --quick: " + quick + ")";
  };
  const auto number = [](double value) { return format("%g", value); };
  cli.data_dir(options.data_dir, spam::kSpamData, "the e-mails: DIR/data/<group>/*.txt or DIR/<group>/*.txt")
      ->group("data and files");
  options.brown_dir = lm::kBrownCorpus.default_directory();
  cli.text("--brown-dir", options.brown_dir, "DIR",
           "the Brown corpus files ca01..cr09 (default $NABLA_DATA_DIR/brown or\ndata/brown; fetch it with " +
               lm::kBrownCorpus.fetch_command() + ")")
      ->group("data and files");
  cli.custom("--split", "TRAIN,VALID",
             "the Brown corpus's training and validation token counts, as given to\nsequence_model: they define "
             "the LM's vocabulary (default 800000,200000;\n--quick: 700,200)",
             [&options](const std::string& text) {
               const auto comma = text.find(',');
               if (comma == std::string::npos)
                 throw UsageError("--split expects TRAIN,VALID token counts, got '" + text + "'");
               const auto count = [](const std::string& part) {
                 return nabla_examples::parse_whole_number<std::int64_t>("--split", part, 2,
                                                                         std::numeric_limits<std::int64_t>::max());
               };
               options.brown_train_tokens = count(text.substr(0, comma));
               options.brown_validation_tokens = count(text.substr(comma + 1));
               options.split_given = true;
             })
      ->group("data and files");
  cli.text("--pretrained", options.pretrained, "FILE",
           "a checkpoint examples/sequence_model wrote (its --checkpoint): take its\nembedding and LSTM instead of "
           "pretraining here")
      ->group("data and files");
  cli.text("--save-pretrained", options.save_pretrained, "FILE",
           "where the LM pretrained here is written, in sequence_model's format\n(default transfer_lm.nabla)")
      ->group("data and files");
  cli.text("--csv", options.csv, "FILE", "every model's test scores (default transfer_results.csv)")
      ->group("data and files");
  cli.text("--svg", options.svg, "FILE.svg",
           "accuracy and F1 against the training size (default transfer_accuracy.svg)")
      ->group("data and files");

  cli.integer<std::int64_t>("--pretrain-tokens", options.pretrain_tokens, 0,
                            "pretrain on the first N training tokens of the corpus; 0: all\n" +
                                defaults(number(static_cast<double>(kDefaults.pretrain_tokens)), "0"))
      ->group("pretraining");
  cli.integer<std::int64_t>("--pretrain-epochs", options.pretrain_epochs, 1, 1000,
                            "epochs over them " + defaults(number(static_cast<double>(kDefaults.pretrain_epochs)),
                                                           number(static_cast<double>(kQuick.pretrain_epochs))))
      ->group("pretraining");
  cli.integer<std::int64_t>(
         "--size", options.size, 1, 65'536,
         "embedding and hidden size of the LM pretrained here (a --pretrained\nfile has its own) " +
             defaults(number(static_cast<double>(kDefaults.size)), number(static_cast<double>(kQuick.size))))
      ->group("pretraining");

  cli.custom("--fractions", "F,F,...",
             "shares of the training e-mails to fine-tune on, each in (0, 1]\n" +
                 defaults(list_text(kDefaults.fractions), list_text(kQuick.fractions)) +
                 "; the full run: 0.01,0.05,0.1,1",
             [&options](const std::string& text) {
               std::vector<double> values;
               std::size_t start = 0;
               while (true) {
                 const std::size_t comma = text.find(',', start);
                 const std::string part = text.substr(start, comma == std::string::npos ? comma : comma - start);
                 const double value =
                     nabla_examples::parse_real("--fractions", part, {.low = 0, .high = 1, .include_high = true});
                 if (std::find(values.begin(), values.end(), value) != values.end())
                   throw UsageError("--fractions lists " + part + " twice");
                 values.push_back(value);
                 if (comma == std::string::npos) break;
                 start = comma + 1;
               }
               std::sort(values.begin(), values.end());
               options.fractions = values;
             })
      ->group("fine-tuning");
  cli.integer<int>("--runs", options.runs, 1, 1000,
                   "runs per size and model, seeds --seed, --seed+1, ... " +
                       defaults(std::to_string(kDefaults.runs), std::to_string(kQuick.runs)))
      ->group("fine-tuning");
  cli.integer<int>("--epochs", options.epochs, 1, 100'000,
                   "epochs of fine-tuning " + defaults(std::to_string(kDefaults.epochs), std::to_string(kQuick.epochs)))
      ->group("fine-tuning");
  cli.integer<std::int64_t>(
         "--min-steps", options.min_steps, 0,
         "a small subset trains more epochs, until this many optimizer steps\n" +
             defaults(number(static_cast<double>(kDefaults.min_steps)), number(static_cast<double>(kQuick.min_steps))))
      ->group("fine-tuning");
  cli.integer<std::int64_t>("--batch", options.batch, 1, 1'000'000,
                            "batch size " + defaults(number(static_cast<double>(kDefaults.batch)),
                                                     number(static_cast<double>(kQuick.batch))))
      ->group("fine-tuning");
  cli.integer<std::int64_t>("--maxlen", options.maxlen, 1, 100'000,
                            "tokens per e-mail (the last N) " + defaults(number(static_cast<double>(kDefaults.maxlen)),
                                                                         number(static_cast<double>(kQuick.maxlen))))
      ->group("fine-tuning");
  cli.integer<std::int64_t>(
         "--num-words", options.num_words, 2, std::int64_t{1} << 24,
         "the tokenizer keeps the N-1 most frequent words " +
             defaults(number(static_cast<double>(kDefaults.num_words)), number(static_cast<double>(kQuick.num_words))))
      ->group("fine-tuning");
  cli.real("--lr", options.lr, {.low = 0, .high = 10},
           "Adam's learning rate " + defaults(number(kDefaults.lr), number(kQuick.lr)))
      ->group("fine-tuning");
  cli.choice("--transfer", options.transfer, {"both", "embedding", "lstm"},
             "which pretrained parts the classifier takes (default both); the other\nstarts fresh and trains like the "
             "head")
      ->group("fine-tuning");
  cli.flag("--match-fresh-rows", options.matched_fresh_rows,
           "the embedding rows of the words Brown lacks start at the pretrained\nrows' scale, U(-a, a) with the "
           "same standard deviation, instead of\nKeras's U(-0.05, 0.05)")
      ->group("fine-tuning");
  cli.real("--pretrained-lr-scale", options.pretrained_lr_scale, {.low = 0, .high = 1, .include_high = true},
           "the pretrained embedding and LSTM train at this times --lr\n(a parameter group; default 0.5)")
      ->group("fine-tuning");
  cli.integer<int>("--freeze-epochs", options.freeze_epochs, 0, 100'000,
                   "the pretrained part stays frozen for the first N epochs\n(UnfreezeAfter; 0: never; default 1)")
      ->group("fine-tuning");
  cli.real("--test-fraction", options.test_fraction, {.low = 0, .high = 1},
           "share of each class held out for testing (default 0.2)")
      ->group("fine-tuning");
  cli.seed(options.seed, "the split, the subsets, the weights and the shuffling")->group("fine-tuning");
  cli.threads(options.threads)->group("fine-tuning");
  cli.device(options.device)->group("fine-tuning");
  cli.quick(options.quick, "the bundled test slices in a few seconds (the CI smoke test)");
  cli.check([&options] {
    if (options.quick && !options.split_given) {
      options.brown_train_tokens = 700;
      options.brown_validation_tokens = 200;
    }
    if (!options.pretrained.empty() && options.size)
      throw UsageError("--size sets the size of a model pretrained here; a --pretrained file has its own");
  });
}

// ---- the language model ----------------------------------------------------------------------

/// The pretrained language model as the classifier needs it: the file, its sizes, and the word
/// of every row of its embedding.
struct PretrainedModel {
  std::string path;
  std::int64_t embedding_size = 0, hidden_size = 0, layers = 1;
  lm::Vocabulary vocabulary;
  nb::Tensor<float> embedding;  // [vocabulary, embedding_size]
  double embedding_std = 0;     // the standard deviation of its values
};

/// Trains the LSTM language model of examples/sequence_model on the first `tokens` of the
/// Brown training part and writes it to `path` in that example's checkpoint format.
void pretrain(const Options& options, const Settings& settings, const lm::LanguageModelData& data,
              const nb::Device& device) {
  std::vector<std::int64_t> tokens = data.train;
  if (settings.pretrain_tokens > 0 && settings.pretrain_tokens < static_cast<std::int64_t>(tokens.size()))
    tokens.resize(static_cast<std::size_t>(settings.pretrain_tokens));
  std::vector<std::int64_t> validation = data.validation;
  if (static_cast<std::int64_t>(validation.size()) > kValidationTokens) validation.resize(kValidationTokens);
  const lm::ModelConfig config{data.vocabulary.size(), settings.size, settings.size, 1, kPretrainDropout, true};
  nb::manual_seed(options.seed);
  lm::LanguageModel model(config, options.seed);
  model.to(device);
  nb::optim::Adam<float> optimizer(model.parameters(), nb::optim::AdamOptions{.lr = kPretrainLr});
  std::printf(
      "pretraining the language model (%s), %lld parameters, on %zu Brown tokens for %lld epoch%s (Adam lr %g, batch "
      "20 x bptt 35)\n",
      model.describe().c_str(), static_cast<long long>(model.parameter_count()), tokens.size(),
      static_cast<long long>(settings.pretrain_epochs), settings.pretrain_epochs == 1 ? "" : "s", kPretrainLr);
  lm::TrainingHistory history;
  const double unigram = lm::unigram_perplexity(data.train, validation, data.vocabulary.size());
  for (std::int64_t epoch = 1; epoch <= settings.pretrain_epochs; ++epoch) {
    const auto start = Clock::now();
    const double cpu_start = lm::cpu_seconds();
    const lm::EpochResult trained =
        lm::train_epoch(model, optimizer, tokens, 20, 35, 1.0, 1'000'000, "epoch " + std::to_string(epoch));
    const double valid = lm::perplexity(model, validation, 35);
    history.train_perplexity.push_back(trained.train_perplexity);
    history.validation_perplexity.push_back(valid);
    history.learning_rate.push_back(optimizer.lr());
    history.seconds.push_back(seconds_since(start));
    history.cpu_seconds.push_back(lm::cpu_seconds() - cpu_start);
    history.best_validation_perplexity = valid;
    history.best_epoch = epoch;
    std::printf("  epoch %lld: train perplexity %.1f, validation %.1f on %zu tokens (unigram %.1f), %.1f s\n",
                static_cast<long long>(epoch), trained.train_perplexity, valid, validation.size(), unigram,
                history.seconds.back());
  }
  lm::save_training_state(options.save_pretrained, model, model.state_dict(), optimizer, data.vocabulary, history);
  std::printf("  written to %s (a sequence_model checkpoint: --pretrained takes it)\n",
              options.save_pretrained.c_str());
}

/// Opens the language model's file and checks that it is one of examples/sequence_model, on
/// this vocabulary.
PretrainedModel open_pretrained(const std::string& path, const lm::Vocabulary& vocabulary) {
  const nb::io::Checkpoint checkpoint = nb::io::load_checkpoint(path);
  if (!checkpoint.has_metadata("lm.format") || checkpoint.metadata_text("lm.format") != lm::kCheckpointFormat)
    throw lm::CheckpointMismatch("--pretrained: '" + path +
                                 "' is a nabla file but no checkpoint of examples/sequence_model (its --checkpoint)");
  const auto stored = [&](const char* key) {
    return checkpoint.metadata_number<std::int64_t>(std::string("lm.") + key);
  };
  if (checkpoint.metadata_number<std::uint64_t>("lm.vocabulary_fingerprint") != vocabulary.fingerprint())
    throw lm::CheckpointMismatch(
        "--pretrained: '" + path + "' was trained on another vocabulary (" + std::to_string(stored("vocabulary_size")) +
        " words; the Brown corpus with this --split "
        "gives " +
        std::to_string(vocabulary.size()) + "): pass the --split and --brown-dir it was trained with");
  PretrainedModel model;
  model.path = path;
  model.embedding_size = stored("embedding_size");
  model.hidden_size = stored("hidden_size");
  model.layers = stored("layers");
  model.vocabulary = vocabulary;
  model.embedding = checkpoint.tensor<float>("model.embedding.weight");
  if (model.embedding.shape() != nb::Shape{vocabulary.size(), model.embedding_size})
    throw lm::CheckpointMismatch("--pretrained: '" + path + "': model.embedding.weight has shape " +
                                 nb::to_string(model.embedding.shape()));
  const std::vector<float> values = model.embedding.to_host_vector();
  double sum = 0, squares = 0;
  for (const float value : values) sum += value;
  const double mean = sum / static_cast<double>(values.size());
  for (const float value : values) squares += (value - mean) * (value - mean);
  model.embedding_std = std::sqrt(squares / static_cast<double>(values.size()));
  return model;
}

/// The word of every row of the LM's embedding, lowercased (the e-mails' tokenizer lowercases).
/// Brown keeps "The" and "the" apart; the vocabulary lists the commoner first, and
/// align_embedding takes the first row of a word.
std::vector<std::string> lowercased_words(const lm::Vocabulary& vocabulary) {
  std::vector<std::string> words;
  for (std::int64_t id = 0; id < vocabulary.size(); ++id) {
    std::string word = id == lm::Vocabulary::kUnknown ? std::string() : vocabulary.word(id);
    std::transform(word.begin(), word.end(), word.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    words.push_back(word);
  }
  return words;
}

// ---- the classifier --------------------------------------------------------------------------

nb::Tensor<float> as_float_ids(const nb::IndexTensor& ids) {
  const std::vector<std::int64_t> values = ids.to_vector();
  return nb::from_vector<float>(std::vector<float>(values.begin(), values.end()), ids.shape());
}

nb::Tensor<float> labels_tensor(const std::vector<int>& labels) {
  return nb::from_vector<float>(std::vector<float>(labels.begin(), labels.end()),
                                {static_cast<std::int64_t>(labels.size()), 1});
}

/// One model's outcome.
struct Score {
  double accuracy = 0, f1 = 0, precision = 0, recall = 0, seconds = 0;
  int epochs = 0;
};

/// The e-mails one (fraction, run) trains on, tokenized, and the test set in its tokens.
struct TaskData {
  nb::data::Tokenizer tokenizer;
  nb::Tensor<float> x_train, y_train, x_test, y_test;
  std::int64_t count = 0;
};

/// What a fine-tuning run reports besides its score (printed once, checked).
struct TransferReport {
  nb::io::LoadReport lstm, embedding;
  nb::train::EmbeddingAlignment alignment;
  bool lstm_identical = false;  // the classifier's LSTM equals the file's before fine-tuning
  std::optional<int> unfrozen_epoch;
};

/// Trains the seed's classifier on `task` and tests it: from scratch, or (`pretrained` given)
/// with the LM's embedding and LSTM moved in. `seed` fixes the initial weights and the order
/// of the batches, so both variants of a run differ only in what they start from.
Score fine_tune(const Options& options, const Settings& settings, const TaskData& task, const nb::Device& device,
                std::uint64_t seed, std::int64_t embedding_size, std::int64_t hidden_size, std::int64_t layers,
                const PretrainedModel* pretrained, TransferReport* report, std::vector<float>* head_start) {
  const auto start = Clock::now();
  nb::manual_seed(seed);
  nb::Model<float> model;
  model.add<nb::nn::Embedding>(task.tokenizer.vocabulary_size(), embedding_size)
      .add<nb::nn::LSTM>(embedding_size, hidden_size, nb::nn::LSTMOptions{.num_layers = layers})
      .add<nb::nn::Dense>(hidden_size, 1)
      .add<nb::nn::Sigmoid>();
  auto embedding = std::dynamic_pointer_cast<nb::nn::Embedding<float>>(model[0]);
  {
    // Keras's U(-0.05, 0.05) start for the embedding, as examples/spam_classifier does.
    nb::NoGradGuard no_grad;
    nb::Tensor<float> table = embedding->weight();
    table.copy_(nb::nn::init::uniform<float>(table.shape(), -0.05, 0.05));
  }
  if (head_start) *head_start = model[2]->parameters()[0].to_host_vector();

  std::vector<nb::train::AnyCallback> callbacks;
  std::shared_ptr<nb::train::UnfreezeAfter<float>> unfreeze;
  if (pretrained) {
    // The move: the LSTM by name, the embedding row by row through the vocabularies.
    std::vector<std::shared_ptr<nb::nn::Module<float>>> moved, fresh{model[2]};
    if (options.transfer != "embedding") {
      report->lstm = nb::train::load_pretrained(pretrained->path, *model[1], "lstm.");
      const nb::io::Checkpoint file = nb::io::load_checkpoint(pretrained->path);
      bool identical = true;
      for (const auto& [name, tensor] : model[1]->state_dict())
        identical = identical && tensor.to_host_vector() == file.tensor<float>("model.lstm." + name).to_host_vector();
      report->lstm_identical = identical;
      moved.push_back(model[1]);
    } else {
      fresh.push_back(model[1]);
    }
    if (options.transfer != "lstm") {
      if (options.matched_fresh_rows) {
        // U(-0.05, 0.05) stretched to the pretrained rows' standard deviation (a uniform's is
        // its half-width / sqrt(3)); a rescale draws nothing, so both models keep the same head.
        const float stretch = static_cast<float>(pretrained->embedding_std * std::sqrt(3.0) / 0.05);
        std::vector<float> values = embedding->weight().to_host_vector();
        for (float& value : values) value *= stretch;
        nb::NoGradGuard no_grad;
        nb::Tensor<float> table = embedding->weight();
        table.copy_(nb::from_vector<float>(values, table.shape()));
      }
      report->embedding = nb::train::load_pretrained(pretrained->path, *model[0], "embedding.");
      report->alignment = nb::train::align_embedding(*embedding, task.tokenizer, pretrained->embedding,
                                                     lowercased_words(pretrained->vocabulary));
      moved.push_back(model[0]);
    } else {
      fresh.push_back(model[0]);
    }
    model.to(device);  // before the optimizer, whose state is made where the parameters are

    // Two parameter groups: the pretrained part at a lower learning rate, the rest at --lr.
    std::vector<nb::Tensor<float>> pretrained_part, fresh_part;
    for (const auto& part : moved)
      for (const auto& parameter : part->parameters()) pretrained_part.push_back(parameter);
    for (const auto& part : fresh)
      for (const auto& parameter : part->parameters()) fresh_part.push_back(parameter);
    const double pretrained_lr = settings.lr * options.pretrained_lr_scale;
    model.compile(
        [&](const std::vector<nb::Tensor<float>>&) {
          return std::make_shared<nb::optim::Adam<float>>(
              std::vector<nb::optim::ParamGroup<float>>{{.params = pretrained_part, .lr = pretrained_lr},
                                                        {.params = fresh_part}},
              nb::optim::AdamOptions{.lr = settings.lr});
        },
        nb::loss::BinaryCrossEntropy{});
    if (options.freeze_epochs > 0) {
      unfreeze = std::make_shared<nb::train::UnfreezeAfter<float>>(moved, options.freeze_epochs);
      callbacks.push_back(unfreeze);
    }
  } else {
    model.to(device);
    model.compile(nb::optim::AdamOptions{.lr = settings.lr}, nb::loss::BinaryCrossEntropy{});
  }

  // A small subset has few steps per epoch: it trains more epochs, up to --min-steps steps.
  const std::int64_t steps_per_epoch = (task.count + settings.batch - 1) / settings.batch;
  const int epochs = static_cast<int>(
      std::max<std::int64_t>(settings.epochs, (settings.min_steps + steps_per_epoch - 1) / steps_per_epoch));
  model.fit(task.x_train, task.y_train,
            {.epochs = epochs, .batch_size = settings.batch, .seed = seed, .callbacks = callbacks, .verbose = 0});
  if (unfreeze) report->unfrozen_epoch = unfreeze->unfrozen_epoch();

  const nb::Tensor<float> predictions = model.predict(task.x_test, settings.batch);
  nb::metrics::Accuracy accuracy;
  nb::metrics::Precision precision;
  nb::metrics::Recall recall;
  nb::metrics::F1 f1;
  for (nb::metrics::Metric* metric : std::initializer_list<nb::metrics::Metric*>{&accuracy, &precision, &recall, &f1})
    metric->update(predictions, task.y_test);
  return {accuracy.result(), f1.result(), precision.result(), recall.result(), seconds_since(start), epochs};
}

// ---- the summary -----------------------------------------------------------------------------

struct MeanSpread {
  double mean = 0, spread = 0;  // spread: the sample standard deviation (0 for one run)
};

MeanSpread mean_spread(const std::vector<double>& values) {
  MeanSpread result;
  for (double value : values) result.mean += value;
  result.mean /= static_cast<double>(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (double value : values) squares += (value - result.mean) * (value - result.mean);
    result.spread = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  return result;
}

std::string percent(double fraction) { return format("%g%%", 100.0 * fraction); }

// ---- the experiment --------------------------------------------------------------------------

void run_transfer(const Options& options, Checks& checks) {
  const nb::Device device = checked_device(options.device);
  if (options.threads > 0) nb::set_num_threads(options.threads);
  const Settings settings = settings_of(options);
  const auto start = Clock::now();

  // ---- the language model ----
  const lm::BrownCorpus brown = lm::read_brown_corpus(options.brown_dir);
  const lm::LanguageModelData brown_data =
      lm::split_corpus(brown, options.brown_train_tokens, options.brown_validation_tokens, kRareCount);
  std::printf("Brown corpus: %lld tokens in %lld files; vocabulary of the first %lld tokens: %lld words\n",
              static_cast<long long>(brown_data.corpus_tokens), static_cast<long long>(brown_data.file_count),
              static_cast<long long>(options.brown_train_tokens), static_cast<long long>(brown_data.vocabulary.size()));
  if (options.pretrained.empty()) pretrain(options, settings, brown_data, device);
  const PretrainedModel pretrained =
      open_pretrained(options.pretrained.empty() ? options.save_pretrained : options.pretrained, brown_data.vocabulary);
  std::printf("pretrained model: %s (embedding %lld, hidden %lld, %lld LSTM layer%s)\n\n", pretrained.path.c_str(),
              static_cast<long long>(pretrained.embedding_size), static_cast<long long>(pretrained.hidden_size),
              static_cast<long long>(pretrained.layers), pretrained.layers == 1 ? "" : "s");

  // ---- the e-mails: one split, one test set for every model ----
  const spam::Corpus corpus = spam::load_corpus(options.data_dir);
  std::vector<std::string> texts;
  std::vector<int> labels;
  for (const auto& email : corpus.emails) {
    texts.push_back(spam::message_text(email.raw, spam::TextMode::clean));
    labels.push_back(email.label);
  }
  const spam::Split split = spam::stratified_split(labels, options.test_fraction, options.seed);
  std::vector<std::string> test_texts;
  std::vector<int> test_labels;
  for (std::size_t i : split.test) {
    test_texts.push_back(texts[i]);
    test_labels.push_back(labels[i]);
  }
  const auto train_total = static_cast<std::int64_t>(split.train.size());
  std::printf("e-mails: %zu from %s; %lld for training, %zu for testing (the same test set for every model)\n",
              corpus.emails.size(), corpus.directory.c_str(), static_cast<long long>(train_total), test_texts.size());
  std::printf(
      "fine-tuning: Embedding -> LSTM -> Dense(1) -> Sigmoid, Adam lr %g, batch %lld, maxlen %lld, %d epochs (more "
      "for small subsets, up to %lld steps); pretrained part: frozen for %d epoch%s, then lr %g; %d run%s per size, "
      "seeds %llu..%llu; %d thread%s\n\n",
      settings.lr, static_cast<long long>(settings.batch), static_cast<long long>(settings.maxlen), settings.epochs,
      static_cast<long long>(settings.min_steps), options.freeze_epochs, options.freeze_epochs == 1 ? "" : "s",
      settings.lr * options.pretrained_lr_scale, settings.runs, settings.runs == 1 ? "" : "s",
      static_cast<unsigned long long>(options.seed),
      static_cast<unsigned long long>(options.seed + static_cast<std::uint64_t>(settings.runs) - 1),
      nb::get_num_threads(), nb::get_num_threads() == 1 ? "" : "s");

  std::ofstream csv(options.csv);
  if (!csv) throw nb::IOError("--csv: cannot write '" + options.csv + "'");
  csv << "fraction,train_emails,model,run,seed,epochs,accuracy,f1,precision,recall,seconds,copied_rows,fresh_rows\n";

  // scores[fraction index][0 = scratch, 1 = pretrained] = one Score per run
  std::vector<std::array<std::vector<Score>, 2>> scores(settings.fractions.size());
  std::vector<std::int64_t> subset_sizes(settings.fractions.size());
  bool reports_printed = false, lstm_loaded_every_time = true, heads_equal = true, unfrozen_on_time = true;
  std::int64_t least_copied = std::numeric_limits<std::int64_t>::max();
  for (int run = 0; run < settings.runs; ++run) {
    const std::uint64_t seed = options.seed + static_cast<std::uint64_t>(run);
    // Each run draws its own order of the training e-mails; a fraction takes its first share,
    // so within a run the subsets are nested.
    const std::vector<std::int64_t> order = nb::data::shuffled_indices(train_total, seed, 3);
    for (std::size_t f = 0; f < settings.fractions.size(); ++f) {
      const double fraction = settings.fractions[f];
      const std::int64_t count = std::max<std::int64_t>(
          2, std::min<std::int64_t>(train_total, std::llround(fraction * static_cast<double>(train_total))));
      subset_sizes[f] = count;
      std::vector<std::string> train_texts;
      std::vector<int> train_labels;
      for (std::int64_t k = 0; k < count; ++k) {
        const std::size_t index = split.train[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
        train_texts.push_back(texts[index]);
        train_labels.push_back(labels[index]);
      }
      // The tokenizer sees only the e-mails this model trains on, as it would in practice.
      TaskData task{nb::data::Tokenizer({.num_words = settings.num_words}), {}, {}, {}, {}, count};
      task.tokenizer.fit_on_texts(train_texts);
      task.x_train = as_float_ids(
          nb::data::pad_sequences(task.tokenizer.texts_to_sequences(train_texts), {.maxlen = settings.maxlen}));
      task.y_train = labels_tensor(train_labels);
      task.x_test = as_float_ids(
          nb::data::pad_sequences(task.tokenizer.texts_to_sequences(test_texts), {.maxlen = settings.maxlen}));
      task.y_test = labels_tensor(test_labels);

      std::vector<float> scratch_head, pretrained_head;
      const Score scratch = fine_tune(options, settings, task, device, seed, pretrained.embedding_size,
                                      pretrained.hidden_size, pretrained.layers, nullptr, nullptr, &scratch_head);
      TransferReport report;
      const Score transferred =
          fine_tune(options, settings, task, device, seed, pretrained.embedding_size, pretrained.hidden_size,
                    pretrained.layers, &pretrained, &report, &pretrained_head);
      if (!reports_printed) {
        std::printf("moving the pretrained part (first model):\n");
        if (options.transfer != "embedding") std::printf("  LSTM:      %s\n", report.lstm.summary().c_str());
        if (options.transfer != "lstm")
          std::printf(
              "  embedding: %s\n  -> the embedding goes row by row through the vocabularies "
              "(align_embedding); standard deviation of the pretrained rows %.4f, of the fresh rows %.4f%s:\n",
              report.embedding.summary().c_str(), pretrained.embedding_std,
              options.matched_fresh_rows ? pretrained.embedding_std : 0.05 / std::sqrt(3.0),
              options.matched_fresh_rows ? " (--match-fresh-rows)" : " (Keras's U(-0.05, 0.05))");
        reports_printed = true;
      }
      if (options.transfer != "embedding")
        lstm_loaded_every_time = lstm_loaded_every_time && report.lstm.ok() && report.lstm_identical;
      heads_equal = heads_equal && scratch_head == pretrained_head;
      if (options.freeze_epochs > 0 && options.freeze_epochs < transferred.epochs)
        unfrozen_on_time = unfrozen_on_time && report.unfrozen_epoch == options.freeze_epochs;
      if (options.transfer != "lstm") least_copied = std::min(least_copied, report.alignment.copied);
      std::printf("%5s (%lld e-mails), run %d: %s\n", percent(fraction).c_str(), static_cast<long long>(count), run + 1,
                  options.transfer == "lstm" ? "the embedding starts fresh (--transfer lstm)"
                                             : report.alignment.summary().c_str());
      for (int variant = 0; variant < 2; ++variant) {
        const Score& score = variant == 0 ? scratch : transferred;
        scores[f][static_cast<std::size_t>(variant)].push_back(score);
        std::printf("      %-10s %3d epochs  accuracy %.4f  F1 %.4f  (precision %.4f, recall %.4f)  %.1f s\n",
                    variant == 0 ? "scratch" : "pretrained", score.epochs, score.accuracy, score.f1, score.precision,
                    score.recall, score.seconds);
        csv << format("%g", fraction) << ',' << count << ',' << (variant == 0 ? "scratch" : "pretrained") << ','
            << run + 1 << ',' << seed << ',' << score.epochs << ',' << format("%.6f", score.accuracy) << ','
            << format("%.6f", score.f1) << ',' << format("%.6f", score.precision) << ',' << format("%.6f", score.recall)
            << ',' << format("%.2f", score.seconds) << ','
            << (variant == 1 ? std::to_string(report.alignment.copied) : "") << ','
            << (variant == 1 ? std::to_string(report.alignment.fresh) : "") << '\n';
      }
    }
  }
  csv.close();
  if (!csv) throw nb::IOError("--csv: writing '" + options.csv + "' failed");

  // ---- the table ----
  std::printf("\ntest set: %zu e-mails (%lld spam); mean ± standard deviation over %d run%s\n", test_texts.size(),
              static_cast<long long>(std::count(test_labels.begin(), test_labels.end(), 1)), settings.runs,
              settings.runs == 1 ? "" : "s");
  std::printf("| training e-mails | scratch accuracy | pretrained accuracy | scratch F1 | pretrained F1 |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  std::array<std::vector<double>, 2> accuracy_curve, f1_curve;
  std::vector<double> x_values;
  for (std::size_t f = 0; f < settings.fractions.size(); ++f) {
    std::array<MeanSpread, 2> accuracy, f1;
    for (std::size_t variant = 0; variant < 2; ++variant) {
      std::vector<double> accuracies, f1s;
      for (const Score& score : scores[f][variant]) {
        accuracies.push_back(score.accuracy);
        f1s.push_back(score.f1);
      }
      accuracy[variant] = mean_spread(accuracies);
      f1[variant] = mean_spread(f1s);
      accuracy_curve[variant].push_back(accuracy[variant].mean);
      f1_curve[variant].push_back(f1[variant].mean);
    }
    x_values.push_back(std::log10(100.0 * settings.fractions[f]));
    std::printf("| %s (%lld) | %.4f ± %.4f | %.4f ± %.4f | %.4f ± %.4f | %.4f ± %.4f |\n",
                percent(settings.fractions[f]).c_str(), static_cast<long long>(subset_sizes[f]), accuracy[0].mean,
                accuracy[0].spread, accuracy[1].mean, accuracy[1].spread, f1[0].mean, f1[0].spread, f1[1].mean,
                f1[1].spread);
  }
  std::printf("scores of every model: %s\n", options.csv.c_str());

  // ---- the chart: x = log10 of the percentage, so 1%, 10% and 100% are 0, 1 and 2 ----
  const std::string x_label = "training e-mails, log10 of the percentage (0: 1%, 1: 10%, 2: 100%)";
  nb::train::ChartPanel accuracy_panel{"test accuracy", {}, x_label}, f1_panel{"test F1 (spam)", {}, x_label};
  accuracy_panel.series = {{"from scratch", accuracy_curve[0], "#7f7f7f", true},
                           {"pretrained (Brown LM)", accuracy_curve[1], "#1f77b4", false}};
  f1_panel.series = {{"from scratch", f1_curve[0], "#7f7f7f", true},
                     {"pretrained (Brown LM)", f1_curve[1], "#1f77b4", false}};
  std::ofstream svg(options.svg);
  svg << nb::train::line_chart_svg({accuracy_panel, f1_panel}, x_values);
  if (!svg) throw nb::IOError("--svg: cannot write '" + options.svg + "'");
  std::printf("chart: %s\ntime: %.1f s\n\n", options.svg.c_str(), seconds_since(start));

  // ---- self-checks ----
  if (options.transfer != "embedding")
    checks.expect(lstm_loaded_every_time,
                  "load_pretrained copied every LSTM tensor, and the classifier's LSTM equals the file's");
  if (options.transfer != "lstm")
    checks.expect(least_copied > 0, "align_embedding copied pretrained rows into every pretrained model (at least " +
                                        std::to_string(least_copied) + ")");
  checks.expect(heads_equal, "the scratch and pretrained models of a run start from the same Dense head (same seed)");
  if (options.freeze_epochs > 0)
    checks.expect(unfrozen_on_time, "UnfreezeAfter unfroze the pretrained part at the start of epoch " +
                                        std::to_string(options.freeze_epochs + 1));
  bool scores_valid = true;
  for (const auto& by_variant : scores)
    for (const auto& runs : by_variant)
      for (const Score& score : runs)
        scores_valid = scores_valid && score.accuracy >= 0 && score.accuracy <= 1 && std::isfinite(score.f1);
  checks.expect(scores_valid, "every model has a test accuracy in [0, 1] and a finite F1");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Options options;
  nabla_examples::CommandLine cli(
      "transfer",
      "Transfer learning: an LSTM language model pretrained on the Brown corpus gives its\n"
      "embedding and LSTM to the seed's spam classifier, fine-tuned on shares of the SpamAssassin\n"
      "training e-mails and compared with the same classifier trained from scratch (test accuracy\n"
      "and F1 per share, a CSV and an SVG chart).\n"
      "Data: bash scripts/fetch_data.sh brown spam-assassin\n",
      "Exit status: 0 when every check passed; 1 when a check failed, the data is missing or\n"
      "damaged, or the --pretrained file does not fit; 2 for a bad command line.");
  define_options(cli, options);
  return nabla_examples::run_example(cli, argc, argv, [&](Checks& checks) { run_transfer(options, checks); });
}
