// Post-accumulate-grad hooks (autograd/hooks.hpp) and the order in which backward() finishes
// leaves (engine.hpp): what DistributedDataParallel relies on to start all-reduces early.
#include <algorithm>
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_hooks {

namespace nb = nabla;

TEST_CASE("post-accumulate-grad hook: once per backward, after the gradient is accumulated", "[autograd][hooks]") {
  auto w = nb::from_vector<double>({1.0, 2.0}, {2}).requires_grad_();
  std::vector<std::vector<double>> seen;
  {
    auto handle = nb::register_post_accumulate_grad_hook<double>(
        w, [&](nb::Tensor<double>& leaf) { seen.push_back(leaf.grad().to_vector()); });
    // w is used twice; the hook still runs once, with the summed gradient d/dw (w*w + w) = 2w + 1.
    nb::sum(w * w + w).backward();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == std::vector<double>{3.0, 5.0});
    // A second backward accumulates into .grad(); the hook sees the total.
    nb::sum(w).backward();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1] == std::vector<double>{4.0, 6.0});
  }
  // The handle went out of scope: the hook is gone.
  nb::sum(w).backward();
  CHECK(seen.size() == 2);
}

TEST_CASE("post-accumulate-grad hook: leaves only, removable, several per tensor in order", "[autograd][hooks]") {
  auto w = nb::ones<float>({3}).requires_grad_();
  auto y = w * 2.0f;
  CHECK_THROWS_AS(nb::register_post_accumulate_grad_hook<float>(y, [](nb::Tensor<float>&) {}), nb::ValueError);
  CHECK_THROWS_AS(nb::register_post_accumulate_grad_hook<float>(nb::ones<float>({3}), [](nb::Tensor<float>&) {}),
                  nb::ValueError);
  std::string order;
  auto first = nb::register_post_accumulate_grad_hook<float>(w, [&](nb::Tensor<float>&) { order += "a"; });
  auto second = nb::register_post_accumulate_grad_hook<float>(w, [&](nb::Tensor<float>&) { order += "b"; });
  nb::sum(w * 2.0f).backward();
  CHECK(order == "ab");
  first.remove();
  nb::sum(w * 2.0f).backward();
  CHECK(order == "abb");
}

TEST_CASE("backward finishes each parameter right after its last consumer", "[autograd][hooks]") {
  // Two Dense layers: the second layer's bias and weight are final as soon as its addmm's
  // backward ran, before the first layer's backward; so their hooks run before the first
  // layer's. (Before the engine explored non-leaf inputs first, addmm(bias, x, W^T)'s bias came
  // after the whole rest of the graph.)
  nb::nn::Dense<double> first(4, 5, {.seed = 1}), second(5, 2, {.seed = 2});
  std::vector<std::string> finished;
  std::vector<nb::HookHandle<double>> handles;
  const std::vector<std::pair<std::string, nb::Tensor<double>>> parameters{{"first.weight", first.weight()},
                                                                           {"first.bias", first.bias()},
                                                                           {"second.weight", second.weight()},
                                                                           {"second.bias", second.bias()}};
  for (const auto& [name, tensor] : parameters)
    handles.push_back(nb::register_post_accumulate_grad_hook<double>(
        tensor, [&finished, name = name](nb::Tensor<double>&) { finished.push_back(name); }));
  auto x = nb::randn<double>({3, 4}, 7);
  nb::sum(second(nb::tanh(first(x)))).backward();
  REQUIRE(finished.size() == 4);
  const auto position = [&](const std::string& name) {
    return std::find(finished.begin(), finished.end(), name) - finished.begin();
  };
  CHECK(position("second.bias") < position("first.weight"));
  CHECK(position("second.bias") < position("first.bias"));
  CHECK(position("second.weight") < position("first.weight"));
  CHECK(position("second.weight") < position("first.bias"));
}

}  // namespace test_hooks
