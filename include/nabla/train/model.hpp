// nabla/train/model.hpp - the Keras-style model: nb::Model<T> (nb::train::Model<T>) is an
// nn::Sequential that also trains: compile, fit, evaluate, predict, train_on_batch, save, load.
//
//   nb::Model<float> model;
//   model.add<nb::nn::Embedding>(vocab, 128).add<nb::nn::LSTM>(128, 128).add<nb::nn::Dense>(128, 1);
//   model.compile(nb::optim::AdamOptions{.lr = 1e-3}, nb::loss::BinaryCrossEntropy{}, {nb::metrics::Accuracy{}});
//   auto history = model.fit(x_train, y_train, {.epochs = 10, .batch_size = 64, .validation_split = 0.1});
//   auto predictions = model.predict(x_test);
//
// compile() turns the optimizer options, the loss functor and the metrics into one
// TrainingState (the "trainer"); its element type is the model's, but callbacks see it through
// the type-free Trainer interface (train/callbacks.hpp). One training step is the loop a
// PyTorch user writes by hand:
//
//   optimizer.zero_grad();  prediction = model(x_batch);  loss = loss_fn(prediction, y_batch);
//   loss.backward();        optimizer.step();             metrics.update(prediction, y_batch);
//
// fit() runs it over the batches of a data::DataLoader (shuffled every epoch) for every
// epoch, then validates (eval mode, no graph), reports progress and calls the callbacks;
// docs/training.md walks through all of it. Model files (save, load, load_model) are built
// from the pieces in train/model_file.hpp.
#pragma once

#include <algorithm>
#include <any>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/data/dataloader.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/metrics/metric.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/ops/views.hpp"
#include "nabla/optim/adagrad.hpp"
#include "nabla/optim/adam.hpp"
#include "nabla/optim/optimizer.hpp"
#include "nabla/optim/rmsprop.hpp"
#include "nabla/optim/sgd.hpp"
#include "nabla/train/callbacks.hpp"
#include "nabla/train/data_parallel.hpp"
#include "nabla/train/history.hpp"
#include "nabla/train/logs.hpp"
#include "nabla/train/model_file.hpp"
#include "nabla/train/progress.hpp"

namespace nabla::train {

/// Held-out samples to validate on after every epoch (instead of validation_split).
template <FloatingElement T>
struct ValidationData {
  Tensor<T> x;
  Tensor<T> y;
};

/// The settings of fit(), in Keras's spirit: `{.epochs = 10, .batch_size = 64, .validation_split = 0.1}`.
/// (Designated initializers must follow this order.)
template <FloatingElement T>
struct FitOptions {
  int epochs = 1;
  std::int64_t batch_size = 32;
  /// Hold out this LAST fraction of (x, y), taken before any shuffling, for validation (Keras).
  double validation_split = 0.0;
  /// Or validate on these samples; leave both tensors undefined for none.
  ValidationData<T> validation_data = {};
  /// Visit the training samples in a new random order every epoch.
  bool shuffle = true;
  /// Seed of the shuffling: epoch e visits the samples in data::DataLoader's order for
  /// (seed, e), i.e. data::shuffled_indices(samples, seed, e), so a run continued at
  /// initial_epoch k shuffles exactly as the uninterrupted run did. Without it, each epoch
  /// draws its loader's seed from the global generator (nabla::manual_seed), whose position a
  /// model file saves.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// Background threads preparing the next batches while the model computes (data::DataLoader's
  /// num_workers); the batches, and so the run, are the same for any number of workers.
  int num_workers = 0;
  std::vector<AnyCallback> callbacks = {};
  /// 0: silent; 1: a progress bar on a terminal, else one line per epoch; 2: one line per epoch.
  int verbose = 1;
  /// Where progress goes (tests pass a std::ostringstream).
  std::ostream& output = std::cout;
  /// Draw a redrawn progress bar (true) or plain lines (false); by default a bar exactly when
  /// `output` is std::cout and stdout is a terminal.
  std::optional<bool> terminal = std::nullopt;
  /// The epoch to start counting from (to continue a run that stopped after that many
  /// epochs). Unset: 0, or, for the first fit() after model.load(), the epoch the file records.
  std::optional<int> initial_epoch = std::nullopt;
  /// Gradient accumulation: the optimizer steps once every `accumulation_steps` batches, with
  /// the mean gradient over them (each batch's gradient weighted by its share of the samples),
  /// so k batches of b samples train as one batch of k * b would, in the memory of one batch
  /// of b. The epoch's last step takes the batches that are left. Batch-level callbacks and
  /// the progress bar still count batches; the optimizer's step_count() counts its steps.
  std::int64_t accumulation_steps = 1;
  /// Data-parallel training over MPI ranks (train/data_parallel.hpp): train::data_parallel(model)
  /// from train/distributed.hpp. batch_size is then the global batch, split across the ranks.
  std::shared_ptr<DataParallelRun> distributed = nullptr;
  /// Stop at the first batch whose loss is NaN or infinite instead of training on: fit()
  /// throws a ValueError naming the epoch, the batch and the loss. (That batch's step has been
  /// taken, so the weights may hold NaNs: reload the last checkpoint.) TerminateOnNaN is the
  /// callback that stops quietly instead, as Keras's does.
  bool terminate_on_nan = false;
};

namespace detail {

/// FitOptions::terminate_on_nan's error.
[[noreturn]] inline void throw_not_finite(double loss, int epoch, int batch) {
  throw ValueError("fit: the loss is " + shortest_number(loss) + " at epoch " + std::to_string(epoch) + ", batch " +
                   std::to_string(batch) +
                   " (counting from 0); training stopped (FitOptions::terminate_on_nan). The step of that batch "
                   "was taken: reload the last checkpoint, and lower the learning rate or clip the gradients");
}

/// Maps an optimizer's options struct to the optimizer it configures (`type`); other types
/// have no `type`.
template <typename Options, typename T>
struct OptimizerForOptions {};
template <typename T>
struct OptimizerForOptions<optim::SGDOptions, T> {
  using type = optim::SGD<T>;
};
template <typename T>
struct OptimizerForOptions<optim::AdamOptions, T> {
  using type = optim::Adam<T>;
};
template <typename T>
struct OptimizerForOptions<optim::AdamWOptions, T> {
  using type = optim::AdamW<T>;
};
template <typename T>
struct OptimizerForOptions<optim::RMSpropOptions, T> {
  using type = optim::RMSprop<T>;
};
template <typename T>
struct OptimizerForOptions<optim::AdagradOptions, T> {
  using type = optim::Adagrad<T>;
};

template <typename Spec, typename T>
concept OptimizerOptions = requires {
  typename OptimizerForOptions<Spec, T>::type;
};

/// A function that makes an optimizer from the model's parameters.
template <typename Spec, typename T>
concept OptimizerFactory = requires(const Spec& make, std::vector<Tensor<T>> parameters) {
  { make(parameters) } -> std::convertible_to<std::shared_ptr<optim::Optimizer<T>>>;
};

template <typename Loss, typename T>
concept LossCallable = requires(const Loss& loss, const Tensor<T>& prediction, const Tensor<T>& target) {
  { loss(prediction, target) } -> std::convertible_to<Tensor<T>>;
};

/// x and y must be batches of the same number of samples (their dimension 0).
template <FloatingElement T>
void check_samples(const std::string& op, const Tensor<T>& x, const Tensor<T>& y) {
  if (!x.defined() || !y.defined()) throw ValueError(op + ": x and y must both be defined tensors");
  if (x.dim() < 1 || y.dim() < 1)
    throw ShapeError(op + ": x of shape " + to_string(x.shape()) + " and y of shape " + to_string(y.shape()) +
                     " need a sample dimension (dimension 0)");
  if (x.size(0) != y.size(0))
    throw ShapeError(op + ": x of shape " + to_string(x.shape()) + " and y of shape " + to_string(y.shape()) +
                     " have different numbers of samples (" + std::to_string(x.size(0)) + " and " +
                     std::to_string(y.size(0)) + ")");
}

inline void check_batch_size(const std::string& op, std::int64_t batch_size) {
  if (batch_size < 1) throw ValueError(op + ": batch_size must be >= 1, got " + std::to_string(batch_size));
}

/// A [N] target for a [N,1] output (or the reverse) is read in the output's shape, as Keras
/// does; every other shape goes to the loss as it is (and the loss names any mismatch).
template <FloatingElement T>
Tensor<T> align_target(const Tensor<T>& prediction, const Tensor<T>& target) {
  Shape with_one = target.shape();
  with_one.push_back(1);
  Shape prediction_with_one = prediction.shape();
  prediction_with_one.push_back(1);
  if (prediction.shape() == with_one || target.shape() == prediction_with_one)
    return target.reshape(prediction.shape());
  return target;
}

/// A 64-bit seed drawn from `generator` (one draw: advances it by 1).
inline std::uint64_t draw_seed(Generator& generator) {
  const PhiloxWords words = philox_words(generator.seed(), generator.advance(1), 0);
  return (static_cast<std::uint64_t>(words[0]) << 32) | words[1];
}

/// Whether `stream` is std::cout writing to a terminal (where a redrawn bar makes sense).
inline bool is_terminal(const std::ostream& stream) {
  if (&stream != &std::cout) return false;
#if defined(_WIN32)
  return _isatty(_fileno(stdout)) != 0;
#else
  return isatty(fileno(stdout)) != 0;
#endif
}

/// Puts a module back in the mode (training or evaluation) it had, even when a step throws.
template <FloatingElement T>
class ModeRestorer {
 public:
  explicit ModeRestorer(nn::Module<T>& model) : model_(model), was_training_(model.is_training()) {}
  ~ModeRestorer() { model_.train(was_training_); }
  ModeRestorer(const ModeRestorer&) = delete;
  ModeRestorer& operator=(const ModeRestorer&) = delete;

