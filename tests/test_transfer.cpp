// Tests of transfer learning: freezing (module.requires_grad_ / set_trainable) and what it does
// to the graph, the gradients, the optimizers, summary() and model files; the UnfreezeAfter
// callback; loading a sub-tree of one model's file into part of another with PyTorch's
// missing / unexpected (and mismatched) keys; vocabulary alignment of embeddings.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_transfer {

namespace nb = nabla;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

using nabla_test::TempDir;

/// The spam classifier's shape in small: Embedding -> LSTM (last state) -> Dense -> Sigmoid.
std::shared_ptr<nb::Model<float>> classifier(std::int64_t vocabulary = 12, std::int64_t hidden = 5,
                                             std::int64_t outputs = 1, std::uint64_t seed = 1) {
  auto model = std::make_shared<nb::Model<float>>();
  model->add(std::make_shared<nb::nn::Embedding<float>>(vocabulary, 4, nb::nn::EmbeddingOptions{.seed = seed}))
      .add(std::make_shared<nb::nn::LSTM<float>>(4, hidden,
                                                 nb::nn::LSTMOptions{.return_sequences = false, .seed = seed + 1}))
      .add(std::make_shared<nb::nn::Dense<float>>(hidden, outputs, nb::nn::DenseOptions{.seed = seed + 2}))
      .add<nb::nn::Sigmoid>();
  return model;
}

/// Token ids [count, 6] and labels: does token 1 occur?
std::pair<nb::Tensor<float>, nb::Tensor<float>> sequences(std::int64_t count, std::uint64_t seed) {
  const auto draws = nb::uniform<float>({count, 6}, 0.0f, 1.0f, seed).to_vector();
  std::vector<float> ids, labels;
  for (std::int64_t i = 0; i < count; ++i) {
    float label = 0;
    for (std::int64_t t = 0; t < 6; ++t) {
      const float id = std::min(11.0f, std::floor(draws[static_cast<std::size_t>(i * 6 + t)] * 12.0f));
      ids.push_back(id);
      if (id == 1.0f) label = 1;
    }
    labels.push_back(label);
  }
  return {nb::from_vector<float>(ids, {count, 6}), nb::from_vector<float>(labels, {count, 1})};
}

std::map<std::string, std::vector<float>> values_of(const nb::nn::Module<float>& module) {
  std::map<std::string, std::vector<float>> values;
  for (const auto& [name, tensor] : module.named_parameters()) values[name] = tensor.to_vector();
  return values;
}

}  // namespace

// ---- freezing -------------------------------------------------------------------------------------

TEST_CASE("a frozen part gets no gradient and no graph beyond what its inputs need", "[transfer]") {
  auto model = classifier();
  const auto [x, y] = sequences(8, 3);
  // a gradient left over from before freezing is dropped
  nb::loss::binary_cross_entropy((*model)(x), y).backward();
  REQUIRE((*model)[1]->parameters()[0].grad().defined());
  (*model)[0]->requires_grad_(false);
  (*model)[1]->set_trainable(false);  // Keras's spelling
  for (const auto& parameter : (*model)[1]->parameters()) {
    CHECK_FALSE(parameter.requires_grad());
    CHECK_FALSE(parameter.grad().defined());
  }
  CHECK_FALSE((*model)[0]->trainable());
  CHECK((*model)[2]->trainable());
  CHECK((*model)[3]->trainable());  // no parameters: trainable, as in Keras
  // The embedding and the LSTM record no graph: the LSTM's output is a constant to autograd.
  const auto features = (*model)[1]->forward((*model)[0]->forward(x));
  CHECK_FALSE(features.requires_grad());
  CHECK(features.is_leaf());
  model->zero_grad();
  nb::loss::binary_cross_entropy((*model)(x), y).backward();
  for (const auto& parameter : (*model)[0]->parameters()) CHECK_FALSE(parameter.grad().defined());
  for (const auto& parameter : (*model)[1]->parameters()) CHECK_FALSE(parameter.grad().defined());
  for (const auto& parameter : (*model)[2]->parameters()) CHECK(parameter.grad().defined());
  // the graph backward() walks holds the head only; unfrozen, it reaches the embedding
  const std::string frozen_graph = nb::to_mermaid(nb::loss::binary_cross_entropy((*model)(x), y));
  CHECK_THAT(frozen_graph, Contains("sigmoid") && !Contains("lstm") && !Contains("embedding"));
  // counts
  CHECK(model->trainable_parameter_count() == (*model)[2]->parameter_count());
  CHECK(model->non_trainable_parameter_count() == (*model)[0]->parameter_count() + (*model)[1]->parameter_count());
  // unfreezing restores the flow
  (*model)[1]->requires_grad_(true);
  model->zero_grad();
  nb::loss::binary_cross_entropy((*model)(x), y).backward();
  for (const auto& parameter : (*model)[1]->parameters()) CHECK(parameter.grad().defined());
  for (const auto& parameter : (*model)[0]->parameters()) CHECK_FALSE(parameter.grad().defined());
  (*model)[0]->requires_grad_(true);
  CHECK_THAT(nb::to_mermaid(nb::loss::binary_cross_entropy((*model)(x), y)),
             Contains("lstm_layer_fused") && Contains("embedding"));
}

