// The Keras-style training API (nabla::train): compile / fit / evaluate / predict /
// train_on_batch, callbacks, History (CSV, SVG), the progress output, and every code snippet
// of docs/training.md (the last test checks that the page shows exactly this code).
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "temp_dir.hpp"

using Catch::Matchers::Contains;

// docs/training.md's first block, verbatim (after code, so that clang-format leaves it here).
#include <nabla/nabla.hpp>
namespace nb = nabla;

using Catch::Matchers::StartsWith;

#ifndef NABLA_FIXTURE_DIR
#define NABLA_FIXTURE_DIR "tests/fixtures"
#endif

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_train {

namespace {

/// Runs a test inside a fresh temporary directory (files the code writes land there).
using InTemporaryDirectory = nabla_test::InTempDir;

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw nb::IOError("test: cannot read " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t count = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + piece.size())) ++count;
  return count;
}

/// x in [-1, 1] as [count, 1] and y = 2 x + 1.
struct Line {
  nb::Tensor<float> x, y;
};
Line make_line(std::int64_t count) {
  auto x = nb::linspace<float>(-1, 1, count).reshape({count, 1});
  return {x, 2.0f * x + 1.0f};
}

/// Two (or three) Gaussian blobs in the plane, far apart: a linearly separable toy set.
/// Labels are class ids stored as floats, [N].
struct Blobs {
  nb::Tensor<float> x, y;
};
Blobs make_blobs(std::int64_t per_class, int classes, std::uint64_t seed) {
  const std::vector<float> noise = nb::randn<float>({per_class * classes, 2}, seed).to_vector();
  const float centers[3][2] = {{-2, -2}, {2, 2}, {2, -2}};
  std::vector<float> points, labels;
  for (std::int64_t i = 0; i < per_class * classes; ++i) {
    const auto label = static_cast<int>(i % classes);  // interleaved, so any split holds every class
    points.push_back(centers[label][0] + 0.5f * noise[static_cast<std::size_t>(2 * i)]);
    points.push_back(centers[label][1] + 0.5f * noise[static_cast<std::size_t>(2 * i + 1)]);
    labels.push_back(static_cast<float>(label));
  }
  const std::int64_t count = per_class * classes;
  return {nb::from_vector<float>(points, {count, 2}), nb::from_vector<float>(labels, {count})};
}

/// A Dense(1, 1) model with weight and bias set to zero (a deterministic start).
void zero_parameters(nb::nn::Sequential<float>& model) {
  nb::NoGradGuard no_grad;
  for (auto& parameter : model.parameters()) parameter.fill_(0.0f);
}

float weight_of(const nb::nn::Sequential<float>& model) { return model.state_dict().at("0.weight").item(); }

}  // namespace

// ---- compile / fit / evaluate / predict --------------------------------------------------------

TEST_CASE("fit learns y = 2x + 1 with a Dense model", "[train]") {
  nb::manual_seed(3);
  const Line line = make_line(64);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});
  REQUIRE(model.is_compiled());
  const auto history = model.fit(line.x, line.y, {.epochs = 60, .batch_size = 16, .seed = 1, .verbose = 0});

  REQUIRE(history.size() == 60);
  REQUIRE(history.names() == std::vector<std::string>{"loss", "mae"});
  REQUIRE(history["loss"].front() > 0.1);
  REQUIRE(history["loss"].back() < 1e-4);
  REQUIRE(history["loss"].back() < history["loss"].front() / 100);
  REQUIRE(history["mae"].back() < 1e-2);
  const auto state = model.state_dict();
  REQUIRE(state.at("0.weight").item() == Approx(2.0f).margin(0.02));
  REQUIRE(state.at("0.bias").item() == Approx(1.0f).margin(0.02));

  const auto scores = model.evaluate(line.x, line.y, 10);
  REQUIRE(scores.size() == 2);
  REQUIRE(scores.at("loss") < 1e-4);
  REQUIRE(scores.at("mae") < 1e-2);
  // the epoch's logged loss is the mean over its batches taken while the weights moved, so
  // only roughly equal to the loss of the final weights
  REQUIRE(scores.at("loss") == Approx(history["loss"].back()).margin(1e-4));
}

TEST_CASE("fit with background workers trains exactly as without them", "[train]") {
  const Line line = make_line(70);  // 70 = 4 batches of 16 and one of 6
  std::vector<std::vector<float>> weights;
  for (const int workers : {0, 1, 3}) {
    nb::manual_seed(5);
    nb::Model<float> model;
    model.add<nb::nn::Dense>(1, 4).add<nb::nn::Tanh>().add<nb::nn::Dense>(4, 1);
    model.compile(nb::optim::AdamOptions{.lr = 0.01}, nb::loss::MSE{});
    const auto history =
        model.fit(line.x, line.y, {.epochs = 3, .batch_size = 16, .seed = 9, .num_workers = workers, .verbose = 0});
    REQUIRE(history.size() == 3);
    std::vector<float> flat;
    for (const auto& parameter : model.parameters())
      for (const float value : parameter.to_vector()) flat.push_back(value);
    weights.push_back(flat);
  }
  REQUIRE(weights[1] == weights[0]);
  REQUIRE(weights[2] == weights[0]);
}

TEST_CASE("a classifier reaches high accuracy on separable blobs (binary and categorical)", "[train]") {
  nb::manual_seed(11);
  SECTION("binary: Sigmoid + BCE, targets [N] for an [N,1] output") {
    const Blobs blobs = make_blobs(100, 2, 5);
    nb::Model<float> model;
    model.add<nb::nn::Dense>(2, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 1).add<nb::nn::Sigmoid>();
    model.compile(nb::optim::AdamOptions{.lr = 0.05}, nb::loss::BinaryCrossEntropy{},
                  {nb::metrics::Accuracy{}, nb::metrics::Precision{}, nb::metrics::Recall{}});
    const auto history = model.fit(blobs.x, blobs.y, {.epochs = 15, .batch_size = 16, .seed = 2, .verbose = 0});
    REQUIRE(history["accuracy"].back() > 0.97);
    REQUIRE(history["accuracy"].front() <= history["accuracy"].back());
    const auto scores = model.evaluate(blobs.x, blobs.y);
    REQUIRE(scores.at("accuracy") > 0.97);
    REQUIRE(scores.at("precision") > 0.95);
    REQUIRE(scores.at("recall") > 0.95);
  }
  SECTION("three classes: logits + CrossEntropy with float class ids") {
    const Blobs blobs = make_blobs(60, 3, 6);
    nb::Model<float> model;
    model.add<nb::nn::Dense>(2, 16).add<nb::nn::ReLU>().add<nb::nn::Dense>(16, 3);
    model.compile(nb::optim::AdamOptions{.lr = 0.05}, nb::loss::CrossEntropy{},
                  {nb::metrics::Accuracy{}, nb::metrics::TopKAccuracy(2)});
    const auto history = model.fit(blobs.x, blobs.y, {.epochs = 15, .batch_size = 16, .seed = 3, .verbose = 0});
    REQUIRE(history["accuracy"].back() > 0.95);
    REQUIRE(history["top_2_accuracy"].back() >= history["accuracy"].back());
    const auto predicted = nb::argmax(model.predict(blobs.x), -1);
    const auto matrix = nb::metrics::confusion_matrix(predicted, blobs.y, 3);
    const auto counts = matrix.to_vector();
    REQUIRE(counts[0] + counts[4] + counts[8] >= 171);  // >= 95% of 180 on the diagonal
  }
}

