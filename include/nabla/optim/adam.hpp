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

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
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
      : Adam(std::move(parameters), options, /*decoupled_weight_decay=*/false, "Adam") {}

  std::string type_name() const override { return "Adam"; }
  const Options& options() const { return options_; }

 protected:
  Adam(std::vector<Tensor<T>> parameters, Options options, bool decoupled_weight_decay, const std::string& name)
      : Optimizer<T>(std::move(parameters), options.lr, name),
        options_(options),
        decoupled_weight_decay_(decoupled_weight_decay) {
    this->check_unit_interval(name, "beta1", options.beta1);
    this->check_unit_interval(name, "beta2", options.beta2);
    this->check_non_negative(name, "eps", options.eps);
    this->check_non_negative(name, "weight_decay", options.weight_decay);
  }

  std::vector<std::string> buffer_names() const override {
    if (options_.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

  void update(Tensor<T>& parameter, const Tensor<T>& gradient, ParameterState<T>& state) override {
    const auto step = static_cast<double>(state.step);
    const double lr = this->lr();
    const T beta1 = static_cast<T>(options_.beta1), beta2 = static_cast<T>(options_.beta2);
    const T one_minus_beta1 = static_cast<T>(1 - options_.beta1);  // in double first, like PyTorch
    const T one_minus_beta2 = static_cast<T>(1 - options_.beta2);
    const T eps = static_cast<T>(options_.eps);
    const T step_size = static_cast<T>(lr / (1 - std::pow(options_.beta1, step)));
    const T second_moment_correction = static_cast<T>(std::sqrt(1 - std::pow(options_.beta2, step)));
    // L2 decay enters the gradient; decoupled decay shrinks the parameter directly
    const T l2_decay = decoupled_weight_decay_ ? T(0) : static_cast<T>(options_.weight_decay);
    const T shrink = decoupled_weight_decay_ ? static_cast<T>(1 - lr * options_.weight_decay) : T(1);
    const bool amsgrad = options_.amsgrad;
    T* p = backend::device_data(parameter);
    const T* g = backend::device_data(gradient);
    T* m = this->buffer(state, "exp_avg", parameter);
    T* v = this->buffer(state, "exp_avg_sq", parameter);
    T* v_max = amsgrad ? this->buffer(state, "max_exp_avg_sq", parameter) : nullptr;
    const backend::AdamHyperparameters<T> h{
        beta1,    beta2,  one_minus_beta1,        one_minus_beta2, eps, step_size, second_moment_correction,
        l2_decay, shrink, decoupled_weight_decay_};
    this->for_each_element_on_device(
        parameter,
        [&](std::int64_t begin, std::int64_t end) {
          if (amsgrad) {
            for (std::int64_t i = begin; i < end; ++i)
              backend::adam_update_element(p[i], g[i], m[i], v[i], v_max + i, h);
            return;
          }
          // The common case on the CPU as Eigen array expressions, a cache-sized chunk at a
          // time: the per-element loop stays scalar (std::sqrt may set errno, so GCC keeps a
          // branch per element unless built with -fno-math-errno), Eigen's sqrt is one AVX
          // instruction for 8 floats. Same arithmetic in the same order as
          // backend::adam_update_element (which the CUDA kernel runs), so the same values.
          using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
          constexpr std::int64_t kChunk = 2048;  // 4 arrays x 8 KiB (float): stays in L1/L2
          for (std::int64_t chunk = begin; chunk < end; chunk += kChunk) {
            const std::int64_t count = std::min(kChunk, end - chunk);
            Eigen::Map<Array> parameter_values(p + chunk, count), first_moment(m + chunk, count),
                second_moment(v + chunk, count);
            const Eigen::Map<const Array> gradient_values(g + chunk, count);
            if (decoupled_weight_decay_) parameter_values *= shrink;
            const auto grad = gradient_values + l2_decay * parameter_values;
            first_moment = beta1 * first_moment + one_minus_beta1 * grad;
            second_moment = beta2 * second_moment + (one_minus_beta2 * grad) * grad;
            parameter_values -= step_size * (first_moment / (second_moment.sqrt() / second_moment_correction + eps));
          }
        },
        [&] { backend::cuda::adam_update(p, g, m, v, v_max, parameter.numel(), h, parameter.device().index()); });
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
      : Adam<T>(
            std::move(parameters),
            AdamOptions{options.lr, options.beta1, options.beta2, options.eps, options.weight_decay, options.amsgrad},
            /*decoupled_weight_decay=*/true, "AdamW") {}

  std::string type_name() const override { return "AdamW"; }
};

}  // namespace nabla::optim
