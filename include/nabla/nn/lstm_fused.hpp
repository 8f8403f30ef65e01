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
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/lstm_math.hpp"
#include "nabla/nn/lstm_composed.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

namespace detail {

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
  std::vector<std::int64_t> lengths;  // empty: every sequence has all steps
  Tensor<T> gates;                    // [batch, steps, 4 hidden]: pre-activations A, then i, f, g, o
  Tensor<T> hidden_previous;          // [batch, steps, hidden]: h_{t-1} (h0 at t = 0)
  Tensor<T> cell_previous;            // [batch, steps, hidden]: c_{t-1} (c0 at t = 0)
  Tensor<T> cell_tanh;                // [batch, steps, hidden]: tanh(c_t)

  bool is_valid(std::int64_t b, std::int64_t t) const {
    return lengths.empty() || t < lengths[static_cast<std::size_t>(b)];
  }
  std::int64_t gate_width() const { return 4 * hidden; }
  /// Batch rows per thread in the elementwise passes. A step's pass is short (tens of
  /// microseconds at batch 32, hidden 256), and every parallel region per step is a thread
  /// wake-up that a busy machine can delay by milliseconds; so split only large steps.
  std::int64_t rows_per_thread() const { return std::max<std::int64_t>(1, 16384 / hidden); }
  /// Batch rows per thread when the recurrence runs in independent bands of sequences (each
  /// thread loops over all steps for its rows, so there is no fork/join per step). Each band
  /// packs all of W_hh for its own GEMM every step, twice the packing of one shared GEMM, so
  /// bands pay off for small weights only: bench_lm, 2 threads, medians of 5, bands against
  /// per-step splitting: classifier (hidden 128) 89 vs 101 ms, L (256) 141 vs 147 ms, S (128)
  /// 12.8 vs 13.6 ms; XL (1024) 1471 vs 1395 ms. hidden 512 is unmeasured: bands up to there.
  std::int64_t recurrence_grain() const {
    const bool small_weight = gate_width() * hidden <= (std::int64_t{1} << 20);
    return small_weight ? 8 : batch;
  }
};

/// Equations (1)-(6) for one row (one sequence at one step): the pre-activations in `gate`
/// (GEMM results without bias) become the gates i, f, g, o in place; c_t, tanh(c_t) and h_t
/// are written out (h_t twice: to the layer's output and to the next step's input).
///
/// For float the row runs as Eigen array expressions: GCC does not vectorize the clamp inside
/// backend::lstm_tanh (a float compare-and-select may trap, so without -fno-trapping-math it
/// stays a branch and the loop stays scalar, 8x slower), while Eigen's packet tanh is the same
/// rational approximation with the same clamp, in AVX registers. test_lstm checks that both
/// agree with backend::lstm_cell_forward, which the CUDA kernel runs. Double, which is for
/// gradient checks rather than speed, runs lstm_cell_forward itself.
template <FloatingElement T>
void lstm_forward_row(std::int64_t hidden, const T* bias, T* gate, const T* c_previous, T* tanh_c, T* h_out, T* h_next,
                      T* c_next) {
  if constexpr (std::is_same_v<T, float>) {
    using Array = Eigen::Array<float, Eigen::Dynamic, 1>;
    using Row = Eigen::Map<Array>;
    using ConstRow = Eigen::Map<const Array>;
    Row input_gate(gate, hidden), forget_gate(gate + hidden, hidden), candidate(gate + 2 * hidden, hidden),
        output_gate(gate + 3 * hidden, hidden);
    // sigmoid(x) = (1 + tanh(x / 2)) / 2, as backend::lstm_sigmoid computes it.
    input_gate = 0.5f + 0.5f * (0.5f * (input_gate + ConstRow(bias, hidden))).tanh();                 // (1)
    forget_gate = 0.5f + 0.5f * (0.5f * (forget_gate + ConstRow(bias + hidden, hidden))).tanh();      // (2)
    candidate = (candidate + ConstRow(bias + 2 * hidden, hidden)).tanh();                             // (3)
    output_gate = 0.5f + 0.5f * (0.5f * (output_gate + ConstRow(bias + 3 * hidden, hidden))).tanh();  // (4)
    Row cell(c_next, hidden), cell_tanh(tanh_c, hidden), hidden_state(h_out, hidden);
    cell = forget_gate * ConstRow(c_previous, hidden) + input_gate * candidate;  // (5)
    cell_tanh = cell.tanh();
    hidden_state = output_gate * cell_tanh;  // (6)
    Row(h_next, hidden) = hidden_state;
  } else {
    for (std::int64_t j = 0; j < hidden; ++j) {
      const auto cell = backend::lstm_cell_forward<T>(gate[j] + bias[j], gate[hidden + j] + bias[hidden + j],
                                                      gate[2 * hidden + j] + bias[2 * hidden + j],
                                                      gate[3 * hidden + j] + bias[3 * hidden + j], c_previous[j]);
      gate[j] = cell.input_gate;
      gate[hidden + j] = cell.forget_gate;
      gate[2 * hidden + j] = cell.candidate;
      gate[3 * hidden + j] = cell.output_gate;
      tanh_c[j] = cell.cell_tanh;
      h_out[j] = h_next[j] = cell.hidden;
      c_next[j] = cell.cell;
    }
  }
}

