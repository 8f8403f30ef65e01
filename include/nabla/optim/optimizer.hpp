// nabla/optim/optimizer.hpp - what every optimizer shares: the parameter groups with their
// learning rates and weight decays, zero_grad(), the step loop, and the state a checkpoint
// saves and restores.
//
// Parameter groups (PyTorch's param_groups): an optimizer is made from a plain parameter list
// (one group) or from groups, each with its own optional lr and weight_decay; what a group
// leaves out comes from the optimizer's options:
//   nb::optim::AdamW<float> opt({{.params = decay, .weight_decay = 0.1},
//                                {.params = no_decay, .weight_decay = 0}}, {.lr = 3e-4});
// Schedulers scale every group (lr_g = base lr_g * factor); optim/param_groups.hpp makes the
// usual decay / no-decay split of a model.
//
// An optimizer's step() walks the parameters group by group; a parameter without a gradient
// (not reached by backward) or frozen (requires_grad() false: module.requires_grad_(false))
// is skipped, like PyTorch, and its state is left alone. Each concrete optimizer implements
// update(): ONE fused pass over the parameter, its gradient and its state (no temporaries),
// run by backend/optimizer.hpp on the parameter's device, with the group's settings.
//
// State (PyTorch's optimizer.state): per parameter, a step count and named buffers such as
// "exp_avg" and "exp_avg_sq" (Adam) or "momentum_buffer" (SGD). Buffers are created the
// first time a parameter is updated. state() copies them out; load_state() copies them back,
// so a restored optimizer continues exactly where the saved one stopped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/autograd/profiler.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/optimizer.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/softmax.hpp"  // detail::dense_values
#include "nabla/ops/views.hpp"    // clone

namespace nabla::optim {

/// Elements per thread below which a CPU update loop is not worth splitting
/// (backend/cpu/optimizer.hpp).
inline constexpr std::int64_t kOptimizerGrain = backend::cpu::kOptimizerGrain;

/// One parameter group of an optimizer: its parameters and, optionally, its own learning rate
/// and weight decay (left out: the optimizer's options give them). PyTorch's param_groups
/// entries, spelled as designated initializers: {.params = decay, .weight_decay = 0.1}.
template <FloatingElement T>
struct ParamGroup {
  std::vector<Tensor<T>> params;
  std::optional<double> lr = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
};

/// A group's settings as update() uses them (every option is resolved).
struct GroupSettings {
  double lr = 0;
  double weight_decay = 0;
};

/// The part of an optimizer that schedulers and training loops use, whatever the element
/// type: the groups' learning rates and weight decays, step() and zero_grad().
class OptimizerBase {
 public:
  virtual ~OptimizerBase() = default;
  OptimizerBase(const OptimizerBase&) = delete;
  OptimizerBase& operator=(const OptimizerBase&) = delete;

  /// Updates every trainable parameter that has a gradient.
  virtual void step() = 0;
  /// Sets every parameter's gradient to zero (keeping its buffer), or drops it with
  /// {.set_to_none = true}: step() then skips a parameter that backward() did not reach.
  virtual void zero_grad(ZeroGradOptions options = {}) = 0;
  /// "SGD", "Adam", ...
  virtual std::string type_name() const = 0;

  /// The learning rate of the first group (with one group: THE learning rate).
  double lr() const { return groups_.empty() ? 0.0 : groups_.front().lr; }
  /// Sets the learning rate of every group (PyTorch: `for g in param_groups: g["lr"] = lr`).
  void set_lr(double lr) {
    check_lr(lr);
    for (auto& group : groups_) group.lr = lr;
  }

  /// The number of parameter groups (1 for an optimizer made from a parameter list).
  std::size_t group_count() const { return groups_.size(); }
  /// Group `group`'s learning rate and weight decay.
  double group_lr(std::size_t group) const { return checked_group(group, "group_lr").lr; }
  double group_weight_decay(std::size_t group) const { return checked_group(group, "group_weight_decay").weight_decay; }
  void set_group_lr(std::size_t group, double lr) {
    check_lr(lr);
    checked_group(group, "set_group_lr").lr = lr;
  }
  void set_group_weight_decay(std::size_t group, double weight_decay) {
    if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
      throw ValueError(type_name() + ": weight_decay must be a finite number >= 0, got " +
                       std::to_string(weight_decay));
    checked_group(group, "set_group_weight_decay").weight_decay = weight_decay;
  }
  /// Every group's settings, in order.
  const std::vector<GroupSettings>& group_settings() const { return groups_; }

