// LSTM forward + backward, fused (hand-written BPTT) vs composed (autograd over primitives).
//
// Config of the issue: batch 32, 35 steps, input 128, hidden 256, float, one layer, the whole
// output sequence fed a gradient of ones. The argument is the thread count.
// Counters: tokens/s (batch * steps per iteration) and GFLOP/s of the GEMMs
// (forward 2*B*S*4H*(I+H), backward twice that).
//
// BM_LSTMRecurrentPass: one pass of the recurrence alone, in place (the layer's strided rows),
// 35 steps for a band of `rows` sequences on 1 thread: the product with W_hh (forward: W_hh^T,
// beta 1 into the gates; backward: W_hh, beta 0) through oneDNN's gemm, packed_gemm with the
// per-pass packing included, or packed_gemm reading W_hh in place (backward only), each followed
// (forward) or preceded (backward) by the step's elementwise pass. Arguments: direction (0
// forward, 1 backward), rows, hidden, product (0 gemm, 1 packed, 2 in place). Use the cpu
// column (CPU time) on a shared machine.
//
// Build by hand:
//   g++ -std=c++20 -O3 -march=native -fopenmp -Iinclude -isystem /usr/include/eigen3
//       bench/bench_lstm.cpp -lbenchmark -lpthread -o bench_lstm      (one line)
//   ./bench_lstm --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <nabla/nabla.hpp>

namespace nb = nabla;

