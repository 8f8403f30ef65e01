// nabla/train/callbacks.hpp - code that fit() calls at fixed points of training (Keras's
// callbacks): EarlyStopping, ModelCheckpoint, LearningRateScheduler, SchedulerCallback (an
// optim::LRScheduler stepped per epoch or per batch), CSVLogger, TerminateOnNaN, LambdaCallback,
// UnfreezeAfter (fine-tuning), and the base class to write your own.
//
// fit() calls, in this order:
//   on_train_begin
//   for each epoch:  on_epoch_begin(epoch)
//                    for each batch: on_batch_begin(batch), <train step>, on_batch_end(batch)
//                    <validation>, on_epoch_end(epoch)
//   on_train_end
// Epochs and batches count from 0. The logs a hook gets are the running means of the epoch
// so far (on_batch_end) or the epoch's final values with validation (on_epoch_end); a hook may
// add entries (LearningRateScheduler adds "lr"), and History records what on_epoch_end left.
//
// A callback reaches the training run through trainer(): the optimizer (its learning rate),
// a copy of the model's weights and a way to put them back, saving, and the stop_training
// flag, which ends fit() after the current batch (Keras's model.stop_training).
//
// A callback with state that a resumed run needs (EarlyStopping's best value and patience
// counter, ModelCheckpoint's best value, CSVLogger's columns, UnfreezeAfter's phase) names it
// with state_name() and gives it as text with state(); a model file saved during or after fit()
// keeps it ("callback.<position in FitOptions::callbacks>.<key>"), and the first fit() after
// model.load() hands it back through load_state() before on_train_begin, to the callback at the
// same position, which must have the same state_name() (else a ValueError). A callback that
// keeps a copy of the weights (EarlyStopping's best ones) gives it with state_weights(); the file
// holds it as tensors "callback.<position>.weights.<parameter>", handed back by
// load_state_weights().
#pragma once

#include <algorithm>
#include <any>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/optim/optimizer.hpp"
#include "nabla/optim/scheduler.hpp"
#include "nabla/train/history.hpp"
#include "nabla/train/logs.hpp"
#include "nabla/train/progress.hpp"

namespace nabla::train {

/// The training run as a callback sees it, whatever the model's element type.
class Trainer {
 public:
  virtual ~Trainer() = default;

  /// Set to true to end fit() after the current batch (the epoch is still closed: validation,
  /// on_epoch_end, History).
  bool stop_training = false;

  /// The optimizer compile() made: its learning rate can be read and set.
  virtual optim::OptimizerBase& optimizer() = 0;
  /// A copy of the model's weights (its state_dict, held in a std::any so that callbacks need
  /// not know the element type). Later training does not change the copy.
  virtual std::any weights() const = 0;
  /// Puts back weights taken with weights().
  virtual void set_weights(const std::any& weights) = 0;
  /// Saves the model to `path` as model.save(path) does: layers, weights, optimizer, epochs
  /// done, generator (what ModelCheckpoint calls unless given its own function).
  virtual void save(const std::string& path) = 0;
  /// Whether a larger value of the logged quantity `name` ("val_accuracy") is better.
  virtual bool higher_is_better(const std::string& name) const = 0;
  /// Where fit() prints; callbacks print their messages there too.
  virtual std::ostream& output() = 0;
  /// fit()'s verbose setting, its number of epochs, and the batches per epoch.
  virtual int verbose() const = 0;
  virtual int epochs() const = 0;
  virtual std::int64_t steps_per_epoch() const = 0;
};

/// What a callback needs to continue a run exactly, as text (a model file's metadata).
using CallbackState = std::map<std::string, std::string>;

/// The base class of every callback: override the hooks you need.
class Callback {
 public:
  virtual ~Callback() = default;

  /// The name a model file keeps this callback's state() under ("EarlyStopping"); empty (the
  /// default) for a callback whose state is not saved.
  virtual std::string state_name() const { return {}; }
  /// The state a resumed run needs, as key/value text.
  virtual CallbackState state() const { return {}; }
  /// Takes back what state() gave (called by fit() before on_train_begin when it resumes from a
  /// model file); an entry missing or not understood is a ValueError naming it.
  virtual void load_state(const CallbackState& /*state*/) {}
  /// Weights the state needs as well (a copy taken with Trainer::weights()), or an empty
  /// std::any (the default) for none. Only asked of a callback with a state_name(); a model file
  /// keeps them next to the model's own, in the same atomic write.
  virtual std::any state_weights() const { return {}; }
  /// Takes back what state_weights() gave (a value weights() could have returned), after
  /// load_state(); not called when the file holds none for this callback.
  virtual void load_state_weights(const std::any& /*weights*/) {}

  virtual void on_train_begin(Logs& /*logs*/) {}
  virtual void on_train_end(Logs& /*logs*/) {}
  virtual void on_epoch_begin(int /*epoch*/, Logs& /*logs*/) {}
  virtual void on_epoch_end(int /*epoch*/, Logs& /*logs*/) {}
  virtual void on_batch_begin(int /*batch*/, Logs& /*logs*/) {}
  virtual void on_batch_end(int /*batch*/, Logs& /*logs*/) {}

  /// Called by fit() before on_train_begin (and with nullptr after on_train_end).
  void set_trainer(Trainer* trainer) { trainer_ = trainer; }

