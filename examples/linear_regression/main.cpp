// examples/linear_regression/main.cpp - linear regression by gradient descent, in two parts.
//
// Part 1 fits y = theta0 + theta1 x to synthetic, seeded data three ways side by side: with
// gradients derived by hand, with nabla's autograd, and with nabla's SGD optimizer. The three
// must agree to float rounding at every step (checked). Then it shows the effect of the
// learning rate (too small, good, too large) and of the textbook sign slip in the gradient.
//
// Part 2 fits the Boston house prices (13 features -> median home value) with full-batch
// gradient descent, mini-batch SGD and Adam, and compares each with the closed-form
// least-squares solution (QR through Eigen). Converged full-batch GD must match it to 1e-3
// (checked). It prints train/test RMSE and writes the loss curves as an SVG.
//
// Run from the repository root:
//   bash scripts/fetch_data.sh boston          # part 2's data, once
//   build/examples/linear_regression           # both parts; --help lists the options
//
// Exit status: 0 when every check passed; 1 when a check failed or the data is missing or
// corrupted; 2 for a bad command line. docs/gradient_descent.md derives the gradients.
#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nabla/nabla.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../common/run.hpp"
#include "linear_regression.hpp"

namespace nb = nabla;
namespace example = linear_regression;

namespace {

// ---- command line ----------------------------------------------------------------------

struct Options {
  std::string part = "all";   // "1", "2" or "all"
  std::string data_dir;       // the Boston data set's default directory unless --data-dir
  std::optional<int> steps;   // full-batch gradient-descent steps (both parts)
  std::optional<int> epochs;  // mini-batch SGD and Adam epochs (part 2)
  std::string svg = "linear_regression_loss.svg";
  std::uint64_t seed = 42;
  bool quick = false;  // a few seconds: the CI smoke test
};

void define_options(nabla_examples::CommandLine& cli, Options& options) {
  cli.choice("--part", options.part, {"1", "2", "all"}, "which part to run (default all)");
  cli.data_dir(options.data_dir, example::kBostonData,
               "the Boston data: DIR/data/data.csv, DIR/data.csv or DIR/package/data/data.csv");
  cli.integer<int>("--steps", options.steps, 1, 10'000'000,
                   "full-batch gradient-descent steps (default: part 1 30, part 2 3000;\n--quick: 1500)");
  cli.integer<int>("--epochs", options.epochs, 1, 1'000'000,
                   "mini-batch SGD and Adam epochs in part 2 (default 300; --quick: 30)");
  cli.text("--svg", options.svg, "FILE", "where part 2 writes its loss curves (default " + options.svg + ")");
  cli.seed(options.seed, "the synthetic data, the split and the shuffling");
  cli.quick(options.quick, "a short run (the CI smoke test)");
}

// ---- small helpers -------------------------------------------------------------------------

using nabla_examples::Checks;
using nabla_examples::format;
using nabla_examples::seconds_since;

/// |a - b| within `ulps` float epsilons of the larger magnitude (at least 1): "equal up to
/// float rounding" for values computed by different but equally valid summation orders.
bool agree_to_float_rounding(double a, double b, double ulps) {
  const double scale = std::max({1.0, std::abs(a), std::abs(b)});
  return std::abs(a - b) <= ulps * std::numeric_limits<float>::epsilon() * scale;
}

// ---- part 1 --------------------------------------------------------------------------------

void run_part_one(const Options& options, Checks& checks) {
  std::printf("=== Part 1: y = theta0 + theta1 x, three ways ===\n\n");
  const auto start = nabla_examples::Clock::now();

  // Synthetic data: x ~ N(0, 1), y = 2 + 3x + noise, seeded so every run prints the same.
  constexpr std::int64_t n = 100;
  const nb::Tensor<float> x = nb::randn<float>({n}, options.seed);
  const nb::Tensor<float> y = 2.0f + 3.0f * x + 0.5f * nb::randn<float>({n}, options.seed + 1);
  const std::vector<float> xs = x.to_vector(), ys = y.to_vector();
  const auto [best_intercept, best_slope] = example::least_squares_line(xs, ys);
  const double best_loss =
      example::line_gradient(xs, ys, static_cast<float>(best_intercept), static_cast<float>(best_slope)).loss;
  std::printf("data: %lld points, y = 2 + 3x + 0.5 * noise (seed %llu)\n", static_cast<long long>(n),
              static_cast<unsigned long long>(options.seed));
  std::printf("loss: J = 1/(2n) sum (y_i - yhat_i)^2 with yhat_i = theta0 + theta1 x_i\n");
  std::printf("least squares (closed form): theta0 = %.5f, theta1 = %.5f, J = %.5f\n\n", best_intercept, best_slope,
              best_loss);

  // The three learners start at theta = (0, 0) and use the same learning rate.
  const float learning_rate = 0.5f;
  const int steps = options.steps.value_or(30);
  const int print_every = std::max(1, steps / 10);

  // 1. by hand: plain floats and the formulas of line_gradient()
  float hand_intercept = 0, hand_slope = 0;
  // 2. autograd: the same loss written with nabla ops; backward() derives the gradient
  nb::Tensor<float> autograd_intercept = nb::zeros<float>({1}).requires_grad_();
  nb::Tensor<float> autograd_slope = nb::zeros<float>({1}).requires_grad_();
  // 3. autograd + nabla's optimizer, which does the update theta <- theta - lr * grad
  nb::Tensor<float> optimizer_intercept = nb::zeros<float>({1}).requires_grad_();
  nb::Tensor<float> optimizer_slope = nb::zeros<float>({1}).requires_grad_();
  nb::optim::SGD<float> sgd({optimizer_intercept, optimizer_slope}, {.lr = learning_rate});

  const auto loss_of = [&](const nb::Tensor<float>& theta0, const nb::Tensor<float>& theta1) {
    return 0.5f * nb::mean(nb::square(y - (theta0 + theta1 * x)));  // J = 1/(2n) sum (y - yhat)^2
  };

  std::printf("gradient descent, learning rate %.2f: theta <- theta - lr * dJ/dtheta\n", learning_rate);
  std::printf("%5s %10s | %19s | %19s | %29s | %29s\n", "", "", "dJ/dtheta0", "dJ/dtheta1", "theta0", "theta1");
  std::printf("%5s %10s | %9s %9s | %9s %9s | %9s %9s %9s | %9s %9s %9s\n", "step", "J", "hand", "autograd", "hand",
              "autograd", "hand", "autograd", "SGD", "hand", "autograd", "SGD");
  double worst_gradient_gap = 0, worst_parameter_gap = 0, worst_loss_gap = 0;
  bool all_agree = true;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step <= steps; ++step) {
    const auto hand = example::line_gradient(xs, ys, hand_intercept, hand_slope);
    const nb::Tensor<float> autograd_loss = loss_of(autograd_intercept, autograd_slope);
    autograd_loss.backward();
    sgd.zero_grad();
    const nb::Tensor<float> optimizer_loss = loss_of(optimizer_intercept, optimizer_slope);
    optimizer_loss.backward();

    // The three agree on J, the gradient and the parameters (before this step's update).
    const double gradient_values[2][3] = {
        {hand.d_intercept, autograd_intercept.grad().item(), optimizer_intercept.grad().item()},
        {hand.d_slope, autograd_slope.grad().item(), optimizer_slope.grad().item()}};
    const double parameter_values[2][3] = {{hand_intercept, autograd_intercept.item(), optimizer_intercept.item()},
                                           {hand_slope, autograd_slope.item(), optimizer_slope.item()}};
    const double loss_values[3] = {hand.loss, autograd_loss.item(), optimizer_loss.item()};
    for (int k = 1; k < 3; ++k) {
      for (int p = 0; p < 2; ++p) {
        worst_gradient_gap = std::max(worst_gradient_gap, std::abs(gradient_values[p][k] - gradient_values[p][0]));
        worst_parameter_gap = std::max(worst_parameter_gap, std::abs(parameter_values[p][k] - parameter_values[p][0]));
        all_agree = all_agree && agree_to_float_rounding(gradient_values[p][k], gradient_values[p][0], 16) &&
                    agree_to_float_rounding(parameter_values[p][k], parameter_values[p][0], 16);
      }
      worst_loss_gap = std::max(worst_loss_gap, std::abs(loss_values[k] - loss_values[0]));
      all_agree = all_agree && agree_to_float_rounding(loss_values[k], loss_values[0], 16);
    }
    if (step == 0) first_loss = hand.loss;
    last_loss = hand.loss;
    if (step % print_every == 0 || step == steps)
      std::printf("%5d %10.6f | %9.5f %9.5f | %9.5f %9.5f | %9.5f %9.5f %9.5f | %9.5f %9.5f %9.5f\n", step, hand.loss,
                  gradient_values[0][0], gradient_values[0][1], gradient_values[1][0], gradient_values[1][1],
                  parameter_values[0][0], parameter_values[0][1], parameter_values[0][2], parameter_values[1][0],
                  parameter_values[1][1], parameter_values[1][2]);
    if (step == steps) break;

    // The three updates.
    hand_intercept -= learning_rate * hand.d_intercept;
    hand_slope -= learning_rate * hand.d_slope;
    {
      nb::NoGradGuard no_grad;  // the update itself is not part of the graph
      autograd_intercept -= learning_rate * autograd_intercept.grad();
      autograd_slope -= learning_rate * autograd_slope.grad();
    }
    autograd_intercept.zero_grad();
    autograd_slope.zero_grad();
    sgd.step();
  }
  std::printf("\nlargest difference to the hand-derived values over all %d steps: J %.2e, gradient %.2e, theta %.2e\n",
              steps, worst_loss_gap, worst_gradient_gap, worst_parameter_gap);
  checks.expect(all_agree, "hand-derived gradients, autograd and nabla's SGD agree to float rounding at every step");
  checks.expect(last_loss < first_loss,
                "the loss fell (" + format("%.5f", first_loss) + " -> " + format("%.5f", last_loss) + ")");
  checks.expect(std::abs(hand_intercept - best_intercept) < 1e-3 && std::abs(hand_slope - best_slope) < 1e-3,
                "gradient descent reached the least-squares line (theta0 " + format("%.5f", hand_intercept) +
                    ", theta1 " + format("%.5f", hand_slope) + ")");

