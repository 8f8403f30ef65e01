// kernels/class_losses.cu: the losses over [rows, classes] scores with class-id targets that are
// not the fused cross-entropy (softmax.cu): the negative log-likelihood and the multi-class
// margin loss, forward and backward. The per-element math is backend/functors.hpp's
// (nll_row_loss, nll_gradient, multi_margin_term, multi_margin_term_derivative), the same
// functions the CPU loops of loss/classification.hpp call. Ids were checked on the host.
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cuda {

namespace {

// losses[r] = -log_probabilities[r, ids[r]] (0 for ignored rows): one thread per row.
template <typename T>
__global__ void nll_forward_kernel(const T* log_probabilities, const std::int64_t* ids, std::int64_t rows,
                                   std::int64_t classes, std::int64_t ignore_index, T* losses) {
  for (std::int64_t r = detail::global_thread_index(); r < rows; r += detail::grid_stride())
    losses[r] = nll_row_loss(log_probabilities + r * classes, ids[r], ignore_index);
}

// dloss/dx[r, c] = -upstream_r * scale where c = ids[r], else 0: one thread per element.
template <typename T>
__global__ void nll_backward_kernel(const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale,
                                    std::int64_t rows, std::int64_t classes, std::int64_t ignore_index, T* grad_input) {
  const std::int64_t count = rows * classes;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride()) {
    const std::int64_t r = i / classes;
    const T row_gradient = (upstream_per_row ? upstream[r] : upstream[0]) * scale;
    grad_input[i] = nll_gradient(i % classes, ids[r], ignore_index, row_gradient);
  }
}

// losses[r] = sum_{j != y} multi_margin_term(x_y, x_j) / classes: one block per row, the
// block's threads share the classes and block_sum adds their partial sums.
template <typename T>
__global__ void multi_margin_forward_kernel(const T* scores, const std::int64_t* ids, std::int64_t rows,
                                            std::int64_t classes, T margin, int p, T* losses) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = scores + r * classes;
    const std::int64_t y = ids[r];
    T partial = T(0);
    for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x)
      if (j != y) partial += multi_margin_term(row[y], row[j], margin, p);
    const T total = detail::block_sum(partial);
    if (threadIdx.x == 0) losses[r] = total * (T(1) / static_cast<T>(classes));  // as the CPU rounds it
  }
}

// dloss/dx_j = derivative_j * g (j != y), dloss/dx_y = -(sum_{j != y} derivative_j) * g, with
// g = upstream_r * scale / classes: one block per row (the target's gradient needs the row's sum).
template <typename T>
__global__ void multi_margin_backward_kernel(const T* scores, const std::int64_t* ids, const T* upstream,
                                             bool upstream_per_row, T scale, std::int64_t rows, std::int64_t classes,
                                             T margin, int p, T* grad_scores) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = scores + r * classes;
    T* out_row = grad_scores + r * classes;
    const std::int64_t y = ids[r];
    const T row_gradient = (upstream_per_row ? upstream[r] : upstream[0]) * scale * (T(1) / static_cast<T>(classes));
    T partial = T(0);
    for (std::int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
      if (j == y) continue;
      const T derivative = multi_margin_term_derivative(row[y], row[j], margin, p);
      out_row[j] = derivative * row_gradient;
      partial += derivative;
    }
    const T total = detail::block_sum(partial);
    if (threadIdx.x == 0) out_row[y] = -total * row_gradient;
  }
}

}  // namespace

template <typename T>
void nll_forward(const T* log_probabilities, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                 std::int64_t ignore_index, T* losses, int device) {
  if (rows <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(rows, nll_forward_kernel<T>, "nll_forward_kernel", stream, log_probabilities, ids, rows, classes,
                      ignore_index, losses);
}

template <typename T>
void nll_backward(const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale, std::int64_t rows,
                  std::int64_t classes, std::int64_t ignore_index, T* grad_input, int device) {
  if (rows <= 0 || classes <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(rows * classes, nll_backward_kernel<T>, "nll_backward_kernel", stream, ids, upstream,
                      upstream_per_row, scale, rows, classes, ignore_index, grad_input);
}

template <typename T>
void multi_margin_forward(const T* scores, const std::int64_t* ids, std::int64_t rows, std::int64_t classes, T margin,
                          int p, T* losses, int device) {
  if (rows <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(multi_margin_forward_kernel<T>, "multi_margin_forward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(classes), 0, stream, scores, ids, rows, classes, margin, p, losses);
}

template <typename T>
void multi_margin_backward(const T* scores, const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale,
                           std::int64_t rows, std::int64_t classes, T margin, int p, T* grad_scores, int device) {
  if (rows <= 0 || classes <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(multi_margin_backward_kernel<T>, "multi_margin_backward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(classes), 0, stream, scores, ids, upstream, upstream_per_row, scale, rows,
                 classes, margin, p, grad_scores);
}

#define NABLA_INSTANTIATE_CLASS_LOSSES(T)                                                                              \
  template void nll_forward<T>(const T*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t, T*, int);      \
  template void nll_backward<T>(const std::int64_t*, const T*, bool, T, std::int64_t, std::int64_t, std::int64_t, T*,  \
                                int);                                                                                  \
  template void multi_margin_forward<T>(const T*, const std::int64_t*, std::int64_t, std::int64_t, T, int, T*, int);   \
  template void multi_margin_backward<T>(const T*, const std::int64_t*, const T*, bool, T, std::int64_t, std::int64_t, \
                                         T, int, T*, int);
NABLA_INSTANTIATE_CLASS_LOSSES(float)
NABLA_INSTANTIATE_CLASS_LOSSES(double)

}  // namespace nabla::backend::cuda
