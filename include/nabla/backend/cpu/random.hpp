// nabla/backend/cpu/random.hpp - random fills on the CPU (kernels/random.cu on a GPU).
//
// Element i comes from the Philox stream at (seed, offset + i) (core/philox.hpp), so the
// values do not depend on the thread count, and a GPU draws the same ones.
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/core/philox.hpp"

namespace nabla::backend::cpu {

/// Which distribution random_fill draws from.
enum class Distribution { uniform, normal };

/// data[i] = uniform in [first, second) or normal(mean = first, stddev = second), i in [0, count).
template <typename T>
void random_fill(T* data, std::int64_t count, std::uint64_t seed, std::uint64_t offset, Distribution distribution,
                 T first, T second) {
  parallel_for(0, count, 4096, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const auto index = static_cast<std::uint64_t>(i);
      data[i] = distribution == Distribution::uniform
                    ? first + (second - first) * philox_uniform<T>(seed, offset, index)
                    : first + second * philox_normal<T>(seed, offset, index);
    }
  });
}

}  // namespace nabla::backend::cpu
