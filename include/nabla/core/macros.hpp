// nabla/core/macros.hpp - portability macros shared by host and CUDA code.
#pragma once

// Per-element math is written once as a NABLA_HOST_DEVICE function: nvcc compiles it into
// the CUDA kernels, the host compiler into the CPU loops, and CPU tests exercise it.
#if defined(__CUDACC__)
#define NABLA_HOST_DEVICE __host__ __device__
#else
#define NABLA_HOST_DEVICE
#endif
