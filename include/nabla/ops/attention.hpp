// nabla/ops/attention.hpp - scaled dot-product attention, softmax(q k^T * scale + mask) v.
//
// PLACEHOLDER of the gpt branch: the API agreed in /work/prompts/attention_api.md, composed of
// existing differentiable ops (batched matmul, softmax, where, mul), so autograd derives the
// backward. The attn branch replaces this file by the fused kernel with the same signature.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/dropout.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/reduce.hpp"
#include "nabla/ops/softmax.hpp"
#include "nabla/ops/unary.hpp"
#include "nabla/ops/views.hpp"

namespace nabla {

template <FloatingElement T>
struct AttentionOptions {
  /// Query i (of Tq) sees key j (of Tk) only if j <= i + (Tk - Tq): causal, aligned at the bottom right.
  /// For Tq == Tk this is PyTorch's is_causal (tril); for Tq < Tk (KV-cache decoding) the new queries
  /// see every cached key, which is what incremental decoding needs.
  bool causal = false;
  /// Additive mask (PyTorch's float attn_mask): added to the scaled scores; -inf removes a key.
  /// Broadcastable to [B, H, Tq, Tk] (e.g. [Tq, Tk], [B, 1, Tq, Tk], [B, 1, 1, Tk]). No gradient flows to it.
  std::optional<Tensor<T>> mask = {};
  /// Exclusion mask: a nonzero element REMOVES that key for that query (the convention of
  /// nn.MultiheadAttention's bool attn_mask and key_padding_mask; the OPPOSITE of
  /// F.scaled_dot_product_attention's bool mask, where true means "take part"). Broadcastable like `mask`.
  std::optional<Tensor<T>> mask_out = {};
  /// Dropout on the attention probabilities (applied only when > 0; callers pass 0 in eval mode).
  double dropout = 0.0;
  /// Generator for the dropout mask (nullptr = default_generator()).
  Generator* generator = nullptr;
  /// Scale of q k^T; default 1/sqrt(D).
  std::optional<double> scale = {};
};

/// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] -> [B, H, Tq, Dv]; also 3-D [N, T, D] inputs.
/// A query row whose keys are all removed gives a zero output row (and zero gradient), not NaN.
template <FloatingElement T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                       const AttentionOptions<T>& options = {}) {
  const std::string op = "scaled_dot_product_attention";
  detail::check_defined(op, q);
  detail::check_defined(op, k);
  detail::check_defined(op, v);
  detail::check_same_device(op, q, k);
  detail::check_same_device(op, q, v);
  const std::string shapes = to_string(q.shape()) + ", " + to_string(k.shape()) + ", " + to_string(v.shape());
  const auto rank = q.dim();
  if ((rank != 3 && rank != 4) || k.dim() != rank || v.dim() != rank)
    throw ShapeError(op + ": q, k, v must all be [B, H, T, D] or all [N, T, D], got " + shapes);
  for (std::int64_t d = 0; d < rank - 2; ++d)
    if (q.size(d) != k.size(d) || q.size(d) != v.size(d))
      throw ShapeError(op + ": q, k, v must agree in their leading (batch, head) dims, got " + shapes);
  if (q.size(-1) != k.size(-1)) throw ShapeError(op + ": q and k must have the same last dim D, got " + shapes);
  if (k.size(-2) != v.size(-2)) throw ShapeError(op + ": k and v must have the same length Tk, got " + shapes);
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    throw ValueError(op + ": dropout must be in [0, 1), got " + std::to_string(options.dropout));

  const std::int64_t tq = q.size(-2), tk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const std::int64_t batch = numel_of(Shape(q.shape().begin(), q.shape().end() - 2));
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(d)));
  Shape score_shape(q.shape().begin(), q.shape().end() - 2);
  score_shape.push_back(tq);
  score_shape.push_back(tk);

  // scores = q k^T * scale, as one batched GEMM over the flattened [B*H] batch.
  const Tensor<T> q3 = q.reshape({batch, tq, d}), k3 = k.reshape({batch, tk, d}), v3 = v.reshape({batch, tk, dv});
  Tensor<T> scores = (matmul(q3, k3.transpose(1, 2)) * static_cast<T>(scale)).reshape(score_shape);

  // Which (query, key) pairs take part: 1 or 0, broadcastable to the scores; no gradient.
  const bool masked = options.causal || options.mask || options.mask_out;
  Tensor<T> allowed, row_has_key;
  if (masked) {
    NoGradGuard no_grad;
    allowed = ones<T>({1}).to(q.device());
    if (options.causal) {
      std::vector<T> keep(static_cast<std::size_t>(tq * tk));
      for (std::int64_t i = 0; i < tq; ++i)
        for (std::int64_t j = 0; j < tk; ++j) keep[i * tk + j] = j <= i + (tk - tq) ? T(1) : T(0);
      allowed = allowed * from_vector<T>(keep, {tq, tk}).to(q.device());
    }
    if (options.mask_out) allowed = allowed * eq(options.mask_out->detach(), T(0));
    if (options.mask) allowed = allowed * ne(options.mask->detach(), -std::numeric_limits<T>::infinity());
    row_has_key = max(allowed, -1, /*keepdim=*/true);
  }
  if (options.mask) scores = scores + options.mask->detach();
  // A removed key gets the lowest finite score (exp underflows to exactly 0 next to any allowed
  // key), not -inf, so a row with no key left stays finite and is zeroed below instead of NaN.
  if (masked) scores = where(allowed, scores, std::numeric_limits<T>::lowest());
  Tensor<T> probabilities = softmax(scores, -1);
  if (masked) probabilities = where(row_has_key, probabilities, T(0));
  if (options.dropout > 0.0) {
    Generator& generator = options.generator ? *options.generator : default_generator();
    Tensor<T> keep = backend::empty<T>(probabilities.shape(), probabilities.device());
    const std::uint64_t seed = generator.seed();
    const std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(keep.numel()));
    backend::dropout_mask(keep, seed, offset, static_cast<T>(options.dropout),
                          static_cast<T>(1.0 / (1.0 - options.dropout)));
    probabilities = probabilities * keep;
  }
  Shape out_shape(q.shape().begin(), q.shape().end() - 1);
  out_shape.push_back(dv);
  return matmul(probabilities.reshape({batch, tq, tk}), v3).reshape(out_shape);
}

}  // namespace nabla
