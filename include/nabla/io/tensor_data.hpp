// nabla/io/tensor_data.hpp - what every file format shares about tensors: the element types
// a file can hold, a variant over the tensor types, shape validation against the bytes a
// file really has, and moving element data to and from little-endian bytes.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "nabla/core/tensor.hpp"
#include "nabla/io/crc32.hpp"
#include "nabla/io/file.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/views.hpp"  // Tensor::to

namespace nabla::io {

/// The element types nabla files hold. The numbers are the codes of the checkpoint format.
enum class DType : std::uint8_t { float32 = 1, float64 = 2, int64 = 3 };

template <TensorElement T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::float64;
  else
    return DType::int64;
}

inline std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int64:
      return "int64";
  }
  return "unknown";
}

/// Bytes per element.
inline std::uint64_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

/// A tensor of any element type a file can hold.
using TensorVariant = std::variant<Tensor<float>, Tensor<double>, IndexTensor>;

inline DType dtype_of(const TensorVariant& tensor) {
  return std::visit([](const auto& t) { return dtype_of<typename std::decay_t<decltype(t)>::value_type>(); }, tensor);
}
inline Shape shape_of(const TensorVariant& tensor) {
  return std::visit([](const auto& t) { return t.shape(); }, tensor);
}
inline bool is_defined(const TensorVariant& tensor) {
  return std::visit([](const auto& t) { return t.defined(); }, tensor);
}

/// Checks `shape` (sizes >= 0, at most 2^48 elements, nabla's limit) and that its data fits
/// into `available_bytes`, BEFORE anything is allocated: a hostile header claiming 2^60
/// elements fails here. Returns the number of data bytes. `fail(message)` throws the IOError.
/// The product of the NON-ZERO sizes is bounded too: an empty tensor of shape [0, 2^62, 2^62]
/// holds no data, but its strides would overflow (fuzz/regressions/npy/empty_huge_strides.npy).
template <typename Fail>
std::uint64_t checked_data_bytes(const Shape& shape, DType dtype, std::uint64_t available_bytes, const Fail& fail) {
  constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 48;
  bool empty = false;
  std::uint64_t count = 1;  // of the non-zero sizes
  for (const std::int64_t size : shape) {
    if (size < 0) fail("negative dimension in shape " + to_string(shape));
    if (size == 0) {
      empty = true;
      continue;
    }
    const auto unsigned_size = static_cast<std::uint64_t>(size);
    if (count > kMaxElements / unsigned_size)  // checked before multiplying: no overflow
      fail("shape " + to_string(shape) + " has more than 2^48 elements");
    count *= unsigned_size;
  }
  if (empty) return 0;  // a zero-sized tensor holds no data, whatever its other sizes
  const std::uint64_t bytes = count * dtype_size(dtype);
  if (bytes > available_bytes)
    fail("shape " + to_string(shape) + " of " + dtype_name(dtype) + " needs " + std::to_string(bytes) +
         " data bytes, more than the " + std::to_string(available_bytes) + " available");
  return bytes;
}

/// A tensor's elements as one contiguous array in CPU memory: the tensor's own buffer when
/// it is already contiguous on the CPU, else a copy.
template <TensorElement T>
class HostValues {
 public:
  explicit HostValues(const Tensor<T>& tensor) {
    const Tensor<T> host = tensor.detach().to(Device::cpu());  // no copy for a CPU tensor
    if (host.is_contiguous()) {
      tensor_ = host;
      data_ = tensor_.data();
    } else {
      copy_ = host.to_vector();
      data_ = copy_.data();
    }
    size_ = static_cast<std::size_t>(host.numel());
  }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::uint64_t byte_size() const { return size_ * sizeof(T); }

 private:
  Tensor<T> tensor_;
  std::vector<T> copy_;
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Reverses the bytes of every element (big-endian host <-> little-endian file).
template <typename T>
void swap_bytes(T* values, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, values + i, sizeof(T));
    for (std::size_t b = 0; b < sizeof(T) / 2; ++b) std::swap(bytes[b], bytes[sizeof(T) - 1 - b]);
    std::memcpy(values + i, bytes, sizeof(T));
  }
}

