// What docs/reliability.md ("Threads") says is safe from several threads at once, done from
// several threads: random factories with their own seeds or generators, seeded Dropout layers
// (one per thread), and whole forward/backward passes on per-thread models, each against the
// same work done serially. These tests run in scripts/tsan.sh under ThreadSanitizer too, where
// a data race fails them even when the numbers happen to agree.
#include <catch2/catch.hpp>
#include <cstdint>
#include <nabla/nabla.hpp>
#include <thread>
#include <vector>

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_threads {

namespace nb = nabla;

namespace {

constexpr int kThreads = 4;

/// One thread's work: draws from its own seeds and generator, a seeded Dropout's masks, and a
/// small model's forward and backward (its gradients as numbers).
std::vector<float> thread_work(int index) {
  const auto seed = static_cast<std::uint64_t>(100 + index);
  std::vector<float> out;
  const auto append = [&out](const nb::Tensor<float>& tensor) {
    const auto values = tensor.to_vector();
    out.insert(out.end(), values.begin(), values.end());
  };
  append(nb::randn<float>({257}, seed));
  append(nb::rand<float>({129}, seed + 1));
  nb::Generator generator(seed + 2);
  for (int draw = 0; draw < 3; ++draw) append(nb::randn<float>({33}, generator));

  nb::nn::Dropout<float> dropout(0.5, {.seed = seed + 3});
  dropout.train();
  for (int call = 0; call < 3; ++call) append(dropout.forward(nb::ones<float>({64})));

  nb::nn::Dense<float> layer(8, 3, nb::nn::DenseOptions{.seed = seed + 4});
  auto x = nb::randn<float>({16, 8}, seed + 5).requires_grad_();
  std::vector<std::int64_t> classes;
  for (std::int64_t row = 0; row < 16; ++row) classes.push_back((row + index) % 3);
  const auto loss = nb::loss::cross_entropy(layer.forward(x), nb::from_vector<std::int64_t>(classes, {16}));
  loss.backward();
  append(loss);
  append(x.grad());
  for (const auto& parameter : layer.parameters()) append(parameter.grad());
  return out;
}

}  // namespace

TEST_CASE("seeded random draws, seeded Dropouts and per-thread models from 4 threads equal serial runs",
          "[threads][random]") {
  std::vector<std::vector<float>> serial;
  for (int index = 0; index < kThreads; ++index) serial.push_back(thread_work(index));

  std::vector<std::vector<float>> threaded(kThreads);
  std::vector<std::thread> threads;
  for (int index = 0; index < kThreads; ++index)
    threads.emplace_back([&threaded, index] { threaded[index] = thread_work(index); });
  for (auto& thread : threads) thread.join();

  for (int index = 0; index < kThreads; ++index) {
    INFO("thread " << index);
    CHECK(threaded[index] == serial[index]);  // bit for bit
  }
  CHECK(serial[0] != serial[1]);  // the seeds differ: a thread cannot pass on another's numbers
}

}  // namespace test_threads
