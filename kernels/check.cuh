// kernels/check.cuh: error checking shared by the .cu files (internal, not installed).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "nabla/core/error.hpp"

namespace nabla::backend::cuda::detail {

// Throws DeviceError("<call> failed at <file>:<line>: <CUDA error name>: <description>").
inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky last-error slot for later, unrelated checks
    throw nabla::DeviceError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                             cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
  }
}

inline void check(cudaError_t status, const char* what) { check(status, what, "nabla::cuda", 0); }

// Call right after a <<<...>>> launch: reports invalid configurations and similar launch errors.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace nabla::backend::cuda::detail

// NABLA_CUDA_CHECK(cudaMemcpy(...)): the call's text, file and line go into the DeviceError.
#define NABLA_CUDA_CHECK(call) ::nabla::backend::cuda::detail::check((call), #call, __FILE__, __LINE__)
