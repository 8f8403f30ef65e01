// nabla/backend/cpu/norm.hpp - sums of a function of every element on the CPU: a gradient's
// share of a global norm (optim/clip.hpp) and the weight penalties (optim/regularization.hpp).
// Each tensor is reduced in fixed blocks (backend/cpu/reduce.hpp), so the result does not
// depend on the thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "nabla/backend/cpu/reduce.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend::cpu {

/// sum |g|^p over the elements of `gradient` (max |g| for the infinity norm; NaN wins),
/// accumulated in double: a float sum of millions of squares loses digits.
template <typename T>
double partial_norm(const Tensor<T>& gradient, double norm_type, bool infinity_norm) {
  double partial = 0;
  reduce_kernel(
      gradient, std::vector<bool>(gradient.shape().size(), true), 0.0,
      [infinity_norm, norm_type](double& total, T value, std::int64_t) {
        const double magnitude = std::abs(static_cast<double>(value));
        if (infinity_norm)
          total = (magnitude > total || std::isnan(magnitude)) ? magnitude : total;
        else
          total += norm_type == 2.0 ? magnitude * magnitude : std::pow(magnitude, norm_type);
      },
      [infinity_norm](double& total, const double& other) {
        total = infinity_norm ? ((other > total || std::isnan(other)) ? other : total) : total + other;
      },
      [&partial](std::int64_t, double total) { partial = total; });
  return partial;
}

/// sum over every element w of every tensor of term(w), in T, tensor after tensor.
template <typename T, typename Term>
T sum_of_terms(const std::vector<Tensor<T>>& tensors, const Term& term) {
  T total = T(0);
  for (const auto& tensor : tensors) {
    T partial = T(0);
    reduce_kernel(
        tensor, std::vector<bool>(tensor.shape().size(), true), T(0),
        [&term](T& sum, T value, std::int64_t) { sum += term(value); }, [](T& sum, const T& other) { sum += other; },
        [&partial](std::int64_t, T sum) { partial = sum; });
    total += partial;
  }
  return total;
}

}  // namespace nabla::backend::cpu
