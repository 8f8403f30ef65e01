// Tests of nabla::loss: every loss against PyTorch's values and gradients (fixtures from
// scripts/fixtures/make_loss.py), gradcheck of every backward, hand-computed values, the
// functor objects, numerical stability, and the error messages for bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_loss {

namespace nb = nabla;
using Catch::Contains;
using nb::loss::Reduction;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {

const nabla_test::Fixture& fixture() {
  static const nabla_test::Fixture loaded("loss");
  return loaded;
}

/// Class ids stored as doubles in the fixture, as an IndexTensor.
template <typename T>
nb::IndexTensor to_index(const nb::Tensor<T>& values) {
  std::vector<std::int64_t> ids;
  for (T value : values.to_vector()) ids.push_back(static_cast<std::int64_t>(value));
  return nb::from_vector<std::int64_t>(ids, values.shape());
}

template <typename T>
nb::Tensor<T> tensor(const std::vector<double>& values, const nb::Shape& shape) {
  return nb::from_vector<T>(std::vector<T>(values.begin(), values.end()), shape);
}

/// Runs loss(prediction, target, reduction) for every reduction on the fixture case `name`
/// in precision T and compares the value and the gradient with PyTorch's.
template <typename T, typename Loss>
void require_matches_torch(const std::string& name, const Loss& loss, double tolerance) {
  const auto& f = fixture();
  for (Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::none}) {
    const std::string key = name + "." + nb::loss::reduction_name(reduction);
    INFO(key << " in " << (sizeof(T) == 4 ? "float" : "double"));
    auto prediction = f.get<T>(name + ".prediction").requires_grad_();
    const auto target = f.get<T>(name + ".target");
    auto out = loss(prediction, target, reduction);
    REQUIRE(nabla_test::max_relative_difference(out, f.get<T>(key)) < tolerance);
    if (reduction == Reduction::none)
      out.backward(f.get<T>(name + ".upstream"));
    else
      out.backward();
    REQUIRE(nabla_test::max_relative_difference(prediction.grad(), f.get<T>(key + ".grad")) < tolerance);
  }
}

template <typename Loss>
void require_matches_torch_in_both_precisions(const std::string& name, const Loss& loss) {
  require_matches_torch<double>(name, loss, 1e-12);
  require_matches_torch<float>(name, loss, 1e-5);
}

void require_gradcheck(const std::string& what, const std::function<nb::Tensor<double>(const Inputs&)>& function,
                       const Inputs& inputs) {
  auto result = nb::gradcheck<double>(function, inputs);
  INFO(what << ": " << result.report);
  REQUIRE(result);
}

const std::vector<Reduction> kAllReductions{Reduction::mean, Reduction::sum, Reduction::none};

}  // namespace

// ---- PyTorch parity -------------------------------------------------------------------------

TEST_CASE("regression losses match PyTorch", "[loss][fixture]") {
  require_matches_torch_in_both_precisions(
      "mse", [](const auto& x, const auto& y, Reduction r) { return nb::loss::mse(x, y, r); });
  require_matches_torch_in_both_precisions(
      "l1", [](const auto& x, const auto& y, Reduction r) { return nb::loss::l1(x, y, r); });
  require_matches_torch_in_both_precisions(
      "huber", [](const auto& x, const auto& y, Reduction r) { return nb::loss::huber(x, y, r); });
  require_matches_torch_in_both_precisions(
      "huber_half", [](const auto& x, const auto& y, Reduction r) { return nb::loss::huber(x, y, r, 0.5); });
}

TEST_CASE("regression losses give PyTorch's gradient with respect to the target", "[loss][fixture]") {
  const auto& f = fixture();
  for (const std::string name : {"mse", "l1", "huber", "bce_logits"}) {
    INFO(name);
    auto prediction = f.get<double>(name + ".prediction");
    auto target = f.get<double>(name + ".target").requires_grad_();
    nb::Tensor<double> out = name == "mse"     ? nb::loss::mse(prediction, target)
                             : name == "l1"    ? nb::loss::l1(prediction, target)
                             : name == "huber" ? nb::loss::huber(prediction, target)
                                               : nb::loss::binary_cross_entropy_with_logits(prediction, target);
    out.backward();
    REQUIRE(nabla_test::max_relative_difference(target.grad(), f.get<double>(name + ".mean.grad_target")) < 1e-12);
  }
}

