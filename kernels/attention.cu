// kernels/attention.cu: fused scaled dot-product attention, tiled in the FlashAttention manner
// (backend/cpu/attention.hpp is the CPU twin and states the formulas; the per-element math, masks,
// causality, dropout and the online softmax's edge cases, is backend/attention_math.hpp, shared).
//
// Forward: one block per (tile of query rows, batch * head), one thread per query row. The block's
// Q tile stays in shared memory while the K and V tiles stream through it; each thread keeps its
// row's running max and sum and rescales its accumulator row when the max grows (online softmax),
// then writes O and the row logsumexp L. Key tiles past the last causally visible key are skipped.
// Backward, deterministic (no atomics), recomputing P = exp(S - L) per tile:
//   row_dot:  D_i = dO_i . O_i, one thread per query row;
//   dK, dV:   one block per (tile of key rows, batch * head), one thread per key row, looping over
//             the query tiles that see it: dV_j += P_ij z_ij dO_i, dK_j += scale dS_ij Q_i;
//   dQ:       one block per (tile of query rows, batch * head), one thread per query row, looping
//             over the key tiles: dQ_i += scale dS_ij K_j,  dS_ij = P_ij (z_ij dO_i . V_j - D_i).
// Shared-memory rows that each thread reads with its own row index are padded by one element, so
// the threads of a warp hit different banks.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "launch.cuh"
#include "nabla/backend/attention_math.hpp"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/core/error.hpp"

