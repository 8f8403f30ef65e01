// Tests of optimizer parameter groups (one mechanism for SGD, Adam, AdamW, RMSprop, Adagrad),
// the schedulers over groups, CosineWithWarmup against PyTorch's LambdaLR (fixture from
// scripts/fixtures/make_optim_groups.py), weight_decay_groups, the groups in saved states and
// model files, and gradient accumulation in fit().
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_optim_groups {

namespace nb = nabla;
using Catch::Contains;
using nb::loss::Reduction;

namespace {

const nabla_test::Fixture& fixture() {
  static const nabla_test::Fixture loaded("optim_groups");
  return loaded;
}

/// The fixture's problem: loss = sum((x W + b - y)^2).
template <typename T>
struct GroupProblem {
  nb::Tensor<T> x = fixture().get<T>("groups.x");
  nb::Tensor<T> y = fixture().get<T>("groups.y");
  nb::Tensor<T> W = fixture().get<T>("groups.W0").requires_grad_();
  nb::Tensor<T> b = fixture().get<T>("groups.b0").requires_grad_();

  void compute_gradients() {
    W.zero_grad();
    b.zero_grad();
    nb::loss::mse(nb::matmul(x, W) + b, y, Reduction::sum).backward();
  }
};

template <typename T>
void require_pytorch_trajectory(double tolerance) {
  INFO((sizeof(T) == 4 ? "float" : "double"));
  GroupProblem<T> problem;
  nb::optim::AdamW<T> optimizer(
      {{.params = {problem.W}, .weight_decay = 0.1}, {.params = {problem.b}, .lr = 0.2, .weight_decay = 0}},
      {.lr = 0.05});
  REQUIRE(optimizer.group_count() == 2);
  nb::optim::CosineWithWarmup schedule(optimizer,
                                       {.warmup_steps = 3, .total_steps = 8, .min_factor = 0.2, .start_factor = 0.1});
  std::vector<double> lr0{optimizer.group_lr(0)}, lr1{optimizer.group_lr(1)};
  for (int step = 1; step <= 10; ++step) {
    INFO("step " << step);
    problem.compute_gradients();
    optimizer.step();
    schedule.step();
    lr0.push_back(optimizer.group_lr(0));
    lr1.push_back(optimizer.group_lr(1));
    REQUIRE(nabla_test::max_relative_difference(problem.W, fixture().get<T>("groups.W." + std::to_string(step))) <
            tolerance);
    REQUIRE(nabla_test::max_relative_difference(problem.b, fixture().get<T>("groups.b." + std::to_string(step))) <
            tolerance);
  }
  REQUIRE(nabla_test::max_relative_difference(nb::from_vector<double>(lr0), fixture().get<double>("groups.lr0")) <
          1e-15);
  REQUIRE(nabla_test::max_relative_difference(nb::from_vector<double>(lr1), fixture().get<double>("groups.lr1")) <
          1e-15);
}

/// k steps of loss = sum((x W + b - y)^2) with fixed data, from fresh parameters each call.
struct Toy {
  nb::Tensor<double> x = nb::randn<double>({7, 4}, 21);
  nb::Tensor<double> y = nb::randn<double>({7, 3}, 22);
  nb::Tensor<double> W = (nb::randn<double>({4, 3}, 23) * 0.5).requires_grad_();
  nb::Tensor<double> b = (nb::randn<double>({3}, 24) * 0.1).requires_grad_();
  nb::Tensor<double> V = (nb::randn<double>({3, 3}, 25) * 0.5).requires_grad_();

  void backward() const {
    for (auto tensor : {W, b, V}) tensor.zero_grad();
    nb::loss::mse(nb::matmul(nb::tanh(nb::matmul(x, W) + b), V), y, Reduction::sum).backward();
  }
  std::vector<std::vector<double>> values() const { return {W.to_vector(), b.to_vector(), V.to_vector()}; }
};

/// Groups {W, V: lr 0.03, decay 0.2}, {b: defaults} against two optimizers, one per group,
/// bit for bit over 6 steps.
template <template <typename> class Optimizer, typename Options>
void require_groups_equal_separate_optimizers(const std::string& name, Options options) {
  INFO(name);
  Toy grouped, separate;
  Optimizer<double> together(
      {{.params = {grouped.W, grouped.V}, .lr = 0.03, .weight_decay = 0.2}, {.params = {grouped.b}}}, options);
  Options first_options = options;
  first_options.lr = 0.03;
  first_options.weight_decay = 0.2;
  Optimizer<double> first({separate.W, separate.V}, first_options);
  Optimizer<double> second({separate.b}, options);
  for (int step = 0; step < 6; ++step) {
    grouped.backward();
    together.step();
    separate.backward();
    first.step();
    second.step();
  }
  REQUIRE(grouped.values() == separate.values());
  CHECK(together.group_lr(0) == 0.03);
  CHECK(together.group_weight_decay(0) == 0.2);
  CHECK(together.group_lr(1) == options.lr);
  CHECK(together.group_weight_decay(1) == options.weight_decay);
}

}  // namespace

TEST_CASE("AdamW with two groups under CosineWithWarmup follows PyTorch's LambdaLR step for step",
          "[optim_groups][optim]") {
  require_pytorch_trajectory<double>(1e-12);
  require_pytorch_trajectory<float>(1e-5);
}

TEST_CASE("a group optimizer equals separate optimizers bit for bit, for every optimizer", "[optim_groups][optim]") {
  require_groups_equal_separate_optimizers<nb::optim::AdamW>("AdamW", nb::optim::AdamWOptions{.lr = 0.01});
  require_groups_equal_separate_optimizers<nb::optim::Adam>("Adam",
                                                            nb::optim::AdamOptions{.lr = 0.01, .amsgrad = true});
  require_groups_equal_separate_optimizers<nb::optim::SGD>(
      "SGD", nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  require_groups_equal_separate_optimizers<nb::optim::RMSprop>(
      "RMSprop", nb::optim::RMSpropOptions{.lr = 0.01, .weight_decay = 0.05, .momentum = 0.5, .centered = true});
  require_groups_equal_separate_optimizers<nb::optim::Adagrad>("Adagrad",
                                                               nb::optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.01});
}

TEST_CASE("a plain parameter list is one group with the options' settings", "[optim_groups][optim]") {
  Toy toy;
  nb::optim::AdamW<double> adamw({toy.W, toy.b}, {.lr = 0.02, .weight_decay = 0.3});
  REQUIRE(adamw.group_count() == 1);
  CHECK(adamw.group_lr(0) == 0.02);
  CHECK(adamw.group_weight_decay(0) == 0.3);
  CHECK(adamw.group_parameters(0).size() == 2);
  // set_lr sets every group, lr() reads the first
  nb::optim::SGD<double> sgd({{.params = {toy.W}, .lr = 0.5}, {.params = {toy.b}}}, {.lr = 0.1});
  CHECK(sgd.lr() == 0.5);
  sgd.set_lr(0.25);
  CHECK(sgd.group_lr(0) == 0.25);
  CHECK(sgd.group_lr(1) == 0.25);
  sgd.set_group_lr(1, 0.125);
  CHECK(sgd.group_lr(1) == 0.125);
  CHECK(sgd.parameters().size() == 2);
  // add_param_group appends (PyTorch's spelling)
  sgd.add_param_group({.params = {toy.V}, .lr = 0.01});
  REQUIRE(sgd.group_count() == 3);
  CHECK(sgd.group_parameters(2).size() == 1);
  CHECK(sgd.parameters().size() == 3);
  toy.backward();
  sgd.step();
  CHECK(sgd.state().parameters[2].step == 1);
}

TEST_CASE("parameter groups reject a tensor in two groups and bad settings", "[optim_groups][optim]") {
  Toy toy;
  REQUIRE_THROWS_WITH(nb::optim::AdamW<double>({{.params = {toy.W, toy.b}}, {.params = {toy.b}}}),
                      Contains("AdamW: group 1") && Contains("already in another group"));
  REQUIRE_THROWS_WITH(nb::optim::SGD<double>({{.params = {toy.W}, .lr = -1.0}}),
                      Contains("SGD: group 0") && Contains("learning rate"));
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({{.params = {toy.W}, .weight_decay = -0.5}}),
                      Contains("Adam: group 0") && Contains("weight_decay"));
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({{.params = {}}, {.params = {}}}), Contains("empty parameter list"));
  nb::optim::SGD<double> sgd({toy.W});
  REQUIRE_THROWS_WITH(sgd.add_param_group({.params = {toy.W}}), Contains("already in another group"));
  REQUIRE_THROWS_WITH(sgd.group_lr(3), Contains("group 3 out of range"));
  REQUIRE_THROWS_WITH(sgd.set_group_weight_decay(0, -1), Contains("weight_decay"));
  // tied weights listed twice in one group are kept once
  nb::optim::SGD<double> tied({{.params = {toy.W, toy.W, toy.b}}});
  CHECK(tied.parameters().size() == 2);
  // an empty group next to a full one is fine (weight_decay_groups of a model without biases)
  nb::optim::AdamW<double> with_empty({{.params = {toy.W}}, {.params = {}, .weight_decay = 0}});
  CHECK(with_empty.group_parameters(1).empty());
}

