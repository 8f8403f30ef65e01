// Tests of ops/unary.hpp (elementwise math, activations, maximum/minimum, comparisons,
// where) and of the per-element functions of backend/math.hpp they are built from.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <nabla/backend/math.hpp>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_unary {

namespace nb = nabla;
using Catch::Contains;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nb::Tensor<double> tensor(const std::vector<double>& values, const nb::Shape& shape) {
  return nb::from_vector<double>(values, shape);
}

nb::Tensor<double> tensor(const std::vector<double>& values) { return nb::from_vector<double>(values); }

/// Elementwise comparison with a relative tolerance; exact for infinities.
void require_values(const nb::Tensor<double>& actual, const std::vector<double>& expected) {
  const std::vector<double> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    if (std::isinf(expected[i]))
      REQUIRE(values[i] == expected[i]);
    else
      REQUIRE(values[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-15));
  }
}

void require_gradcheck(const std::string& name, const std::function<nb::Tensor<double>(const Inputs&)>& function,
                       const Inputs& inputs) {
  auto result = nb::gradcheck<double>(function, inputs);
  INFO(name << ": " << result.report);
  REQUIRE(result);
}

/// The gradient of sum(function(x)) at x (a leaf made here), by backward().
nb::Tensor<double> gradient_of_sum(const std::function<nb::Tensor<double>(const nb::Tensor<double>&)>& function,
                                   const std::vector<double>& values) {
  auto x = tensor(values).requires_grad_();
  auto out = function(x);
  out.backward(nb::ones_like(out));
  return x.grad();
}

/// A [3,2] transposed (column-major, non-contiguous) view of the row-major [2,3] `values`.
nb::Tensor<double> transposed_view(const std::vector<double>& values) {
  auto base = tensor(values, {2, 3});
  nb::Tensor<double> view(base.storage(), {3, 2}, {1, 3}, 0);
  REQUIRE_FALSE(view.is_contiguous());
  return view;
}

/// A dense copy of `view` (not part of any graph).
nb::Tensor<double> dense_copy(const nb::Tensor<double>& view) { return tensor(view.to_vector(), view.shape()); }

}  // namespace

// ---- backend/math.hpp, called directly ------------------------------------------------------

TEST_CASE("math: sigmoid is exact at its limits and finite for large |x|", "[unary][math]") {
  using nb::backend::sigmoid;
  REQUIRE(sigmoid(0.0) == 0.5);
  REQUIRE(sigmoid(2.0) == Approx(0.8807970779778823).epsilon(1e-15));
  REQUIRE(sigmoid(-2.0) == Approx(0.11920292202211755).epsilon(1e-15));
  // Large inputs: no overflow of e^x, hence no inf/inf = NaN.
  REQUIRE(sigmoid(100.0) == 1.0);
  REQUIRE(sigmoid(-100.0) > 0.0);
  REQUIRE(sigmoid(-100.0) == Approx(3.720075976020836e-44).epsilon(1e-12));
  REQUIRE(sigmoid(1000.0) == 1.0);
  REQUIRE(sigmoid(-1000.0) == 0.0);
  REQUIRE(sigmoid(kInfinity) == 1.0);
  REQUIRE(sigmoid(-kInfinity) == 0.0);
  REQUIRE(std::isnan(sigmoid(kNaN)));
  REQUIRE(sigmoid(100.0f) == 1.0f);
  REQUIRE(std::isfinite(sigmoid(-100.0f)));
  REQUIRE(sigmoid(-100.0f) >= 0.0f);
  REQUIRE(sigmoid(-200.0f) == 0.0f);
}

TEST_CASE("math: derivatives from outputs", "[unary][math]") {
  REQUIRE(nb::backend::sigmoid_derivative_from_output(0.5) == 0.25);
  REQUIRE(nb::backend::sigmoid_derivative_from_output(1.0) == 0.0);
  REQUIRE(nb::backend::tanh_derivative_from_output(0.5) == 0.75);
  REQUIRE(nb::backend::tanh_derivative_from_output(-1.0) == 0.0);
  REQUIRE(nb::backend::sqrt_derivative_from_output(2.0) == 0.25);
}