  // ---- the learning rate, and the sign slip --------------------------------------------
  // The loss is a quadratic bowl with Hessian H = [[1, mean(x)], [mean(x), mean(x^2)]]. Gradient
  // descent multiplies the error along each eigenvector of H by (1 - lr * lambda) per step, so
  // it converges exactly when lr < 2 / lambda_max.
  double mean_x = 0, mean_x_squared = 0;
  for (float value : xs) {
    mean_x += value;
    mean_x_squared += static_cast<double>(value) * value;
  }
  mean_x /= n;
  mean_x_squared /= n;
  // The eigenvalues of a symmetric 2x2 matrix [[a, b], [b, c]]: (a + c)/2 -+ sqrt(((a - c)/2)^2 + b^2).
  const double half_trace = (1 + mean_x_squared) / 2;
  const double spread = std::sqrt((1 - mean_x_squared) * (1 - mean_x_squared) / 4 + mean_x * mean_x);
  const double lambda_min = half_trace - spread, lambda_max = half_trace + spread;
  const float too_large = static_cast<float>(std::round(1.2 * 2 / lambda_max * 100) / 100);  // 20% past the edge
  std::printf(
      "\nthe learning rate: the Hessian of J has eigenvalues %.4f and %.4f, so gradient descent\n"
      "converges for lr < 2 / lambda_max = %.4f and diverges beyond\n",
      lambda_min, lambda_max, 2 / lambda_max);

