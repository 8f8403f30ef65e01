// nabla/ops/views.hpp - views and shape ops: reshape, transpose, permute, slicing, squeeze,
// expand, and the copying ones: clone, contiguous, index_select, concat, stack, to(device).
//
// A view is a new Tensor over the SAME storage with its own shape, strides and offset, so it
// costs no copy and writing through it changes the base tensor. Each view still records a
// graph node, because the gradient has to travel back through the change of shape:
//   reshape-like views (reshape, view, flatten, squeeze, unsqueeze): reshape the gradient back;
//   transpose / permute: apply the inverse permutation to the gradient;
//   narrow / slice: put the gradient into zeros of the input's shape at the same window;
//   expand: return the gradient at the expanded shape; the engine sums it back down.
// The copying ops: index_select adds each output slice's gradient back at its index (an
// index-add), concat/stack split the gradient into one window per input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/copy.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/index_select.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/factories.hpp"

namespace nabla {

namespace detail {

/// A tensor that reads `source`'s storage through another shape/strides/offset (no autograd).
template <typename T>
Tensor<T> make_view(const Tensor<T>& source, Shape shape, Strides strides, std::int64_t offset) {
  return Tensor<T>(source.storage(), std::move(shape), std::move(strides), offset);
}

/// A dense row-major copy of any view (no autograd).
template <typename T>
Tensor<T> copy_values(const Tensor<T>& source) {
  Tensor<T> copy = backend::empty<T>(source.shape(), source.device());
  backend::map(copy, backend::Identity{}, source);
  return copy;
}

/// The elements start, start + step, ... (`length` of them) along `dim`, as a view (no autograd).
template <typename T>
Tensor<T> window_view(const Tensor<T>& source, std::int64_t dim, std::int64_t start, std::int64_t length,
                      std::int64_t step) {
  Shape shape = source.shape();
  Strides strides = source.strides();
  const auto d = static_cast<std::size_t>(dim);
  const std::int64_t offset = source.offset() + start * strides[d];
  shape[d] = length;
  strides[d] *= step;
  return make_view(source, std::move(shape), std::move(strides), offset);
}

/// The gradient of a window view: zeros of the input's shape, with `grad` written into the
/// same window (elements outside the window did not reach the output, so their gradient is 0).
template <typename T>
Tensor<T> window_gradient(const Tensor<T>& grad, const Shape& input_shape, std::int64_t dim, std::int64_t start,
                          std::int64_t length, std::int64_t step) {
  Tensor<T> input_grad = zeros<T>(input_shape, grad.device());
  Tensor<T> window = window_view(input_grad, dim, start, length, step);
  backend::map(window, backend::Identity{}, grad);
  return input_grad;
}

/// Replaces a -1 in `requested` by the size that keeps the element count, then checks that
/// the counts agree.
inline Shape infer_reshape_shape(const std::string& op, const Shape& input_shape, const Shape& requested) {
  const std::int64_t count = numel_of(input_shape);
  std::int64_t known_product = 1;
  std::optional<std::size_t> inferred;
  for (std::size_t d = 0; d < requested.size(); ++d) {
    if (requested[d] == -1) {
      if (inferred)
        throw ShapeError(op + ": only one dimension can be -1, got shape " + to_string(requested) +
                         " for a tensor of shape " + to_string(input_shape));
      inferred = d;
    } else if (requested[d] < 0) {
      throw ShapeError(op + ": negative dimension " + std::to_string(requested[d]) + " in shape " +
                       to_string(requested));
    } else {
      known_product *= requested[d];
    }
  }
  Shape shape = requested;
  if (inferred) {
    if (known_product == 0 || count % known_product != 0)
      throw ShapeError(op + ": cannot infer the -1 in shape " + to_string(requested) + " for a tensor of shape " +
                       to_string(input_shape) + " (" + std::to_string(count) + " elements)");
    shape[*inferred] = count / known_product;
  }
  check_valid_shape(op, shape);
  if (numel_of(shape) != count)
    throw ShapeError(op + ": cannot reshape a tensor of shape " + to_string(input_shape) + " (" +
                     std::to_string(count) + " elements) into shape " + to_string(shape) + " (" +
                     std::to_string(numel_of(shape)) + " elements)");
  return shape;
}

/// Strides that show a tensor of (shape, strides) as `new_shape` without moving data, or
/// nothing when that is impossible (then reshape copies). The old dims are grouped into
/// chunks that are contiguous among themselves; each chunk must map onto whole new dims.
/// This is the same rule as PyTorch's view (ATen's computeStride).
inline std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  // A densely packed tensor (and any tensor with no elements) can take any shape.
  bool dense = true;
  std::int64_t expected = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) dense = false;
    expected *= shape[d];
  }
  if (dense || numel_of(shape) == 0) return contiguous_strides(new_shape);

  Strides new_strides(new_shape.size());
  auto new_d = static_cast<std::int64_t>(new_shape.size()) - 1;
  std::int64_t chunk_base_stride = strides.back();
  std::int64_t chunk_count = 1, new_count = 1;
  for (auto d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    const auto old_d = static_cast<std::size_t>(d);
    chunk_count *= shape[old_d];
    // The chunk ends where the next-outer dim does not continue it contiguously.
    const bool chunk_ends = d == 0 || (shape[old_d - 1] != 1 && strides[old_d - 1] != chunk_count * chunk_base_stride);
    if (!chunk_ends) continue;
    while (new_d >= 0 && (new_count < chunk_count || new_shape[static_cast<std::size_t>(new_d)] == 1)) {
      new_strides[static_cast<std::size_t>(new_d)] = new_count * chunk_base_stride;
      new_count *= new_shape[static_cast<std::size_t>(new_d)];
      --new_d;
    }
    if (new_count != chunk_count) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = strides[old_d - 1];
      chunk_count = 1;
      new_count = 1;
    }
  }
  if (new_d != -1) return std::nullopt;
  return new_strides;
}