TEST_CASE("validation_split holds out the last fraction, before shuffling, every epoch", "[train]") {
  nb::manual_seed(1);
  // targets 0..9 identify the samples; the loss records which ones it sees and when
  const auto x = nb::arange<float>(10).reshape({10, 1});
  const auto y = x.clone();
  std::vector<std::set<float>> trained_on(1), validated_on(1);
  int epoch_of_batch = 0;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 1e-3},
                [&](const nb::Tensor<float>& prediction, const nb::Tensor<float>& target) {
                  auto& seen = nb::is_grad_enabled() ? trained_on : validated_on;  // validation runs without a graph
                  seen.resize(static_cast<std::size_t>(epoch_of_batch) + 1);
                  for (float value : target.to_vector()) seen[static_cast<std::size_t>(epoch_of_batch)].insert(value);
                  return nb::loss::mse(prediction, target);
                });
  nb::train::LambdaCallback track_epoch(
      {.on_epoch_begin = [&](int epoch, nb::train::Logs&) { epoch_of_batch = epoch; }});
  const auto history = model.fit(
      x, y, {.epochs = 3, .batch_size = 3, .validation_split = 0.2, .callbacks = {track_epoch}, .verbose = 0});

  REQUIRE(history.names() == std::vector<std::string>{"loss", "val_loss"});
  REQUIRE(trained_on.size() == 3);
  REQUIRE(validated_on.size() == 3);
  for (int epoch = 0; epoch < 3; ++epoch) {
    REQUIRE(trained_on[static_cast<std::size_t>(epoch)] == std::set<float>{0, 1, 2, 3, 4, 5, 6, 7});
    REQUIRE(validated_on[static_cast<std::size_t>(epoch)] == std::set<float>{8, 9});
  }
  // val_loss of the last epoch is the loss of the final weights on the last 2 samples
  const auto scores = model.evaluate(x.narrow(0, 8, 2), y.narrow(0, 8, 2));
  REQUIRE(history["val_loss"].back() == Approx(scores.at("loss")).epsilon(1e-6));

  // explicit validation data, and the errors around it
  const auto with_data =
      model.fit(x, y, {.epochs = 1, .validation_data = {x.narrow(0, 0, 2), y.narrow(0, 0, 2)}, .verbose = 0});
  REQUIRE(with_data.contains("val_loss"));
  REQUIRE_THROWS_WITH(model.fit(x, y, {.validation_split = 0.5, .validation_data = {x, y}, .verbose = 0}),
                      Contains("either validation_split or validation_data"));
  REQUIRE_THROWS_WITH(model.fit(x, y, {.validation_split = 0.95, .verbose = 0}),
                      Contains("validation_split 0.95") && Contains("leaves 0 for training and 10 for validation"));
  REQUIRE_THROWS_AS(model.fit(x, y, {.validation_split = 1.0, .verbose = 0}), nb::ValueError);
  REQUIRE_THROWS_AS(model.fit(x, y, {.validation_data = {x, y.narrow(0, 0, 3)}, .verbose = 0}), nb::ShapeError);
}

TEST_CASE("shuffling is seeded: the same seed gives the same run", "[train]") {
  const Line line = make_line(40);
  auto run = [&](std::uint64_t shuffle_seed) {
    nb::Model<float> model;
    model.add<nb::nn::Dense>(1, 1);
    zero_parameters(model);
    model.compile(nb::optim::SGDOptions{.lr = 0.2}, nb::loss::MSE{});
    return model.fit(line.x, line.y, {.epochs = 3, .batch_size = 7, .seed = shuffle_seed, .verbose = 0})["loss"];
  };
  REQUIRE(run(1) == run(1));
  REQUIRE(run(1) != run(2));
}

namespace {
/// y = x * w with w = 1; records the samples (x's values) it sees in training mode, in order.
class Recorder : public nb::nn::Module<float> {
 public:
  explicit Recorder(std::shared_ptr<std::vector<float>> seen) : seen_(std::move(seen)) {
    weight_ = this->register_parameter("weight", nb::ones<float>({1}));
  }
  nb::Tensor<float> forward(const nb::Tensor<float>& input) override {
    if (this->is_training())
      for (const float value : input.to_host_vector()) seen_->push_back(value);
    return input * weight_;
  }
  std::string type_name() const override { return "Recorder"; }

 private:
  std::shared_ptr<std::vector<float>> seen_;
  nb::Tensor<float> weight_;
};
}  // namespace

TEST_CASE("fit iterates a data::DataLoader: a seed gives the loader's order for every epoch", "[train]") {
  constexpr std::int64_t samples = 23;
  const auto x = nb::arange<float>(0.0f, static_cast<float>(samples)).reshape({samples, 1});
  const auto y = nb::zeros<float>({samples, 1});
  auto fit_order = [&](nb::train::FitOptions<float> options) {
    auto seen = std::make_shared<std::vector<float>>();
    nb::Model<float> model;
    model.add(std::make_shared<Recorder>(seen));
    model.compile(nb::optim::SGDOptions{.lr = 0.0}, nb::loss::MSE{});
    model.fit(x, y, options);
    return *seen;
  };
  // Seeded: epoch e visits the samples as DataLoader{.seed = 5} does in its epoch e, i.e.
  // shuffled_indices(samples, 5, e), batch by batch.
  const auto seeded = fit_order({.epochs = 3, .batch_size = 7, .seed = 5, .verbose = 0});
  std::vector<float> expected;
  nb::data::DataLoader loader(nb::data::TensorDataset<float>(x, y), {.batch_size = 7, .shuffle = true, .seed = 5});
  for (int epoch = 0; epoch < 3; ++epoch)
    for (const auto& batch : loader)
      for (const float value : batch.inputs.to_vector()) expected.push_back(value);
  REQUIRE(seeded == expected);
  for (std::int64_t i = 0; i < samples; ++i)
    REQUIRE(seeded[static_cast<std::size_t>(i)] == static_cast<float>(nb::data::shuffled_indices(samples, 5, 0)[i]));
  // Continued at initial_epoch 2, the run shuffles as the uninterrupted one did in epoch 2.
  const auto resumed = fit_order({.epochs = 3, .batch_size = 7, .seed = 5, .verbose = 0, .initial_epoch = 2});
  REQUIRE(resumed == std::vector<float>(seeded.end() - samples, seeded.end()));
  // Unseeded: the global generator decides (one draw per epoch), so manual_seed repeats a run.
  nb::manual_seed(12);
  const auto first = fit_order({.epochs = 2, .batch_size = 7, .verbose = 0});
  nb::manual_seed(12);
  REQUIRE(fit_order({.epochs = 2, .batch_size = 7, .verbose = 0}) == first);
  REQUIRE(std::vector<float>(first.begin(), first.begin() + samples) !=
          std::vector<float>(seeded.begin(), seeded.begin() + samples));
  // No shuffling: the samples in order, every epoch.
  const auto ordered = fit_order({.epochs = 2, .batch_size = 7, .shuffle = false, .verbose = 0});
  for (std::size_t i = 0; i < ordered.size(); ++i) REQUIRE(ordered[i] == static_cast<float>(i % samples));
}

namespace {
nb::Model<float> make_regressor() {
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 8).add<nb::nn::Tanh>().add<nb::nn::Dense>(8, 1);
  return model;
}
}  // namespace

