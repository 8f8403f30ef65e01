// nabla on the GPU (float32), built only with NABLA_CUDA (links nabla::cuda):
//
//   elementwise_add/N, unary_tanh/N  add of two tensors and tanh of one, N = 2^24 and 2^26
//                     floats. Counters: GB/s (bytes read + written per second) and
//                     pct_of_bandwidth, the share of the device's theoretical bandwidth
//                     (memory clock x 2 (DDR) x bus width, from cudaDeviceGetAttribute).
//   softmax_cross_entropy  the fused loss over [1120, 10000] logits, forward + backward (the
//                     logits' gradient is zeroed before each call, untimed). GB/s of the nominal
//                     traffic: the logits read twice, their gradient written once.
//   lstm_nabla_forward, lstm_nabla_train   one nn::LSTM layer (fused), input size = hidden,
//                     batch 32/64 x hidden 256/512/1024 x steps 35/100: the forward under
//                     NoGradGuard, and forward + backward with a gradient of ones on the whole
//                     output sequence and dx computed (the input requires grad).
//   lstm_cudnn_forward, lstm_cudnn_train   the same shapes through cuDNN's RNN API
//                     (bench/cudnn_lstm.hpp; FP32 FMA math, no TF32, like nabla), when CMake
//                     found cuDNN (NABLA_BENCH_CUDNN=1). After the run a table prints
//                     nabla's time, cuDNN's and their ratio for every shape.
//   lm_train/S, lm_train/L, lm_inference/S, lm_inference/L   the language models of
//                     bench_lm.cpp (bench/lm_models.hpp), batch 32 x 35 steps, on the GPU: a
//                     training step is forward + cross-entropy + backward + Adam. tokens/s.
//   attention/...    the fused nb::scaled_dot_product_attention (causal), forward and forward +
//                     backward, at the shapes of GPT-2 124M (batch 8, 12 heads, 1024 x 64) and of
//                     bench_lm's gpt_train/S and /M. TFLOP/s counted as FlashAttention does: forward
//                     4 B H T^2 D, halved for causal; forward + backward 3.5x the forward.
//   gpt_train/S, gpt_train/M   bench_lm's GPT configurations on the GPU: forward + cross-entropy +
//                     backward + AdamW. tokens/s.
//
// Timing: each iteration starts on an idle device (backend::cuda::synchronize) and is timed
// with CUDA events on nabla's stream around the host calls that queue the work, then waits for
// the stop event; the time goes to Google Benchmark by SetIterationTime (UseManualTime). Host
// time spent queuing the work counts (an op bound by its launches shows it), the wake-up
// latency of the final wait does not. One untimed call before the loop warms up the caching
// allocator, cuBLAS and cuDNN. A benchmark that throws (a CUDA or cuDNN error) is reported with
// its message ("ERROR OCCURRED") and the others still run.
//
// Without a CUDA device it prints "bench_cuda: skipped: no CUDA device" and exits 0 (but
// --benchmark_list_tests still lists the benchmarks).
//
//   ./build/bench/bench_cuda --benchmark_min_time=0.2
//   ./build/bench/bench_cuda --benchmark_filter=lstm --benchmark_out=cuda.json
//       --benchmark_out_format=json
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <nabla/backend/cuda/memory.hpp>
#include <nabla/backend/cuda/runtime.hpp>
#include <nabla/nabla.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "lm_models.hpp"
#include "run.hpp"
#if NABLA_BENCH_CUDNN
#include "cudnn_lstm.hpp"
#endif

namespace nb = nabla;

namespace {

constexpr nb::Device kGpu = nb::Device::cuda(0);
constexpr std::int64_t kRows = 32 * 35, kClasses = 10000;

void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorString(status));
}

/// The device's theoretical memory bandwidth in bytes/s: memory clock (kHz) x 2 (double data
/// rate) x bus width (bits) / 8. CUDA 13 removed cudaDeviceProp::memoryClockRate, so the clock
/// comes from cudaDeviceGetAttribute. 0 when the runtime does not tell.
double theoretical_bandwidth() {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, kGpu.index()) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, kGpu.index()) != cudaSuccess)
    return 0;
  return 2.0 * static_cast<double>(clock_khz) * 1e3 * static_cast<double>(bus_bits) / 8.0;
}

