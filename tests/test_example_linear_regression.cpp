// Tests of the linear-regression example's pieces (examples/linear_regression/): the
// hand-derived MSE gradients against hand-computed numbers, finite differences and autograd;
// the closed-form least squares; and the strict Boston CSV reader on corrupted input. No
// network: every data file is made here.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "../examples/linear_regression/linear_regression.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_example_linear_regression {

namespace nb = nabla;
namespace example = linear_regression;

namespace {

/// A small, well-formed Boston-style CSV: the real header and `rows` rows of made-up numbers.
std::string synthetic_boston_csv(int rows) {
  std::string text = "crim,zn,indus,chas,nox,rm,age,dis,rad,tax,ptratio,b,lstat,medv\n";
  for (int row = 0; row < rows; ++row) {
    for (int column = 0; column < 14; ++column) {
      text += std::to_string(row * 0.5 + column * 1.25 + (row * column % 7) * 0.125);
      text += column == 13 ? "\n" : ",";
    }
  }
  return text;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path, std::ios::binary);
  file << text;
}

}  // namespace

TEST_CASE("line_gradient: the hand-derived MSE gradient on numbers worked by hand", "[example][linear_regression]") {
  // x = 1, 2, 3; y = 2, 4, 7; theta = (0.5, 1): residuals y - yhat = 0.5, 1.5, 3.5.
  // J = (0.25 + 2.25 + 12.25) / 6, dJ/dtheta0 = -(5.5) / 3, dJ/dtheta1 = -(0.5 + 3 + 10.5) / 3.
  const std::vector<double> x = {1, 2, 3}, y = {2, 4, 7};
  const auto result = example::line_gradient(x, y, 0.5, 1.0);
  CHECK(result.loss == Approx(14.75 / 6).epsilon(1e-15));
  CHECK(result.d_intercept == Approx(-5.5 / 3).epsilon(1e-15));
  CHECK(result.d_slope == Approx(-14.0 / 3).epsilon(1e-15));

  // The textbook slip: the same magnitudes with the opposite sign.
  const auto slip = example::line_gradient(x, y, 0.5, 1.0, /*sign_slip=*/true);
  CHECK(slip.loss == result.loss);
  CHECK(slip.d_intercept == Approx(5.5 / 3).epsilon(1e-15));
  CHECK(slip.d_slope == Approx(14.0 / 3).epsilon(1e-15));

  REQUIRE_THROWS_WITH(example::line_gradient(std::vector<double>{1, 2}, std::vector<double>{1}, 0.0, 0.0),
                      Catch::Contains("same length"));
  REQUIRE_THROWS_WITH(example::line_gradient(std::vector<double>{}, std::vector<double>{}, 0.0, 0.0),
                      Catch::Contains("non-empty"));
}

TEST_CASE("line_gradient: agrees with finite differences and with nabla's autograd", "[example][linear_regression]") {
  const nb::Tensor<double> x = nb::randn<double>({50}, 7);
  const nb::Tensor<double> y = 1.5 - 2.0 * x + 0.3 * nb::randn<double>({50}, 8);
  const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
  const double theta0 = 0.25, theta1 = -0.75;
  const auto hand = example::line_gradient(xs, ys, theta0, theta1);

  // Central differences of J (exact for a quadratic up to rounding).
  const double h = 1e-4;
  const auto loss_at = [&](double a, double b) { return example::line_gradient(xs, ys, a, b).loss; };
  CHECK(hand.d_intercept ==
        Approx((loss_at(theta0 + h, theta1) - loss_at(theta0 - h, theta1)) / (2 * h)).epsilon(1e-7));
  CHECK(hand.d_slope == Approx((loss_at(theta0, theta1 + h) - loss_at(theta0, theta1 - h)) / (2 * h)).epsilon(1e-7));

  // Autograd on J = 1/2 mean((y - (theta0 + theta1 x))^2).
  nb::Tensor<double> intercept = nb::full<double>({1}, theta0).requires_grad_();
  nb::Tensor<double> slope = nb::full<double>({1}, theta1).requires_grad_();
  const nb::Tensor<double> loss = 0.5 * nb::mean(nb::square(y - (intercept + slope * x)));
  loss.backward();
  CHECK(loss.item() == Approx(hand.loss).epsilon(1e-12));
  CHECK(intercept.grad().item() == Approx(hand.d_intercept).epsilon(1e-12));
  CHECK(slope.grad().item() == Approx(hand.d_slope).epsilon(1e-12));
}

