// kernels/softmax.cu: softmax / log_softmax along a dim and the fused softmax-cross-entropy.
//
// One block per row. A row is x[first + k * inner], k < size, with first = (o * size) * inner
// + i for row r = o * inner + i: the tensor seen as [outer, size, inner] around the dim.
// Each thread walks its share of the row once, keeping a running max m and the sum s of
// e^(x - m) ("online" softmax: when a larger value arrives, s is rescaled by e^(m_old - m_new)),
// then the block merges the (m, s) pairs the same way. A second pass writes the outputs.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/backend/math.hpp"

namespace nabla::backend::cuda {

namespace {

/// A running max and the sum of e^(x - max) over the values seen so far.
template <typename T>
struct MaxSum {
  T max;
  T sum;
};

/// Adds one value. Equal values count e^0 = 1 directly, so that inf - inf never occurs;
/// a NaN never becomes the max and makes the sum NaN (as on the CPU).
template <typename T>
__device__ inline void add_value(MaxSum<T>& state, T x) {
  if (x > state.max) {
    state.sum = state.sum * std::exp(state.max - x) + T(1);
    state.max = x;
  } else {
    state.sum += x == state.max ? T(1) : std::exp(x - state.max);
  }
}

/// Merges two partial states (same rule: rescale the smaller max's sum).
template <typename T>
__device__ inline MaxSum<T> merge(MaxSum<T> a, MaxSum<T> b) {
  const T max = b.max > a.max ? b.max : a.max;
  const T a_factor = a.max == max ? T(1) : std::exp(a.max - max);
  const T b_factor = b.max == max ? T(1) : std::exp(b.max - max);
  return {max, a.sum * a_factor + b.sum * b_factor};
}

/// The block's merged state, in every thread (every thread must call it).
template <typename T>
__device__ inline MaxSum<T> block_merge(MaxSum<T> state) {
  __shared__ T shared_max[32];
  __shared__ T shared_sum[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  for (int delta = 16; delta > 0; delta /= 2) {
    const MaxSum<T> other{__shfl_xor_sync(0xffffffffu, state.max, delta),
                          __shfl_xor_sync(0xffffffffu, state.sum, delta)};
    state = merge(state, other);
  }
  __syncthreads();
  if (lane == 0) {
    shared_max[warp] = state.max;
    shared_sum[warp] = state.sum;
  }
  __syncthreads();
  state = lane < warps ? MaxSum<T>{shared_max[lane], shared_sum[lane]} : MaxSum<T>{-INFINITY, T(0)};
  for (int delta = 16; delta > 0; delta /= 2) {
    const MaxSum<T> other{__shfl_xor_sync(0xffffffffu, state.max, delta),
                          __shfl_xor_sync(0xffffffffu, state.sum, delta)};
    state = merge(state, other);
  }
  return state;
}

/// The shift and the total of the CPU formula: shift = max when finite, else 0 (then the
/// total is sum e^x = s e^max: 0 for an all -inf row, inf when some x is +inf).
template <typename T>
__device__ inline void shift_and_total(const MaxSum<T>& state, T& shift, T& total) {
  const bool finite = std::isfinite(state.max);
  shift = finite ? state.max : T(0);
  total = finite ? state.sum : state.sum * std::exp(state.max);
}

template <typename T>
__global__ void softmax_forward_kernel(const T* input, T* output, std::int64_t rows, std::int64_t size,
                                       std::int64_t inner, bool log) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t first = (r / inner) * size * inner + r % inner;
    MaxSum<T> state{-INFINITY, T(0)};
    for (std::int64_t k = threadIdx.x; k < size; k += blockDim.x) add_value(state, input[first + k * inner]);
    state = block_merge(state);
    T shift, total;
    shift_and_total(state, shift, total);
    const T log_total = std::log(total);
    for (std::int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      const T x = input[first + k * inner];
      output[first + k * inner] = log ? x - shift - log_total : std::exp(x - shift) / total;
    }
  }
}

// softmax:     grad_x_k = s_k (g_k - sum_j g_j s_j)
// log_softmax: grad_x_k = g_k - e^(out_k) sum_j g_j
template <typename T>
__global__ void softmax_backward_kernel(const T* gradient, const T* output, T* grad_input, std::int64_t rows,
                                        std::int64_t size, std::int64_t inner, bool log) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t first = (r / inner) * size * inner + r % inner;
    T partial = T(0);
    for (std::int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      const std::int64_t at = first + k * inner;
      partial += log ? gradient[at] : gradient[at] * output[at];
    }
    const T total = detail::block_sum(partial);
    for (std::int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      const std::int64_t at = first + k * inner;
      grad_input[at] = log ? gradient[at] - std::exp(output[at]) * total : output[at] * (gradient[at] - total);
    }
  }
}

