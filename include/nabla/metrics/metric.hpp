// nabla/metrics/metric.hpp - what every metric shares: a stateful accumulator.
//
// A metric sees a training run batch by batch: update(prediction, target) adds one batch,
// result() gives the value over everything seen since the last reset(), reset() starts over
// (fit() resets at the start of every epoch and before every validation pass). This is
// Keras's metric protocol (update_state / result / reset_state), and it is why a metric is
// an object with state rather than a function: accuracy over an epoch is the number of hits
// over ALL batches divided by ALL samples, not the mean of per-batch accuracies.
//
// Metrics only read numbers, never differentiate: update() copies the batch to the host as
// doubles (Values) and hands that to accumulate(), which every metric implements once for
// float and double models alike.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/shape.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::metrics {

/// The values of one tensor as doubles in row-major order, with its shape.
struct Values {
  std::vector<double> data;
  Shape shape;
};

namespace detail {

template <TensorElement T>
Values host_values(const std::string& metric, const std::string& role, const Tensor<T>& tensor) {
  if (!tensor.defined()) throw ValueError(metric + ": the " + role + " is an undefined tensor");
  // Metrics read values on the host: a tensor on a GPU is copied over (one copy per update).
  const std::vector<T> values = tensor.to_host_vector();
  return Values{std::vector<double>(values.begin(), values.end()), tensor.shape()};
}

/// The shape without trailing dimensions of size 1: [N,1] and [N] are the same list of values.
inline Shape without_trailing_ones(Shape shape) {
  while (!shape.empty() && shape.back() == 1) shape.pop_back();
  return shape;
}

/// For metrics that compare prediction and target element by element (binary accuracy, MAE):
/// the shapes must be equal, or equal once a trailing dimension of size 1 is dropped
/// ([N,1] against [N]). Anything else is refused rather than silently broadcast.
inline void check_elementwise_shapes(const std::string& metric, const Values& prediction, const Values& target) {
  if (prediction.shape == target.shape) return;
  if (without_trailing_ones(prediction.shape) == without_trailing_ones(target.shape)) return;
  throw ShapeError(metric + ": prediction of shape " + to_string(prediction.shape) + " and target of shape " +
                   to_string(target.shape) + " do not match (they must have the same shape, up to a trailing 1)");
}

}  // namespace detail

/// The base class of every metric. Subclasses implement accumulate(), result(), reset() and name().
class Metric {
 public:
  virtual ~Metric() = default;

  /// Adds one batch: `prediction` is the model's output, `target` what it should have been.
  template <FloatingElement T>
  void update(const Tensor<T>& prediction, const Tensor<T>& target) {
    accumulate(detail::host_values(name(), "prediction", prediction), detail::host_values(name(), "target", target));
  }
  /// The same with class ids in an IndexTensor.
  template <FloatingElement T>
  void update(const Tensor<T>& prediction, const IndexTensor& target) {
    accumulate(detail::host_values(name(), "prediction", prediction), detail::host_values(name(), "target", target));
  }

  /// The value over every batch since the last reset() (0 when nothing was seen).
  virtual double result() const = 0;
  /// Forgets every batch seen so far.
  virtual void reset() = 0;
  /// The key of the metric in logs and History, e.g. "accuracy" (and "val_accuracy").
  virtual std::string name() const = 0;
  /// Whether a larger value is better (accuracy) or a smaller one (MAE, perplexity); lets
  /// EarlyStopping and ModelCheckpoint pick their direction in mode "automatic".
  virtual bool higher_is_better() const = 0;

  /// The sums result() is computed from (hits and predictions for accuracy; TP, FP, FN, TN for
  /// precision), so that the totals of two metrics added element by element are the totals over
  /// both their batches: a data-parallel evaluation adds them over the ranks and computes one
  /// result from the sums, not a mean of the ranks' results. Empty for a metric that does not
  /// provide them (its ranks' results are then averaged, weighted by samples).
  virtual std::vector<double> totals() const { return {}; }
  /// Makes the state the one `totals` describe (as totals() returns them; counts are exact up to 2^53).
  virtual void set_totals(const std::vector<double>& totals) {
    throw ValueError(name() + ": this metric has no totals() to set (got " + std::to_string(totals.size()) +
                     " values)");
  }

 protected:
  /// For set_totals(): `totals` must have `expected` values.
  void check_totals(const std::vector<double>& totals, std::size_t expected) const {
    if (totals.size() != expected)
      throw ValueError(name() + "::set_totals: expected " + std::to_string(expected) + " values, got " +
                       std::to_string(totals.size()));
  }

  Metric() = default;
  Metric(const Metric&) = default;
  Metric& operator=(const Metric&) = default;

  /// Adds one batch given as host values (the shapes are checked by each metric).
  virtual void accumulate(const Values& prediction, const Values& target) = 0;
};

/// Holds any metric, by value or shared: what compile() takes, so that a user can write
/// `{nb::metrics::Accuracy{}, nb::metrics::Precision{}}` or pass a std::shared_ptr to a metric
/// they want to read themselves after fit().
class AnyMetric {
 public:
  template <typename MetricType>
  requires std::derived_from<std::remove_cvref_t<MetricType>, Metric> AnyMetric(
      MetricType&& metric)  // NOLINT(google-explicit-constructor): implicit on purpose
      : metric_(std::make_shared<std::remove_cvref_t<MetricType>>(std::forward<MetricType>(metric))) {}

  template <typename MetricType>
  requires std::derived_from<MetricType, Metric> AnyMetric(
      std::shared_ptr<MetricType> metric)  // NOLINT(google-explicit-constructor)
      : metric_(std::move(metric)) {
    if (!metric_) throw ValueError("AnyMetric: got a null metric pointer");
  }

  Metric& operator*() const { return *metric_; }
  Metric* operator->() const { return metric_.get(); }
  const std::shared_ptr<Metric>& shared() const { return metric_; }

 private:
  std::shared_ptr<Metric> metric_;
};

}  // namespace nabla::metrics
