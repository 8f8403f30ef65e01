// kernels/elementwise_math.cu: the map instantiations of the math functions and activations,
// forward and backward (the functors of backend/functors.hpp; the kernel is in map.cuh).
#include "map.cuh"

using namespace nabla::backend;

NABLA_INSTANTIATE_MAP_BOTH(Exp, 1)
NABLA_INSTANTIATE_MAP_BOTH(Log, 1)
NABLA_INSTANTIATE_MAP_BOTH(Sqrt, 1)
NABLA_INSTANTIATE_MAP_BOTH(Square, 1)
NABLA_INSTANTIATE_MAP_BOTH(Abs, 1)
NABLA_INSTANTIATE_MAP_BOTH(Tanh, 1)
NABLA_INSTANTIATE_MAP_BOTH(Sigmoid, 1)
NABLA_INSTANTIATE_MAP_BOTH(Relu, 1)
NABLA_INSTANTIATE_MAP_BOTH(Gelu, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(PowScalar, 1)
NABLA_INSTANTIATE_MAP_BOTH(Pow, 2)
NABLA_INSTANTIATE_MAP_TEMPLATE(LeakyRelu, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(Clamp, 1)
NABLA_INSTANTIATE_MAP_BOTH(Maximum, 2)
NABLA_INSTANTIATE_MAP_BOTH(Minimum, 2)

// Backwards: grad * derivative(values...) (ChainRule), with the values' count as inputs - 1.
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<SqrtDerivativeFromOutput>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<SquareDerivative>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<Sign>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<TanhDerivativeFromOutput>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<SigmoidDerivativeFromOutput>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<ReluDerivative>, 2)
NABLA_INSTANTIATE_MAP_BOTH(ChainRule<GeluDerivative>, 2)
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
