// Extreme values (issue 16): the losses, softmax, LayerNorm, Adam and gradient clipping at the
// edges of float32, against PyTorch (tests/fixtures/extremes.txt from
// scripts/fixtures/make_extremes.py). Every result must be finite and equal PyTorch's where
// PyTorch's is finite; where float32 PyTorch loses the answer (a LayerNorm row of -1e4, a
// gradient norm of 1.8e30 squared into inf) the float64 PyTorch values are the reference.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_extremes {

namespace nb = nabla;
using nabla_test::Fixture;
using nabla_test::max_relative_difference;

namespace {

const Fixture& extremes() {
  static const Fixture fixture("extremes");
  return fixture;
}

bool all_finite(const nb::Tensor<float>& tensor) {
  for (const float value : tensor.to_vector())
    if (!std::isfinite(value)) return false;
  return true;
}

/// Fills `parameter`'s gradient with `values` (through backward of sum(parameter * values)).
void set_gradient(nb::Tensor<float>& parameter, const nb::Tensor<float>& values) {
  parameter.zero_grad();
  nb::sum(parameter * values).backward();
}

}  // namespace

TEST_CASE("cross_entropy and BCE with logits of +-1e4 are finite and equal PyTorch's", "[extremes][loss]") {
  const Fixture& f = extremes();
  auto logits = f.get<float>("ce.logits").requires_grad_();
  const auto target_values = f.get<double>("ce.targets").to_vector();
  std::vector<std::int64_t> ids(target_values.begin(), target_values.end());
  const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {static_cast<std::int64_t>(ids.size())});
  auto loss = nb::loss::cross_entropy(logits, targets);
  loss.backward();
  REQUIRE(std::isfinite(loss.item()));
  CHECK(max_relative_difference(loss, f.get<float>("ce.loss")) < 1e-6);
  REQUIRE(all_finite(logits.grad()));
  CHECK(max_relative_difference(logits.grad(), f.get<float>("ce.grad")) < 1e-6);

  auto x = f.get<float>("bce.logits").requires_grad_();
  auto bce = nb::loss::binary_cross_entropy_with_logits(x, f.get<float>("bce.targets"));
  bce.backward();
  REQUIRE(std::isfinite(bce.item()));
  CHECK(max_relative_difference(bce, f.get<float>("bce.loss")) < 1e-6);
  REQUIRE(all_finite(x.grad()));
  CHECK(max_relative_difference(x.grad(), f.get<float>("bce.grad")) < 1e-6);
}

// 1e-6 is float32's own agreement: a few units in the last place of the values (spacing 6e-8 at
// 0.5), the level at which float32 PyTorch and nabla agree elsewhere in this file. A log-sum-exp
// kept in float32 misses it: at logits of 1e4 its spacing is 2^-10 (a loss of log 2 off by 2.1e-4).
TEST_CASE("cross_entropy per row and with label smoothing at +-1e4 equals PyTorch's to float32 rounding",
          "[extremes][loss]") {
  const Fixture& f = extremes();
  auto logits = f.get<float>("ce_rows.logits").requires_grad_();
  const auto target_values = f.get<double>("ce_rows.targets").to_vector();
  const std::vector<std::int64_t> ids(target_values.begin(), target_values.end());
  const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {static_cast<std::int64_t>(ids.size())});

  auto losses = nb::loss::cross_entropy(logits, targets, nb::loss::Reduction::none);
  nb::sum(losses * f.get<float>("ce_rows.upstream")).backward();
  REQUIRE(all_finite(losses));
  CHECK(max_relative_difference(losses, f.get<float>("ce_rows.losses")) < 1e-6);
  REQUIRE(all_finite(logits.grad()));
  CHECK(max_relative_difference(logits.grad(), f.get<float>("ce_rows.grad")) < 1e-6);

  logits.zero_grad();
  auto smoothed = nb::loss::cross_entropy(logits, targets, nb::loss::Reduction::mean, -100, 0.1);
  smoothed.backward();
  CHECK(max_relative_difference(smoothed, f.get<float>("ce_smooth.loss")) < 1e-6);
  CHECK(max_relative_difference(logits.grad(), f.get<float>("ce_smooth.grad")) < 1e-6);
}

TEST_CASE("binary_cross_entropy_with_logits per element at +-1e4 equals PyTorch's", "[extremes][loss]") {
  const Fixture& f = extremes();
  auto x = f.get<float>("bce.logits").requires_grad_();
  auto losses = nb::loss::binary_cross_entropy_with_logits(x, f.get<float>("bce.targets"), nb::loss::Reduction::none);
  nb::sum(losses).backward();
  CHECK(max_relative_difference(losses, f.get<float>("bce_rows.losses")) < 1e-6);
  CHECK(max_relative_difference(x.grad(), f.get<float>("bce_rows.grad")) < 1e-6);
}