TEST_CASE("cross-entropy matches PyTorch: plain, ignore_index, label smoothing, [B, L, C]", "[loss][fixture]") {
  struct Case {
    std::string name;
    std::int64_t ignore_index;
    double label_smoothing;
  };
  for (const Case& c :
       {Case{"ce", -100, 0.0}, Case{"ce_ignore", -100, 0.0}, Case{"ce_ignore0", 0, 0.0}, Case{"ce_smooth", -100, 0.1},
        Case{"ce_smooth_ignore", -100, 0.25}, Case{"ce_sequence", -100, 0.1}}) {
    INFO(c.name);
    // class ids as an IndexTensor ...
    require_matches_torch_in_both_precisions(c.name, [&c](const auto& logits, const auto& target, Reduction r) {
      return nb::loss::cross_entropy(logits, to_index(target), r, c.ignore_index, c.label_smoothing);
    });
    // ... and as whole numbers in a float tensor, through the functor object
    require_matches_torch_in_both_precisions(c.name, [&c](const auto& logits, const auto& target, Reduction r) {
      nb::loss::CrossEntropy loss{.ignore_index = c.ignore_index, .label_smoothing = c.label_smoothing, .reduction = r};
      return loss(logits, target);
    });
  }
}

TEST_CASE("nll, binary cross-entropy, hinge and multi-margin match PyTorch", "[loss][fixture]") {
  require_matches_torch_in_both_precisions(
      "nll", [](const auto& x, const auto& y, Reduction r) { return nb::loss::nll(x, y, r); });
  require_matches_torch_in_both_precisions(
      "bce", [](const auto& x, const auto& y, Reduction r) { return nb::loss::binary_cross_entropy(x, y, r); });
  require_matches_torch_in_both_precisions("bce_hard", [](const auto& x, const auto& y, Reduction r) {
    return nb::loss::BinaryCrossEntropy{.reduction = r}(x, y);
  });
  require_matches_torch_in_both_precisions(
      "bce_logits", [](const auto& x, const auto& y, Reduction r) { return nb::loss::BCEWithLogits{r}(x, y); });
  require_matches_torch_in_both_precisions(
      "hinge", [](const auto& x, const auto& y, Reduction r) { return nb::loss::hinge(x, y, r); });
  require_matches_torch_in_both_precisions("multi_margin", [](const auto& x, const auto& y, Reduction r) {
    return nb::loss::multi_margin(x, to_index(y), r);
  });
  require_matches_torch_in_both_precisions("multi_margin_p2", [](const auto& x, const auto& y, Reduction r) {
    return nb::loss::MultiMargin{.margin = 0.5, .p = 2, .reduction = r}(x, y);
  });
}

// ---- gradcheck ------------------------------------------------------------------------------

TEST_CASE("gradcheck: regression losses, w.r.t. prediction and target, contiguous and views", "[loss][gradcheck]") {
  const auto& f = fixture();
  const auto prediction = f.get<double>("mse.prediction");  // [4,3]
  const auto target = f.get<double>("mse.target");
  const auto wide = f.get<double>("huber.prediction");
  for (Reduction r : kAllReductions) {
    const std::string reduction = nb::loss::reduction_name(r);
    require_gradcheck("mse " + reduction, [r](const Inputs& in) { return nb::loss::mse(in[0], in[1], r); },
                      {prediction, target});
    require_gradcheck("l1 " + reduction, [r](const Inputs& in) { return nb::loss::l1(in[0], in[1], r); },
                      {prediction, target});
    require_gradcheck("huber " + reduction, [r](const Inputs& in) { return nb::loss::huber(in[0], in[1], r); },
                      {wide, target});
    require_gradcheck("huber 0.5 " + reduction, [r](const Inputs& in) { return nb::loss::huber(in[0], in[1], r, 0.5); },
                      {wide, target});
    // a transposed (non-contiguous) prediction
    require_gradcheck("mse of a view " + reduction,
                      [r](const Inputs& in) { return nb::loss::mse(in[0].t(), in[1], r); },
                      {f.get<double>("mse.prediction").reshape({3, 4}), target});
  }
}

