// nabla/optim/sgd.hpp - stochastic gradient descent with momentum, dampening, Nesterov
// momentum and L2 weight decay, step for step like torch.optim.SGD.
//
// Per element, with gradient g, parameter p and momentum buffer b:
//   d = g + weight_decay * p
//   b = d                                      on the first step
//   b = momentum * b + (1 - dampening) * d     afterwards
//   d = d + momentum * b   (nesterov)   or   d = b   (plain momentum)
//   p = p - lr * d
// Without momentum the buffer is not kept and p = p - lr * (g + weight_decay * p).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <FloatingElement T>
class SGD : public Optimizer<T> {
 public:
  using Options = SGDOptions;

  explicit SGD(std::vector<Tensor<T>> parameters, Options options = {})
      : SGD(Optimizer<T>::single_group(std::move(parameters)), options) {}
  /// Parameter groups with their own lr and weight_decay (optim/optimizer.hpp).
  SGD(std::initializer_list<ParamGroup<T>> groups, Options options = {})
      : SGD(std::vector<ParamGroup<T>>(groups), options) {}
  explicit SGD(std::vector<ParamGroup<T>> groups, Options options = {})
      : Optimizer<T>(std::move(groups), options.lr, options.weight_decay, "SGD"), options_(options) {
    this->check_non_negative("SGD", "momentum", options.momentum);
    this->check_non_negative("SGD", "dampening", options.dampening);
    if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
      throw ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum " +
                       std::to_string(options.momentum) + " and dampening " + std::to_string(options.dampening));
  }

  std::string type_name() const override { return "SGD"; }
  const Options& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override {
    if (options_.momentum == 0) return {};
    return {"momentum_buffer"};
  }

  void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state,
              const GroupSettings& group) override {
    const T lr = static_cast<T>(group.lr);
    const T momentum = static_cast<T>(options_.momentum);
    const T keep = static_cast<T>(1 - options_.dampening);  // the share of the new gradient
    const T weight_decay = static_cast<T>(group.weight_decay);
    const bool nesterov = options_.nesterov;
    // Without momentum there is no buffer (undefined); the buffer starts as the first gradient.
    const bool first_step = state.buffers.count("momentum_buffer") == 0;
    const Tensor<T> b = options_.momentum == 0 ? Tensor<T>() : this->buffer(state, "momentum_buffer", parameter);
    const backend::SgdHyperparameters<T> h{lr, momentum, keep, weight_decay, nesterov, first_step};
    backend::sgd_update(parameter, gradient, b, h);
  }

 private:
  Options options_;
};

}  // namespace nabla::optim
