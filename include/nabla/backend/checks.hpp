// nabla/backend/checks.hpp - device checks for the code above the backend.
//
// Only the backend looks at devices, so ops, the autograd engine and the data helpers ask
// here whether a tensor may be used where it is. Each check takes a callable that builds the
// error message, so the common case (the check passes) builds no string.
#pragma once

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"

namespace nabla::backend {

/// Throws DeviceError(message()) unless `device` is the CPU: for code that reads the elements
/// on the host and has no device implementation.
template <typename Message>
void require_cpu(Device device, const Message& message) {
  if (!device.is_cpu()) throw DeviceError(message());
}

/// Throws DeviceError(message()) unless `a` and `b` are the same device.
template <typename Message>
void require_same_device(Device a, Device b, const Message& message) {
  if (a != b) throw DeviceError(message());
}

}  // namespace nabla::backend
