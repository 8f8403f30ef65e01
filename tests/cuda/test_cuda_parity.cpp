// tests/cuda/test_cuda_parity.cpp: every op on the GPU against the same op on the CPU.
//
// Each test builds its inputs on the CPU, runs the computation there and, from copies of the
// same inputs, on cuda:0, then compares outputs and gradients: 1e-5 relative for float,
// 1e-12 for double (plus the same fraction of the largest magnitude, for values that cancel).
//
// Exit code 77 means "no CUDA device here": CTest reports SKIPPED (SKIP_RETURN_CODE 77),
// never passed. Before skipping, main() checks that the no-device paths throw DeviceError.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <nabla/nabla.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "nabla/backend/cuda/memory.hpp"
#include "nabla/backend/cuda/runtime.hpp"
#include "nabla/backend/elementwise_ops.hpp"

namespace nb = nabla;
namespace cu = nabla::backend::cuda;

namespace {

constexpr int kSkip = 77;
const nb::Device kGpu = nb::Device::cuda(0);
const nb::Device kCpu = nb::Device::cpu();

template <typename T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

/// Values of a tensor from either device.
template <typename T>
std::vector<T> host_values(const nb::Tensor<T>& tensor) {
  return tensor.device().is_cpu() ? tensor.to_vector() : tensor.to(kCpu).to_vector();
}

/// cpu and gpu hold the same values within the tolerance of T (NaN matches NaN, inf matches inf).
template <typename T>
void require_close(const nb::Tensor<T>& cpu, const nb::Tensor<T>& gpu, const std::string& what,
                   double relative = tolerance<T>()) {
  INFO(what);
  REQUIRE(cpu.defined());
  REQUIRE(gpu.defined());
  REQUIRE(cpu.device().is_cpu());
  REQUIRE(gpu.device() == kGpu);
  REQUIRE(cpu.shape() == gpu.shape());
  const std::vector<T> expected = host_values(cpu), actual = host_values(gpu);
  double scale = 0;
  for (T value : expected)
    if (std::isfinite(value)) scale = std::max(scale, std::abs(static_cast<double>(value)));
  std::size_t wrong = 0, first_wrong = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    bool ok;
    if (std::isnan(e) || std::isinf(e))
      ok = (std::isnan(e) && std::isnan(a)) || e == a;
    else
      ok = std::abs(e - a) <= relative * std::max(std::abs(e), std::abs(a)) + relative * scale;
    if (!ok && wrong++ == 0) first_wrong = i;
  }
  INFO("first mismatch at " << first_wrong << ": cpu " << (expected.empty() ? 0 : expected[first_wrong]) << " gpu "
                            << (actual.empty() ? 0 : actual[first_wrong]) << " (" << wrong << " of " << expected.size()
                            << " differ)");
  CHECK(wrong == 0);
}

template <typename T>
nb::Tensor<T> random_tensor(const nb::Shape& shape, std::uint64_t seed, T low = T(-2), T high = T(2)) {
  return nb::uniform<T>(shape, low, high, seed);
}

/// Runs `function` on CPU copies and GPU copies of `inputs` (each a leaf requiring grad),
/// backpropagates sum(output * weights) with the same random weights, and compares the
/// outputs and every input's gradient.
template <typename T>
void check_op(const std::string& name, const std::vector<nb::Tensor<T>>& inputs,
              const std::function<nb::Tensor<T>(const std::vector<nb::Tensor<T>>&)>& function,
              bool differentiable = true, double relative = tolerance<T>()) {
  std::vector<nb::Tensor<T>> cpu_inputs, gpu_inputs;
  for (const auto& input : inputs) {
    cpu_inputs.push_back(input.detach().clone());
    gpu_inputs.push_back(input.detach().to(kGpu));
    if (differentiable) {
      cpu_inputs.back().requires_grad_();
      gpu_inputs.back().requires_grad_();
    }
  }
  const nb::Tensor<T> cpu_out = function(cpu_inputs);
  const nb::Tensor<T> gpu_out = function(gpu_inputs);
  require_close(cpu_out, gpu_out, name + " forward", relative);
  if (!differentiable) return;
  const nb::Tensor<T> weights = random_tensor<T>(cpu_out.shape(), 99);
  nb::sum(cpu_out * weights).backward();
  nb::sum(gpu_out * weights.to(kGpu)).backward();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu_inputs[i].grad().defined()) {
      CHECK_FALSE(gpu_inputs[i].grad().defined());
      continue;
    }
    REQUIRE(gpu_inputs[i].grad().defined());
    require_close(cpu_inputs[i].grad(), gpu_inputs[i].grad(), name + " gradient of input " + std::to_string(i),
                  relative);
  }
}

using Inputs = std::vector<nb::Tensor<float>>;

}  // namespace

// ---- tensors on the device ------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: factories, copies and views", "[cuda]", float, double) {
  using T = TestType;
  require_close(nb::zeros<T>({3, 5}), nb::zeros<T>({3, 5}, kGpu), "zeros");
  require_close(nb::ones<T>({7}), nb::ones<T>({7}, kGpu), "ones");
  require_close(nb::full<T>({2, 2}, T(3.5)), nb::full<T>({2, 2}, T(3.5), kGpu), "full");
  CHECK(nb::empty<T>({0, 4}, kGpu).numel() == 0);
  // The same seed gives the same stream on both devices: uniform bits are identical.
  require_close(nb::rand<T>({1001}, 7), nb::rand<T>({1001}, 7, kGpu), "rand", 0.0);
  require_close(nb::randn<T>({1001}, 7), nb::randn<T>({1001}, 7, kGpu), "randn", sizeof(T) == 4 ? 1e-5 : 1e-12);
  nb::Generator cpu_generator(5), gpu_generator(5);
  (void)nb::rand<T>({10}, cpu_generator);
  (void)nb::rand<T>({10}, gpu_generator, kGpu);
  require_close(nb::rand<T>({33}, cpu_generator), nb::rand<T>({33}, gpu_generator, kGpu), "generator advances", 0.0);

  const nb::Tensor<T> x = random_tensor<T>({4, 6, 5}, 1);
  const nb::Tensor<T> gx = x.to(kGpu);
  CHECK(gx.device() == kGpu);
  require_close(x, gx, "to and back");
  require_close(x.transpose(0, 2).contiguous(), gx.transpose(0, 2).contiguous(), "contiguous of a transpose");
  CHECK(gx.transpose(0, 2).contiguous().is_contiguous());
  require_close(x.slice(1, 1, 6, 2).clone(), gx.slice(1, 1, 6, 2).clone(), "clone of a strided slice");
  require_close(x.permute({2, 0, 1}).reshape({5, 24}), gx.permute({2, 0, 1}).reshape({5, 24}), "reshape copy");
  // A non-contiguous device tensor copies back to the host too.
  require_close(x.transpose(0, 1).contiguous(), gx.transpose(0, 1).to(kCpu).to(kGpu), "strided to(cpu)");
  // zeros_like follows its argument's device.
  CHECK(nb::zeros_like(gx).device() == kGpu);
}

