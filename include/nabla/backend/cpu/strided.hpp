// nabla/backend/cpu/strided.hpp - walking the elements of strided (and broadcast) views.
//
// A view is (shape, strides, offset) over a buffer. strided_loop visits the elements with
// linear indices [begin, end) of `shape` in row-major order and hands the callback the
// element offset of each of K operands, updating offsets incrementally (no division per
// element). Broadcast operands simply have stride 0 along broadcast dimensions.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "nabla/core/shape.hpp"

namespace nabla::backend::cpu {

template <std::size_t K, typename Body>
void strided_loop(const Shape& shape, const std::array<const Strides*, K>& strides,
                  const std::array<std::int64_t, K>& base_offsets, std::int64_t begin, std::int64_t end,
                  const Body& body) {
  const std::size_t rank = shape.size();
  if (begin >= end) return;
  if (rank == 0) {
    body(begin, base_offsets);
    return;
  }
  // Multi-index of `begin`, and the operands' offsets there.
  std::vector<std::int64_t> index(rank);
  std::int64_t remainder = begin;
  for (std::size_t d = rank; d-- > 0;) {
    index[d] = remainder % shape[d];
    remainder /= shape[d];
  }
  std::array<std::int64_t, K> offsets = base_offsets;
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t d = 0; d < rank; ++d) offsets[k] += index[d] * (*strides[k])[d];

  const std::size_t last = rank - 1;
  std::array<std::int64_t, K> inner_strides;
  for (std::size_t k = 0; k < K; ++k) inner_strides[k] = (*strides[k])[last];

  std::int64_t linear = begin;
  while (linear < end) {
    // Run along the innermost dimension, then carry into the outer ones.
    const std::int64_t run = std::min(end - linear, shape[last] - index[last]);
    std::array<std::int64_t, K> position = offsets;
    for (std::int64_t r = 0; r < run; ++r) {
      body(linear + r, position);
      for (std::size_t k = 0; k < K; ++k) position[k] += inner_strides[k];
    }
    linear += run;
    index[last] += run;
    for (std::size_t k = 0; k < K; ++k) offsets[k] += run * inner_strides[k];
    for (std::size_t d = last; d > 0 && index[d] == shape[d]; --d) {
      index[d] = 0;
      ++index[d - 1];
      for (std::size_t k = 0; k < K; ++k) offsets[k] += (*strides[k])[d - 1] - shape[d] * (*strides[k])[d];
    }
  }
}

}  // namespace nabla::backend::cpu
