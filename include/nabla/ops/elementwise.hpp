// nabla/ops/elementwise.hpp - + - * / with NumPy broadcasting, their scalar and in-place forms.
//
// Each op computes its output through backend::map (backend/dispatch.hpp: the CPU loop or the
// CUDA kernel, by the tensors' device) with a functor of backend/functors.hpp, then records a
// backward function. Gradients are returned at the output's (broadcast) shape; the autograd engine
// sums them back to each input's shape.
#pragma once

#include <concepts>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/ops/checks.hpp"

namespace nabla {

/// A plain number usable as the scalar operand of a tensor op (converted to the tensor's type).
template <typename S>
concept Scalar = std::is_arithmetic_v<S>;

namespace detail {
template <typename T, typename Function>
Tensor<T> binary_map(const std::string& op, const Tensor<T>& a, const Tensor<T>& b, const Function& function) {
  check_same_device(op, a, b);
  Tensor<T> out = backend::empty<T>(broadcast_shapes(op, a.shape(), b.shape()), a.device());
  backend::map(out, function, a, b);
  return out;
}

template <typename T, typename Function>
Tensor<T> unary_map(const std::string& op, const Tensor<T>& a, const Function& function) {
  check_defined(op, a);
  Tensor<T> out = backend::empty<T>(a.shape(), a.device());
  backend::map(out, function, a);
  return out;
}

template <typename T>
void check_in_place(const std::string& op, const Tensor<T>& target) {
  check_defined(op, target);
  if (is_grad_enabled() && target.requires_grad())
    throw ValueError(op +
                     ": in-place operation on a tensor that requires grad would corrupt the gradient; "
                     "wrap it in nabla::NoGradGuard (optimizer updates) or use the out-of-place form");
}

template <typename T, typename Function>
Tensor<T>& in_place_map(const std::string& op, Tensor<T>& target, const Tensor<T>& other, const Function& function) {
  check_in_place(op, target);
  check_same_device(op, target, other);
  if (broadcast_shapes(op, target.shape(), other.shape()) != target.shape())
    throw ShapeError(op + ": cannot broadcast " + to_string(other.shape()) + " into the in-place target " +
                     to_string(target.shape()));
  backend::map(target, function, target, other);
  target.storage()->bump_version();
  return target;
}

template <typename T, typename Function>
Tensor<T>& in_place_map(const std::string& op, Tensor<T>& target, const Function& function) {
  check_in_place(op, target);
  backend::map(target, function, target);
  target.storage()->bump_version();
  return target;
}
}  // namespace detail

// ---- tensor (op) tensor -------------------------------------------------------------------

template <FloatingElement T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("add", a, b, backend::Add{});
  // d(a + b)/da = 1, d(a + b)/db = 1
  record_op<T>(out, "add", {a, b}, [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad, grad};
  });
  return out;
}

template <FloatingElement T>
Tensor<T> neg(const Tensor<T>& a) {
  Tensor<T> out = detail::unary_map("neg", a, backend::Negate{});
  // d(-a)/da = -1
  record_op<T>(out, "neg", {a},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{neg(grad)}; });
  return out;
}

template <FloatingElement T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("sub", a, b, backend::Subtract{});
  // d(a - b)/da = 1, d(a - b)/db = -1
  record_op<T>(out, "sub", {a, b}, [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad, neg(grad)};
  });
  return out;
}

template <FloatingElement T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("mul", a, b, backend::Multiply{});
  // d(a * b)/da = b, d(a * b)/db = a
  record_op<T>(out, "mul", {a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 return std::vector<Tensor<T>>{mul(grad, inputs[1].detach()), mul(grad, inputs[0].detach())};
               },
               {a, b});
  return out;
}

template <FloatingElement T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_map("div", a, b, backend::Divide{});
  // d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2
  record_op<T>(out, "div", {a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> a_value = inputs[0].detach(), b_value = inputs[1].detach();
                 const Tensor<T> grad_over_b = div(grad, b_value);
                 return std::vector<Tensor<T>>{grad_over_b, neg(div(mul(grad_over_b, a_value), b_value))};
               },
               {a, b});
  return out;
}

// ---- tensor (op) scalar -------------------------------------------------------------------

template <FloatingElement T>
Tensor<T> add(const Tensor<T>& a, T scalar) {
  Tensor<T> out = detail::unary_map("add", a, backend::AddScalar<T>{scalar});
  // d(a + s)/da = 1
  record_op<T>(out, "add_scalar", {a},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{grad}; });
  return out;
}

template <FloatingElement T>
Tensor<T> mul(const Tensor<T>& a, T scalar) {
  Tensor<T> out = detail::unary_map("mul", a, backend::MultiplyScalar<T>{scalar});
  // d(a * s)/da = s
  record_op<T>(out, "mul_scalar", {a}, [scalar](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{mul(grad, scalar)};
  });
  return out;
}

