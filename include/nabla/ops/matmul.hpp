// nabla/ops/matmul.hpp - matrix products: [m,k] x [k,n], batched [B,m,k] x [B,k,n].
//
// Operands are handed to the GEMM as they lie in memory: a row-major matrix directly, a
// transposed view (column-major) with the transpose flag, so t(), transpose() and the
// backward's transposes cost no copy. Only views with no unit stride are made contiguous.
// A 2-D operand of a batched product is broadcast over the batch (batch stride 0).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/gemm.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/reduce.hpp"

namespace nabla {

namespace detail {

// How an operand lies in memory for the GEMM (backend/gemm.hpp); the names stay reachable here.
using backend::describe_matrix;
using backend::GemmOperand;

/// A view of `t` with its last two dims swapped (no autograd; used inside backward).
template <typename T>
Tensor<T> swap_last_two(const Tensor<T>& t) {
  Shape shape = t.shape();
  Strides strides = t.strides();
  const std::size_t rank = shape.size();
  std::swap(shape[rank - 1], shape[rank - 2]);
  std::swap(strides[rank - 1], strides[rank - 2]);
  return Tensor<T>(t.storage(), shape, strides, t.offset());
}

/// A dense copy with row-major strides (no autograd).
template <typename T>
Tensor<T> dense_copy(const Tensor<T>& t) {
  Tensor<T> copy = backend::empty<T>(t.shape(), t.device());
  backend::map(copy, backend::Identity{}, t);
  return copy;
}

/// `t` itself when the GEMM can read it as it lies (row-major or transposed), else a dense copy.
template <typename T>
Tensor<T> gemm_ready(const Tensor<T>& t) {
  GemmOperand operand;
  if (describe_matrix(t.size(-2), t.size(-1), t.strides()[t.dim() - 2], t.strides()[t.dim() - 1], operand)) return t;
  return dense_copy(t);
}

template <FloatingElement T>
Tensor<T> matmul_forward(const Tensor<T>& a_input, const Tensor<T>& b_input) {
  const std::string op = "matmul";
  check_same_device(op, a_input, b_input);
  const auto rank_a = a_input.dim(), rank_b = b_input.dim();
  if (rank_a < 2 || rank_a > 3 || rank_b < 2 || rank_b > 3)
    throw ShapeError(op + ": " + to_string(a_input.shape()) + " x " + to_string(b_input.shape()) +
                     ": expected 2-D or batched 3-D operands");
  const std::int64_t m = a_input.size(-2), k = a_input.size(-1), k_b = b_input.size(-2), n = b_input.size(-1);
  if (k != k_b)
    throw ShapeError(op + ": " + to_string(a_input.shape()) + " x " + to_string(b_input.shape()) +
                     ": inner dimensions " + std::to_string(k) + " and " + std::to_string(k_b) + " differ");
  const std::int64_t batch_a = rank_a == 3 ? a_input.size(0) : 1, batch_b = rank_b == 3 ? b_input.size(0) : 1;
  if (batch_a != batch_b && batch_a != 1 && batch_b != 1)
    throw ShapeError(op + ": " + to_string(a_input.shape()) + " x " + to_string(b_input.shape()) + ": batch sizes " +
                     std::to_string(batch_a) + " and " + std::to_string(batch_b) + " differ");
  const std::int64_t batch = std::max(batch_a, batch_b);

  Tensor<T> a = a_input, b = b_input;
  GemmOperand operand_a, operand_b;
  if (!describe_matrix(m, k, a.strides()[rank_a - 2], a.strides()[rank_a - 1], operand_a)) {
    a = dense_copy(a);
    describe_matrix(m, k, a.strides()[rank_a - 2], a.strides()[rank_a - 1], operand_a);
  }
  if (!describe_matrix(k, n, b.strides()[rank_b - 2], b.strides()[rank_b - 1], operand_b)) {
    b = dense_copy(b);
    describe_matrix(k, n, b.strides()[rank_b - 2], b.strides()[rank_b - 1], operand_b);
  }
  const std::int64_t batch_stride_a = rank_a == 3 && batch_a > 1 ? a.strides()[0] : 0;
  const std::int64_t batch_stride_b = rank_b == 3 && batch_b > 1 ? b.strides()[0] : 0;

  Tensor<T> out = backend::empty<T>(rank_a == 3 || rank_b == 3 ? Shape{batch, m, n} : Shape{m, n}, a.device());
  backend::batched_gemm(m, n, k, a, operand_a, batch_stride_a, b, operand_b, batch_stride_b, out, batch);
  return out;
}

/// True for a 2-D view that lies column-major (the transpose of a row-major matrix, W.t()).
template <typename T>
bool is_column_major(const Tensor<T>& t) {
  return t.dim() == 2 && !t.is_contiguous() && t.strides()[0] == 1 && t.strides()[1] == t.size(0);
}

/// lhs x rhs for the gradient of `input`, laid out as `input` lies: when `input` is a transposed
/// view (a Dense weight enters addmm as W.t()) the product is computed as (rhs^T lhs^T)^T, which
/// the GEMM reads in place, so the transpose's backward turns it back into a dense W-shaped matrix
/// that the engine hands over to W.grad instead of copying it with a strided transpose.
template <FloatingElement T>
Tensor<T> gradient_product(const Tensor<T>& input, const Tensor<T>& lhs, const Tensor<T>& rhs) {
  if (lhs.dim() == 2 && rhs.dim() == 2 && is_column_major(input))
    return swap_last_two(matmul_forward(swap_last_two(rhs), swap_last_two(lhs)));
  return matmul_forward(lhs, rhs);
}

}  // namespace detail

/// Matrix product. [m,k] x [k,n] -> [m,n]; [B,m,k] x [B,k,n] -> [B,m,n]; a 2-D operand
/// is shared by every batch entry.
template <FloatingElement T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::matmul_forward(a, b);
  // dL/dA = dL/dC * B^T, dL/dB = A^T * dL/dC (summed over the batch when A or B is shared)
  record_op<T>(out, "matmul", {a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> a_value = inputs[0].detach(), b_value = inputs[1].detach();
                 std::vector<Tensor<T>> grads(2);
                 if (inputs[0].requires_grad())
                   grads[0] = detail::gradient_product(inputs[0], grad, detail::swap_last_two(b_value));
                 if (inputs[1].requires_grad())
                   grads[1] = detail::gradient_product(inputs[1], detail::swap_last_two(a_value), grad);
                 return grads;
               },
               {a, b});
  return out;
}

