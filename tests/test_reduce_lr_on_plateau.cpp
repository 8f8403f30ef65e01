// train::ReduceLROnPlateau, Keras's callback: its rule on a scripted monitor (the learning rates
// worked out by hand from Keras's algorithm), the bad options, and a run killed after a
// checkpoint and resumed from the model file, which must lower the rate at the same epochs.
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <nabla/nabla.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace nb = nabla;
using Catch::Matchers::Contains;

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_reduce_lr_on_plateau {

namespace {

struct Killed {};

/// A one-weight regression compiled with SGD(lr 0.1); what it learns does not matter here.
nb::Model<float> plateau_model() {
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  return model;
}

/// Sets logs["score"] to scores[epoch], before ReduceLROnPlateau reads it.
nb::train::LambdaCallback scripted_score(std::vector<double> scores) {
  return nb::train::LambdaCallback({.on_epoch_end = [scores](int epoch, nb::train::Logs& logs) {
    logs.set("score", scores.at(static_cast<std::size_t>(epoch)));
  }});
}

// patience 2, factor 0.5, min_delta 0.01 (absolute), cooldown 1, min_lr 0.02, from lr 0.1.
const std::vector<double> kScores = {1.0, 0.995, 0.999, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
// By hand, Keras's rule: e1 (0.995) is no improvement by more than 0.01; at e2 the wait reaches
// 2: lr 0.05, cooldown 1. e3 (cooldown over) improves. e4, e5 wait: lr 0.025 at e5. e6 waits,
// e7: 0.0125 clipped to min_lr 0.02. e8 waits, e9 would reduce but the lr is at min_lr already.
const std::vector<double> kLrs = {0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02};
const nb::train::ReduceLROnPlateauOptions kOptions{
    .monitor = "score", .factor = 0.5, .patience = 2, .verbose = 1, .min_delta = 0.01, .cooldown = 1, .min_lr = 0.02};

}  // namespace

TEST_CASE("ReduceLROnPlateau lowers the learning rate as Keras's callback does", "[train][callbacks]") {
  const auto x = nb::linspace<float>(-1, 1, 8).reshape({8, 1});
  nb::Model<float> model = plateau_model();
  std::ostringstream output;
  const auto history = model.fit(x, x,
                                 {.epochs = 10,
                                  .batch_size = 8,
                                  .callbacks = {scripted_score(kScores), nb::train::ReduceLROnPlateau(kOptions)},
                                  .verbose = 0,
                                  .output = output});
  REQUIRE(history["lr"].size() == kLrs.size());
  for (std::size_t epoch = 0; epoch < kLrs.size(); ++epoch) {
    CAPTURE(epoch);
    REQUIRE(history["lr"][epoch] == Approx(kLrs[epoch]).epsilon(1e-12));
  }
  REQUIRE(output.str() ==
          "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.05.\n"
          "Epoch 6: ReduceLROnPlateau reducing learning rate to 0.025.\n"
          "Epoch 8: ReduceLROnPlateau reducing learning rate to 0.02.\n");

  SECTION("mode max reads the falling score as getting worse") {
    nb::Model<float> other = plateau_model();
    auto options = kOptions;
    options.mode = nb::train::MonitorMode::max;
    options.verbose = 0;
    options.cooldown = 0;
    auto callback = std::make_shared<nb::train::ReduceLROnPlateau>(options);
    const auto rising =
        other.fit(x, x, {.epochs = 4, .batch_size = 8, .callbacks = {scripted_score(kScores), callback}, .verbose = 0});
    // e0 best 1.0; e1, e2 worse: lr 0.05 at e2; e3 worse: wait 1.
    const std::vector<double> expected = {0.1, 0.1, 0.05, 0.05};
    REQUIRE(rising["lr"].size() == expected.size());
    for (std::size_t epoch = 0; epoch < expected.size(); ++epoch)
      REQUIRE(rising["lr"][epoch] == Approx(expected[epoch]).epsilon(1e-12));
    REQUIRE(callback->best() == 1.0);
    REQUIRE(callback->wait() == 1);
  }
}

TEST_CASE("ReduceLROnPlateau rejects bad options and a missing monitor", "[train][callbacks]") {
  REQUIRE_THROWS_WITH(nb::train::ReduceLROnPlateau({.factor = 1.0}), Contains("factor must be in [0, 1)"));
  REQUIRE_THROWS_WITH(nb::train::ReduceLROnPlateau({.patience = -1}), Contains("patience and cooldown"));
  REQUIRE_THROWS_WITH(nb::train::ReduceLROnPlateau({.min_lr = -1}), Contains("min_delta and min_lr"));
  const auto x = nb::linspace<float>(-1, 1, 8).reshape({8, 1});
  nb::Model<float> model = plateau_model();
  REQUIRE_THROWS_WITH(
      model.fit(x, x, {.epochs = 1, .callbacks = {nb::train::ReduceLROnPlateau({.monitor = "val_los"})}, .verbose = 0}),
      Contains("ReduceLROnPlateau: 'val_los' is not in the logs"));
  nb::train::ReduceLROnPlateau callback;
  REQUIRE_THROWS_WITH(callback.load_state({{"best", "1"}, {"wait", "-2"}, {"cooldown_counter", "0"}}),
                      Contains("invalid saved counters"));
  REQUIRE_THROWS_WITH(callback.load_state({{"best", "1"}}), Contains("no entry 'wait'"));
}

TEST_CASE("ReduceLROnPlateau resumed from a model file lowers the rate at the same epochs",
          "[train][callbacks][resume]") {
  nabla_test::InTempDir directory("plateau");
  const auto x = nb::linspace<float>(-1, 1, 8).reshape({8, 1});
  const auto callbacks = [](int kill_after_epoch) {
    return std::vector<nb::train::AnyCallback>{
        scripted_score(kScores), nb::train::ReduceLROnPlateau(kOptions), nb::train::ModelCheckpoint("plateau.nabla"),
        nb::train::LambdaCallback({.on_epoch_end = [kill_after_epoch](int epoch, nb::train::Logs&) {
          if (epoch == kill_after_epoch) throw Killed{};
        }})};
  };
  // Killed after epoch 5's checkpoint: the lr was just lowered (cooldown 1 pending, wait 0).
  nb::Model<float> killed = plateau_model();
  REQUIRE_THROWS_AS(killed.fit(x, x, {.epochs = 10, .batch_size = 8, .callbacks = callbacks(5), .verbose = 0}), Killed);
  const auto checkpoint = nb::io::load_checkpoint("plateau.nabla");
  REQUIRE(checkpoint.metadata_text("callback.1.name") == "ReduceLROnPlateau");
  REQUIRE(checkpoint.metadata_text("callback.1.state.cooldown_counter") == "1");

  nb::Model<float> resumed = plateau_model();
  resumed.load("plateau.nabla");
  REQUIRE(resumed.optimizer().lr() == Approx(0.025).epsilon(1e-12));  // the optimizer's own state
  (void)resumed.fit(x, x, {.epochs = 10, .batch_size = 8, .callbacks = callbacks(-1), .verbose = 0});
  const auto lrs = resumed.run_history()["lr"];
  REQUIRE(lrs.size() == kLrs.size());
  for (std::size_t epoch = 0; epoch < kLrs.size(); ++epoch) {
    CAPTURE(epoch);
    REQUIRE(lrs[epoch] == Approx(kLrs[epoch]).epsilon(1e-12));
  }

  // The test can fail: without the saved counters the resumed run starts counting afresh
  // (best = inf, so epoch 6's 0.6 is an improvement, and epoch 7 keeps 0.025 instead of 0.02).
  auto forgetful = checkpoint;
  for (const char* key :
       {"callback.1.name", "callback.1.state.best", "callback.1.state.wait", "callback.1.state.cooldown_counter"})
    forgetful.metadata.erase(key);
  nb::io::save_checkpoint("plateau_forgetful.nabla", forgetful);
  nb::Model<float> restarted = plateau_model();
  restarted.load("plateau_forgetful.nabla");
  (void)restarted.fit(x, x, {.epochs = 10, .batch_size = 8, .callbacks = callbacks(-1), .verbose = 0});
  REQUIRE(restarted.run_history()["lr"].at(7) == Approx(0.025).epsilon(1e-12));
}

}  // namespace test_reduce_lr_on_plateau
