// Both GELU forms against PyTorch (scripts/fixtures/make_gelu.py): nb::gelu and nn::GELU() as
// torch.nn.GELU(), nb::gelu_tanh and nn::GELU({.approximate = "tanh"}) as
// torch.nn.GELU(approximate='tanh'), values and derivatives on [-8, 8], in double and float.
// (Both are listed ops: tests/test_elementwise_ops.cpp checks them against long-double references.)
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>
#include <string>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_gelu {

namespace nb = nabla;
using nabla_test::Fixture;
using nabla_test::max_relative_difference;

namespace {

template <typename T>
void check_form(const std::string& form, double tolerance) {
  INFO(form << (sizeof(T) == 4 ? " (float)" : " (double)"));
  const Fixture fixture("gelu");
  nb::nn::GELU<T> module({.approximate = form == "tanh" ? "tanh" : "none"});
  auto x = fixture.get<T>("x").requires_grad_();
  auto y = module(x);
  CHECK(max_relative_difference(y.detach(), fixture.get<T>(form + ".y")) < tolerance);
  nb::sum(y).backward();
  CHECK(max_relative_difference(x.grad(), fixture.get<T>(form + ".grad")) < tolerance);
  // The function and the module agree.
  const auto direct = form == "tanh" ? nb::gelu_tanh(x.detach()) : nb::gelu(x.detach());
  CHECK(max_relative_difference(direct, y.detach()) == 0.0);
}

}  // namespace

TEST_CASE("GELU, exact and tanh forms, match torch.nn.GELU on [-8, 8]", "[gelu][nn]") {
  for (const std::string form : {"exact", "tanh"}) {
    check_form<double>(form, 1e-12);
    check_form<float>(form, 1e-6);
  }
}

TEST_CASE("nn::GELU: the approximate option", "[gelu][nn]") {
  CHECK(nb::nn::GELU<float>().approximate() == "none");
  nb::nn::GELU<float> tanh_form({.approximate = "tanh"});
  CHECK(tanh_form.approximate() == "tanh");
  CHECK(tanh_form.type_name() == "GELU");
  CHECK(tanh_form.describe() == "approximate='tanh'");
  CHECK_THROWS_AS(nb::nn::GELU<float>({.approximate = "sigmoid"}), nb::ValueError);
  // The two forms differ (by up to ~5e-4 near |x| = 2), so the option is not ignored.
  nb::nn::GELU<double> tanh_double({.approximate = "tanh"});
  const auto x = nb::from_vector<double>({-2.0, 2.0}, {2});
  CHECK(max_relative_difference(tanh_double(x), nb::gelu(x)) > 1e-5);
}

}  // namespace test_gelu