TEST_CASE("math: rectifiers, kinks and NaN", "[unary][math]") {
  using namespace nb::backend;
  REQUIRE(relu(-2.0) == 0.0);
  REQUIRE(relu(3.0) == 3.0);
  REQUIRE(std::isnan(relu(kNaN)));
  REQUIRE(relu_derivative(0.0) == 0.0);
  REQUIRE(relu_derivative(1e-300) == 1.0);
  REQUIRE(relu_derivative(-1.0) == 0.0);
  REQUIRE(leaky_relu(-2.0, 0.1) == Approx(-0.2));
  REQUIRE(leaky_relu(3.0, 0.1) == 3.0);
  REQUIRE(leaky_relu_derivative(0.0, 0.1) == 0.1);
  REQUIRE(leaky_relu_derivative(2.0, 0.1) == 1.0);
  REQUIRE(sign(-3.0) == -1.0);
  REQUIRE(sign(0.0) == 0.0);
  REQUIRE(sign(2.5) == 1.0);
  REQUIRE(is_nan(kNaN));
  REQUIRE_FALSE(is_nan(kInfinity));
}

TEST_CASE("math: gelu and its derivative", "[unary][math]") {
  using namespace nb::backend;
  REQUIRE(gelu(0.0) == 0.0);
  REQUIRE(gelu(1.0) == Approx(0.8413447460685429).epsilon(1e-14));
  REQUIRE(gelu(-1.0) == Approx(-0.15865525393145707).epsilon(1e-14));
  REQUIRE(gelu_derivative(0.0) == 0.5);
  REQUIRE(gelu_derivative(1.0) == Approx(1.0833154705876864).epsilon(1e-14));
  REQUIRE(gelu_derivative(-1.0) == Approx(-0.08331547058768629).epsilon(1e-13));
  REQUIRE(gelu(1.0f) == Approx(0.8413447f).epsilon(1e-6));
}

TEST_CASE("math: clamp, maximum, minimum and their gradient shares", "[unary][math]") {
  using namespace nb::backend;
  REQUIRE(clamp(5.0, 0.0, 1.0) == 1.0);
  REQUIRE(clamp(-1.0, 0.0, 1.0) == 0.0);
  REQUIRE(clamp(0.25, 0.0, 1.0) == 0.25);
  REQUIRE(std::isnan(clamp(kNaN, 0.0, 1.0)));
  REQUIRE(clamp_derivative(0.0, 0.0, 1.0) == 1.0);  // the bounds themselves pass the gradient
  REQUIRE(clamp_derivative(1.0, 0.0, 1.0) == 1.0);
  REQUIRE(clamp_derivative(1.5, 0.0, 1.0) == 0.0);
  REQUIRE(clamp_derivative(-0.5, 0.0, 1.0) == 0.0);

  REQUIRE(maximum(1.0, 2.0) == 2.0);
  REQUIRE(minimum(1.0, 2.0) == 1.0);
  REQUIRE(std::isnan(maximum(kNaN, 1.0)));
  REQUIRE(std::isnan(maximum(1.0, kNaN)));
  REQUIRE(std::isnan(minimum(kNaN, 1.0)));
  REQUIRE(std::isnan(minimum(1.0, kNaN)));
  REQUIRE(maximum_gradient_share(3.0, 2.0) == 1.0);
  REQUIRE(maximum_gradient_share(2.0, 3.0) == 0.0);
  REQUIRE(maximum_gradient_share(2.0, 2.0) == 0.5);
  REQUIRE(minimum_gradient_share(2.0, 3.0) == 1.0);
  REQUIRE(minimum_gradient_share(3.0, 2.0) == 0.0);
  REQUIRE(minimum_gradient_share(2.0, 2.0) == 0.5);
}

