// nabla/core/storage.hpp - a reference-counted, 64-byte aligned buffer of elements.
//
// Several tensors (views) can share one Storage. The version counter goes up on every
// in-place write, so autograd can detect that a tensor saved for backward was modified.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"

namespace nabla {

/// Alignment of every buffer: one cache line, and enough for any AVX-512 load.
inline constexpr std::size_t kStorageAlignment = 64;

namespace detail {

/// Keeps freed CPU blocks for reuse. A training step allocates the same buffers (logits, their
/// gradients, every activation) every time; glibc hands large blocks back to the kernel at
/// free(), so each step would page-fault and zero them again (about 80% of a broadcast add
/// over [1120, 10000] went there, perf), and blocks under 1 MB faulted too (about 9% of an LM
/// training step: gradient fills and copies, the cross-entropy's gradient). Blocks of at least
/// kMinimumBytes are kept by exact size; smaller ones by size class (4 per power of two, so a
/// block is at most 25% larger than asked), each class a free list, so a step that allocates
/// what the previous one freed takes nothing from the system. Up to kCapacityBytes in all.
/// Thread-safe (one mutex). Off under AddressSanitizer, which must see every free.
class HostBlockCache {
 public:
  static constexpr std::size_t kMinimumBytes = std::size_t{1} << 20;
  static constexpr std::size_t kCapacityBytes = std::size_t{1} << 30;
  /// Whether blocks are kept at all (false under AddressSanitizer).
  static constexpr bool enabled() { return kEnabled; }

  // Leaked on purpose: tensors in static objects may be freed after it would be destroyed.
  static HostBlockCache& instance() {
    static auto* cache = new HostBlockCache();
    return *cache;
  }

  /// The bytes a request of `bytes` really takes: its size class under kMinimumBytes.
  static constexpr std::size_t block_bytes(std::size_t bytes) {
    return kEnabled && bytes < kMinimumBytes ? class_bytes(small_class(bytes)) : bytes;
  }

  void* allocate(std::size_t bytes) {
    if constexpr (kEnabled) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes < kMinimumBytes) {
        auto& blocks = small_blocks_[small_class(bytes)];
        if (!blocks.empty()) {
          void* block = blocks.back();
          blocks.pop_back();
          cached_bytes_ -= block_bytes(bytes);
          return block;
        }
      } else {
        auto found = free_blocks_.find(bytes);
        if (found != free_blocks_.end()) {
          void* block = found->second;
          free_blocks_.erase(found);
          cached_bytes_ -= bytes;
          return block;
        }
      }
    }
    system_allocations_.fetch_add(1, std::memory_order_relaxed);
    return ::operator new (block_bytes(bytes), std::align_val_t{kStorageAlignment});
  }

  /// Takes back a block from allocate(bytes) (the same `bytes`).
  void release(void* block, std::size_t bytes) noexcept {
    if constexpr (kEnabled) {
      const std::size_t size = block_bytes(bytes);
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + size <= kCapacityBytes) {
        try {
          if (bytes < kMinimumBytes)
            small_blocks_[small_class(bytes)].push_back(block);
          else
            free_blocks_.emplace(bytes, block);
          cached_bytes_ += size;
          return;
        } catch (const std::bad_alloc&) {  // no room to note it: free it instead
        }
      }
    }
    ::operator delete (block, std::align_val_t{kStorageAlignment});
  }

  /// Returns every cached block to the system.
  void clear() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, block] : free_blocks_) ::operator delete (block, std::align_val_t{kStorageAlignment});
    free_blocks_.clear();
    for (auto& blocks : small_blocks_) {
      for (void* block : blocks) ::operator delete (block, std::align_val_t{kStorageAlignment});
      blocks.clear();
    }
    cached_bytes_ = 0;
  }

  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

  /// How many blocks allocate() has taken from the system so far (not from the cache): a
  /// training loop whose steps reuse their buffers stops adding to it after the first steps.
  std::uint64_t system_allocations() const { return system_allocations_.load(std::memory_order_relaxed); }

 private:
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool kEnabled = false;
#else
  static constexpr bool kEnabled = true;
#endif
  // Size classes under kMinimumBytes: 64, 128, 192, 256, then 4 per power of two
  // (2^k + q 2^(k-2), q = 1..4) up to 2^20.
  static constexpr std::size_t kSmallClasses = 4 + 4 * (20 - 8);

  static constexpr std::size_t small_class(std::size_t bytes) {
    if (bytes <= 256) return bytes == 0 ? 0 : (bytes + 63) / 64 - 1;
    const int k = static_cast<int>(std::bit_width(bytes - 1)) - 1;  // 2^k < bytes <= 2^(k+1)
    const std::size_t step = std::size_t{1} << (k - 2);
    const std::size_t quarter = (bytes - (std::size_t{1} << k) + step - 1) / step;  // 1..4
    return 4 + 4 * static_cast<std::size_t>(k - 8) + quarter - 1;
  }
  static constexpr std::size_t class_bytes(std::size_t index) {
    if (index < 4) return (index + 1) * 64;
    const std::size_t k = 8 + (index - 4) / 4, quarter = (index - 4) % 4 + 1;
    return (std::size_t{1} << k) + quarter * (std::size_t{1} << (k - 2));
  }

  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_blocks_;
  std::array<std::vector<void*>, kSmallClasses> small_blocks_;
  std::size_t cached_bytes_ = 0;
  std::atomic<std::uint64_t> system_allocations_{0};
};

}  // namespace detail

/// Frees the large CPU blocks nabla keeps for reuse (after training, to give memory back).
inline void release_cached_memory() { detail::HostBlockCache::instance().clear(); }

template <typename T>
class Storage {
 public:
  /// Allocates `size` uninitialized elements on the CPU.
  explicit Storage(std::size_t size) : size_(size), device_(Device::cpu()) {
    const std::size_t bytes =
        ((std::max<std::size_t>(size, 1) * sizeof(T) + kStorageAlignment - 1) / kStorageAlignment) * kStorageAlignment;
    data_ = static_cast<T*>(detail::HostBlockCache::instance().allocate(bytes));
    release_ = [bytes](T* pointer) { detail::HostBlockCache::instance().release(pointer, bytes); };
  }

  /// Adopts memory allocated elsewhere (a device allocator); `release` frees it.
  Storage(T* data, std::size_t size, Device device, std::function<void(T*)> release)
      : data_(data), size_(size), device_(device), release_(std::move(release)) {}

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_) release_(data_);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  Device device() const { return device_; }

  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
  Device device_;
  std::function<void(T*)> release_;
  std::uint64_t version_ = 0;
};

}  // namespace nabla
