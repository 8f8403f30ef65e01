// Exact resume from a model file (issue 16): callbacks' states (Callback::state / load_state),
// files saved in the middle of an epoch (ModelCheckpoint's save_freq) that fit() continues from
// the next batch, the run's history in the file, and a seeded Dropout rebuilt by load_model.
// The kill -9 soak of the same machinery: tests/crash/resume_soak.cpp.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "resume_model.hpp"

namespace nb = nabla;
using Catch::Matchers::Contains;

namespace {

std::string file_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

struct Killed {};  // stands for a kill -9: fit() stops wherever it is

/// The callbacks of the runs below, fresh objects each time (as in a new process); the last one
/// "kills" the run after global batch `kill_after` (never when negative).
std::vector<nb::train::AnyCallback> run_callbacks(const std::string& csv, const std::string& checkpoint,
                                                  std::int64_t save_freq, int kill_after) {
  auto batches = std::make_shared<int>(0);
  return {nb::train::LearningRateScheduler([](int epoch, double lr) { return epoch > 0 ? lr * 0.5 : lr; }),
          nb::train::EarlyStopping({.monitor = "loss", .patience = 100}), nb::train::CSVLogger(csv),
          nb::train::ModelCheckpoint(checkpoint, {.save_freq = save_freq}),
          nb::train::LambdaCallback({.on_batch_end = [batches, kill_after](int, nb::train::Logs&) {
            if ((*batches)++ == kill_after) throw Killed{};
          }})};
}

nb::train::FitOptions<float> fit_options(std::vector<nb::train::AnyCallback> callbacks) {
  // Unseeded shuffling: each epoch's order is a draw of the global generator.
  return {.epochs = 4, .batch_size = 8, .callbacks = std::move(callbacks), .verbose = 0};
}

}  // namespace

