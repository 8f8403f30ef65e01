// nabla/nn/lstm.hpp - the LSTM layer (Keras' LSTM, torch.nn.LSTM).
//
//   nb::nn::LSTM<float> lstm(128, 256, {.num_layers = 2, .return_sequences = true});
//   Tensor<float> y = lstm(x);                       // x [batch, steps, 128] -> y [batch, steps,
//   256] auto [output, h, c] = lstm.forward(x, {h0, c0}, lengths);   // h, c: [2, batch, 256]
//
// Parameters have PyTorch's names, shapes and gate order (i, f, g, o), so a torch.nn.LSTM
// state dict loads 1:1:
//   weight_ih_l{k} [4 hidden, input_size (hidden for k > 0)], weight_hh_l{k} [4 hidden, hidden],
//   bias_ih_l{k}, bias_hh_l{k} [4 hidden]; rows 0..H-1 belong to gate i, H..2H-1 to f, then g, o.
// Each layer runs the fused implementation (nn/lstm_fused.hpp, hand-written BPTT) unless
// options.implementation selects the composed one (nn/lstm_composed.hpp); both compute the
// same function, which tests/test_lstm.cpp checks. docs/lstm.md has the equations.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nabla/core/philox.hpp"
#include "nabla/nn/dropout.hpp"
#include "nabla/nn/lstm_composed.hpp"
#include "nabla/nn/lstm_fused.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

/// Which of the two LSTM implementations a layer runs.
enum class LSTMImplementation {
  fused,     // one GEMM for the input projection, hand-written BPTT as one autograd node (fast)
  composed,  // matmul/sigmoid/tanh/... per step, BPTT derived by autograd (the readable reference)
};

struct LSTMOptions {
  std::int64_t num_layers = 1;
  /// true (Keras' layout): input [batch, steps, features]; false: [steps, batch, features].
  bool batch_first = true;
  /// false (Keras' default): forward() returns only the last valid hidden state of the top
  /// layer, [batch, hidden]; true: the whole output sequence. (torch.nn.LSTM always returns
  /// the sequence; set true for that.)
  bool return_sequences = false;
  /// Dropout probability on the output of every layer but the last (training mode only).
  double dropout = 0.0;
  bool bias = true;
  LSTMImplementation implementation = LSTMImplementation::fused;
  /// Seed for the initial weights; without it they come from the global generator (manual_seed).
  std::optional<std::uint64_t> seed = std::nullopt;
};

