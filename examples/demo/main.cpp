// The design card's first program: linear regression y = 3x + 2 fitted by gradient descent
// with nabla's autograd, printing the loss and parameters as they converge.
//
// Run: bash scripts/run_demo.sh    (or build the `demo` target and run it)
#include <cmath>
#include <cstdio>
#include <nabla/nabla.hpp>

#include "../common/run.hpp"

namespace nb = nabla;

namespace {

void fit_line(nabla_examples::Checks& checks) {
  auto x = nb::randn<float>({100, 1}, /*seed=*/1);
  auto y = 3.0f * x + 2.0f;
  auto w = nb::zeros<float>({1, 1}).requires_grad_();
  auto b = nb::zeros<float>({1}).requires_grad_();
  w.set_name("w");
  b.set_name("b");

  std::printf("fitting y = 3x + 2 by gradient descent (learning rate 0.1)\n");
  std::printf("%6s %12s %10s %10s\n", "step", "loss", "w", "b");
  for (int step = 0; step < 200; ++step) {
    auto loss = nb::mean(nb::square(nb::matmul(x, w) + b - y));
    if (step == 0) std::printf("\nthe graph backward() walks:\n%s\n", nb::to_mermaid(loss).c_str());
    loss.backward();
    if (step % 20 == 0 || step == 199) std::printf("%6d %12.6f %10.5f %10.5f\n", step, loss.item(), w.item(), b.item());
    nb::NoGradGuard no_grad;
    w -= 0.1f * w.grad();
    b -= 0.1f * b.grad();
    w.zero_grad();
    b.zero_grad();
  }
  std::printf("\nlearned w = %.5f (true 3), b = %.5f (true 2)\n", w.item(), b.item());
  checks.expect(std::abs(w.item() - 3.0f) < 1e-3f && std::abs(b.item() - 2.0f) < 1e-3f,
                "gradient descent converged to w = 3, b = 2 within 1e-3");
}

}  // namespace

int main(int argc, char** argv) {
  nabla_examples::CommandLine cli(
      "demo", "Fits y = 3x + 2 by gradient descent with nabla's autograd; prints the graph backward() walks.\n",
      "Exit status: 0 when it converged; 1 when not; 2 for a bad command line.");
  return nabla_examples::run_example(cli, argc, argv, fit_line);
}