 private:
  nn::Module<T>& model_;
  bool was_training_;
};

/// The device of a model's parameters (the CPU for a model without any): where fit(),
/// evaluate() and predict() send each batch, so data may stay on the CPU while the model
/// trains on a GPU (model.to(nabla::Device::cuda())).
template <FloatingElement T>
Device model_device(const nn::Module<T>& model) {
  const auto parameters = model.parameters();
  return parameters.empty() ? Device::cpu() : parameters.front().device();
}

}  // namespace detail

/// The model's output for x, batch by batch, in evaluation mode (dropout off) and without
/// recording a graph; the batches' outputs are joined along dimension 0. Works for any module.
template <FloatingElement T>
Tensor<T> predict(nn::Module<T>& model, const Tensor<T>& x, std::int64_t batch_size = 32) {
  detail::check_batch_size("predict", batch_size);
  if (!x.defined() || x.dim() < 1 || x.size(0) < 1)
    throw ValueError("predict: x must have at least one sample along dimension 0, got " +
                     (x.defined() ? "shape " + to_string(x.shape()) : std::string("an undefined tensor")));
  NoGradGuard no_grad;
  // A model already in eval mode is not written to, so that threads may share it
  // (docs/reliability.md); one in training mode is switched to eval and back.
  std::optional<detail::ModeRestorer<T>> restore_mode;
  if (model.is_training()) {
    restore_mode.emplace(model);
    model.eval();
  }
  std::vector<Tensor<T>> outputs;
  const Device device = detail::model_device(model);
  // Each batch runs where the model is; the outputs come back to x's device.
  for (std::int64_t begin = 0; begin < x.size(0); begin += batch_size)
    outputs.push_back(
        model.forward(x.narrow(0, begin, std::min(batch_size, x.size(0) - begin)).to(device)).to(x.device()));
  return outputs.size() == 1 ? outputs.front() : concat(outputs, 0);
}

/// What compile() sets up and fit() runs: the optimizer, the loss, the metrics, and the
/// training loop itself. Callbacks see it as a Trainer.
template <FloatingElement T>
struct TrainingState final : Trainer {
  using LossFunction = std::function<Tensor<T>(const Tensor<T>&, const Tensor<T>&)>;
  using StateDict = std::map<std::string, Tensor<T>>;

  TrainingState(std::shared_ptr<optim::Optimizer<T>> optimizer, LossFunction loss, std::string loss_name,
                std::vector<std::shared_ptr<metrics::Metric>> metric_list)
      : optimizer_instance(std::move(optimizer)),
        loss_function(std::move(loss)),
        loss_name(std::move(loss_name)),
        metrics(std::move(metric_list)) {
    if (!optimizer_instance) throw ValueError("compile: the optimizer is null");
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      const std::string name = metrics[i]->name();
      if (name == "loss" || name == "lr")
        throw ValueError("compile: a metric may not be named '" + name + "' (that key is taken)");
      for (std::size_t j = 0; j < i; ++j)
        if (metrics[j]->name() == name)
          throw ValueError("compile: two metrics are named '" + name + "'; every metric needs its own key in the logs");
    }
  }

