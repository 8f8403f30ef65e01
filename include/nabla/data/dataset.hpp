// nabla/data/dataset.hpp - datasets, reproducible shuffling, random splits and k-fold indices.
//
// A dataset is anything with `size()` and `get(index)` (the Dataset concept below), like a
// torch.utils.data.Dataset. TensorDataset wraps a features tensor and a targets tensor whose
// first dimension counts the samples; Subset views some samples of another dataset.
//
//   nb::data::TensorDataset<float> dataset(features, targets);    // [n, ...] and [n, ...]
//   auto parts = nb::data::random_split(dataset, {80, 20}, /*seed=*/7);
//   for (const auto& fold : nb::data::k_fold(100, 5, /*seed=*/7)) { fold.train_indices ... }
//
// All shuffling goes through shuffled_indices(), a Fisher-Yates shuffle driven by the Philox
// generator (core/philox.hpp), so a seed gives the same order on every platform and compiler
// (std::shuffle and std::uniform_int_distribution do not promise that).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::data {

/// One sample: what Dataset::get(index) returns for supervised data.
template <typename Input, typename Target>
struct Example {
  Input input;
  Target target;
};

/// A group of samples as the model sees them: inputs [batch, ...] and targets [batch, ...].
/// An aggregate, so `auto [inputs, targets] = batch;` works.
template <typename Inputs, typename Targets>
struct Batch {
  Inputs inputs;
  Targets targets;
};

/// What a DataLoader needs from a dataset: the number of samples and random access to one.
template <typename D>
concept Dataset = requires(const D& dataset, std::int64_t index) {
  { dataset.size() } -> std::convertible_to<std::int64_t>;
  dataset.get(index);
};

/// A dataset that can also fetch many samples at once (faster than get() + stacking).
template <typename D>
concept BatchedDataset = Dataset<D> && requires(const D& dataset, const std::vector<std::int64_t>& indices) {
  dataset.get_batch(indices);
};

/// The type get() returns.
template <Dataset D>
using SampleOf = std::remove_cvref_t<decltype(std::declval<const D&>().get(std::int64_t{}))>;

namespace detail {
inline void check_sample_index(const char* op, std::int64_t index, std::int64_t size) {
  if (index < 0 || index >= size)
    throw ValueError(std::string(op) + ": index " + std::to_string(index) + " is out of range for a dataset of " +
                     std::to_string(size) + " samples");
}
}  // namespace detail

/// Samples are rows of two tensors: sample i is (features[i], targets[i]).
/// `Features` and `Targets` are element types (float/double, or int64 for class ids or
/// token ids). Both tensors are shared, not copied.
template <TensorElement Features, TensorElement Targets = Features>
class TensorDataset {
 public:
  using Sample = Example<Tensor<Features>, Tensor<Targets>>;
  using BatchType = Batch<Tensor<Features>, Tensor<Targets>>;

  TensorDataset(Tensor<Features> features, Tensor<Targets> targets)
      : features_(std::move(features)), targets_(std::move(targets)) {
    if (!features_.defined() || !targets_.defined())
      throw ValueError("TensorDataset: features and targets must both be defined tensors");
    if (features_.dim() < 1 || targets_.dim() < 1)
      throw ShapeError("TensorDataset: features of shape " + to_string(features_.shape()) + " and targets of shape " +
                       to_string(targets_.shape()) + " need a first dimension that counts the samples");
    if (features_.size(0) != targets_.size(0))
      throw ShapeError("TensorDataset: features of shape " + to_string(features_.shape()) + " and targets of shape " +
                       to_string(targets_.shape()) + " have different first dimensions (" +
                       std::to_string(features_.size(0)) + " vs " + std::to_string(targets_.size(0)) +
                       "); both must count the same samples");
  }

  std::int64_t size() const { return features_.size(0); }

  /// Sample `index`: views of row `index` of each tensor (features[index] has shape
  /// features.shape()[1:], a rank-0 tensor when features is 1-D).
  Sample get(std::int64_t index) const {
    detail::check_sample_index("TensorDataset::get", index, size());
    return {features_.narrow(0, index, 1).squeeze(0), targets_.narrow(0, index, 1).squeeze(0)};
  }

  /// The samples at `indices`, stacked along a new first dimension (one gather per tensor).
  BatchType get_batch(const std::vector<std::int64_t>& indices) const {
    for (std::int64_t index : indices) detail::check_sample_index("TensorDataset::get_batch", index, size());
    return {index_select(features_, 0, indices), index_select(targets_, 0, indices)};
  }

  const Tensor<Features>& features() const { return features_; }
  const Tensor<Targets>& targets() const { return targets_; }

 private:
  Tensor<Features> features_;
  Tensor<Targets> targets_;
};

/// Some samples of another dataset, in a given order: sample i is base.get(indices[i]).
/// Holds the base dataset through a shared pointer, so subsets of one split share it.
template <Dataset Base>
class Subset {
 public:
  Subset(std::shared_ptr<const Base> base, std::vector<std::int64_t> indices)
      : base_(std::move(base)), indices_(std::move(indices)) {
    if (!base_) throw ValueError("Subset: the base dataset is null");
    const auto base_size = static_cast<std::int64_t>(base_->size());
    for (std::int64_t index : indices_) detail::check_sample_index("Subset", index, base_size);
  }
  Subset(const Base& base, std::vector<std::int64_t> indices)
      : Subset(std::make_shared<const Base>(base), std::move(indices)) {}

  std::int64_t size() const { return static_cast<std::int64_t>(indices_.size()); }

