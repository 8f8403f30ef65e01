// nabla/train/model_file.hpp - what model files for the Keras-style API hold and how it is
// read back: used by model.save(path) and model.load(path) on nb::Model (train/model.hpp) and
// by load_model<T>(path) there, which rebuilds a model of built-in layers from a file
// (keras.models.load_model). This header knows layers, optimizers and the checkpoint format,
// not the Model: train/model.hpp includes it, never the reverse.
//
//   model.fit(x, y, {.epochs = 2});
//   model.save("run.nabla");                      // atomic: temporary file, fsync, rename
//   ...                                           // a new process:
//   model.compile(same optimizer, loss, metrics);
//   model.load("run.nabla");                      // weights, optimizer, epoch, generator
//   model.fit(x, y, {.epochs = 4});               // trains epochs 2 and 3, as if never stopped
//   auto copy = nb::train::load_model<float>("run.nabla");   // the layers rebuilt, with weights
//
// A model file is a nabla checkpoint (io/checkpoint.hpp: magic, version, tensor table with a
// CRC-32 per tensor; docs/model_files.md has the bytes) holding
//   model.<parameter>   tensors: the weights (io::add_module_state)
//   model.config        the layers, one per line, as their constructor calls: "Dense(128, 1)"
//   model.architecture, model.dtype
//   model.frozen        the frozen parameters' names (requires_grad false), one per line; a
//                       file without it (written before freezing existed) leaves the flags alone
// and, when the model is compiled,
//   optimizer.*         type, "optimizer.config" (its hyperparameters), lr, step counts, moments
//   epoch               the epochs fit() completed
//   rng.seed, rng.offset  the global generator (shuffling and dropout draw from it)
//   model.<layer>.generator.seed/offset  a layer's own generator (a Dropout built with a seed)
//   history.epochs, history.names, history.series.<name>  every epoch's logs since compile()
//   callback.<i>.name, callback.<i>.state.<key>  the state of FitOptions::callbacks[i]
//                       (Callback::state(): EarlyStopping's best value and patience counter, ...)
//   callback.<i>.weights.<parameter>  tensors: weights a callback keeps (Callback::state_weights():
//                       EarlyStopping's best weights with restore_best_weights)
// and, for a file saved in the middle of an epoch (ModelCheckpoint's save_freq),
//   fit.epoch, fit.batch  the epoch in progress and its batches done; fit.steps its batches
//   fit.loss_sum, fit.seen  the epoch's running loss (sum over samples) and samples so far
//   fit.data.*          the loader's position (data/loader_state.hpp): its seed and batch size
//   fit.metrics, fit.metric.<i>.name, fit.metric.<i>.totals  the compiled metrics' running
//                       state in the epoch (metrics::Metric::totals(), comma-separated)
// ModelCheckpoint's default save writes the same file, through the same function.
#pragma once

#include <algorithm>
#include <any>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nabla/core/philox.hpp"
#include "nabla/data/loader_state.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/nn/activations.hpp"
#include "nabla/nn/dense.hpp"
#include "nabla/nn/dropout.hpp"
#include "nabla/nn/embedding.hpp"
#include "nabla/nn/lstm.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/optim/adagrad.hpp"
#include "nabla/optim/adam.hpp"
#include "nabla/optim/optimizer.hpp"
#include "nabla/optim/rmsprop.hpp"
#include "nabla/optim/sgd.hpp"
#include "nabla/optim/state_io.hpp"
#include "nabla/train/callbacks.hpp"
#include "nabla/train/history.hpp"
#include "nabla/train/logs.hpp"

