// nabla/backend/cpu/dropout.hpp - the scaled dropout mask on the CPU (kernels/random.cu's twin).
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cpu {

/// mask[i] = scale when uniform(seed, offset + i) >= threshold, else 0, for i in [0, count):
/// element i of the Philox stream, whichever thread computes it.
template <typename T>
void dropout_mask(T* mask, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T threshold, T scale) {
  parallel_for(0, count, 4096, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      mask[i] = dropout_mask_value<T>(seed, offset, static_cast<std::uint64_t>(i), threshold, scale);
  });
}

}  // namespace nabla::backend::cpu
