// nn: the Module system (names, modes, state dicts, summary), Dense, Embedding, Dropout,
// activation modules, softmax / log_softmax and weight initializers: hand-computed values,
// gradchecks, error messages, statistics of random draws, and PyTorch parity from
// tests/fixtures/layers.txt (scripts/fixtures/make_layers.py).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_nn {

namespace nb = nabla;
using Catch::Contains;
using nabla_test::max_relative_difference;

namespace {

using Inputs = std::vector<nb::Tensor<double>>;
using Function = std::function<nb::Tensor<double>(const Inputs&)>;

void require_gradcheck(const Function& function, const Inputs& inputs) {
  auto result = nb::gradcheck<double>(function, inputs);
  INFO(result.report);
  REQUIRE(result);
}

template <typename T>
void require_values(const nb::Tensor<T>& tensor, const std::vector<double>& expected, double tolerance = 1e-12) {
  const auto values = tensor.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    REQUIRE(static_cast<double>(values[i]) == Approx(expected[i]).margin(tolerance));
  }
}

/// L = sum(output * r): backward with r as the output gradient.
template <typename T>
void weighted_backward(const nb::Tensor<T>& output, const nb::Tensor<T>& r) {
  output.backward(r);
}

/// Mean and (population) variance of all elements.
template <typename T>
std::pair<double, double> mean_and_variance(const nb::Tensor<T>& tensor) {
  const auto values = tensor.to_vector();
  double sum = 0, sum_of_squares = 0;
  for (T value : values) sum += static_cast<double>(value);
  const double mean = sum / static_cast<double>(values.size());
  for (T value : values) sum_of_squares += (static_cast<double>(value) - mean) * (static_cast<double>(value) - mean);
  return {mean, sum_of_squares / static_cast<double>(values.size())};
}

template <typename T>
double max_abs(const nb::Tensor<T>& tensor) {
  double largest = 0;
  for (T value : tensor.to_vector()) largest = std::max(largest, std::abs(static_cast<double>(value)));
  return largest;
}

/// 0: Dense(3,4), 1: ReLU, 2: Sequential{0: Dense(4,5), 1: Dropout, 2: Dense(5,2, no bias)}.
std::shared_ptr<nb::nn::Sequential<double>> nested_model(std::uint64_t seed) {
  auto inner = std::make_shared<nb::nn::Sequential<double>>();
  inner->add<nb::nn::Dense>(4, 5, nb::nn::DenseOptions{.seed = seed + 1})
      .add<nb::nn::Dropout>(0.5)
      .add<nb::nn::Dense>(5, 2, nb::nn::DenseOptions{.bias = false, .seed = seed + 2});
  auto model = std::make_shared<nb::nn::Sequential<double>>();
  model->add<nb::nn::Dense>(3, 4, nb::nn::DenseOptions{.seed = seed}).add<nb::nn::ReLU>().add(inner);
  return model;
}

}  // namespace

// ---- Module and Sequential ----------------------------------------------------------------

TEST_CASE("Module: named_parameters walks nested Sequentials in order with dotted names", "[nn][module]") {
  auto model = nested_model(1);
  const auto named = model->named_parameters();
  std::vector<std::string> names;
  for (const auto& [name, tensor] : named) names.push_back(name);
  REQUIRE(names == std::vector<std::string>{"0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.2.weight"});
  REQUIRE(named[0].second.shape() == nb::Shape{4, 3});
  REQUIRE(named[4].second.shape() == nb::Shape{2, 5});

  const auto parameters = model->parameters();
  REQUIRE(parameters.size() == named.size());
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    REQUIRE(parameters[i].is_same(named[i].second));
    REQUIRE(parameters[i].requires_grad());
  }
  // The handles are the layers' own tensors, not copies.
  auto& first = dynamic_cast<nb::nn::Dense<double>&>(*(*model)[0]);
  REQUIRE(parameters[0].is_same(first.weight()));
  REQUIRE(parameters[1].is_same(first.bias()));
  REQUIRE(model->parameter_count() == 4 * 3 + 4 + 5 * 4 + 5 + 2 * 5);
}

TEST_CASE("Module: train() and eval() reach every nested layer", "[nn][module]") {
  auto model = nested_model(2);
  auto inner = std::dynamic_pointer_cast<nb::nn::Sequential<double>>((*model)[2]);
  REQUIRE(inner);
  const auto& dropout = (*inner)[1];
  REQUIRE(model->is_training());
  REQUIRE(dropout->is_training());

  model->eval();
  REQUIRE_FALSE(model->is_training());
  REQUIRE_FALSE(inner->is_training());
  REQUIRE_FALSE(dropout->is_training());
  // In eval mode the dropout inside is the identity: the same input gives the same output.
  const auto x = nb::randn<double>({6, 3}, 11);
  REQUIRE(max_relative_difference((*model)(x), (*model)(x)) == 0.0);

  model->train();
  REQUIRE(dropout->is_training());
  REQUIRE((*inner)[2]->is_training());
}

TEST_CASE("Module: zero_grad clears the gradient of every parameter", "[nn][module]") {
  auto model = nested_model(3);
  model->eval();
  nb::sum((*model)(nb::randn<double>({4, 3}, 5))).backward();
  double total = 0;
  for (const auto& parameter : model->parameters()) {
    REQUIRE(parameter.grad().defined());
    total += max_abs(parameter.grad());
  }
  REQUIRE(total > 0);
  model->zero_grad();
  for (const auto& parameter : model->parameters()) REQUIRE(max_abs(parameter.grad()) == 0.0);
}

