// nabla/optim/adam.hpp - Adam (with optional AMSGrad and L2 weight decay) and AdamW
// (decoupled weight decay), step for step like torch.optim.Adam and torch.optim.AdamW.
//
// Per element at step t, with gradient g, parameter p, first moment m, second moment v:
//   Adam:  g = g + weight_decay * p                   (L2: the decay goes through m and v)
//   AdamW: p = p * (1 - lr * weight_decay)            (decoupled: the decay bypasses m and v)
//   m = beta1 * m + (1 - beta1) * g                   (running mean of g)
//   v = beta2 * v + (1 - beta2) * g^2                 (running mean of g^2)
//   v_max = max(v_max, v)                             (AMSGrad only; then v_max replaces v below)
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The factors 1 / (1 - beta^t) correct the bias of m and v towards their zero start.
#pragma once

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};

/// Same fields as AdamOptions; only weight_decay's default differs (PyTorch's 1e-2).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

template <FloatingElement T>
class Adam : public Optimizer<T> {
 public:
  using Options = AdamOptions;

  explicit Adam(std::vector<Tensor<T>> parameters, Options options = {})
      : Adam(Optimizer<T>::single_group(std::move(parameters)), options) {}
  /// Parameter groups with their own lr and weight_decay (optim/optimizer.hpp).
  Adam(std::initializer_list<ParamGroup<T>> groups, Options options = {})
      : Adam(std::vector<ParamGroup<T>>(groups), options) {}
  explicit Adam(std::vector<ParamGroup<T>> groups, Options options = {})
      : Adam(std::move(groups), options, /*decoupled_weight_decay=*/false, "Adam") {}

  std::string type_name() const override { return "Adam"; }
  const Options& options() const { return options_; }

 protected:
  Adam(std::vector<ParamGroup<T>> groups, Options options, bool decoupled_weight_decay, const std::string& name)
      : Optimizer<T>(std::move(groups), options.lr, options.weight_decay, name),
        options_(options),
        decoupled_weight_decay_(decoupled_weight_decay) {
    this->check_unit_interval(name, "beta1", options.beta1);
    this->check_unit_interval(name, "beta2", options.beta2);
    this->check_non_negative(name, "eps", options.eps);
  }

  std::vector<std::string> buffer_names() const override {
    if (options_.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

  void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state,
              const GroupSettings& group) override {
    const auto step = static_cast<double>(state.step);
    const double lr = group.lr;
    const T beta1 = static_cast<T>(options_.beta1), beta2 = static_cast<T>(options_.beta2);
    const T one_minus_beta1 = static_cast<T>(1 - options_.beta1);  // in double first, like PyTorch
    const T one_minus_beta2 = static_cast<T>(1 - options_.beta2);
    const T eps = static_cast<T>(options_.eps);
    const T step_size = static_cast<T>(lr / (1 - std::pow(options_.beta1, step)));
    const T second_moment_correction = static_cast<T>(std::sqrt(1 - std::pow(options_.beta2, step)));
    // L2 decay enters the gradient; decoupled decay shrinks the parameter directly
    const T l2_decay = decoupled_weight_decay_ ? T(0) : static_cast<T>(group.weight_decay);
    const T shrink = decoupled_weight_decay_ ? static_cast<T>(1 - lr * group.weight_decay) : T(1);
    const Tensor<T> m = this->buffer(state, "exp_avg", parameter);
    const Tensor<T> v = this->buffer(state, "exp_avg_sq", parameter);
    const Tensor<T> v_max = options_.amsgrad ? this->buffer(state, "max_exp_avg_sq", parameter) : Tensor<T>();
    const backend::AdamHyperparameters<T> h{
        beta1,    beta2,  one_minus_beta1,        one_minus_beta2, eps, step_size, second_moment_correction,
        l2_decay, shrink, decoupled_weight_decay_};
    // On the CPU the common case (no AMSGrad) runs as vectorized Eigen chunks
    // (backend/cpu/optimizer.hpp), with the same arithmetic as backend::adam_update_element.
    backend::adam_update(parameter, gradient, m, v, v_max, h);
  }

 private:
  Options options_;
  bool decoupled_weight_decay_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter): the decay shrinks the weights
/// directly instead of being added to the gradient, so Adam's scaling does not weaken it.
template <FloatingElement T>
class AdamW : public Adam<T> {
 public:
  using Options = AdamWOptions;

  explicit AdamW(std::vector<Tensor<T>> parameters, Options options = {})
      : AdamW(Optimizer<T>::single_group(std::move(parameters)), options) {}
  /// Parameter groups with their own lr and weight_decay (optim/optimizer.hpp), e.g. the
  /// GPT convention (optim/param_groups.hpp):
  ///   AdamW<float> opt({{.params = decay, .weight_decay = 0.1}, {.params = no_decay, .weight_decay = 0}},
  ///                    {.lr = 3e-4});
  AdamW(std::initializer_list<ParamGroup<T>> groups, Options options = {})
      : AdamW(std::vector<ParamGroup<T>>(groups), options) {}
  explicit AdamW(std::vector<ParamGroup<T>> groups, Options options = {})
      : Adam<T>(
            std::move(groups),
            AdamOptions{options.lr, options.beta1, options.beta2, options.eps, options.weight_decay, options.amsgrad},
            /*decoupled_weight_decay=*/true, "AdamW") {}

  std::string type_name() const override { return "AdamW"; }
};

}  // namespace nabla::optim
