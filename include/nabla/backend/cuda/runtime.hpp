// nabla/backend/cuda/runtime.hpp: querying the CUDA runtime from plain host code.
//
// Self-contained on purpose: no CUDA header is included, so any C++ compiler can include this
// file. The definitions live in kernels/runtime.cu and are compiled by nvcc into nabla::cuda;
// link that target (it also defines NABLA_WITH_CUDA=1) to use them.
#pragma once

#include <cstddef>
#include <string>

namespace nabla::backend::cuda {

// True when the CUDA runtime works and sees at least one device. Never throws: a machine
// without a GPU or without a driver simply answers false.
bool is_available() noexcept;

// Number of visible CUDA devices; 0 when the runtime reports an error (no driver, no GPU).
int device_count() noexcept;

struct DeviceProperties {
  std::string name;              // e.g. "NVIDIA H200"
  std::size_t total_memory = 0;  // global memory in bytes
  int major = 0;                 // compute capability major, e.g. 9 for Hopper
  int minor = 0;                 // compute capability minor
  int multiprocessor_count = 0;  // number of SMs
};

// Properties of device `index`, 0 <= index < device_count().
// Throws std::runtime_error for an invalid index or when the runtime fails.
DeviceProperties device_properties(int index);

// The stream nabla's kernels, copies and cuBLAS calls use on `device`: a cudaStream_t passed
// as void* (so this header needs no CUDA header); nullptr, the default, is the default stream.
// Use a blocking stream (cudaStreamCreate, not cudaStreamNonBlocking): host<->device copies
// run on the default stream, which then waits for it. The caller keeps it alive while in use.
void set_stream(int device, void* stream);
void* stream(int device);

// TF32 tensor-core math for float GEMMs: several times faster on Ampere/Hopper, with products
// rounded to a 10-bit mantissa (about 1e-3 relative). Off by default, as in PyTorch's matmul.
void set_allow_tf32(bool allowed) noexcept;
bool allow_tf32() noexcept;

}  // namespace nabla::backend::cuda
