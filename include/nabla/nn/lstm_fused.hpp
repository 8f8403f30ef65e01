// nabla/nn/lstm_fused.hpp - one LSTM layer as a single autograd node with hand-written BPTT.
//
// The composed layer (nn/lstm_composed.hpp) records ~20 small ops per time step. This one
// computes the same function in a few passes over raw buffers and records ONE node:
//   forward:  A = X W_ih^T                one GEMM for all steps   [batch*steps, 4 hidden]
//             for each step t:
//               A_t += h_{t-1} W_hh^T     one GEMM per step        [batch, 4 hidden]
//               gates, c_t, h_t           one fused elementwise pass (backend/lstm_math.hpp)
//   backward: for each step t, last to first:
//               dA_t from dh_t, dc_t      one fused elementwise pass
//               dh_{t-1} = dA_t W_hh      one GEMM per step
//             dW_ih = dA^T X, dW_hh = dA^T H_prev, dX = dA W_ih   whole-sequence GEMMs
//             db = column sums of dA
// docs/lstm.md derives every formula; the comments give their numbers.
//
// Buffers hold one row per (sequence b, step t) at row b * steps + t, so the rows of all
// steps form one matrix (for the whole-sequence GEMMs) and the rows of one step are
// `steps` rows apart (a strided matrix the per-step GEMMs read and write in place).
// Shapes and the meaning of `lengths` are those of lstm_layer_composed.
//
// One forward and one BPTT driver serve every device: backend/lstm.hpp supplies the per-step
// kernels (backend/cpu/lstm.hpp or kernels/lstm.cu), the products (the CPU GEMM or cuBLAS)
// and the schedule of the recurrence (on the CPU, parallel bands of sequences for small layers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/lstm.hpp"
#include "nabla/nn/lstm_composed.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

namespace detail {

// The per-row math lives in the backend now; test_lstm reaches it under this name.
using backend::cpu::lstm_forward_row;

/// The values of `t` in a row-major buffer, without autograd: `t` itself when already dense.
template <FloatingElement T>
Tensor<T> dense_values(const Tensor<T>& t) {
  const Tensor<T> values = t.detach();
  return values.is_contiguous() ? values : nabla::detail::dense_copy(values);
}

/// What the forward pass of one fused layer keeps for its backward pass.
template <FloatingElement T>
struct LSTMLayerCache {
  std::int64_t batch = 0, steps = 0, input_size = 0, hidden = 0;
  IndexTensor lengths;        // [batch] on the layer's device; undefined: every sequence has all steps
  Tensor<T> gates;            // [batch, steps, 4 hidden]: pre-activations A, then i, f, g, o
  Tensor<T> hidden_previous;  // [batch, steps, hidden]: h_{t-1} (h0 at t = 0)
  Tensor<T> cell_previous;    // [batch, steps, hidden]: c_{t-1} (c0 at t = 0)
  Tensor<T> cell_tanh;        // [batch, steps, hidden]: tanh(c_t)

