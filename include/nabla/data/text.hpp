// nabla/data/text.hpp - text to token ids: Tokenizer (Keras), Vocabulary, pad_sequences.
//
//   nb::data::Tokenizer tokenizer({.num_words = 10000, .oov_token = "<OOV>"});
//   tokenizer.fit_on_texts(train_texts);
//   auto sequences = tokenizer.texts_to_sequences(train_texts);   // word ids per text
//   nb::IndexTensor x = nb::data::pad_sequences(sequences, {.maxlen = 100});   // [n, 100]
//
// Tokenizer, text_to_word_sequence and pad_sequences reproduce Keras's
// tf.keras.preprocessing.text.Tokenizer and keras.utils.pad_sequences: the same options,
// defaults and results (see docs/data.md for the few documented differences: characters
// are bytes, and only ASCII letters are lowercased).
// Vocabulary is the torchtext-style alternative with fixed specials <pad> = 0 and <unk> = 1.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::data {

/// Keras's default filters: punctuation, tab and newline (the apostrophe is kept: "don't").
inline constexpr std::string_view kDefaultTextFilters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

namespace detail {
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace detail

/// Splits a text into words like keras.preprocessing.text.text_to_word_sequence: lowercase
/// (if `lower`), replace every character of `filters` by `split`, split on `split`, and
/// drop empty pieces. Works on bytes: UTF-8 text passes through unchanged, and only ASCII
/// letters are lowercased.
inline std::vector<std::string> text_to_word_sequence(std::string_view text,
                                                      std::string_view filters = kDefaultTextFilters, bool lower = true,
                                                      std::string_view split = " ") {
  if (split.empty()) throw ValueError("text_to_word_sequence: split must not be empty");
  std::array<bool, 256> is_filtered{};
  for (char c : filters) is_filtered[static_cast<unsigned char>(c)] = true;
  std::string cleaned;
  cleaned.reserve(text.size());
  for (char c : text) {
    const char lowered = lower ? detail::ascii_lower(c) : c;
    if (is_filtered[static_cast<unsigned char>(lowered)])
      cleaned += split;
    else
      cleaned += lowered;
  }
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start <= cleaned.size()) {
    const std::size_t end = std::min(cleaned.find(split, start), cleaned.size());
    if (end > start) words.emplace_back(cleaned, start, end - start);
    start = end + split.size();
  }
  return words;
}

struct TokenizerOptions {
  /// Keep only the most frequent words: texts_to_sequences uses indices 1 .. num_words - 1
  /// (so num_words - 1 words, or num_words - 2 plus the OOV token). Unset (or 0, as in
  /// Keras): keep all.
  std::optional<std::int64_t> num_words = std::nullopt;
  std::string filters = std::string(kDefaultTextFilters);
  bool lower = true;
  std::string split = " ";
  /// If set, this token gets index 1 and stands for every word the tokenizer does not keep.
  std::optional<std::string> oov_token = std::nullopt;
};

/// Keras's Tokenizer: counts words in fit_on_texts, numbers them by frequency (1 = the most
/// frequent; ties in order of first appearance; 0 is never a word, it is left for padding).
class Tokenizer {
 public:
  explicit Tokenizer(TokenizerOptions options = {}) : options_(std::move(options)) {
    if (options_.num_words && *options_.num_words < 0)
      throw ValueError("Tokenizer: num_words must be >= 0, got " + std::to_string(*options_.num_words));
    if (options_.split.empty()) throw ValueError("Tokenizer: split must not be empty");
    rebuild_index();
  }

  /// Counts the words of `texts` (adding to earlier calls) and renumbers the vocabulary.
  void fit_on_texts(const std::vector<std::string>& texts) {
    for (const auto& text : texts) {
      ++document_count_;
      const std::vector<std::string> words = words_of(text);
      std::unordered_map<std::string, bool> seen_in_text;
      for (const auto& word : words) {
        const auto [position, inserted] = count_position_.emplace(word, word_counts_.size());
        if (inserted) word_counts_.emplace_back(word, 0);
        ++word_counts_[position->second].second;
        if (seen_in_text.emplace(word, true).second) ++word_docs_[word];
      }
    }
    rebuild_index();
  }

