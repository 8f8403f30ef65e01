// nabla/optim/scheduler.hpp - learning-rate schedules: StepLR, ExponentialLR,
// CosineAnnealingLR, LinearWarmup (torch's LinearLR), LambdaLR, CosineWithWarmup (linear
// warmup, then cosine decay: the GPT schedule) and ReduceLROnPlateau.
//
// Use: construct the scheduler on an optimizer (it keeps a reference: the optimizer must
// outlive it), then call scheduler.step() once per epoch (or per batch, for a warmup) after
// optimizer.step(). Like PyTorch, constructing a scheduler performs step 0, which already
// sets the learning rate of epoch 0 (for LinearWarmup: lr * start_factor).
//
// The updates are PyTorch's "chainable" forms: each step multiplies or shifts the CURRENT
// learning rate, so schedules give PyTorch's numbers step for step. Their closed forms, for
// base learning rate lr0 at epoch e, are in the comment of each class.
//
// Every schedule acts on every parameter group, each from its own base learning rate (the lr
// the group had when the scheduler was made), as PyTorch's do: with groups at 1e-4 and 1e-3,
// a schedule's factor f gives 1e-4 f and 1e-3 f, so discriminative learning rates keep their
// ratio.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

/// What an LRScheduler needs to continue its schedule in another process (PyTorch's
/// scheduler.state_dict()): the steps taken, every group's base learning rate, and every
/// group's learning rate as its last step left it.
struct SchedulerState {
  std::int64_t last_epoch = 0;
  std::vector<double> base_lrs;
  std::vector<double> lrs;
};

/// The common part of the epoch-driven schedules.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch (or step) and sets every group's learning rate for it.
  void step() {
    ++last_epoch_;
    // A group added after the scheduler was made (add_param_group) starts from its lr then.
    for (std::size_t group = base_lrs_.size(); group < optimizer_.group_count(); ++group)
      base_lrs_.push_back(optimizer_.group_lr(group));
    for (std::size_t group = 0; group < optimizer_.group_count(); ++group)
      optimizer_.set_group_lr(group, next_lr(optimizer_.group_lr(group), base_lrs_[group]));
  }

  /// The (first group's) learning rate set by the last step() (PyTorch's get_last_lr()).
  double lr() const { return optimizer_.lr(); }
  /// The learning rate the (first group of the) optimizer had when the scheduler was made.
  double base_lr() const { return base_lrs_.front(); }
  /// Every group's base learning rate.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  /// Epochs stepped so far (0 right after construction).
  std::int64_t last_epoch() const { return last_epoch_; }
  /// The optimizer whose learning rates the scheduler sets.
  const OptimizerBase& optimizer() const { return optimizer_; }

  /// The position in the schedule, to continue it in another process: load_state(state())
  /// on a scheduler of the same kind and options, made on an optimizer with the same groups,
  /// makes its next step() set what this one's would (train::SchedulerCallback saves it in a
  /// model file).
  SchedulerState state() const {
    SchedulerState saved{last_epoch_, base_lrs_, {}};
    for (std::size_t group = 0; group < optimizer_.group_count(); ++group)
      saved.lrs.push_back(optimizer_.group_lr(group));
    return saved;
  }
  /// Takes back what state() gave and sets every group's learning rate to the saved one, so
  /// it does not matter whether the scheduler was made (which performs step 0) before or after
  /// the optimizer's own state was loaded. A ValueError, before anything changes, for a state
  /// that does not fit the optimizer.
  void load_state(const SchedulerState& state) {
    const std::string op = "LRScheduler::load_state";
    const std::size_t groups = optimizer_.group_count();
    if (state.last_epoch < 0)
      throw ValueError(op + ": last_epoch is " + std::to_string(state.last_epoch) + "; a schedule starts at 0");
    if (state.lrs.size() != groups || state.base_lrs.empty() || state.base_lrs.size() > groups)
      throw ValueError(op + ": the state has " + std::to_string(state.base_lrs.size()) + " base learning rates and " +
                       std::to_string(state.lrs.size()) + " learning rates, for an optimizer with " +
                       std::to_string(groups) + " parameter groups");
    for (const std::vector<double>* values : {&state.base_lrs, &state.lrs})
      for (const double lr : *values)
        if (!std::isfinite(lr) || lr < 0)
          throw ValueError(op + ": a learning rate of " + std::to_string(lr) + "; it must be a finite number >= 0");
    last_epoch_ = state.last_epoch;
    base_lrs_ = state.base_lrs;
    for (std::size_t group = 0; group < groups; ++group) optimizer_.set_group_lr(group, state.lrs[group]);
  }

 protected:
  explicit LRScheduler(OptimizerBase& optimizer) : optimizer_(optimizer) {
    for (std::size_t group = 0; group < optimizer.group_count(); ++group)
      base_lrs_.push_back(optimizer.group_lr(group));
  }

  /// A group's learning rate for epoch last_epoch(), given its current one and its base.
  virtual double next_lr(double current_lr, double base_lr) const = 0;

  OptimizerBase& optimizer_;
  std::vector<double> base_lrs_;
  std::int64_t last_epoch_ = -1;
};

