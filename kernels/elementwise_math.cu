// kernels/elementwise_math.cu: the map instantiations of the math functions and activations,
// forward and backward (the functors of backend/functors.hpp; the kernel is in map.cuh).
#include "map.cuh"
#include "nabla/backend/elementwise_ops.hpp"

using namespace nabla::backend;

// Every op of NABLA_UNARY_OPS: its forward (one input) and its backward, grad * derivative of
// the input or the output (ChainRule, two inputs), for float and double.
#define NABLA_INSTANTIATE_UNARY_OP(NAME, FORWARD, DERIVATIVE, READS, DOMAIN) \
  NABLA_INSTANTIATE_MAP_BOTH(FORWARD, 1)                                     \
  NABLA_INSTANTIATE_MAP_BOTH(ChainRule<DERIVATIVE>, 2)
NABLA_UNARY_OPS(NABLA_INSTANTIATE_UNARY_OP)
#undef NABLA_INSTANTIATE_UNARY_OP

// The ops with a parameter or two operands.
NABLA_INSTANTIATE_MAP_TEMPLATE(PowScalar, 1)
NABLA_INSTANTIATE_MAP_BOTH(Pow, 2)
NABLA_INSTANTIATE_MAP_TEMPLATE(LeakyRelu, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(Clamp, 1)
NABLA_INSTANTIATE_MAP_BOTH(Maximum, 2)
NABLA_INSTANTIATE_MAP_BOTH(Minimum, 2)

// Their backwards: grad * derivative(values...) (ChainRule), with the values' count as inputs - 1.
NABLA_INSTANTIATE_MAP(ChainRule<LeakyReluDerivative<float>>, float, 2)
NABLA_INSTANTIATE_MAP(ChainRule<LeakyReluDerivative<double>>, double, 2)
NABLA_INSTANTIATE_MAP(ChainRule<ClampDerivative<float>>, float, 2)
NABLA_INSTANTIATE_MAP(ChainRule<ClampDerivative<double>>, double, 2)
NABLA_INSTANTIATE_MAP(ChainRule<PowScalarDerivative<float>>, float, 2)
NABLA_INSTANTIATE_MAP(ChainRule<PowScalarDerivative<double>>, double, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<PowDerivativeBase>, 3)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<PowDerivativeExponent>, 4)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<MaximumShareOfFirst>, 3)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<MaximumShareOfSecond>, 3)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<MinimumShareOfFirst>, 3)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<MinimumShareOfSecond>, 3)

// Gradient clipping (optim/clip.hpp): the terms of a p-norm.
NABLA_INSTANTIATE_MAP_TEMPLATE(AbsPower, 1)
