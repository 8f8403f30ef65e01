// kernels/optimizer.cu: the fused optimizer updates, one thread per parameter element running
// the same per-element function as the CPU loop (backend/optimizer_math.hpp).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/optimizer_math.hpp"

namespace nabla::backend::cuda {

namespace {

template <typename T>
__global__ void sgd_kernel(T* parameter, const T* gradient, T* buffer, std::int64_t count, SgdHyperparameters<T> h) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    sgd_update_element(parameter[i], gradient[i], buffer ? buffer + i : nullptr, h);
}

template <typename T>
__global__ void adam_kernel(T* parameter, const T* gradient, T* first_moment, T* second_moment, T* max_second_moment,
                            std::int64_t count, AdamHyperparameters<T> h) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    adam_update_element(parameter[i], gradient[i], first_moment[i], second_moment[i],
                        max_second_moment ? max_second_moment + i : nullptr, h);
}

template <typename T>
__global__ void rmsprop_kernel(T* parameter, const T* gradient, T* square_average, T* gradient_average, T* buffer,
                               std::int64_t count, RmspropHyperparameters<T> h) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    rmsprop_update_element(parameter[i], gradient[i], square_average[i],
                           gradient_average ? gradient_average + i : nullptr, buffer ? buffer + i : nullptr, h);
}

template <typename T>
__global__ void adagrad_kernel(T* parameter, const T* gradient, T* sum_of_squares, std::int64_t count,
                               AdagradHyperparameters<T> h) {
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    adagrad_update_element(parameter[i], gradient[i], sum_of_squares[i], h);
}

}  // namespace

template <typename T>
void sgd_update(T* parameter, const T* gradient, T* buffer, std::int64_t count, const SgdHyperparameters<T>& h,
                int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, sgd_kernel<T>, "sgd_kernel", stream, parameter, gradient, buffer, count, h);
}

template <typename T>
void adam_update(T* parameter, const T* gradient, T* first_moment, T* second_moment, T* max_second_moment,
                 std::int64_t count, const AdamHyperparameters<T>& h, int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, adam_kernel<T>, "adam_kernel", stream, parameter, gradient, first_moment, second_moment,
                      max_second_moment, count, h);
}

template <typename T>
void rmsprop_update(T* parameter, const T* gradient, T* square_average, T* gradient_average, T* buffer,
                    std::int64_t count, const RmspropHyperparameters<T>& h, int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, rmsprop_kernel<T>, "rmsprop_kernel", stream, parameter, gradient, square_average,
                      gradient_average, buffer, count, h);
}

template <typename T>
void adagrad_update(T* parameter, const T* gradient, T* sum_of_squares, std::int64_t count,
                    const AdagradHyperparameters<T>& h, int device) {
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, adagrad_kernel<T>, "adagrad_kernel", stream, parameter, gradient, sum_of_squares, count,
                      h);
}

#define NABLA_INSTANTIATE_OPTIMIZERS(T)                                                                           \
  template void sgd_update<T>(T*, const T*, T*, std::int64_t, const SgdHyperparameters<T>&, int);                 \
  template void adam_update<T>(T*, const T*, T*, T*, T*, std::int64_t, const AdamHyperparameters<T>&, int);       \
  template void rmsprop_update<T>(T*, const T*, T*, T*, T*, std::int64_t, const RmspropHyperparameters<T>&, int); \
  template void adagrad_update<T>(T*, const T*, T*, std::int64_t, const AdagradHyperparameters<T>&, int);
NABLA_INSTANTIATE_OPTIMIZERS(float)
NABLA_INSTANTIATE_OPTIMIZERS(double)

}  // namespace nabla::backend::cuda
