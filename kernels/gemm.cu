// kernels/gemm.cu: matrix products through cuBLAS, one handle per device.
//
// cuBLAS is column-major; nabla's matrices are row-major. A row-major m x n matrix C is, read
// column-major, the n x m matrix C^T, and C = A B  <=>  C^T = B^T A^T. So we ask cuBLAS for
// C^T = op(B)^T op(A)^T with the operands swapped: B first, A second, and (m, n) swapped.
// A row-major operand read column-major is already its transpose, so it needs no flag
// (CUBLAS_OP_N); an operand nabla passes "transposed" (stored as the row-major transpose,
// e.g. W.t()) read column-major is the matrix itself, so it gets CUBLAS_OP_T.
//
// cuBLAS is loaded with dlopen on the first product on a GPU, not linked: linking it made every
// program of a CUDA build map libcublas and libcublasLt (about 600 MB of libraries) at start-up
// and grow by about 205 MB of resident memory, even when it only ever ran on the CPU.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"

namespace nabla::backend::cuda {

namespace {

/// The cuBLAS entry points nabla calls, looked up in the library loaded at run time.
struct CublasLibrary {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  decltype(&cublasDgemmStridedBatched) dgemm_strided_batched = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

template <typename Function>
void look_up(void* library, const char* name, Function& function) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  if (function == nullptr)
    throw nabla::DeviceError(std::string("cuBLAS: the loaded library has no ") + name +
                             ": a cuBLAS older than the one nabla was built with?");
}

/// Loads libcublas.so.<major of the headers> on first use: first by the dynamic loader's own
/// search (LD_LIBRARY_PATH, the program's run path, ldconfig), then from the toolkit that
/// nabla was built with (NABLA_CUBLAS_DIRECTORY, set by CMake).
const CublasLibrary& cublas() {
  static const CublasLibrary library = [] {
    const std::string file = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
#if defined(NABLA_CUBLAS_DIRECTORY)
    if (handle == nullptr)
      handle = dlopen((std::string(NABLA_CUBLAS_DIRECTORY) + "/" + file).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
    if (handle == nullptr) {
      const char* reason = dlerror();
      throw nabla::DeviceError("cannot load cuBLAS (" + file +
                               "), which matmul on a GPU needs: " + (reason != nullptr ? reason : "not found") +
                               "; add the CUDA toolkit's library directory to LD_LIBRARY_PATH");
    }
    CublasLibrary functions;
    look_up(handle, "cublasCreate_v2", functions.create);
    look_up(handle, "cublasSetStream_v2", functions.set_stream);
    look_up(handle, "cublasSetMathMode", functions.set_math_mode);
    look_up(handle, "cublasSgemmStridedBatched", functions.sgemm_strided_batched);
    look_up(handle, "cublasDgemmStridedBatched", functions.dgemm_strided_batched);
    look_up(handle, "cublasGetStatusName", functions.status_name);
    look_up(handle, "cublasGetStatusString", functions.status_string);
    return functions;  // the library stays loaded for the program's life
  }();
  return library;
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw nabla::DeviceError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                             cublas().status_name(status) + ": " + cublas().status_string(status));
}

#define NABLA_CUBLAS_CHECK(call) check_cublas((call), #call, __FILE__, __LINE__)

/// The cuBLAS handle of `device` (created on first use, kept for the program's life: a
/// handle costs milliseconds to create and holds workspace memory).
cublasHandle_t handle_for(int device) {
  static std::mutex mutex;
  static auto* handles = new std::map<int, cublasHandle_t>();  // leaked on purpose (static destructors)
  std::lock_guard<std::mutex> lock(mutex);
  auto found = handles->find(device);
  if (found != handles->end()) return found->second;
  cublasHandle_t handle = nullptr;
  NABLA_CUBLAS_CHECK(cublas().create(&handle));
  handles->emplace(device, handle);
  return handle;
}

cublasStatus_t gemm_call(cublasHandle_t handle, cublasOperation_t op_first, cublasOperation_t op_second, int rows,
                         int columns, int inner, const float* alpha, const float* first, int ld_first,
                         long long stride_first, const float* second, int ld_second, long long stride_second,
                         const float* beta, float* out, int ld_out, long long stride_out, int batch) {
  return cublas().sgemm_strided_batched(handle, op_first, op_second, rows, columns, inner, alpha, first, ld_first,
                                        stride_first, second, ld_second, stride_second, beta, out, ld_out, stride_out,
                                        batch);
}

cublasStatus_t gemm_call(cublasHandle_t handle, cublasOperation_t op_first, cublasOperation_t op_second, int rows,
                         int columns, int inner, const double* alpha, const double* first, int ld_first,
                         long long stride_first, const double* second, int ld_second, long long stride_second,
                         const double* beta, double* out, int ld_out, long long stride_out, int batch) {
  return cublas().dgemm_strided_batched(handle, op_first, op_second, rows, columns, inner, alpha, first, ld_first,
                                        stride_first, second, ld_second, stride_second, beta, out, ld_out, stride_out,
                                        batch);
}

int checked_int(std::int64_t value, const char* what) {
  if (value > 2147483647LL)
    throw nabla::ValueError(std::string("matmul on CUDA: ") + what + " " + std::to_string(value) +
                            " exceeds cuBLAS's 32-bit limit");
  return static_cast<int>(value);
}

}  // namespace

template <typename T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, std::int64_t batch_stride_a, const T* b, std::int64_t ldb, std::int64_t batch_stride_b,
          T beta, T* c, std::int64_t ldc, std::int64_t batch_stride_c, std::int64_t batch, int device) {
  if (m <= 0 || n <= 0 || batch <= 0) return;  // nothing to write
  const cudaStream_t stream = detail::use_device(device);
  if (k <= 0) {
    // An empty inner dimension: C = beta * C, which is 0 for nabla's beta = 0 (cuBLAS would
    // also do this, but an empty operand's leading dimension may be 0, which it rejects).
    if (beta == T(0) && ldc == n && (batch == 1 || batch_stride_c == m * n)) {
      NABLA_CUDA_CHECK(cudaMemsetAsync(c, 0, static_cast<std::size_t>(batch * m * n) * sizeof(T), stream));
      return;
    }
    k = 0;
  }
  cublasHandle_t handle = handle_for(device);
  NABLA_CUBLAS_CHECK(cublas().set_stream(handle, stream));
  if constexpr (sizeof(T) == 4) {
    NABLA_CUBLAS_CHECK(cublas().set_math_mode(handle, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  // Column-major view: out^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m).
  const cublasOperation_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  // Leading dimensions must be at least the stored rows of the column-major view (1 minimum).
  const std::int64_t min_ldb = transpose_b ? k : n, min_lda = transpose_a ? m : k;
  NABLA_CUBLAS_CHECK(gemm_call(handle, op_b, op_a, checked_int(n, "n"), checked_int(m, "m"), checked_int(k, "k"),
                               &alpha, b, checked_int(std::max<std::int64_t>({ldb, min_ldb, 1}), "ldb"), batch_stride_b,
                               a, checked_int(std::max<std::int64_t>({lda, min_lda, 1}), "lda"), batch_stride_a, &beta,
                               c, checked_int(ldc, "ldc"), batch_stride_c, checked_int(batch, "batch")));
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          std::int64_t, const float*, std::int64_t, std::int64_t, float, float*, std::int64_t,
                          std::int64_t, std::int64_t, int);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           std::int64_t, const double*, std::int64_t, std::int64_t, double, double*, std::int64_t,
                           std::int64_t, std::int64_t, int);

}  // namespace nabla::backend::cuda
