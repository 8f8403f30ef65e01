// Views and shape ops (reshape, transpose, permute, slicing, expand, ...) and the copying
// ones (clone, contiguous, index_select, concat, stack, to): values, shared storage,
// gradients, errors.
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>

namespace nb = nabla;

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_views {
using Catch::Matchers::Contains;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {
void require_gradcheck(const std::function<nb::Tensor<double>(const Inputs&)>& function, const Inputs& inputs) {
  const auto result = nb::gradcheck<double>(function, inputs);
  INFO(result.report);
  REQUIRE(result);
}

// 0, 1, ..., n-1 in `shape`.
nb::Tensor<float> counting(const nb::Shape& shape) {
  return nb::arange<float>(static_cast<float>(nb::numel_of(shape))).reshape(shape);
}
}  // namespace

TEST_CASE("views share storage with their base", "[ops][views]") {
  auto base = nb::zeros<float>({2, 3});
  auto transposed = base.transpose(0, 1);
  REQUIRE(transposed.storage() == base.storage());
  REQUIRE(transposed.shape() == nb::Shape{3, 2});
  REQUIRE_FALSE(transposed.is_contiguous());
  {
    nb::NoGradGuard no_grad;
    transposed.set({2, 1}, 7.0f);  // row 2, column 1 of the transpose is row 1, column 2 of the base
    REQUIRE(base.at({1, 2}) == 7.0f);
    base.slice(1, 0, 3, 2).fill_(5.0f);  // columns 0 and 2 of the base
    base.reshape({6}).set({4}, -1.0f);   // a reshape of a contiguous tensor is a view too
  }
  REQUIRE(base.to_vector() == std::vector<float>{5, 0, 5, 5, -1, 5});
  REQUIRE(transposed.to_vector() == std::vector<float>{5, 5, 0, -1, 5, 5});

  auto other = nb::zeros<float>({2, 2});
  other.transpose(0, 1).set({0, 1}, 3.0f);
  REQUIRE(other.at({1, 0}) == 3.0f);
}

TEST_CASE("reshape, view, flatten, squeeze and unsqueeze", "[ops][views]") {
  const auto x = counting({2, 3, 4});
  REQUIRE(x.reshape({-1, 4}).shape() == nb::Shape{6, 4});
  REQUIRE(x.reshape({4, -1}).shape() == nb::Shape{4, 6});
  REQUIRE(x.reshape({24}).to_vector() == x.to_vector());
  REQUIRE(x.view({2, 12}).storage() == x.storage());
  REQUIRE(x.flatten().shape() == nb::Shape{24});
  REQUIRE(x.flatten(1).shape() == nb::Shape{2, 12});
  REQUIRE(x.flatten(0, 1).shape() == nb::Shape{6, 4});
  REQUIRE(x.flatten(-2, -1).shape() == nb::Shape{2, 12});
  REQUIRE(nb::scalar_tensor<float>(3).flatten().shape() == nb::Shape{1});

  const auto ones = nb::ones<float>({1, 3, 1, 2});
  REQUIRE(ones.squeeze().shape() == nb::Shape{3, 2});
  REQUIRE(ones.squeeze(0).shape() == nb::Shape{3, 1, 2});
  REQUIRE(ones.squeeze(-2).shape() == nb::Shape{1, 3, 2});
  REQUIRE(ones.squeeze(1).shape() == nb::Shape{1, 3, 1, 2});  // size 3: unchanged, like PyTorch
  const auto matrix = counting({3, 2});
  REQUIRE(matrix.unsqueeze(0).shape() == nb::Shape{1, 3, 2});
  REQUIRE(matrix.unsqueeze(1).shape() == nb::Shape{3, 1, 2});
  REQUIRE(matrix.unsqueeze(-1).shape() == nb::Shape{3, 2, 1});
  REQUIRE(matrix.unsqueeze(2).is_contiguous());
  REQUIRE(matrix.unsqueeze(1).to_vector() == matrix.to_vector());

  // A transposed tensor can be reshaped into a shape that keeps its strides evenly spaced
  // (a view), or into one that does not (a copy in row-major order of the transpose).
  const auto transposed = matrix.t();  // [[0,2,4],[1,3,5]]
  const auto split = transposed.reshape({2, 3, 1});
  REQUIRE(split.storage() == matrix.storage());
  REQUIRE(split.to_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});
  const auto flat = transposed.reshape({6});
  REQUIRE(flat.storage() != matrix.storage());
  REQUIRE(flat.is_contiguous());
  REQUIRE(flat.to_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});
  REQUIRE(transposed.flatten().to_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});
  REQUIRE(transposed.reshape({3, 2}).to_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});
  // A column slice of a 3-D tensor merges its leading dims without a copy.
  const auto columns = x.slice(2, 1, 3);  // [2,3,2], strides [12,4,1]
  const auto merged = columns.reshape({6, 2});
  REQUIRE(merged.storage() == x.storage());
  REQUIRE(merged.to_vector() == std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  REQUIRE_THROWS_AS(columns.view({12}), nb::ShapeError);

  // Index tensors reshape and transpose too.
  const auto ids = nb::from_vector<std::int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(ids.t().reshape({-1}).to_vector() == std::vector<std::int64_t>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("transpose, t and permute reorder dimensions", "[ops][views]") {
  const auto x = counting({2, 3, 4});
  const auto permuted = x.permute({2, 0, 1});  // out[i][j][k] = x[j][k][i] = 12j + 4k + i
  REQUIRE(permuted.shape() == nb::Shape{4, 2, 3});
  REQUIRE(permuted.strides() == nb::Strides{1, 12, 4});
  REQUIRE_FALSE(permuted.is_contiguous());
  REQUIRE(permuted.at({1, 1, 2}) == 21.0f);
  const auto values = permuted.to_vector();
  REQUIRE(std::vector<float>(values.begin(), values.begin() + 8) == std::vector<float>{0, 4, 8, 12, 16, 20, 1, 5});
  REQUIRE(x.permute({-1, 0, 1}).strides() == permuted.strides());
  REQUIRE(x.permute({0, 1, 2}).is_contiguous());

  const auto swapped = x.transpose(0, 2);  // [4,3,2]
  REQUIRE(swapped.shape() == nb::Shape{4, 3, 2});
  REQUIRE(swapped.at({3, 1, 1}) == 12.0f + 4 + 3);
  REQUIRE(x.transpose(-1, -3).strides() == swapped.strides());
  REQUIRE(counting({2, 3}).t().to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("narrow and slice follow Python slicing", "[ops][views]") {
  const auto line = nb::arange<float>(10);
  REQUIRE(line.slice(0, -8, -1, 3).to_vector() == std::vector<float>{2, 5, 8});
  REQUIRE(line.slice(0, -100, 100, 4).to_vector() == std::vector<float>{0, 4, 8});
  REQUIRE(line.slice(0, 7, 100).to_vector() == std::vector<float>{7, 8, 9});
  REQUIRE(line.slice(0, 5, 2).shape() == nb::Shape{0});
  REQUIRE(line.slice(0, 12, 20).shape() == nb::Shape{0});
  REQUIRE(line.slice(0, 1, 10, 9).to_vector() == std::vector<float>{1});

  const auto matrix = counting({3, 4});
  REQUIRE(matrix.slice(1, 1, 4, 2).to_vector() == std::vector<float>{1, 3, 5, 7, 9, 11});
  REQUIRE(matrix.slice(-1, -1, 4).to_vector() == std::vector<float>{3, 7, 11});
  REQUIRE(matrix.slice(0, -2, 3).to_vector() == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});
  REQUIRE(matrix.narrow(0, 1, 2).to_vector() == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});
  REQUIRE(matrix.narrow(1, -2, 2).to_vector() == std::vector<float>{2, 3, 6, 7, 10, 11});
  REQUIRE(matrix.narrow(1, 4, 0).shape() == nb::Shape{3, 0});
  // A slice of a transposed view.
  REQUIRE(matrix.t().slice(0, 0, 4, 3).to_vector() == std::vector<float>{0, 4, 8, 3, 7, 11});
}

TEST_CASE("free-function forms match the members", "[ops][views]") {
  const auto x = counting({2, 1, 3});
  REQUIRE(nb::reshape(x, {3, 2}).shape() == nb::Shape{3, 2});
  REQUIRE(nb::transpose(x, 0, 2).to_vector() == x.transpose(0, 2).to_vector());
  REQUIRE(nb::permute(x, {1, 2, 0}).to_vector() == x.permute({1, 2, 0}).to_vector());
  REQUIRE(nb::flatten(x).shape() == nb::Shape{6});
  REQUIRE(nb::flatten(x, 1).shape() == nb::Shape{2, 3});
  REQUIRE(nb::squeeze(x).shape() == nb::Shape{2, 3});
  REQUIRE(nb::squeeze(x, 1).shape() == nb::Shape{2, 3});
  REQUIRE(nb::unsqueeze(x, 0).shape() == nb::Shape{1, 2, 1, 3});
  REQUIRE(nb::narrow(x, 2, 1, 2).to_vector() == std::vector<float>{1, 2, 4, 5});
  REQUIRE(nb::slice(x, 2, 0, 3, 2).to_vector() == std::vector<float>{0, 2, 3, 5});
  REQUIRE(nb::view(x, {6}).storage() == x.storage());
}

TEST_CASE("clone, contiguous and to copy only when needed", "[ops][views]") {
  const auto x = counting({2, 3});
  const auto copy = x.clone();
  REQUIRE(copy.storage() != x.storage());
  REQUIRE(copy.to_vector() == x.to_vector());
  REQUIRE(x.contiguous().is_same(x));
  const auto dense = x.t().contiguous();
  REQUIRE(dense.is_contiguous());
  REQUIRE(dense.storage() != x.storage());
  REQUIRE(dense.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE(x.to(nb::Device::cpu()).is_same(x));
#if !defined(NABLA_WITH_CUDA)
  REQUIRE_THROWS_AS(x.to(nb::Device::cuda()), nb::DeviceError);
  REQUIRE_THROWS_WITH(x.to(nb::Device::cuda()), Contains("to: nabla was built without CUDA support") &&
                                                    Contains("NABLA_CUDA=ON") && Contains("nabla::cuda"));
#endif
}

TEST_CASE("expand broadcasts without copying", "[ops][views]") {
  const auto column = nb::from_vector<float>({1, 2, 3}, {3, 1});
  const auto expanded = nb::expand(column, {2, 3, 4});
  REQUIRE(expanded.shape() == nb::Shape{2, 3, 4});
  REQUIRE(expanded.strides() == nb::Strides{0, 1, 0});
  REQUIRE(expanded.storage() == column.storage());
  const std::vector<float> one_copy{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
  std::vector<float> expected = one_copy;
  expected.insert(expected.end(), one_copy.begin(), one_copy.end());
  REQUIRE(expanded.to_vector() == expected);
  REQUIRE(nb::expand(column, {-1, 2}).to_vector() == std::vector<float>{1, 1, 2, 2, 3, 3});
}

TEST_CASE("index_select gathers slices in index order", "[ops][views]") {
  const auto x = counting({3, 2});  // [[0,1],[2,3],[4,5]]
  REQUIRE(nb::index_select(x, 0, {2, 0, 2}).to_vector() == std::vector<float>{4, 5, 0, 1, 4, 5});
  REQUIRE(nb::index_select(x, 1, {1, 1, 0}).to_vector() == std::vector<float>{1, 1, 0, 3, 3, 2, 5, 5, 4});
  REQUIRE(nb::index_select(x, -1, {1}).shape() == nb::Shape{3, 1});
  REQUIRE(nb::index_select(x, 0, std::vector<std::int64_t>{}).shape() == nb::Shape{0, 2});
  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({1, 1});
  REQUIRE(nb::index_select(x, 0, ids).to_vector() == std::vector<float>{2, 3, 2, 3});
  // From a non-contiguous input: rows of the transpose [[0,2,4],[1,3,5]].
  REQUIRE(nb::index_select(x.t(), 1, {2, 0}).to_vector() == std::vector<float>{4, 0, 5, 1});
  // Index tensors themselves can be gathered (e.g. labels of a batch).
  const auto labels = nb::from_vector<std::int64_t>({7, 8, 9});
  REQUIRE(nb::index_select(labels, 0, {2, 2, 0}).to_vector() == std::vector<std::int64_t>{9, 9, 7});

  // Repeated indices accumulate their gradients (an index-add): row 2 is used twice.
  auto leaf = nb::zeros<double>({3, 2}).requires_grad_();
  nb::index_select(leaf, 0, {2, 0, 2}).backward(nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2}));
  REQUIRE(leaf.grad().to_vector() == std::vector<double>{3, 4, 0, 0, 1 + 5, 2 + 6});
}

TEST_CASE("concat and stack join tensors", "[ops][views]") {
  const auto a = nb::from_vector<float>({1, 2, 3, 4}, {2, 2});
  const auto b = nb::from_vector<float>({5, 6}, {1, 2});
  const auto c = nb::from_vector<float>({7, 8}, {2, 1});
  REQUIRE(nb::concat({a, b}, 0).shape() == nb::Shape{3, 2});
  REQUIRE(nb::concat({a, b}, 0).to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(nb::concat({a, c}, 1).to_vector() == std::vector<float>{1, 2, 7, 3, 4, 8});
  REQUIRE(nb::cat({c, a, c}, -1).to_vector() == std::vector<float>{7, 1, 2, 7, 8, 3, 4, 8});
  REQUIRE(nb::concat({a.t(), b}, 0).to_vector() == std::vector<float>{1, 3, 2, 4, 5, 6});
  const std::vector<nb::Tensor<float>> list{b};
  REQUIRE(nb::concat(list).to_vector() == std::vector<float>{5, 6});

  const auto row0 = nb::from_vector<float>({1, 2, 3});
  const auto row1 = nb::from_vector<float>({4, 5, 6});
  REQUIRE(nb::stack({row0, row1}, 0).shape() == nb::Shape{2, 3});
  REQUIRE(nb::stack({row0, row1}, 0).to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(nb::stack({row0, row1}, 1).shape() == nb::Shape{3, 2});
  REQUIRE(nb::stack({row0, row1}, -1).to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});

  // The gradient is split back into the pieces.
  auto left = nb::zeros<double>({2, 1}).requires_grad_();
  auto right = nb::zeros<double>({2, 2}).requires_grad_();
  nb::concat({left, right}, 1).backward(nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}));
  REQUIRE(left.grad().to_vector() == std::vector<double>{1, 4});
  REQUIRE(right.grad().to_vector() == std::vector<double>{2, 3, 5, 6});
}

TEST_CASE("gradients flow back through views to the base", "[ops][views][autograd]") {
  auto x = nb::zeros<double>({2, 3}).requires_grad_();
  auto columns = x.slice(1, 0, 3, 2);  // columns 0 and 2
  REQUIRE(columns.requires_grad());
  REQUIRE(columns.grad_fn()->name() == "slice");
  columns.backward(nb::from_vector<double>({1, 2, 3, 4}, {2, 2}));
  REQUIRE(x.grad().to_vector() == std::vector<double>{1, 0, 2, 3, 0, 4});

  auto y = nb::zeros<double>({2, 3}).requires_grad_();
  y.t().reshape({6}).backward(nb::from_vector<double>({1, 2, 3, 4, 5, 6}));
  REQUIRE(y.grad().to_vector() == std::vector<double>{1, 3, 5, 2, 4, 6});

  // Without grad mode a view records nothing.
  nb::NoGradGuard no_grad;
  REQUIRE_FALSE(y.reshape({3, 2}).requires_grad());
}

TEST_CASE("gradcheck: each view op", "[ops][views][gradcheck]") {
  const auto a = nb::randn<double>({2, 3, 4}, 1);
  const auto m = nb::randn<double>({3, 4}, 2);
  require_gradcheck([](const Inputs& x) { return x[0].clone(); }, {m});
  require_gradcheck([](const Inputs& x) { return x[0].t().contiguous(); }, {m});
  require_gradcheck([](const Inputs& x) { return x[0].reshape({4, -1}); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].view({6, 4}); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].flatten(1); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].unsqueeze(1).squeeze(); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].unsqueeze(-1).squeeze(3); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].transpose(0, 2); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].t(); }, {m});
  require_gradcheck([](const Inputs& x) { return x[0].permute({1, 2, 0}); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].narrow(2, 1, 2); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].slice(1, -3, 100, 2); }, {a});
  require_gradcheck([](const Inputs& x) { return nb::expand(x[0], {2, 3, 4}); }, {nb::randn<double>({3, 1}, 3)});
}

