// Tests of model files (train/model_file.hpp): model.save / model.load on a Sequential,
// nb::train::load_model, and ModelCheckpoint's default save, which writes the same file.
// Round trips bit for bit, exact resume of fit() (shuffle and dropout on), a different
// architecture or optimizer named in the error before anything changes, damaged files,
// atomic saves, rebuilding every built-in layer, hostile layer configurations, and the code
// of docs/model_files.md's "Saving and loading a model" (a test compares it with the page).
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nabla/nabla.hpp>
#include <optional>
#include <string>
#include <vector>

#include "temp_dir.hpp"

#ifndef NABLA_FIXTURE_DIR
#define NABLA_FIXTURE_DIR "tests/fixtures"
#endif

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_model_file {

namespace nb = nabla;
namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<unsigned char>;

namespace {

using nabla_test::TempDir;

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

std::string read_text(const std::string& path) {
  const Bytes bytes = read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

/// Every parameter and buffer, bit for bit.
void require_same_weights(const nb::nn::Module<float>& actual, const nb::nn::Module<float>& expected) {
  const auto actual_state = actual.state_dict(), expected_state = expected.state_dict();
  REQUIRE(actual_state.size() == expected_state.size());
  for (const auto& [name, tensor] : expected_state) {
    INFO("parameter " << name);
    REQUIRE(actual_state.count(name) == 1);
    REQUIRE(actual_state.at(name).shape() == tensor.shape());
    REQUIRE(actual_state.at(name).to_vector() == tensor.to_vector());
  }
}

/// Token sequences [count, steps] of ids in [0, vocabulary) and a label: does token 1 occur?
struct Sequences {
  nb::Tensor<float> x, y;
};
Sequences make_sequences(std::int64_t count, std::int64_t steps, std::int64_t vocabulary, std::uint64_t seed) {
  const std::vector<float> draws = nb::uniform<float>({count, steps}, 0.0f, 1.0f, seed).to_vector();
  std::vector<float> ids, labels;
  for (std::int64_t i = 0; i < count; ++i) {
    float label = 0;
    for (std::int64_t t = 0; t < steps; ++t) {
      const float draw = draws[static_cast<std::size_t>(i * steps + t)];
      const float id = std::min(static_cast<float>(vocabulary - 1), std::floor(draw * static_cast<float>(vocabulary)));
      ids.push_back(id);
      if (id == 1.0f) label = 1;
    }
    labels.push_back(label);
  }
  return {nb::from_vector<float>(ids, {count, steps}), nb::from_vector<float>(labels, {count})};
}

/// A small regression model with dropout, for the resume tests.
void build_regressor(nb::Model<float>& model) {
  model.add<nb::nn::Dense>(3, 16).add<nb::nn::Tanh>().add<nb::nn::Dropout>(0.3).add<nb::nn::Dense>(16, 1);
  model.compile(nb::optim::AdamOptions{.lr = 0.02}, nb::loss::MSE{}, {nb::metrics::MAE{}});
}

struct Regression {
  nb::Tensor<float> x, y;
};
Regression make_regression() {
  const auto x = nb::randn<float>({40, 3}, /*seed=*/11);
  const auto noise = nb::randn<float>({40, 1}, /*seed=*/12);
  return {x, nb::sum(x, {1}, /*keepdim=*/true) * 0.5f + 0.1f * noise};
}

std::vector<double> tail(const std::vector<double>& values, std::size_t from) {
  return std::vector<double>(values.begin() + static_cast<long>(from), values.end());
}
std::vector<double> head(const std::vector<double>& values, std::size_t count) {
  return std::vector<double>(values.begin(), values.begin() + static_cast<long>(count));
}

}  // namespace

// ---- the code of docs/model_files.md, "Saving and loading a model" (kept verbatim) --------------

namespace {

// [model-file snippet: save-and-load]
// The model of a run, built the same way in every process: layers, then compile.
void build(nb::Model<float>& model) {
  model.add<nb::nn::Embedding>(20, 8)
      .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
      .add<nb::nn::Dropout>(0.2)
      .add<nb::nn::Dense>(16, 1)
      .add<nb::nn::Sigmoid>();
  model.compile(nb::optim::AdamOptions{.lr = 1e-2}, nb::loss::BinaryCrossEntropy{}, {nb::metrics::Accuracy{}});
}

// Trains two epochs and saves: weights, Adam's moments, the epoch and the random generator.
nb::train::History first_run(const std::string& path, const nb::Tensor<float>& x, const nb::Tensor<float>& y) {
  nb::Model<float> model;
  build(model);
  nb::train::History history = model.fit(x, y, {.epochs = 2, .batch_size = 16, .verbose = 0});
  model.save(path);  // atomic: a crash here leaves the previous file as it was
  return history;
}

// Another process continues: fit() picks up after the saved epoch, with the same shuffles and
// dropout masks, so epochs 3 and 4 give the losses an uninterrupted run would have.
nb::train::History resumed_run(const std::string& path, const nb::Tensor<float>& x, const nb::Tensor<float>& y) {
  nb::Model<float> model;
  build(model);
  model.load(path);  // nb::IOError if a layer differs or the file is damaged; then nothing changed
  return model.fit(x, y, {.epochs = 4, .batch_size = 16, .verbose = 0});
}

// For predictions the file alone is enough: load_model rebuilds the layers from it.
nb::Tensor<float> predict_from_file(const std::string& path, const nb::Tensor<float>& x) {
  std::shared_ptr<nb::Model<float>> model = nb::train::load_model<float>(path);
  return model->predict(x);
}
// [end snippet]

}  // namespace

TEST_CASE("docs: a run saved after epoch 2 and resumed gives the losses of an uninterrupted run",
          "[model_file][docs]") {
  TempDir directory;
  const Sequences data = make_sequences(64, 6, 20, /*seed=*/3);

  nb::manual_seed(42);
  nb::Model<float> straight;
  build(straight);
  const nb::train::History uninterrupted = straight.fit(data.x, data.y, {.epochs = 4, .batch_size = 16, .verbose = 0});
  REQUIRE(uninterrupted["loss"].back() < uninterrupted["loss"].front());  // it does learn

  nb::manual_seed(42);
  const nb::train::History first = first_run(directory.file("run.nabla"), data.x, data.y);
  nb::manual_seed(999);  // the "new process" starts with other weights and another generator position
  const nb::train::History second = resumed_run(directory.file("run.nabla"), data.x, data.y);

  REQUIRE(first.epochs() == std::vector<int>{0, 1});
  REQUIRE(second.epochs() == std::vector<int>{2, 3});
  for (const std::string name : {"loss", "accuracy"}) {
    INFO(name);
    REQUIRE(first[name] == head(uninterrupted[name], 2));
    REQUIRE(second[name] == tail(uninterrupted[name], 2));
  }

  // load_model rebuilds the same layers from the file and predicts bit for bit the same.
  nb::manual_seed(42);
  nb::Model<float> reference;
  build(reference);
  reference.load(directory.file("run.nabla"));
  REQUIRE(predict_from_file(directory.file("run.nabla"), data.x).to_vector() == reference.predict(data.x).to_vector());
}

// ---- round trips -----------------------------------------------------------------------------

TEST_CASE("model.save / model.load round-trip: predictions equal bit for bit", "[model_file]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  const Sequences data = make_sequences(32, 5, 20, /*seed=*/4);

  SECTION("a compiled, trained model: weights, optimizer, epoch and generator") {
    nb::manual_seed(1);
    nb::Model<float> model;
    build(model);
    model.fit(data.x, data.y, {.epochs = 3, .batch_size = 8, .verbose = 0});
    REQUIRE(model.completed_epochs() == 3);
    model.save(path);

    const nb::io::Checkpoint file = nb::io::load_checkpoint(path);
    REQUIRE(file.metadata_text("model.config") ==
            "Embedding(20, 8)\nLSTM(8, 16, return_sequences=false)\nDropout(0.2)\nDense(16, 1)\nSigmoid()");
    REQUIRE(file.metadata_text("optimizer.config") ==
            "Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0, amsgrad=false)");
    REQUIRE(file.metadata_number<int>("epoch") == 3);
    REQUIRE(file.metadata_number<std::uint64_t>("rng.offset") == nb::default_generator().offset());
    REQUIRE(file.contains("optimizer.0.exp_avg"));

    nb::manual_seed(2);
    nb::Model<float> restored;
    build(restored);
    nb::manual_seed(77);
    restored.load(path);
    require_same_weights(restored, model);
    REQUIRE(restored.predict(data.x).to_vector() == model.predict(data.x).to_vector());
    REQUIRE(restored.completed_epochs() == 3);
    REQUIRE(restored.optimizer().step_count() == model.optimizer().step_count());
    REQUIRE(restored.optimizer().lr() == model.optimizer().lr());
    REQUIRE(nb::default_generator().offset() == file.metadata_number<std::uint64_t>("rng.offset"));
    const auto expected_state = model.optimizer().state(), actual_state = restored.optimizer().state();
    for (std::size_t i = 0; i < expected_state.parameters.size(); ++i)
      for (const auto& [name, buffer] : expected_state.parameters[i].buffers)
        REQUIRE(actual_state.parameters[i].buffers.at(name).to_vector() == buffer.to_vector());
  }

  SECTION("an uncompiled model: configuration and weights only") {
    nb::manual_seed(5);
    nb::Model<float> model;
    model.add<nb::nn::Dense>(4, 6, nb::nn::DenseOptions{.bias = false}).add<nb::nn::ReLU>().add<nb::nn::Dense>(6, 2);
    model.save(path);
    const nb::io::Checkpoint file = nb::io::load_checkpoint(path);
    REQUIRE(file.metadata_text("model.config") == "Dense(4, 6, bias=false)\nReLU()\nDense(6, 2)");
    REQUIRE_FALSE(file.has_metadata("epoch"));
    REQUIRE_FALSE(file.has_metadata("optimizer.type"));

    nb::manual_seed(6);
    nb::Model<float> restored;
    restored.add<nb::nn::Dense>(4, 6, nb::nn::DenseOptions{.bias = false}).add<nb::nn::ReLU>().add<nb::nn::Dense>(6, 2);
    // Compiled: the file has no training state, so only the weights are taken.
    restored.compile(nb::optim::SGDOptions{.lr = 0.1}, nb::loss::MSE{});
    const std::uint64_t offset = nb::default_generator().offset();
    restored.load(path);
    require_same_weights(restored, model);
    REQUIRE(restored.completed_epochs() == 0);
    REQUIRE(nb::default_generator().offset() == offset);
    const auto x = nb::randn<float>({3, 4}, /*seed=*/9);
    REQUIRE(restored.predict(x).to_vector() == model.predict(x).to_vector());
  }

  SECTION("a compiled model's file loads into an uncompiled one: the weights, and nothing global") {
    nb::manual_seed(1);
    nb::Model<float> model;
    build(model);
    model.fit(data.x, data.y, {.epochs = 1, .batch_size = 8, .verbose = 0});
    model.save(path);
    nb::Model<float> restored;
    restored.add<nb::nn::Embedding>(20, 8)
        .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
        .add<nb::nn::Dropout>(0.2)
        .add<nb::nn::Dense>(16, 1)
        .add<nb::nn::Sigmoid>();
    nb::manual_seed(123);
    restored.load(path);
    REQUIRE(nb::default_generator().offset() == 0);  // the global generator was not touched
    require_same_weights(restored, model);
  }
}

// ---- exact resume ------------------------------------------------------------------------------

TEST_CASE("fit stopped after epoch k, saved, loaded into a new model and continued gives the same losses",
          "[model_file][resume]") {
  TempDir directory;
  const std::string path = directory.file("resume.nabla");
  const Regression data = make_regression();
  const int threads = nb::get_num_threads();

  // Shuffled by the global generator (dropout draws from it too), or by a seed of fit's own.
  for (const bool seeded : {false, true}) {
    INFO((seeded ? "seeded shuffle" : "global generator"));
    const std::optional<std::uint64_t> seed = seeded ? std::optional<std::uint64_t>(21) : std::nullopt;
    const auto options = [&](int epochs) {
      return nb::train::FitOptions<float>{
          .epochs = epochs, .batch_size = 8, .validation_split = 0.25, .shuffle = true, .seed = seed, .verbose = 0};
    };

    nb::manual_seed(3);
    nb::Model<float> straight;
    build_regressor(straight);
    const nb::train::History uninterrupted = straight.fit(data.x, data.y, options(5));

    nb::manual_seed(3);
    nb::Model<float> stopped;
    build_regressor(stopped);
    const nb::train::History before = stopped.fit(data.x, data.y, options(2));
    stopped.save(path);

    nb::manual_seed(1000);  // other initial weights, another generator position
    nb::Model<float> resumed;
    build_regressor(resumed);
    resumed.load(path);
    REQUIRE(resumed.completed_epochs() == 2);
    REQUIRE(nb::get_num_threads() == threads);
    const nb::train::History after = resumed.fit(data.x, data.y, options(5));

    REQUIRE(after.epochs() == std::vector<int>{2, 3, 4});
    for (const std::string name : {"loss", "mae", "val_loss", "val_mae"}) {
      INFO(name);
      REQUIRE(before[name] == head(uninterrupted[name], 2));
      REQUIRE(after[name] == tail(uninterrupted[name], 2));
    }
    require_same_weights(resumed, straight);
    REQUIRE(resumed.completed_epochs() == 5);

    // The saved epoch is used once: a later fit counts from 0 again (Keras), unless told.
    const nb::train::History again = resumed.fit(data.x, data.y, {.epochs = 1, .verbose = 0});
    REQUIRE(again.epochs() == std::vector<int>{0});
  }
}

TEST_CASE("ModelCheckpoint writes the same model file: resuming from it is exact too", "[model_file][resume]") {
  TempDir directory;
  const Regression data = make_regression();
  const std::string pattern = directory.file("epoch-{epoch}.nabla");

  nb::manual_seed(8);
  nb::Model<float> straight;
  build_regressor(straight);
  const nb::train::History uninterrupted = straight.fit(
      data.x, data.y, {.epochs = 4, .batch_size = 8, .callbacks = {nb::train::ModelCheckpoint(pattern)}, .verbose = 0});

  const std::string after_two = directory.file("epoch-2.nabla");
  REQUIRE(nb::io::load_checkpoint(after_two).metadata_text("model.config") ==
          "Dense(3, 16)\nTanh()\nDropout(0.3)\nDense(16, 1)");
  nb::manual_seed(9);
  nb::Model<float> resumed;
  build_regressor(resumed);
  resumed.load(after_two);
  const nb::train::History rest = resumed.fit(data.x, data.y, {.epochs = 4, .batch_size = 8, .verbose = 0});
  REQUIRE(rest["loss"] == tail(uninterrupted["loss"], 2));
  require_same_weights(resumed, straight);

  // An explicit initial_epoch wins over the file's epoch; one beyond `epochs` says why.
  resumed.load(after_two);
  REQUIRE(resumed.fit(data.x, data.y, {.epochs = 4, .batch_size = 8, .verbose = 0, .initial_epoch = 3}).epochs() ==
          std::vector<int>{3});
  resumed.load(directory.file("epoch-4.nabla"));
  REQUIRE_THROWS_WITH(resumed.fit(data.x, data.y, {.epochs = 2, .verbose = 0}),
                      Contains("the model was loaded after epoch 4") && Contains("epochs = 2"));
}

// ---- mismatches --------------------------------------------------------------------------------

TEST_CASE("load names the first layer that differs and changes nothing", "[model_file][errors]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  nb::manual_seed(1);
  nb::Model<float> saved;
  saved.add<nb::nn::Embedding>(30, 8)
      .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
      .add<nb::nn::Dense>(16, 1)
      .add<nb::nn::Sigmoid>();
  saved.compile(nb::optim::AdamOptions{}, nb::loss::BinaryCrossEntropy{});
  saved.save(path);

  auto require_unchanged_after_failed_load = [&](nb::Model<float>& model, const std::string& message) {
    const auto before = model.state_dict();
    const std::uint64_t offset = nb::default_generator().offset();
    REQUIRE_THROWS_AS(model.load(path), nb::IOError);
    REQUIRE_THROWS_WITH(model.load(path), Contains(message));
    for (const auto& [name, tensor] : model.state_dict()) REQUIRE(tensor.to_vector() == before.at(name).to_vector());
    REQUIRE(nb::default_generator().offset() == offset);
  };

  SECTION("another hidden size") {
    nb::Model<float> model;
    model.add<nb::nn::Embedding>(30, 8)
        .add<nb::nn::LSTM>(8, 32, nb::nn::LSTMOptions{.return_sequences = false})
        .add<nb::nn::Dense>(32, 1)
        .add<nb::nn::Sigmoid>();
    require_unchanged_after_failed_load(
        model,
        "layer 1: the file has LSTM(8, 16, return_sequences=false) but the model has LSTM(8, 32, "
        "return_sequences=false)");
  }
  SECTION("another option") {
    nb::Model<float> model;
    model.add<nb::nn::Embedding>(30, 8, nb::nn::EmbeddingOptions{.padding_idx = 0})
        .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
        .add<nb::nn::Dense>(16, 1)
        .add<nb::nn::Sigmoid>();
    require_unchanged_after_failed_load(
        model, "layer 0: the file has Embedding(30, 8) but the model has Embedding(30, 8, padding_idx=0)");
  }
  SECTION("a layer less") {
    nb::Model<float> model;
    model.add<nb::nn::Embedding>(30, 8)
        .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
        .add<nb::nn::Dense>(16, 1);
    require_unchanged_after_failed_load(
        model, "the file has 4 layers but the model has 3 (layer 3 is Sigmoid() in the file only)");
  }
  SECTION("another optimizer, or other hyperparameters") {
    nb::Model<float> model;
    model.add<nb::nn::Embedding>(30, 8)
        .add<nb::nn::LSTM>(8, 16, nb::nn::LSTMOptions{.return_sequences = false})
        .add<nb::nn::Dense>(16, 1)
        .add<nb::nn::Sigmoid>();
    model.compile(nb::optim::SGDOptions{.lr = 0.1, .momentum = 0.9}, nb::loss::BinaryCrossEntropy{});
    require_unchanged_after_failed_load(
        model,
        "the file's optimizer is Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0, amsgrad=false) but the "
        "model is compiled with SGD(momentum=0.9, dampening=0, weight_decay=0, nesterov=false)");
    model.compile(nb::optim::AdamOptions{.beta2 = 0.99}, nb::loss::BinaryCrossEntropy{});
    require_unchanged_after_failed_load(model, "but the model is compiled with Adam(beta1=0.9, beta2=0.99,");
    REQUIRE(model.optimizer().step_count() == 0);
  }
}

TEST_CASE("load rejects damaged files with an IOError that says what is wrong", "[model_file][errors]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  nb::manual_seed(1);
  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 2);
  model.compile(nb::optim::AdamOptions{}, nb::loss::MSE{});
  model.fit(nb::randn<float>({16, 4}, 1), nb::randn<float>({16, 2}, 2), {.epochs = 1, .verbose = 0});
  model.save(path);
  const Bytes good = read_bytes(path);

  nb::manual_seed(2);
  nb::Model<float> target;
  target.add<nb::nn::Dense>(4, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 2);
  target.compile(nb::optim::AdamOptions{}, nb::loss::MSE{});
  const auto before = target.state_dict();
  const std::string damaged = directory.file("damaged.nabla");
  auto require_rejected = [&](const Bytes& bytes, const std::string& message) {
    write_bytes(damaged, bytes);
    REQUIRE_THROWS_AS(target.load(damaged), nb::IOError);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains(damaged) && Contains(message));
    for (const auto& [name, tensor] : target.state_dict()) REQUIRE(tensor.to_vector() == before.at(name).to_vector());
    REQUIRE(target.completed_epochs() == 0);
  };

  SECTION("truncated") {
    for (const std::size_t length : {std::size_t{0}, std::size_t{20}, good.size() / 2, good.size() - 1}) {
      INFO("cut at " << length);
      require_rejected(Bytes(good.begin(), good.begin() + static_cast<long>(length)),
                       length < 8 ? "not a nabla checkpoint" : "truncated");
    }
  }
  SECTION("a flipped byte in a tensor's data: its CRC-32 no longer matches") {
    // Find the first weight's bytes in the file (the data is stored little-endian, as here).
    const std::vector<float> weight = model.state_dict().at("0.weight").to_vector();
    Bytes pattern(weight.size() * sizeof(float));
    std::memcpy(pattern.data(), weight.data(), pattern.size());
    const auto found = std::search(good.begin(), good.end(), pattern.begin(), pattern.end());
    REQUIRE(found != good.end());
    Bytes corrupt = good;
    corrupt[static_cast<std::size_t>(found - good.begin()) + 5] ^= 0x10;
    require_rejected(corrupt, "the data of tensor 'model.0.weight' is corrupt: its CRC-32 is");
  }
  SECTION("another format version") {
    Bytes newer = good;
    newer[8] = 2;
    require_rejected(newer, "unsupported checkpoint format version 2 (this nabla reads version 1)");
  }
  SECTION("not a nabla file") {
    const std::string text = "epoch,loss\n0,0.5\n1,0.25\n";
    require_rejected(Bytes(text.begin(), text.end()), "not a nabla checkpoint: the file does not start with the magic");
  }
  SECTION("a checkpoint without a layer configuration") {
    nb::io::Checkpoint weights_only;
    nb::io::add_module_state(weights_only, model);
    nb::io::save_checkpoint(damaged, weights_only);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains("no layer configuration") && Contains("model.config"));
    REQUIRE_THROWS_WITH(nb::train::load_model<float>(damaged), Contains("no layer configuration"));
  }
  SECTION("consistent but wrong contents: a tensor's shape, the epoch, an optimizer state that does not fit") {
    nb::io::Checkpoint forged = nb::io::load_checkpoint(path);
    forged.set_tensor("model.2.bias", nb::zeros<float>({3}));
    nb::io::save_checkpoint(damaged, forged);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains("tensor 'model.2.bias' has shape [3] but parameter '2.bias'"));
    REQUIRE(target.optimizer().step_count() == 0);  // the optimizer state was put back

    forged = nb::io::load_checkpoint(path);
    forged.set_metadata("epoch", -3);
    nb::io::save_checkpoint(damaged, forged);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains("a negative epoch count"));
    forged.set_metadata("epoch", "many");
    nb::io::save_checkpoint(damaged, forged);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains(damaged) && Contains("metadata 'epoch' is 'many'"));

    forged = nb::io::load_checkpoint(path);
    forged.set_tensor("optimizer.0.exp_avg", nb::zeros<float>({2, 2}));
    nb::io::save_checkpoint(damaged, forged);
    REQUIRE_THROWS_WITH(target.load(damaged), Contains("the file's optimizer state does not fit"));
    for (const auto& [name, tensor] : target.state_dict()) REQUIRE(tensor.to_vector() == before.at(name).to_vector());
  }
}

