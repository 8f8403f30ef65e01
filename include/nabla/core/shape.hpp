// nabla/core/shape.hpp - shapes, strides and NumPy broadcasting rules.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"

namespace nabla {

/// The size of each dimension, outermost first (row-major), e.g. {batch, rows, columns}.
using Shape = std::vector<std::int64_t>;
/// How many elements to step in storage to move by one along each dimension.
using Strides = std::vector<std::int64_t>;

/// "[3,4]": how shapes appear in error messages.
inline std::string to_string(const Shape& shape) {
  std::string text = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d > 0) text += ",";
    text += std::to_string(shape[d]);
  }
  return text + "]";
}

/// Number of elements of a tensor of this shape (1 for a scalar of rank 0).
inline std::int64_t numel_of(const Shape& shape) {
  std::int64_t count = 1;
  for (auto size : shape) count *= size;
  return count;
}

/// Strides of a densely packed row-major tensor: the last dimension moves fastest.
inline Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  std::int64_t step = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = step;
    step *= shape[d];
  }
  return strides;
}

/// Checks that every size is >= 0 and that the product of the NON-ZERO sizes is at most 2^48,
/// nabla's limit (the file readers' too: io::checked_data_bytes). An empty tensor of shape
/// [0, 2^62, 2^62] holds nothing, but contiguous_strides would overflow multiplying its sizes.
inline void check_valid_shape(const std::string& op, const Shape& shape) {
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 48;
  std::int64_t count = 1;  // of the non-zero sizes
  for (auto size : shape) {
    if (size < 0) throw ShapeError(op + ": negative dimension in shape " + to_string(shape));
    if (size == 0) continue;
    if (count > kMaxElements / size)  // checked before multiplying: no overflow
      throw ShapeError(op + ": shape " + to_string(shape) + " has too many elements (the product of its non-zero " +
                       "sizes is above 2^48)");
    count *= size;
  }
}

/// Wraps a possibly negative dimension index (-1 is the last) into [0, rank).
inline std::int64_t normalize_dim(const std::string& op, std::int64_t dim, std::int64_t rank) {
  const std::int64_t wrapped = dim < 0 ? dim + rank : dim;
  if (wrapped < 0 || wrapped >= rank)
    throw ValueError(op + ": dimension " + std::to_string(dim) + " is out of range for a tensor of rank " +
                     std::to_string(rank));
  return wrapped;
}

/// NumPy broadcasting: align shapes on the right; sizes must match or one of them be 1.
inline Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t size_a = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t size_b = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (size_a != size_b && size_a != 1 && size_b != 1)
      throw ShapeError(op + ": shapes " + to_string(a) + " and " + to_string(b) + " cannot be broadcast (dimension " +
                       std::to_string(i) + ": " + std::to_string(size_a) + " vs " + std::to_string(size_b) + ")");
    result[i] = size_a == 1 ? size_b : size_a;
  }
  return result;
}

/// Strides that read a tensor of `shape`/`strides` as if it had the larger `target` shape:
/// broadcast dimensions get stride 0, so every index along them reads the same element.
inline Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  Strides result(target.size(), 0);
  const std::size_t lead = target.size() - shape.size();
  for (std::size_t d = 0; d < shape.size(); ++d) result[lead + d] = shape[d] == 1 ? 0 : strides[d];
  return result;
}

}  // namespace nabla
