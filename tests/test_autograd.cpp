// The autograd engine: gradients of small graphs against hand-computed values, accumulation,
// reuse and diamonds, freed graphs, grad mode, in-place checks, deep graphs, anomaly mode,
// gradcheck's own failure reports, and graph export (Mermaid and DOT).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_autograd {

namespace nb = nabla;
using Catch::Matchers::Contains;
using Inputs = std::vector<nb::Tensor<double>>;

namespace {

nb::Tensor<double> tensor(const std::vector<double>& values, const nb::Shape& shape) {
  return nb::from_vector<double>(values, shape);
}
nb::Tensor<double> scalar(double value) { return tensor({value}, {1}); }
nb::Tensor<double> parameter(const std::vector<double>& values, const nb::Shape& shape) {
  return tensor(values, shape).requires_grad_();
}

/// Turns anomaly mode on for one scope and restores the previous setting, even if a REQUIRE fails.
class AnomalyModeScope {
 public:
  AnomalyModeScope() : previous_(nb::is_anomaly_enabled()) { nb::set_detect_anomaly(true); }
  ~AnomalyModeScope() { nb::set_detect_anomaly(previous_); }
  AnomalyModeScope(const AnomalyModeScope&) = delete;
  AnomalyModeScope& operator=(const AnomalyModeScope&) = delete;

 private:
  bool previous_;
};

/// x^2 as a custom op whose backward is given: 2x when `correct`, the wrong x otherwise.
nb::Tensor<double> custom_square(const nb::Tensor<double>& x, bool correct) {
  nb::Tensor<double> out;
  {
    nb::NoGradGuard no_grad;  // the forward value only; the graph node comes from record_op below
    out = nb::mul(x, x);
  }
  // d(x^2)/dx = 2x (the wrong version forgets the factor 2)
  nb::record_op<double>(out, correct ? "square_right" : "square_wrong", {x},
                        [correct](const nb::Tensor<double>& grad, const Inputs& inputs) {
                          const auto derivative = correct ? inputs[0].detach() * 2.0 : inputs[0].detach();
                          return Inputs{nb::mul(grad, derivative)};
                        },
                        {x});
  return out;
}

/// The identity as a custom op that counts its backward calls and remembers the gradient it got.
nb::Tensor<double> counted_identity(const nb::Tensor<double>& x, int& calls, std::vector<double>& received) {
  nb::Tensor<double> out;
  {
    nb::NoGradGuard no_grad;
    out = x * 1.0;
  }
  // d x/dx = 1
  nb::record_op<double>(out, "counted_identity", {x},
                        [&calls, &received](const nb::Tensor<double>& grad, const Inputs&) {
                          ++calls;
                          received = grad.to_vector();
                          return Inputs{grad};
                        });
  return out;
}

}  // namespace

// ---- gradients of small graphs -------------------------------------------------------------

TEST_CASE("autograd: gradient of a small expression matches the hand derivation", "[autograd]") {
  // z = (a * b - b) / a = b - b / a  =>  dz/da = b / a^2 = 3/4,  dz/db = 1 - 1/a = 1/2
  auto a = parameter({2.0}, {1});
  auto b = parameter({3.0}, {1});
  auto z = (a * b - b) / a;
  REQUIRE(z.item() == Approx(1.5));
  REQUIRE(z.grad_fn()->name() == "div");
  REQUIRE_FALSE(z.is_leaf());
  REQUIRE(a.is_leaf());
  z.backward();
  REQUIRE(a.grad().item() == Approx(0.75));
  REQUIRE(b.grad().item() == Approx(0.5));
  REQUIRE_FALSE(z.grad().defined());  // non-leaf results keep no gradient unless retain_grad()
}

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad", "[autograd]") {
  auto x = parameter({1.0, -2.0}, {2});
  REQUIRE_FALSE(x.grad().defined());
  const auto weights = tensor({3.0, 5.0}, {2});
  (x * weights).backward(nb::ones<double>({2}));
  REQUIRE(x.grad().to_vector() == std::vector<double>{3.0, 5.0});
  const double* buffer = x.grad().data();

  (x * weights).backward(nb::ones<double>({2}));  // a second, separate graph: += not =
  REQUIRE(x.grad().to_vector() == std::vector<double>{6.0, 10.0});

  x.zero_grad();
  REQUIRE(x.grad().to_vector() == std::vector<double>{0.0, 0.0});
  REQUIRE(x.grad().data() == buffer);  // zero_grad keeps the buffer (no allocation per step)
  (x * x).backward(nb::ones<double>({2}));
  REQUIRE(x.grad().to_vector() == std::vector<double>{2.0, -4.0});
}