 protected:
  Callback() = default;
  Callback(const Callback&) = default;
  Callback& operator=(const Callback&) = default;

  /// The running fit(); only valid inside a hook.
  Trainer& trainer() const {
    if (!trainer_) throw ValueError("Callback: trainer() used outside of fit()");
    return *trainer_;
  }

 private:
  Trainer* trainer_ = nullptr;
};

/// Holds any callback, by value or shared: what FitOptions::callbacks holds, so that both
/// `{nb::train::TerminateOnNaN{}}` and a std::shared_ptr you keep to read afterwards work.
class AnyCallback {
 public:
  template <typename CallbackType>
  requires std::derived_from<std::remove_cvref_t<CallbackType>, Callback> AnyCallback(
      CallbackType&& callback)  // NOLINT(google-explicit-constructor): implicit on purpose
      : callback_(std::make_shared<std::remove_cvref_t<CallbackType>>(std::forward<CallbackType>(callback))) {}

  template <typename CallbackType>
  requires std::derived_from<CallbackType, Callback> AnyCallback(
      std::shared_ptr<CallbackType> callback)  // NOLINT(google-explicit-constructor)
      : callback_(std::move(callback)) {
    if (!callback_) throw ValueError("AnyCallback: got a null callback pointer");
  }

  Callback& operator*() const { return *callback_; }
  Callback* operator->() const { return callback_.get(); }

 private:
  std::shared_ptr<Callback> callback_;
};

/// Whether a monitored quantity should go down (min), up (max), or be judged by its name
/// (automatic: metrics such as accuracy go up; losses, errors and perplexity go down).
enum class MonitorMode { automatic, min, max };

namespace detail {

inline bool resolve_maximize(MonitorMode mode, const Trainer& trainer, const std::string& monitor) {
  if (mode == MonitorMode::automatic) return trainer.higher_is_better(monitor);
  return mode == MonitorMode::max;
}

/// Is `current` better than `reference` by more than min_delta?
inline bool is_improvement(double current, double reference, double min_delta, bool maximize) {
  return maximize ? current - min_delta > reference : current + min_delta < reference;
}

inline double worst_value(bool maximize) {
  return maximize ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
}

/// The entry `key` of a callback's saved state (ValueError naming the callback when absent).
inline const std::string& state_text(const CallbackState& state, const std::string& key, const std::string& who) {
  const auto found = state.find(key);
  if (found == state.end())
    throw ValueError(who + "::load_state: the saved state has no entry '" + key + "' (it was saved by another " +
                     "version or another callback)");
  return found->second;
}

/// The entry `key` as a number of type Number ("inf" and "nan" included for doubles).
template <typename Number>
Number state_number(const CallbackState& state, const std::string& key, const std::string& who) {
  const std::string& text = state_text(state, key, who);
  Number value{};
  if (!io::detail::parse_number(text, value))
    throw ValueError(who + "::load_state: the entry '" + key + "' is '" + text.substr(0, 64) + "', not a number");
  return value;
}

}  // namespace detail

// ---- EarlyStopping ---------------------------------------------------------------------------

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";  // the logged quantity to watch
  double min_delta = 0;              // a change smaller than this is no improvement
  int patience = 0;                  // epochs without improvement before stopping
  int verbose = 0;                   // 1: print when stopping and restoring
  MonitorMode mode = MonitorMode::automatic;
  std::optional<double> baseline = std::nullopt;  // the value to beat before patience restarts
  bool restore_best_weights = false;              // at the end, put back the weights of the best epoch
  int start_from_epoch = 0;                       // epochs of warm-up not watched at all
};