TEST_CASE("gradient descent: the right sign descends, the sign slip ascends", "[example][linear_regression]") {
  const std::vector<double> x = {-1, 0, 1, 2}, y = {-1, 1, 3, 5};  // y = 1 + 2x exactly
  const double learning_rate = 0.1;
  double theta0 = 0, theta1 = 0, slipped0 = 0, slipped1 = 0;
  const double start = example::line_gradient(x, y, 0.0, 0.0).loss;
  for (int step = 0; step < 200; ++step) {
    const auto right = example::line_gradient(x, y, theta0, theta1);
    theta0 -= learning_rate * right.d_intercept;
    theta1 -= learning_rate * right.d_slope;
    const auto slipped = example::line_gradient(x, y, slipped0, slipped1, /*sign_slip=*/true);
    slipped0 -= learning_rate * slipped.d_intercept;
    slipped1 -= learning_rate * slipped.d_slope;
  }
  CHECK(theta0 == Approx(1.0).margin(1e-6));
  CHECK(theta1 == Approx(2.0).margin(1e-6));
  CHECK(example::line_gradient(x, y, slipped0, slipped1).loss > 1e6 * start);

  const auto [intercept, slope] = example::least_squares_line(x, y);
  CHECK(intercept == Approx(1.0).epsilon(1e-12));
  CHECK(slope == Approx(2.0).epsilon(1e-12));
}

TEST_CASE("closed_form_least_squares: recovers known coefficients, refuses a rank-deficient design",
          "[example][linear_regression]") {
  // y = 4 + 1 x1 - 2 x2 + 0.5 x3, no noise: least squares must give the coefficients back.
  const std::int64_t rows = 20, columns = 3;
  const std::vector<double> features = nb::randn<double>({rows, columns}, 3).to_vector();
  std::vector<double> targets;
  for (std::int64_t row = 0; row < rows; ++row)
    targets.push_back(4 + features[row * 3] - 2 * features[row * 3 + 1] + 0.5 * features[row * 3 + 2]);
  const Eigen::MatrixXd design = example::design_matrix(features.data(), rows, columns);
  REQUIRE(design.rows() == rows);
  REQUIRE(design.cols() == 4);
  CHECK(design(2, 0) == 1.0);
  CHECK(design(2, 3) == features[2 * 3 + 2]);  // row-major input, column 3 = feature 2
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(targets.data(), rows);
  const Eigen::VectorXd solution = example::closed_form_least_squares(design, y);
  REQUIRE(solution.size() == 4);
  CHECK(solution[0] == Approx(4.0).epsilon(1e-12));
  CHECK(solution[1] == Approx(1.0).epsilon(1e-12));
  CHECK(solution[2] == Approx(-2.0).epsilon(1e-12));
  CHECK(solution[3] == Approx(0.5).epsilon(1e-12));
  CHECK(example::root_mean_squared_error(design, solution, y) < 1e-12);
  // Off by 0.5 in the intercept: every prediction is 0.5 too high.
  Eigen::VectorXd shifted = solution;
  shifted[0] += 0.5;
  CHECK(example::root_mean_squared_error(design, shifted, y) == Approx(0.5).epsilon(1e-12));

  // A constant feature duplicates the intercept column: no unique solution.
  std::vector<double> with_constant = features;
  for (std::int64_t row = 0; row < rows; ++row) with_constant[row * 3 + 1] = 7.0;
  REQUIRE_THROWS_WITH(
      example::closed_form_least_squares(example::design_matrix(with_constant.data(), rows, columns), y),
      Catch::Contains("rank 3") && Catch::Contains("not unique"));
}

