// data::DistributedSampler (data/distributed_sampler.hpp): the shards of a data-parallel job,
// computed here for every rank in one process (the sampler needs no MPI).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <nabla/data/distributed_sampler.hpp>
#include <set>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_distributed_sampler {

namespace nb = nabla;
using nb::data::DistributedSampler;

namespace {

std::vector<std::vector<std::int64_t>> shards(std::int64_t n, int world, bool shuffle, bool drop_last,
                                              std::uint64_t epoch, std::uint64_t seed = 5) {
  std::vector<std::vector<std::int64_t>> result;
  for (int rank = 0; rank < world; ++rank) {
    DistributedSampler sampler(
        n, {.num_replicas = world, .rank = rank, .shuffle = shuffle, .seed = seed, .drop_last = drop_last});
    sampler.set_epoch(epoch);
    result.push_back(sampler.indices());
  }
  return result;
}

}  // namespace

TEST_CASE("DistributedSampler: disjoint shards of equal length that cover the dataset", "[data][distributed]") {
  for (int world : {1, 2, 3, 4}) {
    for (std::int64_t n : {12, 13, 7}) {
      INFO("n = " << n << ", world = " << world);
      const auto parts = shards(n, world, /*shuffle=*/true, /*drop_last=*/false, 0);
      const std::int64_t per_rank = (n + world - 1) / world;
      std::map<std::int64_t, int> seen;
      for (const auto& part : parts) {
        CHECK(static_cast<std::int64_t>(part.size()) == per_rank);
        for (auto index : part) ++seen[index];
      }
      CHECK(static_cast<std::int64_t>(seen.size()) == n);  // every sample visited
      int repeats = 0;
      for (const auto& [index, count] : seen) {
        CHECK(index >= 0);
        CHECK(index < n);
        repeats += count - 1;
      }
      CHECK(repeats == per_rank * world - n);  // padding only: disjoint otherwise
    }
  }
}

TEST_CASE("DistributedSampler: drop_last cuts the tail, no sample twice", "[data][distributed]") {
  const auto parts = shards(13, 4, true, /*drop_last=*/true, 0);
  std::set<std::int64_t> seen;
  for (const auto& part : parts) {
    CHECK(part.size() == 3);
    for (auto index : part) CHECK(seen.insert(index).second);
  }
  CHECK(seen.size() == 12);
  DistributedSampler sampler(13, {.num_replicas = 4, .rank = 1, .drop_last = true});
  CHECK(sampler.num_samples() == 3);
  CHECK(sampler.total_size() == 12);
}

TEST_CASE("DistributedSampler: a new shuffle each epoch, the same on every rank from the seed", "[data][distributed]") {
  const auto epoch0 = shards(20, 2, true, false, 0);
  const auto again = shards(20, 2, true, false, 0);
  const auto epoch1 = shards(20, 2, true, false, 1);
  CHECK(epoch0 == again);  // a function of (seed, epoch): every rank agrees without talking
  CHECK(epoch0 != epoch1);
  CHECK(shards(20, 2, true, false, 0, /*seed=*/6) != epoch0);
  // The union of an epoch is the shuffled_indices permutation, dealt out rank after rank.
  const auto order = nb::data::shuffled_indices(20, 5, 1);
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(epoch1[i % 2][i / 2] == order[i]);
  // Without shuffle: rank r takes r, r + R, ...
  CHECK(shards(5, 2, false, false, 3)[1] == std::vector<std::int64_t>{1, 3, 0});
}

TEST_CASE("DistributedSampler: bad options are errors", "[data][distributed]") {
  CHECK_THROWS_AS(DistributedSampler(10, {.num_replicas = 0}), nb::ValueError);
  CHECK_THROWS_AS(DistributedSampler(10, {.num_replicas = 2, .rank = 2}), nb::ValueError);
  CHECK_THROWS_AS(DistributedSampler(-1, {}), nb::ValueError);
  CHECK(DistributedSampler(0, {.num_replicas = 2, .rank = 1}).indices().empty());
  // Fewer samples than ranks: padding repeats them so every rank still gets one.
  CHECK(shards(1, 3, false, false, 0) == std::vector<std::vector<std::int64_t>>{{0}, {0}, {0}});
}

}  // namespace test_distributed_sampler
