// nabla/backend/functors.hpp - the per-element math of every elementwise op, as function objects.
//
// A CPU loop can take a lambda, but a CUDA kernel compiled separately (kernels/*.cu) cannot:
// it needs a type it can name. So each elementwise op's math is a small struct whose
// operator() is NABLA_HOST_DEVICE: the CPU ops pass it to backend::cpu::map_kernel, the CUDA
// launchers are instantiated for it in kernels/elementwise_*.cu, and the very same line of
// math runs on both devices (tests/test_functors.cpp checks each one on the CPU).
// The plain unary ops (exp, tanh, relu, ...) are listed in backend/elementwise_ops.hpp, which
// names each op's value and derivative functors; those two sit side by side below.
//
// Plain functors (Add, Exp, ...) work for float and double through a templated operator().
// Functors with a parameter (AddScalar{value}, Clamp{low, high}) are templates on the element
// type, so the parameter is stored exactly as the op received it.
// ChainRule<Derivative> turns a derivative into a backward: grad * derivative(values...).
#pragma once

#include <cmath>
#include <cstdint>

#include "nabla/backend/math.hpp"
#include "nabla/core/macros.hpp"
#include "nabla/core/philox.hpp"

namespace nabla::backend {

// ---- copies and constants -------------------------------------------------------------------

/// x (a copy: makes views contiguous, moves gradients into their own buffer).
struct Identity {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return x;
  }
};

/// The constant `value` (no input).
template <typename T>
struct Fill {
  T value;
  NABLA_HOST_DEVICE T operator()() const { return value; }
};

// ---- arithmetic -----------------------------------------------------------------------------

struct Add {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return x + y;
  }
};

struct Subtract {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return x - y;
  }
};

struct Multiply {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return x * y;
  }
};

struct Divide {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return x / y;
  }
};

struct Negate {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return -x;
  }
};

/// x + value
template <typename T>
struct AddScalar {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return x + value; }
};

/// x - value (not x + (-value) rewritten: kept literal so in-place -= reads like the op)
template <typename T>
struct SubtractScalar {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return x - value; }
};

/// x * value
template <typename T>
struct MultiplyScalar {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return x * value; }
};

/// x / value
template <typename T>
struct DivideScalar {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return x / value; }
};

/// value - x
template <typename T>
struct ScalarMinus {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return value - x; }
};

/// value / x
template <typename T>
struct ScalarDivide {
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return value / x; }
};

/// The backward of value / x: grad * d(value / x)/dx = -grad * value / x^2.
template <typename T>
struct ScalarDivideBackward {
  T value;
  NABLA_HOST_DEVICE T operator()(T gradient, T x) const { return -gradient * value / (x * x); }
};

// ---- the listed unary ops (backend/elementwise_ops.hpp): value and derivative side by side --
// Each op's Forward and Derivative, as NABLA_UNARY_OPS names them. A derivative "FromOutput"
// takes the op's output y instead of its input x.

/// e^x
struct Exp {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return std::exp(x);
  }
};
/// d e^x/dx = e^x, which is the output
struct ExpDerivativeFromOutput {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T y) const {
    return y;
  }
};

/// ln x (log 0 = -inf, log of a negative = NaN)
struct Log {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return std::log(x);
  }
};
/// d ln(x)/dx = 1 / x   (its ChainRule, below, divides: grad / x)
struct LogDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return T(1) / x;
  }
};

/// sqrt x (NaN for negative inputs)
struct Sqrt {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return std::sqrt(x);
  }
};
/// d sqrt(x)/dx = 1 / (2 sqrt(x)), from the output
struct SqrtDerivativeFromOutput {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T root) const {
    return sqrt_derivative_from_output(root);
  }
};

/// x^2
struct Square {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return x * x;
  }
};
/// d x^2/dx = 2x
struct SquareDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return T(2) * x;
  }
};

/// |x|
struct Abs {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return std::abs(x);
  }
};
/// d |x|/dx = sign(x)   (0 at the kink x = 0, as PyTorch)
struct Sign {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return sign(x);
  }
};

/// tanh x
struct Tanh {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return std::tanh(x);
  }
};
/// d tanh(x)/dx = 1 - t^2, from the output t
struct TanhDerivativeFromOutput {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T t) const {
    return tanh_derivative_from_output(t);
  }
};