/// Calls sink(bytes, size) with the little-endian bytes of `count` values, in one piece on a
/// little-endian host (no copy) and in byte-swapped pieces on a big-endian one.
template <typename T, typename Sink>
void for_each_little_endian_piece(const T* values, std::size_t count, const Sink& sink) {
  if constexpr (std::endian::native == std::endian::little) {
    sink(reinterpret_cast<const unsigned char*>(values), count * sizeof(T));
  } else {
    std::vector<T> piece;
    for (std::size_t start = 0; start < count; start += 65536) {
      const std::size_t length = std::min<std::size_t>(65536, count - start);
      piece.assign(values + start, values + start + length);
      swap_bytes(piece.data(), piece.size());
      sink(reinterpret_cast<const unsigned char*>(piece.data()), length * sizeof(T));
    }
  }
}

/// The CRC-32 of a tensor's data as stored in a file (little-endian bytes).
template <TensorElement T>
std::uint32_t data_crc32(const HostValues<T>& values) {
  Crc32 crc;
  for_each_little_endian_piece(values.data(), values.size(),
                               [&](const unsigned char* bytes, std::size_t size) { crc.update(bytes, size); });
  return crc.value();
}

/// Appends a tensor's data to a file as little-endian bytes.
template <TensorElement T>
void write_data(AtomicFileWriter& writer, const HostValues<T>& values) {
  for_each_little_endian_piece(values.data(), values.size(),
                               [&](const unsigned char* bytes, std::size_t size) { writer.write(bytes, size); });
}

/// Reads a tensor of `dtype` and `shape` from file bytes [offset, offset + byte_length) (the
/// caller has checked that byte_length matches the shape). The range is checked against the
/// file size before the tensor is allocated. If `crc` is given, it receives the file bytes.
inline TensorVariant read_tensor(const FileReader& file, DType dtype, const Shape& shape, std::uint64_t offset,
                                 std::uint64_t byte_length, const std::string& what, Crc32* crc = nullptr) {
  file.require(offset, byte_length, what);
  auto read = [&]<typename T>(Tensor<T> tensor) -> TensorVariant {
    if (byte_length != static_cast<std::uint64_t>(tensor.numel()) * sizeof(T))
      file.fail(what + ": " + std::to_string(byte_length) + " data bytes do not fit shape " + to_string(shape) +
                " of " + dtype_name(dtype));
    file.read_at(offset, tensor.data(), byte_length, what);
    if (crc) crc->update(tensor.data(), static_cast<std::size_t>(byte_length));
    if constexpr (std::endian::native != std::endian::little)
      swap_bytes(tensor.data(), static_cast<std::size_t>(tensor.numel()));
    return tensor;
  };
  switch (dtype) {
    case DType::float32:
      return read(Tensor<float>(shape));
    case DType::float64:
      return read(Tensor<double>(shape));
    case DType::int64:
      return read(IndexTensor(shape));
  }
  file.fail(what + ": unknown element type");
}

/// The tensor as Tensor<T>: float32 and float64 convert to each other (like PyTorch's
/// load_state_dict), int64 does not convert to floating point. `what` names it in errors.
template <FloatingElement T>
Tensor<T> to_floating(const TensorVariant& tensor, const std::string& what) {
  if (const auto* same = std::get_if<Tensor<T>>(&tensor)) return *same;
  if (const auto* single = std::get_if<Tensor<float>>(&tensor)) {
    const auto values = single->to_vector();
    return from_vector<T>(std::vector<T>(values.begin(), values.end()), single->shape());
  }
  if (const auto* double_tensor = std::get_if<Tensor<double>>(&tensor)) {
    const auto values = double_tensor->to_vector();
    return from_vector<T>(std::vector<T>(values.begin(), values.end()), double_tensor->shape());
  }
  throw IOError(what + " holds int64 values where " + dtype_name(dtype_of<T>()) + " values are expected");
}

}  // namespace nabla::io
