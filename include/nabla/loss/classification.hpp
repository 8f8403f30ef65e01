// nabla/loss/classification.hpp - losses over C classes with class-id targets:
// cross-entropy from logits, negative log-likelihood from log-probabilities, and the
// multi-class margin (hinge) loss.
//
// Layout: the classes are the LAST dimension. Logits of shape [N, C] take targets of shape
// [N]; any [..., C] takes targets [...] (e.g. a sequence model's [B, L, C] with [B, L]).
// (PyTorch puts the classes in dimension 1 for rank > 2; for [N, C] both agree.)
// A target equal to `ignore_index` (padding) contributes nothing, and `mean` divides by
// the number of targets that are not ignored, like PyTorch.
//
// cross_entropy is ONE fused op, not log_softmax followed by nll: per row it finds the
// max, the log-sum-exp and the loss in one pass over the logits, keeps only the row's
// log-sum-exp, and its backward writes (softmax - smoothed one-hot) * upstream in one pass.
#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/backend/class_losses.hpp"
#include "nabla/loss/reduction.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::loss {

namespace detail {

/// Class ids, one per row, in row-major order of the target shape: a contiguous tensor on the
/// host, copied from the targets (so changing them after the forward pass cannot change the
/// backward) and checked there, so a bad id names its position.
using ClassIds = IndexTensor;

/// Checks that `input` is [..., C] with C >= 1 and the targets are [...]; returns C.
template <typename T>
std::int64_t check_class_layout(const std::string& loss, const Tensor<T>& input, const Shape& target_shape) {
  nabla::detail::check_defined(loss, input);
  const Shape& shape = input.shape();
  if (shape.empty())
    throw ShapeError(loss + ": input of shape " + to_string(shape) +
                     " has no class dimension; expected [N, C] (classes last)");
  const Shape expected(shape.begin(), shape.end() - 1);
  if (target_shape != expected)
    throw ShapeError(loss + ": input of shape " + to_string(shape) + " needs targets of shape " + to_string(expected) +
                     " (one class id per row, classes last), got targets of shape " + to_string(target_shape));
  if (shape.back() == 0) throw ShapeError(loss + ": input of shape " + to_string(shape) + " has zero classes");
  return shape.back();
}

/// Every id must be in [0, classes) or equal `ignore_index`; the error names the first bad
/// id and where it is.
inline void check_class_ids(const std::string& loss, const ClassIds& ids, const Shape& target_shape,
                            std::int64_t classes, bool has_ignore_index, std::int64_t ignore_index) {
  const std::int64_t* values = ids.data();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    const std::int64_t id = values[i];
    if (has_ignore_index && id == ignore_index) continue;
    if (id < 0 || id >= classes)
      throw ValueError(loss + ": class index " + std::to_string(id) + " at position " +
                       format_position(i, target_shape) + " is out of range [0, " + std::to_string(classes) + ")" +
                       (has_ignore_index ? " and is not ignore_index (" + std::to_string(ignore_index) + ")" : ""));
  }
}

inline ClassIds ids_from_index_tensor(const std::string& loss, const IndexTensor& targets) {
  nabla::detail::check_defined(loss, targets);
  // Ids on a GPU come to the host to be checked (a small copy), so a bad id names its position.
  return nabla::detail::copy_values(targets.to(Device::cpu()));
}

/// Class ids stored in a float tensor (what a Sequential pipeline carries): each value must
/// be a whole number.
template <FloatingElement T>
ClassIds ids_from_values(const std::string& loss, const Tensor<T>& targets) {
  nabla::detail::check_defined(loss, targets);
  const std::vector<T> values = targets.to_host_vector();
  ClassIds ids(targets.shape());
  std::int64_t* out = ids.data();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const T value = values[i];
    // 2^53 bounds the whole numbers a double holds exactly (and keeps the cast defined)
    if (!(std::abs(value) < T(9007199254740992.0)) || value != std::floor(value)) {
      std::ostringstream text;
      text << loss << ": target value " << value << " at position "
           << format_position(static_cast<std::int64_t>(i), targets.shape()) << " is not a whole-number class id";
      throw ValueError(text.str());
    }
    out[i] = static_cast<std::int64_t>(value);
  }
  return ids;
}