TEST_CASE("frozen parameters stay bit-identical through fit and Adam keeps no state for them", "[transfer]") {
  auto model = classifier();
  const auto [x, y] = sequences(32, 5);
  model->compile(nb::optim::AdamOptions{.lr = 0.01, .weight_decay = 0.01}, nb::loss::BinaryCrossEntropy{});
  // train a little first, so the frozen part has gradients and Adam moments already
  model->fit(x, y, {.epochs = 1, .batch_size = 8, .seed = 1, .verbose = 0});
  const auto optimizer_before = model->optimizer().state();
  (*model)[0]->requires_grad_(false);
  (*model)[1]->requires_grad_(false);
  const auto embedding_before = values_of(*(*model)[0]), lstm_before = values_of(*(*model)[1]);
  const auto dense_before = values_of(*(*model)[2]);
  model->fit(x, y, {.epochs = 3, .batch_size = 8, .seed = 1, .verbose = 0});
  CHECK(values_of(*(*model)[0]) == embedding_before);
  CHECK(values_of(*(*model)[1]) == lstm_before);
  CHECK(values_of(*(*model)[2]) != dense_before);
  // Adam's state of the frozen parameters (the first 5: embedding weight, 4 LSTM tensors) is untouched
  const auto optimizer_after = model->optimizer().state();
  const std::size_t frozen = (*model)[0]->parameters().size() + (*model)[1]->parameters().size();
  REQUIRE(frozen == 5);
  for (std::size_t i = 0; i < optimizer_after.parameters.size(); ++i) {
    INFO("parameter " << i);
    const auto& before = optimizer_before.parameters[i];
    const auto& after = optimizer_after.parameters[i];
    if (i < frozen) {
      CHECK(after.step == before.step);
      for (const auto& [name, buffer] : before.buffers) CHECK(after.buffers.at(name).to_vector() == buffer.to_vector());
    } else {
      CHECK(after.step == before.step + 12);
    }
  }
  // frozen from the start: Adam never creates state for them
  auto fresh = classifier();
  (*fresh)[0]->requires_grad_(false);
  fresh->compile(nb::optim::AdamOptions{.lr = 0.01}, nb::loss::BinaryCrossEntropy{});
  fresh->fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0});
  CHECK(fresh->optimizer().state().parameters[0].step == 0);
  CHECK(fresh->optimizer().state().parameters[0].buffers.empty());
}

TEST_CASE("summary prints trainable and non-trainable counts as Keras does", "[transfer]") {
  auto model = classifier();
  (*model)[0]->requires_grad_(false);
  const std::string text = model->summary({2, 6});
  const auto total = model->parameter_count(), embedding = (*model)[0]->parameter_count();
  CHECK_THAT(text, Contains("Total params: " + std::to_string(total)) &&
                       Contains("Trainable params: " + std::to_string(total - embedding)) &&
                       Contains("Non-trainable params: " + std::to_string(embedding)));
}