TEST_CASE("schedulers scale every group from its own base learning rate", "[optim_groups][optim]") {
  Toy toy;
  nb::optim::SGD<double> sgd({{.params = {toy.W}, .lr = 0.1}, {.params = {toy.b}, .lr = 0.01}});
  nb::optim::StepLR step_lr(sgd, {.step_size = 2, .gamma = 0.5});
  for (int epoch = 0; epoch < 4; ++epoch) step_lr.step();
  CHECK(sgd.group_lr(0) == Approx(0.025));
  CHECK(sgd.group_lr(1) == Approx(0.0025));
  CHECK(step_lr.base_lrs() == std::vector<double>{0.1, 0.01});

  nb::optim::Adam<double> adam({{.params = {toy.W}, .lr = 1e-3}, {.params = {toy.b}, .lr = 1e-4}});
  nb::optim::CosineWithWarmup cosine(adam, {.warmup_steps = 2, .total_steps = 4});
  CHECK(adam.group_lr(0) == 0.0);  // start_factor 0
  cosine.step();
  CHECK(adam.group_lr(0) == Approx(5e-4));
  CHECK(adam.group_lr(1) == Approx(5e-5));
  cosine.step();
  CHECK(adam.group_lr(0) == Approx(1e-3));
  cosine.step();
  CHECK(adam.group_lr(0) == Approx(5e-4));  // halfway down the cosine
  for (int i = 0; i < 3; ++i) cosine.step();
  CHECK(adam.group_lr(0) == 0.0);  // the floor, min_factor 0
  CHECK(cosine.factor(3) == Approx(0.5));

  nb::optim::ReduceLROnPlateau plateau(adam, {.factor = 0.5, .patience = 0});
  adam.set_group_lr(0, 1e-3);
  adam.set_group_lr(1, 1e-4);
  plateau.step(1.0);
  plateau.step(2.0);  // worse: both groups halve
  CHECK(adam.group_lr(0) == Approx(5e-4));
  CHECK(adam.group_lr(1) == Approx(5e-5));

  nb::optim::LambdaLR lambda(adam, [](std::int64_t step) { return 1.0 / static_cast<double>(step + 1); });
  lambda.step();
  CHECK(adam.group_lr(0) == Approx(2.5e-4));
  CHECK(adam.group_lr(1) == Approx(2.5e-5));

  REQUIRE_THROWS_WITH(nb::optim::CosineWithWarmup(adam, {.warmup_steps = 5, .total_steps = 5}),
                      Contains("total_steps (5) must be larger than warmup_steps (5)"));
  REQUIRE_THROWS_WITH(nb::optim::CosineWithWarmup(adam, {.total_steps = 5, .min_factor = 2}), Contains("min_factor"));
  REQUIRE_THROWS_WITH(nb::optim::LambdaLR(adam, [](std::int64_t) { return -1.0; }), Contains("LambdaLR"));
}

