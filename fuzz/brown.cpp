// fuzz/brown.cpp - libFuzzer target: the sequence_model example's Brown-corpus reader
// (examples/sequence_model/brown_corpus.hpp): word/tag tokens of one file, then the split and
// the vocabulary built from whatever words it found.
#include "../examples/sequence_model/brown_corpus.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  sequence_model::BrownCorpus corpus;
  try {
    sequence_model::read_brown_text(contents, "fuzz/ca01", corpus.words);
  } catch (const nabla_examples::DataError&) {
    return 0;
  }
  corpus.file_count = 1;
  for (const auto& word : corpus.words)
    if (word.empty() || word.find_first_of(" \t\n") != std::string::npos) __builtin_trap();
  try {
    const auto total = static_cast<std::int64_t>(corpus.words.size());
    const auto split = sequence_model::split_corpus(corpus, total / 2, total / 4, 1);
    (void)sequence_model::unigram_perplexity(split.train, split.validation, split.vocabulary.size());
    (void)split.vocabulary.fingerprint();
  } catch (const nabla_examples::DataError&) {
  }
  return 0;
}
