// fuzz/lm_batcher.cpp - libFuzzer target: the language-model batcher
// (data/language_model.hpp) on any token stream, batch size and sequence length: every batch
// it yields must be inside the stream, and its targets the inputs shifted by one.
#include <nabla/data/language_model.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nabla_fuzz::Bytes bytes(data, size);
  // Sizes from two bytes, with a sign bit so that invalid ones (0, negative) are tried too.
  const auto pick = [&] {
    const std::uint16_t value = bytes.u16();
    const std::int64_t magnitude = value & 0x7fff;
    return (value & 0x8000) ? -magnitude : magnitude;
  };
  const std::int64_t batch_size = pick(), seq_len = pick();
  std::vector<std::int64_t> tokens;
  for (const char c : bytes.rest()) tokens.push_back(static_cast<unsigned char>(c));
  try {
    nabla::data::LanguageModelBatcher batcher(tokens, batch_size, seq_len);
    const std::int64_t length = static_cast<std::int64_t>(tokens.size()) / batch_size;
    std::int64_t batches = 0;
    for (const auto& batch : batcher) {
      const auto inputs = batch.inputs.to_vector();
      const auto targets = batch.targets.to_vector();
      const std::int64_t steps = batch.inputs.size(1);
      if (steps < 1 || steps > seq_len || inputs.size() != targets.size()) __builtin_trap();
      for (std::int64_t b = 0; b < batch_size; ++b)
        for (std::int64_t t = 0; t < steps; ++t) {
          const std::int64_t position = b * length + batches * seq_len + t;
          if (inputs[static_cast<std::size_t>(b * steps + t)] != tokens[static_cast<std::size_t>(position)] ||
              targets[static_cast<std::size_t>(b * steps + t)] != tokens[static_cast<std::size_t>(position + 1)])
            __builtin_trap();
        }
      ++batches;
    }
    if (batches != batcher.size()) __builtin_trap();
    try {
      (void)batcher.batch(batcher.size());
    } catch (const nabla::ValueError&) {
    }
  } catch (const nabla::Error&) {
  }
  return 0;
}
