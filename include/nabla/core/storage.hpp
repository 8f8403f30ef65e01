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
#include <memory>
#include <new>

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"

namespace nabla {

/// Alignment of every buffer: one cache line, and enough for any AVX-512 load.
inline constexpr std::size_t kStorageAlignment = 64;

template <typename T>
class Storage {
 public:
  /// Allocates `size` uninitialized elements on the CPU.
  explicit Storage(std::size_t size) : size_(size), device_(Device::cpu()) {
    const std::size_t bytes = ((std::max<std::size_t>(size, 1) * sizeof(T) + kStorageAlignment - 1) /
                               kStorageAlignment) * kStorageAlignment;
    data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{kStorageAlignment}));
    release_ = [](T* pointer) { ::operator delete(pointer, std::align_val_t{kStorageAlignment}); };
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
