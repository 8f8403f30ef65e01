// The CPU's Eigen array forms of elementwise functors (backend/cpu/array_forms.hpp) against the
// per-element functors they replace in float, evaluated in double: relative error below 2e-6 over
// [-12, 12] and at the special values, NaN and infinities propagated as the functors do. Then the
// same through the ops: a contiguous tensor (array form) and a strided view of the same values
// (per-element functor) give the same results.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nabla/backend/cpu/array_forms.hpp>
#include <nabla/nabla.hpp>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_array_forms {

namespace nb = nabla;
namespace cpu = nabla::backend::cpu;

namespace {

/// -12 .. 12 in steps of 1/256, the values around GELU's and tanh's turning points, and the
/// specials.
std::vector<float> inputs() {
  std::vector<float> values;
  for (int i = -12 * 256; i <= 12 * 256; ++i) values.push_back(static_cast<float>(i) / 256.0f);
  for (float v : {1e-30f, -1e-30f, 3e-4f, 4e-4f, 5e-4f, 7.9f, 7.99f, 8.0f, 9.0f, 20.0f, 1e4f, -1e4f, 1e30f, -1e30f})
    values.push_back(v);
  return values;
}

/// max over i of |actual_i - expected_i| / max(1, |expected_i|); NaN (or an infinity) in one
/// and not the same in the other counts as infinitely wrong.
double max_error(const std::vector<float>& actual, const std::vector<double>& expected) {
  double worst = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(e) != std::isnan(a)) return std::numeric_limits<double>::infinity();
      continue;
    }
    if (std::isinf(e) || std::isinf(a)) {
      if (a != e) return std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::max(worst, std::abs(a - e) / std::max(1.0, std::abs(e)));
  }
  return worst;
}

template <typename Function>
void check_unary(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  cpu::ArrayForm<Function>::apply(out.data(), x.data(), static_cast<std::int64_t>(x.size()));
  std::vector<double> expected(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) expected[i] = Function{}(static_cast<double>(x[i]));
  CHECK(max_error(out, expected) < 2e-6);
}

}  // namespace

TEST_CASE("array forms: tanh and GELU (tanh form) equal their functors", "[array_forms][elementwise]") {
  std::vector<float> x = inputs();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  x.insert(x.end(), {nan, inf, -inf});
  check_unary<nb::backend::Tanh>(x);
  // gelu_tanh(-inf) = 0.5 (-inf) (1 + -1) is NaN for the functor too; +inf stays +inf.
  check_unary<nb::backend::GeluTanh>(x);

  // The derivative at x = +-1e30 is NaN in float (x^2 overflows; the float functor agrees) but
  // finite in double: checked apart, against the float functor.
  const std::vector<float> overflowing = {1e30f, -1e30f};
  for (const float v : overflowing) {
    float array_form = 0;
    cpu::ArrayForm<nb::backend::ChainRule<nb::backend::GeluTanhDerivative>>::apply(&array_form, &v, &v, 1);
    CHECK(std::isnan(array_form) == std::isnan(nb::backend::ChainRule<nb::backend::GeluTanhDerivative>{}(v, v)));
  }
  std::erase_if(x, [](float v) { return std::abs(v) == 1e30f; });
  std::vector<float> gradient(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) gradient[i] = 0.25f + static_cast<float>(i % 7) * 0.5f;
  gradient[0] = -3.0f;
  std::vector<float> out(x.size());
  using Backward = nb::backend::ChainRule<nb::backend::GeluTanhDerivative>;
  cpu::ArrayForm<Backward>::apply(out.data(), gradient.data(), x.data(), static_cast<std::int64_t>(x.size()));
  std::vector<double> expected(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    expected[i] = Backward{}(static_cast<double>(gradient[i]), static_cast<double>(x[i]));
  CHECK(max_error(out, expected) < 2e-6);
  CHECK(std::isnan(out[x.size() - 3]));  // NaN in, NaN out: a diverged run must not look finite
}

TEST_CASE("array forms: only float operands of listed functors take them", "[array_forms][elementwise]") {
  STATIC_REQUIRE(cpu::has_array_form<nb::backend::GeluTanh, float, float>);
  STATIC_REQUIRE(cpu::has_array_form<nb::backend::ChainRule<nb::backend::GeluTanhDerivative>, float, float, float>);
  STATIC_REQUIRE_FALSE(cpu::has_array_form<nb::backend::GeluTanh, double, double>);  // double stays exact
  STATIC_REQUIRE_FALSE(cpu::has_array_form<nb::backend::Exp, float, float>);         // not listed
  STATIC_REQUIRE_FALSE(cpu::has_array_form<nb::backend::Tanh, float, double>);
}

TEST_CASE("array forms: gelu_tanh and tanh on a dense tensor equal the strided per-element path",
          "[array_forms][elementwise]") {
  const std::vector<float> values = inputs();
  const auto n = static_cast<std::int64_t>(values.size());
  // [n, 2] with the values in column 0: column 0 ([n, 1], row stride 2) is a strided view (per-element functor); a
  // contiguous copy of it takes the array form. Large enough to be split across threads.
  std::vector<float> interleaved(2 * values.size(), 0.5f);
  for (std::size_t i = 0; i < values.size(); ++i) interleaved[2 * i] = values[i];
  for (int repeat = 0; repeat < 2; ++repeat) {
    nb::Tensor<float> pairs = nb::from_vector<float>(interleaved, {n, 2}).requires_grad_(true);
    nb::Tensor<float> strided = nb::narrow(pairs, 1, 0, 1);
    REQUIRE_FALSE(strided.is_contiguous());
    nb::Tensor<float> dense = strided.detach().contiguous().requires_grad_(true);
    REQUIRE(dense.is_contiguous());
    const nb::Tensor<float> strided_y = repeat == 0 ? nb::gelu_tanh(strided) : nb::tanh(strided);
    const nb::Tensor<float> dense_y = repeat == 0 ? nb::gelu_tanh(dense) : nb::tanh(dense);
    const auto a = dense_y.to_vector(), b = strided_y.contiguous().to_vector();
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / std::max(1.0, std::abs(double(b[i]))));
    CHECK(worst < 2e-6);
    if (repeat == 0) {
      nb::sum(strided_y * strided_y).backward();
      nb::sum(dense_y * dense_y).backward();
      const auto ga = dense.grad().to_vector();
      const auto gb = nb::narrow(pairs.grad(), 1, 0, 1).contiguous().to_vector();
      double worst_grad = 0;
      for (std::size_t i = 0; i < ga.size(); ++i)
        worst_grad = std::max(worst_grad, std::abs(static_cast<double>(ga[i]) - gb[i]) /
                                              std::max(1.0, std::abs(static_cast<double>(gb[i]))));
      CHECK(worst_grad < 1e-5);
    }
  }
}

}  // namespace test_array_forms