namespace nabla::train {

namespace detail {

// ---- the layer configuration: writing ---------------------------------------------------------

/// Shortest text that parses back to exactly `value` ("0.25", "1e-08").
inline std::string config_number(double value) { return io::detail::number_text(value); }
inline std::string config_bool(bool value) { return value ? "true" : "false"; }

/// `text` for an error message: one line, at most 200 characters (a hostile file can hold
/// megabytes where a layer's line should be).
inline std::string shortened(const std::string& text) {
  std::string line = text.size() > 200 ? text.substr(0, 200) + "..." : text;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return line;
}

/// The layer as a built-in Layer when it is one: same C++ type AND same type_name(), so that
/// a user's subclass with its own name is never mistaken for the built-in layer.
template <typename Layer, FloatingElement T>
const Layer* as_built_in(const nn::Module<T>& layer, const char* type) {
  return layer.type_name() == type ? dynamic_cast<const Layer*>(&layer) : nullptr;
}

template <FloatingElement T>
std::string layer_config(const nn::Module<T>& layer);

/// The constructor call that builds `layer` again, e.g. "Embedding(1000, 64)",
/// "LSTM(64, 128, return_sequences=false)", "Dense(128, 1)", "Sigmoid()". Options at their
/// defaults are left out, except LSTM's return_sequences (Keras and PyTorch differ there).
/// The LSTM implementation (fused or composed) is not configuration: both compute the same
/// function. A layer nabla does not know is written as "<type_name>(<describe()>)": enough to
/// compare, not to rebuild.
template <FloatingElement T>
std::string layer_config(const nn::Module<T>& layer) {
  const auto integer = [](std::int64_t value) { return std::to_string(value); };
  if (const auto* dense = as_built_in<nn::Dense<T>>(layer, "Dense"))
    return "Dense(" + integer(dense->in_features()) + ", " + integer(dense->out_features()) +
           (dense->bias().defined() ? "" : ", bias=false") + ")";
  if (const auto* embedding = as_built_in<nn::Embedding<T>>(layer, "Embedding"))
    return "Embedding(" + integer(embedding->num_embeddings()) + ", " + integer(embedding->embedding_dim()) +
           (embedding->padding_idx() >= 0 ? ", padding_idx=" + integer(embedding->padding_idx()) : "") + ")";
  if (const auto* lstm = as_built_in<nn::LSTM<T>>(layer, "LSTM")) {
    const nn::LSTMOptions& options = lstm->options();
    std::string text = "LSTM(" + integer(lstm->input_size()) + ", " + integer(lstm->hidden_size());
    if (options.num_layers != 1) text += ", num_layers=" + integer(options.num_layers);
    if (!options.batch_first) text += ", batch_first=false";
    text += ", return_sequences=" + config_bool(options.return_sequences);
    if (options.dropout != 0) text += ", dropout=" + config_number(options.dropout);
    if (!options.bias) text += ", bias=false";
    return text + ")";
  }
  if (const auto* dropout = as_built_in<nn::Dropout<T>>(layer, "Dropout"))
    return "Dropout(" + config_number(dropout->p()) +
           (dropout->seed() ? ", seed=" + std::to_string(*dropout->seed()) : std::string()) + ")";
  if (const auto* leaky = as_built_in<nn::LeakyReLU<T>>(layer, "LeakyReLU"))
    return "LeakyReLU(" + config_number(leaky->negative_slope()) + ")";
  if (const auto* softmax = as_built_in<nn::Softmax<T>>(layer, "Softmax"))
    return "Softmax(dim=" + integer(softmax->dim()) + ")";
  if (const auto* log_softmax = as_built_in<nn::LogSoftmax<T>>(layer, "LogSoftmax"))
    return "LogSoftmax(dim=" + integer(log_softmax->dim()) + ")";
  if (const auto* gelu = as_built_in<nn::GELU<T>>(layer, "GELU"); gelu && gelu->approximate() == "tanh")
    return "GELU(tanh=true)";  // approximate='tanh'; the exact form is GELU() below
  if (as_built_in<nn::Sigmoid<T>>(layer, "Sigmoid") || as_built_in<nn::ReLU<T>>(layer, "ReLU") ||
      as_built_in<nn::Tanh<T>>(layer, "Tanh") || as_built_in<nn::GELU<T>>(layer, "GELU"))
    return layer.type_name() + "()";
  if (const auto* sequential = as_built_in<nn::Sequential<T>>(layer, "Sequential")) {
    std::string text = "Sequential(";
    for (std::size_t i = 0; i < sequential->size(); ++i) text += (i ? ", " : "") + layer_config(*(*sequential)[i]);
    return text + ")";
  }
  // One line per layer in the file: a line break inside would split this layer in two.
  std::string text = layer.type_name() + "(" + layer.describe() + ")";
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

/// The model's configuration, one line per layer: a Sequential's layers, or the module itself.
template <FloatingElement T>
std::vector<std::string> model_config(const nn::Module<T>& model) {
  std::vector<std::string> lines;
  if (const auto* sequential = as_built_in<nn::Sequential<T>>(model, "Sequential")) {
    for (std::size_t i = 0; i < sequential->size(); ++i) lines.push_back(layer_config(*(*sequential)[i]));
  } else {
    lines.push_back(layer_config(model));
  }
  return lines;
}

/// The optimizer's type and hyperparameters, e.g. "Adam(beta1=0.9, beta2=0.999, eps=1e-08,
/// weight_decay=0, amsgrad=false)". The learning rate is left out: it is state (a scheduler
/// changes it), saved as "optimizer.lr" and restored. An optimizer nabla does not know is
/// its type name alone.
template <FloatingElement T>
std::string optimizer_config(const optim::Optimizer<T>& optimizer) {
  const std::string type = optimizer.type_name();
  const auto number = config_number;
  if (const auto* sgd = dynamic_cast<const optim::SGD<T>*>(&optimizer)) {
    const auto& o = sgd->options();
    return type + "(momentum=" + number(o.momentum) + ", dampening=" + number(o.dampening) +
           ", weight_decay=" + number(o.weight_decay) + ", nesterov=" + config_bool(o.nesterov) + ")";
  }
  if (const auto* adam = dynamic_cast<const optim::Adam<T>*>(&optimizer)) {  // and AdamW
    const auto& o = adam->options();
    return type + "(beta1=" + number(o.beta1) + ", beta2=" + number(o.beta2) + ", eps=" + number(o.eps) +
           ", weight_decay=" + number(o.weight_decay) + ", amsgrad=" + config_bool(o.amsgrad) + ")";
  }
  if (const auto* rmsprop = dynamic_cast<const optim::RMSprop<T>*>(&optimizer)) {
    const auto& o = rmsprop->options();
    return type + "(alpha=" + number(o.alpha) + ", eps=" + number(o.eps) + ", weight_decay=" + number(o.weight_decay) +
           ", momentum=" + number(o.momentum) + ", centered=" + config_bool(o.centered) + ")";
  }
  if (const auto* adagrad = dynamic_cast<const optim::Adagrad<T>*>(&optimizer)) {
    const auto& o = adagrad->options();
    return type + "(lr_decay=" + number(o.lr_decay) + ", weight_decay=" + number(o.weight_decay) +
           ", initial_accumulator_value=" + number(o.initial_accumulator_value) + ", eps=" + number(o.eps) + ")";
  }
  return type;
}

/// The names of the model's frozen parameters (requires_grad false), one per line; "" when
/// every parameter trains.
template <FloatingElement T>
std::string frozen_parameter_names(const nn::Module<T>& model) {
  std::string names;
  for (const auto& [name, tensor] : model.named_parameters())
    if (!tensor.requires_grad()) names += (names.empty() ? "" : "\n") + name;
  return names;
}

/// The frozen parameters recorded by the file ("model.frozen"), checked against the model's
/// names; nullopt for a file from before freezing existed.
template <FloatingElement T>
std::optional<std::set<std::string>> read_frozen_names(const io::Checkpoint& checkpoint, const nn::Module<T>& model,
                                                       const std::string& context) {
  if (!checkpoint.has_metadata("model.frozen")) return std::nullopt;
  const std::string& text = checkpoint.metadata_text("model.frozen");
  std::set<std::string> names;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    names.insert(text.substr(begin, end - begin));
    begin = end + 1;
  }
  std::set<std::string> known;
  for (const auto& [name, tensor] : model.named_parameters()) known.insert(name);
  for (const auto& name : names)
    if (known.count(name) == 0)
      throw IOError(context + ": the file marks parameter '" + shortened(name) +
                    "' as frozen, but the model has no parameter of that name");
  return names;
}

/// Freezes exactly the parameters named in `frozen` and unfreezes the others.
template <FloatingElement T>
void apply_frozen_names(nn::Module<T>& model, const std::set<std::string>& frozen) {
  for (auto& [name, tensor] : model.named_parameters()) {
    const bool trains = frozen.count(name) == 0;
    tensor.requires_grad_(trains);
    if (!trains) tensor.impl()->grad.reset();
  }
}

/// Everything model.save(path) writes (see the top of this file). `optimizer` is null for an
/// uncompiled model: then only the configuration and the weights; else also the optimizer,
/// the epochs `completed_epochs` and the global generator.
template <FloatingElement T>
io::Checkpoint model_checkpoint(const nn::Module<T>& model, const optim::Optimizer<T>* optimizer,
                                int completed_epochs) {
  io::Checkpoint checkpoint;
  io::add_module_state(checkpoint, model);
  std::string config;
  for (const std::string& line : model_config(model)) config += (config.empty() ? "" : "\n") + line;
  checkpoint.set_metadata("model.config", config);
  checkpoint.set_metadata("model.frozen", frozen_parameter_names(model));
  if (optimizer) {
    io::add_optimizer_state(checkpoint, *optimizer);
    checkpoint.set_metadata("optimizer.config", optimizer_config(*optimizer));
    io::add_generator_state(checkpoint, default_generator());
    checkpoint.set_metadata("epoch", completed_epochs);
  }
  return checkpoint;
}

// ---- the layer configuration: reading ---------------------------------------------------------

/// The file's layer lines (IOError when it has no configuration).
inline std::vector<std::string> file_config(const io::Checkpoint& checkpoint, const std::string& context) {
  if (!checkpoint.has_metadata("model.config"))
    throw IOError(context +
                  ": the file has no layer configuration (metadata 'model.config'), so it was not written by "
                  "model.save(); a checkpoint of weights alone loads with nb::io::load_module_state");
  const std::string& text = checkpoint.metadata_text("model.config");
  std::vector<std::string> lines;
  if (text.empty()) return lines;  // a model without layers
  std::size_t begin = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', begin)) {
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  lines.push_back(text.substr(begin));
  return lines;
}

/// Compares the file's layers with the model's and names the first that differs.
template <FloatingElement T>
void check_config(const io::Checkpoint& checkpoint, const nn::Module<T>& model, const std::string& context) {
  const std::vector<std::string> stored = file_config(checkpoint, context);
  const std::vector<std::string> expected = model_config(model);
  for (std::size_t i = 0; i < std::min(stored.size(), expected.size()); ++i)
    if (stored[i] != expected[i])
      throw IOError(context + ": layer " + std::to_string(i) + ": the file has " + shortened(stored[i]) +
                    " but the model has " + shortened(expected[i]));
  if (stored.size() != expected.size()) {
    const bool file_longer = stored.size() > expected.size();
    const std::size_t first_extra = std::min(stored.size(), expected.size());
    throw IOError(context + ": the file has " + std::to_string(stored.size()) + " layers but the model has " +
                  std::to_string(expected.size()) + " (layer " + std::to_string(first_extra) + " is " +
                  shortened(file_longer ? stored[first_extra] : expected[first_extra]) + " in the " +
                  (file_longer ? "file" : "model") + " only)");
  }
}

/// A layer's constructor call parsed from its line: "LSTM(64, 128, num_layers=2)" has type
/// "LSTM", arguments {"64", "128"} and keywords {num_layers: "2"}; a Sequential's layers are
/// in `layers`.
struct LayerSpec {
  std::string type;
  std::vector<std::string> arguments;
  std::vector<std::pair<std::string, std::string>> keywords;
  std::vector<LayerSpec> layers;
};

/// The layers load_model can build.
inline bool is_built_in_layer(const std::string& type) {
  static const char* const kTypes[] = {"Dense",     "Embedding", "LSTM", "Dropout", "Sigmoid",    "ReLU",
                                       "LeakyReLU", "Tanh",      "GELU", "Softmax", "LogSoftmax", "Sequential"};
  for (const char* known : kTypes)
    if (type == known) return true;
  return false;
}

/// Parses one line of "model.config":  call := Type "(" [argument ("," argument)*] ")",
/// argument := name "=" value | value | call, value := a number, true or false.
class LayerConfigParser {
 public:
  /// `where` starts every message ("load_model: run.nabla: layer 2").
  LayerConfigParser(const std::string& text, std::string where) : text_(text), where_(std::move(where)) {}

