// nabla/core/philox.hpp - the Philox-4x32-10 counter-based random number generator.
//
// Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) maps a
// 128-bit counter and a 64-bit key to 128 random bits. Because element i of a random
// tensor depends only on (seed, offset + i), every element can be drawn independently, in
// any order, on any thread or GPU: the same seed gives the same numbers everywhere.
//
// The stream nabla documents and keeps stable:
//   key     = {low 32 bits of seed, high 32 bits of seed}
//   counter = {low 32 bits of (offset + i), high 32 bits of (offset + i), 0, 0}
//   words   = philox4x32_10(counter, key)                      -> r0, r1, r2, r3
//   uniform float  in [0,1) = (r0 >> 8) * 2^-24
//   uniform double in [0,1) = ((r0 << 32 | r1) >> 11) * 2^-53
//   normal  = Box-Muller: sqrt(-2 ln u1) * cos(2 pi u2), u1 in (0,1] from r0 (double: r0,r1),
//             u2 in [0,1) from r1 (double: r2,r3)
// A Generator advances its offset by the number of elements drawn.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "nabla/core/macros.hpp"

namespace nabla {

using PhiloxWords = std::array<std::uint32_t, 4>;

namespace detail {
NABLA_HOST_DEVICE inline void multiply_high_low(std::uint32_t a, std::uint32_t b, std::uint32_t& high,
                                                std::uint32_t& low) {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * b;
  high = static_cast<std::uint32_t>(product >> 32);
  low = static_cast<std::uint32_t>(product);
}
}  // namespace detail

/// Ten rounds of Philox-4x32 on `counter` under `key` (the Random123 reference algorithm).
NABLA_HOST_DEVICE inline PhiloxWords philox4x32_10(PhiloxWords counter, std::uint32_t key0, std::uint32_t key1) {
  constexpr std::uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule increments
  for (int round = 0; round < 10; ++round) {
    std::uint32_t high0, low0, high1, low1;
    detail::multiply_high_low(kMultiplier0, counter[0], high0, low0);
    detail::multiply_high_low(kMultiplier1, counter[2], high1, low1);
    counter = {high1 ^ counter[1] ^ key0, low1, high0 ^ counter[3] ^ key1, low0};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

/// The four random words for element `index` of a draw at `offset` from a generator seeded `seed`.
NABLA_HOST_DEVICE inline PhiloxWords philox_words(std::uint64_t seed, std::uint64_t offset, std::uint64_t index) {
  const std::uint64_t position = offset + index;
  return philox4x32_10({static_cast<std::uint32_t>(position), static_cast<std::uint32_t>(position >> 32), 0u, 0u},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

/// Uniform in [0, 1) from the high bits of one (float) or two (double) words.
template <typename T>
NABLA_HOST_DEVICE inline T uniform_from_words(std::uint32_t first, std::uint32_t second) {
  if constexpr (sizeof(T) == 4) {
    (void)second;
    return static_cast<T>(first >> 8) * static_cast<T>(5.9604644775390625e-08);  // 2^-24
  } else {
    const std::uint64_t bits = ((static_cast<std::uint64_t>(first) << 32) | second) >> 11;
    return static_cast<T>(bits) * static_cast<T>(1.1102230246251565e-16);  // 2^-53
  }
}

/// Uniform in [0, 1) for element `index` of the stream.
template <typename T>
NABLA_HOST_DEVICE inline T philox_uniform(std::uint64_t seed, std::uint64_t offset, std::uint64_t index) {
  const PhiloxWords words = philox_words(seed, offset, index);
  return uniform_from_words<T>(words[0], words[1]);
}

/// Standard normal for element `index` of the stream (Box-Muller, cosine branch).
template <typename T>
NABLA_HOST_DEVICE inline T philox_normal(std::uint64_t seed, std::uint64_t offset, std::uint64_t index) {
  const PhiloxWords words = philox_words(seed, offset, index);
  const bool single = sizeof(T) == 4;
  // 1 - u maps [0,1) to (0,1], so the logarithm is finite.
  const T u1 = T(1) - uniform_from_words<T>(words[0], words[1]);
  const T u2 = single ? uniform_from_words<T>(words[1], 0u) : uniform_from_words<T>(words[2], words[3]);
  const T two_pi = static_cast<T>(6.283185307179586476925);
  return std::sqrt(T(-2) * std::log(u1)) * std::cos(two_pi * u2);
}

/// A seed and a position in the Philox stream; each draw of n elements advances it by n.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void manual_seed(std::uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  /// Restores a saved position (checkpoints store seed and offset).
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  /// Reserves `count` stream positions and returns the first one.
  std::uint64_t advance(std::uint64_t count) {
    const std::uint64_t start = offset_;
    offset_ += count;
    return start;
  }

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

/// The global generator used by random factories called without an explicit seed.
inline Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

/// Seeds the global generator (like torch.manual_seed).
inline void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace nabla
