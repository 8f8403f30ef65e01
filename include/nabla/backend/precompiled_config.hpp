// nabla/backend/precompiled_config.hpp - which build of the backends a translation unit was
// compiled for, checked at link time against the nabla::precompiled library (precompiled.hpp).
//
// The library and the program must agree on the macros that change what the headers compile (the
// GEMM backends, CUDA): otherwise the same function would have two bodies, an ODR violation that
// fails silently. Each configuration has its own symbol; the library defines the one it was built
// with (src/precompiled/tensor.cpp) and every translation unit including this header refers to its
// own, so a mismatch is a link error naming the program's configuration, e.g. "undefined reference
// to nabla::precompiled_detail::config_blas_on_dnnl_off_cuda_off". nabla.hpp includes this file
// only with NABLA_PRECOMPILED (the nabla::precompiled target defines it).
#pragma once

#if defined(NABLA_USE_BLAS) && NABLA_USE_BLAS
#define NABLA_PRECOMPILED_BLAS_ blas_on
#else
#define NABLA_PRECOMPILED_BLAS_ blas_off
#endif
#if defined(NABLA_USE_DNNL) && NABLA_USE_DNNL
#define NABLA_PRECOMPILED_DNNL_ dnnl_on
#else
#define NABLA_PRECOMPILED_DNNL_ dnnl_off
#endif
#if defined(NABLA_WITH_CUDA) && NABLA_WITH_CUDA
#define NABLA_PRECOMPILED_CUDA_ cuda_on
#else
#define NABLA_PRECOMPILED_CUDA_ cuda_off
#endif
#define NABLA_PRECOMPILED_JOIN_(blas, dnnl, cuda) config_##blas##_##dnnl##_##cuda
#define NABLA_PRECOMPILED_JOIN(blas, dnnl, cuda) NABLA_PRECOMPILED_JOIN_(blas, dnnl, cuda)
/// The name of this translation unit's configuration symbol.
#define NABLA_PRECOMPILED_CONFIG \
  NABLA_PRECOMPILED_JOIN(NABLA_PRECOMPILED_BLAS_, NABLA_PRECOMPILED_DNNL_, NABLA_PRECOMPILED_CUDA_)

namespace nabla::precompiled_detail {
extern const char NABLA_PRECOMPILED_CONFIG;
// `used`: kept in every object file even though nothing reads it, so the reference reaches the linker.
[[gnu::used]] static const char* const config_check = &NABLA_PRECOMPILED_CONFIG;
}  // namespace nabla::precompiled_detail
