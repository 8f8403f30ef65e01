// nabla/ops/checks.hpp - argument checks shared by all ops, with messages that name the op.
#pragma once

#include <string>

#include "nabla/backend/checks.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::detail {

template <typename T>
void check_defined(const std::string& op, const Tensor<T>& tensor) {
  if (!tensor.defined())
    throw ValueError(op + ": got an undefined tensor (a default-constructed Tensor, or grad() before backward())");
}

template <typename T>
void check_cpu(const std::string& op, const Tensor<T>& tensor) {
  check_defined(op, tensor);
  backend::require_cpu(tensor.device(), [&] {
    return op + ": tensor on " + tensor.device().str() + " is not supported by this op yet";
  });
}

/// Both operands must live on the same device; the message names both.
template <typename A, typename B>
void check_same_device(const std::string& op, const Tensor<A>& a, const Tensor<B>& b) {
  check_defined(op, a);
  check_defined(op, b);
  backend::require_same_device(a.device(), b.device(), [&] {
    return op + ": expected all tensors on the same device, got " + a.device().str() + " and " + b.device().str();
  });
}

}  // namespace nabla::detail
