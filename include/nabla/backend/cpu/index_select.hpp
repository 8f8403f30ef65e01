// nabla/backend/cpu/index_select.hpp - index_select along a dim and its backward on the CPU
// (kernels/index_select.cu on a GPU).
//
// Input and output are dense and seen as [outer, size, inner] and [outer, count, inner]
// around the selected dim; backend/functors.hpp's index_select_source finds where each output
// block comes from, on both devices.
#pragma once

#include <algorithm>
#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cpu {

/// out[o, k, :] = input[o, indices[k], :] for the `count` (checked) indices.
template <typename T>
void index_select_forward(const T* source_data, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                          std::int64_t inner, std::int64_t count, T* out_data) {
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(inner, 1));
  // inner == 0: no elements to copy (and index_select_source would divide by 0)
  if (inner > 0)
    parallel_for(0, outer * count, grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t block = begin; block < end; ++block)
        std::copy_n(source_data + index_select_source(block * inner, indices, count, size, inner), inner,
                    out_data + block * inner);
    });
}

/// The index-add backward: input_grad (already zeroed, [outer, size, inner]) gets
/// grad[o, k, :] added at [o, indices[k], :] (repeated indices add up).
template <typename T>
void index_select_backward(const T* grad_data, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                           std::int64_t inner, std::int64_t count, T* input_grad_data) {
  // Parallel over outer positions only: they write disjoint blocks, while
  // repeated indices within one outer position must be added one after another.
  const std::int64_t outer_grain =
      std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(count * inner, 1));
  if (inner == 0) return;
  parallel_for(0, outer, outer_grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o)
      for (std::int64_t k = 0; k < count; ++k) {
        const std::int64_t block = o * count + k;
        T* target = input_grad_data + index_select_source(block * inner, indices, count, size, inner);
        const T* gradient = grad_data + block * inner;
        for (std::int64_t i = 0; i < inner; ++i) target[i] += gradient[i];
      }
  });
}

}  // namespace nabla::backend::cpu
