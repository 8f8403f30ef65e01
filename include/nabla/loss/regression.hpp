// nabla/loss/regression.hpp - losses for real-valued targets: MSE, L1 (MAE) and Huber.
//
// With d = prediction - target, element by element:
//   MSE    d^2                                         d/dprediction = 2d
//   L1     |d|                                         d/dprediction = sign(d)
//   Huber  d^2 / 2                 if |d| <= delta     d/dprediction = d
//          delta (|d| - delta / 2) otherwise                           delta sign(d)
// and d/dtarget = -d/dprediction for all three. Then reduced by mean (default), sum or none.
// Each is one graph node (loss/reduction.hpp: elementwise_loss).
#pragma once

#include <cmath>
#include <string>

#include "nabla/backend/functors.hpp"
#include "nabla/backend/math.hpp"
#include "nabla/loss/reduction.hpp"

namespace nabla::loss {

/// Mean squared error: reduce((prediction - target)^2).
template <FloatingElement T>
Tensor<T> mse(const Tensor<T>& prediction, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  // d(x - y)^2/dx = 2 (x - y), d/dy = -2 (x - y)
  return detail::elementwise_loss<T>("mse", prediction, target, reduction, backend::SquaredError{});
}

/// Mean absolute error (L1 loss): reduce(|prediction - target|). The derivative at d = 0 is
/// taken as 0, like PyTorch.
template <FloatingElement T>
Tensor<T> l1(const Tensor<T>& prediction, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  // d|x - y|/dx = sign(x - y), d/dy = -sign(x - y)
  return detail::elementwise_loss<T>("l1", prediction, target, reduction, backend::AbsoluteError{});
}

/// Same as l1 (Keras calls it mean absolute error).
template <FloatingElement T>
Tensor<T> mae(const Tensor<T>& prediction, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  return l1(prediction, target, reduction);
}

/// Huber loss: quadratic for errors up to `delta`, linear beyond (robust to outliers).
/// Equals PyTorch's HuberLoss(delta); with delta = 1 it is also SmoothL1Loss.
template <FloatingElement T>
Tensor<T> huber(const Tensor<T>& prediction, const Tensor<T>& target, Reduction reduction = Reduction::mean,
                double delta = 1.0) {
  if (!(delta > 0) || !std::isfinite(delta))
    throw ValueError("huber: delta must be a finite number > 0, got " + std::to_string(delta));
  const T threshold = static_cast<T>(delta);
  // |d| <= delta: d^2 / 2, derivative d;  |d| > delta: delta (|d| - delta / 2), derivative delta
  // sign(d)   (backend::HuberError)
  return detail::elementwise_loss<T>("huber", prediction, target, reduction, backend::HuberError<T>{threshold});
}

// ---- the same losses as functor objects (options first, reduction last) -------------------

/// Mean squared error as an object: `nb::loss::MSE mse; mse(prediction, target)`.
struct MeanSquaredError {
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& prediction, const Tensor<T>& target) const {
    return mse(prediction, target, reduction);
  }
  std::string name() const { return "mse"; }
};
using MSE = MeanSquaredError;

/// Mean absolute error (L1) as an object.
struct MeanAbsoluteError {
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& prediction, const Tensor<T>& target) const {
    return l1(prediction, target, reduction);
  }
  std::string name() const { return "l1"; }
};
using L1 = MeanAbsoluteError;
using MAE = MeanAbsoluteError;

/// Huber loss as an object: `nb::loss::Huber{.delta = 0.5}`.
struct Huber {
  double delta = 1.0;
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& prediction, const Tensor<T>& target) const {
    return huber(prediction, target, reduction, delta);
  }
  std::string name() const { return "huber"; }
};

}  // namespace nabla::loss