  std::int64_t gate_width() const { return 4 * hidden; }
};

/// Backpropagation through time for one fused layer. `packed_gradient` is dL/d[output | h_n |
/// c_n]; `inputs` are {input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0}. Returns one
/// gradient per input (undefined where an input needs none).
template <FloatingElement T>
std::vector<Tensor<T>> lstm_layer_backward(const LSTMLayerCache<T>& cache, const Tensor<T>& packed_gradient,
                                           const std::vector<Tensor<T>>& inputs) {
  using backend::device_data;
  const Device device = packed_gradient.device();
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  const Tensor<T> gradient = dense_values(packed_gradient);
  const Tensor<T> w_hh = dense_values(inputs[2]);

  // dL/dh and dL/dc of the state flowing down from step t+1; at the top, those of h_n, c_n.
  const Shape state_shape{batch, hidden};
  const Strides state_strides = contiguous_strides(state_shape);
  Tensor<T> h_gradient = nabla::detail::copy_values(
      Tensor<T>(gradient.storage(), state_shape, state_strides, gradient.offset() + rows * hidden));
  Tensor<T> c_gradient = nabla::detail::copy_values(
      Tensor<T>(gradient.storage(), state_shape, state_strides, gradient.offset() + (rows + batch) * hidden));
  Tensor<T> gates_gradient = backend::empty<T>({batch, steps, gate_width}, device);  // dL/dA (0 at padding)
  // With padding, dh of padded rows must survive the GEMM below, which writes elsewhere first.
  Tensor<T> h_gradient_from_gates = cache.lengths.defined() ? backend::empty<T>(state_shape, device) : h_gradient;

  backend::LSTMStepArguments<T> step;
  step.batch = batch;
  step.steps = steps;
  step.hidden = hidden;
  step.lengths = cache.lengths.defined() ? device_data(cache.lengths) : nullptr;
  step.gates = device_data(cache.gates);
  step.cell_previous = device_data(cache.cell_previous);
  step.cell_tanh = device_data(cache.cell_tanh);
  step.output_gradient = device_data(gradient);
  step.hidden_gradient = device_data(h_gradient);
  step.cell_gradient = device_data(c_gradient);
  step.gates_gradient = device_data(gates_gradient);
  T* const d_h = device_data(h_gradient);
  T* const d_h_from_gates = device_data(h_gradient_from_gates);

  // W_hh for (B8), prepared once for all steps (on the CPU, packed for the register-tiled kernel).
  const backend::LSTMRecurrentProduct<T> recurrent(device, false, gate_width, hidden, device_data(w_hh), hidden, batch);
  // As in the forward pass, each band of sequences runs its own loop over time.
  backend::lstm_recurrence(device, batch, hidden, [&](std::int64_t first, std::int64_t last) {
    backend::LSTMStepArguments<T> band = backend::lstm_band(step, first, last);
    for (std::int64_t t = steps; t-- > 0;) {
      band.t = t;
      backend::lstm_backward_step(device, band);
      // (B8) dh_{t-1} = dA_t W_hh: [batch, 4 hidden] x [4 hidden, hidden], rows `steps` apart.
      recurrent(last - first, band.gates_gradient + t * gate_width, steps * gate_width, T(0),
                d_h_from_gates + first * hidden, hidden);
      if (band.lengths != nullptr)
        backend::lstm_keep_valid_hidden_gradient(device, d_h + first * hidden, d_h_from_gates + first * hidden,
                                                 band.lengths, last - first, hidden, t);
    }
  });

  // Whole-sequence products, one GEMM each over all batch*steps rows.
  std::vector<Tensor<T>> gradients(inputs.size());
  const T* const d_gates = device_data(gates_gradient);
  if (inputs[0].requires_grad()) {  // (B11) dX = dA W_ih
    const Tensor<T> w_ih = dense_values(inputs[1]);
    Tensor<T> input_gradient = backend::empty<T>({batch, steps, input_size}, device);
    backend::lstm_gemm<T>(device, false, false, rows, input_size, gate_width, T(1), d_gates, gate_width,
                          device_data(w_ih), input_size, T(0), device_data(input_gradient), input_size);
    gradients[0] = input_gradient;
  }
  if (inputs[1].requires_grad()) {  // (B9) dW_ih = sum_t dA_t^T x_t = dA^T X
    const Tensor<T> x = dense_values(inputs[0]);
    Tensor<T> weight_ih_gradient = backend::empty<T>({gate_width, input_size}, device);
    backend::lstm_gemm<T>(device, true, false, gate_width, input_size, rows, T(1), d_gates, gate_width, device_data(x),
                          input_size, T(0), device_data(weight_ih_gradient), input_size);
    gradients[1] = weight_ih_gradient;
  }
  if (inputs[2].requires_grad()) {  // (B10) dW_hh = sum_t dA_t^T h_{t-1} = dA^T H_prev
    Tensor<T> weight_hh_gradient = backend::empty<T>({gate_width, hidden}, device);
    backend::lstm_gemm<T>(device, true, false, gate_width, hidden, rows, T(1), d_gates, gate_width,
                          device_data(cache.hidden_previous), hidden, T(0), device_data(weight_hh_gradient), hidden);
    gradients[2] = weight_hh_gradient;
  }
  if (inputs[3].defined() && (inputs[3].requires_grad() || inputs[4].requires_grad())) {
    // (B12) db_ih = db_hh = sum of dA over all rows (both biases enter A the same way)
    Tensor<T> bias_gradient = backend::empty<T>({gate_width}, device);
    backend::lstm_bias_gradient(gates_gradient, bias_gradient);
    gradients[3] = bias_gradient;
    gradients[4] = bias_gradient;
  }
  gradients[5] = h_gradient;  // dL/dh0, dL/dc0: what flowed out of step 0
  gradients[6] = c_gradient;
  return gradients;
}

}  // namespace detail