/// A view of `input` with the same elements in a new shape; the gradient is reshaped back.
template <typename T>
Tensor<T> reshaped_view(const std::string& op, const Tensor<T>& input, Shape new_shape, Strides new_strides) {
  Tensor<T> out = make_view(input, std::move(new_shape), std::move(new_strides), input.offset());
  // Same elements, other shape: dL/dInput = dL/dOutput reshaped to the input's shape
  record_op<T>(out, op, {input}, [input_shape = input.shape()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad.reshape(input_shape)};
  });
  return out;
}

/// A window of `input` along `dim` as a view; the gradient flows back into that window.
template <typename T>
Tensor<T> window_op(const std::string& op, const Tensor<T>& input, std::int64_t dim, std::int64_t start,
                    std::int64_t length, std::int64_t step) {
  Tensor<T> out = window_view(input, dim, start, length, step);
  // dL/dInput = dL/dOutput inside the window, 0 elsewhere
  record_op<T>(
      out, op, {input},
      [input_shape = input.shape(), dim, start, length, step](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
        return std::vector<Tensor<T>>{window_gradient(grad, input_shape, dim, start, length, step)};
      });
  return out;
}

/// Wraps the position of a NEW dimension (unsqueeze, stack) into [0, rank]: -1 appends it.
inline std::int64_t normalize_new_dim(const std::string& op, std::int64_t dim, std::int64_t rank) {
  const std::int64_t wrapped = dim < 0 ? dim + rank + 1 : dim;
  if (wrapped < 0 || wrapped > rank)
    throw ValueError(op + ": dimension " + std::to_string(dim) +
                     " is out of range for inserting a dimension into a "
                     "tensor of rank " +
                     std::to_string(rank) + " (valid: " + std::to_string(-rank - 1) + " to " + std::to_string(rank) +
                     ")");
  return wrapped;
}

