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

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/loss/reduction.hpp"

namespace nabla::loss {

namespace detail {

/// Rows per thread below which a per-row loop over `classes` columns is not worth splitting.
inline std::int64_t row_grain(std::int64_t classes) {
  return std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(classes, 1));
}

/// Class ids, one per row, in row-major order of the target shape.
using ClassIds = std::shared_ptr<const std::vector<std::int64_t>>;

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
inline void check_class_ids(const std::string& loss, const std::vector<std::int64_t>& ids, const Shape& target_shape,
                            std::int64_t classes, bool has_ignore_index, std::int64_t ignore_index) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t id = ids[i];
    if (has_ignore_index && id == ignore_index) continue;
    if (id < 0 || id >= classes)
      throw ValueError(loss + ": class index " + std::to_string(id) + " at position " +
                       format_position(static_cast<std::int64_t>(i), target_shape) + " is out of range [0, " +
                       std::to_string(classes) + ")" +
                       (has_ignore_index ? " and is not ignore_index (" + std::to_string(ignore_index) + ")" : ""));
  }
}

inline ClassIds ids_from_index_tensor(const std::string& loss, const IndexTensor& targets) {
  nabla::detail::check_defined(loss, targets);
  // Ids on a GPU come to the host to be checked (a small copy), so a bad id names its position.
  return std::make_shared<const std::vector<std::int64_t>>(targets.to_host_vector());
}

/// Class ids stored in a float tensor (what a Sequential pipeline carries): each value must
/// be a whole number.
template <FloatingElement T>
ClassIds ids_from_values(const std::string& loss, const Tensor<T>& targets) {
  nabla::detail::check_defined(loss, targets);
  const std::vector<T> values = targets.to_host_vector();
  std::vector<std::int64_t> ids(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const T value = values[i];
    // 2^53 bounds the whole numbers a double holds exactly (and keeps the cast defined)
    if (!(std::abs(value) < T(9007199254740992.0)) || value != std::floor(value)) {
      std::ostringstream text;
      text << loss << ": target value " << value << " at position "
           << format_position(static_cast<std::int64_t>(i), targets.shape()) << " is not a whole-number class id";
      throw ValueError(text.str());
    }
    ids[i] = static_cast<std::int64_t>(value);
  }
  return std::make_shared<const std::vector<std::int64_t>>(std::move(ids));
}

inline std::int64_t count_not_ignored(const std::vector<std::int64_t>& ids, bool has_ignore_index,
                                      std::int64_t ignore_index) {
  std::int64_t count = 0;
  for (std::int64_t id : ids) count += (has_ignore_index && id == ignore_index) ? 0 : 1;
  return count;
}

/// The upstream gradient of row r: one number for mean/sum, one per row for `none`.
template <typename T>
T upstream_of_row(const T* grad, Reduction reduction, std::int64_t row) {
  return reduction == Reduction::none ? grad[row] : grad[0];
}