/// s - a
template <FloatingElement T>
Tensor<T> rsub(const Tensor<T>& a, T scalar) {
  Tensor<T> out = detail::unary_map("rsub", a, backend::ScalarMinus<T>{scalar});
  // d(s - a)/da = -1
  record_op<T>(out, "rsub_scalar", {a},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{neg(grad)}; });
  return out;
}

/// s / a
template <FloatingElement T>
Tensor<T> rdiv(const Tensor<T>& a, T scalar) {
  Tensor<T> out = detail::unary_map("rdiv", a, backend::ScalarDivide<T>{scalar});
  // d(s / a)/da = -s / a^2
  record_op<T>(out, "rdiv_scalar", {a},
               [scalar](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 Tensor<T> result = backend::empty<T>(grad.shape(), grad.device());
                 backend::map(result, backend::ScalarDivideBackward<T>{scalar}, grad, inputs[0].detach());
                 return std::vector<Tensor<T>>{result};
               },
               {a});
  return out;
}

// ---- operators ----------------------------------------------------------------------------

template <FloatingElement T>
Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) {
  return add(a, b);
}
template <FloatingElement T>
Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) {
  return sub(a, b);
}
template <FloatingElement T>
Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) {
  return mul(a, b);
}
template <FloatingElement T>
Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) {
  return div(a, b);
}
template <FloatingElement T>
Tensor<T> operator-(const Tensor<T>& a) {
  return neg(a);
}

template <FloatingElement T, Scalar S>
Tensor<T> operator+(const Tensor<T>& a, S s) {
  return add(a, static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator+(S s, const Tensor<T>& a) {
  return add(a, static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator-(const Tensor<T>& a, S s) {
  return add(a, static_cast<T>(-static_cast<T>(s)));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator-(S s, const Tensor<T>& a) {
  return rsub(a, static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator*(const Tensor<T>& a, S s) {
  return mul(a, static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator*(S s, const Tensor<T>& a) {
  return mul(a, static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator/(const Tensor<T>& a, S s) {
  return mul(a, T(1) / static_cast<T>(s));
}
template <FloatingElement T, Scalar S>
Tensor<T> operator/(S s, const Tensor<T>& a) {
  return rdiv(a, static_cast<T>(s));
}

// ---- in place (no autograd: use under NoGradGuard or on tensors that need no grad) --------

template <typename T>
Tensor<T>& Tensor<T>::operator+=(const Tensor<T>& other) {
  return detail::in_place_map("operator+=", *this, other, backend::Add{});
}
template <typename T>
Tensor<T>& Tensor<T>::operator-=(const Tensor<T>& other) {
  return detail::in_place_map("operator-=", *this, other, backend::Subtract{});
}
template <typename T>
Tensor<T>& Tensor<T>::operator*=(const Tensor<T>& other) {
  return detail::in_place_map("operator*=", *this, other, backend::Multiply{});
}
template <typename T>
Tensor<T>& Tensor<T>::operator/=(const Tensor<T>& other) {
  return detail::in_place_map("operator/=", *this, other, backend::Divide{});
}
template <typename T>
Tensor<T>& Tensor<T>::operator+=(T scalar) {
  return detail::in_place_map("operator+=", *this, backend::AddScalar<T>{scalar});
}
template <typename T>
Tensor<T>& Tensor<T>::operator-=(T scalar) {
  return detail::in_place_map("operator-=", *this, backend::SubtractScalar<T>{scalar});
}
template <typename T>
Tensor<T>& Tensor<T>::operator*=(T scalar) {
  return detail::in_place_map("operator*=", *this, backend::MultiplyScalar<T>{scalar});
}
template <typename T>
Tensor<T>& Tensor<T>::operator/=(T scalar) {
  return detail::in_place_map("operator/=", *this, backend::DivideScalar<T>{scalar});
}
template <typename T>
Tensor<T>& Tensor<T>::fill_(T value) {
  detail::check_in_place("fill_", *this);
  backend::map(*this, backend::Fill<T>{value});
  storage()->bump_version();
  return *this;
}
/// Copies across devices too: a CPU source is moved to this tensor's device first.
template <typename T>
Tensor<T>& Tensor<T>::copy_(const Tensor<T>& source) {
  const std::string op = "copy_";
  detail::check_in_place(op, *this);
  detail::check_defined(op, source);
  if (broadcast_shapes(op, shape(), source.shape()) != shape())
    throw ShapeError(op + ": cannot broadcast " + to_string(source.shape()) + " into the in-place target " +
                     to_string(shape()));
  backend::map(*this, backend::Identity{}, source.to(device()));  // to() is a no-op when already there
  storage()->bump_version();
  return *this;
}

}  // namespace nabla
