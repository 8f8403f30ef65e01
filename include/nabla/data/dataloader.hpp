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
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

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
  /// Background threads that prepare batches while the caller trains (0: the iterating thread
  /// makes each batch when it is needed). The batches are the same for any number.
  int num_workers = 0;
  /// Batches each worker may have finished or in the making ahead of the consumer (>= 1):
  /// at most num_workers * prefetch batches exist at once besides the one being used.
  int prefetch = 2;
};

/// The position of a loader in its sequence of batches: what a checkpoint stores so that a run
/// killed mid-epoch resumes with exactly the batches it would have seen (data/loader_state.hpp
/// writes it into a checkpoint's metadata).
struct LoaderState {
  /// The epoch in progress (or the next one, when batch == 0).
  std::uint64_t epoch = 0;
  /// Batches of that epoch already handed out: the next pass starts at this batch.
  std::int64_t batch = 0;
  /// The loader's seed and batch size: a state only fits a loader with the same ones.
  std::uint64_t seed = 0;
  std::int64_t batch_size = 0;
  /// Sample indices consumed in the epoch (batch * batch_size); for a stream with a shuffle
  /// buffer also the number of draws its generator has made (each draw is a Philox counter).
  std::int64_t samples = 0;

  bool operator==(const LoaderState&) const = default;
};

/// Where the sample indices of one epoch come from, a batch at a time, in order.
class IndexStream {
 public:
  virtual ~IndexStream() = default;
  /// The next `count` indices: fewer at the end of the epoch, none after it.
  virtual std::vector<std::int64_t> next(std::int64_t count) = 0;
};

/// An IndexStream over a fixed order.
class VectorIndexStream final : public IndexStream {
 public:
  explicit VectorIndexStream(std::vector<std::int64_t> order) : order_(std::move(order)) {}
  std::vector<std::int64_t> next(std::int64_t count) override {
    const std::size_t begin = std::min(position_, order_.size());
    const std::size_t end = std::min(order_.size(), begin + static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
    position_ = end;
    return std::vector<std::int64_t>(order_.begin() + static_cast<std::ptrdiff_t>(begin),
                                     order_.begin() + static_cast<std::ptrdiff_t>(end));
  }

 private:
  std::vector<std::int64_t> order_;
  std::size_t position_ = 0;
};

/// 0, 1, ..., count - 1 without holding them: an unshuffled epoch of any size in O(1) memory.
class RangeIndexStream final : public IndexStream {
 public:
  explicit RangeIndexStream(std::int64_t count) : count_(count) {}
  std::vector<std::int64_t> next(std::int64_t count) override {
    const std::int64_t end = std::min(count_, position_ + std::max<std::int64_t>(count, 0));
    std::vector<std::int64_t> indices;
    indices.reserve(static_cast<std::size_t>(end - position_));
    for (; position_ < end; ++position_) indices.push_back(position_);
    return indices;
  }

