// kernels/runtime.cu: definitions of nabla/backend/cuda/runtime.hpp.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "check.cuh"
#include "nabla/backend/cuda/runtime.hpp"

namespace nabla::backend::cuda {

int device_count() noexcept {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // No driver (cudaErrorInsufficientDriver), no device (cudaErrorNoDevice), ...: not an
    // error for the caller, just "no CUDA here". Clear the runtime's last-error slot so a
    // later, unrelated check does not report it.
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

bool is_available() noexcept { return device_count() > 0; }

DeviceProperties device_properties(int index) {
  const int count = device_count();
  if (index < 0 || index >= count) {
    throw std::runtime_error("nabla::cuda device_properties: invalid device index " + std::to_string(index) + " (" +
                             std::to_string(count) + " CUDA device(s) visible)");
  }
  cudaDeviceProp prop{};
  detail::check(cudaGetDeviceProperties(&prop, index), "device_properties");
  DeviceProperties out;
  out.name = prop.name;
  out.total_memory = prop.totalGlobalMem;
  out.major = prop.major;
  out.minor = prop.minor;
  out.multiprocessor_count = prop.multiProcessorCount;
  return out;
}

namespace {

std::mutex& stream_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Leaked on purpose, like the allocator's caches: kernels may run from static destructors.
std::map<int, void*>& streams() {
  static auto* per_device = new std::map<int, void*>();
  return *per_device;
}

std::atomic<bool> tf32_allowed{false};

}  // namespace

void set_stream(int device, void* stream) {
  std::lock_guard<std::mutex> lock(stream_mutex());
  streams()[device] = stream;
}

void* stream(int device) {
  std::lock_guard<std::mutex> lock(stream_mutex());
  const auto found = streams().find(device);
  return found == streams().end() ? nullptr : found->second;
}

void set_allow_tf32(bool allowed) noexcept { tf32_allowed = allowed; }
bool allow_tf32() noexcept { return tf32_allowed; }

}  // namespace nabla::backend::cuda