/// Multiplies the learning rate by gamma every step_size epochs: lr0 * gamma^floor(e / step_size).
class StepLR : public LRScheduler {
 public:
  struct Options {
    std::int64_t step_size = 1;
    double gamma = 0.1;
  };
  StepLR(OptimizerBase& optimizer, Options options) : LRScheduler(optimizer), options_(options) {
    if (options.step_size < 1)
      throw ValueError("StepLR: step_size must be >= 1, got " + std::to_string(options.step_size));
    step();
  }

 protected:
  double next_lr(double current_lr, double /*base_lr*/) const override {
    if (last_epoch_ == 0 || last_epoch_ % options_.step_size != 0) return current_lr;
    return current_lr * options_.gamma;
  }

 private:
  Options options_;
};

/// Multiplies the learning rate by gamma every epoch: lr0 * gamma^e.
class ExponentialLR : public LRScheduler {
 public:
  struct Options {
    double gamma = 0.9;
  };
  ExponentialLR(OptimizerBase& optimizer, Options options) : LRScheduler(optimizer), options_(options) { step(); }

 protected:
  double next_lr(double current_lr, double /*base_lr*/) const override {
    return last_epoch_ == 0 ? current_lr : current_lr * options_.gamma;
  }

 private:
  Options options_;
};

/// Cosine annealing from lr0 down to eta_min over t_max epochs (then back up, with period
/// 2 t_max, as in PyTorch): lr = eta_min + (lr0 - eta_min) (1 + cos(pi e / t_max)) / 2.
class CosineAnnealingLR : public LRScheduler {
 public:
  struct Options {
    std::int64_t t_max = 10;
    double eta_min = 0;
  };
  CosineAnnealingLR(OptimizerBase& optimizer, Options options) : LRScheduler(optimizer), options_(options) {
    if (options.t_max < 1)
      throw ValueError("CosineAnnealingLR: t_max must be >= 1, got " + std::to_string(options.t_max));
    step();
  }

 protected:
  double next_lr(double current_lr, double base_lr) const override {
    const double pi = std::numbers::pi;
    const auto e = static_cast<double>(last_epoch_);
    const auto t_max = static_cast<double>(options_.t_max);
    const double eta_min = options_.eta_min;
    if (last_epoch_ == 0) return current_lr;
    // At the bottom of each cycle the ratio below would divide by zero; PyTorch steps up by
    // the first increment of the next half-cycle instead.
    const std::int64_t period = 2 * options_.t_max;
    if ((((last_epoch_ - 1 - options_.t_max) % period) + period) % period == 0)
      return current_lr + (base_lr - eta_min) * (1 - std::cos(pi / t_max)) / 2;
    // ratio of the closed form at e and at e - 1, applied to the current rate
    return (1 + std::cos(pi * e / t_max)) / (1 + std::cos(pi * (e - 1) / t_max)) * (current_lr - eta_min) + eta_min;
  }

 private:
  Options options_;
};