  LayerSpec parse() {
    LayerSpec spec = call(0);
    skip_spaces();
    if (position_ != text_.size()) fail("unexpected text after the closing parenthesis");
    return spec;
  }

 private:
  static constexpr int kMaxDepth = 32;  // nested Sequentials; a hostile file cannot exhaust the stack

  LayerSpec call(int depth) {
    if (depth > kMaxDepth) fail("layers nested more than " + std::to_string(kMaxDepth) + " deep");
    skip_spaces();
    LayerSpec spec;
    spec.type = identifier();
    if (spec.type.empty()) fail("expected a layer type");
    if (!is_built_in_layer(spec.type))
      throw IOError(where_ + ": " + shortened(spec.type) +
                    " is not a built-in layer, so load_model cannot rebuild it; build the model in code and "
                    "load the file with model.load(path)");
    skip_spaces();
    expect('(');
    skip_spaces();
    if (peek() == ')') {
      ++position_;
      return spec;
    }
    while (true) {
      skip_spaces();
      const std::size_t start = position_;
      const std::string word = identifier();
      skip_spaces();
      if (!word.empty() && peek() == '=') {
        ++position_;
        skip_spaces();
        std::string value = scalar();
        for (const auto& [name, existing] : spec.keywords)
          if (name == word) fail("argument '" + shortened(word) + "' is given twice");
        spec.keywords.emplace_back(word, std::move(value));
      } else if (!word.empty() && peek() == '(') {
        position_ = start;
        spec.layers.push_back(call(depth + 1));
      } else {
        position_ = start;
        spec.arguments.push_back(scalar());
      }
      skip_spaces();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      expect(')');
      return spec;
    }
  }

