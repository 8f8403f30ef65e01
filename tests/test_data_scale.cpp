// Session 7's pieces of the data pipeline and of data-parallel evaluation: DataLoader::end()
// without recomputing a sampler's order, the token file's read-ahead of a batch's windows,
// metrics' totals (what ranks add up) and DistributedSampler's unpadded shards.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nabla/nabla.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/dataloader.hpp"
#include "nabla/data/distributed_sampler.hpp"
#include "nabla/data/token_file.hpp"
#include "nabla/io/token_file.hpp"
#include "nabla/metrics/classification.hpp"
#include "nabla/metrics/regression.hpp"
#include "nabla/ops/factories.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_data_scale {

namespace nb = nabla;
namespace fs = std::filesystem;

TEST_CASE("DataLoader: end() does not recompute an order_sampler's order", "[data_pipeline]") {
  auto features = nb::arange<float>(0.0f, 40.0f).reshape({40, 1});
  nb::data::TensorDataset<float> dataset(features, features);
  for (const int workers : {0, 2}) {
    nb::data::DataLoader loader(dataset, {.batch_size = 3, .num_workers = workers});
    int order_calls = 0;
    loader.set_sampler(nb::data::order_sampler([&order_calls](std::uint64_t epoch) {
      ++order_calls;
      return nb::data::shuffled_indices(40, 5, epoch);
    }));
    std::vector<float> hand_written;
    // A hand-written loop compares with end() at every step: 14 batches, 3 epochs.
    for (int epoch = 0; epoch < 3; ++epoch)
      for (auto it = loader.begin(); it != loader.end(); ++it)
        for (const float v : it->inputs.to_vector()) hand_written.push_back(v);
    CHECK(order_calls == 3);  // once per epoch, for the pass's size and its order together
    CHECK(loader.size() == 14);
    CHECK(order_calls == 4);  // epoch 3's order, asked for by size() ...
    for (const auto& batch : loader) (void)batch;
    CHECK(order_calls == 4);  // ... is the one its pass uses
    REQUIRE(hand_written.size() == 120);
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      const auto order = nb::data::shuffled_indices(40, 5, epoch);
      for (std::size_t i = 0; i < 40; ++i) CHECK(hand_written[epoch * 40 + i] == static_cast<float>(order[i]));
    }
  }
}

namespace {

/// Samples 0..n-1 (a float each) that log every prefetch() and get() call, in order.
struct LoggingDataset {
  std::int64_t count;
  std::shared_ptr<std::vector<std::string>> log = std::make_shared<std::vector<std::string>>();
  std::int64_t size() const { return count; }
  nb::data::Example<nb::Tensor<float>, nb::Tensor<float>> get(std::int64_t index) const {
    log->push_back("get " + std::to_string(index));
    const auto value = nb::full<float>({1}, static_cast<float>(index));
    return {value, value};
  }
  void prefetch(const std::vector<std::int64_t>& indices) const {
    std::string entry = "prefetch";
    for (const std::int64_t index : indices) entry += " " + std::to_string(index);
    log->push_back(entry);
  }
};

}  // namespace

TEST_CASE("DataLoader: without workers, the next batch is prefetched while the current one is used",
          "[data_pipeline]") {
  static_assert(nb::data::PrefetchingDataset<LoggingDataset>);
  static_assert(nb::data::PrefetchingDataset<nb::data::TokenFileDataset>);
  LoggingDataset dataset{7};
  nb::data::DataLoader loader(dataset, {.batch_size = 3, .shuffle = true, .seed = 2});
  const auto order = nb::data::shuffled_indices(7, 2, 0);
  std::vector<float> seen;
  for (const auto& batch : loader)
    for (const float v : batch.inputs.to_vector()) seen.push_back(v);
  REQUIRE(seen.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) CHECK(seen[i] == static_cast<float>(order[i]));  // the batches are unchanged
  const auto name = [&](std::size_t i) { return std::to_string(order[i]); };
  const std::vector<std::string> expected = {
      "get " + name(0), "get " + name(1), "get " + name(2), "prefetch " + name(3) + " " + name(4) + " " + name(5),
      "get " + name(3), "get " + name(4), "get " + name(5), "prefetch " + name(6),
      "get " + name(6)};  // the last batch has nothing after it
  CHECK(*dataset.log == expected);
  // A resumed pass prefetches from where it resumes.
  dataset.log->clear();
  loader.load_state({.epoch = 1, .batch = 1, .seed = 2, .batch_size = 3});
  const auto order1 = nb::data::shuffled_indices(7, 2, 1);
  for (const auto& batch : loader) (void)batch;
  REQUIRE(dataset.log->size() == 5);
  CHECK((*dataset.log)[0] == "get " + std::to_string(order1[3]));
  CHECK((*dataset.log)[3] == "prefetch " + std::to_string(order1[6]));
}

