// kernels/elementwise_arithmetic.cu: the map instantiations of copies, fills and arithmetic
// (the functors of backend/functors.hpp; the kernel is in map.cuh).
#include <cstdint>

#include "map.cuh"

using namespace nabla::backend;

NABLA_INSTANTIATE_MAP_BOTH(Identity, 1)
NABLA_INSTANTIATE_MAP(Identity, std::int64_t, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(Fill, 0)
NABLA_INSTANTIATE_MAP(Fill<std::int64_t>, std::int64_t, 0)

NABLA_INSTANTIATE_MAP_BOTH(Add, 2)
NABLA_INSTANTIATE_MAP_BOTH(Subtract, 2)
NABLA_INSTANTIATE_MAP_BOTH(Multiply, 2)
NABLA_INSTANTIATE_MAP_BOTH(Divide, 2)
NABLA_INSTANTIATE_MAP_BOTH(Negate, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(AddScalar, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(SubtractScalar, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(MultiplyScalar, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(DivideScalar, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(ScalarMinus, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(ScalarDivide, 1)
NABLA_INSTANTIATE_MAP_TEMPLATE(ScalarDivideBackward, 2)
NABLA_INSTANTIATE_MAP_TEMPLATE(Scale, 1)

NABLA_INSTANTIATE_MAP_BOTH(CompareMask, 2)
NABLA_INSTANTIATE_MAP(CompareMask, std::int64_t, 2)
NABLA_INSTANTIATE_MAP_TEMPLATE(CompareScalarMask, 1)
NABLA_INSTANTIATE_MAP(CompareScalarMask<std::int64_t>, std::int64_t, 1)
NABLA_INSTANTIATE_MAP_BOTH(Select, 3)
NABLA_INSTANTIATE_MAP_BOTH(GradientWhereTrue, 2)
NABLA_INSTANTIATE_MAP_BOTH(GradientWhereFalse, 2)

NABLA_INSTANTIATE_MAP_TEMPLATE(ExtremeShare, 1)
NABLA_INSTANTIATE_MAP_BOTH(FiniteOrZero, 1)
NABLA_INSTANTIATE_MAP_BOTH(ShiftedExp, 2)
NABLA_INSTANTIATE_MAP_BOTH(ShiftPlusLog, 2)
NABLA_INSTANTIATE_MAP_BOTH(LogSumExpBackward, 3)