/// Checks a list of dimension indices is a permutation of 0..rank-1; returns it with
/// negative entries wrapped.
inline std::vector<std::int64_t> check_permutation(const std::string& op, const std::vector<std::int64_t>& order,
                                                   const Shape& shape) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  auto describe = [&] {
    std::string text = "[";
    for (std::size_t i = 0; i < order.size(); ++i) text += (i > 0 ? "," : "") + std::to_string(order[i]);
    return text + "] for a tensor of shape " + to_string(shape);
  };
  if (static_cast<std::int64_t>(order.size()) != rank)
    throw ValueError(op + ": got " + std::to_string(order.size()) + " dimensions in the order " + describe() +
                     "; a permutation must list each of its " + std::to_string(rank) + " dimensions once");
  std::vector<std::int64_t> wrapped(order.size());
  std::vector<bool> seen(order.size(), false);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::int64_t dim = order[i] < 0 ? order[i] + rank : order[i];
    if (dim < 0 || dim >= rank)
      throw ValueError(op + ": dimension " + std::to_string(order[i]) + " is out of range in the order " + describe());
    if (seen[static_cast<std::size_t>(dim)])
      throw ValueError(op + ": dimension " + std::to_string(order[i]) + " appears twice in the order " + describe() +
                       "; it is not a permutation");
    seen[static_cast<std::size_t>(dim)] = true;
    wrapped[i] = dim;
  }
  return wrapped;
}

}  // namespace detail

// ---- copies ---------------------------------------------------------------------------------

template <typename T>
Tensor<T> Tensor<T>::clone() const {
  detail::check_defined("clone", *this);
  Tensor<T> out = detail::copy_values(*this);
  // A copy: dL/dInput = dL/dOutput
  record_op<T>(out, "clone", {*this},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{grad}; });
  return out;
}

template <typename T>
Tensor<T> Tensor<T>::contiguous() const {
  detail::check_defined("contiguous", *this);
  if (is_contiguous()) return *this;
  Tensor<T> out = detail::copy_values(*this);
  // A copy: dL/dInput = dL/dOutput
  record_op<T>(out, "contiguous", {*this},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{grad}; });
  return out;
}

// ---- reshape-like views -----------------------------------------------------------------------

/// The same elements in another shape (one dim may be -1). A view when the strides allow it
/// (always for a contiguous tensor), otherwise a copy.
template <typename T>
Tensor<T> Tensor<T>::reshape(const Shape& new_shape) const {
  detail::check_defined("reshape", *this);
  const Shape shape = detail::infer_reshape_shape("reshape", this->shape(), new_shape);
  if (auto strides = detail::view_strides(this->shape(), this->strides(), shape))
    return detail::reshaped_view("reshape", *this, shape, std::move(*strides));
  // The elements are not evenly spaced for the new shape: copy them densely, then view.
  return contiguous().view(shape);
}

/// Like reshape, but never copies: throws ShapeError when the strides make a view impossible.
template <typename T>
Tensor<T> Tensor<T>::view(const Shape& new_shape) const {
  detail::check_defined("view", *this);
  const Shape shape = detail::infer_reshape_shape("view", this->shape(), new_shape);
  auto strides = detail::view_strides(this->shape(), this->strides(), shape);
  if (!strides)
    throw ShapeError("view: a tensor of shape " + to_string(this->shape()) + " with strides " +
                     to_string(this->strides()) + " cannot be viewed as shape " + to_string(shape) +
                     " without copying; use reshape(), or contiguous() first");
  return detail::reshaped_view("view", *this, shape, std::move(*strides));
}