TEMPLATE_TEST_CASE("cuda parity: index_select and its index-add backward", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> x = random_tensor<T>({6, 7, 5}, 80);
  // Repeated indices (atomicAdd in the backward) along every dim, and a non-contiguous input.
  check_op<T>("index_select dim 0", {x}, [](const Ins& v) { return nb::index_select(v[0], 0, {5, 0, 5, 2, 5}); });
  check_op<T>("index_select dim 1", {x}, [](const Ins& v) { return nb::index_select(v[0], 1, {3, 3, 6, 0}); });
  check_op<T>("index_select last dim", {x}, [](const Ins& v) { return nb::index_select(v[0], -1, {4, 1, 1}); });
  check_op<T>("index_select of a transpose", {x}, [](const Ins& v) {
    return nb::index_select(v[0].transpose(0, 2), 1, {6, 2, 2});
  });
  check_op<T>("index_select with no indices", {x},
              [](const Ins& v) { return nb::index_select(v[0], 1, std::vector<std::int64_t>{}); });
  // Many copies of a few rows: each input row's gradient adds 64 or 65 output rows.
  const nb::Tensor<T> table = random_tensor<T>({4, 300}, 81);
  std::vector<std::int64_t> repeated(257);
  for (std::size_t k = 0; k < repeated.size(); ++k) repeated[k] = static_cast<std::int64_t>((k * 7) % 4);
  check_op<T>("index_select with 257 repeated indices", {table},
              [&](const Ins& v) { return nb::index_select(v[0], 0, repeated); });
  // Indices in an IndexTensor on the GPU are brought to the host and checked there.
  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({1, 4, 1}, {3});
  check_op<T>("index_select with device indices", {x}, [&](const Ins& v) {
    return nb::index_select(v[0], 0, v[0].device().is_cpu() ? ids : ids.to(v[0].device()));
  });
  CHECK_THROWS_AS(nb::index_select(x.to(kGpu), 0, nb::from_vector<std::int64_t>({6}, {1}).to(kGpu)), nb::ValueError);
  // The gather runs on int64 tensors too (class ids, token ids).
  const nb::IndexTensor labels = nb::from_vector<std::int64_t>({7, 8, 9}, {3});
  CHECK(nb::index_select(labels.to(kGpu), 0, {2, 2, 0}).to(kCpu).to_vector() == std::vector<std::int64_t>{9, 9, 7});
}

TEST_CASE("cuda parity: mixing devices is a DeviceError naming both", "[cuda]") {
  const auto cpu = nb::ones<float>({2});
  const auto gpu = nb::ones<float>({2}, kGpu);
  CHECK_THROWS_AS(cpu + gpu, nb::DeviceError);
  CHECK_THROWS_WITH(nb::matmul(cpu.reshape({1, 2}), gpu.reshape({2, 1})),
                    Catch::Contains("cpu") && Catch::Contains("cuda:0"));
  CHECK_THROWS_AS(gpu.item(), nb::DeviceError);
  CHECK(nb::sum(gpu).to(kCpu).item() == 2.0f);
}

