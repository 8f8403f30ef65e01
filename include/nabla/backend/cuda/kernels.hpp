// nabla/backend/cuda/kernels.hpp: host-callable launchers of nabla's CUDA kernels.
//
// Self-contained on purpose (no CUDA header): host code calls these like ordinary functions;
// the kernels themselves live in kernels/*.cu and are compiled by nvcc into nabla::cuda.
// Templates declared here are explicitly instantiated in kernels/*.cu for the functors and
// element types nabla uses; a missing instantiation is a link error in CUDA builds.
//
// Conventions for every launcher below:
//   - pointers are DEVICE pointers (from the caching allocator, or a CUDA Storage), already
//     advanced by the view's offset;
//   - `device` is the CUDA device index the pointers live on; the launch is asynchronous with
//     respect to the host, on that device's stream (runtime.hpp: set_stream);
//   - zero elements is a no-op (nothing is launched);
//   - a launch failure throws nabla::DeviceError naming the kernel and the CUDA error.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nabla/backend/attention_math.hpp"
#include "nabla/backend/optimizer_math.hpp"

namespace nabla::backend::cuda {

// data[i] = value for i in [0, n).
void fill(float* device_data, std::size_t n, float value);
void fill(double* device_data, std::size_t n, double value);

/// The largest rank a CUDA kernel handles (shapes and strides travel by value in the launch).
inline constexpr int kMaxRank = 8;

/// One elementwise launch: out[i] = functor(inputs[i]...) for the `count` elements of `shape`
/// (row-major), each operand addressed through its own strides (0 along broadcast dims).
template <typename T, int Inputs>
struct MapArguments {
  int device = 0;
  std::int64_t count = 0;
  int rank = 0;
  std::int64_t shape[kMaxRank] = {};
  T* out = nullptr;
  std::int64_t out_strides[kMaxRank] = {};
  const T* inputs[Inputs > 0 ? Inputs : 1] = {};
  std::int64_t input_strides[Inputs > 0 ? Inputs : 1][kMaxRank] = {};
  /// Every operand is dense and of the output's shape: element i is at offset i everywhere.
  bool contiguous = false;
};

template <typename Functor, typename T, int Inputs>
void map(const MapArguments<T, Inputs>& arguments, const Functor& functor);

/// A reduction's geometry: the input's dims split into kept ones (they index the output,
/// row-major) and reduced ones (folded into each output element, row-major).
struct ReduceArguments {
  int device = 0;
  std::int64_t output_count = 0;
  std::int64_t reduced_count = 0;
  int kept_rank = 0;
  int reduced_rank = 0;
  std::int64_t kept_shape[kMaxRank] = {};
  std::int64_t kept_strides[kMaxRank] = {};
  std::int64_t reduced_shape[kMaxRank] = {};
  std::int64_t reduced_strides[kMaxRank] = {};
};

/// output[o] = sum of the input elements folded into o (output contiguous, output_count long).
template <typename T>
void sum(const T* input, const ReduceArguments& arguments, T* output);

/// The preferred element of each output slice (the larger when `larger`, else the smaller;
/// NaN wins; the first one on ties): its value into `values` and its position among the
/// folded elements into `positions` (either may be null). An empty slice gives 0 and -1.
template <typename T>
void extreme(const T* input, const ReduceArguments& arguments, bool larger, T* values, std::int64_t* positions);

/// The backward of max/min along a dim: out (zeroed here, `outer * dim_size * inner` long)
/// gets gradient[o] at position positions[o] along the dim of slice o = (outer, inner).
template <typename T>
void scatter_to_positions(const T* gradient, const std::int64_t* positions, std::int64_t count, std::int64_t dim_size,
                          std::int64_t inner_count, T* out, std::int64_t out_count, int device);

/// C = alpha * op(A) * op(B) + beta * C for `batch` row-major products through cuBLAS:
/// op(A) is m x k, op(B) k x n, C m x n with leading dimension ldc. A matrix given
/// "transposed" is stored as the row-major transpose (leading dimension lda/ldb). Batch
/// strides may be 0 (one matrix shared by every product).
template <typename T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, std::int64_t batch_stride_a, const T* b, std::int64_t ldb, std::int64_t batch_stride_b,
          T beta, T* c, std::int64_t ldc, std::int64_t batch_stride_c, std::int64_t batch, int device);

