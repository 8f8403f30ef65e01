// nabla/ops/reduce.hpp - reductions: sum, mean, var, max/min, argmax/argmin, logsumexp.
//
// A reduction folds the elements along some dims into one value per remaining position.
// With keepdim=false the folded dims disappear from the output's shape; with keepdim=true
// they stay with size 1 (so the result broadcasts against the input). A list of dims may
// use negative indices (-1 is the last); an empty list means every dim (like torch.sum(x,
// dim=[])). A rank-0 tensor accepts dim 0 or -1, as in PyTorch.
//
// On the CPU, forward passes go through backend::cpu::reduce_kernel, which uses threads on
// large tensors but always adds in the same order: results never depend on the thread count.
// On a GPU they run kernels/reduce.cu (one block per output element; a tree order).
//
// Backward of a reduction: every input element that was folded into output o receives
// (a multiple of) grad[o]. To send grad back we view it with the folded dims re-inserted
// as size 1 (with_reduced_dims_kept) and let map_kernel broadcast it to the input's shape.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/reduce.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"

namespace nabla {

namespace detail {

/// One flag per input dim: true where the reduction folds that dim. `dims` may be negative;
/// an empty list folds every dim. A dim out of range or listed twice is a ValueError.
inline std::vector<bool> reduced_dims(const std::string& op, const Shape& shape,
                                      const std::vector<std::int64_t>& dims) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  // A rank-0 tensor behaves like one element along a single dim 0 (PyTorch accepts dim 0 / -1).
  const std::int64_t accepted_rank = std::max<std::int64_t>(rank, 1);
  std::vector<bool> listed(static_cast<std::size_t>(accepted_rank), false);
  for (std::int64_t dim : dims) {
    const std::int64_t wrapped = dim < 0 ? dim + accepted_rank : dim;
    if (wrapped < 0 || wrapped >= accepted_rank)
      throw ValueError(op + ": dimension " + std::to_string(dim) + " is out of range for a tensor of shape " +
                       to_string(shape) + " (rank " + std::to_string(rank) + ")");
    if (listed[static_cast<std::size_t>(wrapped)])
      throw ValueError(op + ": dimension " + std::to_string(dim) + " appears more than once in dims " +
                       to_string(dims));
    listed[static_cast<std::size_t>(wrapped)] = true;
  }
  if (rank == 0) return {};
  if (dims.empty()) return std::vector<bool>(shape.size(), true);
  return listed;
}

/// The shape of a reduction's output: folded dims dropped, or kept with size 1.
inline Shape reduced_shape(const Shape& shape, const std::vector<bool>& reduced, bool keepdim) {
  Shape result;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d])
      result.push_back(shape[d]);
    else if (keepdim)
      result.push_back(1);
  }
  return result;
}

/// How many input elements are folded into each output element (N of a mean).
inline std::int64_t reduced_count(const Shape& shape, const std::vector<bool>& reduced) {
  std::int64_t count = 1;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (reduced[d]) count *= shape[d];
  return count;
}

/// `tensor`, shaped like a reduction's output, viewed with the input's rank: the folded dims
/// come back as size 1 so it broadcasts against the input. No copy: same storage, with a
/// stride inserted for each restored dim (any stride works along a size-1 dim).
template <typename T>
Tensor<T> with_reduced_dims_kept(const Tensor<T>& tensor, const Shape& input_shape, const std::vector<bool>& reduced,
                                 bool keepdim) {
  if (keepdim) return tensor;
  Shape shape;
  Strides strides;
  std::size_t source = 0;
  for (std::size_t d = 0; d < input_shape.size(); ++d) {
    if (reduced[d]) {
      shape.push_back(1);
      strides.push_back(0);
    } else {
      shape.push_back(tensor.shape()[source]);
      strides.push_back(tensor.strides()[source]);
      ++source;
    }
  }
  return Tensor<T>(tensor.storage(), shape, strides, tensor.offset());
}

/// grad of a reduction's output copied to every input position folded into it, times `scale`.
template <typename T>
Tensor<T> broadcast_back(const Tensor<T>& grad, const Shape& input_shape, const std::vector<bool>& reduced,
                         bool keepdim, T scale) {
  Tensor<T> result = backend::empty<T>(input_shape, grad.device());
  backend::map(result, backend::Scale<T>{scale}, with_reduced_dims_kept(grad, input_shape, reduced, keepdim));
  return result;
}

inline void check_not_empty(const std::string& op, const Shape& shape) {
  if (numel_of(shape) == 0)
    throw ValueError(op + ": the tensor of shape " + to_string(shape) + " is empty, so it has no " + op);
}

