// nabla/nn/transformer.hpp - the pre-LayerNorm Transformer block and a GPT (decoder-only
// language model) with KV-cache generation.
//
//   TransformerBlock:  x = x + dropout(attn(ln_1(x)))         causal multi-head self-attention
//                      x = x + dropout(mlp(ln_2(x)))          mlp = c_proj(gelu(c_fc(x))), E -> 4E -> E
//   GPT:               x = dropout(wte[ids] + wpe[positions]) token + learned (or sinusoidal) position
//                      x = h.0(x), ..., h.{L-1}(x), x = ln_f(x)
//                      logits = x wte^T                       LM head TIED to the token embedding
//
// Parameter names follow GPT-2's where the layout is PyTorch's own (wte, wpe, h.{i}.ln_1,
// h.{i}.attn as torch.nn.MultiheadAttention: in_proj_weight / in_proj_bias / out_proj,
// h.{i}.ln_2, h.{i}.mlp.c_fc, h.{i}.mlp.c_proj as torch.nn.Linear [out, in], ln_f), so a PyTorch
// model with these names loads 1:1 with load_state_dict; load_gpt2_safetensors (nn/gpt2.hpp)
// maps Hugging Face's GPT-2 files, whose Conv1D weights are transposed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/nn/attention.hpp"
#include "nabla/nn/dense.hpp"
#include "nabla/nn/dropout.hpp"
#include "nabla/nn/embedding.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/layer_norm.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/unary.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

namespace functional {

/// GELU with the tanh approximation (GPT-2's activation, torch's gelu(approximate='tanh')):
///   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
/// The block's MLP activation: GELU's tanh form, as GPT-2 uses it (the listed unary op
/// nb::gelu_tanh, one fused pass forward and backward).
template <FloatingElement T>
Tensor<T> transformer_gelu(const Tensor<T>& x) {
  return nabla::gelu_tanh(x);
}

/// The sinusoidal position table of "Attention is all you need", [positions, width]:
///   pe[p, 2i] = sin(p / 10000^(2i / width)),  pe[p, 2i + 1] = cos(p / 10000^(2i / width)).
template <FloatingElement T>
Tensor<T> sinusoidal_positions(std::int64_t positions, std::int64_t width) {
  std::vector<T> table(static_cast<std::size_t>(positions * width));
  for (std::int64_t p = 0; p < positions; ++p)
    for (std::int64_t i = 0; i < width; ++i) {
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, static_cast<double>(i - i % 2) / static_cast<double>(width));
      table[static_cast<std::size_t>(p * width + i)] = static_cast<T>(i % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return from_vector<T>(table, {positions, width});
}

}  // namespace functional

struct TransformerBlockOptions {
  double dropout = 0.0;                    // on the attention probabilities and on both residual branches
  bool bias = true;                        // biases of the projections and of the LayerNorms
  std::int64_t mlp_ratio = 4;              // hidden width of the MLP = mlp_ratio * width
  double layer_norm_eps = 1e-5;            // GPT-2's
  bool causal = true;                      // each position attends only to itself and earlier ones
  std::optional<std::uint64_t> seed = {};  // init and dropout from generators with this seed; else the default one
};

/// The MLP of a block: c_proj(gelu_tanh(c_fc(x))), width -> hidden -> width.
template <FloatingElement T>
class TransformerMLP : public Module<T> {
 public:
  TransformerMLP(std::int64_t width, std::int64_t hidden, bool bias, std::optional<std::uint64_t> seed)
      : c_fc_(this->register_module(
            "c_fc", std::make_shared<Dense<T>>(width, hidden, DenseOptions{.bias = bias, .seed = seed}))),
        c_proj_(this->register_module(
            "c_proj",
            std::make_shared<Dense<T>>(hidden, width, DenseOptions{.bias = bias, .seed = seed ? *seed + 1 : seed}))) {}

  Tensor<T> forward(const Tensor<T>& x) override {
    return c_proj_->forward(functional::transformer_gelu(c_fc_->forward(x)));
  }

  std::string type_name() const override { return "TransformerMLP"; }
  std::string describe() const override {
    return std::to_string(c_fc_->in_features()) + " -> " + std::to_string(c_fc_->out_features()) + " -> " +
           std::to_string(c_proj_->out_features());
  }
  Dense<T>& c_fc() { return *c_fc_; }
  Dense<T>& c_proj() { return *c_proj_; }