TEST_CASE("math: power derivatives and their special points", "[unary][math]") {
  using namespace nb::backend;
  REQUIRE(pow_derivative_base(2.0, 3.0) == 12.0);
  REQUIRE(pow_derivative_base(0.0, 0.0) == 0.0);  // x^0 is constant: not 0 * inf
  REQUIRE(pow_derivative_base(5.0, 0.0) == 0.0);
  REQUIRE(pow_derivative_exponent(2.0, 3.0, 8.0) == Approx(5.545177444479562).epsilon(1e-14));
  REQUIRE(pow_derivative_exponent(0.0, 2.0, 0.0) == 0.0);  // not 0 * -inf
  REQUIRE(pow_derivative_exponent(0.0, 0.0, 1.0) == 0.0);
}

TEST_CASE("math: masks and select", "[unary][math]") {
  using namespace nb::backend;
  REQUIRE(mask_value<double>(true) == 1.0);
  REQUIRE(mask_value<float>(false) == 0.0f);
  REQUIRE(select(1.0, 7.0, 9.0) == 7.0);
  REQUIRE(select(0.0, 7.0, 9.0) == 9.0);
  REQUIRE(select(-0.0, 7.0, 9.0) == 9.0);
  REQUIRE(select(kNaN, 7.0, 9.0) == 7.0);
}

// ---- forward values -------------------------------------------------------------------------

TEST_CASE("unary: forward values against hand-computed numbers", "[unary]") {
  require_values(nb::exp(tensor({0, 1, -1, 2})), {1, 2.718281828459045, 0.36787944117144233, 7.38905609893065});
  {
    const auto logs = nb::log(tensor({1, 2.718281828459045, 0, -1})).to_vector();
    REQUIRE(logs[0] == 0.0);
    REQUIRE(logs[1] == Approx(1.0).epsilon(1e-15));
    REQUIRE(logs[2] == -kInfinity);
    REQUIRE(std::isnan(logs[3]));
  }
  require_values(nb::sqrt(tensor({4, 2, 0})), {2, 1.4142135623730951, 0});
  require_values(nb::square(tensor({-3, 0.5})), {9, 0.25});
  require_values(nb::pow(tensor({2, -1.5}), 3), {8, -3.375});
  require_values(nb::pow(tensor({9, 4}), 0.5), {3, 2});
  require_values(nb::pow(tensor({4, 0.5}), -1), {0.25, 2});
  require_values(nb::pow(tensor({2, 3, 4}), tensor({3, 0.5, -1})), {8, 1.7320508075688772, 0.25});
  require_values(nb::abs(tensor({-2, 0, 3.5})), {2, 0, 3.5});
  require_values(nb::tanh(tensor({0, 0.5, -1})), {0, 0.46211715726000974, -0.7615941559557649});
  require_values(nb::sigmoid(tensor({0, 2, -2})), {0.5, 0.8807970779778823, 0.11920292202211755});
  require_values(nb::relu(tensor({-1, 0, 2})), {0, 0, 2});
  require_values(nb::leaky_relu(tensor({-2, 3}), 0.1), {-0.2, 3});
  require_values(nb::leaky_relu(tensor({-2, 3})), {-0.02, 3});  // PyTorch's default slope 0.01
  require_values(nb::gelu(tensor({0, 1, -1, 2})), {0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416});
  require_values(nb::clamp(tensor({-2, 0.5, 3}), 0, 1), {0, 0.5, 1});
  require_values(nb::maximum(tensor({1, 5, -2}), tensor({3, 2, -2})), {3, 5, -2});
  require_values(nb::minimum(tensor({1, 5, -2}), tensor({3, 2, -2})), {1, 2, -2});
}

