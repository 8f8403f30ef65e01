// nabla/backend/cpu/class_losses.hpp - the losses over C classes with class-id targets on the
// CPU: the fused softmax-cross-entropy (kernels/softmax.cu's cross-entropy part), the negative
// log-likelihood and the multi-class margin loss (kernels/class_losses.cu).
//
// Every function takes [rows, classes] row-major values and one class id per row, already
// checked by loss/classification.hpp. A backward's upstream gradient is one value for a
// reduced loss, or one per row (upstream_per_row) for Reduction::none.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cpu {

/// Rows per thread below which a per-row loop over `classes` columns is not worth splitting.
inline std::int64_t class_row_grain(std::int64_t classes) {
  return std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(classes, 1));
}

/// The upstream gradient of row r: one number for mean/sum, one per row for `none`.
template <typename T>
T upstream_of_row(const T* upstream, bool upstream_per_row, std::int64_t row) {
  return upstream_per_row ? upstream[row] : upstream[0];
}

/// Per row r: row_max_log_sum[2r] = m = max_c x_c and row_max_log_sum[2r + 1] = log sum_c
/// exp(x_c - m) (kept apart: backend::cross_entropy_row_loss says why), and the loss
/// lse - on_target x_y - per_class sum_c x_c into losses; ignored rows give 0 for all three.
template <typename T>
void cross_entropy_forward(const T* logits, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                           std::int64_t ignore_index, T on_target, T per_class, T* losses, T* row_max_log_sum) {
  parallel_for(0, rows, class_row_grain(classes), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      T* max_log_sum = row_max_log_sum + 2 * r;
      if (ids[r] == ignore_index) {
        losses[r] = T(0);
        max_log_sum[0] = max_log_sum[1] = T(0);
        continue;
      }
      const T* row = logits + r * classes;
      // Eigen arrays: the exps run 8 floats per instruction (a scalar std::exp loop was
      // a quarter of a language model's training step, measured with perf).
      const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> row_values(row, classes);
      const T row_max = row_values.maxCoeff();
      // subtracting the max keeps every exp <= 1: no overflow even for logits of 1000
      const T log_sum = std::log((row_values - row_max).exp().sum());
      const T logit_sum = per_class == T(0) ? T(0) : row_values.sum();
      max_log_sum[0] = row_max;
      max_log_sum[1] = log_sum;
      losses[r] = cross_entropy_row_loss(row_max, log_sum, row[ids[r]], logit_sum, on_target, per_class);
    }
  });
}

/// grad_logits[r, c] = (softmax(x_r)_c - q_rc) * upstream_r * scale, 0 for ignored rows, with
/// q = on_target onehot(y) + per_class and the softmax from the forward's max and log-sum.
template <typename T>
void cross_entropy_backward(const T* logits, const std::int64_t* ids, const T* row_max_log_sum, const T* upstream,
                            bool upstream_per_row, T scale, std::int64_t rows, std::int64_t classes,
                            std::int64_t ignore_index, T on_target, T per_class, T* grad_logits) {
  parallel_for(0, rows, class_row_grain(classes), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      T* out_row = grad_logits + r * classes;
      const T* row = logits + r * classes;
      if (ids[r] == ignore_index) {
        for (std::int64_t c = 0; c < classes; ++c) out_row[c] = T(0);
        continue;
      }
      const T row_gradient = upstream_of_row(upstream, upstream_per_row, r) * scale;
      const T row_max = row_max_log_sum[2 * r], log_sum = row_max_log_sum[2 * r + 1];
      // softmax_from_max_log_sum, vectorized as above: e^((x - m) - log_sum)
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out_row, classes) =
          (((Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(row, classes) - row_max) - log_sum).exp() -
           per_class) *
          row_gradient;
      out_row[ids[r]] -= on_target * row_gradient;
    }
  });
}

/// losses[r] = -log_probabilities[r, ids[r]], 0 for ignored rows.
template <typename T>
void nll_forward(const T* log_probabilities, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                 std::int64_t ignore_index, T* losses) {
  for (std::int64_t r = 0; r < rows; ++r)
    losses[r] = nll_row_loss(log_probabilities + r * classes, ids[r], ignore_index);
}

/// grad_input[r, c] = -upstream_r * scale where c = ids[r] (not ignored), else 0.
template <typename T>
void nll_backward(const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale, std::int64_t rows,
                  std::int64_t classes, std::int64_t ignore_index, T* grad_input) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T row_gradient = upstream_of_row(upstream, upstream_per_row, r) * scale;
    for (std::int64_t c = 0; c < classes; ++c)
      grad_input[r * classes + c] = nll_gradient(c, ids[r], ignore_index, row_gradient);
  }
}

/// losses[r] = sum_{j != y} max(0, margin - x_y + x_j)^p / classes.
template <typename T>
void multi_margin_forward(const T* scores, const std::int64_t* ids, std::int64_t rows, std::int64_t classes, T margin,
                          int p, T* losses) {
  const T inverse_classes = T(1) / static_cast<T>(classes);
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = scores + r * classes;
    const std::int64_t y = ids[r];
    T total = T(0);
    for (std::int64_t j = 0; j < classes; ++j)
      if (j != y) total += multi_margin_term(row[y], row[j], margin, p);
    losses[r] = total * inverse_classes;
  }
}

/// grad_scores[r, j] = [term_j > 0] (p == 1 ? 1 : 2 term_j) / classes * upstream_r * scale for
/// j != y, and grad_scores[r, y] = -(the sum of those).
template <typename T>
void multi_margin_backward(const T* scores, const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale,
                           std::int64_t rows, std::int64_t classes, T margin, int p, T* grad_scores) {
  const T inverse_classes = T(1) / static_cast<T>(classes);
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = scores + r * classes;
    T* out_row = grad_scores + r * classes;
    const std::int64_t y = ids[r];
    const T row_gradient = upstream_of_row(upstream, upstream_per_row, r) * scale * inverse_classes;
    out_row[y] = T(0);
    for (std::int64_t j = 0; j < classes; ++j) {
      if (j == y) continue;
      // the derivative of max(0, term)^p with respect to x_j (and minus it for x_y)
      const T derivative = multi_margin_term_derivative(row[y], row[j], margin, p);
      out_row[j] = derivative * row_gradient;
      out_row[y] -= derivative * row_gradient;
    }
  }
}

}  // namespace nabla::backend::cpu
