// data: datasets, DataLoader, reproducible shuffling (checked against an independent Python
// transcription of the Philox Fisher-Yates), splits and k-fold, scalers (hand-computed,
// scikit-learn semantics), one_hot, the CSV reader (RFC 4180 cases, errors with line
// numbers, missing values, a seeded fuzz loop), Tokenizer / pad_sequences (Keras's
// documented and hand-verified examples), Vocabulary, and the language-model batcher
// (shift, continuity, and carrying the LSTM state). Every code block of docs/data.md is a
// test here, and a test checks that docs/data.md and this file still agree.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.hpp"  // NABLA_FIXTURE_DIR: where the test sources (and ../docs) are
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_data {

namespace nb = nabla;
using Catch::Contains;

namespace {

using Ids = std::vector<std::int64_t>;

template <typename T>
std::vector<T> values_of(const nb::Tensor<T>& tensor) {
  return tensor.to_vector();
}

double max_abs_difference(const nb::Tensor<double>& a, const nb::Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double largest = 0;
  for (std::size_t i = 0; i < x.size(); ++i) largest = std::max(largest, std::abs(x[i] - y[i]));
  return largest;
}

nb::data::CsvTable csv_from(const std::string& text, const nb::data::CsvOptions& options = {},
                            const std::string& name = "test.csv") {
  std::istringstream input(text);
  return nb::data::read_csv(input, options, name);
}

}  // namespace

// ================================================================================================
// Datasets, shuffling, splits
// ================================================================================================

TEST_CASE("TensorDataset: get returns rows, get_batch gathers them", "[data][dataset]") {
  auto features = nb::arange<float>(0.0f, 8.0f).reshape({4, 2});
  auto labels = nb::from_vector<std::int64_t>({3, 1, 4, 1});
  nb::data::TensorDataset<float, std::int64_t> dataset(features, labels);
  REQUIRE(dataset.size() == 4);

  auto sample = dataset.get(2);
  REQUIRE(sample.input.shape() == nb::Shape{2});
  REQUIRE(values_of(sample.input) == std::vector<float>{4, 5});
  REQUIRE(sample.target.dim() == 0);
  REQUIRE(sample.target.item() == 4);

  auto batch = dataset.get_batch({3, 0});
  REQUIRE(batch.inputs.shape() == nb::Shape{2, 2});
  REQUIRE(values_of(batch.inputs) == std::vector<float>{6, 7, 0, 1});
  REQUIRE(values_of(batch.targets) == Ids{1, 3});
}

TEST_CASE("TensorDataset: mismatched first dimensions and bad indices are reported", "[data][dataset][errors]") {
  auto features = nb::zeros<float>({4, 2});
  REQUIRE_THROWS_AS(nb::data::TensorDataset<float>(features, nb::zeros<float>({3})), nb::ShapeError);
  REQUIRE_THROWS_WITH(nb::data::TensorDataset<float>(features, nb::zeros<float>({3})),
                      Contains("[4,2]") && Contains("[3]") && Contains("different first dimensions (4 vs 3)"));
  REQUIRE_THROWS_AS(nb::data::TensorDataset<float>(features, nb::scalar_tensor<float>(1.0f)), nb::ShapeError);
  REQUIRE_THROWS_AS(nb::data::TensorDataset<float>(features, nb::Tensor<float>()), nb::ValueError);

  nb::data::TensorDataset<float> dataset(features, nb::zeros<float>({4}));
  REQUIRE_THROWS_AS(dataset.get(4), nb::ValueError);
  REQUIRE_THROWS_WITH(dataset.get(-1), Contains("index -1 is out of range for a dataset of 4 samples"));
  REQUIRE_THROWS_AS(dataset.get_batch({0, 7}), nb::ValueError);
}

TEST_CASE("shuffled_indices: Philox Fisher-Yates matches an independent Python transcription", "[data][shuffle]") {
  // Golden orders from a separate Python implementation of the documented algorithm (whose
  // Philox reproduces the Random123 known answer for counter 0, key 0: 6627e8d5 e169c58d
  // bc57ac4c 9b00dbd8). They must not change between platforms or releases.
  REQUIRE(nb::data::shuffled_indices(10, 42, 0) == Ids{4, 1, 6, 3, 7, 9, 0, 5, 2, 8});
  REQUIRE(nb::data::shuffled_indices(10, 42, 1) == Ids{4, 7, 0, 3, 8, 5, 2, 6, 1, 9});
  REQUIRE(nb::data::shuffled_indices(10, 0xDEADBEEFCAFEull, 3) == Ids{2, 8, 7, 0, 9, 3, 6, 1, 4, 5});
  REQUIRE(nb::data::shuffled_indices(12, 7, 0) == Ids{0, 6, 8, 11, 2, 9, 4, 3, 5, 1, 7, 10});

  REQUIRE(nb::data::shuffled_indices(0, 1).empty());
  REQUIRE(nb::data::shuffled_indices(1, 1) == Ids{0});
  REQUIRE_THROWS_AS(nb::data::shuffled_indices(-1, 1), nb::ValueError);

  // A permutation for a larger count, different for other seeds and epochs.
  auto order = nb::data::shuffled_indices(1000, 5, 0);
  REQUIRE(std::set<std::int64_t>(order.begin(), order.end()).size() == 1000);
  REQUIRE(*std::min_element(order.begin(), order.end()) == 0);
  REQUIRE(*std::max_element(order.begin(), order.end()) == 999);
  REQUIRE(order != nb::data::shuffled_indices(1000, 6, 0));
  REQUIRE(order != nb::data::shuffled_indices(1000, 5, 1));
}

TEST_CASE("random_split: parts cut from the seeded order, sharing the dataset", "[data][split]") {
  auto targets = nb::arange<float>(0.0f, 10.0f);
  nb::data::TensorDataset<float> dataset(targets.reshape({10, 1}), targets);
  auto parts = nb::data::random_split(dataset, {7, 3}, 42);
  REQUIRE(parts.size() == 2);
  REQUIRE(parts[0].indices() == Ids{4, 1, 6, 3, 7, 9, 0});
  REQUIRE(parts[1].indices() == Ids{5, 2, 8});
  REQUIRE(parts[1].size() == 3);
  REQUIRE(parts[1].get(0).target.item() == 5.0f);
  REQUIRE(values_of(parts[1].get_batch({2, 0}).targets) == std::vector<float>{8, 5});
  REQUIRE(&parts[0].base() == &parts[1].base());  // one shared copy

  auto again = nb::data::random_split(dataset, {7, 3}, 42);
  REQUIRE(again[0].indices() == parts[0].indices());
  REQUIRE(nb::data::random_split(dataset, {7, 3}, 43)[0].indices() != parts[0].indices());
  REQUIRE(nb::data::random_split(dataset, {0, 10, 0}, 1)[1].size() == 10);

  REQUIRE_THROWS_AS(nb::data::random_split(dataset, {7, 4}, 1), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::data::random_split(dataset, {7, 4}, 1),
                      Contains("sizes {7, 4} add up to 11, but the dataset has 10 samples"));
  REQUIRE_THROWS_AS(nb::data::random_split(dataset, {12, -2}, 1), nb::ValueError);
  REQUIRE_THROWS_AS(parts[1].get(3), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::Subset<nb::data::TensorDataset<float>>(dataset, {10}), nb::ValueError);
}

TEST_CASE("k_fold: every sample validated once, sklearn KFold fold sizes", "[data][split]") {
  auto folds = nb::data::k_fold(10, 3, 42);
  REQUIRE(folds.size() == 3);
  // Order for seed 42 is 4 1 6 3 | 7 9 0 | 5 2 8 (first 10 % 3 = 1 fold has one more).
  REQUIRE(folds[0].validation_indices == Ids{1, 3, 4, 6});
  REQUIRE(folds[1].validation_indices == Ids{0, 7, 9});
  REQUIRE(folds[2].validation_indices == Ids{2, 5, 8});
  REQUIRE(folds[0].train_indices == Ids{0, 2, 5, 7, 8, 9});

  std::vector<int> validated(10, 0);
  for (const auto& [train, validation] : folds) {
    REQUIRE(train.size() + validation.size() == 10);
    REQUIRE(std::is_sorted(train.begin(), train.end()));
    REQUIRE(std::is_sorted(validation.begin(), validation.end()));
    std::set<std::int64_t> all(train.begin(), train.end());
    all.insert(validation.begin(), validation.end());
    REQUIRE(all.size() == 10);  // disjoint and complete
    for (auto index : validation) ++validated[static_cast<std::size_t>(index)];
  }
  REQUIRE(validated == std::vector<int>(10, 1));

  auto leave_one_out = nb::data::k_fold(4, 4, 0);
  for (const auto& fold : leave_one_out) REQUIRE(fold.validation_indices.size() == 1);

  REQUIRE_THROWS_AS(nb::data::k_fold(10, 1, 0), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::data::k_fold(3, 5, 0), Contains("cannot cut 3 samples into 5 folds"));
}

// ================================================================================================
// DataLoader
// ================================================================================================

namespace {
nb::data::TensorDataset<float> numbered_dataset(std::int64_t count) {
  auto targets = nb::arange<float>(0.0f, static_cast<float>(count));
  return nb::data::TensorDataset<float>(targets.reshape({count, 1}) * 10.0f, targets);
}

/// The targets (= sample numbers) one epoch of the loader visits, in order.
template <typename Loader>
std::vector<float> one_epoch(Loader& loader, std::vector<std::int64_t>* batch_sizes = nullptr) {
  std::vector<float> seen;
  for (const auto& [inputs, targets] : loader) {
    REQUIRE(inputs.size(0) == targets.size(0));
    if (batch_sizes) batch_sizes->push_back(inputs.size(0));
    for (float value : targets.to_vector()) seen.push_back(value);
    for (std::int64_t row = 0; row < inputs.size(0); ++row)  // features stay with their targets
      REQUIRE(inputs.at({row, 0}) == 10.0f * targets.at({row}));
  }
  return seen;
}
}  // namespace

TEST_CASE("DataLoader: batches in order, last batch partial or dropped", "[data][loader]") {
  auto dataset = numbered_dataset(10);
  nb::data::DataLoader loader(dataset, {.batch_size = 4});
  REQUIRE(loader.size() == 3);
  std::vector<std::int64_t> sizes;
  REQUIRE(one_epoch(loader, &sizes) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  REQUIRE(sizes == Ids{4, 4, 2});
  REQUIRE(one_epoch(loader) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});  // no shuffle: same order
  REQUIRE(loader.epoch() == 2);

  nb::data::DataLoader dropping(dataset, {.batch_size = 4, .drop_last = true});
  REQUIRE(dropping.size() == 2);
  sizes.clear();
  REQUIRE(one_epoch(dropping, &sizes) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  REQUIRE(sizes == Ids{4, 4});

  nb::data::DataLoader exact(numbered_dataset(8), {.batch_size = 4, .drop_last = true});
  REQUIRE(exact.size() == 2);
  nb::data::DataLoader single(dataset);  // batch_size 1 by default, like PyTorch
  REQUIRE(single.size() == 10);

  nb::data::DataLoader empty(numbered_dataset(0), {.batch_size = 3});
  REQUIRE(empty.size() == 0);
  REQUIRE(one_epoch(empty).empty());

  REQUIRE_THROWS_AS(nb::data::DataLoader(dataset, {.batch_size = 0}), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::data::DataLoader(dataset, {.batch_size = -2}), Contains("batch_size must be >= 1, got -2"));
}

TEST_CASE("DataLoader: shuffle is reproducible and new every epoch", "[data][loader]") {
  auto dataset = numbered_dataset(10);
  nb::data::DataLoader loader(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  const auto epoch0 = one_epoch(loader);
  const auto epoch1 = one_epoch(loader);
  REQUIRE(epoch0 == std::vector<float>{4, 1, 6, 3, 7, 9, 0, 5, 2, 8});  // shuffled_indices(10, 42, 0)
  REQUIRE(epoch1 == std::vector<float>{4, 7, 0, 3, 8, 5, 2, 6, 1, 9});  // shuffled_indices(10, 42, 1)

  nb::data::DataLoader same_seed(dataset, {.batch_size = 5, .shuffle = true, .seed = 42});
  REQUIRE(one_epoch(same_seed) == epoch0);  // the order does not depend on the batch size

  nb::data::DataLoader resumed(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  resumed.set_epoch(1);
  REQUIRE(one_epoch(resumed) == epoch1);
  REQUIRE(resumed.epoch() == 2);

  nb::data::DataLoader other_seed(dataset, {.batch_size = 3, .shuffle = true, .seed = 43});
  REQUIRE(one_epoch(other_seed) != epoch0);

  // Over many epochs every sample is still seen exactly once per epoch.
  for (int epoch = 0; epoch < 5; ++epoch) {
    auto seen = one_epoch(loader);
    std::sort(seen.begin(), seen.end());
    REQUIRE(seen == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
}

TEST_CASE("DataLoader: a Subset from random_split loads through get_batch", "[data][loader]") {
  auto parts = nb::data::random_split(numbered_dataset(10), {7, 3}, 42);
  nb::data::DataLoader loader(parts[1], {.batch_size = 2});
  REQUIRE(one_epoch(loader) == std::vector<float>{5, 2, 8});
}

namespace {
/// A dataset without get_batch: the loader must fetch samples and stack them.
struct Squares {
  std::int64_t size() const { return 5; }
  nb::data::Example<nb::Tensor<float>, nb::IndexTensor> get(std::int64_t i) const {
    return {nb::full<float>({2}, static_cast<float>(i * i)), nb::scalar_tensor<std::int64_t>(i)};
  }
};
}  // namespace

TEST_CASE("DataLoader: default collate stacks samples; a custom collate may return anything", "[data][loader]") {
  nb::data::DataLoader loader(Squares{}, {.batch_size = 2});
  std::vector<nb::Shape> shapes;
  std::vector<float> inputs_seen;
  for (const auto& batch : loader) {
    shapes.push_back(batch.inputs.shape());
    for (float value : batch.inputs.to_vector()) inputs_seen.push_back(value);
    REQUIRE(batch.targets.dim() == 1);
  }
  REQUIRE(shapes == std::vector<nb::Shape>{{2, 2}, {2, 2}, {1, 2}});
  REQUIRE(inputs_seen == std::vector<float>{0, 0, 1, 1, 4, 4, 9, 9, 16, 16});

  // A collate that sums the ids of a batch: the batch type is whatever it returns.
  auto sum_ids = [](const std::vector<nb::data::Example<nb::Tensor<float>, nb::IndexTensor>>& samples) {
    std::int64_t sum = 0;
    for (const auto& sample : samples) sum += sample.target.item();
    return sum;
  };
  nb::data::DataLoader summing(Squares{}, {.batch_size = 3}, sum_ids);
  std::vector<std::int64_t> sums;
  for (std::int64_t sum : summing) sums.push_back(sum);
  REQUIRE(sums == Ids{0 + 1 + 2, 3 + 4});

  // A custom collate also takes precedence over get_batch.
  auto count_rows = [](const std::vector<nb::data::TensorDataset<float>::Sample>& samples) {
    return static_cast<std::int64_t>(samples.size());
  };
  nb::data::DataLoader counting(numbered_dataset(5), {.batch_size = 2}, count_rows);
  std::vector<std::int64_t> counts;
  for (std::int64_t count : counting) counts.push_back(count);
  REQUIRE(counts == Ids{2, 2, 1});
}

// ================================================================================================
// Scalers and one_hot
// ================================================================================================

TEST_CASE("StandardScaler: hand-computed statistics, constant columns, round trip", "[data][scaler]") {
  auto x = nb::from_vector<double>({1, 10, 2, 10, 3, 10, 6, 10}, {4, 2});
  nb::data::StandardScaler<double> scaler;
  REQUIRE_FALSE(scaler.is_fitted());
  auto scaled = scaler.fit_transform(x);
  REQUIRE(values_of(scaler.mean()) == std::vector<double>{3, 10});
  REQUIRE(values_of(scaler.variance()) == std::vector<double>{3.5, 0});
  const double deviation = std::sqrt(3.5);
  REQUIRE(scaler.scale().at({0}) == Approx(deviation));
  REQUIRE(scaler.scale().at({1}) == 1.0);  // constant column: scale 1, like scikit-learn
  const std::vector<double> expected{-2 / deviation, 0, -1 / deviation, 0, 0, 0, 3 / deviation, 0};
  const auto got = values_of(scaled);
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(got[i] == Approx(expected[i]).margin(1e-15));

  auto back = scaler.inverse_transform(scaled);
  REQUIRE(max_abs_difference(back, x) < 1e-12);
  auto other = scaler.transform(nb::from_vector<double>({4, 12}, {1, 2}));
  REQUIRE(other.at({0, 0}) == Approx(1 / deviation));
  REQUIRE(other.at({0, 1}) == Approx(2.0));

  // A column of 0.1s has a mean that is not exactly 0.1 in binary, hence a tiny variance; it
  // must still count as constant (scikit-learn's rounding bound), not be blown up.
  auto tenths = nb::from_vector<double>({0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, {7, 1});
  nb::data::StandardScaler<double> tenths_scaler;
  auto tenths_scaled = tenths_scaler.fit_transform(tenths);
  REQUIRE(tenths_scaler.scale().item() == 1.0);
  for (double value : tenths_scaled.to_vector()) REQUIRE(std::abs(value) < 1e-15);

  // NaN entries are ignored by fit and kept by transform.
  const double nan = std::nan("");
  auto with_nan = nb::from_vector<double>({1, nan, 3}, {3, 1});
  nb::data::StandardScaler<double> nan_scaler;
  auto nan_scaled = nan_scaler.fit_transform(with_nan);
  REQUIRE(nan_scaler.mean().item() == 2.0);
  REQUIRE(nan_scaled.at({0, 0}) == Approx(-1.0));
  REQUIRE(std::isnan(nan_scaled.at({1, 0})));
  REQUIRE(nan_scaled.at({2, 0}) == Approx(1.0));

  // float works too, and transform accepts non-contiguous views.
  nb::data::StandardScaler<float> float_scaler;
  auto columns_first = nb::from_vector<float>({1, 2, 3, 6, 10, 10, 10, 10}, {2, 4});
  auto float_scaled = float_scaler.fit_transform(columns_first.t());
  REQUIRE(float_scaled.at({3, 0}) == Approx(3 / deviation));
}

TEST_CASE("StandardScaler: transform before fit and column mismatches are reported", "[data][scaler][errors]") {
  nb::data::StandardScaler<double> scaler;
  auto x = nb::ones<double>({3, 2});
  REQUIRE_THROWS_AS(scaler.transform(x), nb::ValueError);
  REQUIRE_THROWS_WITH(scaler.transform(x), Contains("not fitted yet"));
  REQUIRE_THROWS_AS(scaler.inverse_transform(x), nb::ValueError);
  REQUIRE_THROWS_AS(scaler.mean(), nb::ValueError);
  scaler.fit(x);
  REQUIRE_THROWS_AS(scaler.transform(nb::ones<double>({3, 3})), nb::ShapeError);
  REQUIRE_THROWS_WITH(scaler.transform(nb::ones<double>({3, 3})), Contains("fitted on 2 features"));
  REQUIRE_THROWS_WITH(scaler.fit(nb::ones<double>({3})), Contains("reshape"));
  REQUIRE_THROWS_AS(scaler.fit(nb::ones<double>({0, 2})), nb::ValueError);
}

TEST_CASE("MinMaxScaler: hand-computed ranges, constant column, round trip", "[data][scaler]") {
  auto x = nb::from_vector<double>({1, 10, 3, 10, 5, 10}, {3, 2});
  nb::data::MinMaxScaler<double> scaler;
  auto scaled = scaler.fit_transform(x);
  const std::vector<double> expected{0, 0, 0.5, 0, 1, 0};  // constant column -> the range's minimum
  REQUIRE(values_of(scaled) == expected);
  REQUIRE(values_of(scaler.data_min()) == std::vector<double>{1, 10});
  REQUIRE(values_of(scaler.data_max()) == std::vector<double>{5, 10});
  REQUIRE(max_abs_difference(scaler.inverse_transform(scaled), x) < 1e-12);
  // Outside the training range: no clipping.
  REQUIRE(scaler.transform(nb::from_vector<double>({9, 10}, {1, 2})).at({0, 0}) == Approx(2.0));

  nb::data::MinMaxScaler<double> symmetric({.min = -1, .max = 1});
  auto unit = symmetric.fit_transform(nb::from_vector<double>({1, 2, 3, 6}, {4, 1}));
  const auto unit_values = values_of(unit);
  const std::vector<double> unit_expected{-1, -0.6, -0.2, 1};
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(unit_values[i] == Approx(unit_expected[i]));

  REQUIRE_THROWS_AS(nb::data::MinMaxScaler<double>({.min = 1, .max = 1}), nb::ValueError);
  nb::data::MinMaxScaler<float> unfitted;
  REQUIRE_THROWS_WITH(unfitted.transform(nb::ones<float>({1, 1})), Contains("not fitted yet"));
  REQUIRE_THROWS_AS(scaler.transform(nb::ones<double>({2, 5})), nb::ShapeError);
}

TEST_CASE("one_hot: rows, shapes, inferred class count, errors", "[data][one_hot]") {
  auto encoded = nb::data::one_hot<double>({1, 0, 2}, 3);
  REQUIRE(encoded.shape() == nb::Shape{3, 3});
  REQUIRE(values_of(encoded) == std::vector<double>{0, 1, 0, 1, 0, 0, 0, 0, 1});

  auto grid = nb::data::one_hot(nb::from_vector<std::int64_t>({0, 2, 1, 2}, {2, 2}));
  REQUIRE(grid.shape() == nb::Shape{2, 2, 3});  // classes inferred: 3
  REQUIRE(grid.at({1, 1, 2}) == 1.0f);
  REQUIRE(grid.at({1, 1, 1}) == 0.0f);
  auto ids = nb::data::one_hot<std::int64_t>(Ids{3}, 5);
  REQUIRE(values_of(ids) == Ids{0, 0, 0, 1, 0});

  REQUIRE_THROWS_AS(nb::data::one_hot({0, 4}, 4), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::data::one_hot({0, 4}, 4), Contains("index 4 at position 1 is outside [0, 4)"));
  REQUIRE_THROWS_AS(nb::data::one_hot({-1}, 4), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::one_hot({0}, 0), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::one_hot(Ids{}), nb::ValueError);
}

// ================================================================================================
// CSV
// ================================================================================================

TEST_CASE("read_csv: header, numeric and text columns, tensors", "[data][csv]") {
  auto table = csv_from("name,age,score\nada,36,1.5\nalan,41,-2e1\ngrace, 85 ,+3\n");
  REQUIRE(table.column_names() == std::vector<std::string>{"name", "age", "score"});
  REQUIRE(table.num_rows() == 3);
  REQUIRE(table.num_columns() == 3);
  REQUIRE(table.strings("name") == std::vector<std::string>{"ada", "alan", "grace"});
  REQUIRE(values_of(table.column<double>("score")) == std::vector<double>{1.5, -20, 3});
  REQUIRE(values_of(table.column<std::int64_t>("age")) == Ids{36, 41, 85});  // spaces around numbers are fine
  REQUIRE(values_of(table.column<float>(1)) == std::vector<float>{36, 41, 85});
  auto matrix = table.to_tensor<float>({"score", "age"});
  REQUIRE(matrix.shape() == nb::Shape{3, 2});
  REQUIRE(values_of(matrix) == std::vector<float>{1.5f, 36, -20, 41, 3, 85});
  REQUIRE(table.is_numeric("age"));
  REQUIRE_FALSE(table.is_numeric("name"));
  REQUIRE(table.line_of_row(2) == 4);

  REQUIRE_THROWS_AS(table.column<float>("height"), nb::ValueError);
  REQUIRE_THROWS_WITH(table.column<float>("height"),
                      Contains("no column 'height' (its columns: 'name', 'age', 'score')"));
  REQUIRE_THROWS_AS(table.column<float>(3), nb::ValueError);
  REQUIRE_THROWS_AS(table.to_tensor<float>(std::vector<std::string>{}), nb::ValueError);
  REQUIRE_THROWS_AS(table.to_tensor<float>(), nb::ValueError);  // "name" is text
}

TEST_CASE("read_csv: RFC 4180 quoting, line breaks and line numbers", "[data][csv]") {
  // An empty quoted field counts as missing by default; its error names the line on which the
  // record starts, after two records that span two lines each.
  REQUIRE_THROWS_WITH(csv_from("id,text,value\r\n"
                               "1,\"a, b\",2.5\r\n"
                               "2,\"she said \"\"hi\"\"\",3\r\n"
                               "3,\"two\nlines\",4\r\n"
                               "4,\"crlf\r\ninside\",5\r\n"
                               "5,\"\",6\r\n"),
                      Contains("test.csv:8: missing value in column 'text'"));
  nb::data::CsvOptions keep_empty;
  keep_empty.missing_values = {};
  auto kept = csv_from(
      "id,text,value\r\n"
      "1,\"a, b\",2.5\r\n"
      "2,\"she said \"\"hi\"\"\",3\r\n"
      "3,\"two\nlines\",4\r\n"
      "4,\"crlf\r\ninside\",5\r\n"
      "5,\"\",6",
      keep_empty);
  REQUIRE(kept.strings("text") ==
          std::vector<std::string>{"a, b", "she said \"hi\"", "two\nlines", "crlf\r\ninside", ""});
  REQUIRE(values_of(kept.column<float>("value")) == std::vector<float>{2.5f, 3, 4, 5, 6});
  // Records spanning two lines push the later line numbers down.
  REQUIRE(kept.line_of_row(2) == 4);
  REQUIRE(kept.line_of_row(3) == 6);
  REQUIRE(kept.line_of_row(4) == 8);

  // A bad value after a multi-line record is reported on its real line.
  auto later = csv_from("id,text,value\n1,\"multi\nline\",2.5\n2,plain,oops\n", {}, "data.csv");
  REQUIRE_THROWS_AS(later.column<float>("value"), nb::ValueError);
  REQUIRE_THROWS_WITH(later.column<float>("value"),
                      Contains("data.csv:4") && Contains("column 'value' holds 'oops', which is not a number"));

  // Lone CR line ends, no final line break, a quote inside an unquoted field.
  auto old_mac = csv_from("a,b\r1,5'11\"\r3,4");
  REQUIRE(old_mac.num_rows() == 2);
  REQUIRE(old_mac.strings("b") == std::vector<std::string>{"5'11\"", "4"});

  // Empty lines are skipped but counted; a byte order mark is ignored.
  auto spaced = csv_from("\xEF\xBB\xBFx\n\n1\n\n\n2\n");
  REQUIRE(spaced.column_names() == std::vector<std::string>{"x"});
  REQUIRE(values_of(spaced.column<float>("x")) == std::vector<float>{1, 2});
  REQUIRE(spaced.line_of_row(1) == 6);

  // Other delimiters; a trailing delimiter makes an empty last field.
  nb::data::CsvOptions semicolons;
  semicolons.delimiter = ';';
  semicolons.missing_values = {};
  auto european = csv_from("a;b;\n\"1;2\";3;\n", semicolons);
  REQUIRE(european.column_names() == std::vector<std::string>{"a", "b", ""});
  REQUIRE(european.strings("a") == std::vector<std::string>{"1;2"});
  REQUIRE(european.strings(2) == std::vector<std::string>{""});
  nb::data::CsvOptions tabs;
  tabs.delimiter = '\t';
  REQUIRE(values_of(csv_from("p\tq\n1\t2\n", tabs).column<float>("q")) == std::vector<float>{2});
}

TEST_CASE("read_csv: without a header, columns are named by position", "[data][csv]") {
  nb::data::CsvOptions options;
  options.header = false;
  auto table = csv_from("1,2\n3,4\n", options);
  REQUIRE(table.column_names() == std::vector<std::string>{"0", "1"});
  REQUIRE(table.line_of_row(0) == 1);
  REQUIRE(values_of(table.to_tensor<double>()) == std::vector<double>{1, 2, 3, 4});
  REQUIRE(csv_from("", options).num_columns() == 0);
  REQUIRE_THROWS_WITH(csv_from("1,2\n3\n", options), Contains("test.csv:2: row has 1 field, but the first row has 2"));
}

TEST_CASE("read_csv: malformed rows are reported with file and line", "[data][csv][errors]") {
  REQUIRE_THROWS_AS(csv_from("a,b\n1,2\n3\n", {}, "x.csv"), nb::IOError);
  REQUIRE_THROWS_WITH(csv_from("a,b\n1,2\n3\n", {}, "x.csv"),
                      Contains("read_csv: x.csv:3: row has 1 field, but the header has 2"));
  REQUIRE_THROWS_WITH(csv_from("a,b\n1,2,3\n", {}, "x.csv"), Contains("x.csv:2: row has 3 fields"));
  REQUIRE_THROWS_AS(csv_from("a,b\n1,\"open\n2,3\n", {}, "x.csv"), nb::IOError);
  REQUIRE_THROWS_WITH(csv_from("a,b\n1,\"open\n2,3\n", {}, "x.csv"),
                      Contains("x.csv:2: field 2 opens a quote that is never closed"));
  REQUIRE_THROWS_WITH(csv_from("a\n\"x\"y\n", {}, "x.csv"),
                      Contains("x.csv:2: field 1 has text after its closing quote"));
  REQUIRE_THROWS_WITH(csv_from("", {}, "x.csv"), Contains("x.csv: the input is empty"));
  REQUIRE_THROWS_WITH(csv_from("a,b,a\n", {}, "x.csv"), Contains("names column 'a' twice"));

  auto table = csv_from("n,big,word\n2.5,99999999999999999999,\"bad\x01\"\n", {}, "y.csv");
  REQUIRE_THROWS_WITH(table.column<std::int64_t>("n"),
                      Contains("y.csv:2: column 'n' holds '2.5', which is not an integer"));
  REQUIRE_THROWS_WITH(table.column<std::int64_t>("big"), Contains("is out of range for int64"));
  REQUIRE_THROWS_WITH(table.column<float>("word"), Contains("holds 'bad\\x01'"));
  REQUIRE(table.column<double>("big").item() == Approx(1e20));
  auto huge = csv_from("v\n1e999\n");
  REQUIRE_THROWS_WITH(huge.column<float>("v"), Contains("out of range for float"));
  auto special = csv_from("v\nnan\n-inf\n");
  REQUIRE(std::isnan(special.column<double>("v").at({0})));
  REQUIRE(special.column<double>("v").at({1}) == -INFINITY);
  for (const char* bad : {"--1", "+-1", "1.2.3", "0x10", "1 2"})
    REQUIRE_THROWS_AS(csv_from(std::string("v\n") + bad + "\n").column<double>("v"), nb::ValueError);

  nb::data::CsvOptions conflicting;
  conflicting.delimiter = '"';
  REQUIRE_THROWS_AS(csv_from("a\n", conflicting), nb::ValueError);
}

TEST_CASE("read_csv: missing values: error, skip_row, fill", "[data][csv]") {
  const std::string text = "x,y\n1,\n,2\n3,4\n";
  REQUIRE_THROWS_AS(csv_from(text, {}, "m.csv"), nb::IOError);
  REQUIRE_THROWS_WITH(csv_from(text, {}, "m.csv"), Contains("m.csv:2: missing value in column 'y' (field 2)"));

  auto skipped = csv_from(text, {.missing = nb::data::MissingPolicy::skip_row});
  REQUIRE(skipped.num_rows() == 1);
  REQUIRE(values_of(skipped.column<float>("x")) == std::vector<float>{3});
  REQUIRE(skipped.line_of_row(0) == 4);

  auto filled = csv_from(text, {.missing = nb::data::MissingPolicy::fill, .fill_value = -1.5});
  REQUIRE(values_of(filled.column<double>("x")) == std::vector<double>{1, -1.5, 3});
  REQUIRE(values_of(filled.column<double>("y")) == std::vector<double>{-1.5, 2, 4});
  REQUIRE(filled.strings("x")[1] == "-1.5");

  nb::data::CsvOptions not_available;
  not_available.missing = nb::data::MissingPolicy::skip_row;
  not_available.missing_values = {"NA", "?"};
  auto marked = csv_from("v\nNA\n5\n?\n\"NA\"\n7\n", not_available);
  REQUIRE(values_of(marked.column<float>("v")) == std::vector<float>{5, 7});
}

TEST_CASE("read_csv: reads files by path and names them in errors", "[data][csv]") {
  const nabla_test::TempDir directory("data");
  const auto path = directory.path() / "read_csv.csv";
  {
    std::ofstream file(path, std::ios::binary);
    file << "a,b\n1,2\n3,x\n";
  }
  auto table = nb::data::read_csv(path.string());
  REQUIRE(values_of(table.column<float>("a")) == std::vector<float>{1, 3});
  REQUIRE(table.source() == path.string());
  REQUIRE_THROWS_WITH(table.column<float>("b"), Contains(path.string() + ":3"));
  std::filesystem::remove(path);
  REQUIRE_THROWS_AS(nb::data::read_csv(path.string()), nb::IOError);
  REQUIRE_THROWS_WITH(nb::data::read_csv(path.string()), Contains("cannot open '" + path.string() + "'"));
}

TEST_CASE("read_csv: thousands of random byte strings either parse or throw nabla::Error", "[data][csv][fuzz]") {
  // Any other exception escapes and fails the test; a crash fails the run (and the sanitizer
  // build). Bytes are drawn mostly from the characters that matter to the parser.
  std::mt19937_64 random(20240611);  // mt19937_64's output is fixed by the standard
  const std::string interesting = "\"\",,,\n\r\r\n;\t ab01.-+eE9";
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::string bytes;
    const auto length = static_cast<std::size_t>(random() % 48);
    for (std::size_t i = 0; i < length; ++i)
      bytes += random() % 5 == 0 ? static_cast<char>(random() % 256) : interesting[random() % interesting.size()];
    nb::data::CsvOptions options;
    options.header = trial % 2 == 0;
    options.missing = static_cast<nb::data::MissingPolicy>(trial % 3);
    if (trial % 7 == 0) options.delimiter = ';';
    if (trial % 11 == 0) options.missing_values = {};
    INFO("trial " << trial);
    try {
      auto table = csv_from(bytes, options, "fuzz.csv");
      ++parsed;
      for (std::int64_t column = 0; column < table.num_columns(); ++column) {
        REQUIRE(static_cast<std::int64_t>(table.strings(column).size()) == table.num_rows());
        try {
          const auto values = table.column<float>(column);
          REQUIRE(values.numel() == table.num_rows());
        } catch (const nb::Error&) {
        }
        try {
          (void)table.column<std::int64_t>(column);
        } catch (const nb::Error&) {
        }
      }
      try {
        (void)table.to_tensor<double>();
      } catch (const nb::Error&) {
      }
    } catch (const nb::Error&) {
      ++rejected;
    }
  }
  // Both outcomes were exercised, so the loop tested the parser and not just one path.
  REQUIRE(parsed > 500);
  REQUIRE(rejected > 500);
}

// ================================================================================================
// Text
// ================================================================================================

TEST_CASE("text_to_word_sequence: Keras's filtering, lowercasing and splitting", "[data][text]") {
  using nb::data::text_to_word_sequence;
  REQUIRE(text_to_word_sequence("Hello, World!\tIt's  FINE.") ==
          std::vector<std::string>{"hello", "world", "it's", "fine"});
  REQUIRE(text_to_word_sequence("Hello, World!", nb::data::kDefaultTextFilters, false) ==
          std::vector<std::string>{"Hello", "World"});
  REQUIRE(text_to_word_sequence("a,,b", "", true, ",") == std::vector<std::string>{"a", "b"});
  REQUIRE(text_to_word_sequence("x--y.z", ".", true, "--") == std::vector<std::string>{"x", "y", "z"});
  REQUIRE(text_to_word_sequence("\xC3\x89"
                                "COLE caf\xC3\xA9") == std::vector<std::string>{"\xC3\x89"
                                                                                "cole",
                                                                                "caf\xC3\xA9"});
  REQUIRE(text_to_word_sequence("  ...  ").empty());
  REQUIRE_THROWS_AS(text_to_word_sequence("a b", "", true, ""), nb::ValueError);
}

TEST_CASE("Tokenizer: TensorFlow's NLP course example, frequency order, stable ties", "[data][text]") {
  // From TensorFlow's "NLP Zero to Hero" course; verified by hand: counts i 2, love 3, my 3,
  // dog 2, cat 1, you 1, sorted by count with ties in order of first appearance.
  nb::data::Tokenizer plain({.num_words = 100});
  plain.fit_on_texts({"I love my dog", "I love my cat", "You love my dog!"});
  REQUIRE(plain.word_index() == std::unordered_map<std::string, std::int64_t>{
                                    {"love", 1}, {"my", 2}, {"i", 3}, {"dog", 4}, {"cat", 5}, {"you", 6}});

  nb::data::Tokenizer tokenizer({.num_words = 100, .oov_token = "<OOV>"});
  const std::vector<std::string> sentences{"I love my dog", "I love my cat", "You love my dog!",
                                           "Do you think my dog is amazing?"};
  tokenizer.fit_on_texts(sentences);
  REQUIRE(tokenizer.word_index() == std::unordered_map<std::string, std::int64_t>{{"<OOV>", 1},
                                                                                  {"my", 2},
                                                                                  {"love", 3},
                                                                                  {"dog", 4},
                                                                                  {"i", 5},
                                                                                  {"you", 6},
                                                                                  {"cat", 7},
                                                                                  {"do", 8},
                                                                                  {"think", 9},
                                                                                  {"is", 10},
                                                                                  {"amazing", 11}});
  REQUIRE(tokenizer.texts_to_sequences(sentences) ==
          std::vector<Ids>{{5, 3, 2, 4}, {5, 3, 2, 7}, {6, 3, 2, 4}, {8, 6, 9, 2, 4, 10, 11}});
  REQUIRE(tokenizer.texts_to_sequences({"i really love my dog", "my dog loves my manatee"}) ==
          std::vector<Ids>{{5, 1, 3, 2, 4}, {2, 4, 1, 2, 1}});
  REQUIRE(tokenizer.document_count() == 4);
  REQUIRE(tokenizer.vocabulary_size() == 12);
  REQUIRE(tokenizer.word_counts().front() == std::pair<std::string, std::int64_t>{"i", 2});
  REQUIRE(tokenizer.word_docs().at("my") == 4);
  REQUIRE(tokenizer.word_of(2) == "my");
  REQUIRE(tokenizer.index_of("dog") == 4);
  REQUIRE_FALSE(tokenizer.index_of("manatee").has_value());
  REQUIRE_THROWS_AS(tokenizer.word_of(12), nb::ValueError);

  // Frequency first (c 3, a 2, b 1) ...
  nb::data::Tokenizer by_count;
  by_count.fit_on_texts({"b a", "a c c c"});
  REQUIRE(by_count.word_index() == std::unordered_map<std::string, std::int64_t>{{"c", 1}, {"a", 2}, {"b", 3}});
  // ... and when all counts tie, the order of first appearance decides (b, a, c), across texts.
  nb::data::Tokenizer tied;
  tied.fit_on_texts({"b a c", "c a b"});
  REQUIRE(tied.word_index() == std::unordered_map<std::string, std::int64_t>{{"b", 1}, {"a", 2}, {"c", 3}});
  // fit_on_texts adds to earlier counts: "c" overtakes.
  tied.fit_on_texts({"c"});
  REQUIRE(tied.index_of("c") == 1);
  REQUIRE(tied.document_count() == 3);
}

TEST_CASE("Tokenizer: num_words keeps indices below num_words, the rest go to OOV or away", "[data][text]") {
  // Counts: a 3, b 2, c 1.
  nb::data::Tokenizer without_oov({.num_words = 3});
  without_oov.fit_on_texts({"a a a b b c"});
  REQUIRE(without_oov.word_index().at("c") == 3);  // word_index keeps every word
  REQUIRE(without_oov.texts_to_sequences({"a b c d"}) == std::vector<Ids>{{1, 2}});
  REQUIRE(without_oov.sequences_to_texts({{1, 2, 3, 0, 9}}) == std::vector<std::string>{"a b"});
  REQUIRE(without_oov.vocabulary_size() == 3);

  nb::data::Tokenizer with_oov({.num_words = 3, .oov_token = "<OOV>"});
  with_oov.fit_on_texts({"a a a b b c"});  // <OOV> 1, a 2, b 3, c 4
  REQUIRE(with_oov.texts_to_sequences({"a b c d"}) == std::vector<Ids>{{2, 1, 1, 1}});
  REQUIRE(with_oov.sequences_to_texts({{2, 3, 4, 0, 99}}) == std::vector<std::string>{"a <OOV> <OOV> <OOV> <OOV>"});

  nb::data::Tokenizer unlimited({.oov_token = "<OOV>"});
  unlimited.fit_on_texts({"a a a b b c"});
  REQUIRE(unlimited.texts_to_sequences({"c b a zebra"}) == std::vector<Ids>{{4, 3, 2, 1}});
  REQUIRE(unlimited.sequences_to_texts({{4, 3, 2, 1}}) == std::vector<std::string>{"c b a <OOV>"});
  REQUIRE(unlimited.vocabulary_size() == 5);

  nb::data::Tokenizer zero_means_all({.num_words = 0});  // Keras treats num_words=0 as "no limit"
  zero_means_all.fit_on_texts({"a b"});
  REQUIRE(zero_means_all.texts_to_sequences({"b a"}) == std::vector<Ids>{{2, 1}});

  REQUIRE_THROWS_AS(nb::data::Tokenizer({.num_words = -1}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::Tokenizer({.split = ""}), nb::ValueError);
}

TEST_CASE("Vocabulary: specials, min_freq, max_size, encode and decode", "[data][text]") {
  nb::data::Vocabulary empty;
  REQUIRE(empty.size() == 2);
  REQUIRE(empty.token_of(0) == "<pad>");
  REQUIRE(empty.token_of(1) == "<unk>");

  const std::vector<std::vector<std::string>> texts{{"b", "a", "a", "c"}, {"b", "d", "a", "<pad>"}};
  nb::data::Vocabulary all(texts);
  REQUIRE(all.tokens() == std::vector<std::string>{"<pad>", "<unk>", "a", "b", "c", "d"});  // "<pad>" keeps 0
  REQUIRE(all.index_of("<pad>") == nb::data::Vocabulary::pad_index);
  REQUIRE(all.encode({"d", "zebra", "a"}) == Ids{5, 1, 2});
  REQUIRE(all.decode({2, 0, 1}) == std::vector<std::string>{"a", "<pad>", "<unk>"});
  REQUIRE(all.contains("c"));

  nb::data::Vocabulary frequent(texts, {.min_freq = 2});
  REQUIRE(frequent.tokens() == std::vector<std::string>{"<pad>", "<unk>", "a", "b"});
  REQUIRE(frequent.index_of("c") == nb::data::Vocabulary::unk_index);
  nb::data::Vocabulary small(texts, {.max_size = 3});
  REQUIRE(small.tokens() == std::vector<std::string>{"<pad>", "<unk>", "a"});
  nb::data::Vocabulary named(texts, {.pad_token = "[PAD]", .unk_token = "[UNK]"});
  REQUIRE(named.decode({0, 1}) == std::vector<std::string>{"[PAD]", "[UNK]"});

  REQUIRE_THROWS_AS(all.token_of(6), nb::ValueError);
  REQUIRE_THROWS_WITH(all.decode({-1}), Contains("index -1 is outside [0, 6)"));
  REQUIRE_THROWS_AS(nb::data::Vocabulary(texts, {.min_freq = 0}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::Vocabulary(texts, {.max_size = 1}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::Vocabulary(texts, {.pad_token = "x", .unk_token = "x"}), nb::ValueError);
}

TEST_CASE("pad_sequences: Keras's documented examples and the other options", "[data][text]") {
  const std::vector<Ids> sequence{{1}, {2, 3}, {4, 5, 6}};
  // keras.utils.pad_sequences documentation, verbatim.
  auto pre = nb::data::pad_sequences(sequence);
  REQUIRE(pre.shape() == nb::Shape{3, 3});
  REQUIRE(values_of(pre) == Ids{0, 0, 1, 0, 2, 3, 4, 5, 6});
  REQUIRE(values_of(nb::data::pad_sequences(sequence, {.value = -1})) == Ids{-1, -1, 1, -1, 2, 3, 4, 5, 6});
  REQUIRE(values_of(nb::data::pad_sequences(sequence, {.padding = nb::data::Side::post})) ==
          Ids{1, 0, 0, 2, 3, 0, 4, 5, 6});
  auto cut = nb::data::pad_sequences(sequence, {.maxlen = 2});
  REQUIRE(cut.shape() == nb::Shape{3, 2});
  REQUIRE(values_of(cut) == Ids{0, 1, 2, 3, 5, 6});

  // Worked out from Keras's code: truncating post keeps the start.
  REQUIRE(values_of(nb::data::pad_sequences(sequence, {.maxlen = 2, .truncating = nb::data::Side::post})) ==
          Ids{0, 1, 2, 3, 4, 5});
  REQUIRE(values_of(nb::data::pad_sequences(
              sequence, {.maxlen = 2, .padding = nb::data::Side::post, .truncating = nb::data::Side::post})) ==
          Ids{1, 0, 2, 3, 4, 5});
  REQUIRE(values_of(nb::data::pad_sequences({{7, 8}}, {.maxlen = 4})) == Ids{0, 0, 7, 8});
  REQUIRE(values_of(nb::data::pad_sequences({{}, {9}})) == Ids{0, 9});
  REQUIRE(nb::data::pad_sequences({}).shape() == nb::Shape{0, 0});
  REQUIRE(nb::data::pad_sequences({}, {.maxlen = 3}).shape() == nb::Shape{0, 3});
  REQUIRE(nb::data::pad_sequences(sequence, {.maxlen = 0}).shape() == nb::Shape{3, 0});
  REQUIRE_THROWS_AS(nb::data::pad_sequences(sequence, {.maxlen = -1}), nb::ValueError);
}

// ================================================================================================
// Language-model batches
// ================================================================================================

TEST_CASE("LanguageModelBatcher: rows, shifted targets, short last batch", "[data][language_model]") {
  Ids stream(27);
  for (std::size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<std::int64_t>(i);
  nb::data::LanguageModelBatcher batcher(stream, 2, 5);
  // 27 tokens -> 2 rows of 13 (token 26 dropped); (13 - 1) / 5 -> 3 batches, the last of 2 steps.
  REQUIRE(batcher.rows().shape() == nb::Shape{2, 13});
  REQUIRE(batcher.rows().at({1, 0}) == 13);
  REQUIRE(batcher.size() == 3);

  auto first = batcher.batch(0);
  REQUIRE(values_of(first.inputs) == Ids{0, 1, 2, 3, 4, 13, 14, 15, 16, 17});
  REQUIRE(values_of(first.targets) == Ids{1, 2, 3, 4, 5, 14, 15, 16, 17, 18});
  auto last = batcher.batch(2);
  REQUIRE(last.inputs.shape() == nb::Shape{2, 2});
  REQUIRE(values_of(last.inputs) == Ids{10, 11, 23, 24});
  REQUIRE(values_of(last.targets) == Ids{11, 12, 24, 25});

  // Continuity: row b of consecutive batches reads row b of the stream without gaps or
  // overlaps, and every target is the input's successor.
  std::vector<Ids> read(2);
  std::int64_t batches = 0;
  for (const auto& [inputs, targets] : batcher) {
    ++batches;
    REQUIRE(inputs.is_contiguous());
    REQUIRE(inputs.shape() == targets.shape());
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t t = 0; t < inputs.size(1); ++t) {
        read[static_cast<std::size_t>(b)].push_back(inputs.at({b, t}));
        REQUIRE(targets.at({b, t}) == inputs.at({b, t}) + 1);
      }
  }
  REQUIRE(batches == 3);
  REQUIRE(read[0] == Ids{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  REQUIRE(read[1] == Ids{13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24});

  // length - 1 a multiple of seq_len: no empty batch at the end.
  REQUIRE(nb::data::LanguageModelBatcher(Ids(22, 0), 2, 5).size() == 2);
  // seq_len longer than a row: one batch of length - 1 steps.
  REQUIRE(nb::data::LanguageModelBatcher(Ids(8, 0), 2, 50).batch(0).inputs.shape() == nb::Shape{2, 3});

  REQUIRE_THROWS_AS(nb::data::LanguageModelBatcher(stream, 0, 5), nb::ValueError);
  REQUIRE_THROWS_AS(nb::data::LanguageModelBatcher(stream, 2, 0), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::data::LanguageModelBatcher(Ids{1, 2, 3}, 2, 5),
                      Contains("a stream of 3 tokens is too short for 2 rows"));
  REQUIRE_THROWS_AS(batcher.batch(3), nb::ValueError);
}

TEST_CASE("LanguageModelBatcher: carrying the LSTM state equals reading each row at once", "[data][language_model]") {
  const Ids stream = nb::randint(0, 9, {50}, 3).to_vector();
  nb::data::LanguageModelBatcher batcher(stream, 3,
                                         4);  // rows [3, 16]: batches of 4, 4, 4, 3 steps
  nb::nn::Embedding<double> embedding(9, 5, {.seed = 1});
  nb::nn::LSTM<double> lstm(5, 7, {.return_sequences = true, .seed = 2});
  nb::NoGradGuard no_grad;

  const std::int64_t steps = batcher.rows().size(1) - 1;
  auto whole = lstm(embedding(batcher.rows().narrow(1, 0, steps).contiguous()), nb::nn::LSTMState<double>{}).output;

  nb::nn::LSTMState<double> state;
  std::vector<nb::Tensor<double>> carried, restarted;
  for (const auto& [inputs, targets] : batcher) {
    auto result = lstm(embedding(inputs), state);
    carried.push_back(result.output);
    state = {result.h.detach(), result.c.detach()};
    restarted.push_back(lstm(embedding(inputs), nb::nn::LSTMState<double>{}).output);
  }
  REQUIRE(max_abs_difference(nb::concat(carried, 1), whole) < 1e-12);
  // Starting every batch from zeros instead would not match (so the check above can fail).
  REQUIRE(max_abs_difference(nb::concat(restarted, 1), whole) > 1e-3);
}

// ================================================================================================
// docs/data.md, block by block (each block below appears in the page word for word)
// ================================================================================================

TEST_CASE("data docs: datasets and the DataLoader", "[data][docs]") {
  // 6 samples of 2 features; the target is the sum of the features.
  auto features = nb::arange<float>(0.0f, 12.0f).reshape({6, 2});
  auto targets = nb::from_vector<float>({1, 5, 9, 13, 17, 21}, {6, 1});
  nb::data::TensorDataset<float> dataset(features, targets);

  nb::data::DataLoader loader(dataset, {.batch_size = 4, .shuffle = true, .seed = 42});
  nb::nn::Sequential<float> net;
  net.add<nb::nn::Dense>(2, 1);
  nb::optim::SGD<float> optimizer(net.parameters(), {.lr = 0.001});
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (const auto& [inputs, labels] : loader) {  // inputs [4, 2] then [2, 2]
      auto loss = nb::loss::mse(net(inputs), labels);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }
  // loader.size() == 2 batches per epoch; loader.epoch() == 3 epochs started

  REQUIRE(loader.size() == 2);
  REQUIRE(loader.epoch() == 3);
}

TEST_CASE("data docs: a custom collate pads sentences", "[data][docs]") {
  struct Sentences {  // a dataset of token-id sequences with one label each
    std::vector<std::vector<std::int64_t>> tokens;
    std::vector<std::int64_t> labels;
    std::int64_t size() const { return static_cast<std::int64_t>(tokens.size()); }
    nb::data::Example<std::vector<std::int64_t>, std::int64_t> get(std::int64_t i) const {
      return {tokens[static_cast<std::size_t>(i)], labels[static_cast<std::size_t>(i)]};
    }
  };
  Sentences sentences{{{4, 2}, {7}, {5, 6, 3}}, {1, 0, 1}};

  using Sample = nb::data::Example<std::vector<std::int64_t>, std::int64_t>;
  using PaddedBatch = nb::data::Batch<nb::IndexTensor, nb::IndexTensor>;
  auto pad_batch = [](const std::vector<Sample>& samples) {
    std::vector<std::vector<std::int64_t>> batch_tokens;
    std::vector<std::int64_t> batch_labels;
    for (const auto& sample : samples) {
      batch_tokens.push_back(sample.input);
      batch_labels.push_back(sample.target);
    }
    return PaddedBatch{nb::data::pad_sequences(batch_tokens), nb::from_vector<std::int64_t>(batch_labels)};
  };
  nb::data::DataLoader sentence_loader(sentences, {.batch_size = 2}, pad_batch);
  auto first = *sentence_loader.begin();
  // first.inputs == [[4, 2], [0, 7]] (padded to the longest of the batch)
  // first.targets == [1, 0]

  REQUIRE(values_of(first.inputs) == Ids{4, 2, 0, 7});
  REQUIRE(values_of(first.targets) == Ids{1, 0});
  std::vector<nb::Shape> shapes;
  for (const auto& batch : sentence_loader) shapes.push_back(batch.inputs.shape());
  REQUIRE(shapes == std::vector<nb::Shape>{{2, 2}, {1, 3}});
}

TEST_CASE("data docs: splits and cross-validation", "[data][docs]") {
  auto table = nb::arange<float>(0.0f, 20.0f).reshape({10, 2});
  nb::data::TensorDataset<float> samples(table, nb::arange<float>(0.0f, 10.0f));
  auto parts = nb::data::random_split(samples, {7, 3}, /*seed=*/42);
  auto& train_part = parts[0];                                   // a Subset: 7 samples
  auto& validation_part = parts[1];                              // the 3 others
  auto validation_batch = validation_part.get_batch({0, 1, 2});  // their features and targets

  auto folds = nb::data::k_fold(/*n=*/10, /*k=*/3, /*seed=*/42);
  for (const auto& [train_indices, validation_indices] : folds) {
    auto fold_train = samples.get_batch(train_indices);
    auto fold_validation = samples.get_batch(validation_indices);
    // ... train on fold_train.inputs, score on fold_validation.inputs
  }
  // folds[0].validation_indices == {1, 3, 4, 6}; the folds have 4, 3 and 3 samples

  REQUIRE(train_part.size() == 7);
  REQUIRE(values_of(validation_batch.targets) == std::vector<float>{5, 2, 8});
  REQUIRE(folds[0].validation_indices == Ids{1, 3, 4, 6});
  REQUIRE(folds[1].validation_indices.size() == 3);
  REQUIRE(folds[2].validation_indices.size() == 3);
}

TEST_CASE("data docs: scaling features and one_hot", "[data][docs]") {
  auto x_train = nb::from_vector<double>({1, 10, 2, 10, 3, 10, 6, 10}, {4, 2});
  nb::data::StandardScaler<double> standard;
  auto x_train_scaled = standard.fit_transform(x_train);
  // column 0: mean 3, standard deviation sqrt(3.5) -> (x - 3) / 1.8708...
  // column 1 is constant: its scale is 1, so it becomes 0 (no division by zero)
  auto x_new = nb::from_vector<double>({4, 12}, {1, 2});
  auto x_new_scaled = standard.transform(x_new);           // uses the training statistics
  auto x_back = standard.inverse_transform(x_new_scaled);  // == x_new

  nb::data::MinMaxScaler<double> min_max({.min = -1, .max = 1});
  auto x_unit = min_max.fit_transform(x_train);  // column 0: 1 -> -1, 6 -> 1; column 1 -> -1

  REQUIRE(x_train_scaled.at({3, 0}) == Approx(3 / 1.8708286933869707));
  REQUIRE(x_train_scaled.at({2, 1}) == 0.0);
  REQUIRE(max_abs_difference(x_back, x_new) < 1e-12);
  REQUIRE(x_unit.at({0, 0}) == Approx(-1.0));
  REQUIRE(x_unit.at({3, 0}) == Approx(1.0));
  REQUIRE(x_unit.at({1, 1}) == Approx(-1.0));

  auto encoded = nb::data::one_hot<float>({2, 0, 1}, 4);
  // [[0, 0, 1, 0],
  //  [1, 0, 0, 0],
  //  [0, 1, 0, 0]]

  REQUIRE(values_of(encoded) == std::vector<float>{0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0});
}

TEST_CASE("data docs: CSV files", "[data][docs]") {
  std::istringstream file(
      "town,rooms,price\n"
      "\"Springfield, MA\",6,24.0\n"
      "Shelbyville,,21.6\n"  // rooms is missing here
      "\"The \"\"Old\"\" Mill\",5,34.7\n");
  auto houses = nb::data::read_csv(file, {.missing = nb::data::MissingPolicy::fill, .fill_value = 0}, "houses.csv");
  // [3, 2]: {6, 24}, {0, 21.6}, {5, 34.7}
  auto rooms_and_price = houses.to_tensor<float>({"rooms", "price"});
  // Springfield, MA | Shelbyville | The "Old" Mill
  const auto& towns = houses.strings("town");

  REQUIRE(values_of(rooms_and_price) == std::vector<float>{6, 24, 0, 21.6f, 5, 34.7f});
  REQUIRE(towns == std::vector<std::string>{"Springfield, MA", "Shelbyville", "The \"Old\" Mill"});

  // The error messages the page shows.
  REQUIRE_THROWS_WITH(csv_from("town,rooms,price\nA,1,2\nB,3\n", {}, "houses.csv"),
                      Contains("read_csv: houses.csv:3: row has 2 fields, but the header has 3"));
  REQUIRE_THROWS_WITH(csv_from("town,rooms,price\nA,1,2\nB,3,4\n\"C,5,6\n", {}, "houses.csv"),
                      Contains("read_csv: houses.csv:4: field 1 opens a quote that is never closed"));
  REQUIRE_THROWS_WITH(csv_from("town,rooms,price\nA,1,2\nB,,4\n", {}, "houses.csv"),
                      Contains("read_csv: houses.csv:3: missing value in column 'rooms' (field 2); to accept "
                               "missing values set CsvOptions::missing to MissingPolicy::skip_row or fill"));
  REQUIRE_THROWS_WITH(
      csv_from("town,rooms,price\nA,1,2\nB,3,4\nC,5,6\nD,six,8\n", {}, "houses.csv").column<float>("rooms"),
      Contains("CsvTable::column: houses.csv:5: column 'rooms' holds 'six', which is not a number"));
}

TEST_CASE("data docs: Tokenizer and pad_sequences", "[data][docs]") {
  nb::data::Tokenizer tokenizer({.num_words = 100, .oov_token = "<OOV>"});
  tokenizer.fit_on_texts({"I love my dog", "I love my cat", "You love my dog!", "Do you think my dog is amazing?"});
  // word_index: <OOV> 1, my 2, love 3, dog 4, i 5, you 6, cat 7, do 8, think 9, is 10, amazing 11
  auto sequences = tokenizer.texts_to_sequences({"i really love my dog", "my dog loves my manatee"});
  // {{5, 1, 3, 2, 4}, {2, 4, 1, 2, 1}}: "really", "loves" and "manatee" are out of vocabulary
  auto padded = nb::data::pad_sequences(sequences, {.maxlen = 6, .padding = nb::data::Side::post});
  // [[5, 1, 3, 2, 4, 0],
  //  [2, 4, 1, 2, 1, 0]]
  auto texts = tokenizer.sequences_to_texts(sequences);  // "i <OOV> love my dog", ...

  REQUIRE(tokenizer.word_index().at("amazing") == 11);
  REQUIRE(sequences == std::vector<Ids>{{5, 1, 3, 2, 4}, {2, 4, 1, 2, 1}});
  REQUIRE(values_of(padded) == Ids{5, 1, 3, 2, 4, 0, 2, 4, 1, 2, 1, 0});
  REQUIRE(texts == std::vector<std::string>{"i <OOV> love my dog", "my dog <OOV> my <OOV>"});

  std::vector<std::vector<std::int64_t>> sequence = {{1}, {2, 3}, {4, 5, 6}};
  using nb::data::pad_sequences, nb::data::Side;
  auto pre = pad_sequences(sequence);                            // [[0,0,1],[0,2,3],[4,5,6]]
  auto minus_one = pad_sequences(sequence, {.value = -1});       // [[-1,-1,1],[-1,2,3],[4,5,6]]
  auto post = pad_sequences(sequence, {.padding = Side::post});  // [[1,0,0],[2,3,0],[4,5,6]]
  auto short_rows = pad_sequences(sequence, {.maxlen = 2});      // [[0,1],[2,3],[5,6]]

  REQUIRE(values_of(pre) == Ids{0, 0, 1, 0, 2, 3, 4, 5, 6});
  REQUIRE(values_of(minus_one) == Ids{-1, -1, 1, -1, 2, 3, 4, 5, 6});
  REQUIRE(values_of(post) == Ids{1, 0, 0, 2, 3, 0, 4, 5, 6});
  REQUIRE(values_of(short_rows) == Ids{0, 1, 2, 3, 5, 6});
}

TEST_CASE("data docs: Vocabulary", "[data][docs]") {
  std::vector<std::vector<std::string>> corpus = {nb::data::text_to_word_sequence("the cat sat on the mat"),
                                                  nb::data::text_to_word_sequence("The dog sat.")};
  nb::data::Vocabulary vocabulary(corpus, {.min_freq = 2});
  // tokens(): <pad> <unk> the sat        ("the" 3 times, "sat" twice; the rest once)
  auto ids = vocabulary.encode({"the", "dog", "sat"});  // {2, 1, 3}
  auto words = vocabulary.decode(ids);                  // {"the", "<unk>", "sat"}

  REQUIRE(vocabulary.tokens() == std::vector<std::string>{"<pad>", "<unk>", "the", "sat"});
  REQUIRE(ids == Ids{2, 1, 3});
  REQUIRE(words == std::vector<std::string>{"the", "<unk>", "sat"});
}

TEST_CASE("data docs: language-model batches with the LSTM state carried", "[data][docs]") {
  std::vector<std::int64_t> stream;
  for (int i = 0; i < 40; ++i) stream.push_back(i % 10);  // a tiny "text" of 10 token ids

  nb::data::LanguageModelBatcher batcher(stream, /*batch_size=*/2, /*seq_len=*/6);
  // rows: [2, 20]; batches: 4 (inputs [2, 6], [2, 6], [2, 6], [2, 1])
  nb::nn::Embedding<float> embedding(10, 8, {.seed = 1});
  nb::nn::LSTM<float> lstm(8, 16, {.return_sequences = true, .seed = 2});
  nb::nn::Dense<float> decoder(16, 10);
  std::vector<nb::Tensor<float>> parameters = embedding.parameters();
  for (const auto& group : {lstm.parameters(), decoder.parameters()})
    parameters.insert(parameters.end(), group.begin(), group.end());
  nb::optim::Adam<float> adam(parameters, {.lr = 0.01});

  nb::nn::LSTMState<float> state;  // undefined h and c: zeros at the start of the stream
  for (const auto& [inputs, next_tokens] : batcher) {
    auto result = lstm(embedding(inputs), state);
    auto loss = nb::loss::cross_entropy(decoder(result.output), next_tokens);
    adam.zero_grad();
    loss.backward();
    adam.step();
    state = {result.h.detach(), result.c.detach()};  // row b of the next batch continues row b
  }

  REQUIRE(batcher.rows().shape() == nb::Shape{2, 20});
  REQUIRE(batcher.size() == 4);
  REQUIRE(batcher.batch(3).inputs.shape() == nb::Shape{2, 1});
  REQUIRE(state.h.shape() == nb::Shape{1, 2, 16});
  REQUIRE_FALSE(state.h.requires_grad());
}

TEST_CASE("data docs: every code block of docs/data.md appears in this file", "[data][docs]") {
  // The page's blocks are checked line by line (ignoring spacing) against this source, so
  // the docs cannot drift from the tests above. The first block (the include) is exempt.
  const std::string directory = std::string(NABLA_FIXTURE_DIR) + "/..";
  auto read_lines = [](const std::string& path) {
    std::ifstream file(path);
    INFO("reading " << path);
    REQUIRE(file.good());
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(file, line)) {
      // Compare words, not layout: runs of spaces (alignment, indentation) count as one.
      std::string words;
      std::istringstream split(line);
      for (std::string word; split >> word;) words += (words.empty() ? "" : " ") + word;
      lines.push_back(words);
    }
    return lines;
  };
  const auto page = read_lines(directory + "/../docs/data.md");
  const auto source = read_lines(directory + "/test_data.cpp");

  std::vector<std::vector<std::string>> blocks;
  bool inside = false;
  for (const auto& line : page) {
    if (!inside && line == "```cpp") {
      inside = true;
      blocks.emplace_back();
    } else if (inside && line == "```") {
      inside = false;
    } else if (inside && !line.empty()) {
      blocks.back().push_back(line);
    }
  }
  REQUIRE(blocks.size() >= 9);
  std::vector<std::string> code;  // the source without blank lines
  for (const auto& line : source)
    if (!line.empty()) code.push_back(line);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto& block = blocks[b];
    if (!block.empty() && block.front().rfind("#include", 0) == 0) continue;
    bool found = false;
    for (std::size_t start = 0; !found && start + block.size() <= code.size(); ++start)
      found = std::equal(block.begin(), block.end(), code.begin() + static_cast<std::ptrdiff_t>(start));
    INFO("docs/data.md code block " << b + 1 << " starting with: " << (block.empty() ? "" : block.front()));
    CHECK(found);
  }
}

TEST_CASE("data docs: the pipeline at scale, token files", "[data][docs][data_pipeline]") {
  const nabla_test::InTempDir scratch("data_docs");  // the files the docs write by name land here
  // A corpus as token ids (from any tokenizer), written once; every id below the vocabulary size.
  std::vector<std::int64_t> corpus = {5, 3, 8, 1, 9, 2, 7, 4, 6, 0, 5, 3, 8};
  nb::io::write_token_file("corpus.tokens", corpus, /*vocabulary_size=*/10);  // uint16: 64 + 26 bytes

  nb::data::TokenFileDataset windows("corpus.tokens", {.context = 4});
  // windows.size() == 3; windows.get(1): inputs [9, 2, 7, 4], targets [2, 7, 4, 6]
  nb::data::DataLoader token_loader(windows, {.batch_size = 2, .shuffle = true, .seed = 1, .num_workers = 2});
  std::vector<nb::Shape> shapes;
  for (const auto& [inputs, targets] : token_loader) shapes.push_back(inputs.shape());
  // shapes == {[2, 4], [1, 4]}
  REQUIRE(windows.size() == 3);
  REQUIRE(windows.get(1).input.to_vector() == std::vector<std::int64_t>{9, 2, 7, 4});
  REQUIRE(windows.get(1).target.to_vector() == std::vector<std::int64_t>{2, 7, 4, 6});
  REQUIRE(windows.token_width() == 2);
  REQUIRE(std::filesystem::file_size("corpus.tokens") == 64 + 26);
  REQUIRE(shapes == std::vector<nb::Shape>{{2, 4}, {1, 4}});
  std::filesystem::remove("corpus.tokens");
}

TEST_CASE("data docs: the pipeline at scale, preparing a corpus", "[data][docs][data_pipeline]") {
  const nabla_test::InTempDir scratch("data_docs");  // the files the docs write by name land here
  std::vector<std::string> documents = {"The jury said it did find", "that many of the jury did not"};
  nb::data::Tokenizer tokenizer;
  tokenizer.fit_on_texts(documents);
  nb::io::TokenFileWriter writer("documents.tokens", static_cast<std::uint64_t>(tokenizer.vocabulary_size()));
  for (const auto& ids : tokenizer.texts_to_sequences(documents)) writer.append(ids);  // a document at a time
  writer.commit();  // the header (count, CRC) written, the file synced and renamed into place
  // documents.tokens: 13 uint16 ids, "the jury said it did find that many of the jury did not"
  nb::data::TokenFileDataset written("documents.tokens", {.context = 12});
  REQUIRE(written.token_count() == 13);
  REQUIRE(written.token_width() == 2);
  std::vector<std::int64_t> stream = written.get(0).input.to_vector();
  stream.push_back(written.get(0).target.to_vector().back());
  REQUIRE(tokenizer.sequences_to_texts({stream}).front() == "the jury said it did find that many of the jury did not");
  std::filesystem::remove("documents.tokens");
}

TEST_CASE("data docs: the pipeline at scale, sharded streams", "[data][docs][data_pipeline]") {
  const nabla_test::InTempDir scratch("data_docs");  // the files the docs write by name land here
  std::vector<std::string> shards;
  for (int s = 0; s < 4; ++s) {
    shards.push_back("shard-" + std::to_string(s) + ".tokens");
    nb::io::write_token_file(shards.back(), std::vector<std::int64_t>(100, s), /*vocabulary_size=*/4);
  }
  nb::data::ShardedTokenDataset stream(
      shards,
      {.file = {.context = 9}, .shuffle_shards = true, .shuffle_buffer = 16, .seed = 3, .rank = 0, .world_size = 2});
  nb::data::DataLoader stream_loader(stream, {.batch_size = 8, .num_workers = 2});
  // rank 0 reads 2 of the 4 shards each epoch (another pair each epoch): 2 x 11 windows, 3 batches
  REQUIRE(stream.size() == 44);
  REQUIRE(stream.examples_for_epoch(0) == 22);
  REQUIRE(stream_loader.size() == 3);
  std::set<std::int64_t> shards_seen;
  for (const auto& batch : stream_loader)
    for (const std::int64_t id : batch.inputs.to_vector()) shards_seen.insert(id);
  REQUIRE(shards_seen.size() == 2);
  bool another_pair = false;  // the shard order is shuffled per epoch
  for (std::uint64_t epoch = 1; epoch < 6; ++epoch)
    another_pair = another_pair || stream.shards_for_epoch(epoch) != stream.shards_for_epoch(0);
  REQUIRE(another_pair);
  for (const auto& shard : shards) std::filesystem::remove(shard);
}

TEST_CASE("data docs: the pipeline at scale, augmentation", "[data][docs][data_pipeline]") {
  const nabla_test::InTempDir scratch("data_docs");  // the files the docs write by name land here
  nb::io::write_token_file("text.tokens", std::vector<std::int64_t>(200, 7), /*vocabulary_size=*/100);
  nb::data::TokenFileDataset text("text.tokens", {.context = 32});
  auto augmented = nb::data::Augmented(text,
                                       nb::data::Compose{nb::data::TokenDropout{.probability = 0.1, .replacement = 0},
                                                         nb::data::RandomCrop{.length = 24}},
                                       /*seed=*/7);
  nb::data::DataLoader augmented_loader(augmented, {.batch_size = 4, .shuffle = true, .seed = 1, .num_workers = 2});
  auto cropped = *augmented_loader.begin();  // inputs [4, 24]: about 10% of the 7s became 0 (<unk>)

  nb::data::TensorDataset<float> points(nb::randn<float>({64, 3}, 1), nb::randn<float>({64, 1}, 2));
  nb::data::DataLoader mixed(points, {.batch_size = 16, .shuffle = true, .seed = 5});
  mixed.set_batch_transform(nb::data::Mixup{.alpha = 0.2});  // x, y = lambda (x, y) + (1 - lambda) (x, y)[perm]
  REQUIRE(cropped.inputs.shape() == nb::Shape{4, 24});
  const auto ids = cropped.inputs.to_vector();
  const auto unknown = std::count(ids.begin(), ids.end(), std::int64_t{0});
  REQUIRE(unknown > 0);
  REQUIRE(unknown < 30);
  REQUIRE(augmented.get(2, 0).input.to_vector() == augmented.get(2, 0).input.to_vector());
  auto mixed_batch = *mixed.begin();
  REQUIRE(mixed_batch.inputs.shape() == nb::Shape{16, 3});
  std::filesystem::remove("text.tokens");
}

TEST_CASE("data docs: the pipeline at scale, resuming mid-epoch", "[data][docs][data_pipeline]") {
  const nabla_test::InTempDir scratch("data_docs");  // the files the docs write by name land here
  auto table = nb::arange<float>(0.0f, 40.0f).reshape({20, 2});
  nb::data::TensorDataset<float> rows(table, table);
  nb::data::DataLoader first_run(rows, {.batch_size = 4, .shuffle = true, .seed = 9, .num_workers = 2});
  int seen = 0;
  for (const auto& batch : first_run) {
    (void)batch;             // ... a training step ...
    if (++seen == 2) break;  // killed after 2 of the epoch's 5 batches
  }
  nb::io::Checkpoint checkpoint;
  nb::data::save_loader_state(checkpoint, first_run.state());  // data.epoch = 0, data.batch = 2, ...
  nb::io::save_checkpoint("run.nabla", checkpoint);

  nb::data::DataLoader second_run(rows, {.batch_size = 4, .shuffle = true, .seed = 9, .num_workers = 2});
  second_run.load_state(nb::data::load_loader_state(nb::io::load_checkpoint("run.nabla")));
  // second_run's next pass yields batches 2, 3 and 4 of epoch 0; the pass after it is epoch 1
  REQUIRE(checkpoint.metadata.at("data.epoch") == "0");
  REQUIRE(checkpoint.metadata.at("data.batch") == "2");
  nb::data::DataLoader uninterrupted(rows, {.batch_size = 4, .shuffle = true, .seed = 9});
  std::vector<std::vector<float>> expected, resumed;
  for (const auto& batch : uninterrupted) expected.push_back(batch.inputs.to_vector());
  for (const auto& batch : second_run) resumed.push_back(batch.inputs.to_vector());
  REQUIRE(resumed == std::vector<std::vector<float>>(expected.begin() + 2, expected.end()));
  REQUIRE(second_run.epoch() == 1);
  std::filesystem::remove("run.nabla");
}

}  // namespace test_data
