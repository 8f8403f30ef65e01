// src/precompiled/ops_float.cpp - nabla::precompiled: the ops (elementwise, unary, reductions, matmul,
// softmax, layer_norm, attention) for float.
// The lists are in include/nabla/precompiled.hpp. nabla.hpp has already declared every group
// `extern template` (NABLA_PRECOMPILED is defined for this library too), so this file compiles its
// own group and calls the other files' copies of the rest.
#include <nabla/nabla.hpp>

namespace nabla {
NABLA_PRECOMPILED_OPS(template, float)

// NABLA_PRECOMPILED_OPS names the listed unary ops one by one: a new entry of NABLA_UNARY_OPS
// (backend/elementwise_ops.hpp) belongs there too.
#define NABLA_PRECOMPILED_COUNT_UNARY_OP(...) +1
static_assert(
    0 NABLA_UNARY_OPS(NABLA_PRECOMPILED_COUNT_UNARY_OP) == 12,
    "a unary op was added to NABLA_UNARY_OPS: add it to NABLA_PRECOMPILED_OPS (include/nabla/precompiled.hpp)");
#undef NABLA_PRECOMPILED_COUNT_UNARY_OP
}  // namespace nabla