// ---- elementwise ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: unary math and activations, forward and backward", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  // Odd sizes exercise the tail of the vectorized kernel; the slice is a misaligned view.
  for (const nb::Shape& shape : {nb::Shape{1001}, nb::Shape{3, 4, 5}}) {
    const nb::Tensor<T> x = random_tensor<T>(shape, 2);
    const nb::Tensor<T> positive = random_tensor<T>(shape, 3, T(0.1), T(3));
    // Every op of NABLA_UNARY_OPS (backend/elementwise_ops.hpp) on inputs of its domain, and the
    // real-domain ones out in their tails too (softplus's threshold at 20, saturated tanh).
    const nb::Tensor<T> wide = random_tensor<T>(shape, 10, T(-30), T(30));
#define NABLA_CHECK_LISTED(NAME, FORWARD, DERIVATIVE, READS, DOMAIN)                         \
  if (nb::backend::Domain::DOMAIN == nb::backend::Domain::positive) {                        \
    check_op<T>(#NAME, {positive}, [](const Ins& v) { return nb::NAME(v[0]); });             \
  } else {                                                                                   \
    check_op<T>(#NAME, {x}, [](const Ins& v) { return nb::NAME(v[0]); });                    \
    check_op<T>(#NAME " in [-30, 30]", {wide}, [](const Ins& v) { return nb::NAME(v[0]); }); \
  }
    NABLA_UNARY_OPS(NABLA_CHECK_LISTED)
#undef NABLA_CHECK_LISTED
    check_op<T>("neg", {x}, [](const Ins& v) { return -v[0]; });
    check_op<T>("pow scalar", {positive}, [](const Ins& v) { return nb::pow(v[0], T(1.7)); });
    check_op<T>("leaky_relu", {x}, [](const Ins& v) { return nb::leaky_relu(v[0], T(0.2)); });
    check_op<T>("clamp", {x}, [](const Ins& v) { return nb::clamp(v[0], T(-0.5), T(1)); });
    check_op<T>("scalar ops", {x}, [](const Ins& v) { return (T(2) - v[0]) * T(3) + T(1) - v[0] / T(4); });
    check_op<T>("rdiv", {positive}, [](const Ins& v) { return T(2) / v[0]; });
  }
  const nb::Tensor<T> x = random_tensor<T>({8, 129}, 4);
  check_op<T>("misaligned slice", {x}, [](const Ins& v) { return nb::exp(v[0].slice(1, 1, 128)); });
  check_op<T>("transposed view", {x}, [](const Ins& v) { return nb::tanh(v[0].t()); });
  // Dense but shifted by one element: not 16-byte aligned, so the one-element-per-step path.
  check_op<T>("contiguous view at an odd offset", {x},
              [](const Ins& v) { return nb::sigmoid(v[0].reshape({-1}).slice(0, 1, 8 * 129)); });
}

TEMPLATE_TEST_CASE("cuda parity: binary ops with broadcasting", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> a = random_tensor<T>({3, 4, 5}, 5);
  const nb::Tensor<T> row = random_tensor<T>({5}, 6);
  const nb::Tensor<T> column = random_tensor<T>({3, 1, 1}, 7, T(0.5), T(2));
  const nb::Tensor<T> positive = random_tensor<T>({3, 4, 5}, 8, T(0.5), T(2));
  check_op<T>("add", {a, row}, [](const Ins& v) { return v[0] + v[1]; });
  check_op<T>("sub", {row, a}, [](const Ins& v) { return v[0] - v[1]; });
  check_op<T>("mul", {a, column}, [](const Ins& v) { return v[0] * v[1]; });
  check_op<T>("div", {a, column}, [](const Ins& v) { return v[0] / v[1]; });
  check_op<T>("pow", {positive, row}, [](const Ins& v) { return nb::pow(v[0], v[1]); });
  check_op<T>("maximum", {a, row}, [](const Ins& v) { return nb::maximum(v[0], v[1]); });
  check_op<T>("minimum", {a, row}, [](const Ins& v) { return nb::minimum(v[0], v[1]); });
  check_op<T>("where", {a, row}, [](const Ins& v) { return nb::where(nb::gt(v[0], T(0)), v[0], v[1]); });
  check_op<T>("where scalar", {a}, [](const Ins& v) { return nb::where(nb::lt(v[0], T(0)), v[0], T(0.5)); });
  check_op<T>(
      "comparisons", {a, row},
      [](const Ins& v) {
        return nb::eq(v[0], v[0]) + nb::ne(v[0], v[1]) + nb::lt(v[0], v[1]) + nb::le(v[0], T(0)) +
               nb::gt(v[0], T(0.5)) + nb::ge(v[1], v[0]);
      },
      /*differentiable=*/false);
  // Rank above the kernels' limit: contiguous same-shape operands are one flat run and work;
  // a strided (broadcasting) map gives a clear ShapeError, not a crash.
  const auto deep = nb::ones<T>(nb::Shape(9, 1), kGpu);
  CHECK((deep + deep).to(nb::Device::cpu()).at({0, 0, 0, 0, 0, 0, 0, 0, 0}) == T(2));
  CHECK_THROWS_AS(deep + nb::ones<T>({1}, kGpu), nb::ShapeError);
}

TEMPLATE_TEST_CASE("cuda parity: in-place ops, fill_ and copy_", "[cuda]", float, double) {
  using T = TestType;
  const nb::Tensor<T> a = random_tensor<T>({6, 7}, 9);
  const nb::Tensor<T> row = random_tensor<T>({7}, 10);
  nb::Tensor<T> cpu = a.clone(), gpu = a.to(kGpu);
  cpu += row;
  gpu += row.to(kGpu);
  cpu *= T(3);
  gpu *= T(3);
  cpu -= T(1);
  gpu -= T(1);
  cpu /= T(2);
  gpu /= T(2);
  cpu /= a;
  gpu /= a.to(kGpu);
  require_close(cpu, gpu, "in-place chain");
  cpu.fill_(T(4));
  gpu.fill_(T(4));
  require_close(cpu, gpu, "fill_");
  cpu.copy_(row);
  gpu.copy_(row);  // from the CPU: copy_ moves the source to the target's device
  require_close(cpu, gpu, "copy_ broadcast from the host");
}

// ---- reductions -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: reductions, forward and backward", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> x = random_tensor<T>({6, 33, 70}, 11);
  check_op<T>("sum all", {x}, [](const Ins& v) { return nb::sum(v[0]); });
  check_op<T>("sum dim 0", {x}, [](const Ins& v) { return nb::sum(v[0], {0}); });
  check_op<T>("sum dims 0,2 keepdim", {x}, [](const Ins& v) { return nb::sum(v[0], {0, 2}, true); });
  check_op<T>("sum of a transpose", {x}, [](const Ins& v) { return nb::sum(v[0].transpose(0, 2), {1}); });
  check_op<T>("mean", {x}, [](const Ins& v) { return nb::mean(v[0], {-1}); });
  check_op<T>("mean all", {x}, [](const Ins& v) { return nb::mean(v[0]); });
  check_op<T>("var", {x}, [](const Ins& v) { return nb::var(v[0], {1}); });
  check_op<T>("max all", {x}, [](const Ins& v) { return nb::max(v[0]); });
  check_op<T>("min all", {x}, [](const Ins& v) { return nb::min(v[0]); });
  check_op<T>("max dim", {x}, [](const Ins& v) { return nb::max(v[0], 1); });
  check_op<T>("min dim keepdim", {x}, [](const Ins& v) { return nb::min(v[0], -1, true); });
  check_op<T>("logsumexp", {x}, [](const Ins& v) { return nb::logsumexp(v[0], 2); });
  // Broadcast gradients are summed back to the input shape on the device (engine: sum_to_shape).
  const nb::Tensor<T> bias = random_tensor<T>({70}, 12);
  check_op<T>("broadcast bias", {x, bias}, [](const Ins& v) { return nb::tanh(v[0] + v[1]); });
  // Thousands of outputs over dense kept dims: the one-thread-per-column sum (kernels/reduce.cu).
  const nb::Tensor<T> wide = random_tensor<T>({50, 5000}, 14);
  const nb::Tensor<T> wide_bias = random_tensor<T>({5000}, 15);
  check_op<T>("sum over the rows of [50, 5000]", {wide}, [](const Ins& v) { return nb::sum(v[0], {0}); });
  check_op<T>("bias gradient over 50 rows", {wide, wide_bias}, [](const Ins& v) { return v[0] + v[1]; });
  // A large full reduction.
  const nb::Tensor<T> big = random_tensor<T>({1 << 20}, 13, T(0), T(1));
  check_op<T>(
      "sum of 2^20", {big}, [](const Ins& v) { return nb::sum(v[0]); }, true, sizeof(T) == 4 ? 1e-4 : 1e-11);

  // argmax / argmin: positions, the first one on ties.
  const nb::Tensor<T> ties = nb::from_vector<T>({1, 3, 3, 0, 2, 2, 5, 5, -1, -1, -1, 0}, {3, 4});
  for (const auto& input : {x, ties}) {
    const auto g = input.to(kGpu);
    CHECK(nb::argmax(g).to(kCpu).to_vector() == nb::argmax(input).to_vector());
    CHECK(nb::argmin(g).to(kCpu).to_vector() == nb::argmin(input).to_vector());
    CHECK(nb::argmax(g, 1).to(kCpu).to_vector() == nb::argmax(input, 1).to_vector());
    CHECK(nb::argmin(g, 0, true).to(kCpu).to_vector() == nb::argmin(input, 0, true).to_vector());
  }
  // Ties share the gradient of a full max.
  check_op<T>("max all with ties", {ties}, [](const Ins& v) { return nb::max(v[0]); });
}

// ---- matmul -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: matmul and batched matmul through cuBLAS", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> a = random_tensor<T>({17, 33}, 14), b = random_tensor<T>({33, 9}, 15);
  const nb::Tensor<T> at = random_tensor<T>({33, 17}, 16), bt = random_tensor<T>({9, 33}, 17);
  check_op<T>("matmul", {a, b}, [](const Ins& v) { return nb::matmul(v[0], v[1]); });
  check_op<T>("matmul a^T b", {at, b}, [](const Ins& v) { return nb::matmul(v[0].t(), v[1]); });
  check_op<T>("matmul a b^T", {a, bt}, [](const Ins& v) { return nb::matmul(v[0], v[1].t()); });
  check_op<T>("matmul a^T b^T", {at, bt}, [](const Ins& v) { return nb::matmul(v[0].t(), v[1].t()); });
  check_op<T>("matmul vector-like", {random_tensor<T>({1, 33}, 18), b},
              [](const Ins& v) { return nb::matmul(v[0], v[1]); });
  const nb::Tensor<T> batch_a = random_tensor<T>({4, 5, 6}, 19), batch_b = random_tensor<T>({4, 6, 3}, 20);
  check_op<T>("bmm", {batch_a, batch_b}, [](const Ins& v) { return nb::matmul(v[0], v[1]); });
  check_op<T>("bmm shared right operand", {batch_a, random_tensor<T>({6, 3}, 21)},
              [](const Ins& v) { return nb::matmul(v[0], v[1]); });
  check_op<T>("bmm of transposed batches", {batch_a, batch_b},
              [](const Ins& v) { return nb::matmul(v[1].transpose(1, 2), v[0].transpose(1, 2)); });
  check_op<T>("matmul of a non-unit-stride view", {random_tensor<T>({10, 12}, 22), random_tensor<T>({6, 5}, 23)},
              [](const Ins& v) { return nb::matmul(v[0].slice(1, 0, 12, 2), v[1]); });
  check_op<T>("empty inner dimension", {random_tensor<T>({3, 0}, 24), random_tensor<T>({0, 4}, 25)},
              [](const Ins& v) { return nb::matmul(v[0], v[1]); });
}