inline std::int64_t count_not_ignored(const ClassIds& ids, bool has_ignore_index, std::int64_t ignore_index) {
  std::int64_t count = 0;
  const std::int64_t* values = ids.data();
  for (std::int64_t i = 0; i < ids.numel(); ++i) count += (has_ignore_index && values[i] == ignore_index) ? 0 : 1;
  return count;
}

/// The fused softmax + cross-entropy. With q = (1 - s) onehot(y) + s / C (label smoothing s)
/// and lse = log sum_c exp(x_c), per row:
///   loss = -sum_c q_c log softmax(x)_c = lse - (1 - s) x_y - (s / C) sum_c x_c
///   dloss/dx_c = softmax(x)_c - q_c = exp(x_c - lse) - q_c
/// One pass over the logits finds each row's max, log-sum-exp and loss; only the row's max and
/// log sum exp(x - max) are kept (apart: backend::cross_entropy_row_loss), and the backward
/// writes (softmax - q) * upstream in one pass.
template <FloatingElement T>
Tensor<T> fused_cross_entropy(const Tensor<T>& logits, const ClassIds& ids, const Shape& target_shape,
                              Reduction reduction, std::int64_t ignore_index, double label_smoothing) {
  const std::string name = "cross_entropy";
  const std::int64_t classes = check_class_layout(name, logits, target_shape);
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw ValueError(name + ": label_smoothing must be in [0, 1], got " + std::to_string(label_smoothing));
  check_class_ids(name, ids, target_shape, classes, true, ignore_index);

  const T on_target = T(1) - static_cast<T>(label_smoothing);                     // the one-hot part of q
  const T per_class = static_cast<T>(label_smoothing) / static_cast<T>(classes);  // the uniform part of q
  const Device device = logits.device();
  const Tensor<T> values = nabla::detail::dense_values(logits);
  const IndexTensor device_ids = ids.to(device);  // the checked ids go to the device once
  // all the backward needs besides the logits: per row the max and log sum exp(x - max)
  Tensor<T> row_max_log_sum = backend::empty<T>({ids.numel(), 2}, device);
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::cross_entropy_forward(values, device_ids, ignore_index, on_target, per_class, losses, row_max_log_sum);

  const std::int64_t count = count_not_ignored(ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dlogits[r, c] = (softmax(x_r)_c - q_rc) * upstream_r * scale, zero for ignored rows
  record_op<T>(out, name, {logits},
               [device_ids, row_max_log_sum, reduction, scale, ignore_index, on_target, per_class](
                   const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> x = nabla::detail::dense_values(inputs[0].detach());
                 const Tensor<T> upstream = nabla::detail::dense_values(grad);
                 Tensor<T> result = backend::empty<T>(x.shape(), x.device());
                 backend::cross_entropy_backward(x, device_ids, row_max_log_sum, upstream, reduction == Reduction::none,
                                                 scale, ignore_index, on_target, per_class, result);
                 return std::vector<Tensor<T>>{result};
               },
               {logits});
  return out;
}

/// Negative log-likelihood of log-probabilities: loss = -input[row, target].
template <FloatingElement T>
Tensor<T> negative_log_likelihood(const Tensor<T>& log_probabilities, const ClassIds& ids, const Shape& target_shape,
                                  Reduction reduction, std::int64_t ignore_index) {
  const std::string name = "nll";
  const std::int64_t classes = check_class_layout(name, log_probabilities, target_shape);
  check_class_ids(name, ids, target_shape, classes, true, ignore_index);
  const Device device = log_probabilities.device();
  const Tensor<T> values = nabla::detail::dense_values(log_probabilities);
  const IndexTensor device_ids = ids.to(device);  // the checked ids go to the device once
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::nll_forward(values, device_ids, ignore_index, losses);
  const std::int64_t count = count_not_ignored(ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dinput[r, c] = -upstream_r * scale where c = target_r, else 0
  record_op<T>(
      out, name, {log_probabilities},
      [device_ids, reduction, scale, ignore_index](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        const Tensor<T> upstream = nabla::detail::dense_values(grad);
        Tensor<T> result = backend::empty<T>(inputs[0].shape(), inputs[0].device());
        backend::nll_backward(device_ids, upstream, reduction == Reduction::none, scale, ignore_index, result);
        return std::vector<Tensor<T>>{result};
      });
  return out;
}

/// PyTorch's MultiMarginLoss: per row with target y,
///   loss = sum_{j != y} max(0, margin - x_y + x_j)^p / C
///   dloss/dx_j = [term_j > 0] * (p == 1 ? 1 : 2 term_j) / C, and dloss/dx_y = -(sum of those)
template <FloatingElement T>
Tensor<T> multi_class_margin(const Tensor<T>& input, const ClassIds& ids, const Shape& target_shape,
                             Reduction reduction, double margin, int p) {
  const std::string name = "multi_margin";
  const std::int64_t classes = check_class_layout(name, input, target_shape);
  if (p != 1 && p != 2) throw ValueError(name + ": p must be 1 or 2, got " + std::to_string(p));
  if (!std::isfinite(margin)) throw ValueError(name + ": margin must be finite, got " + std::to_string(margin));
  check_class_ids(name, ids, target_shape, classes, false, 0);
  const Device device = input.device();
  const Tensor<T> values = nabla::detail::dense_values(input);
  const IndexTensor device_ids = ids.to(device);  // the checked ids go to the device once
  const auto rows = ids.numel();
  const T margin_value = static_cast<T>(margin);
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::multi_margin_forward(values, device_ids, margin_value, p, losses);
  Tensor<T> out = reduce_losses(losses, reduction, rows);
  const T scale = reduction_scale<T>(reduction, rows);
  // dloss/dx_j = [term_j > 0] (p == 1 ? 1 : 2 term_j) / C * upstream * scale, dloss/dx_y = -(sum of those)
  record_op<T>(
      out, name, {input},
      [device_ids, reduction, scale, margin_value, p](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        const Tensor<T> scores = nabla::detail::dense_values(inputs[0].detach());
        const Tensor<T> upstream = nabla::detail::dense_values(grad);
        Tensor<T> result = backend::empty<T>(scores.shape(), scores.device());
        backend::multi_margin_backward(scores, device_ids, upstream, reduction == Reduction::none, scale, margin_value,
                                       p, result);
        return std::vector<Tensor<T>>{result};
      },
      {input});
  return out;
}

}  // namespace detail

// ---- functions ---------------------------------------------------------------------------

/// Cross-entropy of raw scores (logits, [..., C]) against class ids ([...]), with a stable
/// log-sum-exp. Rows whose target equals `ignore_index` are skipped (and not counted by
/// `mean`). label_smoothing s mixes the one-hot target with the uniform distribution:
/// q = (1 - s) onehot + s / C, as in PyTorch.
template <FloatingElement T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const IndexTensor& targets, Reduction reduction = Reduction::mean,
                        std::int64_t ignore_index = -100, double label_smoothing = 0.0) {
  nabla::detail::check_same_device("cross_entropy", logits, targets);
  return detail::fused_cross_entropy(logits, detail::ids_from_index_tensor("cross_entropy", targets), targets.shape(),
                                     reduction, ignore_index, label_smoothing);
}