  /// How many times step() has run.
  std::int64_t step_count() const { return step_count_; }

 protected:
  OptimizerBase() = default;

  void check_lr(double lr) const {
    if (!(lr >= 0) || !std::isfinite(lr))
      throw ValueError(type_name() + ": learning rate must be a finite number >= 0, got " + std::to_string(lr));
  }

  std::vector<GroupSettings> groups_;
  std::int64_t step_count_ = 0;

 private:
  GroupSettings& checked_group(std::size_t group, const std::string& op) {
    return const_cast<GroupSettings&>(std::as_const(*this).checked_group(group, op));
  }
  const GroupSettings& checked_group(std::size_t group, const std::string& op) const {
    if (group >= groups_.size())
      throw ValueError(type_name() + "::" + op + ": group " + std::to_string(group) +
                       " out of range (the optimizer has " + std::to_string(groups_.size()) + " groups)");
    return groups_[group];
  }
};

/// One parameter's optimizer state: its own step count (a parameter skipped for lack of a
/// gradient does not count a step) and named buffers of the parameter's shape.
template <FloatingElement T>
struct ParameterState {
  std::int64_t step = 0;
  std::map<std::string, Tensor<T>> buffers;
};

/// Everything needed to continue optimizing exactly: what checkpoints save.
template <FloatingElement T>
struct OptimizerState {
  std::string optimizer;                      // type_name() of the optimizer that produced it
  std::int64_t step_count = 0;                // step() calls so far
  double lr = 0;                              // the (first group's) learning rate at the time
  std::vector<ParameterState<T>> parameters;  // one per parameter, in the optimizer's order
  /// Per group: its settings at the time and its number of parameters (the groups cover
  /// `parameters` in order). Empty in states from before parameter groups: then every group
  /// takes `lr` and keeps its weight decay.
  std::vector<GroupSettings> groups = {};
  std::vector<std::int64_t> group_sizes = {};
};

template <FloatingElement T>
class Optimizer : public OptimizerBase {
 public:
  /// Every parameter, group after group (each tensor once).
  const std::vector<Tensor<T>>& parameters() const { return parameters_; }

  /// The parameters of group `group`.
  std::vector<Tensor<T>> group_parameters(std::size_t group) const {
    group_lr(group);  // range check
    return {parameters_.begin() + static_cast<std::ptrdiff_t>(group_begin_[group]),
            parameters_.begin() + static_cast<std::ptrdiff_t>(group_begin_[group + 1])};
  }

  /// Appends a group (PyTorch's add_param_group), e.g. a part of the model unfrozen later with
  /// its own learning rate. Its parameters must not be in the optimizer already.
  void add_param_group(ParamGroup<T> group) {
    std::set<const TensorImpl<T>*> seen;
    for (const auto& parameter : parameters_) seen.insert(parameter.impl().get());
    append_group(std::move(group), seen, "add_param_group");
  }

  void zero_grad(ZeroGradOptions options = {}) override {
    const profiler::Scope timed(type_name(), ".zero_grad");
    for (auto& parameter : parameters_) parameter.zero_grad(options);
  }

  void step() override {
    const profiler::Scope timed(type_name(), ".step");
    NoGradGuard no_grad;
    for (std::size_t group = 0; group < groups_.size(); ++group) {
      const GroupSettings settings = groups_[group];
      for (std::size_t i = group_begin_[group]; i < group_begin_[group + 1]; ++i) {
        Tensor<T>& parameter = parameters_[i];
        // frozen, or not reached by backward: leave it (and its state) alone
        if (!parameter.requires_grad()) continue;
        const Tensor<T> gradient = parameter.grad();
        if (!gradient.defined()) continue;
        ParameterState<T>& state = states_[i];
        ++state.step;
        update(parameter, nabla::detail::dense_values(gradient), state, settings);
        parameter.storage()->bump_version();  // an in-place write: autograd must see it
      }
    }
    ++step_count_;
  }

  /// A deep copy of the optimizer state (later steps do not change it).
  OptimizerState<T> state() const {
    OptimizerState<T> copy{type_name(), step_count_, lr(), {}, groups_, {}};
    for (std::size_t group = 0; group < groups_.size(); ++group)
      copy.group_sizes.push_back(static_cast<std::int64_t>(group_begin_[group + 1] - group_begin_[group]));
    for (const auto& parameter_state : states_) {
      ParameterState<T> entry{parameter_state.step, {}};
      for (const auto& [name, buffer] : parameter_state.buffers) entry.buffers.emplace(name, buffer.clone());
      copy.parameters.push_back(std::move(entry));
    }
    return copy;
  }

