// nabla/backend/copy.hpp - copying a tensor to another device (the copy behind Tensor::to).
//
// A copy that involves a CUDA device is nabla::cuda's (kernels/tensor_copy.cpp, over
// backend/cuda/memory.hpp); without it linked (no NABLA_WITH_CUDA) there is no device memory
// to copy to, and the copy throws a DeviceError that says so.
#pragma once

#include "nabla/backend/dispatch.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend {

#if defined(NABLA_WITH_CUDA)
namespace cuda {
/// `source` copied to `target`, one of them a CUDA device: a dense tensor on `target`.
/// Defined in kernels/tensor_copy.cpp for float, double and int64 tensors.
template <typename T>
Tensor<T> copy_between_devices(const Tensor<T>& source, Device target);
}  // namespace cuda
#endif

/// A dense copy of `source` on `target` (no autograd: Tensor::to records the graph node).
template <typename T>
Tensor<T> copy_to_device(const Tensor<T>& source, Device target) {
  if (source.device().is_cpu() && target.is_cpu()) {
    Tensor<T> copy = empty<T>(source.shape(), target);
    map(copy, Identity{}, source);
    return copy;
  }
#if defined(NABLA_WITH_CUDA)
  return cuda::copy_between_devices(source, target);
#else
  throw DeviceError(
      "to: nabla was built without CUDA support (configure with NABLA_CUDA=ON and link nabla::cuda); "
      "cannot move a tensor from " +
      source.device().str() + " to " + target.str());
#endif
}

}  // namespace nabla::backend
