// nabla/backend/cpu/embedding.hpp - the embedding gather and its scatter-add on the CPU
// (kernels/embedding.cu's twin).
#pragma once

#include <algorithm>
#include <cstdint>

#include "nabla/backend/cpu/parallel.hpp"

namespace nabla::backend::cpu {

/// out[s, :] = table[ids[s], :] for `tokens` ids (already checked) into a [rows, dim] table.
template <typename T>
void embedding_forward(const T* table, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim, T* out) {
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(dim, 1));
  parallel_for(0, tokens, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t s = begin; s < end; ++s) {
      const T* row = table + ids[s] * dim;
      std::copy(row, row + dim, out + s * dim);
    }
  });
}

/// grad_table (zeroed here, [table_rows, dim]) += grad[s, :] at row ids[s], skipping padding_idx.
template <typename T>
void embedding_backward(const T* gradient, const std::int64_t* ids, std::int64_t tokens, std::int64_t dim,
                        std::int64_t padding_idx, T* grad_table, std::int64_t table_rows) {
  // The engine accumulates dense gradients, so the result is a full [V, D] tensor: one zero
  // fill (a memset), then only the used rows are written. A sparse row-set gradient (and
  // optimizers that update only those rows) is future work.
  parallel_for(0, table_rows * dim, kElementwiseGrain,
               [&](std::int64_t begin, std::int64_t end) { std::fill(grad_table + begin, grad_table + end, T(0)); });
  // Threads split the embedding columns, not the tokens: two tokens with the same id then
  // never write the same element at once, and each sum runs in token order (the result does
  // not depend on the thread count).
  const std::int64_t column_grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(tokens, 1));
  parallel_for(0, dim, column_grain, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t s = 0; s < tokens; ++s) {
      const std::int64_t id = ids[s];
      if (id == padding_idx) continue;
      const T* source = gradient + s * dim;
      T* target = grad_table + id * dim;
      for (std::int64_t c = first; c < last; ++c) target[c] += source[c];
    }
  });
}

}  // namespace nabla::backend::cpu
