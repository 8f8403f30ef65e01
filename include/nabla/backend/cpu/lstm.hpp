// nabla/backend/cpu/lstm.hpp - the elementwise part of one step of the fused LSTM on the CPU
// (kernels/lstm.cu's twin), and the CPU's schedule of the recurrence.
//
// nn/lstm_fused.hpp drives a layer through backend/lstm.hpp; these run one step of it over
// raw buffers. Buffers hold one row per (sequence b, step t) at row b * steps + t (see
// nn/lstm_fused.hpp); docs/lstm.md derives every formula and the comments give their numbers.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/packed_gemm.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/cuda/kernels.hpp"  // LSTMStepArguments: the same buffers on both devices
#include "nabla/backend/lstm_math.hpp"

namespace nabla::backend {

/// The buffers of one step of the fused LSTM, for either device (backend/cuda/kernels.hpp
/// documents each field). The CPU kernels below read `lengths` on the host.
template <typename T>
using LSTMStepArguments = cuda::LSTMStepArguments<T>;

namespace cpu {

/// Batch rows per thread in the elementwise passes. A step's pass is short (tens of
/// microseconds at batch 32, hidden 256), and every parallel region per step is a thread
/// wake-up that a busy machine can delay by milliseconds; so split only large steps.
inline std::int64_t lstm_rows_per_thread(std::int64_t hidden) { return std::max<std::int64_t>(1, 16384 / hidden); }

/// Batch rows per thread when the recurrence runs in independent bands of sequences (each
/// thread loops over all steps for its rows, so there is no fork/join per step). Each band
/// packs all of W_hh for its own GEMM every step, twice the packing of one shared GEMM, so
/// bands pay off for small weights only: bench_lm, 2 threads, medians of 5, bands against
/// per-step splitting: classifier (hidden 128) 89 vs 101 ms, L (256) 141 vs 147 ms, S (128)
/// 12.8 vs 13.6 ms; XL (1024) 1471 vs 1395 ms. hidden 512 is unmeasured: bands up to there.
inline std::int64_t lstm_recurrence_grain(std::int64_t batch, std::int64_t hidden) {
  const bool small_weight = 4 * hidden * hidden <= (std::int64_t{1} << 20);
  return small_weight ? 8 : batch;
}

/// Runs body(first, last) for bands of sequences covering [0, batch): in parallel bands of at
/// least lstm_recurrence_grain rows, each thread running every step for its own rows (the
/// sequences are independent), or as one band on the calling thread.
template <typename Body>
void lstm_recurrence(std::int64_t batch, std::int64_t hidden, const Body& body) {
  parallel_for(0, batch, lstm_recurrence_grain(batch, hidden), body);
}

/// How the recurrence's per-step products choose packed_gemm (backend/cpu/packed_gemm.hpp), from
/// the environment's NABLA_PACKED_GEMM (read once; for A/B timings in one binary): unset or any
/// other value: by measurement (lstm_use_packed_gemm); "0": never (the general GEMM); "all":
/// every product the kernel can run (float, a vector ISA, at most 64 rows), both directions and
/// every hidden size.
enum class LSTMPackedGemmMode { measured, never, always };

inline LSTMPackedGemmMode lstm_packed_gemm_mode() {
  static const LSTMPackedGemmMode mode = [] {
    const char* setting = std::getenv("NABLA_PACKED_GEMM");
    if (setting == nullptr) return LSTMPackedGemmMode::measured;
    const std::string_view value(setting);
    return value == "0"     ? LSTMPackedGemmMode::never
           : value == "all" ? LSTMPackedGemmMode::always
                            : LSTMPackedGemmMode::measured;
  }();
  return mode;
}

/// Whether the recurrence may use packed_gemm at all (NABLA_PACKED_GEMM is not "0").
inline bool lstm_packed_gemm_enabled() { return lstm_packed_gemm_mode() != LSTMPackedGemmMode::never; }

/// Whether a per-step product of at most `rows` rows (the batch; a band has fewer) with op(W) of
/// [k, n] goes through packed_gemm rather than the general GEMM: float on a CPU with a vector
/// kernel (AVX-512F or AVX2 + FMA; the portable kernel is for correctness) and few rows, where
/// the general GEMM spends much of each call packing W again; packed_gemm packs once per pass.
/// bench_gemm_candidates (lstm_recurrent*, 1 thread, CPU time, loaded machine): the forward's
/// W_hh^T 86-93% of peak packed against 53-70% for oneDNN (hidden 256), 70% against 40%
/// (hidden 1024). The backward's W_hh (not transposed) stays with oneDNN, which reads it in
/// place without packing: session 9 timed one backward pass in place (35 steps, 1 thread, CPU
/// time; docs/performance.md, "Session 9: recurrent GEMM") and found the kernel's per-step rate
/// level with oneDNN's (hidden 256, 16 to 32 rows), so the per-pass packing (7-9% of the pass)
/// was the whole loss; read in place (PackedMatrix::view, no copy) it ranged from a few %
/// faster to 15% slower than oneDNN (loaded machine), never clearly ahead.
/// For XL (hidden 1024) the kernel itself is 15-35% slower than oneDNN on W_hh, even with the
/// block-ordered panels that took 15% off. NABLA_PACKED_GEMM=all packs (or views) both
/// directions for A/B runs. Hidden 128 (config S, the classifier) stays with oneDNN too: the
/// products alone measured level or better packed (85 and 98% against 76 and 97%), but
/// bench_lm's whole step of S was 10-25% slower (CPU time, 4 interleaved pairs, loaded
/// machine), not yet explained.
inline bool lstm_use_packed_gemm(std::int64_t rows, bool trans_w, std::int64_t k, std::int64_t n) {
  const std::int64_t hidden = std::min(k, n);
  const LSTMPackedGemmMode mode = lstm_packed_gemm_mode();
  if (mode == LSTMPackedGemmMode::never || best_gemm_isa() == GemmIsa::portable || rows > 64) return false;
  return mode == LSTMPackedGemmMode::always || (hidden >= 256 && trans_w);
}

/// The recurrence's product with W_hh for every step of one pass: C = A op(W) + beta C with
/// op(W) [k, n] fixed for the pass (forward: W_hh^T, k = hidden, n = 4 hidden; backward: W_hh,
/// k = 4 hidden, n = hidden) and A, C the rows of one step. For float with few rows, op(W) is
/// packed once here and every step runs packed_gemm; otherwise each step calls gemm.
template <typename T>
class LSTMRecurrentProduct {
 public:
  /// W is [k, n] with row stride ldw, or [n, k] when trans_w; `rows`: the most rows one call
  /// will have (the batch; a band has fewer).
  LSTMRecurrentProduct(bool trans_w, std::int64_t k, std::int64_t n, const T* w, std::int64_t ldw, std::int64_t rows)
      : trans_w_(trans_w), k_(k), n_(n), w_(w), ldw_(ldw) {
    if constexpr (std::is_same_v<T, float>) {
      packed_ = lstm_use_packed_gemm(rows, trans_w, k, n);
      // The backward's untransposed W_hh needs no copy where its rows suit the kernel's loads.
      if (packed_ && !trans_w && PackedMatrix::view_possible(n, w, ldw))
        packed_w_.view(k, n, w, ldw);
      else if (packed_)
        packed_w_.pack(trans_w, k, n, w, ldw);
    }
  }