/// Merges dims start_dim..end_dim (inclusive) into one. A scalar becomes shape [1].
template <typename T>
Tensor<T> Tensor<T>::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  detail::check_defined("flatten", *this);
  if (dim() == 0) return reshape({1});
  const std::int64_t first = normalize_dim("flatten", start_dim, dim());
  const std::int64_t last = normalize_dim("flatten", end_dim, dim());
  if (first > last)
    throw ValueError("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " +
                     std::to_string(end_dim) + " for a tensor of shape " + to_string(shape()));
  Shape new_shape(shape().begin(), shape().begin() + first);
  std::int64_t merged = 1;
  for (std::int64_t d = first; d <= last; ++d) merged *= shape()[static_cast<std::size_t>(d)];
  new_shape.push_back(merged);
  new_shape.insert(new_shape.end(), shape().begin() + last + 1, shape().end());
  return reshape(new_shape);
}

/// Removes every dimension of size 1.
template <typename T>
Tensor<T> Tensor<T>::squeeze() const {
  detail::check_defined("squeeze", *this);
  Shape new_shape;
  Strides new_strides;
  for (std::size_t d = 0; d < shape().size(); ++d) {
    if (shape()[d] == 1) continue;
    new_shape.push_back(shape()[d]);
    new_strides.push_back(strides()[d]);
  }
  return detail::reshaped_view("squeeze", *this, std::move(new_shape), std::move(new_strides));
}

/// Removes dimension `dim` if its size is 1; otherwise the view has the same shape (like PyTorch).
template <typename T>
Tensor<T> Tensor<T>::squeeze(std::int64_t dim) const {
  detail::check_defined("squeeze", *this);
  const auto d = static_cast<std::size_t>(normalize_dim("squeeze", dim, this->dim()));
  Shape new_shape = shape();
  Strides new_strides = strides();
  if (new_shape[d] == 1) {
    new_shape.erase(new_shape.begin() + static_cast<std::ptrdiff_t>(d));
    new_strides.erase(new_strides.begin() + static_cast<std::ptrdiff_t>(d));
  }
  return detail::reshaped_view("squeeze", *this, std::move(new_shape), std::move(new_strides));
}

/// Inserts a dimension of size 1 at position `dim` (-1 appends it at the end).
template <typename T>
Tensor<T> Tensor<T>::unsqueeze(std::int64_t dim) const {
  detail::check_defined("unsqueeze", *this);
  const auto d = static_cast<std::size_t>(detail::normalize_new_dim("unsqueeze", dim, this->dim()));
  Shape new_shape = shape();
  Strides new_strides = strides();
  // Any stride works for a size-1 dim; this one keeps a contiguous tensor contiguous.
  const std::int64_t stride = d < new_shape.size() ? new_shape[d] * new_strides[d] : 1;
  new_shape.insert(new_shape.begin() + static_cast<std::ptrdiff_t>(d), 1);
  new_strides.insert(new_strides.begin() + static_cast<std::ptrdiff_t>(d), stride);
  return detail::reshaped_view("unsqueeze", *this, std::move(new_shape), std::move(new_strides));
}

// ---- reordering dimensions ------------------------------------------------------------------

/// Swaps two dimensions (a view: only the shape and strides are swapped).
template <typename T>
Tensor<T> Tensor<T>::transpose(std::int64_t dim0, std::int64_t dim1) const {
  detail::check_defined("transpose", *this);
  const auto first = static_cast<std::size_t>(normalize_dim("transpose", dim0, dim()));
  const auto second = static_cast<std::size_t>(normalize_dim("transpose", dim1, dim()));
  Shape new_shape = shape();
  Strides new_strides = strides();
  std::swap(new_shape[first], new_shape[second]);
  std::swap(new_strides[first], new_strides[second]);
  Tensor<T> out = detail::make_view(*this, std::move(new_shape), std::move(new_strides), offset());
  // A transpose is its own inverse: dL/dInput = transpose(dL/dOutput) with the same dims
  record_op<T>(out, "transpose", {*this}, [dim0, dim1](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad.transpose(dim0, dim1)};
  });
  return out;
}

