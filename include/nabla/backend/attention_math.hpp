// nabla/backend/attention_math.hpp - the per-element math of scaled dot-product attention, shared
// by the CPU kernel (backend/cpu/attention.hpp) and the CUDA kernels (kernels/attention.cu), so
// the two devices mask, normalize and drop out exactly alike (and the CPU tests check both).
//
// For batch b, head h, query i and key j:
//   score(i, j) = scale * q_i . k_j + mask[b, h, i, j]           (-inf when key j is removed)
//   key j is removed when causal and j > i + (Tk - Tq), or when mask_out[b, h, i, j] != 0
//   P(i, j) = exp(score(i, j) - L_i),  L_i = log sum_j exp(score(i, j))   (the row logsumexp)
//   out_i = sum_j P(i, j) z(i, j) v_j,  z = 1/(1 - p) where the Philox uniform of
//           (seed, offset + ((b H + h) Tq + i) Tk + j) is >= p, else 0    (dropout, p > 0)
// A row whose keys are all removed has L_i = +inf, so every P(i, j) = exp(-inf or finite - inf) = 0:
// its output and gradients are zero, never NaN.
#pragma once

#include <cmath>
#include <cstdint>

#include "nabla/backend/functors.hpp"
#include "nabla/core/macros.hpp"

namespace nabla::backend {

/// +inf in T, without std::numeric_limits (a constexpr host function; see backend/math.hpp).
template <typename T>
NABLA_HOST_DEVICE inline T attention_infinity() {
  return static_cast<T>(INFINITY);
}

/// Everything an attention kernel needs besides the q, k, v, out pointers. Inputs are dense
/// [batch, heads, queries, head_dim] (k: keys rows, v: keys x value_dim); masks are addressed
/// through four strides (0 along broadcast dims), null when absent.
template <typename T>
struct AttentionArguments {
  std::int64_t batch = 0, heads = 0, queries = 0, keys = 0, head_dim = 0, value_dim = 0;
  T scale = T(1);
  bool causal = false;
  const T* mask = nullptr;  // additive
  std::int64_t mask_strides[4] = {};
  const T* mask_out = nullptr;  // nonzero removes the key
  std::int64_t mask_out_strides[4] = {};
  T dropout = T(0);  // probability of dropping; 0 = no dropout
  std::uint64_t seed = 0, offset = 0;
};

/// True when query i may see key j under the causal rule (aligned at the bottom right).
template <typename T>
NABLA_HOST_DEVICE inline bool attention_causally_visible(const AttentionArguments<T>& a, std::int64_t i,
                                                         std::int64_t j) {
  return !a.causal || j <= i + (a.keys - a.queries);
}

/// The last key (exclusive bound) any of the queries [first, last) sees under causality.
template <typename T>
NABLA_HOST_DEVICE inline std::int64_t attention_key_end(const AttentionArguments<T>& a, std::int64_t last_query) {
  if (!a.causal) return a.keys;
  const std::int64_t end = last_query + (a.keys - a.queries);  // last_query is exclusive: keys < end
  return end < 0 ? 0 : (end > a.keys ? a.keys : end);
}

/// The first query that sees key j under causality (queries before it see none of keys >= j).
template <typename T>
NABLA_HOST_DEVICE inline std::int64_t attention_query_begin(const AttentionArguments<T>& a, std::int64_t key) {
  if (!a.causal) return 0;
  const std::int64_t begin = key - (a.keys - a.queries);
  return begin < 0 ? 0 : (begin > a.queries ? a.queries : begin);
}

/// score(i, j) from the scaled product scale * q_i . k_j: masked, -inf when the key is removed.
template <typename T>
NABLA_HOST_DEVICE inline T attention_score(const AttentionArguments<T>& a, T scaled_product, std::int64_t b,
                                           std::int64_t h, std::int64_t i, std::int64_t j) {
  const T removed = -attention_infinity<T>();
  if (!attention_causally_visible(a, i, j)) return removed;
  if (a.mask_out) {
    const T excluded = a.mask_out[b * a.mask_out_strides[0] + h * a.mask_out_strides[1] + i * a.mask_out_strides[2] +
                                  j * a.mask_out_strides[3]];
    if (excluded != T(0)) return removed;
  }
  T score = scaled_product;
  if (a.mask)
    score += a.mask[b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2] + j * a.mask_strides[3]];
  return score;
}

/// The dropout factor z(i, j): 1 without dropout, else 1/(1 - p) for a kept and 0 for a dropped
/// probability, from the Philox stream at the element's position in [B, H, Tq, Tk].
template <typename T>
NABLA_HOST_DEVICE inline T attention_dropout_factor(const AttentionArguments<T>& a, std::int64_t b, std::int64_t h,
                                                    std::int64_t i, std::int64_t j) {
  if (!(a.dropout > T(0))) return T(1);
  const auto index = static_cast<std::uint64_t>(((b * a.heads + h) * a.queries + i) * a.keys + j);
  return dropout_mask_value<T>(a.seed, a.offset, index, a.dropout, T(1) / (T(1) - a.dropout));
}

/// The max to subtract from a row's scores: the running max itself, or 0 while every score so far
/// is -inf (so that exp(-inf - max) is 0, not exp(-inf + inf) = NaN).
template <typename T>
NABLA_HOST_DEVICE inline T attention_safe_max(T running_max) {
  return running_max == -attention_infinity<T>() ? T(0) : running_max;
}

/// The online softmax's rescaling factor when a row's running max moves from old_max to new_max
/// (new_max >= old_max): sum_j e^(s_j - old) * e^(old - new) = sum_j e^(s_j - new), exactly.
template <typename T>
NABLA_HOST_DEVICE inline T attention_rescale(T old_max, T new_max) {
  return std::exp(old_max - attention_safe_max(new_max));  // old = -inf gives 0: nothing to rescale
}

/// The row logsumexp L = max + log(sum): +inf for a row with no visible key (sum = 0), so that
/// every probability exp(score - L) of that row is 0.
template <typename T>
NABLA_HOST_DEVICE inline T attention_logsumexp(T running_max, T running_sum) {
  return running_sum > T(0) ? running_max + std::log(running_sum) : attention_infinity<T>();
}

/// The probability P(i, j) = exp(score - L) recomputed in the backward.
template <typename T>
NABLA_HOST_DEVICE inline T attention_probability(T score, T logsumexp) {
  return std::exp(score - logsumexp);
}

/// The output's normalization 1 / sum, 0 for a row with no visible key.
template <typename T>
NABLA_HOST_DEVICE inline T attention_inverse_sum(T running_sum) {
  return running_sum > T(0) ? T(1) / running_sum : T(0);
}

}  // namespace nabla::backend
