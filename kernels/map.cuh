// kernels/map.cuh: the elementwise kernel behind every map (internal, not installed).
//
// out[i] = functor(inputs[i]...) for each element of the output. Two kernels:
//   - dense operands (same shape, contiguous): element i is at offset i in every buffer, so
//     each thread loads whole 16-byte packs (4 floats or 2 doubles) when every pointer is
//     16-byte aligned, and one element at a time otherwise;
//   - anything else (views, broadcasting): each thread turns its linear index into a
//     multi-index, dim by dim from the last, and each operand's offset is the dot product of
//     that multi-index with its strides (stride 0 along a broadcast dim).
// The .cu files instantiate map<Functor, T, Inputs> with NABLA_INSTANTIATE_MAP.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.cuh"
#include "nabla/backend/cuda/kernels.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend::cuda {

namespace detail {

/// Calls functor with the first Inputs values.
template <int Inputs, typename Functor, typename T>
__device__ inline T apply(const Functor& functor, const T* values) {
  if constexpr (Inputs == 0) {
    (void)values;
    return functor();
  } else if constexpr (Inputs == 1) {
    return functor(values[0]);
  } else if constexpr (Inputs == 2) {
    return functor(values[0], values[1]);
  } else if constexpr (Inputs == 3) {
    return functor(values[0], values[1], values[2]);
  } else {
    static_assert(Inputs == 4, "map supports up to four inputs");
    return functor(values[0], values[1], values[2], values[3]);
  }
}

/// `Width` consecutive elements that move as one 16-byte load or store.
template <typename T, int Width>
struct alignas(sizeof(T) * Width) Pack {
  T values[Width];
};

template <typename T, int Inputs>
struct InputPointers {
  const T* pointers[Inputs > 0 ? Inputs : 1];
};

/// Dense operands, `Width` elements per step (Width 1: no alignment needed).
template <typename Functor, typename T, int Inputs, int Width>
__global__ void map_dense_kernel(T* out, InputPointers<T, Inputs> inputs, std::int64_t count, Functor functor) {
  const std::int64_t packs = count / Width;
  for (std::int64_t p = global_thread_index(); p < packs; p += grid_stride()) {
    Pack<T, Width> loaded[Inputs > 0 ? Inputs : 1];
    for (int k = 0; k < Inputs; ++k) loaded[k] = reinterpret_cast<const Pack<T, Width>*>(inputs.pointers[k])[p];
    Pack<T, Width> result;
    for (int j = 0; j < Width; ++j) {
      T values[Inputs > 0 ? Inputs : 1];
      for (int k = 0; k < Inputs; ++k) values[k] = loaded[k].values[j];
      result.values[j] = apply<Inputs>(functor, values);
    }
    reinterpret_cast<Pack<T, Width>*>(out)[p] = result;
  }
  // The last count % Width elements, one per thread.
  for (std::int64_t i = packs * Width + global_thread_index(); i < count; i += grid_stride()) {
    T values[Inputs > 0 ? Inputs : 1];
    for (int k = 0; k < Inputs; ++k) values[k] = inputs.pointers[k][i];
    out[i] = apply<Inputs>(functor, values);
  }
}

/// Any strides: the multi-index of element i, then each operand's offset.
template <typename Functor, typename T, int Inputs>
__global__ void map_strided_kernel(MapArguments<T, Inputs> arguments, Functor functor) {
  for (std::int64_t i = global_thread_index(); i < arguments.count; i += grid_stride()) {
    std::int64_t out_offset = 0;
    std::int64_t offsets[Inputs > 0 ? Inputs : 1] = {};
    std::int64_t remainder = i;
    for (int d = arguments.rank - 1; d >= 0; --d) {
      const std::int64_t index = remainder % arguments.shape[d];
      remainder /= arguments.shape[d];
      out_offset += index * arguments.out_strides[d];
      for (int k = 0; k < Inputs; ++k) offsets[k] += index * arguments.input_strides[k][d];
    }
    T values[Inputs > 0 ? Inputs : 1];
    for (int k = 0; k < Inputs; ++k) values[k] = arguments.inputs[k][offsets[k]];
    arguments.out[out_offset] = apply<Inputs>(functor, values);
  }
}

inline bool aligned_16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

}  // namespace detail

template <typename Functor, typename T, int Inputs>
void map(const MapArguments<T, Inputs>& arguments, const Functor& functor) {
  if (arguments.count <= 0) return;  // a zero-sized grid is an invalid configuration
  const cudaStream_t stream = detail::use_device(arguments.device);
  if (arguments.contiguous) {
    detail::InputPointers<T, Inputs> inputs{};
    bool aligned = detail::aligned_16(arguments.out);
    for (int k = 0; k < Inputs; ++k) {
      inputs.pointers[k] = arguments.inputs[k];
      aligned = aligned && detail::aligned_16(arguments.inputs[k]);
    }
    constexpr int kWidth = 16 / static_cast<int>(sizeof(T));
    if (aligned && arguments.count >= kWidth)
      detail::launch_over(arguments.count / kWidth, detail::map_dense_kernel<Functor, T, Inputs, kWidth>,
                          "map_dense_kernel", stream, arguments.out, inputs, arguments.count, functor);
    else
      detail::launch_over(arguments.count, detail::map_dense_kernel<Functor, T, Inputs, 1>, "map_dense_kernel", stream,
                          arguments.out, inputs, arguments.count, functor);
    return;
  }
  detail::launch_over(arguments.count, detail::map_strided_kernel<Functor, T, Inputs>, "map_strided_kernel", stream,
                      arguments, functor);
}

}  // namespace nabla::backend::cuda

// Explicit instantiation of map for one functor type, element type and input count.
#define NABLA_INSTANTIATE_MAP(FUNCTOR, TYPE, INPUTS)              \
  template void nabla::backend::cuda::map<FUNCTOR, TYPE, INPUTS>( \
      const nabla::backend::cuda::MapArguments<TYPE, INPUTS>&, const FUNCTOR&);

// For a plain functor (templated operator()): float and double.
#define NABLA_INSTANTIATE_MAP_BOTH(FUNCTOR, INPUTS) \
  NABLA_INSTANTIATE_MAP(FUNCTOR, float, INPUTS)     \
  NABLA_INSTANTIATE_MAP(FUNCTOR, double, INPUTS)

// For a functor template on the element type (AddScalar<T>): AddScalar<float> with float,
// AddScalar<double> with double.
#define NABLA_INSTANTIATE_MAP_TEMPLATE(FUNCTOR_TEMPLATE, INPUTS) \
  NABLA_INSTANTIATE_MAP(FUNCTOR_TEMPLATE<float>, float, INPUTS)  \
  NABLA_INSTANTIATE_MAP(FUNCTOR_TEMPLATE<double>, double, INPUTS)
