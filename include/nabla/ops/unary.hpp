// nabla/ops/unary.hpp - elementwise math (exp, log, pow, activations...), maximum/minimum,
// comparisons and where.
//
// Every differentiable op here has the same three parts: a forward through backend::map,
// the derivative as a one-line comment, and a backward that applies the chain rule
// elementwise (grad * derivative, backend::ChainRule). The per-element formulas live in
// backend/math.hpp and backend/functors.hpp, shared by the CPU loops and the CUDA kernels.
// The plain unary ops (exp, tanh, relu, ...) are not written out one by one: each is an entry
// of NABLA_UNARY_OPS (backend/elementwise_ops.hpp), and one template below makes them all.
// Where the derivative is cheaper to get from the output (exp, sqrt, tanh, sigmoid), the
// backward reads the output, not the input.
//
// Comparisons return a 0/1 mask of the same element type and record no graph: their
// derivative is zero wherever it exists, like PyTorch's boolean results.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/elementwise_ops.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/backend/math.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"

namespace nabla {

namespace detail {

/// The chain rule of an elementwise op: grad[i] * derivative(values[i]...), where `values`
/// (inputs or the output, detached) are broadcast to the shape of `grad` (the output's).
template <typename T, typename Derivative, typename... Values>
Tensor<T> chain_rule(const Tensor<T>& grad, const Derivative& derivative, const Values&... values) {
  Tensor<T> result = backend::empty<T>(grad.shape(), grad.device());
  backend::map(result, backend::ChainRule<Derivative>{derivative}, grad, values...);
  return result;
}

/// A scalar as an error message shows it: "0.5", not std::to_string's "0.500000".
template <typename T>
std::string format_scalar(T value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

/// The shape three operands broadcast to; the error names all three.
inline Shape broadcast_three(const std::string& op, const Shape& a, const Shape& b, const Shape& c) {
  try {
    return broadcast_shapes(op, broadcast_shapes(op, a, b), c);
  } catch (const ShapeError&) {
    throw ShapeError(op + ": shapes " + to_string(a) + ", " + to_string(b) + " and " + to_string(c) +
                     " cannot be broadcast together");
  }
}

/// A mask tensor: 1 where compare(a, b) holds, else 0 (a and b broadcast).
template <typename T>
Tensor<T> compare_tensors(const std::string& op, const Tensor<T>& a, const Tensor<T>& b,
                          backend::Comparison comparison) {
  return binary_map(op, a, b, backend::CompareMask{comparison});
}

/// A mask tensor: 1 where compare(a, scalar) holds, else 0.
template <typename T>
Tensor<T> compare_scalar(const std::string& op, const Tensor<T>& a, T scalar, backend::Comparison comparison) {
  return unary_map(op, a, backend::CompareScalarMask<T>{comparison, scalar});
}

}  // namespace detail

// ---- the listed unary ops: exp, log, sqrt, square, abs, tanh, sigmoid, relu, gelu, ... -----
// One function per entry of NABLA_UNARY_OPS (backend/elementwise_ops.hpp), all made by
// detail::listed_unary: forward Forward{}(a), backward grad * Derivative{}(a or the output).
// The per-op math and the derivatives' comments are in backend/functors.hpp.

namespace detail {
template <typename Forward, typename Derivative, backend::Reads reads, typename T>
Tensor<T> listed_unary(const std::string& op, const Tensor<T>& a) {
  Tensor<T> out = unary_map(op, a, Forward{});
  if constexpr (reads == backend::Reads::output) {
    // The derivative from the output (exp, sqrt, tanh, sigmoid): backward never recomputes them.
    record_op<T>(out, op, {a},
                 [output = out.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
                   return std::vector<Tensor<T>>{chain_rule(grad, Derivative{}, output)};
                 },
                 {out});
  } else {
    record_op<T>(out, op, {a},
                 [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                   return std::vector<Tensor<T>>{chain_rule(grad, Derivative{}, inputs[0].detach())};
                 },
                 {a});
  }
  return out;
}
}  // namespace detail

#define NABLA_DEFINE_UNARY_OP(NAME, FORWARD, DERIVATIVE, READS, DOMAIN)                                  \
  template <FloatingElement T>                                                                           \
  Tensor<T> NAME(const Tensor<T>& a) {                                                                   \
    return detail::listed_unary<backend::FORWARD, backend::DERIVATIVE, backend::Reads::READS>(#NAME, a); \
  }
NABLA_UNARY_OPS(NABLA_DEFINE_UNARY_OP)
#undef NABLA_DEFINE_UNARY_OP

// ---- powers ---------------------------------------------------------------------------------

/// base^exponent, elementwise, for one exponent (pow(x, 2) == square(x); pow(x, 0.5) == sqrt(x)).
template <FloatingElement T>
Tensor<T> pow(const Tensor<T>& base, std::type_identity_t<T> exponent) {
  Tensor<T> out = detail::unary_map("pow", base, backend::PowScalar<T>{exponent});
  // d a^p/da = p a^(p-1)   (0 for p = 0: a^0 is the constant 1)
  record_op<T>(out, "pow_scalar", {base},
               [exponent](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 return std::vector<Tensor<T>>{
                     detail::chain_rule(grad, backend::PowScalarDerivative<T>{exponent}, inputs[0].detach())};
               },
               {base});
  return out;
}

/// base^exponent, elementwise, both tensors (broadcast).
template <FloatingElement T>
Tensor<T> pow(const Tensor<T>& base, const Tensor<T>& exponent) {
  Tensor<T> out = detail::binary_map("pow", base, exponent, backend::Pow{});
  // d a^b/da = b a^(b-1),  d a^b/db = a^b ln(a)   (both 0 at the special points of math.hpp)
  record_op<T>(out, "pow", {base, exponent},
               [output = out.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> a = inputs[0].detach(), b = inputs[1].detach();
                 // Each gradient costs a pow or a log per element: skip the one nobody needs.
                 Tensor<T> grad_base, grad_exponent;
                 if (inputs[0].requires_grad())
                   grad_base = detail::chain_rule(grad, backend::PowDerivativeBase{}, a, b);
                 if (inputs[1].requires_grad())
                   grad_exponent = detail::chain_rule(grad, backend::PowDerivativeExponent{}, a, b, output);
                 return std::vector<Tensor<T>>{grad_base, grad_exponent};
               },
               {base, exponent, out});
  return out;
}

// ---- activations with a parameter -----------------------------------------------------------

/// a for a > 0, negative_slope * a otherwise (PyTorch's default slope 0.01).
template <FloatingElement T>
Tensor<T> leaky_relu(const Tensor<T>& a, std::type_identity_t<T> negative_slope = T(0.01)) {
  Tensor<T> out = detail::unary_map("leaky_relu", a, backend::LeakyRelu<T>{negative_slope});
  // d leaky_relu(a)/da = 1 for a > 0, else negative_slope
  record_op<T>(out, "leaky_relu", {a},
               [negative_slope](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 return std::vector<Tensor<T>>{
                     detail::chain_rule(grad, backend::LeakyReluDerivative<T>{negative_slope}, inputs[0].detach())};
               },
               {a});
  return out;
}

// ---- clamp, maximum, minimum ----------------------------------------------------------------

/// a limited to [min, max], elementwise. Throws ValueError unless min <= max.
template <FloatingElement T>
Tensor<T> clamp(const Tensor<T>& a, std::type_identity_t<T> min, std::type_identity_t<T> max) {
  if (!(min <= max))  // also rejects NaN bounds
    throw ValueError("clamp: min (" + detail::format_scalar(min) + ") must be <= max (" + detail::format_scalar(max) +
                     ")");
  Tensor<T> out = detail::unary_map("clamp", a, backend::Clamp<T>{min, max});
  // d clamp(a)/da = 1 where min <= a <= max (bounds included, as PyTorch), else 0
  record_op<T>(out, "clamp", {a},
               [min, max](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 return std::vector<Tensor<T>>{
                     detail::chain_rule(grad, backend::ClampDerivative<T>{min, max}, inputs[0].detach())};
               },
               {a});
  return out;
}

/// The larger of a and b, elementwise (broadcast); NaN if either is NaN.
template <FloatingElement T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("maximum", a, b, backend::Maximum{});
  // d max(a, b)/da = 1 where a > b, 0 where a < b, 1/2 on ties (as PyTorch); b mirrors a
  record_op<T>(out, "maximum", {a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> a_value = inputs[0].detach(), b_value = inputs[1].detach();
                 return std::vector<Tensor<T>>{
                     detail::chain_rule(grad, backend::MaximumShareOfFirst{}, a_value, b_value),
                     detail::chain_rule(grad, backend::MaximumShareOfSecond{}, a_value, b_value)};
               },
               {a, b});
  return out;
}

/// The smaller of a and b, elementwise (broadcast); NaN if either is NaN.
template <FloatingElement T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("minimum", a, b, backend::Minimum{});
  // d min(a, b)/da = 1 where a < b, 0 where a > b, 1/2 on ties (as PyTorch); b mirrors a
  record_op<T>(out, "minimum", {a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> a_value = inputs[0].detach(), b_value = inputs[1].detach();
                 return std::vector<Tensor<T>>{
                     detail::chain_rule(grad, backend::MinimumShareOfFirst{}, a_value, b_value),
                     detail::chain_rule(grad, backend::MinimumShareOfSecond{}, a_value, b_value)};
               },
               {a, b});
  return out;
}

// ---- comparisons: 0/1 masks, no gradient ----------------------------------------------------
// Tensor-tensor forms broadcast; in tensor-scalar forms the scalar is converted to T first
// (so a float tensor holding 0.1f equals the scalar 0.1, as in PyTorch).

template <TensorElement T>
Tensor<T> eq(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("eq", a, b, backend::Comparison::equal);
}
template <TensorElement T>
Tensor<T> ne(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("ne", a, b, backend::Comparison::not_equal);
}
template <TensorElement T>
Tensor<T> lt(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("lt", a, b, backend::Comparison::less);
}
template <TensorElement T>
Tensor<T> le(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("le", a, b, backend::Comparison::less_equal);
}
template <TensorElement T>
Tensor<T> gt(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("gt", a, b, backend::Comparison::greater);
}
template <TensorElement T>
Tensor<T> ge(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::compare_tensors("ge", a, b, backend::Comparison::greater_equal);
}

template <TensorElement T>
Tensor<T> eq(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("eq", a, scalar, backend::Comparison::equal);
}
template <TensorElement T>
Tensor<T> ne(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("ne", a, scalar, backend::Comparison::not_equal);
}
template <TensorElement T>
Tensor<T> lt(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("lt", a, scalar, backend::Comparison::less);
}
template <TensorElement T>
Tensor<T> le(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("le", a, scalar, backend::Comparison::less_equal);
}
template <TensorElement T>
Tensor<T> gt(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("gt", a, scalar, backend::Comparison::greater);
}
template <TensorElement T>
Tensor<T> ge(const Tensor<T>& a, std::type_identity_t<T> scalar) {
  return detail::compare_scalar("ge", a, scalar, backend::Comparison::greater_equal);
}

// ---- where ----------------------------------------------------------------------------------

/// a where condition != 0, else b; all three broadcast. Differentiable w.r.t. a and b
/// (not the condition, a mask such as the result of gt()).
template <FloatingElement T>
Tensor<T> where(const Tensor<T>& condition, const Tensor<T>& a, const Tensor<T>& b) {
  const std::string op = "where";
  detail::check_same_device(op, condition, a);
  detail::check_same_device(op, a, b);
  Tensor<T> out = backend::empty<T>(detail::broadcast_three(op, condition.shape(), a.shape(), b.shape()), a.device());
  backend::map(out, backend::Select{}, condition, a, b);
  // d where(c, a, b)/da = 1 where c != 0, else 0;  d/db = the opposite
  // The gradient is selected, not multiplied by 0/1, so an inf in grad cannot leak as NaN.
  record_op<T>(out, op, {a, b},
               [mask = condition.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
                 Tensor<T> grad_a = backend::empty<T>(grad.shape(), grad.device());
                 Tensor<T> grad_b = backend::empty<T>(grad.shape(), grad.device());
                 backend::map(grad_a, backend::GradientWhereTrue{}, grad, mask);
                 backend::map(grad_b, backend::GradientWhereFalse{}, grad, mask);
                 return std::vector<Tensor<T>>{grad_a, grad_b};
               },
               {condition});
  return out;
}

/// a where condition != 0, else the constant b.
template <FloatingElement T>
Tensor<T> where(const Tensor<T>& condition, const Tensor<T>& a, std::type_identity_t<T> b) {
  return where(condition, a, scalar_tensor<T>(b, a.device()));
}

/// The constant a where condition != 0, else b.
template <FloatingElement T>
Tensor<T> where(const Tensor<T>& condition, std::type_identity_t<T> a, const Tensor<T>& b) {
  return where(condition, scalar_tensor<T>(a, b.device()), b);
}

}  // namespace nabla
