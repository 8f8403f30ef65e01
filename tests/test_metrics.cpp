// Metrics (nabla::metrics) against values computed by hand, and the confusion matrix.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_metrics {

namespace nb = nabla;
using Catch::Matchers::Contains;

namespace {
nb::Tensor<float> tensor(const std::vector<float>& values, const nb::Shape& shape) {
  return nb::from_vector<float>(values, shape);
}
}  // namespace

TEST_CASE("Accuracy on a binary output thresholds at 0.5 and accumulates over batches", "[metrics]") {
  nb::metrics::Accuracy accuracy;
  REQUIRE(accuracy.name() == "accuracy");
  REQUIRE(accuracy.result() == 0.0);  // nothing seen yet
  // predicted classes 1, 0, 1, 0 against 1, 0, 0, 0: three hits of four ([N,1] against [N])
  accuracy.update(tensor({0.9f, 0.2f, 0.6f, 0.4f}, {4, 1}), tensor({1, 0, 0, 0}, {4}));
  REQUIRE(accuracy.result() == Approx(0.75));
  // predicted 1, 0 against 0, 1: no hit; over both batches 3 of 6
  accuracy.update(tensor({0.7f, 0.1f}, {2, 1}), tensor({0, 1}, {2, 1}));
  REQUIRE(accuracy.result() == Approx(0.5));
  REQUIRE(accuracy.hits() == 3);
  REQUIRE(accuracy.total() == 6);
  accuracy.reset();
  REQUIRE(accuracy.result() == 0.0);
  REQUIRE(accuracy.total() == 0);
  // exactly 0.5 is not above the threshold
  accuracy.update(tensor({0.5f}, {1, 1}), tensor({0}, {1, 1}));
  REQUIRE(accuracy.result() == 1.0);
}

TEST_CASE("Accuracy on a categorical output takes the arg-max, with class ids or one-hot targets", "[metrics]") {
  // arg-max of the rows: 1, 0, 2
  const auto scores = tensor({0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f, 0.2f, 0.2f, 0.6f}, {3, 3});
  nb::metrics::Accuracy with_ids;
  with_ids.update(scores, tensor({1, 2, 2}, {3}));
  REQUIRE(with_ids.result() == Approx(2.0 / 3.0));

  nb::metrics::Accuracy with_index_tensor;
  with_index_tensor.update(scores, nb::from_vector<std::int64_t>({1, 0, 0}, {3}));
  REQUIRE(with_index_tensor.result() == Approx(2.0 / 3.0));

  nb::metrics::Accuracy one_hot;
  one_hot.update(scores, tensor({0, 1, 0, 0, 0, 1, 0, 0, 1}, {3, 3}));  // classes 1, 2, 2
  REQUIRE(one_hot.result() == Approx(2.0 / 3.0));

  // a sequence output [batch, steps, classes] against ids [batch, steps]
  nb::metrics::Accuracy sequence;
  sequence.update(tensor({1, 0, 0, 1, 0.2f, 0.8f, 0.9f, 0.1f}, {2, 2, 2}), tensor({0, 1, 0, 0}, {2, 2}));
  REQUIRE(sequence.result() == Approx(0.75));

  // double models use the same metrics
  nb::metrics::CategoricalAccuracy categorical;
  categorical.update(nb::from_vector<double>({0.2, 0.8, 0.6, 0.4}, {2, 2}), nb::from_vector<double>({1, 1}, {2}));
  REQUIRE(categorical.result() == Approx(0.5));
  REQUIRE(categorical.name() == "categorical_accuracy");
}

TEST_CASE("BinaryAccuracy takes its threshold from the user (0 for logits)", "[metrics]") {
  nb::metrics::BinaryAccuracy on_logits(0.0);
  // logits -1.2, 0.3, 2.0, -0.1 -> classes 0, 1, 1, 0 against 0, 1, 0, 0
  on_logits.update(tensor({-1.2f, 0.3f, 2.0f, -0.1f}, {4}), tensor({0, 1, 0, 0}, {4}));
  REQUIRE(on_logits.result() == Approx(0.75));
  REQUIRE(on_logits.name() == "binary_accuracy");
  // element by element on a [batch, steps] output
  nb::metrics::BinaryAccuracy per_step;
  per_step.update(tensor({0.9f, 0.8f, 0.1f, 0.7f}, {2, 2}), tensor({1, 1, 1, 1}, {2, 2}));
  REQUIRE(per_step.result() == Approx(0.75));
}