/// 1 / (1 + e^-x); finite and exact (0 or 1) for inputs of any size
struct Sigmoid {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return sigmoid(x);
  }
};
/// d sigmoid(x)/dx = s (1 - s), from the output s
struct SigmoidDerivativeFromOutput {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T s) const {
    return sigmoid_derivative_from_output(s);
  }
};

/// max(x, 0)
struct Relu {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return relu(x);
  }
};
/// d relu(x)/dx = 1 for x > 0, else 0   (0 at the kink, as PyTorch)
struct ReluDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return relu_derivative(x);
  }
};

/// The exact GELU x Phi(x), Phi the standard normal CDF (torch.nn.functional.gelu's default)
struct Gelu {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return gelu(x);
  }
};
/// d gelu(x)/dx = Phi(x) + x phi(x), phi the standard normal density
struct GeluDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return gelu_derivative(x);
  }
};

/// GELU's tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (PyTorch's approximate='tanh')
struct GeluTanh {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return gelu_tanh(x);
  }
};
/// d gelu_tanh(x)/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2), t the tanh above
struct GeluTanhDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return gelu_tanh_derivative(x);
  }
};

/// softplus(x) = ln(1 + e^x), with PyTorch's beta = 1 and threshold = 20: x itself above 20
/// (where ln(1 + e^x) - x < 3e-9, below a float's resolution there)
struct Softplus {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return x > T(20) ? x : std::log1p(std::exp(x));
  }
};
/// d softplus(x)/dx = sigmoid(x); 1 above the threshold, where the forward is x
struct SoftplusDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return x > T(20) ? T(1) : sigmoid(x);
  }
};

/// silu(x) = x sigmoid(x) (also called swish)
struct Silu {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    return x * sigmoid(x);
  }
};
/// d silu(x)/dx = s (1 + x (1 - s)), s = sigmoid(x)
struct SiluDerivative {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x) const {
    const T s = sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
  }
};

// ---- powers, activations with a parameter, maximum and minimum ------------------------------

/// x^exponent for one exponent.
template <typename T>
struct PowScalar {
  T exponent;
  NABLA_HOST_DEVICE T operator()(T x) const { return std::pow(x, exponent); }
};

/// x^p, both tensors.
struct Pow {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T p) const {
    return std::pow(x, p);
  }
};

template <typename T>
struct LeakyRelu {
  T slope;
  NABLA_HOST_DEVICE T operator()(T x) const { return leaky_relu(x, slope); }
};

template <typename T>
struct Clamp {
  T low, high;
  NABLA_HOST_DEVICE T operator()(T x) const { return clamp(x, low, high); }
};

struct Maximum {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return maximum(x, y);
  }
};

struct Minimum {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return minimum(x, y);
  }
};

// ---- derivatives (used through ChainRule) ---------------------------------------------------

template <typename T>
struct LeakyReluDerivative {
  T slope;
  NABLA_HOST_DEVICE T operator()(T x) const { return leaky_relu_derivative(x, slope); }
};

template <typename T>
struct ClampDerivative {
  T low, high;
  NABLA_HOST_DEVICE T operator()(T x) const { return clamp_derivative(x, low, high); }
};

/// d x^p/dx for one exponent p.
template <typename T>
struct PowScalarDerivative {
  T exponent;
  NABLA_HOST_DEVICE T operator()(T x) const { return pow_derivative_base(x, exponent); }
};

/// d x^p/dx, both tensors.
struct PowDerivativeBase {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T p) const {
    return pow_derivative_base(x, p);
  }
};

/// d x^p/dp given the output power = x^p.
struct PowDerivativeExponent {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T p, T power) const {
    return pow_derivative_exponent(x, p, power);
  }
};

/// The share of the gradient of maximum(x, y) that goes to x; MaximumShareOfSecond to y.
struct MaximumShareOfFirst {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return maximum_gradient_share(x, y);
  }
};
struct MaximumShareOfSecond {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return maximum_gradient_share(y, x);
  }
};
struct MinimumShareOfFirst {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return minimum_gradient_share(x, y);
  }
};
struct MinimumShareOfSecond {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return minimum_gradient_share(y, x);
  }
};

/// The chain rule of an elementwise op: gradient * derivative(values...).
template <typename Derivative>
struct ChainRule {
  Derivative derivative;
  template <typename T, typename... Values>
  NABLA_HOST_DEVICE T operator()(T gradient, Values... values) const {
    return gradient * derivative(values...);
  }
};