 private:
  std::int64_t count_;
  std::int64_t position_ = 0;
};

/// Decides which samples an epoch visits and in what order, for this process. A full order per
/// epoch (a DistributedSampler's share for this rank, say) goes in through order_sampler();
/// a stream that is never held whole (ShardedTokenDataset's shuffle buffer) sets both members.
struct Sampler {
  /// The indices of epoch `epoch`, in order.
  std::function<std::unique_ptr<IndexStream>(std::uint64_t epoch)> open;
  /// How many indices epoch `epoch` yields.
  std::function<std::int64_t(std::uint64_t epoch)> size;
};

/// A Sampler from a function that returns an epoch's whole order, e.g.
/// `loader.set_sampler(nb::data::order_sampler([&](std::uint64_t e) { return sampler.indices(e); }))`.
/// The order function runs once per epoch: size(e) keeps the order it computed for open(e) (the
/// loader asks for both when a pass starts), and open(e) keeps its size for later size(e) calls.
template <typename OrderFunction>
Sampler order_sampler(OrderFunction order) {
  struct Memo {
    explicit Memo(OrderFunction function_in) : function(std::move(function_in)) {}
    OrderFunction function;
    std::mutex mutex;
    std::optional<std::uint64_t> epoch;  // the epoch `size` (and maybe `order`) belong to
    std::int64_t size = 0;
    std::optional<std::vector<std::int64_t>> order;  // computed by size(epoch), not yet opened
  };
  auto memo = std::make_shared<Memo>(std::move(order));
  return {[memo](std::uint64_t epoch) -> std::unique_ptr<IndexStream> {
            std::lock_guard<std::mutex> lock(memo->mutex);
            std::vector<std::int64_t> indices;
            if (memo->epoch == epoch && memo->order) {
              indices = std::move(*memo->order);
            } else {
              indices = memo->function(epoch);
              memo->epoch = epoch;
              memo->size = static_cast<std::int64_t>(indices.size());
            }
            memo->order.reset();  // the stream holds the order now; only its size stays
            return std::make_unique<VectorIndexStream>(std::move(indices));
          },
          [memo](std::uint64_t epoch) {
            std::lock_guard<std::mutex> lock(memo->mutex);
            if (memo->epoch != epoch) {
              memo->order = memo->function(epoch);
              memo->epoch = epoch;
              memo->size = static_cast<std::int64_t>(memo->order->size());
            }
            return memo->size;
          }};
}

/// `per_epoch` indices drawn uniformly from [0, population), with replacement, without holding
/// a permutation (nanoGPT's random windows; a shuffle of 2e9 windows would need 16 GB). Draw n
/// of epoch e is ((w0 << 32) | w1) mod population, w = philox4x32_10({lo32(n), hi32(n),
/// lo32(e), 0xD1CE}, lo32(seed), hi32(seed)).
inline Sampler random_sampler(std::int64_t population, std::int64_t per_epoch, std::uint64_t seed) {
  if (population < 1 || per_epoch < 0)
    throw ValueError("random_sampler: population must be >= 1 and per_epoch >= 0, got " + std::to_string(population) +
                     " and " + std::to_string(per_epoch));
  class Draws final : public IndexStream {
   public:
    Draws(std::int64_t population, std::int64_t count, std::uint64_t seed, std::uint64_t epoch)
        : population_(static_cast<std::uint64_t>(population)), count_(count), seed_(seed), epoch_(epoch) {}
    std::vector<std::int64_t> next(std::int64_t count) override {
      const std::int64_t end = std::min(count_, position_ + std::max<std::int64_t>(count, 0));
      std::vector<std::int64_t> indices;
      indices.reserve(static_cast<std::size_t>(end - position_));
      for (; position_ < end; ++position_) {
        const auto n = static_cast<std::uint64_t>(position_);
        const PhiloxWords w = philox4x32_10({static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n >> 32),
                                             static_cast<std::uint32_t>(epoch_), 0xD1CEu},
                                            static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32));
        indices.push_back(static_cast<std::int64_t>(((static_cast<std::uint64_t>(w[0]) << 32) | w[1]) % population_));
      }
      return indices;
    }

   private:
    std::uint64_t population_;
    std::int64_t count_, position_ = 0;
    std::uint64_t seed_, epoch_;
  };
  return {[=](std::uint64_t epoch) -> std::unique_ptr<IndexStream> {
            return std::make_unique<Draws>(population, per_epoch, seed, epoch);
          },
          [per_epoch](std::uint64_t) { return per_epoch; }};
}

/// Where batch `batch` of epoch `epoch` of a loader seeded `seed` comes from: what a batch
/// transform (Mixup, data/transforms.hpp) derives its random numbers from.
struct BatchContext {
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  std::int64_t batch = 0;
};

/// A dataset whose samples depend on the epoch (data::Augmented, data/transforms.hpp): the
/// loader calls get(index, epoch) on it.
template <typename D>
concept EpochDataset = Dataset<D> && requires(const D& dataset, std::int64_t index, std::uint64_t epoch) {
  dataset.get(index, epoch);
};

/// A dataset that can start reading samples before they are asked for (TokenFileDataset: the
/// disk reads their pages while the model computes): the loader calls prefetch(indices) with the
/// next batch's indices as soon as it knows them. A hint only: the batches do not depend on it.
template <typename D>
concept PrefetchingDataset = Dataset<D> && requires(const D& dataset, const std::vector<std::int64_t>& indices) {
  dataset.prefetch(indices);
};

/// A dataset that brings its own sampler (ShardedTokenDataset): the loader uses it.
template <typename D>
concept SamplingDataset = Dataset<D> && requires(const D& dataset) {
  { dataset.sampler() } -> std::convertible_to<Sampler>;
};