TEST_CASE("Classification metrics reject shapes and labels that do not fit", "[metrics]") {
  nb::metrics::Accuracy accuracy;
  REQUIRE_THROWS_AS(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {2, 2}), tensor({1, 0, 1}, {3})), nb::ShapeError);
  REQUIRE_THROWS_WITH(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {2, 2}), tensor({1, 0, 1}, {3})),
                      Contains("[2,2]") && Contains("[3]"));
  REQUIRE_THROWS_AS(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {2, 2}), tensor({1, 2}, {2})), nb::ValueError);
  REQUIRE_THROWS_WITH(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {2, 2}), tensor({1, 2}, {2})),
                      Contains("target class 2 at position [1]") && Contains("[0, 2)"));
  REQUIRE_THROWS_WITH(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {2, 2}), tensor({1, 0.5f}, {2})),
                      Contains("0.5"));
  // binary: [4,1] against [2,2] is not the same list of values
  REQUIRE_THROWS_AS(accuracy.update(tensor({0.1f, 0.9f, 0.4f, 0.6f}, {4, 1}), tensor({1, 0, 1, 0}, {2, 2})),
                    nb::ShapeError);
  REQUIRE_THROWS_AS(accuracy.update(tensor({0.5f}, {1}), nb::Tensor<float>()), nb::ValueError);
  REQUIRE(accuracy.total() == 0);  // nothing was counted by the failed updates
}

TEST_CASE("Precision, recall and F1 count true and false positives", "[metrics]") {
  // predicted positive (> 0.5): 0.9 TP, 0.8 FP, 0.3 FN, 0.6 TP, 0.1 TN, 0.7 FP
  const auto prediction = tensor({0.9f, 0.8f, 0.3f, 0.6f, 0.1f, 0.7f}, {6, 1});
  const auto target = tensor({1, 0, 1, 1, 0, 0}, {6, 1});
  nb::metrics::Precision precision;
  nb::metrics::Recall recall;
  nb::metrics::F1 f1;
  for (nb::metrics::Metric* metric : std::vector<nb::metrics::Metric*>{&precision, &recall, &f1})
    metric->update(prediction, target);
  REQUIRE(precision.true_positives() == 2);
  REQUIRE(precision.false_positives() == 2);
  REQUIRE(precision.false_negatives() == 1);
  REQUIRE(precision.true_negatives() == 1);
  REQUIRE(precision.result() == Approx(0.5));     // 2 / (2 + 2)
  REQUIRE(recall.result() == Approx(2.0 / 3.0));  // 2 / (2 + 1)
  REQUIRE(f1.result() == Approx(4.0 / 7.0));      // 2 P R / (P + R) = 2 * 2 / (2 * 2 + 2 + 1)
  REQUIRE(f1.name() == "f1");

  // no predicted positive at all: 0, not NaN
  nb::metrics::Precision none;
  none.update(tensor({0.1f, 0.2f}, {2}), tensor({1, 0}, {2}));
  REQUIRE(none.result() == 0.0);
  nb::metrics::F1 empty;
  REQUIRE(empty.result() == 0.0);

  // one-vs-rest on a categorical output: arg-max classes 0, 1, 0, 2 against 0, 0, 1, 2
  const auto scores = tensor({0.8f, 0.1f, 0.1f, 0.2f, 0.7f, 0.1f, 0.6f, 0.3f, 0.1f, 0.1f, 0.1f, 0.8f}, {4, 3});
  const auto classes = tensor({0, 0, 1, 2}, {4});
  nb::metrics::Precision precision_of_0(0.5, 0);
  nb::metrics::Recall recall_of_0(0.5, 0);
  precision_of_0.update(scores, classes);
  recall_of_0.update(scores, classes);
  REQUIRE(precision_of_0.name() == "precision_class_0");
  REQUIRE(precision_of_0.result() == Approx(0.5));  // predicted 0 twice, right once
  REQUIRE(recall_of_0.result() == Approx(0.5));     // true 0 twice, found once
  nb::metrics::Recall recall_of_5(0.5, 5);
  REQUIRE_THROWS_WITH(recall_of_5.update(scores, classes), Contains("class_id 5") && Contains("3 classes"));
  REQUIRE_THROWS_AS(nb::metrics::Precision(0.5, -1), nb::ValueError);
}

