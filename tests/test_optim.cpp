// Tests of nabla::optim: optimizer trajectories and LR schedules against PyTorch (fixtures
// from scripts/fixtures/make_optim.py), state export and reload, gradient clipping, L1/L2
// penalties, and the errors for bad options and bad states.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_optim {

namespace nb = nabla;
using Catch::Contains;
using nb::loss::Reduction;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {

const nabla_test::Fixture& fixture() {
  static const nabla_test::Fixture loaded("optim");
  return loaded;
}

template <typename T>
nb::Tensor<T> tensor(const std::vector<double>& values, const nb::Shape& shape) {
  return nb::from_vector<T>(std::vector<T>(values.begin(), values.end()), shape);
}

/// The fixture's problem: W [4,3], b [3] and an `unused` [2] that never gets a gradient.
template <typename T>
struct Problem {
  nb::Tensor<T> x = fixture().get<T>("optim.x");
  nb::Tensor<T> y = fixture().get<T>("optim.y");
  nb::Tensor<T> W = fixture().get<T>("optim.W0").requires_grad_();
  nb::Tensor<T> b = fixture().get<T>("optim.b0").requires_grad_();
  nb::Tensor<T> unused = nb::ones<T>({2}).requires_grad_();

  std::vector<nb::Tensor<T>> parameters() const { return {W, b, unused}; }

  /// loss = sum((x W + b - y)^2), then backward: fills W.grad and b.grad.
  void compute_gradients(nb::optim::Optimizer<T>& optimizer) const {
    optimizer.zero_grad();
    nb::loss::mse(nb::matmul(x, W) + b, y, Reduction::sum).backward();
  }
};

/// Five steps of Optimizer<T>(options) against PyTorch's parameters after each step.
template <template <typename> class Optimizer, typename T, typename Options>
void require_trajectory(const std::string& name, const Options& options, double tolerance) {
  INFO(name << " in " << (sizeof(T) == 4 ? "float" : "double"));
  Problem<T> problem;
  Optimizer<T> optimizer(problem.parameters(), options);
  for (int step = 1; step <= 5; ++step) {
    INFO("after step " << step);
    problem.compute_gradients(optimizer);
    optimizer.step();
    const std::string prefix = "optim." + name + ".";
    REQUIRE(nabla_test::max_relative_difference(problem.W, fixture().get<T>(prefix + "W." + std::to_string(step))) <
            tolerance);
    REQUIRE(nabla_test::max_relative_difference(problem.b, fixture().get<T>(prefix + "b." + std::to_string(step))) <
            tolerance);
  }
  // the parameter without a gradient was skipped: unchanged, and no state was created for it
  CHECK(problem.unused.to_vector() == std::vector<T>{1, 1});
  CHECK_FALSE(problem.unused.grad().defined());
  const auto state = optimizer.state();
  CHECK(state.parameters[2].step == 0);
  CHECK(state.parameters[2].buffers.empty());
  CHECK(state.parameters[0].step == 5);
  CHECK(optimizer.step_count() == 5);
}

template <template <typename> class Optimizer, typename Options>
void require_trajectory_in_both_precisions(const std::string& name, const Options& options) {
  require_trajectory<Optimizer, double>(name, options, 1e-12);
  require_trajectory<Optimizer, float>(name, options, 1e-5);
}

/// Runs 2 steps, exports the state, loads it into a fresh optimizer over copies of the
/// parameters, and requires both to stay bit-identical over 3 more steps.
template <template <typename> class Optimizer, typename Options>
void require_state_round_trip(const std::string& name, const Options& options) {
  INFO(name);
  Problem<double> original;
  Optimizer<double> first(original.parameters(), options);
  for (int step = 0; step < 2; ++step) {
    original.compute_gradients(first);
    first.step();
  }
  first.set_lr(first.lr() * 0.5);  // a scheduler's change must be saved too
  const nb::optim::OptimizerState<double> saved = first.state();
  std::vector<std::vector<double>> saved_values;  // to prove the snapshot shares no buffer with either optimizer
  for (const auto& [buffer_name, buffer] : saved.parameters[0].buffers) saved_values.push_back(buffer.to_vector());

  Problem<double> copy;
  {
    nb::NoGradGuard no_grad;
    copy.W.copy_(original.W);
    copy.b.copy_(original.b);
  }
  Optimizer<double> second(copy.parameters(), options);
  second.load_state(saved);
  CHECK(second.lr() == first.lr());
  CHECK(second.step_count() == 2);
  for (int step = 0; step < 3; ++step) {
    original.compute_gradients(first);
    first.step();
    copy.compute_gradients(second);
    second.step();
  }
  REQUIRE(copy.W.to_vector() == original.W.to_vector());
  REQUIRE(copy.b.to_vector() == original.b.to_vector());
  // the saved snapshot moved with neither optimizer
  CHECK(saved.parameters[0].step == 2);
  std::size_t index = 0;
  for (const auto& [buffer_name, buffer] : saved.parameters[0].buffers)
    CHECK(buffer.to_vector() == saved_values[index++]);
  CHECK(first.state().parameters[0].step == 5);
}

void require_lrs(const std::string& name, nb::optim::OptimizerBase& optimizer, nb::optim::LRScheduler& scheduler) {
  INFO(name);
  const auto expected = fixture().get<double>("sched." + name + ".lr").to_vector();
  std::vector<double> actual{optimizer.lr()};
  for (std::size_t epoch = 1; epoch < expected.size(); ++epoch) {
    optimizer.step();
    scheduler.step();
    actual.push_back(optimizer.lr());
  }
  REQUIRE(nabla_test::max_relative_difference(nb::from_vector<double>(actual), nb::from_vector<double>(expected)) <
          1e-12);
  CHECK(scheduler.last_epoch() == static_cast<std::int64_t>(expected.size()) - 1);
}

}  // namespace