/// Stops training when `monitor` has not improved for `patience` epochs. With
/// restore_best_weights, it keeps a copy of the weights of the best epoch and loads them when
/// training ends (stopped early or not, as Keras 3 does), so the model ends at its best.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {}) : options_(std::move(options)) {
    if (options_.patience < 0)
      throw ValueError("EarlyStopping: patience must be >= 0, got " + std::to_string(options_.patience));
    if (!(options_.min_delta >= 0))
      throw ValueError("EarlyStopping: min_delta must be >= 0, got " + std::to_string(options_.min_delta));
  }

  void on_train_begin(Logs&) override {
    maximize_ = detail::resolve_maximize(options_.mode, trainer(), options_.monitor);
    if (resumed_) {  // load_state() set the counters (and load_state_weights() the best weights)
      resumed_ = false;
      if (saved_best_weights_ && !best_weights_.has_value())
        throw ValueError(
            "EarlyStopping: the saved state says it kept the best weights (restore_best_weights), but "
            "the model file holds none for it (tensors callback.<i>.weights.*); it cannot restore them");
      return;
    }
    best_weights_.reset();
    wait_ = 0;
    stopped_epoch_ = -1;
    best_epoch_ = -1;
    best_ = detail::worst_value(maximize_);
  }

  void on_epoch_end(int epoch, Logs& logs) override {
    if (epoch < options_.start_from_epoch) return;
    const double current = logs.at(options_.monitor, "EarlyStopping");
    // Keep the first watched epoch's weights, so that there is something to restore even if
    // no epoch ever improves on the baseline.
    if (options_.restore_best_weights && !best_weights_.has_value()) best_weights_ = trainer().weights();
    ++wait_;
    if (detail::is_improvement(current, best_, options_.min_delta, maximize_)) {
      best_ = current;
      best_epoch_ = epoch;
      if (options_.restore_best_weights) best_weights_ = trainer().weights();
      // Patience only restarts once the baseline (if any) is beaten.
      if (!options_.baseline || detail::is_improvement(current, *options_.baseline, options_.min_delta, maximize_))
        wait_ = 0;
      return;
    }
    if (wait_ >= options_.patience && epoch > 0) {
      stopped_epoch_ = epoch;
      trainer().stop_training = true;
    }
  }

  void on_train_end(Logs&) override {
    if (stopped_epoch_ >= 0 && options_.verbose > 0)
      trainer().output() << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
    if (options_.restore_best_weights && best_weights_.has_value()) {
      if (options_.verbose > 0)
        trainer().output() << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1 << ".\n";
      trainer().set_weights(best_weights_);
    }
  }

  /// The epoch (0-based) at which training was stopped, or -1 if it ran to the end.
  int stopped_epoch() const { return stopped_epoch_; }
  /// The best epoch (0-based) and its value of `monitor`.
  int best_epoch() const { return best_epoch_; }
  double best() const { return best_; }
  /// Epochs since the last improvement (the patience counter).
  int wait() const { return wait_; }
  const EarlyStoppingOptions& options() const { return options_; }

  /// The best value, its epoch, the patience counter and the stopped epoch; with
  /// restore_best_weights, the copy of the best weights too (state_weights(), saved as tensors
  /// beside the model's), so a resumed run restores the same weights as an uninterrupted one.
  std::string state_name() const override { return "EarlyStopping"; }
  CallbackState state() const override {
    return {{"best", detail::shortest_number(best_)},
            {"best_epoch", std::to_string(best_epoch_)},
            {"wait", std::to_string(wait_)},
            {"stopped_epoch", std::to_string(stopped_epoch_)},
            {"has_best_weights", best_weights_.has_value() ? "1" : "0"}};
  }
  void load_state(const CallbackState& state) override {
    best_ = detail::state_number<double>(state, "best", "EarlyStopping");
    best_epoch_ = detail::state_number<int>(state, "best_epoch", "EarlyStopping");
    wait_ = detail::state_number<int>(state, "wait", "EarlyStopping");
    stopped_epoch_ = detail::state_number<int>(state, "stopped_epoch", "EarlyStopping");
    // Absent from files written before the weights were saved: nothing to expect then.
    saved_best_weights_ =
        state.count("has_best_weights") > 0 && detail::state_number<int>(state, "has_best_weights", "EarlyStopping");
    best_weights_.reset();
    resumed_ = true;
  }
  std::any state_weights() const override { return best_weights_; }
  void load_state_weights(const std::any& weights) override { best_weights_ = weights; }

 private:
  EarlyStoppingOptions options_;
  bool resumed_ = false;
  bool saved_best_weights_ = false;  // load_state(): the saved run had a copy of the best weights
  bool maximize_ = false;
  int wait_ = 0;
  int stopped_epoch_ = -1;
  int best_epoch_ = -1;
  double best_ = std::numeric_limits<double>::infinity();
  std::any best_weights_;
};

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";  // the logged quantity to watch
  double factor = 0.1;               // new lr = max(lr * factor, min_lr), in [0, 1)
  int patience = 10;                 // epochs without improvement before the lr is lowered
  int verbose = 0;                   // 1: print each reduction
  MonitorMode mode = MonitorMode::automatic;
  double min_delta = 1e-4;  // a change smaller than this is no improvement (absolute, as Keras)
  int cooldown = 0;         // epochs after a reduction in which nothing is counted
  double min_lr = 0;        // the lr never goes below this
};

