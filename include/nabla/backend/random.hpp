// nabla/backend/random.hpp - filling a tensor with random draws on its device:
// backend/cpu/random.hpp on the CPU, kernels/random.cu on a GPU, the same Philox stream.
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/random.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

using cpu::Distribution;

/// Fills the dense `out` from Philox stream `seed`, element i from (seed, offset + i):
/// uniform in [first, second) or normal(mean = first, stddev = second).
template <typename T>
void random_fill(Tensor<T>& out, std::uint64_t seed, std::uint64_t offset, Distribution distribution, T first,
                 T second) {
  if (out.device().is_cpu()) {
    cpu::random_fill(out.data(), out.numel(), seed, offset, distribution, first, second);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  if (distribution == Distribution::uniform)
    cuda::uniform<T>(device_data(out), out.numel(), seed, offset, first, second, out.device().index());
  else
    cuda::normal<T>(device_data(out), out.numel(), seed, offset, first, second, out.device().index());
#else
  throw_no_cuda("random", out.device());
#endif
}

}  // namespace nabla::backend
