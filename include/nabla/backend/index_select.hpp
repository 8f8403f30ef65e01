// nabla/backend/index_select.hpp - index_select along a dim and its backward, on the tensors'
// device: backend/cpu/index_select.hpp on the CPU, kernels/index_select.cu on a GPU.
#pragma once

#include <cstdint>
#include <type_traits>

#include "nabla/backend/cpu/index_select.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// out[o, k, :] = source[o, indices[k], :] for a dense source [outer, size, inner], checked
/// indices (a 1-D tensor on the source's device) and a dense out [outer, count, inner].
template <typename T>
void index_select_forward(const Tensor<T>& source, const IndexTensor& indices, std::int64_t outer, std::int64_t size,
                          std::int64_t inner, Tensor<T>& out) {
  if (out.device().is_cpu()) {
    cpu::index_select_forward(source.data(), indices.data(), outer, size, inner, indices.numel(), out.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::index_select_forward(device_data(source), device_data(indices), outer, size, inner, indices.numel(),
                             device_data(out), out.device().index());
#else
  throw_no_cuda("index_select", out.device());
#endif
}

/// Its backward, an index-add: input_grad (dense [outer, size, inner], written here) gets
/// gradient[o, k, :] added at [o, indices[k], :], so repeated indices sum their gradients.
template <typename T>
void index_select_backward(const Tensor<T>& gradient, const IndexTensor& indices, std::int64_t outer, std::int64_t size,
                           std::int64_t inner, Tensor<T>& input_grad) {
  if (input_grad.device().is_cpu()) {
    map(input_grad, Fill<T>{T(0)});
    cpu::index_select_backward(gradient.data(), indices.data(), outer, size, inner, indices.numel(), input_grad.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  if constexpr (std::is_floating_point_v<T>) {
    cuda::index_select_backward(device_data(gradient), device_data(indices), outer, size, inner, indices.numel(),
                                device_data(input_grad), input_grad.device().index());
  } else {
    // integer tensors never require grad, so no graph reaches this (and no kernel exists)
    throw ValueError("index_select: integer tensors have no gradient");
  }
#else
  throw_no_cuda("index_select backward", input_grad.device());
#endif
}

}  // namespace nabla::backend