template <FloatingElement T>
class LSTM : public Module<T> {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, LSTMOptions options = {})
      : input_size_(input_size), hidden_size_(hidden_size), options_(options) {
    if (input_size < 1 || hidden_size < 1)
      throw ValueError("LSTM: input_size and hidden_size must be >= 1, got " + std::to_string(input_size) + " and " +
                       std::to_string(hidden_size));
    if (options.num_layers < 1)
      throw ValueError("LSTM: num_layers must be >= 1, got " + std::to_string(options.num_layers));
    detail::check_dropout_probability("LSTM", options.dropout);

    // PyTorch's init: every weight and bias uniform in [-1/sqrt(hidden), 1/sqrt(hidden)],
    // drawn in the order the parameters are registered.
    Generator seeded(options.seed.value_or(0));
    Generator& generator = options.seed ? seeded : default_generator();
    const T bound = T(1) / static_cast<T>(std::sqrt(static_cast<double>(hidden_size)));
    auto draw = [&](const Shape& shape) { return uniform<T>(shape, -bound, bound, generator); };
    const std::int64_t gate_width = 4 * hidden_size;
    for (std::int64_t layer = 0; layer < options.num_layers; ++layer) {
      const std::string suffix = "_l" + std::to_string(layer);
      const std::int64_t layer_input = layer == 0 ? input_size : hidden_size;
      Layer weights;
      weights.weight_ih = this->register_parameter("weight_ih" + suffix, draw({gate_width, layer_input}));
      weights.weight_hh = this->register_parameter("weight_hh" + suffix, draw({gate_width, hidden_size}));
      if (options.bias) {
        weights.bias_ih = this->register_parameter("bias_ih" + suffix, draw({gate_width}));
        weights.bias_hh = this->register_parameter("bias_hh" + suffix, draw({gate_width}));
      }
      layers_.push_back(weights);
    }
  }

  /// The Module interface (what Sequential calls): zero initial state, no lengths. Returns the
  /// output sequence, or the top layer's last hidden state when return_sequences is false.
  Tensor<T> forward(const Tensor<T>& input) override { return forward(input, LSTMState<T>{}, {}).output; }

  /// The full call. `initial` holds h0 and c0, each [num_layers, batch, hidden] (undefined =
  /// zeros). `lengths` (optional) gives each sequence's length in [0, steps]: steps t >= length
  /// are padding, where the state is carried unchanged and the output is zero. Returns the
  /// output (as forward(input)) and the final states h, c [num_layers, batch, hidden], taken
  /// after each sequence's last valid step.
  LSTMResult<T> forward(const Tensor<T>& input, const LSTMState<T>& initial,
                        const std::vector<std::int64_t>& lengths = {}) {
    check_input(input);
    const Tensor<T> batch_major = options_.batch_first ? input : input.transpose(0, 1);
    const std::int64_t batch = batch_major.size(0), steps = batch_major.size(1);
    const Shape state_shape{options_.num_layers, batch, hidden_size_};
    check_state("h0", initial.h, state_shape);
    check_state("c0", initial.c, state_shape);
    check_lengths(lengths, batch, steps);

    const auto layer_function =
        options_.implementation == LSTMImplementation::fused ? &lstm_layer_fused<T> : &lstm_layer_composed<T>;
    Tensor<T> layer_input = batch_major;
    std::vector<Tensor<T>> final_h, final_c;
    for (std::int64_t layer = 0; layer < options_.num_layers; ++layer) {
      const Layer& weights = layers_[static_cast<std::size_t>(layer)];
      const Tensor<T> h0 = initial.h.defined() ? initial.h.narrow(0, layer, 1).squeeze(0)
                                               : zeros<T>({batch, hidden_size_}, input.device());
      const Tensor<T> c0 = initial.c.defined() ? initial.c.narrow(0, layer, 1).squeeze(0)
                                               : zeros<T>({batch, hidden_size_}, input.device());
      LSTMResult<T> result = layer_function(layer_input, h0, c0, weights.weight_ih, weights.weight_hh, weights.bias_ih,
                                            weights.bias_hh, lengths);
      final_h.push_back(result.h);
      final_c.push_back(result.c);
      layer_input = result.output;
      // Inverted dropout between layers (nn/dropout.hpp; the global Philox generator, so
      // nabla::manual_seed makes the masks reproducible). The identity in eval mode.
      if (layer + 1 < options_.num_layers)
        layer_input = functional::dropout(layer_input, options_.dropout, this->is_training());
    }

    LSTMResult<T> result;
    // Without return_sequences: the top layer's state after each sequence's last valid step,
    // which is that step's output.
    if (options_.return_sequences)
      result.output = options_.batch_first ? layer_input : layer_input.transpose(0, 1);
    else
      result.output = final_h.back();
    result.h = stack(final_h, 0);
    result.c = stack(final_c, 0);
    return result;
  }

  using Module<T>::operator();
  LSTMResult<T> operator()(const Tensor<T>& input, const LSTMState<T>& initial,
                           const std::vector<std::int64_t>& lengths = {}) {
    return forward(input, initial, lengths);
  }

  std::string type_name() const override { return "LSTM"; }
  std::string describe() const override {
    return std::to_string(input_size_) + " -> " + std::to_string(hidden_size_) + ", " +
           std::to_string(options_.num_layers) + (options_.num_layers == 1 ? " layer" : " layers") +
           (options_.return_sequences ? ", sequences" : ", last step");
  }

  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  const LSTMOptions& options() const { return options_; }
  /// Switches between the fused and the composed implementation (same parameters).
  void set_implementation(LSTMImplementation implementation) { options_.implementation = implementation; }

 private:
  struct Layer {
    Tensor<T> weight_ih, weight_hh, bias_ih,
        bias_hh;  // biases undefined when options.bias is false
  };

  /// "LSTM(128 -> 256)": how error messages name this layer.
  std::string label() const {
    return "LSTM(" + std::to_string(input_size_) + " -> " + std::to_string(hidden_size_) + ")";
  }

  void check_input(const Tensor<T>& input) const {
    nabla::detail::check_defined(label(), input);
    const std::string expected = options_.batch_first ? "[batch, steps, " + std::to_string(input_size_) + "]"
                                                      : "[steps, batch, " + std::to_string(input_size_) + "]";
    if (input.dim() != 3 || input.size(2) != input_size_)
      throw ShapeError(label() + ": expected input of shape " + expected + ", got " + to_string(input.shape()));
    if (input.size(options_.batch_first ? 1 : 0) < 1)
      throw ShapeError(label() + ": input " + to_string(input.shape()) + " has no time steps");
  }

  void check_state(const std::string& name, const Tensor<T>& state, const Shape& expected) const {
    if (!state.defined()) return;
    if (state.shape() != expected)
      throw ShapeError(label() + ": expected " + name + " of shape " + to_string(expected) +
                       " [num_layers, batch, hidden], got " + to_string(state.shape()));
  }

  void check_lengths(const std::vector<std::int64_t>& lengths, std::int64_t batch, std::int64_t steps) const {
    if (lengths.empty()) return;
    if (static_cast<std::int64_t>(lengths.size()) != batch)
      throw ValueError(label() + ": got " + std::to_string(lengths.size()) + " lengths for a batch of " +
                       std::to_string(batch) + " sequences");
    for (std::size_t b = 0; b < lengths.size(); ++b)
      if (lengths[b] < 0 || lengths[b] > steps)
        throw ValueError(label() + ": length " + std::to_string(lengths[b]) + " of sequence " + std::to_string(b) +
                         " is outside [0, " + std::to_string(steps) + "] (the input has " + std::to_string(steps) +
                         " steps)");
  }

  std::int64_t input_size_;
  std::int64_t hidden_size_;
  LSTMOptions options_;
  std::vector<Layer> layers_;
};

}  // namespace nabla::nn