/// Equations (B1)-(B7) for one row: from the gates, c_{t-1}, tanh(c_t), dL/dh_t (`d_h` from
/// step t+1 plus `d_out` from the output at t) and dL/dc_t (`d_c`, overwritten with
/// dL/dc_{t-1}) to dL/dA_t in `d_gate`. Plain arithmetic, so the compiler vectorizes it once
/// it knows the rows do not overlap (restrict: they are rows of different buffers).
template <FloatingElement T>
void lstm_backward_row(std::int64_t hidden, const T* __restrict gate, const T* __restrict c_previous,
                       const T* __restrict tanh_c, const T* __restrict d_out, const T* __restrict d_h,
                       T* __restrict d_c, T* __restrict d_gate) {
  for (std::int64_t j = 0; j < hidden; ++j) {
    const auto cell =
        backend::lstm_cell_backward<T>(gate[j], gate[hidden + j], gate[2 * hidden + j], gate[3 * hidden + j],
                                       c_previous[j], tanh_c[j], d_h[j] + d_out[j], d_c[j]);
    d_gate[j] = cell.pre_input;
    d_gate[hidden + j] = cell.pre_forget;
    d_gate[2 * hidden + j] = cell.pre_candidate;
    d_gate[3 * hidden + j] = cell.pre_output;
    d_c[j] = cell.cell_previous;
  }
}

/// The elementwise part of step t, equations (1)-(7): turns the pre-activations A_t (GEMM
/// results, without bias) into gates, writes c_t, tanh(c_t), h_t and the output of step t,
/// and hands h_t, c_t to step t+1 (or to the final state h_n, c_n after the last step).
template <FloatingElement T>
void lstm_forward_step(LSTMLayerCache<T>& cache, std::int64_t t, std::int64_t batch_begin, std::int64_t batch_end,
                       const T* bias, T* output, T* h_final, T* c_final) {
  const std::int64_t steps = cache.steps, hidden = cache.hidden, gate_width = cache.gate_width();
  T* const gate_data = cache.gates.data();
  T* const hidden_previous = cache.hidden_previous.data();
  T* const cell_previous = cache.cell_previous.data();
  T* const cell_tanh = cache.cell_tanh.data();
  backend::cpu::parallel_for(batch_begin, batch_end, cache.rows_per_thread(),
                             [&](std::int64_t begin, std::int64_t end) {
                               for (std::int64_t b = begin; b < end; ++b) {
                                 const std::int64_t row = b * steps + t;
                                 T* const gate = gate_data + row * gate_width;
                                 const T* const h_previous = hidden_previous + row * hidden;
                                 const T* const c_previous = cell_previous + row * hidden;
                                 T* const tanh_c = cell_tanh + row * hidden;
                                 T* const h_out = output + row * hidden;
                                 const bool last = t + 1 == steps;
                                 T* const h_next = last ? h_final + b * hidden : hidden_previous + (row + 1) * hidden;
                                 T* const c_next = last ? c_final + b * hidden : cell_previous + (row + 1) * hidden;
                                 if (!cache.is_valid(b, t)) {  // (7) padding: carry the state, output zero
                                   std::copy_n(h_previous, hidden, h_next);
                                   std::copy_n(c_previous, hidden, c_next);
                                   std::fill_n(h_out, hidden, T(0));
                                   std::fill_n(gate, gate_width, T(0));
                                   std::fill_n(tanh_c, hidden, T(0));
                                   continue;
                                 }
                                 lstm_forward_row(hidden, bias, gate, c_previous, tanh_c, h_out, h_next, c_next);
                               }
                             });
}