TEST_CASE("model files keep the frozen flags; files without them load as trainable", "[transfer][model_file]") {
  TempDir directory;
  const std::string path = directory.file("frozen.nabla");
  auto model = classifier();
  (*model)[1]->requires_grad_(false);
  model->save(path);
  const auto copy = nb::train::load_model<float>(path);
  for (const auto& [name, parameter] : copy->named_parameters()) {
    INFO(name);
    CHECK(parameter.requires_grad() == (name.rfind("1.", 0) != 0));
  }
  // model.load restores the file's flags into a model built in code
  auto built = classifier();
  (*built)[0]->requires_grad_(false);
  built->load(path);
  CHECK((*built)[0]->trainable());
  CHECK_FALSE((*built)[1]->trainable());
  // a file written before freezing existed (no "model.frozen"): every parameter trains
  nb::io::Checkpoint old = nb::io::load_checkpoint(path);
  old.metadata.erase("model.frozen");
  const std::string old_path = directory.file("old.nabla");
  nb::io::save_checkpoint(old_path, old);
  for (const auto& parameter : nb::train::load_model<float>(old_path)->parameters()) CHECK(parameter.requires_grad());
  // a frozen name the model lacks is an error, before anything changes
  nb::io::Checkpoint wrong = nb::io::load_checkpoint(path);
  wrong.set_metadata("model.frozen", "7.weight");
  const std::string wrong_path = directory.file("wrong.nabla");
  nb::io::save_checkpoint(wrong_path, wrong);
  auto target = classifier(12, 5, 1, 9);
  const auto before = values_of(*target);
  REQUIRE_THROWS_WITH(target->load(wrong_path), Contains("'7.weight' as frozen"));
  CHECK(values_of(*target) == before);
}

TEST_CASE("UnfreezeAfter freezes the pretrained part and unfreezes it at the right epoch", "[transfer][train]") {
  auto model = classifier();
  const auto [x, y] = sequences(16, 7);
  model->compile(nb::optim::AdamOptions{.lr = 0.01}, nb::loss::BinaryCrossEntropy{});
  const auto initial = values_of(*(*model)[1]);
  auto unfreeze = std::make_shared<nb::train::UnfreezeAfter<float>>(
      std::vector<std::shared_ptr<nb::nn::Module<float>>>{(*model)[0], (*model)[1]}, 2, /*verbose=*/1);
  std::vector<bool> trainable;
  std::vector<bool> lstm_unchanged;
  auto lstm = (*model)[1];
  std::ostringstream output;
  model->fit(
      x, y,
      {.epochs = 4,
       .batch_size = 8,
       .callbacks = {unfreeze, nb::train::LambdaCallback({.on_epoch_end =
                                                              [&](int, nb::train::Logs&) {
                                                                trainable.push_back(lstm->trainable());
                                                                lstm_unchanged.push_back(values_of(*lstm) == initial);
                                                              }})},
       .verbose = 2,
       .output = output});
  CHECK(trainable == std::vector<bool>{false, false, true, true});
  CHECK(lstm_unchanged == std::vector<bool>{true, true, false, false});
  REQUIRE(unfreeze->unfrozen_epoch().has_value());
  CHECK(*unfreeze->unfrozen_epoch() == 2);
  CHECK_THAT(output.str(), Contains("Epoch 3: UnfreezeAfter unfreezing"));
  // the one-line form deduces the element type
  nb::train::UnfreezeAfter one((*model)[0], 1);
  REQUIRE_THROWS_WITH(nb::train::UnfreezeAfter<float>((*model)[0], -1), Contains("epochs must be >= 0"));
}