/// bias + a b for a [m, k], b [k, n] and bias [n] (added to every row): torch.addmm, what a
/// Dense layer computes. The rows of the result start as copies of the bias and the GEMM
/// accumulates into them (beta = 1), so the [m, n] result is written once, where matmul + add
/// would write it, zero it (the GEMM's beta = 0 pass) and read it back again.
template <FloatingElement T>
Tensor<T> addmm(const Tensor<T>& bias, const Tensor<T>& a, const Tensor<T>& b) {
  const std::string op = "addmm";
  detail::check_same_device(op, a, b);
  detail::check_same_device(op, a, bias);
  if (a.dim() != 2 || b.dim() != 2 || bias.dim() != 1 || a.size(1) != b.size(0) || bias.size(0) != b.size(1))
    throw ShapeError(op + ": expected bias [n] + [m, k] x [k, n], got " + to_string(bias.shape()) + " + " +
                     to_string(a.shape()) + " x " + to_string(b.shape()));
  const std::int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  const Tensor<T> a_matrix = detail::gemm_ready(a), b_matrix = detail::gemm_ready(b);
  detail::GemmOperand operand_a, operand_b;
  detail::describe_matrix(m, k, a_matrix.strides()[0], a_matrix.strides()[1], operand_a);
  detail::describe_matrix(k, n, b_matrix.strides()[0], b_matrix.strides()[1], operand_b);
  Tensor<T> out = backend::empty<T>({m, n}, a.device());
  const Tensor<T> bias_values = bias.is_contiguous() ? bias : detail::dense_copy(bias);
  backend::addmm(bias_values, m, n, k, a_matrix, operand_a, b_matrix, operand_b, out);
  // dL/dbias = column sums of dL/dC, dL/dA = dL/dC B^T, dL/dB = A^T dL/dC
  record_op<T>(out, op, {bias, a, b},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 std::vector<Tensor<T>> grads(3);
                 if (inputs[0].requires_grad()) grads[0] = sum(grad, {0});
                 if (inputs[1].requires_grad())
                   grads[1] = detail::gradient_product(inputs[1], grad, detail::swap_last_two(inputs[2].detach()));
                 if (inputs[2].requires_grad())
                   grads[2] = detail::gradient_product(inputs[2], detail::swap_last_two(inputs[1].detach()), grad);
                 return grads;
               },
               {a, b});
  return out;
}

}  // namespace nabla
