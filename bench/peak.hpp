// bench/peak.hpp - the machine's FP32 peak, measured (not assumed) with FMA loops on the widest
// vector unit the CPU has.
//
// Each thread runs `chains` independent fused multiply-add chains, one vector register each:
// enough of them in flight to cover the FMA latency times the number of FMA pipes (4 cycles x 2
// pipes = 8 on Skylake-X, Zen 4 and Zen 5; 12 or 16 leave a margin), so the loop is bound by
// FMA throughput, not by latency. The kernels are compiled per function for their instruction
// set (`__attribute__((target(...)))`), so a binary built without -march=native still runs
// everywhere, and the ISA is chosen at run time: AVX-512F (16 chains of 16 floats), else AVX2 +
// FMA (12 chains of 8), else SSE2 (12 chains of 4, multiply and add: no FMA), else plain C++.
// TODO: NEON (AArch64: 32 registers, 4 lanes, FMLA) when nabla's benches run on ARM.
// The environment variable BENCH_PEAK_ISA (avx512f, avx2, sse2, scalar) forces a narrower
// unit, e.g. to state an AVX2 machine's figures on an AVX-512 one.
//
// The result is what "% of peak" in the benches is relative to: it includes the real clock
// (turbo), which /proc/cpuinfo does not tell. (The first probe ran 10 chains of 8-wide FMAs
// whatever the CPU, and on an AVX-512 machine read about 127 GFLOP/s per thread where the
// 512-bit units deliver about 360.)
//
// Each thread's rate is its FLOPs over its own CPU time (CLOCK_THREAD_CPUTIME_ID), and the
// peak is the sum of those rates, best of several rounds. Wall time would be wrong on a shared
// machine: when another process holds one of the cores for a moment, two threads share the
// other and the wall-clock rate halves. CPU time counts only the cycles a thread really ran.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define BENCH_PEAK_X86 1
#include <immintrin.h>
#else
#define BENCH_PEAK_X86 0
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

/// The vector units the probe knows, widest first.
enum class PeakIsa { avx512f, avx2_fma, sse2, scalar };

struct PeakKernel {
  PeakIsa isa;
  const char* name;
  int lanes;           // floats per register
  int chains;          // independent accumulators per thread
  int flops_per_lane;  // per chain step: 2 (FMA, or multiply + add)
};

/// What each ISA's kernel runs: the table the probe and its report read.
inline PeakKernel peak_kernel(PeakIsa isa) {
  switch (isa) {
    case PeakIsa::avx512f:
      return {isa, "avx512f", 16, 16, 2};
    case PeakIsa::avx2_fma:
      return {isa, "avx2+fma", 8, 12, 2};
    case PeakIsa::sse2:
      return {isa, "sse2", 4, 12, 2};
    case PeakIsa::scalar:
      break;
  }
  return {PeakIsa::scalar, "scalar", 1, 12, 2};
}

namespace detail {

// Every kernel runs `iterations` steps of acc = acc * m + a on each chain. m < 1 and a > 0 keep
// the values near a / (1 - m) = 0.1: no overflow, no denormals. The sum of all lanes is
// returned so that the compiler cannot drop the loop.
constexpr float kPeakMultiplier = 0.999999f, kPeakAddend = 1e-7f;

#if BENCH_PEAK_X86
__attribute__((target("avx512f"))) inline float peak_chains_avx512(std::int64_t iterations) {
  constexpr int kChains = 16;
  __m512 accumulators[kChains];
  for (int chain = 0; chain < kChains; ++chain) accumulators[chain] = _mm512_set1_ps(0.001f * chain);
  const __m512 multiplier = _mm512_set1_ps(kPeakMultiplier), addend = _mm512_set1_ps(kPeakAddend);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int chain = 0; chain < kChains; ++chain)
      accumulators[chain] = _mm512_fmadd_ps(accumulators[chain], multiplier, addend);
  }
  float lanes[16], total = 0;  // stores, not _mm512_reduce_add_ps (GCC 12 warns inside it)
  for (int chain = 0; chain < kChains; ++chain) {
    _mm512_storeu_ps(lanes, accumulators[chain]);
    for (float lane : lanes) total += lane;
  }
  return total;
}

__attribute__((target("avx2,fma"))) inline float peak_chains_avx2(std::int64_t iterations) {
  constexpr int kChains = 12;
  __m256 accumulators[kChains];
  for (int chain = 0; chain < kChains; ++chain) accumulators[chain] = _mm256_set1_ps(0.001f * chain);
  const __m256 multiplier = _mm256_set1_ps(kPeakMultiplier), addend = _mm256_set1_ps(kPeakAddend);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int chain = 0; chain < kChains; ++chain)
      accumulators[chain] = _mm256_fmadd_ps(accumulators[chain], multiplier, addend);
  }
  float lanes[8], total = 0;
  for (int chain = 0; chain < kChains; ++chain) {
    _mm256_storeu_ps(lanes, accumulators[chain]);
    for (float lane : lanes) total += lane;
  }
  return total;
}

