// nabla/backend/cpu/reduce.hpp - reductions over any set of dimensions.
//
// The dimensions of the input split into kept ones (they index the output) and reduced
// ones (they are folded into one value). Each output element is reduced serially in a
// fixed order, so the result never depends on the thread count. A reduction to a single
// value over a large tensor is split into fixed-size blocks (again independent of the
// thread count) whose partial results are merged in order.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "nabla/backend/cpu/elementwise.hpp"
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
    strided_loop<1>(
        reduced_shape, reduced_stride_list, {start_offset}, begin, end,
        [&](std::int64_t r, const std::array<std::int64_t, 1>& position) { step(accumulator, base[position[0]], r); });
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

namespace detail {

/// out[j] = sum over r of rows[r * columns + j] for a dense [row_count, columns] block: the
/// column sums (a bias gradient). Each output still adds its values in row order, but a
/// whole row is added at a time, so the loop runs along memory and vectorizes.
template <typename T>
void sum_leading_rows(const T* rows, std::int64_t row_count, std::int64_t columns, T* out) {
  constexpr std::int64_t kMaxColumnBlock = 2048;  // the block of sums stays in L1
  if (columns <= 0) return;
  // As many blocks as a multiple of the threads, of equal width (a multiple of 16 floats): 10,000
  // columns in blocks of 2048 gave one of two threads 3 blocks and the other 2 (a decoder's bias
  // gradient); 6 blocks of 1,680 split evenly. Each column's sum still adds its rows in order.
  const std::int64_t threads = std::max(1, get_num_threads());
  std::int64_t blocks = (columns + kMaxColumnBlock - 1) / kMaxColumnBlock;
  blocks = (blocks + threads - 1) / threads * threads;
  const std::int64_t block_width = std::max<std::int64_t>(16, ((columns + blocks - 1) / blocks + 15) / 16 * 16);
  blocks = (columns + block_width - 1) / block_width;
  const std::int64_t grain =
      std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(row_count * block_width, 1));
  parallel_for(0, blocks, grain, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t block = first; block < last; ++block) {
      const std::int64_t begin = block * block_width, end = std::min(columns, begin + block_width);
      T* __restrict sums = out + begin;
      std::fill(sums, sums + (end - begin), T(0));
      for (std::int64_t r = 0; r < row_count; ++r) {
        const T* __restrict row = rows + r * columns + begin;
        for (std::int64_t j = 0; j < end - begin; ++j) sums[j] += row[j];
      }
    }
  });
}

/// out[o] = the sum of the `length` adjacent values at rows + o * length (row sums). Eigen's
/// sum adds in a fixed vectorized order (several partial sums, then combined): faster than a
/// serial loop, and no less accurate.
template <typename T>
void sum_trailing_runs(const T* rows, std::int64_t output_count, std::int64_t length, T* out) {
  using Run = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  if (output_count == 1 && length > 2 * kReduceBlock) {  // one total: blocks, merged in order
    const std::int64_t blocks = (length + kReduceBlock - 1) / kReduceBlock;
    std::vector<T> partial(static_cast<std::size_t>(blocks));
    parallel_for(0, blocks, 2, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t block = first; block < last; ++block) {
        const std::int64_t begin = block * kReduceBlock;
        partial[static_cast<std::size_t>(block)] =
            Run(rows + begin, std::min(length, begin + kReduceBlock) - begin).sum();
      }
    });
    T total = partial[0];
    for (std::int64_t block = 1; block < blocks; ++block) total += partial[static_cast<std::size_t>(block)];
    out[0] = total;
    return;
  }
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(length, 1));
  parallel_for(0, output_count, grain, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t o = first; o < last; ++o) out[o] = length == 0 ? T(0) : Run(rows + o * length, length).sum();
  });
}

}  // namespace detail

