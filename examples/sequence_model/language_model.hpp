// examples/sequence_model/language_model.hpp - the word-level LSTM language model:
//
//   word ids [B, L] -> Embedding -> dropout -> LSTM (1-2 layers, dropout between layers)
//                   -> dropout -> Dense(hidden -> vocabulary) -> logits [B, L, V]
//
// With tie_weights the Dense layer uses the embedding table as its weight (Press & Wolf 2017,
// Inan et al. 2017): a word's input vector is also its output vector. That halves the
// parameters of a model whose vocabulary dominates them and usually lowers perplexity on a
// corpus this small. It needs embedding size == hidden size.
//
// trained with cross-entropy against the next word (Zaremba et al. 2014, "Recurrent Neural
// Network Regularization", the medium model, is the same design). The Dense layer sees all
// B * L steps at once, so the output projection is one GEMM per batch (nn/dense.hpp folds the
// leading dimensions), not one per time step.
#pragma once

#include <cstdint>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>

namespace sequence_model {

namespace nb = nabla;

/// What defines the shape of the model: a checkpoint only loads into the same configuration.
struct ModelConfig {
  std::int64_t vocabulary_size = 0;
  std::int64_t embedding_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t layers = 1;
  double dropout = 0.0;
  bool tie_weights = false;
};

/// The recurrent state carried from one batch to the next: h and c, each [layers, B, hidden].
using RecurrentState = nb::nn::LSTMState<float>;

class LanguageModel : public nb::nn::Module<float> {
 public:
  LanguageModel(const ModelConfig& config, std::uint64_t seed) : config_(config) {
    if (config.tie_weights && config.embedding_size != config.hidden_size)
      throw nb::ValueError("LanguageModel: tied weights need embedding size == hidden size, got " +
                           std::to_string(config.embedding_size) + " and " + std::to_string(config.hidden_size));
    embedding_ = register_module(
        "embedding", std::make_shared<nb::nn::Embedding<float>>(config.vocabulary_size, config.embedding_size,
                                                                nb::nn::EmbeddingOptions{.seed = seed}));
    lstm_ = register_module(
        "lstm",
        std::make_shared<nb::nn::LSTM<float>>(
            config.embedding_size, config.hidden_size,
            nb::nn::LSTMOptions{
                .num_layers = config.layers, .return_sequences = true, .dropout = config.dropout, .seed = seed + 1}));
    if (config.tie_weights) {
      // Only the bias is the decoder's own; the weight is the embedding table.
      decoder_bias_ = register_parameter("decoder_bias", nb::zeros<float>({config.vocabulary_size}));
    } else {
      decoder_ =
          register_module("decoder", std::make_shared<nb::nn::Dense<float>>(config.hidden_size, config.vocabulary_size,
                                                                            nb::nn::DenseOptions{.seed = seed + 2}));
      decoder_bias_ = decoder_->bias();
    }
    // Small uniform tables as in Zaremba et al. and PyTorch's word_language_model: an N(0, 1)
    // embedding (the layer's default) feeds the LSTM gates inputs ~10x larger than its own
    // weights and slows the first epoch down.
    nb::NoGradGuard no_grad;
    embedding_->weight().detach().copy_(nb::uniform<float>(embedding_->weight().shape(), -0.1f, 0.1f, seed + 3));
    if (decoder_)
      decoder_->weight().detach().copy_(nb::uniform<float>(decoder_->weight().shape(), -0.1f, 0.1f, seed + 4));
    decoder_bias_.detach().fill_(0.0f);
  }

  struct Output {
    nb::Tensor<float> logits;  // [B, L, V]
    RecurrentState state;      // the state after the last step, still attached to the graph
  };

  /// Runs a batch of word ids [B, L] from `state` (undefined tensors: zeros).
  Output forward(const nb::IndexTensor& ids, const RecurrentState& state) {
    const bool training = is_training();
    nb::Tensor<float> embedded = nb::nn::functional::dropout(embedding_->forward(ids), config_.dropout, training);
    nb::nn::LSTMResult<float> recurrent = lstm_->forward(embedded, state);
    nb::Tensor<float> features = nb::nn::functional::dropout(recurrent.output, config_.dropout, training);
    // [B, L, hidden] -> [B, L, V]: one GEMM over all B * L steps.
    nb::Tensor<float> logits =
        decoder_ ? decoder_->forward(features)
                 : nb::nn::functional::linear(features, embedding_->weight(), decoder_bias_, "tied decoder");
    return {logits, {recurrent.h, recurrent.c}};
  }

  /// The Module interface: ids held in a float tensor [B, L], zero initial state.
  nb::Tensor<float> forward(const nb::Tensor<float>& ids) override {
    return forward(nb::nn::detail::ids_from_values("LanguageModel", ids), RecurrentState{}).logits;
  }

  std::string type_name() const override { return "LanguageModel"; }
  std::string describe() const override {
    return "vocabulary " + std::to_string(config_.vocabulary_size) + ", embedding " +
           std::to_string(config_.embedding_size) + ", hidden " + std::to_string(config_.hidden_size) + ", " +
           std::to_string(config_.layers) + (config_.layers == 1 ? " layer" : " layers") +
           (config_.tie_weights ? ", tied weights" : "");
  }

  const ModelConfig& config() const { return config_; }

 private:
  ModelConfig config_;
  std::shared_ptr<nb::nn::Embedding<float>> embedding_;
  std::shared_ptr<nb::nn::LSTM<float>> lstm_;
  std::shared_ptr<nb::nn::Dense<float>> decoder_;  // null with tied weights
  nb::Tensor<float> decoder_bias_;
};

/// The state with its history cut: the values carry on into the next batch, the gradient
/// stops here (truncated backpropagation through time).
inline RecurrentState detached(const RecurrentState& state) { return {state.h.detach(), state.c.detach()}; }

}  // namespace sequence_model