TEST_CASE("cuda parity: TF32 is opt-in and stays close", "[cuda]") {
  const auto a = random_tensor<float>({64, 64}, 26), b = random_tensor<float>({64, 64}, 27);
  CHECK_FALSE(cu::allow_tf32());
  cu::set_allow_tf32(true);
  const auto fast = nb::matmul(a.to(kGpu), b.to(kGpu));
  cu::set_allow_tf32(false);
  require_close(nb::matmul(a, b), fast, "tf32 matmul", 1e-2);
}

// ---- modules ----------------------------------------------------------------------------------

TEST_CASE("cuda parity: Module::to moves parameters in place; a small MLP trains the same", "[cuda]") {
  nb::manual_seed(3);
  nb::nn::Sequential<double> cpu_net;
  cpu_net.add<nb::nn::Dense>(5, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 2);
  nb::manual_seed(3);
  nb::nn::Sequential<double> gpu_net;
  gpu_net.add<nb::nn::Dense>(5, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 2);
  const auto parameters_before = gpu_net.parameters();
  gpu_net.to(kGpu);
  const auto parameters_after = gpu_net.parameters();
  REQUIRE(parameters_before.size() == parameters_after.size());
  for (std::size_t i = 0; i < parameters_after.size(); ++i) {
    CHECK(parameters_after[i].device() == kGpu);
    CHECK(parameters_before[i].is_same(parameters_after[i]));  // the same tensors, moved
    CHECK(parameters_after[i].requires_grad());
  }
  const auto x = random_tensor<double>({16, 5}, 28), y = random_tensor<double>({16, 2}, 29);
  for (int step = 0; step < 3; ++step) {
    const auto cpu_loss = nb::mean(nb::square(cpu_net(x) - y));
    const auto gpu_loss = nb::mean(nb::square(gpu_net(x.to(kGpu)) - y.to(kGpu)));
    require_close(cpu_loss, gpu_loss, "loss at step " + std::to_string(step));
    cpu_net.zero_grad();
    gpu_net.zero_grad();
    cpu_loss.backward();
    gpu_loss.backward();
    const auto cpu_parameters = cpu_net.parameters(), gpu_parameters = gpu_net.parameters();
    nb::NoGradGuard no_grad;
    for (std::size_t i = 0; i < cpu_parameters.size(); ++i) {
      require_close(cpu_parameters[i].grad(), gpu_parameters[i].grad(), "gradient " + std::to_string(i));
      auto cpu_parameter = cpu_parameters[i];
      auto gpu_parameter = gpu_parameters[i];
      cpu_parameter -= 0.1 * cpu_parameter.grad();
      gpu_parameter -= 0.1 * gpu_parameter.grad();
    }
  }
  // And back: state_dict values agree.
  gpu_net.to(kCpu);
  const auto cpu_parameters = cpu_net.parameters(), gpu_parameters = gpu_net.parameters();
  for (std::size_t i = 0; i < cpu_parameters.size(); ++i) {
    CHECK(gpu_parameters[i].device().is_cpu());
    const std::vector<double> expected = cpu_parameters[i].to_vector(), actual = gpu_parameters[i].to_vector();
    REQUIRE(expected.size() == actual.size());
    for (std::size_t k = 0; k < expected.size(); ++k) CHECK(actual[k] == Approx(expected[k]).epsilon(1e-12));
  }
}

TEST_CASE("cuda: the caching allocator reuses blocks in a steady loop", "[cuda]") {
  const auto x = random_tensor<float>({256, 256}, 30).to(kGpu);
  for (int step = 0; step < 3; ++step) (void)nb::sum(nb::tanh(nb::matmul(x, x)));
  const std::size_t before = cu::allocator_statistics(0).device_allocations;
  for (int step = 0; step < 10; ++step) (void)nb::sum(nb::tanh(nb::matmul(x, x)));
  CHECK(cu::allocator_statistics(0).device_allocations == before);
}

// ---- softmax and losses -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: layer_norm over the last dims, with and without weight and bias", "[cuda]", float,
                   double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  // 700 columns: more than one block's threads per row; rows far from zero test the two passes.
  for (const std::int64_t columns : {5, 700}) {
    const nb::Tensor<T> x = random_tensor<T>({3, 4, columns}, 60) + T(50);
    const nb::Tensor<T> weight = random_tensor<T>({columns}, 61), bias = random_tensor<T>({columns}, 62);
    const std::string label = "layer_norm " + std::to_string(columns);
    check_op<T>(label + " affine", {x, weight, bias},
                [columns](const Ins& v) { return nb::layer_norm(v[0], {columns}, v[1], v[2]); });
    check_op<T>(label + " plain", {x}, [columns](const Ins& v) { return nb::layer_norm(v[0], {columns}); });
    check_op<T>(label + " two dims, strided input", {x, random_tensor<T>({3, columns}, 63)}, [columns](const Ins& v) {
      return nb::layer_norm(v[0].transpose(0, 1), {3, columns}, v[1]);
    });
  }
}

