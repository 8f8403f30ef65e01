// nabla/data/dataloader.hpp - iterating over a dataset in (shuffled) mini-batches.
//
//   nb::data::TensorDataset<float> dataset(features, targets);
//   nb::data::DataLoader loader(dataset, {.batch_size = 32, .shuffle = true, .seed = 42});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const auto& [inputs, targets] : loader) { ... }    // a new order every epoch
//
// Like torch.utils.data.DataLoader (single process). Each pass over the loader is an epoch;
// with shuffle on, epoch e visits the samples in the order shuffled_indices(n, seed, e)
// (data/dataset.hpp), so a run is reproducible from its seed, and set_epoch(e) resumes the
// sequence of orders at any epoch (e.g. after loading a checkpoint).
//
// Batching: a dataset with get_batch() (TensorDataset, a Subset of one) fetches a batch with
// one gather per tensor; otherwise the samples from get() go through the collate function,
// which by default stacks Example<Tensor, Tensor> samples into a Batch. A custom collate
// receives the vector of samples and returns any type (e.g. pads token sequences).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::data {

struct DataLoaderOptions {
  std::int64_t batch_size = 1;
  /// Visit the samples in a new random order every epoch.
  bool shuffle = false;
  std::uint64_t seed = 0;
  /// Leave out the last batch when it would be smaller than batch_size.
  bool drop_last = false;
};

/// Marks a sample type that has no default collate: such a DataLoader needs a collate function.
struct NoDefaultBatch {};

/// The default collate: how a vector of samples becomes one batch.
template <typename Sample>
struct DefaultCollate {
  using BatchType = NoDefaultBatch;
};

/// Example<Tensor, Tensor> samples are stacked along a new first dimension.
template <TensorElement Input, TensorElement Target>
struct DefaultCollate<Example<Tensor<Input>, Tensor<Target>>> {
  using BatchType = Batch<Tensor<Input>, Tensor<Target>>;
  static BatchType collate(const std::vector<Example<Tensor<Input>, Tensor<Target>>>& samples) {
    std::vector<Tensor<Input>> inputs;
    std::vector<Tensor<Target>> targets;
    inputs.reserve(samples.size());
    targets.reserve(samples.size());
    for (const auto& sample : samples) {
      inputs.push_back(sample.input);
      targets.push_back(sample.target);
    }
    return {stack(inputs, 0), stack(targets, 0)};
  }
};

/// A loader's batch type without a custom collate: what get_batch() returns if the dataset
/// has it, otherwise what the default collate makes of its samples.
template <Dataset D>
struct DefaultBatchOf {
  using type = typename DefaultCollate<SampleOf<D>>::BatchType;
};
template <BatchedDataset D>
struct DefaultBatchOf<D> {
  using type = std::remove_cvref_t<decltype(std::declval<const D&>().get_batch(std::vector<std::int64_t>{}))>;
};

template <Dataset DatasetType, typename BatchType = typename DefaultBatchOf<DatasetType>::type>
class DataLoader {
 public:
  using Sample = SampleOf<DatasetType>;
  using Collate = std::function<BatchType(const std::vector<Sample>&)>;

  /// Batches with the default collate (or get_batch). The dataset is copied into the loader
  /// (TensorDataset and Subset are cheap handles; move a large custom dataset in).
  explicit DataLoader(DatasetType dataset, DataLoaderOptions options = {})
      : dataset_(std::move(dataset)), options_(options) {
    static_assert(!std::is_same_v<BatchType, NoDefaultBatch>,
                  "DataLoader: this dataset's samples are not Example<Tensor, Tensor>; pass a "
                  "collate function that turns a std::vector of samples into a batch");
    check_options();
  }

  /// Batches made by `collate` from the samples get() returns.
  DataLoader(DatasetType dataset, DataLoaderOptions options, Collate collate)
      : dataset_(std::move(dataset)), options_(options), collate_(std::move(collate)) {
    if (!collate_) throw ValueError("DataLoader: the collate function is empty");
    check_options();
  }

  /// Batches per epoch.
  std::int64_t size() const {
    const std::int64_t count = dataset_size();
    return options_.drop_last ? count / options_.batch_size : (count + options_.batch_size - 1) / options_.batch_size;
  }