// ---- PyTorch parity: optimizers -------------------------------------------------------------

TEST_CASE("SGD matches PyTorch: plain, momentum, dampening, nesterov with weight decay", "[optim][fixture]") {
  using nb::optim::SGD;
  require_trajectory_in_both_precisions<SGD>("sgd", nb::optim::SGDOptions{.lr = 0.01});
  require_trajectory_in_both_precisions<SGD>("sgd_momentum", nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  require_trajectory_in_both_precisions<SGD>(
      "sgd_dampening", nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.05});
  require_trajectory_in_both_precisions<SGD>(
      "sgd_nesterov_wd", nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
}

TEST_CASE("Adam and AdamW match PyTorch, with and without amsgrad", "[optim][fixture]") {
  require_trajectory_in_both_precisions<nb::optim::Adam>("adam", nb::optim::AdamOptions{.lr = 0.1});
  require_trajectory_in_both_precisions<nb::optim::Adam>(
      "adam_amsgrad_wd",
      nb::optim::AdamOptions{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .weight_decay = 0.1, .amsgrad = true});
  require_trajectory_in_both_precisions<nb::optim::AdamW>("adamw",
                                                          nb::optim::AdamWOptions{.lr = 0.1, .weight_decay = 0.1});
  require_trajectory_in_both_precisions<nb::optim::AdamW>("adamw_amsgrad",
                                                          nb::optim::AdamWOptions{.lr = 0.05, .amsgrad = true});
}

TEST_CASE("RMSprop and Adagrad match PyTorch", "[optim][fixture]") {
  require_trajectory_in_both_precisions<nb::optim::RMSprop>("rmsprop", nb::optim::RMSpropOptions{.lr = 0.01});
  require_trajectory_in_both_precisions<nb::optim::RMSprop>(
      "rmsprop_centered_momentum",
      nb::optim::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .weight_decay = 0.1, .momentum = 0.9, .centered = true});
  require_trajectory_in_both_precisions<nb::optim::Adagrad>("adagrad", nb::optim::AdagradOptions{.lr = 0.1});
  require_trajectory_in_both_precisions<nb::optim::Adagrad>(
      "adagrad_decay",
      nb::optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.05, .weight_decay = 0.1, .initial_accumulator_value = 0.2});
}

// ---- state ----------------------------------------------------------------------------------

TEST_CASE("optimizer state exported and reloaded into a fresh optimizer continues identically", "[optim][state]") {
  require_state_round_trip<nb::optim::SGD>("sgd momentum", nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  require_state_round_trip<nb::optim::SGD>("sgd plain", nb::optim::SGDOptions{.lr = 0.01});
  require_state_round_trip<nb::optim::Adam>("adam amsgrad", nb::optim::AdamOptions{.lr = 0.1, .amsgrad = true});
  require_state_round_trip<nb::optim::AdamW>("adamw", nb::optim::AdamWOptions{.lr = 0.1});
  require_state_round_trip<nb::optim::RMSprop>(
      "rmsprop centered momentum", nb::optim::RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true});
  require_state_round_trip<nb::optim::Adagrad>("adagrad", nb::optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.1});
}

