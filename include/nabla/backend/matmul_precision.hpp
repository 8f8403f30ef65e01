// nabla/backend/matmul_precision.hpp - the process-wide precision of float32 matrix products,
// as in PyTorch's torch.set_float32_matmul_precision.
//
// - "highest" (the default): float products in float32, bit for bit what nabla computed
//   before this setting existed.
// - "high": PyTorch allows TF32 there. No CPU has TF32 and nabla's CUDA GEMM does not enable
//   it, so "high" computes exactly as "highest".
// - "medium": on a CPU with AVX512_BF16 and nabla built with oneDNN (NABLA_USE_DNNL), every
//   float GEMM of backend/cpu/gemm.hpp (Dense, the LSTM's input and fallback recurrent
//   products, attention's products, the decoder, and their backward products) rounds its two
//   inputs to bfloat16 and accumulates and writes in float32 (backend/cpu/bf16_gemm.hpp).
//   Weights, gradients, optimizer state and every other op stay float32. Elsewhere "medium"
//   silently computes in float32, as PyTorch does; backend::cpu_has_bf16() says which. The
//   packed recurrent product (backend/cpu/packed_gemm.hpp) and the CUDA GEMM stay float32.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "nabla/backend/cpu/bf16.hpp"
#include "nabla/core/error.hpp"

namespace nabla {

/// The float32 matmul precisions (torch.set_float32_matmul_precision's strings).
enum class MatmulPrecision : int { highest = 0, high = 1, medium = 2 };

namespace backend {

/// The current setting; an atomic, so any thread may read or change it at any time (a product
/// already running finishes in the precision it started with).
inline std::atomic<int> float32_matmul_precision_setting{static_cast<int>(MatmulPrecision::highest)};

inline MatmulPrecision float32_matmul_precision() {
  return static_cast<MatmulPrecision>(float32_matmul_precision_setting.load(std::memory_order_relaxed));
}

/// Whether "medium" really multiplies in bfloat16 on this machine: the CPU has AVX512_BF16 and
/// nabla was built with oneDNN. When false, "medium" computes in float32.
inline bool cpu_has_bf16() {
#if defined(NABLA_USE_DNNL)
  return cpu::has_avx512_bf16();
#else
  return false;
#endif
}

/// Whether float GEMMs on the CPU take the bfloat16 path now.
inline bool cpu_bf16_matmul_active() { return float32_matmul_precision() == MatmulPrecision::medium && cpu_has_bf16(); }

}  // namespace backend

/// Sets the precision of float32 matrix products for the whole process: "highest" (default),
/// "high" (same as "highest" in nabla) or "medium" (bfloat16 inputs, float32 accumulation,
/// where the CPU supports it). Throws ValueError on any other string.
inline void set_float32_matmul_precision(std::string_view precision) {
  MatmulPrecision value;
  if (precision == "highest")
    value = MatmulPrecision::highest;
  else if (precision == "high")
    value = MatmulPrecision::high;
  else if (precision == "medium")
    value = MatmulPrecision::medium;
  else
    throw ValueError("set_float32_matmul_precision: '" + std::string(precision) +
                     "' is not one of \"highest\", \"high\", \"medium\"");
  backend::float32_matmul_precision_setting.store(static_cast<int>(value), std::memory_order_relaxed);
}

/// The current setting as set_float32_matmul_precision's string.
inline std::string get_float32_matmul_precision() {
  switch (backend::float32_matmul_precision()) {
    case MatmulPrecision::high:
      return "high";
    case MatmulPrecision::medium:
      return "medium";
    case MatmulPrecision::highest:
      break;
  }
  return "highest";
}

}  // namespace nabla