TEST_CASE("Model: a movable value; a compiled model keeps training after a move", "[train][move]") {
  static_assert(std::is_nothrow_move_constructible_v<nb::Model<float>>);
  static_assert(std::is_same_v<decltype(std::declval<nb::Model<float>&>().add<nb::nn::ReLU>()), nb::Model<float>&>);
  const Line line = make_line(40);
  nb::manual_seed(9);
  nb::Model<float> model = make_regressor();
  model.compile(nb::optim::AdamOptions{.lr = 0.05}, nb::loss::MSE{});
  model.fit(line.x, line.y, {.epochs = 2, .batch_size = 8, .seed = 1, .verbose = 0});
  std::vector<nb::Model<float>> models;
  models.push_back(std::move(model));
  for (int i = 0; i < 4; ++i) models.push_back(make_regressor());  // reallocates
  nb::Model<float>& moved = models.front();
  REQUIRE(moved.is_compiled());
  REQUIRE(moved.completed_epochs() == 2);
  // The optimizer still updates the moved model's own parameters.
  REQUIRE(moved.optimizer().parameters().front().impl() == moved.parameters().front().impl());
  const auto before = moved.evaluate(line.x, line.y)["loss"];
  moved.fit(line.x, line.y, {.epochs = 20, .batch_size = 8, .seed = 1, .verbose = 0});
  REQUIRE(moved.evaluate(line.x, line.y)["loss"] < before);
  REQUIRE(moved.summary() == moved.summary({8, 1}));  // the last batch evaluate() ran had 8 samples
}

TEST_CASE("predict runs in batches, in eval mode, without a graph", "[train]") {
  nb::manual_seed(4);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(3, 8).add<nb::nn::Tanh>().add<nb::nn::Dropout>(0.5).add<nb::nn::Dense>(8, 2);
  const auto x = nb::randn<float>({23, 3}, 8);
  const auto batched = model.predict(x, 5);  // 5 + 5 + 5 + 5 + 3 rows
  REQUIRE(batched.shape() == nb::Shape{23, 2});
  REQUIRE_FALSE(batched.requires_grad());
  REQUIRE(model.is_training());  // the mode it had is back
  nb::Tensor<float> single;
  {
    nb::NoGradGuard no_grad;
    model.eval();
    single = model(x);
    model.train();
  }
  const auto expected = single.to_vector(), got = batched.to_vector();
  // equal up to float rounding (the GEMM may sum in another order for another batch size)
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(got[i] == Approx(expected[i]).epsilon(1e-5).margin(1e-6));
  // one batch holding every row is exactly the single forward
  REQUIRE(nb::train::predict(static_cast<nb::nn::Module<float>&>(model), x, 100).to_vector() == expected);
  REQUIRE_THROWS_AS(model.predict(x, 0), nb::ValueError);
  REQUIRE_THROWS_AS(model.predict(nb::zeros<float>({0, 3})), nb::ValueError);
}

TEST_CASE("train_on_batch takes one step and reports the batch", "[train]") {
  nb::manual_seed(2);
  const Line line = make_line(16);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::RMSE{}});
  const auto first = model.train_on_batch(line.x, line.y);
  REQUIRE(first.size() == 2);
  REQUIRE(model.optimizer().step_count() == 1);
  REQUIRE(first.at("rmse") == Approx(std::sqrt(first.at("loss"))).epsilon(1e-5));  // MSE = RMSE^2 on one batch
  double loss = first.at("loss");
  for (int step = 0; step < 20; ++step) loss = model.train_on_batch(line.x, line.y).at("loss");
  REQUIRE(loss < first.at("loss") / 2);
}

TEST_CASE("training errors say what is wrong", "[train]") {
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  const auto x = nb::zeros<float>({10, 1}), y = nb::zeros<float>({9, 1});
  REQUIRE_THROWS_AS(model.fit(x, x), nb::ValueError);
  REQUIRE_THROWS_WITH(model.fit(x, x), Contains("fit: the model is not compiled") && Contains("compile("));
  REQUIRE_THROWS_WITH(model.evaluate(x, x), Contains("evaluate: the model is not compiled"));
  REQUIRE_THROWS_WITH(model.train_on_batch(x, x), Contains("not compiled"));
  REQUIRE_THROWS_AS(model.optimizer(), nb::ValueError);
  REQUIRE_NOTHROW(model.predict(x));  // predicting needs no compile

  model.compile(nb::optim::SGDOptions{}, nb::loss::MSE{});
  REQUIRE_THROWS_AS(model.fit(x, y), nb::ShapeError);
  REQUIRE_THROWS_WITH(model.fit(x, y), Contains("x of shape [10,1] and y of shape [9,1]") && Contains("10 and 9"));
  REQUIRE_THROWS_WITH(model.evaluate(x, y), Contains("[10,1]") && Contains("[9,1]"));
  REQUIRE_THROWS_AS(model.fit(x, x, {.batch_size = 0, .verbose = 0}), nb::ValueError);
  REQUIRE_THROWS_AS(model.fit(x, x, {.epochs = -1, .verbose = 0}), nb::ValueError);
  REQUIRE_THROWS_AS(model.fit(x, x, {.verbose = 3}), nb::ValueError);
  REQUIRE_THROWS_AS(model.fit(nb::zeros<float>({0, 1}), nb::zeros<float>({0, 1}), {.verbose = 0}), nb::ValueError);
  // a loss that does not reduce to one number
  model.compile(nb::optim::SGDOptions{}, nb::loss::MSE{.reduction = nb::loss::Reduction::none});
  REQUIRE_THROWS_WITH(model.fit(x, x, {.verbose = 0}),
                      Contains("must reduce to a single number") && Contains("[10,1]"));
  // metrics need keys of their own
  REQUIRE_THROWS_WITH(model.compile(nb::optim::SGDOptions{}, nb::loss::MSE{}, {nb::metrics::MAE{}, nb::metrics::MAE{}}),
                      Contains("two metrics are named 'mae'"));
  nb::Model<float> empty;
  REQUIRE_THROWS_WITH(empty.compile(nb::optim::SGDOptions{}, nb::loss::MSE{}), Contains("no parameters"));
  // fit with no epochs does nothing
  model.compile(nb::optim::SGDOptions{}, nb::loss::MSE{});
  REQUIRE(model.fit(x, x, {.epochs = 0, .verbose = 0}).empty());
}

// ---- callbacks --------------------------------------------------------------------------------

// Training on y = x while validating on y = -x, from w = b = 0 with full batches: w climbs
// towards 1 and the validation loss (w + 1)^2 mean(x^2) rises every epoch, so epoch 0 is the
// best one.
struct DivergingValidation {
  Line data;
  nb::Model<float> model;
  DivergingValidation() {
    data.x = nb::linspace<float>(-1, 1, 20).reshape({20, 1});
    data.y = data.x.clone();
    model.add<nb::nn::Dense>(1, 1);
    zero_parameters(model);
    model.compile(nb::optim::SGDOptions{.lr = 0.05}, nb::loss::MSE{});
  }
  nb::train::ValidationData<float> validation() const { return {data.x, -1.0f * data.x}; }
};