TEST_CASE("gradcheck: class losses", "[loss][gradcheck]") {
  const auto& f = fixture();
  const auto logits = f.get<double>("ce.prediction");  // [6,5]
  const nb::IndexTensor classes = to_index(f.get<double>("ce.target"));
  const nb::IndexTensor padded = to_index(f.get<double>("ce_ignore.target"));
  for (Reduction r : kAllReductions) {
    const std::string reduction = nb::loss::reduction_name(r);
    require_gradcheck("cross_entropy " + reduction,
                      [&](const Inputs& in) { return nb::loss::cross_entropy(in[0], classes, r); }, {logits});
    require_gradcheck("cross_entropy ignore + smoothing " + reduction,
                      [&](const Inputs& in) { return nb::loss::cross_entropy(in[0], padded, r, -100, 0.2); }, {logits});
    // logits stored transposed: a non-contiguous [6,5] view of a [5,6] tensor
    require_gradcheck("cross_entropy of a view " + reduction,
                      [&](const Inputs& in) { return nb::loss::cross_entropy(in[0].t(), classes, r, -100, 0.1); },
                      {logits.reshape({5, 6})});
    require_gradcheck("cross_entropy [B, L, C] " + reduction,
                      [&](const Inputs& in) {
                        return nb::loss::cross_entropy(in[0], to_index(f.get<double>("ce_sequence.target")), r);
                      },
                      {f.get<double>("ce_sequence.prediction")});
    require_gradcheck("nll " + reduction, [&](const Inputs& in) { return nb::loss::nll(in[0], padded, r); },
                      {f.get<double>("nll.prediction")});
    require_gradcheck("multi_margin " + reduction,
                      [&](const Inputs& in) { return nb::loss::multi_margin(in[0], classes, r); },
                      {f.get<double>("multi_margin.prediction")});
    require_gradcheck("multi_margin p=2 " + reduction,
                      [&](const Inputs& in) { return nb::loss::multi_margin(in[0], classes, r, 0.5, 2); },
                      {f.get<double>("multi_margin.prediction")});
  }
}

TEST_CASE("gradcheck: binary losses", "[loss][gradcheck]") {
  const auto& f = fixture();
  const auto probabilities = f.get<double>("bce.prediction");
  const auto soft_targets = f.get<double>("bce.target");
  const auto scores = f.get<double>("bce_logits.prediction");
  const auto hinge_scores = f.get<double>("hinge.prediction");
  const auto signs = f.get<double>("hinge.target");
  for (Reduction r : kAllReductions) {
    const std::string reduction = nb::loss::reduction_name(r);
    require_gradcheck("bce " + reduction,
                      [r](const Inputs& in) { return nb::loss::binary_cross_entropy(in[0], in[1], r); },
                      {probabilities, soft_targets});
    require_gradcheck("bce with logits " + reduction,
                      [r](const Inputs& in) { return nb::loss::binary_cross_entropy_with_logits(in[0], in[1], r); },
                      {scores, soft_targets});
    require_gradcheck("hinge " + reduction, [&](const Inputs& in) { return nb::loss::hinge(in[0], signs, r); },
                      {hinge_scores});
  }
}

// ---- hand-computed values -------------------------------------------------------------------