/// Times one iteration's work with two CUDA events on nabla's stream.
class GpuTimer {
 public:
  GpuTimer() {
    check_cuda(cudaEventCreate(&start_), "cudaEventCreate");
    check_cuda(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;
  ~GpuTimer() {
    (void)cudaEventDestroy(start_);
    (void)cudaEventDestroy(stop_);
  }
  void start() { check_cuda(cudaEventRecord(start_, stream()), "cudaEventRecord"); }
  /// Seconds since start(), once everything queued before this call has run.
  double stop() {
    check_cuda(cudaEventRecord(stop_, stream()), "cudaEventRecord");
    check_cuda(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float milliseconds = 0;
    check_cuda(cudaEventElapsedTime(&milliseconds, start_, stop_), "cudaEventElapsedTime");
    return 1e-3 * static_cast<double>(milliseconds);
  }

 private:
  static cudaStream_t stream() { return static_cast<cudaStream_t>(nb::backend::cuda::stream(kGpu.index())); }
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

/// Runs `work` once untimed (allocator, cuBLAS and cuDNN warm-up), then once per iteration,
/// each timed on an idle device, with `prepare` (untimed) before it. Returns the mean seconds
/// per iteration.
template <typename Work, typename Prepare>
double run_timed(benchmark::State& state, const Work& work, const Prepare& prepare) {
  prepare();
  work();
  GpuTimer timer;
  double total = 0;
  for (auto _ : state) {
    prepare();
    nb::backend::cuda::synchronize(kGpu.index());
    timer.start();
    work();
    const double seconds = timer.stop();
    state.SetIterationTime(seconds);
    total += seconds;
  }
  return total / static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
}

template <typename Work>
double run_timed(benchmark::State& state, const Work& work) {
  return run_timed(state, work, [] {});
}

/// Runs a benchmark body; an exception becomes the benchmark's error message.
template <typename Body>
void guarded(benchmark::State& state, const Body& body) {
  try {
    body();
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
  }
}

/// GB/s and, when the theoretical bandwidth is known, pct_of_bandwidth. The counters are
/// computed here from our own mean time, so they do not depend on how Google Benchmark turns
/// rates into per-second values under manual timing.
void set_bandwidth(benchmark::State& state, double bytes, double seconds) {
  const double rate = bytes / seconds;
  state.counters["GB/s"] = rate * 1e-9;
  static const double peak = theoretical_bandwidth();
  if (peak > 0) state.counters["pct_of_bandwidth"] = 100.0 * rate / peak;
}

void set_rates(benchmark::State& state, double tokens, double flops, double seconds) {
  state.counters["tokens/s"] = tokens / seconds;
  state.counters["GFLOP/s"] = flops * 1e-9 / seconds;
  state.counters["ms"] = seconds * 1e3;
}

// ---- elementwise, loss ------------------------------------------------------------------------

void elementwise_add(benchmark::State& state) {
  guarded(state, [&] {
    const std::int64_t n = state.range(0);
    const nb::Tensor<float> a = nb::randn<float>({n}, 1, kGpu), b = nb::randn<float>({n}, 2, kGpu);
    const double seconds = run_timed(state, [&] { (void)nb::add(a, b); });
    set_bandwidth(state, 3.0 * sizeof(float) * static_cast<double>(n), seconds);
  });
}

void unary_tanh(benchmark::State& state) {
  guarded(state, [&] {
    const std::int64_t n = state.range(0);
    const nb::Tensor<float> a = nb::randn<float>({n}, 1, kGpu);
    const double seconds = run_timed(state, [&] { (void)nb::tanh(a); });
    set_bandwidth(state, 2.0 * sizeof(float) * static_cast<double>(n), seconds);
  });
}

void softmax_cross_entropy(benchmark::State& state) {
  guarded(state, [&] {
    nb::Tensor<float> logits = nb::randn<float>({kRows, kClasses}, 1, kGpu);
    logits.requires_grad_(true);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(kRows));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>((i * 7919) % kClasses);
    const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {kRows}).to(kGpu);
    const double seconds = run_timed(
        state, [&] { nb::loss::cross_entropy(logits, targets).backward(); }, [&] { logits.zero_grad(); });
    set_bandwidth(state, 3.0 * sizeof(float) * static_cast<double>(kRows * kClasses), seconds);
  });
}

// ---- LSTM: nabla and cuDNN --------------------------------------------------------------------

struct LSTMShape {
  std::int64_t batch, hidden, steps;
};

LSTMShape lstm_shape(const benchmark::State& state) { return {state.range(0), state.range(1), state.range(2)}; }

std::string shape_key(const LSTMShape& shape) {
  return "batch " + std::to_string(shape.batch) + ", hidden " + std::to_string(shape.hidden) + ", steps " +
         std::to_string(shape.steps);
}

/// Forward GEMM FLOPs of one layer with input size = hidden: 2 x B x S x 4H x (I + H).
double lstm_forward_flops(const LSTMShape& shape) {
  return 2.0 * static_cast<double>(shape.batch * shape.steps) * 4.0 * static_cast<double>(shape.hidden) *
         static_cast<double>(2 * shape.hidden);
}

/// Mean milliseconds per call of each LSTM benchmark, by shape: [kind] -> {nabla, cuDNN}, for
/// the table main() prints after the run (the last run of a benchmark wins).
struct Comparison {
  double nabla_ms = 0, cudnn_ms = 0;
  bool cudnn_tf32 = false;  // cuDNN ran with CUDNN_DEFAULT_MATH (see make_cudnn_lstm)
};
using ShapeKey = std::tuple<std::int64_t, std::int64_t, std::int64_t>;  // batch, hidden, steps
std::map<std::string, std::map<ShapeKey, Comparison>>& lstm_results() {
  static std::map<std::string, std::map<ShapeKey, Comparison>> results;
  return results;
}
ShapeKey key_of(const LSTMShape& shape) { return {shape.batch, shape.hidden, shape.steps}; }

void lstm_nabla(benchmark::State& state, bool train) {
  guarded(state, [&] {
    const LSTMShape shape = lstm_shape(state);
    nb::nn::LSTM<float> lstm(shape.hidden, shape.hidden, {.return_sequences = true, .seed = 1});
    lstm.to(kGpu);
    nb::Tensor<float> input = nb::randn<float>({shape.batch, shape.steps, shape.hidden}, 2, kGpu);
    double seconds = 0;
    if (train) {
      input.requires_grad_(true);  // as after an Embedding: dx is part of the work
      const nb::Tensor<float> output_gradient = nb::ones<float>({shape.batch, shape.steps, shape.hidden}, kGpu);
      seconds = run_timed(
          state, [&] { lstm(input).backward(output_gradient); },
          [&] {
            lstm.zero_grad();
            input.zero_grad();
          });
    } else {
      nb::NoGradGuard no_grad;
      seconds = run_timed(state, [&] { (void)lstm(input); });
    }
    const double flops = (train ? 3.0 : 1.0) * lstm_forward_flops(shape);
    set_rates(state, static_cast<double>(shape.batch * shape.steps), flops, seconds);
    lstm_results()[train ? "forward + backward" : "forward"][key_of(shape)].nabla_ms = seconds * 1e3;
  });
}

#if NABLA_BENCH_CUDNN
/// A cuDNN layer for `shape`, checked by one untimed training step: FP32 FMA math (no TF32,
/// as nabla's GEMMs) when cuDNN accepts it, else cuDNN's default math, which may use TF32 on
/// Ampere and Hopper; `tf32` then says so (counter tf32_allowed, a * in the table). Only the
/// FMA attempt is retried: an error with the default math is the benchmark's error.
std::unique_ptr<bench::cudnn::LSTMLayer> make_cudnn_lstm(const LSTMShape& shape, bool& tf32) {
  for (const cudnnMathType_t math : {CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH}) {
    try {
      auto layer = std::make_unique<bench::cudnn::LSTMLayer>(
          static_cast<int>(shape.batch), static_cast<int>(shape.steps), static_cast<int>(shape.hidden),
          static_cast<int>(shape.hidden), math);
      layer->forward_training();
      layer->backward();
      layer->zero_weight_gradients();
      check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      tf32 = math == CUDNN_DEFAULT_MATH;
      return layer;
    } catch (const std::exception& error) {
      if (math == CUDNN_DEFAULT_MATH) throw;
      std::fprintf(stderr,
                   "bench_cuda: cuDNN LSTM with CUDNN_FMA_MATH failed (%s); retrying with "
                   "CUDNN_DEFAULT_MATH (TF32 allowed)\n",
                   error.what());
    }
  }
  throw std::logic_error("make_cudnn_lstm: unreachable");
}

void lstm_cudnn(benchmark::State& state, bool train) {
  guarded(state, [&] {
    const LSTMShape shape = lstm_shape(state);
    bool tf32 = false;
    const std::unique_ptr<bench::cudnn::LSTMLayer> layer = make_cudnn_lstm(shape, tf32);
    bench::cudnn::LSTMLayer& lstm = *layer;
    double seconds = 0;
    if (train) {
      seconds = run_timed(
          state,
          [&] {
            lstm.forward_training();
            lstm.backward();
          },
          [&] { lstm.zero_weight_gradients(); });
    } else {
      seconds = run_timed(state, [&] { lstm.forward_inference(); });
    }
    const double flops = (train ? 3.0 : 1.0) * lstm_forward_flops(shape);
    set_rates(state, static_cast<double>(shape.batch * shape.steps), flops, seconds);
    state.counters["workspace_MB"] = static_cast<double>(lstm.workspace_bytes() + lstm.reserve_bytes()) * 1e-6;
    state.counters["tf32_allowed"] = tf32 ? 1 : 0;
    Comparison& comparison = lstm_results()[train ? "forward + backward" : "forward"][key_of(shape)];
    comparison.cudnn_ms = seconds * 1e3;
    comparison.cudnn_tf32 = tf32;
  });
}
#endif

void print_lstm_comparison() {
  if (lstm_results().empty()) return;
  std::printf("\nLSTM layer on the GPU, ms per call (ratio = nabla / cuDNN; > 1: cuDNN is faster)\n");
  std::printf("%-20s %-36s %10s %10s %8s\n", "pass", "shape", "nabla", "cuDNN", "ratio");
  bool any_tf32 = false;
  for (const auto& [kind, shapes] : lstm_results())
    for (const auto& [key, times] : shapes) {
      const auto [batch, hidden, steps] = key;
      std::printf("%-20s %-36s %10.3f ", kind.c_str(), shape_key(LSTMShape{batch, hidden, steps}).c_str(),
                  times.nabla_ms);
      if (times.cudnn_ms > 0 && times.nabla_ms > 0)
        std::printf("%10.3f %8.2f%s\n", times.cudnn_ms, times.nabla_ms / times.cudnn_ms, times.cudnn_tf32 ? " *" : "");
      else
        std::printf("%10s %8s\n", "-", "-");
      any_tf32 = any_tf32 || times.cudnn_tf32;
    }
  if (any_tf32) std::printf("* cuDNN refused CUDNN_FMA_MATH and ran with CUDNN_DEFAULT_MATH (TF32 allowed)\n");
}

// ---- whole language-model steps ---------------------------------------------------------------

void language_model(benchmark::State& state, bench::LanguageModelConfig config, bool train) {
  guarded(state, [&] {
    bench::LanguageModel model(config);
    model.to(kGpu);
    const nb::IndexTensor inputs = bench::random_ids(config.vocabulary, bench::kBatch, bench::kSteps, 4).to(kGpu);
    const nb::IndexTensor targets = bench::random_ids(config.vocabulary, bench::kBatch, bench::kSteps, 5).to(kGpu);
    double seconds = 0;
    if (train) {
      nb::optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-3});  // after to()
      seconds = run_timed(state, [&] {
        const nb::Tensor<float> loss = nb::loss::cross_entropy(model.logits(inputs), targets);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
      });
    } else {
      nb::NoGradGuard no_grad;
      seconds = run_timed(state, [&] { (void)model.logits(inputs); });
    }
    const double tokens = static_cast<double>(bench::kBatch * bench::kSteps);
    set_rates(state, tokens, (train ? 3.0 : 1.0) * bench::forward_flops(config, bench::kBatch * bench::kSteps),
              seconds);
  });
}