TEST_CASE("weight_decay_groups decays matrices but not biases, LayerNorm or embeddings", "[optim_groups][optim]") {
  nb::nn::Sequential<float> model;
  model.add<nb::nn::Embedding>(10, 4)
      .add<nb::nn::LSTM>(4, 5, nb::nn::LSTMOptions{.return_sequences = false})
      .add<nb::nn::LayerNorm>(5)
      .add<nb::nn::Dense>(5, 2);
  const auto groups = nb::optim::weight_decay_groups(model, 0.1);
  REQUIRE(groups.size() == 2);
  const auto names_of = [&](const nb::optim::ParamGroup<float>& group) {
    std::vector<std::string> names;
    for (const auto& tensor : group.params)
      for (const auto& [name, parameter] : model.named_parameters())
        if (parameter.impl() == tensor.impl()) names.push_back(name);
    return names;
  };
  CHECK(names_of(groups[0]) == std::vector<std::string>{"1.weight_ih_l0", "1.weight_hh_l0", "3.weight"});
  CHECK(names_of(groups[1]) ==
        std::vector<std::string>{"0.weight", "1.bias_ih_l0", "1.bias_hh_l0", "2.weight", "2.bias", "3.bias"});
  CHECK(groups[0].weight_decay == 0.1);
  CHECK(groups[1].weight_decay == 0.0);
  nb::optim::AdamW<float> optimizer(nb::optim::weight_decay_groups(model, 0.1), {.lr = 3e-4});
  CHECK(optimizer.group_weight_decay(0) == Approx(0.1));
  CHECK(optimizer.group_weight_decay(1) == 0.0);
  CHECK(optimizer.group_lr(1) == Approx(3e-4));
  CHECK(optimizer.parameters().size() == model.parameters().size());
}

