// nabla/nn/lstm_composed.hpp - one LSTM layer built from autograd primitives.
//
// This is the LSTM as the equations in docs/lstm.md write it, one time step after another,
// with matmul, +, sigmoid, tanh, * and narrow. Autograd records every primitive and so
// derives backpropagation through time by itself. It is the reference the fused layer
// (nn/lstm_fused.hpp, hand-written BPTT) is tested against, and the version to read first.
//
// Both layer functions take and return batch-first tensors:
//   input [batch, steps, input_size], h0 and c0 [batch, hidden],
//   weight_ih [4 hidden, input_size], weight_hh [4 hidden, hidden], bias_ih, bias_hh [4 hidden]
//   (rows in PyTorch's gate order i, f, g, o; biases may both be undefined for no bias),
//   lengths: empty, or one length per sequence in [0, steps]; steps t >= length are padding.
// They return {output [batch, steps, hidden], h [batch, hidden], c [batch, hidden]}: the output
// is zero at padded steps and h, c are the states after each sequence's last valid step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/unary.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

/// An LSTM's recurrent state: hidden state h and cell state c. For the LSTM module each is
/// [num_layers, batch, hidden] (PyTorch's layout); for one layer each is [batch, hidden].
/// Undefined tensors stand for zeros.
template <FloatingElement T>
struct LSTMState {
  Tensor<T> h;
  Tensor<T> c;
};

/// What an LSTM returns: the output (the top layer's hidden state at every step, or only the
/// last valid one when the module's return_sequences is false) and the final states h and c.
template <FloatingElement T>
struct LSTMResult {
  Tensor<T> output;
  Tensor<T> h;
  Tensor<T> c;
};

namespace detail {

/// Checks the arguments of one LSTM layer (see the top of this file); messages name `op`.
template <FloatingElement T>
void check_lstm_layer_arguments(const std::string& op, const Tensor<T>& input, const Tensor<T>& h0, const Tensor<T>& c0,
                                const Tensor<T>& weight_ih, const Tensor<T>& weight_hh, const Tensor<T>& bias_ih,
                                const Tensor<T>& bias_hh, const std::vector<std::int64_t>& lengths) {
  for (const Tensor<T>* tensor : {&h0, &c0, &weight_ih, &weight_hh})
    nabla::detail::check_same_device(op, input, *tensor);
  if (input.dim() != 3)
    throw ShapeError(op + ": expected input of shape [batch, steps, input_size], got " + to_string(input.shape()));
  if (weight_hh.dim() != 2 || weight_hh.size(1) < 1 || weight_hh.size(0) != 4 * weight_hh.size(1))
    throw ShapeError(op + ": weight_hh must be [4 hidden, hidden], got " + to_string(weight_hh.shape()));
  const std::int64_t batch = input.size(0), steps = input.size(1), hidden = weight_hh.size(1);
  if (steps < 1) throw ShapeError(op + ": input " + to_string(input.shape()) + " has no time steps");
  const Shape weight_ih_shape{4 * hidden, input.size(2)};
  if (weight_ih.shape() != weight_ih_shape)
    throw ShapeError(op + ": weight_ih must be " + to_string(weight_ih_shape) + " for input " +
                     to_string(input.shape()) + " and hidden size " + std::to_string(hidden) + ", got " +
                     to_string(weight_ih.shape()));
  if (bias_ih.defined() != bias_hh.defined()) throw ValueError(op + ": give both bias_ih and bias_hh, or neither");
  for (const Tensor<T>* bias : {&bias_ih, &bias_hh})
    if (bias->defined() && bias->shape() != Shape{4 * hidden})
      throw ShapeError(op + ": biases must be [" + std::to_string(4 * hidden) + "], got " + to_string(bias->shape()));
  const Shape state_shape{batch, hidden};
  if (h0.shape() != state_shape || c0.shape() != state_shape)
    throw ShapeError(op + ": h0 and c0 must be " + to_string(state_shape) + ", got " + to_string(h0.shape()) + " and " +
                     to_string(c0.shape()));
  if (!lengths.empty() && static_cast<std::int64_t>(lengths.size()) != batch)
    throw ValueError(op + ": got " + std::to_string(lengths.size()) + " lengths for a batch of " +
                     std::to_string(batch) + " sequences");
  for (std::size_t b = 0; b < lengths.size(); ++b)
    if (lengths[b] < 0 || lengths[b] > steps)
      throw ValueError(op + ": length " + std::to_string(lengths[b]) + " of sequence " + std::to_string(b) +
                       " is outside [0, " + std::to_string(steps) + "] (the input has " + std::to_string(steps) +
                       " steps)");
}

/// [batch, 1] mask: 1 where step t is inside the sequence (t < length), 0 where it is padding.
template <FloatingElement T>
Tensor<T> valid_step_mask(const std::vector<std::int64_t>& lengths, std::int64_t t, Device device = Device::cpu()) {
  Tensor<T> mask({static_cast<std::int64_t>(lengths.size()), 1});
  for (std::size_t b = 0; b < lengths.size(); ++b) mask.data()[b] = t < lengths[b] ? T(1) : T(0);
  return mask.to(device);  // a no-op on the CPU
}

}  // namespace detail