TEST_CASE("Module: state_dict round trip copies every value into another model", "[nn][module]") {
  auto source = nested_model(10);
  auto target = nested_model(20);
  source->eval();
  target->eval();
  const auto x = nb::randn<double>({5, 3}, 7);
  REQUIRE(max_relative_difference((*source)(x), (*target)(x)) > 1e-3);  // different seeds, different nets

  auto state = source->state_dict();
  REQUIRE(state.size() == 5);
  REQUIRE(state.count("2.2.weight") == 1);
  target->load_state_dict(state);
  REQUIRE(max_relative_difference((*source)(x), (*target)(x)) == 0.0);

  // The state dict holds copies: changing it later does not change either model.
  const auto before = (*target)(x).to_vector();
  state.at("0.bias").fill_(100.0);
  REQUIRE((*target)(x).to_vector() == before);
  // Loaded parameters are still trainable leaves.
  for (const auto& parameter : target->parameters()) REQUIRE((parameter.requires_grad() && parameter.is_leaf()));
}

TEST_CASE("Module: load_state_dict rejects missing, unexpected and mis-shaped entries", "[nn][module][errors]") {
  auto model = nested_model(4);
  const auto good = model->state_dict();
  const auto original = model->parameters()[0].to_vector();

  auto missing = good;
  missing.erase("2.0.bias");
  REQUIRE_THROWS_AS(model->load_state_dict(missing), nb::ValueError);
  REQUIRE_THROWS_WITH(model->load_state_dict(missing), Contains("missing entry '2.0.bias'"));
  REQUIRE_NOTHROW(model->load_state_dict(missing, /*strict=*/false));

  auto unexpected = good;
  unexpected.emplace("3.weight", nb::zeros<double>({1}));
  REQUIRE_THROWS_WITH(model->load_state_dict(unexpected), Contains("unexpected entry '3.weight'"));

  auto misshaped = good;
  misshaped.at("0.weight") = nb::zeros<double>({4, 7});
  REQUIRE_THROWS_AS(model->load_state_dict(misshaped), nb::ShapeError);
  REQUIRE_THROWS_WITH(model->load_state_dict(misshaped),
                      Contains("'0.weight'") && Contains("[4,7]") && Contains("[4,3]"));
  // A failed load changes nothing (checks run before any copy).
  REQUIRE(model->parameters()[0].to_vector() == original);
}

TEST_CASE("Sequential: summary lists layer types, output shapes and parameter counts", "[nn][module]") {
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(13, 32)
      .add<nb::nn::ReLU>()
      .add<nb::nn::Dropout>(0.1)
      .add<nb::nn::Dense>(32, 1)
      .add<nb::nn::Sigmoid>();
  const std::string text = net.summary({8, 13});
  INFO(text);
  REQUIRE_THAT(text, Contains("0 (Dense)") && Contains("1 (ReLU)") && Contains("2 (Dropout)") &&
                         Contains("3 (Dense)") && Contains("4 (Sigmoid)"));
  REQUIRE_THAT(text, Contains("[8,32]") && Contains("[8,1]"));
  REQUIRE_THAT(text, Contains("448") && Contains("33"));  // 13*32 + 32 and 32 + 1
  REQUIRE_THAT(text, Contains("Total params: 481"));
  REQUIRE(net.parameter_count() == 481);
  REQUIRE(net.is_training());  // summary() restores the mode it found
  // A wrong input shape: the layer's ShapeError, and the mode is still restored.
  REQUIRE_THROWS_WITH(net.summary({8, 12}), Contains("Dense(13 -> 32)"));
  REQUIRE(net.is_training());
  REQUIRE((*net[2]).is_training());
}

TEST_CASE("Sequential: summary() without arguments uses the last input the model saw", "[nn][module]") {
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(13, 32).add<nb::nn::ReLU>().add<nb::nn::Dense>(32, 1);
  REQUIRE_FALSE(net.last_input_shape().has_value());
  REQUIRE_THROWS_AS(net.summary(), nb::ValueError);
  REQUIRE_THROWS_WITH(net.summary(), Contains("has not seen an input yet") && Contains("summary({batch, features})"));
  net(nb::zeros<float>({5, 13}));
  REQUIRE(net.last_input_shape() == nb::Shape{5, 13});
  const std::string text = net.summary();
  REQUIRE(text == net.summary({5, 13}));  // the explicit form still works, and gives the same table
  REQUIRE_THAT(text, Contains("[5,32]") && Contains("[5,1]") && Contains("Total params: 481"));
  // summary({...}) probes without changing what the model remembers
  net.summary({2, 13});
  REQUIRE(net.last_input_shape() == nb::Shape{5, 13});
}

namespace {
/// What the issue asks to compile: a model built in a function and returned by value.
nb::nn::Sequential<float> make_sequential(std::uint64_t seed) {
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(3, 4, nb::nn::DenseOptions{.seed = seed}).add<nb::nn::ReLU>().add<nb::nn::Dense>(4, 2);
  return net;
}
}  // namespace

TEST_CASE("Module: Sequentials are movable; parameters stay reachable after a move", "[nn][module][move]") {
  static_assert(std::is_nothrow_move_constructible_v<nb::nn::Sequential<float>>);
  static_assert(std::is_nothrow_move_assignable_v<nb::nn::Sequential<float>>);
  static_assert(!std::is_copy_constructible_v<nb::nn::Sequential<float>>);
  static_assert(std::is_move_constructible_v<nb::nn::Dense<float>>);
  static_assert(std::is_move_constructible_v<nb::nn::LSTM<float>>);
  static_assert(std::is_move_constructible_v<nb::nn::Embedding<float>>);
  static_assert(std::is_move_constructible_v<nb::nn::Dropout<float>>);
  static_assert(std::is_move_constructible_v<nb::nn::Softmax<float>>);
  const auto x = nb::randn<float>({2, 3}, 5);

  nb::nn::Sequential<float> original = make_sequential(1);
  const auto expected = original(x).to_vector();
  const auto* first_parameter = original.parameters().front().impl().get();

  // Move-construct into a vector, and move more in so the vector reallocates.
  std::vector<nb::nn::Sequential<float>> models;
  models.push_back(std::move(original));
  for (std::uint64_t seed = 2; seed < 6; ++seed) models.push_back(make_sequential(seed));
  nb::nn::Sequential<float>& moved = models.front();
  REQUIRE(moved.size() == 3);
  REQUIRE(moved.parameters().size() == 4);
  REQUIRE(moved.parameters().front().impl().get() == first_parameter);  // the same tensors, not copies
  REQUIRE(moved.named_parameters().front().first == "0.weight");
  REQUIRE(moved(x).to_vector() == expected);

  // The registered children are the layers: a change through one shows through the other.
  auto& dense = dynamic_cast<nb::nn::Dense<float>&>(*moved[0]);
  REQUIRE(dense.weight().impl().get() == first_parameter);

  // Training through the moved model updates the parameters the optimizer holds.
  nb::optim::SGD<float> optimizer(moved.parameters(), {.lr = 0.1});
  nb::sum(moved(x)).backward();
  optimizer.step();
  REQUIRE(moved(x).to_vector() != expected);
  REQUIRE(dense.weight().impl().get() == optimizer.parameters().front().impl().get());

  // Move assignment, and train()/eval() still reach every child.
  nb::nn::Sequential<float> assigned;
  assigned = std::move(models.back());
  REQUIRE(assigned.parameter_count() == 3 * 4 + 4 + 4 * 2 + 2);
  assigned.eval();
  REQUIRE_FALSE(assigned[0]->is_training());
  REQUIRE(assigned.state_dict().size() == 4);
}

