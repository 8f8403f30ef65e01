// nabla/nn/init.hpp - initial values for weights (Glorot/Xavier, He/Kaiming, PyTorch's Linear).
//
// Why the scale matters: a layer y = W x with fan_in inputs sums fan_in products, so the
// variance of y is about fan_in * Var(W) * Var(x). Choosing Var(W) ~ 1 / fan_in keeps the
// signal at the same size from layer to layer instead of exploding or vanishing.
//   Glorot (Xavier) 2010: Var(W) = gain^2 * 2 / (fan_in + fan_out)   (tanh/sigmoid nets;
//                         Keras' default for Dense)
//   He (Kaiming) 2015:    Var(W) = gain^2 / fan_in with gain^2 = 2 for ReLU, which zeroes
//                         half its inputs and so halves the variance
// A uniform distribution U(-b, b) has variance b^2 / 3, which gives the uniform bounds below.
//
// For a weight of shape [out, in, k...] (PyTorch's layout) fan_in = in * k..., fan_out =
// out * k...; for Dense's [out_features, in_features], fan_in = in_features.
//
// Every function draws from nabla's Philox stream: pass a Generator (continues its stream),
// a seed (a fresh generator), or nothing (the global generator set by nabla::manual_seed).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "nabla/core/philox.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/factories.hpp"

namespace nabla::nn {

/// How a layer initializes its weight (and bias). The names follow Keras; the comments give
/// the PyTorch equivalent.
enum class Init {
  pytorch_default,  // torch.nn.Linear: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  glorot_uniform,   // Keras Dense default: W ~ U(-sqrt(6/(fan_in+fan_out)), +...), b = 0
  glorot_normal,    // W ~ N(0, 2/(fan_in+fan_out)), b = 0 (Keras truncates the normal; we don't)
  he_uniform,       // kaiming_uniform_(nonlinearity='relu'): W ~ U(-sqrt(6/fan_in), +...), b = 0
  he_normal,        // kaiming_normal_(nonlinearity='relu'): W ~ N(0, 2/fan_in), b = 0
};

/// The name of an Init value, e.g. "glorot_uniform" (shown by Dense::describe()).
inline std::string init_name(Init init) {
  switch (init) {
    case Init::pytorch_default:
      return "pytorch_default";
    case Init::glorot_uniform:
      return "glorot_uniform";
    case Init::glorot_normal:
      return "glorot_normal";
    case Init::he_uniform:
      return "he_uniform";
    case Init::he_normal:
      return "he_normal";
  }
  return "unknown";
}

namespace init {

/// The number of inputs and outputs each weight element connects (PyTorch's
/// _calculate_fan_in_and_fan_out). Needs a weight of rank >= 2.
struct Fans {
  std::int64_t fan_in = 0;
  std::int64_t fan_out = 0;
};

inline Fans compute_fans(const Shape& shape) {
  if (shape.size() < 2)
    throw ValueError("init: fan_in and fan_out need a weight of rank >= 2 ([out, in, ...]), got shape " +
                     to_string(shape));
  std::int64_t receptive_field = 1;  // kernel size of a convolution; 1 for a matrix
  for (std::size_t d = 2; d < shape.size(); ++d) receptive_field *= shape[d];
  return {shape[1] * receptive_field, shape[0] * receptive_field};
}

/// The recommended gain for ReLU: sqrt(2) (PyTorch's calculate_gain('relu')).
inline double relu_gain() { return std::sqrt(2.0); }

/// The gain for LeakyReLU with this negative slope: sqrt(2 / (1 + slope^2)).
/// PyTorch's Linear default is kaiming_uniform_ with a = sqrt(5), i.e. this gain at slope sqrt(5).
inline double leaky_relu_gain(double negative_slope) {
  return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
}

namespace detail {
inline void check_positive_fan(const char* name, std::int64_t fan, const Shape& shape) {
  if (fan <= 0)
    throw ValueError(std::string("init::") + name + ": the weight of shape " + to_string(shape) +
                     " has no inputs or outputs (fan 0); its scale would be infinite");
}
}  // namespace detail

/// Zeros (biases of Keras-style layers).
template <FloatingElement T>
Tensor<T> zeros(const Shape& shape) {
  return nabla::zeros<T>(shape);
}

/// U(low, high).
template <FloatingElement T>
Tensor<T> uniform(const Shape& shape, double low, double high, Generator& generator = default_generator()) {
  return nabla::uniform<T>(shape, static_cast<T>(low), static_cast<T>(high), generator);
}

/// N(mean, stddev^2).
template <FloatingElement T>
Tensor<T> normal(const Shape& shape, double mean, double stddev, Generator& generator = default_generator()) {
  return nabla::normal<T>(shape, static_cast<T>(mean), static_cast<T>(stddev), generator);
}

/// Glorot/Xavier uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
template <FloatingElement T>
Tensor<T> glorot_uniform(const Shape& shape, Generator& generator = default_generator(), double gain = 1.0) {
  const Fans fans = compute_fans(shape);
  detail::check_positive_fan("glorot_uniform", fans.fan_in + fans.fan_out, shape);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fans.fan_in + fans.fan_out));
  return uniform<T>(shape, -bound, bound, generator);
}

