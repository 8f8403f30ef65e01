// nabla/backend/cpu/reduce.hpp - reductions over any set of dimensions.
//
// The dimensions of the input split into kept ones (they index the output) and reduced
// ones (they are folded into one value). Each output element is reduced serially in a
// fixed order, so the result never depends on the thread count. A reduction to a single
// value over a large tensor is split into fixed-size blocks (again independent of the
// thread count) whose partial results are merged in order.
#pragma once

#include <cstdint>
#include <vector>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/cpu/strided.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend::cpu {

inline constexpr std::int64_t kReduceBlock = 16384;

/// For each output element o (row-major over the kept dims): acc = init; for every reduced
/// element r in order, step(acc, value, r); then store(o, acc). merge(acc, other) combines
/// partial accumulators of consecutive blocks (used only for full reductions).
template <typename T, typename Accumulator, typename Step, typename Merge, typename Store>
void reduce_kernel(const Tensor<T>& input, const std::vector<bool>& reduced, const Accumulator& init, const Step& step,
                   const Merge& merge, const Store& store) {
  Shape kept_shape, reduced_shape;
  Strides kept_strides, reduced_strides;
  for (std::size_t d = 0; d < input.shape().size(); ++d) {
    (reduced[d] ? reduced_shape : kept_shape).push_back(input.shape()[d]);
    (reduced[d] ? reduced_strides : kept_strides).push_back(input.strides()[d]);
  }
  const std::int64_t output_count = numel_of(kept_shape);
  const std::int64_t reduced_count = numel_of(reduced_shape);
  const T* base = input.storage()->data();
  const std::array<const Strides*, 1> kept_stride_list = {&kept_strides};
  const std::array<const Strides*, 1> reduced_stride_list = {&reduced_strides};

  auto reduce_range = [&](std::int64_t start_offset, std::int64_t begin, std::int64_t end, Accumulator& accumulator) {
    strided_loop<1>(reduced_shape, reduced_stride_list, {start_offset}, begin, end,
                    [&](std::int64_t r, const std::array<std::int64_t, 1>& position) {
                      step(accumulator, base[position[0]], r);
                    });
  };

  if (output_count == 1 && reduced_count > 2 * kReduceBlock) {
    const std::int64_t blocks = (reduced_count + kReduceBlock - 1) / kReduceBlock;
    std::vector<Accumulator> partial(static_cast<std::size_t>(blocks), init);
    parallel_for(0, blocks, 2, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t block = first; block < last; ++block)
        reduce_range(input.offset(), block * kReduceBlock, std::min(reduced_count, (block + 1) * kReduceBlock),
                     partial[static_cast<std::size_t>(block)]);
    });
    Accumulator total = partial[0];
    for (std::int64_t block = 1; block < blocks; ++block) merge(total, partial[static_cast<std::size_t>(block)]);
    store(0, total);
    return;
  }

  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(reduced_count, 1));
  parallel_for(0, output_count, grain, [&](std::int64_t begin, std::int64_t end) {
    strided_loop<1>(kept_shape, kept_stride_list, {input.offset()}, begin, end,
                    [&](std::int64_t output_index, const std::array<std::int64_t, 1>& position) {
                      Accumulator accumulator = init;
                      reduce_range(position[0], 0, reduced_count, accumulator);
                      store(output_index, accumulator);
                    });
  });
}

/// Sum of `input` over the dims flagged in `reduced`, written contiguously to `output`.
template <typename T>
void sum_kernel(const Tensor<T>& input, const std::vector<bool>& reduced, T* output) {
  reduce_kernel(
      input, reduced, T(0), [](T& total, T value, std::int64_t) { total += value; },
      [](T& total, const T& other) { total += other; }, [output](std::int64_t index, T total) { output[index] = total; });
}

}  // namespace nabla::backend::cpu
