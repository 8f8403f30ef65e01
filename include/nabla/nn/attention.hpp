// nabla/nn/attention.hpp - multi-head attention, torch.nn.MultiheadAttention's names and
// conventions, so a PyTorch state dict loads 1:1:
//   in_proj_weight [3E, E]  (W_q; W_k; W_v stacked), in_proj_bias [3E],
//   out_proj.weight [E, E], out_proj.bias [E].
//
// forward(query, key, value):
//   q = query W_q^T + b_q, k = key W_k^T + b_k, v = value W_v^T + b_v      (one GEMM with the packed
//                                                                           weight when query, key
//                                                                           and value are one tensor)
//   split E into H heads of E/H, attention per head (nb::scaled_dot_product_attention),
//   concatenate the heads, out = heads W_o^T + b_o.
// Masks follow PyTorch: a "boolean" mask (nonzero = that key is masked out) or an "additive" one
// (added to the scores; -inf removes a key). A 0 / -inf float mask means the same under both.
//
// KVCache + forward_cached(): incremental self-attention for generation (nn/transformer.hpp):
// only the new positions are projected; their keys and values are appended to the cache and the
// new queries attend over every cached key (bottom-right causal alignment), O(T) per new token.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/nn/dense.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/attention.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/reduce.hpp"
#include "nabla/ops/softmax.hpp"
#include "nabla/ops/unary.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

struct MultiheadAttentionOptions {
  double dropout = 0.0;                    // on the attention probabilities, in training mode
  bool bias = true;                        // in_proj_bias and out_proj.bias
  bool batch_first = true;                 // [B, T, E] (true) or [T, B, E] (false), as PyTorch
  std::optional<std::uint64_t> seed = {};  // init and dropout from a generator with this seed; else the default one
};

/// How a mask tensor is read (nabla masks are float tensors, so the kind is said explicitly).
enum class MaskKind {
  boolean,   // PyTorch's bool mask: a nonzero element masks that key out
  additive,  // PyTorch's float mask: added to the scores (-inf removes the key)
};

template <FloatingElement T>
struct MultiheadAttentionForwardOptions {
  /// [B, S]: which keys of each batch entry are padding (read as key_padding_mask_kind).
  std::optional<Tensor<T>> key_padding_mask = {};
  /// [L, S] or [B * num_heads, L, S] (read as attn_mask_kind).
  std::optional<Tensor<T>> attn_mask = {};
  /// Query i sees only keys j <= i (added to any attn_mask).
  bool is_causal = false;
  /// Also return the attention probabilities (PyTorch's default is true).
  bool need_weights = true;
  /// Weights averaged over the heads [B, L, S] (true) or per head [B, H, L, S].
  bool average_attn_weights = true;
  MaskKind key_padding_mask_kind = MaskKind::boolean;
  MaskKind attn_mask_kind = MaskKind::boolean;
};

/// One attention layer's keys and values for incremental decoding: [B, H, capacity, head_dim]
/// buffers, of which the first `length` positions are filled.
template <FloatingElement T>
struct KVCache {
  Tensor<T> keys;
  Tensor<T> values;
  std::int64_t length = 0;
  std::int64_t capacity = 0;  // positions the buffers hold (set before the first use)
  void reset() { length = 0; }
};

namespace detail {

/// The probabilities softmax(scores + masks) that scaled_dot_product_attention weighs v with,
/// [B, H, L, S], with the same masking rules (a row with no key left is all zeros).
template <FloatingElement T>
Tensor<T> attention_probabilities(const Tensor<T>& q, const Tensor<T>& k, const AttentionOptions<T>& options) {
  const std::int64_t tq = q.size(-2), tk = k.size(-2);
  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  const std::int64_t batch = q.size(0) * q.size(1);
  Tensor<T> scores = (matmul(q.reshape({batch, tq, q.size(-1)}), k.reshape({batch, tk, k.size(-1)}).transpose(1, 2)) *
                      static_cast<T>(scale))
                         .reshape({q.size(0), q.size(1), tq, tk});
  Tensor<T> allowed = ones<T>({1}).to(q.device());
  {
    NoGradGuard no_grad;
    if (options.causal) {
      std::vector<T> keep(static_cast<std::size_t>(tq * tk));
      for (std::int64_t i = 0; i < tq; ++i)
        for (std::int64_t j = 0; j < tk; ++j) keep[i * tk + j] = j <= i + (tk - tq) ? T(1) : T(0);
      allowed = allowed * from_vector<T>(keep, {tq, tk}).to(q.device());
    }
    if (options.mask_out) allowed = allowed * eq(options.mask_out->detach(), T(0));
    if (options.mask) allowed = allowed * ne(options.mask->detach(), -std::numeric_limits<T>::infinity());
  }
  if (options.mask) scores = scores + options.mask->detach();
  scores = where(allowed, scores, std::numeric_limits<T>::lowest());
  return where(max(allowed, -1, /*keepdim=*/true), softmax(scores, -1), T(0));
}

}  // namespace detail