TEST_CASE("gradcheck: chains of views and views composed with mul", "[ops][views][gradcheck]") {
  const auto a = nb::randn<double>({2, 3, 4}, 4);
  const auto m = nb::randn<double>({3, 4}, 5);
  const auto n = nb::randn<double>({4, 3}, 6);
  // A permuted view reshaped: the reshape must copy, and the gradient must un-permute.
  require_gradcheck([](const Inputs& x) { return x[0].permute({2, 0, 1}).reshape({4, 6}); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].transpose(0, 1).slice(2, 0, 4, 3).flatten(); }, {a});
  require_gradcheck([](const Inputs& x) { return x[0].t().narrow(0, 1, 2).unsqueeze(0).permute({2, 0, 1}); }, {m});
  // Non-trivial gradients: the views feed a product, so each element's gradient differs.
  require_gradcheck([](const Inputs& x) { return nb::mul(x[0].t(), x[1]); }, {m, n});
  require_gradcheck([](const Inputs& x) { return nb::mul(x[0].reshape({4, 3}), x[1].permute({1, 0})); }, {m, m});
  // Overlapping windows of the same input: both paths' gradients must add up.
  require_gradcheck([](const Inputs& x) { return nb::mul(x[0].narrow(0, 0, 2), x[0].narrow(0, 1, 2)); }, {m});
  require_gradcheck(
      [](const Inputs& x) {
        return nb::mul(nb::expand(x[0], {3, 4}), x[1]);
      },
      {nb::randn<double>({4}, 7), m});
  require_gradcheck([](const Inputs& x) { return nb::mul(x[0].slice(1, -3, 4), x[0].slice(1, 0, 3)); }, {m});
}