/// Thrown in the consuming thread when a batch could not be made: the original error's
/// message, prefixed with the batch and epoch (the original's type is kept for nabla's errors).
namespace detail {
[[noreturn]] inline void rethrow_batch_error(const std::exception_ptr& error, std::int64_t batch, std::uint64_t epoch) {
  const std::string where = "DataLoader: batch " + std::to_string(batch) + " of epoch " + std::to_string(epoch) + ": ";
  try {
    std::rethrow_exception(error);
  } catch (const ShapeError& e) {
    throw ShapeError(where + e.what());
  } catch (const ValueError& e) {
    throw ValueError(where + e.what());
  } catch (const IOError& e) {
    throw IOError(where + e.what());
  } catch (const DeviceError& e) {
    throw DeviceError(where + e.what());
  } catch (const std::exception& e) {
    throw Error(where + e.what());
  } catch (...) {
    throw Error(where + "a non-standard exception");
  }
}

/// Stops OpenMP inside a loader's worker thread: batch assembly is copying, and a team of
/// threads per worker would compete with the training step for the cores.
inline void single_threaded_worker() {
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
}
}  // namespace detail

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
  using BatchTransform = std::function<BatchType(BatchType, const BatchContext&)>;

  /// Batches with the default collate (or get_batch). The dataset is copied into the loader
  /// (TensorDataset, Subset and TokenFileDataset are cheap handles; move a large custom dataset in).
  explicit DataLoader(DatasetType dataset, DataLoaderOptions options = {})
      : core_(std::make_shared<Core>(std::move(dataset), options, Collate{})) {
    static_assert(!std::is_same_v<BatchType, NoDefaultBatch>,
                  "DataLoader: this dataset's samples are not Example<Tensor, Tensor>; pass a "
                  "collate function that turns a std::vector of samples into a batch");
    check_options();
  }

  /// Batches made by `collate` from the samples get() returns.
  DataLoader(DatasetType dataset, DataLoaderOptions options, Collate collate)
      : core_(std::make_shared<Core>(std::move(dataset), options, std::move(collate))) {
    if (!core_->collate) throw ValueError("DataLoader: the collate function is empty");
    check_options();
  }

  // A copy shares the dataset and settings but not a running epoch; a loader being destroyed
  // (or assigned over) stops its workers first.
  DataLoader(const DataLoader& other)
      : core_(other.core_), epoch_(other.epoch_), start_batch_(other.start_batch_), position_(other.position_) {}
  DataLoader(DataLoader&& other) noexcept
      : core_(std::move(other.core_)),
        epoch_(other.epoch_),
        start_batch_(other.start_batch_),
        position_(other.position_),
        run_(std::move(other.run_)),
        progress_(std::move(other.progress_)) {}
  DataLoader& operator=(const DataLoader& other) {
    if (this != &other) {
      stop();
      core_ = other.core_;
      epoch_ = other.epoch_;
      start_batch_ = other.start_batch_;
      position_ = other.position_;
    }
    return *this;
  }
  DataLoader& operator=(DataLoader&& other) noexcept {
    if (this != &other) {
      stop();
      core_ = std::move(other.core_);
      epoch_ = other.epoch_;
      start_batch_ = other.start_batch_;
      position_ = other.position_;
      run_ = std::move(other.run_);
      progress_ = std::move(other.progress_);
    }
    return *this;
  }
  ~DataLoader() { stop(); }

  /// Batches in the epoch the next pass starts (every epoch, unless a sampler varies it).
  std::int64_t size() const { return batches_for(samples_for_epoch(epoch_)); }

  /// The epoch the next pass over the loader will be (0 at the start; each begin() advances it).
  std::uint64_t epoch() const { return epoch_; }
  /// Makes the next pass epoch `epoch`, from its first batch (to resume a run at the same shuffling).
  void set_epoch(std::uint64_t epoch) {
    stop();
    progress_.reset();
    epoch_ = epoch;
    start_batch_ = 0;
    position_ = {epoch, 0};
  }

  /// Samples visited in another order than shuffle gives: the sampler decides each epoch's
  /// indices for this process (a DistributedSampler through order_sampler()). Replaces the
  /// dataset's own sampler and the shuffle option.
  void set_sampler(Sampler sampler) {
    if (!sampler.open || !sampler.size) throw ValueError("DataLoader::set_sampler: the sampler has an empty function");
    mutable_core().sampler = std::move(sampler);
  }

  /// Applied to every batch after it is made (in the worker), e.g. data::Mixup; it receives the
  /// loader's seed, the epoch and the batch's index, so its draws do not depend on the workers.
  void set_batch_transform(BatchTransform transform) { mutable_core().batch_transform = std::move(transform); }

  /// Where the loader stands: the epoch in progress and the batches of it already handed out.
  LoaderState state() const {
    const std::int64_t batch = progress_ ? progress_->delivered : position_.batch;
    const std::uint64_t epoch = progress_ ? progress_->epoch : position_.epoch;
    LoaderState state{epoch, batch, core_->options.seed, core_->options.batch_size, 0};
    const std::int64_t batches = progress_ ? progress_->batches : batches_for(samples_for_epoch(epoch));
    if (batch >= batches && batch > 0) state = {epoch + 1, 0, state.seed, state.batch_size, 0};
    state.samples = state.batch * state.batch_size;
    return state;
  }
  /// Makes the next pass continue where `state` stood: epoch state.epoch from batch
  /// state.batch. The state must come from a loader with the same seed and batch size.
  void load_state(const LoaderState& state) {
    if (state.seed != core_->options.seed || state.batch_size != core_->options.batch_size)
      throw ValueError("DataLoader::load_state: the state was saved by a loader with seed " +
                       std::to_string(state.seed) + " and batch size " + std::to_string(state.batch_size) +
                       ", this one has seed " + std::to_string(core_->options.seed) + " and batch size " +
                       std::to_string(core_->options.batch_size) + "; the batches would differ");
    if (state.batch < 0) throw ValueError("DataLoader::load_state: negative batch " + std::to_string(state.batch));
    stop();
    progress_.reset();
    epoch_ = state.epoch;
    start_batch_ = state.batch;
    position_ = {state.epoch, state.batch};
  }

  /// The order in which epoch `epoch` visits the samples.
  std::vector<std::int64_t> order_for_epoch(std::uint64_t epoch) const {
    std::vector<std::int64_t> order;
    auto stream = core_->open(epoch);
    for (std::vector<std::int64_t> piece; !(piece = stream->next(1 << 16)).empty();)
      order.insert(order.end(), piece.begin(), piece.end());
    return order;
  }

  /// The batch made of the samples at `indices` (what the iterator yields), for epoch `epoch`
  /// (samples of an EpochDataset and a batch transform depend on it) and batch index `batch`.
  BatchType make_batch(const std::vector<std::int64_t>& indices, std::uint64_t epoch = 0,
                       std::int64_t batch = 0) const {
    return core_->make(indices, epoch, batch);
  }

 private:
  struct Core;
  struct Progress {
    std::uint64_t epoch = 0;
    std::int64_t delivered = 0;
    std::int64_t batches = 0;  // in the epoch: fixed when the pass starts, so end() need not ask the sampler
  };

  /// One pass over an epoch: the index stream, and with workers the threads and the queue of
  /// finished batches. Batch k is made from the k-th slice of the index stream only, so what
  /// it holds does not depend on which thread made it or when.
  class Run {
   public:
    Run(std::shared_ptr<const Core> core, std::uint64_t epoch, std::int64_t first_batch, std::int64_t batch_count,
        std::shared_ptr<Progress> progress)
        : core_(std::move(core)),
          epoch_(epoch),
          end_(batch_count),
          next_assign_(first_batch),
          next_deliver_(first_batch),
          progress_(std::move(progress)) {
      indices_ = core_->open(epoch);
      // Skip the batches a resumed pass has already seen (index arithmetic only).
      for (std::int64_t skipped = 0; skipped < first_batch; ++skipped) (void)indices_->next(core_->options.batch_size);
      const int workers = core_->options.num_workers;
      capacity_ = static_cast<std::int64_t>(workers) * core_->options.prefetch;
      threads_.reserve(static_cast<std::size_t>(workers));
      try {
        for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
      } catch (...) {
        stop();
        throw;
      }
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;
    ~Run() { stop(); }

    std::int64_t end() const { return end_; }

    /// The next batch in order (waits for it when a worker is still making it).
    BatchType next() {
      const std::int64_t batch = next_deliver_;
      Slot slot;
      if (threads_.empty()) {
        // Without workers the batch is made here, but the following batch's indices are taken
        // now and handed to the dataset's prefetch(), so its reads overlap the training step.
        slot = make_slot(batch, [&] {
          if (!ahead_) return indices_->next(core_->options.batch_size);
          std::optional<Lookahead> taken = std::move(ahead_);
          ahead_.reset();
          if (taken->error) std::rethrow_exception(taken->error);
          return std::move(taken->indices);
        });
        ++next_deliver_;
        if constexpr (PrefetchingDataset<DatasetType>) {
          if (next_deliver_ < end_) {
            ahead_.emplace();
            try {
              ahead_->indices = indices_->next(core_->options.batch_size);
              core_->dataset.prefetch(ahead_->indices);
            } catch (...) {
              ahead_->error = std::current_exception();  // surfaces with the batch it belongs to
            }
          }
        }
      } else {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          ready_.wait(lock, [&] { return stopping_ || finished_.count(batch) > 0; });
          if (stopping_)
            throw ValueError("DataLoader: the loader was stopped (destroyed, assigned over or restarted) while batch " +
                             std::to_string(batch) + " of epoch " + std::to_string(epoch_) + " was awaited");
          slot = std::move(finished_.at(batch));
          finished_.erase(batch);
          ++next_deliver_;
        }
        wanted_.notify_all();  // room for one more batch
      }
      progress_->delivered = batch + 1;
      if (slot.error) detail::rethrow_batch_error(slot.error, batch, epoch_);
      return std::move(*slot.batch);
    }

    /// Tells the workers to finish and waits for them (idempotent).
    void stop() noexcept {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      wanted_.notify_all();
      ready_.notify_all();
      for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
    }

   private:
    struct Slot {
      std::optional<BatchType> batch;
      std::exception_ptr error;
    };
    /// The indices of the batch after the one delivered (no workers, a PrefetchingDataset).
    struct Lookahead {
      std::vector<std::int64_t> indices;
      std::exception_ptr error;
    };

    template <typename TakeIndices>
    Slot make_slot(std::int64_t batch, const TakeIndices& take) {
      Slot slot;
      try {
        slot.batch.emplace(core_->make(take(), epoch_, batch));
      } catch (...) {
        slot.error = std::current_exception();
      }
      return slot;
    }

    void work() {
      detail::single_threaded_worker();
      std::unique_lock<std::mutex> lock(mutex_);
      while (true) {
        // Bounded: a batch is started only when fewer than capacity_ are ahead of the consumer.
        wanted_.wait(lock,
                     [&] { return stopping_ || next_assign_ >= end_ || next_assign_ < next_deliver_ + capacity_; });
        if (stopping_ || next_assign_ >= end_) return;
        const std::int64_t batch = next_assign_++;
        // The stream hands out slices in batch order (under the lock); the batch is made outside it.
        std::vector<std::int64_t> indices;
        std::exception_ptr error;
        try {
          indices = indices_->next(core_->options.batch_size);
        } catch (...) {
          error = std::current_exception();
        }
        lock.unlock();
        Slot slot;
        if (error)
          slot.error = error;
        else
          slot = make_slot(batch, [&] { return std::move(indices); });
        lock.lock();
        finished_.emplace(batch, std::move(slot));
        ready_.notify_all();
      }
    }

    std::shared_ptr<const Core> core_;
    std::uint64_t epoch_;
    std::int64_t end_;
    std::int64_t capacity_ = 0;
    std::unique_ptr<IndexStream> indices_;
    std::optional<Lookahead> ahead_;
    std::mutex mutex_;
    std::condition_variable wanted_;  // workers wait here for room in the queue
    std::condition_variable ready_;   // the consumer waits here for its batch
    std::int64_t next_assign_;
    std::int64_t next_deliver_;
    bool stopping_ = false;
    std::map<std::int64_t, Slot> finished_;
    std::shared_ptr<Progress> progress_;
    std::vector<std::thread> threads_;
  };

 public:
  /// Walks one epoch; yields `const BatchType&`. An input iterator: one pass only. Copies share
  /// the pass. Destroying the last copy (leaving a loop early) stops the pass's workers.
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
    Iterator(std::shared_ptr<Run> run, std::int64_t batch) : run_(std::move(run)), batch_(batch) { load(); }
    void load() {
      if (!run_ || batch_ >= run_->end()) {
        current_.reset();
        run_.reset();  // the pass is over: its workers can go
        return;
      }
      current_.reset();  // the previous batch's memory goes before the next one is taken
      current_.emplace(run_->next());
    }

    std::shared_ptr<Run> run_;
    std::int64_t batch_ = 0;
    std::optional<BatchType> current_;
  };

  /// Starts an epoch (from the batch load_state() gave, else the first): fixes its order and
  /// advances the epoch counter. A pass still running is stopped first.
  Iterator begin() {
    stop();
    const std::uint64_t epoch = epoch_;
    const std::int64_t batches = batches_for(samples_for_epoch(epoch));
    const std::int64_t first = std::min(start_batch_, batches);
    progress_ = std::make_shared<Progress>(Progress{epoch, first, batches});
    auto run = std::make_shared<Run>(core_, epoch, first, batches, progress_);
    run_ = run;
    ++epoch_;
    start_batch_ = 0;
    position_ = {epoch_, 0};
    return Iterator(std::move(run), first);
  }
  Iterator end() const {
    Iterator finished;
    finished.batch_ = progress_ ? progress_->batches : size();
    return finished;
  }

  const DatasetType& dataset() const { return core_->dataset; }
  const DataLoaderOptions& options() const { return core_->options; }

 private:
  /// What a pass needs, shared with its worker threads (so a pass never outlives it).
  struct Core {
    Core(DatasetType dataset_in, DataLoaderOptions options_in, Collate collate_in)
        : dataset(std::move(dataset_in)), options(options_in), collate(std::move(collate_in)) {
      if constexpr (SamplingDataset<DatasetType>) sampler = dataset.sampler();
    }

    std::int64_t samples(std::uint64_t epoch) const {
      return sampler.size ? sampler.size(epoch) : static_cast<std::int64_t>(dataset.size());
    }

    std::unique_ptr<IndexStream> open(std::uint64_t epoch) const {
      if (sampler.open) return sampler.open(epoch);
      const auto count = static_cast<std::int64_t>(dataset.size());
      if (options.shuffle) return std::make_unique<VectorIndexStream>(shuffled_indices(count, options.seed, epoch));
      return std::make_unique<RangeIndexStream>(count);
    }

    BatchType make(const std::vector<std::int64_t>& indices, std::uint64_t epoch, std::int64_t batch) const {
      BatchType made = make_plain(indices, epoch);
      if (batch_transform) return batch_transform(std::move(made), BatchContext{options.seed, epoch, batch});
      return made;
    }

    BatchType make_plain(const std::vector<std::int64_t>& indices, std::uint64_t epoch) const {
      if constexpr (BatchedDataset<DatasetType> && !EpochDataset<DatasetType>) {
        if constexpr (std::is_convertible_v<decltype(dataset.get_batch(indices)), BatchType>) {
          if (!collate) return dataset.get_batch(indices);
        }
      }
      std::vector<Sample> samples;
      samples.reserve(indices.size());
      for (std::int64_t index : indices) {
        if constexpr (EpochDataset<DatasetType>)
          samples.push_back(dataset.get(index, epoch));
        else
          samples.push_back(dataset.get(index));
      }
      (void)epoch;
      if (collate) return collate(samples);
      if constexpr (requires {
                      { DefaultCollate<Sample>::collate(samples) } -> std::convertible_to<BatchType>;
                    }) {
        return DefaultCollate<Sample>::collate(samples);
      } else {
        // Unreachable: the constructor without a collate function rejects such sample types.
        throw ValueError("DataLoader: no collate function for this sample type");
      }
    }

    DatasetType dataset;
    DataLoaderOptions options;
    Collate collate;
    Sampler sampler;
    BatchTransform batch_transform;
  };

  std::int64_t samples_for_epoch(std::uint64_t epoch) const { return core_->samples(epoch); }
  std::int64_t batches_for(std::int64_t count) const {
    const std::int64_t batch_size = core_->options.batch_size;
    return core_->options.drop_last ? count / batch_size : (count + batch_size - 1) / batch_size;
  }

  /// The settings are shared with running passes; changing them makes a copy first.
  Core& mutable_core() {
    stop();
    core_ = std::make_shared<Core>(*core_);
    return *std::const_pointer_cast<Core>(core_);
  }

  void stop() noexcept {
    if (auto run = run_.lock()) run->stop();
  }

  void check_options() const {
    const DataLoaderOptions& options = core_->options;
    if (options.batch_size < 1)
      throw ValueError("DataLoader: batch_size must be >= 1, got " + std::to_string(options.batch_size));
    if (options.num_workers < 0)
      throw ValueError("DataLoader: num_workers must be >= 0, got " + std::to_string(options.num_workers));
    if (options.prefetch < 1)
      throw ValueError("DataLoader: prefetch must be >= 1, got " + std::to_string(options.prefetch));
  }

  std::shared_ptr<const Core> core_;
  std::uint64_t epoch_ = 0;
  std::int64_t start_batch_ = 0;
  struct Position {
    std::uint64_t epoch = 0;
    std::int64_t batch = 0;
  } position_;
  std::weak_ptr<Run> run_;
  std::shared_ptr<Progress> progress_;
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