TEST_CASE("discriminative learning rates: a smaller lr for the pretrained part through groups", "[transfer][train]") {
  auto model = classifier();
  const auto [x, y] = sequences(16, 8);
  nb::Model<float>& reference = *model;
  model->compile(
      [&reference](const std::vector<nb::Tensor<float>>&) {
        auto pretrained = reference[0]->parameters(), lstm = reference[1]->parameters();
        pretrained.insert(pretrained.end(), lstm.begin(), lstm.end());
        return std::make_shared<nb::optim::Adam<float>>(
            std::vector<nb::optim::ParamGroup<float>>{{.params = pretrained, .lr = 0.0},
                                                      {.params = reference[2]->parameters()}},
            nb::optim::AdamOptions{.lr = 0.01});
      },
      nb::loss::BinaryCrossEntropy{});
  const auto lstm_before = values_of(*(*model)[1]);
  model->fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0});
  CHECK(values_of(*(*model)[1]) == lstm_before);  // lr 0: Adam moves nothing
  CHECK(model->optimizer().group_lr(1) == Approx(0.01));
}

// ---- moving parts between models ------------------------------------------------------------------

TEST_CASE("a sub-tree of one model's file loads into part of another by prefix", "[transfer][io]") {
  TempDir directory;
  auto source = classifier(12, 5, 1, 21);
  const std::string model_path = directory.file("source.nabla"), tensors_path = directory.file("source.safetensors");
  source->save(model_path);
  nb::save_safetensors(tensors_path, *source);
  for (const std::string& path : {model_path, tensors_path}) {
    INFO(path);
    // layer 1 of the source into the LSTM of a new classifier with another head
    auto target = classifier(12, 5, 3, 31);
    const auto report = nb::train::load_pretrained(path, *(*target)[1], "1.");
    CHECK(report.ok());
    CHECK(report.loaded == 4);
    CHECK(values_of(*(*target)[1]) == values_of(*(*source)[1]));
    // the embedding and the LSTM together, as a nested Sequential
    nb::nn::Sequential<float> encoder;
    encoder.add(std::make_shared<nb::nn::Embedding<float>>(12, 4, nb::nn::EmbeddingOptions{.seed = 5}))
        .add(std::make_shared<nb::nn::LSTM<float>>(4, 5, nb::nn::LSTMOptions{.seed = 6}));
    const auto encoder_report = nb::train::load_pretrained(path, encoder, "", /*strict=*/false);
    CHECK(encoder_report.missing_keys.empty());
    CHECK(encoder_report.unexpected_keys == std::vector<std::string>{"2.bias", "2.weight"});
    CHECK(values_of(*encoder[1]) == values_of(*(*source)[1]));
  }
  // A differently shaped model: every missing, unexpected and mismatched key is named.
  nb::nn::Sequential<float> other;
  other.add(std::make_shared<nb::nn::Embedding<float>>(20, 4, nb::nn::EmbeddingOptions{.seed = 7}))
      .add(std::make_shared<nb::nn::LSTM<float>>(4, 5, nb::nn::LSTMOptions{.num_layers = 2, .seed = 8}));
  const auto before = values_of(other);
  REQUIRE_THROWS_WITH(nb::load_safetensors(tensors_path, other),
                      Contains("7 tensors do not match") && Contains("'0.weight' has shape [12,4]") &&
                          Contains("no tensor '1.weight_ih_l1'") && Contains("no tensor '1.bias_hh_l1'") &&
                          Contains("'2.weight' has no matching parameter") && Contains("'2.bias' has no matching"));
  CHECK(values_of(other) == before);  // strict: nothing copied
  const auto report = nb::load_safetensors(tensors_path, other, "", /*strict=*/false);
  CHECK(report.missing_keys ==
        std::vector<std::string>{"1.weight_ih_l1", "1.weight_hh_l1", "1.bias_ih_l1", "1.bias_hh_l1"});
  CHECK(report.unexpected_keys == std::vector<std::string>{"2.bias", "2.weight"});
  REQUIRE(report.mismatched_keys.size() == 1);
  CHECK(report.mismatched_keys[0].name == "0.weight");
  CHECK(report.mismatched_keys[0].file_shape == nb::Shape{12, 4});
  CHECK(report.mismatched_keys[0].module_shape == nb::Shape{20, 4});
  CHECK(report.loaded == 4);
  CHECK_FALSE(report.ok());
  CHECK_THAT(report.summary(), Contains("loaded 4 tensors") && Contains("missing: 1.weight_ih_l1") &&
                                   Contains("mismatched: 0.weight [12,4] in the file vs [20,4]"));
  const auto after = values_of(other);
  CHECK(after.at("0.weight") == before.at("0.weight"));  // mismatched: left alone
  CHECK(after.at("1.weight_ih_l1") == before.at("1.weight_ih_l1"));
  CHECK(after.at("1.weight_ih_l0") == values_of(*(*source)[1]).at("weight_ih_l0"));
  // the same with a nabla model file (names relative to the model)
  nb::nn::Sequential<float> other2;
  other2.add(std::make_shared<nb::nn::Embedding<float>>(20, 4)).add(std::make_shared<nb::nn::LSTM<float>>(4, 5));
  REQUIRE_THROWS_WITH(nb::train::load_pretrained(model_path, other2, "", /*strict=*/true),
                      Contains("source.nabla") && Contains("'model.0.weight' has shape [12,4]") &&
                          Contains("'model.2.weight' has no matching parameter"));
}

