// nabla/train/data_parallel.hpp - what fit() needs from a data-parallel job, without MPI.
//
// FitOptions::distributed holds one of these; fit() then trains this rank's shard of every epoch
// (data::DistributedSampler) with the global batch_size split across the ranks, lets the run
// average the gradients before each optimizer step, reduces the epoch's loss and metrics over
// the ranks, prints progress on rank 0 only, and writes model files from rank 0 only. The
// implementation over MPI and DistributedDataParallel is nabla::train::data_parallel(model) in
// train/distributed.hpp (which needs the nabla::distributed target); this header keeps train/
// free of MPI for everyone else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/data/distributed_sampler.hpp"
#include "nabla/train/logs.hpp"

namespace nabla::train {

class DataParallelRun {
 public:
  virtual ~DataParallelRun() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Called after backward() and before the optimizer step: the averaged gradients are in .grad().
  virtual void finish_gradients() = 0;
  /// Element-wise sums over the ranks (identical on every rank).
  virtual std::vector<double> sum(std::vector<double> values) = 0;
  /// Rank 0's value on every rank (the epoch's shuffling seed).
  virtual std::uint64_t broadcast_seed(std::uint64_t seed) = 0;
  virtual void barrier() = 0;
};

namespace detail {

/// This rank's samples of an epoch as their own dataset (one gather): DistributedSampler's
/// shard, shuffled by (rank 0's seed, epoch), padded so every rank runs the same number of steps.
template <typename T>
data::TensorDataset<T, T> rank_shard(const data::TensorDataset<T, T>& dataset, DataParallelRun& run, bool shuffle,
                                     std::uint64_t seed, int epoch) {
  data::DistributedSampler sampler(
      dataset.size(),
      {.num_replicas = run.world_size(), .rank = run.rank(), .shuffle = shuffle, .seed = run.broadcast_seed(seed)});
  sampler.set_epoch(static_cast<std::uint64_t>(epoch));
  auto batch = dataset.get_batch(sampler.indices());
  return data::TensorDataset<T, T>(batch.inputs, batch.targets);
}

/// The epoch's logs over all ranks: every value is a mean over this rank's `samples`, so the
/// sample-weighted mean of the ranks' values is the mean over all samples (exact for the loss and
/// for mean-type metrics such as accuracy; a ratio metric like precision becomes the weighted
/// mean of the ranks' ratios).
inline Logs reduce_logs(DataParallelRun& run, const Logs& logs, std::int64_t samples) {
  std::vector<std::string> names;
  std::vector<double> values{static_cast<double>(samples)};
  for (const auto& [name, value] : logs) {
    names.push_back(name);
    values.push_back(value * static_cast<double>(samples));
  }
  values = run.sum(std::move(values));
  Logs reduced;
  for (std::size_t i = 0; i < names.size(); ++i) reduced.set(names[i], values[0] > 0 ? values[i + 1] / values[0] : 0.0);
  return reduced;
}

}  // namespace detail

}  // namespace nabla::train