namespace {

constexpr std::int64_t kBatch = 32, kSteps = 35, kInput = 128, kHidden = 256;

void set_counters(benchmark::State& state, double flops_per_iteration) {
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(kBatch * kSteps), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

double forward_flops() { return 2.0 * kBatch * kSteps * 4 * kHidden * (kInput + kHidden); }

void lstm_forward_backward(benchmark::State& state, nb::nn::LSTMImplementation implementation) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  nb::nn::LSTM<float> lstm(kInput, kHidden, {.return_sequences = true, .implementation = implementation, .seed = 1});
  nb::Tensor<float> input = nb::randn<float>({kBatch, kSteps, kInput}, 2);
  input.requires_grad_(true);  // as after an Embedding: dX is part of the work
  const nb::Tensor<float> output_gradient = nb::ones<float>({kBatch, kSteps, kHidden});
  for (auto _ : state) {
    const nb::Tensor<float> output = lstm(input);
    output.backward(output_gradient);
    benchmark::DoNotOptimize(input.grad().data());
    lstm.zero_grad();
    input.zero_grad();
  }
  set_counters(state, 3 * forward_flops());
}

void lstm_forward(benchmark::State& state, nb::nn::LSTMImplementation implementation) {
  nb::set_num_threads(static_cast<int>(state.range(0)));
  nb::nn::LSTM<float> lstm(kInput, kHidden, {.return_sequences = true, .implementation = implementation, .seed = 1});
  const nb::Tensor<float> input = nb::randn<float>({kBatch, kSteps, kInput}, 2);
  nb::NoGradGuard no_grad;  // inference
  for (auto _ : state) {
    const nb::Tensor<float> output = lstm(input);
    benchmark::DoNotOptimize(output.data());
  }
  set_counters(state, forward_flops());
}

void BM_LSTMForwardBackwardFused(benchmark::State& state) {
  lstm_forward_backward(state, nb::nn::LSTMImplementation::fused);
}
void BM_LSTMForwardBackwardComposed(benchmark::State& state) {
  lstm_forward_backward(state, nb::nn::LSTMImplementation::composed);
}
void BM_LSTMForwardFused(benchmark::State& state) { lstm_forward(state, nb::nn::LSTMImplementation::fused); }
void BM_LSTMForwardComposed(benchmark::State& state) { lstm_forward(state, nb::nn::LSTMImplementation::composed); }

void BM_LSTMRecurrentPass(benchmark::State& state) {
  namespace cpu = nb::backend::cpu;
  const bool backward = state.range(0) != 0;
  const std::int64_t rows = state.range(1), hidden = state.range(2), product = state.range(3);
  const std::int64_t steps = kSteps, gates = 4 * hidden;
  nb::set_num_threads(1);
  // Tensors' storage: 64-byte aligned, as packed_gemm's in-place read needs.
  const auto buffer = [](std::int64_t size, std::uint64_t seed) {
    return nb::uniform<float>({size}, -0.5f, 0.5f, seed);
  };
  nb::Tensor<float> w = buffer(gates * hidden, 1), gate = buffer(rows * steps * gates, 2),
                    gate_input = buffer(rows * steps * gates, 3), d_gate = buffer(rows * steps * gates, 4),
                    cell_previous = buffer(rows * (steps + 1) * hidden, 5),
                    cell_tanh = buffer(rows * steps * hidden, 6), h_previous = buffer(rows * (steps + 1) * hidden, 7),
                    output = buffer(rows * steps * hidden, 8), output_gradient = buffer(rows * steps * hidden, 9),
                    d_h = buffer(rows * hidden, 10), d_c = buffer(rows * hidden, 11),
                    h_final = buffer(rows * hidden, 12), c_final = buffer(rows * hidden, 13), bias = buffer(gates, 14);
  nb::backend::LSTMStepArguments<float> a;
  a.batch = rows;
  a.steps = steps;
  a.hidden = hidden;
  a.gates = gate.data();
  a.bias = bias.data();
  a.hidden_previous = h_previous.data();
  a.cell_previous = cell_previous.data();
  a.cell_tanh = cell_tanh.data();
  a.output = output.data();
  a.h_final = h_final.data();
  a.c_final = c_final.data();
  a.output_gradient = output_gradient.data();
  a.hidden_gradient = d_h.data();
  a.cell_gradient = d_c.data();
  a.gates_gradient = d_gate.data();
  const float* const weight = w.data();
  if (product == 2 && (!backward || !cpu::PackedMatrix::view_possible(hidden, weight, hidden))) {
    state.SkipWithError("in place: backward only, W_hh aligned");
    return;
  }
  cpu::PackedMatrix packed;
  for (auto _ : state) {
    if (!backward) {  // the gates start as the input projection's result
      state.PauseTiming();
      std::copy_n(gate_input.data(), gate_input.numel(), gate.data());
      state.ResumeTiming();
    }
    if (product == 1) packed.pack(!backward, backward ? gates : hidden, backward ? hidden : gates, weight, hidden);
    if (product == 2) packed.view(gates, hidden, weight, hidden);
    for (std::int64_t i = 0; i < steps; ++i) {
      const std::int64_t t = backward ? steps - 1 - i : i;
      a.t = t;
      if (backward) {
        cpu::lstm_backward_step(a);
        const float* const d_gate_t = d_gate.data() + t * gates;
        if (product == 0)
          cpu::gemm<float>(false, false, rows, hidden, gates, 1.f, d_gate_t, steps * gates, weight, hidden, 0.f,
                           d_h.data(), hidden);
        else
          cpu::packed_gemm(rows, d_gate_t, steps * gates, packed, 1.f, 0.f, d_h.data(), hidden);
      } else {
        const float* const h_t = h_previous.data() + t * hidden;
        float* const gate_t = gate.data() + t * gates;
        if (product == 0)
          cpu::gemm<float>(false, true, rows, gates, hidden, 1.f, h_t, steps * hidden, weight, hidden, 1.f, gate_t,
                           steps * gates);
        else
          cpu::packed_gemm(rows, h_t, steps * hidden, packed, 1.f, 1.f, gate_t, steps * gates);
        cpu::lstm_forward_step(a);
      }
    }
    benchmark::DoNotOptimize(d_h.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * steps * gates * hidden) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_LSTMRecurrentPass)
    ->ArgNames({"backward", "rows", "hidden", "product"})
    ->ArgsProduct({{0, 1}, {16, 32}, {256}, {0, 1, 2}})
    ->Args({0, 32, 1024, 0})
    ->Args({0, 32, 1024, 1})
    ->Args({1, 32, 1024, 0})
    ->Args({1, 32, 1024, 1})
    ->Args({1, 32, 1024, 2})
    ->Args({0, 32, 128, 0})
    ->Args({0, 32, 128, 1})
    ->Args({1, 32, 128, 0})
    ->Args({1, 32, 128, 1})
    ->Args({1, 32, 128, 2})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LSTMForwardBackwardFused)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardBackwardComposed)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardFused)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardComposed)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