TEST_CASE("Module: load_state_dict reports missing and unexpected keys when not strict", "[nn][module]") {
  nb::nn::Sequential<float> net = make_sequential(1);
  auto state = net.state_dict();
  state.erase("2.bias");
  state.emplace("extra.weight", nb::zeros<float>({1}));
  REQUIRE_THROWS_WITH(net.load_state_dict(state), Contains("missing entry '2.bias'"));
  state.emplace("2.bias", nb::zeros<float>({2}));
  REQUIRE_THROWS_WITH(net.load_state_dict(state), Contains("unexpected entry 'extra.weight'"));
  state.erase("2.bias");
  const auto result = net.load_state_dict(state, /*strict=*/false);
  REQUIRE(result.missing_keys == std::vector<std::string>{"2.bias"});
  REQUIRE(result.unexpected_keys == std::vector<std::string>{"extra.weight"});
}

TEST_CASE("Sequential: layers chain with operator() and keep the graph", "[nn][module]") {
  nb::nn::Sequential<double> net;
  net.add<nb::nn::Dense>(2, 3, nb::nn::DenseOptions{.seed = 1})
      .add<nb::nn::Tanh>()
      .add<nb::nn::Dense>(3, 1, nb::nn::DenseOptions{.seed = 2});
  REQUIRE(net.size() == 3);
  const auto x = nb::randn<double>({4, 2}, 3);
  auto& first = dynamic_cast<nb::nn::Dense<double>&>(*net[0]);
  auto& last = dynamic_cast<nb::nn::Dense<double>&>(*net[2]);
  const auto hidden = nb::tanh(nb::matmul(x, first.weight().t()) + first.bias());
  const auto manual = nb::matmul(hidden, last.weight().t()) + last.bias();
  REQUIRE(max_relative_difference(net(x), manual) < 1e-14);
  REQUIRE_THROWS_AS(net[3], nb::ValueError);
}

// ---- Dense ---------------------------------------------------------------------------------

TEST_CASE("Dense: weight [out, in], PyTorch's default init, seeds", "[nn][dense]") {
  nb::nn::Dense<float> layer(16, 5, {.seed = 42});
  REQUIRE(layer.weight().shape() == nb::Shape{5, 16});
  REQUIRE(layer.bias().shape() == nb::Shape{5});
  REQUIRE(layer.type_name() == "Dense");
  REQUIRE(layer.describe() == "16 -> 5");
  // U(-1/sqrt(16), 1/sqrt(16)) for both weight and bias.
  REQUIRE(max_abs(layer.weight()) <= 0.25);
  REQUIRE(max_abs(layer.weight()) > 0.15);
  REQUIRE(max_abs(layer.bias()) <= 0.25);
  REQUIRE(max_abs(layer.bias()) > 0.0);

  nb::nn::Dense<float> same(16, 5, {.seed = 42});
  nb::nn::Dense<float> other(16, 5, {.seed = 43});
  REQUIRE(same.weight().to_vector() == layer.weight().to_vector());
  REQUIRE(same.bias().to_vector() == layer.bias().to_vector());
  REQUIRE(other.weight().to_vector() != layer.weight().to_vector());

  // Without a seed the layer draws from the global generator.
  nb::manual_seed(9);
  nb::nn::Dense<float> global_a(16, 5);
  nb::manual_seed(9);
  nb::nn::Dense<float> global_b(16, 5);
  REQUIRE(global_a.weight().to_vector() == global_b.weight().to_vector());

  nb::nn::Dense<float> no_bias(16, 5, {.bias = false});
  REQUIRE_FALSE(no_bias.bias().defined());
  REQUIRE(no_bias.parameters().size() == 1);
  REQUIRE(no_bias.parameter_count() == 80);
  REQUIRE(no_bias.describe() == "16 -> 5, no bias");

  // Keras-style inits start the bias at zero.
  nb::nn::Dense<double> he(50, 20, {.init = nb::nn::Init::he_uniform, .seed = 1});
  REQUIRE(max_abs(he.bias()) == 0.0);
  REQUIRE(max_abs(he.weight()) <= std::sqrt(6.0 / 50));
  REQUIRE(max_abs(he.weight()) > 0.8 * std::sqrt(6.0 / 50));
  nb::nn::Dense<double> glorot(50, 20, {.init = nb::nn::Init::glorot_uniform, .seed = 1});
  REQUIRE(max_abs(glorot.bias()) == 0.0);
  REQUIRE(max_abs(glorot.weight()) <= std::sqrt(6.0 / 70));
  REQUIRE(max_abs(glorot.weight()) > 0.8 * std::sqrt(6.0 / 70));

  REQUIRE_THROWS_AS(nb::nn::Dense<float>(0, 3), nb::ValueError);
}