TEST_CASE("unary: sigmoid of a float tensor at +-100 is finite with exact limits", "[unary]") {
  auto x = nb::from_vector<float>({-100, 100, -1000, 1000});
  const auto s = nb::sigmoid(x).to_vector();
  for (float value : s) REQUIRE(std::isfinite(value));
  REQUIRE(s[0] >= 0.0f);
  REQUIRE(s[0] < 1e-40f);
  REQUIRE(s[1] == 1.0f);
  REQUIRE(s[2] == 0.0f);
  REQUIRE(s[3] == 1.0f);
  // and the gradient there is finite too (0 up to rounding), not NaN
  x.requires_grad_();
  auto out = nb::sigmoid(x);
  out.backward(nb::ones_like(out));
  for (float value : x.grad().to_vector()) {
    REQUIRE(std::isfinite(value));
    REQUIRE(value < 1e-40f);
  }
}

TEST_CASE("unary: the float versions compile and agree with double", "[unary]") {
  auto x = nb::from_vector<float>({0.5f, 1.5f, 2.0f});
  const auto y = nb::gelu(nb::tanh(nb::sqrt(nb::exp(nb::log(x))))).to_vector();
  const auto reference = nb::gelu(nb::tanh(nb::sqrt(tensor({0.5, 1.5, 2.0})))).to_vector();
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(reference[i]).epsilon(1e-5));
  auto mask = nb::gt(x, 1.0f);
  REQUIRE(nb::where(mask, x, 0.0f).to_vector() == std::vector<float>{0.0f, 1.5f, 2.0f});
}

// ---- gradients ------------------------------------------------------------------------------

// The ops of NABLA_UNARY_OPS (exp, log, sqrt, square, abs, tanh, sigmoid, relu, gelu, ...) are
// gradchecked one by one, from the list, in tests/test_elementwise_ops.cpp.
TEST_CASE("unary: gradcheck of every differentiable op", "[unary][gradcheck]") {
  const auto any = tensor({-1.3, -0.4, 0.2, 0.7, 1.1, 2.5}, {2, 3});
  const auto positive = tensor({0.3, 0.9, 1.4, 2.2, 3.1, 0.05}, {2, 3});
  // For the ops with kinks (leaky_relu, clamp at 0 and 1): inputs away from them.
  const auto away_from_kinks = tensor({-1.3, -0.4, 0.2, 0.7, 1.1, 2.5}, {2, 3});

  require_gradcheck("pow(x, 3)", [](const Inputs& x) { return nb::pow(x[0], 3); }, {any});
  require_gradcheck("pow(x, 2.5)", [](const Inputs& x) { return nb::pow(x[0], 2.5); }, {positive});
  require_gradcheck("pow(x, -1.5)", [](const Inputs& x) { return nb::pow(x[0], -1.5); }, {positive});
  require_gradcheck("pow(x, y)", [](const Inputs& x) { return nb::pow(x[0], x[1]); }, {positive, any});
  require_gradcheck("leaky_relu", [](const Inputs& x) { return nb::leaky_relu(x[0], 0.2); }, {away_from_kinks});
  require_gradcheck("clamp", [](const Inputs& x) { return nb::clamp(x[0], 0, 1); }, {away_from_kinks});
  require_gradcheck("maximum", [](const Inputs& x) { return nb::maximum(x[0], x[1]); }, {any, positive});
  require_gradcheck("minimum", [](const Inputs& x) { return nb::minimum(x[0], x[1]); }, {any, positive});
  require_gradcheck("where", [](const Inputs& x) { return nb::where(nb::gt(x[0], 0.5), x[0], x[1]); }, {any, positive});
  // A chain: the engine composes the local derivatives.
  require_gradcheck("chain", [](const Inputs& x) { return nb::sigmoid(nb::gelu(nb::tanh(nb::exp(x[0])))); }, {any});
}