__attribute__((target("sse2"))) inline float peak_chains_sse2(std::int64_t iterations) {
  constexpr int kChains = 12;
  __m128 accumulators[kChains];
  for (int chain = 0; chain < kChains; ++chain) accumulators[chain] = _mm_set1_ps(0.001f * chain);
  const __m128 multiplier = _mm_set1_ps(kPeakMultiplier), addend = _mm_set1_ps(kPeakAddend);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int chain = 0; chain < kChains; ++chain)
      accumulators[chain] = _mm_add_ps(_mm_mul_ps(accumulators[chain], multiplier), addend);
  }
  float lanes[4], total = 0;
  for (int chain = 0; chain < kChains; ++chain) {
    _mm_storeu_ps(lanes, accumulators[chain]);
    for (float lane : lanes) total += lane;
  }
  return total;
}
#endif

inline float peak_chains_scalar(std::int64_t iterations) {
  constexpr int kChains = 12;
  float accumulators[kChains];
  for (int chain = 0; chain < kChains; ++chain) accumulators[chain] = 0.001f * chain;
  for (std::int64_t i = 0; i < iterations; ++i)
    for (float& value : accumulators) value = value * kPeakMultiplier + kPeakAddend;
  float total = 0;
  for (float value : accumulators) total += value;
  return total;
}

inline float run_peak_chains(PeakIsa isa, std::int64_t iterations) {
#if BENCH_PEAK_X86
  switch (isa) {
    case PeakIsa::avx512f:
      return peak_chains_avx512(iterations);
    case PeakIsa::avx2_fma:
      return peak_chains_avx2(iterations);
    case PeakIsa::sse2:
      return peak_chains_sse2(iterations);
    case PeakIsa::scalar:
      break;
  }
#endif
  (void)isa;
  return peak_chains_scalar(iterations);
}

}  // namespace detail

/// Whether this CPU (and its OS, which must save the wider registers) runs `isa`.
inline bool cpu_supports(PeakIsa isa) {
#if BENCH_PEAK_X86
  __builtin_cpu_init();
  switch (isa) {
    case PeakIsa::avx512f:
      return __builtin_cpu_supports("avx512f");
    case PeakIsa::avx2_fma:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PeakIsa::sse2:
      return __builtin_cpu_supports("sse2");
    case PeakIsa::scalar:
      return true;
  }
#endif
  return isa == PeakIsa::scalar;
}

/// The widest unit this CPU has, or the one BENCH_PEAK_ISA names (if the CPU has it).
inline PeakKernel widest_peak_kernel() {
  const char* forced = std::getenv("BENCH_PEAK_ISA");
  for (PeakIsa isa : {PeakIsa::avx512f, PeakIsa::avx2_fma, PeakIsa::sse2, PeakIsa::scalar}) {
    const PeakKernel kernel = peak_kernel(isa);
    const bool named = forced == nullptr || forced[0] == '\0' || std::strncmp(forced, kernel.name, 4) == 0;
    if (named && cpu_supports(isa)) return kernel;
  }
  return peak_kernel(PeakIsa::scalar);
}

/// FP32 FLOP/s of `threads` threads on `kernel`'s unit: every thread runs the chains, its rate
/// is its FLOPs per second of its own CPU time, the result is the sum of the rates, best of
/// `rounds` rounds of about 50 ms each at the peak.
inline double measure_peak_flops(int threads, const PeakKernel& kernel, int rounds = 5) {
  // About 40 ms per round on a 4-5 GHz core at the unit's peak; the narrower units get fewer
  // FLOPs per step and so the same number of steps runs about as long.
  const std::int64_t iterations = kernel.isa == PeakIsa::scalar ? 10'000'000 : 30'000'000;
  const double flops_per_thread =
      static_cast<double>(kernel.flops_per_lane) * kernel.lanes * kernel.chains * static_cast<double>(iterations);
  double best = 0;
  for (int round = 0; round < rounds; ++round) {
    float sink = 0;
    double rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink, rate)
    {
      const double start = thread_cpu_seconds();
      sink += detail::run_peak_chains(kernel.isa, iterations);
      rate += flops_per_thread / std::max(thread_cpu_seconds() - start, 1e-9);
    }
    if (sink == 12345.f) best += 1;  // keeps the loop from being optimized away
    best = std::max(best, rate);
  }
  return best;
}

/// The same on the widest unit this CPU has.
inline double measure_peak_flops(int threads) { return measure_peak_flops(threads, widest_peak_kernel()); }

/// The peak of `threads` threads on the widest unit, measured once per thread count; the first
/// measurement of each count is reported on stderr (the benches' JSON goes to stdout).
inline double peak_flops(int threads) {
  static double cached[64] = {};
  threads = std::clamp(threads, 1, 63);
  if (cached[threads] == 0) {
    const PeakKernel kernel = widest_peak_kernel();
    cached[threads] = measure_peak_flops(threads, kernel);
    std::fprintf(stderr, "peak probe: %s, %d chains of %d floats per thread, %d thread(s): %.1f GFLOP/s\n", kernel.name,
                 kernel.chains, kernel.lanes, threads, cached[threads] * 1e-9);
  }
  return cached[threads];
}

}  // namespace bench