 private:
  std::shared_ptr<Dense<T>> c_fc_;
  std::shared_ptr<Dense<T>> c_proj_;
};

/// A pre-LayerNorm Transformer block (GPT-2's): x + attn(ln_1(x)), then x + mlp(ln_2(x)).
template <FloatingElement T>
class TransformerBlock : public Module<T> {
 public:
  TransformerBlock(std::int64_t width, std::int64_t heads, TransformerBlockOptions options = {})
      : width_(width), options_(options) {
    if (width <= 0 || heads <= 0)
      throw ValueError("TransformerBlock: width and heads must be positive, got " + std::to_string(width) + " and " +
                       std::to_string(heads));
    if (width % heads != 0)
      throw ValueError("TransformerBlock: width " + std::to_string(width) + " is not divisible by heads " +
                       std::to_string(heads));
    if (options.mlp_ratio <= 0)
      throw ValueError("TransformerBlock: mlp_ratio must be positive, got " + std::to_string(options.mlp_ratio));
    detail::check_dropout_probability("TransformerBlock", options.dropout);
    if (options.seed) generator_.emplace(*options.seed);
    const LayerNormOptions norm{.eps = options.layer_norm_eps, .bias = options.bias};
    const auto seed_of = [&](std::uint64_t part) -> std::optional<std::uint64_t> {
      if (!options.seed) return std::nullopt;
      return *options.seed * 0x9E3779B97F4A7C15ull + 7919 * part;
    };
    ln_1_ = this->register_module("ln_1", std::make_shared<LayerNorm<T>>(width, norm));
    attn_ = this->register_module(
        "attn", std::make_shared<MultiheadAttention<T>>(
                    width, heads,
                    MultiheadAttentionOptions{.dropout = options.dropout, .bias = options.bias, .seed = seed_of(1)}));
    ln_2_ = this->register_module("ln_2", std::make_shared<LayerNorm<T>>(width, norm));
    mlp_ = this->register_module(
        "mlp", std::make_shared<TransformerMLP<T>>(width, options.mlp_ratio * width, options.bias, seed_of(2)));
  }

  /// x [B, T, width] -> [B, T, width].
  Tensor<T> forward(const Tensor<T>& x) override {
    const Tensor<T> normed = ln_1_->forward(x);
    const auto [attended, unused] =
        attn_->forward(normed, normed, normed,
                       MultiheadAttentionForwardOptions<T>{.is_causal = options_.causal, .need_weights = false});
    const Tensor<T> after_attention = x + residual_dropout(attended);
    return after_attention + residual_dropout(mlp_->forward(ln_2_->forward(after_attention)));
  }

  /// The same for the new positions x [B, Tn, width] after those held in `cache` (inference: no
  /// dropout); appends their keys and values to the cache.
  Tensor<T> forward_cached(const Tensor<T>& x, KVCache<T>& cache) {
    const Tensor<T> after_attention = x + attn_->forward_cached(ln_1_->forward(x), cache);
    return after_attention + mlp_->forward(ln_2_->forward(after_attention));
  }

  std::string type_name() const override { return "TransformerBlock"; }
  std::string describe() const override {
    return std::to_string(width_) + ", heads " + std::to_string(attn_->num_heads()) +
           (options_.causal ? ", causal" : "") + (options_.bias ? "" : ", no bias");
  }

  LayerNorm<T>& ln_1() { return *ln_1_; }
  MultiheadAttention<T>& attn() { return *attn_; }
  LayerNorm<T>& ln_2() { return *ln_2_; }
  TransformerMLP<T>& mlp() { return *mlp_; }

 private:
  Tensor<T> residual_dropout(const Tensor<T>& x) {
    Generator& generator = generator_ ? *generator_ : default_generator();
    return functional::dropout(x, options_.dropout, this->is_training(), generator);
  }