// ---- attention and the GPT ---------------------------------------------------------------------

struct AttentionShape {
  const char* name;
  std::int64_t batch, heads, steps, head_dim;
};
constexpr AttentionShape kAttentionShapes[] = {
    {"gpt2_124M", 8, 12, 1024, 64}, {"gpt_S", 32, 4, 64, 32}, {"gpt_M", 8, 6, 256, 64}};

void attention(benchmark::State& state, AttentionShape shape, bool train) {
  guarded(state, [&] {
    const nb::Shape dims{shape.batch, shape.heads, shape.steps, shape.head_dim};
    nb::Tensor<float> q = nb::randn<float>(dims, 1, kGpu), k = nb::randn<float>(dims, 2, kGpu),
                      v = nb::randn<float>(dims, 3, kGpu);
    const nb::AttentionOptions<float> options{.causal = true};
    double seconds = 0;
    if (train) {
      for (nb::Tensor<float>* t : {&q, &k, &v}) t->requires_grad_(true);
      const nb::Tensor<float> output_gradient = nb::randn<float>(dims, 4, kGpu);
      seconds = run_timed(
          state, [&] { nb::scaled_dot_product_attention(q, k, v, options).backward(output_gradient); },
          [&] {
            for (nb::Tensor<float>* t : {&q, &k, &v}) t->zero_grad();
          });
    } else {
      nb::NoGradGuard no_grad;
      seconds = run_timed(state, [&] { (void)nb::scaled_dot_product_attention(q, k, v, options); });
    }
    // FlashAttention's convention: 4 B H T^2 D for the forward, half of it under the causal mask;
    // the backward is 2.5x the forward.
    const double forward_flops = 2.0 * static_cast<double>(shape.batch * shape.heads) *
                                 static_cast<double>(shape.steps * shape.steps * shape.head_dim);
    state.counters["TFLOP/s"] = (train ? 3.5 : 1.0) * forward_flops * 1e-12 / seconds;
    state.counters["ms"] = seconds * 1e3;
  });
}