TEST_CASE("EarlyStopping stops after `patience` epochs without improvement and restores the best weights",
          "[train][callbacks]") {
  DivergingValidation setup;
  auto early_stopping = std::make_shared<nb::train::EarlyStopping>(nb::train::EarlyStoppingOptions{
      .monitor = "val_loss", .patience = 2, .verbose = 1, .restore_best_weights = true});
  std::vector<float> weight_at_epoch_end;
  nb::train::LambdaCallback record(
      {.on_epoch_end = [&](int, nb::train::Logs&) { weight_at_epoch_end.push_back(weight_of(setup.model)); }});
  std::ostringstream output;
  const auto history = setup.model.fit(setup.data.x, setup.data.y,
                                       {.epochs = 50,
                                        .batch_size = 20,
                                        .validation_data = setup.validation(),
                                        .shuffle = false,
                                        .callbacks = {record, early_stopping},
                                        .verbose = 0,
                                        .output = output});
  // epoch 0 best; epochs 1 and 2 worse: patience 2 runs out at epoch 2
  REQUIRE(history.size() == 3);
  REQUIRE(history["val_loss"][0] < history["val_loss"][1]);
  REQUIRE(history["val_loss"][1] < history["val_loss"][2]);
  REQUIRE(early_stopping->stopped_epoch() == 2);
  REQUIRE(early_stopping->best_epoch() == 0);
  REQUIRE(early_stopping->best() == history["val_loss"][0]);
  REQUIRE(weight_at_epoch_end.size() == 3);
  REQUIRE(weight_at_epoch_end[2] > weight_at_epoch_end[0]);
  REQUIRE(weight_of(setup.model) == weight_at_epoch_end[0]);  // restored
  REQUIRE(output.str() == "Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 1.\n");

  SECTION("without restore_best_weights the last weights stay") {
    const auto again = setup.model.fit(setup.data.x, setup.data.y,
                                       {.epochs = 50,
                                        .batch_size = 20,
                                        .validation_data = setup.validation(),
                                        .shuffle = false,
                                        .callbacks = {nb::train::EarlyStopping({.patience = 1})},
                                        .verbose = 0});
    REQUIRE(again.size() == 2);
    REQUIRE(weight_of(setup.model) > weight_at_epoch_end[0]);
  }
  SECTION("mode max reads a rising val_loss as improvement, so it never stops") {
    const auto again =
        setup.model.fit(setup.data.x, setup.data.y,
                        {.epochs = 6,
                         .batch_size = 20,
                         .validation_data = setup.validation(),
                         .shuffle = false,
                         .callbacks = {nb::train::EarlyStopping({.patience = 0, .mode = nb::train::MonitorMode::max})},
                         .verbose = 0});
    REQUIRE(again.size() == 6);
  }
  SECTION("min_delta larger than any change makes no epoch an improvement after the first") {
    auto strict = std::make_shared<nb::train::EarlyStopping>(
        nb::train::EarlyStoppingOptions{.monitor = "loss", .min_delta = 1e6, .patience = 1});
    const auto again = setup.model.fit(setup.data.x, setup.data.y, {.epochs = 10, .callbacks = {strict}, .verbose = 0});
    REQUIRE(again.size() == 2);
    REQUIRE(strict->stopped_epoch() == 1);
  }
  SECTION("a monitored name that is not logged is an error at the first epoch") {
    REQUIRE_THROWS_WITH(
        setup.model.fit(setup.data.x, setup.data.y,
                        {.epochs = 3, .callbacks = {nb::train::EarlyStopping({.monitor = "val_los"})}, .verbose = 0}),
        Contains("EarlyStopping: 'val_los' is not in the logs (available: loss)"));
    REQUIRE_THROWS_AS(nb::train::EarlyStopping({.patience = -1}), nb::ValueError);
  }
}

TEST_CASE("ModelCheckpoint saves every epoch or only improvements, through a save function", "[train][callbacks]") {
  DivergingValidation setup;
  std::vector<std::pair<std::string, float>> saved;  // path and the weight at saving time
  auto save = [&](const std::string& path) { saved.emplace_back(path, weight_of(setup.model)); };

  SECTION("save_best_only: only epoch 1 improved on the (infinite) start") {
    auto checkpoint = std::make_shared<nb::train::ModelCheckpoint>(
        "best-{epoch:03d}.nabla",
        nb::train::ModelCheckpointOptions{.monitor = "val_loss", .save_best_only = true, .save = save});
    setup.model.fit(setup.data.x, setup.data.y,
                    {.epochs = 4,
                     .batch_size = 20,
                     .validation_data = setup.validation(),
                     .shuffle = false,
                     .callbacks = {checkpoint},
                     .verbose = 0});
    REQUIRE(saved.size() == 1);
    REQUIRE(saved[0].first == "best-001.nabla");
    REQUIRE(checkpoint->saved_paths() == std::vector<std::string>{"best-001.nabla"});
  }
  SECTION("every epoch") {
    setup.model.fit(
        setup.data.x, setup.data.y,
        {.epochs = 3, .callbacks = {nb::train::ModelCheckpoint("model-{epoch}.bin", {.save = save})}, .verbose = 0});
    REQUIRE(saved.size() == 3);
    REQUIRE(saved[2].first == "model-3.bin");
    REQUIRE(saved[2].second > saved[0].second);
  }
  SECTION("by default a nabla checkpoint of weights, optimizer state and epoch") {
    InTemporaryDirectory directory("checkpoint");
    setup.model.fit(setup.data.x, setup.data.y,
                    {.epochs = 2, .callbacks = {nb::train::ModelCheckpoint("model.nabla")}, .verbose = 0});
    const auto checkpoint = nb::io::load_checkpoint("model.nabla");
    REQUIRE(checkpoint.metadata_number<int>("epoch") == 2);
    REQUIRE(checkpoint.tensor<float>("model.0.weight").item() == weight_of(setup.model));
    REQUIRE(checkpoint.metadata_text("optimizer.type") == "SGD");
  }
  REQUIRE(nb::train::ModelCheckpoint::path_for_epoch("run/{epoch:02d}-{epoch}.nabla", 7) == "run/07-7.nabla");
  REQUIRE(nb::train::ModelCheckpoint::path_for_epoch("m-{epoch}.nabla", 123) == "m-123.nabla");
  REQUIRE(nb::train::ModelCheckpoint::path_for_epoch("{epochs}{x}{epoch:5}", 1) == "{epochs}{x}{epoch:5}");
  REQUIRE_THROWS_AS(nb::train::ModelCheckpoint(""), nb::ValueError);
}

TEST_CASE("LearningRateScheduler sets the optimizer's learning rate every epoch and logs it", "[train][callbacks]") {
  const Line line = make_line(20);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  std::vector<double> lr_in_batches;
  nb::train::LearningRateScheduler halve([](int epoch, double) { return 0.1 * std::pow(0.5, epoch); });
  nb::train::LambdaCallback watch({.on_batch_end = [&](int batch, nb::train::Logs&) {
    if (batch == 0) lr_in_batches.push_back(model.optimizer().lr());
  }});
  const auto history =
      model.fit(line.x, line.y, {.epochs = 3, .batch_size = 10, .callbacks = {halve, watch}, .verbose = 0});
  REQUIRE(lr_in_batches == std::vector<double>{0.1, 0.05, 0.025});
  REQUIRE(history["lr"] == std::vector<double>{0.1, 0.05, 0.025});
  REQUIRE(model.optimizer().lr() == 0.025);

  nb::train::LearningRateScheduler broken([](int, double) { return std::nan(""); });
  REQUIRE_THROWS_WITH(model.fit(line.x, line.y, {.callbacks = {broken}, .verbose = 0}),
                      Contains("LearningRateScheduler: the schedule returned nan for epoch 0"));
  REQUIRE_THROWS_AS(nb::train::LearningRateScheduler(nullptr), nb::ValueError);
}