TEST_CASE("optimizer states keep every group's learning rate and weight decay", "[optim_groups][optim][io]") {
  Toy toy, copy;
  const auto make = [](const Toy& t) {
    return nb::optim::AdamW<double>({{.params = {t.W, t.V}, .weight_decay = 0.1}, {.params = {t.b}, .lr = 0.02}},
                                    {.lr = 0.01, .weight_decay = 0});
  };
  auto first = make(toy);
  for (int step = 0; step < 2; ++step) {
    toy.backward();
    first.step();
  }
  first.set_group_lr(0, 0.005);  // a scheduler moved them
  first.set_group_lr(1, 0.007);
  first.set_group_weight_decay(1, 0.03);
  {
    nb::NoGradGuard no_grad;
    copy.W.copy_(toy.W);
    copy.b.copy_(toy.b);
    copy.V.copy_(toy.V);
  }
  // through a checkpoint file
  const nabla_test::TempDir directory("optim_groups");
  const std::string path = directory.file("state.nabla");
  nb::io::Checkpoint checkpoint;
  nb::io::add_optimizer_state(checkpoint, first);
  nb::io::save_checkpoint(path, checkpoint);
  auto second = make(copy);
  nb::io::load_optimizer_state(nb::io::load_checkpoint(path), second);
  CHECK(second.group_lr(0) == 0.005);
  CHECK(second.group_lr(1) == 0.007);
  CHECK(second.group_weight_decay(0) == 0.1);
  CHECK(second.group_weight_decay(1) == 0.03);
  for (int step = 0; step < 3; ++step) {
    toy.backward();
    first.step();
    copy.backward();
    second.step();
  }
  REQUIRE(copy.values() == toy.values());

  // Different group sizes do not fit; a state from before groups sets one lr for all.
  nb::optim::AdamW<double> regrouped({{.params = {copy.W}}, {.params = {copy.b, copy.V}}});
  REQUIRE_THROWS_WITH(regrouped.load_state(first.state()), Contains("group 0 has 2 parameters in the state but 1"));
  auto legacy = first.state();
  legacy.groups.clear();
  legacy.group_sizes.clear();
  legacy.lr = 0.5;
  auto third = make(copy);
  third.load_state(legacy);
  CHECK(third.group_lr(0) == 0.5);
  CHECK(third.group_lr(1) == 0.5);
  CHECK(third.group_weight_decay(0) == 0.1);  // kept its own
}