/// The elementwise part of the backward of step t, equations (B1)-(B7): from dL/dh_t (the
/// carried `h_gradient` plus the output's gradient at t) and dL/dc_t (`c_gradient`) to
/// dA_t, written into `gates_gradient`; `c_gradient` becomes dL/dc_{t-1}.
template <FloatingElement T>
void lstm_backward_step(const LSTMLayerCache<T>& cache, std::int64_t t, std::int64_t batch_begin,
                        std::int64_t batch_end, const T* output_gradient, const T* h_gradient, T* c_gradient,
                        T* gates_gradient) {
  const std::int64_t steps = cache.steps, hidden = cache.hidden, gate_width = cache.gate_width();
  const T* const gate_data = cache.gates.data();
  const T* const cell_previous = cache.cell_previous.data();
  const T* const cell_tanh = cache.cell_tanh.data();
  backend::cpu::parallel_for(batch_begin, batch_end, cache.rows_per_thread(),
                             [&](std::int64_t begin, std::int64_t end) {
                               for (std::int64_t b = begin; b < end; ++b) {
                                 const std::int64_t row = b * steps + t;
                                 T* const d_gate = gates_gradient + row * gate_width;
                                 if (!cache.is_valid(b, t)) {  // (7) padding: dh and dc pass to step t-1 unchanged
                                   std::fill_n(d_gate, gate_width, T(0));
                                   continue;
                                 }
                                 const T* const gate = gate_data + row * gate_width;
                                 const T* const c_previous = cell_previous + row * hidden;
                                 const T* const tanh_c = cell_tanh + row * hidden;
                                 const T* const d_out = output_gradient + row * hidden;
                                 const T* const d_h = h_gradient + b * hidden;
                                 T* const d_c = c_gradient + b * hidden;
                                 lstm_backward_row(hidden, gate, c_previous, tanh_c, d_out, d_h, d_c, d_gate);
                               }
                             });
}