/// The index of `dim` after validation (0 for a rank-0 tensor), rejecting a dim of size 0.
inline std::int64_t checked_extreme_dim(const std::string& op, const Shape& shape, std::int64_t dim) {
  reduced_dims(op, shape, {dim});  // validates the range with a message naming the op
  if (shape.empty()) return 0;
  const std::int64_t wrapped = dim < 0 ? dim + static_cast<std::int64_t>(shape.size()) : dim;
  if (shape[static_cast<std::size_t>(wrapped)] == 0)
    throw ValueError(op + ": dimension " + std::to_string(dim) + " of the tensor of shape " + to_string(shape) +
                     " is empty, so it has no " + op + " along it");
  return wrapped;
}

/// Gradient of max/min along `dim`: grad[o] goes to the input position positions[o] along
/// `dim` in slice o; every other input element gets 0.
template <typename T>
Tensor<T> scatter_to_positions(const Tensor<T>& grad, const IndexTensor& positions, const Shape& input_shape,
                               std::int64_t dim) {
  // A contiguous copy of grad, so grad_values[o] lines up with positions[o].
  Tensor<T> grad_values = backend::empty<T>(positions.shape(), grad.device());
  backend::map(grad_values, backend::Identity{}, grad);
  Tensor<T> result = backend::empty<T>(input_shape, grad.device());

  // Output o = (outer, inner) where outer runs over dims before `dim` and inner over those after.
  std::int64_t inner_count = 1;
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < input_shape.size(); ++d) inner_count *= input_shape[d];
  const std::int64_t dim_size = input_shape.empty() ? 1 : input_shape[static_cast<std::size_t>(dim)];
  backend::scatter_to_positions(grad_values, positions, dim_size, inner_count, result);
  return result;
}

template <FloatingElement T>
Tensor<T> extreme_of_all(const std::string& op, const Tensor<T>& input, bool larger) {
  check_defined(op, input);
  check_not_empty(op, input.shape());
  const std::vector<bool> all(input.shape().size(), true);
  Tensor<T> out = backend::empty<T>(Shape{}, input.device());
  backend::extreme(op, input, all, larger, &out, static_cast<IndexTensor*>(nullptr));
  const T extreme = backend::item_on_host(out);
  // d max(x)/dx_i = 1/k for each of the k elements equal to the max, 0 elsewhere: ties share
  // the gradient evenly, like PyTorch's full max()/min(); when the max is NaN the NaNs share it.
  record_op<T>(out, op, {input},
               [extreme](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 return std::vector<Tensor<T>>{backend::share_among_extremes(inputs[0].detach(), extreme, grad)};
               },
               {input});
  return out;
}

template <FloatingElement T>
Tensor<T> extreme_along(const std::string& op, const Tensor<T>& input, std::int64_t dim, bool keepdim, bool larger) {
  check_defined(op, input);
  const std::int64_t axis = checked_extreme_dim(op, input.shape(), dim);
  const std::vector<bool> reduced = reduced_dims(op, input.shape(), {dim});
  Tensor<T> out = backend::empty<T>(reduced_shape(input.shape(), reduced, keepdim), input.device());
  IndexTensor positions = backend::empty<std::int64_t>(out.shape(), input.device());
  backend::extreme(op, input, reduced, larger, &out, &positions);
  // d max(x, dim)[o]/dx_i = 1 if x_i is the element the max was taken from (the first one on
  // ties, like PyTorch), else 0.
  record_op<T>(out, op, {input}, [positions, axis](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
    return std::vector<Tensor<T>>{scatter_to_positions(grad, positions, inputs[0].shape(), axis)};
  });
  return out;
}

template <TensorElement T>
IndexTensor arg_extreme_of_all(const std::string& op, const Tensor<T>& input, bool larger) {
  check_defined(op, input);
  check_not_empty(op, input.shape());
  IndexTensor out = backend::empty<std::int64_t>(Shape{}, input.device());
  backend::extreme(op, input, std::vector<bool>(input.shape().size(), true), larger, static_cast<Tensor<T>*>(nullptr),
                   &out);
  return out;
}

template <TensorElement T>
IndexTensor arg_extreme_along(const std::string& op, const Tensor<T>& input, std::int64_t dim, bool keepdim,
                              bool larger) {
  check_defined(op, input);
  checked_extreme_dim(op, input.shape(), dim);
  const std::vector<bool> reduced = reduced_dims(op, input.shape(), {dim});
  IndexTensor out = backend::empty<std::int64_t>(reduced_shape(input.shape(), reduced, keepdim), input.device());
  backend::extreme(op, input, reduced, larger, static_cast<Tensor<T>*>(nullptr), &out);
  return out;
}

}  // namespace detail