  /// Restores a state saved by state() (of an optimizer of the same type over parameters of
  /// the same shapes in groups of the same sizes, with the same options). The values are
  /// copied; the groups' learning rates and weight decays come back too.
  void load_state(const OptimizerState<T>& state) {
    const std::string op = type_name() + "::load_state";
    if (state.optimizer != type_name())
      throw ValueError(op + ": the state was saved by a " + state.optimizer + " optimizer");
    if (state.parameters.size() != parameters_.size())
      throw ValueError(op + ": the state has " + std::to_string(state.parameters.size()) +
                       " parameter entries, this optimizer has " + std::to_string(parameters_.size()) + " parameters");
    if (!state.groups.empty()) {
      if (state.groups.size() != groups_.size() || state.group_sizes.size() != groups_.size())
        throw ValueError(op + ": the state has " + std::to_string(state.groups.size()) +
                         " parameter groups, this optimizer has " + std::to_string(groups_.size()));
      for (std::size_t group = 0; group < groups_.size(); ++group) {
        const auto size = static_cast<std::int64_t>(group_begin_[group + 1] - group_begin_[group]);
        if (state.group_sizes[group] != size)
          throw ValueError(op + ": group " + std::to_string(group) + " has " +
                           std::to_string(state.group_sizes[group]) + " parameters in the state but " +
                           std::to_string(size) + " in this optimizer");
        check_lr(state.groups[group].lr);
        if (!(state.groups[group].weight_decay >= 0) || !std::isfinite(state.groups[group].weight_decay))
          throw ValueError(op + ": group " + std::to_string(group) + " has weight_decay " +
                           std::to_string(state.groups[group].weight_decay));
      }
    }
    const std::vector<std::string> expected = buffer_names();
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      const ParameterState<T>& entry = state.parameters[i];
      if (entry.step < 0) throw ValueError(op + ": parameter " + std::to_string(i) + " has a negative step count");
      if (entry.buffers.empty()) continue;  // not updated yet when saved
      for (const auto& [name, buffer] : entry.buffers) {
        if (std::find(expected.begin(), expected.end(), name) == expected.end())
          throw ValueError(op + ": unexpected buffer '" + name + "' for parameter " + std::to_string(i) +
                           " (does the saved optimizer use different options?)");
        if (!buffer.defined() || buffer.shape() != parameters_[i].shape())
          throw ShapeError(op + ": buffer '" + name + "' of parameter " + std::to_string(i) + " has shape " +
                           (buffer.defined() ? to_string(buffer.shape()) : std::string("(undefined)")) +
                           ", the parameter has shape " + to_string(parameters_[i].shape()));
      }
      for (const auto& name : expected)
        if (entry.buffers.count(name) == 0)
          throw ValueError(op + ": buffer '" + name + "' of parameter " + std::to_string(i) + " is missing");
    }
    if (state.step_count < 0) throw ValueError(op + ": negative step_count");
    check_lr(state.lr);  // validates before anything below changes
    if (state.groups.empty())
      set_lr(state.lr);  // a state from before groups: one learning rate for all
    else
      groups_ = state.groups;
    step_count_ = state.step_count;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      ParameterState<T>& target = states_[i];
      target.step = state.parameters[i].step;
      target.buffers.clear();
      for (const auto& [name, buffer] : state.parameters[i].buffers) target.buffers.emplace(name, buffer.clone());
    }
  }

 protected:
  /// Checks and stores the groups; a group's missing lr or weight_decay is `lr` or
  /// `weight_decay`. Duplicates inside a group (the same tensor listed twice, as tied weights
  /// are) are kept once, so that no parameter is updated twice per step; a tensor in two
  /// groups is an error (which group's settings would apply?).
  Optimizer(std::vector<ParamGroup<T>> groups, double lr, double weight_decay, const std::string& name)
      : name_(name), default_lr_(lr), default_weight_decay_(weight_decay) {
    if (!(lr >= 0) || !std::isfinite(lr))
      throw ValueError(name + ": learning rate must be a finite number >= 0, got " + std::to_string(lr));
    check_non_negative(name, "weight_decay", weight_decay);
    if (groups.empty()) throw ValueError(name + ": got an empty parameter list (no groups)");
    group_begin_.push_back(0);
    std::set<const TensorImpl<T>*> seen;
    for (auto& group : groups) append_group(std::move(group), seen, "");
    if (parameters_.empty()) throw ValueError(name + ": got an empty parameter list");
  }

  /// One group holding `parameters` with the optimizer's own settings.
  static std::vector<ParamGroup<T>> single_group(std::vector<Tensor<T>> parameters) {
    std::vector<ParamGroup<T>> groups(1);
    groups.front().params = std::move(parameters);
    return groups;
  }

  /// Updates one parameter in place from its (dense) gradient with its group's settings;
  /// state.step already counts this step.
  virtual void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state,
                      const GroupSettings& group) = 0;

  /// The names of the buffers update() keeps per parameter with the current options.
  virtual std::vector<std::string> buffer_names() const = 0;

  /// The buffer `name` of `state` (a handle: the update writes through it); created filled
  /// with `initial` the first time.
  static Tensor<T> buffer(ParameterState<T>& state, const std::string& name, const Tensor<T>& parameter,
                          T initial = T(0)) {
    auto found = state.buffers.find(name);
    if (found == state.buffers.end())
      found = state.buffers.emplace(name, full<T>(parameter.shape(), initial, parameter.device())).first;
    else
      found->second = found->second.to(parameter.device());  // state loaded on the host, model moved (else a no-op)
    return found->second;
  }

  /// Throws a ValueError unless `value` >= 0 (NaN fails too).
  static void check_non_negative(const std::string& optimizer, const std::string& option, double value) {
    if (!(value >= 0) || !std::isfinite(value))
      throw ValueError(optimizer + ": " + option + " must be a finite number >= 0, got " + std::to_string(value));
  }
  /// Throws a ValueError unless 0 <= value < 1.
  static void check_unit_interval(const std::string& optimizer, const std::string& option, double value) {
    if (!(value >= 0 && value < 1))
      throw ValueError(optimizer + ": " + option + " must be in [0, 1), got " + std::to_string(value));
  }

 private:
  void append_group(ParamGroup<T> group, std::set<const TensorImpl<T>*>& seen, const std::string& op) {
    const std::string where = name_ + (op.empty() ? "" : "::" + op) + ": group " + std::to_string(groups_.size());
    const GroupSettings settings{group.lr.value_or(default_lr_), group.weight_decay.value_or(default_weight_decay_)};
    if (!(settings.lr >= 0) || !std::isfinite(settings.lr))
      throw ValueError(where + ": learning rate must be a finite number >= 0, got " + std::to_string(settings.lr));
    check_non_negative(where, "weight_decay", settings.weight_decay);
    std::set<const TensorImpl<T>*> in_group;
    std::vector<Tensor<T>> accepted;
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const Tensor<T>& parameter = group.params[i];
      const std::string label = where + ", parameter " + std::to_string(i);
      if (!parameter.defined()) throw ValueError(label + " is undefined");
      if (!parameter.is_leaf())
        throw ValueError(label +
                         " is the result of an op, not a leaf tensor; optimize the tensors it was computed from");
      if (!parameter.is_contiguous())
        throw ValueError(label + " of shape " + to_string(parameter.shape()) +
                         " is a non-contiguous view; optimize the tensor it views");
      if (!in_group.insert(parameter.impl().get()).second) continue;  // tied: once is enough
      if (seen.count(parameter.impl().get()))
        throw ValueError(label + (parameter.name().empty() ? std::string() : " ('" + parameter.name() + "')") +
                         " is already in another group of this optimizer; a parameter may be in one group only");
      accepted.push_back(parameter);
    }
    for (const auto& parameter : accepted) {
      seen.insert(parameter.impl().get());
      parameters_.push_back(parameter);
    }
    if (group_begin_.empty()) group_begin_.push_back(0);
    group_begin_.push_back(parameters_.size());
    groups_.push_back(settings);
    states_.resize(parameters_.size());
  }

  std::string name_;
  double default_lr_ = 0;
  double default_weight_decay_ = 0;
  std::vector<Tensor<T>> parameters_;
  std::vector<std::size_t> group_begin_;  // group g holds parameters_[group_begin_[g], group_begin_[g + 1])
  std::vector<ParameterState<T>> states_;
};

}  // namespace nabla::optim