TEST_CASE("optimizer state names its buffers like PyTorch", "[optim][state]") {
  Problem<double> problem;
  nb::optim::Adam<double> adam(problem.parameters(), {.amsgrad = true});
  nb::optim::SGD<double> sgd(problem.parameters(), {.momentum = 0.9});
  nb::optim::RMSprop<double> rmsprop(problem.parameters(), {.momentum = 0.5, .centered = true});
  nb::optim::Adagrad<double> adagrad(problem.parameters());
  CHECK(adam.state().parameters[0].buffers.empty());  // created on the first update
  problem.compute_gradients(adam);
  for (nb::optim::Optimizer<double>* optimizer :
       std::vector<nb::optim::Optimizer<double>*>{&adam, &sgd, &rmsprop, &adagrad})
    optimizer->step();
  auto names = [](const nb::optim::OptimizerState<double>& state) {
    std::vector<std::string> result;
    for (const auto& [name, buffer] : state.parameters[0].buffers) {
      result.push_back(name);
      CHECK(buffer.shape() == nb::Shape{4, 3});
    }
    return result;
  };
  CHECK(names(adam.state()) == std::vector<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  CHECK(names(sgd.state()) == std::vector<std::string>{"momentum_buffer"});
  CHECK(names(rmsprop.state()) == std::vector<std::string>{"grad_avg", "momentum_buffer", "square_avg"});
  CHECK(names(adagrad.state()) == std::vector<std::string>{"sum"});
  CHECK(adam.state().optimizer == "Adam");
  CHECK(adam.state().parameters[1].step == 1);
}

TEST_CASE("load_state rejects a state that does not fit, changing nothing", "[optim][state][errors]") {
  Problem<double> problem;
  nb::optim::Adam<double> adam(problem.parameters(), {.lr = 0.1});
  problem.compute_gradients(adam);
  adam.step();
  const auto saved = adam.state();

  nb::optim::SGD<double> sgd(problem.parameters(), {.momentum = 0.9});
  REQUIRE_THROWS_AS(sgd.load_state(saved), nb::ValueError);
  REQUIRE_THROWS_WITH(sgd.load_state(saved), Contains("SGD") && Contains("Adam"));

  nb::optim::Adam<double> fewer({problem.W}, {.lr = 0.1});
  REQUIRE_THROWS_WITH(fewer.load_state(saved), Contains("3 parameter entries") && Contains("1 parameters"));

  nb::optim::Adam<double> amsgrad(problem.parameters(), {.lr = 0.1, .amsgrad = true});
  REQUIRE_THROWS_WITH(amsgrad.load_state(saved), Contains("max_exp_avg_sq") && Contains("missing"));

  auto wrong_shape = saved;
  wrong_shape.parameters[0].buffers["exp_avg"] = nb::zeros<double>({3, 4});
  wrong_shape.lr = 0.5;
  nb::optim::Adam<double> fresh(problem.parameters(), {.lr = 0.1});
  REQUIRE_THROWS_AS(fresh.load_state(wrong_shape), nb::ShapeError);
  REQUIRE_THROWS_WITH(fresh.load_state(wrong_shape), Contains("exp_avg") && Contains("[3,4]") && Contains("[4,3]"));
  CHECK(fresh.lr() == 0.1);  // nothing was applied
  CHECK(fresh.step_count() == 0);
}

// ---- behaviour ------------------------------------------------------------------------------

TEST_CASE("optimizers: lr get/set, step_count, zero_grad, skipping parameters without grad", "[optim]") {
  auto w = tensor<double>({1, 2}, {2}).requires_grad_();
  auto frozen = tensor<double>({5}, {1}).requires_grad_();
  nb::optim::SGD<double> sgd({w, frozen, w}, {.lr = 0.5});  // w listed twice: kept once
  CHECK(sgd.parameters().size() == 2);
  CHECK(sgd.lr() == 0.5);
  sgd.set_lr(0.25);
  CHECK(sgd.lr() == 0.25);
  nb::sum(w * w).backward();  // grad 2w = [2, 4]
  sgd.step();
  CHECK(w.to_vector() == std::vector<double>{1 - 0.25 * 2, 2 - 0.25 * 4});  // once, not twice
  CHECK(frozen.to_vector() == std::vector<double>{5});
  CHECK(sgd.step_count() == 1);
  sgd.zero_grad();
  CHECK(w.grad().to_vector() == std::vector<double>{0, 0});
  REQUIRE_THROWS_WITH(sgd.set_lr(-1), Contains("SGD") && Contains("learning rate"));
}

TEST_CASE("an optimizer step counts as an in-place write for autograd", "[optim]") {
  auto w = tensor<double>({1, 2}, {2}).requires_grad_();
  nb::optim::SGD<double> sgd({w}, {.lr = 0.1});
  auto square = w * w;  // saves w for its backward
  nb::sum(square).backward(/*retain_graph=*/true);
  sgd.step();
  REQUIRE_THROWS_AS(nb::sum(square).backward(), nb::ValueError);  // w changed since the forward
}

TEST_CASE("a large parameter is updated by the parallel loop with the same formula", "[optim]") {
  const std::int64_t count = 200000;  // several grains: split across threads where there are any
  auto w = nb::full<float>({count}, 1.0f).requires_grad_();
  nb::optim::Adam<float> adam({w}, {.lr = 0.01});
  nb::sum(w * 3.0f).backward();  // gradient 3 everywhere
  adam.step();
  // first Adam step: m = 0.3, v = 0.009, m / (1 - 0.9) / (sqrt(v / (1 - 0.999)) + eps) = 1 - tiny
  const float expected = 1.0f - 0.01f * (3.0f / (3.0f + 1e-8f));
  float worst = 0;
  for (float value : w.to_vector()) worst = std::max(worst, std::abs(value - expected));
  REQUIRE(worst < 1e-6f);
}

TEST_CASE("Adam's vectorized update gives the scalar formula's values over many steps", "[optim]") {
  const std::int64_t count = 5000;  // more than one chunk, not a multiple of the vector width
  for (const bool decoupled : {false, true}) {
    const auto start = nb::randn<double>({count}, 7);
    auto w = start.clone().requires_grad_();
    const double lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, decay = 0.1;
    nb::optim::Adam<double> adam({w}, {.lr = lr, .weight_decay = decay});
    nb::optim::AdamW<double> adamw({w}, {.lr = lr, .weight_decay = decay});
    std::vector<double> p = start.to_vector(), m(count, 0.0), v(count, 0.0);
    for (int step = 1; step <= 3; ++step) {
      const auto gradient = nb::randn<double>({count}, 100 + step);
      w.zero_grad();
      nb::sum(w * gradient).backward();
      decoupled ? adamw.step() : adam.step();
      const std::vector<double> g = gradient.to_vector();
      for (std::int64_t i = 0; i < count; ++i) {
        if (decoupled) p[i] *= 1 - lr * decay;
        const double grad = g[i] + (decoupled ? 0.0 : decay * p[i]);
        m[i] = beta1 * m[i] + (1 - beta1) * grad;
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
        const double denominator = std::sqrt(v[i]) / std::sqrt(1 - std::pow(beta2, step)) + eps;
        p[i] -= lr / (1 - std::pow(beta1, step)) * (m[i] / denominator);
      }
    }
    const std::vector<double> result = w.to_vector();
    double worst = 0;
    for (std::int64_t i = 0; i < count; ++i) worst = std::max(worst, std::abs(result[i] - p[i]));
    INFO((decoupled ? "AdamW" : "Adam"));
    REQUIRE(worst < 1e-12);
  }
}

TEST_CASE("optimizers reject bad options and parameters", "[optim][errors]") {
  auto w = nb::zeros<double>({2}).requires_grad_();
  REQUIRE_THROWS_WITH(nb::optim::SGD<double>({}, {}), Contains("SGD") && Contains("empty parameter list"));
  REQUIRE_THROWS_WITH(nb::optim::SGD<double>({w}, {.lr = -0.1}), Contains("learning rate"));
  REQUIRE_THROWS_WITH(nb::optim::SGD<double>({w}, {.nesterov = true}), Contains("nesterov"));
  REQUIRE_THROWS_WITH(nb::optim::SGD<double>({w}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                      Contains("dampening"));
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({w}, {.beta1 = 1.0}), Contains("Adam") && Contains("beta1"));
  REQUIRE_THROWS_WITH(nb::optim::AdamW<double>({w}, {.beta2 = -0.1}), Contains("AdamW") && Contains("beta2"));
  REQUIRE_THROWS_WITH(nb::optim::RMSprop<double>({w}, {.eps = -1}), Contains("RMSprop") && Contains("eps"));
  REQUIRE_THROWS_WITH(nb::optim::Adagrad<double>({w}, {.lr_decay = -1}), Contains("Adagrad") && Contains("lr_decay"));
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({w * 2.0}), Contains("not a leaf"));
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({nb::Tensor<double>()}), Contains("undefined"));
  auto matrix = nb::zeros<double>({2, 3}).requires_grad_();
  REQUIRE_THROWS_WITH(nb::optim::Adam<double>({matrix.detach().t()}), Contains("non-contiguous"));
}

