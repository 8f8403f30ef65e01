// nabla/core/error.hpp - the exceptions nabla throws.
//
// Every error names the operation at fault and the shapes or values involved, so that a
// message like "matmul: [3,4] x [5,2]: inner dimensions 4 and 5 differ" tells the user
// what to fix without a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace nabla {

/// Base class of every exception thrown by nabla.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Shapes that do not fit together (wrong rank, mismatched dimensions, bad broadcast).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A value outside what an operation accepts (an index out of range, a negative size, NaN).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// Reading or writing a file failed, or a file is malformed.
class IOError : public Error {
 public:
  using Error::Error;
};

/// Tensors on different devices, or a device that is not available.
class DeviceError : public Error {
 public:
  using Error::Error;
};

}  // namespace nabla