TEMPLATE_TEST_CASE("cuda parity: fused scaled_dot_product_attention, forward and gradients", "[cuda][attention]", float,
                   double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  struct Case {
    std::string name;
    nb::Shape q, k, v;
    bool causal;
    std::optional<nb::Shape> mask, mask_out;
    double dropout;
  };
  // Sizes off the 32-row tiles; Tq != Tk both ways; 3-D inputs; D != Dv; head dims that shrink the tile.
  const std::vector<Case> cases = {
      {"plain", {2, 3, 37, 16}, {2, 3, 45, 16}, {2, 3, 45, 8}, false, std::nullopt, std::nullopt, 0.0},
      {"causal", {2, 2, 70, 32}, {2, 2, 70, 32}, {2, 2, 70, 32}, true, std::nullopt, std::nullopt, 0.0},
      {"causal, Tq < Tk", {1, 2, 5, 8}, {1, 2, 67, 8}, {1, 2, 67, 8}, true, std::nullopt, std::nullopt, 0.0},
      {"causal, Tq > Tk (rows without keys)",
       {1, 2, 40, 8},
       {1, 2, 9, 8},
       {1, 2, 9, 4},
       true,
       std::nullopt,
       std::nullopt,
       0.0},
      {"additive mask", {2, 2, 33, 12}, {2, 2, 31, 12}, {2, 2, 31, 5}, false, nb::Shape{33, 31}, std::nullopt, 0.0},
      {"mask_out key padding + causal",
       {2, 3, 50, 8},
       {2, 3, 50, 8},
       {2, 3, 50, 8},
       true,
       std::nullopt,
       nb::Shape{2, 1, 1, 50},
       0.0},
      {"3-D, both masks", {3, 29, 6}, {3, 35, 6}, {3, 35, 7}, false, nb::Shape{3, 29, 35}, nb::Shape{29, 35}, 0.0},
      {"head dim 128", {1, 2, 40, 128}, {1, 2, 40, 128}, {1, 2, 40, 128}, true, std::nullopt, std::nullopt, 0.0},
      {"dropout (same Philox mask on both)",
       {2, 2, 33, 8},
       {2, 2, 41, 8},
       {2, 2, 41, 8},
       true,
       std::nullopt,
       std::nullopt,
       0.3},
  };
  std::uint64_t seed = 700;
  for (const Case& c : cases) {
    seed += 10;
    std::optional<nb::Tensor<T>> mask, mask_out;
    if (c.mask) mask = random_tensor<T>(*c.mask, seed + 3);
    if (c.mask_out) mask_out = nb::gt(random_tensor<T>(*c.mask_out, seed + 4, T(0), T(1)), T(0.7));
    check_op<T>("attention " + c.name,
                {random_tensor<T>(c.q, seed), random_tensor<T>(c.k, seed + 1), random_tensor<T>(c.v, seed + 2)},
                [&](const Ins& x) {
                  nb::Generator generator(11);  // the same dropout positions for both devices
                  nb::AttentionOptions<T> options{.causal = c.causal, .dropout = c.dropout, .generator = &generator};
                  if (mask) options.mask = x[0].device().is_cpu() ? *mask : mask->to(x[0].device());
                  if (mask_out) options.mask_out = x[0].device().is_cpu() ? *mask_out : mask_out->to(x[0].device());
                  return nb::scaled_dot_product_attention(x[0], x[1], x[2], options);
                });
  }
}

TEMPLATE_TEST_CASE("cuda parity: softmax and log_softmax along any dim", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> x = random_tensor<T>({5, 7, 300}, 31, T(-8), T(8));
  for (const std::int64_t dim : {-1, 1, 0}) {
    check_op<T>("softmax dim " + std::to_string(dim), {x}, [dim](const Ins& v) { return nb::softmax(v[0], dim); });
    check_op<T>("log_softmax dim " + std::to_string(dim), {x},
                [dim](const Ins& v) { return nb::log_softmax(v[0], dim); });
  }
  // Large logits stay finite; -inf entries get probability 0.
  const nb::Tensor<T> extreme = nb::from_vector<T>({1000, 1000, -1000, -INFINITY, 3, 2}, {2, 3});
  check_op<T>(
      "softmax of extreme logits", {extreme}, [](const Ins& v) { return nb::softmax(v[0]); }, false);
  check_op<T>(
      "log_softmax of extreme logits", {extreme}, [](const Ins& v) { return nb::log_softmax(v[0]); }, false);
}

TEMPLATE_TEST_CASE("cuda parity: fused softmax cross-entropy", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const std::int64_t rows = 37, classes = 1001;
  const nb::Tensor<T> logits = random_tensor<T>({rows, classes}, 32, T(-5), T(5));
  std::vector<std::int64_t> ids(rows);
  for (std::int64_t r = 0; r < rows; ++r) ids[static_cast<std::size_t>(r)] = (r * 97) % classes;
  ids[3] = -100;  // ignored
  const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {rows});
  for (const auto reduction : {nb::loss::Reduction::mean, nb::loss::Reduction::sum, nb::loss::Reduction::none}) {
    check_op<T>("cross_entropy", {logits}, [&](const Ins& v) {
      const auto labels = v[0].device().is_cpu() ? targets : targets.to(v[0].device());
      return nb::loss::cross_entropy(v[0], labels, reduction);
    });
  }
  check_op<T>("cross_entropy with label smoothing", {logits}, [&](const Ins& v) {
    return nb::loss::cross_entropy(v[0], targets.to(v[0].device()), nb::loss::Reduction::mean, -100, 0.1);
  });
  // A bad class id on the GPU is a ValueError naming it, as on the CPU.
  std::vector<std::int64_t> bad = ids;
  bad[5] = classes;
  CHECK_THROWS_WITH(nb::loss::cross_entropy(logits.to(kGpu), nb::from_vector<std::int64_t>(bad, {rows}).to(kGpu)),
                    Catch::Contains("1001"));
}