/// Keras's ReduceLROnPlateau callback: when `monitor` has not improved by more than min_delta
/// for `patience` epochs, multiplies the learning rate of every parameter group by `factor`
/// (not below min_lr), then waits `cooldown` epochs before counting again. Keras's rule, which
/// differs from optim::ReduceLROnPlateau (PyTorch's: lowers after *more than* patience bad
/// epochs, relative threshold): here the lr drops at the patience-th epoch without improvement.
/// Logs the learning rate in force after the epoch as "lr". Its counters (best, wait, cooldown)
/// travel in model files; the learning rates themselves are part of the optimizer's state.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {}) : options_(std::move(options)) {
    if (!(options_.factor >= 0 && options_.factor < 1))
      throw ValueError("ReduceLROnPlateau: factor must be in [0, 1), got " + std::to_string(options_.factor));
    if (options_.patience < 0 || options_.cooldown < 0)
      throw ValueError("ReduceLROnPlateau: patience and cooldown must be >= 0, got " +
                       std::to_string(options_.patience) + " and " + std::to_string(options_.cooldown));
    if (!(options_.min_delta >= 0) || !(options_.min_lr >= 0))
      throw ValueError("ReduceLROnPlateau: min_delta and min_lr must be >= 0, got " +
                       std::to_string(options_.min_delta) + " and " + std::to_string(options_.min_lr));
  }

  void on_train_begin(Logs&) override {
    maximize_ = detail::resolve_maximize(options_.mode, trainer(), options_.monitor);
    if (resumed_) {  // load_state() set the counters
      resumed_ = false;
      return;
    }
    wait_ = 0;
    cooldown_counter_ = 0;
    best_ = detail::worst_value(maximize_);
  }

  void on_epoch_end(int epoch, Logs& logs) override {
    const double current = logs.at(options_.monitor, "ReduceLROnPlateau");
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      wait_ = 0;
    }
    if (detail::is_improvement(current, best_, options_.min_delta, maximize_)) {
      best_ = current;
      wait_ = 0;
    } else if (cooldown_counter_ == 0 && ++wait_ >= options_.patience) {
      optim::OptimizerBase& optimizer = trainer().optimizer();
      bool reduced = false;
      for (std::size_t group = 0; group < optimizer.group_count(); ++group) {
        const double old_lr = optimizer.group_lr(group);
        if (old_lr <= options_.min_lr) continue;
        optimizer.set_group_lr(group, std::max(old_lr * options_.factor, options_.min_lr));
        reduced = true;
      }
      if (reduced && options_.verbose > 0)
        trainer().output() << "Epoch " << epoch + 1 << ": ReduceLROnPlateau reducing learning rate to "
                           << detail::shortest_number(optimizer.lr()) << ".\n";
      cooldown_counter_ = options_.cooldown;
      wait_ = 0;
    }
    logs.set("lr", trainer().optimizer().lr());
  }

  /// The best value of `monitor` so far, the epochs since it improved, the cooldown left.
  double best() const { return best_; }
  int wait() const { return wait_; }
  int cooldown_counter() const { return cooldown_counter_; }
  const ReduceLROnPlateauOptions& options() const { return options_; }

  std::string state_name() const override { return "ReduceLROnPlateau"; }
  CallbackState state() const override {
    return {{"best", detail::shortest_number(best_)},
            {"wait", std::to_string(wait_)},
            {"cooldown_counter", std::to_string(cooldown_counter_)}};
  }
  void load_state(const CallbackState& state) override {
    const std::string who = "ReduceLROnPlateau";
    const double best = detail::state_number<double>(state, "best", who);
    const int wait = detail::state_number<int>(state, "wait", who);
    const int cooldown_counter = detail::state_number<int>(state, "cooldown_counter", who);
    if (wait < 0 || cooldown_counter < 0 || std::isnan(best))
      throw ValueError(who + "::load_state: invalid saved counters (best " + detail::shortest_number(best) + ", wait " +
                       std::to_string(wait) + ", cooldown_counter " + std::to_string(cooldown_counter) + ")");
    best_ = best;
    wait_ = wait;
    cooldown_counter_ = cooldown_counter;
    resumed_ = true;
  }

 private:
  ReduceLROnPlateauOptions options_;
  bool resumed_ = false;
  bool maximize_ = false;
  int wait_ = 0;
  int cooldown_counter_ = 0;
  double best_ = std::numeric_limits<double>::infinity();
};

// ---- ModelCheckpoint -------------------------------------------------------------------------

struct ModelCheckpointOptions {
  std::string monitor = "val_loss";  // watched when save_best_only
  int verbose = 0;                   // 1: print each save (or non-save) decision
  bool save_best_only = false;       // only save when `monitor` improved on the best so far
  MonitorMode mode = MonitorMode::automatic;
  /// When to save (Keras's save_freq): 0 at the end of every epoch; N > 0 every N batches
  /// (counted across epochs) and not at epoch ends. A file saved mid-epoch holds the position
  /// in the epoch, and model.load() + fit() continue from that batch (docs/reliability.md).
  std::int64_t save_freq = 0;
  /// How to write the model to a path; by default the trainer's save(): the file
  /// model.save(path) writes (train/model.hpp), which model.load(path) resumes from.
  std::function<void(const std::string& path)> save = {};
};