TEST_CASE("mse_hessian_eigenvalues: the curvature that bounds the learning rate", "[example][linear_regression]") {
  // x = -1, 1 (mean 0, mean square 1): H = (2/n) [1 x]^T [1 x] = 2 I, both eigenvalues 2.
  const std::vector<double> centered = {-1, 1};
  const Eigen::VectorXd flat = example::mse_hessian_eigenvalues(example::design_matrix(centered.data(), 2, 1));
  CHECK(flat[0] == Approx(2.0));
  CHECK(flat[1] == Approx(2.0));
  // x = 1, 3: (1/n) X^T X = [[1, 2], [2, 5]], eigenvalues 3 -+ 2 sqrt(2); H is twice that.
  const std::vector<double> shifted = {1, 3};
  const Eigen::VectorXd tilted = example::mse_hessian_eigenvalues(example::design_matrix(shifted.data(), 2, 1));
  CHECK(tilted[0] == Approx(2 * (3 - 2 * std::sqrt(2.0))));
  CHECK(tilted[1] == Approx(2 * (3 + 2 * std::sqrt(2.0))));
}

TEST_CASE("max_relative_difference: coefficient by coefficient", "[example][linear_regression]") {
  CHECK(example::max_relative_difference({1.1, -2.0, 0.5}, {1.0, -2.0, 0.25}) == Approx(1.0));
  CHECK(example::max_relative_difference({1.0, 0.003}, {1.0, 0.0}) == Approx(0.003));  // |b| = 0: absolute
  CHECK(example::max_relative_difference({2.0}, {2.0}) == 0.0);
  REQUIRE_THROWS_WITH(example::max_relative_difference({1.0}, {1.0, 2.0}), Catch::Contains("1 vs 2"));
}

