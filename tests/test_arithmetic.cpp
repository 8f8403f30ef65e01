// + - * / with broadcasting, scalar forms, in-place forms, and matmul: values, gradients, errors.
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_arithmetic {

namespace nb = nabla;
using Catch::Matchers::Contains;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {
// A transposed (non-contiguous) view of a fresh [columns, rows] tensor, without view ops.
nb::Tensor<double> transposed_random(std::int64_t rows, std::int64_t columns, std::uint64_t seed) {
  const auto base = nb::randn<double>({columns, rows}, seed);
  return nb::Tensor<double>(base.storage(), {rows, columns}, {1, rows}, 0);
}

void require_gradcheck(const std::function<nb::Tensor<double>(const Inputs&)>& function, const Inputs& inputs) {
  const auto result = nb::gradcheck<double>(function, inputs);
  INFO(result.report);
  REQUIRE(result);
}
}  // namespace

TEST_CASE("arithmetic broadcasts like NumPy", "[ops][arithmetic]") {
  const auto column = nb::from_vector<float>({1, 2, 3}, {3, 1});
  const auto row = nb::from_vector<float>({10, 20}, {2});
  REQUIRE((column + row).shape() == nb::Shape{3, 2});
  REQUIRE((column + row).to_vector() == std::vector<float>{11, 21, 12, 22, 13, 23});
  REQUIRE((column - row).to_vector() == std::vector<float>{-9, -19, -8, -18, -7, -17});
  REQUIRE((column * row).to_vector() == std::vector<float>{10, 20, 20, 40, 30, 60});
  REQUIRE((row / column).to_vector() == std::vector<float>{10, 20, 5, 10, 10.0f / 3, 20.0f / 3});
  REQUIRE((2.0 * column + 1).to_vector() == std::vector<float>{3, 5, 7});
  REQUIRE((1 - column).to_vector() == std::vector<float>{0, -1, -2});
  REQUIRE((6 / column).to_vector() == std::vector<float>{6, 3, 2});
  REQUIRE((column / 2).to_vector() == std::vector<float>{0.5f, 1, 1.5f});
  REQUIRE((-column).to_vector() == std::vector<float>{-1, -2, -3});
}

TEST_CASE("mismatched shapes name the op and both shapes", "[ops][arithmetic][errors]") {
  const auto a = nb::ones<float>({2, 3});
  const auto b = nb::ones<float>({4, 3});
  REQUIRE_THROWS_AS(a + b, nb::ShapeError);
  REQUIRE_THROWS_WITH(a * b, Contains("mul") && Contains("[2,3]") && Contains("[4,3]"));
}

TEST_CASE("gradients of arithmetic, with broadcasting and views", "[ops][arithmetic][gradcheck]") {
  const auto a = nb::randn<double>({3, 4}, 1);
  const auto column = nb::randn<double>({3, 1}, 2);
  const auto row = nb::rand<double>({4}, 3) + 0.5;  // away from 0 for division
  require_gradcheck([](const Inputs& x) { return x[0] + x[1]; }, {a, column});
  require_gradcheck([](const Inputs& x) { return x[0] - x[1]; }, {row, a});
  require_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {a, row});
  require_gradcheck([](const Inputs& x) { return x[0] / x[1]; }, {column, row});
  require_gradcheck([](const Inputs& x) { return -x[0]; }, {a});
  require_gradcheck([](const Inputs& x) { return 3.0 * x[0] + 2.0; }, {a});
  require_gradcheck([](const Inputs& x) { return 1.5 - x[0] / 4.0; }, {a});
  require_gradcheck([](const Inputs& x) { return 2.0 / x[0]; }, {row});
  // The same input used twice must receive the sum of both paths.
  require_gradcheck([](const Inputs& x) { return x[0] * x[0] + x[0]; }, {a});
  // A non-contiguous operand.
  const auto view = transposed_random(3, 4, 9);
  require_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {view, a});
}

