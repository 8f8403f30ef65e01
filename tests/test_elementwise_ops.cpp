// Tests of every op in NABLA_UNARY_OPS (backend/elementwise_ops.hpp), generated from the list:
// each listed op's functors against an independent reference (long double, written out here
// from the definition, not from the functor's formula), the public nb::name(x) against the same
// reference, and gradcheck in double. A listed op without a reference below fails the suite.
// The GPU side of the same list is checked in tests/cuda/test_cuda_parity.cpp.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <nabla/backend/elementwise_ops.hpp>
#include <nabla/backend/functors.hpp>
#include <nabla/nabla.hpp>
#include <set>
#include <string>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_elementwise_ops {

namespace nb = nabla;
namespace be = nabla::backend;

namespace {

using Real = long double;

/// An op's value and derivative at x, from its definition.
struct Reference {
  std::function<Real(Real)> value;
  std::function<Real(Real)> derivative;
};

/// The reference of every listed op, by name. Adding an op to NABLA_UNARY_OPS means adding it here.
const std::map<std::string, Reference>& references() {
  static const std::map<std::string, Reference> table = {
      {"exp", {[](Real x) { return std::exp(x); }, [](Real x) { return std::exp(x); }}},
      {"log", {[](Real x) { return std::log(x); }, [](Real x) { return 1 / x; }}},
      {"sqrt", {[](Real x) { return std::sqrt(x); }, [](Real x) { return 0.5L / std::sqrt(x); }}},
      {"square", {[](Real x) { return x * x; }, [](Real x) { return 2 * x; }}},
      {"abs", {[](Real x) { return std::fabs(x); }, [](Real x) { return x > 0 ? 1.0L : -1.0L; }}},
      {"tanh",
       {[](Real x) { return (std::exp(2 * x) - 1) / (std::exp(2 * x) + 1); },
        [](Real x) { return 1 / (std::cosh(x) * std::cosh(x)); }}},
      {"sigmoid",
       {[](Real x) { return 1 / (1 + std::exp(-x)); },
        [](Real x) { return std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))); }}},
      {"relu", {[](Real x) { return x > 0 ? x : 0.0L; }, [](Real x) { return x > 0 ? 1.0L : 0.0L; }}},
      // x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2; d/dx = Phi(x) + x e^(-x^2/2) / sqrt(2 pi)
      {"gelu",
       {[](Real x) { return x * std::erfc(-x / std::sqrt(2.0L)) / 2; },
        [](Real x) {
          return std::erfc(-x / std::sqrt(2.0L)) / 2 +
                 x * std::exp(-x * x / 2) / std::sqrt(2 * 3.14159265358979323846L);
        }}},
      // PyTorch's softplus (beta 1, threshold 20): ln(1 + e^x), and x itself above 20
      {"softplus",
       {[](Real x) { return x > 20 ? x : std::log1p(std::exp(x)); },
        [](Real x) { return x > 20 ? 1 : std::exp(x) / (1 + std::exp(x)); }}},
      // x / (1 + e^-x); d/dx = (1 + e^-x + x e^-x) / (1 + e^-x)^2
      {"silu",
       {[](Real x) { return x / (1 + std::exp(-x)); },
        [](Real x) { return (1 + std::exp(-x) + x * std::exp(-x)) / ((1 + std::exp(-x)) * (1 + std::exp(-x))); }}},
      // x (1 + tanh(u)) / 2 = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3);
      // d/dx = 1 / (1 + e^(-2u)) + x 2 e^(-2u) / (1 + e^(-2u))^2 du/dx
      {"gelu_tanh",
       {[](Real x) {
          const Real u = std::sqrt(2 / 3.14159265358979323846L) * (x + 0.044715L * x * x * x);
          return x / (1 + std::exp(-2 * u));
        },
        [](Real x) {
          const Real u = std::sqrt(2 / 3.14159265358979323846L) * (x + 0.044715L * x * x * x);
          const Real du = std::sqrt(2 / 3.14159265358979323846L) * (1 + 3 * 0.044715L * x * x);
          const Real e = std::exp(-2 * u);
          return 1 / (1 + e) + x * 2 * e / ((1 + e) * (1 + e)) * du;
        }}},
  };
  return table;
}

/// Points of each domain: both signs, near 0, and out in the tails (away from the kinks at 0).
std::vector<double> sample_points(be::Domain domain) {
  if (domain == be::Domain::positive) return {0.001, 0.05, 0.3, 0.9, 1.4, 2.2, 3.1, 17, 250};
  return {-30, -19.5, -3, -1.3, -0.4, -0.001, 0.001, 0.2, 0.7, 1.1, 2.5, 19.5, 20.5, 30};
}

/// |actual - expected| within `ulps` units of T relative to max(1, |expected|): relative for
/// large values, absolute for small ones (a derivative from a saturated output, 1 - tanh^2 far
/// out, keeps only absolute accuracy).
template <typename T>
bool close(T actual, Real expected, double ulps = 16) {
  const Real scale = std::max<Real>(1, std::fabs(expected));
  return std::fabs(static_cast<Real>(actual) - expected) <= ulps * std::numeric_limits<T>::epsilon() * scale;
}