namespace nabla::backend::cuda {

namespace {

/// Dynamic shared memory a kernel may use without opting in (every GPU since Kepler).
constexpr std::size_t kSharedLimit = 48 * 1024;
/// The most rows per tile (one thread each: a warp).
constexpr int kMaxTile = 32;

/// The largest power-of-two tile <= kMaxTile whose shared memory, `elements_per_row` elements of
/// T per tile row plus `extra` elements, fits; throws when even one row does not.
template <typename T>
int choose_tile(std::int64_t elements_per_row, std::int64_t extra, const char* kernel) {
  for (int tile = kMaxTile; tile >= 1; tile /= 2)
    if (static_cast<std::size_t>(tile * elements_per_row + extra) * sizeof(T) <= kSharedLimit) return tile;
  throw DeviceError(std::string("scaled_dot_product_attention: head dims too large for ") + kernel + " (" +
                    std::to_string(elements_per_row) + " elements per row exceed the shared memory)");
}

template <typename T>
__device__ inline T dot(const T* a, const T* b, std::int64_t n) {
  T total = 0;
  for (std::int64_t d = 0; d < n; ++d) total += a[d] * b[d];
  return total;
}

/// rows x width elements from global row `first` (rows past `limit` become 0) into shared memory
/// with row pitch `pitch`, by all threads of the block.
template <typename T>
__device__ inline void load_tile(const T* global, std::int64_t first, std::int64_t limit, int rows, std::int64_t width,
                                 std::int64_t pitch, T* shared) {
  for (std::int64_t index = threadIdx.x; index < rows * width; index += blockDim.x) {
    const std::int64_t row = index / width, column = index % width;
    shared[row * pitch + column] = first + row < limit ? global[(first + row) * width + column] : T(0);
  }
}

template <typename T>
__global__ void attention_forward_kernel(const T* q, const T* k, const T* v, AttentionArguments<T> a, int tile, T* out,
                                         T* logsumexp) {
  extern __shared__ unsigned char shared_bytes[];
  const std::int64_t D = a.head_dim, Dv = a.value_dim, Tq = a.queries, Tk = a.keys;
  const std::int64_t q_pitch = D + 1, acc_pitch = Dv + 1;
  T* q_tile = reinterpret_cast<T*>(shared_bytes);
  T* accumulator = q_tile + tile * q_pitch;
  T* k_tile = accumulator + tile * acc_pitch;
  T* v_tile = k_tile + tile * D;

  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int r = threadIdx.x;
  const std::int64_t i = i0 + r;
  const bool active = i < Tq;
  load_tile(q + bh * Tq * D, i0, Tq, tile, D, q_pitch, q_tile);
  T* acc = accumulator + r * acc_pitch;
  for (std::int64_t c = 0; c < Dv; ++c) acc[c] = T(0);
  T running_max = -attention_infinity<T>(), running_sum = T(0);
  const std::int64_t last_query = i0 + tile < Tq ? i0 + tile : Tq;
  const std::int64_t key_end = attention_key_end(a, last_query);
  for (std::int64_t j0 = 0; j0 < key_end; j0 += tile) {
    __syncthreads();  // the previous K, V tiles are no longer read
    load_tile(k + bh * Tk * D, j0, Tk, tile, D, D, k_tile);
    load_tile(v + bh * Tk * Dv, j0, Tk, tile, Dv, Dv, v_tile);
    __syncthreads();
    if (!active) continue;
    const std::int64_t columns = key_end - j0 < tile ? key_end - j0 : tile;
    for (std::int64_t c = 0; c < columns; ++c) {
      const T score = attention_score(a, dot(q_tile + r * q_pitch, k_tile + c * D, D) * a.scale, b, h, i, j0 + c);
      if (score == -attention_infinity<T>()) continue;  // a removed key adds nothing
      if (score > running_max) {                        // online softmax: rescale what was summed under the old max
        const T rescale = attention_rescale(running_max, score);
        running_sum *= rescale;
        for (std::int64_t d = 0; d < Dv; ++d) acc[d] *= rescale;
        running_max = score;
      }
      const T p = attention_probability(score, running_max);
      running_sum += p;
      const T kept = p * attention_dropout_factor(a, b, h, i, j0 + c);
      if (kept != T(0))
        for (std::int64_t d = 0; d < Dv; ++d) acc[d] += kept * v_tile[c * Dv + d];
    }
  }
  if (!active) return;
  const T inverse = attention_inverse_sum(running_sum);
  for (std::int64_t d = 0; d < Dv; ++d) out[(bh * Tq + i) * Dv + d] = acc[d] * inverse;
  logsumexp[bh * Tq + i] = attention_logsumexp(running_max, running_sum);
}

// D_i = dO_i . O_i
template <typename T>
__global__ void attention_row_dot_kernel(const T* grad_out, const T* out, std::int64_t rows, std::int64_t width,
                                         T* row_dot) {
  for (std::int64_t row = detail::global_thread_index(); row < rows; row += detail::grid_stride())
    row_dot[row] = dot(grad_out + row * width, out + row * width, width);
}

// dV_j = sum_i P_ij z_ij dO_i,  dK_j = scale sum_i dS_ij Q_i
template <typename T>
__global__ void attention_backward_kv_kernel(const T* grad_out, const T* q, const T* k, const T* v, const T* logsumexp,
                                             const T* row_dot, AttentionArguments<T> a, int tile, T* grad_k,
                                             T* grad_v) {
  extern __shared__ unsigned char shared_bytes[];
  const std::int64_t D = a.head_dim, Dv = a.value_dim, Tq = a.queries, Tk = a.keys;
  const std::int64_t k_pitch = D + 1, v_pitch = Dv + 1;
  T* k_own = reinterpret_cast<T*>(shared_bytes);
  T* v_own = k_own + tile * k_pitch;
  T* dk_own = v_own + tile * v_pitch;
  T* dv_own = dk_own + tile * k_pitch;
  T* q_tile = dv_own + tile * v_pitch;
  T* grad_out_tile = q_tile + tile * D;
  T* lse_tile = grad_out_tile + tile * Dv;
  T* dot_tile = lse_tile + tile;

  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int r = threadIdx.x;
  const std::int64_t j = j0 + r;
  const bool active = j < Tk;
  load_tile(k + bh * Tk * D, j0, Tk, tile, D, k_pitch, k_own);
  load_tile(v + bh * Tk * Dv, j0, Tk, tile, Dv, v_pitch, v_own);
  T* dk = dk_own + r * k_pitch;
  T* dv = dv_own + r * v_pitch;
  for (std::int64_t d = 0; d < D; ++d) dk[d] = T(0);
  for (std::int64_t d = 0; d < Dv; ++d) dv[d] = T(0);
  for (std::int64_t i0 = attention_query_begin(a, j0); i0 < Tq; i0 += tile) {
    __syncthreads();
    load_tile(q + bh * Tq * D, i0, Tq, tile, D, D, q_tile);
    load_tile(grad_out + bh * Tq * Dv, i0, Tq, tile, Dv, Dv, grad_out_tile);
    for (int row = threadIdx.x; row < tile; row += blockDim.x) {
      lse_tile[row] = i0 + row < Tq ? logsumexp[bh * Tq + i0 + row] : attention_infinity<T>();
      dot_tile[row] = i0 + row < Tq ? row_dot[bh * Tq + i0 + row] : T(0);
    }
    __syncthreads();
    if (!active) continue;
    const std::int64_t rows = Tq - i0 < tile ? Tq - i0 : tile;
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t i = i0 + row;
      const T score = attention_score(a, dot(q_tile + row * D, k_own + r * k_pitch, D) * a.scale, b, h, i, j);
      const T p = attention_probability(score, lse_tile[row]);
      if (p == T(0)) continue;  // a removed key, or a row with no key: no gradient
      const T z = attention_dropout_factor(a, b, h, i, j);
      for (std::int64_t d = 0; d < Dv; ++d) dv[d] += p * z * grad_out_tile[row * Dv + d];
      const T dp = z * dot(grad_out_tile + row * Dv, v_own + r * v_pitch, Dv);
      const T ds = p * (dp - dot_tile[row]);
      for (std::int64_t d = 0; d < D; ++d) dk[d] += a.scale * ds * q_tile[row * D + d];
    }
  }
  if (!active) return;
  for (std::int64_t d = 0; d < D; ++d) grad_k[(bh * Tk + j) * D + d] = dk[d];
  for (std::int64_t d = 0; d < Dv; ++d) grad_v[(bh * Tk + j) * Dv + d] = dv[d];
}

// dQ_i = scale sum_j dS_ij K_j
template <typename T>
__global__ void attention_backward_q_kernel(const T* grad_out, const T* q, const T* k, const T* v, const T* logsumexp,
                                            const T* row_dot, AttentionArguments<T> a, int tile, T* grad_q) {
  extern __shared__ unsigned char shared_bytes[];
  const std::int64_t D = a.head_dim, Dv = a.value_dim, Tq = a.queries, Tk = a.keys;
  const std::int64_t q_pitch = D + 1, o_pitch = Dv + 1;
  T* q_own = reinterpret_cast<T*>(shared_bytes);
  T* grad_out_own = q_own + tile * q_pitch;
  T* dq_own = grad_out_own + tile * o_pitch;
  T* k_tile = dq_own + tile * q_pitch;
  T* v_tile = k_tile + tile * D;

  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int r = threadIdx.x;
  const std::int64_t i = i0 + r;
  const bool active = i < Tq;
  load_tile(q + bh * Tq * D, i0, Tq, tile, D, q_pitch, q_own);
  load_tile(grad_out + bh * Tq * Dv, i0, Tq, tile, Dv, o_pitch, grad_out_own);
  T* dq = dq_own + r * q_pitch;
  for (std::int64_t d = 0; d < D; ++d) dq[d] = T(0);
  const T lse = active ? logsumexp[bh * Tq + i] : attention_infinity<T>();
  const T row_term = active ? row_dot[bh * Tq + i] : T(0);
  const std::int64_t last_query = i0 + tile < Tq ? i0 + tile : Tq;
  const std::int64_t key_end = attention_key_end(a, last_query);
  for (std::int64_t j0 = 0; j0 < key_end; j0 += tile) {
    __syncthreads();
    load_tile(k + bh * Tk * D, j0, Tk, tile, D, D, k_tile);
    load_tile(v + bh * Tk * Dv, j0, Tk, tile, Dv, Dv, v_tile);
    __syncthreads();
    if (!active) continue;
    const std::int64_t columns = key_end - j0 < tile ? key_end - j0 : tile;
    for (std::int64_t c = 0; c < columns; ++c) {
      const std::int64_t j = j0 + c;
      const T score = attention_score(a, dot(q_own + r * q_pitch, k_tile + c * D, D) * a.scale, b, h, i, j);
      const T p = attention_probability(score, lse);
      if (p == T(0)) continue;
      const T z = attention_dropout_factor(a, b, h, i, j);
      const T dp = z * dot(grad_out_own + r * o_pitch, v_tile + c * Dv, Dv);
      const T ds = p * (dp - row_term);
      for (std::int64_t d = 0; d < D; ++d) dq[d] += a.scale * ds * k_tile[c * D + d];
    }
  }
  if (!active) return;
  for (std::int64_t d = 0; d < D; ++d) grad_q[(bh * Tq + i) * D + d] = dq[d];
}

/// Blocks of a (tiles, batch * heads) grid.
dim3 attention_grid(std::int64_t rows, int tile, std::int64_t batch_heads) {
  return dim3(static_cast<unsigned>((rows + tile - 1) / tile), static_cast<unsigned>(batch_heads));
}

void check_grid(std::int64_t batch_heads) {
  if (batch_heads > 65535)
    throw DeviceError("scaled_dot_product_attention: batch * heads = " + std::to_string(batch_heads) +
                      " exceeds the CUDA grid's 65535");
}

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const AttentionArguments<T>& arguments, T* out, T* logsumexp,
                       int device) {
  const std::int64_t batch_heads = arguments.batch * arguments.heads;
  if (batch_heads <= 0 || arguments.queries <= 0) return;
  check_grid(batch_heads);
  const cudaStream_t stream = detail::use_device(device);
  const std::int64_t D = arguments.head_dim, Dv = arguments.value_dim;
  // q (pitch D + 1), accumulator (Dv + 1), k (D), v (Dv) per tile row
  const int tile = choose_tile<T>((D + 1) + (Dv + 1) + D + Dv, 0, "attention_forward_kernel");
  const std::size_t shared = static_cast<std::size_t>(tile * ((D + 1) + (Dv + 1) + D + Dv)) * sizeof(T);
  detail::launch(attention_forward_kernel<T>, "attention_forward_kernel",
                 attention_grid(arguments.queries, tile, batch_heads), dim3(static_cast<unsigned>(tile)), shared,
                 stream, q, k, v, arguments, tile, out, logsumexp);
}

