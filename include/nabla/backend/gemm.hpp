// nabla/backend/gemm.hpp - matrix products on tensors, on their device: backend/cpu/gemm.hpp
// (OpenBLAS / oneDNN / Eigen) on the CPU, cuBLAS (kernels/gemm.cu) on a GPU.
//
// Operands are handed over as they lie in memory: a row-major matrix directly, the transpose
// of one with the transpose flag (GemmOperand), so transposed views cost no copy.
#pragma once

#include <algorithm>
#include <cstdint>

#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// How one matrix operand is passed to the GEMM: rows/columns as a row-major matrix,
/// or as the transpose of one.
struct GemmOperand {
  bool transposed = false;
  std::int64_t leading_dimension = 0;
};

/// Describes the last two dims (rows, columns) with strides (row_stride, column_stride).
/// Returns false when neither stride is 1 (then the caller makes the tensor contiguous).
inline bool describe_matrix(std::int64_t rows, std::int64_t columns, std::int64_t row_stride,
                            std::int64_t column_stride, GemmOperand& operand) {
  // Row-major: consecutive columns are adjacent, rows are leading_dimension apart.
  if ((column_stride == 1 || columns == 1) && (rows == 1 || row_stride >= columns)) {
    operand = {false, rows == 1 ? columns : row_stride};
    return true;
  }
  // The transpose of a row-major columns x rows matrix.
  if ((row_stride == 1 || rows == 1) && (columns == 1 || column_stride >= rows)) {
    operand = {true, columns == 1 ? rows : column_stride};
    return true;
  }
  return false;
}

/// out[i] = op(A_i) op(B_i) for `batch` products, op(A_i) m x k and op(B_i) k x n, out a dense
/// [batch, m, n] (or [m, n]) tensor. A_i starts batch_stride_a elements after A_{i-1} (0: one
/// matrix shared by every product), likewise B_i.
template <typename T>
void batched_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const Tensor<T>& a, const GemmOperand& operand_a,
                  std::int64_t batch_stride_a, const Tensor<T>& b, const GemmOperand& operand_b,
                  std::int64_t batch_stride_b, Tensor<T>& out, std::int64_t batch) {
  if (out.device().is_cpu()) {
    const T* a_data = a.data();
    const T* b_data = b.data();
    T* out_data = out.data();
    for (std::int64_t i = 0; i < batch; ++i)
      cpu::gemm<T>(operand_a.transposed, operand_b.transposed, m, n, k, T(1), a_data + i * batch_stride_a,
                   operand_a.leading_dimension, b_data + i * batch_stride_b, operand_b.leading_dimension, T(0),
                   out_data + i * m * n, n);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  // cuBLAS runs the whole batch in one call.
  cuda::gemm<T>(operand_a.transposed, operand_b.transposed, m, n, k, T(1), device_data(a), operand_a.leading_dimension,
                batch_stride_a, device_data(b), operand_b.leading_dimension, batch_stride_b, T(0), device_data(out), n,
                m * n, batch, out.device().index());
#else
  throw_no_cuda("matmul", out.device());
#endif
}

/// out = bias + op(A) op(B) for op(A) m x k, op(B) k x n, a dense bias [n] added to every row
/// and a dense out [m, n]: the rows of out start as copies of the bias and the GEMM
/// accumulates into them (beta = 1), so out is written once.
template <typename T>
void addmm(const Tensor<T>& bias, std::int64_t m, std::int64_t n, std::int64_t k, const Tensor<T>& a,
           const GemmOperand& operand_a, const Tensor<T>& b, const GemmOperand& operand_b, Tensor<T>& out) {
  if (out.device().is_cpu()) {
    T* const out_data = out.data();
    const T* const bias_data = bias.data();
    cpu::parallel_for(0, m, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(n, 1)),
                      [&](std::int64_t begin, std::int64_t end) {
                        for (std::int64_t row = begin; row < end; ++row) std::copy_n(bias_data, n, out_data + row * n);
                      });
    cpu::gemm<T>(operand_a.transposed, operand_b.transposed, m, n, k, T(1), a.data(), operand_a.leading_dimension,
                 b.data(), operand_b.leading_dimension, T(1), out_data, n);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  map(out, Identity{}, bias);  // every row a copy of the bias (broadcast), then C += A B
  cuda::gemm<T>(operand_a.transposed, operand_b.transposed, m, n, k, T(1), device_data(a), operand_a.leading_dimension,
                0, device_data(b), operand_b.leading_dimension, 0, T(1), device_data(out), n, m * n, 1,
                out.device().index());
#else
  throw_no_cuda("addmm", out.device());
#endif
}

}  // namespace nabla::backend