  /// Each text as word indices. A word the tokenizer does not keep (never seen, or index >=
  /// num_words) becomes the OOV index if there is an OOV token, and is dropped otherwise.
  std::vector<std::vector<std::int64_t>> texts_to_sequences(const std::vector<std::string>& texts) const {
    const std::optional<std::int64_t> oov = oov_index();
    std::vector<std::vector<std::int64_t>> sequences;
    sequences.reserve(texts.size());
    for (const auto& text : texts) {
      std::vector<std::int64_t> sequence;
      for (const auto& word : words_of(text)) {
        const auto found = word_index_.find(word);
        if (found != word_index_.end() && !beyond_num_words(found->second))
          sequence.push_back(found->second);
        else if (oov)
          sequence.push_back(*oov);
      }
      sequences.push_back(std::move(sequence));
    }
    return sequences;
  }

  /// The inverse: each sequence as its words joined by spaces. Indices that name no kept
  /// word become the OOV token if there is one, and are dropped otherwise (as in Keras).
  std::vector<std::string> sequences_to_texts(const std::vector<std::vector<std::int64_t>>& sequences) const {
    const std::optional<std::int64_t> oov = oov_index();
    std::vector<std::string> texts;
    texts.reserve(sequences.size());
    for (const auto& sequence : sequences) {
      std::string text;
      for (std::int64_t index : sequence) {
        const bool known = index >= 1 && index < static_cast<std::int64_t>(index_word_.size());
        const std::string* word = nullptr;
        if (known && !beyond_num_words(index))
          word = &index_word_[static_cast<std::size_t>(index)];
        else if (oov)
          word = &index_word_[static_cast<std::size_t>(*oov)];
        if (!word) continue;
        if (!text.empty()) text += ' ';
        text += *word;
      }
      texts.push_back(std::move(text));
    }
    return texts;
  }

  /// word -> index for every word seen (and the OOV token), regardless of num_words.
  const std::unordered_map<std::string, std::int64_t>& word_index() const { return word_index_; }
  /// The index of `word`, if the tokenizer has one for it.
  std::optional<std::int64_t> index_of(const std::string& word) const {
    const auto found = word_index_.find(word);
    return found == word_index_.end() ? std::nullopt : std::optional<std::int64_t>(found->second);
  }
  /// The word with index `index` (Keras's index_word); ValueError if there is none.
  const std::string& word_of(std::int64_t index) const {
    if (index < 1 || index >= static_cast<std::int64_t>(index_word_.size()))
      throw ValueError("Tokenizer::word_of: no word has index " + std::to_string(index) + " (indices run from 1 to " +
                       std::to_string(index_word_.size() - 1) + ")");
    return index_word_[static_cast<std::size_t>(index)];
  }
  /// How often each word occurred, in order of first appearance (Keras's word_counts).
  const std::vector<std::pair<std::string, std::int64_t>>& word_counts() const { return word_counts_; }
  /// In how many texts each word occurred (Keras's word_docs).
  const std::unordered_map<std::string, std::int64_t>& word_docs() const { return word_docs_; }
  std::int64_t document_count() const { return document_count_; }
  /// The number of rows an Embedding needs for texts_to_sequences' output: the largest
  /// index it can produce, plus one.
  std::int64_t vocabulary_size() const {
    const auto all = static_cast<std::int64_t>(index_word_.size());
    return limited() ? std::min(*options_.num_words, all) : all;
  }
  const TokenizerOptions& options() const { return options_; }