/// Glorot/Xavier normal: N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out)).
template <FloatingElement T>
Tensor<T> glorot_normal(const Shape& shape, Generator& generator = default_generator(), double gain = 1.0) {
  const Fans fans = compute_fans(shape);
  detail::check_positive_fan("glorot_normal", fans.fan_in + fans.fan_out, shape);
  const double stddev = gain * std::sqrt(2.0 / static_cast<double>(fans.fan_in + fans.fan_out));
  return normal<T>(shape, 0.0, stddev, generator);
}

/// He/Kaiming uniform (fan_in mode): U(-b, b), b = gain * sqrt(3 / fan_in); with the
/// default ReLU gain sqrt(2) that is b = sqrt(6 / fan_in).
template <FloatingElement T>
Tensor<T> he_uniform(const Shape& shape, Generator& generator = default_generator(), double gain = relu_gain()) {
  const Fans fans = compute_fans(shape);
  detail::check_positive_fan("he_uniform", fans.fan_in, shape);
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fans.fan_in));
  return uniform<T>(shape, -bound, bound, generator);
}

/// He/Kaiming normal (fan_in mode): N(0, s^2), s = gain / sqrt(fan_in) = sqrt(2 / fan_in) for ReLU.
template <FloatingElement T>
Tensor<T> he_normal(const Shape& shape, Generator& generator = default_generator(), double gain = relu_gain()) {
  const Fans fans = compute_fans(shape);
  detail::check_positive_fan("he_normal", fans.fan_in, shape);
  const double stddev = gain / std::sqrt(static_cast<double>(fans.fan_in));
  return normal<T>(shape, 0.0, stddev, generator);
}

/// PyTorch's names for the same functions.
template <FloatingElement T>
Tensor<T> xavier_uniform(const Shape& shape, Generator& generator = default_generator(), double gain = 1.0) {
  return glorot_uniform<T>(shape, generator, gain);
}
template <FloatingElement T>
Tensor<T> xavier_normal(const Shape& shape, Generator& generator = default_generator(), double gain = 1.0) {
  return glorot_normal<T>(shape, generator, gain);
}
template <FloatingElement T>
Tensor<T> kaiming_uniform(const Shape& shape, Generator& generator = default_generator(), double gain = relu_gain()) {
  return he_uniform<T>(shape, generator, gain);
}
template <FloatingElement T>
Tensor<T> kaiming_normal(const Shape& shape, Generator& generator = default_generator(), double gain = relu_gain()) {
  return he_normal<T>(shape, generator, gain);
}

/// torch.nn.Linear's weight: kaiming_uniform_(a = sqrt(5)). The gain sqrt(2 / (1 + 5)) =
/// sqrt(1/3) times sqrt(3 / fan_in) leaves U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <FloatingElement T>
Tensor<T> pytorch_linear_weight(const Shape& shape, Generator& generator = default_generator()) {
  const Fans fans = compute_fans(shape);
  detail::check_positive_fan("pytorch_linear_weight", fans.fan_in, shape);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fans.fan_in));
  return uniform<T>(shape, -bound, bound, generator);
}

/// torch.nn.Linear's bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in.
template <FloatingElement T>
Tensor<T> pytorch_linear_bias(const Shape& shape, std::int64_t fan_in, Generator& generator = default_generator()) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform<T>(shape, -bound, bound, generator);
}

/// A weight drawn by the rule `init` (see Init).
template <FloatingElement T>
Tensor<T> weight(Init init, const Shape& shape, Generator& generator = default_generator()) {
  switch (init) {
    case Init::pytorch_default:
      return pytorch_linear_weight<T>(shape, generator);
    case Init::glorot_uniform:
      return glorot_uniform<T>(shape, generator);
    case Init::glorot_normal:
      return glorot_normal<T>(shape, generator);
    case Init::he_uniform:
      return he_uniform<T>(shape, generator);
    case Init::he_normal:
      return he_normal<T>(shape, generator);
  }
  throw ValueError("init::weight: unknown Init value");
}

/// The bias that goes with a weight drawn by `init`: PyTorch's uniform for pytorch_default,
/// zeros otherwise (Keras' default bias_initializer).
template <FloatingElement T>
Tensor<T> bias(Init init, const Shape& shape, std::int64_t fan_in, Generator& generator = default_generator()) {
  if (init == Init::pytorch_default) return pytorch_linear_bias<T>(shape, fan_in, generator);
  return zeros<T>(shape);
}

}  // namespace init
}  // namespace nabla::nn