/// Backpropagation through time for one fused layer. `packed_gradient` is dL/d[output | h_n |
/// c_n]; `inputs` are {input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0}. Returns one
/// gradient per input (undefined where an input needs none).
template <FloatingElement T>
std::vector<Tensor<T>> lstm_layer_backward(const LSTMLayerCache<T>& cache, const Tensor<T>& packed_gradient,
                                           const std::vector<Tensor<T>>& inputs) {
  using backend::cpu::gemm;
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  const Tensor<T> gradient = dense_values(packed_gradient);
  const T* const output_gradient = gradient.data();
  const Tensor<T> w_hh = dense_values(inputs[2]);

  // dL/dh and dL/dc of the state flowing down from step t+1; at the top, those of h_n, c_n.
  Tensor<T> h_gradient({batch, hidden}), c_gradient({batch, hidden});
  std::copy_n(output_gradient + rows * hidden, batch * hidden, h_gradient.data());
  std::copy_n(output_gradient + (rows + batch) * hidden, batch * hidden, c_gradient.data());
  Tensor<T> gates_gradient({batch, steps, gate_width});  // dL/dA for every row (0 at padding)
  T* const d_gates = gates_gradient.data();
  T* const d_h = h_gradient.data();
  // With padding, dh of padded rows must survive the GEMM below, which writes elsewhere first.
  Tensor<T> h_gradient_from_gates = cache.lengths.empty() ? h_gradient : Tensor<T>({batch, hidden});
  T* const d_h_from_gates = h_gradient_from_gates.data();

  // As in the forward pass, each band of sequences runs its own loop over time.
  backend::cpu::parallel_for(0, batch, cache.recurrence_grain(), [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t t = steps; t-- > 0;) {
      lstm_backward_step(cache, t, first, last, output_gradient, d_h, c_gradient.data(), d_gates);
      // (B8) dh_{t-1} = dA_t W_hh: [batch, 4 hidden] x [4 hidden, hidden].
      gemm<T>(false, false, last - first, hidden, gate_width, T(1), d_gates + (first * steps + t) * gate_width,
              steps * gate_width, w_hh.data(), hidden, T(0), d_h_from_gates + first * hidden, hidden);
      if (!cache.lengths.empty())
        for (std::int64_t b = first; b < last; ++b)
          if (cache.is_valid(b, t)) std::copy_n(d_h_from_gates + b * hidden, hidden, d_h + b * hidden);
    }
  });

  // Whole-sequence products, one GEMM each over all batch*steps rows.
  std::vector<Tensor<T>> gradients(inputs.size());
  if (inputs[0].requires_grad()) {  // (B11) dX = dA W_ih
    const Tensor<T> w_ih = dense_values(inputs[1]);
    Tensor<T> input_gradient({batch, steps, input_size});
    gemm<T>(false, false, rows, input_size, gate_width, T(1), d_gates, gate_width, w_ih.data(), input_size, T(0),
            input_gradient.data(), input_size);
    gradients[0] = input_gradient;
  }
  if (inputs[1].requires_grad()) {  // (B9) dW_ih = sum_t dA_t^T x_t = dA^T X
    const Tensor<T> x = dense_values(inputs[0]);
    Tensor<T> weight_ih_gradient({gate_width, input_size});
    gemm<T>(true, false, gate_width, input_size, rows, T(1), d_gates, gate_width, x.data(), input_size, T(0),
            weight_ih_gradient.data(), input_size);
    gradients[1] = weight_ih_gradient;
  }
  if (inputs[2].requires_grad()) {  // (B10) dW_hh = sum_t dA_t^T h_{t-1} = dA^T H_prev
    Tensor<T> weight_hh_gradient({gate_width, hidden});
    gemm<T>(true, false, gate_width, hidden, rows, T(1), d_gates, gate_width, cache.hidden_previous.data(), hidden,
            T(0), weight_hh_gradient.data(), hidden);
    gradients[2] = weight_hh_gradient;
  }
  if (inputs[3].defined() && (inputs[3].requires_grad() || inputs[4].requires_grad())) {
    // (B12) db_ih = db_hh = sum of dA over all rows (both biases enter A the same way)
    Tensor<T> bias_gradient = zeros<T>({gate_width});
    T* const d_bias = bias_gradient.data();
    for (std::int64_t row = 0; row < rows; ++row)
      for (std::int64_t j = 0; j < gate_width; ++j) d_bias[j] += d_gates[row * gate_width + j];
    gradients[3] = bias_gradient;
    gradients[4] = bias_gradient;
  }
  gradients[5] = h_gradient;  // dL/dh0, dL/dc0: what flowed out of step 0
  gradients[6] = c_gradient;
  return gradients;
}

