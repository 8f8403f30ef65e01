// nabla/optim/clip.hpp - gradient clipping, applied between backward() and step().
//
// clip_grad_norm_ rescales all gradients together when their global norm is too large
// (PyTorch's torch.nn.utils.clip_grad_norm_):
//   total = (sum over every gradient element of |g|^p)^(1/p)      (p = 2 by default;
//           p = infinity gives max |g|)
//   g = g * min(1, max_norm / (total + 1e-6))
// and returns `total`, the norm before clipping (worth logging: spikes show instability).
// clip_grad_value_ clamps every gradient element into [-value, value].
// Parameters without a gradient are skipped by both.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/backend/norm.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::optim {

/// Scales the gradients of `parameters` in place so that their global `norm_type`-norm is at
/// most `max_norm`; returns the norm they had. With error_if_nonfinite, a NaN or infinite
/// norm throws ValueError instead of spreading NaN into every gradient.
template <FloatingElement T>
T clip_grad_norm_(const std::vector<Tensor<T>>& parameters, double max_norm, double norm_type = 2.0,
                  bool error_if_nonfinite = false) {
  if (!(max_norm >= 0)) throw ValueError("clip_grad_norm_: max_norm must be >= 0, got " + std::to_string(max_norm));
  if (!(norm_type > 0))
    throw ValueError("clip_grad_norm_: norm_type must be > 0 (or infinity), got " + std::to_string(norm_type));
  const bool infinity_norm = std::isinf(norm_type);
  std::vector<Tensor<T>> gradients;
  for (const auto& parameter : parameters)
    if (parameter.defined() && parameter.grad().defined()) gradients.push_back(parameter.grad());
  if (gradients.empty()) return T(0);

  // Accumulate in double: a float sum of millions of squares loses digits.
  double accumulated = 0;
  for (const auto& gradient : gradients) {
    const double partial = backend::partial_norm(gradient, norm_type, infinity_norm);
    accumulated = infinity_norm ? ((partial > accumulated || std::isnan(partial)) ? partial : accumulated)
                                : accumulated + partial;
  }
  const double total_norm = infinity_norm      ? accumulated
                            : norm_type == 2.0 ? std::sqrt(accumulated)
                                               : std::pow(accumulated, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total_norm))
    throw ValueError("clip_grad_norm_: the total norm of order " + std::to_string(norm_type) + " of the gradients is " +
                     std::to_string(total_norm) + "; clipping would fill every gradient with NaN");
  const double clip_coefficient = max_norm / (total_norm + 1e-6);
  if (clip_coefficient < 1.0) {  // PyTorch multiplies by min(coefficient, 1); by 1 changes nothing
    const T factor = static_cast<T>(clip_coefficient);
    for (auto& gradient : gradients) {
      backend::map(gradient, backend::MultiplyScalar<T>{factor}, gradient);
      gradient.storage()->bump_version();
    }
  }
  return static_cast<T>(total_norm);
}

/// Clamps every gradient element of `parameters` into [-clip_value, clip_value], in place.
template <FloatingElement T>
void clip_grad_value_(const std::vector<Tensor<T>>& parameters, double clip_value) {
  if (!(clip_value >= 0))
    throw ValueError("clip_grad_value_: clip_value must be >= 0, got " + std::to_string(clip_value));
  const T high = static_cast<T>(clip_value), low = -high;
  for (const auto& parameter : parameters) {
    if (!parameter.defined() || !parameter.grad().defined()) continue;
    Tensor<T> gradient = parameter.grad();
    backend::map(gradient, backend::Clamp<T>{low, high}, gradient);
    gradient.storage()->bump_version();
  }
}

}  // namespace nabla::optim
