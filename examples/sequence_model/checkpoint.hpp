// examples/sequence_model/checkpoint.hpp - what the example keeps in its checkpoint file, on
// top of nabla's checkpoint format (io/checkpoint.hpp, docs/model_files.md):
//
//   model.*       the weights after the last finished epoch (what --resume continues from)
//   best.*        the weights of the epoch with the best validation perplexity
//   optimizer.*   the optimizer state (Adam's moments, step counts, learning rate)
//   rng.*         the position of the global Philox generator (dropout masks)
//   lm.*          the model's configuration and the vocabulary's fingerprint, checked on
//                 --resume so that a checkpoint of another model is refused with a clear message
//   history.*     per-epoch perplexities, learning rates and times
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <nabla/nabla.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "brown_corpus.hpp"
#include "language_model.hpp"

namespace sequence_model {

/// A checkpoint that cannot be used by this run (another model, another vocabulary).
class CheckpointMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kCheckpointFormat = "nabla sequence_model 1";

/// What the run has done so far: one entry per finished epoch.
struct TrainingHistory {
  std::vector<double> train_perplexity, validation_perplexity, learning_rate, seconds, cpu_seconds;
  double best_validation_perplexity = 0;  // 0: no epoch yet
  std::int64_t best_epoch = 0;            // 1-based; 0: none
  std::int64_t epochs() const { return static_cast<std::int64_t>(train_perplexity.size()); }
};

namespace detail {

/// "412.5,301.25": the shortest text that reads back to exactly each value.
inline std::string join_numbers(const std::vector<double>& values) {
  std::string text;
  char buffer[64];
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto written = std::to_chars(buffer, buffer + sizeof(buffer), values[i]);
    text += (i ? "," : "") + std::string(buffer, written.ptr);
  }
  return text;
}

inline std::vector<double> split_numbers(const nb::io::Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = checkpoint.metadata_text(key);
  std::vector<double> values;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    double value = 0;
    const char* first = text.data() + start;
    const char* last = text.data() + comma;
    const auto parsed = std::from_chars(first, last, value);
    if (parsed.ec != std::errc() || parsed.ptr != last || first == last)
      throw nb::IOError("checkpoint: metadata '" + key + "' is not a list of numbers");
    values.push_back(value);
    start = comma + 1;
  }
  return values;
}

}  // namespace detail

/// Writes the training state (atomically: a crash while saving leaves the previous file).
inline void save_training_state(const std::string& path, const LanguageModel& model,
                                const std::map<std::string, nb::Tensor<float>>& best_weights,
                                const nb::optim::Optimizer<float>& optimizer, const Vocabulary& vocabulary,
                                const TrainingHistory& history) {
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, model, "model.");
  for (const auto& [name, tensor] : best_weights) checkpoint.set_tensor("best." + name, tensor);
  nb::io::add_optimizer_state(checkpoint, optimizer, "optimizer.");
  nb::io::add_generator_state(checkpoint, nb::default_generator(), "rng.");
  const ModelConfig& config = model.config();
  checkpoint.set_metadata("lm.format", kCheckpointFormat);
  checkpoint.set_metadata("lm.vocabulary_size", vocabulary.size());
  checkpoint.set_metadata("lm.vocabulary_fingerprint", vocabulary.fingerprint());
  checkpoint.set_metadata("lm.embedding_size", config.embedding_size);
  checkpoint.set_metadata("lm.hidden_size", config.hidden_size);
  checkpoint.set_metadata("lm.layers", config.layers);
  checkpoint.set_metadata("lm.tie_weights", config.tie_weights ? 1 : 0);
  checkpoint.set_metadata("lm.dropout", config.dropout);
  checkpoint.set_metadata("history.epochs", history.epochs());
  checkpoint.set_metadata("history.train_perplexity", detail::join_numbers(history.train_perplexity));
  checkpoint.set_metadata("history.validation_perplexity", detail::join_numbers(history.validation_perplexity));
  checkpoint.set_metadata("history.learning_rate", detail::join_numbers(history.learning_rate));
  checkpoint.set_metadata("history.seconds", detail::join_numbers(history.seconds));
  checkpoint.set_metadata("history.cpu_seconds", detail::join_numbers(history.cpu_seconds));
  checkpoint.set_metadata("history.best_validation_perplexity", history.best_validation_perplexity);
  checkpoint.set_metadata("history.best_epoch", history.best_epoch);
  nb::io::save_checkpoint(path, checkpoint);
}

