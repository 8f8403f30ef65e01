// nabla/loss/binary.hpp - losses for two classes: binary cross-entropy on probabilities,
// binary cross-entropy on logits, and the hinge loss on +-1 labels.
//
// Element by element, with prediction x and target y:
//   BCE             -(y log x + (1 - y) log(1 - x)),  each log clamped at >= -100
//                   d/dx = (x - y) / max(x (1 - x), 1e-12)
//   BCE with logits max(x, 0) - x y + log(1 + e^-|x|)   (= BCE of sigmoid(x), without overflow)
//                   d/dx = sigmoid(x) - y,  d/dy = -x
//   hinge           max(0, 1 - y x) for labels y in {-1, +1}
//                   d/dx = -y where 1 - y x > 0, else 0
#pragma once

#include <cmath>
#include <string>

#include "nabla/backend/math.hpp"
#include "nabla/loss/reduction.hpp"

namespace nabla::loss {

namespace detail {
// PyTorch clamps each log at -100 so that a probability of exactly 0 or 1 gives a large but
// finite loss (log(0) = -inf would make the whole mean inf), and bounds the derivative's
// denominator x (1 - x) below by 1e-12 for the same reason.
inline constexpr double kLogClamp = -100.0;
inline constexpr double kBceEpsilon = 1e-12;

using backend::clamped_log;            // log(x) clamped at kLogClamp (backend/functors.hpp)
using backend::clamped_log_one_minus;  // log(1 - x) clamped the same way
}  // namespace detail

/// Binary cross-entropy of probabilities (e.g. a Sigmoid output) in [0, 1] against targets
/// in [0, 1]. A prediction outside [0, 1] (or NaN) throws ValueError naming it.
template <FloatingElement T>
Tensor<T> binary_cross_entropy(const Tensor<T>& prediction, const Tensor<T>& target,
                               Reduction reduction = Reduction::mean) {
  detail::check_same_shape("binary_cross_entropy", prediction, target);
  detail::check_values("binary_cross_entropy: prediction", "is not a probability in [0, 1]", prediction,
                       [](T x) { return x >= T(0) && x <= T(1); });
  // d/dx = (x - y) / (x (1 - x)), d/dy = log(1 - x) - log(x)   (denominator and logs clamped)
  return detail::elementwise_loss<T>("binary_cross_entropy", prediction, target, reduction,
                                     backend::BinaryCrossEntropyError{});
}

/// Binary cross-entropy of logits (raw scores): the same as binary_cross_entropy(sigmoid(x), y)
/// but exact for any x (no log of 0, no overflow of e^x). Prefer it to Sigmoid + BCE.
template <FloatingElement T>
Tensor<T> binary_cross_entropy_with_logits(const Tensor<T>& logits, const Tensor<T>& target,
                                           Reduction reduction = Reduction::mean) {
  // loss = max(x, 0) - x y + log(1 + e^-|x|);  d/dx = sigmoid(x) - y, d/dy = -x
  return detail::elementwise_loss<T>("binary_cross_entropy_with_logits", logits, target, reduction,
                                     backend::BinaryCrossEntropyWithLogitsError{});
}

/// Shorter name of binary_cross_entropy_with_logits.
template <FloatingElement T>
Tensor<T> bce_with_logits(const Tensor<T>& logits, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  return binary_cross_entropy_with_logits(logits, target, reduction);
}

/// Hinge loss (the linear SVM's): reduce(max(0, 1 - y x)) for labels y in {-1, +1} and raw
/// scores x. Any other label throws ValueError (map 0/1 labels with 2 y - 1).
template <FloatingElement T>
Tensor<T> hinge(const Tensor<T>& prediction, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  detail::check_same_shape("hinge", prediction, target);
  detail::check_values("hinge: label", "is not -1 or +1 (map 0/1 labels to -1/+1 with 2 y - 1)", target,
                       [](T y) { return y == T(1) || y == T(-1); });
  // d max(0, 1 - y x)/dx = -y where the margin 1 - y x is positive, else 0 (and -x for y)
  return detail::elementwise_loss<T>("hinge", prediction, target, reduction, backend::HingeError{});
}

// ---- functor objects ---------------------------------------------------------------------

/// Binary cross-entropy on probabilities as an object: `nb::loss::BinaryCrossEntropy bce;`.
struct BinaryCrossEntropy {
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& prediction, const Tensor<T>& target) const {
    return binary_cross_entropy(prediction, target, reduction);
  }
  std::string name() const { return "binary_cross_entropy"; }
};
using BCE = BinaryCrossEntropy;

/// Binary cross-entropy on logits as an object.
struct BinaryCrossEntropyWithLogits {
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& target) const {
    return binary_cross_entropy_with_logits(logits, target, reduction);
  }
  std::string name() const { return "binary_cross_entropy_with_logits"; }
};
using BCEWithLogits = BinaryCrossEntropyWithLogits;

/// Hinge loss as an object.
struct Hinge {
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& prediction, const Tensor<T>& target) const {
    return hinge(prediction, target, reduction);
  }
  std::string name() const { return "hinge"; }
};

}  // namespace nabla::loss
