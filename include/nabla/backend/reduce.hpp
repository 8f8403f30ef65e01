// nabla/backend/reduce.hpp - max/min reductions and their backward, on the tensors' device:
// backend/cpu/reduce.hpp on the CPU, kernels/reduce.cu on a GPU. (The sum is
// backend::sum, in backend/dispatch.hpp.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/backend/cpu/reduce.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// The preferred element of each output slice of `input` over the dims flagged in `reduced`
/// (the larger when `larger`, else the smaller; NaN wins; the first one on ties): its value
/// into `values` and its position among the folded elements into `positions` (contiguous
/// tensors of the output's shape on the input's device; either may be null).
template <typename T>
void extreme(const std::string& op, const Tensor<T>& input, const std::vector<bool>& reduced, bool larger,
             Tensor<T>* values, IndexTensor* positions) {
  if (input.device().is_cpu()) {
    T* const value_data = values ? values->data() : nullptr;
    std::int64_t* const position_data = positions ? positions->data() : nullptr;
    if (larger)
      cpu::extreme_kernel(input, reduced, cpu::PrefersLarger{}, value_data, position_data);
    else
      cpu::extreme_kernel(input, reduced, cpu::PrefersSmaller{}, value_data, position_data);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::extreme(device_data(input), cuda_detail::reduce_arguments(op, input, reduced), larger,
                values ? device_data(*values) : nullptr, positions ? device_data(*positions) : nullptr);
#else
  throw_no_cuda(op, input.device());
#endif
}

/// The backward of max/min along a dim: `out` (dense, `outer * dim_size * inner_count`
/// elements, written here) gets gradient[o] at position positions[o] along the dim of slice
/// o = (outer, inner), 0 elsewhere. `gradient` and `positions` are dense, one per slice.
template <typename T>
void scatter_to_positions(const Tensor<T>& gradient, const IndexTensor& positions, std::int64_t dim_size,
                          std::int64_t inner_count, Tensor<T>& out) {
  if (out.device().is_cpu()) {
    map(out, Fill<T>{T(0)});
    cpu::scatter_to_positions(gradient.data(), positions.data(), positions.numel(), dim_size, inner_count, out.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::scatter_to_positions(device_data(gradient), device_data(positions), positions.numel(), dim_size, inner_count,
                             device_data(out), out.numel(), out.device().index());
#else
  throw_no_cuda("max backward", out.device());
#endif
}

/// The backward of a full max/min: the one value of `gradient` shared evenly among the
/// elements of `values` equal to `extreme` (among the NaNs when it is NaN), 0 elsewhere.
template <typename T>
Tensor<T> share_among_extremes(const Tensor<T>& values, T extreme, const Tensor<T>& gradient) {
  Tensor<T> result = empty<T>(values.shape(), values.device());
  if (values.device().is_cpu()) {
    cpu::share_among_extremes(values, extreme, gradient.item(), result);
    return result;
  }
  // On a device: count the ties as the sum of a 0/1 mask, then hand each its share.
  Tensor<T> hits = empty<T>(values.shape(), values.device());
  map(hits, ExtremeShare<T>{extreme, T(1)}, values);
  Tensor<T> ties = empty<T>(Shape{}, values.device());
  sum(hits, std::vector<bool>(values.shape().size(), true), ties);
  const T share = item_on_host(gradient) / item_on_host(ties);
  map(result, ExtremeShare<T>{extreme, share}, values);
  return result;
}

}  // namespace nabla::backend
