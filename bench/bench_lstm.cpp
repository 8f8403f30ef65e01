// LSTM forward + backward, fused (hand-written BPTT) vs composed (autograd over primitives).
//
// Config of the issue: batch 32, 35 steps, input 128, hidden 256, float, one layer, the whole
// output sequence fed a gradient of ones. The argument is the thread count.
// Counters: tokens/s (batch * steps per iteration) and GFLOP/s of the GEMMs
// (forward 2*B*S*4H*(I+H), backward twice that).
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

}  // namespace

BENCHMARK(BM_LSTMForwardBackwardFused)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardBackwardComposed)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardFused)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LSTMForwardComposed)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
