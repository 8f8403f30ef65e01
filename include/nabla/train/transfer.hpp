// nabla/train/transfer.hpp - moving pretrained parts from one model into another:
//
//   // a sub-tree of a saved model (nabla model file or safetensors) into a part of a new one
//   auto report = nb::train::load_pretrained("lm.nabla", *classifier[1], "1.");   // layer 1 of the LM
//   std::cout << report.summary() << "\n";    // loaded, missing, unexpected, mismatched
//
//   // the rows of a pretrained embedding for the words of a new vocabulary
//   auto alignment = nb::train::align_embedding(new_embedding, new_tokenizer, old_weight, old_vocabulary);
//   std::cout << alignment.summary() << "\n"; // copied 9120 rows, 880 words kept their fresh initialisation
//
// Freezing (module.requires_grad_), parameter groups (optim/optimizer.hpp) and the
// UnfreezeAfter callback (train/callbacks.hpp) complete the recipes of docs/transfer_learning.md.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/data/text.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/io/safetensors.hpp"
#include "nabla/nn/embedding.hpp"
#include "nabla/nn/module.hpp"

namespace nabla::train {

namespace detail {
/// Whether the file at `path` starts with a nabla checkpoint's magic bytes.
inline bool is_nabla_checkpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  char magic[sizeof(io::kCheckpointMagic)] = {};
  file.read(magic, sizeof(magic));
  return file.gcount() == static_cast<std::streamsize>(sizeof(magic)) &&
         std::memcmp(magic, io::kCheckpointMagic, sizeof(magic)) == 0;
}
}  // namespace detail

/// Loads the sub-tree `prefix` of a saved model into `module` (any module: a layer, a nested
/// Sequential, a whole model), by name: the module's parameter "weight_ih_l0" comes from the
/// file's "<prefix>weight_ih_l0". The file is a nabla model file (model.save, ModelCheckpoint:
/// names are relative to the model, so "1." is its layer 1) or a safetensors file
/// (save_safetensors, PyTorch's state_dict: names as written). Not strict (the default, as
/// fine-tuning usually loads part of a model): what matches is copied and the report lists
/// the missing, unexpected and shape-mismatched tensors; strict: any of them is an IOError
/// naming every one, and the module is unchanged.
template <FloatingElement T>
io::LoadReport load_pretrained(const std::string& path, nn::Module<T>& module, const std::string& prefix = "",
                               bool strict = false) {
  if (detail::is_nabla_checkpoint(path))
    return io::detail::load_module_tensors(io::load_checkpoint(path).tensors, module, "model." + prefix, strict,
                                           "load_pretrained: " + path);
  return io::load_safetensors(path, module, prefix, strict);
}

// ---- vocabulary alignment ----------------------------------------------------------------------

/// What align_embedding did to the rows of the new embedding.
struct EmbeddingAlignment {
  std::int64_t copied = 0;                 // rows whose word the pretrained vocabulary has: copied
  std::int64_t fresh = 0;                  // words it lacks: their rows keep the fresh initialisation
  std::int64_t without_word = 0;           // rows that name no word (padding, reserved): untouched
  std::vector<std::string> missing_words;  // the `fresh` words, in row order

  /// "copied 950 of 1000 rows from the pretrained embedding; 48 words kept their fresh
  /// initialisation; 2 rows name no word".
  std::string summary() const {
    const std::int64_t rows = copied + fresh + without_word;
    return "copied " + std::to_string(copied) + " of " + std::to_string(rows) +
           " rows from the pretrained embedding; " + std::to_string(fresh) + " word" + (fresh == 1 ? "" : "s") +
           " kept " + (fresh == 1 ? "its" : "their") + " fresh initialisation; " + std::to_string(without_word) +
           " row" + (without_word == 1 ? "" : "s") + " name" + (without_word == 1 ? "s" : "") + " no word";
  }
};