/// Random values from the Philox stream of core/philox.hpp, element i from
/// (seed, offset + i): uniform in [low, high) or normal(mean, stddev).
template <typename T>
void uniform(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T low, T high, int device);
template <typename T>
void normal(T* out, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T mean, T stddev, int device);

/// Layer normalization of each row of a dense [rows, dim] buffer, saving mean and rstd per
/// row; gamma and beta may be null (kernels/layer_norm.cu; formulas in backend/cpu/layer_norm.hpp).
template <typename T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, std::int64_t rows, std::int64_t dim, T eps, T* y,
                        T* mean, T* rstd, int device);
/// Its backward: grad_x, grad_gamma, grad_beta written where not null.
template <typename T>
void layer_norm_backward(const T* grad, const T* x, const T* gamma, const T* mean, const T* rstd, std::int64_t rows,
                         std::int64_t dim, T* grad_x, T* grad_gamma, T* grad_beta, int device);

/// softmax (log = false) or log_softmax (log = true) along the middle dim of a contiguous
/// [outer, size, inner] tensor, one block per row (kernels/softmax.cu).
template <typename T>
void softmax_forward(const T* input, T* output, std::int64_t outer, std::int64_t size, std::int64_t inner, bool log,
                     int device);
/// Their backward from the output and its gradient (all contiguous, same layout).
template <typename T>
void softmax_backward(const T* gradient, const T* output, T* grad_input, std::int64_t outer, std::int64_t size,
                      std::int64_t inner, bool log, int device);

/// The fused softmax-cross-entropy of [rows, classes] logits against class ids (already
/// checked): per-row losses, and per row its max and log sum exp(x - max) (2 values a row,
/// kept apart: backend::cross_entropy_row_loss); ignored rows give 0.
template <typename T>
void cross_entropy_forward(const T* logits, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                           std::int64_t ignore_index, T on_target, T per_class, T* losses, T* row_max_log_sum,
                           int device);
/// Its gradient: (softmax - q) * upstream * scale (upstream one value, or one per row).
template <typename T>
void cross_entropy_backward(const T* logits, const std::int64_t* ids, const T* row_max_log_sum, const T* upstream,
                            bool upstream_per_row, T scale, std::int64_t rows, std::int64_t classes,
                            std::int64_t ignore_index, T on_target, T per_class, T* grad_logits, int device);

/// out[s, :] = table[ids[s], :] for `tokens` ids into a [rows, dim] table (kernels/embedding.cu).
template <typename T>
void embedding_forward(const T* table, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim, T* out,
                       int device);
/// grad_table (zeroed here, [table_rows, dim]) += grad[s, :] at row ids[s], skipping padding_idx.
template <typename T>
void embedding_backward(const T* gradient, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim,
                        std::int64_t padding_idx, T* grad_table, std::int64_t table_rows, int device);

/// index_select along the middle dim of a dense [outer, size, inner] input with `count` indices
/// (already checked): out[o, k, j] = input[o, indices[k], j] (kernels/index_select.cu). The
/// gather also runs for int64 tensors (class ids, token ids).
template <typename T>
void index_select_forward(const T* input, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                          std::int64_t inner, std::int64_t count, T* out, int device);
/// Its backward, an index-add: grad_input (zeroed here, [outer, size, inner]) gets
/// gradient[o, k, j] added at [o, indices[k], j] (repeated indices add up).
template <typename T>
void index_select_backward(const T* gradient, const std::int64_t* indices, std::int64_t outer, std::int64_t size,
                           std::int64_t inner, std::int64_t count, T* grad_input, int device);

/// The negative log-likelihood of [rows, classes] log-probabilities against class ids
/// (already checked): per-row losses, 0 for ignored rows (kernels/class_losses.cu).
template <typename T>
void nll_forward(const T* log_probabilities, const std::int64_t* ids, std::int64_t rows, std::int64_t classes,
                 std::int64_t ignore_index, T* losses, int device);
/// Its gradient: -upstream * scale at each row's target class, 0 elsewhere (upstream one value,
/// or one per row).
template <typename T>
void nll_backward(const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale, std::int64_t rows,
                  std::int64_t classes, std::int64_t ignore_index, T* grad_input, int device);

/// The multi-class margin loss of [rows, classes] scores against class ids (already checked):
/// losses[r] = sum_{j != y} max(0, margin - x_y + x_j)^p / classes, one block per row.
template <typename T>
void multi_margin_forward(const T* scores, const std::int64_t* ids, std::int64_t rows, std::int64_t classes, T margin,
                          int p, T* losses, int device);
