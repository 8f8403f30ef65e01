// kernels/reduce.cu: sum and max/min/argmax along any set of dims, and max's backward scatter.
//
// One block per output element (a grid-stride loop over outputs when there are more than
// the grid holds): the block's threads stride through the elements folded into it, each
// keeping a partial result in a register, then the block combines the partials with warp
// shuffles and one shared-memory step (launch.cuh: block_sum).
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/math.hpp"

namespace nabla::backend::cuda {

namespace {

/// The offset of element `linear` of a row-major (shape, strides) walk of `rank` dims.
__device__ inline std::int64_t strided_offset(std::int64_t linear, int rank, const std::int64_t* shape,
                                              const std::int64_t* strides) {
  std::int64_t offset = 0;
  for (int d = rank - 1; d >= 0; --d) {
    offset += (linear % shape[d]) * strides[d];
    linear /= shape[d];
  }
  return offset;
}

template <typename T>
__global__ void sum_kernel(const T* input, ReduceArguments arguments, T* output) {
  // The loop bound depends only on blockIdx, so every thread of a block runs the same
  // iterations and reaches block_sum's barriers together.
  for (std::int64_t o = blockIdx.x; o < arguments.output_count; o += gridDim.x) {
    const T* base = input + strided_offset(o, arguments.kept_rank, arguments.kept_shape, arguments.kept_strides);
    T partial = T(0);
    for (std::int64_t r = threadIdx.x; r < arguments.reduced_count; r += blockDim.x)
      partial += base[strided_offset(r, arguments.reduced_rank, arguments.reduced_shape, arguments.reduced_strides)];
    const T total = detail::block_sum(partial);
    if (threadIdx.x == 0) output[o] = total;
  }
}

// Many outputs laid out like the input's kept dims (a bias gradient: the sum over the rows of
// [rows, features]): one thread per output walks the folded elements serially, and the threads
// of a warp read neighbouring addresses at each step (coalesced), where a block per output
// would read one strided column per block.
template <typename T>
__global__ void sum_columns_kernel(const T* input, ReduceArguments arguments, T* output) {
  for (std::int64_t o = detail::global_thread_index(); o < arguments.output_count; o += detail::grid_stride()) {
    const T* base = input + o;  // kept dims are dense (checked by the launcher): o is the offset
    T total = T(0);
    for (std::int64_t r = 0; r < arguments.reduced_count; ++r)
      total += base[strided_offset(r, arguments.reduced_rank, arguments.reduced_shape, arguments.reduced_strides)];
    output[o] = total;
  }
}

/// Whether the kept dims are laid out row-major with unit innermost stride, so that output
/// element o starts at input offset o.
bool kept_dims_dense(const ReduceArguments& arguments) {
  std::int64_t expected = 1;
  for (int d = arguments.kept_rank - 1; d >= 0; --d) {
    if (arguments.kept_shape[d] != 1 && arguments.kept_strides[d] != expected) return false;
    expected *= arguments.kept_shape[d];
  }
  return true;
}

/// Whether (value, index) beats (best_value, best_index): the preferred value (NaN wins over
/// numbers), and on a tie (equal values, or both NaN) the smaller index, so the result is
/// the first occurrence whatever order the threads combine in. index < 0 means "none yet".
template <typename T>
__device__ inline bool beats(T value, std::int64_t index, T best_value, std::int64_t best_index, bool larger) {
  if (index < 0) return false;
  if (best_index < 0) return true;
  const bool value_nan = is_nan(value), best_nan = is_nan(best_value);
  if (value_nan || best_nan) return value_nan && (!best_nan || index < best_index);
  if (value == best_value) return index < best_index;
  return larger ? value > best_value : value < best_value;
}

template <typename T>
__global__ void extreme_kernel(const T* input, ReduceArguments arguments, bool larger, T* values,
                               std::int64_t* positions) {
  __shared__ T shared_values[32];
  __shared__ std::int64_t shared_indices[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (std::int64_t o = blockIdx.x; o < arguments.output_count; o += gridDim.x) {
    const T* base = input + strided_offset(o, arguments.kept_rank, arguments.kept_shape, arguments.kept_strides);
    T best = T(0);
    std::int64_t best_index = -1;
    for (std::int64_t r = threadIdx.x; r < arguments.reduced_count; r += blockDim.x) {
      const T value =
          base[strided_offset(r, arguments.reduced_rank, arguments.reduced_shape, arguments.reduced_strides)];
      if (beats(value, r, best, best_index, larger)) {
        best = value;
        best_index = r;
      }
    }
    // Warp, then block: the same pairwise rule at every step.
    for (int delta = 16; delta > 0; delta /= 2) {
      const T other = __shfl_xor_sync(0xffffffffu, best, delta);
      const std::int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, delta);
      if (beats(other, other_index, best, best_index, larger)) {
        best = other;
        best_index = other_index;
      }
    }
    __syncthreads();  // the previous output's readers are done with the shared slots
    if (lane == 0) {
      shared_values[warp] = best;
      shared_indices[warp] = best_index;
    }
    __syncthreads();
    if (warp == 0) {
      best = lane < warps ? shared_values[lane] : T(0);
      best_index = lane < warps ? shared_indices[lane] : -1;
      for (int delta = 16; delta > 0; delta /= 2) {
        const T other = __shfl_xor_sync(0xffffffffu, best, delta);
        const std::int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, delta);
        if (beats(other, other_index, best, best_index, larger)) {
          best = other;
          best_index = other_index;
        }
      }
      if (lane == 0) {
        // An empty slice: value 0 and position -1, like the CPU kernel.
        if (values) values[o] = best_index < 0 ? T(0) : best;
        if (positions) positions[o] = best_index;
      }
    }
  }
}

template <typename T>
__global__ void scatter_to_positions_kernel(const T* gradient, const std::int64_t* positions, std::int64_t count,
                                            std::int64_t dim_size, std::int64_t inner_count, T* out) {
  for (std::int64_t o = detail::global_thread_index(); o < count; o += detail::grid_stride()) {
    const std::int64_t outer = o / inner_count, inner = o % inner_count;
    out[(outer * dim_size + positions[o]) * inner_count + inner] = gradient[o];
  }
}

}  // namespace