TEST_CASE("token file: random-access batches ask for their pages first and serve the same windows", "[data_pipeline]") {
  const fs::path path = fs::temp_directory_path() / ("nabla_test_data_scale_" + std::to_string(::getpid()) + ".tokens");
  std::vector<std::int64_t> ids(5000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>((i * 7919) % 1000);
  nb::io::write_token_file(path.string(), ids, 1000);
  {
    const nb::data::TokenFileDataset sequential(path.string(), {.context = 9, .stride = 1});
    const nb::data::TokenFileDataset random(path.string(), {.context = 9, .stride = 1, .random_access = true});
    const std::vector<std::int64_t> windows = {4000, 3, 2500, 17, 4989, 1200};
    const auto expected = sequential.get_batch(windows);
    const auto batch = random.get_batch(windows);
    CHECK(batch.inputs.to_vector() == expected.inputs.to_vector());
    CHECK(batch.targets.to_vector() == expected.targets.to_vector());
    CHECK(batch.inputs.to_vector()[9] == ids[3]);                  // row 1 starts at token 3
    CHECK_THROWS_AS(random.get_batch({0, 4991}), nb::ValueError);  // checked before any read-ahead
  }
  fs::remove(path);
}

namespace {

/// A metric that keeps no totals(): its ranks' results are averaged, weighted by samples.
class MeanPrediction final : public nb::metrics::Metric {
 public:
  double result() const override { return count_ > 0 ? sum_ / static_cast<double>(count_) : 0.0; }
  void reset() override { sum_ = 0, count_ = 0; }
  std::string name() const override { return "mean_prediction"; }
  bool higher_is_better() const override { return false; }

 protected:
  void accumulate(const nb::metrics::Values& prediction, const nb::metrics::Values&) override {
    for (const double v : prediction.data) sum_ += v;
    count_ += static_cast<std::int64_t>(prediction.data.size());
  }

 private:
  double sum_ = 0;
  std::int64_t count_ = 0;
};

/// Stands in for R ranks in one process: in the first pass each rank's sum() records what it
/// contributes (and returns it), in the second it returns the sum of all ranks' contributions.
struct SimulatedRanks {
  int world;
  std::vector<std::vector<double>> contributions;
  bool second_pass = false;

  class Run final : public nb::train::DataParallelRun {
   public:
    Run(SimulatedRanks& ranks, int rank) : ranks_(ranks), rank_(rank) {}
    int rank() const override { return rank_; }
    int world_size() const override { return ranks_.world; }
    void finish_gradients() override {}
    std::vector<double> sum(std::vector<double> values) override {
      auto& mine = ranks_.contributions[static_cast<std::size_t>(rank_)];
      if (!ranks_.second_pass) return mine = values;
      CHECK(values == mine);  // the same sums as in the first pass
      std::vector<double> total(values.size(), 0.0);
      for (const auto& contribution : ranks_.contributions) {
        REQUIRE(contribution.size() == total.size());
        for (std::size_t i = 0; i < total.size(); ++i) total[i] += contribution[i];
      }
      return total;
    }
    std::uint64_t broadcast_seed(std::uint64_t seed) override { return seed; }
    void barrier() override {}

   private:
    SimulatedRanks& ranks_;
    int rank_;
  };
};

}  // namespace

TEST_CASE("metrics: totals() of two metrics add up to the totals over both their batches", "[metrics]") {
  const auto prediction_a = nb::from_vector<double>({0.9, 0.2, 0.7, 0.4, 0.8}, {5, 1});
  const auto target_a = nb::from_vector<double>({1, 0, 0, 1, 1}, {5, 1});
  const auto prediction_b = nb::from_vector<double>({0.1, 0.6, 0.3}, {3, 1});
  const auto target_b = nb::from_vector<double>({0, 1, 1}, {3, 1});
  const auto check = [&](auto make) {
    auto first = make(), second = make(), both = make(), merged = make();
    first.update(prediction_a, target_a);
    second.update(prediction_b, target_b);
    both.update(prediction_a, target_a);
    both.update(prediction_b, target_b);
    std::vector<double> sum = first.totals();
    const std::vector<double> other = second.totals();
    REQUIRE(!sum.empty());
    REQUIRE(sum.size() == other.size());
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
    merged.set_totals(sum);
    INFO(merged.name());
    CHECK(merged.result() == Approx(both.result()).epsilon(1e-15));
    CHECK(merged.totals() == both.totals());
    CHECK_THROWS_AS(merged.set_totals({1.0}), nb::ValueError);
  };
  check([] { return nb::metrics::Accuracy{}; });
  check([] { return nb::metrics::Precision{}; });
  check([] { return nb::metrics::Recall{}; });
  check([] { return nb::metrics::MAE{}; });
  check([] { return nb::metrics::RMSE{}; });
  // Precision over both batches (3 of 4 predicted positives) is not the mean of the batches'
  // precisions (2/3 and 1/1): the reason ranks add totals instead of averaging results.
  nb::metrics::Precision precision;
  precision.update(prediction_a, target_a);
  precision.update(prediction_b, target_b);
  CHECK(precision.result() == Approx(0.75));
  nb::metrics::Perplexity perplexity;
  perplexity.update(nb::from_vector<double>({1, 2, 3, 0, 0, 1}, {2, 3}), nb::from_vector<double>({2, 0}, {2}));
  nb::metrics::Perplexity copy;
  copy.set_totals(perplexity.totals());
  CHECK(copy.result() == Approx(perplexity.result()).epsilon(1e-15));
  MeanPrediction custom;
  CHECK(custom.totals().empty());
  CHECK_THROWS_AS(custom.set_totals({1.0, 2.0}), nb::ValueError);
}

TEST_CASE("DistributedSampler: equal_shards = false deals every sample to exactly one rank", "[data][distributed]") {
  for (const auto& [n, world] : std::vector<std::pair<std::int64_t, int>>{{23, 3}, {23, 4}, {2, 3}, {9, 1}}) {
    std::multiset<std::int64_t> seen;
    std::int64_t largest = 0, smallest = n;
    for (int rank = 0; rank < world; ++rank) {
      nb::data::DistributedSampler sampler(
          n, {.num_replicas = world, .rank = rank, .shuffle = false, .equal_shards = false});
      const auto indices = sampler.indices();
      CHECK(static_cast<std::int64_t>(indices.size()) == sampler.num_samples());
      CHECK(sampler.total_size() == n);
      for (std::size_t i = 0; i < indices.size(); ++i)
        CHECK(indices[i] == rank + static_cast<std::int64_t>(i) * world);  // positions rank, rank + R, ...
      seen.insert(indices.begin(), indices.end());
      largest = std::max<std::int64_t>(largest, static_cast<std::int64_t>(indices.size()));
      smallest = std::min<std::int64_t>(smallest, static_cast<std::int64_t>(indices.size()));
    }
    CHECK(seen.size() == static_cast<std::size_t>(n));
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == static_cast<std::size_t>(n));
    CHECK(largest - smallest <= 1);
  }
}

