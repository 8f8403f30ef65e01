// nabla/optim/rmsprop.hpp - RMSprop (optionally centered, with momentum), step for step
// like torch.optim.RMSprop.
//
// Per element, with gradient g, parameter p and running averages s (of g^2), a (of g):
//   g = g + weight_decay * p
//   s = alpha * s + (1 - alpha) * g^2
//   a = alpha * a + (1 - alpha) * g                 (centered only)
//   r = sqrt(s - a^2) + eps  (centered)   or   r = sqrt(s) + eps
//   b = momentum * b + g / r;  p = p - lr * b       (with momentum)
//   p = p - lr * g / r                              (without)
#pragma once

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

template <FloatingElement T>
class RMSprop : public Optimizer<T> {
 public:
  using Options = RMSpropOptions;

  explicit RMSprop(std::vector<Tensor<T>> parameters, Options options = {})
      : RMSprop(Optimizer<T>::single_group(std::move(parameters)), options) {}
  /// Parameter groups with their own lr and weight_decay (optim/optimizer.hpp).
  RMSprop(std::initializer_list<ParamGroup<T>> groups, Options options = {})
      : RMSprop(std::vector<ParamGroup<T>>(groups), options) {}
  explicit RMSprop(std::vector<ParamGroup<T>> groups, Options options = {})
      : Optimizer<T>(std::move(groups), options.lr, options.weight_decay, "RMSprop"), options_(options) {
    this->check_unit_interval("RMSprop", "alpha", options.alpha);
    this->check_non_negative("RMSprop", "eps", options.eps);
    this->check_non_negative("RMSprop", "momentum", options.momentum);
  }

  std::string type_name() const override { return "RMSprop"; }
  const Options& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override {
    std::vector<std::string> names{"square_avg"};
    if (options_.momentum > 0) names.push_back("momentum_buffer");
    if (options_.centered) names.push_back("grad_avg");
    return names;
  }

  void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state,
              const GroupSettings& group) override {
    const T lr = static_cast<T>(group.lr);
    const T alpha = static_cast<T>(options_.alpha);
    const T one_minus_alpha = static_cast<T>(1 - options_.alpha);  // in double first, like PyTorch
    const T eps = static_cast<T>(options_.eps);
    const T weight_decay = static_cast<T>(group.weight_decay);
    const T momentum = static_cast<T>(options_.momentum);
    const bool use_momentum = options_.momentum > 0, centered = options_.centered;
    const Tensor<T> s = this->buffer(state, "square_avg", parameter);
    const Tensor<T> b = use_momentum ? this->buffer(state, "momentum_buffer", parameter) : Tensor<T>();
    const Tensor<T> a = centered ? this->buffer(state, "grad_avg", parameter) : Tensor<T>();
    const backend::RmspropHyperparameters<T> h{lr, alpha, one_minus_alpha, eps, weight_decay, momentum};
    backend::rmsprop_update(parameter, gradient, s, a, b, h);
  }

 private:
  Options options_;
};

}  // namespace nabla::optim
