// kernels/check.cuh: error checking shared by the .cu files (internal, not installed).
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace nabla::backend::cuda::detail {

// Throws std::runtime_error("nabla::cuda <what>: <CUDA error name>: <description>").
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("nabla::cuda ") + what + ": " +
                             cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
  }
}

// Call right after a <<<...>>> launch: reports invalid configurations and similar launch errors.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace nabla::backend::cuda::detail