TEST_CASE("losses on small hand-computed examples", "[loss]") {
  const auto x = tensor<double>({1, 2, 3, 4}, {2, 2});
  const auto y = tensor<double>({0, 2, 5, 4}, {2, 2});  // errors 1, 0, -2, 0
  CHECK(nb::loss::mse(x, y).item() == Approx(5.0 / 4));
  CHECK(nb::loss::mse(x, y, Reduction::sum).item() == Approx(5.0));
  CHECK(nb::loss::mse(x, y, Reduction::none).to_vector() == std::vector<double>{1, 0, 4, 0});
  CHECK(nb::loss::l1(x, y).item() == Approx(3.0 / 4));
  CHECK(nb::loss::mae(x, y, Reduction::sum).item() == Approx(3.0));
  // delta 0.5: |1| -> 0.5 (1 - 0.25) = 0.375, |2| -> 0.5 (2 - 0.25) = 0.875
  CHECK(nb::loss::huber(x, y, Reduction::sum, 0.5).item() == Approx(1.25));
  // delta 3: all quadratic, (1 + 4) / 2
  CHECK(nb::loss::huber(x, y, Reduction::sum, 3.0).item() == Approx(2.5));

  // cross-entropy of [1, 2] with class 1: log(e + e^2) - 2 = log(1 + e^-1)
  const auto logits = tensor<double>({1, 2, 3, 4}, {2, 2});
  const auto classes = nb::from_vector<std::int64_t>({1, 0}, {2});
  const double easy = std::log1p(std::exp(-1.0)), hard = std::log1p(std::exp(1.0));
  CHECK(nb::loss::cross_entropy(logits, classes).item() == Approx((easy + hard) / 2));
  CHECK(nb::loss::cross_entropy(logits, classes, Reduction::none).to_vector()[1] == Approx(hard));
  // ignoring row 1 leaves the mean over one row
  CHECK(nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({1, -100}, {2})).item() == Approx(easy));

  // hinge: margins 1 - y x = 0, 3, -2, 5 -> mean of 0, 3, 0, 5
  CHECK(nb::loss::hinge(x, tensor<double>({1, -1, 1, -1}, {2, 2})).item() == Approx(2.0));
  // multi-margin: row [1,2] class 1: max(0, 1 - 2 + 1) = 0; row [3,4] class 0: 1 - 3 + 4 = 2, / C =
  // 1
  CHECK(nb::loss::multi_margin(logits, classes).item() == Approx(0.5));
  // bce of 0.5 is log 2 whatever the target
  CHECK(nb::loss::binary_cross_entropy(tensor<double>({0.5, 0.5}, {2}), tensor<double>({1, 0}, {2})).item() ==
        Approx(std::log(2.0)));
}

TEST_CASE("cross_entropy is one fused graph node whose gradient is softmax minus the target", "[loss]") {
  auto logits = tensor<double>({1, 2, 3, 0, 0, 0}, {2, 3}).requires_grad_();
  const auto classes = nb::from_vector<std::int64_t>({2, 0}, {2});
  auto loss = nb::loss::cross_entropy(logits, classes, Reduction::sum);
  REQUIRE(loss.grad_fn() != nullptr);
  CHECK(loss.grad_fn()->name() == "cross_entropy");
  REQUIRE(loss.grad_fn()->inputs().size() == 1);
  CHECK(loss.grad_fn()->inputs()[0].is_same(logits));  // straight from the logits: no log_softmax node between
  loss.backward();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const std::vector<double> expected{std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z - 1,
                                     1.0 / 3 - 1,       1.0 / 3,           1.0 / 3};
  const auto gradient = logits.grad().to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(gradient[i] == Approx(expected[i]).epsilon(1e-12));
}

// ---- stability and edge cases ---------------------------------------------------------------

TEST_CASE("cross_entropy and bce_with_logits stay finite for huge logits", "[loss]") {
  auto logits = tensor<double>({1000, -1000, 0, -1000, 1000, 0}, {2, 3}).requires_grad_();
  auto loss = nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({0, 0}, {2}));
  CHECK(loss.item() == Approx(1000.0));  // row 0 costs 0, row 1 costs 2000
  loss.backward();
  for (double g : logits.grad().to_vector()) CHECK(std::isfinite(g));

  auto scores = tensor<float>({1000, -1000, 50}, {3}).requires_grad_();
  auto bce = nb::loss::binary_cross_entropy_with_logits(scores, tensor<float>({0, 1, 1}, {3}), Reduction::none);
  const auto values = bce.to_vector();
  CHECK(values[0] == Approx(1000.0f));
  CHECK(values[1] == Approx(1000.0f));
  CHECK(values[2] == Approx(0.0f).margin(1e-6));
  bce.backward(nb::ones<float>({3}));
  CHECK(scores.grad().to_vector() == std::vector<float>{1, -1, 0});
}

TEST_CASE("binary_cross_entropy clamps the log at -100 like PyTorch", "[loss]") {
  auto p = tensor<double>({0.0, 1.0, 1.0}, {3}).requires_grad_();
  auto loss = nb::loss::binary_cross_entropy(p, tensor<double>({1, 0, 1}, {3}), Reduction::none);
  CHECK(loss.to_vector() == std::vector<double>{100, 100, 0});
  loss.backward(nb::ones<double>({3}));
  for (double g : p.grad().to_vector()) CHECK(std::isfinite(g));
  CHECK(p.grad().to_vector()[0] == Approx(-1e12));  // (0 - 1) / max(0, 1e-12)
}