/// The transpose of a matrix (2-D only).
template <typename T>
Tensor<T> Tensor<T>::t() const {
  detail::check_defined("t", *this);
  if (dim() != 2)
    throw ShapeError("t: expects a 2-D tensor, got shape " + to_string(shape()) +
                     "; use transpose(dim0, dim1) or permute(order) for other ranks");
  return transpose(0, 1);
}

/// Reorders the dimensions: output dim i is input dim order[i].
template <typename T>
Tensor<T> Tensor<T>::permute(const std::vector<std::int64_t>& order) const {
  detail::check_defined("permute", *this);
  const std::vector<std::int64_t> dims = detail::check_permutation("permute", order, shape());
  Shape new_shape(dims.size());
  Strides new_strides(dims.size());
  std::vector<std::int64_t> inverse(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto source = static_cast<std::size_t>(dims[i]);
    new_shape[i] = shape()[source];
    new_strides[i] = strides()[source];
    inverse[source] = static_cast<std::int64_t>(i);
  }
  Tensor<T> out = detail::make_view(*this, std::move(new_shape), std::move(new_strides), offset());
  // dL/dInput = dL/dOutput permuted by the inverse order (input dim order[i] came from output dim i)
  record_op<T>(out, "permute", {*this}, [inverse](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad.permute(inverse)};
  });
  return out;
}

// ---- windows --------------------------------------------------------------------------------

/// Elements start .. start + length - 1 along `dim` (a negative start counts from the end).
template <typename T>
Tensor<T> Tensor<T>::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  detail::check_defined("narrow", *this);
  const std::int64_t d = normalize_dim("narrow", dim, this->dim());
  const std::int64_t size = shape()[static_cast<std::size_t>(d)];
  const std::int64_t first = start < 0 ? start + size : start;
  if (first < 0 || first > size)
    throw ValueError("narrow: start " + std::to_string(start) + " is out of range for dimension " +
                     std::to_string(dim) + " of size " + std::to_string(size) + " (shape " + to_string(shape()) + ")");
  if (length < 0 || length > size - first)
    throw ValueError("narrow: start " + std::to_string(start) + " with length " + std::to_string(length) +
                     " does not fit in dimension " + std::to_string(dim) + " of size " + std::to_string(size) +
                     " (shape " + to_string(shape()) + ")");
  return detail::window_op("narrow", *this, d, first, length, 1);
}

/// Python's x[start:end:step] along `dim`: negative start/end count from the end, and both
/// are clamped to the dimension, so an out-of-range bound gives a shorter (or empty) slice.
template <typename T>
Tensor<T> Tensor<T>::slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) const {
  detail::check_defined("slice", *this);
  if (step <= 0)
    throw ValueError("slice: step must be >= 1, got " + std::to_string(step) +
                     " (negative steps are not supported; reverse with index_select instead)");
  const std::int64_t d = normalize_dim("slice", dim, this->dim());
  const std::int64_t size = shape()[static_cast<std::size_t>(d)];
  auto clamp_bound = [size](std::int64_t bound) {
    if (bound < 0) bound = bound < -size ? 0 : bound + size;
    return std::min(bound, size);
  };
  const std::int64_t first = clamp_bound(start), stop = clamp_bound(end);
  const std::int64_t length = stop > first ? (stop - first + step - 1) / step : 0;
  return detail::window_op("slice", *this, d, first, length, step);
}

// ---- devices --------------------------------------------------------------------------------

/// The tensor on `target`: itself when it is already there, else a copy.
template <typename T>
Tensor<T> Tensor<T>::to(Device target) const {
  detail::check_defined("to", *this);
  if (target == device()) return *this;
  Tensor<T> out = backend::copy_to_device(*this, target);
  // A copy to another device: dL/dInput = dL/dOutput moved back to the input's device
  record_op<T>(out, "to", {*this}, [source = device()](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    return std::vector<Tensor<T>>{grad.to(source)};
  });
  return out;
}