TEMPLATE_TEST_CASE("cuda parity: elementwise losses", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const nb::Tensor<T> prediction = random_tensor<T>({9, 13}, 33);
  const nb::Tensor<T> probability = random_tensor<T>({9, 13}, 34, T(0.01), T(0.99));
  const nb::Tensor<T> target = random_tensor<T>({9, 13}, 35, T(0), T(1));
  check_op<T>("mse", {prediction, target}, [](const Ins& v) { return nb::loss::mse(v[0], v[1]); });
  check_op<T>("l1", {prediction, target}, [](const Ins& v) { return nb::loss::l1(v[0], v[1]); });
  check_op<T>("huber", {prediction, target},
              [](const Ins& v) { return nb::loss::huber(v[0], v[1], nb::loss::Reduction::sum, 0.5); });
  check_op<T>("binary_cross_entropy", {probability, target},
              [](const Ins& v) { return nb::loss::binary_cross_entropy(v[0], v[1]); });
  check_op<T>("bce_with_logits", {prediction, target},
              [](const Ins& v) { return nb::loss::bce_with_logits(v[0], v[1], nb::loss::Reduction::none); });
  CHECK_THROWS_AS(nb::loss::binary_cross_entropy(prediction.to(kGpu), target.to(kGpu)), nb::ValueError);
}

TEMPLATE_TEST_CASE("cuda parity: nll and multi_margin losses", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const std::int64_t rows = 37;
  for (const std::int64_t classes : {std::int64_t{11}, std::int64_t{300}}) {  // one warp and a full block per row
    INFO("classes " << classes);
    const nb::Tensor<T> log_probabilities = random_tensor<T>({rows, classes}, 82, T(-6), T(0));
    const nb::Tensor<T> scores = random_tensor<T>({rows, classes}, 83, T(-1), T(1));
    std::vector<std::int64_t> ids(rows);
    for (std::int64_t r = 0; r < rows; ++r) ids[static_cast<std::size_t>(r)] = (r * 5) % classes;
    const nb::IndexTensor targets = nb::from_vector<std::int64_t>(ids, {rows});
    std::vector<std::int64_t> padded = ids;
    padded[3] = padded[20] = -100;  // ignored rows
    const nb::IndexTensor padded_targets = nb::from_vector<std::int64_t>(padded, {rows});
    for (const auto reduction : {nb::loss::Reduction::mean, nb::loss::Reduction::sum, nb::loss::Reduction::none}) {
      check_op<T>("nll", {log_probabilities},
                  [&](const Ins& v) { return nb::loss::nll(v[0], padded_targets.to(v[0].device()), reduction); });
      for (const int p : {1, 2})
        check_op<T>("multi_margin p " + std::to_string(p), {scores}, [&](const Ins& v) {
          return nb::loss::multi_margin(v[0], targets.to(v[0].device()), reduction, 0.5, p);
        });
    }
    // Class ids stored as float values, and a [B, L, C] input.
    std::vector<T> id_values(ids.begin(), ids.end());
    const nb::Tensor<T> float_targets = nb::from_vector<T>(id_values, {rows});
    check_op<T>("nll with float targets", {log_probabilities},
                [&](const Ins& v) { return nb::loss::nll(v[0], float_targets.to(v[0].device())); });
    const nb::Tensor<T> sequence_scores = random_tensor<T>({2, 5, classes}, 84);
    const nb::IndexTensor sequence_targets = nb::from_vector<std::int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5});
    check_op<T>("multi_margin of [2, 5, C] with float targets", {sequence_scores}, [&](const Ins& v) {
      std::vector<T> values;
      for (const auto id : sequence_targets.to_vector()) values.push_back(static_cast<T>(id));
      return nb::loss::multi_margin(v[0], nb::from_vector<T>(values, {2, 5}).to(v[0].device()));
    });
  }
  // A bad class id on the GPU is a ValueError naming it, as on the CPU.
  const nb::Tensor<T> x = random_tensor<T>({4, 3}, 85).to(kGpu);
  CHECK_THROWS_WITH(nb::loss::nll(x, nb::from_vector<std::int64_t>({0, 1, 3, 0}, {4}).to(kGpu)),
                    Catch::Contains("class index 3"));
  CHECK_THROWS_WITH(nb::loss::multi_margin(x, nb::from_vector<std::int64_t>({0, -1, 2, 0}, {4}).to(kGpu)),
                    Catch::Contains("class index -1"));
}

// ---- layers -------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: embedding lookup and scatter-add backward", "[cuda]", float, double) {
  using T = TestType;
  nb::nn::Embedding<T> cpu_layer(50, 16, {.padding_idx = 2, .seed = 7});
  nb::nn::Embedding<T> gpu_layer(50, 16, {.padding_idx = 2, .seed = 7});
  gpu_layer.to(kGpu);
  // Repeated ids (atomicAdd) and the padding id.
  const nb::IndexTensor ids = nb::from_vector<std::int64_t>({1, 2, 3, 1, 1, 49, 0, 2, 3, 3, 7, 1}, {3, 4});
  const auto cpu_out = cpu_layer(ids);
  const auto gpu_out = gpu_layer(ids.to(kGpu));
  require_close(cpu_out, gpu_out, "embedding forward");
  const auto weights = random_tensor<T>(cpu_out.shape(), 36);
  nb::sum(cpu_out * weights).backward();
  nb::sum(gpu_out * weights.to(kGpu)).backward();
  require_close(cpu_layer.parameters()[0].grad(), gpu_layer.parameters()[0].grad(), "embedding gradient");
  // Ids from the host work too (they are checked there and copied to the device).
  require_close(cpu_layer(ids), gpu_layer(ids), "host ids");
  CHECK_THROWS_AS(gpu_layer(nb::from_vector<std::int64_t>({50}, {1}).to(kGpu)), nb::ValueError);
}

TEMPLATE_TEST_CASE("cuda parity: dropout draws the same mask on both devices", "[cuda]", float, double) {
  using T = TestType;
  const nb::Tensor<T> x = random_tensor<T>({33, 65}, 37);
  nb::Generator cpu_generator(11), gpu_generator(11);
  auto cpu_x = x.clone().requires_grad_();
  auto gpu_x = x.to(kGpu).requires_grad_();
  for (int call = 0; call < 2; ++call) {  // the generators advance identically
    const auto cpu_out = nb::nn::functional::dropout(cpu_x, 0.3, true, cpu_generator);
    const auto gpu_out = nb::nn::functional::dropout(gpu_x, 0.3, true, gpu_generator);
    require_close(cpu_out, gpu_out, "dropout forward, call " + std::to_string(call), 0.0);
    nb::sum(cpu_out).backward();
    nb::sum(gpu_out).backward();
  }
  require_close(cpu_x.grad(), gpu_x.grad(), "dropout gradient");
}

// ---- optimizers and clipping --------------------------------------------------------------------