  std::shared_ptr<optim::Optimizer<T>> optimizer_instance;
  LossFunction loss_function;
  std::string loss_name;
  std::vector<std::shared_ptr<metrics::Metric>> metrics;
  /// Epochs completed by the running or last fit() (counted from its initial_epoch), or
  /// restored by model.load(): what a model file records as "epoch".
  int completed_epochs = 0;
  /// Set by model.load(): where the next fit() without an explicit initial_epoch starts.
  std::optional<int> resume_epoch;
  /// The data-parallel run of the fit() in progress (FitOptions::distributed), else null.
  DataParallelRun* distributed_run = nullptr;
  /// Every epoch fit() recorded since compile(), across model.save / model.load (a model file
  /// keeps it): the whole run's history, where fit()'s History holds that call's epochs.
  History run_history;
  /// The callbacks' states at the end of the last fit() (what model.save writes), by position,
  /// and the weights they keep (Callback::state_weights(); an empty std::any for none).
  std::vector<std::pair<std::string, CallbackState>> callback_states;
  std::vector<std::any> callback_weights;
  /// Set by model.load(), consumed by the next fit(): the callbacks' saved states and weights,
  /// and the position in the epoch of a file saved mid-epoch.
  std::map<std::size_t, std::pair<std::string, CallbackState>> resume_callbacks;
  std::map<std::size_t, std::any> resume_callback_weights;
  std::optional<detail::FitPosition> resume_position;

  // ---- one step, one pass -------------------------------------------------------------------

  /// The loss of a batch as one number (a ValueError if the loss does not reduce to one).
  Tensor<T> compute_loss(const Tensor<T>& prediction, const Tensor<T>& target) const {
    Tensor<T> value = loss_function(prediction, detail::align_target(prediction, target));
    if (!value.defined() || value.numel() != 1)
      throw ValueError("the loss " + loss_name + " returned " +
                       (value.defined() ? "shape " + to_string(value.shape()) : std::string("an undefined tensor")) +
                       "; it must reduce to a single number (Reduction::mean or sum)");
    return value;
  }

  void reset_metrics() {
    for (auto& metric : metrics) metric->reset();
  }

  void update_metrics(const Tensor<T>& prediction, const Tensor<T>& target) {
    NoGradGuard no_grad;
    for (auto& metric : metrics) metric->update(prediction, target);
  }

  /// "loss" and every metric's result, with `prefix` ("val_") in front of each name.
  Logs current_logs(double loss, const std::string& prefix = "") const {
    Logs logs;
    logs.set(prefix + "loss", loss);
    for (const auto& metric : metrics) logs.set(prefix + metric->name(), metric->result());
    return logs;
  }

  /// One optimizer step on one batch; returns the batch's loss.
  double train_step(nn::Module<T>& model, const Tensor<T>& x_batch, const Tensor<T>& y_batch) {
    return accumulation_step(model, x_batch, y_batch, 1.0, /*zero_first=*/true, /*step_after=*/true);
  }

  /// One micro-batch of a gradient accumulation window: clears the gradients first when
  /// `zero_first`, adds gradient_scale * dloss/dparameters to them, and steps the optimizer
  /// when `step_after`. Returns the batch's (unscaled) loss.
  double accumulation_step(nn::Module<T>& model, const Tensor<T>& x_batch, const Tensor<T>& y_batch,
                           double gradient_scale, bool zero_first, bool step_after) {
    const Device device = detail::model_device(model);
    const Tensor<T> x = x_batch.to(device), y = y_batch.to(device);  // to(): a no-op where it is already
    // set_to_none: backward() then hands each first gradient over (no fill, no add)
    if (zero_first) optimizer_instance->zero_grad({.set_to_none = true});
    const Tensor<T> prediction = model.forward(x);
    const Tensor<T> loss = compute_loss(prediction, y);
    if (gradient_scale == 1.0)
      loss.backward();
    else  // d(scale * loss) = scale * dloss: seed the backward pass with the scale instead of 1
      loss.backward(full<T>(loss.shape(), static_cast<T>(gradient_scale), loss.device()));
    if (step_after) {
      if (distributed_run) distributed_run->finish_gradients();
      optimizer_instance->step();
    }
    update_metrics(prediction.detach(), y);
    return static_cast<double>(backend::item_on_host(loss));
  }

  /// The loss (each batch's weighted by its number of samples: the mean over all samples for
  /// a mean-reduced loss) and the metrics over (x, y), in evaluation mode without a graph.
  /// Data-parallel (`parallel`): this rank evaluates its share of (x, y) and the sums are added
  /// over the ranks (detail::reduce_evaluation), so every rank gets the whole set's figures.
  Logs evaluate_logs(nn::Module<T>& model, const Tensor<T>& x_all, const Tensor<T>& y_all, std::int64_t batch_size,
                     const std::string& prefix = "", DataParallelRun* parallel = nullptr) {
    NoGradGuard no_grad;
    detail::ModeRestorer<T> restore_mode(model);
    model.eval();
    reset_metrics();
    const auto [x, y] = parallel ? detail::evaluation_shard(x_all, y_all, *parallel) : std::pair{x_all, y_all};
    double loss_sum = 0;
    const std::int64_t samples = x.size(0);
    for (std::int64_t begin = 0; begin < samples; begin += batch_size) {
      const std::int64_t count = std::min(batch_size, samples - begin);
      const Device device = detail::model_device(model);
      const Tensor<T> x_batch = x.narrow(0, begin, count).to(device);
      const Tensor<T> y_batch = y.narrow(0, begin, count).to(device);
      const Tensor<T> prediction = model.forward(x_batch);
      loss_sum +=
          static_cast<double>(backend::item_on_host(compute_loss(prediction, y_batch))) * static_cast<double>(count);
      update_metrics(prediction, y_batch);
    }
    if (parallel) return detail::reduce_evaluation(*parallel, loss_sum, samples, metrics, prefix);
    return current_logs(samples > 0 ? loss_sum / static_cast<double>(samples) : 0.0, prefix);
  }

  // ---- the training loop --------------------------------------------------------------------