  std::int64_t width_;
  TransformerBlockOptions options_;
  std::optional<Generator> generator_;
  std::shared_ptr<LayerNorm<T>> ln_1_;
  std::shared_ptr<MultiheadAttention<T>> attn_;
  std::shared_ptr<LayerNorm<T>> ln_2_;
  std::shared_ptr<TransformerMLP<T>> mlp_;
};

enum class PositionalEncoding {
  learned,     // a trained table wpe [context, width] (GPT-2)
  sinusoidal,  // the fixed sin/cos table (a buffer, not trained)
};

struct GPTOptions {
  std::int64_t vocab_size = 50257;
  std::int64_t context = 1024;  // longest sequence the model reads (positions)
  std::int64_t layers = 12;
  std::int64_t heads = 12;
  std::int64_t width = 768;
  double dropout = 0.0;  // embedding, attention and residual dropout in training mode
  bool bias = true;      // biases of the projections and the LayerNorms
  PositionalEncoding positional = PositionalEncoding::learned;
  double layer_norm_eps = 1e-5;
  std::optional<std::uint64_t> seed = {};  // init and dropout from generators with this seed; else the default one
};

struct GenerateOptions {
  std::int64_t max_new_tokens = 20;
  double temperature = 1.0;  // 0: greedy (argmax); else logits / temperature before sampling
  std::int64_t top_k = 0;    // sample among the k most likely tokens (0: all)
  double top_p = 1.0;        // nucleus: the smallest set of most likely tokens with probability >= top_p
  std::uint64_t seed = 0;    // the sampling stream (Philox): same seed, same tokens
  bool use_cache = true;     // KV cache (O(T) per token); false recomputes the whole window per token
};

/// A decoder-only Transformer language model (GPT-2's architecture).
template <FloatingElement T>
class GPT : public Module<T> {
 public:
  explicit GPT(GPTOptions options) : options_(options) {
    const std::string name = "GPT";
    if (options.vocab_size <= 0 || options.context <= 0 || options.layers <= 0 || options.heads <= 0 ||
        options.width <= 0)
      throw ValueError(name + ": vocab_size, context, layers, heads and width must be positive, got " +
                       std::to_string(options.vocab_size) + ", " + std::to_string(options.context) + ", " +
                       std::to_string(options.layers) + ", " + std::to_string(options.heads) + ", " +
                       std::to_string(options.width));
    if (options.width % options.heads != 0)
      throw ValueError(name + ": width " + std::to_string(options.width) + " is not divisible by heads " +
                       std::to_string(options.heads));
    detail::check_dropout_probability(name, options.dropout);
    if (options.positional == PositionalEncoding::sinusoidal && options.width % 2 != 0)
      throw ValueError(name + ": sinusoidal positions need an even width, got " + std::to_string(options.width));
    if (options.seed) generator_.emplace(*options.seed);
    Generator& generator = generator_ ? *generator_ : default_generator();

    wte_ = this->register_module(
        "wte", std::make_shared<Embedding<T>>(options.vocab_size, options.width, EmbeddingOptions{.seed = seed_of(0)}));
    if (options.positional == PositionalEncoding::learned)
      wpe_ = this->register_module(
          "wpe", std::make_shared<Embedding<T>>(options.context, options.width, EmbeddingOptions{.seed = seed_of(1)}));
    else
      sinusoidal_ = this->register_buffer("positional_encoding",
                                          functional::sinusoidal_positions<T>(options.context, options.width));
    for (std::int64_t i = 0; i < options.layers; ++i)
      blocks_.push_back(this->register_module(
          "h." + std::to_string(i), std::make_shared<TransformerBlock<T>>(
                                        options.width, options.heads,
                                        TransformerBlockOptions{.dropout = options.dropout,
                                                                .bias = options.bias,
                                                                .layer_norm_eps = options.layer_norm_eps,
                                                                .seed = seed_of(static_cast<std::uint64_t>(2 + i))})));
    ln_f_ = this->register_module(
        "ln_f", std::make_shared<LayerNorm<T>>(options.width,
                                               LayerNormOptions{.eps = options.layer_norm_eps, .bias = options.bias}));
    initialize(generator);
  }

  /// ids [B, T] (T <= context) -> logits [B, T, vocab_size].
  Tensor<T> forward(const IndexTensor& ids) {
    check_ids(ids);
    const Tensor<T> hidden = hidden_states(ids, 0);
    return functional::linear(hidden, wte_->weight(), Tensor<T>(), "GPT lm_head");  // tied: x wte^T
  }
  /// The same with ids held in a float tensor (as a Sequential passes them).
  Tensor<T> forward(const Tensor<T>& ids) override { return forward(detail::ids_from_values("GPT", ids)); }
  using Module<T>::operator();
  Tensor<T> operator()(const IndexTensor& ids) { return forward(ids); }

