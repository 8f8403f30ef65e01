// nabla/ops/attention.hpp - scaled dot-product attention (Vaswani et al. 2017), fused:
//
//   S = scale q k^T + mask,   P = softmax(S) along the keys (removed keys get P = 0),
//   out = dropout(P) v,       scale = 1/sqrt(D) unless given
//
// One graph node. The forward (backend::attention_forward) runs in the FlashAttention manner:
// blocks of keys with an online softmax, never holding the [Tq, Tk] matrix P; it keeps only the
// output O and the row logsumexp L_i = log sum_j e^(S_ij). The hand-written backward recomputes
// each block of P = exp(S - L) and applies
//   dV = P~^T dO             (P~ = P z: the dropped-out probabilities, z = 0 or 1/(1 - p))
//   dP = (dO V^T) z
//   dS = P (dP - D),  D_i = sum_j P_ij dP_ij = dO_i . O_i         (the softmax backward)
//   dQ = scale dS K,  dK = scale dS^T Q
// docs/transformer.md derives these; detail::scaled_dot_product_attention_composed below is
// the same function composed of matmul, softmax and where (the tests check one against the other).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/attention.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/dropout.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
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
  std::optional<Tensor<T>> mask = std::nullopt;
  /// Exclusion mask: a nonzero element REMOVES that key for that query (the convention of
  /// nn.MultiheadAttention's bool attn_mask and key_padding_mask; the OPPOSITE of
  /// F.scaled_dot_product_attention's bool mask, where true means "take part"). Broadcastable like `mask`.
  std::optional<Tensor<T>> mask_out = std::nullopt;
  /// Dropout on the attention probabilities (applied only when > 0; callers pass 0 in eval mode).
  double dropout = 0.0;
  /// Generator for the dropout mask (nullptr = default_generator()).
  Generator* generator = nullptr;
  /// Scale of q k^T; default 1/sqrt(D).
  std::optional<double> scale = std::nullopt;
};

namespace detail {

/// The sizes of one attention call, checked: q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv],
/// or the 3-D [N, T, D] forms (H = 1).
struct AttentionGeometry {
  bool three_d = false;
  std::int64_t batch = 0, heads = 1, queries = 0, keys = 0, head_dim = 0, value_dim = 0;
  /// The shape every mask broadcasts to: [B, H, Tq, Tk], or [N, Tq, Tk] for 3-D inputs.
  Shape mask_shape() const { return three_d ? Shape{batch, queries, keys} : Shape{batch, heads, queries, keys}; }
  Shape output_shape() const {
    return three_d ? Shape{batch, queries, value_dim} : Shape{batch, heads, queries, value_dim};
  }
};

template <typename T>
AttentionGeometry attention_geometry(const std::string& op, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                     const AttentionOptions<T>& options) {
  check_same_device(op, q, k);
  check_same_device(op, q, v);
  const auto shapes = [&] {
    return "q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " + to_string(v.shape());
  };
  const std::int64_t rank = q.dim();
  if ((rank != 3 && rank != 4) || k.dim() != rank || v.dim() != rank)
    throw ShapeError(op + ": expected q, k, v all [B, H, T, D] (4-D) or all [N, T, D] (3-D), got " + shapes());
  AttentionGeometry g;
  g.three_d = rank == 3;
  const std::int64_t t = rank - 2;  // the sequence dim
  g.batch = q.size(0);
  g.heads = g.three_d ? 1 : q.size(1);
  g.queries = q.size(t);
  g.keys = k.size(t);
  g.head_dim = q.size(t + 1);
  g.value_dim = v.size(t + 1);
  for (std::int64_t d = 0; d < t; ++d)
    if (k.size(d) != q.size(d) || v.size(d) != q.size(d))
      throw ShapeError(op + ": q, k and v must agree in their batch" + std::string(g.three_d ? "" : " and head") +
                       " dims, got " + shapes());
  if (k.size(t + 1) != g.head_dim)
    throw ShapeError(op + ": q and k must have the same last dim D (q k^T), got " + shapes());
  if (v.size(t) != g.keys)
    throw ShapeError(op + ": k and v must have the same number of keys (dim " + std::to_string(t) + "), got " +
                     shapes());
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    throw ValueError(op + ": dropout must be in [0, 1), got " + std::to_string(options.dropout));
  if (options.scale && !std::isfinite(*options.scale))
    throw ValueError(op + ": scale must be finite, got " + std::to_string(*options.scale));
  for (const auto* mask : {&options.mask, &options.mask_out})
    if (mask->has_value()) check_same_device(op, q, **mask);
  return g;
}

/// The four strides through which the kernels read a mask broadcast to [B, H, Tq, Tk]: the mask's
/// own stride along a matching dim, 0 along a broadcast one (size 1 or missing on the left).
template <typename T>
void attention_mask_strides(const std::string& op, const std::string& name, const Tensor<T>& mask,
                            const AttentionGeometry& g, std::int64_t* strides) {
  const Shape target = g.mask_shape();
  const auto not_broadcastable = [&] {
    return ShapeError(op + ": " + name + " of shape " + to_string(mask.shape()) + " is not broadcastable to " +
                      (g.three_d ? "[N, Tq, Tk] = " : "[B, H, Tq, Tk] = ") + to_string(target));
  };
  if (mask.dim() > static_cast<std::int64_t>(target.size())) throw not_broadcastable();
  std::int64_t aligned[4] = {0, 0, 0, 0};  // strides along target's dims
  const std::size_t lead = target.size() - static_cast<std::size_t>(mask.dim());
  for (std::size_t d = 0; d < target.size(); ++d) {
    if (d < lead) continue;
    const std::int64_t size = mask.size(static_cast<std::int64_t>(d - lead));
    if (size == target[d])
      aligned[d] = size == 1 ? 0 : mask.strides()[d - lead];
    else if (size != 1)
      throw not_broadcastable();
  }
  if (g.three_d) {  // [N, Tq, Tk] -> [B = N, H = 1, Tq, Tk]
    strides[0] = aligned[0], strides[1] = 0, strides[2] = aligned[1], strides[3] = aligned[2];
  } else {
    for (int d = 0; d < 4; ++d) strides[d] = aligned[d];
  }
}

/// The tensor itself when it is densely packed, else a dense copy (no autograd).
template <typename T>
Tensor<T> attention_dense(const Tensor<T>& tensor) {
  return tensor.is_contiguous() ? tensor : copy_values(tensor);
}

template <typename T>
T attention_scale(const AttentionOptions<T>& options, const AttentionGeometry& g) {
  return static_cast<T>(options.scale ? *options.scale
                                      : 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(g.head_dim, 1))));
}