 private:
  std::vector<std::string> words_of(const std::string& text) const {
    return text_to_word_sequence(text, options_.filters, options_.lower, options_.split);
  }
  bool limited() const { return options_.num_words && *options_.num_words > 0; }
  bool beyond_num_words(std::int64_t index) const { return limited() && index >= *options_.num_words; }
  std::optional<std::int64_t> oov_index() const {
    return options_.oov_token ? index_of(*options_.oov_token) : std::nullopt;
  }

  /// Keras: sort the (word, count) pairs by count, descending, with a stable sort (so ties
  /// keep their first-appearance order), put the OOV token first, number from 1.
  void rebuild_index() {
    std::vector<std::pair<std::string, std::int64_t>> by_count = word_counts_;
    std::stable_sort(by_count.begin(), by_count.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> ordered;
    if (options_.oov_token) ordered.push_back(*options_.oov_token);
    for (const auto& entry : by_count) ordered.push_back(entry.first);
    word_index_.clear();
    index_word_.assign(1, std::string());  // index 0 is padding, never a word
    for (std::size_t i = 0; i < ordered.size(); ++i) {
      // Like Keras's dict(zip(...)): if the OOV token also occurs as a word, its later index wins.
      word_index_[ordered[i]] = static_cast<std::int64_t>(i + 1);
      index_word_.push_back(ordered[i]);
    }
  }

  TokenizerOptions options_;
  std::int64_t document_count_ = 0;
  std::vector<std::pair<std::string, std::int64_t>> word_counts_;
  std::unordered_map<std::string, std::size_t> count_position_;  // word -> position in word_counts_
  std::unordered_map<std::string, std::int64_t> word_docs_;
  std::unordered_map<std::string, std::int64_t> word_index_;
  std::vector<std::string> index_word_;
};

struct VocabularyOptions {
  /// Tokens seen fewer times than this map to <unk>.
  std::int64_t min_freq = 1;
  /// The most entries, specials included (unset: no limit); the rarest tokens are left out.
  std::optional<std::int64_t> max_size = std::nullopt;
  std::string pad_token = "<pad>";
  std::string unk_token = "<unk>";
};

/// A token <-> index table with two special entries: pad_token = 0 (for padding) and
/// unk_token = 1 (for every unknown or rare token). The other tokens follow by frequency,
/// descending, ties in order of first appearance.
class Vocabulary {
 public:
  static constexpr std::int64_t pad_index = 0;
  static constexpr std::int64_t unk_index = 1;

  /// Only the two specials.
  explicit Vocabulary(VocabularyOptions options = {})
      : Vocabulary(std::vector<std::vector<std::string>>{}, std::move(options)) {}

  /// Counts the tokens of already tokenized texts (e.g. from text_to_word_sequence).
  explicit Vocabulary(const std::vector<std::vector<std::string>>& tokenized_texts, VocabularyOptions options = {})
      : options_(std::move(options)) {
    if (options_.min_freq < 1)
      throw ValueError("Vocabulary: min_freq must be >= 1, got " + std::to_string(options_.min_freq));
    if (options_.max_size && *options_.max_size < 2)
      throw ValueError("Vocabulary: max_size counts the 2 specials, so it must be >= 2, got " +
                       std::to_string(*options_.max_size));
    if (options_.pad_token == options_.unk_token)
      throw ValueError("Vocabulary: pad_token and unk_token must differ, both are '" + options_.pad_token + "'");
    std::vector<std::pair<std::string, std::int64_t>> counts;
    std::unordered_map<std::string, std::size_t> position;
    for (const auto& text : tokenized_texts)
      for (const auto& token : text) {
        const auto [found, inserted] = position.emplace(token, counts.size());
        if (inserted) counts.emplace_back(token, 0);
        ++counts[found->second].second;
      }
    std::stable_sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    add(options_.pad_token);
    add(options_.unk_token);
    for (const auto& [token, count] : counts) {
      if (count < options_.min_freq) break;  // sorted by count: the rest are rarer
      if (options_.max_size && size() >= *options_.max_size) break;
      if (!contains(token)) add(token);  // a special that also occurs in the text keeps its index
    }
  }