// ---- atomic save -------------------------------------------------------------------------------

TEST_CASE("model.save never leaves a half-written file: a failure at any step keeps the old one",
          "[model_file][atomic]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  nb::manual_seed(1);
  nb::Model<float> old_model;
  old_model.add<nb::nn::Dense>(4, 3);
  old_model.save(path);
  const Bytes previous = read_bytes(path);

  // Big enough (about 1 MB) to need several write() calls.
  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 512).add<nb::nn::ReLU>().add<nb::nn::Dense>(512, 512);
  model.compile(nb::optim::AdamOptions{}, nb::loss::MSE{});
  int failures = 0;
  for (int operation = 1; operation < 100; ++operation) {
    INFO("failing file operation " << operation);
    const nb::io::detail::WriteFaultInjection inject(operation);
    try {
      model.save(path);
    } catch (const nb::IOError& error) {
      REQUIRE(inject.fired());
      REQUIRE_THAT(error.what(), Contains("was left unchanged"));
      REQUIRE(read_bytes(path) == previous);
      REQUIRE(directory.temporaries().empty());
      ++failures;
      continue;
    }
    REQUIRE_FALSE(inject.fired());
    break;
  }
  REQUIRE(failures >= 5);
  nb::Model<float> restored;
  restored.add<nb::nn::Dense>(4, 512).add<nb::nn::ReLU>().add<nb::nn::Dense>(512, 512);
  restored.load(path);
  require_same_weights(restored, model);
}