TEST_CASE("a run killed mid-epoch and resumed from its last save_freq file is bit-identical", "[resume]") {
  const auto x = nb::randn<float>({60, 4}, 11);  // 8 batches per epoch, the last of 4 samples
  const auto y = nb::randn<float>({60, 1}, 12);
  // save every 3 batches, killed at global batch 13 (saved at 12: epoch 1, batch 4);
  // every 4, killed at 8 (saved at 8: the end of epoch 0's batches, before its on_epoch_end)
  const auto [save_freq, kill_after] = GENERATE(std::pair<std::int64_t, int>{3, 13}, std::pair<std::int64_t, int>{4, 8},
                                                std::pair<std::int64_t, int>{5, 31});
  CAPTURE(save_freq, kill_after);

  nb::manual_seed(3);
  nb::Model<float> uninterrupted = nabla_test::seeded_dropout_model();
  const auto full =
      uninterrupted.fit(x, y, fit_options(run_callbacks("resume_a.csv", "resume_a.nabla", save_freq, -1)));

  nb::manual_seed(3);
  nb::Model<float> killed = nabla_test::seeded_dropout_model();
  REQUIRE_THROWS_AS(
      killed.fit(x, y, fit_options(run_callbacks("resume_b.csv", "resume_b.nabla", save_freq, kill_after))), Killed);
  const auto checkpoint = nb::io::load_checkpoint("resume_b.nabla");
  REQUIRE(checkpoint.has_metadata("fit.batch"));
  REQUIRE(checkpoint.metadata_text("callback.1.name") == "EarlyStopping");
  REQUIRE(checkpoint.metadata_text("callback.2.name") == "CSVLogger");
  REQUIRE_FALSE(checkpoint.has_metadata("callback.0.name"));  // LearningRateScheduler: no state of its own

  nb::manual_seed(999);  // a new process
  nb::Model<float> resumed = nabla_test::seeded_dropout_model();
  resumed.load("resume_b.nabla");
  auto callbacks = run_callbacks("resume_b.csv", "resume_b.nabla", save_freq, -1);
  const auto last = resumed.fit(x, y, fit_options(callbacks));

  REQUIRE(nabla_test::all_weights(resumed) == nabla_test::all_weights(uninterrupted));  // bit-identical
  REQUIRE(resumed.run_history()["loss"] == full["loss"]);
  REQUIRE(resumed.run_history()["lr"] == full["lr"]);
  REQUIRE(resumed.run_history().epochs() == full.epochs());
  // The resumed fit() itself holds its own epochs: from the one the file was saved in.
  const int saved_epoch = checkpoint.metadata_number<int>("fit.epoch");
  REQUIRE(last.epochs().front() == saved_epoch);
  REQUIRE(last.size() == full.size() - static_cast<std::size_t>(saved_epoch));
  REQUIRE(file_text("resume_b.csv") == file_text("resume_a.csv"));
  const auto& early = dynamic_cast<const nb::train::EarlyStopping&>(*callbacks[1]);
  REQUIRE(early.best() == *std::min_element(full["loss"].begin(), full["loss"].end()));
  REQUIRE(uninterrupted.optimizer().lr() == resumed.optimizer().lr());

  // The test can fail: resuming without the file's position (from the epoch's start) differs.
  nb::manual_seed(999);
  nb::Model<float> from_epoch_start = nabla_test::seeded_dropout_model();
  auto epoch_checkpoint = nb::io::load_checkpoint("resume_b.nabla");
  for (const char* key : {"fit.epoch", "fit.batch", "fit.steps", "fit.loss_sum", "fit.seen"})
    epoch_checkpoint.metadata.erase(key);
  nb::io::save_checkpoint("resume_c.nabla", epoch_checkpoint);
  from_epoch_start.load("resume_c.nabla");
  (void)from_epoch_start.fit(x, y, fit_options(run_callbacks("resume_c.csv", "resume_c.nabla", save_freq, -1)));
  REQUIRE(nabla_test::all_weights(from_epoch_start) != nabla_test::all_weights(uninterrupted));
  for (const char* path :
       {"resume_a.csv", "resume_b.csv", "resume_c.csv", "resume_a.nabla", "resume_b.nabla", "resume_c.nabla"})
    std::filesystem::remove(path);
}

