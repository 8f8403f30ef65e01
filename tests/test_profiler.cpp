// nabla::profiler (autograd/profiler.hpp): which rows a training step produces, how many calls
// each counts, that ops inside a backward node or a Scope belong to it, start/stop/clear. Only
// call counts and sleep-based lower bounds are checked, never speed.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <nabla/nabla.hpp>
#include <string>
#include <thread>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_profiler {

namespace nb = nabla;

using Catch::Matchers::Contains;

std::map<std::string, nb::profiler::Entry> rows_by_name() {
  std::map<std::string, nb::profiler::Entry> rows;
  for (const auto& entry : nb::profiler::entries()) rows[entry.name] = entry;
  return rows;
}

/// sum(addmm(b, x, W^T)) and an SGD step, `steps` times.
void train(int steps) {
  auto weight = nb::randn<double>({4, 3}, 1).requires_grad_();
  auto bias = nb::zeros<double>({4}).requires_grad_();
  const auto input = nb::randn<double>({5, 3}, 2);
  nb::optim::SGD<double> sgd(std::vector<nb::Tensor<double>>{weight, bias}, {.lr = 0.1});
  for (int step = 0; step < steps; ++step) {
    sgd.zero_grad();
    const nb::Tensor<double> loss = nb::sum(nb::addmm(bias, input, weight.t()));
    loss.backward();
    sgd.step();
  }
}

TEST_CASE("profiler: a training step's rows, one call per op and step", "[profiler]") {
  nb::profiler::start();
  train(3);
  nb::profiler::stop();
  const auto rows = rows_by_name();
  for (const char* name : {"transpose", "addmm", "sum", "sum backward", "addmm backward", "transpose backward",
                           "SGD.step", "SGD.zero_grad"}) {
    INFO(name);
    REQUIRE(rows.count(name) == 1);
    // addmm's backward sums the bias gradient and transposes nothing twice: the ops inside a
    // backward node are part of its row, so "sum" and "transpose" count the forward's only
    CHECK(rows.at(name).calls == 3);
    CHECK(rows.at(name).seconds >= 0);
  }
  REQUIRE(rows.count("AccumulateGrad") == 1);
  CHECK(rows.at("AccumulateGrad").calls == 6);  // weight and bias, three steps
  // one thread: the rows are disjoint intervals within the wall time
  double covered = 0;
  for (const auto& [name, entry] : rows) covered += entry.seconds;
  CHECK(covered <= nb::profiler::elapsed_seconds() + 1e-9);
  const std::string table = nb::profiler::table();
  CHECK_THAT(table, Contains("addmm backward") && Contains("AccumulateGrad") && Contains("wall time"));
  CHECK_THAT(nb::profiler::table(2), Contains("more)"));
}

TEST_CASE("profiler: off by default and after stop; start clears", "[profiler]") {
  nb::profiler::stop();
  CHECK_FALSE(nb::profiler::is_enabled());
  nb::profiler::start();
  train(1);
  nb::profiler::stop();
  const auto after_one = rows_by_name();
  REQUIRE(after_one.at("addmm").calls == 1);
  train(2);  // not timed
  CHECK(rows_by_name().at("addmm").calls == 1);
  nb::profiler::start();
  CHECK(nb::profiler::entries().empty());
  nb::profiler::stop();
}

TEST_CASE("profiler: a Scope is one row and owns the ops inside it; an op's forward starts at the previous event",
          "[profiler]") {
  using namespace std::chrono_literals;
  nb::profiler::start();
  {
    const nb::profiler::Scope scope("reading a batch");
    std::this_thread::sleep_for(5ms);
    const auto inside = nb::exp(nb::ones<double>({3}));  // part of the scope's row
    (void)inside;
  }
  std::this_thread::sleep_for(5ms);  // not an op: counted in the next op's row
  const auto outside = nb::tanh(nb::ones<double>({3}));
  (void)outside;
  nb::profiler::stop();
  const auto rows = rows_by_name();
  REQUIRE(rows.count("reading a batch") == 1);
  CHECK(rows.at("reading a batch").calls == 1);
  CHECK(rows.at("reading a batch").seconds >= 0.005);
  CHECK(rows.count("exp") == 0);
  REQUIRE(rows.count("tanh") == 1);
  CHECK(rows.at("tanh").seconds >= 0.005);
}

TEST_CASE("profiler: threads keep their own clocks and add to one profile", "[profiler][threads]") {
  nb::profiler::start();
  std::thread worker([] { train(2); });
  train(2);
  worker.join();
  nb::profiler::stop();
  const auto rows = rows_by_name();
  CHECK(rows.at("addmm").calls == 4);
  CHECK(rows.at("addmm backward").calls == 4);
}

}  // namespace test_profiler
