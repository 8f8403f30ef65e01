// nabla/optim/adagrad.hpp - Adagrad, step for step like torch.optim.Adagrad.
//
// Per element at step t, with gradient g, parameter p and running sum h of squared gradients:
//   g = g + weight_decay * p
//   h = h + g^2
//   p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(h) + eps)
// Each coordinate's step shrinks with the gradients it has seen: rare features keep large steps.
#pragma once

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
};

template <FloatingElement T>
class Adagrad : public Optimizer<T> {
 public:
  using Options = AdagradOptions;

  explicit Adagrad(std::vector<Tensor<T>> parameters, Options options = {})
      : Adagrad(Optimizer<T>::single_group(std::move(parameters)), options) {}
  /// Parameter groups with their own lr and weight_decay (optim/optimizer.hpp).
  Adagrad(std::initializer_list<ParamGroup<T>> groups, Options options = {})
      : Adagrad(std::vector<ParamGroup<T>>(groups), options) {}
  explicit Adagrad(std::vector<ParamGroup<T>> groups, Options options = {})
      : Optimizer<T>(std::move(groups), options.lr, options.weight_decay, "Adagrad"), options_(options) {
    this->check_non_negative("Adagrad", "lr_decay", options.lr_decay);
    this->check_non_negative("Adagrad", "initial_accumulator_value", options.initial_accumulator_value);
    this->check_non_negative("Adagrad", "eps", options.eps);
  }

  std::string type_name() const override { return "Adagrad"; }
  const Options& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override { return {"sum"}; }

  void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state,
              const GroupSettings& group) override {
    const T step_size = static_cast<T>(group.lr / (1 + static_cast<double>(state.step - 1) * options_.lr_decay));
    const T eps = static_cast<T>(options_.eps);
    const T weight_decay = static_cast<T>(group.weight_decay);
    const Tensor<T> sum = this->buffer(state, "sum", parameter, static_cast<T>(options_.initial_accumulator_value));
    const backend::AdagradHyperparameters<T> h{step_size, eps, weight_decay};
    backend::adagrad_update(parameter, gradient, sum, h);
  }

 private:
  Options options_;
};

}  // namespace nabla::optim