  /// One empty KV cache per block, each holding up to `context` positions (for forward_cached).
  std::vector<KVCache<T>> make_caches() const {
    std::vector<KVCache<T>> caches(blocks_.size());
    for (auto& cache : caches) cache.capacity = options_.context;
    return caches;
  }

  /// Incremental decoding: the logits [B, Tn, V] of the new tokens ids [B, Tn] that follow the
  /// positions already in `caches` (from make_caches()), whose keys and values are appended.
  /// Equal to the last Tn positions of forward() on the whole sequence. Positions past the
  /// context are a ValueError (start again from fresh caches with the last tokens).
  Tensor<T> forward_cached(const IndexTensor& ids, std::vector<KVCache<T>>& caches) {
    check_ids(ids);
    if (caches.size() != blocks_.size())
      throw ValueError("GPT::forward_cached: expected " + std::to_string(blocks_.size()) +
                       " caches (make_caches()), got " + std::to_string(caches.size()));
    if (caches.front().length + ids.size(1) > options_.context)
      throw ValueError("GPT::forward_cached: " + std::to_string(caches.front().length) + " cached + " +
                       std::to_string(ids.size(1)) + " new positions exceed the context " +
                       std::to_string(options_.context));
    return functional::linear(hidden_states_cached(ids, caches), wte_->weight(), Tensor<T>(), "GPT lm_head");
  }

  /// Continues each row of prompt_ids ([B, T0] or [T0]) by max_new_tokens tokens; returns the
  /// prompt followed by the new tokens ([B, T0 + n] or [T0 + n]). Runs in eval mode without
  /// autograd. With the KV cache (default) each new token costs one position's projections and an
  /// attention over the cached keys, O(T); when the sequence outgrows the context, the window
  /// slides: the last `context` tokens are re-read and the cache is rebuilt from them (the same
  /// logits the uncached path computes).
  IndexTensor generate(const IndexTensor& prompt_ids, const GenerateOptions& options = {}) {
    const std::string op = "GPT::generate";
    nabla::detail::check_defined(op, prompt_ids);
    if (prompt_ids.dim() != 1 && prompt_ids.dim() != 2)
      throw ShapeError(op + ": prompt_ids must be [T] or [B, T], got " + to_string(prompt_ids.shape()));
    const IndexTensor prompt = prompt_ids.dim() == 1 ? prompt_ids.reshape({1, prompt_ids.size(0)}) : prompt_ids;
    const std::int64_t batch = prompt.size(0), prompt_length = prompt.size(1);
    if (batch == 0 || prompt_length == 0)
      throw ValueError(op + ": the prompt is empty, shape " + to_string(prompt_ids.shape()));
    if (options.max_new_tokens < 0)
      throw ValueError(op + ": max_new_tokens must be >= 0, got " + std::to_string(options.max_new_tokens));
    if (!(options.temperature >= 0.0) || !std::isfinite(options.temperature))
      throw ValueError(op + ": temperature must be finite and >= 0, got " + std::to_string(options.temperature));
    if (options.top_k < 0) throw ValueError(op + ": top_k must be >= 0, got " + std::to_string(options.top_k));
    if (!(options.top_p > 0.0 && options.top_p <= 1.0))
      throw ValueError(op + ": top_p must be in (0, 1], got " + std::to_string(options.top_p));
    nn::detail::checked_token_ids(op, prompt, options_.vocab_size);

    NoGradGuard no_grad;
    const bool was_training = this->is_training();
    this->eval();
    const std::vector<std::int64_t> flat = prompt.to_host_vector();
    std::vector<std::vector<std::int64_t>> rows(static_cast<std::size_t>(batch));
    for (std::int64_t b = 0; b < batch; ++b)
      rows[b].assign(flat.begin() + b * prompt_length, flat.begin() + (b + 1) * prompt_length);

    Generator sampler(options.seed);
    std::vector<KVCache<T>> caches = make_caches();
    // The logits [B, V] of the next token after the current rows.
    auto window_logits = [&]() {
      const std::int64_t length = static_cast<std::int64_t>(rows[0].size());
      const std::int64_t window = std::min(length, options_.context);
      const IndexTensor ids = tail_ids(rows, window);
      if (!options.use_cache) return last_position_logits(hidden_states(ids, 0));
      for (auto& cache : caches) cache.reset();
      return last_position_logits(hidden_states_cached(ids, caches));
    };
    Tensor<T> logits = window_logits();
    for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
      const std::vector<T> values = logits.to_host_vector();
      std::vector<std::int64_t> next(static_cast<std::size_t>(batch));
      for (std::int64_t b = 0; b < batch; ++b) {
        next[b] = sample_token(values.data() + b * options_.vocab_size, options, sampler);
        rows[b].push_back(next[b]);
      }
      if (step + 1 == options.max_new_tokens) break;
      if (options.use_cache && caches.front().length < options_.context)
        logits = last_position_logits(hidden_states_cached(from_vector<std::int64_t>(next, {batch, 1}), caches));
      else
        logits = window_logits();
    }
    this->train(was_training);

