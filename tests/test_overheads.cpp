// The small-model overheads of a training step (issue 17): the host block cache's reuse of
// small blocks, the engine's handover of a uniquely owned first gradient, zero_grad with
// set_to_none, and a training step that takes no new memory from the system once warm.
// Counts and values only, never timings.
#include <catch2/catch.hpp>
#include <cstdint>
#include <nabla/nabla.hpp>
#include <thread>
#include <vector>

namespace nb = nabla;

namespace test_overheads {

using Cache = nb::detail::HostBlockCache;

/// A tiny LSTM language model: embedding -> LSTM -> dense over the vocabulary.
struct TinyLstmModel {
  nb::nn::Embedding<float> embedding{10, 8, {.seed = 1}};
  nb::nn::LSTM<float> lstm{8, 16, {.return_sequences = true, .seed = 2}};
  nb::nn::Dense<float> decoder{16, 10, {.seed = 3}};

  std::vector<nb::Tensor<float>> parameters() {
    std::vector<nb::Tensor<float>> all = embedding.parameters();
    for (const auto& group : {lstm.parameters(), decoder.parameters()})
      all.insert(all.end(), group.begin(), group.end());
    return all;
  }
  nb::Tensor<float> loss(const nb::IndexTensor& inputs, const nb::IndexTensor& targets) {
    return nb::loss::cross_entropy(decoder(lstm(embedding(inputs), nb::nn::LSTMState<float>{}).output), targets);
  }
};

nb::IndexTensor token_ids(std::int64_t offset) {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < 2 * 6; ++i) ids.push_back((i * 7 + offset) % 10);
  return nb::from_vector<std::int64_t>(ids, {2, 6});
}

/// Gradients and parameters after `steps` Adam steps, zeroing with `options`.
std::vector<std::vector<float>> train_lstm(nb::ZeroGradOptions options, int steps) {
  TinyLstmModel model;
  nb::optim::Adam<float> adam(model.parameters(), {.lr = 0.01});
  std::vector<std::vector<float>> result;
  for (int step = 0; step < steps; ++step) {
    const nb::Tensor<float> loss = model.loss(token_ids(step), token_ids(step + 1));
    adam.zero_grad(options);
    loss.backward();
    for (const auto& parameter : model.parameters()) result.push_back(parameter.grad().to_host_vector());
    adam.step();
  }
  for (const auto& parameter : model.parameters()) result.push_back(parameter.to_host_vector());
  return result;
}

}  // namespace test_overheads

TEST_CASE("host block cache: small blocks are reused by size class, counted and bounded", "[overheads]") {
  auto& cache = test_overheads::Cache::instance();
  if (!test_overheads::Cache::enabled()) SUCCEED("the cache is off under AddressSanitizer");
  if (!test_overheads::Cache::enabled()) return;
  // a class holds every size up to it, at most a quarter (or 64 bytes) above the request
  for (std::size_t bytes : {std::size_t{1}, std::size_t{64}, std::size_t{65}, std::size_t{1000}, std::size_t{4097},
                            std::size_t{300000}, test_overheads::Cache::kMinimumBytes - 1}) {
    const std::size_t block = test_overheads::Cache::block_bytes(bytes);
    CHECK(block >= bytes);
    CHECK(block <= bytes + bytes / 4 + 64);
    CHECK(block % 64 == 0);
  }
  CHECK(test_overheads::Cache::block_bytes(test_overheads::Cache::kMinimumBytes + 64) ==
        test_overheads::Cache::kMinimumBytes + 64);  // large blocks: exact sizes, as before

  void* first = cache.allocate(4160);
  const std::uint64_t taken = cache.system_allocations();
  cache.release(first, 4160);
  void* again = cache.allocate(4200);  // the same class (4096 + 1024)
  CHECK(again == first);
  CHECK(cache.system_allocations() == taken);
  cache.release(again, 4200);
  nb::release_cached_memory();
  CHECK(cache.cached_bytes() == 0);
}

TEST_CASE("host block cache: threads allocating and freeing small tensors at once", "[overheads]") {
  std::vector<std::thread> threads;
  std::vector<double> sums(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &sums] {
      for (int i = 0; i < 200; ++i) {
        nb::Tensor<float> values = nb::full<float>(nb::Shape{16 + (i % 7) * 100}, static_cast<float>(t));
        sums[t] += static_cast<double>(values.to_host_vector().back());
      }
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) CHECK(sums[t] == 200.0 * t);
}