/// log's backward divides, grad / x, rather than multiplying by a rounded 1 / x.
template <>
struct ChainRule<LogDerivative> {
  LogDerivative derivative;
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T gradient, T x) const {
    return gradient / x;
  }
};

/// |x|^p (a term of a p-norm).
template <typename T>
struct AbsPower {
  T exponent;
  NABLA_HOST_DEVICE T operator()(T x) const { return std::pow(std::abs(x), exponent); }
};

/// gradient * scale (the backward of sum and mean, broadcast back to the input).
template <typename T>
struct Scale {
  T factor;
  NABLA_HOST_DEVICE T operator()(T gradient) const { return gradient * factor; }
};

// ---- comparisons and selection --------------------------------------------------------------

/// How two values compare; the masks below store the answer as 0 or 1.
enum class Comparison { equal, not_equal, less, less_equal, greater, greater_equal };

template <typename T>
NABLA_HOST_DEVICE inline bool compare(Comparison comparison, T x, T y) {
  switch (comparison) {
    case Comparison::equal:
      return x == y;
    case Comparison::not_equal:
      return x != y;
    case Comparison::less:
      return x < y;
    case Comparison::less_equal:
      return x <= y;
    case Comparison::greater:
      return x > y;
    case Comparison::greater_equal:
      return x >= y;
  }
  return false;
}

/// 1 where compare(x, y) holds, else 0.
struct CompareMask {
  Comparison comparison;
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return mask_value<T>(compare(comparison, x, y));
  }
};

/// 1 where compare(x, value) holds, else 0.
template <typename T>
struct CompareScalarMask {
  Comparison comparison;
  T value;
  NABLA_HOST_DEVICE T operator()(T x) const { return mask_value<T>(compare(comparison, x, value)); }
};

/// x where the mask is nonzero, else y.
struct Select {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T mask, T x, T y) const {
    return select(mask, x, y);
  }
};

/// The gradient where the mask is nonzero, else 0 (where's backward to its first operand).
struct GradientWhereTrue {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T gradient, T mask) const {
    return select(mask, gradient, T(0));
  }
};

/// The gradient where the mask is zero, else 0 (where's backward to its second operand).
struct GradientWhereFalse {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T gradient, T mask) const {
    return select(mask, T(0), gradient);
  }
};

// ---- reductions' helpers --------------------------------------------------------------------

/// `share` where x is the extreme value (NaN counts as equal to a NaN extreme), else 0:
/// the backward of max()/min() over every element, whose gradient the ties share.
template <typename T>
struct ExtremeShare {
  T extreme;
  T share;
  NABLA_HOST_DEVICE T operator()(T x) const {
    const bool hit = is_nan(extreme) ? is_nan(x) : x == extreme;
    return hit ? share : T(0);
  }
};

/// The shift of a stable logsumexp: the slice's max, or 0 when it is infinite (inf - inf
/// would be NaN; those slices come out as -inf / +inf exactly).
struct FiniteOrZero {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T maximum) const {
    return std::isfinite(maximum) ? maximum : T(0);
  }
};

/// e^(x - shift)
struct ShiftedExp {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T shift) const {
    return std::exp(x - shift);
  }
};

/// shift + ln(total): logsumexp from the sum of shifted exponentials.
struct ShiftPlusLog {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T total, T shift) const {
    return shift + std::log(total);
  }
};

/// The backward of logsumexp: e^(x - logsumexp) * gradient = softmax(x) * gradient.
struct LogSumExpBackward {
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T log_total, T gradient) const {
    return std::exp(x - log_total) * gradient;
  }
};

// ---- elementwise losses ---------------------------------------------------------------------
// Each loss gives its value at one (prediction x, target y) pair and both derivatives; the
// adapters below turn them into the forward map and the two backward maps of
// loss/reduction.hpp's elementwise_loss.

/// (x - y)^2;  d/dx = 2 (x - y),  d/dy = -2 (x - y)
struct SquaredError {
  template <typename T>
  NABLA_HOST_DEVICE T value(T x, T y) const {
    return (x - y) * (x - y);
  }
  template <typename T>
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    return T(2) * (x - y);
  }
  template <typename T>
  NABLA_HOST_DEVICE T target_derivative(T x, T y) const {
    return T(-2) * (x - y);
  }
};