  /// C[m, n] = A[m, k] op(W) + beta C, rows of A and C lda and ldc apart. Does not throw.
  void operator()(std::int64_t m, const T* a, std::int64_t lda, T beta, T* c, std::int64_t ldc) const {
    if constexpr (std::is_same_v<T, float>) {
      if (packed_) {
        packed_gemm(m, a, lda, packed_w_, 1.f, beta, c, ldc);
        return;
      }
    }
    gemm<T>(false, trans_w_, m, n_, k_, T(1), a, lda, w_, ldw_, beta, c, ldc);
  }

  bool packed() const { return packed_; }

 private:
  bool trans_w_;
  std::int64_t k_, n_;
  const T* w_;
  std::int64_t ldw_;
  bool packed_ = false;
  PackedMatrix packed_w_;
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
template <typename T>
void lstm_forward_row(std::int64_t hidden, const T* bias, T* gate, const T* c_previous, T* tanh_c, T* h_out, T* h_next,
                      T* c_next) {
  if constexpr (std::is_same_v<T, float>) {
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;  // T (float here): dependent, instantiated only where called
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
      const auto cell = lstm_cell_forward<T>(gate[j] + bias[j], gate[hidden + j] + bias[hidden + j],
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
template <typename T>
void lstm_backward_row(std::int64_t hidden, const T* __restrict gate, const T* __restrict c_previous,
                       const T* __restrict tanh_c, const T* __restrict d_out, const T* __restrict d_h,
                       T* __restrict d_c, T* __restrict d_gate) {
  for (std::int64_t j = 0; j < hidden; ++j) {
    const auto cell = lstm_cell_backward<T>(gate[j], gate[hidden + j], gate[2 * hidden + j], gate[3 * hidden + j],
                                            c_previous[j], tanh_c[j], d_h[j] + d_out[j], d_c[j]);
    d_gate[j] = cell.pre_input;
    d_gate[hidden + j] = cell.pre_forget;
    d_gate[2 * hidden + j] = cell.pre_candidate;
    d_gate[3 * hidden + j] = cell.pre_output;
    d_c[j] = cell.cell_previous;
  }
}

/// The elementwise part of step a.t for the a.batch sequences of `a`, equations (1)-(7): turns
/// the pre-activations A_t (GEMM results, without bias) into gates, writes c_t, tanh(c_t), h_t
/// and the output of step t, and hands h_t, c_t to step t+1 (or to h_n, c_n after the last step).
template <typename T>
void lstm_forward_step(const LSTMStepArguments<T>& a) {
  const std::int64_t steps = a.steps, hidden = a.hidden, gate_width = 4 * hidden, t = a.t;
  parallel_for(0, a.batch, lstm_rows_per_thread(hidden), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t row = b * steps + t;
      T* const gate = a.gates + row * gate_width;
      const T* const h_previous = a.hidden_previous + row * hidden;
      const T* const c_previous = a.cell_previous + row * hidden;
      T* const tanh_c = a.cell_tanh + row * hidden;
      T* const h_out = a.output + row * hidden;
      const bool last = t + 1 == steps;
      T* const h_next = last ? a.h_final + b * hidden : a.hidden_previous + (row + 1) * hidden;
      T* const c_next = last ? a.c_final + b * hidden : a.cell_previous + (row + 1) * hidden;
      if (a.lengths != nullptr && t >= a.lengths[b]) {  // (7) padding: carry the state, output zero
        std::copy_n(h_previous, hidden, h_next);
        std::copy_n(c_previous, hidden, c_next);
        std::fill_n(h_out, hidden, T(0));
        std::fill_n(gate, gate_width, T(0));
        std::fill_n(tanh_c, hidden, T(0));
        continue;
      }
      lstm_forward_row(hidden, a.bias, gate, c_previous, tanh_c, h_out, h_next, c_next);
    }
  });
}

/// The elementwise part of the backward of step a.t, equations (B1)-(B7): from dL/dh_t (the
/// carried hidden_gradient plus the output's gradient at t) and dL/dc_t (cell_gradient) to
/// dA_t, written into gates_gradient; cell_gradient becomes dL/dc_{t-1}.
template <typename T>
void lstm_backward_step(const LSTMStepArguments<T>& a) {
  const std::int64_t steps = a.steps, hidden = a.hidden, gate_width = 4 * hidden, t = a.t;
  parallel_for(0, a.batch, lstm_rows_per_thread(hidden), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t row = b * steps + t;
      T* const d_gate = a.gates_gradient + row * gate_width;
      if (a.lengths != nullptr && t >= a.lengths[b]) {  // (7) padding: dh and dc pass to step t-1 unchanged
        std::fill_n(d_gate, gate_width, T(0));
        continue;
      }
      lstm_backward_row(hidden, a.gates + row * gate_width, a.cell_previous + row * hidden, a.cell_tanh + row * hidden,
                        a.output_gradient + row * hidden, a.hidden_gradient + b * hidden, a.cell_gradient + b * hidden,
                        d_gate);
    }
  });
}

/// hidden_gradient[b, :] = from_gates[b, :] for the sequences with t < lengths[b] (the others
/// were padding at t: their dL/dh passes to step t-1 unchanged).
template <typename T>
void lstm_keep_valid_hidden_gradient(T* hidden_gradient, const T* from_gates, const std::int64_t* lengths,
                                     std::int64_t batch, std::int64_t hidden, std::int64_t t) {
  for (std::int64_t b = 0; b < batch; ++b)
    if (t < lengths[b]) std::copy_n(from_gates + b * hidden, hidden, hidden_gradient + b * hidden);
}

/// (B12) out[j] = the sum over all `rows` rows of gates_gradient[row, j], rows in order.
template <typename T>
void lstm_bias_gradient(const T* gates_gradient, std::int64_t rows, std::int64_t gate_width, T* out) {
  std::fill_n(out, gate_width, T(0));
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t j = 0; j < gate_width; ++j) out[j] += gates_gradient[row * gate_width + j];
}

}  // namespace cpu
}  // namespace nabla::backend