  /// A name: a letter or '_', then letters, digits or '_' ("Dense", "return_sequences").
  std::string identifier() {
    const std::size_t start = position_;
    const auto is_name_character = [&](unsigned char c) {
      return std::isalpha(c) || c == '_' || (position_ > start && std::isdigit(c));
    };
    while (position_ < text_.size() && is_name_character(static_cast<unsigned char>(text_[position_]))) ++position_;
    return text_.substr(start, position_ - start);
  }

  /// A number or a boolean, as written ("-1", "0.25", "1e-08", "true").
  std::string scalar() {
    const std::size_t start = position_;
    while (position_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[position_])) ||
                                        text_[position_] == '.' || text_[position_] == '-' || text_[position_] == '+'))
      ++position_;
    if (position_ == start) fail("expected a value");
    return text_.substr(start, position_ - start);
  }

  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }

  void expect(char wanted) {
    if (peek() != wanted) fail(std::string("expected '") + wanted + "'");
    ++position_;
  }

  void skip_spaces() {
    while (position_ < text_.size() && text_[position_] == ' ') ++position_;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw IOError(where_ + ": cannot read the layer configuration '" + shortened(text_) + "': " + what +
                  " at character " + std::to_string(position_));
  }

  const std::string& text_;
  std::string where_;
  std::size_t position_ = 0;
};

/// A parsed LayerSpec's arguments, checked against what the layer's constructor takes.
class LayerArguments {
 public:
  /// The layer takes `positional` arguments (all written by save) and the named `keywords`.
  LayerArguments(const LayerSpec& spec, std::string where, std::size_t positional, std::vector<std::string> keywords)
      : spec_(spec), where_(std::move(where)) {
    if (spec.arguments.size() != positional)
      fail("takes " + std::to_string(positional) + " positional argument" + (positional == 1 ? "" : "s") + ", got " +
           std::to_string(spec.arguments.size()));
    if (!spec.layers.empty()) fail("takes no layers as arguments");
    for (const auto& [name, value] : spec.keywords)
      if (std::find(keywords.begin(), keywords.end(), name) == keywords.end())
        fail("has no argument '" + shortened(name) + "'");
  }

  /// Positional argument `index` (0-based; messages count from 1).
  std::int64_t integer(std::size_t index) const {
    return parse_integer(spec_.arguments[index], "argument " + std::to_string(index + 1));
  }
  double number(std::size_t index) const {
    return parse_number(spec_.arguments[index], "argument " + std::to_string(index + 1));
  }