TEST_CASE("parse_boston_csv: reads a well-formed file", "[example][linear_regression]") {
  const auto table = example::parse_boston_csv(synthetic_boston_csv(3), "test.csv");
  CHECK(table.rows == 3);
  REQUIRE(table.feature_names.size() == 13);
  CHECK(table.feature_names.front() == "crim");
  CHECK(table.feature_names.back() == "lstat");
  REQUIRE(table.features.size() == 39);
  REQUIRE(table.targets.size() == 3);
  // row 1, column 2: 0.5 + 2.5 + (2 % 7) * 0.125
  CHECK(table.features[13 + 2] == Approx(3.25));
  // row 2, target column 13: 1.0 + 16.25 + (26 % 7) * 0.125
  CHECK(table.targets[2] == Approx(17.875));

  // Blank lines are skipped (nabla's read_csv does), and Windows line ends are accepted.
  const std::string two_rows = synthetic_boston_csv(2);
  CHECK(example::parse_boston_csv(
            two_rows.substr(0, two_rows.find('\n') + 1) + "\n" + two_rows.substr(two_rows.find('\n') + 1), "blank.csv")
            .rows == 2);
  std::string crlf;
  for (char c : synthetic_boston_csv(2)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  CHECK(example::parse_boston_csv(crlf, "crlf.csv").rows == 2);
}

TEST_CASE("parse_boston_csv: corrupted files give a clear error naming the line", "[example][linear_regression]") {
  const std::string good = synthetic_boston_csv(4);
  const std::string header = good.substr(0, good.find('\n') + 1);
  using example::DataCorrupted;
  REQUIRE_THROWS_AS(example::parse_boston_csv("", "f.csv"), DataCorrupted);
  REQUIRE_THROWS_WITH(example::parse_boston_csv("", "f.csv"), Catch::Contains("f.csv: the file is empty"));
  // cut inside the last number: "...,17.875000\n" becomes "...,17.87", which still reads as a
  // number; the missing final line break gives the truncation away
  REQUIRE_THROWS_WITH(example::parse_boston_csv(good.substr(0, good.size() - 5), "f.csv"),
                      Catch::Contains("f.csv:5") && Catch::Contains("the file looks truncated"));
  // a CSV of something else
  REQUIRE_THROWS_WITH(
      example::parse_boston_csv("a,b,c\n1,2,3\n", "f.csv"),
      Catch::Contains("f.csv:1") && Catch::Contains("expected the header 'crim,zn,") && Catch::Contains("got 'a,b,c'"));
  // a header and nothing else
  REQUIRE_THROWS_WITH(example::parse_boston_csv(header, "f.csv"), Catch::Contains("no data rows"));
  // a missing field
  REQUIRE_THROWS_WITH(example::parse_boston_csv(header + "1,2,3,4,5,6,7,8,9,10,11,12,13\n", "f.csv"),
                      Catch::Contains("f.csv:2") && Catch::Contains("row has 13 fields, but the header has 14"));
  // text, an empty field, NaN, infinity and an overflow where numbers belong
  for (const std::string bad : {"abc", "", "nan", "-inf", "1e999", "1.5x"}) {
    INFO("bad field: '" << bad << "'");
    const std::string text = header + "1,2,3,4,5,6,7,8,9,10,11,12,13,14\n1,2,3,4,5,6," + bad + ",8,9,10,11,12,13,14\n";
    REQUIRE_THROWS_AS(example::parse_boston_csv(text, "f.csv"), DataCorrupted);
    REQUIRE_THROWS_WITH(example::parse_boston_csv(text, "f.csv"),
                        Catch::Contains("f.csv:3") && Catch::Contains("column 'age'"));
  }
}

TEST_CASE("parse_boston_csv: a file truncated anywhere is read whole-rows-only or refused",
          "[example][linear_regression]") {
  // Cut the file after every possible byte: the reader either gets the complete rows before a
  // line end, or throws DataCorrupted. It never returns a half row or fails otherwise.
  const std::string good = synthetic_boston_csv(5);
  const std::size_t header_end = good.find('\n') + 1;
  int refused = 0, accepted = 0;
  for (std::size_t length = 0; length < good.size(); ++length) {
    const std::string cut = good.substr(0, length);
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    const bool at_row_end = length > header_end && good[length - 1] == '\n';
    if (at_row_end) {
      const auto table = example::parse_boston_csv(cut, "cut.csv");
      CHECK(table.rows == std::count(cut.begin(), cut.end(), '\n') - 1);
      CHECK(table.features.size() == static_cast<std::size_t>(13 * table.rows));
      ++accepted;
    } else {
      REQUIRE_THROWS_AS(example::parse_boston_csv(cut, "cut.csv"), example::DataCorrupted);
      ++refused;
    }
  }
  CHECK(accepted == 4);  // the cuts after rows 1..4 (the cut after row 5 is the whole file)
  CHECK(refused == static_cast<int>(good.size()) - 4);
}

TEST_CASE("load_boston: finds the CSV in the layouts the fetch script and tar produce",
          "[example][linear_regression]") {
  const nabla_test::TempDir scratch("linear_regression");
  const std::filesystem::path& directory = scratch.path();
  REQUIRE_THROWS_AS(example::load_boston(directory), example::DataMissing);
  REQUIRE_THROWS_WITH(example::load_boston(directory / "nowhere"), Catch::Contains("no Boston house prices data"));

  write_file(directory / "fetched" / "data" / "data.csv", synthetic_boston_csv(3));  // scripts/fetch_data.sh
  CHECK(example::load_boston(directory / "fetched").rows == 3);
  write_file(directory / "untarred" / "package" / "data" / "data.csv", synthetic_boston_csv(2));  // tar xzf
  CHECK(example::load_boston(directory / "untarred").rows == 2);

  const std::string good = synthetic_boston_csv(3);
  write_file(directory / "truncated" / "data.csv", good.substr(0, good.size() / 2));
  REQUIRE_THROWS_AS(example::load_boston(directory / "truncated"), example::DataCorrupted);
}

}  // namespace test_example_linear_regression
