// src/precompiled/nn_loss.cpp - nabla::precompiled: the layers and the losses, for float and double.
// The lists are in include/nabla/precompiled.hpp. nabla.hpp has already declared every group
// `extern template` (NABLA_PRECOMPILED is defined for this library too), so this file compiles its
// own group and calls the other files' copies of the rest.
#include <nabla/nabla.hpp>

namespace nabla {
NABLA_PRECOMPILED_NN(template, float)
NABLA_PRECOMPILED_NN(template, double)
NABLA_PRECOMPILED_LOSS(template, float)
NABLA_PRECOMPILED_LOSS(template, double)
}  // namespace nabla