TEST_CASE("zero_grad set_to_none: the same gradients and parameters as zero-filling", "[overheads]") {
  const auto filled = test_overheads::train_lstm({}, 3);
  const auto dropped = test_overheads::train_lstm({.set_to_none = true}, 3);
  REQUIRE(filled.size() == dropped.size());
  for (std::size_t i = 0; i < filled.size(); ++i) CHECK((filled[i] == dropped[i]));
}

TEST_CASE("zero_grad set_to_none: a parameter the loss does not reach keeps no grad and is skipped", "[overheads]") {
  auto used = nb::from_vector<double>({1, 2}, {2}).requires_grad_();
  auto unused = nb::from_vector<double>({3, 4}, {2}).requires_grad_();
  nb::optim::AdamW<double> adam(std::vector<nb::Tensor<double>>{used, unused}, {.lr = 0.1, .weight_decay = 0.1});
  nb::sum(used * unused).backward();  // step 1 reaches both
  adam.step();
  const std::vector<double> after_first = unused.to_vector();

  adam.zero_grad({.set_to_none = true});
  CHECK_FALSE(used.grad().defined());
  CHECK_FALSE(unused.grad().defined());
  nb::sum(used * used).backward();  // step 2 reaches only `used`
  CHECK(used.grad().defined());
  CHECK_FALSE(unused.grad().defined());
  adam.step();
  CHECK(unused.to_vector() == after_first);  // no momentum step, no weight decay: skipped
  CHECK(adam.state().parameters[1].step == 1);
  CHECK(adam.state().parameters[0].step == 2);
  // clipping skips it too
  CHECK(nb::optim::clip_grad_norm_(std::vector<nb::Tensor<double>>{used, unused}, 1.0) > 0);
  CHECK_FALSE(unused.grad().defined());

  // the default still zero-fills and keeps the buffer
  const nb::Tensor<double> buffer = used.grad();
  adam.zero_grad();
  REQUIRE(used.grad().defined());
  CHECK(used.grad().data() == buffer.data());
  CHECK(used.grad().to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("backward hands a first gradient over only when nothing else holds it", "[overheads]") {
  auto a = nb::from_vector<double>({1, 2, 3}, {3}).requires_grad_();
  auto b = nb::from_vector<double>({4, 5, 6}, {3}).requires_grad_();
  // add's backward gives both inputs the same tensor: each leaf must get its own buffer
  nb::sum((a + b) * a).backward();
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK(a.grad().data() != b.grad().data());
  CHECK(a.grad().to_vector() == std::vector<double>{6, 9, 12});  // (a + b) + a
  CHECK(b.grad().to_vector() == std::vector<double>{1, 2, 3});

  // the caller's root gradient is never adopted: it stays the caller's
  auto leaf = nb::from_vector<double>({1, 2}, {2}).requires_grad_();
  const nb::Tensor<double> seed = nb::from_vector<double>({7, 8}, {2});
  leaf.backward(seed);
  CHECK(leaf.grad().data() != seed.data());
  leaf.grad().zero_grad();  // (a no-op: a grad has no grad)
  CHECK(seed.to_vector() == std::vector<double>{7, 8});

  // a second backward adds into the handed-over buffer
  nb::sum(a * 2.0).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{8, 11, 14});
}

TEST_CASE("a warm training step of a small LSTM model takes no new blocks from the system", "[overheads]") {
  if (!test_overheads::Cache::enabled()) SUCCEED("the cache is off under AddressSanitizer");
  if (!test_overheads::Cache::enabled()) return;
  for (nb::ZeroGradOptions options : {nb::ZeroGradOptions{}, nb::ZeroGradOptions{.set_to_none = true}}) {
    test_overheads::TinyLstmModel model;
    nb::optim::Adam<float> adam(model.parameters(), {.lr = 0.01});
    const nb::IndexTensor inputs = test_overheads::token_ids(0), targets = test_overheads::token_ids(1);
    const auto step = [&] {
      const nb::Tensor<float> loss = model.loss(inputs, targets);
      adam.zero_grad(options);
      loss.backward();
      adam.step();
    };
    step();  // creates the gradients and Adam's buffers
    step();
    const std::uint64_t before = test_overheads::Cache::instance().system_allocations();
    step();
    step();
    INFO("set_to_none " << options.set_to_none);
    CHECK(test_overheads::Cache::instance().system_allocations() == before);
  }
}
