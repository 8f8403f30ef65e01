// nabla/autograd/gradcheck.hpp - checking backward() against finite differences.
//
// For f: inputs -> output, pick a fixed random weighting r of the output and compare
//   analytic:  d<r, f(x)>/dx_i  from one backward(r)
//   numeric:   (<r, f(x + eps e_i)> - <r, f(x - eps e_i)>) / (2 eps)   (central difference)
// for every element i of every input. A random r checks the whole Jacobian, not one row.
// Use double precision: with eps = 1e-6 the central difference is accurate to ~1e-9.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/autograd/engine.hpp"
#include "nabla/backend/cpu/elementwise.hpp"
#include "nabla/core/philox.hpp"

namespace nabla {

struct GradcheckOptions {
  double eps = 1e-6;  // finite-difference step
  double absolute_tolerance = 1e-5;
  double relative_tolerance = 1e-4;
  std::uint64_t seed = 1234;  // for the output weighting r
};

/// The outcome of gradcheck: converts to bool; `report` says which element failed and by how much.
struct GradcheckResult {
  bool passed = true;
  double max_error = 0;
  std::string report;
  explicit operator bool() const { return passed; }
};

/// Compares analytic and numeric gradients of `function` at `inputs` (each input is cloned
/// and marked requires_grad; the originals are not modified).
template <FloatingElement T>
GradcheckResult gradcheck(const std::function<Tensor<T>(const std::vector<Tensor<T>>&)>& function,
                          const std::vector<Tensor<T>>& inputs, GradcheckOptions options = {}) {
  GradcheckResult result;
  std::vector<Tensor<T>> leaves;
  for (const auto& input : inputs) {
    Tensor<T> leaf(input.shape());
    backend::cpu::map_kernel(
        leaf, [](T value) { return value; }, input);
    leaf.requires_grad_(true);
    leaves.push_back(leaf);
  }

  Tensor<T> output = function(leaves);
  Tensor<T> weights(output.shape());
  for (std::int64_t i = 0; i < weights.numel(); ++i)
    weights.data()[i] = philox_uniform<T>(options.seed, 0, static_cast<std::uint64_t>(i)) * T(2) - T(1);
  auto weighted_sum = [&weights](const Tensor<T>& value) {
    const std::vector<T> values = value.to_vector();
    const T* w = weights.data();
    double total = 0;
    for (std::size_t i = 0; i < values.size(); ++i) total += static_cast<double>(values[i]) * static_cast<double>(w[i]);
    return total;
  };
  if (!output.requires_grad()) {
    result.passed = false;
    result.report = "gradcheck: the function's output does not depend on any input (no grad_fn)";
    return result;
  }
  output.backward(weights);

  NoGradGuard no_grad;
  std::ostringstream report;
  for (std::size_t input_index = 0; input_index < leaves.size(); ++input_index) {
    Tensor<T>& leaf = leaves[input_index];
    const Tensor<T> analytic = leaf.grad();
    T* values = leaf.data();
    for (std::int64_t i = 0; i < leaf.numel(); ++i) {
      const T original = values[i];
      values[i] = original + static_cast<T>(options.eps);
      const double plus = weighted_sum(function(leaves));
      values[i] = original - static_cast<T>(options.eps);
      const double minus = weighted_sum(function(leaves));
      values[i] = original;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double computed = analytic.defined() ? static_cast<double>(analytic.data()[i]) : 0.0;
      const double error = std::abs(computed - numeric);
      result.max_error = std::max(result.max_error, error);
      if (!(error <= options.absolute_tolerance + options.relative_tolerance * std::abs(numeric))) {
        if (result.passed)
          report << "gradcheck: input " << input_index << " (shape " << to_string(leaf.shape()) << "), element " << i
                 << ": analytic " << computed << " vs numeric " << numeric << " (error " << error << ")";
        result.passed = false;
      }
    }
  }
  result.report =
      result.passed ? "gradcheck passed (max error " + std::to_string(result.max_error) + ")" : report.str();
  return result;
}

}  // namespace nabla
