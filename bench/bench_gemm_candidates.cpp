// bench/bench_gemm_candidates.cpp - the float GEMM candidates of issue 17, side by side, per
// shape class: GFLOP/s and % of the peak that bench/peak.hpp measures on the widest unit.
//
// Candidates (each one only where it was found when CMake configured the bench):
//   nabla             backend::cpu::gemm as built: one band per thread, oneDNN's dnnl_sgemm in
//                     each band (NABLA_USE_DNNL), else OpenBLAS
//   openblas_bands    the same bands through single-threaded OpenBLAS
//   openblas          cblas_sgemm with OpenBLAS's own threads
//   blis, blis_bands  BLIS (Debian libblis-dev) with its own OpenMP threads / in nabla's bands;
//                     opened with dlopen (its BLAS symbols would otherwise clash with
//                     OpenBLAS's). The kernel set it picked is printed; BLIS_ARCH_TYPE=0 forces
//                     its SKX (AVX-512) kernels where it does not recognise the CPU.
//   libxsmm, libxsmm_bands  libxsmm 1.17 (Debian libxsmm-dev): libxsmm_sgemm_omp (its own
//                     tiling over OpenMP threads, JIT kernels per tile) / libxsmm_sgemm in
//                     nabla's bands (JIT kernels for products up to its size threshold, above
//                     it libxsmm calls the linked BLAS, i.e. OpenBLAS)
//   packed, packed_avx2, packed_with_packing, packed_in_place
//                     nabla's own packed_gemm (backend/cpu/packed_gemm.hpp, docs/gemm.md), only
//                     on the small-m shapes it is made for: op(B) packed once (as the LSTM does
//                     once per pass over a sequence) and not timed; packed_avx2 forces its AVX2
//                     kernel (where the CPU has AVX-512: the AVX2 code path on an AVX-512 CPU,
//                     its % against the AVX2 probe's peak measured in the same run);
//                     packed_with_packing packs op(B) again in every call (a one-off product);
//                     packed_in_place reads an untransposed B where it lies (PackedMatrix::view)
//
// Before any timing, each candidate's C is checked against a double-precision reference on 256
// sampled entries (max abs diff printed; a candidate above 1e-3 relative to the largest entry
// is reported as WRONG and not timed). Inputs are uniform in [-1, 1], so a transposed operand
// cannot pass by symmetry. Each time is the best of `rounds` rounds of at least `seconds`
// each, by the wall clock and by the process's CPU time (the peak probe's measure).
//
//   ./build-release/bench/bench_gemm_candidates [threads=2] [seconds=0.2] [rounds=5] [filter]
//
// `filter` keeps the shapes whose name contains it (e.g. "square").
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nabla/backend/cpu/packed_gemm.hpp>
#include <nabla/nabla.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "peak.hpp"

#if defined(BENCH_WITH_BLIS)
#include <dlfcn.h>
#endif
#if defined(BENCH_WITH_LIBXSMM)
#include <libxsmm.h>
#endif

namespace {

namespace cpu = nabla::backend::cpu;

struct Shape {
  const char* name;
  std::int64_t m, n, k;
  bool trans_a, trans_b;
};

/// A row-major product C[m, n] = op(A) op(B) (alpha 1, beta 0), as nabla's gemm takes it.
struct Product {
  const Shape& shape;
  const float* a;
  std::int64_t lda;
  const float* b;
  std::int64_t ldb;
  float* c;
  std::int64_t ldc;
};

using SingleGemm =
    std::function<void(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                       std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc)>;

/// nabla's band split (backend::cpu::detail::gemm_in_bands) around any single-threaded GEMM:
/// rows of C per thread when C is taller than wide, else columns; small products on one thread.
void in_bands(int threads, const Product& p, const SingleGemm& single) {
  const Shape& s = p.shape;
  const bool split_rows = s.m >= s.n;
  const std::int64_t extent = split_rows ? s.m : s.n;
  const std::int64_t bands =
      s.m * s.n * s.k >= cpu::kParallelGemmWork ? std::clamp<std::int64_t>(extent / 16, 1, threads) : 1;
  const std::int64_t grain = (extent + bands - 1) / bands;
#pragma omp parallel for num_threads(static_cast <int>(bands)) schedule(static, 1)
  for (std::int64_t band = 0; band < bands; ++band) {
    const std::int64_t begin = band * grain, end = std::min(extent, begin + grain);
    if (begin >= end) continue;
    const std::int64_t band_m = split_rows ? end - begin : s.m, band_n = split_rows ? s.n : end - begin;
    const float* a_band = !split_rows ? p.a : s.trans_a ? p.a + begin : p.a + begin * p.lda;
    const float* b_band = split_rows ? p.b : s.trans_b ? p.b + begin * p.ldb : p.b + begin;
    float* c_band = split_rows ? p.c + begin * p.ldc : p.c + begin;
    single(s.trans_a, s.trans_b, band_m, band_n, s.k, a_band, p.lda, b_band, p.ldb, c_band, p.ldc);
  }
}

#if defined(BENCH_WITH_BLIS)
// BLIS's typed API, declared by hand (blis.h also declares a CBLAS that clashes with
// OpenBLAS's cblas.h, which nabla includes): trans_t is an enum, 0 or BLIS_TRANS_BIT (8).
struct Blis {
  using Sgemm = void (*)(int transa, int transb, std::int64_t m, std::int64_t n, std::int64_t k, float* alpha, float* a,
                         std::int64_t rsa, std::int64_t csa, float* b, std::int64_t rsb, std::int64_t csb, float* beta,
                         float* c, std::int64_t rsc, std::int64_t csc);
  Sgemm sgemm = nullptr;
  void (*set_threads)(std::int64_t) = nullptr;
  int (*arch_query_id)() = nullptr;
  char* (*arch_string)(int) = nullptr;
  char* (*version)() = nullptr;

