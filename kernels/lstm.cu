// kernels/lstm.cu: the elementwise part of one step of the fused LSTM (nn/lstm_fused.hpp),
// forward and backward, in one launch per step. cuBLAS does the GEMMs around them; these
// kernels run backend/lstm_math.hpp's per-unit functions, the very lines the CPU runs.
//
// Buffers hold one row per (sequence b, step t) at row b * steps + t (see lstm_fused.hpp);
// thread (b, j) handles hidden unit j of sequence b, i.e. gate columns j, H + j, 2H + j,
// 3H + j of its row: no two threads touch the same element.
#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/lstm_math.hpp"

namespace nabla::backend::cuda {

namespace {

__device__ inline bool is_valid_step(const std::int64_t* lengths, std::int64_t b, std::int64_t t) {
  return lengths == nullptr || t < lengths[b];
}

template <typename T>
__global__ void lstm_forward_step_kernel(LSTMStepArguments<T> a) {
  const std::int64_t hidden = a.hidden, gate_width = 4 * hidden, count = a.batch * hidden;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride()) {
    const std::int64_t b = i / hidden, j = i % hidden;
    const std::int64_t row = b * a.steps + a.t;
    T* const gate = a.gates + row * gate_width;
    const T h_previous = a.hidden_previous[row * hidden + j];
    const T c_previous = a.cell_previous[row * hidden + j];
    const bool last = a.t + 1 == a.steps;
    T* const h_next = last ? a.h_final + b * hidden : a.hidden_previous + (row + 1) * hidden;
    T* const c_next = last ? a.c_final + b * hidden : a.cell_previous + (row + 1) * hidden;
    if (!is_valid_step(a.lengths, b, a.t)) {  // (7) padding: carry the state, output zero
      h_next[j] = h_previous;
      c_next[j] = c_previous;
      a.output[row * hidden + j] = T(0);
      for (int k = 0; k < 4; ++k) gate[k * hidden + j] = T(0);
      a.cell_tanh[row * hidden + j] = T(0);
      continue;
    }
    // (1)-(6), bias added here
    const auto cell = lstm_cell_forward<T>(gate[j] + a.bias[j], gate[hidden + j] + a.bias[hidden + j],
                                           gate[2 * hidden + j] + a.bias[2 * hidden + j],
                                           gate[3 * hidden + j] + a.bias[3 * hidden + j], c_previous);
    gate[j] = cell.input_gate;
    gate[hidden + j] = cell.forget_gate;
    gate[2 * hidden + j] = cell.candidate;
    gate[3 * hidden + j] = cell.output_gate;
    a.cell_tanh[row * hidden + j] = cell.cell_tanh;
    a.output[row * hidden + j] = cell.hidden;
    h_next[j] = cell.hidden;
    c_next[j] = cell.cell;
  }
}

template <typename T>
__global__ void lstm_backward_step_kernel(LSTMStepArguments<T> a) {
  const std::int64_t hidden = a.hidden, gate_width = 4 * hidden, count = a.batch * hidden;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride()) {
    const std::int64_t b = i / hidden, j = i % hidden;
    const std::int64_t row = b * a.steps + a.t;
    T* const d_gate = a.gates_gradient + row * gate_width;
    if (!is_valid_step(a.lengths, b, a.t)) {  // (7) padding: dh and dc pass to step t-1 unchanged
      for (int k = 0; k < 4; ++k) d_gate[k * hidden + j] = T(0);
      continue;
    }
    const T* const gate = a.gates + row * gate_width;
    T& d_c = a.cell_gradient[b * hidden + j];
    const auto cell = lstm_cell_backward<T>(
        gate[j], gate[hidden + j], gate[2 * hidden + j], gate[3 * hidden + j], a.cell_previous[row * hidden + j],
        a.cell_tanh[row * hidden + j], a.hidden_gradient[b * hidden + j] + a.output_gradient[row * hidden + j], d_c);
    d_gate[j] = cell.pre_input;
    d_gate[hidden + j] = cell.pre_forget;
    d_gate[2 * hidden + j] = cell.pre_candidate;
    d_gate[3 * hidden + j] = cell.pre_output;
    d_c = cell.cell_previous;
  }
}

// With padding: dh_{t-1} = the GEMM's result for sequences valid at t, else dh unchanged.
template <typename T>
__global__ void lstm_keep_valid_kernel(T* hidden_gradient, const T* from_gates, const std::int64_t* lengths,
                                       std::int64_t batch, std::int64_t hidden, std::int64_t t) {
  const std::int64_t count = batch * hidden;
  for (std::int64_t i = detail::global_thread_index(); i < count; i += detail::grid_stride())
    if (t < lengths[i / hidden]) hidden_gradient[i] = from_gates[i];
}

}  // namespace

template <typename T>
void lstm_forward_step(const LSTMStepArguments<T>& arguments, int device) {
  const std::int64_t count = arguments.batch * arguments.hidden;
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, lstm_forward_step_kernel<T>, "lstm_forward_step_kernel", stream, arguments);
}

template <typename T>
void lstm_backward_step(const LSTMStepArguments<T>& arguments, int device) {
  const std::int64_t count = arguments.batch * arguments.hidden;
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, lstm_backward_step_kernel<T>, "lstm_backward_step_kernel", stream, arguments);
}

template <typename T>
void lstm_keep_valid_hidden_gradient(T* hidden_gradient, const T* from_gates, const std::int64_t* lengths,
                                     std::int64_t batch, std::int64_t hidden, std::int64_t t, int device) {
  const std::int64_t count = batch * hidden;
  if (count <= 0) return;
  const cudaStream_t stream = detail::use_device(device);
  detail::launch_over(count, lstm_keep_valid_kernel<T>, "lstm_keep_valid_kernel", stream, hidden_gradient, from_gates,
                      lengths, batch, hidden, t);
}

template void lstm_forward_step<float>(const LSTMStepArguments<float>&, int);
template void lstm_forward_step<double>(const LSTMStepArguments<double>&, int);
template void lstm_backward_step<float>(const LSTMStepArguments<float>&, int);
template void lstm_backward_step<double>(const LSTMStepArguments<double>&, int);
template void lstm_keep_valid_hidden_gradient<float>(float*, const float*, const std::int64_t*, std::int64_t,
                                                     std::int64_t, std::int64_t, int);
template void lstm_keep_valid_hidden_gradient<double>(double*, const double*, const std::int64_t*, std::int64_t,
                                                      std::int64_t, std::int64_t, int);

}  // namespace nabla::backend::cuda
