// SGEMM: nabla's gemm (split in bands across nabla's threads, each band through oneDNN's sgemm
// with NABLA_USE_DNNL, else single-threaded OpenBLAS with NABLA_USE_BLAS; else Eigen) against
// the same bands through OpenBLAS (openblas_bands), Eigen's own product and OpenBLAS with its
// own threads.
//
// Shapes: squares, and the GEMMs of the language model of bench_lm.cpp, config L (batch 32 x 35
// steps = 1120 rows, embedding 128, hidden 256, vocabulary 10,000):
//   decoder_forward    [1120, 256] x [256, 10000]^T-stored  (logits = h W^T)
//   decoder_input_grad [1120, 10000] x [10000, 256]          (dh = dlogits W)
//   decoder_weight_grad [10000, 1120]^T-stored x [1120, 256] (dW = dlogits^T h)
//   lstm_input         [1120, 128] x [128, 1024]^T-stored    (all steps' input projections)
//   lstm_recurrent     [32, 256] x [256, 1024]^T-stored      (one step: small, latency-bound)
// Counters: GFLOP/s and % of the FP32 peak measured on this machine (bench/peak.hpp).
//
//   ./build/bench/bench_gemm --benchmark_min_time=0.5 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <nabla/nabla.hpp>
#include <vector>

#include "peak.hpp"
#include "run.hpp"

namespace {

namespace cpu = nabla::backend::cpu;

struct GemmShape {
  std::int64_t m, n, k;
  bool trans_a, trans_b;
};

enum class Engine { nabla, openblas_bands, eigen, openblas_threads };

void run_gemm(benchmark::State& state, GemmShape shape, Engine engine) {
  const int threads = static_cast<int>(state.range(0));
  nabla::set_num_threads(threads);
  std::vector<float> a(static_cast<std::size_t>(shape.m * shape.k), 0.5f);
  std::vector<float> b(static_cast<std::size_t>(shape.k * shape.n), 0.25f);
  std::vector<float> c(static_cast<std::size_t>(shape.m * shape.n));
  const std::int64_t lda = shape.trans_a ? shape.m : shape.k, ldb = shape.trans_b ? shape.k : shape.n;
#if defined(NABLA_USE_BLAS)
  if (engine == Engine::openblas_threads) openblas_set_num_threads(threads);
#else
  if (engine == Engine::openblas_threads || engine == Engine::openblas_bands) {
    state.SkipWithError("built without NABLA_USE_BLAS");
    return;
  }
#endif
  for (auto _ : state) {
    switch (engine) {
      case Engine::nabla:
        cpu::gemm<float>(shape.trans_a, shape.trans_b, shape.m, shape.n, shape.k, 1.f, a.data(), lda, b.data(), ldb,
                         0.f, c.data(), shape.n);
        break;
      case Engine::openblas_bands:
#if defined(NABLA_USE_BLAS)
        cpu::detail::gemm_in_bands<float>(false, shape.trans_a, shape.trans_b, shape.m, shape.n, shape.k, 1.f, a.data(),
                                          lda, b.data(), ldb, 0.f, c.data(), shape.n);
#endif
        break;
      case Engine::eigen:
        cpu::detail::eigen_gemm<float>(shape.trans_a, shape.trans_b, shape.m, shape.n, shape.k, 1.f, a.data(), lda,
                                       b.data(), ldb, 0.f, c.data(), shape.n);
        break;
      case Engine::openblas_threads:
#if defined(NABLA_USE_BLAS)
        cpu::detail::blas_gemm(shape.trans_a, shape.trans_b, shape.m, shape.n, shape.k, 1.f, a.data(), lda, b.data(),
                               ldb, 0.f, c.data(), shape.n);
#endif
        break;
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
#if defined(NABLA_USE_BLAS)
  if (engine == Engine::openblas_threads) openblas_set_num_threads(1);  // nabla's setting again
#endif
  const double flops = 2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.n) * static_cast<double>(shape.k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOP/s"] = bench::peak_flops(threads) * 1e-9;
}

void register_all() {
  const std::vector<std::pair<const char*, GemmShape>> shapes = {
      {"square_256", {256, 256, 256, false, false}},
      {"square_512", {512, 512, 512, false, false}},
      {"square_1024", {1024, 1024, 1024, false, false}},
      {"square_2048", {2048, 2048, 2048, false, false}},
      {"decoder_forward", {1120, 10000, 256, false, true}},
      {"decoder_input_grad", {1120, 256, 10000, false, false}},
      {"decoder_weight_grad", {10000, 256, 1120, true, false}},
      {"lstm_input", {1120, 1024, 128, false, true}},
      {"lstm_recurrent", {32, 1024, 256, false, true}},
  };
  const std::vector<std::pair<const char*, Engine>> engines = {{"nabla", Engine::nabla},
                                                               {"openblas_bands", Engine::openblas_bands},
                                                               {"eigen", Engine::eigen},
                                                               {"openblas_threads", Engine::openblas_threads}};
  for (const auto& [shape_name, shape] : shapes)
    for (const auto& [engine_name, engine] : engines)
      benchmark::RegisterBenchmark((std::string("gemm/") + shape_name + "/" + engine_name).c_str(),
                                   [shape, engine](benchmark::State& state) { run_gemm(state, shape, engine); })
          ->Arg(1)
          ->Arg(2)
          ->ArgName("threads")
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) { return bench::run(argc, argv, register_all); }