/// The kernels' arguments for one call: sizes, scale, masks and the dropout stream. Draws the
/// dropout positions from the generator (B H Tq Tk of them) when dropout > 0.
template <typename T>
backend::AttentionArguments<T> attention_arguments(const std::string& op, const AttentionGeometry& g,
                                                   const AttentionOptions<T>& options) {
  backend::AttentionArguments<T> a;
  a.batch = g.batch, a.heads = g.heads, a.queries = g.queries, a.keys = g.keys;
  a.head_dim = g.head_dim, a.value_dim = g.value_dim;
  a.scale = attention_scale(options, g);
  a.causal = options.causal;
  if (options.mask) {
    attention_mask_strides(op, "mask", *options.mask, g, a.mask_strides);
    a.mask = backend::device_data(*options.mask);
  }
  if (options.mask_out) {
    attention_mask_strides(op, "mask_out", *options.mask_out, g, a.mask_out_strides);
    a.mask_out = backend::device_data(*options.mask_out);
  }
  if (options.dropout > 0.0) {
    Generator& generator = options.generator ? *options.generator : default_generator();
    a.dropout = static_cast<T>(options.dropout);
    a.seed = generator.seed();
    a.offset = generator.advance(static_cast<std::uint64_t>(g.batch * g.heads * g.queries * g.keys));
  }
  return a;
}

}  // namespace detail

/// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] -> [B, H, Tq, Dv]; also 3-D [N, T, D] inputs.
/// A query row whose keys are all removed gives a zero output row (and zero gradient), not NaN.
template <FloatingElement T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                       const AttentionOptions<T>& options = {}) {
  const std::string op = "scaled_dot_product_attention";
  const detail::AttentionGeometry g = detail::attention_geometry(op, q, k, v, options);
  const backend::AttentionArguments<T> arguments = detail::attention_arguments(op, g, options);
  const Tensor<T> q_dense = detail::attention_dense(q), k_dense = detail::attention_dense(k),
                  v_dense = detail::attention_dense(v);
  Tensor<T> out = backend::empty<T>(g.output_shape(), q.device());
  Tensor<T> logsumexp = backend::empty<T>({g.batch, g.heads, g.queries}, q.device());
  backend::attention_forward(q_dense, k_dense, v_dense, arguments, out, logsumexp);

  // dV = (P z)^T dO, dP = (dO V^T) z, dS = P (dP - rowsum(dO O)), dQ = scale dS K, dK = scale dS^T Q
  // with P = exp(S - L) recomputed block by block (backend/cpu/attention.hpp).
  // The masks are captured so the pointers in `arguments` stay valid until the backward; they and
  // the output are saved tensors, so changing one in place before backward() is reported.
  std::vector<Tensor<T>> saved{q, k, v, out};
  for (const auto* mask : {&options.mask, &options.mask_out})
    if (mask->has_value()) saved.push_back(**mask);
  record_op<T>(
      out, op, {q, k, v},
      [q_saved = q_dense.detach(), k_saved = k_dense.detach(), v_saved = v_dense.detach(), out_saved = out.detach(),
       logsumexp, arguments, mask = options.mask,
       mask_out = options.mask_out](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
        const Tensor<T> g_dense = detail::attention_dense(grad);
        const Device device = q_saved.device();
        Tensor<T> grad_q = backend::empty<T>(q_saved.shape(), device);
        Tensor<T> grad_k = backend::empty<T>(k_saved.shape(), device);
        Tensor<T> grad_v = backend::empty<T>(v_saved.shape(), device);
        backend::attention_backward(g_dense, q_saved, k_saved, v_saved, out_saved, logsumexp, arguments, grad_q, grad_k,
                                    grad_v);
        return std::vector<Tensor<T>>{grad_q, grad_k, grad_v};
      },
      saved);
  return out;
}

namespace detail {

/// The same function composed of differentiable primitives (matmul, softmax, where), for the
/// tests and as the plain statement of the math; it materializes the [Tq, Tk] scores. Removed keys
/// (causal, mask_out, -inf in mask) get a large negative score before the softmax and a factor 0
/// after it, so a row with no key left is 0 with a 0 gradient, as in the fused op. With dropout
/// it draws the same generator positions and regenerates the same mask as the fused op.
template <FloatingElement T>
Tensor<T> scaled_dot_product_attention_composed(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                                const AttentionOptions<T>& options = {}) {
  const std::string op = "scaled_dot_product_attention_composed";
  const AttentionGeometry g = attention_geometry(op, q, k, v, options);
  const std::int64_t bh = g.batch * g.heads;
  const Shape full{g.batch, g.heads, g.queries, g.keys};
  // Any mask as a [B*H, Tq, Tk] tensor (no gradient).
  const auto broadcast = [&](const Tensor<T>& mask) {
    const Tensor<T> aligned =
        g.three_d
            ? mask.detach().reshape(mask.dim() == 3 ? Shape{mask.size(0), 1, mask.size(1), mask.size(2)} : mask.shape())
            : mask.detach();
    return expand(aligned, full).contiguous().reshape({bh, g.queries, g.keys});
  };
  const Tensor<T> q3 = q.reshape({bh, g.queries, g.head_dim}), k3 = k.reshape({bh, g.keys, g.head_dim}),
                  v3 = v.reshape({bh, g.keys, g.value_dim});
  Tensor<T> scores = matmul(q3, transpose(k3, 1, 2)) * attention_scale(options, g);
  Tensor<T> removed = zeros<T>({bh, g.queries, g.keys}, q.device());
  const T infinity = std::numeric_limits<T>::infinity();
  if (options.mask) {
    const Tensor<T> additive = broadcast(*options.mask);
    scores = scores + additive;
    removed = where(eq(additive, -infinity), T(1), removed);
  }
  if (options.mask_out) removed = where(ne(broadcast(*options.mask_out), T(0)), T(1), removed);
  if (options.causal) {
    std::vector<T> hidden(static_cast<std::size_t>(g.queries * g.keys));
    for (std::int64_t i = 0; i < g.queries; ++i)
      for (std::int64_t j = 0; j < g.keys; ++j)
        hidden[static_cast<std::size_t>(i * g.keys + j)] = j > i + (g.keys - g.queries) ? T(1) : T(0);
    removed = where(from_vector<T>(hidden, {g.queries, g.keys}).to(q.device()), T(1), removed);
  }
  const T lowest = std::numeric_limits<T>::lowest() / T(4);  // finite: e^(lowest - max) = 0, no inf - inf
  Tensor<T> probabilities = softmax(where(removed, lowest, scores), -1) * (T(1) - removed);
  if (options.dropout > 0.0) {
    const backend::AttentionArguments<T> drawn = attention_arguments(op, g, options);
    Tensor<T> factors = backend::empty<T>({bh, g.queries, g.keys}, q.device());
    backend::dropout_mask(factors, drawn.seed, drawn.offset, drawn.dropout, T(1) / (T(1) - drawn.dropout));
    probabilities = probabilities * factors;
  }
  return matmul(probabilities, v3).reshape(g.output_shape());
}

}  // namespace detail

}  // namespace nabla