TEST_CASE("Dense: forward is x W^T + b for 1-D, 2-D and 3-D inputs", "[nn][dense]") {
  nb::nn::Dense<double> layer(2, 3);
  layer.load_state_dict({{"weight", nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2})},
                         {"bias", nb::from_vector<double>({0.5, -1, 2})}});
  // x = [1, -1]: [1 - 2, 3 - 4, 5 - 6] + b
  require_values(layer(nb::from_vector<double>({1, -1}, {1, 2})), {-0.5, -2, 1});
  require_values(layer(nb::from_vector<double>({1, -1})), {-0.5, -2, 1});
  REQUIRE(layer(nb::from_vector<double>({1, -1})).shape() == nb::Shape{3});
  const auto sequence = nb::from_vector<double>({1, -1, 0, 1, 2, 0, 0, 0}, {2, 2, 2});
  const auto output = layer(sequence);
  REQUIRE(output.shape() == nb::Shape{2, 2, 3});
  require_values(output, {-0.5, -2, 1, 2.5, 3, 8, 2.5, 5, 12, 0.5, -1, 2});
}

TEST_CASE("Dense: wrong rank or feature size throws ShapeError naming the layer", "[nn][dense][errors]") {
  nb::nn::Dense<float> layer(13, 32);
  REQUIRE_THROWS_AS(layer(nb::zeros<float>({4, 12})), nb::ShapeError);
  REQUIRE_THROWS_WITH(layer(nb::zeros<float>({4, 12})), "Dense(13 -> 32): expected input [..., 13], got [4,12]");
  REQUIRE_THROWS_WITH(layer(nb::zeros<float>({2, 5, 14})), Contains("Dense(13 -> 32)") && Contains("[2,5,14]"));
  REQUIRE_THROWS_WITH(layer(nb::scalar_tensor<float>(1)), Contains("Dense(13 -> 32)") && Contains("got []"));
  REQUIRE_THROWS_AS(layer(nb::Tensor<float>()), nb::ValueError);
  REQUIRE_THROWS_WITH(
      nb::nn::functional::linear(nb::zeros<float>({2, 3}), nb::zeros<float>({4, 3}), nb::zeros<float>({3})),
      Contains("bias must have shape [4]"));
}

TEST_CASE("Dense: gradcheck of x W^T + b (2-D, 3-D, no bias, strided input)", "[nn][dense][gradcheck]") {
  const auto w = nb::randn<double>({3, 4}, 1);
  const auto b = nb::randn<double>({3}, 2);
  auto linear = [](const Inputs& in) { return nb::nn::functional::linear(in[0], in[1], in[2]); };
  require_gradcheck(linear, {nb::randn<double>({5, 4}, 3), w, b});
  require_gradcheck(linear, {nb::randn<double>({2, 3, 4}, 4), w, b});
  require_gradcheck([](const Inputs& in) { return nb::nn::functional::linear(in[0], in[1]); },
                    {nb::randn<double>({5, 4}, 5), w});
  // A transposed view as input (not contiguous): [4,5] viewed as [5,4].
  require_gradcheck([](const Inputs& in) { return nb::nn::functional::linear(in[0].t(), in[1], in[2]); },
                    {nb::randn<double>({4, 5}, 6), w, b});
  // The same through the layer's own parameters.
  nb::nn::Dense<double> layer(4, 3, {.seed = 3});
  require_gradcheck([&layer](const Inputs& in) { return layer(in[0]); }, {nb::randn<double>({2, 3, 4}, 7)});
}

TEST_CASE("Dense: matches torch.nn.Linear (outputs and gradients)", "[nn][dense][parity]") {
  nabla_test::Fixture fixture("layers");
  for (const std::string name : {"linear2d", "linear3d"}) {
    INFO(name);
    const auto weight = fixture.get(name + "_weight");
    nb::nn::Dense<double> layer(weight.size(1), weight.size(0));
    layer.load_state_dict({{"weight", weight}, {"bias", fixture.get(name + "_bias")}});
    auto x = fixture.get(name + "_x").requires_grad_();
    const auto y = layer(x);
    REQUIRE(max_relative_difference(y, fixture.get(name + "_y")) < 1e-12);
    weighted_backward(y, fixture.get(name + "_r"));
    REQUIRE(max_relative_difference(x.grad(), fixture.get(name + "_grad_x")) < 1e-12);
    REQUIRE(max_relative_difference(layer.weight().grad(), fixture.get(name + "_grad_weight")) < 1e-12);
    REQUIRE(max_relative_difference(layer.bias().grad(), fixture.get(name + "_grad_bias")) < 1e-12);
  }
  // float within 1e-5
  const auto weight = fixture.get<float>("linear3d_weight");
  nb::nn::Dense<float> layer(4, 3);
  layer.load_state_dict({{"weight", weight}, {"bias", fixture.get<float>("linear3d_bias")}});
  REQUIRE(max_relative_difference(layer(fixture.get<float>("linear3d_x")), fixture.get<float>("linear3d_y")) < 1e-5);
}

// ---- Embedding -----------------------------------------------------------------------------

TEST_CASE("Embedding: lookup of any id shape, N(0,1) init, zero padding row", "[nn][embedding]") {
  nb::nn::Embedding<double> layer(6, 3, {.padding_idx = 4, .seed = 5});
  REQUIRE(layer.weight().shape() == nb::Shape{6, 3});
  REQUIRE(layer.type_name() == "Embedding");
  for (std::int64_t c = 0; c < 3; ++c) REQUIRE(layer.weight().at({4, c}) == 0.0);
  REQUIRE(max_abs(layer.weight()) > 0.0);

  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({1, 4, 1, 0, 5, 2}, {2, 3});
  const auto output = layer(ids);
  REQUIRE(output.shape() == nb::Shape{2, 3, 3});
  const std::vector<std::int64_t> flat = ids.to_vector();
  for (std::size_t s = 0; s < flat.size(); ++s)
    for (std::int64_t c = 0; c < 3; ++c)
      REQUIRE(output.at({static_cast<std::int64_t>(s) / 3, static_cast<std::int64_t>(s) % 3, c}) ==
              layer.weight().at({flat[s], c}));

  // A scalar id gives one vector; a float tensor of whole numbers works like an IndexTensor.
  REQUIRE(layer(nb::full<std::int64_t>({}, 2)).shape() == nb::Shape{3});
  const auto from_floats = layer(nb::from_vector<double>({1, 4, 1, 0, 5, 2}, {2, 3}));
  REQUIRE(from_floats.to_vector() == output.to_vector());

  // A large table: N(0, 1) statistics.
  nb::nn::Embedding<double> big(1000, 100, {.seed = 1});
  const auto [mean, variance] = mean_and_variance(big.weight());
  REQUIRE(std::abs(mean) < 0.01);
  REQUIRE(variance == Approx(1.0).epsilon(0.02));
}

