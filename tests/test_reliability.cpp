// Issue 16's promises that unit tests can hold: exact resume with a Dropout's own generator,
// FitOptions::terminate_on_nan, stale temporaries removed by the next save, and predict from
// several threads on one shared model. (Fuzzing: fuzz/ and ctest fuzz_replay; kill -9 and a
// full disk: tests/crash/crash_safety.cpp and ctest crash_safety; docs/reliability.md.)
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "resume_model.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_reliability {

namespace nb = nabla;
using Catch::Matchers::Contains;

namespace {

/// A model whose training depends on a Dropout with its own seed (and one on the global
/// generator), compiled with Adam.
}  // namespace

TEST_CASE("a run with a seeded Dropout resumed from a model file is bit-identical to an uninterrupted one",
          "[reliability][resume]") {
  const auto x = nb::randn<float>({64, 4}, 11);
  const auto y = nb::randn<float>({64, 1}, 12);
  const nb::train::FitOptions<float> first_half{.epochs = 2, .batch_size = 8, .seed = 5, .verbose = 0};
  const nb::train::FitOptions<float> all{.epochs = 4, .batch_size = 8, .seed = 5, .verbose = 0};

  nb::manual_seed(3);
  nb::Model<float> uninterrupted = nabla_test::seeded_dropout_model();
  const auto full_history = uninterrupted.fit(x, y, all);

  nb::manual_seed(3);
  nb::Model<float> stopped = nabla_test::seeded_dropout_model();
  const auto history_before = stopped.fit(x, y, first_half);
  stopped.save("dropout_resume.nabla");
  // The saved file holds the layer's own generator position.
  const auto checkpoint = nb::io::load_checkpoint("dropout_resume.nabla");
  REQUIRE(checkpoint.has_metadata("model.2.generator.seed"));
  REQUIRE(checkpoint.metadata_text("model.2.generator.seed") == "77");
  REQUIRE(checkpoint.metadata_number<std::uint64_t>("model.2.generator.offset") > 0);

  nb::manual_seed(999);  // a new process: the global generator elsewhere; the file puts it back
  nb::Model<float> resumed = nabla_test::seeded_dropout_model();
  resumed.load("dropout_resume.nabla");
  const auto history_after = resumed.fit(x, y, all);

  REQUIRE(nabla_test::all_weights(resumed) == nabla_test::all_weights(uninterrupted));  // bit-identical
  std::vector<double> losses = history_before["loss"];
  for (const double loss : history_after["loss"]) losses.push_back(loss);
  REQUIRE(losses == full_history["loss"]);

  // Without restoring that generator the continuation differs: the test can fail.
  nb::manual_seed(999);
  nb::Model<float> without = nabla_test::seeded_dropout_model();
  without.load("dropout_resume.nabla");
  without[2]->own_generator()->set_state(77, 0);
  (void)without.fit(x, y, all);
  REQUIRE(nabla_test::all_weights(without) != nabla_test::all_weights(uninterrupted));
  std::filesystem::remove("dropout_resume.nabla");
}

TEST_CASE("io::add_module_state / load_module_state carry a layer's own generator", "[reliability][resume]") {
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(2, 2).add<nb::nn::Dropout>(0.5, nb::nn::DropoutOptions{.seed = 9});
  net[1]->own_generator()->set_state(9, 1234);
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, net);
  REQUIRE(checkpoint.metadata_text("model.1.generator.offset") == "1234");

  nb::nn::Sequential<float> other;
  other.add<nb::nn::Dense>(2, 2).add<nb::nn::Dropout>(0.5, nb::nn::DropoutOptions{.seed = 9});
  nb::io::load_module_state(checkpoint, other);
  REQUIRE(other[1]->own_generator()->offset() == 1234);

  // A malformed position is an IOError before anything changes.
  checkpoint.set_metadata("model.1.generator.offset", "twelve");
  nb::nn::Sequential<float> third;
  third.add<nb::nn::Dense>(2, 2).add<nb::nn::Dropout>(0.5, nb::nn::DropoutOptions{.seed = 9});
  const auto before = third[0]->state_dict().at("weight").to_vector();
  REQUIRE_THROWS_AS(nb::io::load_module_state(checkpoint, third), nb::IOError);
  REQUIRE(third[0]->state_dict().at("weight").to_vector() == before);
  REQUIRE(third[1]->own_generator()->offset() == 0);
}

