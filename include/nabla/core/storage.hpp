// nabla/core/storage.hpp - a reference-counted, 64-byte aligned buffer of elements.
//
// Several tensors (views) can share one Storage. The version counter goes up on every
// in-place write, so autograd can detect that a tensor saved for backward was modified.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"

namespace nabla {

/// Alignment of every buffer: one cache line, and enough for any AVX-512 load.
inline constexpr std::size_t kStorageAlignment = 64;

namespace detail {

/// Keeps large freed CPU blocks for reuse. A training step allocates the same big buffers
/// (logits, their gradients) every time; glibc hands blocks this large back to the kernel at
/// free(), so each step would page-fault and zero them again (about 80% of a broadcast add
/// over [1120, 10000] went there, perf). Blocks of at least kMinimumBytes are kept, by exact
/// size, up to kCapacityBytes in all. Off under AddressSanitizer, which must see every free.
class HostBlockCache {
 public:
  static constexpr std::size_t kMinimumBytes = std::size_t{1} << 20;
  static constexpr std::size_t kCapacityBytes = std::size_t{1} << 30;

  // Leaked on purpose: tensors in static objects may be freed after it would be destroyed.
  static HostBlockCache& instance() {
    static auto* cache = new HostBlockCache();
    return *cache;
  }

  void* allocate(std::size_t bytes) {
    if (kEnabled && bytes >= kMinimumBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = free_blocks_.find(bytes);
      if (found != free_blocks_.end()) {
        void* block = found->second;
        free_blocks_.erase(found);
        cached_bytes_ -= bytes;
        return block;
      }
    }
    return ::operator new (bytes, std::align_val_t{kStorageAlignment});
  }

  void release(void* block, std::size_t bytes) noexcept {
    if (kEnabled && bytes >= kMinimumBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + bytes <= kCapacityBytes) {
        free_blocks_.emplace(bytes, block);
        cached_bytes_ += bytes;
        return;
      }
    }
    ::operator delete (block, std::align_val_t{kStorageAlignment});
  }

  /// Returns every cached block to the system.
  void clear() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, block] : free_blocks_) ::operator delete (block, std::align_val_t{kStorageAlignment});
    free_blocks_.clear();
    cached_bytes_ = 0;
  }

  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool kEnabled = false;
#else
  static constexpr bool kEnabled = true;
#endif
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_blocks_;
  std::size_t cached_bytes_ = 0;
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