/// One LSTM layer, fused: same arguments and result as lstm_layer_composed.
template <FloatingElement T>
LSTMResult<T> lstm_layer_fused(const Tensor<T>& input, const Tensor<T>& h0, const Tensor<T>& c0,
                               const Tensor<T>& weight_ih, const Tensor<T>& weight_hh, const Tensor<T>& bias_ih,
                               const Tensor<T>& bias_hh, const std::vector<std::int64_t>& lengths = {}) {
  using backend::device_data;
  detail::check_lstm_layer_arguments("lstm_layer_fused", input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                                     lengths);
  const Device device = input.device();
  detail::LSTMLayerCache<T> cache;
  cache.batch = input.size(0);
  cache.steps = input.size(1);
  cache.input_size = input.size(2);
  cache.hidden = weight_hh.size(1);
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  cache.gates = backend::empty<T>({batch, steps, gate_width}, device);
  cache.hidden_previous = backend::empty<T>({batch, steps, hidden}, device);
  cache.cell_previous = backend::empty<T>({batch, steps, hidden}, device);
  cache.cell_tanh = backend::empty<T>({batch, steps, hidden}, device);
  // The lengths go to the layer's device once; the step kernels read them there.
  if (!lengths.empty()) cache.lengths = from_vector<std::int64_t>(lengths, {batch}).to(device);

  const Tensor<T> x = detail::dense_values(input);
  const Tensor<T> w_ih = detail::dense_values(weight_ih), w_hh = detail::dense_values(weight_hh);
  Tensor<T> bias = backend::empty<T>({gate_width}, device);  // b_ih + b_hh
  if (bias_ih.defined())
    backend::map(bias, backend::Add{}, bias_ih.detach(), bias_hh.detach());
  else
    backend::map(bias, backend::Fill<T>{T(0)});
  // The node's one output packs [output (batch*steps*hidden) | h_n (batch*hidden) | c_n].
  Tensor<T> packed = backend::empty<T>({(rows + 2 * batch) * hidden}, device);

  // A = X W_ih^T for every step at once: [batch*steps, input_size] x [input_size, 4 hidden].
  backend::lstm_gemm<T>(device, false, true, rows, gate_width, input_size, T(1), device_data(x), input_size,
                        device_data(w_ih), input_size, T(0), device_data(cache.gates), gate_width);
  // h0, c0 into the rows of step 0 (rows b * steps): strided views of the caches.
  const Shape state_shape{batch, hidden};
  const Strides first_step_rows{steps * hidden, 1};
  Tensor<T> h_start(cache.hidden_previous.storage(), state_shape, first_step_rows, 0);
  Tensor<T> c_start(cache.cell_previous.storage(), state_shape, first_step_rows, 0);
  backend::map(h_start, backend::Identity{}, h0.detach());
  backend::map(c_start, backend::Identity{}, c0.detach());

  backend::LSTMStepArguments<T> step;
  step.batch = batch;
  step.steps = steps;
  step.hidden = hidden;
  step.lengths = cache.lengths.defined() ? device_data(cache.lengths) : nullptr;
  step.gates = device_data(cache.gates);
  step.bias = device_data(bias);
  step.hidden_previous = device_data(cache.hidden_previous);
  step.cell_previous = device_data(cache.cell_previous);
  step.cell_tanh = device_data(cache.cell_tanh);
  step.output = device_data(packed);
  step.h_final = step.output + rows * hidden;
  step.c_final = step.h_final + batch * hidden;
  // Sequences are independent, so the recurrence may run in bands of the batch (on the CPU,
  // each thread runs every step for its own band: no fork/join and no barrier per step).
  // W_hh^T for every step, prepared once (on the CPU, packed for the register-tiled kernel).
  const backend::LSTMRecurrentProduct<T> recurrent(device, true, hidden, gate_width, device_data(w_hh), hidden, batch);
  backend::lstm_recurrence(device, batch, hidden, [&](std::int64_t first, std::int64_t last) {
    backend::LSTMStepArguments<T> band = backend::lstm_band(step, first, last);
    for (std::int64_t t = 0; t < steps; ++t) {
      // A_t += h_{t-1} W_hh^T: [batch, hidden] x [hidden, 4 hidden], rows `steps` apart.
      recurrent(last - first, band.hidden_previous + t * hidden, steps * hidden, T(1), band.gates + t * gate_width,
                steps * gate_width);
      band.t = t;
      backend::lstm_forward_step(device, band);
    }
  });

  // dL/d(input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0) by BPTT, docs/lstm.md (B1)-(B12)
  record_op<T>(packed, "lstm_layer_fused", {input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0},
               [cache](const Tensor<T>& packed_gradient, const std::vector<Tensor<T>>& inputs) {
                 return detail::lstm_layer_backward(cache, packed_gradient, inputs);
               },
               {input, weight_ih, weight_hh});

  return {packed.narrow(0, 0, rows * hidden).view({batch, steps, hidden}),
          packed.narrow(0, rows * hidden, batch * hidden).view(state_shape),
          packed.narrow(0, (rows + batch) * hidden, batch * hidden).view(state_shape)};
}

}  // namespace nabla::nn
