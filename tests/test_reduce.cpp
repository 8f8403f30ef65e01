// Reductions: sum, mean, var, max/min, argmax/argmin, logsumexp - values, gradients, errors,
// and independence from the thread count.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <nabla/nabla.hpp>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_reduce {

namespace nb = nabla;
using Catch::Matchers::Contains;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// x[i][j][k] = 12 i + 4 j + k, shape [2,3,4]: sums are easy to compute by hand.
nb::Tensor<double> counting_tensor() { return nb::from_vector<double>(nb::arange<double>(24).to_vector(), {2, 3, 4}); }

// A [3,4] view of a [4,3] tensor holding 0..11, read transposed: view[r][c] = 3 c + r.
// Built with the strides constructor, so it is not contiguous.
nb::Tensor<double> transposed_counting() {
  const auto base = nb::arange<double>(12);
  return nb::Tensor<double>(base.storage(), {3, 4}, {1, 3}, 0);
}

// A [2,3,4] view of a random [4,3,2] tensor with all dims reversed (non-contiguous).
nb::Tensor<double> reversed_random(std::uint64_t seed) {
  const auto base = nb::randn<double>({4, 3, 2}, seed);
  return nb::Tensor<double>(base.storage(), {2, 3, 4}, {1, 2, 6}, 0);
}

void require_values(const nb::Tensor<double>& tensor, const nb::Shape& shape, const std::vector<double>& expected) {
  REQUIRE(tensor.shape() == shape);
  const std::vector<double> values = tensor.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    if (std::isnan(expected[i]))
      REQUIRE(std::isnan(values[i]));
    else
      REQUIRE(values[i] == Approx(expected[i]).margin(1e-12));
  }
}

void require_gradcheck(const std::function<nb::Tensor<double>(const Inputs&)>& function, const Inputs& inputs) {
  const auto result = nb::gradcheck<double>(function, inputs);
  INFO(result.report);
  REQUIRE(result);
}

// The analytic gradient of `function` at `input` for an upstream gradient of ones.
std::vector<double> gradient_of(const std::function<nb::Tensor<double>(const nb::Tensor<double>&)>& function,
                                const nb::Tensor<double>& input) {
  auto leaf = nb::from_vector<double>(input.to_vector(), input.shape());  // a fresh leaf
  leaf.requires_grad_();
  const auto out = function(leaf);
  out.backward(nb::ones<double>(out.shape()));
  return leaf.grad().to_vector();
}
}  // namespace

