// nabla/backend/dispatch.hpp - the one place that picks the CPU or the CUDA kernel.
//
// Ops and the autograd engine call these with tensors; each looks at the output's device and
// runs backend::cpu::... or the backend::cuda::... launcher. The CUDA branch exists only when
// nabla::cuda is linked (it defines NABLA_WITH_CUDA); without it a CUDA tensor cannot exist
// (Tensor::to throws), and the branch still throws a DeviceError instead of touching memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nabla/backend/cpu/elementwise.hpp"
#include "nabla/backend/cpu/reduce.hpp"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/cuda/memory.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend {

/// Throws the DeviceError of a build that has no CUDA backend.
[[noreturn]] inline void throw_no_cuda(const std::string& op, Device device) {
  throw DeviceError(op + ": tensor on " + device.str() +
                    ", but this program was built without CUDA support (link nabla::cuda)");
}

/// A new contiguous tensor of `shape` with uninitialized values on `device`. CUDA memory
/// comes from the caching allocator (backend/cuda/memory.hpp).
template <typename T>
Tensor<T> empty(const Shape& shape, Device device) {
  if (device.is_cpu()) return Tensor<T>(shape);
#if defined(NABLA_WITH_CUDA)
  check_valid_shape("empty", shape);
  const auto count = static_cast<std::size_t>(numel_of(shape));
  const int index = device.index();
  T* data = static_cast<T*>(cuda::allocate(count * sizeof(T), index));
  auto storage =
      std::make_shared<Storage<T>>(data, count, device, [index](T* pointer) { cuda::deallocate(pointer, index); });
  return Tensor<T>(storage, shape, contiguous_strides(shape), 0);
#else
  throw_no_cuda("empty", device);
#endif
}

/// The address of a tensor's first element on its device (CPU or CUDA).
template <typename T>
T* device_data(const Tensor<T>& tensor) {
  return tensor.storage()->data() + tensor.offset();
}

#if defined(NABLA_WITH_CUDA)
namespace cuda_detail {
inline void check_rank(const std::string& op, const Shape& shape) {
  if (static_cast<int>(shape.size()) > cuda::kMaxRank)
    throw ShapeError(op + ": CUDA kernels handle tensors of rank up to " + std::to_string(cuda::kMaxRank) +
                     ", got shape " + to_string(shape));
}
}  // namespace cuda_detail
#endif

/// out[i] = functor(inputs[i]...), inputs broadcast to out's shape (checked by the caller),
/// on the device of `out` (every input must be there too).
template <typename T, typename Functor, typename... Inputs>
void map(Tensor<T>& out, const Functor& functor, const Tensor<Inputs>&... inputs) {
  if (out.device().is_cpu()) {
    cpu::map_kernel(out, functor, inputs...);
    return;
  }
#if defined(NABLA_WITH_CUDA)
  static_assert((std::is_same_v<T, Inputs> && ...), "CUDA maps take inputs of the output's type");
  constexpr int kInputs = static_cast<int>(sizeof...(Inputs));
  const bool contiguous = out.is_contiguous() && (... && (inputs.is_contiguous() && inputs.shape() == out.shape()));
  // Contiguous same-shape operands are one flat run of elements whatever their rank, so only
  // strided maps are limited to kMaxRank dimensions.
  const Shape flat{out.numel()};
  const Shape& shape = contiguous ? flat : out.shape();
  if (!contiguous) cuda_detail::check_rank("map", shape);
  cuda::MapArguments<T, kInputs> arguments;
  arguments.device = out.device().index();
  arguments.count = out.numel();
  arguments.rank = static_cast<int>(shape.size());
  arguments.out = device_data(out);
  arguments.contiguous = contiguous;
  for (int d = 0; d < arguments.rank; ++d) {
    arguments.shape[d] = shape[static_cast<std::size_t>(d)];
    arguments.out_strides[d] = contiguous ? 1 : out.strides()[static_cast<std::size_t>(d)];
  }
  int k = 0;
  auto describe = [&](const Tensor<T>& input) {
    arguments.inputs[k] = device_data(input);
    const Strides strides = contiguous ? Strides{1} : broadcast_strides(input.shape(), input.strides(), shape);
    for (int d = 0; d < arguments.rank; ++d) arguments.input_strides[k][d] = strides[static_cast<std::size_t>(d)];
    ++k;
  };
  (describe(inputs), ...);
  (void)describe;
  cuda::map(arguments, functor);
#else
  throw_no_cuda("map", out.device());
#endif
}

#if defined(NABLA_WITH_CUDA)
namespace cuda_detail {
/// The kept/reduced split of `input`'s dims for a CUDA reduction.
template <typename T>
cuda::ReduceArguments reduce_arguments(const std::string& op, const Tensor<T>& input,
                                       const std::vector<bool>& reduced) {
  check_rank(op, input.shape());
  cuda::ReduceArguments arguments;
  arguments.device = input.device().index();
  arguments.output_count = 1;
  arguments.reduced_count = 1;
  for (std::size_t d = 0; d < input.shape().size(); ++d) {
    if (reduced[d]) {
      arguments.reduced_shape[arguments.reduced_rank] = input.shape()[d];
      arguments.reduced_strides[arguments.reduced_rank++] = input.strides()[d];
      arguments.reduced_count *= input.shape()[d];
    } else {
      arguments.kept_shape[arguments.kept_rank] = input.shape()[d];
      arguments.kept_strides[arguments.kept_rank++] = input.strides()[d];
      arguments.output_count *= input.shape()[d];
    }
  }
  return arguments;
}
}  // namespace cuda_detail
#endif

/// The sum of `input` over the dims flagged in `reduced`, into the contiguous tensor `out`
/// (its elements row-major over the kept dims), on the input's device.
template <typename T>
void sum(const Tensor<T>& input, const std::vector<bool>& reduced, Tensor<T>& out) {
  if (input.device().is_cpu()) {
    cpu::sum_kernel(input, reduced, out.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::sum(device_data(input), cuda_detail::reduce_arguments("sum", input, reduced), device_data(out));
#else
  throw_no_cuda("sum", input.device());
#endif
}

/// A value on the CPU: the one element of `tensor` (copied from the device if needed).
template <typename T>
T item_on_host(const Tensor<T>& tensor) {
  return tensor.device().is_cpu() ? tensor.item() : tensor.to(Device::cpu()).item();
}

}  // namespace nabla::backend