TEST_CASE("autograd: a tensor used several times gets the sum of all paths", "[autograd]") {
  SECTION("x * x + x") {  // d/dx = 2x + 1 = 7 at x = 3 (micrograd's famous bug gives 1 or 3)
    auto x = parameter({3.0}, {1});
    (x * x + x).backward();
    REQUIRE(x.grad().item() == Approx(7.0));
  }
  SECTION("x + x + x") {
    auto x = parameter({3.0}, {1});
    (x + x + x).backward();
    REQUIRE(x.grad().item() == Approx(3.0));
  }
  SECTION("x * x * x") {  // 3x^2 = 12 at x = 2
    auto x = parameter({2.0}, {1});
    (x * x * x).backward();
    REQUIRE(x.grad().item() == Approx(12.0));
  }
}

TEST_CASE("autograd: diamond graphs visit the shared node once, with its complete gradient", "[autograd]") {
  SECTION("two branches from one input meet again") {
    // a = 2x, b = 3x, c = a * b = 6x^2  =>  dc/dx = 12x = 24 at x = 2
    auto x = parameter({2.0}, {1});
    auto a = x * 2.0;
    auto b = x * 3.0;
    (a * b).backward();
    REQUIRE(x.grad().item() == Approx(24.0));
  }
  SECTION("an intermediate result feeds three ops") {
    // h = x (counted), y = h * h + h * 4 + h  =>  dy/dh = 2h + 5 = 11 at h = 3
    int calls = 0;
    std::vector<double> received;
    auto x = parameter({3.0}, {1});
    auto h = counted_identity(x, calls, received);
    (h * h + h * 4.0 + h).backward();
    REQUIRE(calls == 1);  // the engine waits until every path has added its share
    REQUIRE(received == std::vector<double>{11.0});
    REQUIRE(x.grad().item() == Approx(11.0));
  }
}

TEST_CASE("autograd: broadcast inputs receive gradients summed over the broadcast dims", "[autograd]") {
  // out[i][j] = a[i] + b[j]  =>  dL/da[i] = sum_j g[i][j],  dL/db[j] = sum_i g[i][j]
  auto a = parameter({1, 2, 3}, {3, 1});
  auto b = parameter({10, 20, 30, 40}, {1, 4});
  auto out = a + b;
  REQUIRE(out.shape() == nb::Shape{3, 4});
  const auto g = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4});
  out.backward(g);
  REQUIRE(a.grad().shape() == nb::Shape{3, 1});
  REQUIRE(b.grad().shape() == nb::Shape{1, 4});
  REQUIRE(a.grad().to_vector() == std::vector<double>{10, 26, 42});
  REQUIRE(b.grad().to_vector() == std::vector<double>{15, 18, 21, 24});

  SECTION("a missing leading dimension is summed away too") {
    auto row = parameter({1, 1, 1, 1}, {4});
    (a * row).backward(g);  // [3,1] * [4] -> [3,4]; d/drow[j] = sum_i g[i][j] * a[i]
    REQUIRE(row.grad().shape() == nb::Shape{4});
    REQUIRE(row.grad().to_vector() == std::vector<double>{38, 44, 50, 56});
  }
}

TEST_CASE("autograd: retain_grad keeps the gradient of an intermediate result", "[autograd]") {
  auto x = parameter({1.0, 2.0}, {2});
  auto h = x * 3.0;  // h = [3, 6]
  h.retain_grad();
  auto other = x * 2.0;  // not retained
  auto y = h * h + other;
  y.backward(nb::ones<double>({2}));
  REQUIRE(h.grad().defined());
  REQUIRE(h.grad().to_vector() == std::vector<double>{6.0, 12.0});  // dy/dh = 2h
  REQUIRE_FALSE(other.grad().defined());
  REQUIRE(x.grad().to_vector() == std::vector<double>{20.0, 38.0});  // 2h * 3 + 2
}