/// The same with class ids stored as whole numbers in a float tensor.
template <FloatingElement T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Tensor<T>& targets, Reduction reduction = Reduction::mean,
                        std::int64_t ignore_index = -100, double label_smoothing = 0.0) {
  nabla::detail::check_same_device("cross_entropy", logits, targets);
  return detail::fused_cross_entropy(logits, detail::ids_from_values("cross_entropy", targets), targets.shape(),
                                     reduction, ignore_index, label_smoothing);
}

/// Negative log-likelihood of log-probabilities ([..., C], e.g. a LogSoftmax output)
/// against class ids: loss = -log_probabilities[row, target]. cross_entropy(x) equals
/// nll(log_softmax(x)), but cross_entropy is faster and more stable.
template <FloatingElement T>
Tensor<T> nll(const Tensor<T>& log_probabilities, const IndexTensor& targets, Reduction reduction = Reduction::mean,
              std::int64_t ignore_index = -100) {
  nabla::detail::check_same_device("nll", log_probabilities, targets);
  return detail::negative_log_likelihood(log_probabilities, detail::ids_from_index_tensor("nll", targets),
                                         targets.shape(), reduction, ignore_index);
}

template <FloatingElement T>
Tensor<T> nll(const Tensor<T>& log_probabilities, const Tensor<T>& targets, Reduction reduction = Reduction::mean,
              std::int64_t ignore_index = -100) {
  nabla::detail::check_same_device("nll", log_probabilities, targets);
  return detail::negative_log_likelihood(log_probabilities, detail::ids_from_values("nll", targets), targets.shape(),
                                         reduction, ignore_index);
}

