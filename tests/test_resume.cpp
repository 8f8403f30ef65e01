// Exact resume from a model file (issue 16): callbacks' states (Callback::state / load_state),
// files saved in the middle of an epoch (ModelCheckpoint's save_freq) that fit() continues from
// the next batch with the metrics' running totals, the run's history in the file, a seeded
// Dropout rebuilt by load_model, EarlyStopping's best weights, and an optim::LRScheduler stepped
// by SchedulerCallback.
// The kill -9 soak of the same machinery: tests/crash/resume_soak.cpp.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "resume_model.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_resume {

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

/// seeded_dropout_model's layers as a binary classifier compiled with metrics: accuracy and
/// precision (counts) and MAE (a sum of doubles), whose running totals a mid-epoch file holds.
nb::Model<float> classifier_with_metrics(std::vector<nb::metrics::AnyMetric> metrics = {
                                             nb::metrics::Accuracy{}, nb::metrics::Precision{}, nb::metrics::MAE{}}) {
  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 16, nb::nn::DenseOptions{.seed = 1})
      .add<nb::nn::ReLU>()
      .add<nb::nn::Dropout>(0.5, nb::nn::DropoutOptions{.seed = 77})
      .add<nb::nn::Dense>(16, 16, nb::nn::DenseOptions{.seed = 2})
      .add<nb::nn::Dropout>(0.25)
      .add<nb::nn::Dense>(16, 1, nb::nn::DenseOptions{.seed = 3})
      .add<nb::nn::Sigmoid>();
  model.compile(nb::optim::AdamOptions{.lr = 1e-2}, nb::loss::BinaryCrossEntropy{}, std::move(metrics));
  return model;
}

/// The model of the run: the regression model, or the classifier with metrics.
nb::Model<float> run_model(bool with_metrics) {
  return with_metrics ? classifier_with_metrics() : nabla_test::seeded_dropout_model();
}

/// A metric without totals(): its running state cannot be saved.
class CountingMetric : public nb::metrics::Metric {
 public:
  double result() const override { return static_cast<double>(batches_); }
  void reset() override { batches_ = 0; }
  std::string name() const override { return "batches_seen"; }
  bool higher_is_better() const override { return true; }

 protected:
  void accumulate(const nb::metrics::Values&, const nb::metrics::Values&) override { ++batches_; }

 private:
  int batches_ = 0;
};

}  // namespace

