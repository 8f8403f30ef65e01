// nabla/backend/cpu/bf16.hpp - float -> bfloat16 conversion for the "medium" matmul precision
// (backend/matmul_precision.hpp), and the CPU check for AVX512_BF16.
//
// bfloat16 is the top half of a float: sign, the same 8 exponent bits, 7 mantissa bits. The
// conversion rounds to nearest, ties to even, with the semantics of the AVX512_BF16
// instruction vcvtneps2bf16, so that the vector path and the portable path give the same
// bits on every input:
// - a NaN stays a NaN of the same sign, made quiet (mantissa bit 6 set) so that truncation
//   cannot turn it into an infinity;
// - a denormal float becomes a zero of the same sign (the instruction treats denormal inputs
//   as zero; bf16 denormals would be lost to any fp32 accumulation anyway);
// - a finite value that rounds past the largest bf16 becomes an infinity.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NABLA_X86_BF16_TARGET 1
#include <immintrin.h>
#endif

namespace nabla::backend::cpu {

/// One float to bfloat16 bits (round to nearest even; NaN quiet, denormals to signed zero).
inline std::uint16_t float_to_bf16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);  // NaN
  if (magnitude < 0x00800000u) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);  // zero, denormal
  const std::uint32_t rounding_bias = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding_bias) >> 16);
}

/// bfloat16 bits back to the float they stand for (exact).
inline float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

/// Whether this CPU executes AVX512_BF16 instructions (vcvtneps2bf16, vdpbf16ps) and the OS
/// saves the AVX-512 registers; checked once.
inline bool has_avx512_bf16() {
#if defined(NABLA_X86_BF16_TARGET)
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return supported;
#else
  return false;
#endif
}

namespace detail {

/// The portable conversion, written branch-free so that the compiler can vectorize it.
inline void float_to_bf16_portable(const float* source, std::uint16_t* destination, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) destination[i] = float_to_bf16(source[i]);
}

#if defined(NABLA_X86_BF16_TARGET)
/// 16 floats per vcvtneps2bf16; the tail goes through the scalar conversion (same semantics).
__attribute__((target("avx512f,avx512bf16"))) inline void float_to_bf16_avx512(const float* source,
                                                                               std::uint16_t* destination,
                                                                               std::int64_t count) {
  std::int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m256bh converted = _mm512_cvtneps_pbh(_mm512_loadu_ps(source + i));
    std::memcpy(destination + i, &converted, sizeof converted);
  }
  for (; i < count; ++i) destination[i] = float_to_bf16(source[i]);
}
#endif

}  // namespace detail

/// destination[i] = float_to_bf16(source[i]) for i < count, with AVX512_BF16 where the CPU has it.
inline void float_to_bf16(const float* source, std::uint16_t* destination, std::int64_t count) {
#if defined(NABLA_X86_BF16_TARGET)
  if (has_avx512_bf16()) {
    detail::float_to_bf16_avx512(source, destination, count);
    return;
  }
#endif
  detail::float_to_bf16_portable(source, destination, count);
}

}  // namespace nabla::backend::cpu
