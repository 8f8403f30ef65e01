// The design card's first program: linear regression y = 3x + 2 fitted by gradient descent
// with nabla's autograd, printing the loss and parameters as they converge.
//
// Run: bash scripts/run_demo.sh    (or build the `demo` target and run it)
#include <cstdio>
#include <nabla/nabla.hpp>

namespace nb = nabla;

int main() {
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
  const bool converged = std::abs(w.item() - 3.0f) < 1e-3f && std::abs(b.item() - 2.0f) < 1e-3f;
  std::printf("\nlearned w = %.5f (true 3), b = %.5f (true 2): %s\n", w.item(), b.item(),
              converged ? "converged" : "NOT converged");
  return converged ? 0 : 1;
}