/// Backpropagation through time on a CUDA device: the same steps as lstm_layer_backward, with
/// kernels/lstm.cu's step kernel for the elementwise part and cuBLAS for every product.
template <FloatingElement T>
std::vector<Tensor<T>> lstm_layer_backward_on_device(const LSTMLayerCache<T>& cache, const IndexTensor& lengths,
                                                     const Tensor<T>& packed_gradient,
                                                     const std::vector<Tensor<T>>& inputs) {
  const Device device = packed_gradient.device();
#if defined(NABLA_WITH_CUDA)
  namespace cuda = backend::cuda;
  using backend::device_data;
  const int index = device.index();
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  const Tensor<T> gradient = dense_values(packed_gradient);
  const Tensor<T> w_hh = dense_values(inputs[2]);
  const std::int64_t* const lengths_data = lengths.defined() ? device_data(lengths) : nullptr;

  // dL/dh and dL/dc of the state flowing down from step t+1; at the top, those of h_n, c_n.
  const Shape state_shape{batch, hidden};
  const Strides state_strides = contiguous_strides(state_shape);
  Tensor<T> h_gradient = nabla::detail::copy_values(
      Tensor<T>(gradient.storage(), state_shape, state_strides, gradient.offset() + rows * hidden));
  Tensor<T> c_gradient = nabla::detail::copy_values(
      Tensor<T>(gradient.storage(), state_shape, state_strides, gradient.offset() + (rows + batch) * hidden));
  Tensor<T> gates_gradient = backend::empty<T>({batch, steps, gate_width}, device);
  // With padding, dh of padded rows must survive the GEMM below, which writes elsewhere first.
  Tensor<T> h_gradient_from_gates = lengths.defined() ? backend::empty<T>(state_shape, device) : h_gradient;

  cuda::LSTMStepArguments<T> step;
  step.batch = batch;
  step.steps = steps;
  step.hidden = hidden;
  step.lengths = lengths_data;
  step.gates = device_data(cache.gates);
  step.cell_previous = device_data(cache.cell_previous);
  step.cell_tanh = device_data(cache.cell_tanh);
  step.output_gradient = device_data(gradient);
  step.hidden_gradient = device_data(h_gradient);
  step.cell_gradient = device_data(c_gradient);
  step.gates_gradient = device_data(gates_gradient);
  for (std::int64_t t = steps; t-- > 0;) {
    step.t = t;
    cuda::lstm_backward_step(step, index);
    // (B8) dh_{t-1} = dA_t W_hh: [batch, 4 hidden] x [4 hidden, hidden], rows `steps` apart.
    cuda::gemm<T>(false, false, batch, hidden, gate_width, T(1), step.gates_gradient + t * gate_width,
                  steps * gate_width, 0, device_data(w_hh), hidden, 0, T(0), device_data(h_gradient_from_gates), hidden,
                  0, 1, index);
    if (lengths.defined())
      cuda::lstm_keep_valid_hidden_gradient(device_data(h_gradient), device_data(h_gradient_from_gates), lengths_data,
                                            batch, hidden, t, index);
  }

  std::vector<Tensor<T>> gradients(inputs.size());
  const T* const d_gates = device_data(gates_gradient);
  if (inputs[0].requires_grad()) {  // (B11) dX = dA W_ih
    const Tensor<T> w_ih = dense_values(inputs[1]);
    Tensor<T> input_gradient = backend::empty<T>({batch, steps, input_size}, device);
    cuda::gemm<T>(false, false, rows, input_size, gate_width, T(1), d_gates, gate_width, 0, device_data(w_ih),
                  input_size, 0, T(0), device_data(input_gradient), input_size, 0, 1, index);
    gradients[0] = input_gradient;
  }
  if (inputs[1].requires_grad()) {  // (B9) dW_ih = dA^T X
    const Tensor<T> x = dense_values(inputs[0]);
    Tensor<T> weight_ih_gradient = backend::empty<T>({gate_width, input_size}, device);
    cuda::gemm<T>(true, false, gate_width, input_size, rows, T(1), d_gates, gate_width, 0, device_data(x), input_size,
                  0, T(0), device_data(weight_ih_gradient), input_size, 0, 1, index);
    gradients[1] = weight_ih_gradient;
  }
  if (inputs[2].requires_grad()) {  // (B10) dW_hh = dA^T H_prev
    Tensor<T> weight_hh_gradient = backend::empty<T>({gate_width, hidden}, device);
    cuda::gemm<T>(true, false, gate_width, hidden, rows, T(1), d_gates, gate_width, 0,
                  device_data(cache.hidden_previous), hidden, 0, T(0), device_data(weight_hh_gradient), hidden, 0, 1,
                  index);
    gradients[2] = weight_hh_gradient;
  }
  if (inputs[3].defined() && (inputs[3].requires_grad() || inputs[4].requires_grad())) {
    // (B12) db_ih = db_hh = sum of dA over all rows
    Tensor<T> bias_gradient = backend::empty<T>({gate_width}, device);
    backend::sum(gates_gradient.view({rows, gate_width}), {true, false}, bias_gradient);
    gradients[3] = bias_gradient;
    gradients[4] = bias_gradient;
  }
  gradients[5] = h_gradient;  // dL/dh0, dL/dc0: what flowed out of step 0
  gradients[6] = c_gradient;
  return gradients;
#else
  (void)cache, (void)lengths, (void)inputs;
  backend::throw_no_cuda("lstm_layer_fused backward", device);
#endif
}

