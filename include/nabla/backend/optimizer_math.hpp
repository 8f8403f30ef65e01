// nabla/backend/optimizer_math.hpp - one element of each optimizer's fused update.
//
// The optimizers of optim/ run these in their CPU loops, and kernels/optimizer.cu runs the
// same functions in one CUDA kernel per parameter, so an update is one pass over the
// parameter, its gradient and its state on either device. The formulas are documented in
// optim/sgd.hpp, adam.hpp, rmsprop.hpp and adagrad.hpp; each hyperparameter arrives already
// converted to T the way the CPU code always did it (in double first, like PyTorch).
#pragma once

#include <cmath>

#include "nabla/core/macros.hpp"

namespace nabla::backend {

template <typename T>
struct SgdHyperparameters {
  T lr;
  T momentum;
  T keep;  // 1 - dampening: the share of the new gradient in the momentum buffer
  T weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer starts as the first gradient
};

/// SGD: p -= lr * d, with d = g + wd p, or the momentum buffer b = momentum b + keep d
/// (b = d on the first step), or d + momentum b with Nesterov. `buffer` is null without momentum.
template <typename T>
NABLA_HOST_DEVICE inline void sgd_update_element(T& parameter, T gradient, T* buffer, const SgdHyperparameters<T>& h) {
  T direction = gradient + h.weight_decay * parameter;
  if (buffer == nullptr) {
    parameter -= h.lr * direction;
    return;
  }
  *buffer = h.first_step ? direction : h.momentum * *buffer + h.keep * direction;
  direction = h.nesterov ? direction + h.momentum * *buffer : *buffer;
  parameter -= h.lr * direction;
}

template <typename T>
struct AdamHyperparameters {
  T beta1, beta2;
  T one_minus_beta1, one_minus_beta2;
  T eps;
  T step_size;                 // lr / (1 - beta1^t)
  T second_moment_correction;  // sqrt(1 - beta2^t)
  T l2_decay;                  // Adam: added to the gradient
  T shrink;                    // AdamW: 1 - lr * weight_decay (1 for Adam)
  bool decoupled;
};

/// Adam / AdamW with optional AMSGrad (`max_second_moment` null without it).
template <typename T>
NABLA_HOST_DEVICE inline void adam_update_element(T& parameter, T gradient, T& first_moment, T& second_moment,
                                                  T* max_second_moment, const AdamHyperparameters<T>& h) {
  if (h.decoupled) parameter *= h.shrink;
  const T grad = gradient + h.l2_decay * parameter;
  first_moment = h.beta1 * first_moment + h.one_minus_beta1 * grad;
  second_moment = h.beta2 * second_moment + h.one_minus_beta2 * grad * grad;
  T moment = second_moment;
  if (max_second_moment != nullptr) {
    *max_second_moment = *max_second_moment > second_moment ? *max_second_moment : second_moment;
    moment = *max_second_moment;
  }
  const T denominator = std::sqrt(moment) / h.second_moment_correction + h.eps;
  parameter -= h.step_size * (first_moment / denominator);
}

template <typename T>
struct RmspropHyperparameters {
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
};

/// RMSprop, optionally centered (`gradient_average` non-null) and with momentum (`buffer`).
template <typename T>
NABLA_HOST_DEVICE inline void rmsprop_update_element(T& parameter, T gradient, T& square_average, T* gradient_average,
                                                     T* buffer, const RmspropHyperparameters<T>& h) {
  const T grad = gradient + h.weight_decay * parameter;
  square_average = h.alpha * square_average + h.one_minus_alpha * grad * grad;
  T variance = square_average;
  if (gradient_average != nullptr) {
    *gradient_average = h.alpha * *gradient_average + h.one_minus_alpha * grad;
    variance = square_average - *gradient_average * *gradient_average;  // E[g^2] - E[g]^2
  }
  const T root_mean_square = std::sqrt(variance) + h.eps;
  if (buffer != nullptr) {
    *buffer = h.momentum * *buffer + grad / root_mean_square;
    parameter -= h.lr * *buffer;
  } else {
    parameter -= h.lr * (grad / root_mean_square);
  }
}

template <typename T>
struct AdagradHyperparameters {
  T step_size, eps, weight_decay;
};

/// Adagrad: h += g^2, p -= step_size * g / (sqrt(h) + eps).
template <typename T>
NABLA_HOST_DEVICE inline void adagrad_update_element(T& parameter, T gradient, T& sum_of_squares,
                                                     const AdagradHyperparameters<T>& h) {
  const T grad = gradient + h.weight_decay * parameter;
  sum_of_squares += grad * grad;
  parameter -= h.step_size * (grad / (std::sqrt(sum_of_squares) + h.eps));
}

}  // namespace nabla::backend
