// nabla/backend/cpu/optimizer.hpp - the fused optimizer updates on the CPU (kernels/optimizer.cu's
// twin): one pass over a parameter, its gradient and its state, element i by
// backend/optimizer_math.hpp's function, split across threads above a grain size.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/optimizer_math.hpp"

namespace nabla::backend::cpu {

/// Elements per thread below which an update loop is not worth splitting (an update does
/// a few multiplies and a square root per element, more than a plain elementwise op).
inline constexpr std::int64_t kOptimizerGrain = 8192;

/// SGD; `buffer` (the momentum buffer) is null without momentum.
template <typename T>
void sgd_update(T* parameter, const T* gradient, T* buffer, std::int64_t count, const SgdHyperparameters<T>& h) {
  parallel_for(0, count, kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      sgd_update_element(parameter[i], gradient[i], buffer ? buffer + i : nullptr, h);
  });
}

/// Adam / AdamW; `max_second_moment` (AMSGrad's) is null without AMSGrad.
template <typename T>
void adam_update(T* p, const T* g, T* m, T* v, T* v_max, std::int64_t count, const AdamHyperparameters<T>& h) {
  const T beta1 = h.beta1, beta2 = h.beta2, one_minus_beta1 = h.one_minus_beta1, one_minus_beta2 = h.one_minus_beta2;
  const T eps = h.eps, step_size = h.step_size, second_moment_correction = h.second_moment_correction;
  const T l2_decay = h.l2_decay, shrink = h.shrink;
  const bool decoupled = h.decoupled;
  parallel_for(0, count, kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
    if (v_max != nullptr) {
      for (std::int64_t i = begin; i < end; ++i) adam_update_element(p[i], g[i], m[i], v[i], v_max + i, h);
      return;
    }
    // The common case as Eigen array expressions, a cache-sized chunk at a time: the
    // per-element loop stays scalar (std::sqrt may set errno, so GCC keeps a branch per
    // element unless built with -fno-math-errno), Eigen's sqrt is one AVX instruction for 8
    // floats. Same arithmetic in the same order as backend::adam_update_element (which the
    // CUDA kernel runs), so the same values.
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    constexpr std::int64_t kChunk = 2048;  // 4 arrays x 8 KiB (float): stays in L1/L2
    for (std::int64_t chunk = begin; chunk < end; chunk += kChunk) {
      const std::int64_t chunk_count = std::min(kChunk, end - chunk);
      Eigen::Map<Array> parameter_values(p + chunk, chunk_count), first_moment(m + chunk, chunk_count),
          second_moment(v + chunk, chunk_count);
      const Eigen::Map<const Array> gradient_values(g + chunk, chunk_count);
      if (decoupled) parameter_values *= shrink;
      const auto grad = gradient_values + l2_decay * parameter_values;
      first_moment = beta1 * first_moment + one_minus_beta1 * grad;
      second_moment = beta2 * second_moment + (one_minus_beta2 * grad) * grad;
      parameter_values -= step_size * (first_moment / (second_moment.sqrt() / second_moment_correction + eps));
    }
  });
}

/// RMSprop; `gradient_average` (centered) and `buffer` (momentum) may be null.
template <typename T>
void rmsprop_update(T* parameter, const T* gradient, T* square_average, T* gradient_average, T* buffer,
                    std::int64_t count, const RmspropHyperparameters<T>& h) {
  parallel_for(0, count, kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      rmsprop_update_element(parameter[i], gradient[i], square_average[i],
                             gradient_average ? gradient_average + i : nullptr, buffer ? buffer + i : nullptr, h);
  });
}

/// Adagrad.
template <typename T>
void adagrad_update(T* parameter, const T* gradient, T* sum_of_squares, std::int64_t count,
                    const AdagradHyperparameters<T>& h) {
  parallel_for(0, count, kOptimizerGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) adagrad_update_element(parameter[i], gradient[i], sum_of_squares[i], h);
  });
}

}  // namespace nabla::backend::cpu
