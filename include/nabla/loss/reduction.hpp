// nabla/loss/reduction.hpp - what every loss shares: the Reduction, argument checks, and
// the helper that turns a per-element formula and its derivative into ONE graph node.
//
// A loss first computes one value per element (or per row, for the class losses), then
// reduces them: `mean` divides their sum by their count, `sum` adds them, `none` returns
// them as they are. The backward of a reduced loss hands every element the same upstream
// gradient (times 1/count for `mean`); the backward of `none` hands each element its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/softmax.hpp"  // detail::dense_values

namespace nabla::loss {

/// How a loss combines its per-element values: their mean (the default), their sum, or
/// no combination at all (one loss value per element, or per row for the class losses).
enum class Reduction { mean, sum, none };

inline std::string reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::mean:
      return "mean";
    case Reduction::sum:
      return "sum";
    case Reduction::none:
      return "none";
  }
  return "unknown";
}

namespace detail {

/// "[1,2]": the multi-index of the element at row-major position `linear` in `shape`.
inline std::string format_position(std::int64_t linear, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? linear % shape[d] : 0;
    linear = shape[d] > 0 ? linear / shape[d] : 0;
  }
  return to_string(Shape(index.begin(), index.end()));
}

/// Prediction and target must have exactly the same shape. Broadcasting is refused on
/// purpose: a [N,1] prediction against a [N] target would silently broadcast to [N,N].
template <typename T>
void check_same_shape(const std::string& loss, const Tensor<T>& prediction, const Tensor<T>& target) {
  nabla::detail::check_same_device(loss, prediction, target);
  if (prediction.shape() != target.shape())
    throw ShapeError(loss + ": prediction of shape " + to_string(prediction.shape()) + " and target of shape " +
                     to_string(target.shape()) + " differ; they must have the same shape (reshape one of them)");
}

/// Combines per-element losses: a rank-0 mean or sum, or the losses themselves for `none`.
/// `count` is the divisor of the mean (the number of elements, or of rows not ignored). The
/// sum stays on the losses' device (no copy back to the host per step) and is deterministic:
/// independent of the thread count.
template <typename T>
Tensor<T> reduce_losses(const Tensor<T>& losses, Reduction reduction, std::int64_t count) {
  if (reduction == Reduction::none) return losses;
  Tensor<T> result = backend::empty<T>(Shape{}, losses.device());
  backend::sum(losses, std::vector<bool>(losses.shape().size(), true), result);
  // mean of zero elements is 0/0 = NaN, as in PyTorch
  if (reduction == Reduction::mean) backend::map(result, backend::DivideScalar<T>{static_cast<T>(count)}, result);
  return result;
}

/// The factor each element's derivative is multiplied by: 1/count for `mean`, else 1.
template <typename T>
T reduction_scale(Reduction reduction, std::int64_t count) {
  return reduction == Reduction::mean && count > 0 ? T(1) / static_cast<T>(count) : T(1);
}

/// A loss of the form reduce(f(prediction_i, target_i)) as one graph node.
///   loss_value(x, y)           f at one element
///   prediction_derivative(x, y)  df/dx
///   target_derivative(x, y)      df/dy (used only when the target requires grad)
/// The backward is one pass: grad_x[i] = upstream[i] * scale * df/dx(x_i, y_i), where the
/// upstream gradient is one number for mean/sum and one per element for `none`.
template <typename T, typename Loss>
Tensor<T> elementwise_loss(const std::string& name, const Tensor<T>& prediction, const Tensor<T>& target,
                           Reduction reduction, const Loss& loss) {
  check_same_shape(name, prediction, target);
  Tensor<T> losses = backend::empty<T>(prediction.shape(), prediction.device());
  backend::map(losses, backend::LossValue<Loss>{loss}, prediction, target);
  const std::int64_t count = prediction.numel();
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  record_op<T>(
      out, name, {prediction, target},
      [scale, loss](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        const Tensor<T> x = inputs[0].detach(), y = inputs[1].detach();
        auto chain = [&grad, &x, &y](const auto& gradient_of_element) {
          Tensor<T> result = backend::empty<T>(x.shape(), x.device());
          backend::map(result, gradient_of_element, grad, x, y);
          return result;
        };
        return std::vector<Tensor<T>>{
            inputs[0].requires_grad() ? chain(backend::LossPredictionGradient<Loss, T>{loss, scale}) : Tensor<T>(),
            inputs[1].requires_grad() ? chain(backend::LossTargetGradient<Loss, T>{loss, scale}) : Tensor<T>()};
      },
      {prediction, target});
  return out;
}

/// Raised after a parallel pass flagged a bad value: scans (serially) for the first element
/// where `is_valid` fails and throws a ValueError naming its value and position.
template <typename T, typename IsValid>
void throw_first_invalid(const std::string& message_prefix, const std::string& requirement, const Tensor<T>& values,
                         const IsValid& is_valid) {
  const std::vector<T> flat = values.to_vector();
  for (std::size_t i = 0; i < flat.size(); ++i)
    if (!is_valid(flat[i])) {
      std::ostringstream text;
      text << message_prefix << " " << flat[i] << " at position "
           << format_position(static_cast<std::int64_t>(i), values.shape()) << " " << requirement;
      throw ValueError(text.str());
    }
}

/// Checks every value of `values` with `is_valid` in one (parallel) pass; throws naming the
/// first bad one. Used for probabilities in [0, 1] and labels in {-1, +1}.
template <typename T, typename IsValid>
void check_values(const std::string& message_prefix, const std::string& requirement, const Tensor<T>& values,
                  const IsValid& is_valid) {
  std::atomic<bool> all_valid{true};  // threads only ever clear it, so no lock is needed
  // Values on a GPU are checked on the host (one copy per call; to() is a no-op on the CPU).
  const Tensor<T> dense = nabla::detail::dense_values(values.to(Device::cpu()));
  const T* data = dense.data();
  backend::cpu::parallel_for(0, dense.numel(), kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      if (!is_valid(data[i])) {
        all_valid.store(false, std::memory_order_relaxed);
        return;
      }
  });
  if (!all_valid.load()) throw_first_invalid(message_prefix, requirement, dense, is_valid);
}

}  // namespace detail
}  // namespace nabla::loss