/// Saves the model at the end of every epoch, or only when `monitor` improved. The path may
/// contain "{epoch}" or "{epoch:03d}" (the 1-based epoch number, as in Keras):
/// "checkpoints/model-{epoch:03d}.nabla".
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::string path, ModelCheckpointOptions options = {})
      : path_(std::move(path)), options_(std::move(options)) {
    if (path_.empty()) throw ValueError("ModelCheckpoint: the path is empty");
    if (options_.save_freq < 0)
      throw ValueError("ModelCheckpoint: save_freq must be 0 (every epoch) or a number of batches > 0, got " +
                       std::to_string(options_.save_freq));
    if (options_.save_freq > 0 && options_.save_best_only)
      throw ValueError("ModelCheckpoint: save_best_only judges epochs; it cannot be combined with save_freq = " +
                       std::to_string(options_.save_freq) + " batches");
  }

  void on_train_begin(Logs&) override {
    maximize_ = detail::resolve_maximize(options_.mode, trainer(), options_.monitor);
    if (resumed_) {
      resumed_ = false;
      return;
    }
    best_ = detail::worst_value(maximize_);
    batches_since_save_ = 0;
  }

  void on_epoch_begin(int epoch, Logs&) override { epoch_ = epoch; }

  void on_batch_end(int, Logs&) override {
    if (options_.save_freq == 0 || ++batches_since_save_ < options_.save_freq) return;
    batches_since_save_ = 0;  // before write(): the file holds the counter as it continues
    write(path_for_epoch(path_, epoch_ + 1));
  }

  void on_epoch_end(int epoch, Logs& logs) override {
    if (options_.save_freq > 0) return;
    const std::string path = path_for_epoch(path_, epoch + 1);
    if (!options_.save_best_only) {
      write(path);
      return;
    }
    const double current = logs.at(options_.monitor, "ModelCheckpoint");
    if (detail::is_improvement(current, best_, 0.0, maximize_)) {
      if (options_.verbose > 0)
        trainer().output() << "Epoch " << epoch + 1 << ": " << options_.monitor << " improved from "
                           << format_log_value(best_) << " to " << format_log_value(current) << ", saving model to "
                           << path << "\n";
      best_ = current;
      write(path);
    } else if (options_.verbose > 0) {
      trainer().output() << "Epoch " << epoch + 1 << ": " << options_.monitor << " did not improve from "
                         << format_log_value(best_) << "\n";
    }
  }

  /// "{epoch}" -> "7", "{epoch:03d}" -> "007"; the rest of the path is kept as it is.
  static std::string path_for_epoch(const std::string& pattern, int epoch) {
    std::string result;
    std::size_t position = 0;
    while (position < pattern.size()) {
      const std::size_t open = pattern.find("{epoch", position);
      if (open == std::string::npos) break;
      const std::size_t close = pattern.find('}', open);
      if (close == std::string::npos) break;
      const std::string spec = pattern.substr(open + 6, close - open - 6);  // "" or ":03d"
      std::string number = std::to_string(epoch);
      bool understood = spec.empty();
      if (spec.size() >= 3 && spec.front() == ':' && spec.back() == 'd') {
        const std::string digits = spec.substr(1, spec.size() - 2);  // "03"
        understood =
            !digits.empty() && digits.size() <= 2 && digits.find_first_not_of("0123456789") == std::string::npos;
        if (understood) {
          const auto width = static_cast<std::size_t>(std::stoi(digits));
          if (number.size() < width) number.insert(0, width - number.size(), '0');
        }
      }
      result +=
          pattern.substr(position, open - position) + (understood ? number : pattern.substr(open, close - open + 1));
      position = close + 1;
    }
    return result + pattern.substr(std::min(position, pattern.size()));
  }

  /// The best value of `monitor` so far, and every path written, in order.
  double best() const { return best_; }
  const std::vector<std::string>& saved_paths() const { return saved_paths_; }

  /// The best value and, with save_freq, the batches since the last save.
  std::string state_name() const override { return "ModelCheckpoint"; }
  CallbackState state() const override {
    return {{"best", detail::shortest_number(best_)},
            {"batches_since_save", std::to_string(batches_since_save_)},
            {"epoch", std::to_string(epoch_)}};
  }
  void load_state(const CallbackState& state) override {
    best_ = detail::state_number<double>(state, "best", "ModelCheckpoint");
    epoch_ = detail::state_number<int>(state, "epoch", "ModelCheckpoint");
    batches_since_save_ = detail::state_number<std::int64_t>(state, "batches_since_save", "ModelCheckpoint");
    resumed_ = true;
  }

 private:
  void write(const std::string& path) {
    if (options_.save) {
      options_.save(path);
    } else {
      trainer().save(path);
    }
    saved_paths_.push_back(path);
  }

  std::string path_;
  ModelCheckpointOptions options_;
  bool resumed_ = false;
  bool maximize_ = false;
  double best_ = std::numeric_limits<double>::infinity();
  std::int64_t batches_since_save_ = 0;
  int epoch_ = 0;  // the epoch in progress (on_batch_end's saves name it); a resumed epoch gets no on_epoch_begin
  std::vector<std::string> saved_paths_;
};

// ---- LearningRateScheduler -------------------------------------------------------------------

/// Sets the learning rate at the start of every epoch to schedule(epoch, current_lr) (for each
/// parameter group, from that group's lr), and logs the first group's as "lr". E.g. halve it every 10 epochs:
///   LearningRateScheduler([](int epoch, double lr) { return epoch > 0 && epoch % 10 == 0 ? lr / 2 : lr; })
class LearningRateScheduler : public Callback {
 public:
  using Schedule = std::function<double(int epoch, double lr)>;

  explicit LearningRateScheduler(Schedule schedule, int verbose = 0)
      : schedule_(std::move(schedule)), verbose_(verbose) {
    if (!schedule_) throw ValueError("LearningRateScheduler: the schedule is empty");
  }

  void on_epoch_begin(int epoch, Logs&) override {
    optim::OptimizerBase& optimizer = trainer().optimizer();
    // Each parameter group gets schedule(epoch, its own lr): a relative schedule (lr / 2)
    // keeps discriminative learning rates in ratio.
    std::vector<double> lrs;
    for (std::size_t group = 0; group < optimizer.group_count(); ++group) {
      const double lr = schedule_(epoch, optimizer.group_lr(group));
      if (!std::isfinite(lr) || lr < 0)
        throw ValueError("LearningRateScheduler: the schedule returned " + std::to_string(lr) + " for epoch " +
                         std::to_string(epoch) + "; a learning rate must be a finite number >= 0");
      lrs.push_back(lr);
    }
    for (std::size_t group = 0; group < lrs.size(); ++group) optimizer.set_group_lr(group, lrs[group]);
    if (verbose_ > 0)
      trainer().output() << "Epoch " << epoch + 1 << ": LearningRateScheduler setting learning rate to "
                         << optimizer.lr() << ".\n";
  }

