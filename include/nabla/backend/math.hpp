// nabla/backend/math.hpp - per-element math shared by the CPU loops and the CUDA kernels.
//
// Each function here computes one element: a forward value or a derivative. They are
// NABLA_HOST_DEVICE, so nvcc compiles the very same lines into kernels/*.cu and g++ into
// the loops of ops/, and the CPU tests check them directly. Hence the restrictions:
// plain scalar math only (std::exp, std::log, ... exist on both sides), no containers, no
// std::max / std::numeric_limits (constexpr host functions need extra nvcc flags).
//
// Derivatives that are cheaper from the op's output than from its input take the output
// ("..._from_output"), so backward never recomputes an exp or a tanh.
#pragma once

#include <cmath>

#include "nabla/core/macros.hpp"

namespace nabla::backend {

/// NaN is the only value that is not equal to itself.
template <typename T>
NABLA_HOST_DEVICE inline bool is_nan(T x) {
  return x != x;
}

/// -1, 0 or +1 by the sign of x (0 for x = 0 and for NaN).
template <typename T>
NABLA_HOST_DEVICE inline T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

// ---- sigmoid and tanh -----------------------------------------------------------------------

/// 1 / (1 + e^-x), computed so that the exponential never overflows: for x >= 0 it uses
/// e^-x <= 1, for x < 0 the equal form e^x / (1 + e^x) with e^x < 1. No intermediate is
/// ever inf, so the result stays right (exactly 1 or 0 far out) even where inf arithmetic
/// is not IEEE (fast-math exp on a GPU), and the e^x / (1 + e^x) form never hits inf/inf.
template <typename T>
NABLA_HOST_DEVICE inline T sigmoid(T x) {
  if (x >= T(0)) {
    const T decay = std::exp(-x);
    return T(1) / (T(1) + decay);
  }
  const T growth = std::exp(x);
  return growth / (T(1) + growth);
}

/// d sigmoid(x)/dx = s (1 - s), where s = sigmoid(x) is the forward output.
template <typename T>
NABLA_HOST_DEVICE inline T sigmoid_derivative_from_output(T s) {
  return s * (T(1) - s);
}

/// d tanh(x)/dx = 1 - t^2, where t = tanh(x) is the forward output.
template <typename T>
NABLA_HOST_DEVICE inline T tanh_derivative_from_output(T t) {
  return T(1) - t * t;
}

// ---- rectifiers -----------------------------------------------------------------------------

/// max(x, 0); a NaN input stays NaN (so anomaly detection still sees it).
template <typename T>
NABLA_HOST_DEVICE inline T relu(T x) {
  return x < T(0) ? T(0) : x;
}

/// 1 for x > 0, else 0. At the kink x = 0 we pick 0, as PyTorch does.
template <typename T>
NABLA_HOST_DEVICE inline T relu_derivative(T x) {
  return x > T(0) ? T(1) : T(0);
}

/// x for x > 0, slope * x otherwise: a small gradient survives for negative inputs.
template <typename T>
NABLA_HOST_DEVICE inline T leaky_relu(T x, T slope) {
  return x > T(0) ? x : x * slope;
}

/// 1 for x > 0, else slope (also at x = 0, as PyTorch does).
template <typename T>
NABLA_HOST_DEVICE inline T leaky_relu_derivative(T x, T slope) {
  return x > T(0) ? T(1) : slope;
}

/// The exact GELU x * Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt 2)).
template <typename T>
NABLA_HOST_DEVICE inline T gelu(T x) {
  const T inverse_sqrt_2 = T(0.70710678118654752440);
  return T(0.5) * x * (T(1) + std::erf(x * inverse_sqrt_2));
}

/// d(x Phi(x))/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi) the normal density.
template <typename T>
NABLA_HOST_DEVICE inline T gelu_derivative(T x) {
  const T inverse_sqrt_2 = T(0.70710678118654752440);
  const T inverse_sqrt_2_pi = T(0.39894228040143267794);
  const T cdf = T(0.5) * (T(1) + std::erf(x * inverse_sqrt_2));
  const T density = inverse_sqrt_2_pi * std::exp(T(-0.5) * x * x);
  return cdf + x * density;
}

/// The tanh approximation of GELU (Hendrycks & Gimpel 2016; PyTorch's approximate='tanh', GPT-2's
/// "gelu_new"): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
template <typename T>
NABLA_HOST_DEVICE inline T gelu_tanh(T x) {
  const T sqrt_2_over_pi = T(0.79788456080286535588);
  const T u = sqrt_2_over_pi * (x + T(0.044715) * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(u));
}

/// d gelu_tanh(x)/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx, t = tanh(u), du/dx = sqrt(2/pi) (1 + 3 0.044715 x^2).
template <typename T>
NABLA_HOST_DEVICE inline T gelu_tanh_derivative(T x) {
  const T sqrt_2_over_pi = T(0.79788456080286535588);
  const T t = std::tanh(sqrt_2_over_pi * (x + T(0.044715) * x * x * x));
  const T du_dx = sqrt_2_over_pi * (T(1) + T(3) * T(0.044715) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du_dx;
}

// ---- clamp, maximum, minimum ----------------------------------------------------------------

/// x limited to [low, high] (the caller ensures low <= high); NaN stays NaN.
template <typename T>
NABLA_HOST_DEVICE inline T clamp(T x, T low, T high) {
  return x < low ? low : (x > high ? high : x);
}

/// 1 where low <= x <= high (the bounds included, as in PyTorch), else 0: a clamped
/// element no longer depends on x.
template <typename T>
NABLA_HOST_DEVICE inline T clamp_derivative(T x, T low, T high) {
  return (x >= low && x <= high) ? T(1) : T(0);
}

/// The larger of a and b; NaN if either is NaN (as torch.maximum).
template <typename T>
NABLA_HOST_DEVICE inline T maximum(T a, T b) {
  return (a > b || is_nan(a)) ? a : b;
}

/// The smaller of a and b; NaN if either is NaN (as torch.minimum).
template <typename T>
NABLA_HOST_DEVICE inline T minimum(T a, T b) {
  return (a < b || is_nan(a)) ? a : b;
}

/// The share of the gradient of maximum(a, b) that goes to a: 1 if a won, 0 if b won,
/// and on a tie 1/2 to each (as PyTorch), so the two shares always add up to 1.
/// The share of b is maximum_gradient_share(b, a).
template <typename T>
NABLA_HOST_DEVICE inline T maximum_gradient_share(T a, T b) {
  return a > b ? T(1) : (a == b ? T(0.5) : T(0));
}

/// The share of the gradient of minimum(a, b) that goes to a (ties split 1/2 each).
template <typename T>
NABLA_HOST_DEVICE inline T minimum_gradient_share(T a, T b) {
  return a < b ? T(1) : (a == b ? T(0.5) : T(0));
}

// ---- powers, roots, logarithms --------------------------------------------------------------

/// d(x^p)/dx = p x^(p-1). For p = 0 the power is the constant 1, so the derivative is 0
/// even at x = 0, where the formula would give 0 * 0^-1 = 0 * inf = NaN.
template <typename T>
NABLA_HOST_DEVICE inline T pow_derivative_base(T x, T p) {
  return p == T(0) ? T(0) : p * std::pow(x, p - T(1));
}

/// d(x^p)/dp = x^p ln x, given power = x^p. At x = 0 with p >= 0 the formula is 0 * -inf
/// (or 1 * -inf at p = 0); like PyTorch we return 0 there instead of NaN or -inf.
template <typename T>
NABLA_HOST_DEVICE inline T pow_derivative_exponent(T x, T p, T power) {
  return (x == T(0) && p >= T(0)) ? T(0) : power * std::log(x);
}

/// d sqrt(x)/dx = 1 / (2 sqrt(x)), given root = sqrt(x) (infinite at x = 0).
template <typename T>
NABLA_HOST_DEVICE inline T sqrt_derivative_from_output(T root) {
  return T(0.5) / root;
}

// ---- masks ----------------------------------------------------------------------------------

/// 1 for true, 0 for false: how comparisons store their result in a Tensor<T>.
template <typename T>
NABLA_HOST_DEVICE inline T mask_value(bool condition) {
  return condition ? T(1) : T(0);
}

/// `if_true` where the mask element is nonzero, else `if_false` (a NaN mask counts as true,
/// as in PyTorch's conversion to bool).
template <typename T>
NABLA_HOST_DEVICE inline T select(T mask, T if_true, T if_false) {
  return mask != T(0) ? if_true : if_false;
}

}  // namespace nabla::backend
