// nabla/core/print.hpp - NumPy-like printing: std::cout << tensor.
//
// tensor([[ 1.0000,  2.0000],
//         [ 3.0000,  4.0000]], shape=[2,2])
// Tensors with more than 1000 elements show the first and last 3 entries of each dimension.
#pragma once

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "nabla/core/tensor.hpp"

namespace nabla {

namespace detail {

inline constexpr std::int64_t kPrintThreshold = 1000;
inline constexpr std::int64_t kPrintEdgeItems = 3;

template <typename T>
std::string format_element(T value) {
  char buffer[64];
  if constexpr (std::is_integral_v<T>) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.4f", static_cast<double>(value));
  }
  return buffer;
}

template <typename T>
void print_dimension(std::ostream& out, const T* base, const Shape& shape, const Strides& strides, std::size_t dim,
                     std::int64_t position, bool summarize, std::size_t width, std::size_t indent) {
  const std::int64_t size = shape[dim];
  const bool skip_middle = summarize && size > 2 * kPrintEdgeItems;
  out << "[";
  for (std::int64_t i = 0; i < size; ++i) {
    if (skip_middle && i == kPrintEdgeItems) {
      out << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = size - kPrintEdgeItems;
    }
    if (dim + 1 == shape.size()) {
      std::string text = format_element(base[position + i * strides[dim]]);
      out << std::string(width - text.size(), ' ') << text;
      if (i + 1 < size) out << ", ";
    } else {
      print_dimension(out, base, shape, strides, dim + 1, position + i * strides[dim], summarize, width, indent + 1);
      if (i + 1 < size) out << "," << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  out << "]";
}

}  // namespace detail

template <typename T>
std::ostream& operator<<(std::ostream& out, const Tensor<T>& tensor) {
  if (!tensor.defined()) return out << "tensor(undefined)";
  if (!tensor.device().is_cpu())
    return out << "tensor(shape=" << to_string(tensor.shape()) << ", device=" << tensor.device().str() << ")";
  const T* base = tensor.storage()->data();
  const bool summarize = tensor.numel() > detail::kPrintThreshold;
  out << "tensor(";
  if (tensor.dim() == 0) {
    out << detail::format_element(base[tensor.offset()]);
  } else if (tensor.numel() == 0) {
    out << "[]";
  } else {
    std::size_t width = 1;
    for (T value : tensor.to_vector()) width = std::max(width, detail::format_element(value).size());
    detail::print_dimension(out, base, tensor.shape(), tensor.strides(), 0, tensor.offset(), summarize, width, 7);
  }
  out << ", shape=" << to_string(tensor.shape());
  if (tensor.requires_grad()) out << ", requires_grad=true";
  return out << ")";
}

}  // namespace nabla
