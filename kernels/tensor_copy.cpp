// kernels/tensor_copy.cpp: backend::copy_to_device (the copy behind Tensor::to) between host
// and device memory.
//
// Plain C++ (no kernels): it only allocates and copies, through nabla/backend/cuda/memory.hpp.
// It is compiled into nabla::cuda, which is why backend/copy.hpp only declares it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "nabla/backend/copy.hpp"
#include "nabla/backend/cuda/memory.hpp"
#include "nabla/backend/cuda/runtime.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend::cuda {

namespace {

/// A Storage of `count` elements on CUDA device `device`, from the caching allocator.
template <typename T>
std::shared_ptr<Storage<T>> device_storage(std::size_t count, int device) {
  return backend::empty<T>({static_cast<std::int64_t>(count)}, Device::cuda(device)).storage();
}

/// `source` itself when it is dense, else a dense copy on its device (one map).
template <typename T>
Tensor<T> packed(const Tensor<T>& source) {
  if (source.is_contiguous()) return source;
  Tensor<T> copy = backend::empty<T>(source.shape(), source.device());
  backend::map(copy, backend::Identity{}, source);
  return copy;
}

}  // namespace

template <typename T>
Tensor<T> copy_between_devices(const Tensor<T>& source, Device target) {
  const Shape shape = source.shape();
  const auto count = static_cast<std::size_t>(source.numel());
  const std::size_t bytes = count * sizeof(T);
  const Device from = source.device();
  for (const Device device : {from, target}) {
    if (device.is_cuda() && (device.index() < 0 || device.index() >= device_count()))
      throw DeviceError("to: cannot move a tensor " + to_string(shape) + " from " + from.str() + " to " + target.str() +
                        ": there is no CUDA device " + device.str() + " (" + std::to_string(device_count()) +
                        " visible)");
  }
  if (from.is_cpu()) {
    // A strided CPU view is gathered into one block first, so one cudaMemcpy moves it.
    const Tensor<T> dense = packed(source);
    auto storage = device_storage<T>(count, target.index());
    copy_host_to_device(storage->data(), dense.data(), bytes, target.index());
    return Tensor<T>(storage, shape, contiguous_strides(shape), 0);
  }
  // A strided device view is gathered on the device first (one copy kernel), then moved whole.
  const Tensor<T> dense = packed(source);
  // data() is for CPU tensors only: the device address is the storage's plus the view's offset.
  const T* source_data = backend::device_data(dense);
  if (target.is_cpu()) {
    Tensor<T> out(shape);
    copy_device_to_host(out.data(), source_data, bytes, from.index());
    return out;
  }
  auto storage = device_storage<T>(count, target.index());
  copy_device_to_device(storage->data(), target.index(), source_data, from.index(), bytes);
  return Tensor<T>(storage, shape, contiguous_strides(shape), 0);
}

template Tensor<float> copy_between_devices<float>(const Tensor<float>&, Device);
template Tensor<double> copy_between_devices<double>(const Tensor<double>&, Device);
template Tensor<std::int64_t> copy_between_devices<std::int64_t>(const Tensor<std::int64_t>&, Device);

}  // namespace nabla::backend::cuda