  std::int64_t integer(const std::string& name, std::int64_t fallback) const {
    const std::string* value = keyword(name);
    return value ? parse_integer(*value, "'" + name + "'") : fallback;
  }
  double number(const std::string& name, double fallback) const {
    const std::string* value = keyword(name);
    return value ? parse_number(*value, "'" + name + "'") : fallback;
  }
  /// An unsigned 64-bit keyword (a seed), absent: nullopt.
  std::optional<std::uint64_t> unsigned_integer(const std::string& name) const {
    const std::string* value = keyword(name);
    if (!value) return std::nullopt;
    std::uint64_t number = 0;
    if (!io::detail::parse_number(*value, number))
      fail("'" + name + "' is '" + shortened(*value) + "', not an unsigned integer in range");
    return number;
  }
  bool boolean(const std::string& name, bool fallback) const {
    const std::string* value = keyword(name);
    if (!value) return fallback;
    if (*value != "true" && *value != "false") fail("'" + name + "' is '" + shortened(*value) + "', not true or false");
    return *value == "true";
  }

  [[noreturn]] void fail(const std::string& what) const { throw IOError(where_ + ": " + spec_.type + " " + what); }

 private:
  const std::string* keyword(const std::string& name) const {
    for (const auto& [key, value] : spec_.keywords)
      if (key == name) return &value;
    return nullptr;
  }
  std::int64_t parse_integer(const std::string& text, const std::string& what) const {
    std::int64_t value = 0;
    if (!io::detail::parse_number(text, value)) fail(what + " is '" + shortened(text) + "', not an integer in range");
    return value;
  }
  double parse_number(const std::string& text, const std::string& what) const {
    double value = 0;
    if (!io::detail::parse_number(text, value) || !std::isfinite(value))
      fail(what + " is '" + shortened(text) + "', not a finite number");
    return value;
  }

  const LayerSpec& spec_;
  std::string where_;
};