    const std::int64_t total = static_cast<std::int64_t>(rows[0].size());
    std::vector<std::int64_t> out;
    out.reserve(static_cast<std::size_t>(batch * total));
    for (const auto& row : rows) out.insert(out.end(), row.begin(), row.end());
    return prompt_ids.dim() == 1 ? from_vector<std::int64_t>(out, {total})
                                 : from_vector<std::int64_t>(out, {batch, total});
  }

  std::string type_name() const override { return "GPT"; }
  std::string describe() const override {
    return "vocab " + std::to_string(options_.vocab_size) + ", context " + std::to_string(options_.context) +
           ", layers " + std::to_string(options_.layers) + ", heads " + std::to_string(options_.heads) + ", width " +
           std::to_string(options_.width);
  }

  const GPTOptions& options() const { return options_; }
  /// The token embedding [vocab_size, width], also the LM head's weight (tied).
  Embedding<T>& wte() { return *wte_; }
  /// The learned position embedding [context, width] (throws with sinusoidal positions).
  Embedding<T>& wpe() {
    if (!wpe_) throw ValueError("GPT::wpe: this model uses sinusoidal positions (a buffer), not a learned table");
    return *wpe_;
  }
  TransformerBlock<T>& block(std::int64_t i) { return *blocks_.at(static_cast<std::size_t>(i)); }
  LayerNorm<T>& ln_f() { return *ln_f_; }

 private:
  std::optional<std::uint64_t> seed_of(std::uint64_t part) const {
    if (!options_.seed) return std::nullopt;
    return *options_.seed * 0x9E3779B97F4A7C15ull + 104729 * (part + 1);
  }