/// The forward of lstm_layer_fused on a CUDA device (arguments checked by the caller).
template <FloatingElement T>
LSTMResult<T> lstm_layer_fused_on_device(LSTMLayerCache<T> cache, const Tensor<T>& input, const Tensor<T>& h0,
                                         const Tensor<T>& c0, const Tensor<T>& weight_ih, const Tensor<T>& weight_hh,
                                         const Tensor<T>& bias_ih, const Tensor<T>& bias_hh) {
  const Device device = input.device();
#if defined(NABLA_WITH_CUDA)
  namespace cuda = backend::cuda;
  using backend::device_data;
  const int index = device.index();
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  cache.gates = backend::empty<T>({batch, steps, gate_width}, device);
  cache.hidden_previous = backend::empty<T>({batch, steps, hidden}, device);
  cache.cell_previous = backend::empty<T>({batch, steps, hidden}, device);
  cache.cell_tanh = backend::empty<T>({batch, steps, hidden}, device);
  // The lengths go to the device once; the kernels read them there.
  const IndexTensor lengths =
      cache.lengths.empty()
          ? IndexTensor()
          : from_vector<std::int64_t>(cache.lengths, {static_cast<std::int64_t>(cache.lengths.size())}).to(device);

  const Tensor<T> x = dense_values(input);
  const Tensor<T> w_ih = dense_values(weight_ih), w_hh = dense_values(weight_hh);
  Tensor<T> bias = backend::empty<T>({gate_width}, device);  // b_ih + b_hh
  if (bias_ih.defined())
    backend::map(bias, backend::Add{}, bias_ih.detach(), bias_hh.detach());
  else
    backend::map(bias, backend::Fill<T>{T(0)});
  // The node's one output packs [output (batch*steps*hidden) | h_n (batch*hidden) | c_n].
  Tensor<T> packed = backend::empty<T>({(rows + 2 * batch) * hidden}, device);

  // A = X W_ih^T for every step at once: [batch*steps, input_size] x [input_size, 4 hidden].
  cuda::gemm<T>(false, true, rows, gate_width, input_size, T(1), device_data(x), input_size, 0, device_data(w_ih),
                input_size, 0, T(0), device_data(cache.gates), gate_width, 0, 1, index);
  // h0, c0 into the rows of step 0 (rows b * steps): strided views of the caches.
  const Shape state_shape{batch, hidden};
  const Strides first_step_rows{steps * hidden, 1};
  Tensor<T> h_start(cache.hidden_previous.storage(), state_shape, first_step_rows, 0);
  Tensor<T> c_start(cache.cell_previous.storage(), state_shape, first_step_rows, 0);
  backend::map(h_start, backend::Identity{}, h0.detach());
  backend::map(c_start, backend::Identity{}, c0.detach());

  cuda::LSTMStepArguments<T> step;
  step.batch = batch;
  step.steps = steps;
  step.hidden = hidden;
  step.lengths = lengths.defined() ? device_data(lengths) : nullptr;
  step.gates = device_data(cache.gates);
  step.bias = device_data(bias);
  step.hidden_previous = device_data(cache.hidden_previous);
  step.cell_previous = device_data(cache.cell_previous);
  step.cell_tanh = device_data(cache.cell_tanh);
  step.output = device_data(packed);
  step.h_final = step.output + rows * hidden;
  step.c_final = step.h_final + batch * hidden;
  for (std::int64_t t = 0; t < steps; ++t) {
    // A_t += h_{t-1} W_hh^T: [batch, hidden] x [hidden, 4 hidden], rows `steps` apart.
    cuda::gemm<T>(false, true, batch, gate_width, hidden, T(1), step.hidden_previous + t * hidden, steps * hidden, 0,
                  device_data(w_hh), hidden, 0, T(1), step.gates + t * gate_width, steps * gate_width, 0, 1, index);
    step.t = t;
    cuda::lstm_forward_step(step, index);
  }

  // dL/d(input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0) by BPTT, docs/lstm.md (B1)-(B12)
  record_op<T>(packed, "lstm_layer_fused", {input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0},
               [cache, lengths](const Tensor<T>& packed_gradient, const std::vector<Tensor<T>>& inputs) {
                 return lstm_layer_backward_on_device(cache, lengths, packed_gradient, inputs);
               },
               {input, weight_ih, weight_hh});

  return {packed.narrow(0, 0, rows * hidden).view({batch, steps, hidden}),
          packed.narrow(0, rows * hidden, batch * hidden).view(state_shape),
          packed.narrow(0, (rows + batch) * hidden, batch * hidden).view(state_shape)};
#else
  (void)cache, (void)h0, (void)c0, (void)weight_ih, (void)weight_hh, (void)bias_ih, (void)bias_hh;
  backend::throw_no_cuda("lstm_layer_fused", device);
#endif
}

}  // namespace detail