/// The number of values the file stores under `prefix` ("model.2."): a bound on what a layer
/// may allocate, so that a hostile "Dense(100000000, 100000000)" is refused instead of built.
inline double stored_values(const io::Checkpoint& checkpoint, const std::string& prefix) {
  double count = 0;
  for (auto it = checkpoint.tensors.lower_bound(prefix);
       it != checkpoint.tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    count += static_cast<double>(numel_of(io::shape_of(it->second)));
  return count;
}

/// Builds the layer `spec` describes (weights still to be loaded). Its parameters are
/// "<prefix><name>" in the file. Layers draw their throwaway initial weights from a fixed
/// seed, so loading a model does not move the global generator.
template <FloatingElement T>
std::shared_ptr<nn::Module<T>> build_layer(const LayerSpec& spec, const std::string& where,
                                           const io::Checkpoint& checkpoint, const std::string& prefix) {
  const std::string layer_name = where + ": " + spec.type;
  // Parameters the configuration implies, computed in double (no overflow; exactness does not
  // matter for a bound), against the values the file really has for this layer.
  const auto require_stored = [&](double needed) {
    const double stored = stored_values(checkpoint, prefix);
    if (needed > stored)
      throw IOError(layer_name + " needs " + config_number(needed) + " parameter values but the file stores " +
                    config_number(stored) + " under '" + prefix + "'");
  };
  const auto d = [](std::int64_t value) { return static_cast<double>(value); };
  try {
    if (spec.type == "Sequential") {
      if (!spec.arguments.empty() || !spec.keywords.empty())
        throw IOError(layer_name + " takes only layers as arguments");
      auto sequential = std::make_shared<nn::Sequential<T>>();
      for (std::size_t i = 0; i < spec.layers.size(); ++i)
        sequential->add(build_layer<T>(spec.layers[i], where + "." + std::to_string(i), checkpoint,
                                       prefix + std::to_string(i) + "."));
      return sequential;
    }
    if (spec.type == "Dense") {
      const LayerArguments arguments(spec, where, 2, {"bias"});
      const std::int64_t in = arguments.integer(0), out = arguments.integer(1);
      const bool bias = arguments.boolean("bias", true);
      require_stored(d(out) * d(in) + (bias ? d(out) : 0.0));
      return std::make_shared<nn::Dense<T>>(in, out, nn::DenseOptions{.bias = bias, .seed = 0});
    }
    if (spec.type == "Embedding") {
      const LayerArguments arguments(spec, where, 2, {"padding_idx"});
      const std::int64_t count = arguments.integer(0), dim = arguments.integer(1);
      require_stored(d(count) * d(dim));
      return std::make_shared<nn::Embedding<T>>(
          count, dim, nn::EmbeddingOptions{.padding_idx = arguments.integer("padding_idx", -1), .seed = 0});
    }
    if (spec.type == "LSTM") {
      const LayerArguments arguments(spec, where, 2,
                                     {"num_layers", "batch_first", "return_sequences", "dropout", "bias"});
      nn::LSTMOptions options{.num_layers = arguments.integer("num_layers", 1),
                              .batch_first = arguments.boolean("batch_first", true),
                              .return_sequences = arguments.boolean("return_sequences", false),
                              .dropout = arguments.number("dropout", 0.0),
                              .bias = arguments.boolean("bias", true),
                              .seed = 0};
      const std::int64_t input = arguments.integer(0), hidden = arguments.integer(1);
      // layer 0: 4H x (input + H), each further layer 4H x 2H, and 8H biases per layer
      require_stored(4 * d(hidden) * (d(input) + d(hidden)) + (d(options.num_layers) - 1) * 8 * d(hidden) * d(hidden) +
                     (options.bias ? 8 * d(hidden) * d(options.num_layers) : 0.0));
      return std::make_shared<nn::LSTM<T>>(input, hidden, options);
    }
    if (spec.type == "Dropout") {
      // A seeded Dropout's stream position is restored with the weights (read_layer_generators).
      const LayerArguments arguments(spec, where, 1, {"seed"});
      return std::make_shared<nn::Dropout<T>>(arguments.number(0),
                                              nn::DropoutOptions{.seed = arguments.unsigned_integer("seed")});
    }
    if (spec.type == "LeakyReLU") {
      const LayerArguments arguments(spec, where, 1, {});
      return std::make_shared<nn::LeakyReLU<T>>(arguments.number(0));
    }
    if (spec.type == "Softmax" || spec.type == "LogSoftmax") {
      const LayerArguments arguments(spec, where, 0, {"dim"});
      const std::int64_t dim = arguments.integer("dim", -1);
      if (spec.type == "Softmax") return std::make_shared<nn::Softmax<T>>(dim);
      return std::make_shared<nn::LogSoftmax<T>>(dim);
    }
    if (spec.type == "GELU") {
      const LayerArguments arguments(spec, where, 0, {"tanh"});
      return std::make_shared<nn::GELU<T>>(
          nn::GELUOptions{.approximate = arguments.boolean("tanh", false) ? "tanh" : "none"});
    }
    const LayerArguments no_arguments(spec, where, 0, {});
    if (spec.type == "Sigmoid") return std::make_shared<nn::Sigmoid<T>>();
    if (spec.type == "ReLU") return std::make_shared<nn::ReLU<T>>();
    if (spec.type == "Tanh") return std::make_shared<nn::Tanh<T>>();
  } catch (const IOError&) {
    throw;
  } catch (const Error& error) {  // the constructor refused an argument (a size of 0, p = 2, ...)
    throw IOError(layer_name + ": the file's arguments are invalid: " + error.what());
  }
  throw IOError(layer_name + " is not a layer load_model knows");  // unreachable: the parser checked the type
}

// ---- the training state -----------------------------------------------------------------------

/// The saved positions of the generators the model's layers own (io::read_module_generators),
/// with `context` on any error.
template <FloatingElement T>
std::vector<std::pair<Generator*, Generator>> read_layer_generators(const io::Checkpoint& checkpoint,
                                                                    nn::Module<T>& model, const std::string& context) {
  try {
    return io::read_module_generators(checkpoint, model);
  } catch (const IOError& error) {
    throw IOError(context + ": " + error.what());
  }
}

/// What a model file holds beyond the weights, read and checked against a compiled model
/// before anything is changed.
template <FloatingElement T>
struct SavedTraining {
  optim::OptimizerState<T> optimizer;
  int epoch = 0;
  std::uint64_t rng_seed = 0, rng_offset = 0;
};

template <FloatingElement T>
SavedTraining<T> read_training(const io::Checkpoint& checkpoint, const optim::Optimizer<T>& optimizer,
                               const std::string& context) {
  SavedTraining<T> saved;
  try {
    // A checkpoint written without "optimizer.config" (nb::io::add_optimizer_state alone) can
    // only be compared by type.
    const bool has_config = checkpoint.has_metadata("optimizer.config");
    const std::string expected = has_config ? optimizer_config(optimizer) : optimizer.type_name();
    const std::string stored = checkpoint.metadata_text(has_config ? "optimizer.config" : "optimizer.type");
    if (stored != expected)
      throw IOError("the file's optimizer is " + shortened(stored) + " but the model is compiled with " + expected +
                    "; compile with the optimizer the file was trained with to resume (or load into an uncompiled "
                    "model, then compile, to take the weights alone)");
    saved.optimizer = io::optimizer_state_from<T>(checkpoint);
    saved.epoch = checkpoint.metadata_number<int>("epoch");
    if (saved.epoch < 0)
      throw IOError("metadata 'epoch' is " + std::to_string(saved.epoch) + ", a negative epoch count");
    saved.rng_seed = checkpoint.metadata_number<std::uint64_t>("rng.seed");
    saved.rng_offset = checkpoint.metadata_number<std::uint64_t>("rng.offset");
  } catch (const IOError& error) {
    throw IOError(context + ": " + error.what());
  }
  return saved;
}

// ---- the run: history, callbacks, position in the epoch -------------------------------------------

/// Writes `history` as "history.epochs" (comma-separated), "history.names" (one per line) and
/// one "history.series.<name>" per quantity (comma-separated shortest exact numbers).
inline void add_history(io::Checkpoint& checkpoint, const History& history) {
  std::string epochs, names;
  for (const int epoch : history.epochs()) epochs += (epochs.empty() ? "" : ",") + std::to_string(epoch);
  for (const auto& name : history.names()) {
    names += (names.empty() ? "" : "\n") + name;
    std::string values;
    for (std::size_t row = 0; row < history.size(); ++row)
      values += (row ? "," : "") + shortest_number(history[name][row]);
    checkpoint.set_metadata("history.series." + name, values);
  }
  checkpoint.set_metadata("history.epochs", epochs);
  checkpoint.set_metadata("history.names", names);
}

/// Splits `text` at `separator` ("" gives no pieces).
inline std::vector<std::string> split_text(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  for (std::size_t begin = 0; !text.empty() && begin <= text.size();) {
    const std::size_t end = std::min(text.find(separator, begin), text.size());
    pieces.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return pieces;
}

/// The history add_history() wrote; nullopt for a file without one (written before it existed).
inline std::optional<History> read_history(const io::Checkpoint& checkpoint, const std::string& context) {
  if (!checkpoint.has_metadata("history.epochs")) return std::nullopt;
  try {
    const auto number_list = [&](const std::string& key, auto parse) {
      std::vector<decltype(parse(std::string()))> values;
      for (const auto& piece : split_text(checkpoint.metadata_text(key), ',')) values.push_back(parse(piece));
      return values;
    };
    const auto to_int = [](const std::string& text) {
      int value = 0;
      if (!io::detail::parse_number(text, value) || value < 0) throw IOError("'" + shortened(text) + "' is no epoch");
      return value;
    };
    const auto to_double = [](const std::string& text) {
      double value = 0;
      if (!io::detail::parse_number(text, value)) throw IOError("'" + shortened(text) + "' is not a number");
      return value;
    };
    const std::vector<int> epochs = number_list("history.epochs", to_int);
    const std::vector<std::string> names = split_text(checkpoint.metadata_text("history.names"), '\n');
    std::vector<std::vector<double>> series;
    for (const auto& name : names) {
      series.push_back(number_list("history.series." + name, to_double));
      if (series.back().size() != epochs.size())
        throw IOError("history.series." + shortened(name) + " has " + std::to_string(series.back().size()) +
                      " values for " + std::to_string(epochs.size()) + " epochs");
    }
    History history;
    for (std::size_t row = 0; row < epochs.size(); ++row) {
      Logs logs;
      for (std::size_t i = 0; i < names.size(); ++i) logs.set(names[i], series[i][row]);
      history.record(epochs[row], logs);
    }
    return history;
  } catch (const IOError& error) {
    throw IOError(context + ": the saved history is damaged: " + error.what());
  }
}

/// The states of the callbacks with a state_name(), under "callback.<position>.".
inline void add_callback_states(io::Checkpoint& checkpoint,
                                const std::vector<std::pair<std::string, CallbackState>>& states) {
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (states[i].first.empty()) continue;
    const std::string prefix = "callback." + std::to_string(i) + ".";
    checkpoint.set_metadata(prefix + "name", states[i].first);
    for (const auto& [key, value] : states[i].second) checkpoint.set_metadata(prefix + "state." + key, value);
  }
}

/// The saved callback states by position: name and state (IOError for a damaged key).
inline std::map<std::size_t, std::pair<std::string, CallbackState>> read_callback_states(
    const io::Checkpoint& checkpoint, const std::string& context) {
  std::map<std::size_t, std::pair<std::string, CallbackState>> states;
  const std::string prefix = "callback.";
  for (auto it = checkpoint.metadata.lower_bound(prefix);
       it != checkpoint.metadata.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());
    const std::size_t dot = rest.find('.');
    std::size_t position = 0;
    const std::string key = dot == std::string::npos ? std::string() : rest.substr(dot + 1);
    if (dot == std::string::npos || !io::detail::parse_number(rest.substr(0, dot), position) ||
        (key != "name" && key.rfind("state.", 0) != 0))
      throw IOError(context + ": metadata '" + shortened(it->first) +
                    "' is not a callback state entry (callback.<position>.name or .state.<key>)");
    if (key == "name")
      states[position].first = it->second;
    else
      states[position].second[key.substr(6)] = it->second;
  }
  for (const auto& [position, entry] : states)
    if (entry.first.empty())
      throw IOError(context + ": the state of callback " + std::to_string(position) + " has no name");
  return states;
}