/// Linear warmup (PyTorch's LinearLR): the factor on lr0 goes linearly from start_factor to
/// end_factor over warmup_steps steps, then stays: lr0 * (s + (f - s) min(e, n) / n).
class LinearWarmup : public LRScheduler {
 public:
  struct Options {
    double start_factor = 1.0 / 3.0;
    double end_factor = 1.0;
    std::int64_t warmup_steps = 5;
  };
  LinearWarmup(OptimizerBase& optimizer, Options options) : LRScheduler(optimizer), options_(options) {
    if (!(options.start_factor > 0 && options.start_factor <= 1))
      throw ValueError("LinearWarmup: start_factor must be in (0, 1], got " + std::to_string(options.start_factor));
    if (!(options.end_factor >= 0 && options.end_factor <= 1))
      throw ValueError("LinearWarmup: end_factor must be in [0, 1], got " + std::to_string(options.end_factor));
    if (options.warmup_steps < 1)
      throw ValueError("LinearWarmup: warmup_steps must be >= 1, got " + std::to_string(options.warmup_steps));
    step();
  }

 protected:
  double next_lr(double current_lr, double /*base_lr*/) const override {
    const double start = options_.start_factor, end = options_.end_factor;
    const auto steps = static_cast<double>(options_.warmup_steps);
    if (last_epoch_ == 0) return current_lr * start;
    if (last_epoch_ > options_.warmup_steps) return current_lr;
    // ratio of the factor at e to the factor at e - 1
    return current_lr * (1.0 + (end - start) / (steps * start + static_cast<double>(last_epoch_ - 1) * (end - start)));
  }

 private:
  Options options_;
};

/// The learning rate of each group is its base lr times factor(e) (PyTorch's LambdaLR):
/// lr = lr0 * factor(e). factor(0) applies at construction.
class LambdaLR : public LRScheduler {
 public:
  using Factor = std::function<double(std::int64_t epoch)>;
  LambdaLR(OptimizerBase& optimizer, Factor factor) : LRScheduler(optimizer), factor_(std::move(factor)) {
    if (!factor_) throw ValueError("LambdaLR: the factor function is empty");
    step();
  }

 protected:
  double next_lr(double /*current_lr*/, double base_lr) const override {
    const double factor = factor_(last_epoch_);
    if (!(factor >= 0) || !std::isfinite(factor))
      throw ValueError("LambdaLR: the factor for step " + std::to_string(last_epoch_) + " is " +
                       std::to_string(factor) + "; it must be a finite number >= 0");
    return base_lr * factor;
  }

 private:
  Factor factor_;
};

/// Linear warmup, then cosine decay (the GPT / BERT schedule), stepped once per optimizer
/// step. For step s, warmup w = warmup_steps, total n = total_steps, start factor a and floor
/// m = min_factor, each group's lr is lr0 times
///   a + (1 - a) s / w                                        for s < w
///   m + (1 - m) (1 + cos(pi min(1, (s - w) / (n - w)))) / 2    for s >= w
/// so it climbs from a lr0 to lr0 over the warmup, then falls to m lr0 at step n and stays
/// there. factor() is the closed form; the fixture checks it against PyTorch's LambdaLR.
class CosineWithWarmup : public LRScheduler {
 public:
  struct Options {
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 1;
    double min_factor = 0.0;    // the floor: min_lr = min_factor * base lr (per group)
    double start_factor = 0.0;  // the warmup starts at start_factor * base lr
  };
  CosineWithWarmup(OptimizerBase& optimizer, Options options) : LRScheduler(optimizer), options_(options) {
    const std::string name = "CosineWithWarmup";
    if (options.warmup_steps < 0)
      throw ValueError(name + ": warmup_steps must be >= 0, got " + std::to_string(options.warmup_steps));
    if (options.total_steps <= options.warmup_steps)
      throw ValueError(name + ": total_steps (" + std::to_string(options.total_steps) +
                       ") must be larger than warmup_steps (" + std::to_string(options.warmup_steps) + ")");
    if (!(options.min_factor >= 0 && options.min_factor <= 1))
      throw ValueError(name + ": min_factor must be in [0, 1], got " + std::to_string(options.min_factor));
    if (!(options.start_factor >= 0 && options.start_factor <= 1))
      throw ValueError(name + ": start_factor must be in [0, 1], got " + std::to_string(options.start_factor));
    step();
  }

