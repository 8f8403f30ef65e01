// nabla/ops/factories.hpp - creating tensors: constants, ranges, copies of data, random draws.
//
// Random factories draw from the Philox stream (core/philox.hpp): with an explicit seed
// they use a fresh generator, with a Generator& they continue its stream, and with neither
// they continue the global generator that nabla::manual_seed() sets.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/random.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla {

/// A tensor of `shape` whose values are uninitialized (fastest; overwrite every element), on
/// `device` (the CPU unless told).
template <TensorElement T>
Tensor<T> empty(const Shape& shape, Device device = Device::cpu()) {
  return backend::empty<T>(shape, device);
}

/// A tensor of `shape` filled with `value`.
template <TensorElement T>
Tensor<T> full(const Shape& shape, T value, Device device = Device::cpu()) {
  Tensor<T> result = backend::empty<T>(shape, device);
  backend::map(result, backend::Fill<T>{value});
  return result;
}

template <TensorElement T>
Tensor<T> zeros(const Shape& shape, Device device = Device::cpu()) {
  return full<T>(shape, T(0), device);
}

template <TensorElement T>
Tensor<T> ones(const Shape& shape, Device device = Device::cpu()) {
  return full<T>(shape, T(1), device);
}

/// The *_like factories create the tensor on `other`'s device, like PyTorch's.
template <TensorElement T>
Tensor<T> zeros_like(const Tensor<T>& other) {
  return zeros<T>(other.shape(), other.device());
}

template <TensorElement T>
Tensor<T> ones_like(const Tensor<T>& other) {
  return ones<T>(other.shape(), other.device());
}

template <TensorElement T>
Tensor<T> full_like(const Tensor<T>& other, T value) {
  return full<T>(other.shape(), value, other.device());
}

/// A rank-0 tensor holding one value.
template <TensorElement T>
Tensor<T> scalar_tensor(T value, Device device = Device::cpu()) {
  return full<T>({}, value, device);
}

/// Copies `values` into a new tensor of `shape` (row-major); the counts must agree.
template <TensorElement T>
Tensor<T> from_vector(const std::vector<T>& values, const Shape& shape) {
  check_valid_shape("from_vector", shape);
  if (static_cast<std::int64_t>(values.size()) != numel_of(shape))
    throw ShapeError("from_vector: " + std::to_string(values.size()) + " values cannot fill shape " + to_string(shape) +
                     " (" + std::to_string(numel_of(shape)) + " elements)");
  Tensor<T> result(shape);
  std::copy(values.begin(), values.end(), result.data());
  return result;
}

/// A 1-D tensor of `values`.
template <TensorElement T>
Tensor<T> from_vector(const std::vector<T>& values) {
  return from_vector<T>(values, {static_cast<std::int64_t>(values.size())});
}

/// start, start + step, ... up to but excluding end (like numpy.arange).
template <TensorElement T>
Tensor<T> arange(T start, T end, T step = T(1)) {
  if (step == T(0)) throw ValueError("arange: step must not be zero");
  const double span = (static_cast<double>(end) - static_cast<double>(start)) / static_cast<double>(step);
  if (!std::isfinite(span)) throw ValueError("arange: start, end and step must be finite");
  const auto count = static_cast<std::int64_t>(std::max(0.0, std::ceil(span)));
  Tensor<T> result({count});
  T* data = result.data();
  for (std::int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(start + static_cast<T>(i) * step);
  return result;
}

/// 0, 1, ..., end - 1.
template <TensorElement T>
Tensor<T> arange(T end) {
  return arange<T>(T(0), end, T(1));
}

/// `steps` evenly spaced values from start to end, both included (like numpy.linspace).
template <FloatingElement T>
Tensor<T> linspace(T start, T end, std::int64_t steps) {
  if (steps < 0) throw ValueError("linspace: steps must be >= 0, got " + std::to_string(steps));
  Tensor<T> result({steps});
  T* data = result.data();
  const T increment = steps > 1 ? (end - start) / static_cast<T>(steps - 1) : T(0);
  for (std::int64_t i = 0; i < steps; ++i) data[i] = start + static_cast<T>(i) * increment;
  if (steps > 1) data[steps - 1] = end;
  return result;
}

/// The rows x columns identity matrix (ones on the diagonal).
template <TensorElement T>
Tensor<T> eye(std::int64_t rows, std::int64_t columns = -1) {
  if (columns < 0) columns = rows;
  Tensor<T> result = zeros<T>({rows, columns});
  for (std::int64_t i = 0; i < std::min(rows, columns); ++i) result.data()[i * columns + i] = T(1);
  return result;
}

namespace detail {
/// Which distribution random_tensor draws from.
using backend::Distribution;

/// Draws a tensor from the Philox stream of `generator` on `device`: element i comes from
/// (seed, offset + i) on both devices, so a seed gives the same values on the CPU and a GPU
/// (up to the last bits of log/cos in normal draws).
template <FloatingElement T>
Tensor<T> random_tensor(const Shape& shape, Generator& generator, Device device, Distribution distribution, T first,
                        T second) {
  Tensor<T> result = backend::empty<T>(shape, device);
  const std::uint64_t seed = generator.seed();
  const std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(result.numel()));
  backend::random_fill(result, seed, offset, distribution, first, second);
  return result;
}
}  // namespace detail