/// Sum of `input` over the dims flagged in `reduced`, written contiguously to `output`.
/// A dense input reduced over its leading dims (column sums) or its trailing dims (row sums,
/// a full sum) takes a vectorized path; any other layout the general strided one.
template <typename T>
void sum_kernel(const Tensor<T>& input, const std::vector<bool>& reduced, T* output) {
  if (input.is_contiguous() && !reduced.empty()) {
    const std::size_t rank = reduced.size();
    std::size_t leading = 0;  // how many dims from the front are reduced
    while (leading < rank && reduced[leading]) ++leading;
    std::size_t trailing = 0;  // how many dims from the back are reduced
    while (trailing < rank && reduced[rank - 1 - trailing]) ++trailing;
    const T* data = input.storage()->data() + input.offset();
    const Shape& shape = input.shape();
    auto product = [&](std::size_t first, std::size_t last) {
      std::int64_t count = 1;
      for (std::size_t d = first; d < last; ++d) count *= shape[d];
      return count;
    };
    const auto reduced_count = static_cast<std::size_t>(std::count(reduced.begin(), reduced.end(), true));
    if (trailing > 0 && reduced_count == trailing) {  // kept dims (if any) all in front
      detail::sum_trailing_runs(data, product(0, rank - trailing), product(rank - trailing, rank), output);
      return;
    }
    if (leading > 0 && reduced_count == leading) {
      detail::sum_leading_rows(data, product(0, leading), product(leading, rank), output);
      return;
    }
  }
  reduce_kernel(
      input, reduced, T(0), [](T& total, T value, std::int64_t) { total += value; },
      [](T& total, const T& other) { total += other; },
      [output](std::int64_t index, T total) { output[index] = total; });
}

// ---- max / min and their positions ----------------------------------------------------------

template <typename T>
bool is_nan(T value) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(value);
  else
    return false;
}

/// The order of max/argmax: NaN beats every number (so NaN propagates, like PyTorch), and a
/// strict comparison keeps the first of equal values.
struct PrefersLarger {
  template <typename T>
  bool operator()(T candidate, T best) const {
    return is_nan(candidate) ? !is_nan(best) : candidate > best;
  }
};

/// The order of min/argmin: NaN again wins, then the smaller value, the first on ties.
struct PrefersSmaller {
  template <typename T>
  bool operator()(T candidate, T best) const {
    return is_nan(candidate) ? !is_nan(best) : candidate < best;
  }
};

/// The best element seen so far: its value and its position among the folded elements
/// (row-major over the folded dims); index -1 until the first element is seen.
template <typename T>
struct Extreme {
  T value{};
  std::int64_t index = -1;
};

/// The preferred element of each output slice: its value into `values` and its position
/// into `positions` (either may be null). An empty slice stores value 0 and position -1.
template <typename T, typename Prefers>
void extreme_kernel(const Tensor<T>& input, const std::vector<bool>& reduced, const Prefers& prefers, T* values,
                    std::int64_t* positions) {
  reduce_kernel(
      input, reduced, Extreme<T>{},
      [&prefers](Extreme<T>& best, T value, std::int64_t index) {
        if (best.index < 0 || prefers(value, best.value)) best = {value, index};
      },
      // `later` covers positions after `best`'s, so a tie keeps `best`: still the first occurrence.
      [&prefers](Extreme<T>& best, const Extreme<T>& later) {
        if (later.index >= 0 && (best.index < 0 || prefers(later.value, best.value))) best = later;
      },
      [values, positions](std::int64_t output, const Extreme<T>& best) {
        if (values) values[output] = best.value;
        if (positions) positions[output] = best.index;
      });
}

/// The backward of max/min along a dim: out (already zeroed, `outer * dim_size * inner_count`
/// long) gets gradient[o] at position positions[o] along the dim of slice o = (outer, inner).
template <typename T>
void scatter_to_positions(const T* gradient, const std::int64_t* position, std::int64_t count, std::int64_t dim_size,
                          std::int64_t inner_count, T* out) {
  parallel_for(0, count, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t o = begin; o < end; ++o) {
      const std::int64_t outer = o / inner_count, inner = o % inner_count;
      out[(outer * dim_size + position[o]) * inner_count + inner] = gradient[o];
    }
  });
}

/// The backward of a full max/min: `gradient` shared evenly among the elements of `values`
/// equal to `extreme` (among the NaNs when it is NaN), 0 elsewhere, into `result` (same shape).
template <typename T>
void share_among_extremes(const Tensor<T>& values, T extreme, T gradient, Tensor<T>& result) {
  const std::vector<bool> all(values.shape().size(), true);
  const bool extreme_is_nan = is_nan(extreme);
  auto is_extreme = [extreme, extreme_is_nan](T value) { return extreme_is_nan ? is_nan(value) : value == extreme; };
  std::int64_t ties = 0;
  reduce_kernel(
      values, all, std::int64_t{0},
      [&is_extreme](std::int64_t& count, T value, std::int64_t) { count += is_extreme(value) ? 1 : 0; },
      [](std::int64_t& count, const std::int64_t& other) { count += other; },
      [&ties](std::int64_t, std::int64_t count) { ties = count; });
  const T share = gradient / static_cast<T>(ties);
  map_kernel(
      result, [&is_extreme, share](T value) { return is_extreme(value) ? share : T(0); }, values);
}

}  // namespace nabla::backend::cpu