  struct Run {
    std::string label;
    float learning_rate;
    bool sign_slip;
    std::vector<double> losses;
  };
  std::vector<Run> runs = {{"lr 0.01 (too small)", 0.01f, false, {}},
                           {"lr 0.5 (good)", 0.5f, false, {}},
                           {"lr " + format("%.2f", too_large) + " (too big)", too_large, false, {}},
                           {"lr 0.5, sign slip", 0.5f, true, {}}};
  constexpr int demo_steps = 40;
  for (Run& run : runs) {
    float theta0 = 0, theta1 = 0;
    for (int step = 0; step <= demo_steps; ++step) {
      const auto result = example::line_gradient(xs, ys, theta0, theta1, run.sign_slip);
      run.losses.push_back(result.loss);
      theta0 -= run.learning_rate * result.d_intercept;
      theta1 -= run.learning_rate * result.d_slope;
    }
  }
  std::printf("%5s", "step");
  for (const Run& run : runs) std::printf(" %22s", run.label.c_str());
  std::printf("\n");
  for (int step : {0, 1, 2, 3, 5, 10, 20, 30, 40}) {
    std::printf("%5d", step);
    for (const Run& run : runs) std::printf(" %22.6g", run.losses[static_cast<std::size_t>(step)]);
    std::printf("\n");
  }
  std::printf("(the minimum is J = %.6g)\n", best_loss);
  const auto excess = [&](const Run& run) { return run.losses.back() - best_loss; };
  checks.expect(excess(runs[0]) > 1000 * std::max(excess(runs[1]), 1e-9),
                "lr 0.01 is slow: after 40 steps J is still " + format("%.4g", excess(runs[0])) + " above the minimum");
  checks.expect(excess(runs[1]) < 1e-4 * runs[1].losses.front(), "lr 0.5 converged within 40 steps");
  checks.expect(!(runs[2].losses.back() < 100 * runs[2].losses.front()),
                "lr " + format("%.2f", too_large) + " > 2 / lambda_max diverges (J " +
                    format("%.4g", runs[2].losses.front()) + " -> " + format("%.4g", runs[2].losses.back()) + ")");
  checks.expect(!(runs[3].losses.back() < 100 * runs[3].losses.front()),
                "the sign slip turns descent into ascent: J grows (" + format("%.4g", runs[3].losses.front()) + " -> " +
                    format("%.4g", runs[3].losses.back()) + ")");
  std::printf("part 1 took %.2f s\n\n", seconds_since(start));
}

