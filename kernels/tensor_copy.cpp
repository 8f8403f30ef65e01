// kernels/tensor_copy.cpp: Tensor::to(device), the copy between host and device memory.
//
// Plain C++ (no kernels): it only allocates and copies, through nabla/backend/cuda/memory.hpp.
// It is compiled into nabla::cuda, which is why ops/views.hpp only declares it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "nabla/backend/cuda/memory.hpp"
#include "nabla/backend/cuda/runtime.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::detail {

namespace {

/// A Storage of `count` elements on CUDA device `device`, from the caching allocator.
template <typename T>
std::shared_ptr<Storage<T>> device_storage(std::size_t count, int device) {
  return backend::empty<T>({static_cast<std::int64_t>(count)}, Device::cuda(device)).storage();
}

}  // namespace

template <typename T>
Tensor<T> copy_to_device(const Tensor<T>& source, Device target) {
  const Shape shape = source.shape();
  const auto count = static_cast<std::size_t>(source.numel());
  const std::size_t bytes = count * sizeof(T);
  const Device from = source.device();
  for (const Device device : {from, target}) {
    if (device.is_cuda() && (device.index() < 0 || device.index() >= backend::cuda::device_count()))
      throw DeviceError("to: cannot move a tensor " + to_string(shape) + " from " + from.str() + " to " + target.str() +
                        ": there is no CUDA device " + device.str() + " (" +
                        std::to_string(backend::cuda::device_count()) + " visible)");
  }
  if (from.is_cpu()) {
    // A strided CPU view is gathered into one block first, so one cudaMemcpy moves it.
    const Tensor<T> packed = source.is_contiguous() ? source : source.contiguous();
    auto storage = device_storage<T>(count, target.index());
    backend::cuda::copy_host_to_device(storage->data(), packed.data(), bytes, target.index());
    return Tensor<T>(storage, shape, contiguous_strides(shape), 0);
  }
  // A strided device view is gathered on the device first (one copy kernel), then moved whole.
  const Tensor<T> packed = source.is_contiguous() ? source : source.contiguous();
  // data() is for CPU tensors only: the device address is the storage's plus the view's offset.
  const T* source_data = packed.storage()->data() + packed.offset();
  if (target.is_cpu()) {
    Tensor<T> out(shape);
    backend::cuda::copy_device_to_host(out.data(), source_data, bytes, from.index());
    return out;
  }
  auto storage = device_storage<T>(count, target.index());
  backend::cuda::copy_device_to_device(storage->data(), target.index(), source_data, from.index(), bytes);
  return Tensor<T>(storage, shape, contiguous_strides(shape), 0);
}

template Tensor<float> copy_to_device<float>(const Tensor<float>&, Device);
template Tensor<double> copy_to_device<double>(const Tensor<double>&, Device);
template Tensor<std::int64_t> copy_to_device<std::int64_t>(const Tensor<std::int64_t>&, Device);

}  // namespace nabla::detail