TEST_CASE("Embedding: backward scatter-adds into the used rows only, never the padding row", "[nn][embedding]") {
  nb::nn::Embedding<double> layer(8, 2, {.padding_idx = 0, .seed = 2});
  // Row 3 used three times, row 0 (padding) twice, row 6 once; rows 1, 2, 4, 5, 7 unused.
  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({3, 0, 6, 3, 0, 3}, {3, 2});
  const auto output = layer(ids);
  REQUIRE(output.grad_fn()->name() == "embedding");
  REQUIRE(output.grad_fn()->inputs().size() == 1);  // one node, the table its only input
  const auto r = nb::from_vector<double>({1, 2, 10, 20, 100, 200, 1000, 2000, 3, 4, 5, 6}, {3, 2, 2});
  output.backward(r);
  const auto grad = layer.weight().grad();
  REQUIRE(grad.shape() == nb::Shape{8, 2});
  require_values(grad, {0, 0, 0, 0, 0, 0, 1 + 1000 + 5, 2 + 2000 + 6, 0, 0, 0, 0, 100, 200, 0, 0});

  // The padding row stays zero through an update.
  {
    nb::NoGradGuard no_grad;
    auto weight = layer.weight();
    weight -= 0.1 * grad;
  }
  REQUIRE(layer.weight().at({0, 0}) == 0.0);
  REQUIRE(layer.weight().at({0, 1}) == 0.0);
}

TEST_CASE("Embedding: gradcheck through the table (with and without padding)", "[nn][embedding][gradcheck]") {
  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({2, 0, 2, 4, 1, 2}, {2, 3});
  require_gradcheck([&ids](const Inputs& in) { return nb::nn::functional::embedding(ids, in[0]); },
                    {nb::randn<double>({5, 3}, 1)});
  // With a padding row that is not looked up, the gradient is exact. (A looked-up padding row
  // deliberately receives no gradient, which finite differences would not agree with; that
  // rule is tested above.)
  const nb::IndexTensor no_padding = nb::from_vector<std::int64_t>({2, 4, 1, 2}, {4});
  require_gradcheck([&no_padding](const Inputs& in) { return nb::nn::functional::embedding(no_padding, in[0], 0); },
                    {nb::randn<double>({5, 3}, 2)});
  // Embedding followed by a Dense: gradient through both.
  nb::nn::Dense<double> dense(3, 2, {.seed = 4});
  require_gradcheck([&](const Inputs& in) { return dense(nb::nn::functional::embedding(ids, in[0])); },
                    {nb::randn<double>({5, 3}, 3)});
}