TEST_CASE("TerminateOnNaN stops a diverging run at the first non-finite loss", "[train][callbacks]") {
  nb::manual_seed(5);
  auto x = nb::linspace<float>(-10, 10, 64).reshape({64, 1});
  auto y = 2.0f * x + 1.0f;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 1e12}, nb::loss::MSE{});  // a learning rate that explodes
  int batches = 0;
  nb::train::LambdaCallback count({.on_batch_end = [&](int, nb::train::Logs&) { ++batches; }});
  std::ostringstream output;
  const auto history = model.fit(x, y,
                                 {.epochs = 100,
                                  .batch_size = 4,
                                  .callbacks = {count, nb::train::TerminateOnNaN{}},
                                  .verbose = 0,
                                  .output = output});
  REQUIRE(batches < 16);         // stopped inside the first epoch
  REQUIRE(history.size() == 1);  // that epoch is still closed and recorded
  REQUIRE_FALSE(std::isfinite(history["loss"].back()));
  REQUIRE(output.str() == "Batch " + std::to_string(batches - 1) + ": Invalid loss, terminating training\n");
}

TEST_CASE("callbacks are called in order and can stop training", "[train][callbacks]") {
  const Line line = make_line(10);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});
  std::vector<std::string> calls;
  nb::train::LambdaCallback trace({
      .on_epoch_begin = [&](int epoch, nb::train::Logs&) { calls.push_back("epoch_begin " + std::to_string(epoch)); },
      .on_epoch_end =
          [&](int epoch, nb::train::Logs& logs) {
            calls.push_back("epoch_end " + std::to_string(epoch) + " " + logs.names_text());
          },
      .on_batch_begin = [&](int batch, nb::train::Logs&) { calls.push_back("batch_begin " + std::to_string(batch)); },
      .on_batch_end =
          [&](int batch, nb::train::Logs& logs) {
            calls.push_back("batch_end " + std::to_string(batch) + " " + logs.names_text());
          },
      .on_train_begin = [&](nb::train::Logs&) { calls.push_back("train_begin"); },
      .on_train_end = [&](nb::train::Logs&) { calls.push_back("train_end"); },
  });
  model.fit(line.x, line.y,
            {.epochs = 2, .batch_size = 6, .validation_split = 0.2, .callbacks = {trace}, .verbose = 0});
  REQUIRE(calls ==
          std::vector<std::string>{"train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0 loss, mae",
                                   "batch_begin 1", "batch_end 1 loss, mae", "epoch_end 0 loss, mae, val_loss, val_mae",
                                   "epoch_begin 1", "batch_begin 0", "batch_end 0 loss, mae", "batch_begin 1",
                                   "batch_end 1 loss, mae", "epoch_end 1 loss, mae, val_loss, val_mae", "train_end"});
}

// A custom callback, as docs/training.md shows it.
// Stops as soon as the training loss is below a target.
class StopAtLoss : public nb::train::Callback {
 public:
  explicit StopAtLoss(double target) : target_(target) {}
  void on_epoch_end(int, nb::train::Logs& logs) override {
    if (logs.at("loss") < target_) trainer().stop_training = true;
  }

 private:
  double target_;
};

TEST_CASE("a custom callback stops training through trainer().stop_training", "[train][callbacks]") {
  nb::manual_seed(6);
  const Line line = make_line(32);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  const auto history =
      model.fit(line.x, line.y, {.epochs = 500, .batch_size = 8, .callbacks = {StopAtLoss(0.01)}, .verbose = 0});
  REQUIRE(history.size() < 500);
  REQUIRE(history["loss"].back() < 0.01);
  REQUIRE(history["loss"][history.size() - 2] >= 0.01);
}

TEST_CASE("CSVLogger writes the same table as History, row by row", "[train][callbacks]") {
  InTemporaryDirectory directory("csv_logger");
  const Line line = make_line(20);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});
  const auto history =
      model.fit(line.x, line.y,
                {.epochs = 4, .validation_split = 0.25, .callbacks = {nb::train::CSVLogger("log.csv")}, .verbose = 0});
  const std::string logged = read_file("log.csv");
  REQUIRE(logged == history.to_csv_string());
  REQUIRE(count_of(logged, "\n") == 5);
  REQUIRE_THAT(logged, StartsWith("epoch,loss,mae,val_loss,val_mae\n0,"));
  // append: no second header
  model.fit(line.x, line.y,
            {.epochs = 1, .callbacks = {nb::train::CSVLogger("log.csv", ',', /*append=*/true)}, .verbose = 0});
  REQUIRE(count_of(read_file("log.csv"), "epoch") == 1);
  REQUIRE(count_of(read_file("log.csv"), "\n") == 6);
  REQUIRE_THROWS_AS(
      model.fit(line.x, line.y, {.callbacks = {nb::train::CSVLogger("no/such/directory/log.csv")}, .verbose = 0}),
      nb::IOError);
}

// ---- History -----------------------------------------------------------------------------------

TEST_CASE("History keeps one value per epoch per quantity and writes CSV", "[train][history]") {
  nb::train::History history;
  nb::train::Logs first;
  first.set("loss", 0.5);
  first.set("accuracy", 0.75);
  history.record(0, first);
  nb::train::Logs second;
  second.set("loss", 0.25);
  second.set("accuracy", 1.0);
  second.set("lr", 0.1);  // appears in the second epoch only
  history.record(1, second);

  REQUIRE(history.size() == 2);
  REQUIRE(history.names() == std::vector<std::string>{"loss", "accuracy", "lr"});
  REQUIRE(history["loss"] == std::vector<double>{0.5, 0.25});
  REQUIRE(std::isnan(history["lr"][0]));
  REQUIRE(history.to_csv_string() == "epoch,loss,accuracy,lr\n0,0.5,0.75,nan\n1,0.25,1,0.1\n");
  REQUIRE(history.to_csv_string(';') == "epoch;loss;accuracy;lr\n0;0.5;0.75;nan\n1;0.25;1;0.1\n");
  REQUIRE_THROWS_WITH(history["val_loss"], Contains("no series 'val_loss' (recorded: loss, accuracy, lr)"));

  InTemporaryDirectory directory("history_csv");
  history.to_csv("history.csv");
  REQUIRE(read_file("history.csv") == history.to_csv_string());
  REQUIRE_THROWS_AS(history.to_csv("no/such/directory/history.csv"), nb::IOError);

  // names that need quoting in CSV
  nb::train::History odd;
  nb::train::Logs logs;
  logs.set("a,b", 1);
  logs.set("say \"hi\"", 2);
  odd.record(0, logs);
  REQUIRE(odd.to_csv_string() == "epoch,\"a,b\",\"say \"\"hi\"\"\"\n0,1,2\n");
}

