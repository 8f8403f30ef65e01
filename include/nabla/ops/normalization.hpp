// nabla/ops/normalization.hpp - layer normalization (Ba, Kiros & Hinton 2016), as
// torch.nn.functional.layer_norm: each slice over the last dims `normalized_shape` is
// standardized, then scaled and shifted elementwise:
//   y = (x - mean) / sqrt(var + eps) * weight + bias     (var: the biased variance, as PyTorch)
// One graph node with a hand-written backward: the forward keeps mean and rstd = 1/sqrt(var + eps)
// of every slice, so the backward is one pass over x and the gradient.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/layer_norm.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/views.hpp"

namespace nabla {

namespace detail {
/// The tensor itself when it is densely packed, else a dense copy (no autograd).
template <typename T>
Tensor<T> dense_or_copy(const Tensor<T>& tensor) {
  return tensor.is_contiguous() ? tensor : copy_values(tensor);
}
}  // namespace detail

/// Layer normalization of `input` over its last dims `normalized_shape`; `weight` and `bias`
/// (each of shape normalized_shape) may be undefined tensors for no affine part.
template <FloatingElement T>
Tensor<T> layer_norm(const Tensor<T>& input, const Shape& normalized_shape, const Tensor<T>& weight = Tensor<T>(),
                     const Tensor<T>& bias = Tensor<T>(), double eps = 1e-5) {
  const std::string op = "layer_norm";
  detail::check_defined(op, input);
  const auto rank = static_cast<std::int64_t>(input.dim()),
             normalized_rank = static_cast<std::int64_t>(normalized_shape.size());
  const bool shape_fits = normalized_rank >= 1 && normalized_rank <= rank &&
                          Shape(input.shape().end() - normalized_rank, input.shape().end()) == normalized_shape;
  if (!shape_fits)
    throw ShapeError(op + ": normalized_shape " + to_string(normalized_shape) +
                     " must be the last dims of the input, got input " + to_string(input.shape()));
  for (const auto* parameter : {&weight, &bias}) {
    if (!parameter->defined()) continue;
    detail::check_same_device(op, input, *parameter);
    if (parameter->shape() != normalized_shape)
      throw ShapeError(op + ": " + (parameter == &weight ? "weight" : "bias") + " must have shape " +
                       to_string(normalized_shape) + ", got " + to_string(parameter->shape()));
  }
  if (!(eps >= 0)) throw ValueError(op + ": eps must be >= 0, got " + std::to_string(eps));
  const std::int64_t dim = numel_of(normalized_shape), rows = dim > 0 ? input.numel() / dim : 0;
  const Tensor<T> x = detail::dense_or_copy(input);
  const Tensor<T> gamma = weight.defined() ? detail::dense_or_copy(weight) : Tensor<T>();
  const Tensor<T> beta = bias.defined() ? detail::dense_or_copy(bias) : Tensor<T>();
  Tensor<T> out = backend::empty<T>(input.shape(), input.device());
  Tensor<T> mean = backend::empty<T>({rows}, input.device()), rstd = backend::empty<T>({rows}, input.device());
  backend::layer_norm_forward(x, gamma, beta, rows, dim, static_cast<T>(eps), out, mean, rstd);

  // xhat = (x - mean) rstd, dxhat = g weight:
  // dL/dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dL/dweight = sum g xhat, dL/dbias = sum g
  record_op<T>(out, op, {input, weight, bias},
               [x = x.detach(), gamma = gamma.defined() ? gamma.detach() : Tensor<T>(), mean, rstd, rows, dim,
                normalized_shape](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> g = detail::dense_or_copy(grad);
                 const Device device = x.device();
                 Tensor<T> grad_x = inputs[0].requires_grad() ? backend::empty<T>(x.shape(), device) : Tensor<T>();
                 Tensor<T> grad_weight = inputs[1].defined() && inputs[1].requires_grad()
                                             ? backend::empty<T>(normalized_shape, device)
                                             : Tensor<T>();
                 Tensor<T> grad_bias = inputs[2].defined() && inputs[2].requires_grad()
                                           ? backend::empty<T>(normalized_shape, device)
                                           : Tensor<T>();
                 backend::layer_norm_backward(g, x, gamma, mean, rstd, rows, dim, grad_x, grad_weight, grad_bias);
                 return std::vector<Tensor<T>>{grad_x, grad_weight, grad_bias};
               },
               {input});
  return out;
}

}  // namespace nabla