TEST_CASE("unary: gradcheck with broadcasting", "[unary][gradcheck]") {
  const auto column = tensor({0.5, 1.5, 2.5}, {3, 1});
  const auto row = tensor({-1.0, 0.5, 2.0, 3.0}, {1, 4});
  const auto matrix = tensor({0.1, 0.9, 1.7, 2.6, 3.3, -0.4, -1.2, 0.8, 1.4, 0.35, 2.2, -2.1}, {3, 4});
  const auto vector = tensor({0.3, 1.0, 1.5, -0.6}, {4});

  require_gradcheck("pow [3,1]^[1,4]", [](const Inputs& x) { return nb::pow(x[0], x[1]); }, {column, row});
  require_gradcheck("pow [3,1]^[4]", [](const Inputs& x) { return nb::pow(x[0], x[1]); }, {column, vector});
  require_gradcheck("maximum [3,4] [4]", [](const Inputs& x) { return nb::maximum(x[0], x[1]); }, {matrix, vector});
  require_gradcheck("minimum [3,1] [1,4]", [](const Inputs& x) { return nb::minimum(x[0], x[1]); }, {column, row});
  // where: the condition [3,1], a [1,4] and b [4] broadcast to [3,4].
  const auto condition = tensor({1, 0, 1}, {3, 1});
  require_gradcheck("where [3,1] [1,4] [4]", [condition](const Inputs& x) { return nb::where(condition, x[0], x[1]); },
                    {row, vector});
}

TEST_CASE("unary: where broadcasts all three operands and routes the gradient by the mask", "[unary]") {
  const auto condition = tensor({1, 0}, {2, 1});
  auto a = tensor({1, 2, 3}).requires_grad_();
  auto b = tensor({10, 20}, {2, 1}).requires_grad_();
  auto out = nb::where(condition, a, b);
  REQUIRE(out.shape() == nb::Shape{2, 3});
  require_values(out, {1, 2, 3, 20, 20, 20});
  out.backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  require_values(a.grad(), {1, 2, 3});  // row 0 chose a
  require_values(b.grad(), {0, 15});    // row 1 chose b: 4 + 5 + 6
  REQUIRE(a.grad().shape() == a.shape());
  REQUIRE(b.grad().shape() == b.shape());
}

TEST_CASE("unary: where with a scalar branch; no gradient to the condition", "[unary]") {
  auto x = tensor({-2, 3, -1, 4}).requires_grad_();
  auto condition = nb::gt(x, 0.0);
  REQUIRE_FALSE(condition.requires_grad());
  auto positive_part = nb::where(condition, x, 0.0);
  require_values(positive_part, {0, 3, 0, 4});
  auto negative_part = nb::where(condition, -1.0, x);
  require_values(negative_part, {-2, -1, -1, -1});
  (positive_part + negative_part).backward(nb::ones<double>({4}));
  require_values(x.grad(), {1, 1, 1, 1});

  // A condition that requires grad still gets none: where is not differentiable in it.
  auto soft_condition = tensor({1, 0}).requires_grad_();
  auto a = tensor({5, 6}).requires_grad_();
  nb::where(soft_condition, a, 0.0).backward(nb::ones<double>({2}));
  require_values(a.grad(), {1, 0});
  REQUIRE_FALSE(soft_condition.grad().defined());
}

TEST_CASE("unary: derivatives at the kinks follow PyTorch", "[unary]") {
  // relu and abs: 0 at 0; leaky_relu: the slope at 0; clamp: 1 on the bounds.
  require_values(gradient_of_sum([](const auto& x) { return nb::relu(x); }, {-1, 0, 2}), {0, 0, 1});
  require_values(gradient_of_sum([](const auto& x) { return nb::abs(x); }, {-1, 0, 2}), {-1, 0, 1});
  require_values(gradient_of_sum([](const auto& x) { return nb::leaky_relu(x, 0.1); }, {-1, 0, 2}), {0.1, 0.1, 1});
  require_values(gradient_of_sum([](const auto& x) { return nb::clamp(x, 0, 1); }, {-0.5, 0, 0.5, 1, 1.5}),
                 {0, 1, 1, 1, 0});
  // pow(x, 0) is the constant 1: gradient 0 even at x = 0 (not NaN).
  require_values(gradient_of_sum([](const auto& x) { return nb::pow(x, 0); }, {0, 2}), {0, 0});
  // d(0^y)/dy: 0, not NaN.
  auto base = tensor({0, 2}).requires_grad_();
  auto exponent = tensor({2, 3}).requires_grad_();
  nb::pow(base, exponent).backward(nb::ones<double>({2}));
  require_values(exponent.grad(), {0, 5.545177444479562});
  require_values(base.grad(), {0, 12});
}