TEST_CASE("cross_entropy with every target ignored gives NaN (0/0) like PyTorch, and zero gradient", "[loss]") {
  auto logits = tensor<double>({1, 2, 3, 4}, {2, 2}).requires_grad_();
  auto loss = nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({-100, -100}, {2}));
  CHECK(std::isnan(loss.item()));
  loss.backward();
  CHECK(logits.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
  CHECK(nb::loss::cross_entropy(logits.detach(), nb::from_vector<std::int64_t>({-100, -100}, {2}), Reduction::sum)
            .item() == 0.0);
}

TEST_CASE("loss functors equal the functions and report their names", "[loss]") {
  const auto& f = fixture();
  const auto x = f.get<double>("mse.prediction");
  const auto y = f.get<double>("mse.target");
  CHECK(nb::loss::MSE{}(x, y).item() == nb::loss::mse(x, y).item());
  CHECK(nb::loss::MSE{.reduction = Reduction::sum}(x, y).item() == nb::loss::mse(x, y, Reduction::sum).item());
  CHECK(nb::loss::L1{}(x, y).item() == nb::loss::l1(x, y).item());
  CHECK(nb::loss::Huber{.delta = 0.5}(x, y).item() == nb::loss::huber(x, y, Reduction::mean, 0.5).item());
  const auto logits = f.get<double>("ce.prediction");
  const auto ids = to_index(f.get<double>("ce.target"));
  CHECK(nb::loss::CrossEntropy{.label_smoothing = 0.1}(logits, ids).item() ==
        nb::loss::cross_entropy(logits, ids, Reduction::mean, -100, 0.1).item());
  CHECK(nb::loss::NLL{}(logits, ids).item() == nb::loss::nll(logits, ids).item());
  CHECK(nb::loss::BinaryCrossEntropy{}.name() == "binary_cross_entropy");
  CHECK(nb::loss::CrossEntropy{}.name() == "cross_entropy");
  CHECK(nb::loss::Hinge{}.name() == "hinge");
}

// ---- bad input ------------------------------------------------------------------------------

