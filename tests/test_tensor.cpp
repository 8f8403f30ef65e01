// Tensor basics: factories, the Philox stream, element access, printing and their errors.
#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>
#include <sstream>

namespace nb = nabla;

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_tensor {
using Catch::Matchers::Contains;

TEST_CASE("Philox-4x32-10 matches the Random123 known-answer vectors", "[tensor][random]") {
  REQUIRE(nb::philox4x32_10({0, 0, 0, 0}, 0, 0) == nb::PhiloxWords{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  REQUIRE(nb::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffff, 0xffffffff) ==
          nb::PhiloxWords{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  REQUIRE(nb::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0) ==
          nb::PhiloxWords{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("random factories follow the documented stream", "[tensor][random]") {
  const auto uniform = nb::rand<float>({5}, 42);
  for (std::int64_t i = 0; i < 5; ++i)
    REQUIRE(uniform.at({i}) ==
            static_cast<float>(nb::philox4x32_10({static_cast<std::uint32_t>(i), 0, 0, 0}, 42, 0)[0] >> 8) *
                5.9604644775390625e-08f);
  // Same seed, same numbers; a generator continues its stream.
  REQUIRE(nb::randn<double>({4, 3}, 7).to_vector() == nb::randn<double>({4, 3}, 7).to_vector());
  nb::Generator generator(7);
  const auto first = nb::randn<double>({6}, generator);
  const auto second = nb::randn<double>({6}, generator);
  REQUIRE(generator.offset() == 12);
  REQUIRE(first.to_vector() == nb::randn<double>({6}, 7).to_vector());
  REQUIRE(second.at({0}) == nb::philox_normal<double>(7, 6, 0));
  // manual_seed resets the global generator.
  nb::manual_seed(3);
  const auto a = nb::rand<float>({8});
  nb::manual_seed(3);
  REQUIRE(nb::rand<float>({8}).to_vector() == a.to_vector());
}

TEST_CASE("normal samples have the right moments", "[tensor][random]") {
  const auto samples = nb::normal<double>({200000}, 2.0, 3.0, 11).to_vector();
  double mean = 0, square = 0;
  for (double v : samples) mean += v;
  mean /= samples.size();
  for (double v : samples) square += (v - mean) * (v - mean);
  const double stddev = std::sqrt(square / samples.size());
  REQUIRE(mean == Approx(2.0).margin(0.03));
  REQUIRE(stddev == Approx(3.0).margin(0.03));
  const auto uniform = nb::uniform<float>({1000}, -2.0f, 5.0f, 1).to_vector();
  for (float v : uniform) REQUIRE((v >= -2.0f && v < 5.0f));
  const auto ids = nb::randint(3, 9, {1000}, 5).to_vector();
  for (auto id : ids) REQUIRE((id >= 3 && id < 9));
}

TEST_CASE("constant and range factories", "[tensor]") {
  REQUIRE(nb::zeros<float>({2, 3}).to_vector() == std::vector<float>(6, 0.0f));
  REQUIRE(nb::ones<double>({4}).to_vector() == std::vector<double>(4, 1.0));
  REQUIRE(nb::full<float>({2}, 2.5f).to_vector() == std::vector<float>{2.5f, 2.5f});
  REQUIRE(nb::arange<double>(5).to_vector() == std::vector<double>{0, 1, 2, 3, 4});
  REQUIRE(nb::arange<double>(1, 2, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
  REQUIRE(nb::arange<double>(3, 0, -1).to_vector() == std::vector<double>{3, 2, 1});
  REQUIRE(nb::linspace<double>(0, 1, 5).to_vector() == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  REQUIRE(nb::eye<float>(2, 3).to_vector() == std::vector<float>{1, 0, 0, 0, 1, 0});
  const auto matrix = nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(matrix.shape() == nb::Shape{2, 3});
  REQUIRE(matrix.at({1, 0}) == 4.0f);
  REQUIRE(matrix.at({-1, -1}) == 6.0f);
  REQUIRE(nb::scalar_tensor<double>(3.5).dim() == 0);
  REQUIRE(nb::scalar_tensor<double>(3.5).item() == 3.5);
  REQUIRE(nb::zeros<float>({0, 3}).numel() == 0);
}

TEST_CASE("bad factory arguments throw clear errors", "[tensor][errors]") {
  REQUIRE_THROWS_WITH(nb::from_vector<float>({1, 2, 3}, {2, 2}), Contains("from_vector") && Contains("[2,2]"));
  REQUIRE_THROWS_AS(nb::zeros<float>({2, -1}), nb::ShapeError);
  REQUIRE_THROWS_AS(nb::arange<float>(0, 1, 0), nb::ValueError);
  REQUIRE_THROWS_AS(nb::normal<float>({2}, 0.0f, -1.0f), nb::ValueError);
  REQUIRE_THROWS_AS(nb::randint(5, 5, {2}, 1), nb::ValueError);
  REQUIRE_THROWS_AS(nb::zeros<float>({1 << 30, 1 << 30}), nb::ShapeError);
}

TEST_CASE("element access is bounds-checked", "[tensor][errors]") {
  auto matrix = nb::from_vector<double>({1, 2, 3, 4}, {2, 2});
  REQUIRE_THROWS_WITH(matrix.at({2, 0}), Contains("index 2 is out of range for dimension 0 of size 2"));
  REQUIRE_THROWS_WITH(matrix.at({0}), Contains("got 1 indices"));
  REQUIRE_THROWS_WITH(matrix.item(), Contains("item"));
  REQUIRE_THROWS_AS(matrix.size(2), nb::ValueError);
  matrix.set({0, 1}, 9.0);
  REQUIRE(matrix.at({0, 1}) == 9.0);
  nb::Tensor<float> undefined;
  REQUIRE_FALSE(undefined.defined());
  REQUIRE_THROWS_WITH(undefined.shape(), Contains("undefined tensor"));
  REQUIRE_THROWS_AS(nb::add(undefined, nb::ones<float>({1})), nb::ValueError);
}

TEST_CASE("copies share storage, clone-free views read strided memory", "[tensor]") {
  auto a = nb::zeros<float>({2, 2});
  auto b = a;  // a handle: same data
  {
    nb::NoGradGuard no_grad;
    b += 1.0f;
  }
  REQUIRE(a.to_vector() == std::vector<float>(4, 1.0f));
  REQUIRE(a.is_same(b));
  // A transposed view made directly from storage and strides.
  const auto base = nb::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const nb::Tensor<float> transposed(base.storage(), {3, 2}, {1, 3}, 0);
  REQUIRE_FALSE(transposed.is_contiguous());
  REQUIRE(transposed.to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  REQUIRE(reinterpret_cast<std::uintptr_t>(base.data()) % nb::kStorageAlignment == 0);
}

TEST_CASE("printing looks like NumPy and truncates big tensors", "[tensor]") {
  std::ostringstream small;
  small << nb::from_vector<float>({1, -2, 3, 4}, {2, 2});
  REQUIRE(small.str() == "tensor([[ 1.0000, -2.0000],\n        [ 3.0000,  4.0000]], shape=[2,2])");
  std::ostringstream big;
  big << nb::arange<double>(2000);
  REQUIRE_THAT(big.str(), Contains("2.0000, ...,") && Contains("1999.0000]") && Contains("shape=[2000]"));
  std::ostringstream ids;
  ids << nb::from_vector<std::int64_t>({3, 14});
  REQUIRE(ids.str() == "tensor([ 3, 14], shape=[2])");
}

TEST_CASE("moving to CUDA without a CUDA build is a clear DeviceError", "[tensor][errors]") {
#if !defined(NABLA_WITH_CUDA)
  REQUIRE_THROWS_AS(nb::ones<float>({2}).to(nb::Device::cuda()), nb::DeviceError);
#endif
  REQUIRE(nb::ones<float>({2}).to(nb::Device::cpu()).device() == nb::Device::cpu());
  REQUIRE(nb::Device::cuda(1).str() == "cuda:1");
}

TEST_CASE("results do not depend on the thread count", "[tensor][threads]") {
  const auto a = nb::randn<float>({1000, 300}, 1);
  const auto b = nb::randn<float>({1, 300}, 2);
  nb::set_num_threads(1);
  const auto serial = (a * b + 1.0f).to_vector();
  nb::set_num_threads(2);
  REQUIRE(nb::get_num_threads() == 2);
  const auto parallel = (a * b + 1.0f).to_vector();
  REQUIRE(serial == parallel);
}

TEST_CASE("eigen_map views a 2-D tensor without copying, honouring strides", "[tensor][eigen]") {
  auto matrix = nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto map = nb::eigen_map(matrix);
  REQUIRE(map.rows() == 2);
  REQUIRE(map.cols() == 3);
  REQUIRE(map(1, 2) == 6.0);
  map(0, 1) = 20.0;  // writes through to the tensor
  REQUIRE(matrix.at({0, 1}) == 20.0);
  const auto transposed = matrix.t();
  const auto transposed_map = nb::eigen_map(transposed);
  REQUIRE(transposed_map.rows() == 3);
  REQUIRE(transposed_map(2, 1) == 6.0);
  REQUIRE(transposed_map(1, 0) == 20.0);
  // Eigen algorithms run directly on tensor memory: solve [[2,0],[0,4]] x = [2,8].
  const auto system = nb::from_vector<double>({2, 0, 0, 4}, {2, 2});
  const Eigen::VectorXd solution = nb::eigen_map(system).colPivHouseholderQr().solve(Eigen::Vector2d(2, 8));
  REQUIRE(solution(0) == Approx(1.0));
  REQUIRE(solution(1) == Approx(2.0));
  REQUIRE_THROWS_AS(nb::eigen_map(nb::ones<double>({2, 2, 2})), nb::ShapeError);
}

TEST_CASE("ops on tensors of different devices name both devices", "[tensor][errors]") {
  // A tensor that claims to live on cuda:0 (host memory, never dereferenced by the op).
  auto fake_storage = std::make_shared<nb::Storage<float>>(new float[4], 4, nb::Device::cuda(0),
                                                           [](float* pointer) { delete[] pointer; });
  const nb::Tensor<float> on_gpu(fake_storage, {4}, {1}, 0);
  const auto on_cpu = nb::ones<float>({4});
  REQUIRE_THROWS_AS(on_cpu + on_gpu, nb::DeviceError);
  REQUIRE_THROWS_WITH(on_cpu * on_gpu, Contains("cpu") && Contains("cuda:0"));
  REQUIRE_THROWS_WITH(nb::matmul(on_cpu.reshape({2, 2}), on_gpu.reshape({2, 2})), Contains("cuda:0"));
  REQUIRE_THROWS_AS(on_gpu.to_vector(), nb::DeviceError);
  REQUIRE_THROWS_AS(on_gpu.narrow(0, 0, 1).item(), nb::DeviceError);
}

}  // namespace test_tensor
