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

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/softmax.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/views.hpp"

namespace nabla {

namespace detail {

// The row helpers live with the CPU kernel; these names stay for the code that used them here.
using backend::cpu::for_each_row;
using backend::cpu::row_layout;
using backend::cpu::RowLayout;

/// The tensor itself when it is densely packed, else a dense copy (no autograd).
template <typename T>
Tensor<T> dense_values(const Tensor<T>& tensor) {
  return tensor.is_contiguous() ? tensor : copy_values(tensor);
}

/// The forward of softmax (log = false) or log_softmax (log = true) into a new tensor.
template <typename T>
Tensor<T> softmax_forward(const std::string& op, const Tensor<T>& input, std::int64_t dim, bool log) {
  check_defined(op, input);
  const RowLayout layout = row_layout(op, input.shape(), dim);
  const Tensor<T> x = dense_values(input);
  Tensor<T> out = backend::empty<T>(input.shape(), input.device());
  backend::softmax_forward(x, out, layout, log);
  return out;
}

/// The backward of softmax / log_softmax from the output and the gradient of the output.
template <typename T>
Tensor<T> softmax_backward(const Tensor<T>& grad, const Tensor<T>& output, const RowLayout& layout, bool log) {
  const Tensor<T> g = dense_values(grad);
  Tensor<T> grad_input = backend::empty<T>(output.shape(), output.device());
  backend::softmax_backward(g, output, grad_input, layout, log);
  return grad_input;
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
                 return std::vector<Tensor<T>>{detail::softmax_backward(grad, output, layout, /*log=*/false)};
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
                 return std::vector<Tensor<T>>{detail::softmax_backward(grad, output, layout, /*log=*/true)};
               },
               {out});
  return out;
}

}  // namespace nabla