  /// Number of entries, specials included (the num_embeddings of an Embedding).
  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  bool contains(const std::string& token) const { return index_by_token_.count(token) > 0; }
  /// The index of `token`, or unk_index.
  std::int64_t index_of(const std::string& token) const {
    const auto found = index_by_token_.find(token);
    return found == index_by_token_.end() ? unk_index : found->second;
  }
  /// The token at `index`; ValueError outside [0, size()).
  const std::string& token_of(std::int64_t index) const {
    if (index < 0 || index >= size())
      throw ValueError("Vocabulary::token_of: index " + std::to_string(index) + " is outside [0, " +
                       std::to_string(size()) + ")");
    return tokens_[static_cast<std::size_t>(index)];
  }
  std::vector<std::int64_t> encode(const std::vector<std::string>& tokens) const {
    std::vector<std::int64_t> indices;
    indices.reserve(tokens.size());
    for (const auto& token : tokens) indices.push_back(index_of(token));
    return indices;
  }
  std::vector<std::string> decode(const std::vector<std::int64_t>& indices) const {
    std::vector<std::string> tokens;
    tokens.reserve(indices.size());
    for (std::int64_t index : indices) tokens.push_back(token_of(index));
    return tokens;
  }
  /// Every token, by index.
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  void add(const std::string& token) {
    index_by_token_.emplace(token, size());
    tokens_.push_back(token);
  }

  VocabularyOptions options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int64_t> index_by_token_;
};

/// Where pad_sequences pads or truncates: before the sequence (pre) or after it (post).
enum class Side { pre, post };

struct PadOptions {
  /// The output length (unset: the longest sequence's length).
  std::optional<std::int64_t> maxlen = std::nullopt;
  Side padding = Side::pre;
  /// Longer sequences lose their first (pre) or last (post) elements.
  Side truncating = Side::pre;
  std::int64_t value = 0;
};

/// keras.utils.pad_sequences: the sequences as rows of one [n, maxlen] tensor, each padded
/// with `value` or truncated to maxlen. Defaults as in Keras (pre-padding, pre-truncating):
///   pad_sequences({{1}, {2, 3}, {4, 5, 6}})                 -> [[0,0,1],[0,2,3],[4,5,6]]
///   pad_sequences(..., {.padding = Side::post})             -> [[1,0,0],[2,3,0],[4,5,6]]
///   pad_sequences(..., {.maxlen = 2})                       -> [[0,1],[2,3],[5,6]]
inline IndexTensor pad_sequences(const std::vector<std::vector<std::int64_t>>& sequences,
                                 const PadOptions& options = {}) {
  std::int64_t maxlen = 0;
  if (options.maxlen) {
    if (*options.maxlen < 0)
      throw ValueError("pad_sequences: maxlen must be >= 0, got " + std::to_string(*options.maxlen));
    maxlen = *options.maxlen;
  } else {
    for (const auto& sequence : sequences) maxlen = std::max(maxlen, static_cast<std::int64_t>(sequence.size()));
  }
  const auto rows = static_cast<std::int64_t>(sequences.size());
  check_valid_shape("pad_sequences", {rows, maxlen});
  IndexTensor result({rows, maxlen});
  std::int64_t* data = result.data();
  std::fill(data, data + rows * maxlen, options.value);
  for (std::int64_t row = 0; row < rows; ++row) {
    const auto& sequence = sequences[static_cast<std::size_t>(row)];
    const auto length = static_cast<std::int64_t>(sequence.size());
    const std::int64_t kept = std::min(length, maxlen);
    // Which elements survive truncation, and where they go in the row.
    const std::int64_t first_kept = options.truncating == Side::pre ? length - kept : 0;
    const std::int64_t first_column = options.padding == Side::pre ? maxlen - kept : 0;
    std::copy_n(sequence.begin() + first_kept, kept, data + row * maxlen + first_column);
  }
  return result;
}

}  // namespace nabla::data