TEST_CASE("gradcheck: index_select, concat and stack", "[ops][views][gradcheck]") {
  const auto m = nb::randn<double>({3, 4}, 8);
  const auto p = nb::randn<double>({2, 4}, 9);
  const auto q = nb::randn<double>({3, 2}, 10);
  require_gradcheck([](const Inputs& x) { return nb::index_select(x[0], 0, {2, 0, 2, 2}); }, {m});
  require_gradcheck([](const Inputs& x) { return nb::index_select(x[0], 1, {3, 3, 1}); }, {m});
  require_gradcheck(
      [](const Inputs& x) {
        return nb::mul(nb::index_select(x[0].t(), 1, {1, 1}), x[0].t().narrow(1, 0, 2));
      },
      {m});
  require_gradcheck([](const Inputs& x) { return nb::concat({x[0], x[1]}, 0); }, {m, p});
  require_gradcheck([](const Inputs& x) { return nb::concat({x[0], x[1], x[0]}, 1); }, {m, q});
  require_gradcheck(
      [](const Inputs& x) {
        return nb::mul(nb::concat({x[0].t(), x[1].t()}, 1), x[0].t().narrow(1, 0, 1));
      },
      {m, p});
  require_gradcheck([](const Inputs& x) { return nb::stack({x[0], x[1]}, 0); }, {m, m});
  require_gradcheck([](const Inputs& x) { return nb::stack({x[0], nb::mul(x[0], x[1])}, 1); }, {m, m});
  require_gradcheck([](const Inputs& x) { return nb::stack({x[0].t(), x[1].t()}, -1); }, {q, q});
}

