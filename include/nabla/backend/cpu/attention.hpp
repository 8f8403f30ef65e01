// nabla/backend/cpu/attention.hpp - fused scaled dot-product attention on the CPU, in the manner
// of FlashAttention (Dao et al. 2022; kernels/attention.cu is the GPU twin). The per-element math
// (masks, causality, dropout, the online softmax's rescaling) is backend/attention_math.hpp.
//
// Forward, per (batch, head, block of query rows): loop over blocks of keys; the block of scores
// S = scale Q K^T is one small GEMM, masked in place, then each row's running max m and sum l are
// updated (the online softmax: earlier partial sums and the accumulator are rescaled by
// e^(m_old - m_new)), and acc += P V is a second GEMM. The [Tq, Tk] score matrix never exists;
// the backward gets the output O and the row logsumexp L = m + log l, and recomputes each block of
// P = exp(S - L) from them. Key blocks that causality removes entirely are skipped.
//
// Backward, per (batch, head): D_i = dO_i . O_i, then per key block and query block
//   P = exp(S - L),  dV += (P z)^T dO,  dP = (dO V^T) z,  dS = P (dP - D),
//   dQ += scale dS K,  dK += scale dS^T Q
// (z: the dropout factors). Each (batch, head) owns its slices of dQ, dK, dV: no races.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "nabla/backend/attention_math.hpp"
#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/parallel.hpp"

