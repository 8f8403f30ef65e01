// nabla/backend/cpu/softmax.hpp - softmax and log_softmax on the CPU (kernels/softmax.cu on a GPU).
//
// A tensor is seen as [outer, size, inner] around the softmax dim: each "row" is the `size`
// elements with the other indices fixed, `inner` apart in memory. Rows run in parallel, each
// on one thread, so results never depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/core/shape.hpp"

namespace nabla::backend::cpu {

/// A tensor seen as [outer, size, inner] around `dim`: element k of row (o, i) is at
/// (o * size + k) * inner + i in a contiguous buffer.
struct RowLayout {
  std::int64_t outer = 1;
  std::int64_t size = 1;
  std::int64_t inner = 1;
};

/// The row layout around `dim` (negative counts from the end). A rank-0 tensor is one row
/// of one element and accepts dim 0 or -1, as in PyTorch.
inline RowLayout row_layout(const std::string& op, const Shape& shape, std::int64_t dim) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  RowLayout layout;
  if (rank == 0) {
    normalize_dim(op, dim, 1);
    return layout;
  }
  const std::int64_t axis = normalize_dim(op, dim, rank);
  for (std::int64_t d = 0; d < axis; ++d) layout.outer *= shape[static_cast<std::size_t>(d)];
  layout.size = shape[static_cast<std::size_t>(axis)];
  for (std::int64_t d = axis + 1; d < rank; ++d) layout.inner *= shape[static_cast<std::size_t>(d)];
  return layout;
}

/// Calls row(first, stride) for every row of the layout, where the row's elements are
/// first[0], first[stride], ..., first[(size - 1) * stride]. Rows run in parallel when
/// there is enough work; each row is computed by one thread, so results never depend on
/// the thread count.
template <typename Row>
void for_each_row(const RowLayout& layout, const Row& row) {
  const std::int64_t rows = layout.outer * layout.inner;
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(layout.size, 1));
  parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t o = r / layout.inner, i = r % layout.inner;
      row(o * layout.size * layout.inner + i, layout.inner);
    }
  });
}

/// softmax (log = false) or log_softmax (log = true) of the dense `input` into `output`.
template <typename T>
void softmax_forward(const T* in_data, T* out_data, const RowLayout& layout, bool log) {
  for_each_row(layout, [&](std::int64_t first, std::int64_t stride) {
    const std::int64_t n = layout.size;
    T row_max = -std::numeric_limits<T>::infinity();
    for (std::int64_t k = 0; k < n; ++k) row_max = std::max(row_max, in_data[first + k * stride]);
    // An all -inf row (or an empty one) has no finite max; shifting by 0 then gives
    // e^-inf = 0 and 0/0 = NaN like PyTorch, instead of -inf - -inf = NaN inside exp.
    const T shift = std::isfinite(row_max) ? row_max : T(0);
    T total = 0;
    for (std::int64_t k = 0; k < n; ++k) total += std::exp(in_data[first + k * stride] - shift);
    if (log) {
      const T log_total = std::log(total);
      for (std::int64_t k = 0; k < n; ++k)
        out_data[first + k * stride] = in_data[first + k * stride] - shift - log_total;
    } else {
      for (std::int64_t k = 0; k < n; ++k)
        out_data[first + k * stride] = std::exp(in_data[first + k * stride] - shift) / total;
    }
  });
}

/// Their backward from the output and its gradient (all dense, same layout).
template <typename T>
void softmax_backward(const T* g_data, const T* output, T* result, const RowLayout& layout, bool log) {
  if (log) {
    // d log_softmax/dx: grad_x_k = g_k - softmax_k * sum_j g_j   (softmax_k = e^(output_k))
    for_each_row(layout, [&](std::int64_t first, std::int64_t stride) {
      T total = 0;
      for (std::int64_t k = 0; k < layout.size; ++k) total += g_data[first + k * stride];
      for (std::int64_t k = 0; k < layout.size; ++k) {
        const std::int64_t at = first + k * stride;
        result[at] = g_data[at] - std::exp(output[at]) * total;
      }
    });
    return;
  }
  // d softmax/dx: grad_x_k = s_k * (g_k - sum_j g_j s_j)   (s = the output)
  for_each_row(layout, [&](std::int64_t first, std::int64_t stride) {
    T dot = 0;
    for (std::int64_t k = 0; k < layout.size; ++k) dot += g_data[first + k * stride] * output[first + k * stride];
    for (std::int64_t k = 0; k < layout.size; ++k) {
      const std::int64_t at = first + k * stride;
      result[at] = output[at] * (g_data[at] - dot);
    }
  });
}

}  // namespace nabla::backend::cpu
