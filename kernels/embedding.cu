// kernels/embedding.cu: the embedding lookup (a gather of table rows) and its backward (a
// scatter-add of gradient rows into the table's gradient, atomicAdd because two tokens may
// have the same id; atomicAdd on double needs sm_60+, and nabla builds for sm_80 and sm_90).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"

namespace nabla::backend::cuda {

namespace {

// out[s, c] = table[ids[s], c]: one thread per output element.
template <typename T>
__global__ void embedding_forward_kernel(const T* table, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim,
                                         T* out) {
  const std::int64_t count = tokens * dim;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    out[i] = table[ids[i / dim] * dim + i % dim];
}

// grad_table[ids[s], c] += grad[s, c] except for the padding row.
template <typename T>
__global__ void embedding_backward_kernel(const T* gradient, const std::int64_t* ids, std::int64_t tokens,
                                          std::int64_t dim, std::int64_t padding_idx, T* grad_table) {
  const std::int64_t count = tokens * dim;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride()) {
    const std::int64_t id = ids[i / dim];
    if (id == padding_idx) continue;
    atomicAdd(grad_table + id * dim + i % dim, gradient[i]);
  }
}

}  // namespace

template <typename T>
void embedding_forward(const T* table, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim, T* out,
                       int device) {
  if (tokens <= 0 || dim <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(tokens * dim, embedding_forward_kernel<T>, "embedding_forward_kernel", stream, table, ids, tokens,
                      dim, out);
}

template <typename T>
void embedding_backward(const T* gradient, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim,
                        std::int64_t padding_idx, T* grad_table, std::int64_t table_rows, int device) {
  if (table_rows <= 0 || dim <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  NABLA_CUDA_CHECK(cudaMemsetAsync(grad_table, 0, static_cast<std::size_t>(table_rows * dim) * sizeof(T), stream));
  if (tokens <= 0) return;
  detail::launch_over(tokens * dim, embedding_backward_kernel<T>, "embedding_backward_kernel", stream, gradient, ids,
                      tokens, dim, padding_idx, grad_table);
}

template void embedding_forward<float>(const float*, const std::int64_t*, std::int64_t, std::int64_t, float*, int);
template void embedding_forward<double>(const double*, const std::int64_t*, std::int64_t, std::int64_t, double*, int);
template void embedding_backward<float>(const float*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                        float*, std::int64_t, int);
template void embedding_backward<double>(const double*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                         double*, std::int64_t, int);

}  // namespace nabla::backend::cuda