/// fused_cross_entropy for logits on a CUDA device (kernels/softmax.cu): the checked ids go to
/// the device, one block per row computes the log-sum-exp and the loss, and the backward
/// writes (softmax - q) * upstream in one elementwise pass.
template <FloatingElement T>
Tensor<T> fused_cross_entropy_on_device(const Tensor<T>& values, const ClassIds& ids, const Shape& target_shape,
                                        Reduction reduction, std::int64_t ignore_index, std::int64_t classes,
                                        T on_target, T per_class) {
  const Device device = values.device();
#if defined(NABLA_WITH_CUDA)
  const auto rows = static_cast<std::int64_t>(ids->size());
  const IndexTensor device_ids = from_vector<std::int64_t>(*ids, {rows}).to(device);
  Tensor<T> log_sum_exp = backend::empty<T>({rows}, device);
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::cuda::cross_entropy_forward(backend::device_data(values), backend::device_data(device_ids), rows, classes,
                                       ignore_index, on_target, per_class, backend::device_data(losses),
                                       backend::device_data(log_sum_exp), device.index());
  const std::int64_t count = count_not_ignored(*ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dlogits[r, c] = (softmax(x_r)_c - q_rc) * upstream_r * scale, zero for ignored rows
  record_op<T>(out, "cross_entropy", {values},
               [device_ids, log_sum_exp, reduction, scale, rows, classes, ignore_index, on_target, per_class](
                   const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> logits = inputs[0].detach();
                 const Tensor<T> upstream = nabla::detail::dense_values(grad);
                 Tensor<T> result = backend::empty<T>(logits.shape(), logits.device());
                 backend::cuda::cross_entropy_backward(
                     backend::device_data(logits), backend::device_data(device_ids), backend::device_data(log_sum_exp),
                     backend::device_data(upstream), reduction == Reduction::none, scale, rows, classes, ignore_index,
                     on_target, per_class, backend::device_data(result), logits.device().index());
                 return std::vector<Tensor<T>>{result};
               },
               {values});
  return out;
#else
  (void)ids, (void)target_shape, (void)reduction, (void)ignore_index, (void)classes, (void)on_target, (void)per_class;
  backend::throw_no_cuda("cross_entropy", device);
#endif
}

/// The fused softmax + cross-entropy. With q = (1 - s) onehot(y) + s / C (label smoothing s)
/// and lse = log sum_c exp(x_c), per row:
///   loss = -sum_c q_c log softmax(x)_c = lse - (1 - s) x_y - (s / C) sum_c x_c
///   dloss/dx_c = softmax(x)_c - q_c = exp(x_c - lse) - q_c
template <FloatingElement T>
Tensor<T> fused_cross_entropy(const Tensor<T>& logits, const ClassIds& ids, const Shape& target_shape,
                              Reduction reduction, std::int64_t ignore_index, double label_smoothing) {
  const std::string name = "cross_entropy";
  const std::int64_t classes = check_class_layout(name, logits, target_shape);
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw ValueError(name + ": label_smoothing must be in [0, 1], got " + std::to_string(label_smoothing));
  check_class_ids(name, *ids, target_shape, classes, true, ignore_index);

  const auto rows = static_cast<std::int64_t>(ids->size());
  const T on_target = T(1) - static_cast<T>(label_smoothing);                     // the one-hot part of q
  const T per_class = static_cast<T>(label_smoothing) / static_cast<T>(classes);  // the uniform part of q
  const Tensor<T> values = nabla::detail::dense_values(logits);
  if (logits.device().is_cuda())
    return fused_cross_entropy_on_device(values, ids, target_shape, reduction, ignore_index, classes, on_target,
                                         per_class);
  const T* x = values.data();
  const std::int64_t* id = ids->data();
  Tensor<T> log_sum_exp(Shape{rows});  // all the backward needs besides the logits
  Tensor<T> losses(target_shape);
  T* row_lse = log_sum_exp.data();
  T* loss = losses.data();

  backend::cpu::parallel_for(0, rows, row_grain(classes), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      if (id[r] == ignore_index) {
        loss[r] = T(0);
        row_lse[r] = T(0);
        continue;
      }
      const T* row = x + r * classes;
      // Eigen arrays: the exps run 8 floats per instruction (a scalar std::exp loop was
      // a quarter of a language model's training step, measured with perf).
      const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> row_values(row, classes);
      const T row_max = row_values.maxCoeff();
      // subtracting the max keeps every exp <= 1: no overflow even for logits of 1000
      const T exp_sum = (row_values - row_max).exp().sum();
      const T logit_sum = per_class == T(0) ? T(0) : row_values.sum();
      row_lse[r] = row_max + std::log(exp_sum);
      loss[r] = row_lse[r] - on_target * row[id[r]] - per_class * logit_sum;
    }
  });

  const std::int64_t count = count_not_ignored(*ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dlogits[r, c] = (softmax(x_r)_c - q_rc) * upstream_r * scale, zero for ignored rows
  record_op<T>(
      out, name, {logits},
      [ids, log_sum_exp, reduction, scale, classes, ignore_index, on_target, per_class](
          const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        const Tensor<T> values = nabla::detail::dense_values(inputs[0].detach());
        const Tensor<T> upstream = nabla::detail::dense_values(grad);
        Tensor<T> result(values.shape());
        const T* x = values.data();
        const T* g = upstream.data();
        const T* lse = log_sum_exp.data();
        const std::int64_t* id = ids->data();
        T* dx = result.data();
        const auto rows = static_cast<std::int64_t>(ids->size());
        backend::cpu::parallel_for(0, rows, row_grain(classes), [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t r = begin; r < end; ++r) {
            T* out_row = dx + r * classes;
            const T* row = x + r * classes;
            if (id[r] == ignore_index) {
              for (std::int64_t c = 0; c < classes; ++c) out_row[c] = T(0);
              continue;
            }
            const T row_gradient = upstream_of_row(g, reduction, r) * scale;
            // softmax(x_r)_c = exp(x_rc - logsumexp(x_r)), vectorized as above
            Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out_row, classes) =
                ((Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(row, classes) - lse[r]).exp() - per_class) *
                row_gradient;
            out_row[id[r]] -= on_target * row_gradient;
          }
        });
        return std::vector<Tensor<T>>{result};
      },
      {logits});
  return out;
}