  History fit(nn::Module<T>& model, const Tensor<T>& x_all, const Tensor<T>& y_all, const FitOptions<T>& options) {
    detail::check_samples("fit", x_all, y_all);
    detail::check_batch_size("fit", options.batch_size);
    if (options.epochs < 0) throw ValueError("fit: epochs must be >= 0, got " + std::to_string(options.epochs));
    const int first_epoch = options.initial_epoch.value_or(resume_epoch.value_or(0));
    if (first_epoch < 0 || first_epoch > options.epochs) {
      if (!options.initial_epoch)
        throw ValueError("fit: the model was loaded after epoch " + std::to_string(first_epoch) +
                         ", so fit() continues from there; epochs = " + std::to_string(options.epochs) +
                         " is the epoch to train up to and must be at least that (or set initial_epoch)");
      throw ValueError("fit: initial_epoch must be in [0, epochs = " + std::to_string(options.epochs) + "], got " +
                       std::to_string(first_epoch));
    }
    if (options.accumulation_steps < 1)
      throw ValueError("fit: accumulation_steps must be >= 1, got " + std::to_string(options.accumulation_steps));
    if (options.verbose < 0 || options.verbose > 2)
      throw ValueError("fit: verbose must be 0, 1 or 2, got " + std::to_string(options.verbose));
    if (!(options.validation_split >= 0 && options.validation_split < 1))
      throw ValueError("fit: validation_split must be in [0, 1), got " +
                       detail::shortest_number(options.validation_split));
    const bool has_validation_data = options.validation_data.x.defined() || options.validation_data.y.defined();
    if (has_validation_data && options.validation_split > 0)
      throw ValueError("fit: give either validation_split or validation_data, not both");

    // Data tensors never take part in the graph.
    Tensor<T> x = x_all.detach(), y = y_all.detach(), x_validation, y_validation;
    if (options.validation_split > 0) {
      // Keras's rule: the last fraction, cut before shuffling, so validation is the same every epoch.
      const std::int64_t samples = x.size(0);
      const auto split_at =
          static_cast<std::int64_t>(std::floor(static_cast<double>(samples) * (1.0 - options.validation_split)));
      if (split_at < 1 || split_at >= samples)
        throw ValueError("fit: validation_split " + detail::shortest_number(options.validation_split) + " of " +
                         std::to_string(samples) + " samples leaves " + std::to_string(split_at) +
                         " for training and " + std::to_string(samples - split_at) +
                         " for validation; both need at least one");
      x_validation = x.narrow(0, split_at, samples - split_at);
      y_validation = y.narrow(0, split_at, samples - split_at);
      x = x.narrow(0, 0, split_at);
      y = y.narrow(0, 0, split_at);
    } else if (has_validation_data) {
      detail::check_samples("fit: validation_data", options.validation_data.x, options.validation_data.y);
      x_validation = options.validation_data.x.detach();
      y_validation = options.validation_data.y.detach();
    }
    if (x.size(0) < 1) throw ValueError("fit: x of shape " + to_string(x.shape()) + " has no samples");
    if (x_validation.defined() && x_validation.size(0) < 1) throw ValueError("fit: validation_data has no samples");

    const std::int64_t samples = x.size(0);
    const std::int64_t batch_size = options.batch_size;
    const data::TensorDataset<T, T> dataset(x, y);
    const std::int64_t accumulation = options.accumulation_steps;
    // Data-parallel: each rank trains its shard with its share of the global batch.
    DataParallelRun* const parallel = options.distributed.get();
    const std::int64_t world = parallel ? parallel->world_size() : 1;
    const std::int64_t local_batch = (batch_size + world - 1) / world;
    const std::int64_t steps = parallel ? ((samples + world - 1) / world + local_batch - 1) / local_batch
                                        : (samples + batch_size - 1) / batch_size;
    distributed_run = parallel;
    struct ForgetRun {
      DataParallelRun*& run;
      ~ForgetRun() { run = nullptr; }
    } forget_run{distributed_run};
    if (parallel && accumulation != 1)
      throw ValueError("fit: accumulation_steps = " + std::to_string(accumulation) +
                       " with .distributed is not supported yet (use a larger global batch_size)");
    resume_epoch.reset();  // consumed: a later fit() counts from 0 again, as Keras does
    // A file saved mid-epoch continues that epoch from its next batch (when fit() starts there).
    std::optional<detail::FitPosition> position = std::move(resume_position);
    resume_position.reset();
    if (position && position->epoch != first_epoch) position.reset();
    if (position && position->steps != steps)
      throw ValueError("fit: the model file was saved in epoch " + std::to_string(position->epoch) + " of a run with " +
                       std::to_string(position->steps) + " batches per epoch; this fit() has " + std::to_string(steps) +
                       ": resume with the same data and batch_size");
    const auto saved_callbacks = std::move(resume_callbacks);
    resume_callbacks.clear();
    const auto saved_callback_weights = std::move(resume_callback_weights);
    resume_callback_weights.clear();
    completed_epochs = first_epoch;
    const bool terminal = options.verbose == 1 && options.terminal.value_or(detail::is_terminal(options.output));

    // What callbacks see through Trainer, valid until fit() returns (or throws).
    RunScope scope(*this, model, options, steps);
    detail::ModeRestorer<T> restore_mode(model);
    History history;
    Logs logs;
    restore_callback_states(options.callbacks, saved_callbacks, saved_callback_weights);
    for (const auto& callback : options.callbacks) callback->on_train_begin(logs);

    for (int epoch = first_epoch; epoch < options.epochs && !stop_training; ++epoch) {
      logs.clear();
      // A resumed epoch already had its on_epoch_begin (a scheduler's change is in the
      // optimizer's saved learning rate): it is not called again.
      const bool resumed = position && position->epoch == epoch;
      if (!resumed)
        for (const auto& callback : options.callbacks) callback->on_epoch_begin(epoch, logs);
      model.train();
      reset_metrics();
      // A resumed epoch's metrics go on from the totals of its batches before the save.
      if (resumed && position->metrics)
        for (std::size_t i = 0; i < metrics.size(); ++i) metrics[i]->set_totals((*position->metrics)[i].totals);
      // The epoch's batches: a seeded order is a function of (seed, epoch) wherever the run
      // started; an unseeded one takes one draw of the global generator per epoch (a resumed
      // epoch's draw is in the file: the loader's seed).
      const std::uint64_t seed =
          resumed ? position->loader.seed
                  : (options.seed ? *options.seed : (options.shuffle ? detail::draw_seed(default_generator()) : 0));
      data::DataLoader loader(parallel ? detail::rank_shard(dataset, *parallel, options.shuffle, seed, epoch) : dataset,
                              {.batch_size = parallel ? local_batch : batch_size,
                               .shuffle = options.shuffle && !parallel,
                               .seed = seed,
                               .num_workers = options.num_workers});
      loader.set_epoch(static_cast<std::uint64_t>(epoch));
      if (resumed) {  // load_state refuses a loader with another seed or batch size
        data::LoaderState state = position->loader;
        state.epoch = static_cast<std::uint64_t>(epoch);
        state.batch = position->batch;
        state.samples = state.batch * state.batch_size;
        loader.load_state(state);
      }
      std::optional<ProgressBar> progress;
      if (options.verbose > 0 && (!parallel || parallel->rank() == 0))
        progress.emplace(options.output, epoch, options.epochs, steps, terminal);

      double loss_sum = resumed ? position->loss_sum : 0;
      std::int64_t seen = resumed ? position->seen : 0, steps_done = resumed ? position->batch : 0;
      Logs running;
      if (seen > 0) running = current_logs(loss_sum / static_cast<double>(seen));
      if (resumed) position.reset();
      live_position_ = detail::FitPosition{epoch, steps_done, steps, loss_sum, seen, loader.state()};
      for (const auto& batch : loader) {
        const std::int64_t count = batch.inputs.size(0);
        const int step = static_cast<int>(steps_done);
        Logs batch_logs;
        for (const auto& callback : options.callbacks) callback->on_batch_begin(step, batch_logs);
        // The accumulation window holding this batch: batches [first, last] of the epoch,
        // all of batch_size samples but the epoch's last.
        const std::int64_t first = steps_done - steps_done % accumulation,
                           last = std::min(first + accumulation, steps) - 1;
        const std::int64_t window_samples =
            last == steps - 1 ? samples - first * batch_size : (last - first + 1) * batch_size;
        // Without accumulation the scale is exactly 1 (and a data-parallel shard's sizes never enter it).
        const double gradient_scale =
            accumulation == 1 ? 1.0 : static_cast<double>(count) / static_cast<double>(window_samples);
        const double batch_loss = accumulation_step(model, batch.inputs, batch.targets, gradient_scale,
                                                    steps_done == first, steps_done == last);
        if (options.terminate_on_nan && !std::isfinite(batch_loss)) detail::throw_not_finite(batch_loss, epoch, step);
        loss_sum += batch_loss * static_cast<double>(count);
        seen += count;
        ++steps_done;
        running = current_logs(loss_sum / static_cast<double>(seen));  // the epoch's running means
        // What a save from on_batch_end (ModelCheckpoint's save_freq) records.
        live_position_ = detail::FitPosition{epoch, steps_done, steps, loss_sum, seen, loader.state()};
        for (const auto& callback : options.callbacks) callback->on_batch_end(step, running);
        if (progress) progress->update(steps_done, running, seen);
        if (stop_training) break;
      }

      live_position_.reset();
      if (parallel) running = detail::reduce_logs(*parallel, running, seen);
      for (const auto& [name, value] : running) logs.set(name, value);
      if (x_validation.defined())
        for (const auto& [name, value] : evaluate_logs(model, x_validation, y_validation, batch_size, "val_", parallel))
          logs.set(name, value);
      if (progress) progress->finish(steps_done, logs, seen);
      completed_epochs = epoch + 1;  // before on_epoch_end, where ModelCheckpoint saves
      epoch_end_logs_ = &logs;       // a save there holds this epoch's row of the history
      for (const auto& callback : options.callbacks) callback->on_epoch_end(epoch, logs);
      epoch_end_logs_ = nullptr;
      history.record(epoch, logs);
      run_history.record(epoch, logs);
    }
    for (const auto& callback : options.callbacks) callback->on_train_end(logs);
    callback_states = current_callback_states(options.callbacks);
    callback_weights = current_callback_weights(options.callbacks);
    return history;
  }

