// nabla/backend/cpu/gemm.hpp - C = alpha * op(A) * op(B) + beta * C on row-major buffers.
//
// Two engines, chosen at build time:
// - NABLA_USE_BLAS (CMake option NABLA_USE_BLAS, on when OpenBLAS is found): cblas_sgemm /
//   cblas_dgemm. OpenBLAS's kernels reach 1.5-1.7x Eigen's on this library's shapes (see
//   docs/performance.md). OpenBLAS is kept single-threaded and nabla splits the product
//   across its own OpenMP threads instead: two thread pools (OpenBLAS's pthreads and our
//   OpenMP team) spinning on the same cores is what makes PyTorch slow on small machines.
// - NABLA_USE_DNNL as well (CMake option NABLA_USE_DNNL, on when oneDNN is found, Debian
//   libdnnl-dev): float products go through oneDNN's dnnl_sgemm, 4-14% faster than OpenBLAS
//   0.3.21 per thread on this library's shapes on an AVX-512 CPU (docs/performance.md).
//   OpenBLAS still does double, and float if oneDNN ever reports an error. With the matmul
//   precision "medium" on a CPU with AVX512_BF16 (backend/matmul_precision.hpp), float
//   products take bfloat16 inputs through oneDNN's matmul instead (backend/cpu/bf16_gemm.hpp).
// - otherwise Eigen: the matrices are wrapped in Eigen::Map (no copy) and multiplied with
//   noalias() (no temporary). A transposed operand is just a Map with the other storage order.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "nabla/backend/cpu/parallel.hpp"

#if defined(NABLA_USE_BLAS)
#include <cblas.h>
// OpenBLAS's own thread control (declared in OpenBLAS's cblas.h, but not in every cblas.h).
extern "C" void openblas_set_num_threads(int threads);
#if defined(NABLA_USE_DNNL)
#include <dnnl.h>

#include "nabla/backend/matmul_precision.hpp"
#endif
#include "nabla/backend/cpu/bf16_gemm.hpp"
#endif

