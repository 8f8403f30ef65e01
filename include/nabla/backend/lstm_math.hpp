// nabla/backend/lstm_math.hpp - the per-element math of one LSTM cell, forward and backward.
//
// The fused LSTM (nn/lstm_fused.hpp) runs these two functions once per hidden unit per
// time step, after the GEMMs have produced the gate pre-activations. They are
// NABLA_HOST_DEVICE and use only scalar math, so a CUDA kernel can run the very same lines.
// The equation numbers refer to docs/lstm.md.
#pragma once

#include <cmath>

#include "nabla/backend/math.hpp"
#include "nabla/core/macros.hpp"

namespace nabla::backend {

/// tanh as the LSTM's inner loops compute it. For float, a rational approximation
/// x P(x^2) / Q(x^2) on x clamped to [-7.9988, 7.9988] (beyond which tanh rounds to +-1 in
/// float); the coefficients are those of Eigen's vectorized float tanh. It is arithmetic
/// only, so the compiler vectorizes the loop around it (std::tanh would be a scalar call per
/// element, which made it the most expensive part of the fused forward pass). Its error is a
/// few float ulps, far below what float training notices. For double: std::tanh.
template <typename T>
NABLA_HOST_DEVICE inline T lstm_tanh(T x) {
  if constexpr (sizeof(T) == 4) {
    const T bound = T(7.99881172180175781);
    const T clamped = x < -bound ? -bound : (x > bound ? bound : x);  // NaN stays NaN
    const T x2 = clamped * clamped;
    T numerator = x2 * T(-2.76076847742355e-16) + T(2.00018790482477e-13);
    numerator = x2 * numerator + T(-8.60467152213735e-11);
    numerator = x2 * numerator + T(5.12229709037114e-08);
    numerator = x2 * numerator + T(1.48572235717979e-05);
    numerator = x2 * numerator + T(6.37261928875436e-04);
    numerator = x2 * numerator + T(4.89352455891786e-03);
    T denominator = x2 * T(1.19825839466702e-06) + T(1.18534705686654e-04);
    denominator = x2 * denominator + T(2.26843463243900e-03);
    denominator = x2 * denominator + T(4.89352518554385e-03);
    return clamped * numerator / denominator;
  } else {
    return std::tanh(x);
  }
}

/// sigmoid as the LSTM's inner loops compute it: for float through the identity
/// sigmoid(x) = (1 + tanh(x / 2)) / 2, so it vectorizes like lstm_tanh; for double the
/// overflow-safe backend::sigmoid.
template <typename T>
NABLA_HOST_DEVICE inline T lstm_sigmoid(T x) {
  if constexpr (sizeof(T) == 4) {
    return T(0.5) + T(0.5) * lstm_tanh(T(0.5) * x);
  } else {
    return sigmoid(x);
  }
}

/// What one cell computes for one hidden unit: the four gate activations (kept for the
/// backward pass), the new cell state, its tanh (also kept), and the new hidden state.
template <typename T>
struct LSTMCellForward {
  T input_gate;   // i = sigmoid(a_i)
  T forget_gate;  // f = sigmoid(a_f)
  T candidate;    // g = tanh(a_g)
  T output_gate;  // o = sigmoid(a_o)
  T cell;         // c_t = f c_{t-1} + i g
  T cell_tanh;    // tanh(c_t)
  T hidden;       // h_t = o tanh(c_t)
};

/// Equations (1)-(6): from the pre-activations a_i, a_f, a_g, a_o (x W_ih^T + b_ih + h W_hh^T +
/// b_hh) and the previous cell state to the new cell and hidden state.
template <typename T>
NABLA_HOST_DEVICE inline LSTMCellForward<T> lstm_cell_forward(T pre_input, T pre_forget, T pre_candidate, T pre_output,
                                                              T cell_previous) {
  LSTMCellForward<T> result;
  result.input_gate = lstm_sigmoid(pre_input);                                              // (1)
  result.forget_gate = lstm_sigmoid(pre_forget);                                            // (2)
  result.candidate = lstm_tanh(pre_candidate);                                              // (3)
  result.output_gate = lstm_sigmoid(pre_output);                                            // (4)
  result.cell = result.forget_gate * cell_previous + result.input_gate * result.candidate;  // (5)
  result.cell_tanh = lstm_tanh(result.cell);
  result.hidden = result.output_gate * result.cell_tanh;  // (6)
  return result;
}

/// The gradients of one cell for one hidden unit: w.r.t. the four pre-activations, and the
/// part of dL/dc_{t-1} that flows through the forget gate.
template <typename T>
struct LSTMCellBackward {
  T pre_input;      // dL/da_i
  T pre_forget;     // dL/da_f
  T pre_candidate;  // dL/da_g
  T pre_output;     // dL/da_o
  T cell_previous;  // dL/dc_{t-1}
};

/// Equations (B1)-(B7) of docs/lstm.md for one hidden unit at one step.
/// `hidden_gradient` is the total dL/dh_t (from the output at t and from step t+1);
/// `cell_gradient` is dL/dc_t arriving from step t+1 (or from the final state c_n).
template <typename T>
NABLA_HOST_DEVICE inline LSTMCellBackward<T> lstm_cell_backward(T input_gate, T forget_gate, T candidate, T output_gate,
                                                                T cell_previous, T cell_tanh, T hidden_gradient,
                                                                T cell_gradient) {
  // (B1) h = o tanh(c): the output gate sees tanh(c) ...
  const T output_gate_gradient = hidden_gradient * cell_tanh;
  // (B2) ... and c sees o (1 - tanh^2 c), added to the dL/dc_t that came from step t+1.
  const T total_cell_gradient = cell_gradient + hidden_gradient * output_gate * tanh_derivative_from_output(cell_tanh);
  // (B3)-(B5) c = f c_{t-1} + i g
  const T input_gate_gradient = total_cell_gradient * candidate;
  const T forget_gate_gradient = total_cell_gradient * cell_previous;
  const T candidate_gradient = total_cell_gradient * input_gate;
  LSTMCellBackward<T> result;
  // (B6) through the nonlinearities, using their outputs: sigmoid' = s (1 - s), tanh' = 1 - t^2
  result.pre_input = input_gate_gradient * sigmoid_derivative_from_output(input_gate);
  result.pre_forget = forget_gate_gradient * sigmoid_derivative_from_output(forget_gate);
  result.pre_candidate = candidate_gradient * tanh_derivative_from_output(candidate);
  result.pre_output = output_gate_gradient * sigmoid_derivative_from_output(output_gate);
  // (B7) the cell state flows to step t-1 through the forget gate.
  result.cell_previous = total_cell_gradient * forget_gate;
  return result;
}

}  // namespace nabla::backend