TEST_CASE("callback states: saved by model.save, restored by position, errors name the cause", "[resume]") {
  const auto x = nb::randn<float>({32, 4}, 21);
  const auto y = nb::randn<float>({32, 1}, 22);
  nb::manual_seed(5);
  nb::Model<float> model = nabla_test::seeded_dropout_model();
  auto early = std::make_shared<nb::train::EarlyStopping>(
      nb::train::EarlyStoppingOptions{.monitor = "loss", .min_delta = 1e9, .patience = 5});
  (void)model.fit(x, y, {.epochs = 3, .batch_size = 8, .callbacks = {early}, .verbose = 0});
  REQUIRE(early->wait() == 2);  // min_delta 1e9: no epoch after the first improves
  model.save("resume_states.nabla");
  const auto checkpoint = nb::io::load_checkpoint("resume_states.nabla");
  REQUIRE(checkpoint.metadata_text("callback.0.state.wait") == "2");
  REQUIRE(checkpoint.metadata_text("history.names") == "loss");

  SECTION("the same callback at the same position continues its patience count") {
    nb::Model<float> resumed = nabla_test::seeded_dropout_model();
    resumed.load("resume_states.nabla");
    REQUIRE(resumed.run_history().size() == 3);
    auto again = std::make_shared<nb::train::EarlyStopping>(
        nb::train::EarlyStoppingOptions{.monitor = "loss", .min_delta = 1e9, .patience = 5});
    (void)resumed.fit(x, y, {.epochs = 5, .batch_size = 8, .callbacks = {again}, .verbose = 0});
    REQUIRE(again->wait() == 4);
    REQUIRE(again->best() == early->best());
    REQUIRE(resumed.run_history().size() == 5);
  }
  SECTION("another callback at that position is a ValueError naming both") {
    nb::Model<float> resumed = nabla_test::seeded_dropout_model();
    resumed.load("resume_states.nabla");
    REQUIRE_THROWS_WITH(
        resumed.fit(
            x, y,
            {.epochs = 5, .batch_size = 8, .callbacks = {nb::train::ModelCheckpoint("unused.nabla")}, .verbose = 0}),
        Contains("EarlyStopping") && Contains("ModelCheckpoint") && Contains("callbacks[0]"));
  }
  SECTION("no state for a position: the callback starts fresh (documented default)") {
    nb::Model<float> resumed = nabla_test::seeded_dropout_model();
    resumed.load("resume_states.nabla");
    auto later = std::make_shared<nb::train::EarlyStopping>(
        nb::train::EarlyStoppingOptions{.monitor = "loss", .min_delta = 1e9, .patience = 5});
    (void)resumed.fit(x, y,
                      {.epochs = 4, .batch_size = 8, .callbacks = {nb::train::TerminateOnNaN{}, later}, .verbose = 0});
    REQUIRE(later->wait() == 0);  // one epoch seen, the first: an improvement on +inf
  }
  SECTION("a missing or malformed entry is a ValueError naming the callback and the key") {
    nb::train::EarlyStopping fresh;
    auto state = early->state();
    state.erase("wait");
    REQUIRE_THROWS_WITH(fresh.load_state(state), Contains("EarlyStopping") && Contains("'wait'"));
    state = early->state();
    state["best"] = "lots";
    REQUIRE_THROWS_WITH(fresh.load_state(state), Contains("'best'") && Contains("lots"));
    nb::train::UnfreezeAfter<float> unfreeze(std::make_shared<nb::nn::Dense<float>>(2, 2), 1);
    REQUIRE_THROWS_AS(unfreeze.load_state({{"frozen", "7"}, {"unfrozen_epoch", "-1"}}), nb::ValueError);
  }
  SECTION("a damaged callback key in the file is an IOError before anything changes") {
    auto damaged = checkpoint;
    damaged.set_metadata("callback.x.name", "EarlyStopping");
    nb::io::save_checkpoint("resume_damaged.nabla", damaged);
    nb::Model<float> resumed = nabla_test::seeded_dropout_model();
    const auto before = nabla_test::all_weights(resumed);
    REQUIRE_THROWS_AS(resumed.load("resume_damaged.nabla"), nb::IOError);
    REQUIRE(nabla_test::all_weights(resumed) == before);
    std::filesystem::remove("resume_damaged.nabla");
  }
  std::filesystem::remove("resume_states.nabla");
}

TEST_CASE("UnfreezeAfter and CSVLogger state round trips", "[resume]") {
  auto part = std::make_shared<nb::nn::Dense<float>>(2, 2);
  nb::train::UnfreezeAfter<float> unfreeze(part, 2);
  REQUIRE(unfreeze.state() == nb::train::CallbackState{{"frozen", "-1"}, {"unfrozen_epoch", "-1"}});
  nb::train::UnfreezeAfter<float> copy(part, 2);
  copy.load_state({{"frozen", "0"}, {"unfrozen_epoch", "2"}});
  REQUIRE(copy.unfrozen_epoch() == 2);
  REQUIRE(copy.state().at("frozen") == "0");

  nb::train::CSVLogger logger("unused.csv");
  logger.load_state({{"columns", "loss\nval_loss"}});
  REQUIRE(logger.state().at("columns") == "loss\nval_loss");
  REQUIRE_THROWS_WITH(logger.load_state({}), Contains("CSVLogger") && Contains("'columns'"));
}