struct GPTBenchConfig {
  nb::nn::GPTOptions options;
  std::int64_t batch;
};
// The configurations of bench_lm's gpt_train/S and gpt_train/M.
const GPTBenchConfig kGPTSmall{{.vocab_size = 10000, .context = 64, .layers = 4, .heads = 4, .width = 128, .seed = 1},
                               32};
const GPTBenchConfig kGPTMedium{{.vocab_size = 10000, .context = 256, .layers = 6, .heads = 6, .width = 384, .seed = 1},
                                8};

void gpt_training(benchmark::State& state, GPTBenchConfig config) {
  guarded(state, [&] {
    const std::int64_t steps = config.options.context;
    nb::nn::GPT<float> gpt(config.options);
    gpt.to(kGpu);
    nb::optim::AdamW<float> optimizer(gpt.parameters(), {.lr = 1e-3});  // after to()
    const nb::IndexTensor inputs = bench::random_ids(config.options.vocab_size, config.batch, steps, 4).to(kGpu);
    const nb::IndexTensor targets = bench::random_ids(config.options.vocab_size, config.batch, steps, 5).to(kGpu);
    const double seconds = run_timed(state, [&] {
      const nb::Tensor<float> loss = nb::loss::cross_entropy(gpt(inputs), targets);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    });
    // Forward FLOPs per token as bench_lm counts them (gpt_forward_flops_per_token): the blocks'
    // weights (24 width^2 per layer), the attention products (4 T width per layer) and the head.
    const nb::nn::GPTOptions& o = config.options;
    const double width = static_cast<double>(o.width);
    const double per_token =
        static_cast<double>(o.layers) * (24.0 * width * width + 4.0 * static_cast<double>(steps) * width) +
        2.0 * width * static_cast<double>(o.vocab_size);
    const double tokens = static_cast<double>(config.batch * steps);
    set_rates(state, tokens, 3.0 * tokens * per_token, seconds);
  });
}

