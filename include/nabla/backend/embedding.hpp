// nabla/backend/embedding.hpp - the embedding lookup (gather) and its backward (scatter-add)
// on any device: backend/cpu/embedding.hpp or kernels/embedding.cu.
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/embedding.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// out[s, :] = table[ids[s], :]: `table` a contiguous [rows, dim] tensor, `ids` contiguous
/// (already checked to lie in [0, rows)), `out` contiguous with ids.numel() * dim elements;
/// all three on the table's device.
template <typename T>
void embedding_forward(const Tensor<T>& table, const IndexTensor& ids, Tensor<T>& out) {
  const Device device = table.device();
  const std::int64_t dim = table.size(1);
  if (device.is_cpu()) {
    cpu::embedding_forward(device_data(table), device_data(ids), ids.numel(), dim, device_data(out));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::embedding_forward(device_data(table), device_data(ids), ids.numel(), dim, device_data(out), device.index());
#else
  throw_no_cuda("embedding", device);
#endif
}

/// grad_table ([rows, dim], contiguous; every element written) = the sum of gradient[s, :] over
/// the positions s with ids[s] == row, except the padding row (-1: none), which gets zeros.
template <typename T>
void embedding_backward(const Tensor<T>& gradient, const IndexTensor& ids, std::int64_t padding_idx,
                        Tensor<T>& grad_table) {
  const Device device = grad_table.device();
  const std::int64_t rows = grad_table.size(0), dim = grad_table.size(1);
  if (device.is_cpu()) {
    cpu::embedding_backward(device_data(gradient), device_data(ids), ids.numel(), dim, padding_idx,
                            device_data(grad_table), rows);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::embedding_backward(device_data(gradient), device_data(ids), ids.numel(), dim, padding_idx,
                           device_data(grad_table), rows, device.index());
#else
  throw_no_cuda("embedding backward", device);
#endif
}

}  // namespace nabla::backend