TEST_CASE("TopKAccuracy counts the target among the k best scores, ties included", "[metrics]") {
  nb::metrics::TopKAccuracy top2(2);
  REQUIRE(top2.name() == "top_2_accuracy");
  // row 0: target 2 (0.3) is second best -> hit; row 1: target 0 (0.1) is third -> miss
  top2.update(tensor({0.1f, 0.5f, 0.3f, 0.1f, 0.1f, 0.5f, 0.3f, 0.2f}, {2, 4}), tensor({2, 0}, {2}));
  REQUIRE(top2.result() == Approx(0.5));
  nb::metrics::TopKAccuracy top1(1);
  top1.update(tensor({0.4f, 0.4f, 0.2f}, {1, 3}), tensor({1}, {1}));  // tied with the best: inside
  REQUIRE(top1.result() == 1.0);
  REQUIRE_THROWS_AS(nb::metrics::TopKAccuracy(0), nb::ValueError);
}

TEST_CASE("Perplexity is exp of the mean cross-entropy and skips ignored positions", "[metrics]") {
  nb::metrics::Perplexity uniform;
  uniform.update(nb::zeros<float>({3, 4}), tensor({0, 3, 1}, {3}));  // equal logits over 4 tokens
  REQUIRE(uniform.result() == Approx(4.0));
  REQUIRE(uniform.mean_cross_entropy() == Approx(std::log(4.0)));
  REQUIRE_FALSE(uniform.higher_is_better());

  // softmax(log 1, log 3) = (0.25, 0.75): targets 1 and 0 cost -log 0.75 and -log 0.25,
  // perplexity exp(mean) = 1 / sqrt(0.75 * 0.25); the third row (-100) is padding
  const auto logits =
      tensor({0.0f, static_cast<float>(std::log(3.0)), 0.0f, static_cast<float>(std::log(3.0)), 5.0f, 1.0f}, {3, 2});
  nb::metrics::Perplexity perplexity;
  perplexity.update(logits, tensor({1, 0, -100}, {3}));
  REQUIRE(perplexity.result() == Approx(1.0 / std::sqrt(0.1875)).epsilon(1e-5));

  nb::metrics::Perplexity from_probabilities(/*from_logits=*/false);
  from_probabilities.update(tensor({0.25f, 0.75f, 0.25f, 0.75f}, {2, 2}), tensor({1, 0}, {2}));
  REQUIRE(from_probabilities.result() == Approx(1.0 / std::sqrt(0.1875)).epsilon(1e-5));

  // [batch, steps, vocabulary] logits against [batch, steps] ids
  nb::metrics::Perplexity sequence;
  sequence.update(nb::zeros<float>({2, 3, 5}), tensor({0, 1, 2, 3, 4, 0}, {2, 3}));
  REQUIRE(sequence.result() == Approx(5.0));
  sequence.reset();
  REQUIRE(sequence.result() == 0.0);
}