TEST_CASE("in-place forms modify the tensor and guard autograd", "[ops][arithmetic][errors]") {
  auto a = nb::ones<float>({2, 2});
  a += nb::from_vector<float>({1, 2}, {2});
  REQUIRE(a.to_vector() == std::vector<float>{2, 3, 2, 3});
  a *= 2.0f;
  a -= 1.0f;
  a /= nb::full<float>({1}, 2.0f);
  REQUIRE(a.to_vector() == std::vector<float>{1.5f, 2.5f, 1.5f, 2.5f});
  a.fill_(7.0f);
  REQUIRE(a.to_vector() == std::vector<float>(4, 7.0f));
  // The target's shape cannot grow by broadcasting.
  REQUIRE_THROWS_WITH(a += nb::ones<float>({3, 2, 2}), Contains("operator+=") && Contains("[3,2,2]"));
  auto parameter = nb::ones<float>({2}).requires_grad_();
  REQUIRE_THROWS_WITH(parameter -= 0.1f, Contains("NoGradGuard"));
  nb::NoGradGuard no_grad;
  parameter -= 0.5f;
  REQUIRE(parameter.to_vector() == std::vector<float>{0.5f, 0.5f});
}

TEST_CASE("matmul computes products of 2-D and batched operands", "[ops][matmul]") {
  const auto a = nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto b = nb::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  REQUIRE(nb::matmul(a, b).to_vector() == std::vector<float>{4, 5, 10, 11});
  // A transposed view is used in place (column-major), giving a^T a.
  const nb::Tensor<float> a_transposed(a.storage(), {3, 2}, {1, 3}, 0);
  REQUIRE(nb::matmul(a_transposed, a).to_vector() == std::vector<float>{17, 22, 27, 22, 29, 36, 27, 36, 45});
  // Batched, and a 2-D right operand shared by every batch entry.
  const auto batch = nb::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  const auto identity = nb::eye<float>(2);
  REQUIRE(nb::matmul(batch, identity).to_vector() == batch.to_vector());
  REQUIRE(nb::matmul(batch, batch).to_vector() == std::vector<float>{7, 10, 15, 22, 67, 78, 91, 106});
  // Empty inner dimension gives zeros.
  REQUIRE(nb::matmul(nb::ones<float>({2, 0}), nb::ones<float>({0, 3})).to_vector() == std::vector<float>(6, 0.0f));
}

TEST_CASE("matmul rejects incompatible shapes with a precise message", "[ops][matmul][errors]") {
  REQUIRE_THROWS_WITH(nb::matmul(nb::ones<float>({3, 4}), nb::ones<float>({5, 2})),
                      "matmul: [3,4] x [5,2]: inner dimensions 4 and 5 differ");
  REQUIRE_THROWS_WITH(nb::matmul(nb::ones<float>({4}), nb::ones<float>({4, 2})), Contains("2-D or batched 3-D"));
  REQUIRE_THROWS_WITH(nb::matmul(nb::ones<float>({2, 3, 4}), nb::ones<float>({3, 4, 5})),
                      Contains("batch sizes 2 and 3 differ"));
}

TEST_CASE("gradients of matmul", "[ops][matmul][gradcheck]") {
  require_gradcheck([](const Inputs& x) { return nb::matmul(x[0], x[1]); },
                    {nb::randn<double>({3, 4}, 1), nb::randn<double>({4, 2}, 2)});
  require_gradcheck([](const Inputs& x) { return nb::matmul(x[0], x[1]); },
                    {transposed_random(3, 4, 3), transposed_random(4, 5, 4)});
  require_gradcheck([](const Inputs& x) { return nb::matmul(x[0], x[1]); },
                    {nb::randn<double>({2, 3, 4}, 5), nb::randn<double>({2, 4, 2}, 6)});
  require_gradcheck([](const Inputs& x) { return nb::matmul(x[0], x[1]); },
                    {nb::randn<double>({2, 3, 4}, 7), nb::randn<double>({4, 2}, 8)});
  require_gradcheck([](const Inputs& x) { return nb::matmul(x[0], x[1]); },
                    {nb::randn<double>({3, 4}, 9), nb::randn<double>({2, 4, 2}, 10)});
}

TEST_CASE("the design card's linear regression converges", "[ops][integration]") {
  const auto x = nb::randn<float>({100, 1}, 1);
  const auto y = 3.0f * x + 2.0f;
  auto w = nb::zeros<float>({1, 1}).requires_grad_();
  auto b = nb::zeros<float>({1}).requires_grad_();
  const auto scale = nb::full<float>({100, 1}, 1.0f / 100);
  for (int step = 0; step < 200; ++step) {
    const auto residual = nb::matmul(x, w) + b - y;
    const auto loss = residual * residual;
    loss.backward(scale);  // d(mean of squares): weights 1/n
    nb::NoGradGuard no_grad;
    w -= 0.1f * w.grad();
    b -= 0.1f * b.grad();
    w.zero_grad();
    b.zero_grad();
  }
  REQUIRE(w.item() == Approx(3.0f).margin(1e-4));
  REQUIRE(b.item() == Approx(2.0f).margin(1e-4));
}