TEST_CASE("FitOptions::terminate_on_nan stops at the first non-finite loss naming the epoch and batch",
          "[reliability][train]") {
  nb::manual_seed(5);
  auto x = nb::linspace<float>(-10, 10, 64).reshape({64, 1});
  auto y = 2.0f * x + 1.0f;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(1, 1);
  model.compile(nb::optim::SGDOptions{.lr = 1e12}, nb::loss::MSE{});  // diverges within the first epoch
  int batches = 0;
  nb::train::LambdaCallback count({.on_batch_end = [&](int, nb::train::Logs&) { ++batches; }});
  try {
    (void)model.fit(x, y,
                    {.epochs = 100,
                     .batch_size = 4,
                     .shuffle = false,
                     .callbacks = {count},
                     .verbose = 0,
                     .terminate_on_nan = true});
    FAIL("fit trained on a non-finite loss");
  } catch (const nb::ValueError& error) {
    const std::string message = error.what();
    REQUIRE_THAT(message, Contains("at epoch 0, batch " + std::to_string(batches)));
    REQUIRE_THAT(message, Contains("terminate_on_nan"));
  }
  REQUIRE(batches < 16);
  // Off (the default), the same run trains on through the NaNs, as before.
  nb::Model<float> quiet;
  quiet.add<nb::nn::Dense>(1, 1);
  quiet.compile(nb::optim::SGDOptions{.lr = 1e12}, nb::loss::MSE{});
  const auto history = quiet.fit(x, y, {.epochs = 2, .batch_size = 4, .verbose = 0});
  REQUIRE_FALSE(std::isfinite(history["loss"].back()));
}

TEST_CASE("a save removes the temporaries of writers that died, and only those", "[reliability][atomic]") {
  namespace fs = std::filesystem;
  const nabla_test::TempDir directory("stale");
  const std::string path = directory.file("run.nabla");
  // A process that has ended: its pid names no process any more.
  const ::pid_t dead = ::fork();
  if (dead == 0) std::_Exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = path + ".tmp." + std::to_string(dead) + ".3";
  const std::string live = path + ".tmp.1.0";                                     // pid 1 is alive
  const std::string mine = path + ".tmp." + std::to_string(::getpid()) + ".999";  // this process's
  const std::string unrelated = path + ".tmp.notes";
  for (const auto& name : {stale, live, mine, unrelated}) std::ofstream(name) << "x";
  nb::io::Checkpoint checkpoint;
  checkpoint.set_metadata("k", "v");
  nb::io::save_checkpoint(path, checkpoint);
  REQUIRE_FALSE(fs::exists(stale));
  REQUIRE(fs::exists(live));
  REQUIRE(fs::exists(mine));
  REQUIRE(fs::exists(unrelated));
  REQUIRE(nb::io::load_checkpoint(path).metadata_text("k") == "v");
}

TEST_CASE("predict and forward from 4 threads on one shared model in eval mode equal serial calls",
          "[reliability][threads]") {
  nb::manual_seed(21);
  nb::Model<float> model;
  model.add<nb::nn::Embedding>(50, 8)
      .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
      .add<nb::nn::Dropout>(0.5)
      .add<nb::nn::Dense>(16, 3)
      .add<nb::nn::Softmax>(-1);
  model.eval();  // what makes sharing safe: predict() then writes nothing to the model
  std::vector<nb::Tensor<float>> inputs;
  std::vector<std::vector<float>> serial_predict, serial_forward;
  for (int t = 0; t < 4; ++t) {
    std::vector<float> ids;
    for (int i = 0; i < 40 * 12; ++i) ids.push_back(static_cast<float>((i * 7 + t * 13) % 50));
    inputs.push_back(nb::from_vector<float>(ids, {40, 12}));
    serial_predict.push_back(model.predict(inputs.back(), 16).to_vector());
    nb::NoGradGuard no_grad;
    serial_forward.push_back(model.forward(inputs.back()).to_vector());
  }
  std::vector<std::vector<float>> threaded_predict(4), threaded_forward(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 5; ++repeat) {
        threaded_predict[static_cast<std::size_t>(t)] =
            model.predict(inputs[static_cast<std::size_t>(t)], 16).to_vector();
        nb::NoGradGuard no_grad;  // per thread
        threaded_forward[static_cast<std::size_t>(t)] = model.forward(inputs[static_cast<std::size_t>(t)]).to_vector();
      }
    });
  for (auto& thread : threads) thread.join();
  REQUIRE(threaded_predict == serial_predict);
  REQUIRE(threaded_forward == serial_forward);
  REQUIRE_FALSE(model.is_training());
}

}  // namespace test_reliability