TEST_CASE("save_freq: checks, and a save inside an accumulation window is refused", "[resume]") {
  REQUIRE_THROWS_AS(nb::train::ModelCheckpoint("m.nabla", {.save_freq = -1}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::train::ModelCheckpoint("m.nabla", {.save_best_only = true, .save_freq = 2}), nb::ValueError);
  const auto x = nb::randn<float>({32, 4}, 31);
  const auto y = nb::randn<float>({32, 1}, 32);
  nb::Model<float> model = nabla_test::seeded_dropout_model();
  REQUIRE_THROWS_WITH(model.fit(x, y,
                                {.epochs = 1,
                                 .batch_size = 4,
                                 .seed = 1,
                                 .callbacks = {nb::train::ModelCheckpoint("resume_acc.nabla", {.save_freq = 3})},
                                 .verbose = 0,
                                 .accumulation_steps = 2}),
                      Contains("accumulation") && Contains("batch 3"));
  // Every 4 batches with windows of 2: allowed.
  (void)model.fit(x, y,
                  {.epochs = 1,
                   .batch_size = 4,
                   .seed = 1,
                   .callbacks = {nb::train::ModelCheckpoint("resume_acc.nabla", {.save_freq = 4})},
                   .verbose = 0,
                   .accumulation_steps = 2});
  // The file was saved mid-run: a fit() with another batch size cannot continue it.
  nb::Model<float> resumed = nabla_test::seeded_dropout_model();
  resumed.load("resume_acc.nabla");
  REQUIRE_THROWS_WITH(resumed.fit(x, y, {.epochs = 1, .batch_size = 8, .seed = 1, .verbose = 0}),
                      Contains("batches per epoch"));
  std::filesystem::remove("resume_acc.nabla");
}

TEST_CASE("load_model rebuilds a seeded Dropout with its seed and stream position", "[resume]") {
  const auto x = nb::randn<float>({32, 4}, 41);
  const auto y = nb::randn<float>({32, 1}, 42);
  nb::manual_seed(8);
  nb::Model<float> uninterrupted = nabla_test::seeded_dropout_model();
  (void)uninterrupted.fit(x, y, {.epochs = 4, .batch_size = 8, .seed = 2, .verbose = 0});

  nb::manual_seed(8);
  nb::Model<float> first = nabla_test::seeded_dropout_model();
  (void)first.fit(x, y, {.epochs = 2, .batch_size = 8, .seed = 2, .verbose = 0});
  first.save("resume_load_model.nabla");
  REQUIRE_THAT(nb::io::load_checkpoint("resume_load_model.nabla").metadata_text("model.config"),
               Contains("Dropout(0.5, seed=77)") && Contains("Dropout(0.25)\n"));

  // From the file alone: the layers rebuilt, compiled as before, the training state loaded.
  auto rebuilt = nb::train::load_model<float>("resume_load_model.nabla");
  REQUIRE((*rebuilt)[2]->own_generator() != nullptr);
  REQUIRE((*rebuilt)[2]->own_generator()->offset() == first[2]->own_generator()->offset());
  REQUIRE((*rebuilt)[4]->own_generator() == nullptr);
  rebuilt->compile(nb::optim::AdamOptions{.lr = 1e-2}, nb::loss::MSE{});
  rebuilt->load("resume_load_model.nabla");
  (void)rebuilt->fit(x, y, {.epochs = 4, .batch_size = 8, .seed = 2, .verbose = 0});
  REQUIRE(nabla_test::all_weights(*rebuilt) == nabla_test::all_weights(uninterrupted));

  // A seed that is not an unsigned integer is an IOError naming it.
  auto checkpoint = nb::io::load_checkpoint("resume_load_model.nabla");
  std::string config = checkpoint.metadata_text("model.config");
  config.replace(config.find("seed=77"), 7, "seed=-1");
  checkpoint.set_metadata("model.config", config);
  nb::io::save_checkpoint("resume_load_model.nabla", checkpoint);
  REQUIRE_THROWS_WITH(nb::train::load_model<float>("resume_load_model.nabla"),
                      Contains("'seed'") && Contains("unsigned integer"));
  std::filesystem::remove("resume_load_model.nabla");
}
