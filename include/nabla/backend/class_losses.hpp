// nabla/backend/class_losses.hpp - the losses over C classes with class-id targets on any
// device: the fused softmax-cross-entropy, the negative log-likelihood and the multi-class
// margin loss (backend/cpu/class_losses.hpp, or kernels/softmax.cu and kernels/class_losses.cu).
//
// Conventions: `values` are contiguous [..., C] (rows = ids.numel(), C = the last dim), `ids`
// a contiguous tensor of one checked class id per row, every output contiguous; all on the
// device of `values`. A backward's `upstream` is one value, or one per row when
// upstream_per_row (Reduction::none); `scale` is the reduction's factor (1/count for mean).
#pragma once

#include <cstdint>

#include "nabla/backend/cpu/class_losses.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

namespace class_losses_detail {
template <typename T>
std::int64_t classes_of(const Tensor<T>& values) {
  return values.shape().empty() ? 1 : values.shape().back();
}
}  // namespace class_losses_detail

/// Per row: the loss of the label-smoothed target q = on_target onehot(y) + per_class into
/// `losses`, and the row's max and log sum exp(x - max) into `row_max_log_sum` ([rows, 2]: all
/// the backward needs besides the logits); ignored rows give 0.
template <typename T>
void cross_entropy_forward(const Tensor<T>& logits, const IndexTensor& ids, std::int64_t ignore_index, T on_target,
                           T per_class, Tensor<T>& losses, Tensor<T>& row_max_log_sum) {
  const Device device = logits.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(logits);
  if (device.is_cpu()) {
    cpu::cross_entropy_forward(device_data(logits), device_data(ids), rows, classes, ignore_index, on_target, per_class,
                               device_data(losses), device_data(row_max_log_sum));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::cross_entropy_forward(device_data(logits), device_data(ids), rows, classes, ignore_index, on_target, per_class,
                              device_data(losses), device_data(row_max_log_sum), device.index());
#else
  throw_no_cuda("cross_entropy", device);
#endif
}

/// grad_logits = (softmax(logits) - q) * upstream * scale, 0 on ignored rows.
template <typename T>
void cross_entropy_backward(const Tensor<T>& logits, const IndexTensor& ids, const Tensor<T>& row_max_log_sum,
                            const Tensor<T>& upstream, bool upstream_per_row, T scale, std::int64_t ignore_index,
                            T on_target, T per_class, Tensor<T>& grad_logits) {
  const Device device = logits.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(logits);
  if (device.is_cpu()) {
    cpu::cross_entropy_backward(device_data(logits), device_data(ids), device_data(row_max_log_sum),
                                device_data(upstream), upstream_per_row, scale, rows, classes, ignore_index, on_target,
                                per_class, device_data(grad_logits));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::cross_entropy_backward(device_data(logits), device_data(ids), device_data(row_max_log_sum),
                               device_data(upstream), upstream_per_row, scale, rows, classes, ignore_index, on_target,
                               per_class, device_data(grad_logits), device.index());
#else
  throw_no_cuda("cross_entropy backward", device);
#endif
}

/// losses[r] = -log_probabilities[r, ids[r]], 0 on ignored rows.
template <typename T>
void nll_forward(const Tensor<T>& log_probabilities, const IndexTensor& ids, std::int64_t ignore_index,
                 Tensor<T>& losses) {
  const Device device = log_probabilities.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(log_probabilities);
  if (device.is_cpu()) {
    cpu::nll_forward(device_data(log_probabilities), device_data(ids), rows, classes, ignore_index,
                     device_data(losses));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::nll_forward(device_data(log_probabilities), device_data(ids), rows, classes, ignore_index, device_data(losses),
                    device.index());
#else
  throw_no_cuda("nll", device);
#endif
}

/// grad_input ([rows, classes]) = -upstream * scale at each row's target class, 0 elsewhere.
template <typename T>
void nll_backward(const IndexTensor& ids, const Tensor<T>& upstream, bool upstream_per_row, T scale,
                  std::int64_t ignore_index, Tensor<T>& grad_input) {
  const Device device = grad_input.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(grad_input);
  if (device.is_cpu()) {
    cpu::nll_backward(device_data(ids), device_data(upstream), upstream_per_row, scale, rows, classes, ignore_index,
                      device_data(grad_input));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::nll_backward(device_data(ids), device_data(upstream), upstream_per_row, scale, rows, classes, ignore_index,
                     device_data(grad_input), device.index());
#else
  throw_no_cuda("nll backward", device);
#endif
}

/// losses[r] = sum_{j != y} max(0, margin - x_y + x_j)^p / classes.
template <typename T>
void multi_margin_forward(const Tensor<T>& scores, const IndexTensor& ids, T margin, int p, Tensor<T>& losses) {
  const Device device = scores.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(scores);
  if (device.is_cpu()) {
    cpu::multi_margin_forward(device_data(scores), device_data(ids), rows, classes, margin, p, device_data(losses));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::multi_margin_forward(device_data(scores), device_data(ids), rows, classes, margin, p, device_data(losses),
                             device.index());
#else
  throw_no_cuda("multi_margin", device);
#endif
}

/// The multi-margin loss's gradient with respect to the scores.
template <typename T>
void multi_margin_backward(const Tensor<T>& scores, const IndexTensor& ids, const Tensor<T>& upstream,
                           bool upstream_per_row, T scale, T margin, int p, Tensor<T>& grad_scores) {
  const Device device = scores.device();
  const std::int64_t rows = ids.numel(), classes = class_losses_detail::classes_of(scores);
  if (device.is_cpu()) {
    cpu::multi_margin_backward(device_data(scores), device_data(ids), device_data(upstream), upstream_per_row, scale,
                               rows, classes, margin, p, device_data(grad_scores));
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::multi_margin_backward(device_data(scores), device_data(ids), device_data(upstream), upstream_per_row, scale,
                              rows, classes, margin, p, device_data(grad_scores), device.index());
#else
  throw_no_cuda("multi_margin backward", device);
#endif
}

}  // namespace nabla::backend
