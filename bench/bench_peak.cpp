// bench/bench_peak.cpp - prints what bench/peak.hpp measures: the FP32 FMA peak of 1 .. N
// threads on every vector unit this CPU has, widest first (the benches' "% of peak" uses the
// widest). Not a Google Benchmark: one table, about 0.3 s per line.
//
//   ./build/bench/bench_peak [max_threads]     (default: OpenMP's thread count)
#include <cstdio>
#include <cstdlib>

#include "peak.hpp"

int main(int argc, char** argv) {
  int max_threads = 1;
#if defined(_OPENMP)
  max_threads = omp_get_max_threads();
#endif
  if (argc > 1) max_threads = std::max(1, std::atoi(argv[1]));
  std::printf("%-9s %7s %7s %8s %12s %18s\n", "isa", "lanes", "chains", "threads", "GFLOP/s", "GFLOP/s per thread");
  for (bench::PeakIsa isa :
       {bench::PeakIsa::avx512f, bench::PeakIsa::avx2_fma, bench::PeakIsa::sse2, bench::PeakIsa::scalar}) {
    if (!bench::cpu_supports(isa)) continue;
    const bench::PeakKernel kernel = bench::peak_kernel(isa);
    for (int threads = 1; threads <= max_threads; ++threads) {
      const double flops = bench::measure_peak_flops(threads, kernel);
      std::printf("%-9s %7d %7d %8d %12.1f %18.1f\n", kernel.name, kernel.lanes, kernel.chains, threads, flops * 1e-9,
                  flops * 1e-9 / threads);
    }
  }
  const bench::PeakKernel used = bench::widest_peak_kernel();
  std::printf("the benches' %% of peak uses: %s (%d chains of %d floats per thread)\n", used.name, used.chains,
              used.lanes);
  return 0;
}
