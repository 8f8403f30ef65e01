// bench/run.hpp - main() of the benches that register their benchmarks at run time.
#pragma once

#include <benchmark/benchmark.h>

namespace bench {

/// Registers the benchmarks with `register_all`, then does what BENCHMARK_MAIN() does.
template <typename Register>
int run(int argc, char** argv, const Register& register_all) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
