// nabla/metrics/confusion.hpp - the confusion matrix of a classifier and a printer for it.
//
// matrix[i][j] counts the samples of true class i that were predicted as class j (rows are
// the truth, columns the prediction, as in scikit-learn and tf.math.confusion_matrix). The
// diagonal holds the correct predictions; everything off it shows which classes are confused
// with which.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/metrics/classification.hpp"
#include "nabla/metrics/metric.hpp"

namespace nabla::metrics {

namespace detail {

/// Labels as whole numbers in [0, num_classes), checked one by one.
inline std::vector<std::int64_t> checked_labels(const std::string& role, const Values& labels,
                                                std::int64_t num_classes) {
  std::vector<std::int64_t> result(labels.data.size());
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    const double value = labels.data[i];
    const bool whole = std::isfinite(value) && value == std::floor(value) && std::abs(value) < 4.0e18;
    const auto label = whole ? static_cast<std::int64_t>(value) : std::int64_t{-1};
    if (!whole || label < 0 || label >= num_classes)
      throw ValueError("confusion_matrix: " + role + " label " + number_text(value) + " at position " +
                       position_text(labels.shape, static_cast<std::int64_t>(i)) + " is outside [0, " +
                       std::to_string(num_classes) + ")");
    result[i] = label;
  }
  return result;
}

inline IndexTensor confusion_matrix_of(const Values& predicted, const Values& truth, std::int64_t num_classes) {
  if (num_classes < 1)
    throw ValueError("confusion_matrix: num_classes must be >= 1, got " + std::to_string(num_classes));
  if (predicted.shape != truth.shape && without_trailing_ones(predicted.shape) != without_trailing_ones(truth.shape))
    throw ShapeError("confusion_matrix: predicted labels of shape " + to_string(predicted.shape) +
                     " and true labels of shape " + to_string(truth.shape) + " differ");
  // Checked before the allocation below, so that a typo cannot ask for terabytes.
  check_valid_shape("confusion_matrix", {num_classes, num_classes});
  const std::vector<std::int64_t> predicted_ids = checked_labels("predicted", predicted, num_classes);
  const std::vector<std::int64_t> true_ids = checked_labels("true", truth, num_classes);
  IndexTensor matrix(Shape{num_classes, num_classes});
  std::int64_t* counts = matrix.data();
  std::fill(counts, counts + num_classes * num_classes, std::int64_t{0});
  for (std::size_t i = 0; i < true_ids.size(); ++i) ++counts[true_ids[i] * num_classes + predicted_ids[i]];
  return matrix;
}

}  // namespace detail

/// The [C, C] matrix of counts: row = true class, column = predicted class. The labels are
/// class ids of the same shape, as int64 or as whole numbers in a float tensor, e.g.
/// confusion_matrix(nb::argmax(scores, -1), targets, C).
template <TensorElement P, TensorElement Q>
IndexTensor confusion_matrix(const Tensor<P>& predicted_labels, const Tensor<Q>& true_labels,
                             std::int64_t num_classes) {
  return detail::confusion_matrix_of(detail::host_values("confusion_matrix", "predicted labels", predicted_labels),
                                     detail::host_values("confusion_matrix", "true labels", true_labels), num_classes);
}

/// The matrix as an aligned table, rows = true class, columns = predicted class:
///
///   true \ predicted  cat  dog
///   cat                 5    1
///   dog                 0    3
///
/// Classes are named by `class_names` (one per class) or by their ids.
inline std::string format_confusion_matrix(const IndexTensor& matrix,
                                           const std::vector<std::string>& class_names = {}) {
  if (!matrix.defined() || matrix.dim() != 2 || matrix.size(0) != matrix.size(1))
    throw ShapeError("format_confusion_matrix: expected a square [C, C] matrix, got " +
                     (matrix.defined() ? to_string(matrix.shape()) : std::string("an undefined tensor")));
  const std::int64_t classes = matrix.size(0);
  if (!class_names.empty() && static_cast<std::int64_t>(class_names.size()) != classes)
    throw ValueError("format_confusion_matrix: got " + std::to_string(class_names.size()) + " class names for " +
                     std::to_string(classes) + " classes");
  std::vector<std::string> names;
  for (std::int64_t c = 0; c < classes; ++c)
    names.push_back(class_names.empty() ? std::to_string(c) : class_names[static_cast<std::size_t>(c)]);
  const std::vector<std::int64_t> counts = matrix.to_vector();

  const std::string corner = "true \\ predicted";
  std::size_t label_width = corner.size();
  std::size_t column_width = 1;
  for (const auto& name : names) {
    label_width = std::max(label_width, name.size());
    column_width = std::max(column_width, name.size());
  }
  for (auto count : counts) column_width = std::max(column_width, std::to_string(count).size());
  column_width += 2;  // two spaces between columns

  auto pad_left = [](const std::string& text, std::size_t width) {
    return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
  };
  auto pad_right = [](const std::string& text, std::size_t width) {
    return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
  };
  std::ostringstream out;
  out << pad_right(corner, label_width);
  for (const auto& name : names) out << pad_left(name, column_width);
  out << "\n";
  for (std::int64_t row = 0; row < classes; ++row) {
    out << pad_right(names[static_cast<std::size_t>(row)], label_width);
    for (std::int64_t column = 0; column < classes; ++column)
      out << pad_left(std::to_string(counts[static_cast<std::size_t>(row * classes + column)]), column_width);
    out << "\n";
  }
  return out.str();
}

}  // namespace nabla::metrics
