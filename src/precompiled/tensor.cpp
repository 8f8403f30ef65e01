// src/precompiled/tensor.cpp - nabla::precompiled: Tensor's members, the autograd records and the
// factories, for float, double and the index tensors.
// The lists are in include/nabla/precompiled.hpp. nabla.hpp has already declared every group
// `extern template` (NABLA_PRECOMPILED is defined for this library too), so this file compiles its
// own group and calls the other files' copies of the rest.
#include <nabla/nabla.hpp>

namespace nabla {
NABLA_PRECOMPILED_TENSOR(template, float)
NABLA_PRECOMPILED_TENSOR(template, double)
NABLA_PRECOMPILED_INDEX(template)

// The configuration this library was built with (NABLA_USE_BLAS, NABLA_USE_DNNL, NABLA_WITH_CUDA):
// precompiled.hpp makes every translation unit of a program refer to the symbol of its own
// configuration, so a program compiled with other settings than the library does not link.
const char precompiled_detail::NABLA_PRECOMPILED_CONFIG = 1;
}  // namespace nabla