/// One LSTM layer from autograd primitives (see the top of this file for shapes).
/// The numbers (1)-(7) are the equations of docs/lstm.md.
template <FloatingElement T>
LSTMResult<T> lstm_layer_composed(const Tensor<T>& input, const Tensor<T>& h0, const Tensor<T>& c0,
                                  const Tensor<T>& weight_ih, const Tensor<T>& weight_hh, const Tensor<T>& bias_ih,
                                  const Tensor<T>& bias_hh, const std::vector<std::int64_t>& lengths = {}) {
  detail::check_lstm_layer_arguments("lstm_layer_composed", input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                                     lengths);
  const std::int64_t steps = input.size(1), hidden = weight_hh.size(1);
  const Tensor<T> weight_ih_transposed = weight_ih.t(), weight_hh_transposed = weight_hh.t();

  Tensor<T> h = h0, c = c0;
  std::vector<Tensor<T>> outputs;
  for (std::int64_t t = 0; t < steps; ++t) {
    const Tensor<T> x = input.narrow(1, t, 1).squeeze(1);  // x_t: [batch, input_size]
    // a = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh: [batch, 4 hidden], gates side by side
    Tensor<T> gates = matmul(x, weight_ih_transposed) + matmul(h, weight_hh_transposed);
    if (bias_ih.defined()) gates = gates + bias_ih + bias_hh;

    const Tensor<T> i = sigmoid(gates.narrow(1, 0 * hidden, hidden));  // (1) input gate
    const Tensor<T> f = sigmoid(gates.narrow(1, 1 * hidden, hidden));  // (2) forget gate
    const Tensor<T> g = tanh(gates.narrow(1, 2 * hidden, hidden));     // (3) candidate cell
    const Tensor<T> o = sigmoid(gates.narrow(1, 3 * hidden, hidden));  // (4) output gate
    const Tensor<T> c_new = f * c + i * g;                             // (5) c_t = f c_{t-1} + i g
    const Tensor<T> h_new = o * tanh(c_new);                           // (6) h_t = o tanh(c_t)

    if (lengths.empty()) {
      h = h_new;
      c = c_new;
      outputs.push_back(h_new);
    } else {
      // (7) At a padded step the state passes through unchanged and the output is zero.
      const Tensor<T> valid = detail::valid_step_mask<T>(lengths, t, input.device());
      h = where(valid, h_new, h);
      c = where(valid, c_new, c);
      outputs.push_back(where(valid, h_new, T(0)));
    }
  }
  return {stack(outputs, 1), h, c};
}

}  // namespace nabla::nn