/// Multi-head attention with PyTorch's parameters and masks.
template <FloatingElement T>
class MultiheadAttention : public Module<T> {
 public:
  using ForwardOptions = MultiheadAttentionForwardOptions<T>;

  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, MultiheadAttentionOptions options = {})
      : embed_dim_(embed_dim), num_heads_(num_heads), options_(options) {
    if (embed_dim <= 0 || num_heads <= 0)
      throw ValueError("MultiheadAttention: embed_dim and num_heads must be positive, got " +
                       std::to_string(embed_dim) + " and " + std::to_string(num_heads));
    if (embed_dim % num_heads != 0)
      throw ValueError("MultiheadAttention: embed_dim " + std::to_string(embed_dim) +
                       " is not divisible by num_heads " + std::to_string(num_heads));
    if (!(options.dropout >= 0.0 && options.dropout < 1.0))
      throw ValueError("MultiheadAttention: dropout must be in [0, 1), got " + std::to_string(options.dropout));
    if (options.seed) generator_.emplace(*options.seed);
    Generator& generator = generator_ ? *generator_ : default_generator();
    // PyTorch's _reset_parameters: xavier_uniform_ in_proj_weight, zero biases, out_proj Linear's default.
    in_proj_weight_ =
        this->register_parameter("in_proj_weight", init::glorot_uniform<T>({3 * embed_dim, embed_dim}, generator));
    if (options.bias) in_proj_bias_ = this->register_parameter("in_proj_bias", zeros<T>({3 * embed_dim}));
    out_proj_ = this->register_module(
        "out_proj",
        std::make_shared<Dense<T>>(embed_dim, embed_dim, DenseOptions{.bias = options.bias, .seed = out_proj_seed()}));
    if (options.bias) {
      NoGradGuard no_grad;
      Tensor<T> out_bias = out_proj_->bias();
      out_bias.fill_(T(0));
    }
  }

  /// Attention of `query` [B, L, E] over `key` [B, S, E] / `value` [B, S, E] ([L, B, E] etc. when
  /// batch_first is false). Returns the output (shaped like query) and the attention weights
  /// ([B, L, S] averaged over heads, or [B, H, L, S]; undefined unless need_weights).
  std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                          const ForwardOptions& options = {}) {
    const std::string layer = name();
    for (const Tensor<T>* input : {&query, &key, &value}) nabla::detail::check_defined(layer, *input);
    if (query.dim() != 3 || key.dim() != 3 || value.dim() != 3)
      throw ShapeError(layer + ": query, key and value must be 3-D " + layout() + ", got " + to_string(query.shape()) +
                       ", " + to_string(key.shape()) + ", " + to_string(value.shape()));
    const bool self_attention = query.is_same(key) && key.is_same(value);
    const Tensor<T> q_in = options_.batch_first ? query : query.transpose(0, 1);
    const Tensor<T> k_in = options_.batch_first ? key : key.transpose(0, 1);
    const Tensor<T> v_in = options_.batch_first ? value : value.transpose(0, 1);
    const std::int64_t batch = q_in.size(0), target = q_in.size(1), source = k_in.size(1);
    if (q_in.size(2) != embed_dim_ || k_in.size(2) != embed_dim_ || v_in.size(2) != embed_dim_)
      throw ShapeError(layer + ": query, key and value must have embed_dim " + std::to_string(embed_dim_) +
                       " last, got " + to_string(query.shape()) + ", " + to_string(key.shape()) + ", " +
                       to_string(value.shape()));
    if (k_in.size(0) != batch || v_in.size(0) != batch || v_in.size(1) != source)
      throw ShapeError(layer + ": key and value must match query's batch and each other's length " + layout() +
                       ", got " + to_string(query.shape()) + ", " + to_string(key.shape()) + ", " +
                       to_string(value.shape()));

    Tensor<T> q, k, v;
    if (self_attention) {  // one GEMM with the packed [3E, E] weight
      const Tensor<T> qkv = functional::linear(q_in, in_proj_weight_, in_proj_bias_, layer);
      q = qkv.narrow(2, 0, embed_dim_);
      k = qkv.narrow(2, embed_dim_, embed_dim_);
      v = qkv.narrow(2, 2 * embed_dim_, embed_dim_);
    } else {
      q = project(q_in, 0);
      k = project(k_in, 1);
      v = project(v_in, 2);
    }
    AttentionOptions<T> attention = attention_options(options, batch, target, source);
    const Tensor<T> heads = scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v), attention);
    Tensor<T> output = out_proj_->forward(merge_heads(heads));
    if (!options_.batch_first) output = output.transpose(0, 1);

    Tensor<T> weights;
    if (options.need_weights) {
      attention.dropout = 0.0;
      weights = detail::attention_probabilities(split_heads(q), split_heads(k), attention);
      if (options.average_attn_weights) weights = mean(weights, {1});
    }
    return {output, weights};
  }

  std::pair<Tensor<T>, Tensor<T>> operator()(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                             const ForwardOptions& options = {}) {
    return forward(query, key, value, options);
  }

  /// Self-attention without masks, output only (for Sequential and plain calls).
  Tensor<T> forward(const Tensor<T>& input) override {
    return forward(input, input, input, ForwardOptions{.need_weights = false}).first;
  }
  using Module<T>::operator();

  /// Causal self-attention of the new positions x [B, Tn, E] (batch_first) after the cache's
  /// `length` earlier ones: projects only x, appends its keys and values to `cache` and lets each
  /// new query see every cached key and the new ones up to itself. Meant for inference (no
  /// dropout); the cache's buffers are made on first use with `cache.capacity` positions.
  Tensor<T> forward_cached(const Tensor<T>& x, KVCache<T>& cache) {
    const std::string layer = name() + ".forward_cached";
    if (!options_.batch_first) throw ValueError(layer + ": needs batch_first = true");
    if (x.dim() != 3 || x.size(2) != embed_dim_)
      throw ShapeError(layer + ": expected x [B, T, " + std::to_string(embed_dim_) + "], got " + to_string(x.shape()));
    const std::int64_t batch = x.size(0), steps = x.size(1), head_dim = embed_dim_ / num_heads_;
    if (!cache.keys.defined() || cache.keys.size(0) != batch || cache.keys.size(2) != cache.capacity) {
      if (cache.capacity <= 0) throw ValueError(layer + ": the KVCache has no capacity set");
      cache.keys = zeros<T>({batch, num_heads_, cache.capacity, head_dim}).to(x.device());
      cache.values = zeros<T>({batch, num_heads_, cache.capacity, head_dim}).to(x.device());
      cache.length = 0;
    }
    if (cache.length + steps > cache.capacity)
      throw ValueError(layer + ": " + std::to_string(cache.length) + " cached + " + std::to_string(steps) +
                       " new positions exceed the cache's capacity " + std::to_string(cache.capacity));
    const Tensor<T> qkv = functional::linear(x, in_proj_weight_, in_proj_bias_, layer);
    const Tensor<T> q = split_heads(qkv.narrow(2, 0, embed_dim_));
    {
      NoGradGuard no_grad;
      Tensor<T> key_slot = cache.keys.narrow(2, cache.length, steps);
      Tensor<T> value_slot = cache.values.narrow(2, cache.length, steps);
      key_slot.copy_(split_heads(qkv.narrow(2, embed_dim_, embed_dim_)));
      value_slot.copy_(split_heads(qkv.narrow(2, 2 * embed_dim_, embed_dim_)));
    }
    cache.length += steps;
    const Tensor<T> keys = cache.keys.narrow(2, 0, cache.length), values = cache.values.narrow(2, 0, cache.length);
    // Bottom-right causal alignment: new query i (of Tn) sees keys j <= i + (length - Tn).
    const Tensor<T> heads = scaled_dot_product_attention(q, keys, values, AttentionOptions<T>{.causal = true});
    return out_proj_->forward(merge_heads(heads));
  }

  std::string type_name() const override { return "MultiheadAttention"; }
  std::string describe() const override {
    return std::to_string(embed_dim_) + ", heads " + std::to_string(num_heads_) + (options_.bias ? "" : ", no bias") +
           (options_.batch_first ? "" : ", batch_first=false");
  }

  std::int64_t embed_dim() const { return embed_dim_; }
  std::int64_t num_heads() const { return num_heads_; }
  std::int64_t head_dim() const { return embed_dim_ / num_heads_; }
  const MultiheadAttentionOptions& options() const { return options_; }
  /// [3E, E]: W_q, W_k, W_v stacked (a handle).
  const Tensor<T>& in_proj_weight() const { return in_proj_weight_; }
  /// [3E]; undefined without bias.
  const Tensor<T>& in_proj_bias() const { return in_proj_bias_; }
  Dense<T>& out_proj() { return *out_proj_; }

 private:
  std::string name() const { return "MultiheadAttention(" + describe() + ")"; }
  // A seeded layer seeds its out_proj from its own generator; an unseeded one leaves it on the default one.
  std::optional<std::uint64_t> out_proj_seed() {
    if (!generator_) return std::nullopt;
    return generator_->seed() * 0x9E3779B97F4A7C15ull + generator_->advance(1) + 1;
  }
  std::string layout() const { return options_.batch_first ? "[B, T, E]" : "[T, B, E]"; }

  /// input W_part^T + b_part with rows [part E, (part + 1) E) of the packed weight (a view: the
  /// gradient lands in in_proj_weight).
  Tensor<T> project(const Tensor<T>& input, std::int64_t part) const {
    const Tensor<T> weight = in_proj_weight_.narrow(0, part * embed_dim_, embed_dim_);
    const Tensor<T> bias =
        in_proj_bias_.defined() ? in_proj_bias_.narrow(0, part * embed_dim_, embed_dim_) : Tensor<T>();
    return functional::linear(input, weight, bias, name());
  }

  /// [B, T, E] -> [B, H, T, E / H] (a view).
  Tensor<T> split_heads(const Tensor<T>& x) const {
    return x.reshape({x.size(0), x.size(1), num_heads_, embed_dim_ / num_heads_}).permute({0, 2, 1, 3});
  }
  /// [B, H, T, D] -> [B, T, H * D].
  Tensor<T> merge_heads(const Tensor<T>& x) const {
    return x.permute({0, 2, 1, 3}).reshape({x.size(0), x.size(2), embed_dim_});
  }

  /// PyTorch's masks as AttentionOptions: boolean ones combine into mask_out, additive ones into mask.
  AttentionOptions<T> attention_options(const ForwardOptions& options, std::int64_t batch, std::int64_t target,
                                        std::int64_t source) {
    const std::string layer = name();
    AttentionOptions<T> attention;
    attention.causal = options.is_causal;
    if (this->is_training() && options_.dropout > 0.0) {
      attention.dropout = options_.dropout;
      attention.generator = generator_ ? &*generator_ : &default_generator();
    }
    auto add_mask = [&](const Tensor<T>& mask, MaskKind kind) {
      if (kind == MaskKind::additive) {
        attention.mask = attention.mask ? *attention.mask + mask : mask;
      } else {
        const Tensor<T> removed = ne(mask, T(0));
        attention.mask_out = attention.mask_out ? *attention.mask_out + removed : removed;
      }
    };
    NoGradGuard no_grad;
    if (options.key_padding_mask) {
      const Tensor<T>& mask = *options.key_padding_mask;
      if (mask.shape() != Shape{batch, source})
        throw ShapeError(layer + ": key_padding_mask must be [B, S] = " + to_string(Shape{batch, source}) + ", got " +
                         to_string(mask.shape()));
      add_mask(mask.detach().reshape({batch, 1, 1, source}), options.key_padding_mask_kind);
    }
    if (options.attn_mask) {
      const Tensor<T>& mask = *options.attn_mask;
      if (mask.shape() == Shape{target, source})
        add_mask(mask.detach(), options.attn_mask_kind);
      else if (mask.shape() == Shape{batch * num_heads_, target, source})
        add_mask(mask.detach().reshape({batch, num_heads_, target, source}), options.attn_mask_kind);
      else
        throw ShapeError(layer + ": attn_mask must be [L, S] = " + to_string(Shape{target, source}) +
                         " or [B * num_heads, L, S] = " + to_string(Shape{batch * num_heads_, target, source}) +
                         ", got " + to_string(mask.shape()));
    }
    return attention;
  }

  std::int64_t embed_dim_;
  std::int64_t num_heads_;
  MultiheadAttentionOptions options_;
  std::optional<Generator> generator_;
  Tensor<T> in_proj_weight_;
  Tensor<T> in_proj_bias_;
  std::shared_ptr<Dense<T>> out_proj_;
};

}  // namespace nabla::nn
