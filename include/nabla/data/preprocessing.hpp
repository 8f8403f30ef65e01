// nabla/data/preprocessing.hpp - feature scaling (StandardScaler, MinMaxScaler) and one_hot.
//
// The scalers follow scikit-learn: fit() learns per-column statistics from the training
// rows [samples, features], transform() applies them to any rows with the same columns,
// inverse_transform() undoes it. Fit on the training split only, so that no information
// from the validation or test rows leaks into training.
//
//   nb::data::StandardScaler<float> scaler;
//   auto x_train_scaled = scaler.fit_transform(x_train);    // columns: mean 0, std 1
//   auto x_test_scaled = scaler.transform(x_test);          // the training mean and std
//
// Like scikit-learn, NaN entries are ignored by fit() and stay NaN in transform(), and a
// constant column gets scale 1 (it is only shifted), so nothing divides by zero.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "nabla/backend/checks.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::data {

namespace detail {

/// Checks that `x` is a 2-D [samples, features] tensor on the CPU.
template <typename T>
void check_table(const std::string& op, const Tensor<T>& x) {
  if (!x.defined()) throw ValueError(op + ": the tensor is undefined");
  backend::require_cpu(x.device(),
                       [&] { return op + ": tensor is on " + x.device().str() + "; scalers work on CPU tensors"; });
  if (x.dim() != 2)
    throw ShapeError(op + ": expected a 2-D tensor [samples, features], got shape " + to_string(x.shape()) +
                     (x.dim() == 1 ? " (reshape a single feature with .reshape({-1, 1}))" : ""));
}

/// Checks that a fitted scaler and `x` agree on the number of columns.
template <typename T>
void check_columns(const std::string& op, const Tensor<T>& x, std::int64_t fitted_features) {
  check_table(op, x);
  if (x.size(1) != fitted_features)
    throw ShapeError(op + ": the scaler was fitted on " + std::to_string(fitted_features) +
                     " features, but the tensor of shape " + to_string(x.shape()) + " has " +
                     std::to_string(x.size(1)));
}

/// The values of column `column` of a row-major [rows, columns] buffer, NaNs left out.
template <typename T>
std::vector<double> finite_column(const std::vector<T>& values, std::int64_t rows, std::int64_t columns,
                                  std::int64_t column) {
  std::vector<double> result;
  result.reserve(static_cast<std::size_t>(rows));
  for (std::int64_t row = 0; row < rows; ++row) {
    const double value = static_cast<double>(values[static_cast<std::size_t>(row * columns + column)]);
    if (!std::isnan(value)) result.push_back(value);
  }
  return result;
}

}  // namespace detail

/// Standardizes each column: (x - mean) / scale, scale = the column's standard deviation
/// (population, ddof = 0, like scikit-learn's StandardScaler).
template <FloatingElement T>
class StandardScaler {
 public:
  /// Learns each column's mean and standard deviation from `x` [samples, features].
  StandardScaler& fit(const Tensor<T>& x) {
    const std::string op = "StandardScaler::fit";
    detail::check_table(op, x);
    if (x.size(0) == 0) throw ValueError(op + ": cannot fit on 0 samples (shape " + to_string(x.shape()) + ")");
    const std::int64_t rows = x.size(0), columns = x.size(1);
    const std::vector<T> values = x.to_vector();
    std::vector<T> means(static_cast<std::size_t>(columns)), variances(means.size()), scales(means.size());
    for (std::int64_t column = 0; column < columns; ++column) {
      const std::vector<double> column_values = detail::finite_column(values, rows, columns, column);
      const auto count = static_cast<double>(column_values.size());
      // Two passes (mean, then squared deviations) in double: accurate even for large offsets.
      double mean = 0;
      for (double value : column_values) mean += value;
      mean /= count;
      double variance = 0;
      for (double value : column_values) variance += (value - mean) * (value - mean);
      variance /= count;
      // scikit-learn's test for a constant column: a variance within rounding error of 0
      // (summing n equal values and dividing by n need not give that value back exactly).
      const double epsilon = std::numeric_limits<double>::epsilon();
      const double rounding_bound = count * epsilon * variance + (count * mean * epsilon) * (count * mean * epsilon);
      const bool constant = variance <= rounding_bound;
      const auto c = static_cast<std::size_t>(column);
      means[c] = static_cast<T>(mean);
      variances[c] = static_cast<T>(variance);
      scales[c] = constant ? T(1) : static_cast<T>(std::sqrt(variance));
    }
    mean_ = from_vector<T>(means);
    variance_ = from_vector<T>(variances);
    scale_ = from_vector<T>(scales);
    return *this;
  }

