// src/precompiled/train.cpp - nabla::precompiled: the optimizers, the Keras-style model with its
// training loop, and the loaders of tensor datasets, for float and double.
// The lists are in include/nabla/precompiled.hpp. nabla.hpp has already declared every group
// `extern template` (NABLA_PRECOMPILED is defined for this library too), so this file compiles its
// own group and calls the other files' copies of the rest.
#include <nabla/nabla.hpp>

namespace nabla {
NABLA_PRECOMPILED_OPTIM(template, float)
NABLA_PRECOMPILED_OPTIM(template, double)
NABLA_PRECOMPILED_TRAIN(template, float)
NABLA_PRECOMPILED_TRAIN(template, double)
}  // namespace nabla