// ---- the gradient argument of backward() ----------------------------------------------------

TEST_CASE("autograd: backward with an explicit gradient on a non-scalar output", "[autograd]") {
  auto x = parameter({1.0, 2.0, 3.0}, {3});
  auto y = x * x;
  y.backward(tensor({1.0, 10.0, 100.0}, {3}));  // dL/dx = 2x * g
  REQUIRE(x.grad().to_vector() == std::vector<double>{2.0, 40.0, 600.0});
}

TEST_CASE("autograd: backward rejects a missing, misshaped or pointless gradient", "[autograd][errors]") {
  auto x = parameter({1.0, 2.0, 3.0}, {3});
  SECTION("no gradient on a non-scalar") {
    auto y = x * 2.0;
    REQUIRE_THROWS_AS(y.backward(), nb::ValueError);
    REQUIRE_THROWS_WITH(y.backward(), Contains("[3]") && Contains("Pass the gradient"));
    REQUIRE_FALSE(x.grad().defined());
  }
  SECTION("a gradient of the wrong shape") {
    auto y = x * 2.0;
    REQUIRE_THROWS_AS(y.backward(nb::ones<double>({2})), nb::ShapeError);
    REQUIRE_THROWS_WITH(y.backward(nb::ones<double>({3, 1})), Contains("[3,1]") && Contains("[3]"));
    REQUIRE_FALSE(x.grad().defined());
  }
  SECTION("a tensor that does not require grad") {
    auto constant = tensor({1.0}, {1}) * 2.0;
    REQUIRE_FALSE(constant.requires_grad());
    REQUIRE_THROWS_AS(constant.backward(), nb::ValueError);
    REQUIRE_THROWS_WITH(constant.backward(), Contains("does not require grad"));
  }
}

// ---- freed graphs ---------------------------------------------------------------------------

TEST_CASE("autograd: backward twice needs retain_graph", "[autograd][errors]") {
  auto x = parameter({3.0}, {1});
  SECTION("without it the second backward throws and names the fix") {
    auto y = x * x;
    y.backward();
    REQUIRE(y.grad_fn()->released());
    REQUIRE_THROWS_AS(y.backward(), nb::ValueError);
    REQUIRE_THROWS_WITH(y.backward(), Contains("retain_graph") && Contains("mul"));
    REQUIRE(x.grad().item() == Approx(6.0));  // the failed calls added nothing
  }
  SECTION("with it the graph survives and gradients accumulate") {
    auto y = x * x;
    y.backward(/*retain_graph=*/true);
    REQUIRE_FALSE(y.grad_fn()->released());
    y.backward(/*retain_graph=*/true);
    REQUIRE(x.grad().item() == Approx(12.0));
    y.backward();  // the last pass may free it
    REQUIRE(x.grad().item() == Approx(18.0));
    REQUIRE_THROWS_WITH(y.backward(), Contains("retain_graph"));
  }
  SECTION("a new graph built on a freed part is refused too") {
    auto h = x * x;
    (h * 2.0).backward();
    REQUIRE_THROWS_WITH((h * 3.0).backward(), Contains("retain_graph"));
  }
}

// ---- grad mode, detach, in-place -------------------------------------------------------------

TEST_CASE("autograd: detach cuts the graph but shares the data", "[autograd]") {
  auto x = parameter({2.0, 5.0}, {2});
  auto constant = x.detach();
  REQUIRE_FALSE(constant.requires_grad());
  REQUIRE(constant.is_leaf());
  REQUIRE(constant.data() == x.data());
  (x * constant).backward(nb::ones<double>({2}));  // only the x path counts: d/dx = constant
  REQUIRE(x.grad().to_vector() == std::vector<double>{2.0, 5.0});

  auto y = (x * 2.0).detach();
  REQUIRE(y.is_leaf());
  REQUIRE_FALSE(y.requires_grad());
  REQUIRE_THROWS_AS(y.backward(nb::ones<double>({2})), nb::ValueError);
}