template <typename T>
std::vector<T> Tensor<T>::to_host_vector() const {
  return to(Device::cpu()).to_vector();  // to() is a no-op for a CPU tensor
}

// ---- free-function forms --------------------------------------------------------------------

template <TensorElement T>
Tensor<T> clone(const Tensor<T>& x) {
  return x.clone();
}
template <TensorElement T>
Tensor<T> contiguous(const Tensor<T>& x) {
  return x.contiguous();
}
template <TensorElement T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  return x.reshape(shape);
}
template <TensorElement T>
Tensor<T> view(const Tensor<T>& x, const Shape& shape) {
  return x.view(shape);
}
template <TensorElement T>
Tensor<T> flatten(const Tensor<T>& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1) {
  return x.flatten(start_dim, end_dim);
}
template <TensorElement T>
Tensor<T> squeeze(const Tensor<T>& x) {
  return x.squeeze();
}
template <TensorElement T>
Tensor<T> squeeze(const Tensor<T>& x, std::int64_t dim) {
  return x.squeeze(dim);
}
template <TensorElement T>
Tensor<T> unsqueeze(const Tensor<T>& x, std::int64_t dim) {
  return x.unsqueeze(dim);
}
template <TensorElement T>
Tensor<T> transpose(const Tensor<T>& x, std::int64_t dim0, std::int64_t dim1) {
  return x.transpose(dim0, dim1);
}
template <TensorElement T>
Tensor<T> permute(const Tensor<T>& x, const std::vector<std::int64_t>& order) {
  return x.permute(order);
}
template <TensorElement T>
Tensor<T> narrow(const Tensor<T>& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  return x.narrow(dim, start, length);
}
template <TensorElement T>
Tensor<T> slice(const Tensor<T>& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) {
  return x.slice(dim, start, end, step);
}

// ---- expand -----------------------------------------------------------------------------------

/// Broadcasts `x` to `shape` without copying: size-1 dims (and new leading dims) get stride 0,
/// so every index along them reads the same element. -1 keeps a dimension's size.
template <TensorElement T>
Tensor<T> expand(const Tensor<T>& x, const Shape& shape) {
  const std::string op = "expand";
  detail::check_defined(op, x);
  const Shape& from = x.shape();
  if (shape.size() < from.size())
    throw ShapeError(op + ": cannot expand shape " + to_string(from) + " to " + to_string(shape) +
                     ": the target has fewer dimensions");
  const std::size_t lead = shape.size() - from.size();
  Shape new_shape(shape.size());
  Strides new_strides(shape.size(), 0);
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::int64_t target = shape[d];
    if (d < lead) {
      if (target < 0)
        throw ShapeError(op + ": cannot expand shape " + to_string(from) + " to " + to_string(shape) +
                         ": new dimension " + std::to_string(d) +
                         " needs an explicit size (-1 only keeps an existing size)");
      new_shape[d] = target;
      continue;
    }
    const std::int64_t size = from[d - lead];
    if (target == -1 || target == size) {
      new_shape[d] = size;
      new_strides[d] = x.strides()[d - lead];
    } else if (size == 1 && target >= 0) {
      new_shape[d] = target;  // stride 0: repeat the single element
    } else {
      throw ShapeError(op + ": cannot expand shape " + to_string(from) + " to " + to_string(shape) + ": dimension " +
                       std::to_string(d) + " has size " + std::to_string(size) + ", which is neither 1 nor " +
                       std::to_string(target));
    }
  }
  check_valid_shape(op, new_shape);
  Tensor<T> out = detail::make_view(x, std::move(new_shape), std::move(new_strides), x.offset());
  // Each input element feeds every copy of it: dL/dInput = dL/dOutput summed over the repeats
  // (the engine does that sum when a gradient comes back at the broadcast shape)
  record_op<T>(out, op, {x},
               [](const Tensor<T>& grad, const std::vector<Tensor<T>>&) { return std::vector<Tensor<T>>{grad}; });
  return out;
}