TEST_CASE("a compiled model with parameter groups saves and resumes them", "[optim_groups][train][io]") {
  const auto build = [] {
    auto model = std::make_shared<nb::Model<double>>();
    model->add(std::make_shared<nb::nn::Dense<double>>(3, 4, nb::nn::DenseOptions{.seed = 1}))
        .add<nb::nn::Tanh>()
        .add(std::make_shared<nb::nn::Dense<double>>(4, 1, nb::nn::DenseOptions{.seed = 2}));
    nb::Model<double>& reference = *model;
    model->compile(
        [&reference](const std::vector<nb::Tensor<double>>&) {
          return std::make_shared<nb::optim::AdamW<double>>(nb::optim::weight_decay_groups(reference, 0.1),
                                                            nb::optim::AdamWOptions{.lr = 0.01});
        },
        nb::loss::MSE{});
    return model;
  };
  const auto x = nb::randn<double>({16, 3}, 5), y = nb::randn<double>({16, 1}, 6);
  auto model = build();
  model->fit(x, y, {.epochs = 1, .batch_size = 8, .seed = 1, .verbose = 0});
  model->optimizer().set_group_lr(1, 0.003);
  const nabla_test::TempDir directory("optim_groups");
  const std::string path = directory.file("groups.nabla");
  model->save(path);
  auto restored = build();
  restored->load(path);
  REQUIRE(restored->optimizer().group_count() == 2);
  CHECK(restored->optimizer().group_lr(0) == 0.01);
  CHECK(restored->optimizer().group_lr(1) == 0.003);
  CHECK(restored->optimizer().group_weight_decay(0) == 0.1);
  CHECK(restored->optimizer().group_weight_decay(1) == 0.0);
  model->fit(x, y, {.epochs = 2, .batch_size = 8, .seed = 1, .verbose = 0, .initial_epoch = 1});
  restored->fit(x, y, {.epochs = 2, .batch_size = 8, .seed = 1, .verbose = 0});
  for (std::size_t i = 0; i < model->parameters().size(); ++i)
    REQUIRE(restored->parameters()[i].to_vector() == model->parameters()[i].to_vector());
}

TEST_CASE("the LearningRateScheduler callback schedules every group", "[optim_groups][train]") {
  nb::Model<double> model;
  model.add(std::make_shared<nb::nn::Dense<double>>(2, 1, nb::nn::DenseOptions{.seed = 1}));
  auto* dense = model[0].get();
  model.compile(
      [dense](const std::vector<nb::Tensor<double>>&) {
        const auto parameters = dense->parameters();
        return std::make_shared<nb::optim::SGD<double>>(std::vector<nb::optim::ParamGroup<double>>{
            {.params = {parameters[0]}, .lr = 0.1}, {.params = {parameters[1]}, .lr = 0.01}});
      },
      nb::loss::MSE{});
  model.fit(nb::randn<double>({4, 2}, 1), nb::randn<double>({4, 1}, 2),
            {.epochs = 3,
             .batch_size = 4,
             .callbacks = {nb::train::LearningRateScheduler([](int epoch, double lr) { return epoch ? lr / 2 : lr; })},
             .verbose = 0});
  CHECK(model.optimizer().group_lr(0) == Approx(0.025));
  CHECK(model.optimizer().group_lr(1) == Approx(0.0025));
}

