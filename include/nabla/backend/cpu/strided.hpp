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

/// Visits [begin, end) of `shape` as runs along the innermost dimension: run_body(linear,
/// offsets, length) gets the first element's linear index, the K operands' offsets there and
/// the run's length; within a run operand k advances by its innermost stride.
template <std::size_t K, typename RunBody>
void strided_runs(const Shape& shape, const std::array<const Strides*, K>& strides,
                  const std::array<std::int64_t, K>& base_offsets, std::int64_t begin, std::int64_t end,
                  const RunBody& run_body) {
  const std::size_t rank = shape.size();
  if (begin >= end) return;
  if (rank == 0) {
    run_body(begin, base_offsets, std::int64_t{1});
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
  std::int64_t linear = begin;
  while (linear < end) {
    // Run along the innermost dimension, then carry into the outer ones.
    const std::int64_t run = std::min(end - linear, shape[last] - index[last]);
    run_body(linear, offsets, run);
    linear += run;
    index[last] += run;
    for (std::size_t k = 0; k < K; ++k) offsets[k] += run * (*strides[k])[last];
    for (std::size_t d = last; d > 0 && index[d] == shape[d]; --d) {
      index[d] = 0;
      ++index[d - 1];
      for (std::size_t k = 0; k < K; ++k) offsets[k] += (*strides[k])[d - 1] - shape[d] * (*strides[k])[d];
    }
  }
}

/// The same, element by element: body(linear, offsets) for every element.
template <std::size_t K, typename Body>
void strided_loop(const Shape& shape, const std::array<const Strides*, K>& strides,
                  const std::array<std::int64_t, K>& base_offsets, std::int64_t begin, std::int64_t end,
                  const Body& body) {
  std::array<std::int64_t, K> inner_strides{};
  if (!shape.empty())
    for (std::size_t k = 0; k < K; ++k) inner_strides[k] = (*strides[k])[shape.size() - 1];
  strided_runs<K>(shape, strides, base_offsets, begin, end,
                  [&](std::int64_t linear, const std::array<std::int64_t, K>& offsets, std::int64_t run) {
                    std::array<std::int64_t, K> position = offsets;
                    for (std::int64_t r = 0; r < run; ++r) {
                      body(linear + r, position);
                      for (std::size_t k = 0; k < K; ++k) position[k] += inner_strides[k];
                    }
                  });
}

}  // namespace nabla::backend::cpu