// ---- load_model ----------------------------------------------------------------------------------

TEST_CASE("load_model rebuilds every built-in layer and predicts identically", "[model_file][load_model]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  nb::manual_seed(7);
  auto block = std::make_shared<nb::nn::Sequential<float>>();
  block->add<nb::nn::Dense>(6, 6).add<nb::nn::GELU>();
  nb::Model<float> model;
  model.add<nb::nn::Embedding>(12, 4, nb::nn::EmbeddingOptions{.padding_idx = 0})
      .add<nb::nn::LSTM>(4, 5,
                         nb::nn::LSTMOptions{.num_layers = 2, .return_sequences = true, .dropout = 0.25, .bias = false})
      .add<nb::nn::Dense>(5, 6, nb::nn::DenseOptions{.bias = false})
      .add(block)
      .add<nb::nn::LeakyReLU>(0.2)
      .add<nb::nn::Dropout>(0.5)
      .add<nb::nn::Tanh>()
      .add<nb::nn::Dense>(6, 3)
      .add<nb::nn::ReLU>()
      .add<nb::nn::LogSoftmax>(1)
      .add<nb::nn::Softmax>()
      .add<nb::nn::Sigmoid>();
  model.save(path);
  const std::string config = nb::io::load_checkpoint(path).metadata_text("model.config");
  REQUIRE(config ==
          "Embedding(12, 4, padding_idx=0)\n"
          "LSTM(4, 5, num_layers=2, return_sequences=true, dropout=0.25, bias=false)\n"
          "Dense(5, 6, bias=false)\n"
          "Sequential(Dense(6, 6), GELU())\n"
          "LeakyReLU(0.2)\nDropout(0.5)\nTanh()\nDense(6, 3)\nReLU()\nLogSoftmax(dim=1)\nSoftmax(dim=-1)\nSigmoid()");

  const std::uint64_t offset = nb::default_generator().offset();
  const std::shared_ptr<nb::Model<float>> rebuilt = nb::train::load_model<float>(path);
  REQUIRE(nb::default_generator().offset() == offset);  // loading draws nothing from the global generator
  REQUIRE(rebuilt->size() == model.size());
  rebuilt->save(directory.file("again.nabla"));
  REQUIRE(nb::io::load_checkpoint(directory.file("again.nabla")).metadata_text("model.config") == config);
  require_same_weights(*rebuilt, model);
  const auto x = nb::from_vector<float>({1, 2, 3, 0, 11, 5, 4, 4, 9, 0, 0, 1}, {3, 4});
  REQUIRE(rebuilt->predict(x).to_vector() == model.predict(x).to_vector());

  // A batch-first=false LSTM and double precision come back too.
  nb::Model<double> time_major;
  time_major.add<nb::nn::LSTM>(3, 4, nb::nn::LSTMOptions{.batch_first = false});
  time_major.save(path);
  REQUIRE(nb::io::load_checkpoint(path).metadata_text("model.config") ==
          "LSTM(3, 4, batch_first=false, return_sequences=false)");
  const auto sequence = nb::randn<double>({5, 2, 3}, /*seed=*/1);
  REQUIRE(nb::train::load_model<double>(path)->predict(sequence).to_vector() ==
          time_major.predict(sequence).to_vector());
}