TEST_CASE("unary: maximum and minimum split the gradient evenly on ties", "[unary]") {
  auto a = tensor({1, 2, 3}).requires_grad_();
  auto b = tensor({2, 2, 1}).requires_grad_();
  nb::maximum(a, b).backward(tensor({10, 10, 10}));
  require_values(a.grad(), {0, 5, 10});
  require_values(b.grad(), {10, 5, 0});

  auto c = tensor({1, 2, 3}).requires_grad_();
  auto d = tensor({2, 2, 1}).requires_grad_();
  nb::minimum(c, d).backward(tensor({10, 10, 10}));
  require_values(c.grad(), {10, 5, 0});
  require_values(d.grad(), {0, 5, 10});
}

TEST_CASE("unary: backward through the output-based derivatives gives hand-computed values", "[unary]") {
  // exp' = exp, sigmoid' = s(1-s), tanh' = 1 - t^2, sqrt' = 1/(2 sqrt), log' = 1/x, square' = 2x
  require_values(gradient_of_sum([](const auto& x) { return nb::exp(x); }, {0, 1}), {1, 2.718281828459045});
  require_values(gradient_of_sum([](const auto& x) { return nb::sigmoid(x); }, {0}), {0.25});
  require_values(gradient_of_sum([](const auto& x) { return nb::tanh(x); }, {0, 0.5}),
                 {1, 1 - 0.46211715726000974 * 0.46211715726000974});
  require_values(gradient_of_sum([](const auto& x) { return nb::sqrt(x); }, {4, 0.25}), {0.25, 1});
  require_values(gradient_of_sum([](const auto& x) { return nb::log(x); }, {4, 0.5}), {0.25, 2});
  require_values(gradient_of_sum([](const auto& x) { return nb::square(x); }, {-3, 0.5}), {-6, 1});
  require_values(gradient_of_sum([](const auto& x) { return nb::gelu(x); }, {0, 1}), {0.5, 1.0833154705876864});
}

// ---- non-contiguous inputs ------------------------------------------------------------------

TEST_CASE("unary: a transposed (non-contiguous) input gives the same values and gradients", "[unary]") {
  const std::vector<double> values = {0.3, -1.2, 0.8, 2.1, -0.6, 1.4};
  const std::vector<double> other_values = {1.1, 0.9, -0.5, 1.7, 0.2, 0.6};
  using Binary = std::function<nb::Tensor<double>(const nb::Tensor<double>&, const nb::Tensor<double>&)>;
  const std::vector<std::pair<std::string, Binary>> ops = {
      {"exp", [](const auto& x, const auto&) { return nb::exp(x); }},
      {"sigmoid", [](const auto& x, const auto&) { return nb::sigmoid(x); }},
      {"tanh", [](const auto& x, const auto&) { return nb::tanh(x); }},
      {"gelu", [](const auto& x, const auto&) { return nb::gelu(x); }},
      {"abs", [](const auto& x, const auto&) { return nb::abs(x); }},
      {"relu", [](const auto& x, const auto&) { return nb::relu(x); }},
      {"clamp", [](const auto& x, const auto&) { return nb::clamp(x, -1, 1); }},
      {"pow", [](const auto& x, const auto& y) { return nb::pow(nb::abs(x), y); }},
      {"maximum", [](const auto& x, const auto& y) { return nb::maximum(x, y); }},
      {"where", [](const auto& x, const auto& y) { return nb::where(nb::gt(x, 0.5), x, y); }},
  };
  const auto weights = tensor({1, -2, 3, 0.5, -1, 2}, {3, 2});
  for (const auto& [name, op] : ops) {
    INFO(name);
    // x and y are transposed views of row-major [2,3] buffers: strides {1, 3}.
    auto x_view = transposed_view(values).requires_grad_();
    auto y_view = transposed_view(other_values).requires_grad_();
    auto x_dense = dense_copy(x_view).requires_grad_();
    auto y_dense = dense_copy(y_view).requires_grad_();
    REQUIRE(x_view.to_vector() == std::vector<double>{0.3, 2.1, -1.2, -0.6, 0.8, 1.4});

    auto out_view = op(x_view, y_view);
    auto out_dense = op(x_dense, y_dense);
    REQUIRE(out_view.shape() == nb::Shape{3, 2});
    require_values(out_view, out_dense.to_vector());

    out_view.backward(weights);
    out_dense.backward(weights);
    require_values(x_view.grad(), x_dense.grad().to_vector());
    if (y_dense.grad().defined()) require_values(y_view.grad(), y_dense.grad().to_vector());
  }
}