TEST_CASE("MAE and RMSE average over every element of every batch", "[metrics]") {
  // errors 0.5, 0, 1, 2
  nb::metrics::MAE mae;
  nb::metrics::RMSE rmse;
  mae.update(tensor({1, 2}, {2, 1}), tensor({1.5f, 2}, {2}));
  mae.update(tensor({3, 4}, {2, 1}), tensor({2, 6}, {2, 1}));
  rmse.update(tensor({1, 2, 3, 4}, {4}), tensor({1.5f, 2, 2, 6}, {4}));
  REQUIRE(mae.result() == Approx(0.875));                   // 3.5 / 4
  REQUIRE(rmse.result() == Approx(std::sqrt(5.25 / 4.0)));  // sqrt((0.25 + 0 + 1 + 4) / 4)
  REQUIRE(mae.name() == "mae");
  REQUIRE(rmse.name() == "rmse");
  REQUIRE_THROWS_AS(mae.update(tensor({1, 2, 3, 4}, {2, 2}), tensor({1, 2, 3, 4}, {4})), nb::ShapeError);
  REQUIRE_THROWS_WITH(rmse.update(tensor({1, 2, 3, 4}, {2, 2}), tensor({1, 2, 3, 4}, {4})),
                      Contains("rmse") && Contains("[2,2]") && Contains("[4]"));
}

TEST_CASE("AnyMetric holds a metric by value or shares the caller's", "[metrics]") {
  auto shared = std::make_shared<nb::metrics::Accuracy>();
  std::vector<nb::metrics::AnyMetric> metrics{nb::metrics::MAE{}, shared};
  metrics[1]->update(tensor({0.9f}, {1, 1}), tensor({1}, {1, 1}));
  REQUIRE(shared->result() == 1.0);  // the caller sees the update
  REQUIRE(metrics[0]->name() == "mae");
  REQUIRE_THROWS_AS(nb::metrics::AnyMetric(std::shared_ptr<nb::metrics::Accuracy>()), nb::ValueError);
}

TEST_CASE("confusion_matrix counts true class (row) against predicted class (column)", "[metrics]") {
  const auto predicted = nb::from_vector<std::int64_t>({0, 1, 2, 2, 1, 0}, {6});
  const auto truth = nb::from_vector<std::int64_t>({0, 2, 2, 2, 1, 1}, {6});
  const nb::IndexTensor matrix = nb::metrics::confusion_matrix(predicted, truth, 3);
  REQUIRE(matrix.shape() == nb::Shape{3, 3});
  REQUIRE(matrix.to_vector() == std::vector<std::int64_t>{1, 0, 0,    // true 0: predicted 0 once
                                                          1, 1, 0,    // true 1: predicted 0, 1
                                                          0, 1, 2});  // true 2: predicted 1, 2, 2
  // the same from float labels (e.g. a Tensor<float> of class ids)
  const auto from_floats =
      nb::metrics::confusion_matrix(tensor({0, 1, 2, 2, 1, 0}, {6, 1}), tensor({0, 2, 2, 2, 1, 1}, {6}), 3);
  REQUIRE(from_floats.to_vector() == matrix.to_vector());

  REQUIRE(nb::metrics::format_confusion_matrix(matrix, {"cat", "dog", "bird"}) ==
          "true \\ predicted   cat   dog  bird\n"
          "cat                  1     0     0\n"
          "dog                  1     1     0\n"
          "bird                 0     1     2\n");
  REQUIRE(nb::metrics::format_confusion_matrix(matrix) ==
          "true \\ predicted  0  1  2\n"
          "0                 1  0  0\n"
          "1                 1  1  0\n"
          "2                 0  1  2\n");

  REQUIRE_THROWS_WITH(
      nb::metrics::confusion_matrix(predicted, nb::from_vector<std::int64_t>({0, 1, 3, 0, 0, 0}, {6}), 3),
      Contains("true label 3 at position [2]") && Contains("[0, 3)"));
  REQUIRE_THROWS_AS(nb::metrics::confusion_matrix(predicted, nb::from_vector<std::int64_t>({0, 1}, {2}), 3),
                    nb::ShapeError);
  REQUIRE_THROWS_AS(nb::metrics::confusion_matrix(predicted, truth, 0), nb::ValueError);
  REQUIRE_THROWS_AS(nb::metrics::confusion_matrix(predicted, truth, std::int64_t{1} << 40), nb::ShapeError);
  REQUIRE_THROWS_AS(nb::metrics::format_confusion_matrix(matrix, {"a", "b"}), nb::ValueError);
  REQUIRE_THROWS_AS(nb::metrics::format_confusion_matrix(nb::from_vector<std::int64_t>({1, 2}, {2})), nb::ShapeError);
}

}  // namespace test_metrics