// ---- gradient accumulation -----------------------------------------------------------------------

namespace {
std::shared_ptr<nb::Model<double>> accumulation_model() {
  auto model = std::make_shared<nb::Model<double>>();
  model->add(std::make_shared<nb::nn::Dense<double>>(3, 5, nb::nn::DenseOptions{.seed = 11}))
      .add<nb::nn::Tanh>()
      .add(std::make_shared<nb::nn::Dense<double>>(5, 2, nb::nn::DenseOptions{.seed = 12}));
  model->compile(nb::optim::AdamOptions{.lr = 0.05}, nb::loss::MSE{});
  return model;
}
}  // namespace

TEST_CASE("gradient accumulation over k batches equals one k-times-larger batch", "[optim_groups][train]") {
  const auto x = nb::randn<double>({30, 3}, 31), y = nb::randn<double>({30, 2}, 32);
  for (const bool shuffle : {false, true}) {
    INFO("shuffle " << shuffle);
    auto micro = accumulation_model();
    auto large = accumulation_model();
    // 30 samples: 8 micro-batches of 4 (the last of 2) in windows of 3 -> steps of 12, 12, 6
    // samples: exactly the batches of 12 (12, 12, 6).
    const auto micro_history = micro->fit(
        x, y, {.epochs = 2, .batch_size = 4, .shuffle = shuffle, .seed = 7, .verbose = 0, .accumulation_steps = 3});
    const auto large_history =
        large->fit(x, y, {.epochs = 2, .batch_size = 12, .shuffle = shuffle, .seed = 7, .verbose = 0});
    CHECK(micro->optimizer().step_count() == 6);
    CHECK(large->optimizer().step_count() == 6);
    for (std::size_t i = 0; i < micro->parameters().size(); ++i) {
      const auto a = micro->parameters()[i].to_vector(), b = large->parameters()[i].to_vector();
      for (std::size_t j = 0; j < a.size(); ++j) REQUIRE(std::abs(a[j] - b[j]) < 1e-12);
    }
    // the logged loss is the mean over the epoch's samples either way
    CHECK(micro_history["loss"][0] == Approx(large_history["loss"][0]).epsilon(1e-12));
  }
  auto model = accumulation_model();
  REQUIRE_THROWS_WITH(model->fit(x, y, {.epochs = 1, .verbose = 0, .accumulation_steps = 0}),
                      Contains("accumulation_steps must be >= 1"));
}

TEST_CASE("gradient accumulation in a hand-written loop: scale each micro-batch's loss", "[optim_groups][optim]") {
  // docs/training.md's loop: k backward passes of loss / k, then one step.
  const auto x = nb::randn<double>({12, 3}, 41), y = nb::randn<double>({12, 1}, 42);
  nb::nn::Dense<double> micro(3, 1, {.seed = 3}), large(3, 1, {.seed = 3});
  nb::optim::SGD<double> micro_opt(micro.parameters(), {.lr = 0.1}), large_opt(large.parameters(), {.lr = 0.1});
  const int k = 3;
  micro_opt.zero_grad();
  for (int i = 0; i < k; ++i) {
    const auto loss = nb::loss::mse(micro(x.narrow(0, 4 * i, 4)), y.narrow(0, 4 * i, 4)) * (1.0 / k);
    loss.backward();
  }
  micro_opt.step();
  large_opt.zero_grad();
  nb::loss::mse(large(x), y).backward();
  large_opt.step();
  const auto a = micro.weight().to_vector(), b = large.weight().to_vector();
  for (std::size_t j = 0; j < a.size(); ++j) REQUIRE(std::abs(a[j] - b[j]) < 1e-12);
}

}  // namespace test_optim_groups
