// nabla/backend/optimizer.hpp - the fused optimizer updates on any device:
// backend/cpu/optimizer.hpp or kernels/optimizer.cu.
//
// Each takes the parameter (updated in place), its dense gradient and its state buffers, all
// contiguous, of the parameter's shape and on its device; tensors are handles, so the state
// is written through them. An optional buffer is an undefined tensor when the options do not
// keep it (SGD without momentum, Adam without AMSGrad, RMSprop not centered or without momentum).
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/optimizer.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/optimizer_math.hpp"

namespace nabla::backend {

namespace optimizer_detail {
/// The buffer's elements, or null for an undefined (not kept) buffer.
template <typename T>
T* optional_data(const Tensor<T>& buffer) {
  return buffer.defined() ? device_data(buffer) : nullptr;
}
}  // namespace optimizer_detail

template <typename T>
void sgd_update(const Tensor<T>& parameter, const Tensor<T>& gradient, const Tensor<T>& momentum_buffer,
                const SgdHyperparameters<T>& h) {
  const Device device = parameter.device();
  T* const b = optimizer_detail::optional_data(momentum_buffer);
  if (device.is_cpu()) {
    cpu::sgd_update(device_data(parameter), device_data(gradient), b, parameter.numel(), h);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::sgd_update(device_data(parameter), device_data(gradient), b, parameter.numel(), h, device.index());
#else
  throw_no_cuda("optimizer step", device);
#endif
}

template <typename T>
void adam_update(const Tensor<T>& parameter, const Tensor<T>& gradient, const Tensor<T>& first_moment,
                 const Tensor<T>& second_moment, const Tensor<T>& max_second_moment, const AdamHyperparameters<T>& h) {
  const Device device = parameter.device();
  T* const v_max = optimizer_detail::optional_data(max_second_moment);
  if (device.is_cpu()) {
    cpu::adam_update(device_data(parameter), device_data(gradient), device_data(first_moment),
                     device_data(second_moment), v_max, parameter.numel(), h);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::adam_update(device_data(parameter), device_data(gradient), device_data(first_moment),
                    device_data(second_moment), v_max, parameter.numel(), h, device.index());
#else
  throw_no_cuda("optimizer step", device);
#endif
}

template <typename T>
void rmsprop_update(const Tensor<T>& parameter, const Tensor<T>& gradient, const Tensor<T>& square_average,
                    const Tensor<T>& gradient_average, const Tensor<T>& momentum_buffer,
                    const RmspropHyperparameters<T>& h) {
  const Device device = parameter.device();
  T* const a = optimizer_detail::optional_data(gradient_average);
  T* const b = optimizer_detail::optional_data(momentum_buffer);
  if (device.is_cpu()) {
    cpu::rmsprop_update(device_data(parameter), device_data(gradient), device_data(square_average), a, b,
                        parameter.numel(), h);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::rmsprop_update(device_data(parameter), device_data(gradient), device_data(square_average), a, b,
                       parameter.numel(), h, device.index());
#else
  throw_no_cuda("optimizer step", device);
#endif
}

template <typename T>
void adagrad_update(const Tensor<T>& parameter, const Tensor<T>& gradient, const Tensor<T>& sum_of_squares,
                    const AdagradHyperparameters<T>& h) {
  const Device device = parameter.device();
  if (device.is_cpu()) {
    cpu::adagrad_update(device_data(parameter), device_data(gradient), device_data(sum_of_squares), parameter.numel(),
                        h);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::adagrad_update(device_data(parameter), device_data(gradient), device_data(sum_of_squares), parameter.numel(), h,
                       device.index());
#else
  throw_no_cuda("optimizer step", device);
#endif
}

}  // namespace nabla::backend
