// nabla/metrics/classification.hpp - metrics of classifiers: accuracy (binary, categorical,
// top-k), precision, recall, F1, and the perplexity of a language model.
//
// Two kinds of model output:
//   binary       one probability per sample, shape [N] or [N,1] (e.g. a Sigmoid output);
//                predicted class 1 where the probability is > threshold (0.5), and a target
//                counts as class 1 where it is > 0.5.
//   categorical  one score per class, shape [..., C] (logits or probabilities; only their
//                order matters); predicted class = the arg-max over the last dimension (the
//                first maximum on ties). The target is either class ids of shape [...] (or
//                [..., 1]) or one-hot rows of the prediction's own shape [..., C].
// Accuracy picks between the two by the prediction's shape, like Keras's "accuracy": a last
// dimension of 1 (or rank <= 1) is binary, anything else categorical.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/metrics/metric.hpp"

namespace nabla::metrics {

namespace detail {

/// "[1,2]": the multi-index of row-major position `flat` in `shape` (for error messages).
inline std::string position_text(const Shape& shape, std::int64_t flat) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  return to_string(index);
}

inline std::string number_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

/// A rank <= 1 prediction, or one whose last dimension is 1, holds one probability per sample.
inline bool is_binary_output(const Shape& prediction_shape) {
  return prediction_shape.size() <= 1 || prediction_shape.back() == 1;
}

/// The number of classes C of a [..., C] prediction (at least 1).
inline std::int64_t class_count(const std::string& metric, const Values& prediction) {
  if (prediction.shape.empty() || prediction.shape.back() < 1)
    throw ShapeError(metric + ": prediction of shape " + to_string(prediction.shape) +
                     " has no class dimension; expected scores of shape [..., classes]");
  return prediction.shape.back();
}

/// The index of the largest of `count` values (the first one on ties).
inline std::int64_t argmax(const double* values, std::int64_t count) {
  std::int64_t best = 0;
  for (std::int64_t c = 1; c < count; ++c)
    if (values[c] > values[best]) best = c;
  return best;
}

/// The true class of every row of a [..., C] prediction. The target holds either class ids of
/// shape [...] or [..., 1] (whole numbers in [0, C); `ignore_index`, when given, is passed
/// through unchecked), or one-hot rows of shape [..., C] (their arg-max is taken).
inline std::vector<std::int64_t> target_classes(const std::string& metric, const Values& prediction,
                                                const Values& target,
                                                std::optional<std::int64_t> ignore_index = std::nullopt) {
  const std::int64_t classes = class_count(metric, prediction);
  const auto rows = static_cast<std::int64_t>(prediction.data.size()) / classes;
  const Shape row_shape(prediction.shape.begin(), prediction.shape.end() - 1);
  Shape row_shape_with_one = row_shape;
  row_shape_with_one.push_back(1);
  std::vector<std::int64_t> result(static_cast<std::size_t>(rows));

  if (target.shape == prediction.shape && classes > 1) {  // one-hot (or probability) rows
    for (std::int64_t row = 0; row < rows; ++row)
      result[static_cast<std::size_t>(row)] = argmax(target.data.data() + row * classes, classes);
    return result;
  }
  if (target.shape != row_shape && target.shape != row_shape_with_one)
    throw ShapeError(metric + ": prediction of shape " + to_string(prediction.shape) + " and target of shape " +
                     to_string(target.shape) + " do not fit: expected class ids of shape " + to_string(row_shape) +
                     " or one-hot rows of shape " + to_string(prediction.shape));
  for (std::int64_t row = 0; row < rows; ++row) {
    const double value = target.data[static_cast<std::size_t>(row)];
    const bool whole = std::isfinite(value) && value == std::floor(value) && std::abs(value) < 4.0e18;
    const auto id = whole ? static_cast<std::int64_t>(value) : std::int64_t{-1};
    if (whole && ignore_index && id == *ignore_index) {
      result[static_cast<std::size_t>(row)] = id;
      continue;
    }
    if (!whole || id < 0 || id >= classes)
      throw ValueError(metric + ": target class " + number_text(value) + " at position " +
                       position_text(target.shape, row) + " is not a class id in [0, " + std::to_string(classes) + ")");
    result[static_cast<std::size_t>(row)] = id;
  }
  return result;
}

/// Hits of a binary classifier: (prediction > threshold) == (target > 0.5), element by element.
inline std::int64_t binary_hits(const std::string& metric, const Values& prediction, const Values& target,
                                double threshold) {
  check_elementwise_shapes(metric, prediction, target);
  std::int64_t hits = 0;
  for (std::size_t i = 0; i < prediction.data.size(); ++i)
    hits += (prediction.data[i] > threshold) == (target.data[i] > 0.5) ? 1 : 0;
  return hits;
}

/// Hits of a categorical classifier: arg-max of each prediction row == its target class.
inline std::int64_t categorical_hits(const std::string& metric, const Values& prediction, const Values& target) {
  const std::vector<std::int64_t> truth = target_classes(metric, prediction, target);
  const std::int64_t classes = prediction.shape.back();
  std::int64_t hits = 0;
  for (std::size_t row = 0; row < truth.size(); ++row)
    hits += argmax(prediction.data.data() + static_cast<std::int64_t>(row) * classes, classes) == truth[row] ? 1 : 0;
  return hits;
}

inline double ratio_or_zero(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0.0;
}

}  // namespace detail