template <typename T>
void sum(const T* input, const ReduceArguments& arguments, T* output) {
  if (arguments.output_count <= 0) return;
  const cudaStream_t stream = detail::use_device(arguments.device);
  // Thousands of outputs keep the GPU busy with one thread each; fewer, longer sums need a block.
  if (arguments.output_count >= 4096 && kept_dims_dense(arguments)) {
    detail::launch_over(arguments.output_count, sum_columns_kernel<T>, "sum_columns_kernel", stream, input, arguments,
                        output);
    return;
  }
  // One block per output (threads_for_row: a warp for short slices, up to 256 for long ones).
  detail::launch(sum_kernel<T>, "sum_kernel", detail::blocks_for_rows(arguments.output_count),
                 detail::threads_for_row(arguments.reduced_count), 0, stream, input, arguments, output);
}

template <typename T>
void extreme(const T* input, const ReduceArguments& arguments, bool larger, T* values, std::int64_t* positions) {
  if (arguments.output_count <= 0) return;
  const cudaStream_t stream = detail::use_device(arguments.device);
  detail::launch(extreme_kernel<T>, "extreme_kernel", detail::blocks_for_rows(arguments.output_count),
                 detail::threads_for_row(arguments.reduced_count), 0, stream, input, arguments, larger, values,
                 positions);
}

template <typename T>
void scatter_to_positions(const T* gradient, const std::int64_t* positions, std::int64_t count, std::int64_t dim_size,
                          std::int64_t inner_count, T* out, std::int64_t out_count, int device) {
  if (out_count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  NABLA_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<std::size_t>(out_count) * sizeof(T), stream));
  if (count <= 0) return;
  detail::launch_over(count, scatter_to_positions_kernel<T>, "scatter_to_positions_kernel", stream, gradient, positions,
                      count, dim_size, inner_count, out);
}

template void sum<float>(const float*, const ReduceArguments&, float*);
template void sum<double>(const double*, const ReduceArguments&, double*);
template void extreme<float>(const float*, const ReduceArguments&, bool, float*, std::int64_t*);
template void extreme<double>(const double*, const ReduceArguments&, bool, double*, std::int64_t*);
template void extreme<std::int64_t>(const std::int64_t*, const ReduceArguments&, bool, std::int64_t*, std::int64_t*);
template void scatter_to_positions<float>(const float*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                          float*, std::int64_t, int);
template void scatter_to_positions<double>(const double*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t,
                                           double*, std::int64_t, int);

}  // namespace nabla::backend::cuda
