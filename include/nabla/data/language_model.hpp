// nabla/data/language_model.hpp - batches for a word-level language model (truncated BPTT).
//
// A language model reads one long token stream and predicts each next token. The batcher
// does what PyTorch's word_language_model example does (batchify + get_batch), batch-first:
//
//   1. cut the stream into batch_size equal rows, each a contiguous stretch of the text:
//      trim it to a multiple of batch_size (the few tokens left over are dropped) and view
//      it as rows [batch_size, length], length = n / batch_size. Row b holds tokens
//      b * length ... (b + 1) * length - 1. (PyTorch stores the transpose and calls these
//      columns.)
//   2. batch k is the window of columns k * seq_len ... k * seq_len + s - 1 of every row,
//      with s = min(seq_len, length - 1 - k * seq_len) (only the last batch can be shorter):
//        inputs  [batch_size, s] = rows[:, k * seq_len     : k * seq_len + s]
//        targets [batch_size, s] = rows[:, k * seq_len + 1 : k * seq_len + s + 1]
//      so targets[b][t] is the token that follows inputs[b][t] in the stream.
//
// Row b of batch k + 1 continues row b of batch k exactly where it stopped. That is what
// makes it right to carry the LSTM's state (h, c) from one batch to the next: the state at
// the end of batch k is the state after reading row b's text so far. Detach the state
// between batches, so that backpropagation stops at the batch boundary (truncated BPTT):
//
//   nb::nn::LSTMState<float> state;                     // zeros at the start of an epoch
//   for (const auto& [inputs, targets] : batcher) {
//     auto result = lstm(embedding(inputs), state);
//     ... loss, backward, step ...
//     state = {result.h.detach(), result.c.detach()};
//   }
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::data {

class LanguageModelBatcher {
 public:
  using BatchType = Batch<IndexTensor, IndexTensor>;

  LanguageModelBatcher(const std::vector<std::int64_t>& tokens, std::int64_t batch_size, std::int64_t seq_len)
      : seq_len_(seq_len) {
    if (batch_size < 1)
      throw ValueError("LanguageModelBatcher: batch_size must be >= 1, got " + std::to_string(batch_size));
    if (seq_len < 1) throw ValueError("LanguageModelBatcher: seq_len must be >= 1, got " + std::to_string(seq_len));
    const auto count = static_cast<std::int64_t>(tokens.size());
    const std::int64_t length = count / batch_size;
    if (length < 2)
      throw ValueError("LanguageModelBatcher: a stream of " + std::to_string(count) + " tokens is too short for " +
                       std::to_string(batch_size) +
                       " rows; every row needs at least 2 tokens (an input and its target)");
    // The first batch_size * length tokens, row-major: row b is the b-th stretch of the stream.
    rows_ = from_vector<std::int64_t>(std::vector<std::int64_t>(tokens.begin(), tokens.begin() + batch_size * length),
                                      {batch_size, length});
  }

  /// The number of batches: ceil((length - 1) / seq_len).
  std::int64_t size() const { return (rows_.size(1) - 1 + seq_len_ - 1) / seq_len_; }
  std::int64_t batch_size() const { return rows_.size(0); }
  std::int64_t seq_len() const { return seq_len_; }
  /// The stream cut into rows [batch_size, length].
  const IndexTensor& rows() const { return rows_; }

  /// Batch `k` (see the top of this file): contiguous [batch_size, s] inputs and targets.
  BatchType batch(std::int64_t k) const {
    if (k < 0 || k >= size())
      throw ValueError("LanguageModelBatcher::batch: batch " + std::to_string(k) + " is out of range; there are " +
                       std::to_string(size()) + " batches");
    const std::int64_t start = k * seq_len_;
    const std::int64_t steps = std::min(seq_len_, rows_.size(1) - 1 - start);
    return {rows_.narrow(1, start, steps).contiguous(), rows_.narrow(1, start + 1, steps).contiguous()};
  }

  /// Yields batch 0, 1, ..., size() - 1 in order (never shuffled: the order carries the state).
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = BatchType;
    using difference_type = std::ptrdiff_t;
    using pointer = const BatchType*;
    using reference = const BatchType&;

    Iterator() = default;
    const BatchType& operator*() const { return current_; }
    const BatchType* operator->() const { return &current_; }
    Iterator& operator++() {
      ++index_;
      load();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    friend class LanguageModelBatcher;
    Iterator(const LanguageModelBatcher* batcher, std::int64_t index) : batcher_(batcher), index_(index) { load(); }
    void load() {
      if (batcher_ && index_ < batcher_->size()) current_ = batcher_->batch(index_);
    }
    const LanguageModelBatcher* batcher_ = nullptr;
    std::int64_t index_ = 0;
    BatchType current_;
  };

  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const {
    Iterator finished;
    finished.index_ = size();
    return finished;
  }

 private:
  std::int64_t seq_len_;
  IndexTensor rows_;
};

}  // namespace nabla::data