  void on_epoch_end(int, Logs& logs) override { logs.set("lr", trainer().optimizer().lr()); }

 private:
  Schedule schedule_;
  int verbose_;
};

// ---- SchedulerCallback -----------------------------------------------------------------------

/// When a SchedulerCallback steps its scheduler.
enum class SchedulerStep {
  epoch,  // after every epoch (on_epoch_end): StepLR, CosineAnnealingLR, ... as PyTorch's examples use them
  batch   // after every optimizer step (on_batch_end): warmups, CosineWithWarmup (the GPT schedule)
};

struct SchedulerCallbackOptions {
  SchedulerStep per = SchedulerStep::epoch;
  bool log_lr = true;  // log the (first group's) learning rate as "lr" at every epoch's end
};

/// Steps an optim::LRScheduler (StepLR, CosineWithWarmup, LambdaLR, ...) during fit() and keeps
/// its position in model files, so a resumed run continues the schedule instead of restarting it.
/// Make the scheduler on the compiled model's optimizer:
///   auto schedule = std::make_shared<nb::optim::CosineWithWarmup>(model.optimizer(),
///       nb::optim::CosineWithWarmup::Options{.warmup_steps = 100, .total_steps = 10000});
///   model.fit(x, y, {..., .callbacks = {nb::train::SchedulerCallback(schedule, {.per =
///   nb::train::SchedulerStep::batch})}});
/// Per batch it steps once per optimizer step (with accumulation_steps = k, once every k
/// batches). Its state (the scheduler's last_epoch, base learning rates and current learning
/// rates) is restored by the first fit() after model.load(), whether the scheduler was made
/// before or after the load. Logged "lr": the learning rate when the epoch ends, before this
/// callback steps (per epoch: the one the epoch trained with).
class SchedulerCallback : public Callback {
 public:
  explicit SchedulerCallback(std::shared_ptr<optim::LRScheduler> scheduler, SchedulerCallbackOptions options = {})
      : scheduler_(std::move(scheduler)), options_(options) {
    if (!scheduler_) throw ValueError("SchedulerCallback: the scheduler is null");
  }

  void on_train_begin(Logs&) override {
    if (&scheduler_->optimizer() != &trainer().optimizer())
      throw ValueError(
          "SchedulerCallback: the scheduler sets the learning rates of another optimizer than the one "
          "fit() trains with; make it on model.optimizer() after compile()");
  }
  void on_batch_begin(int, Logs&) override { steps_before_ = trainer().optimizer().step_count(); }
  void on_batch_end(int, Logs&) override {
    // Only batches that ended with an optimizer step (not those inside an accumulation window).
    if (options_.per == SchedulerStep::batch && trainer().optimizer().step_count() != steps_before_) scheduler_->step();
  }
  void on_epoch_end(int, Logs& logs) override {
    if (options_.log_lr) logs.set("lr", trainer().optimizer().lr());
    if (options_.per == SchedulerStep::epoch) scheduler_->step();
  }

  const optim::LRScheduler& scheduler() const { return *scheduler_; }

  /// The scheduler's state() as text: "last_epoch", "base_lrs" and "lrs" (comma-separated).
  std::string state_name() const override { return "SchedulerCallback"; }
  CallbackState state() const override {
    const optim::SchedulerState state = scheduler_->state();
    const auto list = [](const std::vector<double>& values) {
      std::string text;
      for (const double value : values) text += (text.empty() ? "" : ",") + detail::shortest_number(value);
      return text;
    };
    return {
        {"last_epoch", std::to_string(state.last_epoch)}, {"base_lrs", list(state.base_lrs)}, {"lrs", list(state.lrs)}};
  }
  void load_state(const CallbackState& state) override {
    const std::string who = "SchedulerCallback";
    const auto list = [&](const std::string& key) {
      std::vector<double> values;
      const std::string& text = detail::state_text(state, key, who);
      for (std::size_t begin = 0; !text.empty() && begin <= text.size();) {
        const std::size_t end = std::min(text.find(',', begin), text.size());
        double value = 0;
        if (!io::detail::parse_number(text.substr(begin, end - begin), value))
          throw ValueError(who + "::load_state: the entry '" + key + "' is '" + text.substr(0, 64) +
                           "', not a list of numbers");
        values.push_back(value);
        begin = end + 1;
      }
      return values;
    };
    optim::SchedulerState saved{detail::state_number<std::int64_t>(state, "last_epoch", who), list("base_lrs"),
                                list("lrs")};
    try {
      scheduler_->load_state(saved);
    } catch (const ValueError& error) {
      throw ValueError(who + "::load_state: " + error.what());
    }
  }

 private:
  std::shared_ptr<optim::LRScheduler> scheduler_;
  SchedulerCallbackOptions options_;
  std::int64_t steps_before_ = 0;
};

// ---- CSVLogger -------------------------------------------------------------------------------