/// The share of correct predictions; the common base of the accuracy metrics.
class HitRate : public Metric {
 public:
  double result() const override {
    return detail::ratio_or_zero(static_cast<double>(hits_), static_cast<double>(total_));
  }
  void reset() override { hits_ = total_ = 0; }
  bool higher_is_better() const override { return true; }
  std::vector<double> totals() const override { return {static_cast<double>(hits_), static_cast<double>(total_)}; }
  void set_totals(const std::vector<double>& totals) override {
    check_totals(totals, 2);
    hits_ = static_cast<std::int64_t>(totals[0]);
    total_ = static_cast<std::int64_t>(totals[1]);
  }
  /// Correct predictions and predictions counted since the last reset().
  std::int64_t hits() const { return hits_; }
  std::int64_t total() const { return total_; }

 protected:
  void count(std::int64_t hits, std::int64_t total) {
    hits_ += hits;
    total_ += total;
  }

 private:
  std::int64_t hits_ = 0;
  std::int64_t total_ = 0;
};

/// Keras's "accuracy": binary accuracy for a [N] or [N,1] output, categorical (arg-max)
/// accuracy for a [..., C] output with C > 1.
class Accuracy : public HitRate {
 public:
  /// `threshold` applies to binary outputs (use 0 for logits instead of probabilities).
  explicit Accuracy(double threshold = 0.5) : threshold_(threshold) {}
  std::string name() const override { return "accuracy"; }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    if (detail::is_binary_output(prediction.shape)) {
      count(detail::binary_hits(name(), prediction, target, threshold_),
            static_cast<std::int64_t>(prediction.data.size()));
    } else {
      count(detail::categorical_hits(name(), prediction, target),
            static_cast<std::int64_t>(prediction.data.size()) / prediction.shape.back());
    }
  }

 private:
  double threshold_;
};

/// The share of elements where (prediction > threshold) equals (target > 0.5); works for any
/// shape, so also for multi-label outputs and per-step binary outputs [batch, steps].
class BinaryAccuracy : public HitRate {
 public:
  explicit BinaryAccuracy(double threshold = 0.5) : threshold_(threshold) {}
  std::string name() const override { return "binary_accuracy"; }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    count(detail::binary_hits(name(), prediction, target, threshold_),
          static_cast<std::int64_t>(prediction.data.size()));
  }

 private:
  double threshold_;
};

/// The share of rows of a [..., C] prediction whose arg-max is the target class (class ids or
/// one-hot rows: Keras's CategoricalAccuracy and SparseCategoricalAccuracy in one).
class CategoricalAccuracy : public HitRate {
 public:
  std::string name() const override { return "categorical_accuracy"; }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    const std::int64_t classes = detail::class_count(name(), prediction);
    count(detail::categorical_hits(name(), prediction, target),
          static_cast<std::int64_t>(prediction.data.size()) / classes);
  }
};