/// The word of every row of an embedding fed by the tokenizer's sequences: row 0 (padding) and
/// rows past the kept words are "" (no word).
inline std::vector<std::string> vocabulary_words(const data::Tokenizer& tokenizer) {
  std::vector<std::string> words(static_cast<std::size_t>(tokenizer.vocabulary_size()));
  for (std::size_t index = 1; index < words.size(); ++index)
    words[index] = tokenizer.word_of(static_cast<std::int64_t>(index));
  return words;
}
/// The word of every row of an embedding fed by the vocabulary's indices (its tokens, "<unk>"
/// and other specials included).
inline std::vector<std::string> vocabulary_words(const data::Vocabulary& vocabulary) { return vocabulary.tokens(); }
inline std::vector<std::string> vocabulary_words(const std::vector<std::string>& words) { return words; }

/// Copies into `target` (a new model's embedding) the rows of a pretrained embedding weight
/// `source_weight` [source rows, dim] for the words both vocabularies have: row i of the
/// target, the word target_words[i], gets the source row of the same word. Words the
/// pretrained vocabulary lacks keep their fresh initialisation; rows whose word is "" are left
/// alone. The vocabularies are a data::Tokenizer, a data::Vocabulary or the words by row.
/// Runs without recording a graph; the target's weight stays a leaf on its device.
template <FloatingElement T, typename TargetVocabulary, typename SourceVocabulary>
EmbeddingAlignment align_embedding(nn::Embedding<T>& target, const TargetVocabulary& target_vocabulary,
                                   const Tensor<T>& source_weight, const SourceVocabulary& source_vocabulary) {
  const std::string op = "align_embedding";
  const std::vector<std::string> target_words = vocabulary_words(target_vocabulary);
  const std::vector<std::string> source_words = vocabulary_words(source_vocabulary);
  const Tensor<T>& weight = target.weight();
  if (!source_weight.defined() || source_weight.dim() != 2 || source_weight.size(1) != weight.size(1))
    throw ShapeError(op + ": the pretrained weight has shape " +
                     (source_weight.defined() ? to_string(source_weight.shape()) : std::string("(undefined)")) +
                     " but the embedding's rows have " + std::to_string(weight.size(1)) + " values: it needs [rows, " +
                     std::to_string(weight.size(1)) + "]");
  if (static_cast<std::int64_t>(source_words.size()) != source_weight.size(0))
    throw ValueError(op + ": the pretrained vocabulary has " + std::to_string(source_words.size()) +
                     " words but the pretrained weight has " + std::to_string(source_weight.size(0)) + " rows");
  if (static_cast<std::int64_t>(target_words.size()) > weight.size(0))
    throw ValueError(op + ": the new vocabulary has " + std::to_string(target_words.size()) +
                     " words but the embedding only " + std::to_string(weight.size(0)) + " rows");
  std::unordered_map<std::string, std::int64_t> source_row;
  for (std::size_t row = 0; row < source_words.size(); ++row)
    if (!source_words[row].empty())
      source_row.emplace(source_words[row], static_cast<std::int64_t>(row));  // first wins

  const std::int64_t dim = weight.size(1);
  std::vector<T> values = weight.to_host_vector();
  const std::vector<T> source = source_weight.to_host_vector();
  EmbeddingAlignment result;
  for (std::int64_t row = 0; row < weight.size(0); ++row) {
    const std::string word = row < static_cast<std::int64_t>(target_words.size())
                                 ? target_words[static_cast<std::size_t>(row)]
                                 : std::string();
    if (word.empty()) {
      ++result.without_word;
      continue;
    }
    const auto found = source_row.find(word);
    if (found == source_row.end()) {
      ++result.fresh;
      result.missing_words.push_back(word);
      continue;
    }
    std::copy_n(source.begin() + found->second * dim, dim, values.begin() + row * dim);
    ++result.copied;
  }
  NoGradGuard no_grad;
  Tensor<T> live = weight;  // a handle: copy_ writes the embedding's own storage
  live.copy_(from_vector<T>(values, weight.shape()).to(weight.device()));
  return result;
}

}  // namespace nabla::train
