// bench/peak.hpp - the machine's FP32 peak, measured (not assumed) with an FMA loop.
//
// Each thread runs independent chains of 8-wide fused multiply-adds: enough of them in flight
// (kChains) to cover the FMA latency (4 cycles) on both FMA ports of a Zen 3 or Skylake core.
// The result is what "% of peak" in the benches is relative to: it includes the real clock
// (turbo), which /proc/cpuinfo does not tell.
//
// Each thread's rate is its FLOPs over its own CPU time (CLOCK_THREAD_CPUTIME_ID), and the
// peak is the sum of those rates. Wall time would be wrong on a shared machine: when another
// process holds one of the cores for a moment, two threads share the other and the wall-clock
// rate halves (the first version of this probe read 95 GFLOP/s for 2 threads that way, while
// GEMMs on the same run reached 144). CPU time counts only the cycles a thread really ran.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ctime>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace bench {

/// CPU time consumed by the calling thread, in seconds.
inline double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

/// FP32 FLOP/s of `threads` threads (the sum of each thread's FLOPs per CPU second), best of
/// three runs of about 0.1 s each.
inline double measure_peak_flops(int threads) {
  constexpr int kChains = 10;
  constexpr std::int64_t kIterations = 4'000'000;
  const double flops_per_thread = 2.0 * 8 * kChains * static_cast<double>(kIterations);
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    float sink = 0;
    double rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink, rate)
    {
      const double start = thread_cpu_seconds();
#if defined(__AVX2__) && defined(__FMA__)
      __m256 accumulators[kChains];
      for (int chain = 0; chain < kChains; ++chain) accumulators[chain] = _mm256_set1_ps(0.001f * chain);
      const __m256 multiplier = _mm256_set1_ps(0.999999f), addend = _mm256_set1_ps(1e-7f);
      for (std::int64_t i = 0; i < kIterations; ++i)
        for (int chain = 0; chain < kChains; ++chain)
          accumulators[chain] = _mm256_fmadd_ps(accumulators[chain], multiplier, addend);
      float lanes[8];
      for (int chain = 0; chain < kChains; ++chain) {
        _mm256_storeu_ps(lanes, accumulators[chain]);
        for (float lane : lanes) sink += lane;
      }
#else
      float accumulators[kChains * 8];
      for (int lane = 0; lane < kChains * 8; ++lane) accumulators[lane] = 0.001f * lane;
      for (std::int64_t i = 0; i < kIterations; ++i)
        for (float& value : accumulators) value = value * 0.999999f + 1e-7f;
      for (float value : accumulators) sink += value;
#endif
      rate += flops_per_thread / std::max(thread_cpu_seconds() - start, 1e-9);
    }
    if (sink == 12345.f) best += 1;  // keeps the loop from being optimized away
    best = std::max(best, rate);
  }
  return best;
}

/// The peak of `threads` threads, measured once per thread count.
inline double peak_flops(int threads) {
  static double cached[64] = {};
  threads = std::clamp(threads, 1, 63);
  if (cached[threads] == 0) cached[threads] = measure_peak_flops(threads);
  return cached[threads];
}

}  // namespace bench