TEST_CASE("log_softmax at +-1e4 is (x - max) - log sum exp(x - max): exact near the max", "[extremes][softmax]") {
  // log_softmax([1e4, 1e4, -1e4]) = [-log 2, -log 2, -2e4 - log 2]: a float32 log-sum-exp would give
  // -0.6934 (1e4 + log 2 rounds to 10000.693359375)
  auto x = nb::from_vector<float>({1e4f, 1e4f, -1e4f, 1e4f + 1.0f, 1e4f, 0.0f}, {2, 3});
  const auto y = nb::log_softmax(x, -1).to_vector();
  const double log2 = std::log(2.0), log_one_plus_inverse_e = std::log1p(std::exp(-1.0));
  CHECK(y[0] == Approx(-log2).epsilon(1e-7));
  CHECK(y[1] == Approx(-log2).epsilon(1e-7));
  CHECK(y[2] == Approx(-2e4 - log2).epsilon(1e-7));
  CHECK(y[3] == Approx(-log_one_plus_inverse_e).epsilon(1e-7));
  CHECK(y[4] == Approx(-1.0 - log_one_plus_inverse_e).epsilon(1e-7));
}

TEST_CASE("the per-row cross-entropy math the CPU and CUDA kernels share keeps the max apart", "[extremes][loss]") {
  // backend::cross_entropy_row_loss / softmax_from_max_log_sum (NABLA_HOST_DEVICE: kernels/softmax.cu
  // runs the same functions) on a row [1e4, 1e4 - 1, -1e4] with target 1, against double.
  const float row_max = 1e4f, log_sum = static_cast<float>(std::log1p(std::exp(-1.0)));
  const double exact_loss = 1.0 + std::log1p(std::exp(-1.0));
  CHECK(nb::backend::cross_entropy_row_loss(row_max, log_sum, 1e4f - 1.0f, 0.0f, 1.0f, 0.0f) ==
        Approx(exact_loss).epsilon(1e-7));
  const double exact_top = 1.0 / (1.0 + std::exp(-1.0));
  CHECK(nb::backend::softmax_from_max_log_sum(1e4f, row_max, log_sum) == Approx(exact_top).epsilon(1e-7));
  CHECK(nb::backend::softmax_from_max_log_sum(1e4f - 1.0f, row_max, log_sum) == Approx(1.0 - exact_top).epsilon(1e-6));
  CHECK(nb::backend::softmax_from_max_log_sum(-1e4f, row_max, log_sum) == 0.0f);
}

TEST_CASE("softmax of rows that are -inf but for one entry is that entry's one-hot", "[extremes][softmax]") {
  const Fixture& f = extremes();
  const float inf = std::numeric_limits<float>::infinity();
  auto rows = nb::from_vector<float>({-inf, -inf, 2.0f, -inf, 5.0f, -inf, -inf, -inf, -inf, -inf, -inf, -1e4f}, {3, 4})
                  .requires_grad_();
  auto y = nb::softmax(rows, -1);
  nb::sum(y * f.get<float>("softmax.upstream")).backward();
  REQUIRE(all_finite(y));
  CHECK(max_relative_difference(y, f.get<float>("softmax.y")) == 0);
  REQUIRE(all_finite(rows.grad()));
  CHECK(max_relative_difference(rows.grad(), f.get<float>("softmax.grad")) == 0);
}

TEST_CASE("layer_norm of constant rows gives the bias and finite gradients", "[extremes][layer_norm]") {
  const Fixture& f = extremes();
  auto x = f.get<float>("ln64.x").requires_grad_();
  auto weight = f.get<float>("ln64.weight").requires_grad_();
  auto bias = f.get<float>("ln64.bias").requires_grad_();
  auto y = nb::layer_norm(x, {6}, weight, bias, 1e-5);
  nb::sum(y * f.get<float>("ln64.upstream")).backward();
  REQUIRE(all_finite(y));
  REQUIRE(all_finite(x.grad()));
  // A constant row has variance 0: y is exactly the bias, in every row (float32 PyTorch's row
  // of -1e4 is off by 0.04: it rounds the mean and finds a variance).
  CHECK(max_relative_difference(y, f.get<float>("ln64.y")) < 1e-6);
  CHECK(max_relative_difference(x.grad(), f.get<float>("ln64.grad_x")) < 1e-4);
  CHECK(max_relative_difference(weight.grad(), f.get<float>("ln64.grad_weight")) < 1e-6);
  CHECK(max_relative_difference(bias.grad(), f.get<float>("ln64.grad_bias")) < 1e-6);
  // Where float32 PyTorch is exact (rows 0 and 2), nabla equals it too.
  const auto torch_y = f.get<float>("ln.y").to_vector();
  const auto nabla_y = y.to_vector();
  for (std::size_t i : {0u, 1u, 2u, 3u, 4u, 5u, 12u, 13u, 14u, 15u, 16u, 17u}) CHECK(nabla_y[i] == Approx(torch_y[i]));
}