  /// Adds what continues the run to a model file: the run's history, the callbacks' states and,
  /// from a save inside an epoch's batches, the position there (a ValueError inside a gradient
  /// accumulation window, whose partial gradients a file does not hold).
  void add_run_state(io::Checkpoint& checkpoint) const {
    History history = run_history;
    if (epoch_end_logs_) history.record(completed_epochs - 1, *epoch_end_logs_);
    detail::add_history(checkpoint, history);
    detail::add_callback_states(checkpoint,
                                running_callbacks_ ? current_callback_states(*running_callbacks_) : callback_states);
    const std::vector<std::any> weights =
        running_callbacks_ ? current_callback_weights(*running_callbacks_) : callback_weights;
    for (std::size_t i = 0; i < weights.size(); ++i)
      if (weights[i].has_value()) detail::add_callback_weights<T>(checkpoint, i, weights[i]);
    if (!live_position_) return;
    if (live_position_->batch % accumulation_ != 0 && live_position_->batch != live_position_->steps)
      throw ValueError("save: batch " + std::to_string(live_position_->batch) + " of epoch " +
                       std::to_string(live_position_->epoch) + " is inside a gradient accumulation window of " +
                       std::to_string(accumulation_) + " batches; save every multiple of accumulation_steps");
    // The epoch's metrics so far, so that its logged values come out as if it never stopped.
    detail::FitPosition position = *live_position_;
    position.metrics.emplace();
    for (const auto& metric : metrics) {
      std::vector<double> totals = metric->totals();
      if (totals.empty())
        throw ValueError("save: the metric '" + metric->name() + "' has no totals() (metrics::Metric), so a file " +
                         "saved inside an epoch (batch " + std::to_string(live_position_->batch) + " of epoch " +
                         std::to_string(live_position_->epoch) +
                         ") cannot hold its running state; give it totals() and set_totals(), or save at epoch "
                         "ends (ModelCheckpoint's save_freq = 0)");
      position.metrics->push_back({metric->name(), std::move(totals)});
    }
    detail::add_fit_position(checkpoint, position);
  }

  // ---- Trainer: what callbacks see ----------------------------------------------------------

  optim::OptimizerBase& optimizer() override { return *optimizer_instance; }

  std::any weights() const override { return std::any(running_model("weights").state_dict()); }

  void set_weights(const std::any& weights) override {
    const auto* state = std::any_cast<StateDict>(&weights);
    if (!state)
      throw ValueError("set_weights: these weights do not come from weights() of a model of this element type");
    running_model("set_weights").load_state_dict(*state);
  }