TEST_CASE("sum and mean over several dim combinations, keepdim both ways", "[ops][reduce]") {
  const auto x = counting_tensor();
  require_values(nb::sum(x), {}, {276});
  require_values(nb::sum(x, {}), {}, {276});  // an empty dim list reduces every dim
  require_values(nb::sum(x, {0}), {3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  require_values(nb::sum(x, {1}), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  require_values(nb::sum(x, {1}, true), {2, 1, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  require_values(nb::sum(x, {-1}, true), {2, 3, 1}, {6, 22, 38, 54, 70, 86});
  require_values(nb::sum(x, {0, 2}), {3}, {60, 92, 124});
  require_values(nb::sum(x, {2, 0}, true), {1, 3, 1}, {60, 92, 124});
  require_values(nb::sum(x, {0, 1, 2}, true), {1, 1, 1}, {276});

  require_values(nb::mean(x), {}, {11.5});
  require_values(nb::mean(x, {0, 2}), {3}, {7.5, 11.5, 15.5});
  require_values(nb::mean(x, {-2}, true), {2, 1, 4}, {4, 5, 6, 7, 16, 17, 18, 19});
  require_values(nb::mean(x, {0, 1}), {4}, {10, 11, 12, 13});

  // A rank-0 tensor accepts dim 0 / -1, like PyTorch.
  require_values(nb::sum(nb::scalar_tensor<double>(3.0), {0}), {}, {3});
  require_values(nb::mean(nb::scalar_tensor<double>(3.0), {-1}, true), {}, {3});
}

TEST_CASE("reductions read non-contiguous views correctly", "[ops][reduce][views]") {
  const auto view = transposed_counting();  // [[0,3,6,9],[1,4,7,10],[2,5,8,11]]
  REQUIRE_FALSE(view.is_contiguous());
  require_values(nb::sum(view, {1}), {3}, {18, 22, 26});
  require_values(nb::sum(view, {0}, true), {1, 4}, {3, 12, 21, 30});
  require_values(nb::mean(view, {1}, true), {3, 1}, {4.5, 5.5, 6.5});
  require_values(nb::max(view, 1), {3}, {9, 10, 11});
  require_values(nb::min(view, 0, true), {1, 4}, {0, 3, 6, 9});
  REQUIRE(nb::argmax(view, 0).to_vector() == std::vector<std::int64_t>{2, 2, 2, 2});
  REQUIRE(nb::argmin(view, 1).to_vector() == std::vector<std::int64_t>{0, 0, 0});
  REQUIRE(nb::argmax(view).item() == 11);  // flat index in the view's row-major order: 11 at [2][3]
  require_values(nb::var(view, {1}), {3}, {15, 15, 15});
  require_values(nb::var(view, {1}, 0.0), {3}, {11.25, 11.25, 11.25});

  // A view with all three dims reversed: v[a][b][c] = base[c][b][a] = 6c + 2b + a.
  const auto base = nb::arange<double>(24);
  const nb::Tensor<double> reversed(base.storage(), {2, 3, 4}, {1, 2, 6}, 0);
  require_values(nb::sum(reversed, {0, 2}), {3}, {76, 92, 108});
  require_values(nb::sum(reversed, {1}), {2, 4}, {6, 24, 42, 60, 9, 27, 45, 63});
}

TEST_CASE("var: unbiased by default, population with correction=0", "[ops][reduce][var]") {
  const auto x = nb::from_vector<double>({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4});
  require_values(nb::var(x, {1}), {2}, {5.0 / 3, 20.0 / 3});
  require_values(nb::var(x, {1}, 0.0), {2}, {1.25, 5});
  require_values(nb::var(x, {-1}, 1.0, true), {2, 1}, {5.0 / 3, 20.0 / 3});
  require_values(nb::var(x, {0}, 1.0, true), {1, 4}, {0.5, 2, 4.5, 8});
  require_values(nb::var(x), {}, {37.5 / 7});
  require_values(nb::var(x, {0, 1}, 0.0), {}, {37.5 / 8});
  // N - correction = 0: 0/0 = NaN, like torch.var of one element.
  REQUIRE(std::isnan(nb::var(nb::from_vector<double>({4.0}, {1})).item()));
}

TEST_CASE("max, min, argmax, argmin: values and first occurrence on ties", "[ops][reduce][max]") {
  const auto x = nb::from_vector<double>({1, 5, 5, -2, -7, -7}, {2, 3});
  REQUIRE(nb::max(x).item() == 5);
  REQUIRE(nb::min(x).item() == -7);
  REQUIRE(nb::argmax(x).item() == 1);  // the first of the two 5s
  REQUIRE(nb::argmin(x).item() == 4);  // the first of the two -7s
  REQUIRE(nb::argmax(x).shape() == nb::Shape{});
  require_values(nb::max(x, 1), {2}, {5, -2});
  require_values(nb::max(x, -1, true), {2, 1}, {5, -2});
  require_values(nb::min(x, 1), {2}, {1, -7});
  require_values(nb::max(x, 0), {3}, {1, 5, 5});
  require_values(nb::min(x, 0, true), {1, 3}, {-2, -7, -7});
  REQUIRE(nb::argmax(x, 1).to_vector() == std::vector<std::int64_t>{1, 0});
  REQUIRE(nb::argmin(x, 1).to_vector() == std::vector<std::int64_t>{0, 1});
  REQUIRE(nb::argmin(x, 0, true).shape() == nb::Shape{1, 3});
  REQUIRE(nb::argmin(x, 0, true).to_vector() == std::vector<std::int64_t>{1, 1, 1});

  // argmax also works on index tensors (e.g. labels).
  const auto labels = nb::from_vector<std::int64_t>({3, 9, 9, 0}, {4});
  REQUIRE(nb::argmax(labels).item() == 1);
  REQUIRE(nb::argmin(labels, 0).item() == 3);

  // Along the reduced dim of a 3-D tensor, with the kept dims before and after it.
  const auto counting = counting_tensor();
  require_values(nb::max(counting, 1), {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
  REQUIRE(nb::argmin(counting, 1).to_vector() == std::vector<std::int64_t>(8, 0));
}

TEST_CASE("NaN counts as the maximum and the minimum, like PyTorch", "[ops][reduce][max][nan]") {
  const auto x = nb::from_vector<double>({1, kNaN, 3, kNaN, 4, 2, 2, 0}, {2, 4});
  REQUIRE(nb::argmax(x).item() == 1);  // the first NaN
  REQUIRE(nb::argmin(x).item() == 1);
  REQUIRE(std::isnan(nb::max(x).item()));
  REQUIRE(std::isnan(nb::min(x).item()));
  REQUIRE(nb::argmax(x, 1).to_vector() == std::vector<std::int64_t>{1, 0});
  REQUIRE(nb::argmin(x, 1).to_vector() == std::vector<std::int64_t>{1, 3});
  require_values(nb::max(x, 1), {2}, {kNaN, 4});
  require_values(nb::min(x, 1), {2}, {kNaN, 0});
  REQUIRE(nb::argmax(x, 0).to_vector() == std::vector<std::int64_t>{1, 0, 0, 0});
  REQUIRE(nb::argmin(x, 0).to_vector() == std::vector<std::int64_t>{0, 0, 1, 0});
  // A NaN after the first element (the running best is a number, the candidate NaN).
  const auto late = nb::from_vector<double>({5, 7, kNaN}, {3});
  REQUIRE(nb::argmax(late).item() == 2);
  REQUIRE(nb::argmin(late).item() == 2);
}

TEST_CASE("gradient of max/min: ties share it in the full reduction, first wins along a dim",
          "[ops][reduce][max][autograd]") {
  const auto x = nb::from_vector<double>({3, 1, 3, 3}, {4});
  const auto third = 1.0 / 3;
  REQUIRE(gradient_of([](const auto& t) { return nb::max(t); }, x) == std::vector<double>{third, 0, third, third});
  REQUIRE(gradient_of([](const auto& t) { return nb::min(t); }, x) == std::vector<double>{0, 1, 0, 0});
  REQUIRE(gradient_of([](const auto& t) { return nb::max(t, 0); }, x) == std::vector<double>{1, 0, 0, 0});

  const auto rows = nb::from_vector<double>({3, 1, 3, 0, 2, 2}, {2, 3});
  REQUIRE(gradient_of([](const auto& t) { return nb::max(t, 1); }, rows) == std::vector<double>{1, 0, 0, 0, 1, 0});
  REQUIRE(gradient_of([](const auto& t) { return nb::min(t, 1, true); }, rows) ==
          std::vector<double>{0, 1, 0, 1, 0, 0});
  REQUIRE(gradient_of([](const auto& t) { return nb::max(t, 0); }, rows) == std::vector<double>{1, 0, 1, 0, 1, 0});

  // A NaN maximum: the NaNs share the gradient (PyTorch's evenly_distribute_backward).
  const auto with_nan = nb::from_vector<double>({kNaN, 1, kNaN}, {3});
  REQUIRE(gradient_of([](const auto& t) { return nb::max(t); }, with_nan) == std::vector<double>{0.5, 0, 0.5});
}

TEST_CASE("gradcheck of sum and mean over several dims", "[ops][reduce][gradcheck]") {
  const auto x = nb::randn<double>({2, 3, 4}, 11);
  const auto view = reversed_random(12);
  for (const auto& input : {x, view}) {
    require_gradcheck([](const Inputs& t) { return nb::sum(t[0]); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::sum(t[0], {0}); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::sum(t[0], {1, -1}); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::sum(t[0], {0, 2}, true); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::mean(t[0]); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::mean(t[0], {1}); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::mean(t[0], {2, 0}, true); }, {input});
  }
  // A reduction feeding a broadcast: the keepdim result is subtracted from its input.
  require_gradcheck([](const Inputs& t) { return t[0] * nb::mean(t[0], {-1}, true); }, {x});
  // A non-contiguous upstream gradient: the reduction's output is used twice.
  require_gradcheck([](const Inputs& t) { return nb::sum(t[0], {1}) * nb::sum(t[0], {1}); }, {x});
}

TEST_CASE("gradcheck of max and min (distinct values)", "[ops][reduce][gradcheck]") {
  const auto x = nb::randn<double>({3, 4, 2}, 21);
  const auto view = reversed_random(22);
  for (const auto& input : {x, view}) {
    require_gradcheck([](const Inputs& t) { return nb::max(t[0]); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::min(t[0]); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::max(t[0], 0); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::max(t[0], 1, true); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::min(t[0], -1); }, {input});
    require_gradcheck([](const Inputs& t) { return nb::min(t[0], 1); }, {input});
  }
}

TEST_CASE("gradcheck of var, with and without correction", "[ops][reduce][var][gradcheck]") {
  const auto x = nb::randn<double>({3, 4}, 31);
  const auto view = reversed_random(32);
  require_gradcheck([](const Inputs& t) { return nb::var(t[0]); }, {x});
  require_gradcheck([](const Inputs& t) { return nb::var(t[0], {1}); }, {x});
  require_gradcheck([](const Inputs& t) { return nb::var(t[0], {0}, 0.0, true); }, {x});
  require_gradcheck([](const Inputs& t) { return nb::var(t[0], {0, 2}); }, {view});
  require_gradcheck([](const Inputs& t) { return nb::var(t[0], {1}, 0.0); }, {view});
  require_gradcheck([](const Inputs& t) { return nb::var(t[0], {}, 2.0); }, {view});
}

TEST_CASE("logsumexp is stable and has the softmax as gradient", "[ops][reduce][logsumexp]") {
  const auto x = nb::from_vector<double>({1, 2, 3, 1000, 1000, -kInf}, {2, 3});
  const double first = 3 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  require_values(nb::logsumexp(x, 1), {2}, {first, 1000 + std::log(2.0)});  // exp(1000) would overflow
  require_values(nb::logsumexp(x, -1, true), {2, 1}, {first, 1000 + std::log(2.0)});
  require_values(nb::logsumexp(nb::from_vector<double>({0, 0, 0, 0}, {2, 2}), 0), {2}, {std::log(2.0), std::log(2.0)});

  // Infinite slices: all -inf gives -inf, a +inf gives +inf (no inf - inf = NaN).
  const auto infinite = nb::from_vector<double>({-kInf, -kInf, kInf, 1}, {2, 2});
  require_values(nb::logsumexp(infinite, 1), {2}, {-kInf, kInf});
  REQUIRE(std::isnan(nb::logsumexp(nb::from_vector<double>({1, kNaN}, {2}), 0).item()));

  // Gradient: softmax of each row.
  const auto small = nb::from_vector<double>({0, std::log(3.0), 5, 5}, {2, 2});
  const auto gradient = gradient_of([](const auto& t) { return nb::logsumexp(t, 1); }, small);
  REQUIRE(gradient[0] == Approx(0.25));
  REQUIRE(gradient[1] == Approx(0.75));
  REQUIRE(gradient[2] == Approx(0.5));
  REQUIRE(gradient[3] == Approx(0.5));

  const auto random = nb::randn<double>({3, 4}, 41);
  const auto view = reversed_random(42);
  require_gradcheck([](const Inputs& t) { return nb::logsumexp(t[0], 1); }, {random});
  require_gradcheck([](const Inputs& t) { return nb::logsumexp(t[0], 0, true); }, {random});
  require_gradcheck([](const Inputs& t) { return nb::logsumexp(t[0], -1); }, {view});
  require_gradcheck([](const Inputs& t) { return nb::logsumexp(t[0], 1, true); }, {view});
  require_gradcheck([](const Inputs& t) { return nb::logsumexp(t[0] * 100.0, 0); }, {random});  // large logits
}

TEST_CASE("reductions of empty tensors", "[ops][reduce][empty]") {
  const auto empty = nb::zeros<double>({0, 3});
  require_values(nb::sum(empty), {}, {0});
  require_values(nb::sum(empty, {0}), {3}, {0, 0, 0});
  require_values(nb::sum(empty, {1}), {0}, {});
  REQUIRE(std::isnan(nb::mean(empty).item()));  // 0/0, like PyTorch
  require_values(nb::mean(empty, {0}), {3}, {kNaN, kNaN, kNaN});
  require_values(nb::logsumexp(empty, 0), {3}, {-kInf, -kInf, -kInf});  // log(0)
  // Empty output, non-empty reduced dim: fine for max/argmax too.
  require_values(nb::max(empty, 1), {0}, {});
  REQUIRE(nb::argmin(empty, 1, true).shape() == nb::Shape{0, 1});
}

TEST_CASE("reduction errors name the op and the problem", "[ops][reduce][errors]") {
  const auto x = nb::zeros<double>({2, 3, 4});
  REQUIRE_THROWS_AS(nb::sum(x, {3}), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::sum(x, {3}), Contains("sum") && Contains("dimension 3") && Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(nb::mean(x, {0, -4}), Contains("mean") && Contains("dimension -4") && Contains("out of range"));
  REQUIRE_THROWS_WITH(nb::sum(x, {1, -2}), Contains("sum") && Contains("more than once"));
  REQUIRE_THROWS_WITH(nb::var(x, {0, 0}), Contains("var") && Contains("more than once"));
  REQUIRE_THROWS_WITH(nb::max(x, 5), Contains("max") && Contains("out of range"));
  REQUIRE_THROWS_WITH(nb::argmin(x, -4), Contains("argmin") && Contains("out of range"));
  REQUIRE_THROWS_WITH(nb::logsumexp(x, 3), Contains("logsumexp") && Contains("out of range"));
  REQUIRE_THROWS_WITH(nb::sum(nb::scalar_tensor<double>(1.0), {1}), Contains("sum") && Contains("rank 0"));

  const auto empty = nb::zeros<double>({2, 0});
  REQUIRE_THROWS_AS(nb::max(empty), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::max(empty), Contains("max") && Contains("empty") && Contains("[2,0]"));
  REQUIRE_THROWS_WITH(nb::min(empty), Contains("min") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::argmax(empty), Contains("argmax") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::argmin(empty), Contains("argmin") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::max(empty, 1), Contains("max") && Contains("dimension 1") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::min(empty, -1, true), Contains("min") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::argmax(empty, 1), Contains("argmax") && Contains("empty"));
  REQUIRE_NOTHROW(nb::max(empty, 0));  // reduces a non-empty dim: an output of shape [0]

  REQUIRE_THROWS_WITH(nb::sum(nb::Tensor<double>()), Contains("sum") && Contains("undefined"));
}

TEST_CASE("large reductions do not depend on the thread count", "[ops][reduce][threads]") {
  const int original_threads = nb::get_num_threads();
  const auto x = nb::randn<float>({1'000'000}, 51);
  const auto matrix = nb::Tensor<float>(x.storage(), {1000, 1000}, {1000, 1}, 0);

  auto run = [&](int threads) {
    nb::set_num_threads(threads);
    return std::vector<float>{nb::sum(x).item(), nb::mean(matrix).item(), nb::logsumexp(x, 0).item(),
                              nb::sum(matrix, {0}).to_vector()[7], nb::var(x).item()};
  };
  const std::vector<float> one_thread = run(1);
  const std::vector<float> two_threads = run(2);
  const std::vector<float> three_threads = run(3);
  const auto flat_argmax_with_two = nb::argmax(x).item();
  nb::set_num_threads(1);
  const auto flat_argmax_with_one = nb::argmax(x).item();
  nb::set_num_threads(original_threads);

  for (std::size_t i = 0; i < one_thread.size(); ++i) {
    INFO("result " << i);
    REQUIRE(one_thread[i] == two_threads[i]);  // bit-identical, not just close
    REQUIRE(one_thread[i] == three_threads[i]);
  }
  REQUIRE(flat_argmax_with_one == flat_argmax_with_two);

  // And the sum is right: compare with a double-precision sum.
  double reference = 0;
  for (float value : x.to_vector()) reference += value;
  REQUIRE(one_thread[0] == Approx(reference).margin(1e-2));
}

TEST_CASE("column sums (a bias gradient) add each column's rows in order, whatever the width and threads",
          "[ops][reduce][threads]") {
  // sum over dim 0 of a dense matrix splits the columns into equal blocks, a multiple of the
  // thread count; every column is still the float sum of its rows in row order.
  const int original_threads = nb::get_num_threads();
  for (const std::int64_t columns : {1, 15, 17, 2049, 10000}) {
    const std::int64_t rows = columns > 2049 ? 40 : 300;
    const auto matrix = nb::randn<float>({rows, columns}, 7);
    const std::vector<float> values = matrix.to_vector();
    std::vector<float> expected(static_cast<std::size_t>(columns), 0.0f);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < columns; ++c)
        expected[static_cast<std::size_t>(c)] += values[static_cast<std::size_t>(r * columns + c)];
    for (const int threads : {1, 2, 3}) {
      nb::set_num_threads(threads);
      INFO(columns << " columns, " << threads << " threads");
      REQUIRE(nb::sum(matrix, {0}).to_vector() == expected);
    }
  }
  nb::set_num_threads(original_threads);
}

}  // namespace test_reduce
