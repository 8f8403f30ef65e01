// kernels/memory.cu: the caching device allocator and the copies of nabla/backend/cuda/memory.hpp.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "check.cuh"
#include "nabla/backend/cuda/memory.hpp"

namespace nabla::backend::cuda {

namespace {

constexpr std::size_t kSmallGranule = 512;            // below 1 MiB
constexpr std::size_t kSmallLimit = 1 << 20;          // 1 MiB
constexpr std::size_t kLargeGranule = 2 * (1 << 20);  // 2 MiB above it

/// One device's blocks: those handed out (with their sizes) and the free ones by size.
struct DeviceCache {
  std::unordered_map<void*, std::size_t> live;
  std::multimap<std::size_t, void*> free_blocks;
  AllocatorStatistics statistics;
};

std::mutex& cache_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Leaked on purpose: tensors held in static objects may be freed after the end of main(),
// when a destroyed map would be undefined behaviour.
std::map<int, DeviceCache>& caches() {
  static auto* per_device = new std::map<int, DeviceCache>();
  return *per_device;
}

void check_device_index(int device, const char* what) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    count = 0;
  }
  if (device < 0 || device >= count)
    throw nabla::DeviceError(std::string(what) + ": no CUDA device cuda:" + std::to_string(device) + " (" +
                             std::to_string(count) + " CUDA device(s) visible)");
}

// Frees every cached block of `cache`; the caller holds the mutex and has selected the device.
void release_cached(DeviceCache& cache) {
  for (auto& [size, pointer] : cache.free_blocks) {
    (void)cudaFree(pointer);
    cache.statistics.cached_bytes -= size;
  }
  cache.free_blocks.clear();
}

}  // namespace

std::size_t rounded_block_size(std::size_t bytes) noexcept {
  const std::size_t granule = bytes < kSmallLimit ? kSmallGranule : kLargeGranule;
  return (std::max<std::size_t>(bytes, 1) + granule - 1) / granule * granule;
}

void* allocate(std::size_t bytes, int device) {
  if (bytes == 0) return nullptr;
  const std::size_t size = rounded_block_size(bytes);
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& cache = caches()[device];
  void* pointer = nullptr;
  // The smallest free block that fits; large blocks may be used for requests up to half their
  // size (more would waste memory that later, larger requests need).
  auto found = cache.free_blocks.lower_bound(size);
  if (found != cache.free_blocks.end() && found->first <= 2 * size) {
    pointer = found->second;
    const std::size_t block = found->first;
    cache.free_blocks.erase(found);
    cache.statistics.cached_bytes -= block;
    cache.live.emplace(pointer, block);
    cache.statistics.allocated_bytes += block;
  } else {
    check_device_index(device, "allocate");
    NABLA_CUDA_CHECK(cudaSetDevice(device));
    cudaError_t status = cudaMalloc(&pointer, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(cache);  // out of memory: give the cache back and try once more
      status = cudaMalloc(&pointer, size);
    }
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw nabla::DeviceError("allocate: out of memory on cuda:" + std::to_string(device) + " allocating " +
                               std::to_string(size) + " bytes (" + std::to_string(cache.statistics.allocated_bytes) +
                               " bytes held by tensors)");
    }
    NABLA_CUDA_CHECK(status);
    ++cache.statistics.device_allocations;
    cache.live.emplace(pointer, size);
    cache.statistics.allocated_bytes += size;
  }
  cache.statistics.peak_allocated_bytes =
      std::max(cache.statistics.peak_allocated_bytes, cache.statistics.allocated_bytes);
  return pointer;
}

void deallocate(void* pointer, int device) noexcept {
  if (pointer == nullptr) return;
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& cache = caches()[device];
  auto found = cache.live.find(pointer);
  if (found == cache.live.end()) return;  // not ours: never free what we did not allocate
  const std::size_t size = found->second;
  cache.live.erase(found);
  cache.statistics.allocated_bytes -= size;
  cache.free_blocks.emplace(size, pointer);
  cache.statistics.cached_bytes += size;
}

void empty_cache(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto found = caches().find(device);
  if (found == caches().end() || found->second.free_blocks.empty()) return;
  NABLA_CUDA_CHECK(cudaSetDevice(device));
  NABLA_CUDA_CHECK(cudaDeviceSynchronize());  // kernels may still read freed blocks' neighbours
  release_cached(found->second);
}

AllocatorStatistics allocator_statistics(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto found = caches().find(device);
  return found == caches().end() ? AllocatorStatistics{} : found->second.statistics;
}

void reset_peak_statistics(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& cache = caches()[device];
  cache.statistics.peak_allocated_bytes = cache.statistics.allocated_bytes;
}

void copy_host_to_device(void* device_destination, const void* host_source, std::size_t bytes, int device) {
  if (bytes == 0) return;
  NABLA_CUDA_CHECK(cudaSetDevice(device));
  NABLA_CUDA_CHECK(cudaMemcpy(device_destination, host_source, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* host_destination, const void* device_source, std::size_t bytes, int device) {
  if (bytes == 0) return;
  NABLA_CUDA_CHECK(cudaSetDevice(device));
  NABLA_CUDA_CHECK(cudaMemcpy(host_destination, device_source, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* destination, int destination_device, const void* source, int source_device,
                           std::size_t bytes) {
  if (bytes == 0) return;
  if (destination_device == source_device) {
    NABLA_CUDA_CHECK(cudaSetDevice(source_device));
    NABLA_CUDA_CHECK(cudaMemcpy(destination, source, bytes, cudaMemcpyDeviceToDevice));
  } else {
    NABLA_CUDA_CHECK(cudaMemcpyPeer(destination, destination_device, source, source_device, bytes));
  }
}

void synchronize(int device) {
  NABLA_CUDA_CHECK(cudaSetDevice(device));
  NABLA_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace nabla::backend::cuda
