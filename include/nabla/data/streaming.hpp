// nabla/data/streaming.hpp - a corpus in many token files (shards), streamed: shards in order or
// in a seeded order per epoch, each rank of a distributed run reading its own shards, examples
// mixed by a shuffle buffer.
//
//   nb::data::ShardedTokenDataset train({"shard-000.tokens", "shard-001.tokens", ...},
//                                       {.file = {.context = 128}, .shuffle_shards = true,
//                                        .shuffle_buffer = 10000, .seed = 1,
//                                        .rank = rank, .world_size = world_size});
//   nb::data::DataLoader loader(train, {.batch_size = 32, .num_workers = 2});   // uses train.sampler()
//
// The examples are the windows of TokenFileDataset (data/token_file.hpp), numbered across the
// shards: shard 0's windows first, then shard 1's, and so on. Epoch e reads:
//   1. the shard order: 0, 1, ..., S - 1, or with shuffle_shards shuffled_indices(S, seed, e);
//   2. this rank's shards: positions rank, rank + world_size, rank + 2 world_size, ... of that
//      order (so over all ranks every shard is read exactly once per epoch);
//   3. the windows of those shards in sequence, through a shuffle buffer of B examples (B = 0:
//      none). While the stream lasts, the buffer is filled to B; then each step draws a slot j
//      and emits the example there, putting the next one from the stream in its place; at the
//      end the rest is drained the same way. Step n draws
//        j = ((w0 << 32) | w1) mod (examples in the buffer),
//        w = philox4x32_10({lo32(n), hi32(n), lo32(e), 0xB0FF}, lo32(seed), hi32(seed)).
// The buffer holds example numbers, not tokens: B costs 8 bytes each, and the stream is a
// function of (seed, epoch, rank, world_size) that a resumed run replays without reading data.
// Shards are memory-mapped, so a step reads only the windows of its batch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/data/dataloader.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/token_file.hpp"

namespace nabla::data {

struct ShardedTokenOptions {
  /// How each shard is read (context, stride, checks); the same for every shard.
  TokenFileOptions file{};
  /// A new seeded order of the shards every epoch (else the order given).
  bool shuffle_shards = false;
  /// Examples held to mix the stream (0: the stream's own order).
  std::int64_t shuffle_buffer = 0;
  std::uint64_t seed = 0;
  /// This process's rank and the number of processes: each reads every world_size-th shard.
  int rank = 0;
  int world_size = 1;
};

class ShardedTokenDataset {
 public:
  using Sample = TokenFileDataset::Sample;
  using BatchType = TokenFileDataset::BatchType;

  ShardedTokenDataset(const std::vector<std::string>& paths, ShardedTokenOptions options) : options_(options) {
    if (paths.empty()) throw ValueError("ShardedTokenDataset: no shard files given");
    if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
      throw ValueError("ShardedTokenDataset: rank " + std::to_string(options.rank) +
                       " is not in [0, world_size = " + std::to_string(options.world_size) + ")");
    if (options.shuffle_buffer < 0)
      throw ValueError("ShardedTokenDataset: shuffle_buffer must be >= 0, got " +
                       std::to_string(options.shuffle_buffer));
    if (static_cast<std::int64_t>(paths.size()) < options.world_size)
      throw ValueError("ShardedTokenDataset: " + std::to_string(paths.size()) + " shards cannot give each of " +
                       std::to_string(options.world_size) + " ranks a shard of its own");
    auto shards = std::make_shared<Shards>();
    shards->first.push_back(0);
    for (const auto& path : paths) {
      shards->files.emplace_back(path, options.file);
      if (shards->files.back().vocabulary_size() != shards->files.front().vocabulary_size())
        throw IOError("ShardedTokenDataset: " + path + " has a vocabulary of " +
                      std::to_string(shards->files.back().vocabulary_size()) + " ids, " + paths.front() + " one of " +
                      std::to_string(shards->files.front().vocabulary_size()));
      shards->first.push_back(shards->first.back() + shards->files.back().size());
    }
    shards_ = std::move(shards);
  }

  /// Examples in all shards (all ranks together).
  std::int64_t size() const { return shards_->first.back(); }
  std::int64_t shard_count() const { return static_cast<std::int64_t>(shards_->files.size()); }
  /// The examples of shard `shard` are [first_example(shard), first_example(shard + 1)).
  std::int64_t first_example(std::int64_t shard) const { return shards_->first.at(static_cast<std::size_t>(shard)); }
  const TokenFileDataset& shard(std::int64_t shard) const { return shards_->files.at(static_cast<std::size_t>(shard)); }
  std::uint64_t vocabulary_size() const { return shards_->files.front().vocabulary_size(); }
  const ShardedTokenOptions& options() const { return options_; }

