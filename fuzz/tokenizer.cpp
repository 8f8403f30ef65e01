// fuzz/tokenizer.cpp - libFuzzer target: the Keras-style Tokenizer (data/text.hpp): fit on
// the input's lines, texts_to_sequences, sequences_to_texts, pad_sequences, and the
// torchtext-style Vocabulary. (The Tokenizer has no save/load of its own.) The first bytes pick
// the options.
#include <nabla/data/text.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nabla_fuzz::Bytes bytes(data, size);
  const std::uint8_t choice = bytes.byte();
  const std::uint8_t num_words = bytes.byte();
  nabla::data::TokenizerOptions options;
  if (choice & 1) options.num_words = num_words;
  if (choice & 2) options.oov_token = "<OOV>";
  options.lower = (choice & 4) == 0;
  if (choice & 8) options.split = (choice & 16) ? "ab" : "\n";
  if (choice & 32) options.filters = "";
  const std::string_view text = bytes.rest();
  std::vector<std::string> texts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\x01', start), text.size());
    texts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  try {
    nabla::data::Tokenizer tokenizer(options);
    tokenizer.fit_on_texts(texts);
    auto sequences = tokenizer.texts_to_sequences(texts);
    const auto back = tokenizer.sequences_to_texts(sequences);
    if (back.size() != texts.size()) __builtin_trap();
    sequences.push_back({-1, 0, num_words, 1 << 20});  // indices that name no word
    (void)tokenizer.sequences_to_texts(sequences);
    (void)nabla::data::pad_sequences(
        sequences, {.maxlen = (choice & 64) ? std::optional<std::int64_t>(num_words % 17) : std::nullopt,
                    .padding = (choice & 128) ? nabla::data::Side::post : nabla::data::Side::pre});
    for (std::int64_t index = 0; index < tokenizer.vocabulary_size() && index < 4; ++index) {
      try {
        (void)tokenizer.word_of(index);
      } catch (const nabla::Error&) {
      }
    }
    std::vector<std::vector<std::string>> words;
    for (const auto& piece : texts) words.push_back(nabla::data::text_to_word_sequence(piece));
    nabla::data::Vocabulary vocabulary(
        words, {.min_freq = 1 + num_words % 3,
                .max_size = (choice & 1) ? std::optional<std::int64_t>(2 + num_words % 50) : std::nullopt});
    for (const auto& sentence : words) (void)vocabulary.decode(vocabulary.encode(sentence));
  } catch (const nabla::Error&) {
  }
  return 0;
}
