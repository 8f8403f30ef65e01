// nabla/backend/cpu/layer_norm.hpp - layer normalization over the last dim on the CPU
// (kernels/layer_norm.cu on a GPU).
//
// A dense [rows, dim] buffer; each row is normalized on its own:
//   mean = sum(x) / dim,  rstd = 1 / sqrt(sum((x - mean)^2) / dim + eps)
//   y = (x - mean) * rstd * gamma + beta
// The forward keeps mean and rstd per row for the backward. Rows run in parallel (one row per
// thread) and the gamma/beta gradients split the columns, each summed in row order, so no
// result depends on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"

namespace nabla::backend::cpu {

/// y, mean and rstd of every row; gamma and beta may be null (no affine part, or no bias).
template <typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, std::int64_t rows, std::int64_t dim, T eps, T* y,
                        T* mean, T* rstd) {
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(dim, 1));
  parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const T* row = x + r * dim;
      T* out = y + r * dim;
      T total = 0;
      for (std::int64_t c = 0; c < dim; ++c) total += row[c];
      const T row_mean = total / static_cast<T>(dim);
      // Two passes (mean first, then the squared deviations): no cancellation for rows far
      // from zero, where E[x^2] - E[x]^2 would lose every digit.
      T squares = 0;
      for (std::int64_t c = 0; c < dim; ++c) squares += (row[c] - row_mean) * (row[c] - row_mean);
      const T row_rstd = T(1) / std::sqrt(squares / static_cast<T>(dim) + eps);
      for (std::int64_t c = 0; c < dim; ++c) {
        const T normalized = (row[c] - row_mean) * row_rstd;
        out[c] = normalized * (gamma ? gamma[c] : T(1)) + (beta ? beta[c] : T(0));
      }
      mean[r] = row_mean;
      rstd[r] = row_rstd;
    }
  });
}

/// dL/dx of every row (into grad_x) and, where the pointers are not null, dL/dgamma and
/// dL/dbeta (written, not accumulated). With xhat = (x - mean) rstd and dxhat = g gamma:
///   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dgamma = sum_rows g xhat,
///   dbeta = sum_rows g.
template <typename T>
void layer_norm_backward(const T* grad, const T* x, const T* gamma, const T* mean, const T* rstd, std::int64_t rows,
                         std::int64_t dim, T* grad_x, T* grad_gamma, T* grad_beta) {
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(dim, 1));
  if (grad_x) {
    parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        const T* g = grad + r * dim;
        const T* row = x + r * dim;
        const T m = mean[r], s = rstd[r];
        T sum_dxhat = 0, sum_dxhat_xhat = 0;
        for (std::int64_t c = 0; c < dim; ++c) {
          const T dxhat = g[c] * (gamma ? gamma[c] : T(1));
          sum_dxhat += dxhat;
          sum_dxhat_xhat += dxhat * (row[c] - m) * s;
        }
        const T mean_dxhat = sum_dxhat / static_cast<T>(dim), mean_dxhat_xhat = sum_dxhat_xhat / static_cast<T>(dim);
        T* out = grad_x + r * dim;
        for (std::int64_t c = 0; c < dim; ++c) {
          const T xhat = (row[c] - m) * s;
          out[c] = s * (g[c] * (gamma ? gamma[c] : T(1)) - mean_dxhat - xhat * mean_dxhat_xhat);
        }
      }
    });
  }
  if (!grad_gamma && !grad_beta) return;
  const std::int64_t column_grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(rows, 1));
  parallel_for(0, dim, column_grain, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t c = first; c < last; ++c) {
      T sum_g_xhat = 0, sum_g = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        const T g = grad[r * dim + c];
        sum_g_xhat += g * (x[r * dim + c] - mean[r]) * rstd[r];
        sum_g += g;
      }
      if (grad_gamma) grad_gamma[c] = sum_g_xhat;
      if (grad_beta) grad_beta[c] = sum_g;
    }
  });
}

}  // namespace nabla::backend::cpu
