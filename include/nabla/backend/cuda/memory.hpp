// nabla/backend/cuda/memory.hpp: device memory for CUDA tensors, through a caching allocator.
//
// cudaMalloc and cudaFree synchronize the device and cost tens of microseconds each, so a
// training loop that allocated its activations with them would spend its time waiting. The
// allocator keeps freed blocks in size-binned free lists, one set per device, and hands them
// out again: after the first training step, the loop allocates nothing from CUDA.
//
// Self-contained on purpose (no CUDA header): plain C++ code calls these functions; they are
// defined in kernels/memory.cu and compiled into nabla::cuda. Every CUDA error becomes a
// nabla::DeviceError naming the CUDA call, the file and the line.
#pragma once

#include <cstddef>

namespace nabla::backend::cuda {

/// Byte counts of one device's allocator.
struct AllocatorStatistics {
  std::size_t allocated_bytes = 0;       // in blocks that tensors hold now (rounded sizes)
  std::size_t cached_bytes = 0;          // in free blocks kept for reuse
  std::size_t peak_allocated_bytes = 0;  // the largest allocated_bytes so far
  std::size_t device_allocations = 0;    // cudaMalloc calls made (a steady loop adds none)
};

/// The block size a request is rounded up to: multiples of 512 bytes below 1 MiB, multiples
/// of 2 MiB above (few distinct sizes, so freed blocks fit later requests).
std::size_t rounded_block_size(std::size_t bytes) noexcept;

/// `bytes` of memory on device `device`: a cached block of the same rounded size when there
/// is one, else a new cudaMalloc (after releasing the cache if the device is out of memory).
/// 0 bytes gives a null pointer. Throws DeviceError.
void* allocate(std::size_t bytes, int device);

/// Gives a block from allocate() back to the cache of its device. Null is ignored.
void deallocate(void* pointer, int device) noexcept;

/// Returns every cached block of `device` to CUDA (cudaFree).
void empty_cache(int device);

AllocatorStatistics allocator_statistics(int device);
/// Resets peak_allocated_bytes to the current allocated_bytes.
void reset_peak_statistics(int device);

/// Copies between host and device memory; they wait until the copy is done, so the host
/// buffer can be read or reused at once.
void copy_host_to_device(void* device_destination, const void* host_source, std::size_t bytes, int device);
void copy_device_to_host(void* host_destination, const void* device_source, std::size_t bytes, int device);
void copy_device_to_device(void* destination, int destination_device, const void* source, int source_device,
                           std::size_t bytes);

/// Waits until every kernel and copy queued on `device` has finished.
void synchronize(int device);

}  // namespace nabla::backend::cuda