  /// The epoch the next pass over the loader will be (0 at the start; each begin() advances it).
  std::uint64_t epoch() const { return epoch_; }
  /// Makes the next pass epoch `epoch` (to resume a run at the same shuffling).
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }

  /// The order in which epoch `epoch` visits the samples.
  std::vector<std::int64_t> order_for_epoch(std::uint64_t epoch) const {
    if (options_.shuffle) return shuffled_indices(dataset_size(), options_.seed, epoch);
    std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_size()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    return order;
  }

  /// The batch made of the samples at `indices` (what the iterator yields).
  BatchType make_batch(const std::vector<std::int64_t>& indices) const {
    if constexpr (BatchedDataset<DatasetType>) {
      if constexpr (std::is_convertible_v<decltype(dataset_.get_batch(indices)), BatchType>) {
        if (!collate_) return dataset_.get_batch(indices);
      }
    }
    std::vector<Sample> samples;
    samples.reserve(indices.size());
    for (std::int64_t index : indices) samples.push_back(dataset_.get(index));
    if (collate_) return collate_(samples);
    if constexpr (requires {
                    { DefaultCollate<Sample>::collate(samples) } -> std::convertible_to<BatchType>;
                  }) {
      return DefaultCollate<Sample>::collate(samples);
    } else {
      // Unreachable: the constructor without a collate function rejects such sample types.
      throw ValueError("DataLoader: no collate function for this sample type");
    }
  }

  /// Walks one epoch; yields `const BatchType&`. An input iterator: one pass only.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = BatchType;
    using difference_type = std::ptrdiff_t;
    using pointer = const BatchType*;
    using reference = const BatchType&;

    Iterator() = default;
    const BatchType& operator*() const { return *current_; }
    const BatchType* operator->() const { return &*current_; }
    Iterator& operator++() {
      ++batch_;
      load();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& other) const { return batch_ == other.batch_; }

   private:
    friend class DataLoader;
    Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<std::int64_t>> order, std::int64_t batch)
        : loader_(loader), order_(std::move(order)), batch_(batch) {
      load();
    }
    void load() {
      if (!loader_ || batch_ >= loader_->size()) {
        current_.reset();
        return;
      }
      const std::int64_t batch_size = loader_->options_.batch_size;
      const auto start = static_cast<std::size_t>(batch_ * batch_size);
      const std::size_t end = std::min(order_->size(), start + static_cast<std::size_t>(batch_size));
      current_ = loader_->make_batch(std::vector<std::int64_t>(order_->begin() + static_cast<std::ptrdiff_t>(start),
                                                               order_->begin() + static_cast<std::ptrdiff_t>(end)));
    }

    const DataLoader* loader_ = nullptr;
    std::shared_ptr<const std::vector<std::int64_t>> order_;
    std::int64_t batch_ = 0;
    std::optional<BatchType> current_;
  };

  /// Starts an epoch: fixes its order and advances the epoch counter.
  Iterator begin() {
    auto order = std::make_shared<const std::vector<std::int64_t>>(order_for_epoch(epoch_));
    ++epoch_;
    return Iterator(this, std::move(order), 0);
  }
  Iterator end() const {
    Iterator finished;
    finished.batch_ = size();
    return finished;
  }

  const DatasetType& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  std::int64_t dataset_size() const { return static_cast<std::int64_t>(dataset_.size()); }
  void check_options() const {
    if (options_.batch_size < 1)
      throw ValueError("DataLoader: batch_size must be >= 1, got " + std::to_string(options_.batch_size));
  }

  DatasetType dataset_;
  DataLoaderOptions options_;
  Collate collate_;
  std::uint64_t epoch_ = 0;
};

// Class template argument deduction: `DataLoader loader(dataset, options)` and, with a
// collate function, `DataLoader loader(dataset, options, collate)` whose batch type is what
// the collate function returns.
template <Dataset D>
DataLoader(D) -> DataLoader<D>;
template <Dataset D>
DataLoader(D, DataLoaderOptions) -> DataLoader<D>;
template <Dataset D, typename F>
DataLoader(D, DataLoaderOptions, F)
    -> DataLoader<D, std::remove_cvref_t<std::invoke_result_t<F&, const std::vector<SampleOf<D>>&>>>;

}  // namespace nabla::data