namespace {
/// A layer nabla does not know.
class Scale : public nb::nn::Module<float> {
 public:
  nb::Tensor<float> forward(const nb::Tensor<float>& input) override { return input * 2.0f; }
  std::string type_name() const override { return "Scale"; }
  std::string describe() const override { return "factor 2\nsecond line"; }
};
}  // namespace

TEST_CASE("load_model refuses what it cannot rebuild, and hostile configurations", "[model_file][load_model][errors]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");

  SECTION("a layer of the user's own") {
    nb::Model<float> model;
    model.add<nb::nn::Dense>(2, 2).add(std::make_shared<Scale>());
    model.save(path);
    REQUIRE(nb::io::load_checkpoint(path).metadata_text("model.config") == "Dense(2, 2)\nScale(factor 2 second line)");
    REQUIRE_THROWS_WITH(nb::train::load_model<float>(path),
                        Contains("layer 1: Scale is not a built-in layer, so load_model cannot rebuild it"));
    // model.load into a model built in code still works.
    nb::Model<float> same;
    same.add<nb::nn::Dense>(2, 2).add(std::make_shared<Scale>());
    same.load(path);
    require_same_weights(same, model);
  }

  SECTION("forged configurations with valid checksums") {
    nb::manual_seed(3);
    nb::Model<float> model;
    model.add<nb::nn::Dense>(3, 2).add<nb::nn::Sigmoid>();
    model.save(path);
    const nb::io::Checkpoint good = nb::io::load_checkpoint(path);
    const std::string forged_path = directory.file("forged.nabla");
    auto load_with_config = [&](const std::string& config) {
      nb::io::Checkpoint forged = good;
      forged.set_metadata("model.config", config);
      nb::io::save_checkpoint(forged_path, forged);
      return nb::train::load_model<float>(forged_path);
    };
    REQUIRE(load_with_config("Dense(3, 2)\nSigmoid()")->size() == 2);
    // Sizes the file's tensors cannot back are refused before anything is allocated.
    REQUIRE_THROWS_WITH(load_with_config("Dense(100000000, 100000000)\nSigmoid()"),
                        Contains("layer 0: Dense needs 1.00000001e+16 parameter values but the file stores 8"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2)\nLSTM(2, 4611686018427387904)"), Contains("layer 1: LSTM needs"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2)\nEmbedding(1000000, 1000000)"), Contains("Embedding needs"));
    // Arguments the constructor refuses, or that are not what the layer takes.
    REQUIRE_THROWS_WITH(load_with_config("Dense(0, 2)\nSigmoid()"),
                        Contains("layer 0: Dense: the file's arguments are invalid"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2)\nDropout(1.5)"),
                        Contains("Dropout: the file's arguments are invalid"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3)\nSigmoid()"), Contains("Dense takes 2 positional arguments, got 1"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2, colour=1)\nSigmoid()"),
                        Contains("Dense has no argument 'colour'"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2, bias=maybe)\nSigmoid()"),
                        Contains("'bias' is 'maybe', not true or false"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2, bias=true, bias=true)\nSigmoid()"), Contains("given twice"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3.5, 2)\nSigmoid()"), Contains("argument 1 is '3.5', not an integer"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 99999999999999999999)\nSigmoid()"),
                        Contains("not an integer in range"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2)\nLeakyReLU(nan)"), Contains("not a finite number"));
    REQUIRE_THROWS_WITH(load_with_config("Sigmoid(Dense(3, 2))\nSigmoid()"), Contains("Sigmoid takes no layers"));
    // Syntax, nesting and extra lines.
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2\nSigmoid()"), Contains("expected ')'"));
    REQUIRE_THROWS_WITH(load_with_config("Dense(3, 2)) \nSigmoid()"),
                        Contains("unexpected text after the closing parenthesis"));
    REQUIRE_THROWS_WITH(load_with_config("\nSigmoid()"), Contains("layer 0: cannot read the layer configuration"));
    REQUIRE_THROWS_WITH(load_with_config(std::string(100000, '(')), Contains("expected a layer type"));
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += "Sequential(";
    REQUIRE_THROWS_WITH(load_with_config(deep), Contains("nested more than 32 deep"));
    // A configuration that parses but whose weights do not fit: the tensors' names and shapes are checked.
    REQUIRE_THROWS_WITH(load_with_config("Dense(2, 2)\nSigmoid()"),
                        Contains("tensor 'model.0.weight' has shape [2,3] but parameter '0.weight'"));
  }
}