/// |x - y|;  d/dx = sign(x - y) (0 at x = y, like PyTorch),  d/dy = -sign(x - y)
struct AbsoluteError {
  template <typename T>
  NABLA_HOST_DEVICE T value(T x, T y) const {
    return std::abs(x - y);
  }
  template <typename T>
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    return sign(x - y);
  }
  template <typename T>
  NABLA_HOST_DEVICE T target_derivative(T x, T y) const {
    return -sign(x - y);
  }
};

/// Huber: |d| <= delta: d^2 / 2, derivative d;  |d| > delta: delta (|d| - delta / 2),
/// derivative delta sign(d)  (d = x - y)
template <typename T>
struct HuberError {
  T threshold;
  NABLA_HOST_DEVICE T value(T x, T y) const {
    const T magnitude = std::abs(x - y);
    return magnitude <= threshold ? T(0.5) * magnitude * magnitude : threshold * (magnitude - T(0.5) * threshold);
  }
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    const T d = x - y;
    return d < -threshold ? -threshold : (d > threshold ? threshold : d);
  }
  NABLA_HOST_DEVICE T target_derivative(T x, T y) const { return -prediction_derivative(x, y); }
};

/// log(x) clamped below at -100, as PyTorch's BCELoss (log 0 = -inf would make a mean inf).
template <typename T>
NABLA_HOST_DEVICE inline T clamped_log(T x) {
  const T value = std::log(x);
  return value > T(-100) ? value : T(-100);
}
/// log(1 - x), clamped the same way.
template <typename T>
NABLA_HOST_DEVICE inline T clamped_log_one_minus(T x) {
  const T value = std::log1p(-x);
  return value > T(-100) ? value : T(-100);
}

/// Binary cross-entropy of a probability x: -(y log x + (1 - y) log(1 - x));
/// d/dx = (x - y) / (x (1 - x)) (denominator at least 1e-12),  d/dy = log(1 - x) - log(x)
struct BinaryCrossEntropyError {
  template <typename T>
  NABLA_HOST_DEVICE T value(T x, T y) const {
    return -(y * clamped_log(x) + (T(1) - y) * clamped_log_one_minus(x));
  }
  template <typename T>
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    const T denominator = x * (T(1) - x);
    const T epsilon = T(1e-12);
    return (x - y) / (denominator > epsilon ? denominator : epsilon);
  }
  template <typename T>
  NABLA_HOST_DEVICE T target_derivative(T x, T) const {
    return clamped_log_one_minus(x) - clamped_log(x);
  }
};

/// Binary cross-entropy of a logit x: max(x, 0) - x y + log(1 + e^-|x|);
/// d/dx = sigmoid(x) - y,  d/dy = -x
struct BinaryCrossEntropyWithLogitsError {
  template <typename T>
  NABLA_HOST_DEVICE T value(T x, T y) const {
    return (x > T(0) ? x : T(0)) - x * y + std::log1p(std::exp(-std::abs(x)));
  }
  template <typename T>
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    return sigmoid(x) - y;
  }
  template <typename T>
  NABLA_HOST_DEVICE T target_derivative(T x, T) const {
    return -x;
  }
};

/// Hinge max(0, 1 - y x);  d/dx = -y where the margin is positive, else 0 (d/dy: -x)
struct HingeError {
  template <typename T>
  NABLA_HOST_DEVICE T value(T x, T y) const {
    const T margin = T(1) - y * x;
    return margin > T(0) ? margin : T(0);
  }
  template <typename T>
  NABLA_HOST_DEVICE T prediction_derivative(T x, T y) const {
    return T(1) - y * x > T(0) ? -y : T(0);
  }
  template <typename T>
  NABLA_HOST_DEVICE T target_derivative(T x, T y) const {
    return T(1) - y * x > T(0) ? -x : T(0);
  }
};

/// The loss at each element (the forward map).
template <typename Loss>
struct LossValue {
  Loss loss;
  template <typename T>
  NABLA_HOST_DEVICE T operator()(T x, T y) const {
    return loss.value(x, y);
  }
};

/// upstream * scale * dloss/dx (the backward map to the prediction).
template <typename Loss, typename T>
struct LossPredictionGradient {
  Loss loss;
  T scale;
  NABLA_HOST_DEVICE T operator()(T gradient, T x, T y) const {
    return gradient * scale * loss.prediction_derivative(x, y);
  }
};

