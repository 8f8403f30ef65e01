// nabla/optim/optimizer.hpp - what every optimizer shares: the parameter list, the learning
// rate, zero_grad(), the step loop, and the state a checkpoint saves and restores.
//
// An optimizer's step() walks the parameters; a parameter without a gradient (not reached
// by backward) is skipped, like PyTorch. Each concrete optimizer implements update(): ONE
// fused pass over the parameter, its gradient and its state (no temporaries), run by
// backend/optimizer.hpp on the parameter's device.
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
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
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

/// The part of an optimizer that schedulers and training loops use, whatever the element
/// type: the learning rate, step() and zero_grad().
class OptimizerBase {
 public:
  virtual ~OptimizerBase() = default;
  OptimizerBase(const OptimizerBase&) = delete;
  OptimizerBase& operator=(const OptimizerBase&) = delete;

  /// Updates every parameter that has a gradient.
  virtual void step() = 0;
  /// Sets every parameter's gradient to zero (keeping its buffer: no allocation per step).
  virtual void zero_grad() = 0;
  /// "SGD", "Adam", ...
  virtual std::string type_name() const = 0;

  /// The current learning rate (schedulers change it with set_lr).
  double lr() const { return lr_; }
  void set_lr(double lr) {
    if (!(lr >= 0) || !std::isfinite(lr))
      throw ValueError(type_name() + ": learning rate must be a finite number >= 0, got " + std::to_string(lr));
    lr_ = lr;
  }
  /// How many times step() has run.
  std::int64_t step_count() const { return step_count_; }

 protected:
  OptimizerBase() = default;
  double lr_ = 0;
  std::int64_t step_count_ = 0;
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
  double lr = 0;                              // the learning rate at the time
  std::vector<ParameterState<T>> parameters;  // one per parameter, in the optimizer's order
};

template <FloatingElement T>
class Optimizer : public OptimizerBase {
 public:
  const std::vector<Tensor<T>>& parameters() const { return parameters_; }

  void zero_grad() override {
    for (auto& parameter : parameters_) parameter.zero_grad();
  }

  void step() override {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      Tensor<T>& parameter = parameters_[i];
      const Tensor<T> gradient = parameter.grad();
      if (!gradient.defined()) continue;  // not reached by backward: leave it (and its state) alone
      ParameterState<T>& state = states_[i];
      ++state.step;
      update(parameter, nabla::detail::dense_values(gradient), state);
      parameter.storage()->bump_version();  // an in-place write: autograd must see it
    }
    ++step_count_;
  }

  /// A deep copy of the optimizer state (later steps do not change it).
  OptimizerState<T> state() const {
    OptimizerState<T> copy{type_name(), step_count_, lr_, {}};
    for (const auto& parameter_state : states_) {
      ParameterState<T> entry{parameter_state.step, {}};
      for (const auto& [name, buffer] : parameter_state.buffers) entry.buffers.emplace(name, buffer.clone());
      copy.parameters.push_back(std::move(entry));
    }
    return copy;
  }

  /// Restores a state saved by state() (of an optimizer of the same type over parameters of
  /// the same shapes, with the same options). The values are copied.
  void load_state(const OptimizerState<T>& state) {
    const std::string op = type_name() + "::load_state";
    if (state.optimizer != type_name())
      throw ValueError(op + ": the state was saved by a " + state.optimizer + " optimizer");
    if (state.parameters.size() != parameters_.size())
      throw ValueError(op + ": the state has " + std::to_string(state.parameters.size()) +
                       " parameter entries, this optimizer has " + std::to_string(parameters_.size()) + " parameters");
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
    set_lr(state.lr);  // validates before anything below changes
    step_count_ = state.step_count;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      ParameterState<T>& target = states_[i];
      target.step = state.parameters[i].step;
      target.buffers.clear();
      for (const auto& [name, buffer] : state.parameters[i].buffers) target.buffers.emplace(name, buffer.clone());
    }
  }

 protected:
  /// Checks and stores the parameters. Duplicates (the same tensor listed twice, as tied
  /// weights are) are kept once, so that no parameter is updated twice per step.
  Optimizer(std::vector<Tensor<T>> parameters, double lr, const std::string& name) {
    if (parameters.empty()) throw ValueError(name + ": got an empty parameter list");
    std::set<const TensorImpl<T>*> seen;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const Tensor<T>& parameter = parameters[i];
      if (!parameter.defined()) throw ValueError(name + ": parameter " + std::to_string(i) + " is undefined");
      if (!parameter.is_leaf())
        throw ValueError(name + ": parameter " + std::to_string(i) +
                         " is the result of an op, not a leaf tensor; optimize the tensors it was "
                         "computed from");
      if (!parameter.is_contiguous())
        throw ValueError(name + ": parameter " + std::to_string(i) + " of shape " + to_string(parameter.shape()) +
                         " is a non-contiguous view; optimize the tensor it views");
      if (seen.insert(parameter.impl().get()).second) parameters_.push_back(parameter);
    }
    states_.resize(parameters_.size());
    if (!(lr >= 0) || !std::isfinite(lr))
      throw ValueError(name + ": learning rate must be a finite number >= 0, got " + std::to_string(lr));
    lr_ = lr;
  }

  /// Updates one parameter in place from its (dense) gradient; state.step already counts
  /// this step.
  virtual void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state) = 0;

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
  std::vector<Tensor<T>> parameters_;
  std::vector<ParameterState<T>> states_;
};

}  // namespace nabla::optim