TEST_CASE("addmm adds the bias to every row of the product", "[ops][matmul]") {
  const auto a = nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto b = nb::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  const auto bias = nb::from_vector<float>({10, 20}, {2});
  REQUIRE(nb::addmm(bias, a, b).to_vector() == std::vector<float>{14, 25, 20, 31});
  // a transposed view as the right operand, as Dense passes weight.t()
  const auto weight = nb::from_vector<float>({1, 0, 1, 0, 1, 1}, {2, 3});
  REQUIRE(nb::addmm(bias, a, weight.t()).to_vector() == (nb::matmul(a, weight.t()) + bias).to_vector());
  // k = 0: an empty product, every row is the bias
  REQUIRE(nb::addmm(bias, nb::zeros<float>({3, 0}), nb::zeros<float>({0, 2})).to_vector() ==
          std::vector<float>{10, 20, 10, 20, 10, 20});
}

TEST_CASE("addmm gradients w.r.t. bias, a and b (also through a transposed view)", "[ops][matmul][gradcheck]") {
  const auto a = nb::randn<double>({4, 3}, 1).requires_grad_();
  const auto b = nb::randn<double>({3, 5}, 2).requires_grad_();
  const auto bias = nb::randn<double>({5}, 3).requires_grad_();
  require_gradcheck([](const Inputs& x) { return nb::addmm(x[0], x[1], x[2]); }, {bias, a, b});
  const auto b_transposed = transposed_random(3, 5, 4).requires_grad_();
  require_gradcheck([](const Inputs& x) { return nb::addmm(x[0], x[1], x[2]); }, {bias, a, b_transposed});
}

TEST_CASE("addmm's gradient for a transposed weight lies as the weight does, so the weight adopts it",
          "[ops][matmul]") {
  // A Dense layer multiplies by W.t(); the gradient for that column-major view comes back
  // column-major, so the transpose's backward turns it into a dense [out, in] matrix that the
  // engine hands over to W.grad (a row-major one would need a strided transpose copy).
  const auto weight = nb::from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2}).requires_grad_();
  const auto input = nb::from_vector<double>({1, -1, 2, 0.5, -3, 4}, {3, 2}).requires_grad_();
  const auto bias = nb::zeros<double>({5}).requires_grad_();
  const nb::Tensor<double> out = nb::addmm(bias, input, weight.t());
  const auto grads = out.grad_fn()->apply(nb::ones<double>({3, 5}));
  CHECK(grads[2].strides() == nb::Strides{1, 2});  // [in, out], lying as W.t() does
  CHECK(grads[1].is_contiguous());                 // the input is row-major: so is its gradient
  nb::sum(out).backward();
  REQUIRE(weight.grad().is_contiguous());
  // dL/dW[o][i] = sum over rows of input[r][i]: 0 and 3.5 for every output
  CHECK(weight.grad().to_vector() == std::vector<double>{0, 3.5, 0, 3.5, 0, 3.5, 0, 3.5, 0, 3.5});
  CHECK(input.grad().to_vector() == std::vector<double>{25, 30, 25, 30, 25, 30});
  // a plain matmul by a transposed leaf does the same
  const auto grads_matmul = nb::matmul(input, weight.t()).grad_fn()->apply(nb::ones<double>({3, 5}));
  CHECK(grads_matmul[1].strides() == nb::Strides{1, 2});
}

TEST_CASE("addmm rejects shapes that do not fit, naming them", "[ops][matmul][errors]") {
  const auto a = nb::ones<float>({2, 3});
  const auto b = nb::ones<float>({3, 4});
  REQUIRE_THROWS_WITH(nb::addmm(nb::ones<float>({5}), a, b), Contains("addmm") && Contains("[5]") && Contains("[2,3]"));
  REQUIRE_THROWS_AS(nb::addmm(nb::ones<float>({4}), a, nb::ones<float>({2, 4})), nb::ShapeError);
  REQUIRE_THROWS_AS(nb::addmm(nb::ones<float>({1, 4}), a, b), nb::ShapeError);
  REQUIRE_THROWS_AS(nb::addmm(nb::ones<float>({4}), nb::ones<float>({2, 3, 1}), b), nb::ShapeError);
}

}  // namespace test_arithmetic