/// The listed op's functors at every sample point: Forward against the reference value, and the
/// backward (ChainRule<Derivative> applied to the input or the output) against grad * the
/// reference derivative.
template <typename Forward, typename Derivative, be::Reads reads, typename T>
void check_functors(const std::string& name, be::Domain domain) {
  INFO(name);
  const auto found = references().find(name);
  REQUIRE(found != references().end());
  const Reference& reference = found->second;
  const T gradient = T(1.5);
  for (double point : sample_points(domain)) {
    const T x = static_cast<T>(point);
    const Real exact_x = static_cast<Real>(x);  // the point as T holds it
    const T y = Forward{}(x);
    INFO("x = " << point << ", value " << y << ", reference " << static_cast<double>(reference.value(exact_x)));
    CHECK(close(y, reference.value(exact_x)));
    const T from = reads == be::Reads::output ? y : x;
    const T backward = be::ChainRule<Derivative>{}(gradient, from);
    INFO("backward " << backward << ", reference "
                     << static_cast<double>(static_cast<Real>(gradient) * reference.derivative(exact_x)));
    CHECK(close(backward, static_cast<Real>(gradient) * reference.derivative(exact_x), 64));
  }
}

/// nb::name(x) on a tensor of the sample points (double), against the reference.
void check_public_op(const std::string& name, be::Domain domain,
                     const std::function<nb::Tensor<double>(const nb::Tensor<double>&)>& op) {
  INFO(name);
  const auto found = references().find(name);
  REQUIRE(found != references().end());
  const std::vector<double> points = sample_points(domain);
  const std::vector<double> values = op(nb::from_vector<double>(points)).to_vector();
  REQUIRE(values.size() == points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    INFO("x = " << points[i]);
    CHECK(close(values[i], found->second.value(points[i])));
  }
}

/// gradcheck in double on a [2, 3] input of the op's domain.
void check_gradient(const std::string& name, be::Domain domain,
                    const std::function<nb::Tensor<double>(const nb::Tensor<double>&)>& op) {
  const auto input = domain == be::Domain::positive ? nb::from_vector<double>({0.3, 0.9, 1.4, 2.2, 3.1, 0.05}, {2, 3})
                                                    : nb::from_vector<double>({-1.3, -0.4, 0.2, 0.7, 1.1, 2.5}, {2, 3});
  const auto result =
      nb::gradcheck<double>([&](const std::vector<nb::Tensor<double>>& x) { return op(x[0]); }, {input});
  INFO(name << ": " << result.report);
  CHECK(result);
}

}  // namespace

TEST_CASE("elementwise ops: the list names each op once and every one has a reference", "[elementwise_ops]") {
  std::set<std::string> names;
  std::size_t count = 0;
#define NABLA_NAME_OF(NAME, FORWARD, DERIVATIVE, READS, DOMAIN) \
  names.insert(#NAME);                                          \
  ++count;
  NABLA_UNARY_OPS(NABLA_NAME_OF)
#undef NABLA_NAME_OF
  CHECK(names.size() == count);
  for (const std::string& name : names) {
    INFO(name << " is listed in NABLA_UNARY_OPS but has no reference in this file");
    CHECK(references().count(name) == 1);
  }
  for (const auto& [name, reference] : references()) {
    INFO(name << " has a reference but is not listed in NABLA_UNARY_OPS");
    CHECK(names.count(name) == 1);
  }
}

TEMPLATE_TEST_CASE("elementwise ops: each listed functor and its backward match the reference", "[elementwise_ops]",
                   float, double) {
#define NABLA_CHECK_FUNCTORS(NAME, FORWARD, DERIVATIVE, READS, DOMAIN) \
  check_functors<be::FORWARD, be::DERIVATIVE, be::Reads::READS, TestType>(#NAME, be::Domain::DOMAIN);
  NABLA_UNARY_OPS(NABLA_CHECK_FUNCTORS)
#undef NABLA_CHECK_FUNCTORS
}

TEST_CASE("elementwise ops: each listed op's public function matches the reference", "[elementwise_ops]") {
#define NABLA_CHECK_PUBLIC(NAME, FORWARD, DERIVATIVE, READS, DOMAIN) \
  check_public_op(#NAME, be::Domain::DOMAIN, [](const nb::Tensor<double>& x) { return nb::NAME(x); });
  NABLA_UNARY_OPS(NABLA_CHECK_PUBLIC)
#undef NABLA_CHECK_PUBLIC
}

TEST_CASE("elementwise ops: gradcheck of every listed op", "[elementwise_ops][gradcheck]") {
#define NABLA_CHECK_GRADIENT(NAME, FORWARD, DERIVATIVE, READS, DOMAIN) \
  check_gradient(#NAME, be::Domain::DOMAIN, [](const nb::Tensor<double>& x) { return nb::NAME(x); });
  NABLA_UNARY_OPS(NABLA_CHECK_GRADIENT)
#undef NABLA_CHECK_GRADIENT
}

}  // namespace test_elementwise_ops