/// Appends one CSV row per epoch to a file as training goes ("epoch,loss,accuracy,val_loss,..."),
/// flushed after every row, so a crashed or killed run still leaves its history behind. The
/// columns are those of the first epoch; a later missing value is written as NA. A run resumed
/// from a model file (load_state) appends to the file instead of truncating it, after dropping
/// the rows of the epochs it is about to train again (those a killed run wrote after the save).
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string path, char separator = ',', bool append = false)
      : path_(std::move(path)), separator_(separator), append_(append) {}

  void on_train_begin(Logs&) override {
    bool has_content = false;
    if (append_ || resumed_) {
      std::ifstream existing(path_, std::ios::binary | std::ios::ate);
      has_content = existing && existing.tellg() > 0;
    }
    file_ = std::make_shared<std::ofstream>(path_,
                                            std::ios::binary | (append_ || resumed_ ? std::ios::app : std::ios::trunc));
    if (!*file_) throw IOError("CSVLogger: cannot open '" + path_ + "' for writing");
    header_written_ = has_content;  // appending to a log that already has its header
    if (resumed_) {                 // the columns load_state() restored stay, and the first row trims the file
      resumed_ = false;
      trim_before_first_row_ = true;
      return;
    }
    columns_.clear();
  }

  void on_epoch_end(int epoch, Logs& logs) override {
    if (!file_) return;
    if (trim_before_first_row_) {
      trim_before_first_row_ = false;
      drop_rows_from(epoch);
    }
    if (columns_.empty())
      for (const auto& [name, value] : logs) columns_.push_back(name);
    std::ofstream& file = *file_;
    if (!header_written_) {
      file << "epoch";
      for (const auto& name : columns_) file << separator_ << detail::csv_field(name, separator_);
      file << "\n";
      header_written_ = true;
    }
    file << epoch;
    for (const auto& name : columns_) {
      const std::optional<double> value = logs.get(name);
      file << separator_ << (value ? detail::shortest_number(*value) : std::string("NA"));
    }
    file << "\n";
    file.flush();
    if (!file) throw IOError("CSVLogger: writing to '" + path_ + "' failed");
  }

  void on_train_end(Logs&) override { file_.reset(); }

  /// The columns (those of the first epoch), so that a resumed run writes the same ones.
  std::string state_name() const override { return "CSVLogger"; }
  CallbackState state() const override {
    std::string columns;
    for (const auto& name : columns_) columns += (columns.empty() ? "" : "\n") + name;
    return {{"columns", columns}};
  }
  void load_state(const CallbackState& state) override {
    const std::string& text = detail::state_text(state, "columns", "CSVLogger");
    columns_.clear();
    for (std::size_t begin = 0; !text.empty() && begin <= text.size();) {
      const std::size_t end = std::min(text.find('\n', begin), text.size());
      columns_.push_back(text.substr(begin, end - begin));
      begin = end + 1;
    }
    resumed_ = true;
  }

 private:
  /// Rewrites the file without the rows of epochs >= `epoch` (a killed run may have written
  /// them after the model file it resumes from was saved): each row is then written once.
  void drop_rows_from(int epoch) {
    file_.reset();
    std::string kept, line;
    {
      std::ifstream existing(path_, std::ios::binary);
      bool header = true;
      while (std::getline(existing, line)) {
        int row_epoch = 0;
        const std::string first = line.substr(0, line.find(separator_));
        const bool earlier = io::detail::parse_number(first, row_epoch) && row_epoch < epoch;
        if (header || earlier) kept += line + "\n";
        header = false;
      }
    }
    std::ofstream rewritten(path_, std::ios::binary | std::ios::trunc);
    rewritten << kept;
    rewritten.flush();
    if (!rewritten) throw IOError("CSVLogger: rewriting '" + path_ + "' to resume failed");
    rewritten.close();
    header_written_ = !kept.empty();
    file_ = std::make_shared<std::ofstream>(path_, std::ios::binary | std::ios::app);
    if (!*file_) throw IOError("CSVLogger: cannot open '" + path_ + "' for writing");
  }

  std::string path_;
  char separator_;
  bool append_;
  bool resumed_ = false;
  bool trim_before_first_row_ = false;
  std::shared_ptr<std::ofstream> file_;  // shared: keeps the callback copyable
  bool header_written_ = false;
  std::vector<std::string> columns_;
};

// ---- TerminateOnNaN --------------------------------------------------------------------------

/// Stops training as soon as the loss becomes NaN or infinite (a diverged run never recovers,
/// and every further step only wastes time).
class TerminateOnNaN : public Callback {
 public:
  void on_batch_end(int batch, Logs& logs) override {
    const std::optional<double> loss = logs.get("loss");
    if (loss && !std::isfinite(*loss)) {
      trainer().output() << "Batch " << batch << ": Invalid loss, terminating training\n";
      trainer().stop_training = true;
    }
  }
};

// ---- LambdaCallback --------------------------------------------------------------------------

/// The functions of a LambdaCallback; leave out the ones you do not need.
struct LambdaCallbackFunctions {
  std::function<void(int epoch, Logs& logs)> on_epoch_begin = {};
  std::function<void(int epoch, Logs& logs)> on_epoch_end = {};
  std::function<void(int batch, Logs& logs)> on_batch_begin = {};
  std::function<void(int batch, Logs& logs)> on_batch_end = {};
  std::function<void(Logs& logs)> on_train_begin = {};
  std::function<void(Logs& logs)> on_train_end = {};
};