TEST_CASE("evaluate: data-parallel ranks add sums and counts, and all report the whole set's figures",
          "[train][distributed]") {
  const auto make = [] {
    nb::Model<double> model;
    model.add<nb::nn::Dense>(4, 5, nb::nn::DenseOptions{.seed = 3})
        .add<nb::nn::Tanh>()
        .add<nb::nn::Dense>(5, 1, nb::nn::DenseOptions{.seed = 4})
        .add<nb::nn::Sigmoid>();
    model.compile(nb::optim::SGD<double>::Options{.lr = 0.1}, nb::loss::BinaryCrossEntropy{},
                  {nb::metrics::Accuracy{}, nb::metrics::Precision{}, nb::metrics::Recall{}, nb::metrics::RMSE{},
                   MeanPrediction{}});
    return model;
  };
  const nb::Tensor<double> x = nb::randn<double>({23, 4}, 7);
  std::vector<double> labels = nb::randn<double>({23}, 8).to_vector();
  for (double& v : labels) v = v > 0.2 ? 1.0 : 0.0;
  const nb::Tensor<double> y = nb::from_vector<double>(labels, {23, 1});
  auto model = make();
  const auto expected = model.evaluate(x, y, 4);
  for (const int world : {1, 2, 3, 4, 30}) {  // 30 ranks: some get no sample at all
    SimulatedRanks ranks{world, std::vector<std::vector<double>>(static_cast<std::size_t>(world))};
    for (const bool second : {false, true}) {
      ranks.second_pass = second;
      for (int rank = 0; rank < world; ++rank) {
        const auto figures = model.evaluate(x, y, 4, std::make_shared<SimulatedRanks::Run>(ranks, rank));
        if (!second) {
          // Each rank evaluated its own share only: positions rank, rank + R, ... of the 23.
          const double shard = rank < 23 ? static_cast<double>((23 - rank + world - 1) / world) : 0.0;
          CHECK(ranks.contributions[static_cast<std::size_t>(rank)][1] == shard);
          continue;
        }
        REQUIRE(figures.size() == expected.size());
        for (const auto& [name, value] : expected) {
          INFO(name << ", rank " << rank << " of " << world);
          CHECK(figures.at(name) == Approx(value).epsilon(1e-12));
        }
      }
    }
  }
}

}  // namespace test_data_scale