template <typename T>
void attention_backward(const T* grad_out, const T* q, const T* k, const T* v, const T* out, const T* logsumexp,
                        const AttentionArguments<T>& arguments, T* row_dot, T* grad_q, T* grad_k, T* grad_v,
                        int device) {
  const std::int64_t batch_heads = arguments.batch * arguments.heads;
  if (batch_heads <= 0) return;
  check_grid(batch_heads);
  const cudaStream_t stream = detail::use_device(device);
  const std::int64_t D = arguments.head_dim, Dv = arguments.value_dim, Tq = arguments.queries, Tk = arguments.keys;
  if (Tq > 0)
    detail::launch_over(batch_heads * Tq, attention_row_dot_kernel<T>, "attention_row_dot_kernel", stream, grad_out,
                        out, batch_heads * Tq, Dv, row_dot);
  if (Tk > 0) {
    // own k, v, dk, dv (padded) and the streamed q, dO tiles, L and D per tile row
    const std::int64_t per_row = 2 * (D + 1) + 2 * (Dv + 1) + D + Dv + 2;
    const int tile = choose_tile<T>(per_row, 0, "attention_backward_kv_kernel");
    detail::launch(attention_backward_kv_kernel<T>, "attention_backward_kv_kernel",
                   attention_grid(Tk, tile, batch_heads), dim3(static_cast<unsigned>(tile)),
                   static_cast<std::size_t>(tile * per_row) * sizeof(T), stream, grad_out, q, k, v, logsumexp, row_dot,
                   arguments, tile, grad_k, grad_v);
  }
  if (Tq > 0) {
    // own q, dO, dq (padded) and the streamed k, v tiles
    const std::int64_t per_row = 2 * (D + 1) + (Dv + 1) + D + Dv;
    const int tile = choose_tile<T>(per_row, 0, "attention_backward_q_kernel");
    detail::launch(attention_backward_q_kernel<T>, "attention_backward_q_kernel", attention_grid(Tq, tile, batch_heads),
                   dim3(static_cast<unsigned>(tile)), static_cast<std::size_t>(tile * per_row) * sizeof(T), stream,
                   grad_out, q, k, v, logsumexp, row_dot, arguments, tile, grad_q);
  }
}

template void attention_forward<float>(const float*, const float*, const float*, const AttentionArguments<float>&,
                                       float*, float*, int);
template void attention_forward<double>(const double*, const double*, const double*, const AttentionArguments<double>&,
                                        double*, double*, int);
template void attention_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                        const float*, const AttentionArguments<float>&, float*, float*, float*, float*,
                                        int);
template void attention_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         const double*, const AttentionArguments<double>&, double*, double*, double*,
                                         double*, int);

}  // namespace nabla::backend::cuda
