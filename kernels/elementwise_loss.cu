// kernels/elementwise_loss.cu: the map instantiations of the elementwise losses (forward, and
// the backward to the prediction and to the target) of loss/reduction.hpp's elementwise_loss.
#include "map.cuh"

using namespace nabla::backend;

// The functor types have commas (LossPredictionGradient<Loss, T>), so they go last, as __VA_ARGS__.
#define NABLA_INSTANTIATE_MAP_OF(TYPE, INPUTS, ...)                   \
  template void nabla::backend::cuda::map<__VA_ARGS__, TYPE, INPUTS>( \
      const nabla::backend::cuda::MapArguments<TYPE, INPUTS>&, const __VA_ARGS__&);

#define NABLA_INSTANTIATE_LOSS(LOSS_FLOAT, LOSS_DOUBLE)                            \
  NABLA_INSTANTIATE_MAP_OF(float, 2, LossValue<LOSS_FLOAT>)                        \
  NABLA_INSTANTIATE_MAP_OF(double, 2, LossValue<LOSS_DOUBLE>)                      \
  NABLA_INSTANTIATE_MAP_OF(float, 3, LossPredictionGradient<LOSS_FLOAT, float>)    \
  NABLA_INSTANTIATE_MAP_OF(double, 3, LossPredictionGradient<LOSS_DOUBLE, double>) \
  NABLA_INSTANTIATE_MAP_OF(float, 3, LossTargetGradient<LOSS_FLOAT, float>)        \
  NABLA_INSTANTIATE_MAP_OF(double, 3, LossTargetGradient<LOSS_DOUBLE, double>)

NABLA_INSTANTIATE_LOSS(SquaredError, SquaredError)
NABLA_INSTANTIATE_LOSS(AbsoluteError, AbsoluteError)
NABLA_INSTANTIATE_LOSS(HuberError<float>, HuberError<double>)
NABLA_INSTANTIATE_LOSS(BinaryCrossEntropyError, BinaryCrossEntropyError)
NABLA_INSTANTIATE_LOSS(BinaryCrossEntropyWithLogitsError, BinaryCrossEntropyWithLogitsError)
NABLA_INSTANTIATE_LOSS(HingeError, HingeError)