/// One LSTM layer, fused: same arguments and result as lstm_layer_composed.
template <FloatingElement T>
LSTMResult<T> lstm_layer_fused(const Tensor<T>& input, const Tensor<T>& h0, const Tensor<T>& c0,
                               const Tensor<T>& weight_ih, const Tensor<T>& weight_hh, const Tensor<T>& bias_ih,
                               const Tensor<T>& bias_hh, const std::vector<std::int64_t>& lengths = {}) {
  detail::check_lstm_layer_arguments("lstm_layer_fused", input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                                     lengths);
  detail::LSTMLayerCache<T> cache;
  cache.batch = input.size(0);
  cache.steps = input.size(1);
  cache.input_size = input.size(2);
  cache.hidden = weight_hh.size(1);
  cache.lengths = lengths;
  if (input.device().is_cuda())
    return detail::lstm_layer_fused_on_device(cache, input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh);
  const std::int64_t batch = cache.batch, steps = cache.steps, hidden = cache.hidden;
  const std::int64_t input_size = cache.input_size, gate_width = cache.gate_width();
  const std::int64_t rows = batch * steps;
  cache.gates = Tensor<T>({batch, steps, gate_width});
  cache.hidden_previous = Tensor<T>({batch, steps, hidden});
  cache.cell_previous = Tensor<T>({batch, steps, hidden});
  cache.cell_tanh = Tensor<T>({batch, steps, hidden});

  const Tensor<T> x = detail::dense_values(input);
  const Tensor<T> w_ih = detail::dense_values(weight_ih), w_hh = detail::dense_values(weight_hh);
  const Tensor<T> h_initial = detail::dense_values(h0), c_initial = detail::dense_values(c0);
  std::vector<T> bias(static_cast<std::size_t>(gate_width), T(0));  // b_ih + b_hh
  if (bias_ih.defined()) {
    const std::vector<T> b_ih = bias_ih.to_vector(), b_hh = bias_hh.to_vector();
    for (std::size_t j = 0; j < bias.size(); ++j) bias[j] = b_ih[j] + b_hh[j];
  }
  // The node's one output packs [output (batch*steps*hidden) | h_n (batch*hidden) | c_n].
  Tensor<T> packed({(rows + 2 * batch) * hidden});
  T* const output = packed.data();
  T* const h_final = output + rows * hidden;
  T* const c_final = h_final + batch * hidden;

  // A = X W_ih^T for every step at once: [batch*steps, input_size] x [input_size, 4 hidden].
  backend::cpu::gemm<T>(false, true, rows, gate_width, input_size, T(1), x.data(), input_size, w_ih.data(), input_size,
                        T(0), cache.gates.data(), gate_width);
  for (std::int64_t b = 0; b < batch; ++b) {
    std::copy_n(h_initial.data() + b * hidden, hidden, cache.hidden_previous.data() + b * steps * hidden);
    std::copy_n(c_initial.data() + b * hidden, hidden, cache.cell_previous.data() + b * steps * hidden);
  }
  // Sequences are independent, so each thread can run every step for its own band of the
  // batch: the loop over time then has no fork/join and no barrier per step.
  backend::cpu::parallel_for(0, batch, cache.recurrence_grain(), [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t t = 0; t < steps; ++t) {
      // A_t += h_{t-1} W_hh^T: [batch, hidden] x [hidden, 4 hidden], rows `steps` apart.
      backend::cpu::gemm<T>(false, true, last - first, gate_width, hidden, T(1),
                            cache.hidden_previous.data() + (first * steps + t) * hidden, steps * hidden, w_hh.data(),
                            hidden, T(1), cache.gates.data() + (first * steps + t) * gate_width, steps * gate_width);
      detail::lstm_forward_step(cache, t, first, last, bias.data(), output, h_final, c_final);
    }
  });

  // dL/d(input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0) by BPTT, docs/lstm.md (B1)-(B12)
  record_op<T>(packed, "lstm_layer_fused", {input, weight_ih, weight_hh, bias_ih, bias_hh, h0, c0},
               [cache](const Tensor<T>& packed_gradient, const std::vector<Tensor<T>>& inputs) {
                 return detail::lstm_layer_backward(cache, packed_gradient, inputs);
               },
               {input, weight_ih, weight_hh});

  const Shape state_shape{batch, hidden};
  return {packed.narrow(0, 0, rows * hidden).view({batch, steps, hidden}),
          packed.narrow(0, rows * hidden, batch * hidden).view(state_shape),
          packed.narrow(0, (rows + batch) * hidden, batch * hidden).view(state_shape)};
}

}  // namespace nabla::nn