TEST_CASE("Adam stays finite and matches PyTorch through 100000 steps of zero gradients", "[extremes][optim]") {
  const Fixture& f = extremes();
  auto parameter = f.get<float>("adam.initial").requires_grad_();
  nb::optim::Adam<float> adam({parameter}, {.lr = 1e-3});
  const auto gradient = f.get<float>("adam.gradient");
  for (int step = 0; step < 10; ++step) {
    set_gradient(parameter, gradient);
    adam.step();
  }
  CHECK(max_relative_difference(parameter.detach(), f.get<float>("adam.after_10")) < 1e-6);
  parameter.zero_grad();
  for (int step = 0; step < 100000; ++step) adam.step();  // the gradient stays all zero
  REQUIRE(all_finite(parameter.detach()));
  CHECK(max_relative_difference(parameter.detach(), f.get<float>("adam.final")) < 1e-5);
}

TEST_CASE("clip_grad_norm_ of gradients of 1e30 gives finite unit-norm gradients", "[extremes][optim]") {
  const Fixture& f = extremes();
  auto weight = nb::from_vector<float>({1, 2, 3, 4}, {4}).requires_grad_();
  set_gradient(weight, nb::from_vector<float>({1e30f, -1e30f, 1e30f, 3e29f}, {4}));
  const float norm = nb::optim::clip_grad_norm_<float>({weight}, 1.0);
  REQUIRE(std::isfinite(norm));
  // The norm (1.76e30) is a float32 number: nabla sums the squares in double and gets it.
  // float32 PyTorch squares into inf and zeroes every gradient (clip.*); float64 is the reference.
  CHECK(norm == Approx(f.get<double>("clip64.norm").item()).epsilon(1e-6));
  REQUIRE(f.get<double>("clip.norm_is_finite").item() == 0);
  REQUIRE(all_finite(weight.grad()));
  CHECK(max_relative_difference(weight.grad(), f.get<float>("clip64.grad")) < 1e-6);
  nb::optim::SGD<float> sgd({weight}, {.lr = 0.5});
  sgd.step();
  CHECK(max_relative_difference(weight.detach(), f.get<float>("clip64.weight")) < 1e-6);
}

TEST_CASE("a shape whose non-zero sizes multiply past 2^48 is a ShapeError even when a size is 0",
          "[extremes][shape]") {
  // [0, 2^62, 2^62] holds no element, but its strides (2^62, then 2^124) overflow int64: core
  // caps the product of the non-zero sizes as the file readers do (io::checked_data_bytes).
  constexpr std::int64_t huge = std::int64_t{1} << 62;
  const nb::Shape empty_huge{0, huge, huge};
  CHECK_THROWS_AS(nb::Tensor<float>(empty_huge), nb::ShapeError);
  CHECK_THROWS_WITH(nb::Tensor<float>(empty_huge), Catch::Matchers::Contains("Tensor") &&
                                                       Catch::Matchers::Contains("[0,4611686018427387904,") &&
                                                       Catch::Matchers::Contains("2^48"));
  CHECK_THROWS_AS(nb::zeros<float>({huge, 0}), nb::ShapeError);
  CHECK_THROWS_AS(nb::Tensor<double>(nb::Shape{std::int64_t{1} << 40, 0, std::int64_t{1} << 40}), nb::ShapeError);
  CHECK_THROWS_AS(nb::zeros<float>({0}).reshape({0, huge, huge}), nb::ShapeError);
  // The cap itself: 2^48 with a zero among the sizes is a valid (empty) tensor with exact strides.
  const nb::Tensor<float> at_cap(nb::Shape{std::int64_t{1} << 24, 0, std::int64_t{1} << 24});
  CHECK(at_cap.numel() == 0);
  CHECK(at_cap.strides() == nb::Strides{0, std::int64_t{1} << 24, 1});
  CHECK_THROWS_AS(nb::Tensor<float>(nb::Shape{(std::int64_t{1} << 24) + 1, 0, std::int64_t{1} << 24}), nb::ShapeError);
}

}  // namespace test_extremes
