// nabla/backend/lstm.hpp - the device-specific pieces of the fused LSTM (nn/lstm_fused.hpp):
// the per-step elementwise kernels, the products on strided rows, and how the recurrence is
// scheduled. The layer has one forward and one BPTT driver; these pick backend/cpu/lstm.hpp
// and backend/cpu/gemm.hpp, or kernels/lstm.cu and cuBLAS.
//
// The recurrence runs in bands of sequences (lstm_recurrence): the driver's body(first, last)
// runs every step for sequences [first, last), on arguments narrowed to them by lstm_band.
// On the CPU small layers run in parallel bands, one per thread, with no fork/join per step
// (docs/lstm.md); on CUDA there is one band, the whole batch, and each launch covers it.
#pragma once

#include <cstdint>
#include <optional>

#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/lstm.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

namespace lstm_detail {
template <typename P>
P* advance(P* pointer, std::int64_t count) {
  return pointer == nullptr ? pointer : pointer + count;
}
}  // namespace lstm_detail

/// The arguments of sequences [first, last) only: every per-sequence pointer advanced to
/// sequence `first` (null ones stay null), batch = last - first.
template <typename T>
LSTMStepArguments<T> lstm_band(const LSTMStepArguments<T>& a, std::int64_t first, std::int64_t last) {
  using lstm_detail::advance;
  const std::int64_t state = first * a.hidden, rows = first * a.steps * a.hidden;
  LSTMStepArguments<T> band = a;
  band.batch = last - first;
  band.lengths = advance(a.lengths, first);
  band.gates = advance(a.gates, 4 * rows);
  band.gates_gradient = advance(a.gates_gradient, 4 * rows);
  band.hidden_previous = advance(a.hidden_previous, rows);
  band.cell_previous = advance(a.cell_previous, rows);
  band.cell_tanh = advance(a.cell_tanh, rows);
  band.output = advance(a.output, rows);
  band.output_gradient = advance(a.output_gradient, rows);
  band.h_final = advance(a.h_final, state);
  band.c_final = advance(a.c_final, state);
  band.hidden_gradient = advance(a.hidden_gradient, state);
  band.cell_gradient = advance(a.cell_gradient, state);
  return band;
}

/// Runs body(first, last) over bands of sequences covering [0, batch) for a layer of `hidden`
/// units on `device`: the CPU's bands (backend/cpu/lstm.hpp: lstm_recurrence), else one band.
/// `body` must not throw on the CPU (it may run on several threads).
template <typename Body>
void lstm_recurrence(Device device, std::int64_t batch, std::int64_t hidden, const Body& body) {
  if (device.is_cpu()) {
    cpu::lstm_recurrence(batch, hidden, body);
    return;
  }
  body(std::int64_t{0}, batch);
}

/// C = alpha * op(A) * op(B) + beta * C on `device`, for row-major matrices given by pointers
/// and row strides (backend/cpu/gemm.hpp's convention): the LSTM's products read and write
/// the rows of one step, `steps` rows apart, in place.
template <typename T>
void lstm_gemm(Device device, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
               const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (device.is_cpu()) {
    cpu::gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1, device.index());
#else
  throw_no_cuda("lstm_layer_fused", device);
#endif
}

/// The recurrence's product with W_hh for every step of one pass on `device`: C = A op(W) +
/// beta C, op(W) [k, n] (backend/cpu/lstm.hpp: LSTMRecurrentProduct). On the CPU, float W_hh is
/// packed once per pass for backend/cpu/packed_gemm.hpp where that wins; elsewhere each call
/// is a lstm_gemm.
template <typename T>
class LSTMRecurrentProduct {
 public:
  LSTMRecurrentProduct(Device device, bool trans_w, std::int64_t k, std::int64_t n, const T* w, std::int64_t ldw,
                       std::int64_t rows)
      : device_(device), trans_w_(trans_w), k_(k), n_(n), w_(w), ldw_(ldw) {
    if (device.is_cpu()) cpu_.emplace(trans_w, k, n, w, ldw, rows);
  }

  /// C[m, n] = A[m, k] op(W) + beta C, rows of A and C lda and ldc apart.
  void operator()(std::int64_t m, const T* a, std::int64_t lda, T beta, T* c, std::int64_t ldc) const {
    if (cpu_) {
      (*cpu_)(m, a, lda, beta, c, ldc);
      return;
    }
    lstm_gemm<T>(device_, false, trans_w_, m, n_, k_, T(1), a, lda, w_, ldw_, beta, c, ldc);
  }

 private:
  Device device_;
  bool trans_w_;
  std::int64_t k_, n_;
  const T* w_;
  std::int64_t ldw_;
  std::optional<cpu::LSTMRecurrentProduct<T>> cpu_;
};

/// The elementwise part of step a.t for the a.batch sequences of `a` (equations (1)-(7)).
template <typename T>
void lstm_forward_step(Device device, const LSTMStepArguments<T>& a) {
  if (device.is_cpu()) {
    cpu::lstm_forward_step(a);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::lstm_forward_step(a, device.index());
#else
  throw_no_cuda("lstm_layer_fused", device);
#endif
}

/// The elementwise part of the backward of step a.t (equations (B1)-(B7)).
template <typename T>
void lstm_backward_step(Device device, const LSTMStepArguments<T>& a) {
  if (device.is_cpu()) {
    cpu::lstm_backward_step(a);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::lstm_backward_step(a, device.index());
#else
  throw_no_cuda("lstm_layer_fused backward", device);
#endif
}

/// hidden_gradient[b, :] = from_gates[b, :] for the `batch` sequences with t < lengths[b].
template <typename T>
void lstm_keep_valid_hidden_gradient(Device device, T* hidden_gradient, const T* from_gates,
                                     const std::int64_t* lengths, std::int64_t batch, std::int64_t hidden,
                                     std::int64_t t) {
  if (device.is_cpu()) {
    cpu::lstm_keep_valid_hidden_gradient(hidden_gradient, from_gates, lengths, batch, hidden, t);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::lstm_keep_valid_hidden_gradient(hidden_gradient, from_gates, lengths, batch, hidden, t, device.index());
#else
  throw_no_cuda("lstm_layer_fused backward", device);
#endif
}

/// (B12) out ([4 hidden], contiguous) = the sum of the contiguous [batch, steps, 4 hidden]
/// gates_gradient over its batch and step dims.
template <typename T>
void lstm_bias_gradient(const Tensor<T>& gates_gradient, Tensor<T>& out) {
  const Shape rows_shape{gates_gradient.size(0) * gates_gradient.size(1), gates_gradient.size(2)};
  if (gates_gradient.device().is_cpu()) {
    cpu::lstm_bias_gradient(device_data(gates_gradient), rows_shape[0], rows_shape[1], device_data(out));
    return;
  }
  // The rows of every step as one [batch * steps, 4 hidden] matrix, summed by the device's kernel.
  const Tensor<T> rows(gates_gradient.storage(), rows_shape, contiguous_strides(rows_shape), gates_gradient.offset());
  sum(rows, {true, false}, out);
}

}  // namespace nabla::backend