namespace nabla::backend::cpu {

/// Rows of queries and of keys per block: a 64 x 64 score block and the Q, K, V blocks beside it
/// stay in the L1/L2 caches for head dims up to 128.
inline constexpr std::int64_t kAttentionQueryBlock = 64;
inline constexpr std::int64_t kAttentionKeyBlock = 64;

namespace attention_detail {

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// Masks one row of `count` scaled products (keys first_key..) in place with attention_score;
/// returns the row's max.
template <typename T>
T mask_row(const AttentionArguments<T>& a, T* row, std::int64_t count, std::int64_t b, std::int64_t h, std::int64_t i,
           std::int64_t first_key) {
  T largest = -std::numeric_limits<T>::infinity();
  for (std::int64_t c = 0; c < count; ++c) {
    row[c] = attention_score(a, row[c], b, h, i, first_key + c);
    largest = std::max(largest, row[c]);
  }
  return largest;
}

/// Masks one row like mask_row when causality is the only rule (no mask tensors): the keys after
/// the last visible one become -inf, with no per-element test. Returns the row's max.
template <typename T>
T mask_row_causal(const AttentionArguments<T>& a, T* row, std::int64_t count, std::int64_t i, std::int64_t first_key) {
  const std::int64_t visible = std::clamp<std::int64_t>(i + (a.keys - a.queries) - first_key + 1, 0, count);
  std::fill(row + visible, row + count, -std::numeric_limits<T>::infinity());
  return visible > 0 ? ConstArrayMap<T>(row, visible).maxCoeff() : -std::numeric_limits<T>::infinity();
}

/// probabilities[c] = exp(scores[c] - shift), exactly 0 where the score is -inf (a removed key;
/// Eigen's vectorized exp clamps its argument and would give ~1e-38 there).
template <typename T>
void exp_row(const T* scores, T* probabilities, std::int64_t count, T shift) {
  ArrayMap<T> out(probabilities, count);
  out = (ConstArrayMap<T>(scores, count) - shift).exp();
  const T removed = -std::numeric_limits<T>::infinity();
  for (std::int64_t c = 0; c < count; ++c)
    if (scores[c] == removed) probabilities[c] = T(0);
}

/// True when no key of the block [first_key, first_key + count) can be removed for any query of
/// [first_query, ...): no masks, and the block's last key is causally visible to its first query.
template <typename T>
bool block_is_plain(const AttentionArguments<T>& a, std::int64_t first_query, std::int64_t first_key,
                    std::int64_t count) {
  return !a.mask && !a.mask_out && attention_causally_visible(a, first_query, first_key + count - 1);
}

/// Parallel tasks are worth it when each has about this many multiply-adds.
inline constexpr std::int64_t kAttentionTaskWork = std::int64_t{1} << 16;

}  // namespace attention_detail

/// out [B, H, Tq, Dv] and logsumexp [B, H, Tq] of the dense q [B, H, Tq, D], k [B, H, Tk, D],
/// v [B, H, Tk, Dv]. A row with no visible key gets a zero output and logsumexp +inf.
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, const AttentionArguments<T>& a, T* out, T* logsumexp) {
  using namespace attention_detail;
  const std::int64_t heads = a.heads, Tq = a.queries, Tk = a.keys, D = a.head_dim, Dv = a.value_dim;
  const std::int64_t query_blocks = (Tq + kAttentionQueryBlock - 1) / kAttentionQueryBlock;
  const std::int64_t tasks = a.batch * heads * query_blocks;
  const std::int64_t task_work = std::min(Tq, kAttentionQueryBlock) * std::max<std::int64_t>(Tk, 1) * (D + Dv);
  const std::int64_t grain = std::max<std::int64_t>(1, kAttentionTaskWork / std::max<std::int64_t>(task_work, 1));
  parallel_for(0, tasks, grain, [&](std::int64_t first_task, std::int64_t last_task) {
    std::vector<T> scores(static_cast<std::size_t>(kAttentionQueryBlock * kAttentionKeyBlock));
    std::vector<T> probabilities(scores.size());
    std::vector<T> accumulator(static_cast<std::size_t>(kAttentionQueryBlock * Dv));
    std::vector<T> row_max(kAttentionQueryBlock), row_sum(kAttentionQueryBlock);
    for (std::int64_t task = first_task; task < last_task; ++task) {
      const std::int64_t bh = task / query_blocks, b = bh / heads, h = bh % heads;
      const std::int64_t i0 = (task % query_blocks) * kAttentionQueryBlock;
      const std::int64_t rows = std::min(kAttentionQueryBlock, Tq - i0);
      const T* q_block = q + (bh * Tq + i0) * D;
      const T* k_head = k + bh * Tk * D;
      const T* v_head = v + bh * Tk * Dv;
      std::fill(accumulator.begin(), accumulator.end(), T(0));
      std::fill(row_max.begin(), row_max.end(), -std::numeric_limits<T>::infinity());
      std::fill(row_sum.begin(), row_sum.end(), T(0));
      const std::int64_t key_end = attention_key_end(a, i0 + rows);
      for (std::int64_t j0 = 0; j0 < key_end; j0 += kAttentionKeyBlock) {
        const std::int64_t columns = std::min(kAttentionKeyBlock, key_end - j0);
        // S = scale Q_block K_block^T
        gemm(false, true, rows, columns, D, a.scale, q_block, D, k_head + j0 * D, D, T(0), scores.data(),
             kAttentionKeyBlock);
        const bool plain = block_is_plain(a, i0, j0, columns);
        const bool causal_only = !plain && !a.mask && !a.mask_out;
        for (std::int64_t r = 0; r < rows; ++r) {
          T* score_row = scores.data() + r * kAttentionKeyBlock;
          T* probability_row = probabilities.data() + r * kAttentionKeyBlock;
          const T block_max = plain         ? ConstArrayMap<T>(score_row, columns).maxCoeff()
                              : causal_only ? mask_row_causal(a, score_row, columns, i0 + r, j0)
                                            : mask_row(a, score_row, columns, b, h, i0 + r, j0);
          // Online softmax: l_new = l_old e^(m_old - m_new) + sum_j e^(s_j - m_new); acc likewise.
          const T new_max = std::max(row_max[static_cast<std::size_t>(r)], block_max);
          const T rescale = attention_rescale(row_max[static_cast<std::size_t>(r)], new_max);
          exp_row(score_row, probability_row, columns, attention_safe_max(new_max));
          row_sum[static_cast<std::size_t>(r)] =
              row_sum[static_cast<std::size_t>(r)] * rescale + ConstArrayMap<T>(probability_row, columns).sum();
          row_max[static_cast<std::size_t>(r)] = new_max;
          if (rescale != T(1)) ArrayMap<T>(accumulator.data() + r * Dv, Dv) *= rescale;
          if (a.dropout > T(0))  // the sum above is of the kept AND dropped probabilities: dropout acts after softmax
            for (std::int64_t c = 0; c < columns; ++c)
              probability_row[c] *= attention_dropout_factor(a, b, h, i0 + r, j0 + c);
        }
        // acc += P V_block
        gemm(false, false, rows, Dv, columns, T(1), probabilities.data(), kAttentionKeyBlock, v_head + j0 * Dv, Dv,
             T(1), accumulator.data(), Dv);
      }
      for (std::int64_t r = 0; r < rows; ++r) {
        const T inverse = attention_inverse_sum(row_sum[static_cast<std::size_t>(r)]);
        ArrayMap<T>(out + (bh * Tq + i0 + r) * Dv, Dv) = ArrayMap<T>(accumulator.data() + r * Dv, Dv) * inverse;
        logsumexp[bh * Tq + i0 + r] =
            attention_logsumexp(row_max[static_cast<std::size_t>(r)], row_sum[static_cast<std::size_t>(r)]);
      }
    }
  });
}