TEST_CASE("view and shape errors name the op and the shapes", "[ops][views][errors]") {
  const auto x = nb::ones<float>({2, 3});
  const auto cube = nb::ones<float>({2, 3, 4});
  REQUIRE_THROWS_AS(x.reshape({4, 2}), nb::ShapeError);
  REQUIRE_THROWS_WITH(x.reshape({4, 2}), Contains("reshape") && Contains("[2,3]") && Contains("[4,2]"));
  REQUIRE_THROWS_WITH(x.reshape({-1, -1}), Contains("only one dimension can be -1"));
  REQUIRE_THROWS_WITH(x.reshape({4, -1}), Contains("cannot infer") && Contains("[2,3]"));
  REQUIRE_THROWS_WITH(x.reshape({-2, 3}), Contains("negative dimension"));
  REQUIRE_THROWS_AS(x.t().view({6}), nb::ShapeError);
  REQUIRE_THROWS_WITH(x.t().view({6}), Contains("view") && Contains("[3,2]") && Contains("reshape()"));

  REQUIRE_THROWS_AS(cube.permute({0, 0, 1}), nb::ValueError);
  REQUIRE_THROWS_WITH(cube.permute({0, 0, 1}), Contains("permute") && Contains("appears twice"));
  REQUIRE_THROWS_WITH(cube.permute({0, 1}), Contains("permute") && Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(cube.permute({0, 1, 3}), Contains("dimension 3 is out of range"));

  REQUIRE_THROWS_AS(x.transpose(0, 2), nb::ValueError);
  REQUIRE_THROWS_WITH(x.transpose(0, 2), Contains("transpose") && Contains("dimension 2"));
  REQUIRE_THROWS_WITH(x.squeeze(-3), Contains("squeeze") && Contains("dimension -3"));
  REQUIRE_THROWS_WITH(x.unsqueeze(3), Contains("unsqueeze") && Contains("-3 to 2"));
  REQUIRE_THROWS_WITH(x.flatten(1, 0), Contains("flatten") && Contains("start_dim"));
  REQUIRE_THROWS_AS(cube.t(), nb::ShapeError);
  REQUIRE_THROWS_WITH(cube.t(), Contains("t: expects a 2-D tensor") && Contains("[2,3,4]"));

  REQUIRE_THROWS_WITH(x.narrow(1, 2, 2), Contains("narrow") && Contains("size 3"));
  REQUIRE_THROWS_WITH(x.narrow(1, -4, 1), Contains("narrow: start -4"));
  REQUIRE_THROWS_WITH(x.narrow(5, 0, 1), Contains("narrow") && Contains("dimension 5"));
  REQUIRE_THROWS_AS(x.slice(1, 0, 3, 0), nb::ValueError);
  REQUIRE_THROWS_WITH(x.slice(1, 0, 3, -1), Contains("slice: step must be >= 1, got -1"));

  REQUIRE_THROWS_AS(nb::expand(x, {4, 3}), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::expand(x, {4, 3}), Contains("expand") && Contains("[2,3]") && Contains("[4,3]"));
  REQUIRE_THROWS_WITH(nb::expand(x, {3}), Contains("fewer dimensions"));
  REQUIRE_THROWS_WITH(nb::expand(x, {-1, 2, 3}), Contains("new dimension 0"));
}

TEST_CASE("index_select, concat and stack errors", "[ops][views][errors]") {
  const auto x = nb::ones<float>({3, 2});
  REQUIRE_THROWS_AS(nb::index_select(x, 0, {0, 5}), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::index_select(x, 0, {0, 5}),
                      Contains("index_select: index 5 at position 1") && Contains("valid indices are 0 to 2"));
  REQUIRE_THROWS_WITH(nb::index_select(x, 1, {-1}), Contains("index -1 at position 0") && Contains("0 to 1"));
  REQUIRE_THROWS_WITH(nb::index_select(x, 2, {0}), Contains("index_select") && Contains("dimension 2"));
  const nb::IndexTensor matrix_ids = nb::zeros<std::int64_t>({2, 2});
  REQUIRE_THROWS_AS(nb::index_select(x, 0, matrix_ids), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::index_select(x, 0, matrix_ids), Contains("1-D") && Contains("[2,2]"));

  const auto a = nb::ones<float>({2, 3});
  const auto b = nb::ones<float>({2, 4});
  REQUIRE(nb::concat({a, b}, 1).shape() == nb::Shape{2, 7});
  REQUIRE_THROWS_AS(nb::concat({a, b}, 0), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::concat({a, a, b}, 0), Contains("concat: tensor 2") && Contains("[2,4]") && Contains("[2,3]"));
  REQUIRE_THROWS_WITH(nb::concat({a, nb::ones<float>({2, 3, 1})}, 1), Contains("tensor 1") && Contains("[2,3,1]"));
  REQUIRE_THROWS_AS(nb::concat(std::vector<nb::Tensor<float>>{}), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::cat(std::vector<nb::Tensor<float>>{}, 0), Contains("concat") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::concat({a, b}, 2), Contains("concat") && Contains("dimension 2"));
  REQUIRE_THROWS_AS(nb::stack({a, b}), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::stack({a, a, b}, 1), Contains("stack: tensor 2") && Contains("[2,4]") && Contains("[2,3]"));
  REQUIRE_THROWS_WITH(nb::stack(std::vector<nb::Tensor<float>>{}), Contains("stack") && Contains("empty"));
  REQUIRE_THROWS_WITH(nb::stack({a, a}, 3), Contains("stack") && Contains("-3 to 2"));
}

}  // namespace test_views
