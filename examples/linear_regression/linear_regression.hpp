// examples/linear_regression/linear_regression.hpp - the pieces of the linear-regression
// example that are worth testing on their own (tests/test_example_linear_regression.cpp):
// the hand-derived gradients of the mean squared error, the closed-form least-squares
// solution, and a strict loader of the Boston house prices CSV (on nabla's read_csv).
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nabla/data/csv.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/data.hpp"

namespace linear_regression {

// ---- part 1: y = theta0 + theta1 * x ----------------------------------------------------

/// J and its gradient at (theta0, theta1).
template <typename T>
struct LineLossAndGradient {
  T loss;         // J = 1/(2n) sum (y_i - yhat_i)^2
  T d_intercept;  // dJ/dtheta0
  T d_slope;      // dJ/dtheta1
};

/// The gradient of J = 1/(2n) sum_i (y_i - yhat_i)^2, yhat_i = theta0 + theta1 x_i, derived by
/// hand (docs/gradient_descent.md):
///   dJ/dtheta0 = -(1/n) sum_i (y_i - yhat_i)
///   dJ/dtheta1 = -(1/n) sum_i (y_i - yhat_i) x_i
/// With `sign_slip` it returns the textbook slip instead, +(1/n) sum (y_i - yhat_i) (and times
/// x_i): the gradient with the wrong sign. The sums are accumulated in double, so the result
/// is the formula rounded once to T (beyond the rounding of each residual).
template <typename T>
LineLossAndGradient<T> line_gradient(const std::vector<T>& x, const std::vector<T>& y, T theta0, T theta1,
                                     bool sign_slip = false) {
  if (x.size() != y.size() || x.empty())
    throw std::invalid_argument("line_gradient: x and y must be non-empty and of the same length, got " +
                                std::to_string(x.size()) + " and " + std::to_string(y.size()));
  double squared_errors = 0, residuals = 0, residuals_times_x = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double residual = static_cast<double>(y[i] - (theta0 + theta1 * x[i]));  // y_i - yhat_i
    squared_errors += residual * residual;
    residuals += residual;
    residuals_times_x += residual * static_cast<double>(x[i]);
  }
  const double n = static_cast<double>(x.size());
  // The minus sign is the chain rule's d(y_i - yhat_i)/dtheta0 = -1 (and -x_i for theta1).
  const double sign = sign_slip ? 1.0 : -1.0;
  return {static_cast<T>(squared_errors / (2 * n)), static_cast<T>(sign * residuals / n),
          static_cast<T>(sign * residuals_times_x / n)};
}

/// The least-squares line through (x_i, y_i): slope = cov(x, y) / var(x), intercept = mean(y)
/// - slope * mean(x). What gradient descent on J converges to.
template <typename T>
std::pair<double, double> least_squares_line(const std::vector<T>& x, const std::vector<T>& y) {
  const double n = static_cast<double>(x.size());
  double mean_x = 0, mean_y = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mean_x += x[i];
    mean_y += y[i];
  }
  mean_x /= n;
  mean_y /= n;
  double covariance = 0, variance = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    covariance += (x[i] - mean_x) * (y[i] - mean_y);
    variance += (x[i] - mean_x) * (x[i] - mean_x);
  }
  const double slope = covariance / variance;
  return {mean_y - slope * mean_x, slope};
}

// ---- part 2: least squares with many features ------------------------------------------

/// The design matrix [1 | X] of a model with an intercept: a column of ones, then the features
/// (`features` is row-major [rows, columns], as a contiguous nabla tensor stores it).
inline Eigen::MatrixXd design_matrix(const double* features, std::int64_t rows, std::int64_t columns) {
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::MatrixXd design(rows, columns + 1);
  design.col(0).setOnes();
  design.rightCols(columns) = Eigen::Map<const RowMajorMatrix>(features, rows, columns);
  return design;
}

/// The coefficients [intercept, w_1, ..., w_p] minimizing ||design * theta - y||^2, from a
/// column-pivoting Householder QR of the design matrix [1 | X] (more accurate than solving the
/// normal equations X^T X w = X^T y, whose condition number is the square of X's). Throws
/// std::runtime_error when [1 | X] is rank-deficient (a constant or duplicated column): the
/// solution is then not unique, so gradient descent and the closed form need not agree.
inline Eigen::VectorXd closed_form_least_squares(const Eigen::MatrixXd& design, const Eigen::VectorXd& targets) {
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(design);
  if (qr.rank() < design.cols())
    throw std::runtime_error("closed_form_least_squares: the design matrix [1 | X] (" + std::to_string(design.rows()) +
                             " x " + std::to_string(design.cols()) + ") has rank " + std::to_string(qr.rank()) +
                             ": some feature is constant or a combination of others, so the least-squares "
                             "solution is not unique");
  return qr.solve(targets);
}

/// The eigenvalues (ascending) of the Hessian of the mean squared error
/// L(theta) = 1/n ||design * theta - y||^2, which is H = (2/n) design^T design. Gradient descent
/// on L converges for learning rates below 2 / lambda_max, at a speed set by lambda_max / lambda_min.
inline Eigen::VectorXd mse_hessian_eigenvalues(const Eigen::MatrixXd& design) {
  const Eigen::MatrixXd hessian = 2.0 / static_cast<double>(design.rows()) * design.transpose() * design;
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(hessian, Eigen::EigenvaluesOnly).eigenvalues();
}