TEST_CASE("unary: a broadcast (stride 0) view input", "[unary]") {
  // One row [3] seen as [2,3] without copying: stride 0 along the rows.
  auto row = tensor({1, 2, 3});
  nb::Tensor<double> expanded(row.storage(), {2, 3}, {0, 1}, 0);
  auto other = tensor({2, 2, 2, 0, 5, 0}, {2, 3});
  require_values(nb::maximum(expanded, other), {2, 2, 3, 1, 5, 3});
  require_values(nb::square(expanded), {1, 4, 9, 1, 4, 9});
}

// ---- comparisons ----------------------------------------------------------------------------

TEST_CASE("unary: comparisons give 0/1 masks, broadcast, and record no graph", "[unary][compare]") {
  auto a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  auto b = tensor({2, 2, 7});
  require_values(nb::eq(a, b), {0, 1, 0, 0, 0, 0});
  require_values(nb::ne(a, b), {1, 0, 1, 1, 1, 1});
  require_values(nb::lt(a, b), {1, 0, 1, 0, 0, 1});
  require_values(nb::le(a, b), {1, 1, 1, 0, 0, 1});
  require_values(nb::gt(a, b), {0, 0, 0, 1, 1, 0});
  require_values(nb::ge(a, b), {0, 1, 0, 1, 1, 0});
  REQUIRE(nb::lt(a, b).shape() == nb::Shape{2, 3});

  require_values(nb::eq(a, 3), {0, 0, 1, 0, 0, 0});
  require_values(nb::ne(a, 3), {1, 1, 0, 1, 1, 1});
  require_values(nb::lt(a, 3), {1, 1, 0, 0, 0, 0});
  require_values(nb::le(a, 3), {1, 1, 1, 0, 0, 0});
  require_values(nb::gt(a, 3), {0, 0, 0, 1, 1, 1});
  require_values(nb::ge(a, 3.5), {0, 0, 0, 1, 1, 1});

  const auto mask = nb::gt(a, b);
  REQUIRE_FALSE(mask.requires_grad());
  REQUIRE(mask.grad_fn() == nullptr);
}

TEST_CASE("unary: comparisons with NaN, on floats and on index tensors", "[unary][compare]") {
  const auto x = tensor({kNaN, 1});
  require_values(nb::eq(x, x), {0, 1});  // NaN equals nothing, itself included
  require_values(nb::ne(x, x), {1, 0});
  require_values(nb::lt(x, 2.0), {0, 1});

  // 0.1f compares equal to the scalar 0.1: the scalar is converted to the tensor's type.
  const auto f = nb::from_vector<float>({0.1f, 0.2f});
  REQUIRE(nb::eq(f, 0.1).to_vector() == std::vector<float>{1.0f, 0.0f});

  // Index tensors (say, predicted vs true labels) compare too.
  const auto predicted = nb::from_vector<std::int64_t>({3, 1, 4, 1});
  const auto labels = nb::from_vector<std::int64_t>({3, 0, 4, 2});
  REQUIRE(nb::eq(predicted, labels).to_vector() == std::vector<std::int64_t>{1, 0, 1, 0});
  REQUIRE(nb::ge(predicted, std::int64_t{2}).to_vector() == std::vector<std::int64_t>{1, 0, 1, 0});
}

