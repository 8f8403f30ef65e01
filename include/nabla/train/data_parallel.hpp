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
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/data/distributed_sampler.hpp"
#include "nabla/metrics/metric.hpp"
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

/// This rank's share of an evaluation set: positions rank, rank + R, rank + 2R, ... (a
/// DistributedSampler with equal_shards = false, no shuffle), so every sample is evaluated on
/// exactly one rank; a rank may get none when there are fewer samples than ranks.
template <typename T>
std::pair<Tensor<T>, Tensor<T>> evaluation_shard(const Tensor<T>& x, const Tensor<T>& y, const DataParallelRun& run) {
  const data::DistributedSampler sampler(
      x.size(0), {.num_replicas = run.world_size(), .rank = run.rank(), .shuffle = false, .equal_shards = false});
  const std::vector<std::int64_t> indices = sampler.indices();
  if (indices.empty()) return {x.narrow(0, 0, 0), y.narrow(0, 0, 0)};
  auto batch = data::TensorDataset<T, T>(x, y).get_batch(indices);
  return {batch.inputs, batch.targets};
}

/// The logs of an evaluation over all ranks, from this rank's sums: the loss summed over its
/// samples (each batch's mean loss times its size), its sample count and every metric's totals()
/// are added over the ranks, and the metrics left holding the sums of all ranks, so each figure is
/// that of one process on the whole set (up to the order of the additions), on every rank. A
/// metric without totals() contributes result() x samples: the sample-weighted mean of its ranks.
inline Logs reduce_evaluation(DataParallelRun& run, double loss_sum, std::int64_t samples,
                              const std::vector<std::shared_ptr<metrics::Metric>>& metric_list,
                              const std::string& prefix) {
  std::vector<double> sums{loss_sum, static_cast<double>(samples)};
  std::vector<std::size_t> widths;  // values per metric in `sums`; 0 for one without totals()
  for (const auto& metric : metric_list) {
    const std::vector<double> totals = metric->totals();
    widths.push_back(totals.size());
    if (totals.empty())
      sums.push_back(metric->result() * static_cast<double>(samples));
    else
      sums.insert(sums.end(), totals.begin(), totals.end());
  }
  sums = run.sum(std::move(sums));
  const double all_samples = sums[1];
  Logs logs;
  logs.set(prefix + "loss", all_samples > 0 ? sums[0] / all_samples : 0.0);
  std::size_t at = 2;
  for (std::size_t m = 0; m < metric_list.size(); ++m) {
    metrics::Metric& metric = *metric_list[m];
    if (widths[m] == 0) {
      logs.set(prefix + metric.name(), all_samples > 0 ? sums[at] / all_samples : 0.0);
      ++at;
      continue;
    }
    const auto first = sums.begin() + static_cast<std::ptrdiff_t>(at);
    metric.set_totals(std::vector<double>(first, first + static_cast<std::ptrdiff_t>(widths[m])));
    at += widths[m];
    logs.set(prefix + metric.name(), metric.result());
  }
  return logs;
}

}  // namespace detail

}  // namespace nabla::train
