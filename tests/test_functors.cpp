// Tests of backend/functors.hpp: the per-element math the CPU loops and the CUDA kernels
// share. Each functor is called directly here, on the CPU, for float and double; the CUDA
// parity suite (tests/cuda/test_cuda_parity.cpp) then checks the kernels that run them.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/backend/functors.hpp>
#include <nabla/nabla.hpp>

namespace nb = nabla;
namespace be = nabla::backend;

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_functors {

TEMPLATE_TEST_CASE("functors: copies, constants and arithmetic", "[functors]", float, double) {
  using T = TestType;
  CHECK(be::Identity{}(T(2.5)) == T(2.5));
  CHECK(be::Fill<T>{T(7)}() == T(7));
  CHECK(be::Add{}(T(2), T(3)) == T(5));
  CHECK(be::Subtract{}(T(2), T(3)) == T(-1));
  CHECK(be::Multiply{}(T(2), T(3)) == T(6));
  CHECK(be::Divide{}(T(3), T(2)) == T(1.5));
  CHECK(be::Negate{}(T(2)) == T(-2));
  CHECK(be::AddScalar<T>{T(1)}(T(2)) == T(3));
  CHECK(be::SubtractScalar<T>{T(1)}(T(2)) == T(1));
  CHECK(be::MultiplyScalar<T>{T(4)}(T(2)) == T(8));
  CHECK(be::DivideScalar<T>{T(4)}(T(2)) == T(0.5));
  CHECK(be::ScalarMinus<T>{T(1)}(T(3)) == T(-2));
  CHECK(be::ScalarDivide<T>{T(1)}(T(4)) == T(0.25));
  // d(s / x)/dx = -s / x^2: grad 2, s 3, x 2 -> -1.5
  CHECK(be::ScalarDivideBackward<T>{T(3)}(T(2), T(2)) == T(-1.5));
  CHECK(be::Scale<T>{T(0.5)}(T(3)) == T(1.5));
}

TEMPLATE_TEST_CASE("functors: math and activations match backend/math.hpp", "[functors]", float, double) {
  using T = TestType;
  const T x = T(0.75);
  CHECK(be::Exp{}(x) == std::exp(x));
  CHECK(be::Log{}(x) == std::log(x));
  CHECK(be::Sqrt{}(x) == std::sqrt(x));
  CHECK(be::Square{}(x) == x * x);
  CHECK(be::Abs{}(-x) == x);
  CHECK(be::Tanh{}(x) == std::tanh(x));
  CHECK(be::Sigmoid{}(x) == be::sigmoid(x));
  CHECK(be::Relu{}(-x) == T(0));
  CHECK(be::Relu{}(x) == x);
  CHECK(be::Gelu{}(x) == be::gelu(x));
  CHECK(be::PowScalar<T>{T(3)}(T(2)) == T(8));
  CHECK(be::Pow{}(T(2), T(3)) == T(8));
  CHECK(be::LeakyRelu<T>{T(0.1)}(T(-2)) == T(-2) * T(0.1));
  CHECK(be::Clamp<T>{T(0), T(1)}(T(2)) == T(1));
  CHECK(be::Clamp<T>{T(0), T(1)}(T(-2)) == T(0));
  CHECK(be::Maximum{}(T(1), T(2)) == T(2));
  CHECK(be::Minimum{}(T(1), T(2)) == T(1));
  CHECK(std::isnan(be::Maximum{}(T(1), std::numeric_limits<T>::quiet_NaN())));
}

TEMPLATE_TEST_CASE("functors: derivatives and the chain rule", "[functors]", float, double) {
  using T = TestType;
  const T x = T(0.75), gradient = T(2);
  CHECK(be::ChainRule<be::SquareDerivative>{}(gradient, x) == gradient * T(2) * x);
  CHECK(be::ChainRule<be::Sign>{}(gradient, -x) == -gradient);
  CHECK(be::ChainRule<be::SqrtDerivativeFromOutput>{}(gradient, T(2)) == gradient * T(0.25));
  const T t = std::tanh(x), s = be::sigmoid(x);
  CHECK(be::ChainRule<be::TanhDerivativeFromOutput>{}(gradient, t) == gradient * (T(1) - t * t));
  CHECK(be::ChainRule<be::SigmoidDerivativeFromOutput>{}(gradient, s) == gradient * s * (T(1) - s));
  CHECK(be::ChainRule<be::ReluDerivative>{}(gradient, x) == gradient);
  CHECK(be::ChainRule<be::ReluDerivative>{}(gradient, T(0)) == T(0));
  CHECK(be::ChainRule<be::GeluDerivative>{}(gradient, x) == gradient * be::gelu_derivative(x));
  CHECK(be::ChainRule<be::LeakyReluDerivative<T>>{{T(0.1)}}(gradient, -x) == gradient * T(0.1));
  CHECK(be::ChainRule<be::ClampDerivative<T>>{{T(0), T(1)}}(gradient, T(2)) == T(0));
  CHECK(be::ChainRule<be::ClampDerivative<T>>{{T(0), T(1)}}(gradient, T(1)) == gradient);
  // d x^3/dx = 3 x^2 = 12 at x = 2
  CHECK(be::ChainRule<be::PowScalarDerivative<T>>{{T(3)}}(T(1), T(2)) == T(12));
  CHECK(be::ChainRule<be::PowDerivativeBase>{}(T(1), T(2), T(3)) == T(12));
  // d x^p/dp = x^p ln x = 8 ln 2 at x = 2, p = 3
  CHECK(be::ChainRule<be::PowDerivativeExponent>{}(T(1), T(2), T(3), T(8)) == Approx(8 * std::log(2.0)));
  CHECK(be::ChainRule<be::MaximumShareOfFirst>{}(gradient, T(2), T(1)) == gradient);
  CHECK(be::ChainRule<be::MaximumShareOfSecond>{}(gradient, T(2), T(1)) == T(0));
  CHECK(be::ChainRule<be::MinimumShareOfFirst>{}(gradient, T(1), T(1)) == gradient / T(2));
  CHECK(be::ChainRule<be::MinimumShareOfSecond>{}(gradient, T(2), T(1)) == gradient);
}

TEMPLATE_TEST_CASE("functors: comparisons, selection and reduction helpers", "[functors]", float, double) {
  using T = TestType;
  CHECK(be::CompareMask{be::Comparison::less}(T(1), T(2)) == T(1));
  CHECK(be::CompareMask{be::Comparison::greater_equal}(T(1), T(2)) == T(0));
  CHECK(be::CompareMask{be::Comparison::equal}(T(2), T(2)) == T(1));
  CHECK(be::CompareMask{be::Comparison::not_equal}(T(2), T(2)) == T(0));
  CHECK(be::CompareScalarMask<T>{be::Comparison::less_equal, T(2)}(T(2)) == T(1));
  CHECK(be::CompareScalarMask<T>{be::Comparison::greater, T(2)}(T(2)) == T(0));
  CHECK(be::Select{}(T(1), T(3), T(4)) == T(3));
  CHECK(be::Select{}(T(0), T(3), T(4)) == T(4));
  CHECK(be::GradientWhereTrue{}(T(5), T(1)) == T(5));
  CHECK(be::GradientWhereFalse{}(T(5), T(1)) == T(0));
  const T nan = std::numeric_limits<T>::quiet_NaN(), infinity = std::numeric_limits<T>::infinity();
  CHECK(be::ExtremeShare<T>{T(3), T(0.5)}(T(3)) == T(0.5));
  CHECK(be::ExtremeShare<T>{T(3), T(0.5)}(T(2)) == T(0));
  CHECK(be::ExtremeShare<T>{nan, T(0.5)}(nan) == T(0.5));
  CHECK(be::FiniteOrZero{}(infinity) == T(0));
  CHECK(be::FiniteOrZero{}(T(2)) == T(2));
  CHECK(be::ShiftedExp{}(T(3), T(1)) == std::exp(T(2)));
  CHECK(be::ShiftPlusLog{}(T(2), T(1)) == T(1) + std::log(T(2)));
  CHECK(be::LogSumExpBackward{}(T(1), T(1), T(3)) == T(3));
}

TEMPLATE_TEST_CASE("functors: gathers and class-id losses", "[functors]", float, double) {
  using T = TestType;
  // index_select of indices {3, 0, 3} from a [2, 4, 2] input: output element i of [2, 3, 2]
  const std::int64_t indices[] = {3, 0, 3};
  CHECK(be::index_select_source(0, indices, 3, 4, 2) == 6);    // (0, 0, 0) reads (0, 3, 0)
  CHECK(be::index_select_source(3, indices, 3, 4, 2) == 1);    // (0, 1, 1) reads (0, 0, 1)
  CHECK(be::index_select_source(11, indices, 3, 4, 2) == 15);  // (1, 2, 1) reads (1, 3, 1)
  const T row[] = {T(-0.5), T(-1.5), T(-2)};
  CHECK(be::nll_row_loss(row, 1, -100) == T(1.5));
  CHECK(be::nll_row_loss(row, 1, 1) == T(0));  // an ignored row
  CHECK(be::nll_gradient<T>(1, 1, -100, T(2)) == T(-2));
  CHECK(be::nll_gradient<T>(0, 1, -100, T(2)) == T(0));
  CHECK(be::nll_gradient<T>(1, 1, 1, T(2)) == T(0));
  // margin 1, x_y = 2: x_j = 1.5 is within the margin (gap 0.5), x_j = 0.5 is not (gap -0.5)
  CHECK(be::multi_margin_term(T(2), T(1.5), T(1), 1) == T(0.5));
  CHECK(be::multi_margin_term(T(2), T(1.5), T(1), 2) == T(0.25));
  CHECK(be::multi_margin_term(T(2), T(0.5), T(1), 1) == T(0));
  CHECK(be::multi_margin_term_derivative(T(2), T(1.5), T(1), 1) == T(1));
  CHECK(be::multi_margin_term_derivative(T(2), T(1.75), T(1), 2) == T(1.5));  // 2 * gap
  CHECK(be::multi_margin_term_derivative(T(2), T(0.5), T(1), 2) == T(0));
  // a NaN score adds nothing, as the CPU loop always did (its test was term > 0)
  const T nan = std::numeric_limits<T>::quiet_NaN();
  CHECK(be::multi_margin_term(T(2), nan, T(1), 1) == T(0));
  CHECK(be::multi_margin_term_derivative(T(2), nan, T(1), 2) == T(0));
}

TEST_CASE("dispatch: CPU factories take a device; CUDA without the backend is a DeviceError", "[functors]") {
  const auto on_cpu = nb::zeros<float>({2, 3}, nb::Device::cpu());
  CHECK(on_cpu.device().is_cpu());
  CHECK(nb::zeros_like(on_cpu).device().is_cpu());
  CHECK(nb::randn<float>({4}, 1, nb::Device::cpu()).to_vector() == nb::randn<float>({4}, 1).to_vector());
#if !defined(NABLA_WITH_CUDA)
  CHECK_THROWS_AS(nb::zeros<float>({2}, nb::Device::cuda()), nb::DeviceError);
  CHECK_THROWS_WITH(nb::randn<float>({2}, 1, nb::Device::cuda()), Catch::Contains("built without CUDA"));
#endif
}

}  // namespace test_functors
