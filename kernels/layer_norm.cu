// kernels/layer_norm.cu: layer normalization over the last dim (backend/cpu/layer_norm.hpp is
// the CPU twin and states the formulas). Forward and dL/dx: one block per row, the row's sums
// by block reductions; dL/dgamma and dL/dbeta: one thread per column, summing the rows in order
// (deterministic, no atomics).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"

namespace nabla::backend::cuda {

namespace {

template <typename T>
__global__ void layer_norm_forward_kernel(const T* x, const T* gamma, const T* beta, std::int64_t rows,
                                          std::int64_t dim, T eps, T* y, T* mean, T* rstd) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * dim;
    T total = 0;
    for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) total += row[c];
    const T row_mean = detail::block_sum(total) / static_cast<T>(dim);
    T squares = 0;  // two passes, as on the CPU: no cancellation for rows far from zero
    for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) squares += (row[c] - row_mean) * (row[c] - row_mean);
    const T row_rstd = T(1) / sqrt(detail::block_sum(squares) / static_cast<T>(dim) + eps);
    for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const T normalized = (row[c] - row_mean) * row_rstd;
      y[r * dim + c] = normalized * (gamma ? gamma[c] : T(1)) + (beta ? beta[c] : T(0));
    }
    if (threadIdx.x == 0) {
      mean[r] = row_mean;
      rstd[r] = row_rstd;
    }
  }
}

// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g gamma
template <typename T>
__global__ void layer_norm_backward_input_kernel(const T* grad, const T* x, const T* gamma, const T* mean,
                                                 const T* rstd, std::int64_t rows, std::int64_t dim, T* grad_x) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T m = mean[r], s = rstd[r];
    T sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const T dxhat = grad[r * dim + c] * (gamma ? gamma[c] : T(1));
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * (x[r * dim + c] - m) * s;
    }
    const T mean_dxhat = detail::block_sum(sum_dxhat) / static_cast<T>(dim);
    const T mean_dxhat_xhat = detail::block_sum(sum_dxhat_xhat) / static_cast<T>(dim);
    for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const T xhat = (x[r * dim + c] - m) * s;
      grad_x[r * dim + c] = s * (grad[r * dim + c] * (gamma ? gamma[c] : T(1)) - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

// dgamma = sum_rows g xhat, dbeta = sum_rows g
template <typename T>
__global__ void layer_norm_backward_affine_kernel(const T* grad, const T* x, const T* mean, const T* rstd,
                                                  std::int64_t rows, std::int64_t dim, T* grad_gamma, T* grad_beta) {
  for (std::int64_t c = detail::global_thread_index(); c < dim; c += detail::grid_stride()) {
    T sum_g_xhat = 0, sum_g = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      const T g = grad[r * dim + c];
      sum_g_xhat += g * (x[r * dim + c] - mean[r]) * rstd[r];
      sum_g += g;
    }
    if (grad_gamma) grad_gamma[c] = sum_g_xhat;
    if (grad_beta) grad_beta[c] = sum_g;
  }
}

}  // namespace

template <typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, std::int64_t rows, std::int64_t dim, T eps, T* y,
                        T* mean, T* rstd, int device) {
  if (rows <= 0 || dim <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(layer_norm_forward_kernel<T>, "layer_norm_forward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(dim), 0, stream, x, gamma, beta, rows, dim, eps, y, mean, rstd);
}

template <typename T>
void layer_norm_backward(const T* grad, const T* x, const T* gamma, const T* mean, const T* rstd, std::int64_t rows,
                         std::int64_t dim, T* grad_x, T* grad_gamma, T* grad_beta, int device) {
  if (rows <= 0 || dim <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  if (grad_x)
    detail::launch(layer_norm_backward_input_kernel<T>, "layer_norm_backward_input_kernel",
                   detail::blocks_for_rows(rows), detail::threads_for_row(dim), 0, stream, grad, x, gamma, mean, rstd,
                   rows, dim, grad_x);
  if (grad_gamma || grad_beta)
    detail::launch_over(dim, layer_norm_backward_affine_kernel<T>, "layer_norm_backward_affine_kernel", stream, grad, x,
                        mean, rstd, rows, dim, grad_gamma, grad_beta);
}

template void layer_norm_forward<float>(const float*, const float*, const float*, std::int64_t, std::int64_t, float,
                                        float*, float*, float*, int);
template void layer_norm_forward<double>(const double*, const double*, const double*, std::int64_t, std::int64_t,
                                         double, double*, double*, double*, int);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                         std::int64_t, std::int64_t, float*, float*, float*, int);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          std::int64_t, std::int64_t, double*, double*, double*, int);

}  // namespace nabla::backend::cuda