/// Its gradient (upstream one value, or one per row), one block per row.
template <typename T>
void multi_margin_backward(const T* scores, const std::int64_t* ids, const T* upstream, bool upstream_per_row, T scale,
                           std::int64_t rows, std::int64_t classes, T margin, int p, T* grad_scores, int device);

/// The scaled dropout mask of core/philox.hpp's stream: element i is `scale` when
/// uniform(seed, offset + i) >= threshold, else 0 (backend/functors.hpp: dropout_mask_value).
template <typename T>
void dropout_mask(T* mask, std::int64_t count, std::uint64_t seed, std::uint64_t offset, T threshold, T scale,
                  int device);

/// The fused optimizer updates (kernels/optimizer.cu): one pass over a parameter, its gradient
/// and its state, element i by backend/optimizer_math.hpp's function. Optional state
/// pointers (momentum buffers, AMSGrad's max, RMSprop's gradient average) may be null.
template <typename T>
void sgd_update(T* parameter, const T* gradient, T* buffer, std::int64_t count, const SgdHyperparameters<T>& h,
                int device);
template <typename T>
void adam_update(T* parameter, const T* gradient, T* first_moment, T* second_moment, T* max_second_moment,
                 std::int64_t count, const AdamHyperparameters<T>& h, int device);
template <typename T>
void rmsprop_update(T* parameter, const T* gradient, T* square_average, T* gradient_average, T* buffer,
                    std::int64_t count, const RmspropHyperparameters<T>& h, int device);
template <typename T>
void adagrad_update(T* parameter, const T* gradient, T* sum_of_squares, std::int64_t count,
                    const AdagradHyperparameters<T>& h, int device);

/// The buffers of one step of the fused LSTM (nn/lstm_fused.hpp; rows b * steps + t). The
/// forward reads gates (pre-activations without bias), bias, hidden/cell_previous and writes
/// the gates, cell_tanh, output and the next state (h_final/c_final after the last step). The
/// backward reads gates, cell_previous, cell_tanh, output_gradient and hidden_gradient and
/// writes gates_gradient and cell_gradient (dL/dc_t becomes dL/dc_{t-1}). lengths: null when
/// every sequence has all steps, else one length per sequence (device memory).
template <typename T>
struct LSTMStepArguments {
  std::int64_t batch = 0, steps = 0, hidden = 0, t = 0;
  const std::int64_t* lengths = nullptr;
  T* gates = nullptr;
  const T* bias = nullptr;
  T* hidden_previous = nullptr;
  T* cell_previous = nullptr;
  T* cell_tanh = nullptr;
  T* output = nullptr;
  T* h_final = nullptr;
  T* c_final = nullptr;
  const T* output_gradient = nullptr;
  const T* hidden_gradient = nullptr;
  T* cell_gradient = nullptr;
  T* gates_gradient = nullptr;
};

template <typename T>
void lstm_forward_step(const LSTMStepArguments<T>& arguments, int device);
template <typename T>
void lstm_backward_step(const LSTMStepArguments<T>& arguments, int device);
/// hidden_gradient[b, :] = from_gates[b, :] for the sequences with t < lengths[b].
template <typename T>
void lstm_keep_valid_hidden_gradient(T* hidden_gradient, const T* from_gates, const std::int64_t* lengths,
                                     std::int64_t batch, std::int64_t hidden, std::int64_t t, int device);

/// Fused scaled dot-product attention, tiled in the FlashAttention manner (kernels/attention.cu;
/// the math in backend/attention_math.hpp, the CPU twin in backend/cpu/attention.hpp): out
/// [B, H, Tq, Dv] and the row logsumexp [B, H, Tq] of the dense q, k, v.
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const AttentionArguments<T>& arguments, T* out, T* logsumexp,
                       int device);
/// Its backward: grad_q, grad_k, grad_v written; row_dot is scratch of B * H * Tq elements.
template <typename T>
void attention_backward(const T* grad_out, const T* q, const T* k, const T* v, const T* out, const T* logsumexp,
                        const AttentionArguments<T>& arguments, T* row_dot, T* grad_q, T* grad_k, T* grad_v,
                        int device);

}  // namespace nabla::backend::cuda