/// The share of rows whose target class is among the k highest scores. A class tied with the
/// k-th score counts as inside the top k (TensorFlow's in_top_k does the same).
class TopKAccuracy : public HitRate {
 public:
  explicit TopKAccuracy(std::int64_t k = 5) : k_(k) {
    if (k < 1) throw ValueError("TopKAccuracy: k must be >= 1, got " + std::to_string(k));
  }
  std::string name() const override { return "top_" + std::to_string(k_) + "_accuracy"; }
  std::int64_t k() const { return k_; }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    const std::vector<std::int64_t> truth = detail::target_classes(name(), prediction, target);
    const std::int64_t classes = prediction.shape.back();
    std::int64_t hits = 0;
    for (std::size_t row = 0; row < truth.size(); ++row) {
      const double* scores = prediction.data.data() + static_cast<std::int64_t>(row) * classes;
      const double true_score = scores[truth[row]];
      // The target's rank is the number of classes scoring strictly higher.
      std::int64_t higher = 0;
      for (std::int64_t c = 0; c < classes; ++c) higher += scores[c] > true_score ? 1 : 0;
      hits += higher < k_ ? 1 : 0;
    }
    count(hits, static_cast<std::int64_t>(truth.size()));
  }

 private:
  std::int64_t k_;
};

/// Counts of true/false positives and negatives: the base of Precision, Recall and F1.
///
/// Without class_id, every element is a binary decision: positive where prediction > threshold,
/// truly positive where target > 0.5 (binary and multi-label outputs, like Keras). With
/// class_id = k, a [..., C] prediction is read one-vs-rest: a row is predicted positive when
/// its arg-max is k and truly positive when its target class is k.
class BinaryCounts : public Metric {
 public:
  void reset() override { true_positives_ = false_positives_ = false_negatives_ = true_negatives_ = 0; }
  bool higher_is_better() const override { return true; }
  std::string name() const override {
    return base_name_ + (class_id_ ? "_class_" + std::to_string(*class_id_) : std::string());
  }
  std::int64_t true_positives() const { return true_positives_; }
  std::int64_t false_positives() const { return false_positives_; }
  std::int64_t false_negatives() const { return false_negatives_; }
  std::int64_t true_negatives() const { return true_negatives_; }
  std::vector<double> totals() const override {
    return {static_cast<double>(true_positives_), static_cast<double>(false_positives_),
            static_cast<double>(false_negatives_), static_cast<double>(true_negatives_)};
  }
  void set_totals(const std::vector<double>& totals) override {
    check_totals(totals, 4);
    true_positives_ = static_cast<std::int64_t>(totals[0]);
    false_positives_ = static_cast<std::int64_t>(totals[1]);
    false_negatives_ = static_cast<std::int64_t>(totals[2]);
    true_negatives_ = static_cast<std::int64_t>(totals[3]);
  }

 protected:
  BinaryCounts(std::string base_name, double threshold, std::optional<std::int64_t> class_id)
      : base_name_(std::move(base_name)), threshold_(threshold), class_id_(class_id) {
    if (class_id && *class_id < 0)
      throw ValueError(base_name_ + ": class_id must be >= 0, got " + std::to_string(*class_id));
  }

  void accumulate(const Values& prediction, const Values& target) override {
    if (!class_id_) {
      detail::check_elementwise_shapes(name(), prediction, target);
      for (std::size_t i = 0; i < prediction.data.size(); ++i)
        add(prediction.data[i] > threshold_, target.data[i] > 0.5);
      return;
    }
    const std::int64_t classes = detail::class_count(name(), prediction);
    if (*class_id_ >= classes)
      throw ValueError(name() + ": class_id " + std::to_string(*class_id_) + " is out of range for a prediction of " +
                       std::to_string(classes) + " classes (shape " + to_string(prediction.shape) + ")");
    const std::vector<std::int64_t> truth = detail::target_classes(name(), prediction, target);
    for (std::size_t row = 0; row < truth.size(); ++row)
      add(detail::argmax(prediction.data.data() + static_cast<std::int64_t>(row) * classes, classes) == *class_id_,
          truth[row] == *class_id_);
  }

 private:
  void add(bool predicted_positive, bool truly_positive) {
    if (predicted_positive) {
      ++(truly_positive ? true_positives_ : false_positives_);
    } else {
      ++(truly_positive ? false_negatives_ : true_negatives_);
    }
  }

  std::string base_name_;
  double threshold_;
  std::optional<std::int64_t> class_id_;
  std::int64_t true_positives_ = 0;
  std::int64_t false_positives_ = 0;
  std::int64_t false_negatives_ = 0;
  std::int64_t true_negatives_ = 0;
};