  bool open() {
    // RTLD_DEEPBIND: BLIS's calls into itself stay in BLIS even where OpenBLAS exports the
    // same BLAS names.
    void* library = dlopen(BENCH_BLIS_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (library == nullptr) {
      std::printf("blis: dlopen(%s) failed: %s\n", BENCH_BLIS_LIBRARY, dlerror());
      return false;
    }
    sgemm = reinterpret_cast<Sgemm>(dlsym(library, "bli_sgemm"));
    set_threads = reinterpret_cast<void (*)(std::int64_t)>(dlsym(library, "bli_thread_set_num_threads"));
    arch_query_id = reinterpret_cast<int (*)()>(dlsym(library, "bli_arch_query_id"));
    arch_string = reinterpret_cast<char* (*)(int)>(dlsym(library, "bli_arch_string"));
    version = reinterpret_cast<char* (*)()>(dlsym(library, "bli_info_get_version_str"));
    auto* init = reinterpret_cast<void (*)()>(dlsym(library, "bli_init"));
    if (!(sgemm && set_threads && arch_query_id && arch_string && version && init)) return false;
    init();  // before bli_arch_query_id, which otherwise aborts when BLIS_ARCH_TYPE is set
    return true;
  }

  void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
            std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) const {
    float alpha = 1, beta = 0;
    // Row-major storage is a row stride of ld and a column stride of 1; BLIS takes both.
    sgemm(trans_a ? 8 : 0, trans_b ? 8 : 0, m, n, k, &alpha, const_cast<float*>(a), lda, 1, const_cast<float*>(b), ldb,
          1, &beta, c, ldc, 1);
  }
};
#endif

#if defined(BENCH_WITH_LIBXSMM)
// libxsmm is column-major (BLAS): row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
void libxsmm_single(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                    std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  const libxsmm_blasint mm = n, nn = m, kk = k, la = ldb, lb = lda, lc = ldc;
  const float alpha = 1, beta = 0;
  libxsmm_sgemm(&ta, &tb, &mm, &nn, &kk, &alpha, b, &la, a, &lb, &beta, c, &lc);
}

void libxsmm_threads(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                     std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  const libxsmm_blasint mm = n, nn = m, kk = k, la = ldb, lb = lda, lc = ldc;
  const float alpha = 1, beta = 0;
  libxsmm_sgemm_omp(&ta, &tb, &mm, &nn, &kk, &alpha, b, &la, a, &lb, &beta, c, &lc);
}
#endif

struct Candidate {
  std::string name;
  std::function<void(const Product&, int threads)> run;
  bool small_m_only = false;  // timed only on products of at most 64 rows with A not transposed
  bool avx2_peak = false;     // % of the AVX2 probe's peak rather than the widest unit's
  bool untransposed_b_only = false;
};

/// packed_gemm with op(B) packed once per B (and kernel): the packing is not timed.
void packed_once(const Product& p, cpu::GemmIsa isa) {
  static cpu::PackedMatrix packed;
  static const float* packed_from = nullptr;
  static const Shape* packed_shape = nullptr;
  if (packed_from != p.b || packed_shape != &p.shape || packed.isa() != isa) {
    packed.pack(p.shape.trans_b, p.shape.k, p.shape.n, p.b, p.ldb, isa);
    packed_from = p.b;
    packed_shape = &p.shape;
  }
  cpu::packed_gemm(p.shape.m, p.a, p.lda, packed, 1.f, 0.f, p.c, p.ldc);
}

/// packed_gemm reading B in place (no packing at all), for B not transposed.
void packed_in_place(const Product& p) {
  cpu::PackedMatrix view;
  view.view(p.shape.k, p.shape.n, p.b, p.ldb);
  cpu::packed_gemm(p.shape.m, p.a, p.lda, view, 1.f, 0.f, p.c, p.ldc);
}

/// Max |C - reference| over sampled entries, the reference summed in double; and the largest
/// |reference| seen, to judge the difference against.
std::pair<double, double> sampled_error(const Product& p) {
  const Shape& s = p.shape;
  std::mt19937_64 random(7);
  double worst = 0, largest = 0;
  for (int sample = 0; sample < 256; ++sample) {
    const std::int64_t row = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(s.m));
    const std::int64_t column = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(s.n));
    double sum = 0;
    for (std::int64_t i = 0; i < s.k; ++i) {
      const double a = s.trans_a ? p.a[i * p.lda + row] : p.a[row * p.lda + i];
      const double b = s.trans_b ? p.b[column * p.ldb + i] : p.b[i * p.ldb + column];
      sum += a * b;
    }
    worst = std::max(worst, std::abs(sum - static_cast<double>(p.c[row * p.ldc + column])));
    largest = std::max(largest, std::abs(sum));
  }
  return {worst, largest};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// CPU time of the whole process (all threads, spinning included), in seconds.
