// nabla/backend/cpu/parallel.hpp - OpenMP loops that stay serial below a grain size.
//
// Starting an OpenMP team costs a few microseconds; an elementwise op on 1,000 floats costs
// less than that. So work is split across threads only when each thread gets at least
// `grain` elements, and never inside an already parallel region.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <Eigen/Core>

namespace nabla {

/// Elements per thread below which a cheap elementwise loop is not worth splitting.
inline constexpr std::int64_t kElementwiseGrain = 32768;

/// Sets the number of threads nabla's loops and Eigen's GEMM use (like torch.set_num_threads).
inline void set_num_threads(int threads) {
  threads = std::max(1, threads);
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(threads);
}

/// The number of threads parallel loops will use.
inline int get_num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

namespace backend::cpu {

/// Calls body(begin, end) on disjoint chunks covering [begin, end), one chunk per thread
/// when the range is large enough, else once on the calling thread. `body` must not throw.
template <typename Body>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const Body& body) {
  const std::int64_t count = end - begin;
  if (count <= 0) return;
#if defined(_OPENMP)
  const std::int64_t useful_threads =
      std::min<std::int64_t>(omp_get_max_threads(), count / std::max<std::int64_t>(grain, 1));
  if (useful_threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast <int>(useful_threads))
    {
      const std::int64_t threads = omp_get_num_threads();
      const std::int64_t thread = omp_get_thread_num();
      const std::int64_t chunk = (count + threads - 1) / threads;
      const std::int64_t chunk_begin = begin + thread * chunk;
      const std::int64_t chunk_end = std::min(end, chunk_begin + chunk);
      if (chunk_begin < chunk_end) body(chunk_begin, chunk_end);
    }
    return;
  }
#else
  (void)grain;
#endif
  body(begin, end);
}

}  // namespace backend::cpu
}  // namespace nabla
