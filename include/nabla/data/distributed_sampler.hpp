// nabla/data/distributed_sampler.hpp - each rank of a data-parallel job its own shard of a dataset.
//
//   nb::data::DistributedSampler sampler(dataset.size(), {.num_replicas = nb::distributed::world_size(),
//                                                         .rank = nb::distributed::rank(), .seed = 42});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     sampler.set_epoch(epoch);                             // a new shuffle, the same on every rank
//     nb::data::Subset shard(dataset, sampler.indices());   // this rank's samples
//     nb::data::DataLoader loader(shard, {.batch_size = global_batch / world});
//     ...
//   }
//
// torch.utils.data.DistributedSampler's rule: the epoch's order is shuffled_indices(n, seed,
// epoch) (data/dataset.hpp: every rank computes the same permutation from the shared seed, no
// communication); it is padded by repeating its first samples up to a multiple of num_replicas
// (or, with drop_last, cut down to one), and rank r takes positions r, r + R, r + 2R, ... So the
// shards are disjoint (padding aside) and of equal length: every rank runs the same number of
// steps, which a data-parallel loop needs (each step is a collective). data/ sits below
// distributed/, so the sampler takes the rank and world size as numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/data/dataset.hpp"

namespace nabla::data {

struct DistributedSamplerOptions {
  int num_replicas = 1;    // the world size
  int rank = 0;            // this process's rank in [0, num_replicas)
  bool shuffle = true;     // a new order every epoch (else 0, 1, ..., n - 1)
  std::uint64_t seed = 0;  // must be the same on every rank
  /// Drop the tail that does not divide evenly (instead of padding with repeated samples).
  bool drop_last = false;
  /// Every rank gets the same number of samples (padded, or cut with drop_last), as training
  /// needs. false: rank r takes positions r, r + R, r + 2R, ... < n and nothing more, so the
  /// shards differ in length by one at most and hold every sample exactly once, as an
  /// evaluation needs (it adds up sums over the ranks once, with no collective per step).
  bool equal_shards = true;
};

class DistributedSampler {
 public:
  DistributedSampler(std::int64_t dataset_size, DistributedSamplerOptions options = {})
      : size_(dataset_size), options_(options) {
    if (dataset_size < 0)
      throw ValueError("DistributedSampler: dataset size must be >= 0, got " + std::to_string(dataset_size));
    if (options.num_replicas < 1)
      throw ValueError("DistributedSampler: num_replicas must be >= 1, got " + std::to_string(options.num_replicas));
    if (options.rank < 0 || options.rank >= options.num_replicas)
      throw ValueError("DistributedSampler: rank " + std::to_string(options.rank) + " is outside [0, " +
                       std::to_string(options.num_replicas) + ")");
  }

  /// Samples this rank gets per epoch (the same on every rank unless equal_shards is false).
  std::int64_t num_samples() const {
    const std::int64_t replicas = options_.num_replicas;
    if (!options_.equal_shards) return size_ > options_.rank ? (size_ - options_.rank + replicas - 1) / replicas : 0;
    return options_.drop_last ? size_ / replicas : (size_ + replicas - 1) / replicas;
  }
  /// Samples all ranks together visit per epoch (padding included, the dropped tail excluded).
  std::int64_t total_size() const {
    if (!options_.equal_shards) return size_;
    return num_samples() * options_.num_replicas;
  }

  /// Makes the next indices() those of epoch `epoch` (call it with the same epoch on every rank).
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  std::uint64_t epoch() const { return epoch_; }

  /// This rank's sample indices for the current epoch, in the order to visit them.
  std::vector<std::int64_t> indices() const {
    std::vector<std::int64_t> order;
    if (options_.shuffle) {
      order = shuffled_indices(size_, options_.seed, epoch_);
    } else {
      order.resize(static_cast<std::size_t>(size_));
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    }
    const auto total = static_cast<std::size_t>(total_size());
    if (order.empty()) return {};
    // Padding repeats the order from its start (as often as needed when n < num_replicas).
    for (std::size_t i = 0; order.size() < total; ++i) order.push_back(order[i]);
    order.resize(total);
    std::vector<std::int64_t> mine;
    mine.reserve(static_cast<std::size_t>(num_samples()));
    for (std::size_t i = static_cast<std::size_t>(options_.rank); i < total;
         i += static_cast<std::size_t>(options_.num_replicas))
      mine.push_back(order[i]);
    return mine;
  }

  const DistributedSamplerOptions& options() const { return options_; }

 private:
  std::int64_t size_;
  DistributedSamplerOptions options_;
  std::uint64_t epoch_ = 0;
};

}  // namespace nabla::data