/// Multi-class hinge loss of scores ([..., C]) against class ids (PyTorch's MultiMarginLoss):
/// every wrong class j scoring within `margin` of the true class y costs
/// max(0, margin - x_y + x_j)^p, summed and divided by C. p is 1 (default) or 2.
template <FloatingElement T>
Tensor<T> multi_margin(const Tensor<T>& scores, const IndexTensor& targets, Reduction reduction = Reduction::mean,
                       double margin = 1.0, int p = 1) {
  nabla::detail::check_same_device("multi_margin", scores, targets);
  return detail::multi_class_margin(scores, detail::ids_from_index_tensor("multi_margin", targets), targets.shape(),
                                    reduction, margin, p);
}

template <FloatingElement T>
Tensor<T> multi_margin(const Tensor<T>& scores, const Tensor<T>& targets, Reduction reduction = Reduction::mean,
                       double margin = 1.0, int p = 1) {
  nabla::detail::check_same_device("multi_margin", scores, targets);
  return detail::multi_class_margin(scores, detail::ids_from_values("multi_margin", targets), targets.shape(),
                                    reduction, margin, p);
}

// ---- functor objects ---------------------------------------------------------------------

/// Cross-entropy as an object: `nb::loss::CrossEntropy{.ignore_index = 0, .label_smoothing = 0.1}`.
struct CrossEntropy {
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& logits, const IndexTensor& targets) const {
    return cross_entropy(logits, targets, reduction, ignore_index, label_smoothing);
  }
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& targets) const {
    return cross_entropy(logits, targets, reduction, ignore_index, label_smoothing);
  }
  std::string name() const { return "cross_entropy"; }
};

/// Negative log-likelihood as an object.
struct NegativeLogLikelihood {
  std::int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& log_probabilities, const IndexTensor& targets) const {
    return nll(log_probabilities, targets, reduction, ignore_index);
  }
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& log_probabilities, const Tensor<T>& targets) const {
    return nll(log_probabilities, targets, reduction, ignore_index);
  }
  std::string name() const { return "nll"; }
};
using NLL = NegativeLogLikelihood;

/// Multi-class margin loss as an object.
struct MultiMargin {
  double margin = 1.0;
  int p = 1;
  Reduction reduction = Reduction::mean;
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& scores, const IndexTensor& targets) const {
    return multi_margin(scores, targets, reduction, margin, p);
  }
  template <FloatingElement T>
  Tensor<T> operator()(const Tensor<T>& scores, const Tensor<T>& targets) const {
    return multi_margin(scores, targets, reduction, margin, p);
  }
  std::string name() const { return "multi_margin"; }
};

}  // namespace nabla::loss