void register_all() {
  for (const std::int64_t n : {std::int64_t{1} << 24, std::int64_t{1} << 26}) {
    benchmark::RegisterBenchmark("elementwise_add", elementwise_add)
        ->Arg(n)
        ->ArgName("floats")
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("unary_tanh", unary_tanh)
        ->Arg(n)
        ->ArgName("floats")
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("softmax_cross_entropy", softmax_cross_entropy)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);

  using Runner = void (*)(benchmark::State&, bool);
  std::vector<std::pair<std::string, Runner>> lstm_runners = {{"lstm_nabla", lstm_nabla}};
#if NABLA_BENCH_CUDNN
  lstm_runners.emplace_back("lstm_cudnn", lstm_cudnn);
#endif
  for (const auto& [name, runner] : lstm_runners)
    for (const bool train : {false, true}) {
      auto* registered =
          benchmark::RegisterBenchmark((name + (train ? "_train" : "_forward")).c_str(),
                                       [runner = runner, train](benchmark::State& state) { runner(state, train); });
      for (const std::int64_t batch : {32, 64})
        for (const std::int64_t hidden : {256, 512, 1024})
          for (const std::int64_t steps : {35, 100}) registered->Args({batch, hidden, steps});
      registered->ArgNames({"batch", "hidden", "steps"})->UseManualTime()->Unit(benchmark::kMillisecond);
    }

  const std::vector<std::pair<std::string, bench::LanguageModelConfig>> configs = {{"S", bench::kSmall},
                                                                                   {"L", bench::kLarge}};
  for (const auto& [name, config] : configs)
    for (const bool train : {true, false})
      benchmark::RegisterBenchmark(
          ((train ? "lm_train/" : "lm_inference/") + name).c_str(),
          [config = config, train](benchmark::State& state) { language_model(state, config, train); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);

  for (const AttentionShape& shape : kAttentionShapes)
    for (const bool train : {false, true})
      benchmark::RegisterBenchmark(
          (std::string(train ? "attention_train/" : "attention_forward/") + shape.name).c_str(),
          [shape, train](benchmark::State& state) { attention(state, shape, train); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  for (const auto& [name, config] :
       std::vector<std::pair<std::string, GPTBenchConfig>>{{"S", kGPTSmall}, {"M", kGPTMedium}})
    benchmark::RegisterBenchmark(("gpt_train/" + name).c_str(),
                                 [config = config](benchmark::State& state) { gpt_training(state, config); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  if (!nb::backend::cuda::is_available()) {
    // Listing the benchmarks needs no device (it registers them and runs none).
    for (int i = 1; i < argc; ++i) {
      const std::string argument = argv[i];
      if (argument == "--benchmark_list_tests" || argument == "--benchmark_list_tests=true")
        return bench::run(argc, argv, register_all);
    }
    std::printf("bench_cuda: skipped: no CUDA device\n");
    return 0;
  }
  const nb::backend::cuda::DeviceProperties device = nb::backend::cuda::device_properties(kGpu.index());
  const double bandwidth = theoretical_bandwidth();
  std::printf("bench_cuda: %s (compute capability %d.%d, %d SMs), theoretical bandwidth %s GB/s, TF32 %s\n",
              device.name.c_str(), device.major, device.minor, device.multiprocessor_count,
              bandwidth > 0 ? std::to_string(static_cast<long long>(bandwidth * 1e-9)).c_str() : "unknown",
              nb::backend::cuda::allow_tf32() ? "on" : "off");
  benchmark::AddCustomContext("gpu", device.name);
  benchmark::AddCustomContext("gpu_theoretical_bandwidth_GBps",
                              std::to_string(static_cast<long long>(bandwidth * 1e-9)));
#if NABLA_BENCH_CUDNN
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
  std::printf("bench_cuda: cuDNN %zu (headers %d.%d.%d)\n", cudnnGetVersion(), CUDNN_MAJOR, CUDNN_MINOR,
              CUDNN_PATCHLEVEL);
#else
  std::printf("bench_cuda: built without cuDNN: no cuDNN comparison\n");
#endif
  const int status = bench::run(argc, argv, register_all);
  print_lstm_comparison();
  return status;
}