// ---- index_select -----------------------------------------------------------------------------

/// The slices x[..., indices[k], ...] along `dim`, in the order of `indices` (repeats allowed).
/// Output shape: x's, with dimension `dim` of size indices.size(). On a CUDA device the indices
/// (checked here, on the host) are copied there.
template <TensorElement T>
Tensor<T> index_select(const Tensor<T>& x, std::int64_t dim, const std::vector<std::int64_t>& indices) {
  const std::string op = "index_select";
  detail::check_defined(op, x);
  const std::int64_t d = normalize_dim(op, dim, x.dim());
  const Shape& shape = x.shape();
  const std::int64_t size = shape[static_cast<std::size_t>(d)];
  for (std::size_t k = 0; k < indices.size(); ++k)
    if (indices[k] < 0 || indices[k] >= size)
      throw ValueError(op + ": index " + std::to_string(indices[k]) + " at position " + std::to_string(k) +
                       " is out of range for dimension " + std::to_string(dim) + " of size " + std::to_string(size) +
                       " (shape " + to_string(shape) + "); valid indices are " +
                       (size > 0 ? "0 to " + std::to_string(size - 1) : "none, the dimension is empty"));

  // View x as [outer, size, inner]: each selected index copies one block of `inner` elements
  // per outer position (backend::index_select_source finds it, on both devices).
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < d; ++i) outer *= shape[static_cast<std::size_t>(i)];
  for (auto i = static_cast<std::size_t>(d) + 1; i < shape.size(); ++i) inner *= shape[i];
  const auto count = static_cast<std::int64_t>(indices.size());
  Shape out_shape = shape;
  out_shape[static_cast<std::size_t>(d)] = count;

  const Tensor<T> source = x.is_contiguous() ? x : detail::copy_values(x);
  // The checked indices go to x's device once; the backward reuses them there.
  const IndexTensor device_indices = from_vector<std::int64_t>(indices, {count}).to(x.device());
  Tensor<T> out = backend::empty<T>(out_shape, x.device());
  backend::index_select_forward(source, device_indices, outer, size, inner, out);

  // Input slice indices[k] went to output slice k: dL/dInput[indices[k]] += dL/dOutput[k]
  // (an index-add, so a repeated index sums the gradients of all its copies)
  record_op<T>(
      out, op, {x},
      [device_indices, outer, size, inner, input_shape = shape](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
        const Tensor<T> dense_grad = grad.is_contiguous() ? grad : detail::copy_values(grad);
        Tensor<T> input_grad = backend::empty<T>(input_shape, grad.device());
        backend::index_select_backward(dense_grad, device_indices, outer, size, inner, input_grad);
        return std::vector<Tensor<T>>{input_grad};
      });
  return out;
}

/// index_select with the indices in a 1-D IndexTensor (e.g. token ids, argmax results). Indices
/// on a GPU come to the host to be checked (a small copy), so a bad index names its position.
template <TensorElement T>
Tensor<T> index_select(const Tensor<T>& x, std::int64_t dim, const IndexTensor& indices) {
  detail::check_defined("index_select", indices);
  if (indices.dim() != 1)
    throw ShapeError("index_select: indices must be a 1-D tensor, got shape " + to_string(indices.shape()));
  return index_select(x, dim, indices.to_host_vector());
}

/// index_select with the indices written in place: index_select(x, 0, {2, 0, 2}). (Without this
/// overload a braced list like {0} could also mean an IndexTensor, and the call is ambiguous.)
template <TensorElement T>
Tensor<T> index_select(const Tensor<T>& x, std::int64_t dim, std::initializer_list<std::int64_t> indices) {
  return index_select(x, dim, std::vector<std::int64_t>(indices));
}

// ---- concat and stack -------------------------------------------------------------------------