/// The weights a callback keeps (Callback::state_weights(): a copy taken with
/// Trainer::weights()) as tensors "callback.<position>.weights.<name>".
template <FloatingElement T>
void add_callback_weights(io::Checkpoint& checkpoint, std::size_t position, const std::any& weights) {
  const auto* state = std::any_cast<std::map<std::string, Tensor<T>>>(&weights);
  if (!state)
    throw ValueError("save: callback " + std::to_string(position) +
                     " gave state_weights() that are not weights of this model (a copy from Trainer::weights())");
  for (const auto& [name, tensor] : *state)
    checkpoint.set_tensor("callback." + std::to_string(position) + ".weights." + name, tensor);
}

/// The callbacks' saved weights by position, each a std::any holding the state_dict that
/// Trainer::weights() would give (on the model's device); every name and shape is checked
/// against the model's (an IOError naming the tensor otherwise).
template <FloatingElement T>
std::map<std::size_t, std::any> read_callback_weights(const io::Checkpoint& checkpoint, const nn::Module<T>& model,
                                                      const std::string& context) {
  std::map<std::size_t, std::map<std::string, Tensor<T>>> found;
  const std::string prefix = "callback.";
  for (auto it = checkpoint.tensors.lower_bound(prefix);
       it != checkpoint.tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());
    const std::size_t dot = rest.find('.');
    std::size_t position = 0;
    const std::string marker = ".weights.";
    if (dot == std::string::npos || !io::detail::parse_number(rest.substr(0, dot), position) ||
        rest.compare(dot, marker.size(), marker) != 0 || rest.size() == dot + marker.size())
      throw IOError(context + ": tensor '" + shortened(it->first) +
                    "' is not a callback's weights (callback.<position>.weights.<parameter>)");
    found[position].emplace(rest.substr(dot + marker.size()),
                            io::to_floating<T>(it->second, context + ": tensor '" + shortened(it->first) + "'"));
  }
  std::map<std::size_t, std::any> weights;
  std::map<std::string, Tensor<T>> expected;  // the model's names (handles, not copies)
  for (const auto& [name, tensor] : model.named_parameters()) expected.emplace(name, tensor);
  for (const auto& [name, tensor] : model.named_buffers()) expected.emplace(name, tensor);
  for (auto& [position, state] : found) {
    const std::string where = context + ": the weights of callback " + std::to_string(position);
    for (const auto& [name, tensor] : expected) {
      const auto stored = state.find(name);
      if (stored == state.end()) throw IOError(where + " lack '" + shortened(name) + "'");
      if (stored->second.shape() != tensor.shape())
        throw IOError(where + ": '" + shortened(name) + "' has shape " + to_string(stored->second.shape()) +
                      " but the model's has " + to_string(tensor.shape()));
      stored->second = stored->second.to(tensor.device());
    }
    if (state.size() != expected.size())
      for (const auto& [name, tensor] : state)
        if (expected.count(name) == 0)
          throw IOError(where + " have '" + shortened(name) + "', which the model does not");
    weights.emplace(position, std::any(std::move(state)));
  }
  return weights;
}