double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const double min_seconds = argc > 2 ? std::atof(argv[2]) : 0.2;
  const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
  const std::string filter = argc > 4 ? argv[4] : "";
  nabla::set_num_threads(threads);

  // Config L of bench_lm (batch 32 x 35 steps = 1120 rows, embedding 128, hidden 256, vocabulary
  // 10,000), and XL's recurrent product (hidden 1024). The recurrence in bands runs one
  // [16, 256] x [256, 1024] product per thread and step: lstm_recurrent_band, on one thread.
  const std::vector<Shape> shapes = {
      {"square_1024", 1024, 1024, 1024, false, false},
      {"square_2048", 2048, 2048, 2048, false, false},
      {"decoder_forward", 1120, 10000, 256, false, true},      // logits = h W^T
      {"decoder_input_grad", 1120, 256, 10000, false, false},  // dh = dlogits W
      {"decoder_weight_grad", 10000, 256, 1120, true, false},  // dW = dlogits^T h
      {"lstm_input", 1120, 1024, 128, false, true},            // x W_ih^T, all steps at once
      {"lstm_recurrent", 32, 1024, 256, false, true},          // h W_hh^T, one step
      {"lstm_recurrent_band", 16, 1024, 256, false, true},     // one thread's band of it
      {"lstm_recurrent_xl", 32, 4096, 1024, false, true},      // XL: hidden 1024
      // BPTT's (B8) dh_{t-1} = dA_t W_hh, per step: the whole batch, one band, XL
      {"lstm_recurrent_grad", 32, 256, 1024, false, false},
      {"lstm_recurrent_grad_band", 16, 256, 1024, false, false},
      {"lstm_recurrent_grad_xl", 32, 1024, 4096, false, false},
      // config S (hidden 128, batch 32) and the classifier (hidden 128, batch 64: bands of 32), one thread
      {"lstm_recurrent_s_band", 32, 512, 128, false, true},
      {"lstm_recurrent_grad_s_band", 32, 128, 512, false, false},
  };

  std::vector<Candidate> candidates;
  candidates.push_back({"nabla", [](const Product& p, int) {
                          cpu::gemm<float>(p.shape.trans_a, p.shape.trans_b, p.shape.m, p.shape.n, p.shape.k, 1.f, p.a,
                                           p.lda, p.b, p.ldb, 0.f, p.c, p.ldc);
                        }});
#if defined(NABLA_USE_BLAS)
  candidates.push_back({"openblas_bands", [](const Product& p, int) {
                          cpu::detail::gemm_in_bands<float>(false, p.shape.trans_a, p.shape.trans_b, p.shape.m,
                                                            p.shape.n, p.shape.k, 1.f, p.a, p.lda, p.b, p.ldb, 0.f, p.c,
                                                            p.ldc);
                        }});
  candidates.push_back({"openblas", [](const Product& p, int threads) {
                          openblas_set_num_threads(threads);
                          cpu::detail::blas_gemm(p.shape.trans_a, p.shape.trans_b, p.shape.m, p.shape.n, p.shape.k, 1.f,
                                                 p.a, p.lda, p.b, p.ldb, 0.f, p.c, p.ldc);
                          openblas_set_num_threads(1);  // nabla's setting again
                        }});
  std::printf("openblas: %s\n", openblas_get_config());