  /// The model file model.save(path) writes (train/model_file.hpp): layer configuration,
  /// weights, optimizer, epochs completed and the generator's position.
  void save(const std::string& path) override {
    // Data-parallel: every rank holds the same weights; rank 0 writes, the others wait for it.
    if (!distributed_run || distributed_run->rank() == 0) {
      io::Checkpoint checkpoint =
          detail::model_checkpoint<T>(running_model("save"), optimizer_instance.get(), completed_epochs);
      add_run_state(checkpoint);
      io::save_checkpoint(path, checkpoint);
    }
    if (distributed_run) distributed_run->barrier();
  }

  bool higher_is_better(const std::string& name) const override {
    const std::string quantity = name.rfind("val_", 0) == 0 ? name.substr(4) : name;
    for (const auto& metric : metrics)
      if (metric->name() == quantity) return metric->higher_is_better();
    if (quantity == "loss" || quantity == "lr") return false;
    // Keras's rule for names it does not know: accuracy-like names go up, the rest down.
    return quantity.find("acc") != std::string::npos || quantity == "precision" || quantity == "recall" ||
           quantity == "f1" || quantity == "auc";
  }

  std::ostream& output() override { return *output_; }
  int verbose() const override { return verbose_; }
  int epochs() const override { return epochs_; }
  std::int64_t steps_per_epoch() const override { return steps_per_epoch_; }

 private:
  /// Sets up what callbacks see for one fit() and clears it again however fit() ends.
  class RunScope {
   public:
    RunScope(TrainingState& state, nn::Module<T>& model, const FitOptions<T>& options, std::int64_t steps)
        : state_(state), callbacks_(options.callbacks) {
      state.model_ = &model;
      state.output_ = &options.output;
      state.verbose_ = options.verbose;
      state.epochs_ = options.epochs;
      state.steps_per_epoch_ = steps;
      state.stop_training = false;
      state.running_callbacks_ = &options.callbacks;
      state.accumulation_ = options.accumulation_steps;
      for (const auto& callback : callbacks_) callback->set_trainer(&state);
    }
    ~RunScope() {
      for (const auto& callback : callbacks_) callback->set_trainer(nullptr);
      state_.model_ = nullptr;
      state_.running_callbacks_ = nullptr;
      state_.live_position_.reset();
      state_.epoch_end_logs_ = nullptr;
    }
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;

   private:
    TrainingState& state_;
    const std::vector<AnyCallback>& callbacks_;
  };

  static std::vector<std::pair<std::string, CallbackState>> current_callback_states(
      const std::vector<AnyCallback>& callbacks) {
    std::vector<std::pair<std::string, CallbackState>> states;
    for (const auto& callback : callbacks) {
      const std::string name = callback->state_name();
      states.emplace_back(name, name.empty() ? CallbackState{} : callback->state());
    }
    return states;
  }

  /// The weights each callback keeps (state_weights() of those with a state_name()), by position.
  static std::vector<std::any> current_callback_weights(const std::vector<AnyCallback>& callbacks) {
    std::vector<std::any> weights;
    for (const auto& callback : callbacks)
      weights.push_back(callback->state_name().empty() ? std::any() : callback->state_weights());
    return weights;
  }

  /// Hands each callback the state (and weights) a model file saved for its position (before
  /// on_train_begin). A position the file has no state for starts fresh; another callback there
  /// is an error.
  static void restore_callback_states(const std::vector<AnyCallback>& callbacks,
                                      const std::map<std::size_t, std::pair<std::string, CallbackState>>& saved,
                                      const std::map<std::size_t, std::any>& saved_weights) {
    for (std::size_t i = 0; i < callbacks.size(); ++i) {
      const std::string name = callbacks[i]->state_name();
      const auto found = saved.find(i);
      if (name.empty() || found == saved.end()) continue;
      if (found->second.first != name)
        throw ValueError("fit: the model file holds the state of a " + found->second.first + " for callback " +
                         std::to_string(i) + ", but FitOptions::callbacks[" + std::to_string(i) + "] is a " + name +
                         "; resume with the callbacks of the saved run, in the same order");
      callbacks[i]->load_state(found->second.second);
      if (const auto weights = saved_weights.find(i); weights != saved_weights.end())
        callbacks[i]->load_state_weights(weights->second);
    }
  }

  nn::Module<T>& running_model(const std::string& op) const {
    if (!model_) throw ValueError(op + ": only available while fit() runs");
    return *model_;
  }

  nn::Module<T>* model_ = nullptr;
  const std::vector<AnyCallback>* running_callbacks_ = nullptr;
  std::optional<detail::FitPosition> live_position_;  // inside an epoch's batches
  const Logs* epoch_end_logs_ = nullptr;              // during on_epoch_end
  std::int64_t accumulation_ = 1;
  std::ostream* output_ = &std::cout;
  int verbose_ = 0;
  int epochs_ = 0;
  std::int64_t steps_per_epoch_ = 0;
};

namespace detail {

template <FloatingElement T>
TrainingState<T>& compiled(const std::shared_ptr<TrainingState<T>>& state, const std::string& op) {
  if (!state)
    throw ValueError(op + ": the model is not compiled; call model.compile(optimizer options, loss, {metrics}) first");
  return *state;
}

template <FloatingElement T, typename OptimizerSpec, typename Loss>
std::shared_ptr<TrainingState<T>> make_training_state(const std::vector<Tensor<T>>& parameters,
                                                      const OptimizerSpec& optimizer, Loss loss,
                                                      std::vector<metrics::AnyMetric> metric_list) {
  static_assert(OptimizerOptions<OptimizerSpec, T> || OptimizerFactory<OptimizerSpec, T>,
                "compile: the optimizer must be an options struct (nb::optim::AdamOptions{...}, SGDOptions, "
                "AdamWOptions, RMSpropOptions, AdagradOptions) or a function making a "
                "std::unique_ptr/std::shared_ptr<nb::optim::Optimizer<T>> from a std::vector<Tensor<T>>");
  static_assert(LossCallable<Loss, T>,
                "compile: the loss must be callable as loss(prediction, target) with two Tensor<T> and return a "
                "Tensor<T> (e.g. nb::loss::MSE{}, nb::loss::BinaryCrossEntropy{}, nb::loss::CrossEntropy{})");
  if (parameters.empty()) throw ValueError("compile: the model has no parameters to train (add its layers first)");
  std::shared_ptr<optim::Optimizer<T>> optimizer_instance;
  if constexpr (OptimizerOptions<OptimizerSpec, T>) {
    using OptimizerType = typename OptimizerForOptions<OptimizerSpec, T>::type;
    optimizer_instance = std::make_shared<OptimizerType>(parameters, optimizer);
  } else {
    optimizer_instance = optimizer(parameters);
  }
  std::string loss_name = "loss";
  if constexpr (requires {
                  { loss.name() } -> std::convertible_to<std::string>;
                })
    loss_name = loss.name();
  std::vector<std::shared_ptr<metrics::Metric>> metric_objects;
  for (auto& metric : metric_list) metric_objects.push_back(metric.shared());
  return std::make_shared<TrainingState<T>>(
      std::move(optimizer_instance),
      [loss = std::move(loss)](const Tensor<T>& prediction, const Tensor<T>& target) -> Tensor<T> {
        return loss(prediction, target);
      },
      std::move(loss_name), std::move(metric_objects));
}

}  // namespace detail

