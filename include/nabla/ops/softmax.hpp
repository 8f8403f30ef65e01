// nabla/ops/softmax.hpp - softmax and log_softmax along one dimension.
//
// Along `dim`, each "row" x_1..x_n (all other indices fixed) becomes
//   softmax(x)_k     = e^(x_k - m) / sum_j e^(x_j - m)
//   log_softmax(x)_k = x_k - m - log(sum_j e^(x_j - m))
// with m = max_j x_j. Subtracting the row max changes nothing mathematically (it cancels),
// but keeps every exponent <= 0, so e^(...) never overflows: softmax([1000, 1000]) is
// [0.5, 0.5], not inf/inf = NaN.
//
// Each op is ONE graph node with its own backward (not a composition of exp, sum and div),
// so it costs one pass forward and one pass backward, and the formula is in one place.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/views.hpp"

namespace nabla {

namespace detail {

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

/// The tensor itself when it is densely packed, else a dense copy (no autograd).
template <typename T>
Tensor<T> dense_values(const Tensor<T>& tensor) {
  return tensor.is_contiguous() ? tensor : copy_values(tensor);
}

/// Calls row(first, stride) for every row of the layout, where the row's elements are
/// first[0], first[stride], ..., first[(size - 1) * stride]. Rows run in parallel when
/// there is enough work; each row is computed by one thread, so results never depend on
/// the thread count.
template <typename Row>
void for_each_row(const RowLayout& layout, const Row& row) {
  const std::int64_t rows = layout.outer * layout.inner;
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(layout.size, 1));
  backend::cpu::parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t o = r / layout.inner, i = r % layout.inner;
      row(o * layout.size * layout.inner + i, layout.inner);
    }
  });
}

/// The forward of softmax (log = false) or log_softmax (log = true) into a new tensor.
template <typename T>
Tensor<T> softmax_forward(const std::string& op, const Tensor<T>& input, std::int64_t dim, bool log) {
  check_defined(op, input);
  const RowLayout layout = row_layout(op, input.shape(), dim);
  const Tensor<T> x = dense_values(input);
  Tensor<T> out = backend::empty<T>(input.shape(), input.device());
  if (input.device().is_cuda()) {
#if defined(NABLA_WITH_CUDA)
    backend::cuda::softmax_forward(backend::device_data(x), backend::device_data(out), layout.outer, layout.size,
                                   layout.inner, log, input.device().index());
    return out;
#else
    backend::throw_no_cuda(op, input.device());
#endif
  }
  const T* in_data = x.data();
  T* out_data = out.data();
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
  return out;
}

/// The backward on a CUDA device; false (nothing done) for CPU tensors.
template <typename T>
bool softmax_backward_on_device(const Tensor<T>& gradient, const Tensor<T>& output, Tensor<T>& grad_input,
                                const RowLayout& layout, bool log) {
  if (output.device().is_cpu()) return false;
#if defined(NABLA_WITH_CUDA)
  backend::cuda::softmax_backward(backend::device_data(gradient), backend::device_data(output),
                                  backend::device_data(grad_input), layout.outer, layout.size, layout.inner, log,
                                  output.device().index());
  return true;
#else
  (void)gradient, (void)grad_input, (void)layout, (void)log;
  backend::throw_no_cuda("softmax backward", output.device());
#endif
}

}  // namespace detail

/// e^x / sum(e^x) along `dim` (default: the last): each row becomes a probability
/// distribution. Stable for any input size (the row max is subtracted first).
template <FloatingElement T>
Tensor<T> softmax(const Tensor<T>& input, std::int64_t dim = -1) {
  const std::string op = "softmax";
  Tensor<T> out = detail::softmax_forward(op, input, dim, /*log=*/false);
  const detail::RowLayout layout = detail::row_layout(op, input.shape(), dim);
  // d softmax/dx: grad_x_k = s_k * (g_k - sum_j g_j s_j)   (s = the output, g = dL/ds)
  record_op<T>(out, op, {input},
               [layout, output = out.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
                 const Tensor<T> g = detail::dense_values(grad);
                 Tensor<T> grad_input = backend::empty<T>(output.shape(), output.device());
                 if (detail::softmax_backward_on_device(g, output, grad_input, layout, /*log=*/false))
                   return std::vector<Tensor<T>>{grad_input};
                 const T* g_data = g.data();
                 const T* s_data = output.data();
                 T* result = grad_input.data();
                 detail::for_each_row(layout, [&](std::int64_t first, std::int64_t stride) {
                   T dot = 0;
                   for (std::int64_t k = 0; k < layout.size; ++k)
                     dot += g_data[first + k * stride] * s_data[first + k * stride];
                   for (std::int64_t k = 0; k < layout.size; ++k) {
                     const std::int64_t at = first + k * stride;
                     result[at] = s_data[at] * (g_data[at] - dot);
                   }
                 });
                 return std::vector<Tensor<T>>{grad_input};
               },
               {out});
  return out;
}

/// log(softmax(x)) along `dim` (default: the last), computed directly as
/// x - max - log(sum(e^(x - max))): finite even where softmax would round to 0.
template <FloatingElement T>
Tensor<T> log_softmax(const Tensor<T>& input, std::int64_t dim = -1) {
  const std::string op = "log_softmax";
  Tensor<T> out = detail::softmax_forward(op, input, dim, /*log=*/true);
  const detail::RowLayout layout = detail::row_layout(op, input.shape(), dim);
  // d log_softmax/dx: grad_x_k = g_k - softmax_k * sum_j g_j   (softmax_k = e^(output_k))
  record_op<T>(out, op, {input},
               [layout, output = out.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
                 const Tensor<T> g = detail::dense_values(grad);
                 Tensor<T> grad_input = backend::empty<T>(output.shape(), output.device());
                 if (detail::softmax_backward_on_device(g, output, grad_input, layout, /*log=*/true))
                   return std::vector<Tensor<T>>{grad_input};
                 const T* g_data = g.data();
                 const T* log_s = output.data();
                 T* result = grad_input.data();
                 detail::for_each_row(layout, [&](std::int64_t first, std::int64_t stride) {
                   T total = 0;
                   for (std::int64_t k = 0; k < layout.size; ++k) total += g_data[first + k * stride];
                   for (std::int64_t k = 0; k < layout.size; ++k) {
                     const std::int64_t at = first + k * stride;
                     result[at] = g_data[at] - std::exp(log_s[at]) * total;
                   }
                 });
                 return std::vector<Tensor<T>>{grad_input};
               },
               {out});
  return out;
}

}  // namespace nabla