TEST_CASE("History draws learning curves as a self-contained SVG", "[train][history]") {
  nb::train::History history;
  for (int epoch = 0; epoch < 5; ++epoch) {
    nb::train::Logs logs;
    logs.set("loss", 1.0 / (epoch + 1));
    logs.set("a<b&c", 0.5 + 0.1 * epoch);
    logs.set("val_loss", 1.2 / (epoch + 1));
    logs.set("val_a<b&c", epoch == 2 ? std::nan("") : 0.4 + 0.1 * epoch);  // a gap: two runs of points
    history.record(epoch, logs);
  }
  const std::string svg = history.to_svg();
  REQUIRE_THAT(svg, StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  REQUIRE(svg.substr(svg.size() - 7) == "</svg>\n");
  REQUIRE(count_of(svg, "<g>") == 2);  // one panel per quantity: loss, a<b&c
  REQUIRE(count_of(svg, "<g>") == count_of(svg, "</g>"));
  REQUIRE(count_of(svg, "<polyline") == 5);             // loss, val_loss, a<b&c, and val_a<b&c split in two
  REQUIRE(count_of(svg, "stroke-dasharray") >= 2);      // validation series are dashed (and in the legend)
  REQUIRE(count_of(svg, "<circle") == 19);              // one dot per finite point
  REQUIRE(svg.find("a<b") == std::string::npos);        // text is escaped ...
  REQUIRE(count_of(svg, ">a&lt;b&amp;c</text>") == 2);  // ... in the panel title and the legend
  REQUIRE(count_of(svg, ">val_a&lt;b&amp;c</text>") == 1);
  REQUIRE(count_of(svg, ">epoch</text>") == 2);  // x axis labels
  for (const std::string tick : {">1</text>", ">3</text>", ">5</text>"}) REQUIRE(svg.find(tick) != std::string::npos);
  // the SVG's tags open and close in pairs
  REQUIRE(count_of(svg, "<text") == count_of(svg, "</text>"));
  REQUIRE(count_of(svg, "<") == count_of(svg, ">"));

  InTemporaryDirectory directory("history_svg");
  history.write_svg("curves.svg");
  REQUIRE(read_file("curves.svg") == svg);
  REQUIRE_THAT(nb::train::History().to_svg(), Contains("no data"));

  REQUIRE(nb::train::nice_ticks(0.13, 0.87) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  REQUIRE(nb::train::nice_ticks(0, 100, 5) == std::vector<double>{0, 50, 100});  // step 25 is not 1, 2 or 5 x 10^k
  REQUIRE(nb::train::nice_ticks(0, 100, 6) == std::vector<double>{0, 20, 40, 60, 80, 100});
  const auto flat = nb::train::nice_ticks(3, 3);
  REQUIRE(flat.front() < 3);
  REQUIRE(flat.back() > 3);
  REQUIRE(nb::train::xml_escape("<a & 'b' \"c\">") == "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
}

// ---- progress output ---------------------------------------------------------------------------

TEST_CASE("progress: one plain line per epoch when the output is not a terminal", "[train][progress]") {
  const Line line = make_line(40);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});

  for (int verbose : {1, 2}) {
    std::ostringstream output;
    model.fit(line.x, line.y,
              {.epochs = 3, .batch_size = 8, .validation_split = 0.25, .verbose = verbose, .output = output});
    const std::string text = output.str();
    INFO(text);
    REQUIRE(text.find('\r') == std::string::npos);
    REQUIRE(count_of(text, "\n") == 3);
    std::istringstream lines(text);
    std::string row;
    for (int epoch = 1; epoch <= 3; ++epoch) {
      std::getline(lines, row);
      REQUIRE_THAT(row, StartsWith("Epoch " + std::to_string(epoch) + "/3 - "));
      REQUIRE_THAT(
          row, Contains(" - loss: ") && Contains(" - mae: ") && Contains(" - val_loss: ") && Contains(" - val_mae: "));
      REQUIRE(row.substr(row.size() - 10) == " samples/s");
    }
  }
  std::ostringstream silent;
  model.fit(line.x, line.y, {.epochs = 2, .verbose = 0, .output = silent});
  REQUIRE(silent.str().empty());
}

TEST_CASE("progress: a bar redrawn with \\r on a terminal", "[train][progress]") {
  const Line line = make_line(40);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  std::ostringstream output;
  model.fit(line.x, line.y, {.epochs = 2, .batch_size = 10, .verbose = 1, .output = output, .terminal = true});
  const std::string text = output.str();
  INFO(text);
  REQUIRE_THAT(text, StartsWith("Epoch 1/2\n\r1/4 [======>.......................] - ETA: "));
  REQUIRE_THAT(text, Contains("\r4/4 [==============================] - ") && Contains("\nEpoch 2/2\n"));
  REQUIRE(count_of(text, "\n") == 4);  // two headers and two finished bars
  REQUIRE(text.back() == '\n');

  // the pieces, exactly
  REQUIRE(nb::train::format_progress_bar(12, 50) == "12/50 [======>.......................]");
  REQUIRE(nb::train::format_progress_bar(5, 50) == " 5/50 [==>...........................]");
  REQUIRE(nb::train::format_progress_bar(50, 50) == "50/50 [==============================]");
  REQUIRE(nb::train::format_progress_bar(0, 50) == " 0/50 [..............................]");
  REQUIRE(nb::train::format_duration(3.7) == "3s");
  REQUIRE(nb::train::format_duration(65) == "1:05");
  REQUIRE(nb::train::format_duration(3725) == "1:02:05");
  REQUIRE(nb::train::format_elapsed(0.25) == "250ms");
  REQUIRE(nb::train::format_log_value(0.41234) == "0.4123");
  REQUIRE(nb::train::format_log_value(3.2e-5) == "3.2000e-05");
  REQUIRE(nb::train::format_throughput(1519.6) == "1520 samples/s");
  nb::train::Logs logs;
  logs.set("loss", 0.4123);
  logs.set("accuracy", 0.8125);
  REQUIRE(nb::train::format_logs(logs) == " - loss: 0.4123 - accuracy: 0.8125");
}

// ---- docs/training.md --------------------------------------------------------------------------
// Each test below holds one code block of docs/training.md, verbatim; the last test checks
// that every block of the page appears here, so the page cannot drift from working code.

TEST_CASE("docs/training.md: the seed model, line for line (Embedding -> LSTM -> Dense)", "[train][docs]") {
  // A toy "spam" task: a sequence is positive when its last token is in the upper half of
  // the vocabulary.
  nb::manual_seed(7);
  const std::int64_t vocab_size = 20, samples = 384, steps = 5;
  const std::vector<std::int64_t> tokens = nb::randint(0, vocab_size, {samples + 64, steps}, 17).to_vector();
  std::vector<float> ids(tokens.begin(), tokens.end()), labels;
  for (std::int64_t i = 0; i < samples + 64; ++i)
    labels.push_back(tokens[static_cast<std::size_t>(i * steps + steps - 1)] >= vocab_size / 2 ? 1.0f : 0.0f);
  const auto all_x = nb::from_vector<float>(ids, {samples + 64, steps});
  const auto all_y = nb::from_vector<float>(labels, {samples + 64});
  const auto x_train = all_x.narrow(0, 0, samples), y_train = all_y.narrow(0, 0, samples);
  const auto x_test = all_x.narrow(0, samples, 64), y_test = all_y.narrow(0, samples, 64);

  nb::Model<float> model;
  model.add<nb::nn::Embedding>(vocab_size, 128)
      .add<nb::nn::LSTM>(128, 128, nb::nn::LSTMOptions{.return_sequences = false})
      .add<nb::nn::Dense>(128, 1)
      .add<nb::nn::Sigmoid>();
  model.compile(nb::optim::AdamOptions{.lr = 1e-3}, nb::loss::BinaryCrossEntropy{}, {nb::metrics::Accuracy{}});
  auto history = model.fit(x_train, y_train, {.epochs = 10, .batch_size = 64, .validation_split = 0.1});
  auto predictions = model.predict(x_test);

  REQUIRE(history.size() == 10);
  REQUIRE(history["loss"].back() < history["loss"].front());
  REQUIRE(history["val_accuracy"].back() > 0.9);
  REQUIRE(predictions.shape() == nb::Shape{64, 1});
  nb::metrics::Accuracy test_accuracy;
  test_accuracy.update(predictions, y_test);
  REQUIRE(test_accuracy.result() > 0.9);
  // the design card's spelling of the options
  model.compile(nb::optim::Adam<float>::Options{.lr = 1e-3}, nb::loss::BinaryCrossEntropy{}, {nb::metrics::Accuracy{}});
  REQUIRE(model.optimizer().type_name() == "Adam");
}

TEST_CASE("docs/training.md: a first complete example", "[train][docs]") {
  nb::manual_seed(0);
  auto x = nb::linspace<float>(-1, 1, 200).reshape({200, 1});
  auto y = 2.0f * x + 1.0f;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});
  auto history = model.fit(x, y, {.epochs = 50, .batch_size = 20, .verbose = 0});
  std::map<std::string, double> scores = model.evaluate(x, y);         // {"loss": ..., "mae": ...}
  auto y_hat = model.predict(nb::from_vector<float>({0.5f}, {1, 1}));  // about 2 * 0.5 + 1 = 2

  REQUIRE(history.size() == 50);
  REQUIRE(scores.at("loss") < 1e-4);
  REQUIRE(y_hat.item() == Approx(2.0f).margin(0.01));
}