TEST_CASE("autograd: NoGradGuard records nothing, EnableGradGuard records again", "[autograd]") {
  auto x = parameter({1.0, 2.0}, {2});
  {
    nb::NoGradGuard no_grad;
    REQUIRE_FALSE(nb::is_grad_enabled());
    auto y = x * x + 1.0;
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE(y.is_leaf());
    REQUIRE(y.to_vector() == std::vector<double>{2.0, 5.0});  // still computes
    {
      nb::EnableGradGuard enable_grad;
      REQUIRE((x * x).requires_grad());
    }
    REQUIRE_FALSE((x * x).requires_grad());
  }
  REQUIRE(nb::is_grad_enabled());
  REQUIRE((x * x).requires_grad());
}

TEST_CASE("autograd: in-place ops on a tensor that requires grad are refused while recording", "[autograd][errors]") {
  auto x = parameter({1.0, 2.0}, {2});
  REQUIRE_THROWS_AS(x += 1.0, nb::ValueError);
  REQUIRE_THROWS_WITH(x *= 2.0, Contains("operator*=") && Contains("NoGradGuard"));
  auto h = x * 2.0;  // a non-leaf requires grad as well
  REQUIRE_THROWS_AS(h -= x, nb::ValueError);
  REQUIRE(x.to_vector() == std::vector<double>{1.0, 2.0});  // nothing was changed
  {
    nb::NoGradGuard no_grad;  // the optimizer-update case
    x -= 0.5;
  }
  REQUIRE(x.to_vector() == std::vector<double>{0.5, 1.5});
}

TEST_CASE("autograd: modifying a saved tensor in place after the forward pass is reported", "[autograd][errors]") {
  auto a = parameter({1.0, 2.0}, {2});
  auto b = tensor({3.0, 4.0}, {2});  // needs no grad, but mul saved it: da = grad * b
  auto y = nb::mul(a, b);
  {
    nb::NoGradGuard no_grad;
    b += 1.0;
  }
  REQUIRE_THROWS_AS(y.backward(nb::ones<double>({2})), nb::ValueError);
  REQUIRE_THROWS_WITH(y.backward(nb::ones<double>({2})), Contains("modified in place") && Contains("mul"));
  REQUIRE_FALSE(a.grad().defined());

  SECTION("a graph built after the change is fine") {
    nb::mul(a, b).backward(nb::ones<double>({2}));
    REQUIRE(a.grad().to_vector() == std::vector<double>{4.0, 5.0});
  }
}

// ---- deep graphs ---------------------------------------------------------------------------

TEST_CASE("autograd: a chain of 100,000 ops backprops and frees without recursion", "[autograd][deep]") {
  constexpr int kDepth = 100000;
  auto x = parameter({1.5}, {1});
  SECTION("backward, then destruction") {
    auto y = x;
    for (int i = 0; i < kDepth; ++i) y = y * 1.0;
    REQUIRE(y.item() == 1.5);
    y.backward();
    REQUIRE(x.grad().item() == 1.0);
  }
  SECTION("backward with retain_graph, then destruction of the whole live graph") {
    auto y = x;
    for (int i = 0; i < kDepth; ++i) y = y * 1.0;
    y.backward(/*retain_graph=*/true);
    REQUIRE(x.grad().item() == 1.0);
  }
  SECTION("destruction without backward") {
    {
      auto y = x;
      for (int i = 0; i < kDepth; ++i) y = y * 1.0;
      REQUIRE(y.requires_grad());
    }
    REQUIRE_FALSE(x.grad().defined());
  }
  SECTION("destruction of a chain whose ops use their input twice (y * y)") {
    auto one = parameter({1.0}, {1});
    {
      auto y = one;
      for (int i = 0; i < kDepth; ++i) y = y * y;
      REQUIRE(y.item() == 1.0);
    }
    REQUIRE(one.requires_grad());
  }
}

// ---- anomaly mode ----------------------------------------------------------------------------

