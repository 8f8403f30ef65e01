// nabla/metrics/regression.hpp - metrics of real-valued predictions: MAE and RMSE.
//
// Both compare prediction and target element by element (same shape, up to a trailing 1) and
// average over every element of every batch since the last reset():
//   MAE  = sum |prediction - target| / count
//   RMSE = sqrt(sum (prediction - target)^2 / count)
// RMSE is in the target's own unit, like MAE, but punishes large errors more.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/metrics/metric.hpp"

namespace nabla::metrics {

/// Mean absolute error.
class MAE : public Metric {
 public:
  double result() const override { return count_ > 0 ? total_ / static_cast<double>(count_) : 0.0; }
  void reset() override {
    total_ = 0;
    count_ = 0;
  }
  std::string name() const override { return "mae"; }
  bool higher_is_better() const override { return false; }
  std::vector<double> totals() const override { return {total_, static_cast<double>(count_)}; }
  void set_totals(const std::vector<double>& totals) override {
    check_totals(totals, 2);
    total_ = totals[0];
    count_ = static_cast<std::int64_t>(totals[1]);
  }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    detail::check_elementwise_shapes(name(), prediction, target);
    for (std::size_t i = 0; i < prediction.data.size(); ++i) total_ += std::abs(prediction.data[i] - target.data[i]);
    count_ += static_cast<std::int64_t>(prediction.data.size());
  }

 private:
  double total_ = 0;
  std::int64_t count_ = 0;
};
using MeanAbsoluteError = MAE;

/// Root mean squared error.
class RMSE : public Metric {
 public:
  double result() const override { return count_ > 0 ? std::sqrt(total_ / static_cast<double>(count_)) : 0.0; }
  void reset() override {
    total_ = 0;
    count_ = 0;
  }
  std::string name() const override { return "rmse"; }
  bool higher_is_better() const override { return false; }
  std::vector<double> totals() const override { return {total_, static_cast<double>(count_)}; }
  void set_totals(const std::vector<double>& totals) override {
    check_totals(totals, 2);
    total_ = totals[0];
    count_ = static_cast<std::int64_t>(totals[1]);
  }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    detail::check_elementwise_shapes(name(), prediction, target);
    for (std::size_t i = 0; i < prediction.data.size(); ++i) {
      const double error = prediction.data[i] - target.data[i];
      total_ += error * error;
    }
    count_ += static_cast<std::int64_t>(prediction.data.size());
  }

 private:
  double total_ = 0;  // the sum of squared errors
  std::int64_t count_ = 0;
};
using RootMeanSquaredError = RMSE;

}  // namespace nabla::metrics