  SampleOf<Base> get(std::int64_t index) const {
    detail::check_sample_index("Subset::get", index, size());
    return base_->get(indices_[static_cast<std::size_t>(index)]);
  }

  /// Available when the base dataset has get_batch (e.g. a TensorDataset).
  auto get_batch(const std::vector<std::int64_t>& indices) const requires BatchedDataset<Base> {
    std::vector<std::int64_t> base_indices;
    base_indices.reserve(indices.size());
    for (std::int64_t index : indices) {
      detail::check_sample_index("Subset::get_batch", index, size());
      base_indices.push_back(indices_[static_cast<std::size_t>(index)]);
    }
    return base_->get_batch(base_indices);
  }

  /// Positions of this subset's samples in the base dataset.
  const std::vector<std::int64_t>& indices() const { return indices_; }
  const Base& base() const { return *base_; }

 private:
  std::shared_ptr<const Base> base_;
  std::vector<std::int64_t> indices_;
};

/// 0, 1, ..., count - 1 in an order that depends only on (seed, epoch): the Fisher-Yates
/// shuffle, with the random draws taken from Philox so that the order is the same on every
/// platform. The algorithm, exactly (so that it can be reproduced elsewhere):
///
///   order = [0, 1, ..., count - 1]
///   for i = count - 1 down to 1:
///     r = philox4x32_10(counter = {lo32(i), hi32(i), lo32(epoch), hi32(epoch)},
///                       key = {lo32(seed), hi32(seed)})
///     j = ((r[0] << 32) | r[1]) mod (i + 1)                 -- a 64-bit draw
///     swap(order[i], order[j])
///
/// The epoch sits in the counter, so each epoch gets an independent permutation from one
/// seed. (The modulo's bias is below 2^-32 for any count under 2^32: negligible.)
inline std::vector<std::int64_t> shuffled_indices(std::int64_t count, std::uint64_t seed, std::uint64_t epoch = 0) {
  if (count < 0) throw ValueError("shuffled_indices: count must be >= 0, got " + std::to_string(count));
  std::vector<std::int64_t> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  const auto low = [](std::uint64_t value) { return static_cast<std::uint32_t>(value); };
  const auto high = [](std::uint64_t value) { return static_cast<std::uint32_t>(value >> 32); };
  for (std::int64_t i = count - 1; i > 0; --i) {
    const auto position = static_cast<std::uint64_t>(i);
    const PhiloxWords words =
        philox4x32_10({low(position), high(position), low(epoch), high(epoch)}, low(seed), high(seed));
    const std::uint64_t draw = (static_cast<std::uint64_t>(words[0]) << 32) | words[1];
    const auto j = static_cast<std::size_t>(draw % (position + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[j]);
  }
  return order;
}

/// Splits a dataset at random into parts of the given sizes (which must add up to its size),
/// like torch.utils.data.random_split: shuffled_indices(n, seed), cut in order.
template <Dataset D>
std::vector<Subset<D>> random_split(const D& dataset, const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
  const auto total = static_cast<std::int64_t>(dataset.size());
  std::int64_t sum = 0;
  std::string listed;
  for (std::int64_t part : sizes) {
    if (part < 0) throw ValueError("random_split: sizes must be >= 0, got " + std::to_string(part));
    sum += part;
    listed += (listed.empty() ? "" : ", ") + std::to_string(part);
  }
  if (sum != total)
    throw ValueError("random_split: sizes {" + listed + "} add up to " + std::to_string(sum) +
                     ", but the dataset has " + std::to_string(total) + " samples");
  const std::vector<std::int64_t> order = shuffled_indices(total, seed);
  const auto shared = std::make_shared<const D>(dataset);
  std::vector<Subset<D>> parts;
  auto start = order.begin();
  for (std::int64_t part : sizes) {
    parts.emplace_back(shared, std::vector<std::int64_t>(start, start + part));
    start += part;
  }
  return parts;
}

/// One round of k-fold cross-validation: train on train_indices, validate on validation_indices.
struct Fold {
  std::vector<std::int64_t> train_indices;
  std::vector<std::int64_t> validation_indices;
};

/// k-fold cross-validation over n samples, like scikit-learn's KFold(k, shuffle=True):
/// the samples are shuffled (shuffled_indices(n, seed)) and cut into k folds, the first n % k
/// of size n / k + 1 and the rest of size n / k. Fold i validates on fold i and trains on the
/// others; each sample is validated exactly once. Both index lists come sorted.
inline std::vector<Fold> k_fold(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  if (k < 2) throw ValueError("k_fold: k must be >= 2, got " + std::to_string(k));
  if (n < k)
    throw ValueError("k_fold: cannot cut " + std::to_string(n) + " samples into " + std::to_string(k) +
                     " folds; every fold needs at least one sample");
  const std::vector<std::int64_t> order = shuffled_indices(n, seed);
  std::vector<Fold> folds(static_cast<std::size_t>(k));
  std::int64_t start = 0;
  for (std::int64_t fold = 0; fold < k; ++fold) {
    const std::int64_t fold_size = n / k + (fold < n % k ? 1 : 0);
    std::vector<bool> in_validation(static_cast<std::size_t>(n), false);
    for (std::int64_t i = start; i < start + fold_size; ++i)
      in_validation[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = true;
    Fold& current = folds[static_cast<std::size_t>(fold)];
    for (std::int64_t sample = 0; sample < n; ++sample)
      (in_validation[static_cast<std::size_t>(sample)] ? current.validation_indices : current.train_indices)
          .push_back(sample);
    start += fold_size;
  }
  return folds;
}

}  // namespace nabla::data
