// nabla/backend/norm.hpp - sums of a function of every element, on any device: a gradient's
// share of a global norm (optim/clip.hpp) and the weight penalties (optim/regularization.hpp).
// The CPU reduces in place (backend/cpu/norm.hpp); a CUDA device maps each element's term and
// reduces it there, so only the final number (or nothing) comes back to the host.
#pragma once

#include <cstdint>
#include <vector>

#include "nabla/backend/cpu/norm.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"

namespace nabla::backend {

/// One gradient's share of a global norm of order norm_type, on the host as a double: the sum
/// of |g|^p, or max |g| for the infinity norm (NaN wins).
template <typename T>
double partial_norm(const Tensor<T>& gradient, double norm_type, bool infinity_norm) {
  if (gradient.device().is_cpu()) return cpu::partial_norm(gradient, norm_type, infinity_norm);
  // On the device: |g|^p (or |g|) elementwise in T, then one reduction; the partial comes back.
  const std::vector<bool> all(gradient.shape().size(), true);
  Tensor<T> powers = empty<T>(gradient.shape(), gradient.device());
  if (infinity_norm || norm_type == 1.0)
    map(powers, Abs{}, gradient);
  else if (norm_type == 2.0)
    map(powers, Square{}, gradient);
  else
    map(powers, AbsPower<T>{static_cast<T>(norm_type)}, gradient);
  Tensor<T> partial = empty<T>(Shape{}, gradient.device());
  if (infinity_norm) {
#if defined(NABLA_WITH_CUDA)
    IndexTensor position = empty<std::int64_t>(Shape{}, gradient.device());
    cuda::extreme(device_data(powers), cuda_detail::reduce_arguments("clip_grad_norm_", powers, all),
                  /*larger=*/true, device_data(partial), device_data(position));
#else
    throw_no_cuda("clip_grad_norm_", gradient.device());
#endif
  } else {
    sum(powers, all, partial);
  }
  return static_cast<double>(item_on_host(partial));
}

/// sum over every element w of every tensor of term(w) (a functor of backend/functors.hpp), as
/// a rank-0 tensor on the tensors' device (the CPU when there are none); all on one device.
template <typename T, typename Term>
Tensor<T> sum_of_terms(const std::vector<Tensor<T>>& tensors, const Term& term) {
  if (tensors.empty() || tensors[0].device().is_cpu()) {
    Tensor<T> out{Shape{}};
    *out.data() = cpu::sum_of_terms(tensors, term);
    return out;
  }
  // One map (term of each element) and one device sum per tensor; the partial sums are added
  // on the device, so nothing comes back to the host.
  const Device device = tensors[0].device();
  Tensor<T> out = empty<T>(Shape{}, device);
  map(out, Fill<T>{T(0)});
  for (const auto& tensor : tensors) {
    Tensor<T> terms = empty<T>(tensor.shape(), device);
    map(terms, term, tensor);
    Tensor<T> partial = empty<T>(Shape{}, device);
    sum(terms, std::vector<bool>(tensor.shape().size(), true), partial);
    map(out, Add{}, out, partial);
  }
  return out;
}

}  // namespace nabla::backend