/// Of the predicted positives, the share that are truly positive: TP / (TP + FP) (0 if none).
class Precision : public BinaryCounts {
 public:
  explicit Precision(double threshold = 0.5, std::optional<std::int64_t> class_id = std::nullopt)
      : BinaryCounts("precision", threshold, class_id) {}
  double result() const override {
    return detail::ratio_or_zero(static_cast<double>(true_positives()),
                                 static_cast<double>(true_positives() + false_positives()));
  }
};

/// Of the true positives, the share that was found: TP / (TP + FN) (0 if none).
class Recall : public BinaryCounts {
 public:
  explicit Recall(double threshold = 0.5, std::optional<std::int64_t> class_id = std::nullopt)
      : BinaryCounts("recall", threshold, class_id) {}
  double result() const override {
    return detail::ratio_or_zero(static_cast<double>(true_positives()),
                                 static_cast<double>(true_positives() + false_negatives()));
  }
};

/// The harmonic mean of precision and recall, 2 P R / (P + R) = 2 TP / (2 TP + FP + FN)
/// (0 when there is no positive at all).
class F1 : public BinaryCounts {
 public:
  explicit F1(double threshold = 0.5, std::optional<std::int64_t> class_id = std::nullopt)
      : BinaryCounts("f1", threshold, class_id) {}
  double result() const override {
    const auto twice_tp = 2.0 * static_cast<double>(true_positives());
    return detail::ratio_or_zero(twice_tp, twice_tp + static_cast<double>(false_positives() + false_negatives()));
  }
};

/// exp(mean cross-entropy) of a language model: how many tokens the model hesitates between,
/// on average (a uniform guess over V tokens scores V; a perfect model 1).
///
/// The prediction is [..., V] logits (from_logits = true, what a Dense output layer gives) or
/// probabilities (from_logits = false, e.g. after Softmax); the target holds token ids [...].
/// Positions whose target equals ignore_index (padding) are skipped, as in CrossEntropy.
class Perplexity : public Metric {
 public:
  explicit Perplexity(bool from_logits = true, std::int64_t ignore_index = -100)
      : from_logits_(from_logits), ignore_index_(ignore_index) {}

  /// exp(total cross-entropy / counted tokens); 0 before any token was counted.
  double result() const override { return count_ > 0 ? std::exp(mean_cross_entropy()) : 0.0; }
  double mean_cross_entropy() const { return count_ > 0 ? total_cross_entropy_ / static_cast<double>(count_) : 0.0; }
  void reset() override {
    total_cross_entropy_ = 0;
    count_ = 0;
  }
  std::string name() const override { return "perplexity"; }
  bool higher_is_better() const override { return false; }
  std::vector<double> totals() const override { return {total_cross_entropy_, static_cast<double>(count_)}; }
  void set_totals(const std::vector<double>& totals) override {
    check_totals(totals, 2);
    total_cross_entropy_ = totals[0];
    count_ = static_cast<std::int64_t>(totals[1]);
  }

 protected:
  void accumulate(const Values& prediction, const Values& target) override {
    const std::vector<std::int64_t> truth = detail::target_classes(name(), prediction, target, ignore_index_);
    const std::int64_t classes = prediction.shape.back();
    for (std::size_t row = 0; row < truth.size(); ++row) {
      if (truth[row] == ignore_index_) continue;
      const double* scores = prediction.data.data() + static_cast<std::int64_t>(row) * classes;
      double cross_entropy = 0;
      if (from_logits_) {
        // -log softmax(x)[t] = log(sum_c e^{x_c}) - x_t, with the maximum subtracted first so
        // that no e^x overflows.
        const double largest = scores[detail::argmax(scores, classes)];
        double sum = 0;
        for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(scores[c] - largest);
        cross_entropy = largest + std::log(sum) - scores[truth[row]];
      } else {
        // -log p[t], clamped at 100 like binary_cross_entropy, so that p = 0 stays finite.
        cross_entropy = std::min(-std::log(scores[truth[row]]), 100.0);
      }
      total_cross_entropy_ += cross_entropy;
      ++count_;
    }
  }

 private:
  bool from_logits_;
  std::int64_t ignore_index_;
  double total_cross_entropy_ = 0;
  std::int64_t count_ = 0;
};

}  // namespace nabla::metrics