TEST_CASE("Embedding: out-of-range ids and non-integer values throw ValueError with the position",
          "[nn][embedding][errors]") {
  nb::nn::Embedding<float> layer(5, 4);
  const nb::IndexTensor too_large = nb::from_vector<std::int64_t>({0, 1, 7, 2}, {2, 2});
  REQUIRE_THROWS_AS(layer(too_large), nb::ValueError);
  REQUIRE_THROWS_WITH(layer(too_large), "Embedding(5, 4): token id 7 at position [1,0] is outside [0, 5)");
  REQUIRE_THROWS_WITH(layer(nb::from_vector<std::int64_t>({3, -1})), Contains("token id -1 at position [1]"));
  REQUIRE_THROWS_WITH(layer(nb::from_vector<float>({1, 2.5f})), Contains("2.5 at position [1]"));
  REQUIRE_THROWS_WITH(layer(nb::from_vector<float>({5, 1})), Contains("token id 5 at position [0]"));
  REQUIRE_THROWS_AS(layer(nb::from_vector<float>({NAN})), nb::ValueError);
  REQUIRE_THROWS_AS(layer(nb::from_vector<float>({1e30f})), nb::ValueError);
  REQUIRE_THROWS_AS(nb::nn::Embedding<float>(5, 4, {.padding_idx = 5}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::nn::Embedding<float>(0, 4), nb::ValueError);
}

TEST_CASE("Embedding: in a Sequential with Dense, and its summary", "[nn][embedding][module]") {
  nb::nn::Sequential<float> model;
  model.add<nb::nn::Embedding>(10, 4, nb::nn::EmbeddingOptions{.padding_idx = 0}).add<nb::nn::Dense>(4, 2);
  const auto output = model(nb::from_vector<float>({1, 2, 3, 0, 9, 9}, {2, 3}));
  REQUIRE(output.shape() == nb::Shape{2, 3, 2});
  const std::string text = model.summary({2, 3});
  INFO(text);
  REQUIRE_THAT(text,
               Contains("(Embedding)") && Contains("[2,3,4]") && Contains("[2,3,2]") && Contains("Total params: 50"));
}

TEST_CASE("Embedding: matches torch.nn.Embedding with padding_idx", "[nn][embedding][parity]") {
  nabla_test::Fixture fixture("layers");
  const auto weight = fixture.get("embedding_weight");
  nb::nn::Embedding<double> layer(weight.size(0), weight.size(1), {.padding_idx = 2});
  layer.load_state_dict({{"weight", weight}});
  std::vector<std::int64_t> id_values;
  for (double id : fixture.get("embedding_ids").to_vector()) id_values.push_back(static_cast<std::int64_t>(id));
  const auto ids = nb::from_vector<std::int64_t>(id_values, fixture.get("embedding_ids").shape());
  const auto y = layer(ids);
  REQUIRE(max_relative_difference(y, fixture.get("embedding_y")) < 1e-15);
  weighted_backward(y, fixture.get("embedding_r"));
  REQUIRE(max_relative_difference(layer.weight().grad(), fixture.get("embedding_grad_weight")) < 1e-12);
}

// ---- softmax and log_softmax ----------------------------------------------------------------

TEST_CASE("softmax: hand-computed rows, any dim, stable for large inputs", "[nn][softmax]") {
  const auto x = nb::from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  require_values(nb::softmax(x),
                 {std::exp(1.0) / total, std::exp(2.0) / total, std::exp(3.0) / total, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  require_values(nb::log_softmax(x), {1 - std::log(total), 2 - std::log(total), 3 - std::log(total), -std::log(3.0),
                                      -std::log(3.0), -std::log(3.0)});
  // Along dim 0: columns [1, 0], [2, 0], [3, 0].
  const auto columns = nb::softmax(x, 0);
  for (int c = 0; c < 3; ++c) {
    REQUIRE(columns.at({0, c}) == Approx(1.0 / (1.0 + std::exp(-(c + 1.0)))).epsilon(1e-14));
    REQUIRE(columns.at({0, c}) + columns.at({1, c}) == Approx(1.0).epsilon(1e-15));
  }
  // e^1000 overflows; the row max is subtracted first.
  require_values(nb::softmax(nb::from_vector<float>({1000, 1000})), {0.5, 0.5}, 1e-7);
  require_values(nb::log_softmax(nb::from_vector<double>({1000, 0})), {0, -1000});
  require_values(nb::softmax(nb::from_vector<float>({-1000, 0})), {0, 1}, 1e-7);
  // A rank-0 tensor is a row of one.
  REQUIRE(nb::softmax(nb::scalar_tensor<double>(3.0)).item() == 1.0);
  REQUIRE_THROWS_AS(nb::softmax(x, 2), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::log_softmax(x, -3), Contains("log_softmax"));
}

TEST_CASE("softmax: each is one graph node", "[nn][softmax]") {
  auto x = nb::randn<double>({3, 4}, 1).requires_grad_();
  const auto s = nb::softmax(x, 1);
  REQUIRE(s.grad_fn()->name() == "softmax");
  REQUIRE(s.grad_fn()->inputs().size() == 1);
  REQUIRE(s.grad_fn()->inputs()[0].is_same(x));
  const auto l = nb::log_softmax(x, 1);
  REQUIRE(l.grad_fn()->name() == "log_softmax");
  REQUIRE(l.grad_fn()->inputs()[0].is_same(x));
}

TEST_CASE("softmax and log_softmax: gradcheck along every dim and on views", "[nn][softmax][gradcheck]") {
  for (std::int64_t dim : {0, 1, 2, -1}) {
    INFO("dim " << dim);
    require_gradcheck([dim](const Inputs& in) { return nb::softmax(in[0], dim); }, {nb::randn<double>({2, 3, 4}, 1)});
    require_gradcheck([dim](const Inputs& in) { return nb::log_softmax(in[0], dim); },
                      {nb::randn<double>({2, 3, 4}, 2)});
  }
  // A permuted (non-contiguous) input.
  require_gradcheck([](const Inputs& in) { return nb::softmax(in[0].transpose(0, 2), 1); },
                    {nb::randn<double>({4, 3, 2}, 3)});
  require_gradcheck([](const Inputs& in) { return nb::log_softmax(in[0].t(), -1); }, {nb::randn<double>({5, 3}, 4)});
  // A downstream op whose gradient is a broadcast view (expand/sum backward).
  require_gradcheck([](const Inputs& in) { return nb::sum(nb::softmax(in[0], 1) * in[1]); },
                    {nb::randn<double>({3, 4}, 5), nb::randn<double>({4}, 6)});
  // Large values.
  require_gradcheck([](const Inputs& in) { return nb::log_softmax(in[0] * 100.0, -1); },
                    {nb::randn<double>({2, 4}, 7)});
}

TEST_CASE("softmax, log_softmax, GELU, LeakyReLU: match PyTorch", "[nn][softmax][parity]") {
  nabla_test::Fixture fixture("layers");
  struct Case {
    std::string name;
    std::function<nb::Tensor<double>(const nb::Tensor<double>&)> function;
  };
  nb::nn::Softmax<double> softmax_dim1(1);
  nb::nn::LogSoftmax<double> log_softmax_dim1(1);
  nb::nn::Softmax<double> softmax_last;
  nb::nn::LogSoftmax<double> log_softmax_last;
  nb::nn::GELU<double> gelu;
  nb::nn::LeakyReLU<double> leaky_relu(0.2);
  const std::vector<Case> cases = {
      {"softmax_dim1", [&](const nb::Tensor<double>& x) { return softmax_dim1(x); }},
      {"log_softmax_dim1", [&](const nb::Tensor<double>& x) { return log_softmax_dim1(x); }},
      {"softmax_last", [&](const nb::Tensor<double>& x) { return softmax_last(x); }},
      {"log_softmax_last", [&](const nb::Tensor<double>& x) { return log_softmax_last(x); }},
      {"gelu", [&](const nb::Tensor<double>& x) { return gelu(x); }},
      {"leaky_relu", [&](const nb::Tensor<double>& x) { return leaky_relu(x); }},
  };
  for (const auto& test : cases) {
    INFO(test.name);
    auto x = fixture.get(test.name + "_x").requires_grad_();
    const auto y = test.function(x);
    REQUIRE(max_relative_difference(y, fixture.get(test.name + "_y")) < 1e-12);
    weighted_backward(y, fixture.get(test.name + "_r"));
    REQUIRE(max_relative_difference(x.grad(), fixture.get(test.name + "_grad_x")) < 1e-12);
  }
  // float within 1e-5: softmax even with a column shifted by 1000 (e^1000 overflows a float
  // too). Not log_softmax there: an input of 1000 carries a float rounding error of ~3e-5
  // itself, which x - max - log(sum) passes on unchanged.
  const auto y = nb::softmax(fixture.get<float>("softmax_dim1_x"), 1);
  REQUIRE(max_relative_difference(y, fixture.get<float>("softmax_dim1_y")) < 1e-5);
  const auto log_y = nb::log_softmax(fixture.get<float>("log_softmax_last_x"), -1);
  REQUIRE(max_relative_difference(log_y, fixture.get<float>("log_softmax_last_y")) < 1e-5);
}

// ---- activation modules ---------------------------------------------------------------------

TEST_CASE("Activation modules apply their op and report their names", "[nn][activations]") {
  const auto x = nb::from_vector<double>({-2, -0.5, 0, 0.5, 2}, {5});
  nb::nn::Sigmoid<double> sigmoid;
  nb::nn::ReLU<double> relu;
  nb::nn::LeakyReLU<double> leaky;
  nb::nn::LeakyReLU<double> leaky_keras(0.3);
  nb::nn::Tanh<double> tanh;
  nb::nn::GELU<double> gelu;
  nb::nn::Softmax<double> softmax;
  nb::nn::LogSoftmax<double> log_softmax(0);
  require_values(sigmoid(x), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-0.5)),
                              1 / (1 + std::exp(-2.0))});
  require_values(relu(x), {0, 0, 0, 0.5, 2});
  require_values(leaky(x), {-0.02, -0.005, 0, 0.5, 2});
  require_values(leaky_keras(x), {-0.6, -0.15, 0, 0.5, 2});
  require_values(tanh(x), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(2.0)});
  // GELU(x) = x Phi(x): Phi(0.5) = 0.691462461274013
  REQUIRE(gelu(x).at({3}) == Approx(0.5 * 0.691462461274013).epsilon(1e-13));
  REQUIRE(gelu(x).at({2}) == 0.0);
  REQUIRE(nb::sum(softmax(x)).item() == Approx(1.0).epsilon(1e-15));
  REQUIRE(max_relative_difference(nb::exp(log_softmax(x)), softmax(x)) < 1e-15);

  REQUIRE(sigmoid.type_name() == "Sigmoid");
  REQUIRE(relu.type_name() == "ReLU");
  REQUIRE(leaky.type_name() == "LeakyReLU");
  REQUIRE(leaky_keras.describe() == "negative_slope=0.3");
  REQUIRE(tanh.type_name() == "Tanh");
  REQUIRE(gelu.type_name() == "GELU");
  REQUIRE(softmax.type_name() == "Softmax");
  REQUIRE(log_softmax.type_name() == "LogSoftmax");
  REQUIRE(log_softmax.describe() == "dim=0");
  REQUIRE(relu.parameter_count() == 0);

  // The functional names (torch.nn.functional style) are the same ops.
  REQUIRE(nb::nn::functional::relu(x).to_vector() == relu(x).to_vector());
  REQUIRE(nb::nn::functional::softmax(x, 0).to_vector() == softmax(x).to_vector());
}