// ---- errors ---------------------------------------------------------------------------------

TEST_CASE("unary: unbroadcastable shapes throw ShapeError naming the op and both shapes", "[unary][errors]") {
  const auto a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto b = tensor({1, 2, 3, 4}, {4});
  const std::vector<std::pair<std::string, std::function<nb::Tensor<double>()>>> cases = {
      {"eq", [&] { return nb::eq(a, b); }},           {"ne", [&] { return nb::ne(a, b); }},
      {"lt", [&] { return nb::lt(a, b); }},           {"le", [&] { return nb::le(a, b); }},
      {"gt", [&] { return nb::gt(a, b); }},           {"ge", [&] { return nb::ge(a, b); }},
      {"pow", [&] { return nb::pow(a, b); }},         {"maximum", [&] { return nb::maximum(a, b); }},
      {"minimum", [&] { return nb::minimum(a, b); }},
  };
  for (const auto& [name, call] : cases) {
    INFO(name);
    REQUIRE_THROWS_AS(call(), nb::ShapeError);
    REQUIRE_THROWS_WITH(call(), Contains(name + ":") && Contains("[2,3]") && Contains("[4]"));
  }
  const auto condition = tensor({1, 0}, {2, 1});
  REQUIRE_THROWS_AS(nb::where(condition, a, b), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::where(condition, a, b),
                      Contains("where:") && Contains("[2,1]") && Contains("[2,3]") && Contains("[4]"));
}

TEST_CASE("unary: clamp rejects min > max and NaN bounds", "[unary][errors]") {
  const auto x = tensor({1, 2});
  REQUIRE_THROWS_AS(nb::clamp(x, 2, 1), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::clamp(x, 2, 0.5), Contains("clamp") && Contains("min (2)") && Contains("max (0.5)"));
  REQUIRE_THROWS_AS(nb::clamp(x, kNaN, 1), nb::ValueError);
  REQUIRE_NOTHROW(nb::clamp(x, 1, 1));
}

TEST_CASE("unary: undefined inputs throw ValueError naming the op", "[unary][errors]") {
  const nb::Tensor<double> undefined;
  const auto x = tensor({1});
  REQUIRE_THROWS_AS(nb::exp(undefined), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::sigmoid(undefined), Contains("sigmoid"));
  REQUIRE_THROWS_WITH(nb::maximum(x, undefined), Contains("maximum"));
  REQUIRE_THROWS_WITH(nb::lt(undefined, 0.0), Contains("lt"));
  REQUIRE_THROWS_WITH(nb::where(undefined, x, x), Contains("where"));
}

TEST_CASE("unary: no graph is recorded without requires_grad or under NoGradGuard", "[unary]") {
  auto x = tensor({0.5, 1.5});
  REQUIRE_FALSE(nb::exp(x).requires_grad());
  x.requires_grad_();
  REQUIRE(nb::exp(x).requires_grad());
  REQUIRE(nb::exp(x).grad_fn()->name() == "exp");
  nb::NoGradGuard no_grad;
  REQUIRE_FALSE(nb::sigmoid(x).requires_grad());
  REQUIRE_FALSE(nb::pow(x, x).requires_grad());
}

TEST_CASE("unary: modifying a saved tensor in place before backward is reported", "[unary][errors]") {
  auto x = tensor({0.5, 1.5}).requires_grad_();
  auto s = nb::sigmoid(x);  // its backward reads s
  {
    nb::NoGradGuard no_grad;
    s *= 2.0;
  }
  REQUIRE_THROWS_AS(s.backward(nb::ones<double>({2})), nb::ValueError);
}

}  // namespace test_unary
