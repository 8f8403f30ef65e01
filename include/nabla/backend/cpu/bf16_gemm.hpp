// nabla/backend/cpu/bf16_gemm.hpp - the "medium" float GEMM (backend/matmul_precision.hpp):
// C = alpha * op(A) op(B) + beta * C with A and B rounded to bfloat16 and the products
// accumulated and written in float32, through oneDNN's matmul primitive (oneDNN 2.6 has no
// bf16 BLAS-style gemm function; its matmul runs on AVX512_BF16's vdpbf16ps).
//
// backend/cpu/gemm.hpp converts both operands once per call into dense bfloat16 copies
// (Bf16Operands) and hands bands of them to bf16_gemm_band, one band per thread, as it does
// for float. A oneDNN primitive is expensive to create (tens of microseconds to milliseconds),
// so each thread keeps its own primitives by shape (Bf16MatmulCache): nothing is shared
// between threads, so nothing needs a lock.
#pragma once

#include <cstdint>

namespace nabla::backend::cpu::detail {

/// Both operands of one product as dense row-major bfloat16 copies, stored as the caller
/// stored them (a transposed operand stays transposed): A is rows_a x columns_a with row
/// stride lda = columns_a, likewise B.
struct Bf16Operands {
  const std::uint16_t* a = nullptr;
  std::int64_t lda = 0;
  const std::uint16_t* b = nullptr;
  std::int64_t ldb = 0;
};

}  // namespace nabla::backend::cpu::detail

#if defined(NABLA_USE_DNNL)

#include <dnnl.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nabla/backend/cpu/bf16.hpp"
#include "nabla/backend/cpu/parallel.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace nabla::backend::cpu::detail {

/// Copies the rows x columns matrix at `source` (rows `ld` apart) into `destination` as dense
/// bfloat16, on several threads when it is large.
inline void convert_matrix_to_bf16(const float* source, std::int64_t rows, std::int64_t columns, std::int64_t ld,
                                   std::vector<std::uint16_t>& destination) {
  destination.resize(static_cast<std::size_t>(rows * columns));
  std::uint16_t* const out = destination.data();
  if (ld == columns) {
    parallel_for(0, rows * columns, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      float_to_bf16(source + begin, out + begin, end - begin);
    });
    return;
  }
  parallel_for(0, rows, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(columns, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t row = begin; row < end; ++row)
                   float_to_bf16(source + row * ld, out + row * columns, columns);
               });
}

/// The calling thread's bfloat16 copies of op(A) and op(B) for gemm (reused across calls, so the
/// steady state allocates nothing).
inline Bf16Operands convert_operands_to_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                                             const float* a, std::int64_t lda, const float* b, std::int64_t ldb) {
  thread_local std::vector<std::uint16_t> a_copy, b_copy;
  const std::int64_t a_columns = trans_a ? m : k, b_columns = trans_b ? k : n;
  convert_matrix_to_bf16(a, trans_a ? k : m, a_columns, lda, a_copy);
  convert_matrix_to_bf16(b, trans_b ? n : k, b_columns, ldb, b_copy);
  return {a_copy.data(), a_columns, b_copy.data(), b_columns};
}

/// What fixes a primitive: the band's shape, the operands' layout, alpha and beta.
struct Bf16MatmulKey {
  bool trans_a = false, trans_b = false;
  std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0F, beta = 0.0F;
  bool operator==(const Bf16MatmulKey&) const = default;
};

struct Bf16MatmulKeyHash {
  std::size_t operator()(const Bf16MatmulKey& key) const {
    std::size_t hash = std::hash<bool>{}(key.trans_a) * 2 + std::hash<bool>{}(key.trans_b);
    for (const std::int64_t value : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc})
      hash = hash * 1000003u ^ std::hash<std::int64_t>{}(value);
    return hash * 1000003u ^ std::hash<float>{}(key.alpha) ^ (std::hash<float>{}(key.beta) << 1);
  }
};

/// oneDNN's CPU engine, created once for the process (engines are thread-safe).
inline dnnl_engine_t bf16_matmul_engine() {
  static const dnnl_engine_t engine = [] {
    dnnl_engine_t created = nullptr;
    if (dnnl_engine_create(&created, dnnl_cpu, 0) != dnnl_success) return dnnl_engine_t{nullptr};
    return created;
  }();
  return engine;
}

/// One matmul primitive and its three memory objects, whose data pointers are set per call.
class Bf16Matmul {
 public:
  Bf16Matmul(const Bf16Matmul&) = delete;
  Bf16Matmul& operator=(const Bf16Matmul&) = delete;

