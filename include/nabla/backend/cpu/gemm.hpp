// nabla/backend/cpu/gemm.hpp - C = alpha * op(A) * op(B) + beta * C on row-major buffers.
//
// The matrices are wrapped in Eigen::Map (no copy) and multiplied with noalias() (no
// temporary). A transposed operand is just a Map with the other storage order.
#pragma once

#include <cstdint>

#include <Eigen/Core>

namespace nabla::backend::cpu {

/// BLAS-style GEMM on row-major storage. op(A) is m x k, op(B) is k x n, C is m x n.
/// lda/ldb/ldc are the row strides of A, B, C as stored (A is k x m when trans_a).
template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  using MutableMap = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  MutableMap result(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (beta == T(0)) result.setZero();
    else result *= beta;
    return;
  }
  const ConstMap matrix_a(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const ConstMap matrix_b(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) {
    result.setZero();
  } else if (beta != T(1)) {
    result *= beta;
  }
  if (!trans_a && !trans_b) result.noalias() += alpha * matrix_a * matrix_b;
  else if (trans_a && !trans_b) result.noalias() += alpha * matrix_a.transpose() * matrix_b;
  else if (!trans_a && trans_b) result.noalias() += alpha * matrix_a * matrix_b.transpose();
  else result.noalias() += alpha * matrix_a.transpose() * matrix_b.transpose();
}

}  // namespace nabla::backend::cpu