/// Joins tensors along an existing dimension `dim`; all other dimensions must agree.
template <TensorElement T>
Tensor<T> concat(const std::vector<Tensor<T>>& tensors, std::int64_t dim = 0) {
  const std::string op = "concat";
  if (tensors.empty()) throw ValueError(op + ": expected at least one tensor, got an empty list");
  for (const auto& tensor : tensors) detail::check_same_device(op, tensors[0], tensor);
  const Shape& first_shape = tensors[0].shape();
  const auto d = static_cast<std::size_t>(normalize_dim(op, dim, tensors[0].dim()));
  Shape out_shape = first_shape;
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Shape& shape = tensors[i].shape();
    bool fits = shape.size() == first_shape.size();
    for (std::size_t k = 0; fits && k < shape.size(); ++k) fits = k == d || shape[k] == first_shape[k];
    if (!fits)
      throw ShapeError(op + ": tensor " + std::to_string(i) + " has shape " + to_string(shape) +
                       " but tensor 0 has shape " + to_string(first_shape) + "; all dimensions except dimension " +
                       std::to_string(dim) + " must match");
    out_shape[d] += shape[d];
  }

  Tensor<T> out = backend::empty<T>(out_shape, tensors[0].device());
  std::vector<std::int64_t> starts;  // where each input begins along `dim` in the output
  std::int64_t start = 0;
  for (const auto& tensor : tensors) {
    starts.push_back(start);
    Tensor<T> window = detail::window_view(out, static_cast<std::int64_t>(d), start, tensor.shape()[d], 1);
    backend::map(window, backend::Identity{}, tensor);
    start += tensor.shape()[d];
  }

  // Each input is one window of the output: dL/dInput_i = dL/dOutput narrowed to window i
  record_op<T>(out, op, tensors, [starts, d](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
    std::vector<Tensor<T>> grads;
    for (std::size_t i = 0; i < inputs.size(); ++i)
      grads.push_back(detail::window_view(grad, static_cast<std::int64_t>(d), starts[i], inputs[i].shape()[d], 1));
    return grads;
  });
  return out;
}

template <TensorElement T>
Tensor<T> concat(std::initializer_list<Tensor<T>> tensors, std::int64_t dim = 0) {
  return concat(std::vector<Tensor<T>>(tensors), dim);
}

/// Another name for concat (PyTorch's torch.cat).
template <TensorElement T>
Tensor<T> cat(const std::vector<Tensor<T>>& tensors, std::int64_t dim = 0) {
  return concat(tensors, dim);
}
template <TensorElement T>
Tensor<T> cat(std::initializer_list<Tensor<T>> tensors, std::int64_t dim = 0) {
  return concat(std::vector<Tensor<T>>(tensors), dim);
}

/// Joins tensors of equal shape along a NEW dimension `dim` (e.g. a list of [3] rows -> [n,3]).
/// Built from unsqueeze + concat, whose backward already splits the gradient.
template <TensorElement T>
Tensor<T> stack(const std::vector<Tensor<T>>& tensors, std::int64_t dim = 0) {
  const std::string op = "stack";
  if (tensors.empty()) throw ValueError(op + ": expected at least one tensor, got an empty list");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    detail::check_defined(op, tensors[i]);
    if (tensors[i].shape() != tensors[0].shape())
      throw ShapeError(op + ": tensor " + std::to_string(i) + " has shape " + to_string(tensors[i].shape()) +
                       " but tensor 0 has shape " + to_string(tensors[0].shape()) + "; stack needs equal shapes");
  }
  const std::int64_t d = detail::normalize_new_dim(op, dim, tensors[0].dim());
  std::vector<Tensor<T>> expanded;
  expanded.reserve(tensors.size());
  for (const auto& tensor : tensors) expanded.push_back(tensor.unsqueeze(d));
  return concat(expanded, d);
}

template <TensorElement T>
Tensor<T> stack(std::initializer_list<Tensor<T>> tensors, std::int64_t dim = 0) {
  return stack(std::vector<Tensor<T>>(tensors), dim);
}

}  // namespace nabla
