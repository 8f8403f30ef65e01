// nabla/backend/dropout.hpp - the scaled dropout mask of nn::functional::dropout on any device.
//
// Element i comes from the Philox stream at (seed, offset + i) on both devices
// (backend/functors.hpp: dropout_mask_value), so a seed gives the same mask on the CPU and a GPU.
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/dropout.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// Fills the contiguous tensor `mask` on its device: `scale` where uniform(seed, offset + i) >=
/// threshold, else 0.
template <typename T>
void dropout_mask(Tensor<T>& mask, std::uint64_t seed, std::uint64_t offset, T threshold, T scale) {
  const Device device = mask.device();
  if (device.is_cpu()) {
    cpu::dropout_mask<T>(device_data(mask), mask.numel(), seed, offset, threshold, scale);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::dropout_mask<T>(device_data(mask), mask.numel(), seed, offset, threshold, scale, device.index());
#else
  throw_no_cuda("dropout", device);
#endif
}

}  // namespace nabla::backend