// ---- clipping and penalties -----------------------------------------------------------------

TEST_CASE("clip_grad_norm_ scales all gradients by max_norm / total norm, like PyTorch", "[optim][clip]") {
  auto a = tensor<double>({1, 1}, {2}).requires_grad_();
  auto b = tensor<double>({1}, {1}).requires_grad_();
  auto no_grad = tensor<double>({1}, {1}).requires_grad_();
  (nb::sum(a * tensor<double>({3, 4}, {2})) + nb::sum(b * 12.0)).backward();  // grads [3, 4] and [12]: norm 13
  const double total = nb::optim::clip_grad_norm_<double>({a, b, no_grad}, 1.0);
  CHECK(total == Approx(13.0).epsilon(1e-15));
  const double coefficient = 1.0 / (13.0 + 1e-6);
  CHECK(a.grad().to_vector()[0] == Approx(3 * coefficient).epsilon(1e-15));
  CHECK(a.grad().to_vector()[1] == Approx(4 * coefficient).epsilon(1e-15));
  CHECK(b.grad().to_vector()[0] == Approx(12 * coefficient).epsilon(1e-15));
  CHECK_FALSE(no_grad.grad().defined());

  // below max_norm nothing changes; the norm is still returned
  CHECK(nb::optim::clip_grad_norm_<double>({a, b}, 5.0) == Approx(1.0).epsilon(1e-6));
  CHECK(b.grad().to_vector()[0] == Approx(12 * coefficient).epsilon(1e-15));

  // infinity norm: the largest magnitude
  auto c = tensor<double>({1, 1, 1}, {3}).requires_grad_();
  nb::sum(c * tensor<double>({-7, 2, 3}, {3})).backward();
  CHECK(nb::optim::clip_grad_norm_<double>({c}, 3.5, std::numeric_limits<double>::infinity()) == 7.0);
  CHECK(c.grad().to_vector()[0] == Approx(-3.5).epsilon(1e-6));

  // a non-finite norm can be made an error
  auto d = tensor<double>({1}, {1}).requires_grad_();
  nb::sum(d * std::numeric_limits<double>::infinity()).backward();
  REQUIRE_THROWS_WITH(nb::optim::clip_grad_norm_<double>({d}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                      Contains("clip_grad_norm_") && Contains("inf"));
  REQUIRE_THROWS_AS(nb::optim::clip_grad_norm_<double>({d}, -1.0), nb::ValueError);
}

TEST_CASE("clip_grad_value_ clamps each gradient element", "[optim][clip]") {
  auto a = tensor<float>({1, 1, 1, 1}, {4}).requires_grad_();
  nb::sum(a * tensor<float>({-3, -0.5, 0.25, 9}, {4})).backward();
  nb::optim::clip_grad_value_<float>({a}, 1.0);
  CHECK(a.grad().to_vector() == std::vector<float>{-1, -0.5, 0.25, 1});
  REQUIRE_THROWS_AS(nb::optim::clip_grad_value_<float>({a}, -1.0), nb::ValueError);
}

TEST_CASE("l1_penalty and l2_penalty: values, gradients, gradcheck", "[optim][regularization]") {
  auto w = tensor<double>({1, -2, 0.5}, {3}).requires_grad_();
  auto v = tensor<double>({3}, {1}).requires_grad_();
  auto l2 = nb::optim::l2_penalty<double>({w, v});
  CHECK(l2.item() == Approx(1 + 4 + 0.25 + 9));
  auto l1 = nb::optim::l1_penalty<double>({w, v});
  CHECK(l1.item() == Approx(1 + 2 + 0.5 + 3));
  (l2 * 0.5 + l1).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{1 + 1, -2 - 1, 0.5 + 1});
  CHECK(v.grad().to_vector() == std::vector<double>{3 + 1});

  const Inputs inputs{tensor<double>({0.3, -1.2, 2.0, 0.7}, {2, 2}), tensor<double>({-0.4, 0.9}, {2})};
  auto l2_check = nb::gradcheck<double>([](const Inputs& in) { return nb::optim::l2_penalty<double>(in); }, inputs);
  INFO(l2_check.report);
  REQUIRE(l2_check);
  auto l1_check = nb::gradcheck<double>([](const Inputs& in) { return nb::optim::l1_penalty<double>(in); }, inputs);
  INFO(l1_check.report);
  REQUIRE(l1_check);
  // the penalty of a transposed view
  auto view_check = nb::gradcheck<double>(
      [](const Inputs& in) { return nb::optim::l2_penalty<double>({in[0].t()}) * 3.0; }, {inputs[0]});
  INFO(view_check.report);
  REQUIRE(view_check);
}

