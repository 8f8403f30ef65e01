// Fused causal scaled_dot_product_attention on the CPU, forward and forward + backward, at the
// shapes of the GPT models of bench_lm (gpt_train/S: B=32, H=4, T=64, D=32; gpt_train/M: B=4,
// H=6, T=256, D=64), against the same function composed of matmul + softmax + where
// (nb::detail::scaled_dot_product_attention_composed, which materializes the [T, T] scores).
//
// GFLOP/s counts the two products q k^T and P v: 4 B H Tq Tk D for the forward, halved when
// causal (half the scores are masked); the backward's four products count twice that again
// (forward + backward = 3x the forward). % of peak is relative to bench/peak.hpp.
//
//   ./build-release/bench/bench_attention --benchmark_min_time=1
// bench/compare_attention.py runs the composed PyTorch equivalent on the same shapes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "peak.hpp"
#include "run.hpp"

namespace nb = nabla;

namespace {

struct AttentionShape {
  const char* name;
  std::int64_t batch, heads, tokens, head_dim;
};

template <bool Fused>
void attention(benchmark::State& state, AttentionShape shape, bool backward) {
  const int threads = static_cast<int>(state.range(0));
  nb::set_num_threads(threads);
  const nb::Shape dims{shape.batch, shape.heads, shape.tokens, shape.head_dim};
  auto q = nb::randn<float>(dims, 1).requires_grad_(backward);
  auto k = nb::randn<float>(dims, 2).requires_grad_(backward);
  auto v = nb::randn<float>(dims, 3).requires_grad_(backward);
  const nb::AttentionOptions<float> options{.causal = true};
  for (auto _ : state) {
    auto out = Fused ? nb::scaled_dot_product_attention(q, k, v, options)
                     : nb::detail::scaled_dot_product_attention_composed(q, k, v, options);
    if (backward) {
      out.backward(nb::ones_like(out));
      benchmark::DoNotOptimize(q.grad().data());
      q.zero_grad(), k.zero_grad(), v.zero_grad();
    }
    benchmark::DoNotOptimize(out.data());
  }
  const double forward_flops = 4.0 * static_cast<double>(shape.batch * shape.heads) *
                               static_cast<double>(shape.tokens * shape.tokens * shape.head_dim) / 2;  // causal
  const double flops = backward ? 3 * forward_flops : forward_flops;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOP/s"] = bench::peak_flops(threads) * 1e-9;
}

void register_all() {
  const std::vector<AttentionShape> shapes = {{"gpt_S", 32, 4, 64, 32}, {"gpt_M", 4, 6, 256, 64}};
  for (const AttentionShape& shape : shapes)
    for (const bool backward : {false, true})
      for (const bool fused : {true, false}) {
        const std::string name = std::string(fused ? "attention_fused/" : "attention_composed/") + shape.name +
                                 (backward ? "/forward_backward" : "/forward");
        auto* benchmark = fused ? benchmark::RegisterBenchmark(name.c_str(), attention<true>, shape, backward)
                                : benchmark::RegisterBenchmark(name.c_str(), attention<false>, shape, backward);
        benchmark->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace

int main(int argc, char** argv) { return bench::run(argc, argv, register_all); }