  /// Example `index` (numbered across the shards).
  Sample get(std::int64_t index) const {
    detail::check_sample_index("ShardedTokenDataset::get", index, size());
    const auto [shard, local] = locate(index);
    return shards_->files[shard].get(local);
  }
  /// Examples `indices` as inputs and targets [indices.size(), context].
  BatchType get_batch(const std::vector<std::int64_t>& indices) const {
    for (const std::int64_t index : indices)
      detail::check_sample_index("ShardedTokenDataset::get_batch", index, size());
    const std::int64_t context = options_.file.context;
    const auto rows = static_cast<std::int64_t>(indices.size());
    IndexTensor inputs = empty<std::int64_t>({rows, context});
    IndexTensor targets = empty<std::int64_t>({rows, context});
    for (std::int64_t row = 0; row < rows; ++row) {
      const auto [shard, local] = locate(indices[static_cast<std::size_t>(row)]);
      shards_->files[shard].read_window(local, inputs.data() + row * context, targets.data() + row * context);
    }
    return {inputs, targets};
  }

  /// The shards rank `options.rank` reads in epoch `epoch`, in reading order.
  std::vector<std::int64_t> shards_for_epoch(std::uint64_t epoch) const {
    const std::int64_t count = shard_count();
    std::vector<std::int64_t> order;
    if (options_.shuffle_shards) {
      order = shuffled_indices(count, options_.seed, epoch);
    } else {
      order.resize(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count; ++i) order[static_cast<std::size_t>(i)] = i;
    }
    std::vector<std::int64_t> mine;
    for (std::int64_t i = options_.rank; i < count; i += options_.world_size)
      mine.push_back(order[static_cast<std::size_t>(i)]);
    return mine;
  }

  /// Examples this rank reads in epoch `epoch`.
  std::int64_t examples_for_epoch(std::uint64_t epoch) const {
    std::int64_t total = 0;
    for (const std::int64_t s : shards_for_epoch(epoch)) total += first_example(s + 1) - first_example(s);
    return total;
  }

  /// The stream of example numbers of each epoch (see the top of the file); a DataLoader over
  /// this dataset uses it.
  Sampler sampler() const {
    const ShardedTokenDataset self = *this;
    return {[self](std::uint64_t epoch) -> std::unique_ptr<IndexStream> {
              return std::make_unique<Stream>(self.shards_, self.options_, epoch, self.shards_for_epoch(epoch));
            },
            [self](std::uint64_t epoch) { return self.examples_for_epoch(epoch); }};
  }

 private:
  struct Shards {
    std::vector<TokenFileDataset> files;
    std::vector<std::int64_t> first;  // first[s]: number of shard s's first example; first[S]: all
  };

  std::pair<std::size_t, std::int64_t> locate(std::int64_t index) const {
    const auto& first = shards_->first;
    const auto shard =
        static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), index) - first.begin() - 1);
    return {shard, index - first[shard]};
  }

  /// One epoch's stream for this rank: the example numbers of its shards through the buffer.
  class Stream final : public IndexStream {
   public:
    Stream(std::shared_ptr<const Shards> files, const ShardedTokenOptions& options, std::uint64_t epoch,
           std::vector<std::int64_t> shards)
        : files_(std::move(files)), seed_(options.seed), epoch_(epoch), shards_(std::move(shards)) {
      capacity_ = static_cast<std::size_t>(options.shuffle_buffer);
      buffer_.reserve(capacity_);
    }

    std::vector<std::int64_t> next(std::int64_t count) override {
      std::vector<std::int64_t> out;
      out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
      while (static_cast<std::int64_t>(out.size()) < count) {
        if (capacity_ == 0) {
          std::int64_t example = 0;
          if (!from_source(example)) break;
          out.push_back(example);
          continue;
        }
        std::int64_t example = 0;
        while (buffer_.size() < capacity_ && from_source(example)) buffer_.push_back(example);
        if (buffer_.empty()) break;
        const std::size_t slot = draw(buffer_.size());
        out.push_back(buffer_[slot]);
        if (from_source(example)) {
          buffer_[slot] = example;
        } else {
          buffer_[slot] = buffer_.back();
          buffer_.pop_back();
        }
      }
      return out;
    }

   private:
    /// The next example of this rank's shards in reading order; false at the end.
    bool from_source(std::int64_t& example) {
      while (shard_position_ < shards_.size()) {
        const std::int64_t shard = shards_[shard_position_];
        const std::int64_t begin = files_->first[static_cast<std::size_t>(shard)];
        const std::int64_t end = files_->first[static_cast<std::size_t>(shard) + 1];
        if (begin + within_shard_ < end) {
          example = begin + within_shard_++;
          return true;
        }
        ++shard_position_;
        within_shard_ = 0;
      }
      return false;
    }

    std::size_t draw(std::size_t bound) {
      const std::uint64_t n = step_++;
      const std::uint64_t seed = seed_;
      const PhiloxWords w = philox4x32_10({static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(n >> 32),
                                           static_cast<std::uint32_t>(epoch_), 0xB0FFu},
                                          static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
      return static_cast<std::size_t>(((static_cast<std::uint64_t>(w[0]) << 32) | w[1]) % bound);
    }

    std::shared_ptr<const Shards> files_;
    std::uint64_t seed_;
    std::uint64_t epoch_;
    std::vector<std::int64_t> shards_;
    std::size_t shard_position_ = 0;
    std::int64_t within_shard_ = 0;
    std::size_t capacity_ = 0;
    std::vector<std::int64_t> buffer_;
    std::uint64_t step_ = 0;
  };

  ShardedTokenOptions options_;
  std::shared_ptr<const Shards> shards_;
};

}  // namespace nabla::data