// ---- LR schedulers --------------------------------------------------------------------------

TEST_CASE("LR schedulers match PyTorch step for step", "[optim][scheduler][fixture]") {
  auto parameter = nb::zeros<double>({1}).requires_grad_();
  {
    nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
    nb::optim::StepLR scheduler(optimizer, {.step_size = 3, .gamma = 0.5});
    require_lrs("step", optimizer, scheduler);
  }
  {
    nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
    nb::optim::ExponentialLR scheduler(optimizer, {.gamma = 0.8});
    require_lrs("exponential", optimizer, scheduler);
  }
  {
    nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
    nb::optim::CosineAnnealingLR scheduler(optimizer, {.t_max = 5, .eta_min = 0.01});
    require_lrs("cosine", optimizer, scheduler);
  }
  {
    nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
    nb::optim::LinearWarmup scheduler(optimizer, {.start_factor = 0.25, .end_factor = 1.0, .warmup_steps = 4});
    CHECK(optimizer.lr() == Approx(0.025));  // construction already applies epoch 0
    require_lrs("warmup", optimizer, scheduler);
  }
  {
    nb::optim::Adam<float> optimizer({nb::zeros<float>({1}).requires_grad_()}, {.lr = 0.1});  // any element type
    nb::optim::LinearWarmup scheduler(optimizer, {});
    require_lrs("warmup_default", optimizer, scheduler);
  }
}