/// Uniform values in [low, high) (on `device`, the CPU unless told).
template <FloatingElement T>
Tensor<T> uniform(const Shape& shape, T low, T high, Generator& generator, Device device = Device::cpu()) {
  if (!(low <= high)) throw ValueError("uniform: low must be <= high");
  return detail::random_tensor<T>(shape, generator, device, detail::Distribution::uniform, low, high);
}
template <FloatingElement T>
Tensor<T> uniform(const Shape& shape, T low, T high, std::uint64_t seed, Device device = Device::cpu()) {
  Generator generator(seed);
  return uniform<T>(shape, low, high, generator, device);
}
template <FloatingElement T>
Tensor<T> uniform(const Shape& shape, T low, T high) {
  return uniform<T>(shape, low, high, default_generator());
}

/// Uniform values in [0, 1).
template <FloatingElement T>
Tensor<T> rand(const Shape& shape, Generator& generator, Device device = Device::cpu()) {
  return uniform<T>(shape, T(0), T(1), generator, device);
}
template <FloatingElement T>
Tensor<T> rand(const Shape& shape, std::uint64_t seed, Device device = Device::cpu()) {
  return uniform<T>(shape, T(0), T(1), seed, device);
}
template <FloatingElement T>
Tensor<T> rand(const Shape& shape) {
  return uniform<T>(shape, T(0), T(1), default_generator());
}

/// Normal values with the given mean and standard deviation.
template <FloatingElement T>
Tensor<T> normal(const Shape& shape, T mean, T stddev, Generator& generator, Device device = Device::cpu()) {
  if (!(stddev >= T(0))) throw ValueError("normal: standard deviation must be >= 0");
  return detail::random_tensor<T>(shape, generator, device, detail::Distribution::normal, mean, stddev);
}
template <FloatingElement T>
Tensor<T> normal(const Shape& shape, T mean, T stddev, std::uint64_t seed, Device device = Device::cpu()) {
  Generator generator(seed);
  return normal<T>(shape, mean, stddev, generator, device);
}
template <FloatingElement T>
Tensor<T> normal(const Shape& shape, T mean, T stddev) {
  return normal<T>(shape, mean, stddev, default_generator());
}

/// Standard normal values (mean 0, standard deviation 1).
template <FloatingElement T>
Tensor<T> randn(const Shape& shape, Generator& generator, Device device = Device::cpu()) {
  return normal<T>(shape, T(0), T(1), generator, device);
}
template <FloatingElement T>
Tensor<T> randn(const Shape& shape, std::uint64_t seed, Device device = Device::cpu()) {
  return normal<T>(shape, T(0), T(1), seed, device);
}
template <FloatingElement T>
Tensor<T> randn(const Shape& shape) {
  return normal<T>(shape, T(0), T(1), default_generator());
}

/// Integers uniformly drawn from [low, high) (token ids, class labels).
inline IndexTensor randint(std::int64_t low, std::int64_t high, const Shape& shape, std::uint64_t seed) {
  if (low >= high)
    throw ValueError("randint: low (" + std::to_string(low) + ") must be < high (" + std::to_string(high) + ")");
  Generator generator(seed);
  const std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(numel_of(shape)));
  IndexTensor result(shape);
  const auto range = static_cast<std::uint64_t>(high - low);
  for (std::int64_t i = 0; i < result.numel(); ++i) {
    const PhiloxWords words = philox_words(seed, offset, static_cast<std::uint64_t>(i));
    const std::uint64_t bits = (static_cast<std::uint64_t>(words[0]) << 32) | words[1];
    result.data()[i] = low + static_cast<std::int64_t>(bits % range);
  }
  return result;
}

}  // namespace nabla
