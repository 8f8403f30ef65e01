// nabla/backend/cpu/array_forms.hpp - faster CPU forms of elementwise functors over contiguous
// float arrays.
//
// map_kernel runs a functor element by element in a loop the compiler vectorizes, which is
// all an add or a ReLU needs. A functor that calls std::tanh, though, stays a scalar call into
// glibc per element (tanhf, which calls expm1f): perf put 28% of a GPT training step
// (bench_lm's gpt_train/M) in GELU's tanh and its derivative. Eigen evaluates tanh on whole
// AVX-512 / AVX2 registers with a rational approximation (generic_fast_tanh_float: the same
// one the LSTM's gate pass uses, see backend/cpu/lstm.hpp), so a functor listed here runs as an
// Eigen array expression over each contiguous chunk instead.
//
// Only float: double is what gradient checks run, and keeps the exact per-element functors of
// backend/functors.hpp, which the CUDA kernels run too. tests/test_array_forms.cpp holds every
// form here to its functor in double (relative error below 2e-6 over [-12, 12], NaN and
// infinities propagated alike).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <type_traits>

#include "nabla/backend/functors.hpp"

namespace nabla::backend::cpu {

/// ArrayForm<Function>::apply(out, inputs..., count) computes out[i] = Function{}(inputs[i]...)
/// for i < count with Eigen's packet math; undefined for a functor without one.
template <typename Function>
struct ArrayForm;

namespace detail {
// Templates over the element type (always float), so that the Eigen expressions below depend on
// a template parameter and are instantiated only in a TU that calls apply (docs/performance.md,
// "Compile time").
template <typename Float>
using FloatArray = Eigen::Map<Eigen::Array<Float, Eigen::Dynamic, 1>>;
template <typename Float>
using ConstFloatArray = Eigen::Map<const Eigen::Array<Float, Eigen::Dynamic, 1>>;

inline constexpr float kSqrt2OverPi = 0.79788456080286535588f;
inline constexpr float kGeluCubic = 0.044715f;

}  // namespace detail

/// tanh x
template <>
struct ArrayForm<Tanh> {
  template <typename Float>
  static void apply(Float* out, const Float* x, std::int64_t count) {
    detail::FloatArray<Float>(out, count) = detail::ConstFloatArray<Float>(x, count).tanh();
  }
};

/// gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
template <>
struct ArrayForm<GeluTanh> {
  template <typename Float>
  static void apply(Float* out, const Float* x, std::int64_t count) {
    const detail::ConstFloatArray<Float> input(x, count);
    detail::FloatArray<Float>(out, count) =
        0.5f * input * (1.0f + (detail::kSqrt2OverPi * (input + detail::kGeluCubic * input.cube())).tanh());
  }
};

/// gradient * d gelu_tanh(x)/dx = gradient (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2))
///
/// 1 - t^2 is computed as sech^2(u) = 4 e / (1 + e)^2, e = exp(-2|u|), not from t: Eigen's tanh
/// stops at 1 - 6e-8 for |u| >= 8, and 1 - t^2 would then stay 1.2e-7 where it is 0 in float,
/// an error that grows with x (1.2e-5 at x = 12).
template <>
struct ArrayForm<ChainRule<GeluTanhDerivative>> {
  template <typename Float>
  static void apply(Float* out, const Float* gradient, const Float* x, std::int64_t count) {
    // u is needed three times: kept per block of 256 in a stack buffer (an Eigen temporary of the
    // whole chunk would be a heap allocation per call).
    constexpr std::int64_t kBlock = 256;
    alignas(64) float u_buffer[kBlock];
    for (std::int64_t begin = 0; begin < count; begin += kBlock) {
      const std::int64_t n = count - begin < kBlock ? count - begin : kBlock;
      const detail::ConstFloatArray<Float> input(x + begin, n);
      detail::FloatArray<Float> u(u_buffer, n);
      u = detail::kSqrt2OverPi * (input + detail::kGeluCubic * input.cube());
      const auto e = (-2.0f * u.abs()).exp();
      // 0 beyond |u| = 44, where it underflows in float (Eigen's exp stops at e^-88 instead).
      const auto sech_squared = (u.abs() < 44.0f).select(4.0f * e / (1.0f + e).square(), 0.0f);
      const auto du_dx = detail::kSqrt2OverPi * (1.0f + 3.0f * detail::kGeluCubic * input.square());
      detail::FloatArray<Float>(out + begin, n) = detail::ConstFloatArray<Float>(gradient + begin, n) *
                                                  (0.5f * (1.0f + u.tanh()) + 0.5f * input * sech_squared * du_dx);
    }
  }
};

/// Whether map_kernel may run `Function` as its ArrayForm: defined for it, and every operand float.
template <typename Function, typename Out, typename... Inputs>
inline constexpr bool has_array_form = std::is_same_v<Out, float> && (std::is_same_v<Inputs, float> && ...) &&
                                       requires(float* out, std::int64_t count) {
  ArrayForm<Function>::apply(out, (static_cast<const Inputs*>(out))..., count);
};

}  // namespace nabla::backend::cpu