TEST_CASE("ReduceLROnPlateau matches PyTorch on a sequence of metrics", "[optim][scheduler][fixture]") {
  using Plateau = nb::optim::ReduceLROnPlateau;
  auto run = [](const std::string& name, Plateau::Options options) {
    INFO(name);
    auto parameter = nb::zeros<double>({1}).requires_grad_();
    nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
    Plateau scheduler(optimizer, options);
    std::vector<double> lrs;
    for (double metric : fixture().get<double>("sched." + name + ".metrics").to_vector()) {
      scheduler.step(metric);
      lrs.push_back(optimizer.lr());
    }
    REQUIRE(nabla_test::max_relative_difference(nb::from_vector<double>(lrs),
                                                fixture().get<double>("sched." + name + ".lr")) < 1e-12);
  };
  run("plateau", {.factor = 0.5, .patience = 2, .threshold = 0.01, .cooldown = 2, .min_lr = 0.02});
  run("plateau_max", {.mode = Plateau::Mode::max,
                      .factor = 0.3,
                      .patience = 1,
                      .threshold = 0.05,
                      .threshold_mode = Plateau::ThresholdMode::absolute});
}

TEST_CASE("LR schedulers reject bad options", "[optim][scheduler][errors]") {
  auto parameter = nb::zeros<double>({1}).requires_grad_();
  nb::optim::SGD<double> optimizer({parameter}, {.lr = 0.1});
  REQUIRE_THROWS_WITH(nb::optim::StepLR(optimizer, {.step_size = 0}), Contains("StepLR") && Contains("step_size"));
  REQUIRE_THROWS_WITH(nb::optim::CosineAnnealingLR(optimizer, {.t_max = 0}), Contains("t_max"));
  REQUIRE_THROWS_WITH(nb::optim::LinearWarmup(optimizer, {.start_factor = 0}), Contains("start_factor"));
  REQUIRE_THROWS_WITH(nb::optim::ReduceLROnPlateau(optimizer, {.factor = 1.5}), Contains("factor"));
}

}  // namespace test_optim