// ---- vocabulary alignment -------------------------------------------------------------------------

TEST_CASE("align_embedding copies the rows of shared words and keeps the others fresh", "[transfer][data]") {
  // pretrained: a Vocabulary (<pad>, <unk>, then by frequency) with rows 10 * index + column
  const nb::data::Vocabulary pretrained({{"the", "the", "the", "cat", "cat", "sat"}});
  REQUIRE(pretrained.tokens() == std::vector<std::string>{"<pad>", "<unk>", "the", "cat", "sat"});
  std::vector<float> rows;
  for (int row = 0; row < 5; ++row)
    for (int column = 0; column < 3; ++column) rows.push_back(static_cast<float>(10 * row + column));
  const auto pretrained_weight = nb::from_vector<float>(rows, {5, 3});

  // the new task's tokenizer: "the" 1, "dog" 2, "sat" 3 (by frequency); row 0 is padding
  nb::data::Tokenizer tokenizer;
  tokenizer.fit_on_texts({"the dog the dog the sat"});
  REQUIRE(tokenizer.word_of(1) == "the");
  REQUIRE(tokenizer.word_of(2) == "dog");
  nb::nn::Embedding<float> embedding(tokenizer.vocabulary_size(), 3, {.seed = 4});
  const auto fresh = embedding.weight().to_vector();
  const auto result = nb::train::align_embedding(embedding, tokenizer, pretrained_weight, pretrained);
  CHECK(result.copied == 2);
  CHECK(result.fresh == 1);
  CHECK(result.without_word == 1);
  CHECK(result.missing_words == std::vector<std::string>{"dog"});
  CHECK(result.summary() ==
        "copied 2 of 4 rows from the pretrained embedding; 1 word kept its fresh initialisation; 1 row names no word");
  const auto aligned = embedding.weight().to_vector();
  const auto row = [&](const std::vector<float>& values, int index) {
    return std::vector<float>(values.begin() + 3 * index, values.begin() + 3 * index + 3);
  };
  CHECK(row(aligned, 0) == row(fresh, 0));                   // padding: untouched
  CHECK(row(aligned, 1) == std::vector<float>{20, 21, 22});  // "the"
  CHECK(row(aligned, 2) == row(fresh, 2));                   // "dog": fresh
  CHECK(row(aligned, 3) == std::vector<float>{40, 41, 42});  // "sat"
  CHECK(embedding.weight().requires_grad());
  CHECK(embedding.weight().is_leaf());

  // plain word lists work too; errors name the sizes
  nb::nn::Embedding<float> small(2, 3, {.seed = 1});
  CHECK(
      nb::train::align_embedding(small, std::vector<std::string>{"cat", "cow"}, pretrained_weight, pretrained).copied ==
      1);
  nb::nn::Embedding<float> wide(4, 5);
  REQUIRE_THROWS_AS(nb::train::align_embedding(wide, tokenizer, pretrained_weight, pretrained), nb::ShapeError);
  REQUIRE_THROWS_WITH(
      nb::train::align_embedding(embedding, tokenizer, pretrained_weight, std::vector<std::string>{"the"}),
      Contains("1 words but the pretrained weight has 5 rows"));
}

}  // namespace test_transfer