#endif
#if defined(BENCH_WITH_BLIS)
  static Blis blis;
  if (blis.open()) {
    const int arch = blis.arch_query_id();
    std::printf("blis %s: kernels for '%s' (arch id %d; BLIS_ARCH_TYPE=%s)\n", blis.version(), blis.arch_string(arch),
                arch, std::getenv("BLIS_ARCH_TYPE") ? std::getenv("BLIS_ARCH_TYPE") : "unset");
    candidates.push_back({"blis", [](const Product& p, int threads) {
                            blis.set_threads(threads);
                            blis.gemm(p.shape.trans_a, p.shape.trans_b, p.shape.m, p.shape.n, p.shape.k, p.a, p.lda,
                                      p.b, p.ldb, p.c, p.ldc);
                          }});
    candidates.push_back({"blis_bands", [](const Product& p, int threads) {
                            blis.set_threads(1);
                            in_bands(threads, p,
                                     [](bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k,
                                        const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                                        std::int64_t ldc) { blis.gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc); });
                          }});
  }
#else
  std::printf("blis: not found when the bench was configured (Debian: libblis-dev)\n");
#endif
#if defined(BENCH_WITH_LIBXSMM)
  libxsmm_init();
  std::printf("libxsmm %s: target '%s'\n", LIBXSMM_VERSION, libxsmm_get_target_arch());
  candidates.push_back({"libxsmm", [](const Product& p, int threads) {
                          omp_set_num_threads(threads);
                          libxsmm_threads(p.shape.trans_a, p.shape.trans_b, p.shape.m, p.shape.n, p.shape.k, p.a, p.lda,
                                          p.b, p.ldb, p.c, p.ldc);
                        }});
  candidates.push_back({"libxsmm_bands", [](const Product& p, int threads) { in_bands(threads, p, libxsmm_single); }});
#else
  std::printf("libxsmm: not found when the bench was configured (Debian: libxsmm-dev)\n");
