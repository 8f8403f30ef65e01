// nabla/io/crc32.hpp - CRC-32 (IEEE 802.3, the one zlib, PNG and gzip use).
//
// A checksum detects accidental corruption of a file (a flipped bit, a torn write); it is
// not a defence against deliberate tampering. Checkpoints store one CRC per tensor and one
// for the header, so a damaged file is rejected with a message naming the damaged part.
//
// The table-driven form: the reflected polynomial 0xEDB88320, one table lookup per byte.
// Check value: crc32("123456789") == 0xCBF43926.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nabla::io {

namespace detail {

/// table[b] = the CRC register after shifting the byte b through the polynomial 8 times.
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t value = byte;
    for (int bit = 0; bit < 8; ++bit) value = (value & 1u) ? (value >> 1) ^ 0xEDB88320u : value >> 1;
    table[byte] = value;
  }
  return table;
}

inline constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();

}  // namespace detail

/// Whether readers compare stored checksums: always, except in a fuzzing build, which defines
/// the conventional FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (only fuzz/CMakeLists.txt does). A
/// random mutation almost never carries a valid CRC, so with checksums on the fuzzer would stop
/// at the door instead of reaching the header, shape and offset checks behind it.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
inline constexpr bool kVerifyChecksums = false;
#else
inline constexpr bool kVerifyChecksums = true;
#endif

/// An incremental CRC-32: feed the bytes in any number of pieces, then read value().
class Crc32 {
 public:
  void update(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i)
      register_ = detail::kCrc32Table[(register_ ^ bytes[i]) & 0xFFu] ^ (register_ >> 8);
  }
  /// The CRC of everything fed so far.
  std::uint32_t value() const { return register_ ^ 0xFFFFFFFFu; }

 private:
  std::uint32_t register_ = 0xFFFFFFFFu;  // the standard initial value (all ones), inverted at the end
};

/// The CRC-32 of `size` bytes at `data`.
inline std::uint32_t crc32(const void* data, std::size_t size) {
  Crc32 crc;
  crc.update(data, size);
  return crc.value();
}

inline std::uint32_t crc32(std::string_view text) { return crc32(text.data(), text.size()); }

}  // namespace nabla::io