// ---- the docs ------------------------------------------------------------------------------------

TEST_CASE("docs/model_files.md shows exactly the save-and-load code this file runs", "[model_file][docs]") {
  // Blocks marked <!-- model-file snippet: NAME --> must appear verbatim between
  // "// [model-file snippet: NAME]" and "// [end snippet]" in this file.
  const std::string markdown = read_text(std::string(NABLA_FIXTURE_DIR) + "/../../docs/model_files.md");
  const std::string code = read_text(std::string(NABLA_FIXTURE_DIR) + "/../test_model_file.cpp");
  int compared = 0;
  const std::string marker = "<!-- model-file snippet: ";
  for (std::size_t at = markdown.find(marker); at != std::string::npos; at = markdown.find(marker, at + 1)) {
    const std::size_t name_begin = at + marker.size();
    const std::string name = markdown.substr(name_begin, markdown.find(" -->", name_begin) - name_begin);
    const std::size_t block_begin = markdown.find("```cpp\n", at) + 7;
    const std::string block = markdown.substr(block_begin, markdown.find("```", block_begin) - block_begin);
    const std::string open = "// [model-file snippet: " + name + "]\n";
    INFO("snippet " << name);
    const std::size_t code_begin = code.find(open);
    REQUIRE(code_begin != std::string::npos);
    const std::size_t body = code_begin + open.size();
    REQUIRE(code.substr(body, code.find("// [end snippet]", body) - body) == block);
    ++compared;
  }
  REQUIRE(compared >= 1);
}

}  // namespace test_model_file