TEST_CASE("docs/training.md: what one step of fit() does", "[train][docs]") {
  nb::manual_seed(0);
  auto x = nb::linspace<float>(-1, 1, 200).reshape({200, 1});
  auto y = 2.0f * x + 1.0f;
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(1, 1);
  nb::optim::SGD<float> optimizer(net.parameters(), {.lr = 0.1});
  for (int epoch = 0; epoch < 50; ++epoch) {
    for (std::int64_t begin = 0; begin < 200; begin += 20) {
      auto x_batch = x.narrow(0, begin, 20), y_batch = y.narrow(0, begin, 20);
      optimizer.zero_grad();
      auto loss = nb::loss::mse(net(x_batch), y_batch);
      loss.backward();
      optimizer.step();
    }
  }

  // the same as fit() without shuffling, from the same start
  nb::manual_seed(0);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  model.fit(x, y, {.epochs = 50, .batch_size = 20, .shuffle = false, .verbose = 0});
  REQUIRE(weight_of(model) == weight_of(net));
  REQUIRE(model.state_dict().at("0.bias").item() == net.state_dict().at("0.bias").item());
}

TEST_CASE("docs/training.md: compile takes any optimizer, loss and metrics", "[train][docs]") {
  nb::manual_seed(1);
  const Line line = make_line(32);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 4).add<nb::nn::Tanh>().add<nb::nn::Dense>(4, 1);

  // any optimizer: its options pick it
  model.compile(nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9}, nb::loss::MSE{});
  // or a function that builds one from the parameters
  model.compile(
      [](std::vector<nb::Tensor<float>> parameters) {
        return std::make_unique<nb::optim::AdamW<float>>(parameters, nb::optim::AdamWOptions{.lr = 3e-4});
      },
      nb::loss::Huber{.delta = 0.5}, {nb::metrics::MAE{}, nb::metrics::RMSE{}});
  // or any function of (prediction, target) as the loss
  model.compile(nb::optim::AdamOptions{}, [](const nb::Tensor<float>& prediction, const nb::Tensor<float>& target) {
    return nb::loss::mse(prediction, target) + nb::loss::l1(prediction, target);
  });

  REQUIRE(model.optimizer().type_name() == "Adam");
  const auto history = model.fit(line.x, line.y, {.epochs = 3, .verbose = 0});
  REQUIRE(std::isfinite(history["loss"].back()));
  // each form once more, checked
  model.compile(nb::optim::SGDOptions{.lr = 0.01, .momentum = 0.9}, nb::loss::MSE{});
  REQUIRE(model.optimizer().type_name() == "SGD");
  model.compile(
      [](std::vector<nb::Tensor<float>> parameters) {
        return std::make_shared<nb::optim::AdamW<float>>(parameters, nb::optim::AdamWOptions{.lr = 3e-4});
      },
      nb::loss::Huber{.delta = 0.5}, {nb::metrics::MAE{}, nb::metrics::RMSE{}});
  REQUIRE(model.optimizer().type_name() == "AdamW");
  REQUIRE(model.optimizer().lr() == 3e-4);
  REQUIRE(model.fit(line.x, line.y, {.verbose = 0}).names() == std::vector<std::string>{"loss", "mae", "rmse"});
  model.compile(nb::optim::RMSpropOptions{}, nb::loss::MSE{});
  REQUIRE(model.optimizer().type_name() == "RMSprop");
  model.compile(nb::optim::AdagradOptions{}, nb::loss::MSE{});
  REQUIRE(model.optimizer().type_name() == "Adagrad");
}

TEST_CASE("docs/training.md: History, CSV and SVG", "[train][docs]") {
  InTemporaryDirectory directory("docs_history");
  nb::manual_seed(2);
  const Line line = make_line(50);
  auto x = line.x, y = line.y;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{}, {nb::metrics::MAE{}});
  auto history = model.fit(x, y, {.epochs = 20, .validation_split = 0.2, .verbose = 0});
  std::cout << "final validation loss " << history["val_loss"].back() << "\n";
  history.to_csv("history.csv");     // epoch,loss,mae,val_loss,val_mae
  history.write_svg("history.svg");  // two panels: loss and mae, training vs validation

  REQUIRE_THAT(read_file("history.csv"), StartsWith("epoch,loss,mae,val_loss,val_mae\n"));
  REQUIRE(count_of(read_file("history.svg"), "<polyline") == 4);
}

TEST_CASE("docs/training.md: a classifier, evaluate, predict and the confusion matrix", "[train][docs]") {
  nb::manual_seed(3);
  const Blobs blobs = make_blobs(50, 3, 4);
  const auto points = blobs.x, labels = blobs.y;
  std::ostringstream captured;
  auto* previous = std::cout.rdbuf(captured.rdbuf());

  nb::Model<float> classifier;
  classifier.add<nb::nn::Dense>(2, 16).add<nb::nn::ReLU>().add<nb::nn::Dense>(16, 3);
  classifier.compile(nb::optim::AdamOptions{.lr = 0.01}, nb::loss::CrossEntropy{},
                     {nb::metrics::Accuracy{}, nb::metrics::TopKAccuracy(2)});
  classifier.fit(points, labels, {.epochs = 30, .batch_size = 32, .verbose = 0});
  auto scores = classifier.evaluate(points, labels);            // "accuracy", "loss", "top_2_accuracy"
  auto predicted = nb::argmax(classifier.predict(points), -1);  // class ids [N]
  std::cout << nb::metrics::format_confusion_matrix(nb::metrics::confusion_matrix(predicted, labels, 3),
                                                    {"red", "green", "blue"});

  std::cout.rdbuf(previous);
  REQUIRE(scores.at("accuracy") > 0.95);
  REQUIRE(scores.size() == 3);
  REQUIRE_THAT(captured.str(), StartsWith("true \\ predicted    red  green   blue\nred   "));
}