  /// (x - mean) / scale, column by column.
  Tensor<T> transform(const Tensor<T>& x) const {
    check_fitted("StandardScaler::transform");
    detail::check_columns("StandardScaler::transform", x, mean_.size(0));
    return (x - mean_) / scale_;
  }

  /// x * scale + mean: back to the original units (e.g. a model's scaled predictions).
  Tensor<T> inverse_transform(const Tensor<T>& x) const {
    check_fitted("StandardScaler::inverse_transform");
    detail::check_columns("StandardScaler::inverse_transform", x, mean_.size(0));
    return x * scale_ + mean_;
  }

  Tensor<T> fit_transform(const Tensor<T>& x) { return fit(x).transform(x); }

  bool is_fitted() const { return mean_.defined(); }
  /// Per-column statistics [features] (ValueError before fit).
  const Tensor<T>& mean() const {
    check_fitted("StandardScaler::mean");
    return mean_;
  }
  const Tensor<T>& variance() const {
    check_fitted("StandardScaler::variance");
    return variance_;
  }
  /// The divisor: the standard deviation, or 1 for a constant column.
  const Tensor<T>& scale() const {
    check_fitted("StandardScaler::scale");
    return scale_;
  }

 private:
  void check_fitted(const std::string& op) const {
    if (!is_fitted()) throw ValueError(op + ": the scaler is not fitted yet; call fit(training_features) first");
  }

  Tensor<T> mean_, variance_, scale_;
};

struct MinMaxScalerOptions {
  /// The range each column is mapped to: its training minimum goes to `min`, its maximum to `max`.
  double min = 0.0;
  double max = 1.0;
};

/// Maps each column linearly so that its training range becomes [options.min, options.max]
/// (scikit-learn's MinMaxScaler): x * scale + offset with
///   scale = (max - min) / (data_max - data_min),  offset = min - data_min * scale.
/// Values outside the training range land outside [min, max] (no clipping).
template <FloatingElement T>
class MinMaxScaler {
 public:
  explicit MinMaxScaler(MinMaxScalerOptions options = {}) : options_(options) {
    if (!(options.min < options.max))
      throw ValueError("MinMaxScaler: the feature range minimum (" + std::to_string(options.min) +
                       ") must be smaller than its maximum (" + std::to_string(options.max) + ")");
  }

  MinMaxScaler& fit(const Tensor<T>& x) {
    const std::string op = "MinMaxScaler::fit";
    detail::check_table(op, x);
    if (x.size(0) == 0) throw ValueError(op + ": cannot fit on 0 samples (shape " + to_string(x.shape()) + ")");
    const std::int64_t rows = x.size(0), columns = x.size(1);
    const std::vector<T> values = x.to_vector();
    std::vector<T> minimums(static_cast<std::size_t>(columns)), maximums(minimums.size()), scales(minimums.size()),
        offsets(minimums.size());
    for (std::int64_t column = 0; column < columns; ++column) {
      const std::vector<double> column_values = detail::finite_column(values, rows, columns, column);
      double minimum = std::numeric_limits<double>::quiet_NaN(), maximum = minimum;
      if (!column_values.empty()) {
        const auto [low, high] = std::minmax_element(column_values.begin(), column_values.end());
        minimum = *low;
        maximum = *high;
      }
      // A constant column would divide by zero: like scikit-learn, use a range of 1.
      double range = maximum - minimum;
      if (range < 10 * std::numeric_limits<T>::epsilon()) range = 1.0;
      const double scale = (options_.max - options_.min) / range;
      const auto c = static_cast<std::size_t>(column);
      minimums[c] = static_cast<T>(minimum);
      maximums[c] = static_cast<T>(maximum);
      scales[c] = static_cast<T>(scale);
      offsets[c] = static_cast<T>(options_.min - minimum * scale);
    }
    data_min_ = from_vector<T>(minimums);
    data_max_ = from_vector<T>(maximums);
    scale_ = from_vector<T>(scales);
    offset_ = from_vector<T>(offsets);
    return *this;
  }