namespace {
/// Runs `steps` optimizer steps on the same parameters and gradients on both devices.
template <typename T, typename Optimizer, typename Options>
void check_optimizer(const std::string& name, const Options& options, int steps = 3) {
  INFO(name);
  auto cpu_parameter = random_tensor<T>({7, 9}, 40).requires_grad_();
  auto gpu_parameter = cpu_parameter.detach().to(kGpu).requires_grad_();
  Optimizer cpu_optimizer({cpu_parameter}, options);
  Optimizer gpu_optimizer({gpu_parameter}, options);
  for (int step = 0; step < steps; ++step) {
    const auto target = random_tensor<T>({7, 9}, 41 + static_cast<std::uint64_t>(step));
    cpu_optimizer.zero_grad();
    gpu_optimizer.zero_grad();
    nb::sum(nb::square(cpu_parameter - target)).backward();
    nb::sum(nb::square(gpu_parameter - target.to(kGpu))).backward();
    cpu_optimizer.step();
    gpu_optimizer.step();
    require_close(cpu_parameter.detach(), gpu_parameter.detach(), name + " after step " + std::to_string(step));
  }
}
}  // namespace

TEMPLATE_TEST_CASE("cuda parity: fused optimizer updates", "[cuda]", float, double) {
  using T = TestType;
  namespace optim = nb::optim;
  check_optimizer<T, optim::SGD<T>>("sgd", optim::SGDOptions{.lr = 0.1});
  check_optimizer<T, optim::SGD<T>>(
      "sgd nesterov", optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  check_optimizer<T, optim::SGD<T>>("sgd dampening", optim::SGDOptions{.lr = 0.1, .momentum = 0.5, .dampening = 0.2});
  check_optimizer<T, optim::Adam<T>>("adam", optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
  check_optimizer<T, optim::Adam<T>>("adam amsgrad", optim::AdamOptions{.lr = 0.01, .amsgrad = true});
  check_optimizer<T, optim::AdamW<T>>("adamw", optim::AdamWOptions{.lr = 0.01});
  check_optimizer<T, optim::RMSprop<T>>("rmsprop centered momentum",
                                        optim::RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true});
  check_optimizer<T, optim::Adagrad<T>>("adagrad", optim::AdagradOptions{.lr = 0.1, .lr_decay = 0.01});
}

TEMPLATE_TEST_CASE("cuda parity: l1 and l2 penalties", "[cuda]", float, double) {
  using T = TestType;
  using Ins = std::vector<nb::Tensor<T>>;
  const Ins parameters{random_tensor<T>({33, 17}, 86), random_tensor<T>({17}, 87), nb::full<T>(nb::Shape{}, T(-1.5)),
                       nb::zeros<T>({4})};  // zeros: sign(0) = 0 on both devices
  check_op<T>("l1_penalty", parameters, [](const Ins& v) { return nb::optim::l1_penalty<T>(v); });
  check_op<T>("l2_penalty", parameters, [](const Ins& v) { return nb::optim::l2_penalty<T>(v); });
  check_op<T>("l2_penalty of a transposed view", {parameters[0]},
              [](const Ins& v) { return nb::optim::l2_penalty<T>({v[0].t()}) * T(3) + nb::optim::l1_penalty<T>(v); });
  // A parameter that does not require grad gets none, on the GPU too.
  auto trained = parameters[0].to(kGpu).requires_grad_();
  const auto frozen = parameters[1].to(kGpu);
  nb::optim::l2_penalty<T>({trained, frozen}).backward();
  CHECK(trained.grad().defined());
  CHECK_FALSE(frozen.grad().defined());
  CHECK_THROWS_AS(nb::optim::l1_penalty<T>({parameters[0].to(kGpu), parameters[1]}), nb::DeviceError);
}

TEMPLATE_TEST_CASE("cuda parity: gradient clipping", "[cuda]", float, double) {
  using T = TestType;
  for (const double norm_type : {2.0, 1.0, 3.0, static_cast<double>(INFINITY)}) {
    INFO("norm_type " << norm_type);
    std::vector<nb::Tensor<T>> cpu_parameters, gpu_parameters;
    for (int i = 0; i < 3; ++i) {
      auto cpu = random_tensor<T>({5 + i, 4}, 50 + static_cast<std::uint64_t>(i)).requires_grad_();
      auto gpu = cpu.detach().to(kGpu).requires_grad_();
      nb::sum(nb::square(cpu) * T(3)).backward();
      nb::sum(nb::square(gpu) * T(3)).backward();
      cpu_parameters.push_back(cpu);
      gpu_parameters.push_back(gpu);
    }
    const T cpu_norm = nb::optim::clip_grad_norm_(cpu_parameters, 0.5, norm_type);
    const T gpu_norm = nb::optim::clip_grad_norm_(gpu_parameters, 0.5, norm_type);
    CHECK(gpu_norm == Approx(cpu_norm).epsilon(tolerance<T>() * 10));
    for (std::size_t i = 0; i < cpu_parameters.size(); ++i)
      require_close(cpu_parameters[i].grad(), gpu_parameters[i].grad(), "clipped gradient", tolerance<T>() * 10);
    nb::optim::clip_grad_value_(cpu_parameters, 0.1);
    nb::optim::clip_grad_value_(gpu_parameters, 0.1);
    for (std::size_t i = 0; i < cpu_parameters.size(); ++i)
      require_close(cpu_parameters[i].grad(), gpu_parameters[i].grad(), "clip_grad_value_");
  }
}

// ---- the LSTM --------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("cuda parity: the fused LSTM layer, forward and BPTT", "[cuda]", float, double) {
  using T = TestType;
  const std::int64_t batch = 5, steps = 7, input_size = 6, hidden = 9;
  for (const bool with_lengths : {false, true}) {
    for (const auto implementation : {nb::nn::LSTMImplementation::fused, nb::nn::LSTMImplementation::composed}) {
      INFO("lengths " << with_lengths << ", implementation " << static_cast<int>(implementation));
      const nb::nn::LSTMOptions options{
          .num_layers = 2, .return_sequences = true, .implementation = implementation, .seed = 5};
      nb::nn::LSTM<T> cpu_lstm(input_size, hidden, options);
      nb::nn::LSTM<T> gpu_lstm(input_size, hidden, options);
      gpu_lstm.to(kGpu);
      const std::vector<std::int64_t> lengths =
          with_lengths ? std::vector<std::int64_t>{7, 3, 0, 5, 1} : std::vector<std::int64_t>{};
      auto cpu_x = random_tensor<T>({batch, steps, input_size}, 60).requires_grad_();
      auto gpu_x = cpu_x.detach().to(kGpu).requires_grad_();
      auto cpu_h0 = random_tensor<T>({2, batch, hidden}, 61).requires_grad_();
      auto gpu_h0 = cpu_h0.detach().to(kGpu).requires_grad_();
      auto cpu_c0 = random_tensor<T>({2, batch, hidden}, 62).requires_grad_();
      auto gpu_c0 = cpu_c0.detach().to(kGpu).requires_grad_();
      const auto cpu = cpu_lstm(cpu_x, {cpu_h0, cpu_c0}, lengths);
      const auto gpu = gpu_lstm(gpu_x, {gpu_h0, gpu_c0}, lengths);
      // float: the fused layer's float tanh is a rational approximation on both devices, and
      // every step compounds rounding; 1e-4 relative is still far below what training notices.
      const double relative = sizeof(T) == 4 ? 1e-4 : 1e-12;
      require_close(cpu.output, gpu.output, "output", relative);
      require_close(cpu.h, gpu.h, "h_n", relative);
      require_close(cpu.c, gpu.c, "c_n", relative);
      const auto w_out = random_tensor<T>(cpu.output.shape(), 63), w_h = random_tensor<T>(cpu.h.shape(), 64);
      nb::sum(cpu.output * w_out + nb::sum(cpu.h * w_h) + nb::sum(cpu.c)).backward();
      nb::sum(gpu.output * w_out.to(kGpu) + nb::sum(gpu.h * w_h.to(kGpu)) + nb::sum(gpu.c)).backward();
      require_close(cpu_x.grad(), gpu_x.grad(), "dX", relative);
      require_close(cpu_h0.grad(), gpu_h0.grad(), "dh0", relative);
      require_close(cpu_c0.grad(), gpu_c0.grad(), "dc0", relative);
      const auto cpu_parameters = cpu_lstm.named_parameters(), gpu_parameters = gpu_lstm.named_parameters();
      for (std::size_t i = 0; i < cpu_parameters.size(); ++i)
        require_close(cpu_parameters[i].second.grad(), gpu_parameters[i].second.grad(),
                      "gradient of " + cpu_parameters[i].first, relative);
    }
  }
}