TEST_CASE("docs/training.md: callbacks", "[train][docs]") {
  InTemporaryDirectory directory("docs_callbacks");
  nb::manual_seed(4);
  const Line line = make_line(100);
  auto x = line.x, y = line.y;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.05}, nb::loss::MSE{});
  std::ostringstream captured;
  auto* previous = std::cout.rdbuf(captured.rdbuf());

  auto early_stopping = std::make_shared<nb::train::EarlyStopping>(
      nb::train::EarlyStoppingOptions{.monitor = "val_loss", .patience = 3, .restore_best_weights = true});
  auto history =
      model.fit(x, y,
                {.epochs = 100,
                 .validation_split = 0.2,
                 .callbacks = {early_stopping, nb::train::TerminateOnNaN{}, nb::train::CSVLogger("training_log.csv")},
                 .verbose = 0});
  std::cout << "stopped after epoch " << early_stopping->stopped_epoch() + 1 << "\n";

  nb::train::LearningRateScheduler halve_every_10(
      [](int epoch, double lr) { return epoch > 0 && epoch % 10 == 0 ? lr / 2 : lr; });
  nb::train::LambdaCallback print_loss({.on_epoch_end = [](int epoch, nb::train::Logs& logs) {
    if (epoch % 10 == 0) std::cout << "epoch " << epoch << ": loss " << logs.at("loss") << "\n";
  }});
  model.fit(x, y, {.epochs = 30, .callbacks = {halve_every_10, print_loss}, .verbose = 0});

  nb::train::ModelCheckpoint checkpoint("model-{epoch:03d}.nabla", {.monitor = "val_loss", .save_best_only = true});
  model.fit(x, y, {.epochs = 5, .validation_split = 0.2, .callbacks = {checkpoint}, .verbose = 0});
  auto restored = nb::io::load_checkpoint("model-001.nabla");

  std::cout.rdbuf(previous);
  REQUIRE(history.size() >= 4);
  REQUIRE(model.optimizer().lr() == Approx(0.05 / 4));
  REQUIRE_THAT(captured.str(), StartsWith("stopped after epoch ") && Contains("epoch 20: loss "));
  REQUIRE(count_of(read_file("training_log.csv"), "\n") == history.size() + 1);
  REQUIRE(restored.metadata_number<int>("epoch") == 1);
}

TEST_CASE("docs/training.md: every code block of the page is in this file", "[train][docs]") {
  const std::string docs_path = std::string(NABLA_FIXTURE_DIR) + "/../../docs/training.md";
  const std::string tests_path = std::string(NABLA_FIXTURE_DIR) + "/../test_train.cpp";
  // Compare line by line, ignoring indentation and blank lines.
  auto normalized_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      lines.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
    }
    return lines;
  };
  const std::vector<std::string> test_lines = normalized_lines(read_file(tests_path));
  const std::string docs = read_file(docs_path);
  int blocks = 0;
  for (std::size_t open = docs.find("```cpp\n"); open != std::string::npos; open = docs.find("```cpp\n", open + 1)) {
    const std::size_t begin = open + 7, end = docs.find("```", begin);
    REQUIRE(end != std::string::npos);
    const std::vector<std::string> block = normalized_lines(docs.substr(begin, end - begin));
    INFO("docs/training.md block " << blocks + 1 << ":\n" << docs.substr(begin, end - begin));
    const bool found =
        std::search(test_lines.begin(), test_lines.end(), block.begin(), block.end()) != test_lines.end();
    REQUIRE(found);
    ++blocks;
  }
  REQUIRE(blocks >= 8);
}

TEST_CASE("docs/training.md: parameter groups, the cosine schedule, gradient accumulation", "[train][docs]") {
  nb::manual_seed(3);
  const std::int64_t vocab_size = 20;
  const auto ids = nb::randint(0, vocab_size, {64}, 5).to_vector();
  const auto tokens = nb::from_vector<float>(std::vector<float>(ids.begin(), ids.end()), {64});
  std::vector<std::int64_t> following(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) following[i] = (ids[i] + 1) % vocab_size;
  const auto next_tokens = nb::from_vector<std::int64_t>(following, {64});

  nb::nn::Sequential<float> lm;
  lm.add<nb::nn::Embedding>(vocab_size, 16).add<nb::nn::LayerNorm>(16).add<nb::nn::Dense>(16, vocab_size);
  // weight decay on the Dense matrix only: not on biases, LayerNorm or embeddings (GPT's rule)
  nb::optim::AdamW<float> optimizer(nb::optim::weight_decay_groups(lm, 0.1), {.lr = 3e-3});
  // linear warmup over 10 steps, then cosine decay to a tenth of the rate at step 100
  nb::optim::CosineWithWarmup schedule(optimizer, {.warmup_steps = 10, .total_steps = 100, .min_factor = 0.1});
  for (int step = 0; step < 100; ++step) {
    optimizer.zero_grad();
    nb::loss::cross_entropy(lm(tokens), next_tokens).backward();
    optimizer.step();
    schedule.step();  // once per optimizer step
  }
  nb::manual_seed(3);  // the same model untrained, for comparison
  nb::nn::Sequential<float> untrained;
  untrained.add<nb::nn::Embedding>(vocab_size, 16).add<nb::nn::LayerNorm>(16).add<nb::nn::Dense>(16, vocab_size);
  const float first_loss = nb::loss::cross_entropy(untrained(tokens), next_tokens).item();
  REQUIRE(nb::loss::cross_entropy(lm(tokens), next_tokens).item() < first_loss / 2);
  REQUIRE(optimizer.lr() == Approx(3e-4));
  REQUIRE(optimizer.group_weight_decay(0) == Approx(0.1));
  REQUIRE(optimizer.group_parameters(0).size() == 1);  // the Dense weight

  nb::nn::Dense<float> layer(16, 4);
  nb::optim::AdamW<float> grouped(
      {{.params = {layer.weight()}, .weight_decay = 0.1}, {.params = {layer.bias()}, .lr = 1e-3, .weight_decay = 0}},
      {.lr = 3e-4});
  grouped.set_group_lr(1, 5e-4);  // group_lr(g), group_weight_decay(g), group_count(), add_param_group
  REQUIRE(grouped.group_lr(0) == Approx(3e-4));
  REQUIRE(grouped.group_lr(1) == Approx(5e-4));

  auto x = nb::linspace<float>(-1, 1, 200).reshape({200, 1});
  auto y = 2.0f * x + 1.0f;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
  model.fit(x, y, {.epochs = 5, .batch_size = 8, .verbose = 0, .accumulation_steps = 4});  // steps as batches of 32
  REQUIRE(model.optimizer().step_count() == 5 * 7);  // 25 batches a epoch: 6 windows of 4 and one of 1

  nb::Model<float> net;
  net.add<nb::nn::Dense>(1, 1);
  nb::optim::SGD<float> sgd(net.parameters(), {.lr = 0.1});
  const int micro_batches = 4;
  sgd.zero_grad();
  for (int i = 0; i < micro_batches; ++i) {
    auto loss = nb::loss::mse(net(x.narrow(0, 8 * i, 8)), y.narrow(0, 8 * i, 8)) * (1.0f / micro_batches);
    loss.backward();
  }
  sgd.step();
  REQUIRE(sgd.step_count() == 1);
}

}  // namespace test_train
