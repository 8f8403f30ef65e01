// nabla/optim/regularization.hpp - L1 and L2 penalties on the weights, to add to a loss:
//   loss = data_loss + lambda * l2_penalty(model.parameters())
//   l1_penalty(W) = sum over all parameters of |w|      d/dw = sign(w)   (pushes weights to exactly
//   0) l2_penalty(W) = sum over all parameters of w^2      d/dw = 2 w       (shrinks large weights)
// Each is ONE graph node over all the parameters: the forward is one pass per parameter,
// the backward writes each parameter's gradient in one pass.
// (An optimizer's weight_decay applies lambda * w to the gradient directly, i.e. the L2
// penalty lambda/2 * sum w^2, without adding anything to the loss.)
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/backend/norm.hpp"
#include "nabla/ops/checks.hpp"

namespace nabla::optim {

namespace detail {
/// sum_k sum_i term(w_ki) over all parameters as a rank-0 tensor, with backward
/// grad_w_ki = upstream * derivative(w_ki). `Term` and `Derivative` are functors of
/// backend/functors.hpp, so the CPU loops and the CUDA kernels run the same math.
template <FloatingElement T, typename Term, typename Derivative>
Tensor<T> parameter_penalty(const std::string& name, const std::vector<Tensor<T>>& parameters, const Term& term,
                            const Derivative& derivative) {
  for (const auto& parameter : parameters) nabla::detail::check_same_device(name, parameters[0], parameter);
  Tensor<T> out = backend::sum_of_terms(parameters, term);
  // dpenalty/dw = derivative(w): each gradient is upstream * derivative(w) in one map, the
  // rank-0 upstream broadcast over the parameter (no copy of it to the host)
  record_op<T>(
      out, name, parameters,
      [derivative](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        std::vector<Tensor<T>> gradients;
        for (const auto& input : inputs) {
          if (!input.requires_grad()) {
            gradients.emplace_back();
            continue;
          }
          Tensor<T> gradient = backend::empty<T>(input.shape(), input.device());
          backend::map(gradient, backend::ChainRule<Derivative>{derivative}, grad, input.detach());
          gradients.push_back(gradient);
        }
        return gradients;
      },
      parameters);
  return out;
}
}  // namespace detail

/// sum of |w| over every element of every parameter (differentiable; rank 0).
template <FloatingElement T>
Tensor<T> l1_penalty(const std::vector<Tensor<T>>& parameters) {
  // d|w|/dw = sign(w) (0 at w = 0)
  return detail::parameter_penalty<T>("l1_penalty", parameters, backend::Abs{}, backend::Sign{});
}

/// sum of w^2 over every element of every parameter (differentiable; rank 0).
template <FloatingElement T>
Tensor<T> l2_penalty(const std::vector<Tensor<T>>& parameters) {
  // d w^2/dw = 2 w
  return detail::parameter_penalty<T>("l2_penalty", parameters, backend::Square{}, backend::SquareDerivative{});
}

}  // namespace nabla::optim