  /// GPT-2's initialization: every weight matrix and embedding N(0, 0.02^2), the residual
  /// projections (attn.out_proj, mlp.c_proj) N(0, (0.02 / sqrt(2 layers))^2), biases 0,
  /// LayerNorms 1 and 0.
  void initialize(Generator& generator) {
    NoGradGuard no_grad;
    const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(options_.layers));
    for (auto& [name, parameter] : this->named_parameters()) {
      const bool layer_norm = name.find("ln_") != std::string::npos;
      if (layer_norm) continue;
      const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
      if (is_bias) {
        parameter.fill_(T(0));
        continue;
      }
      const bool residual =
          name.find("out_proj.weight") != std::string::npos || name.find("c_proj.weight") != std::string::npos;
      parameter.copy_(init::normal<T>(parameter.shape(), 0.0, residual ? residual_std : 0.02, generator));
    }
  }

  void check_ids(const IndexTensor& ids) const {
    const std::string name = "GPT(" + describe() + ")";
    nabla::detail::check_defined(name, ids);
    if (ids.dim() != 2) throw ShapeError(name + ": expected token ids [B, T], got " + to_string(ids.shape()));
    if (ids.size(1) > options_.context)
      throw ValueError(name + ": a sequence of " + std::to_string(ids.size(1)) + " tokens is longer than the context " +
                       std::to_string(options_.context));
    if (ids.size(1) == 0) throw ValueError(name + ": the sequence is empty, shape " + to_string(ids.shape()));
    nn::detail::checked_token_ids(name, ids, options_.vocab_size);
  }

  /// Token + position embedding of ids [B, T] at positions start .. start + T - 1, with dropout.
  Tensor<T> embed(const IndexTensor& ids, std::int64_t start) {
    const std::int64_t steps = ids.size(1);
    const Tensor<T> positions =
        wpe_ ? wpe_->weight().narrow(0, start, steps) : sinusoidal_.narrow(0, start, steps);  // [T, width], broadcast
    Generator& generator = generator_ ? *generator_ : default_generator();
    return functional::dropout(wte_->forward(ids) + positions, options_.dropout, this->is_training(), generator);
  }

  /// The final hidden states [B, T, width] (after ln_f).
  Tensor<T> hidden_states(const IndexTensor& ids, std::int64_t start) {
    Tensor<T> x = embed(ids, start);
    for (auto& block : blocks_) x = block->forward(x);
    return ln_f_->forward(x);
  }

  /// The same for new positions after those in the caches (one cache per block).
  Tensor<T> hidden_states_cached(const IndexTensor& ids, std::vector<KVCache<T>>& caches) {
    Tensor<T> x = embed(ids, caches.front().length);
    for (std::size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward_cached(x, caches[i]);
    return ln_f_->forward(x);
  }

  /// The LM head on the last position only: [B, T, width] -> [B, V].
  Tensor<T> last_position_logits(const Tensor<T>& hidden) const {
    const Tensor<T> last = hidden.narrow(1, hidden.size(1) - 1, 1).reshape({hidden.size(0), options_.width});
    return functional::linear(last, wte_->weight(), Tensor<T>(), "GPT lm_head");
  }

  /// The last `window` tokens of every row as ids [B, window].
  static IndexTensor tail_ids(const std::vector<std::vector<std::int64_t>>& rows, std::int64_t window) {
    std::vector<std::int64_t> values;
    values.reserve(rows.size() * static_cast<std::size_t>(window));
    for (const auto& row : rows) values.insert(values.end(), row.end() - window, row.end());
    return from_vector<std::int64_t>(values, {static_cast<std::int64_t>(rows.size()), window});
  }

  /// Picks the next token from one row of logits: argmax at temperature 0, else a draw from
  /// softmax(logits / temperature) restricted to the top_k tokens and to the top_p nucleus.
  std::int64_t sample_token(const T* logits, const GenerateOptions& options, Generator& sampler) const {
    const std::int64_t vocab = options_.vocab_size;
    if (options.temperature == 0.0) return std::max_element(logits, logits + vocab) - logits;
    std::vector<std::int64_t> order(static_cast<std::size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    // Most likely first; ties by id, so the order (and the draw) is the same on every platform.
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return logits[a] > logits[b]; });
    std::int64_t kept = options.top_k > 0 ? std::min(options.top_k, vocab) : vocab;
    std::vector<double> probabilities(static_cast<std::size_t>(kept));
    const double top = static_cast<double>(logits[order[0]]) / options.temperature;
    double total = 0;
    for (std::int64_t i = 0; i < kept; ++i) {
      probabilities[i] = std::exp(static_cast<double>(logits[order[i]]) / options.temperature - top);
      total += probabilities[i];
    }
    if (options.top_p < 1.0) {  // the smallest prefix whose probability reaches top_p
      double cumulative = 0;
      std::int64_t nucleus = 0;
      while (nucleus < kept) {
        cumulative += probabilities[nucleus++] / total;
        if (cumulative >= options.top_p) break;
      }
      kept = nucleus;
      total = std::accumulate(probabilities.begin(), probabilities.begin() + kept, 0.0);
    }
    const double u = philox_uniform<double>(sampler.seed(), sampler.advance(1), 0) * total;
    double cumulative = 0;
    for (std::int64_t i = 0; i < kept; ++i) {
      cumulative += probabilities[i];
      if (u < cumulative) return order[i];
    }
    return order[kept - 1];
  }

  GPTOptions options_;
  std::optional<Generator> generator_;
  std::shared_ptr<Embedding<T>> wte_;
  std::shared_ptr<Embedding<T>> wpe_;
  Tensor<T> sinusoidal_;
  std::vector<std::shared_ptr<TransformerBlock<T>>> blocks_;
  std::shared_ptr<LayerNorm<T>> ln_f_;
};

}  // namespace nabla::nn
