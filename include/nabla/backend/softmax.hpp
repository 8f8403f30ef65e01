// nabla/backend/softmax.hpp - softmax and log_softmax along one dim, on the tensors' device:
// backend/cpu/softmax.hpp on the CPU, kernels/softmax.cu on a GPU.
#pragma once

#include "nabla/backend/cpu/softmax.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

using cpu::row_layout;
using cpu::RowLayout;

/// softmax (log = false) or log_softmax (log = true) of the dense `input` into `out` (dense,
/// same shape and device), rows laid out as `layout`.
template <typename T>
void softmax_forward(const Tensor<T>& input, Tensor<T>& out, const RowLayout& layout, bool log) {
  if (input.device().is_cpu()) {
    cpu::softmax_forward(input.data(), out.data(), layout, log);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::softmax_forward(device_data(input), device_data(out), layout.outer, layout.size, layout.inner, log,
                        input.device().index());
#else
  throw_no_cuda(log ? "log_softmax" : "softmax", input.device());
#endif
}

/// Their backward: grad_input (dense, written here) from the dense output and its gradient.
template <typename T>
void softmax_backward(const Tensor<T>& gradient, const Tensor<T>& output, Tensor<T>& grad_input,
                      const RowLayout& layout, bool log) {
  if (output.device().is_cpu()) {
    cpu::softmax_backward(gradient.data(), output.data(), grad_input.data(), layout, log);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::softmax_backward(device_data(gradient), device_data(output), device_data(grad_input), layout.outer, layout.size,
                         layout.inner, log, output.device().index());
#else
  throw_no_cuda("softmax backward", output.device());
#endif
}

}  // namespace nabla::backend