/// A compiled metric's running state in an epoch: its name and its totals().
struct MetricTotals {
  std::string name;
  std::vector<double> totals;
};

/// Where fit() stood inside an epoch when a file was saved there.
struct FitPosition {
  int epoch = 0;               // the epoch in progress
  std::int64_t batch = 0;      // its batches done (the next one is this index)
  std::int64_t steps = 0;      // its batches in all
  double loss_sum = 0;         // sum over those batches of loss * samples
  std::int64_t seen = 0;       // their samples
  data::LoaderState loader{};  // the loader's seed and batch size (and position)
  /// The compiled metrics' running state, in compile() order; nullopt in a file written before
  /// it was saved (its resumed epoch's metrics then count from the resume).
  std::optional<std::vector<MetricTotals>> metrics = std::nullopt;
};

inline void add_fit_position(io::Checkpoint& checkpoint, const FitPosition& position) {
  checkpoint.set_metadata("fit.epoch", position.epoch);
  checkpoint.set_metadata("fit.batch", position.batch);
  checkpoint.set_metadata("fit.steps", position.steps);
  checkpoint.set_metadata("fit.loss_sum", shortest_number(position.loss_sum));
  checkpoint.set_metadata("fit.seen", position.seen);
  data::save_loader_state(checkpoint, position.loader, "fit.data.");
  if (!position.metrics) return;
  checkpoint.set_metadata("fit.metrics", position.metrics->size());
  for (std::size_t i = 0; i < position.metrics->size(); ++i) {
    const MetricTotals& metric = (*position.metrics)[i];
    std::string totals;
    for (const double value : metric.totals) totals += (totals.empty() ? "" : ",") + shortest_number(value);
    checkpoint.set_metadata("fit.metric." + std::to_string(i) + ".name", metric.name);
    checkpoint.set_metadata("fit.metric." + std::to_string(i) + ".totals", totals);
  }
}

/// The position add_fit_position() wrote; nullopt for a file saved between epochs.
inline std::optional<FitPosition> read_fit_position(const io::Checkpoint& checkpoint, const std::string& context) {
  if (!checkpoint.has_metadata("fit.epoch")) return std::nullopt;
  FitPosition position;
  try {
    position.epoch = checkpoint.metadata_number<int>("fit.epoch");
    position.batch = checkpoint.metadata_number<std::int64_t>("fit.batch");
    position.steps = checkpoint.metadata_number<std::int64_t>("fit.steps");
    position.loss_sum = checkpoint.metadata_number<double>("fit.loss_sum");
    position.seen = checkpoint.metadata_number<std::int64_t>("fit.seen");
    position.loader = data::load_loader_state(checkpoint, "fit.data.");
    if (position.epoch < 0 || position.batch < 0 || position.batch > position.steps || position.seen < 0)
      throw IOError("fit.epoch " + std::to_string(position.epoch) + ", fit.batch " + std::to_string(position.batch) +
                    " of fit.steps " + std::to_string(position.steps) + ", fit.seen " + std::to_string(position.seen) +
                    " do not describe a position in an epoch");
    if (checkpoint.has_metadata("fit.metrics")) {
      const auto count = checkpoint.metadata_number<std::size_t>("fit.metrics");
      if (count > checkpoint.metadata.size())  // each metric has two entries: a larger count is damage
        throw IOError("fit.metrics is " + std::to_string(count) + ", more than the file's metadata entries");
      position.metrics.emplace();
      for (std::size_t i = 0; i < count; ++i) {
        const std::string key = "fit.metric." + std::to_string(i) + ".";
        MetricTotals metric{checkpoint.metadata_text(key + "name"), {}};
        for (const auto& piece : split_text(checkpoint.metadata_text(key + "totals"), ',')) {
          double value = 0;
          if (!io::detail::parse_number(piece, value))
            throw IOError(key + "totals holds '" + shortened(piece) + "', not a number");
          metric.totals.push_back(value);
        }
        position.metrics->push_back(std::move(metric));
      }
    }
  } catch (const IOError& error) {
    throw IOError(context + ": " + error.what());
  }
  return position;
}

}  // namespace detail
}  // namespace nabla::train