/// negative_log_likelihood for log-probabilities on a CUDA device (kernels/class_losses.cu):
/// the checked ids go to the device once, one thread per row picks the loss, and the backward
/// writes each row's one nonzero gradient (and the zeros) in one elementwise pass.
template <FloatingElement T>
Tensor<T> negative_log_likelihood_on_device(const Tensor<T>& log_probabilities, const Tensor<T>& values,
                                            const ClassIds& ids, const Shape& target_shape, Reduction reduction,
                                            std::int64_t ignore_index, std::int64_t classes) {
  const Device device = values.device();
#if defined(NABLA_WITH_CUDA)
  const auto rows = static_cast<std::int64_t>(ids->size());
  const IndexTensor device_ids = from_vector<std::int64_t>(*ids, {rows}).to(device);
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::cuda::nll_forward(backend::device_data(values), backend::device_data(device_ids), rows, classes,
                             ignore_index, backend::device_data(losses), device.index());
  const std::int64_t count = count_not_ignored(*ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dinput[r, c] = -upstream_r * scale where c = target_r, else 0
  record_op<T>(out, "nll", {log_probabilities},
               [device_ids, reduction, scale, rows, classes, ignore_index](const Tensor<T>& grad,
                                                                           const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> upstream = nabla::detail::dense_values(grad);
                 Tensor<T> result = backend::empty<T>(inputs[0].shape(), inputs[0].device());
                 backend::cuda::nll_backward(backend::device_data(device_ids), backend::device_data(upstream),
                                             reduction == Reduction::none, scale, rows, classes, ignore_index,
                                             backend::device_data(result), inputs[0].device().index());
                 return std::vector<Tensor<T>>{result};
               });
  return out;
#else
  (void)log_probabilities, (void)ids, (void)target_shape, (void)reduction, (void)ignore_index, (void)classes;
  backend::throw_no_cuda("nll", device);
#endif
}

/// Negative log-likelihood of log-probabilities: loss = -input[row, target].
template <FloatingElement T>
Tensor<T> negative_log_likelihood(const Tensor<T>& log_probabilities, const ClassIds& ids, const Shape& target_shape,
                                  Reduction reduction, std::int64_t ignore_index) {
  const std::string name = "nll";
  const std::int64_t classes = check_class_layout(name, log_probabilities, target_shape);
  check_class_ids(name, *ids, target_shape, classes, true, ignore_index);
  const Tensor<T> values = nabla::detail::dense_values(log_probabilities);
  if (log_probabilities.device().is_cuda())
    return negative_log_likelihood_on_device(log_probabilities, values, ids, target_shape, reduction, ignore_index,
                                             classes);
  const auto rows = static_cast<std::int64_t>(ids->size());
  Tensor<T> losses(target_shape);
  for (std::int64_t r = 0; r < rows; ++r)
    losses.data()[r] =
        backend::nll_row_loss(values.data() + r * classes, (*ids)[static_cast<std::size_t>(r)], ignore_index);
  const std::int64_t count = count_not_ignored(*ids, true, ignore_index);
  Tensor<T> out = reduce_losses(losses, reduction, count);
  const T scale = reduction_scale<T>(reduction, count);
  // dloss/dinput[r, c] = -upstream_r * scale where c = target_r, else 0
  record_op<T>(
      out, name, {log_probabilities},
      [ids, reduction, scale, classes, ignore_index](const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
        const Tensor<T> upstream = nabla::detail::dense_values(grad);
        Tensor<T> result(inputs[0].shape());
        T* out = result.data();
        for (std::size_t r = 0; r < ids->size(); ++r) {
          const auto row = static_cast<std::int64_t>(r);
          const T row_gradient = upstream_of_row(upstream.data(), reduction, row) * scale;
          for (std::int64_t c = 0; c < classes; ++c)
            out[row * classes + c] = backend::nll_gradient(c, (*ids)[r], ignore_index, row_gradient);
        }
        return std::vector<Tensor<T>>{result};
      });
  return out;
}

/// multi_class_margin for scores on a CUDA device (kernels/class_losses.cu): the checked ids
/// go to the device once; forward and backward run one block per row.
template <FloatingElement T>
Tensor<T> multi_class_margin_on_device(const Tensor<T>& input, const Tensor<T>& values, const ClassIds& ids,
                                       const Shape& target_shape, Reduction reduction, T margin, int p,
                                       std::int64_t classes) {
  const Device device = values.device();
#if defined(NABLA_WITH_CUDA)
  const auto rows = static_cast<std::int64_t>(ids->size());
  const IndexTensor device_ids = from_vector<std::int64_t>(*ids, {rows}).to(device);
  Tensor<T> losses = backend::empty<T>(target_shape, device);
  backend::cuda::multi_margin_forward(backend::device_data(values), backend::device_data(device_ids), rows, classes,
                                      margin, p, backend::device_data(losses), device.index());
  Tensor<T> out = reduce_losses(losses, reduction, rows);
  const T scale = reduction_scale<T>(reduction, rows);
  // dloss/dx_j = [term_j > 0] (p == 1 ? 1 : 2 term_j) / C * upstream * scale, dloss/dx_y = -(sum of
  // those)
  record_op<T>(out, "multi_margin", {input},
               [device_ids, reduction, scale, rows, classes, margin, p](const Tensor<T>& grad,
                                                                        const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> scores = nabla::detail::dense_values(inputs[0].detach());
                 const Tensor<T> upstream = nabla::detail::dense_values(grad);
                 Tensor<T> result = backend::empty<T>(scores.shape(), scores.device());
                 backend::cuda::multi_margin_backward(backend::device_data(scores), backend::device_data(device_ids),
                                                      backend::device_data(upstream), reduction == Reduction::none,
                                                      scale, rows, classes, margin, p, backend::device_data(result),
                                                      scores.device().index());
                 return std::vector<Tensor<T>>{result};
               },
               {input});
  return out;
#else
  (void)input, (void)ids, (void)target_shape, (void)reduction, (void)margin, (void)p, (void)classes;
  backend::throw_no_cuda("multi_margin", device);
#endif
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
  check_class_ids(name, *ids, target_shape, classes, false, 0);
  const Tensor<T> values = nabla::detail::dense_values(input);
  const auto rows = static_cast<std::int64_t>(ids->size());
  const T margin_value = static_cast<T>(margin);
  if (input.device().is_cuda())
    return multi_class_margin_on_device(input, values, ids, target_shape, reduction, margin_value, p, classes);
  const T inverse_classes = T(1) / static_cast<T>(classes);
  Tensor<T> losses(target_shape);
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* row = values.data() + r * classes;
    const std::int64_t y = (*ids)[static_cast<std::size_t>(r)];
    T total = T(0);
    for (std::int64_t j = 0; j < classes; ++j)
      if (j != y) total += backend::multi_margin_term(row[y], row[j], margin_value, p);
    losses.data()[r] = total * inverse_classes;
  }
  Tensor<T> out = reduce_losses(losses, reduction, rows);
  const T scale = reduction_scale<T>(reduction, rows);
  record_op<T>(out, name, {input},
               [ids, reduction, scale, classes, margin_value, inverse_classes, p](
                   const Tensor<T>& grad, const std::vector<Tensor<T>>& inputs) {
                 const Tensor<T> values = nabla::detail::dense_values(inputs[0].detach());
                 const Tensor<T> upstream = nabla::detail::dense_values(grad);
                 Tensor<T> result(values.shape());
                 for (std::size_t r = 0; r < ids->size(); ++r) {
                   const auto row_index = static_cast<std::int64_t>(r);
                   const T* row = values.data() + row_index * classes;
                   T* out_row = result.data() + row_index * classes;
                   const std::int64_t y = (*ids)[r];
                   const T row_gradient =
                       upstream_of_row(upstream.data(), reduction, row_index) * scale * inverse_classes;
                   out_row[y] = T(0);
                   for (std::int64_t j = 0; j < classes; ++j) {
                     if (j == y) continue;
                     // the derivative of max(0, term)^p with respect to x_j (and minus it for x_y)
                     const T derivative = backend::multi_margin_term_derivative(row[y], row[j], margin_value, p);
                     out_row[j] = derivative * row_gradient;
                     out_row[y] -= derivative * row_gradient;
                   }
                 }
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