TEST_CASE("cuda parity: a full language-model training step (loss and every gradient)", "[cuda]") {
  using T = double;
  const std::int64_t vocabulary = 40, embedding = 12, hidden = 16, batch = 4, steps = 6;
  auto make_model = [&] {
    auto model = std::make_unique<nb::nn::Sequential<T>>();
    model->add<nb::nn::Embedding>(vocabulary, embedding, nb::nn::EmbeddingOptions{.seed = 1})
        .add<nb::nn::LSTM>(embedding, hidden, nb::nn::LSTMOptions{.return_sequences = true, .seed = 2})
        .add<nb::nn::Dense>(hidden, vocabulary);
    return model;
  };
  nb::manual_seed(9);
  auto cpu_model = make_model();
  nb::manual_seed(9);
  auto gpu_model = make_model();
  gpu_model->to(kGpu);
  const nb::IndexTensor tokens = nb::randint(0, vocabulary, {batch, steps}, 70);
  const nb::IndexTensor next = nb::randint(0, vocabulary, {batch * steps}, 71);
  const nb::Tensor<T> token_values = nb::from_vector<T>(
      [&] {
        std::vector<T> values;
        for (const auto id : tokens.to_vector()) values.push_back(static_cast<T>(id));
        return values;
      }(),
      {batch, steps});
  nb::optim::Adam<T> cpu_optimizer(cpu_model->parameters(), {.lr = 1e-2});
  nb::optim::Adam<T> gpu_optimizer(gpu_model->parameters(), {.lr = 1e-2});
  for (int step = 0; step < 2; ++step) {
    const auto cpu_logits = (*cpu_model)(token_values).reshape({batch * steps, vocabulary});
    const auto gpu_logits = (*gpu_model)(token_values.to(kGpu)).reshape({batch * steps, vocabulary});
    const auto cpu_loss = nb::loss::cross_entropy(cpu_logits, next);
    const auto gpu_loss = nb::loss::cross_entropy(gpu_logits, next.to(kGpu));
    require_close(cpu_loss, gpu_loss, "loss at step " + std::to_string(step));
    cpu_optimizer.zero_grad();
    gpu_optimizer.zero_grad();
    cpu_loss.backward();
    gpu_loss.backward();
    const double cpu_norm = nb::optim::clip_grad_norm_(cpu_model->parameters(), 1.0);
    const double gpu_norm = nb::optim::clip_grad_norm_(gpu_model->parameters(), 1.0);
    CHECK(gpu_norm == Approx(cpu_norm).epsilon(1e-10));
    const auto cpu_parameters = cpu_model->named_parameters(), gpu_parameters = gpu_model->named_parameters();
    for (std::size_t i = 0; i < cpu_parameters.size(); ++i)
      require_close(cpu_parameters[i].second.grad(), gpu_parameters[i].second.grad(),
                    "gradient of " + cpu_parameters[i].first);
    cpu_optimizer.step();
    gpu_optimizer.step();
  }
}

// ---- main: the no-device checks, then the tests or exit 77 ----------------------------------

namespace {

/// Without a device every way onto the GPU must throw DeviceError, never crash.
int check_no_device_paths() {
  int failures = 0;
  auto expect_device_error = [&failures](const char* what, const std::function<void()>& action) {
    try {
      action();
      std::fprintf(stderr, "FAILED: %s did not throw without a CUDA device\n", what);
      ++failures;
    } catch (const nb::DeviceError& error) {
      std::printf("  %s -> DeviceError: %s\n", what, error.what());
    } catch (const std::exception& error) {
      std::fprintf(stderr, "FAILED: %s threw something other than DeviceError: %s\n", what, error.what());
      ++failures;
    }
  };
  expect_device_error("zeros(cuda)", [] { (void)nb::zeros<float>({2}, kGpu); });
  expect_device_error("randn(cuda)", [] { (void)nb::randn<float>({2}, 1, kGpu); });
  expect_device_error("to(cuda)", [] { (void)nb::ones<float>({2}).to(kGpu); });
  expect_device_error("Module::to(cuda)", [] {
    nb::nn::Dense<float> layer(2, 3);
    layer.to(kGpu);
  });
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (!cu::is_available()) {
    std::printf("test_cuda_parity: no CUDA device; checking the no-device paths\n");
    const int failures = check_no_device_paths();
    if (failures > 0) return 1;
    std::printf("test_cuda_parity: no-device paths OK; SKIPPING the parity tests (exit 77)\n");
    return kSkip;
  }
  return Catch::Session().run(argc, argv);
}