  explicit Bf16Matmul(const Bf16MatmulKey& key) {
    const dnnl_engine_t engine = bf16_matmul_engine();
    if (engine == nullptr) return;
    // op(A) is m x k: a row-major A has strides (lda, 1), a transposed one (1, lda).
    const dnnl_dims_t a_dims{key.m, key.k}, b_dims{key.k, key.n}, c_dims{key.m, key.n};
    const dnnl_dims_t a_strides{key.trans_a ? 1 : key.lda, key.trans_a ? key.lda : 1};
    const dnnl_dims_t b_strides{key.trans_b ? 1 : key.ldb, key.trans_b ? key.ldb : 1};
    const dnnl_dims_t c_strides{key.ldc, 1};
    dnnl_memory_desc_t a_desc, b_desc, c_desc;
    if (dnnl_memory_desc_init_by_strides(&a_desc, 2, a_dims, dnnl_bf16, a_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&b_desc, 2, b_dims, dnnl_bf16, b_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&c_desc, 2, c_dims, dnnl_f32, c_strides) != dnnl_success)
      return;
    dnnl_matmul_desc_t matmul_desc;
    if (dnnl_matmul_desc_init(&matmul_desc, &a_desc, &b_desc, nullptr, &c_desc) != dnnl_success) return;
    dnnl_primitive_attr_t attr = nullptr;
    dnnl_post_ops_t post_ops = nullptr;
    dnnl_primitive_desc_t primitive_desc = nullptr;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && key.alpha != 1.0F) ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key.alpha) == dnnl_success;
    if (ok && key.beta != 0.0F) {  // C = alpha * A B + beta * C: oneDNN's sum post-op
      ok = dnnl_post_ops_create(&post_ops) == dnnl_success &&
           dnnl_post_ops_append_sum(post_ops, key.beta) == dnnl_success &&
           dnnl_primitive_attr_set_post_ops(attr, post_ops) == dnnl_success;
    }
    ok = ok && dnnl_primitive_desc_create(&primitive_desc, &matmul_desc, attr, engine, nullptr) == dnnl_success;
    if (ok) {
      // oneDNN's reference matmul would be far slower than the float32 GEMM: refuse it.
      const char* implementation = nullptr;
      ok = dnnl_primitive_desc_query(primitive_desc, dnnl_query_impl_info_str, 0, &implementation) == dnnl_success &&
           implementation != nullptr && std::string_view(implementation).find("ref") == std::string_view::npos;
      if (ok) implementation_ = implementation;
    }
    ok = ok && dnnl_primitive_create(&primitive_, primitive_desc) == dnnl_success;
    ok = ok && dnnl_memory_create(&a_, &a_desc, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&b_, &b_desc, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&c_, &c_desc, engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (primitive_desc != nullptr) dnnl_primitive_desc_destroy(primitive_desc);
    if (post_ops != nullptr) dnnl_post_ops_destroy(post_ops);
    if (attr != nullptr) dnnl_primitive_attr_destroy(attr);
    valid_ = ok;
  }

  ~Bf16Matmul() {
    if (c_ != nullptr) dnnl_memory_destroy(c_);
    if (b_ != nullptr) dnnl_memory_destroy(b_);
    if (a_ != nullptr) dnnl_memory_destroy(a_);
    if (primitive_ != nullptr) dnnl_primitive_destroy(primitive_);
  }

  bool valid() const { return valid_; }
  const std::string& implementation() const { return implementation_; }

  /// Runs the product on `stream`; false if oneDNN reports an error.
  bool run(dnnl_stream_t stream, const std::uint16_t* a, const std::uint16_t* b, float* c) const {
    if (!valid_) return false;
    // oneDNN takes non-const handles; it only reads src and weights.
    if (dnnl_memory_set_data_handle(a_, const_cast<std::uint16_t*>(a)) != dnnl_success ||
        dnnl_memory_set_data_handle(b_, const_cast<std::uint16_t*>(b)) != dnnl_success ||
        dnnl_memory_set_data_handle(c_, c) != dnnl_success)
      return false;
    const dnnl_exec_arg_t arguments[3] = {{DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, c_}};
    return dnnl_primitive_execute(primitive_, stream, 3, arguments) == dnnl_success &&
           dnnl_stream_wait(stream) == dnnl_success;
  }

 private:
  dnnl_primitive_t primitive_ = nullptr;
  dnnl_memory_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  std::string implementation_;
  bool valid_ = false;
};

/// One thread's stream and primitives. Bounded: a workload whose shapes keep changing (varying
/// sequence lengths) starts over rather than growing without limit.
class Bf16MatmulCache {
 public:
  static constexpr std::size_t kMaxPrimitives = 256;

  Bf16MatmulCache() {
    if (bf16_matmul_engine() != nullptr &&
        dnnl_stream_create(&stream_, bf16_matmul_engine(), dnnl_stream_default_flags) != dnnl_success)
      stream_ = nullptr;
  }
  Bf16MatmulCache(const Bf16MatmulCache&) = delete;
  Bf16MatmulCache& operator=(const Bf16MatmulCache&) = delete;
  ~Bf16MatmulCache() {
    primitives_.clear();
    if (stream_ != nullptr) dnnl_stream_destroy(stream_);
  }

  /// The calling thread's cache.
  static Bf16MatmulCache& local() {
    thread_local Bf16MatmulCache cache;
    return cache;
  }

  dnnl_stream_t stream() const { return stream_; }

  const Bf16Matmul& get(const Bf16MatmulKey& key) {
    auto found = primitives_.find(key);
    if (found != primitives_.end()) return *found->second;
    if (primitives_.size() >= kMaxPrimitives) primitives_.clear();
    return *primitives_.emplace(key, std::make_unique<Bf16Matmul>(key)).first->second;
  }

 private:
  dnnl_stream_t stream_ = nullptr;
  std::unordered_map<Bf16MatmulKey, std::unique_ptr<Bf16Matmul>, Bf16MatmulKeyHash> primitives_;
};

/// One band of the product on the calling thread: C[m, n] = alpha * op(A) op(B) + beta * C with
/// bfloat16 A and B (rows lda and ldb apart as stored) and float C. False if oneDNN cannot run
/// it (the caller then computes the band in float32). As for dnnl_sgemm, oneDNN would start an
/// OpenMP team outside a parallel region: the thread count is 1 around creation and execution.
inline bool bf16_gemm_band(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                           const std::uint16_t* a, std::int64_t lda, const std::uint16_t* b, std::int64_t ldb,
                           float beta, float* c, std::int64_t ldc) {
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  Bf16MatmulCache& cache = Bf16MatmulCache::local();
  const Bf16Matmul& matmul = cache.get({trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta});
  const bool ok = cache.stream() != nullptr && matmul.run(cache.stream(), a, b, c);
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  return ok;
}

}  // namespace nabla::backend::cpu::detail

#endif  // NABLA_USE_DNNL