namespace nabla::backend::cpu {

/// Products smaller than this many multiply-adds run on one thread: splitting them costs
/// more (waking a thread, packing the shared operand twice) than it saves.
inline constexpr std::int64_t kParallelGemmWork = std::int64_t{1} << 21;

namespace detail {

template <typename T>
void eigen_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  using MutableMap = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  MutableMap result(c, m, n, Eigen::OuterStride<>(ldc));
  const ConstMap matrix_a(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const ConstMap matrix_b(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) {
    result.setZero();
  } else if (beta != T(1)) {
    result *= beta;
  }
  if (!trans_a && !trans_b)
    result.noalias() += alpha * matrix_a * matrix_b;
  else if (trans_a && !trans_b)
    result.noalias() += alpha * matrix_a.transpose() * matrix_b;
  else if (!trans_a && trans_b)
    result.noalias() += alpha * matrix_a * matrix_b.transpose();
  else
    result.noalias() += alpha * matrix_a.transpose() * matrix_b.transpose();
}

#if defined(NABLA_USE_BLAS)
inline void blas_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
inline void blas_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                      const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
                      std::int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

#if defined(NABLA_USE_DNNL)
/// oneDNN's sgemm (row-major, like nabla) on the calling thread; false if oneDNN reports an
/// error, for the caller to fall back to OpenBLAS. oneDNN threads with OpenMP: inside one of
/// gemm's bands (an active parallel region) it stays on its thread by itself; outside one, a
/// product too small to split, it would start a team, so the calling thread's OpenMP thread
/// count is set to 1 around the call.
inline bool dnnl_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc) {
#if defined(_OPENMP)
  const bool single_threaded_already = omp_in_parallel() != 0;
  const int threads = omp_get_max_threads();
  if (!single_threaded_already) omp_set_num_threads(1);
#endif
  const dnnl_status_t status =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#if defined(_OPENMP)
  if (!single_threaded_already) omp_set_num_threads(threads);
#endif
  return status == dnnl_success;
}
#endif

/// OpenBLAS runs single-threaded: nabla owns the threads (set once, before the first call).
inline void keep_blas_single_threaded() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

/// gemm's path with BLAS: each thread computes a band of C, rows when C is taller than wide,
/// else columns (the bands read disjoint parts of one operand and all of the other). Float
/// bands go through oneDNN when `use_dnnl` (and nabla was built with it), else OpenBLAS;
/// bench_gemm compares the two. With `bf16` (float only), each band multiplies those bfloat16
/// copies of A and B instead, and falls back to float if oneDNN cannot.
template <typename T>
void gemm_in_bands(bool use_dnnl, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                   const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc,
                   const Bf16Operands* bf16 = nullptr) {
  keep_blas_single_threaded();
  const bool split_rows = m >= n;
  const std::int64_t extent = split_rows ? m : n;
  const std::int64_t threads = std::min<std::int64_t>(get_num_threads(), extent / 16);
  const std::int64_t grain = m * n * k >= kParallelGemmWork && threads > 1 ? (extent + threads - 1) / threads : extent;
  (void)use_dnnl;
  (void)bf16;
  parallel_for(0, extent, grain, [&](std::int64_t begin, std::int64_t end) {
    // The band: rows begin.. of op(A) and C, or columns begin.. of op(B) and C.
    const std::int64_t band_m = split_rows ? end - begin : m, band_n = split_rows ? n : end - begin;
    const T* const a_band = !split_rows ? a : trans_a ? a + begin : a + begin * lda;
    const T* const b_band = split_rows ? b : trans_b ? b + begin * ldb : b + begin;
    T* const c_band = split_rows ? c + begin * ldc : c + begin;
#if defined(NABLA_USE_DNNL)
    if constexpr (std::is_same_v<T, float>) {
      if (bf16 != nullptr) {
        const std::uint16_t* const a16 = !split_rows ? bf16->a
                                         : trans_a   ? bf16->a + begin
                                                     : bf16->a + begin * bf16->lda;
        const std::uint16_t* const b16 = split_rows ? bf16->b : trans_b ? bf16->b + begin * bf16->ldb : bf16->b + begin;
        if (bf16_gemm_band(trans_a, trans_b, band_m, band_n, k, alpha, a16, bf16->lda, b16, bf16->ldb, beta, c_band,
                           ldc))
          return;
      }
      if (use_dnnl &&
          dnnl_gemm(trans_a, trans_b, band_m, band_n, k, alpha, a_band, lda, b_band, ldb, beta, c_band, ldc))
        return;
    }
#endif
    blas_gemm(trans_a, trans_b, band_m, band_n, k, alpha, a_band, lda, b_band, ldb, beta, c_band, ldc);
  });
}
#endif

}  // namespace detail

/// BLAS-style GEMM on row-major storage. op(A) is m x k, op(B) is k x n, C is m x n.
/// lda/ldb/ldc are the row strides of A, B, C as stored (A is k x m when trans_a).
template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta * C (and BLAS would not touch C at all)
    for (std::int64_t row = 0; row < m; ++row)
      for (std::int64_t column = 0; column < n; ++column) {
        T& value = c[row * ldc + column];
        value = beta == T(0) ? T(0) : beta * value;
      }
    return;
  }
#if defined(NABLA_USE_BLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
#if defined(NABLA_USE_DNNL)
    if constexpr (std::is_same_v<T, float>) {
      if (cpu_bf16_matmul_active()) {
        const detail::Bf16Operands bf16 = detail::convert_operands_to_bf16(trans_a, trans_b, m, n, k, a, lda, b, ldb);
        detail::gemm_in_bands(true, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &bf16);
        return;
      }
    }
#endif
    detail::gemm_in_bands(true, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else
#endif
  {
    // Only instantiated without BLAS (or for other scalar types): Eigen's GEMM kernels are
    // the costliest templates in the library to compile (about 2 s per translation unit).
    detail::eigen_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace nabla::backend::cpu