/// upstream * scale * dloss/dy (the backward map to the target).
template <typename Loss, typename T>
struct LossTargetGradient {
  Loss loss;
  T scale;
  NABLA_HOST_DEVICE T operator()(T gradient, T x, T y) const { return gradient * scale * loss.target_derivative(x, y); }
};

// ---- gathers and class-id losses ------------------------------------------------------------
// Ops that pick elements by index: the CPU loops and the kernels of kernels/index_select.cu and
// kernels/class_losses.cu compute the same positions and per-element values with these.

/// Where element `i` of index_select's output comes from in its input, both dense and seen as
/// [outer, count, inner] (output) and [outer, size, inner] (input) around the selected dim:
/// output (o, k, j) reads input (o, indices[k], j). The backward adds in the other direction.
NABLA_HOST_DEVICE inline std::int64_t index_select_source(std::int64_t i, const std::int64_t* indices,
                                                          std::int64_t count, std::int64_t size, std::int64_t inner) {
  const std::int64_t j = i % inner, block = i / inner;
  const std::int64_t o = block / count, k = block % count;
  return (o * size + indices[k]) * inner + j;
}

/// The negative log-likelihood of one row of log-probabilities: -row[id], 0 for an ignored row.
template <typename T>
NABLA_HOST_DEVICE inline T nll_row_loss(const T* row, std::int64_t id, std::int64_t ignore_index) {
  return id == ignore_index ? T(0) : -row[id];
}

/// Its derivative at class c, times the row's upstream gradient: -row_gradient at the target
/// class, 0 elsewhere and in ignored rows.
template <typename T>
NABLA_HOST_DEVICE inline T nll_gradient(std::int64_t c, std::int64_t id, std::int64_t ignore_index, T row_gradient) {
  return id != ignore_index && c == id ? -row_gradient : T(0);
}

/// The fused softmax-cross-entropy keeps per row the max m and log_sum = log sum_c e^(x_c - m)
/// apart, never their sum, the log-sum-exp: in float32 at |m| = 1e4 its spacing is 2^-10, and a
/// loss or a probability taken from it would lose three digits (PyTorch keeps them apart too).
/// The row's loss for q = on_target onehot(y) + per_class:
///   lse - on_target x_y - per_class sum_c x_c = (m - on_target x_y - per_class sum_c x_c) + log_sum
template <typename T>
NABLA_HOST_DEVICE inline T cross_entropy_row_loss(T row_max, T log_sum, T target_logit, T logit_sum, T on_target,
                                                  T per_class) {
  const T smoothing_part = per_class == T(0) ? T(0) : per_class * logit_sum;
  return (row_max - on_target * target_logit - smoothing_part) + log_sum;
}

/// softmax(x)_c = e^((x_c - m) - log_sum): x_c - m is exact for the logits near the max, the
/// ones whose probabilities count.
template <typename T>
NABLA_HOST_DEVICE inline T softmax_from_max_log_sum(T x, T row_max, T log_sum) {
  return std::exp((x - row_max) - log_sum);
}

/// One wrong class j's term of the multi-class margin loss: max(0, margin - x_y + x_j)^p,
/// p = 1 or 2 (x_y the target class's score, x_j the wrong class's).
template <typename T>
NABLA_HOST_DEVICE inline T multi_margin_term(T target_score, T score, T margin, int p) {
  const T gap = margin - target_score + score;
  if (!(gap > T(0))) return T(0);
  return p == 1 ? gap : gap * gap;
}

/// d multi_margin_term / dx_j: [gap > 0] (p == 1 ? 1 : 2 gap); d/dx_y is minus it.
template <typename T>
NABLA_HOST_DEVICE inline T multi_margin_term_derivative(T target_score, T score, T margin, int p) {
  const T gap = margin - target_score + score;
  if (!(gap > T(0))) return T(0);
  return p == 1 ? T(1) : T(2) * gap;
}

// ---- random masks ---------------------------------------------------------------------------

/// Element i of an inverted-dropout mask: `scale` (= 1 / (1 - p)) where the Philox uniform
/// of (seed, offset + i) is >= threshold (= p), else 0. The same stream on both devices.
template <typename T>
NABLA_HOST_DEVICE inline T dropout_mask_value(std::uint64_t seed, std::uint64_t offset, std::uint64_t index,
                                              T threshold, T scale) {
  return philox_uniform<T>(seed, offset, index) >= threshold ? scale : T(0);
}

}  // namespace nabla::backend