/// grad_q, grad_k, grad_v (written) of the forward above from the gradient of its output, the
/// output itself and its logsumexp; `row_dot` is scratch of B * H * Tq elements (D_i).
template <typename T>
void attention_backward(const T* grad_out, const T* q, const T* k, const T* v, const T* out, const T* logsumexp,
                        const AttentionArguments<T>& a, T* row_dot, T* grad_q, T* grad_k, T* grad_v) {
  using namespace attention_detail;
  const std::int64_t heads = a.heads, Tq = a.queries, Tk = a.keys, D = a.head_dim, Dv = a.value_dim;
  const std::int64_t tasks = a.batch * heads;
  const std::int64_t task_work = std::max<std::int64_t>(Tq * Tk * (D + Dv), 1);
  const std::int64_t grain = std::max<std::int64_t>(1, kAttentionTaskWork / task_work);
  parallel_for(0, tasks, grain, [&](std::int64_t first_task, std::int64_t last_task) {
    std::vector<T> scores(static_cast<std::size_t>(kAttentionQueryBlock * kAttentionKeyBlock));
    std::vector<T> probabilities(scores.size()), grad_scores(scores.size());
    // With dropout: the block's factors z and the dropped probabilities P z.
    std::vector<T> factors(a.dropout > T(0) ? scores.size() : 0), dropped(factors.size());
    for (std::int64_t bh = first_task; bh < last_task; ++bh) {
      const std::int64_t b = bh / heads, h = bh % heads;
      const T* q_head = q + bh * Tq * D;
      const T* k_head = k + bh * Tk * D;
      const T* v_head = v + bh * Tk * Dv;
      const T* grad_out_head = grad_out + bh * Tq * Dv;
      const T* lse = logsumexp + bh * Tq;
      T* dot = row_dot + bh * Tq;
      T* grad_q_head = grad_q + bh * Tq * D;
      T* grad_k_head = grad_k + bh * Tk * D;
      T* grad_v_head = grad_v + bh * Tk * Dv;
      std::fill(grad_q_head, grad_q_head + Tq * D, T(0));
      std::fill(grad_k_head, grad_k_head + Tk * D, T(0));
      std::fill(grad_v_head, grad_v_head + Tk * Dv, T(0));
      // D_i = sum_j P_ij z_ij dP_ij = dO_i . O_i   (the softmax backward's row term)
      for (std::int64_t i = 0; i < Tq; ++i)
        dot[i] = (ConstArrayMap<T>(grad_out_head + i * Dv, Dv) * ConstArrayMap<T>(out + (bh * Tq + i) * Dv, Dv)).sum();
      for (std::int64_t j0 = 0; j0 < Tk; j0 += kAttentionKeyBlock) {
        const std::int64_t columns = std::min(kAttentionKeyBlock, Tk - j0);
        const T* k_block = k_head + j0 * D;
        const T* v_block = v_head + j0 * Dv;
        // Queries before attention_query_begin see none of these keys (causality).
        for (std::int64_t i0 = attention_query_begin(a, j0); i0 < Tq; i0 += kAttentionQueryBlock) {
          const std::int64_t rows = std::min(kAttentionQueryBlock, Tq - i0);
          const T* q_block = q_head + i0 * D;
          const T* grad_out_block = grad_out_head + i0 * Dv;
          // S = scale Q K^T, then P = exp(S - L) (0 for removed keys and rows without keys)
          gemm(false, true, rows, columns, D, a.scale, q_block, D, k_block, D, T(0), scores.data(), kAttentionKeyBlock);
          const bool plain = block_is_plain(a, i0, j0, columns);
          const bool causal_only = !plain && !a.mask && !a.mask_out;
          for (std::int64_t r = 0; r < rows; ++r) {
            T* score_row = scores.data() + r * kAttentionKeyBlock;
            T* probability_row = probabilities.data() + r * kAttentionKeyBlock;
            if (causal_only)
              mask_row_causal(a, score_row, columns, i0 + r, j0);
            else if (!plain)
              mask_row(a, score_row, columns, b, h, i0 + r, j0);
            const T row_lse = lse[i0 + r];
            if (row_lse == std::numeric_limits<T>::infinity())
              std::fill(probability_row, probability_row + columns, T(0));
            else
              exp_row(score_row, probability_row, columns, row_lse);
            if (a.dropout > T(0)) {
              T* dropped_row = dropped.data() + r * kAttentionKeyBlock;
              T* factor_row = factors.data() + r * kAttentionKeyBlock;
              for (std::int64_t c = 0; c < columns; ++c) {
                factor_row[c] = attention_dropout_factor(a, b, h, i0 + r, j0 + c);
                dropped_row[c] = probability_row[c] * factor_row[c];
              }
            }
          }
          // dV += (P z)^T dO
          gemm(true, false, columns, Dv, rows, T(1), a.dropout > T(0) ? dropped.data() : probabilities.data(),
               kAttentionKeyBlock, grad_out_block, Dv, T(1), grad_v_head + j0 * Dv, Dv);
          // dP = (dO V^T) z, then dS = P (dP - D)
          gemm(false, true, rows, columns, Dv, T(1), grad_out_block, Dv, v_block, Dv, T(0), grad_scores.data(),
               kAttentionKeyBlock);
          for (std::int64_t r = 0; r < rows; ++r) {
            T* grad_row = grad_scores.data() + r * kAttentionKeyBlock;
            const T* probability_row = probabilities.data() + r * kAttentionKeyBlock;
            ArrayMap<T> grad_map(grad_row, columns);
            if (a.dropout > T(0)) grad_map *= ConstArrayMap<T>(factors.data() + r * kAttentionKeyBlock, columns);
            grad_map = ConstArrayMap<T>(probability_row, columns) * (grad_map - dot[i0 + r]);
          }
          // dQ += scale dS K,  dK += scale dS^T Q
          gemm(false, false, rows, D, columns, a.scale, grad_scores.data(), kAttentionKeyBlock, k_block, D, T(1),
               grad_q_head + i0 * D, D);
          gemm(true, false, columns, D, rows, a.scale, grad_scores.data(), kAttentionKeyBlock, q_block, D, T(1),
               grad_k_head + j0 * D, D);
        }
      }
    }
  });
}

}  // namespace nabla::backend::cpu