/// sqrt(1/n ||design * theta - y||^2): the root mean squared error of the coefficients theta.
inline double root_mean_squared_error(const Eigen::MatrixXd& design, const Eigen::VectorXd& theta,
                                      const Eigen::VectorXd& targets) {
  return (design * theta - targets).norm() / std::sqrt(static_cast<double>(design.rows()));
}

/// max_i |a_i - b_i| / |b_i|: how far `a` is from the reference `b`, coefficient by
/// coefficient (an absolute difference where b_i is exactly 0).
inline double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("max_relative_difference: " + std::to_string(a.size()) + " vs " +
                                std::to_string(b.size()) + " values");
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double difference = std::abs(a[i] - b[i]);
    worst = std::max(worst, b[i] == 0 ? difference : difference / std::abs(b[i]));
  }
  return worst;
}

// ---- the Boston house prices data -------------------------------------------------------

/// The data set, for the messages of DataMissing and DataCorrupted.
inline constexpr nabla_examples::DataSet kBostonData{"the Boston data", "boston"};

/// The CSV's header: 13 features, then the target medv (median home value, $1000s).
inline const std::vector<std::string>& boston_columns() {
  static const std::vector<std::string> columns = {"crim", "zn",  "indus", "chas",    "nox", "rm",    "age",
                                                   "dis",  "rad", "tax",   "ptratio", "b",   "lstat", "medv"};
  return columns;
}

/// No data file (DataMissing), or one that is not a well-formed Boston CSV: truncated, edited,
/// another file (DataCorrupted).
using nabla_examples::DataCorrupted;
using nabla_examples::DataMissing;

/// The Boston table: `features` row-major [rows, 13], `targets` [rows].
struct BostonTable {
  std::int64_t rows = 0;
  std::vector<std::string> feature_names;
  std::vector<double> features;
  std::vector<double> targets;
};

/// The CSV inside a data directory: <dir>/data/data.csv as scripts/fetch_data.sh unpacks it,
/// or <dir>/data.csv, or <dir>/package/data/data.csv (a plain `tar xzf` of the npm tarball).
inline std::filesystem::path find_boston_csv(const std::filesystem::path& directory) {
  std::error_code error;
  for (const auto& candidate :
       {directory / "data" / "data.csv", directory / "data.csv", directory / "package" / "data" / "data.csv"})
    if (std::filesystem::is_regular_file(candidate, error)) return candidate;
  throw DataMissing(kBostonData,
                    "no Boston house prices data in '" + directory.string() + "' (looked for data/data.csv)");
}

/// Parses the Boston CSV with nabla's CSV reader, strictly: the exact header, then rows of 14
/// finite numbers, and a line break at the very end. That last rule is what catches a file cut
/// inside its last number ("11.90" cut to "11.9" still parses). Every problem is a DataCorrupted
/// error naming the file and, where there is one, the line. `source` names the file in errors.
inline BostonTable parse_boston_csv(const std::string& text, const std::string& source) {
  const std::vector<std::string>& columns = boston_columns();
  if (text.empty()) throw DataCorrupted(kBostonData, source + ": the file is empty");
  if (text.back() != '\n')
    throw DataCorrupted(kBostonData, source + ":" + std::to_string(std::count(text.begin(), text.end(), '\n') + 1) +
                                         ": the last line does not end with a line break: the file looks truncated");
  BostonTable table;
  table.feature_names.assign(columns.begin(), columns.end() - 1);
  try {
    std::istringstream stream(text);
    const nabla::data::CsvTable csv = nabla::data::read_csv(stream, {}, source);
    if (csv.column_names() != columns) {
      std::string expected, got;
      for (const auto& name : columns) expected += (expected.empty() ? "" : ",") + name;
      for (const auto& name : csv.column_names()) got += (got.empty() ? "" : ",") + name;
      throw DataCorrupted(kBostonData,
                          source + ":1: expected the header '" + expected + "', got '" + got.substr(0, 200) + "'");
    }
    if (csv.num_rows() == 0) throw DataCorrupted(kBostonData, source + ": no data rows after the header");
    table.rows = csv.num_rows();
    table.features = csv.to_tensor<double>(table.feature_names).to_vector();
    table.targets = csv.column<double>(columns.back()).to_vector();
    // The reader accepts "nan" and "inf" as numbers; a regression cannot.
    for (std::int64_t row = 0; row < table.rows; ++row)
      for (std::size_t column = 0; column < columns.size(); ++column) {
        const double value = column + 1 < columns.size()
                                 ? table.features[static_cast<std::size_t>(row) * (columns.size() - 1) + column]
                                 : table.targets[static_cast<std::size_t>(row)];
        if (!std::isfinite(value))
          throw DataCorrupted(kBostonData, source + ":" + std::to_string(csv.line_of_row(row)) + ": column '" +
                                               columns[column] + "' holds " + std::to_string(value) +
                                               ", not a finite number");
      }
  } catch (const nabla::Error& error) {  // the reader's IOError / ValueError: a malformed file
    throw DataCorrupted(kBostonData, error.what());
  }
  return table;
}

/// Reads the Boston CSV from a data directory (see find_boston_csv).
inline BostonTable load_boston(const std::filesystem::path& directory) {
  const std::filesystem::path path = find_boston_csv(directory);
  return parse_boston_csv(nabla_examples::read_data_file(kBostonData, path), path.string());
}

}  // namespace linear_regression