  /// The factor on the base learning rate at step `step`.
  double factor(std::int64_t step) const {
    const auto s = static_cast<double>(step), w = static_cast<double>(options_.warmup_steps);
    if (step < options_.warmup_steps) return options_.start_factor + (1 - options_.start_factor) * s / w;
    const double progress = std::min(1.0, (s - w) / (static_cast<double>(options_.total_steps) - w));
    return options_.min_factor + (1 - options_.min_factor) * (1 + std::cos(std::numbers::pi * progress)) / 2;
  }

  const Options& options() const { return options_; }

 protected:
  double next_lr(double /*current_lr*/, double base_lr) const override { return base_lr * factor(last_epoch_); }

 private:
  Options options_;
};

/// Lowers the learning rate when a metric stops improving (like PyTorch's ReduceLROnPlateau):
/// after more than `patience` epochs without improvement, lr = max(lr * factor, min_lr),
/// then waits `cooldown` epochs before counting again. "Improvement" in mode min with
/// relative threshold t means metric < best * (1 - t) (absolute: metric < best - t).
class ReduceLROnPlateau {
 public:
  enum class Mode { min, max };
  enum class ThresholdMode { relative, absolute };
  struct Options {
    Mode mode = Mode::min;
    double factor = 0.1;
    std::int64_t patience = 10;
    double threshold = 1e-4;
    ThresholdMode threshold_mode = ThresholdMode::relative;
    std::int64_t cooldown = 0;
    double min_lr = 0;
    double eps = 1e-8;  // changes smaller than this are not applied
  };

  ReduceLROnPlateau(OptimizerBase& optimizer, Options options) : optimizer_(optimizer), options_(options) {
    if (!(options.factor < 1.0 && options.factor >= 0))
      throw ValueError("ReduceLROnPlateau: factor must be in [0, 1), got " + std::to_string(options.factor));
    if (options.patience < 0 || options.cooldown < 0)
      throw ValueError("ReduceLROnPlateau: patience and cooldown must be >= 0");
    if (!(options.threshold >= 0) || !(options.min_lr >= 0))
      throw ValueError("ReduceLROnPlateau: threshold and min_lr must be >= 0");
    best_ =
        options.mode == Mode::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }

  /// Records the epoch's metric (e.g. the validation loss) and lowers the lr if it plateaued.
  void step(double metric) {
    ++last_epoch_;
    if (is_better(metric)) {
      best_ = metric;
      bad_epochs_ = 0;
    } else {
      ++bad_epochs_;
    }
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      bad_epochs_ = 0;  // epochs in cooldown do not count as bad
    }
    if (bad_epochs_ > options_.patience) {
      for (std::size_t group = 0; group < optimizer_.group_count(); ++group) {  // every group, as PyTorch
        const double old_lr = optimizer_.group_lr(group);
        const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
        if (old_lr - new_lr > options_.eps) optimizer_.set_group_lr(group, new_lr);
      }
      cooldown_counter_ = options_.cooldown;
      bad_epochs_ = 0;
    }
  }

  double lr() const { return optimizer_.lr(); }
  double best() const { return best_; }
  std::int64_t bad_epochs() const { return bad_epochs_; }
  std::int64_t last_epoch() const { return last_epoch_; }

 private:
  bool is_better(double metric) const {
    const bool relative = options_.threshold_mode == ThresholdMode::relative;
    if (options_.mode == Mode::min)
      return relative ? metric < best_ * (1 - options_.threshold) : metric < best_ - options_.threshold;
    return relative ? metric > best_ * (1 + options_.threshold) : metric > best_ + options_.threshold;
  }

  OptimizerBase& optimizer_;
  Options options_;
  double best_;
  std::int64_t bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t last_epoch_ = 0;
};

}  // namespace nabla::optim
