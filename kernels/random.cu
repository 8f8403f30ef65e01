// kernels/random.cu: uniform and normal draws from the Philox stream of core/philox.hpp.
//
// Element i is philox(seed, offset + i): no state is shared between threads, so each thread
// computes its elements independently and the values are the CPU's (the uniform bits are
// identical; normal draws differ only in the last bits of log/cos).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/core/philox.hpp"

namespace nabla::backend::cuda {

namespace {

template <typename T>
__global__ void uniform_kernel(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T low, T high) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    out[i] = low + (high - low) * philox_uniform<T>(seed, offset, static_cast<std::uint64_t>(i));
}

template <typename T>
__global__ void normal_kernel(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T mean, T stddev) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    out[i] = mean + stddev * philox_normal<T>(seed, offset, static_cast<std::uint64_t>(i));
}

template <typename T>
__global__ void dropout_mask_kernel(T* mask, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T threshold,
                                    T scale) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    mask[i] = dropout_mask_value<T>(seed, offset, static_cast<std::uint64_t>(i), threshold, scale);
}

}  // namespace

template <typename T>
void dropout_mask(T* mask, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T threshold, T scale,
                  int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, dropout_mask_kernel<T>, "dropout_mask_kernel", stream, mask, count, seed, offset,
                      threshold, scale);
}

template void dropout_mask<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float, int);
template void dropout_mask<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double, int);

template <typename T>
void uniform(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T low, T high, int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, uniform_kernel<T>, "uniform_kernel", stream, out, count, seed, offset, low, high);
}

template <typename T>
void normal(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T mean, T stddev, int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, normal_kernel<T>, "normal_kernel", stream, out, count, seed, offset, mean, stddev);
}

template void uniform<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float, int);
template void uniform<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double, int);
template void normal<float>(float*, std::int64_t, std::uint64_t, std::uint64_t, float, float, int);
template void normal<double>(double*, std::int64_t, std::uint64_t, std::uint64_t, double, double, int);

}  // namespace nabla::backend::cuda