// ---- sum and mean -------------------------------------------------------------------------

/// Sum over `dims` (negative counts from the end; empty = every dim).
template <FloatingElement T>
Tensor<T> sum(const Tensor<T>& input, const std::vector<std::int64_t>& dims, bool keepdim = false) {
  detail::check_defined("sum", input);
  const std::vector<bool> reduced = detail::reduced_dims("sum", input.shape(), dims);
  Tensor<T> out = backend::empty<T>(detail::reduced_shape(input.shape(), reduced, keepdim), input.device());
  backend::sum(input, reduced, out);
  // d sum(x)[o]/dx_i = 1 for every x_i folded into o: grad[o] is copied back to each of them.
  record_op<T>(out, "sum", {input}, [reduced, keepdim](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
    return std::vector<Tensor<T>>{detail::broadcast_back(grad, inputs[0].shape(), reduced, keepdim, T(1))};
  });
  return out;
}

/// Sum of all elements (a rank-0 tensor; 0 for an empty tensor).
template <FloatingElement T>
Tensor<T> sum(const Tensor<T>& input) {
  return sum(input, std::vector<std::int64_t>{}, false);
}

/// Mean over `dims` (empty = every dim). The mean of zero elements is 0/0 = NaN, as in PyTorch.
template <FloatingElement T>
Tensor<T> mean(const Tensor<T>& input, const std::vector<std::int64_t>& dims, bool keepdim = false) {
  detail::check_defined("mean", input);
  const std::vector<bool> reduced = detail::reduced_dims("mean", input.shape(), dims);
  const auto count = static_cast<T>(detail::reduced_count(input.shape(), reduced));
  Tensor<T> out = backend::empty<T>(detail::reduced_shape(input.shape(), reduced, keepdim), input.device());
  backend::sum(input, reduced, out);
  backend::map(out, backend::DivideScalar<T>{count}, out);
  // d mean(x)[o]/dx_i = 1/N for each of the N elements x_i folded into o.
  record_op<T>(
      out, "mean", {input}, [reduced, keepdim, count](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        return std::vector<Tensor<T>>{detail::broadcast_back(grad, inputs[0].shape(), reduced, keepdim, T(1) / count)};
      });
  return out;
}

/// Mean of all elements (a rank-0 tensor; NaN for an empty tensor, like PyTorch).
template <FloatingElement T>
Tensor<T> mean(const Tensor<T>& input) {
  return mean(input, std::vector<std::int64_t>{}, false);
}

// ---- variance -----------------------------------------------------------------------------

/// Variance over `dims` (empty = every dim): sum((x - mean)^2) / (N - correction).
/// correction=1 (the default, like torch.var) gives the unbiased sample variance,
/// correction=0 the population variance. When N - correction <= 0 the divisor is 0 and the
/// result is NaN or inf, as in PyTorch.
template <FloatingElement T>
Tensor<T> var(const Tensor<T>& input, const std::vector<std::int64_t>& dims, double correction = 1.0,
              bool keepdim = false) {
  detail::check_defined("var", input);
  const std::vector<bool> reduced = detail::reduced_dims("var", input.shape(), dims);
  const double divisor = std::max(0.0, static_cast<double>(detail::reduced_count(input.shape(), reduced)) - correction);
  // Composed of differentiable ops, so autograd derives the gradient:
  // d var/dx_i = 2 (x_i - mean) / (N - correction)  (the path through the mean adds
  // -2/N * sum(x_j - mean) / (N - correction) = 0, since deviations from the mean sum to 0).
  const Tensor<T> centered = sub(input, mean(input, dims, /*keepdim=*/true));
  return mul(sum(mul(centered, centered), dims, keepdim), static_cast<T>(1.0 / divisor));
}

/// Unbiased variance of all elements (a rank-0 tensor).
template <FloatingElement T>
Tensor<T> var(const Tensor<T>& input) {
  return var(input, std::vector<std::int64_t>{}, 1.0, false);
}

// ---- max and min --------------------------------------------------------------------------

/// The largest element (rank-0). NaN if any element is NaN. ValueError on an empty tensor.
/// Its gradient is shared evenly among the elements equal to the max (PyTorch's rule).
template <FloatingElement T>
Tensor<T> max(const Tensor<T>& input) {
  return detail::extreme_of_all("max", input, /*larger=*/true);
}

/// The smallest element (rank-0); see max(input).
template <FloatingElement T>
Tensor<T> min(const Tensor<T>& input) {
  return detail::extreme_of_all("min", input, /*larger=*/false);
}