/// A callback made of plain functions, for a one-off hook without writing a class:
///   LambdaCallback({.on_epoch_end = [](int epoch, Logs& logs) { std::cout << logs.at("loss"); }})
class LambdaCallback : public Callback {
 public:
  explicit LambdaCallback(LambdaCallbackFunctions functions) : functions_(std::move(functions)) {}

  void on_epoch_begin(int epoch, Logs& logs) override {
    if (functions_.on_epoch_begin) functions_.on_epoch_begin(epoch, logs);
  }
  void on_epoch_end(int epoch, Logs& logs) override {
    if (functions_.on_epoch_end) functions_.on_epoch_end(epoch, logs);
  }
  void on_batch_begin(int batch, Logs& logs) override {
    if (functions_.on_batch_begin) functions_.on_batch_begin(batch, logs);
  }
  void on_batch_end(int batch, Logs& logs) override {
    if (functions_.on_batch_end) functions_.on_batch_end(batch, logs);
  }
  void on_train_begin(Logs& logs) override {
    if (functions_.on_train_begin) functions_.on_train_begin(logs);
  }
  void on_train_end(Logs& logs) override {
    if (functions_.on_train_end) functions_.on_train_end(logs);
  }

 private:
  LambdaCallbackFunctions functions_;
};

// ---- UnfreezeAfter ---------------------------------------------------------------------------

/// The fine-tuning recipe "train the new head on top of a frozen pretrained part first, then
/// everything": freezes `parts` (requires_grad_(false)) for the epochs before `epochs` and
/// unfreezes them at the start of epoch `epochs` (after that many epochs are done). The
/// optimizer may hold the frozen parameters all along: it skips them while frozen, and their
/// state (Adam's moments) starts at the first step after unfreezing.
///   model.fit(x, y, {.epochs = 6, .callbacks = {nb::train::UnfreezeAfter(model[0], 2)}});
template <FloatingElement T>
class UnfreezeAfter : public Callback {
 public:
  UnfreezeAfter(std::vector<std::shared_ptr<nn::Module<T>>> parts, int epochs, int verbose = 0)
      : parts_(std::move(parts)), epochs_(epochs), verbose_(verbose) {
    if (parts_.empty()) throw ValueError("UnfreezeAfter: no modules given");
    for (const auto& part : parts_)
      if (!part) throw ValueError("UnfreezeAfter: got a null module");
    if (epochs < 0) throw ValueError("UnfreezeAfter: epochs must be >= 0, got " + std::to_string(epochs));
  }
  UnfreezeAfter(std::shared_ptr<nn::Module<T>> part, int epochs, int verbose = 0)
      : UnfreezeAfter(std::vector<std::shared_ptr<nn::Module<T>>>{std::move(part)}, epochs, verbose) {}

  void on_epoch_begin(int epoch, Logs&) override {
    const bool freeze = epoch < epochs_;
    if (frozen_ && *frozen_ == freeze) return;  // only the transitions: a user's own changes stay
    for (const auto& part : parts_) part->requires_grad_(!freeze);
    frozen_ = freeze;
    if (!freeze) {
      unfrozen_epoch_ = epoch;
      if (verbose_ > 0)
        trainer().output() << "Epoch " << epoch + 1 << ": UnfreezeAfter unfreezing the pretrained part.\n";
    }
  }

  /// The epoch (0-based) at whose start the parts were unfrozen, if that happened.
  std::optional<int> unfrozen_epoch() const { return unfrozen_epoch_; }

  /// Whether the parts are frozen now (-1: not decided yet) and the epoch they were unfrozen
  /// at (-1: not yet); the parts' flags themselves are in the model file ("model.frozen").
  std::string state_name() const override { return "UnfreezeAfter"; }
  CallbackState state() const override {
    return {{"frozen", frozen_ ? std::to_string(static_cast<int>(*frozen_)) : "-1"},
            {"unfrozen_epoch", std::to_string(unfrozen_epoch_.value_or(-1))}};
  }
  void load_state(const CallbackState& state) override {
    const int frozen = detail::state_number<int>(state, "frozen", "UnfreezeAfter");
    const int unfrozen_epoch = detail::state_number<int>(state, "unfrozen_epoch", "UnfreezeAfter");
    if (frozen < -1 || frozen > 1 || unfrozen_epoch < -1)
      throw ValueError("UnfreezeAfter::load_state: frozen = " + std::to_string(frozen) +
                       ", unfrozen_epoch = " + std::to_string(unfrozen_epoch) + " is not a state it saves");
    frozen_ = frozen < 0 ? std::nullopt : std::optional<bool>(frozen == 1);
    unfrozen_epoch_ = unfrozen_epoch < 0 ? std::nullopt : std::optional<int>(unfrozen_epoch);
  }

 private:
  std::vector<std::shared_ptr<nn::Module<T>>> parts_;
  int epochs_;
  int verbose_;
  std::optional<bool> frozen_;
  std::optional<int> unfrozen_epoch_;
};

}  // namespace nabla::train