TEST_CASE("autograd: anomaly mode names the op that produced NaN or Inf", "[autograd][anomaly]") {
  const auto zero = nb::zeros<double>({2});
  SECTION("off by default: 0 / 0 silently gives NaN") {
    REQUIRE_FALSE(nb::is_anomaly_enabled());
    REQUIRE(std::isnan(nb::div(zero, zero).to_vector()[0]));
  }
  SECTION("in a forward pass") {
    AnomalyModeScope anomaly_mode;
    REQUIRE_THROWS_AS(nb::div(zero, zero), nb::ValueError);
    REQUIRE_THROWS_WITH(nb::div(zero, zero), Contains("'div'") && Contains("NaN"));
    REQUIRE(nb::div(zero + 1.0, zero + 2.0).to_vector() == std::vector<double>{0.5, 0.5});  // finite is fine
  }
  SECTION("in a backward pass") {
    auto x = parameter({1.0}, {1});
    nb::Tensor<double> out;
    {
      nb::NoGradGuard no_grad;
      out = x * 1.0;
    }
    // A deliberately broken derivative that returns NaN.
    // (A factory, not an op: under anomaly mode an op would already throw for its own NaN output.)
    nb::record_op<double>(out, "nan_gradient", {x}, [](const nb::Tensor<double>& grad, const Inputs&) {
      return Inputs{nb::full<double>(grad.shape(), std::numeric_limits<double>::quiet_NaN())};
    });
    AnomalyModeScope anomaly_mode;
    REQUIRE_THROWS_WITH(out.backward(/*retain_graph=*/true), Contains("backward of 'nan_gradient'"));
    REQUIRE_FALSE(x.grad().defined());
  }
  REQUIRE_FALSE(nb::is_anomaly_enabled());  // every section restored the flag
}

// ---- gradcheck itself ----------------------------------------------------------------------

TEST_CASE("autograd: gradcheck reports a wrong backward and names the input", "[autograd][gradcheck]") {
  const Inputs inputs{tensor({0.5, -1.0, 2.0}, {3}), tensor({1.5, 0.25, -0.75}, {3})};
  // f(a, b) = a * b + b^2, with the b^2 computed by a custom op
  auto function_with = [](bool correct) {
    return [correct](const Inputs& x) { return x[0] * x[1] + custom_square(x[1], correct); };
  };

  const auto right = nb::gradcheck<double>(function_with(true), inputs);
  INFO(right.report);
  REQUIRE(right);

  const auto wrong = nb::gradcheck<double>(function_with(false), inputs);
  INFO(wrong.report);
  REQUIRE_FALSE(wrong);
  REQUIRE_FALSE(wrong.passed);
  REQUIRE_THAT(wrong.report, Contains("input 1") && Contains("[3]") && Contains("analytic"));
  REQUIRE(wrong.max_error > 0.1);  // the missing factor 2 is off by |b| per element, not by rounding
}

TEST_CASE("autograd: gradcheck of composed expressions with reuse, diamonds and broadcasting",
          "[autograd][gradcheck]") {
  const Inputs inputs{nb::randn<double>({3, 1}, 7), nb::randn<double>({1, 4}, 8)};
  const auto result = nb::gradcheck<double>(
      [](const Inputs& x) {
        const auto shared = x[0] * x[1];  // [3,4], feeds three paths below
        return shared * shared + shared / (x[0] * x[0] + 1.0) - x[1] * shared;
      },
      inputs);
  INFO(result.report);
  REQUIRE(result);
}

// ---- graph export ----------------------------------------------------------------------------

TEST_CASE("autograd: to_mermaid and to_dot print a known graph exactly", "[autograd][export]") {
  auto w = parameter({1, 2, 3}, {1, 3}).set_name("w");
  auto x = parameter({1, 2, 3, 4, 5, 6}, {2, 3}).set_name("x");
  auto b = parameter({0, 0, 0}, {3}).set_name("b");
  auto y = w * x + b;

  REQUIRE(nb::to_mermaid(y) ==
          "flowchart BT\n"
          "  t0[\"add [2,3]\"]\n"
          "  t1[\"mul [2,3]\"]\n"
          "  t2[\"b [3]\"]\n"
          "  t3[\"w [1,3]\"]\n"
          "  t4[\"x [2,3]\"]\n"
          "  t1 --> t0\n"
          "  t2 --> t0\n"
          "  t3 --> t1\n"
          "  t4 --> t1\n");
  REQUIRE(nb::to_dot(y) ==
          "digraph nabla {\n"
          "  rankdir=BT;\n"
          "  node [shape=box];\n"
          "  t0 [label=\"add [2,3]\"];\n"
          "  t1 [label=\"mul [2,3]\"];\n"
          "  t2 [label=\"b [3]\"];\n"
          "  t3 [label=\"w [1,3]\"];\n"
          "  t4 [label=\"x [2,3]\"];\n"
          "  t1 -> t0;\n"
          "  t2 -> t0;\n"
          "  t3 -> t1;\n"
          "  t4 -> t1;\n"
          "}\n");
}