TEST_CASE("losses reject mismatched shapes, naming the loss and both shapes", "[loss][errors]") {
  const auto prediction = nb::zeros<double>({4, 1});
  const auto target = nb::zeros<double>({4});
  REQUIRE_THROWS_AS(nb::loss::mse(prediction, target), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::loss::mse(prediction, target), Contains("mse") && Contains("[4,1]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(nb::loss::l1(prediction, target), Contains("l1") && Contains("[4,1]"));
  REQUIRE_THROWS_WITH(nb::loss::huber(prediction, target), Contains("huber"));
  REQUIRE_THROWS_AS(nb::loss::BinaryCrossEntropy{}(prediction, target), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::loss::binary_cross_entropy_with_logits(prediction, target),
                      Contains("binary_cross_entropy_with_logits") && Contains("[4,1]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(nb::loss::hinge(prediction, target), Contains("hinge") && Contains("[4,1]"));

  const auto logits = nb::zeros<double>({4, 3});
  REQUIRE_THROWS_AS(nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({0, 1, 2}, {3})), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({0, 1, 2}, {3})),
                      Contains("cross_entropy") && Contains("[4,3]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(nb::loss::nll(logits, nb::zeros<double>({4, 1})), Contains("nll") && Contains("[4,1]"));
  REQUIRE_THROWS_AS(nb::loss::cross_entropy(nb::zeros<double>({}), nb::zeros<double>({})), nb::ShapeError);
}

TEST_CASE("class losses reject out-of-range class ids, naming the id and its position", "[loss][errors]") {
  const auto logits = nb::zeros<double>({4, 3});
  const auto bad = nb::from_vector<std::int64_t>({0, 1, 3, 2}, {4});
  REQUIRE_THROWS_AS(nb::loss::cross_entropy(logits, bad), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::loss::cross_entropy(logits, bad), Contains("cross_entropy") && Contains("class index 3") &&
                                                                Contains("position [2]") && Contains("[0, 3)"));
  REQUIRE_THROWS_WITH(nb::loss::nll(logits, nb::from_vector<std::int64_t>({0, -1, 0, 0}, {4})),
                      Contains("nll") && Contains("class index -1") && Contains("position [1]"));
  REQUIRE_THROWS_WITH(nb::loss::multi_margin(logits, nb::from_vector<std::int64_t>({0, 0, 0, 7}, {4})),
                      Contains("multi_margin") && Contains("class index 7") && Contains("position [3]"));
  // positions in a [B, L] target are multi-indices
  REQUIRE_THROWS_WITH(
      nb::loss::cross_entropy(nb::zeros<double>({2, 2, 3}), nb::from_vector<std::int64_t>({0, 1, 2, 5}, {2, 2})),
      Contains("class index 5") && Contains("position [1,1]"));
  // ignore_index is exempt from the range check, but only when it equals the configured one
  REQUIRE_NOTHROW(nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({0, -100, 1, 2}, {4})));
  REQUIRE_THROWS_AS(nb::loss::cross_entropy(logits, nb::from_vector<std::int64_t>({0, -100, 1, 2}, {4}),
                                            Reduction::mean, /*ignore_index=*/0),
                    nb::ValueError);
  // class ids in a float tensor must be whole numbers
  REQUIRE_THROWS_AS(nb::loss::cross_entropy(logits, tensor<double>({0, 1.5, 1, 2}, {4})), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::loss::cross_entropy(logits, tensor<double>({0, 1.5, 1, 2}, {4})),
                      Contains("1.5") && Contains("position [1]") && Contains("whole-number"));
  REQUIRE_THROWS_WITH(nb::loss::cross_entropy(logits, tensor<double>({0, 1, 1, 4}, {4})),
                      Contains("class index 4") && Contains("position [3]"));
}

TEST_CASE("losses reject bad values and options", "[loss][errors]") {
  REQUIRE_THROWS_AS(nb::loss::binary_cross_entropy(tensor<double>({0.2, 1.5}, {2}), tensor<double>({0, 1}, {2})),
                    nb::ValueError);
  REQUIRE_THROWS_WITH(nb::loss::binary_cross_entropy(tensor<double>({0.2, 1.5}, {2}), tensor<double>({0, 1}, {2})),
                      Contains("binary_cross_entropy") && Contains("1.5") && Contains("position [1]"));
  REQUIRE_THROWS_WITH(
      nb::loss::binary_cross_entropy(tensor<double>({std::nan(""), 0.5}, {2}), tensor<double>({0, 1}, {2})),
      Contains("nan") && Contains("position [0]"));
  REQUIRE_THROWS_AS(nb::loss::hinge(tensor<double>({0.2, 0.3}, {2}), tensor<double>({1, 0}, {2})), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::loss::hinge(tensor<double>({0.2, 0.3}, {2}), tensor<double>({1, 0}, {2})),
                      Contains("hinge") && Contains("label 0") && Contains("position [1]"));
  REQUIRE_THROWS_WITH(nb::loss::huber(nb::zeros<double>({2}), nb::zeros<double>({2}), Reduction::mean, 0.0),
                      Contains("huber") && Contains("delta"));
  REQUIRE_THROWS_WITH(nb::loss::cross_entropy(nb::zeros<double>({2, 3}), nb::from_vector<std::int64_t>({0, 1}, {2}),
                                              Reduction::mean, -100, 1.5),
                      Contains("label_smoothing"));
  REQUIRE_THROWS_WITH(nb::loss::multi_margin(nb::zeros<double>({2, 3}), nb::from_vector<std::int64_t>({0, 1}, {2}),
                                             Reduction::mean, 1.0, 3),
                      Contains("multi_margin") && Contains("p must be 1 or 2"));
  REQUIRE_THROWS_AS(nb::loss::mse(nb::Tensor<double>(), nb::zeros<double>({2})), nb::ValueError);
}

TEST_CASE("with anomaly detection on, a loss that produces Inf raises, naming the loss", "[loss][errors]") {
  nb::set_detect_anomaly(true);
  const auto huge = tensor<double>({1e200, 0}, {2});
  CHECK_THROWS_WITH(nb::loss::mse(huge, nb::zeros<double>({2})), Contains("anomaly") && Contains("mse"));
  nb::set_detect_anomaly(false);
  CHECK(std::isinf(nb::loss::mse(huge, nb::zeros<double>({2})).item()));
}

}  // namespace test_loss