/// The largest value along `dim`. Its gradient goes to the element it came from (the first
/// on ties). ValueError if `dim` has size 0. Use argmax(input, dim) for the positions.
template <FloatingElement T>
Tensor<T> max(const Tensor<T>& input, std::int64_t dim, bool keepdim = false) {
  return detail::extreme_along("max", input, dim, keepdim, /*larger=*/true);
}

/// The smallest value along `dim`; see max(input, dim).
template <FloatingElement T>
Tensor<T> min(const Tensor<T>& input, std::int64_t dim, bool keepdim = false) {
  return detail::extreme_along("min", input, dim, keepdim, /*larger=*/false);
}

// ---- argmax and argmin (not differentiable: they return positions) ------------------------

/// Flat (row-major) index of the largest element: the first one on ties, the first NaN if
/// there is one (NaN counts as the maximum, like PyTorch). ValueError on an empty tensor.
template <TensorElement T>
IndexTensor argmax(const Tensor<T>& input) {
  return detail::arg_extreme_of_all("argmax", input, /*larger=*/true);
}

/// Flat index of the smallest element (first on ties; NaN counts as the minimum).
template <TensorElement T>
IndexTensor argmin(const Tensor<T>& input) {
  return detail::arg_extreme_of_all("argmin", input, /*larger=*/false);
}

/// Position along `dim` of the largest value of each slice (first on ties, NaN wins).
template <TensorElement T>
IndexTensor argmax(const Tensor<T>& input, std::int64_t dim, bool keepdim = false) {
  return detail::arg_extreme_along("argmax", input, dim, keepdim, /*larger=*/true);
}

/// Position along `dim` of the smallest value of each slice (first on ties, NaN wins).
template <TensorElement T>
IndexTensor argmin(const Tensor<T>& input, std::int64_t dim, bool keepdim = false) {
  return detail::arg_extreme_along("argmin", input, dim, keepdim, /*larger=*/false);
}

// ---- logsumexp ----------------------------------------------------------------------------

/// log(sum(exp(x))) along `dim`, computed stably as m + log(sum(exp(x - m))) with m the
/// slice's max, so exp never overflows. An empty slice gives -inf (the log of 0).
template <FloatingElement T>
Tensor<T> logsumexp(const Tensor<T>& input, std::int64_t dim, bool keepdim = false) {
  detail::check_defined("logsumexp", input);
  const std::vector<bool> reduced = detail::reduced_dims("logsumexp", input.shape(), {dim});
  const Shape kept_shape = detail::reduced_shape(input.shape(), reduced, /*keepdim=*/true);

  // 1. The shift m: each slice's max. An infinite max (all -inf, or some +inf) shifts by 0
  //    instead, since inf - inf would be NaN; those slices come out -inf / +inf exactly.
  const Device device = input.device();
  Tensor<T> shift = backend::empty<T>(kept_shape, device);
  backend::extreme("logsumexp", input, reduced, /*larger=*/true, &shift, static_cast<IndexTensor*>(nullptr));
  backend::map(shift, backend::FiniteOrZero{}, shift);
  // 2. sum(exp(x - m)): every term is at most 1, so the sum cannot overflow.
  Tensor<T> shifted_exp = backend::empty<T>(input.shape(), device);
  backend::map(shifted_exp, backend::ShiftedExp{}, input, shift);
  Tensor<T> out = backend::empty<T>(kept_shape, device);
  backend::sum(shifted_exp, reduced, out);
  // 3. log(sum(exp(x))) = m + log(sum(exp(x - m))).
  backend::map(out, backend::ShiftPlusLog{}, out, shift);
  // Dropping size-1 dims of a contiguous tensor keeps its row-major layout: reinterpret.
  const Shape out_shape = detail::reduced_shape(input.shape(), reduced, keepdim);
  out = Tensor<T>(out.storage(), out_shape, contiguous_strides(out_shape), 0);

  // d logsumexp(x)/dx_i = exp(x_i - logsumexp(x)) = softmax(x)_i
  record_op<T>(out, "logsumexp", {input},
               [reduced, keepdim, result = out.detach()](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Shape& shape = inputs[0].shape();
                 Tensor<T> gradient = backend::empty<T>(shape, grad.device());
                 backend::map(gradient, backend::LogSumExpBackward{}, inputs[0].detach(),
                              detail::with_reduced_dims_kept(result, shape, reduced, keepdim),
                              detail::with_reduced_dims_kept(grad, shape, reduced, keepdim));
                 return std::vector<Tensor<T>>{gradient};
               },
               {input, out});
  return out;
}

}  // namespace nabla