// ---- Dropout -------------------------------------------------------------------------------

TEST_CASE("Dropout: keeps a fraction 1 - p, scales by 1/(1-p), preserves the mean", "[nn][dropout]") {
  for (double p : {0.1, 0.3, 0.5, 0.8}) {
    INFO("p = " << p);
    nb::nn::Dropout<double> dropout(p, {.seed = 17});
    const auto x = nb::ones<double>({200, 500});
    const auto y = dropout(x);
    std::int64_t kept = 0;
    for (double value : y.to_vector()) {
      if (value != 0.0) {
        REQUIRE(value == Approx(1.0 / (1.0 - p)).epsilon(1e-14));
        ++kept;
      }
    }
    // 100,000 Bernoulli draws: the standard deviation of the kept fraction is < 0.0016.
    REQUIRE(static_cast<double>(kept) / 100000.0 == Approx(1.0 - p).margin(0.008));
    REQUIRE(mean_and_variance(y).first == Approx(1.0).margin(0.04));
  }
}

TEST_CASE("Dropout: identity in eval mode and for p = 0", "[nn][dropout]") {
  nb::nn::Dropout<float> dropout(0.5);
  const auto x = nb::randn<float>({4, 4}, 1);
  dropout.eval();
  REQUIRE(dropout(x).is_same(x));
  dropout.train();
  REQUIRE(dropout(x).to_vector() != x.to_vector());
  REQUIRE(nb::nn::functional::dropout(x, 0.5, /*training=*/false).is_same(x));
  REQUIRE(nb::nn::functional::dropout(x, 0.0).is_same(x));
}

TEST_CASE("Dropout: the same seed gives the same mask, a seeded layer a new mask per call", "[nn][dropout]") {
  const auto x = nb::ones<float>({1000});
  nb::nn::Dropout<float> a(0.5, {.seed = 3}), b(0.5, {.seed = 3}), c(0.5, {.seed = 4});
  const auto first = a(x);
  REQUIRE(first.to_vector() == b(x).to_vector());
  REQUIRE(first.to_vector() != c(x).to_vector());
  REQUIRE(a(x).to_vector() != first.to_vector());  // the stream moved on

  // Without a seed: the global generator, reproducible through manual_seed.
  nb::nn::Dropout<float> global(0.5);
  nb::manual_seed(21);
  const auto from_global = global(x);
  nb::manual_seed(21);
  REQUIRE(global(x).to_vector() == from_global.to_vector());
  nb::manual_seed(21);
  nb::Generator generator(21);
  REQUIRE(nb::nn::functional::dropout(x, 0.5, true, generator).to_vector() == from_global.to_vector());
}

