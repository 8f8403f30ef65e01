// kernels/index_select.cu: index_select along a dim (a gather of slices) and its backward (an
// index-add of gradient slices into zeros). Both see the tensors as [outer, size, inner] around
// the dim and find positions with backend/functors.hpp's index_select_source, like the CPU loop.
// The backward uses atomicAdd because a repeated index sends several output slices to one input
// slice (atomicAdd on double needs sm_60+; nabla builds for sm_80 and sm_90).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cuda {

namespace {

// out[i] = input[index_select_source(i)]: one thread per output element.
template <typename T>
__global__ void index_select_forward_kernel(const T* input, const std::int64_t* indices, std::int64_t size,
                                            std::int64_t inner, std::int64_t count, std::int64_t out_count, T* out) {
  for (std::int64_t i = detail::global_thread_index(); i < out_count; i += detail::grid_stride())
    out[i] = input[index_select_source(i, indices, count, size, inner)];
}

// grad_input[index_select_source(i)] += gradient[i]
template <typename T>
__global__ void index_select_backward_kernel(const T* gradient, const std::int64_t* indices, std::int64_t size,
                                             std::int64_t inner, std::int64_t count, std::int64_t gradient_count,
                                             T* grad_input) {
  for (std::int64_t i = detail::global_thread_index(); i < gradient_count; i += detail::grid_stride())
    atomicAdd(grad_input + index_select_source(i, indices, count, size, inner), gradient[i]);
}

}  // namespace

template <typename T>
void index_select_forward(const T* input, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                          std::int64_t inner, std::int64_t count, T* out, int device) {
  const std::int64_t out_count = outer * count * inner;
  if (out_count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(out_count, index_select_forward_kernel<T>, "index_select_forward_kernel", stream, input, indices,
                      size, inner, count, out_count, out);
}

template <typename T>
void index_select_backward(const T* gradient, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                           std::int64_t inner, std::int64_t count, T* grad_input, int device) {
  const std::int64_t input_count = outer * size * inner;
  if (input_count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  NABLA_CUDA_CHECK(cudaMemsetAsync(grad_input, 0, static_cast<std::size_t>(input_count) * sizeof(T), stream));
  const std::int64_t gradient_count = outer * count * inner;
  if (gradient_count <= 0) return;
  detail::launch_over(gradient_count, index_select_backward_kernel<T>, "index_select_backward_kernel", stream, gradient,
                      indices, size, inner, count, gradient_count, grad_input);
}

template void index_select_forward<float>(const float*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                          std::int64_t, float*, int);
template void index_select_forward<double>(const double*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                           std::int64_t, double*, int);
template void index_select_forward<std::int64_t>(const std::int64_t*, const std::int64_t*, std::int64_t, std::int64_t,
                                                 std::int64_t, std::int64_t, std::int64_t*, int);
template void index_select_backward<float>(const float*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                           std::int64_t, float*, int);
template void index_select_backward<double>(const double*, const std::int64_t*, std::int64_t, std::int64_t,
                                            std::int64_t, std::int64_t, double*, int);

}  // namespace nabla::backend::cuda
