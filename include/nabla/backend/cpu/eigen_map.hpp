// nabla/backend/cpu/eigen_map.hpp - viewing a 2-D tensor as an Eigen matrix without copying.
//
//   auto matrix = nabla::eigen_map(tensor);          // Eigen::Map over the tensor's memory
//   Eigen::VectorXf solution = matrix.colPivHouseholderQr().solve(rhs);
//
// The map honours the tensor's strides (a transposed view maps as a column-major matrix),
// so writes through it change the tensor. It records nothing for autograd.
#pragma once

#include <Eigen/Core>

#include "nabla/core/tensor.hpp"

namespace nabla {

template <typename T>
using EigenMatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
                                  Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
template <typename T>
using ConstEigenMatrixMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                                       Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

namespace detail {
template <typename T>
void check_matrix(const Tensor<T>& tensor) {
  if (!tensor.defined()) throw ValueError("eigen_map: undefined tensor");
  if (tensor.dim() != 2) throw ShapeError("eigen_map: expected a 2-D tensor, got shape " + to_string(tensor.shape()));
  if (!tensor.device().is_cpu()) throw DeviceError("eigen_map: tensor is on " + tensor.device().str());
}
}  // namespace detail

/// A writable Eigen view of a 2-D CPU tensor (rows = size(0), columns = size(1)).
template <typename T>
EigenMatrixMap<T> eigen_map(Tensor<T>& tensor) {
  detail::check_matrix(tensor);
  // Eigen's row-major Stride is (outer = row step, inner = column step).
  return EigenMatrixMap<T>(tensor.data(), tensor.size(0), tensor.size(1),
                           Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(tensor.strides()[0], tensor.strides()[1]));
}

/// A read-only Eigen view of a 2-D CPU tensor.
template <typename T>
ConstEigenMatrixMap<T> eigen_map(const Tensor<T>& tensor) {
  detail::check_matrix(tensor);
  return ConstEigenMatrixMap<T>(
      tensor.data(), tensor.size(0), tensor.size(1),
      Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(tensor.strides()[0], tensor.strides()[1]));
}

}  // namespace nabla