// ---- part 2 --------------------------------------------------------------------------------

/// One way of fitting the Boston model, and how it did.
struct MethodResult {
  std::string name;
  std::string color;
  int epochs = 0;
  std::vector<double> train_mse;     // after each epoch (index 0: at the start)
  std::vector<double> coefficients;  // [intercept, w_1 .. w_13]
  double train_rmse = 0, test_rmse = 0, seconds = 0;
  double max_relative_difference = 0;   // max_i |theta_i - theta*_i| / |theta*_i|
  double norm_relative_difference = 0;  // ||theta - theta*|| / ||theta*||
};

double mean_squared_error(nb::nn::Dense<double>& model, const nb::Tensor<double>& x, const nb::Tensor<double>& y) {
  nb::NoGradGuard no_grad;
  return nb::loss::mse(model(x), y).item();
}

std::vector<double> coefficients_of(const nb::nn::Dense<double>& model) {
  std::vector<double> coefficients = {model.bias().item()};
  for (double weight : model.weight().to_vector()) coefficients.push_back(weight);
  return coefficients;
}

/// Trains a fresh Dense(13, 1) (the same seeded start for every method). `epoch` runs one
/// epoch of updates with the given optimizer.
template <typename Optimizer, typename Epoch>
MethodResult fit(const std::string& name, const std::string& color, int epochs, std::uint64_t seed,
                 const typename Optimizer::Options& optimizer_options, const nb::Tensor<double>& x_train,
                 const nb::Tensor<double>& y_train, const Epoch& epoch) {
  const auto start = nabla_examples::Clock::now();
  nb::nn::Dense<double> model(x_train.size(1), 1, {.seed = seed});
  Optimizer optimizer(model.parameters(), optimizer_options);
  MethodResult result;
  result.name = name;
  result.color = color;
  result.epochs = epochs;
  result.train_mse.push_back(mean_squared_error(model, x_train, y_train));
  for (int e = 0; e < epochs; ++e) {
    epoch(model, optimizer, e);
    result.train_mse.push_back(mean_squared_error(model, x_train, y_train));
  }
  result.coefficients = coefficients_of(model);
  result.seconds = seconds_since(start);
  return result;
}