#endif

  std::printf("packed_gemm: %s kernel (register tile %d x %d)\n", cpu::gemm_isa_name(cpu::best_gemm_isa()),
              cpu::gemm_tile(cpu::best_gemm_isa()).rows, cpu::gemm_tile(cpu::best_gemm_isa()).columns);
  // NABLA_GEMM_ISA=avx2 makes best_gemm_isa() the AVX2 kernel: `packed` is then the AVX2 code
  // path on an AVX-512 CPU, and its % is of the AVX2 peak.
  const bool cpu_has_avx512 = cpu::gemm_isa_available(cpu::GemmIsa::avx512);
  const bool default_is_avx2 = cpu_has_avx512 && cpu::best_gemm_isa() == cpu::GemmIsa::avx2;
  candidates.push_back(
      {"packed", [](const Product& p, int) { packed_once(p, cpu::best_gemm_isa()); }, true, default_is_avx2});
  const bool avx2_on_avx512 =
      cpu::best_gemm_isa() == cpu::GemmIsa::avx512 && cpu::gemm_isa_available(cpu::GemmIsa::avx2);
  if (avx2_on_avx512)
    candidates.push_back(
        {"packed_avx2", [](const Product& p, int) { packed_once(p, cpu::GemmIsa::avx2); }, true, true});
  candidates.push_back(
      {"packed_in_place", [](const Product& p, int) { packed_in_place(p); }, true, default_is_avx2, true});
  candidates.push_back({"packed_with_packing",
                        [](const Product& p, int) {
                          static cpu::PackedMatrix packed;
                          packed.pack(p.shape.trans_b, p.shape.k, p.shape.n, p.b, p.ldb);
                          cpu::packed_gemm(p.shape.m, p.a, p.lda, packed, 1.f, 0.f, p.c, p.ldc);
                        },
                        true, default_is_avx2});

  const bench::PeakKernel kernel = bench::widest_peak_kernel();
  const double peak = bench::peak_flops(threads), peak_one = bench::peak_flops(1);
  std::printf("peak (bench/peak.hpp, %s, %d chains): %.1f GFLOP/s on %d thread(s), %.1f on 1\n", kernel.name,
              kernel.chains, peak * 1e-9, threads, peak_one * 1e-9);
  // The AVX2 code path's own bar: the AVX2 probe (12 chains of 256-bit FMAs), same run.
  double avx2_peak = 0, avx2_peak_one = 0;
  if (cpu_has_avx512 && cpu::gemm_isa_available(cpu::GemmIsa::avx2)) {
    const bench::PeakKernel avx2 = bench::peak_kernel(bench::PeakIsa::avx2_fma);
    avx2_peak = bench::measure_peak_flops(threads, avx2);
    avx2_peak_one = bench::measure_peak_flops(1, avx2);
    std::printf(
        "AVX2 peak (bench/peak.hpp, %s, %d chains): %.1f GFLOP/s on %d thread(s), %.1f on 1 (the AVX2 "
        "kernel's %% peak is of this)\n",
        avx2.name, avx2.chains, avx2_peak * 1e-9, threads, avx2_peak_one * 1e-9);
  }
  std::printf(
      "GFLOP/s (wall clock), best of %d rounds of >= %.2f s; %% of the peak of the threads used; cpu GF/s = "
      "FLOPs per second of process CPU time per thread used (the peak's own measure; spinning counts; on a "
      "shared machine the fairer figure); err = max abs diff against a double reference on 256 entries\n",
      rounds, min_seconds);
  std::printf("%-22s %-16s %8s %10s %7s %10s %7s %9s\n", "shape", "candidate", "threads", "GFLOP/s", "% peak",
              "cpu GF/s", "% peak", "err");

  std::mt19937 random(1);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (const Shape& shape : shapes) {
    if (!filter.empty() && std::string(shape.name).find(filter) == std::string::npos) continue;
    // One thread for the band shape: it is what each thread of the recurrence runs.
    const int shape_threads = std::string(shape.name).ends_with("_band") ? 1 : threads;
    nabla::set_num_threads(shape_threads);
    // B 64-byte aligned (vector only promises 16 bytes), as a tensor's storage is and as
    // packed_in_place needs.
    std::vector<float> a(static_cast<std::size_t>(shape.m * shape.k)),
        b_storage(static_cast<std::size_t>(shape.k * shape.n + 16));
    const std::size_t misalignment = reinterpret_cast<std::uintptr_t>(b_storage.data()) % 64 / sizeof(float);
    const std::span<float> b(b_storage.data() + (misalignment == 0 ? 0 : 16 - misalignment),
                             static_cast<std::size_t>(shape.k * shape.n));
    std::vector<float> c(static_cast<std::size_t>(shape.m * shape.n));
    for (float& value : a) value = uniform(random);
    for (float& value : b) value = uniform(random);
    const Product product{
        shape,    a.data(), shape.trans_a ? shape.m : shape.k, b.data(), shape.trans_b ? shape.k : shape.n,
        c.data(), shape.n};
    const double flops =
        2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.n) * static_cast<double>(shape.k);
    for (const Candidate& candidate : candidates) {
      if (candidate.small_m_only && (shape.m > 64 || shape.trans_a)) continue;
      if (candidate.untransposed_b_only &&
          (shape.trans_b || !cpu::PackedMatrix::view_possible(shape.n, product.b, product.ldb)))
        continue;
      std::fill(c.begin(), c.end(), std::nanf(""));
      candidate.run(product, shape_threads);
      const auto [error, largest] = sampled_error(product);
      if (!(error <= 1e-3 * std::max(largest, 1.0))) {
        std::printf("%-22s %-16s %8d %10s %7s %9.2e WRONG (largest entry %.3g): not timed\n", shape.name,
                    candidate.name.c_str(), shape_threads, "-", "-", error, largest);
        continue;
      }
      double best = 0, best_cpu = 0;
      for (int round = 0; round < rounds; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = process_cpu_seconds();
        std::int64_t calls = 0;
        do {
          candidate.run(product, shape_threads);
          ++calls;
        } while (seconds_since(start) < min_seconds);
        const double work = flops * static_cast<double>(calls);
        best = std::max(best, work / seconds_since(start));
        best_cpu = std::max(best_cpu, work * shape_threads / std::max(process_cpu_seconds() - cpu_start, 1e-9));
      }
      const double shape_peak = candidate.avx2_peak ? (shape_threads == 1 ? avx2_peak_one : avx2_peak)
                                                    : (shape_threads == 1 ? peak_one : peak);
      std::printf("%-22s %-16s %8d %10.1f %6.1f%% %10.1f %6.1f%% %9.2e\n", shape.name, candidate.name.c_str(),
                  shape_threads, best * 1e-9, 100 * best / shape_peak, best_cpu * 1e-9, 100 * best_cpu / shape_peak,
                  error);
      std::fflush(stdout);
    }
  }
  return 0;
}