TEST_CASE("Dropout: the gradient is the same scaled mask; gradcheck", "[nn][dropout][gradcheck]") {
  nb::nn::Dropout<double> dropout(0.25, {.seed = 8});
  auto x = nb::randn<double>({6, 7}, 2).requires_grad_();
  const auto y = dropout(x);
  nb::sum(y).backward();
  const auto grad = x.grad().to_vector();
  const auto inputs = x.to_vector(), outputs = y.to_vector();
  for (std::size_t i = 0; i < grad.size(); ++i) {
    REQUIRE((grad[i] == 0.0 || grad[i] == Approx(1.0 / 0.75).epsilon(1e-14)));
    REQUIRE(outputs[i] == Approx(inputs[i] * grad[i]).epsilon(1e-14));
  }
  // A fresh generator with the same seed in every call: the same mask for the finite differences.
  require_gradcheck(
      [](const Inputs& in) {
        nb::Generator generator(5);
        return nb::nn::functional::dropout(in[0], 0.4, true, generator);
      },
      {nb::randn<double>({3, 5}, 3)});
  // A non-contiguous input.
  require_gradcheck(
      [](const Inputs& in) {
        nb::Generator generator(6);
        return nb::nn::functional::dropout(in[0].t(), 0.4, true, generator);
      },
      {nb::randn<double>({5, 3}, 4)});
}

TEST_CASE("Dropout: p outside [0, 1) throws ValueError", "[nn][dropout][errors]") {
  REQUIRE_THROWS_AS(nb::nn::Dropout<float>(1.0), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::nn::Dropout<float>(-0.1), Contains("Dropout") && Contains("[0, 1)") && Contains("-0.1"));
  REQUIRE_THROWS_AS(nb::nn::Dropout<float>(std::nan("")), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::nn::functional::dropout(nb::ones<float>({2}), 1.5), Contains("dropout") && Contains("1.5"));
}

// ---- init ----------------------------------------------------------------------------------

TEST_CASE("init: fans, bounds and variances of Glorot, He and PyTorch's Linear default", "[nn][init]") {
  namespace init = nb::nn::init;
  REQUIRE(init::compute_fans({30, 20}).fan_in == 20);
  REQUIRE(init::compute_fans({30, 20}).fan_out == 30);
  REQUIRE(init::compute_fans({8, 4, 3, 3}).fan_in == 36);
  REQUIRE(init::compute_fans({8, 4, 3, 3}).fan_out == 72);
  REQUIRE_THROWS_AS(init::compute_fans({5}), nb::ValueError);
  REQUIRE(init::leaky_relu_gain(std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)).epsilon(1e-15));

  nb::Generator generator(123);
  const nb::Shape shape{200, 300};  // fan_in 300, fan_out 200
  struct Expectation {
    std::string name;
    nb::Tensor<double> values;
    double bound;  // 0 for the normal draws
    double variance;
  };
  const double glorot_bound = std::sqrt(6.0 / 500), he_bound = std::sqrt(6.0 / 300), torch_bound = 1 / std::sqrt(300.0);
  const std::vector<Expectation> cases = {
      {"glorot_uniform", init::glorot_uniform<double>(shape, generator), glorot_bound, glorot_bound * glorot_bound / 3},
      {"glorot_normal", init::glorot_normal<double>(shape, generator), 0, 2.0 / 500},
      {"he_uniform", init::he_uniform<double>(shape, generator), he_bound, 2.0 / 300},
      {"he_normal", init::he_normal<double>(shape, generator), 0, 2.0 / 300},
      {"xavier_uniform gain 2", init::xavier_uniform<double>(shape, generator, 2.0), 2 * glorot_bound,
       4 * glorot_bound * glorot_bound / 3},
      {"kaiming_normal gain 1", init::kaiming_normal<double>(shape, generator, 1.0), 0, 1.0 / 300},
      {"pytorch_linear_weight", init::pytorch_linear_weight<double>(shape, generator), torch_bound,
       torch_bound * torch_bound / 3},
      {"pytorch_linear_bias", init::pytorch_linear_bias<double>({60000}, 300, generator), torch_bound,
       torch_bound * torch_bound / 3},
      {"uniform(-2, 6)", init::uniform<double>(shape, -2, 6, generator), 6, 64.0 / 12},
  };
  for (const auto& test : cases) {
    INFO(test.name);
    const auto [mean, variance] = mean_and_variance(test.values);
    REQUIRE(variance == Approx(test.variance).epsilon(0.03));
    if (test.bound > 0) {
      REQUIRE(max_abs(test.values) <= test.bound);
      REQUIRE(max_abs(test.values) > 0.99 * test.bound);  // the draws fill the whole interval
    }
    if (test.name != "uniform(-2, 6)") REQUIRE(std::abs(mean) < 0.02 * std::sqrt(test.variance));
  }
  REQUIRE(mean_and_variance(init::uniform<double>(shape, -2, 6, generator)).first == Approx(2.0).margin(0.02));
  REQUIRE(max_abs(init::zeros<float>({3, 3})) == 0.0);
  REQUIRE_THROWS_AS(init::he_uniform<float>({4, 0}), nb::ValueError);
}

TEST_CASE("init: the same seed gives the same draw; a generator moves on", "[nn][init]") {
  namespace init = nb::nn::init;
  nb::Generator first(7), second(7);
  const auto a = init::glorot_uniform<float>({4, 5}, first);
  REQUIRE(a.to_vector() == init::glorot_uniform<float>({4, 5}, second).to_vector());
  REQUIRE(init::glorot_uniform<float>({4, 5}, first).to_vector() != a.to_vector());
  nb::manual_seed(7);
  REQUIRE(init::glorot_uniform<float>({4, 5}).to_vector() == a.to_vector());
  // Init::... picks the same functions a Dense layer uses.
  nb::Generator third(7);
  nb::nn::Dense<float> layer(5, 4, {.init = nb::nn::Init::glorot_uniform, .seed = 7});
  REQUIRE(layer.weight().to_vector() == init::weight<float>(nb::nn::Init::glorot_uniform, {4, 5}, third).to_vector());
}

}  // namespace test_nn