void write_loss_curves(const std::string& path, const std::vector<MethodResult>& methods, double best_train_mse) {
  // Panel 1: the training RMSE over the first epochs, where the methods differ most.
  // Panel 2: log10 of the excess loss J(theta) - J(theta*) over all epochs, which shows how
  // close each method gets to the least-squares solution (GD: to rounding; SGD: a noise floor).
  int most_epochs = 0;
  for (const auto& method : methods) most_epochs = std::max(most_epochs, method.epochs);
  const int early_epochs = std::min(most_epochs, 100);
  std::vector<double> all_x, early_x;
  for (int e = 0; e <= most_epochs; ++e) all_x.push_back(e);
  for (int e = 0; e <= early_epochs; ++e) early_x.push_back(e);
  nb::train::ChartPanel early{"training RMSE ($1000s), first " + std::to_string(early_epochs) + " epochs", {}, "epoch"};
  nb::train::ChartPanel excess{"log10(training MSE - least-squares MSE)", {}, "epoch"};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& method : methods) {
    std::vector<double> rmse(early_x.size(), nan), log_excess(all_x.size(), nan);
    for (std::size_t e = 0; e < method.train_mse.size(); ++e) {
      if (e < rmse.size()) rmse[e] = std::sqrt(method.train_mse[e]);
      // rounding can make the excess 0 or slightly negative once converged: draw the floor
      log_excess[e] = std::log10(std::max(method.train_mse[e] - best_train_mse, 1e-14 * best_train_mse));
    }
    early.series.push_back({method.name, rmse, method.color, false});
    excess.series.push_back({method.name, log_excess, method.color, false});
  }
  // line_chart_svg shares one x axis between panels: draw the two panels as two charts.
  const std::string early_svg = nb::train::line_chart_svg({early}, early_x);
  const std::string excess_svg = nb::train::line_chart_svg({excess}, all_x);
  // Stack them: each chart is a complete <svg> whose first attributes give its size; nest both
  // in an outer one, the second shifted down by the first one's height.
  const auto size_attribute = [](const std::string& svg, const std::string& name) {
    const std::size_t at = svg.find(name + "=\"") + name.size() + 2;
    return std::stod(svg.substr(at, svg.find('"', at) - at));
  };
  const double top_height = size_attribute(early_svg, "height");
  const double width = std::max(size_attribute(early_svg, "width"), size_attribute(excess_svg, "width"));
  const double height = top_height + size_attribute(excess_svg, "height");
  std::string document = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format("%.0f", width) + "\" height=\"" +
                         format("%.0f", height) + "\">\n";
  document += early_svg;
  document += "<g transform=\"translate(0," + format("%.0f", top_height) + ")\">\n" + excess_svg + "</g>\n</svg>\n";
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw nb::IOError("cannot open '" + path + "' for writing the loss curves");
  file << document;
  file.flush();
  if (!file) throw nb::IOError("writing the loss curves to '" + path + "' failed");
}