TEST_CASE("a run killed mid-epoch and resumed from its last save_freq file is bit-identical", "[resume]") {
  const auto x = nb::randn<float>({60, 4}, 11);  // 8 batches per epoch, the last of 4 samples
  // Regression targets, or 0/1 labels for the classifier with metrics.
  const bool with_metrics = GENERATE(false, true);
  const auto y = with_metrics ? nb::gt(nb::randn<float>({60, 1}, 12), 0.0f) : nb::randn<float>({60, 1}, 12);
  // save every 3 batches, killed at global batch 13 (saved at 12: epoch 1, batch 4);
  // every 4, killed at 8 (saved at 8: the end of epoch 0's batches, before its on_epoch_end)
  const auto [save_freq, kill_after] = GENERATE(std::pair<std::int64_t, int>{3, 13}, std::pair<std::int64_t, int>{4, 8},
                                                std::pair<std::int64_t, int>{5, 31});
  CAPTURE(with_metrics, save_freq, kill_after);

  nb::manual_seed(3);
  nb::Model<float> uninterrupted = run_model(with_metrics);
  const auto full =
      uninterrupted.fit(x, y, fit_options(run_callbacks("resume_a.csv", "resume_a.nabla", save_freq, -1)));

  nb::manual_seed(3);
  nb::Model<float> killed = run_model(with_metrics);
  REQUIRE_THROWS_AS(
      killed.fit(x, y, fit_options(run_callbacks("resume_b.csv", "resume_b.nabla", save_freq, kill_after))), Killed);
  const auto checkpoint = nb::io::load_checkpoint("resume_b.nabla");
  REQUIRE(checkpoint.has_metadata("fit.batch"));
  REQUIRE(checkpoint.metadata_text("callback.1.name") == "EarlyStopping");
  REQUIRE(checkpoint.metadata_text("callback.2.name") == "CSVLogger");
  REQUIRE_FALSE(checkpoint.has_metadata("callback.0.name"));  // LearningRateScheduler: no state of its own
  REQUIRE(checkpoint.metadata_text("fit.metrics") == (with_metrics ? "3" : "0"));
  if (with_metrics) REQUIRE(checkpoint.metadata_text("fit.metric.2.name") == "mae");

  nb::manual_seed(999);  // a new process
  nb::Model<float> resumed = run_model(with_metrics);
  resumed.load("resume_b.nabla");
  auto callbacks = run_callbacks("resume_b.csv", "resume_b.nabla", save_freq, -1);
  const auto last = resumed.fit(x, y, fit_options(callbacks));

  REQUIRE(nabla_test::all_weights(resumed) == nabla_test::all_weights(uninterrupted));  // bit-identical
  REQUIRE(resumed.run_history().names() == full.names());
  for (const auto& name : full.names()) {  // loss, lr and, with metrics, accuracy, precision, mae
    CAPTURE(name);
    REQUIRE(resumed.run_history()[name] == full[name]);
  }
  if (with_metrics) REQUIRE(full.names().size() == 5);
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
  nb::Model<float> from_epoch_start = run_model(with_metrics);
  auto epoch_checkpoint = nb::io::load_checkpoint("resume_b.nabla");
  for (const char* key : {"fit.epoch", "fit.batch", "fit.steps", "fit.loss_sum", "fit.seen"})
    epoch_checkpoint.metadata.erase(key);
  nb::io::save_checkpoint("resume_c.nabla", epoch_checkpoint);
  from_epoch_start.load("resume_c.nabla");
  (void)from_epoch_start.fit(x, y, fit_options(run_callbacks("resume_c.csv", "resume_c.nabla", save_freq, -1)));
  REQUIRE(nabla_test::all_weights(from_epoch_start) != nabla_test::all_weights(uninterrupted));
  if (with_metrics) {
    // And without the metrics' totals (a file from before they were saved), the resumed epoch's
    // metrics count only its batches after the resume: the logged values differ.
    nb::manual_seed(999);
    nb::Model<float> without_totals = run_model(with_metrics);
    auto legacy = nb::io::load_checkpoint("resume_b.nabla");
    for (auto it = legacy.metadata.begin(); it != legacy.metadata.end();)
      it = it->first.rfind("fit.metric", 0) == 0 ? legacy.metadata.erase(it) : std::next(it);
    nb::io::save_checkpoint("resume_c.nabla", legacy);
    without_totals.load("resume_c.nabla");
    (void)without_totals.fit(x, y, fit_options(run_callbacks("resume_c.csv", "resume_c.nabla", save_freq, -1)));
    REQUIRE(nabla_test::all_weights(without_totals) == nabla_test::all_weights(uninterrupted));  // the same training
    REQUIRE(without_totals.run_history()["loss"] == full["loss"]);
    REQUIRE(without_totals.run_history()["mae"] != full["mae"]);  // but other metrics
  }
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

TEST_CASE("metrics in a mid-epoch file: a metric without totals() is refused, other metrics on resume too",
          "[resume]") {
  const auto x = nb::randn<float>({32, 4}, 51);
  const auto y = nb::gt(nb::randn<float>({32, 1}, 52), 0.0f);
  SECTION("a mid-epoch save with a metric that has no totals() is a ValueError naming it") {
    nb::Model<float> model = classifier_with_metrics({nb::metrics::Accuracy{}, CountingMetric{}});
    REQUIRE_THROWS_WITH(model.fit(x, y,
                                  {.epochs = 1,
                                   .batch_size = 8,
                                   .callbacks = {nb::train::ModelCheckpoint("resume_metric.nabla", {.save_freq = 2})},
                                   .verbose = 0}),
                        Contains("'batches_seen'") && Contains("totals()") && Contains("save_freq = 0"));
    // Epoch-end files hold no running state: they save.
    (void)model.fit(
        x, y,
        {.epochs = 1, .batch_size = 8, .callbacks = {nb::train::ModelCheckpoint("resume_metric.nabla")}, .verbose = 0});
    REQUIRE_FALSE(nb::io::load_checkpoint("resume_metric.nabla").has_metadata("fit.metrics"));
  }
  SECTION("resuming a mid-epoch file needs the metrics it was saved with, in order") {
    nb::Model<float> model = classifier_with_metrics();
    (void)model.fit(x, y,
                    {.epochs = 1,
                     .batch_size = 8,
                     .callbacks = {nb::train::ModelCheckpoint("resume_metric.nabla", {.save_freq = 2})},
                     .verbose = 0});
    const auto checkpoint = nb::io::load_checkpoint("resume_metric.nabla");
    REQUIRE(checkpoint.metadata_text("fit.metric.0.name") == "accuracy");
    nb::Model<float> fewer = classifier_with_metrics({nb::metrics::Accuracy{}});
    REQUIRE_THROWS_WITH(fewer.load("resume_metric.nabla"),
                        Contains("{accuracy, precision, mae}") && Contains("{accuracy}"));
    nb::Model<float> reordered =
        classifier_with_metrics({nb::metrics::MAE{}, nb::metrics::Precision{}, nb::metrics::Accuracy{}});
    REQUIRE_THROWS_WITH(reordered.load("resume_metric.nabla"), Contains("'accuracy'") && Contains("'mae'"));
    auto damaged = checkpoint;
    damaged.set_metadata("fit.metric.0.totals", "1,2,3");
    nb::io::save_checkpoint("resume_metric.nabla", damaged);
    nb::Model<float> same = classifier_with_metrics();
    REQUIRE_THROWS_WITH(same.load("resume_metric.nabla"), Contains("fit.metric.0.totals") && Contains("3 values"));
    damaged.set_metadata("fit.metric.0.totals", "1,1e300");
    nb::io::save_checkpoint("resume_metric.nabla", damaged);
    REQUIRE_THROWS_WITH(same.load("resume_metric.nabla"), Contains("1e+300"));
  }
  std::filesystem::remove("resume_metric.nabla");
}

namespace {

/// The callbacks of the restore_best_weights runs: EarlyStopping watching the training loss with
/// a min_delta no epoch after the first can beat (its best epoch is epoch 0 by construction: the
/// copy of the best weights is taken long before a kill), ModelCheckpoint, and the "kill" after
/// global batch `kill_after`.
std::vector<nb::train::AnyCallback> best_weights_callbacks(const std::string& path, std::int64_t save_freq,
                                                           int kill_after) {
  auto batches = std::make_shared<int>(0);
  return {
      nb::train::EarlyStopping({.monitor = "loss", .min_delta = 1e9, .patience = 100, .restore_best_weights = true}),
      nb::train::ModelCheckpoint(path, {.save_freq = save_freq}),
      nb::train::LambdaCallback({.on_batch_end = [batches, kill_after](int, nb::train::Logs&) {
        if ((*batches)++ == kill_after) throw Killed{};
      }})};
}

}  // namespace

TEST_CASE("EarlyStopping(restore_best_weights) resumed after its best epoch ends with the uninterrupted run's weights",
          "[resume]") {
  const auto x = nb::randn<float>({60, 4}, 61);
  const auto y = nb::randn<float>({60, 1}, 62);
  // Killed in epoch 2 (global batch 21): from a mid-epoch file (batch 20: epoch 2, batch 4) or
  // from the file of epoch 1's end (save_freq 0).
  const std::int64_t save_freq = GENERATE(4, 0);
  CAPTURE(save_freq);
  const std::string path = "resume_best.nabla";

  nb::manual_seed(4);
  nb::Model<float> uninterrupted = nabla_test::seeded_dropout_model();
  auto full_callbacks = best_weights_callbacks(path, save_freq, -1);
  (void)uninterrupted.fit(x, y, fit_options(full_callbacks));
  const auto& full_early = dynamic_cast<const nb::train::EarlyStopping&>(*full_callbacks[0]);
  REQUIRE(full_early.best_epoch() == 0);  // the copy the run ends with was taken before the kill

  nb::manual_seed(4);
  nb::Model<float> killed = nabla_test::seeded_dropout_model();
  REQUIRE_THROWS_AS(killed.fit(x, y, fit_options(best_weights_callbacks(path, save_freq, 21))), Killed);
  const auto checkpoint = nb::io::load_checkpoint(path);
  REQUIRE(checkpoint.metadata_number<int>("epoch") == 2);  // epoch 2 in progress, or epoch 1 ended
  REQUIRE(checkpoint.metadata_text("callback.0.state.has_best_weights") == "1");
  REQUIRE(checkpoint.contains("callback.0.weights.0.weight"));

  nb::manual_seed(999);  // a new process
  nb::Model<float> resumed = nabla_test::seeded_dropout_model();
  resumed.load(path);
  (void)resumed.fit(x, y, fit_options(best_weights_callbacks(path, save_freq, -1)));
  REQUIRE(nabla_test::all_weights(resumed) == nabla_test::all_weights(uninterrupted));  // bit-identical
  REQUIRE(resumed.run_history()["loss"] == uninterrupted.run_history()["loss"]);
  // model.save after fit keeps the copy too: the saved best weights are the same tensors.
  uninterrupted.save("resume_best_a.nabla");
  resumed.save("resume_best_b.nabla");
  const auto saved_a = nb::io::load_checkpoint("resume_best_a.nabla");
  const auto saved_b = nb::io::load_checkpoint("resume_best_b.nabla");
  REQUIRE(saved_a.tensor<float>("callback.0.weights.3.weight").to_vector() ==
          saved_b.tensor<float>("callback.0.weights.3.weight").to_vector());

  SECTION("the test can fail: without the copy (a file from before it was saved) the run ends elsewhere") {
    auto without = checkpoint;
    for (auto it = without.tensors.begin(); it != without.tensors.end();)
      it = it->first.rfind("callback.", 0) == 0 ? without.tensors.erase(it) : std::next(it);
    without.metadata.erase("callback.0.state.has_best_weights");
    nb::io::save_checkpoint("resume_best_c.nabla", without);
    nb::manual_seed(999);
    nb::Model<float> older = nabla_test::seeded_dropout_model();
    older.load("resume_best_c.nabla");
    (void)older.fit(x, y, fit_options(best_weights_callbacks("resume_best_c.nabla", save_freq, -1)));
    REQUIRE(nabla_test::all_weights(older) != nabla_test::all_weights(uninterrupted));
  }
  SECTION("a file whose state says it kept the weights but holds none is refused") {
    auto without = checkpoint;
    for (auto it = without.tensors.begin(); it != without.tensors.end();)
      it = it->first.rfind("callback.", 0) == 0 ? without.tensors.erase(it) : std::next(it);
    nb::io::save_checkpoint("resume_best_c.nabla", without);
    nb::Model<float> damaged = nabla_test::seeded_dropout_model();
    damaged.load("resume_best_c.nabla");
    REQUIRE_THROWS_WITH(damaged.fit(x, y, fit_options(best_weights_callbacks("resume_best_c.nabla", save_freq, -1))),
                        Contains("EarlyStopping") && Contains("best weights"));
  }
  SECTION("callback weights that do not fit the model are an IOError before anything changes") {
    auto damaged = checkpoint;
    damaged.tensors.erase("callback.0.weights.0.bias");
    nb::io::save_checkpoint("resume_best_c.nabla", damaged);
    nb::Model<float> model = nabla_test::seeded_dropout_model();
    const auto before = nabla_test::all_weights(model);
    REQUIRE_THROWS_WITH(model.load("resume_best_c.nabla"), Contains("callback 0") && Contains("'0.bias'"));
    damaged = checkpoint;
    damaged.set_tensor("callback.0.weights.0.bias", nb::zeros<float>({3}));
    nb::io::save_checkpoint("resume_best_c.nabla", damaged);
    REQUIRE_THROWS_WITH(model.load("resume_best_c.nabla"), Contains("'0.bias' has shape [3]"));
    damaged = checkpoint;
    damaged.set_tensor("callback.5.weights.0.bias", nb::zeros<float>({16}));
    nb::io::save_checkpoint("resume_best_c.nabla", damaged);
    REQUIRE_THROWS_WITH(model.load("resume_best_c.nabla"), Contains("callback 5"));
    REQUIRE(nabla_test::all_weights(model) == before);
  }
  for (const char* file : {"resume_best.nabla", "resume_best_a.nabla", "resume_best_b.nabla", "resume_best_c.nabla"})
    std::filesystem::remove(file);
}

namespace {

/// The callbacks of the scheduled runs: the learning rate of every batch recorded in `lrs`, a
/// per-batch CosineWithWarmup made on `model`'s optimizer (32 steps: 4 epochs of 8 batches),
/// ModelCheckpoint every 3 batches, and the "kill" after global batch `kill_after`.
std::vector<nb::train::AnyCallback> scheduled_callbacks(nb::Model<float>& model,
                                                        std::shared_ptr<std::vector<double>> lrs,
                                                        const std::string& path, int kill_after) {
  auto batches = std::make_shared<int>(0);
  auto schedule = std::make_shared<nb::optim::CosineWithWarmup>(
      model.optimizer(), nb::optim::CosineWithWarmup::Options{.warmup_steps = 5, .total_steps = 32, .min_factor = 0.1});
  nb::optim::OptimizerBase* optimizer = &model.optimizer();
  return {nb::train::LambdaCallback(
              {.on_batch_begin = [lrs, optimizer](int, nb::train::Logs&) { lrs->push_back(optimizer->lr()); }}),
          nb::train::SchedulerCallback(schedule, {.per = nb::train::SchedulerStep::batch}),
          nb::train::ModelCheckpoint(path, {.save_freq = 3}),
          nb::train::LambdaCallback({.on_batch_end = [batches, kill_after](int, nb::train::Logs&) {
            if ((*batches)++ == kill_after) throw Killed{};
          }})};
}

}  // namespace

TEST_CASE("SchedulerCallback: a per-batch CosineWithWarmup resumed mid-epoch gives the same learning rates and weights",
          "[resume]") {
  const auto x = nb::randn<float>({60, 4}, 71);
  const auto y = nb::randn<float>({60, 1}, 72);
  const std::string path = "resume_schedule.nabla";
  // The scheduler made (which performs its step 0) before or after model.load: the same either way.
  const bool scheduler_before_load = GENERATE(true, false);
  CAPTURE(scheduler_before_load);

  nb::manual_seed(6);
  nb::Model<float> uninterrupted = nabla_test::seeded_dropout_model();
  auto full_lrs = std::make_shared<std::vector<double>>();
  (void)uninterrupted.fit(x, y, fit_options(scheduled_callbacks(uninterrupted, full_lrs, path, -1)));
  REQUIRE(full_lrs->size() == 32);
  REQUIRE(full_lrs->front() == 0.0);                      // start_factor 0
  REQUIRE((*full_lrs)[5] == Approx(1e-2).epsilon(1e-6));  // the end of the warmup: the base lr

  nb::manual_seed(6);
  nb::Model<float> killed = nabla_test::seeded_dropout_model();
  auto killed_lrs = std::make_shared<std::vector<double>>();
  REQUIRE_THROWS_AS(killed.fit(x, y, fit_options(scheduled_callbacks(killed, killed_lrs, path, 13))), Killed);
  const auto checkpoint = nb::io::load_checkpoint(path);
  REQUIRE(checkpoint.metadata_text("fit.batch") == "4");  // global batch 12: epoch 1, batch 4
  REQUIRE(checkpoint.metadata_text("callback.1.name") == "SchedulerCallback");
  REQUIRE(checkpoint.metadata_text("callback.1.state.last_epoch") == "12");

  nb::manual_seed(999);  // a new process
  nb::Model<float> resumed = nabla_test::seeded_dropout_model();
  auto resumed_lrs = std::make_shared<std::vector<double>>();
  std::vector<nb::train::AnyCallback> callbacks;
  if (scheduler_before_load) callbacks = scheduled_callbacks(resumed, resumed_lrs, path, -1);
  resumed.load(path);
  if (!scheduler_before_load) callbacks = scheduled_callbacks(resumed, resumed_lrs, path, -1);
  (void)resumed.fit(x, y, fit_options(callbacks));
  REQUIRE(*resumed_lrs == std::vector<double>(full_lrs->begin() + 12, full_lrs->end()));  // bit-identical
  REQUIRE(nabla_test::all_weights(resumed) == nabla_test::all_weights(uninterrupted));
  REQUIRE(resumed.optimizer().lr() == uninterrupted.optimizer().lr());
  REQUIRE(resumed.run_history()["lr"] == uninterrupted.run_history()["lr"]);

  // The test can fail: without the scheduler's saved state the schedule starts over.
  auto restarted = checkpoint;
  for (const char* key :
       {"callback.1.name", "callback.1.state.last_epoch", "callback.1.state.base_lrs", "callback.1.state.lrs"})
    restarted.metadata.erase(key);
  nb::io::save_checkpoint("resume_schedule_c.nabla", restarted);
  nb::manual_seed(999);
  nb::Model<float> without = nabla_test::seeded_dropout_model();
  auto without_lrs = std::make_shared<std::vector<double>>();
  without.load("resume_schedule_c.nabla");
  (void)without.fit(x, y, fit_options(scheduled_callbacks(without, without_lrs, path, -1)));
  REQUIRE(*without_lrs != std::vector<double>(full_lrs->begin() + 12, full_lrs->end()));
  REQUIRE(nabla_test::all_weights(without) != nabla_test::all_weights(uninterrupted));
  for (const char* file : {"resume_schedule.nabla", "resume_schedule_c.nabla"}) std::filesystem::remove(file);
}

TEST_CASE("LRScheduler::state / load_state and SchedulerCallback's checks", "[resume]") {
  auto w = nb::ones<float>({2}).requires_grad_();
  nb::optim::SGD<float> first({w}, {.lr = 0.8});
  nb::optim::StepLR step_first(first, {.step_size = 2, .gamma = 0.5});  // chainable: multiplies the current lr
  for (int i = 0; i < 3; ++i) step_first.step();
  const nb::optim::SchedulerState state = step_first.state();
  REQUIRE(state.last_epoch == 3);
  REQUIRE(state.base_lrs == std::vector<double>{0.8});
  REQUIRE(state.lrs == std::vector<double>{0.4});

  // Made later on a fresh optimizer (its step 0 sets 0.8): load_state puts back the position and the lr.
  nb::optim::SGD<float> second({w}, {.lr = 0.8});
  nb::optim::StepLR step_second(second, {.step_size = 2, .gamma = 0.5});
  step_second.load_state(state);
  REQUIRE(second.lr() == 0.4);
  for (int i = 0; i < 4; ++i) {
    step_first.step();
    step_second.step();
    REQUIRE(second.lr() == first.lr());
  }
  REQUIRE(second.lr() == 0.1);

  REQUIRE_THROWS_WITH(step_second.load_state({-1, {0.8}, {0.8}}), Contains("last_epoch"));
  REQUIRE_THROWS_WITH(step_second.load_state({3, {0.8}, {0.8, 0.1}}), Contains("1 parameter groups"));
  REQUIRE_THROWS_WITH(step_second.load_state({3, {0.8}, {std::nan("")}}), Contains("finite"));
  REQUIRE(second.lr() == 0.1);  // refused states change nothing

  auto scheduler = std::make_shared<nb::optim::StepLR>(second, nb::optim::StepLR::Options{.step_size = 1});
  nb::train::SchedulerCallback callback(scheduler);
  REQUIRE(callback.state().at("lrs") == "0.1");
  REQUIRE_THROWS_WITH(callback.load_state({{"last_epoch", "2"}, {"base_lrs", "0.8"}, {"lrs", "a lot"}}),
                      Contains("SchedulerCallback") && Contains("'lrs'"));
  REQUIRE_THROWS_WITH(callback.load_state({{"last_epoch", "2"}, {"base_lrs", "0.8"}}), Contains("'lrs'"));
  REQUIRE_THROWS_AS(nb::train::SchedulerCallback(nullptr), nb::ValueError);

  // A scheduler on an optimizer other than the model's is refused when fit() starts.
  const auto x = nb::randn<float>({16, 4}, 81);
  const auto y = nb::randn<float>({16, 1}, 82);
  nb::Model<float> model = nabla_test::seeded_dropout_model();
  REQUIRE_THROWS_WITH(model.fit(x, y, {.epochs = 1, .batch_size = 8, .callbacks = {callback}, .verbose = 0}),
                      Contains("model.optimizer()"));
  // Per epoch (the default): one step at every epoch's end, "lr" logged as the epoch's.
  auto per_epoch =
      std::make_shared<nb::optim::ExponentialLR>(model.optimizer(), nb::optim::ExponentialLR::Options{.gamma = 0.5});
  const auto history = model.fit(
      x, y, {.epochs = 3, .batch_size = 8, .callbacks = {nb::train::SchedulerCallback(per_epoch)}, .verbose = 0});
  REQUIRE(history["lr"] == std::vector<double>{1e-2, 5e-3, 2.5e-3});
  REQUIRE(per_epoch->last_epoch() == 3);
}

}  // namespace test_resume