  Tensor<T> transform(const Tensor<T>& x) const {
    check_fitted("MinMaxScaler::transform");
    detail::check_columns("MinMaxScaler::transform", x, scale_.size(0));
    return x * scale_ + offset_;
  }

  Tensor<T> inverse_transform(const Tensor<T>& x) const {
    check_fitted("MinMaxScaler::inverse_transform");
    detail::check_columns("MinMaxScaler::inverse_transform", x, scale_.size(0));
    return (x - offset_) / scale_;
  }

  Tensor<T> fit_transform(const Tensor<T>& x) { return fit(x).transform(x); }

  bool is_fitted() const { return scale_.defined(); }
  const Tensor<T>& data_min() const {
    check_fitted("MinMaxScaler::data_min");
    return data_min_;
  }
  const Tensor<T>& data_max() const {
    check_fitted("MinMaxScaler::data_max");
    return data_max_;
  }
  const Tensor<T>& scale() const {
    check_fitted("MinMaxScaler::scale");
    return scale_;
  }
  const Tensor<T>& offset() const {
    check_fitted("MinMaxScaler::offset");
    return offset_;
  }

 private:
  void check_fitted(const std::string& op) const {
    if (!is_fitted()) throw ValueError(op + ": the scaler is not fitted yet; call fit(training_features) first");
  }

  MinMaxScalerOptions options_;
  Tensor<T> data_min_, data_max_, scale_, offset_;
};

/// One-hot rows: result[..., k] = 1 where k == indices[...], else 0. The result has the
/// shape of `indices` plus a last dimension of num_classes (-1: the largest index + 1, like
/// torch.nn.functional.one_hot). Every index must lie in [0, num_classes).
template <TensorElement T = float>
Tensor<T> one_hot(const IndexTensor& indices, std::int64_t num_classes = -1) {
  const std::string op = "one_hot";
  if (!indices.defined()) throw ValueError(op + ": the indices tensor is undefined");
  const std::vector<std::int64_t> values = indices.to_vector();
  if (num_classes == -1) {
    if (values.empty())
      throw ValueError(op + ": cannot infer num_classes from an empty indices tensor; pass num_classes");
    const std::int64_t largest = *std::max_element(values.begin(), values.end());
    if (largest < 0 || largest >= std::numeric_limits<std::int64_t>::max())
      throw ValueError(op + ": cannot infer num_classes from the largest index " + std::to_string(largest));
    num_classes = largest + 1;
  }
  if (num_classes < 1)
    throw ValueError(op + ": num_classes must be >= 1 (or -1 to infer it), got " + std::to_string(num_classes));
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i] < 0 || values[i] >= num_classes)
      throw ValueError(op + ": index " + std::to_string(values[i]) + " at position " + std::to_string(i) +
                       " is outside [0, " + std::to_string(num_classes) + ")");
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  Tensor<T> result = zeros<T>(shape);
  T* data = result.data();
  for (std::size_t i = 0; i < values.size(); ++i) data[static_cast<std::int64_t>(i) * num_classes + values[i]] = T(1);
  return result;
}

/// one_hot of a list of class ids: a [n, num_classes] tensor.
template <TensorElement T = float>
Tensor<T> one_hot(const std::vector<std::int64_t>& indices, std::int64_t num_classes = -1) {
  return one_hot<T>(from_vector<std::int64_t>(indices), num_classes);
}

/// one_hot({2, 0, 1}, 3): the ids written in place.
template <TensorElement T = float>
Tensor<T> one_hot(std::initializer_list<std::int64_t> indices, std::int64_t num_classes = -1) {
  return one_hot<T>(std::vector<std::int64_t>(indices), num_classes);
}

}  // namespace nabla::data
