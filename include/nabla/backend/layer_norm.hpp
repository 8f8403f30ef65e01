// nabla/backend/layer_norm.hpp - layer normalization over the last dim, on the tensors' device:
// backend/cpu/layer_norm.hpp on the CPU, kernels/layer_norm.cu on a GPU.
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/layer_norm.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// The address of a tensor's first element, or null for an undefined (optional) tensor.
template <typename T>
T* optional_data(const Tensor<T>& tensor) {
  return tensor.defined() ? device_data(tensor) : nullptr;
}

/// y, mean, rstd of the dense [rows, dim] x; gamma and beta dense [dim] or undefined.
template <typename T>
void layer_norm_forward(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta, std::int64_t rows,
                        std::int64_t dim, T eps, Tensor<T>& y, Tensor<T>& mean, Tensor<T>& rstd) {
  if (x.device().is_cpu()) {
    cpu::layer_norm_forward(x.data(), optional_data(gamma), optional_data(beta), rows, dim, eps, y.data(), mean.data(),
                            rstd.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::layer_norm_forward(device_data(x), optional_data(gamma), optional_data(beta), rows, dim, eps, device_data(y),
                           device_data(mean), device_data(rstd), x.device().index());
#else
  (void)gamma, (void)beta, (void)rows, (void)dim, (void)eps, (void)y, (void)mean, (void)rstd;
  throw_no_cuda("layer_norm", x.device());
#endif
}

/// Its backward; each of grad_x, grad_gamma, grad_beta is written when defined.
template <typename T>
void layer_norm_backward(const Tensor<T>& grad, const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& mean,
                         const Tensor<T>& rstd, std::int64_t rows, std::int64_t dim, Tensor<T>& grad_x,
                         Tensor<T>& grad_gamma, Tensor<T>& grad_beta) {
  if (x.device().is_cpu()) {
    cpu::layer_norm_backward(grad.data(), x.data(), optional_data(gamma), mean.data(), rstd.data(), rows, dim,
                             optional_data(grad_x), optional_data(grad_gamma), optional_data(grad_beta));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::layer_norm_backward(device_data(grad), device_data(x), optional_data(gamma), device_data(mean),
                            device_data(rstd), rows, dim, optional_data(grad_x), optional_data(grad_gamma),
                            optional_data(grad_beta), x.device().index());
#else
  (void)grad, (void)gamma, (void)mean, (void)rstd, (void)rows, (void)dim, (void)grad_x, (void)grad_gamma,
      (void)grad_beta;
  throw_no_cuda("layer_norm backward", x.device());
#endif
}

}  // namespace nabla::backend
