// src/precompiled/ops_double.cpp - nabla::precompiled: the ops (elementwise, unary, reductions, matmul,
// softmax, layer_norm, attention) for double.
// The lists are in include/nabla/precompiled.hpp. nabla.hpp has already declared every group
// `extern template` (NABLA_PRECOMPILED is defined for this library too), so this file compiles its
// own group and calls the other files' copies of the rest.
#include <nabla/nabla.hpp>

namespace nabla {
NABLA_PRECOMPILED_OPS(template, double)
}  // namespace nabla