/// Refuses a checkpoint whose model does not match `config` / `vocabulary`, naming what
/// differs and the flag that sets it.
inline void check_compatible(const nb::io::Checkpoint& checkpoint, const std::string& path, const ModelConfig& config,
                             const Vocabulary& vocabulary, const std::string& optimizer) {
  if (!checkpoint.has_metadata("lm.format") || checkpoint.metadata_text("lm.format") != kCheckpointFormat)
    throw CheckpointMismatch("'" + path +
                             "' is a nabla checkpoint, but not one written by sequence_model "
                             "(another example's or another program's model); pass --checkpoint "
                             "with a file this example wrote, or drop --resume to start afresh");
  const auto stored = [&](const std::string& key) { return checkpoint.metadata_number<std::int64_t>("lm." + key); };
  if (checkpoint.metadata_number<std::uint64_t>("lm.vocabulary_fingerprint") != vocabulary.fingerprint())
    throw CheckpointMismatch("'" + path + "' was trained on another vocabulary (" +
                             std::to_string(stored("vocabulary_size")) + " words; this data gives " +
                             std::to_string(vocabulary.size()) + "): a different corpus, --data-dir or --split");
  if ((stored("tie_weights") != 0) != config.tie_weights)
    throw CheckpointMismatch("'" + path + "' holds a model " +
                             (config.tie_weights
                                  ? "whose output layer has a weight of its own: resume with --no-tie-weights"
                                  : "whose output layer shares the embedding's weight: resume without "
                                    "--no-tie-weights"));
  const struct {
    const char* key;
    const char* what;
    const char* flag;
    std::int64_t wanted;
  } fields[] = {{"hidden_size", "hidden size", "--hidden-size", config.hidden_size},
                {"embedding_size", "embedding size", "--embedding-size", config.embedding_size},
                {"layers", "number of layers", "--layers", config.layers}};
  for (const auto& field : fields)
    if (stored(field.key) != field.wanted)
      throw CheckpointMismatch("'" + path + "' holds a model with " + field.what + " " +
                               std::to_string(stored(field.key)) + ", but this run asks for " +
                               std::to_string(field.wanted) + ": resume with " + field.flag + " " +
                               std::to_string(stored(field.key)) + ", or use another --checkpoint");
  const std::string stored_optimizer = checkpoint.metadata_text("optimizer.type");
  const std::string wanted_optimizer = optimizer == "sgd" ? "SGD" : "Adam";
  if (stored_optimizer != wanted_optimizer)
    throw CheckpointMismatch("'" + path + "' was trained with " + stored_optimizer + ", but this run uses " +
                             wanted_optimizer + ": resume with --optimizer " +
                             (stored_optimizer == "SGD" ? "sgd" : "adam"));
}

/// Restores everything save_training_state wrote. Checks compatibility first, so on an error
/// nothing has changed.
inline void load_training_state(const std::string& path, LanguageModel& model,
                                std::map<std::string, nb::Tensor<float>>& best_weights,
                                nb::optim::Optimizer<float>& optimizer, const Vocabulary& vocabulary,
                                const std::string& optimizer_name, TrainingHistory& history) {
  const nb::io::Checkpoint checkpoint = nb::io::load_checkpoint(path);
  check_compatible(checkpoint, path, model.config(), vocabulary, optimizer_name);
  TrainingHistory loaded;
  loaded.train_perplexity = detail::split_numbers(checkpoint, "history.train_perplexity");
  loaded.validation_perplexity = detail::split_numbers(checkpoint, "history.validation_perplexity");
  loaded.learning_rate = detail::split_numbers(checkpoint, "history.learning_rate");
  loaded.seconds = detail::split_numbers(checkpoint, "history.seconds");
  loaded.cpu_seconds = detail::split_numbers(checkpoint, "history.cpu_seconds");
  loaded.best_validation_perplexity = checkpoint.metadata_number<double>("history.best_validation_perplexity");
  loaded.best_epoch = checkpoint.metadata_number<std::int64_t>("history.best_epoch");
  const auto epochs = static_cast<std::size_t>(checkpoint.metadata_number<std::int64_t>("history.epochs"));
  if (loaded.train_perplexity.size() != epochs || loaded.validation_perplexity.size() != epochs ||
      loaded.learning_rate.size() != epochs || loaded.seconds.size() != epochs || loaded.cpu_seconds.size() != epochs)
    throw nb::IOError("'" + path + "': the history does not list one entry per epoch");

  // The best weights: the same names and shapes as the model's.
  std::map<std::string, nb::Tensor<float>> best;
  for (const auto& [name, tensor] : model.state_dict()) {
    const nb::Tensor<float> stored = checkpoint.tensor<float>("best." + name);
    if (stored.shape() != tensor.shape())
      throw nb::IOError("'" + path + "': best." + name + " has shape " + nb::to_string(stored.shape()) +
                        ", the model's " + nb::to_string(tensor.shape()));
    best.emplace(name, stored);
  }
  nb::io::load_module_state(checkpoint, model, "model.");
  nb::io::load_optimizer_state(checkpoint, optimizer, "optimizer.");
  nb::io::load_generator_state(checkpoint, nb::default_generator(), "rng.");
  best_weights = std::move(best);
  history = std::move(loaded);
}

}  // namespace sequence_model