TEST_CASE("autograd: graph export skips constants, labels leaves and shows reuse", "[autograd][export]") {
  SECTION("tensors that need no grad are left out, unnamed leaves read 'leaf'") {
    auto w = parameter({2.0}, {1});
    auto data = tensor({1, 2, 3}, {3}).set_name("data");
    auto loss = nb::sum(w * data).set_name("loss");
    REQUIRE(nb::to_mermaid(loss) ==
            "flowchart BT\n"
            "  t0[\"loss = sum []\"]\n"
            "  t1[\"mul [3]\"]\n"
            "  t2[\"leaf [1]\"]\n"
            "  t1 --> t0\n"
            "  t2 --> t1\n");
  }
  SECTION("an input used twice by one op gets two edges") {
    auto x = parameter({2.0}, {1}).set_name("x");
    REQUIRE(nb::to_mermaid(x * x) ==
            "flowchart BT\n"
            "  t0[\"mul [1]\"]\n"
            "  t1[\"x [1]\"]\n"
            "  t1 --> t0\n"
            "  t1 --> t0\n");
  }
  SECTION("a lone leaf is a one-node graph") {
    REQUIRE(nb::to_dot(scalar(1.0).set_name("c")) ==
            "digraph nabla {\n  rankdir=BT;\n  node [shape=box];\n  t0 [label=\"c [1]\"];\n}\n");
  }
  SECTION("quotes in names are escaped") {
    auto x = parameter({2.0}, {1}).set_name("say \"hi\"");
    REQUIRE_THAT(nb::to_mermaid(x), Contains("t0[\"say #quot;hi#quot; [1]\"]"));
    REQUIRE_THAT(nb::to_dot(x), Contains("t0 [label=\"say \\\"hi\\\" [1]\"];"));
  }
  SECTION("an undefined tensor is an error") {
    REQUIRE_THROWS_AS(nb::to_mermaid(nb::Tensor<double>()), nb::ValueError);
  }
}

TEST_CASE("autograd: graph export marks a graph freed by backward instead of throwing", "[autograd][export]") {
  auto x = parameter({1.0, 2.0}, {2}).set_name("x");
  auto h = x * 2.0;
  auto y = h + x;
  const std::string before = nb::to_mermaid(y);
  REQUIRE(before ==
          "flowchart BT\n"
          "  t0[\"add [2]\"]\n"
          "  t1[\"mul_scalar [2]\"]\n"
          "  t2[\"x [2]\"]\n"
          "  t1 --> t0\n"
          "  t2 --> t0\n"
          "  t2 --> t1\n");
  y.backward(nb::ones<double>({2}));
  // Backward dropped every node's inputs: only the output is still reachable.
  REQUIRE(nb::to_mermaid(y) == "flowchart BT\n  t0[\"add [2] (freed)\"]\n");
  REQUIRE(nb::to_dot(h) ==
          "digraph nabla {\n  rankdir=BT;\n  node [shape=box];\n  t0 [label=\"mul_scalar [2] "
          "(freed)\"];\n}\n");
}

TEST_CASE("autograd: graph export walks a chain of 100,000 ops without recursion", "[autograd][export][deep]") {
  auto y = parameter({1.0}, {1}).set_name("x");
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  const std::string text = nb::to_mermaid(y);
  REQUIRE_THAT(text, Contains("  t100000[\"x [1]\"]\n") && Contains("  t100000 --> t99999\n"));
  REQUIRE_THAT(nb::to_dot(y), Contains("  t100000 -> t99999;\n"));
}

}  // namespace test_autograd