// ---- the model -----------------------------------------------------------------------------------

/// The Keras-style model: a Sequential of layers (nn::Sequential<T>, whose add() it returns
/// itself from, so chains keep the Model type) plus compile / fit / evaluate / predict /
/// train_on_batch / save / load. A movable value, like every module:
///
///   nb::Model<float> model;
///   model.add<nb::nn::Dense>(13, 32).add<nb::nn::ReLU>().add<nb::nn::Dense>(32, 1);
///   model.compile(nb::optim::AdamOptions{.lr = 1e-3}, nb::loss::MSE{});
///   auto history = model.fit(x, y, {.epochs = 10, .batch_size = 64, .validation_split = 0.1});
template <FloatingElement T>
class Model : public nn::Sequential<T> {
 public:
  Model() = default;

  /// Constructs Layer<T>(args...) and appends it: model.add<Dense>(13, 32).add<ReLU>().
  template <template <typename> class Layer, typename... Args>
  Model& add(Args&&... args) {
    nn::Sequential<T>::template add<Layer>(std::forward<Args>(args)...);
    return *this;
  }

  /// Appends an existing layer (shared: the caller may keep a handle to it).
  Model& add(std::shared_ptr<nn::Module<T>> layer) {
    nn::Sequential<T>::add(std::move(layer));
    return *this;
  }

  /// Chooses how to train: the optimizer (its options, e.g. nb::optim::AdamOptions{.lr = 1e-3},
  /// or a function making one from the parameters), the loss (a functor such as
  /// nb::loss::BinaryCrossEntropy{}) and the metrics to report ({nb::metrics::Accuracy{}}).
  template <typename OptimizerSpec, typename Loss>
  void compile(const OptimizerSpec& optimizer, Loss loss, std::vector<metrics::AnyMetric> metrics = {}) {
    training_ = detail::make_training_state<T>(this->parameters(), optimizer, std::move(loss), std::move(metrics));
  }

  /// Trains on samples x with targets y (both batched along dimension 0); returns the loss
  /// and metrics of every epoch.
  History fit(const Tensor<T>& x, const Tensor<T>& y, const FitOptions<T>& options = {}) {
    return detail::compiled(training_, "fit").fit(*this, x, y, options);
  }

  /// The loss and metrics on (x, y), computed batch by batch in evaluation mode, no graph kept.
  /// With `distributed` (train::data_parallel(model), as for fit) every rank passes the whole
  /// (x, y), evaluates its share, and gets the figures of the whole set (sums added over the ranks).
  std::map<std::string, double> evaluate(const Tensor<T>& x, const Tensor<T>& y, std::int64_t batch_size = 32,
                                         const std::shared_ptr<DataParallelRun>& distributed = nullptr) {
    auto& state = detail::compiled(training_, "evaluate");
    detail::check_samples("evaluate", x, y);
    detail::check_batch_size("evaluate", batch_size);
    if (x.size(0) < 1) throw ValueError("evaluate: x of shape " + to_string(x.shape()) + " has no samples");
    return state.evaluate_logs(*this, x.detach(), y.detach(), batch_size, "", distributed.get()).to_map();
  }

  /// The model's output for x, computed batch by batch in evaluation mode, no graph kept.
  Tensor<T> predict(const Tensor<T>& x, std::int64_t batch_size = 32) {
    return train::predict<T>(*this, x, batch_size);
  }

  /// One optimizer step on one batch; returns the batch's loss and metrics.
  std::map<std::string, double> train_on_batch(const Tensor<T>& x, const Tensor<T>& y) {
    auto& state = detail::compiled(training_, "train_on_batch");
    detail::check_samples("train_on_batch", x, y);
    detail::ModeRestorer<T> restore_mode(*this);
    this->train();
    state.reset_metrics();
    const double loss = state.train_step(*this, x.detach(), y.detach());
    return state.current_logs(loss).to_map();
  }

  /// Whether compile() has been called.
  bool is_compiled() const { return training_ != nullptr; }
  /// The optimizer compile() made (e.g. to read or change its learning rate).
  optim::Optimizer<T>& optimizer() const { return *detail::compiled(training_, "optimizer").optimizer_instance; }
  /// The epochs the last fit() completed (or load() restored); 0 before any.
  int completed_epochs() const { return training_ ? training_->completed_epochs : 0; }

  /// Writes the model to `path` atomically as a nabla checkpoint: the layer configuration
  /// and the weights, and for a compiled model also the optimizer (type, hyperparameters,
  /// state), the epochs completed and the random generator's position.
  void save(const std::string& path) const {
    io::Checkpoint checkpoint = detail::model_checkpoint<T>(
        *this, training_ ? training_->optimizer_instance.get() : nullptr, completed_epochs());
    if (training_) training_->add_run_state(checkpoint);
    io::save_checkpoint(path, checkpoint);
  }

  /// Every epoch fit() recorded since compile(), across save and load: a run resumed from a
  /// file has the whole run's history here (each fit() returns only its own epochs).
  const History& run_history() const { return detail::compiled(training_, "run_history").run_history; }