void run_part_two(const Options& options, Checks& checks) {
  std::printf("=== Part 2: Boston house prices ===\n\n");
  const auto start = nabla_examples::Clock::now();

  const example::BostonTable table = example::load_boston(options.data_dir);
  const std::int64_t n = table.rows, features = static_cast<std::int64_t>(table.feature_names.size());
  if (n < 2 * (features + 1))
    throw example::DataCorrupted(example::kBostonData, "only " + std::to_string(n) + " rows: too few to fit " +
                                                           std::to_string(features + 1) +
                                                           " coefficients and keep a test set");
  std::printf("data: %lld rows x %lld features from %s, target medv (median home value, $1000s)%s\n",
              static_cast<long long>(n), static_cast<long long>(features), options.data_dir.c_str(),
              n == 506 ? "" : " (the full data set has 506 rows)");

  // A seeded 80/20 split, then standardization with the TRAINING rows' mean and standard
  // deviation only: the test rows must not leak into anything the model learns from.
  const std::vector<std::int64_t> order = nb::data::shuffled_indices(n, options.seed);
  const std::int64_t test_rows = n / 5, train_rows = n - test_rows;
  const std::vector<std::int64_t> train_index(order.begin(), order.begin() + train_rows);
  const std::vector<std::int64_t> test_index(order.begin() + train_rows, order.end());
  const nb::Tensor<double> all_x = nb::from_vector<double>(table.features, {n, features});
  const nb::Tensor<double> all_y = nb::from_vector<double>(table.targets, {n, 1});
  nb::data::StandardScaler<double> scaler;
  const nb::Tensor<double> x_train = scaler.fit_transform(nb::index_select(all_x, 0, train_index)).contiguous();
  const nb::Tensor<double> x_test = scaler.transform(nb::index_select(all_x, 0, test_index)).contiguous();
  const nb::Tensor<double> y_train = nb::index_select(all_y, 0, train_index).contiguous();
  const nb::Tensor<double> y_test = nb::index_select(all_y, 0, test_index).contiguous();
  std::printf(
      "split (seed %llu): %lld train rows, %lld test rows; features standardized with the train rows' "
      "mean and std\n",
      static_cast<unsigned long long>(options.seed), static_cast<long long>(train_rows),
      static_cast<long long>(test_rows));

  // The closed form: least squares by QR of [1 | X_train].
  const Eigen::MatrixXd train_design = example::design_matrix(x_train.data(), train_rows, features);
  const Eigen::MatrixXd test_design = example::design_matrix(x_test.data(), test_rows, features);
  const Eigen::Map<const Eigen::VectorXd> train_targets(y_train.data(), train_rows),
      test_targets(y_test.data(), test_rows);
  Eigen::VectorXd closed_form;
  try {
    closed_form = example::closed_form_least_squares(train_design, train_targets);
  } catch (const std::runtime_error& error) {
    throw example::DataCorrupted(example::kBostonData, error.what());
  }
  const std::vector<double> best(closed_form.data(), closed_form.data() + closed_form.size());
  const double best_train_rmse = example::root_mean_squared_error(train_design, closed_form, train_targets);

  // The MSE loss L = 1/n ||[1|X] theta - y||^2 has Hessian H = (2/n) [1|X]^T [1|X]. Full-batch
  // GD converges for lr < 2 / lambda_max; with lr = 1 / lambda_max the slowest direction shrinks
  // by (1 - lambda_min / lambda_max) per step, so the steps needed grow with the condition number.
  const Eigen::VectorXd eigenvalues = example::mse_hessian_eigenvalues(train_design);
  const double lambda_min = eigenvalues.minCoeff(), lambda_max = eigenvalues.maxCoeff();
  const double gd_learning_rate = 1 / lambda_max;
  std::printf(
      "Hessian of the MSE: eigenvalues %.4f .. %.4f, condition number %.1f; full-batch GD lr = 1/lambda_max "
      "= %.4f\n\n",
      lambda_min, lambda_max, lambda_max / lambda_min, gd_learning_rate);

  const int gd_steps = options.steps.value_or(options.quick ? 1500 : 3000);
  const int minibatch_epochs = options.epochs.value_or(options.quick ? 30 : 300);
  constexpr std::int64_t batch_size = 32;
  constexpr double sgd_learning_rate = 0.01, adam_learning_rate = 0.05;
  nb::data::DataLoader loader(nb::data::TensorDataset<double>(x_train, y_train),
                              {.batch_size = batch_size, .shuffle = true, .seed = options.seed});
  const auto minibatch_epoch = [&loader](nb::nn::Dense<double>& model, nb::optim::Optimizer<double>& optimizer,
                                         int epoch) {
    loader.set_epoch(static_cast<std::uint64_t>(epoch));
    for (const auto& [inputs, targets] : loader) {
      optimizer.zero_grad();
      nb::loss::mse(model(inputs), targets).backward();
      optimizer.step();
    }
  };

  std::vector<MethodResult> methods;
  methods.push_back(fit<nb::optim::SGD<double>>(
      "full-batch GD", "#1f77b4", gd_steps, options.seed, {.lr = gd_learning_rate}, x_train, y_train,
      [&](nb::nn::Dense<double>& model, nb::optim::Optimizer<double>& optimizer, int) {
        optimizer.zero_grad();
        nb::loss::mse(model(x_train), y_train).backward();
        optimizer.step();
      }));
  methods.push_back(fit<nb::optim::SGD<double>>("mini-batch SGD", "#ff7f0e", minibatch_epochs, options.seed,
                                                {.lr = sgd_learning_rate}, x_train, y_train, minibatch_epoch));
  methods.push_back(fit<nb::optim::Adam<double>>("Adam", "#2ca02c", minibatch_epochs, options.seed,
                                                 {.lr = adam_learning_rate}, x_train, y_train, minibatch_epoch));

  for (auto& method : methods) {
    const Eigen::Map<const Eigen::VectorXd> theta(method.coefficients.data(), closed_form.size());
    method.train_rmse = example::root_mean_squared_error(train_design, theta, train_targets);
    method.test_rmse = example::root_mean_squared_error(test_design, theta, test_targets);
    method.max_relative_difference = example::max_relative_difference(method.coefficients, best);
    method.norm_relative_difference = (theta - closed_form).norm() / closed_form.norm();
  }

  // The coefficients side by side (standardized features: each weight is the change in medv,
  // in $1000s, for one standard deviation of its feature).
  std::printf("%-11s %12s", "coefficient", "closed form");
  for (const auto& method : methods) std::printf(" %15s", method.name.c_str());
  std::printf("\n");
  for (std::size_t i = 0; i < best.size(); ++i) {
    std::printf("%-11s %12.6f", i == 0 ? "intercept" : table.feature_names[i - 1].c_str(), best[i]);
    for (const auto& method : methods) std::printf(" %15.6f", method.coefficients[i]);
    std::printf("\n");
  }

  // The baseline: predict the mean training price for every house (intercept only).
  Eigen::VectorXd baseline = Eigen::VectorXd::Zero(closed_form.size());
  baseline[0] = train_targets.mean();
  std::printf("\n%-22s %14s %6s %10s %9s %13s %13s %7s\n", "method", "hyperparameters", "epochs", "train RMSE",
              "test RMSE", "max rel diff", "norm rel diff", "time");
  std::printf("%-22s %14s %6s %10.4f %9.4f %13s %13s %7s\n", "predict the train mean", "-", "-",
              example::root_mean_squared_error(train_design, baseline, train_targets),
              example::root_mean_squared_error(test_design, baseline, test_targets), "-", "-", "-");
  std::printf("%-22s %14s %6s %10.4f %9.4f %13s %13s %7s\n", "closed form (QR)", "-", "-", best_train_rmse,
              example::root_mean_squared_error(test_design, closed_form, test_targets), "0", "0", "-");
  const std::string hyperparameters[3] = {
      "lr " + format("%.4f", gd_learning_rate),
      "lr " + format("%g", sgd_learning_rate) + ", b " + std::to_string(batch_size),
      "lr " + format("%g", adam_learning_rate) + ", b " + std::to_string(batch_size)};
  for (std::size_t m = 0; m < methods.size(); ++m) {
    const auto& method = methods[m];
    std::printf("%-22s %14s %6d %10.4f %9.4f %13.3e %13.3e %6.2fs\n", method.name.c_str(), hyperparameters[m].c_str(),
                method.epochs, method.train_rmse, method.test_rmse, method.max_relative_difference,
                method.norm_relative_difference, method.seconds);
  }
  std::printf(
      "(RMSE in $1000s. Differences to the closed-form coefficients theta*: max rel diff = max_i |theta_i -\n"
      "theta*_i| / |theta*_i|, norm rel diff = ||theta - theta*|| / ||theta*||. An epoch is one pass over the\n"
      "%lld training rows: 1 step for full-batch GD, %lld for the mini-batch methods.)\n\n",
      static_cast<long long>(train_rows), static_cast<long long>(loader.size()));

  write_loss_curves(options.svg, methods, best_train_rmse * best_train_rmse);
  std::printf("loss curves written to %s\n", options.svg.c_str());

  for (const auto& method : methods)
    checks.expect(method.train_mse.back() < method.train_mse.front(),
                  method.name + ": the training loss fell (" + format("%.4g", method.train_mse.front()) + " -> " +
                      format("%.4g", method.train_mse.back()) + ")");
  checks.expect(methods[0].max_relative_difference <= 1e-3,
                "full-batch GD matches the closed-form coefficients within 1e-3 relative (max " +
                    format("%.2e", methods[0].max_relative_difference) + ")");
  // Mini-batch SGD and Adam hover around the minimum (each step sees a noisy gradient), so only
  // their fit is checked, and only in a full run (--quick stops them early on purpose).
  if (!options.quick)
    for (std::size_t m = 1; m < methods.size(); ++m)
      checks.expect(methods[m].train_rmse <= 1.01 * best_train_rmse,
                    methods[m].name + ": training RMSE within 1% of the least-squares RMSE (" +
                        format("%.4f", methods[m].train_rmse) + " vs " + format("%.4f", best_train_rmse) + ")");
  std::printf("part 2 took %.2f s\n\n", seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  nabla_examples::CommandLine cli(
      "linear_regression",
      "Linear regression by gradient descent. Part 1: y = theta0 + theta1 x on synthetic data,\n"
      "hand-derived gradients vs autograd vs the SGD optimizer, learning rates, the sign slip.\n"
      "Part 2: Boston house prices, GD / mini-batch SGD / Adam vs the closed-form solution.\n",
      "Exit status: 0 when every check passed; 1 when a check failed or the data is missing or\n"
      "corrupted; 2 for a bad command line.");
  define_options(cli, options);
  return nabla_examples::run_example(cli, argc, argv, [&](Checks& checks) {
    if (options.part == "1" || options.part == "all") run_part_one(options, checks);
    if (options.part == "2" || options.part == "all") run_part_two(options, checks);
  });
}
