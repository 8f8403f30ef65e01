// examples/common/token_file.hpp - --token-file of the language-model examples (sequence_model,
// gpt): the training ids written to a token file on the first run and checked on later ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "data.hpp"

namespace nabla_examples {

/// --token-file: the training ids on disk. The first run writes them; a later run checks that
/// the file holds exactly this run's ids (vocabulary size, count and CRC-32 of the payload), so a
/// file from another corpus, split or vocabulary is never trained on by mistake (DataCorrupted).
inline void ensure_token_file(const DataSet& data_set, const std::string& path, const std::vector<std::int64_t>& ids,
                              std::int64_t vocabulary_size) {
  namespace nb = nabla;
  const auto vocabulary = static_cast<std::uint64_t>(vocabulary_size);
  if (!std::filesystem::exists(path)) {
    nb::io::write_token_file(path, ids, vocabulary);
    std::printf("wrote the %zu training ids to token file %s\n", ids.size(), path.c_str());
    return;
  }
  const nb::io::FileReader file(path, "--token-file");
  const std::vector<unsigned char> bytes = file.read_bytes(0, std::min<std::uint64_t>(file.size(), 64), "the header");
  const nb::io::TokenFileHeader header =
      nb::io::parse_token_file_header(bytes.data(), file.size(), "--token-file: " + path);
  nb::io::Crc32 expected;
  for (const std::int64_t id : ids) {
    const unsigned char encoded[4] = {static_cast<unsigned char>(id), static_cast<unsigned char>(id >> 8),
                                      static_cast<unsigned char>(id >> 16), static_cast<unsigned char>(id >> 24)};
    expected.update(encoded, header.width);
  }
  if (header.vocabulary_size != vocabulary || header.count != ids.size() ||
      header.width != nb::io::token_width_for(vocabulary) || header.payload_crc32 != expected.value())
    throw DataCorrupted(data_set, "--token-file " + path + " holds " + std::to_string(header.count) +
                                      " ids of a vocabulary of " + std::to_string(header.vocabulary_size) +
                                      ", not this run's " + std::to_string(ids.size()) + " training ids of " +
                                      std::to_string(vocabulary) +
                                      " (another corpus, --split or --max-train-tokens?): delete it or pass "
                                      "another --token-file");
}

}  // namespace nabla_examples