  /// Reads a file written by save() into this model. The layer configuration must match
  /// (else an IOError naming the first layer that differs, before anything changes). For a
  /// compiled model whose file has training state, the optimizer state and the generator
  /// are restored too, and the next fit() continues after the saved epoch.
  void load(const std::string& path) {
    const std::string context = "Model::load: " + path;
    const io::Checkpoint checkpoint = io::load_checkpoint(path);  // every byte and CRC checked
    // Everything is read and checked before the model changes: the layers first, so that a
    // different architecture is reported as such rather than as a stray tensor shape.
    detail::check_config(checkpoint, *this, context);
    const std::optional<std::set<std::string>> frozen = detail::read_frozen_names(checkpoint, *this, context);
    std::optional<detail::SavedTraining<T>> saved;
    if (training_ && checkpoint.has_metadata("optimizer.type"))
      saved = detail::read_training<T>(checkpoint, *training_->optimizer_instance, context);
    const auto generators = detail::read_layer_generators(checkpoint, *this, context);
    std::optional<History> history;
    std::map<std::size_t, std::pair<std::string, CallbackState>> callback_states;
    std::map<std::size_t, std::any> callback_weights;
    std::optional<detail::FitPosition> position;
    if (saved) {
      history = detail::read_history(checkpoint, context);
      callback_states = detail::read_callback_states(checkpoint, context);
      callback_weights = detail::read_callback_weights(checkpoint, *this, context);
      for (const auto& [index, weights] : callback_weights)
        if (callback_states.count(index) == 0)
          throw IOError(context + ": the file holds weights for callback " + std::to_string(index) +
                        " but no state (callback." + std::to_string(index) + ".name)");
      position = detail::read_fit_position(checkpoint, context);
      if (position && position->epoch != saved->epoch)
        throw IOError(context + ": fit.epoch " + std::to_string(position->epoch) + " and epoch " +
                      std::to_string(saved->epoch) + " disagree: the file is damaged");
      if (position && position->metrics) check_saved_metrics(*position->metrics, context);
    }

    std::optional<optim::OptimizerState<T>> previous_optimizer;
    if (saved) {
      optim::Optimizer<T>& optimizer = *training_->optimizer_instance;
      previous_optimizer = optimizer.state();
      try {
        optimizer.load_state(saved->optimizer);  // checks everything before it copies
      } catch (const Error& error) {
        throw IOError(context + ": the file's optimizer state does not fit the model's optimizer: " + error.what());
      }
    }
    try {
      io::detail::load_module_tensors(checkpoint.tensors, *this, "model.", /*strict=*/true, context);
    } catch (...) {
      // All or nothing: the optimizer goes back to where it was.
      if (previous_optimizer) training_->optimizer_instance->load_state(*previous_optimizer);
      throw;
    }
    if (frozen) detail::apply_frozen_names(*this, *frozen);  // a file from before freezing leaves the flags
    io::apply_generator_states(generators);                  // a seeded Dropout's own stream continues too
    if (saved) {
      default_generator().set_state(saved->rng_seed, saved->rng_offset);
      training_->completed_epochs = saved->epoch;
      training_->resume_epoch = saved->epoch;
      training_->run_history = history.value_or(History{});
      training_->resume_callbacks = std::move(callback_states);
      training_->resume_callback_weights = std::move(callback_weights);
      training_->resume_position = std::move(position);
    }
  }

 private:
  /// A file saved mid-epoch holds the running totals of the metrics the run was compiled with;
  /// resuming needs the same metrics, in the same order (an IOError naming the first difference).
  void check_saved_metrics(const std::vector<detail::MetricTotals>& saved, const std::string& context) const {
    const auto& compiled = training_->metrics;
    const auto names = [](const auto& list, auto name_of) {
      std::string text;
      for (const auto& entry : list) text += (text.empty() ? "" : ", ") + name_of(entry);
      return "{" + text + "}";
    };
    const std::string hint = "; compile with the metrics of the saved run, in the same order, to resume mid-epoch";
    if (saved.size() != compiled.size())
      throw IOError(context + ": the file was saved mid-epoch by a run compiled with the metrics " +
                    names(saved, [](const detail::MetricTotals& m) { return detail::shortened(m.name); }) +
                    ", this model with " + names(compiled, [](const auto& m) { return m->name(); }) + hint);
    for (std::size_t i = 0; i < saved.size(); ++i) {
      if (saved[i].name != compiled[i]->name())
        throw IOError(context + ": metric " + std::to_string(i) + " of the saved run is '" +
                      detail::shortened(saved[i].name) + "', this model's is '" + compiled[i]->name() + "'" + hint);
      const std::size_t expected = compiled[i]->totals().size();
      if (saved[i].totals.size() != expected)
        throw IOError(context + ": fit.metric." + std::to_string(i) + ".totals holds " +
                      std::to_string(saved[i].totals.size()) + " values; the metric '" + compiled[i]->name() +
                      "' has " + std::to_string(expected));
      // Totals are counts and sums, exact up to 2^53 (metrics::Metric::set_totals turns counts
      // into integers: a value past that range would not convert).
      for (const double value : saved[i].totals)
        if (!(std::fabs(value) <= 9007199254740992.0))
          throw IOError(context + ": fit.metric." + std::to_string(i) + ".totals holds " +
                        detail::shortest_number(value) + ", not a count or sum a metric keeps (finite, at most 2^53)");
    }
  }

  std::shared_ptr<TrainingState<T>> training_;  // made by compile()
};

/// Rebuilds the model saved at `path` (by model.save or ModelCheckpoint) from its layer
/// configuration and loads its weights: keras.models.load_model for the built-in layers
/// (Dense, Embedding, LSTM, Dropout, the activations, nested Sequentials). The model comes
/// back uncompiled; to continue training, compile it as it was and call model->load(path).
/// A layer of another type is an IOError naming it (build such a model in code, then load).
template <FloatingElement T>
std::shared_ptr<Model<T>> load_model(const std::string& path) {
  const std::string context = "load_model: " + path;
  const io::Checkpoint checkpoint = io::load_checkpoint(path);
  const std::vector<std::string> lines = detail::file_config(checkpoint, context);
  auto model = std::make_shared<Model<T>>();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string where = context + ": layer " + std::to_string(i);
    const detail::LayerSpec spec = detail::LayerConfigParser(lines[i], where).parse();
    model->add(detail::build_layer<T>(spec, where, checkpoint, "model." + std::to_string(i) + "."));
  }
  io::detail::load_module_tensors(checkpoint.tensors, *model, "model.", /*strict=*/true, context);
  // A seeded Dropout (its seed is in its line) continues its stream where the file left it.
  io::apply_generator_states(detail::read_layer_generators(checkpoint, *model, context));
  // Frozen parameters stay frozen; a file from before freezing existed loads all trainable.
  if (const auto frozen = detail::read_frozen_names(checkpoint, *model, context))
    detail::apply_frozen_names(*model, *frozen);
  return model;
}

}  // namespace nabla::train

namespace nabla {
/// The Keras-style model: nb::Model<float> model; model.add<...>(...).compile(...); model.fit(...).
template <FloatingElement T>
using Model = train::Model<T>;
}  // namespace nabla