// loss = lse - on_target x_y - per_class sum_c x_c, with lse = log sum_c e^(x_c); the row's max and
// log sum e^(x - max) are saved apart (backend::cross_entropy_row_loss says why)
template <typename T>
__global__ void cross_entropy_forward_kernel(const T* logits, const std::int64_t* ids, std::int64_t rows,
                                             std::int64_t classes, std::int64_t ignore_index, T on_target, T per_class,
                                             T* losses, T* row_max_log_sum) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t id = ids[r];
    if (id == ignore_index) {  // the same for the whole block: no thread skips a barrier alone
      if (threadIdx.x == 0) {
        losses[r] = T(0);
        row_max_log_sum[2 * r] = row_max_log_sum[2 * r + 1] = T(0);
      }
      continue;
    }
    const T* row = logits + r * classes;
    MaxSum<T> state{-INFINITY, T(0)};
    T logit_sum = T(0);
    for (std::int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
      add_value(state, row[c]);
      logit_sum += row[c];
    }
    state = block_merge(state);
    logit_sum = detail::block_sum(logit_sum);
    if (threadIdx.x == 0) {
      // The CPU shifts by the row max whatever it is; finite logits make the two agree.
      const T log_sum = std::log(state.sum);
      row_max_log_sum[2 * r] = state.max;
      row_max_log_sum[2 * r + 1] = log_sum;
      losses[r] = cross_entropy_row_loss(state.max, log_sum, row[id], logit_sum, on_target, per_class);
    }
  }
}

// dloss/dx_c = (softmax(x)_c - per_class - on_target [c == y]) * upstream * scale,
// softmax(x)_c = e^((x_c - max) - log_sum)
template <typename T>
__global__ void cross_entropy_backward_kernel(const T* logits, const std::int64_t* ids, const T* row_max_log_sum,
                                              const T* upstream, bool upstream_per_row, T scale, std::int64_t rows,
                                              std::int64_t classes, std::int64_t ignore_index, T on_target, T per_class,
                                              T* grad_logits) {
  const std::int64_t count = rows * classes;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride()) {
    const std::int64_t r = i / classes, c = i % classes;
    const std::int64_t id = ids[r];
    if (id == ignore_index) {
      grad_logits[i] = T(0);
      continue;
    }
    const T row_gradient = (upstream_per_row ? upstream[r] : upstream[0]) * scale;
    T value = (softmax_from_max_log_sum(logits[i], row_max_log_sum[2 * r], row_max_log_sum[2 * r + 1]) - per_class) *
              row_gradient;
    if (c == id) value -= on_target * row_gradient;
    grad_logits[i] = value;
  }
}

}  // namespace

template <typename T>
void softmax_forward(const T* input, T* output, std::int64_t outer, std::int64_t size, std::int64_t inner, bool log,
                     int device) {
  const std::int64_t rows = outer * inner;
  if (rows <= 0 || size <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(softmax_forward_kernel<T>, "softmax_forward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(size), 0, stream, input, output, rows, size, inner, log);
}

template <typename T>
void softmax_backward(const T* gradient, const T* output, T* grad_input, std::int64_t outer, std::int64_t size,
                      std::int64_t inner, bool log, int device) {
  const std::int64_t rows = outer * inner;
  if (rows <= 0 || size <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(softmax_backward_kernel<T>, "softmax_backward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(size), 0, stream, gradient, output, grad_input, rows, size, inner, log);
}

template <typename T>
void cross_entropy_forward(const T* logits, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                           std::int64_t ignore_index, T on_target, T per_class, T* losses, T* row_max_log_sum,
                           int device) {
  if (rows <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch(cross_entropy_forward_kernel<T>, "cross_entropy_forward_kernel", detail::blocks_for_rows(rows),
                 detail::threads_for_row(classes), 0, stream, logits, ids, rows, classes, ignore_index, on_target,
                 per_class, losses, row_max_log_sum);
}

template <typename T>
void cross_entropy_backward(const T* logits, const std::int64_t* ids, const T* row_max_log_sum, const T* upstream,
                            bool upstream_per_row, T scale, std::int64_t rows, std::int64_t classes,
                            std::int64_t ignore_index, T on_target, T per_class, T* grad_logits, int device) {
  if (rows <= 0 || classes <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(rows * classes, cross_entropy_backward_kernel<T>, "cross_entropy_backward_kernel", stream, logits,
                      ids, row_max_log_sum, upstream, upstream_per_row, scale, rows, classes, ignore_index, on_target,
                      per_class, grad_logits);
}

#define NABLA_INSTANTIATE_SOFTMAX(T)                                                                                 \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t, bool, int);               \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, bool, int);    \
  template void cross_entropy_forward<T>(const T*, const std::int64_t*, std::int64_t, std::int64_t, std::int64_t, T, \
                                         T, T*, T*, int);                                                            \
  template void cross_entropy_backward<T>(const T*, const std::int64_t*, const T*, const T*, bool, T, std::int64_t,  \
                                          std::int64_t, std::int64_t, T, T, T*, int);
NABLA_INSTANTIATE_SOFTMAX(float)
NABLA_INSTANTIATE_SOFTMAX(double)

}  // namespace nabla::backend::cuda
