// backend::cpu::packed_gemm (backend/cpu/packed_gemm.hpp) against a double-precision reference,
// on every kernel this CPU can run (AVX-512F, AVX2 + FMA, portable C++), on shapes with a
// remainder in every dimension: rows not a multiple of the register tile's MR, columns not a
// multiple of the panel width NR, odd k (also above the depth of a k block, so C is summed over
// blocks), and row strides wider than the rows; also with B read in place (PackedMatrix::view)
// and with the packed panels laid out block by block. Then the LSTM's use of it (backend::cpu::
// LSTMRecurrentProduct): a fused layer of hidden 256, whose recurrence runs packed, against the
// composed layer (test_lstm's fused-against-composed cases use small layers, which stay on the
// general GEMM).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nabla/nabla.hpp>
#include <random>
#include <vector>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_packed_gemm {

namespace cpu = nabla::backend::cpu;

namespace test_packed_gemm {

struct Case {
  std::int64_t m, n, k;
  bool trans_b;
  float alpha, beta;
};

/// max |C - reference| / max(1, |reference|) over all entries of C = alpha A op(B) + beta C0,
/// and whether the padding around C (its stride's extra columns) is untouched. `in_place`: B
/// (not transposed) is read through PackedMatrix::view instead of packed; it then sits 64-byte
/// aligned with a row stride of n + 16 floats, as view requires.
std::pair<double, bool> run_case(const Case& s, cpu::GemmIsa isa, int threads, bool in_place = false) {
  std::mt19937 random(static_cast<unsigned>(s.m * 1000003 + s.n * 1009 + s.k));
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  const std::int64_t lda = s.k + 3, ldc = s.n + 7;  // strided rows
  const std::int64_t ldb = in_place ? s.n + 16 : (s.trans_b ? s.k : s.n) + 5;
  std::vector<float> a(static_cast<std::size_t>(s.m * lda)),
      b_storage(static_cast<std::size_t>((s.trans_b ? s.n : s.k) * ldb + 16));
  std::vector<float> c(static_cast<std::size_t>(s.m * ldc));
  // 64-byte aligned start inside b_storage (vector only guarantees 16 bytes).
  const std::size_t misalignment = reinterpret_cast<std::uintptr_t>(b_storage.data()) % 64 / sizeof(float);
  float* const b = b_storage.data() + (misalignment == 0 ? 0 : 16 - misalignment);
  for (float& value : a) value = uniform(random);
  for (float& value : b_storage) value = uniform(random);
  for (float& value : c) value = uniform(random);
  // beta == 0 must not read C: a NaN there must not leak into the result.
  if (s.beta == 0.f) c[0] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> c0 = c;

  cpu::PackedMatrix packed;
  if (in_place) {
    REQUIRE_FALSE(s.trans_b);
    REQUIRE(cpu::PackedMatrix::view_possible(s.n, b, ldb, isa));
    packed.view(s.k, s.n, b, ldb, isa);
    REQUIRE(packed.in_place());
  } else {
    packed.pack(s.trans_b, s.k, s.n, b, ldb, isa);
    REQUIRE_FALSE(packed.in_place());
  }
  REQUIRE(packed.isa() == isa);
  REQUIRE(packed.n() == s.n);
  const int threads_before = nabla::get_num_threads();
  nabla::set_num_threads(threads);
  cpu::packed_gemm(s.m, a.data(), lda, packed, s.alpha, s.beta, c.data(), ldc);
  nabla::set_num_threads(threads_before);

  double worst = 0;
  bool padding_untouched = true;
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) {
      double sum = 0;
      for (std::int64_t p = 0; p < s.k; ++p)
        sum += static_cast<double>(a[i * lda + p]) * (s.trans_b ? b[j * ldb + p] : b[p * ldb + j]);
      const double c_old = s.beta == 0.f ? 0.0 : static_cast<double>(c0[i * ldc + j]);
      const double expected = s.alpha * sum + s.beta * c_old;
      const double error = std::abs(expected - c[i * ldc + j]) / std::max(1.0, std::abs(expected));
      worst = std::isnan(error) ? std::numeric_limits<double>::infinity() : std::max(worst, error);
    }
    for (std::int64_t j = s.n; j < ldc; ++j)
      if (!(c[i * ldc + j] == c0[i * ldc + j])) padding_untouched = false;
  }
  return {worst, padding_untouched};
}

std::vector<cpu::GemmIsa> available_isas() {
  std::vector<cpu::GemmIsa> isas;
  for (const cpu::GemmIsa isa : {cpu::GemmIsa::avx512, cpu::GemmIsa::avx2, cpu::GemmIsa::portable})
    if (cpu::gemm_isa_available(isa)) isas.push_back(isa);
  return isas;
}

}  // namespace test_packed_gemm

TEST_CASE("packed_gemm matches a double reference on odd shapes, on every kernel this CPU has", "[packed_gemm]") {
  REQUIRE(cpu::gemm_isa_available(cpu::GemmIsa::portable));
  REQUIRE(cpu::gemm_isa_available(cpu::best_gemm_isa()));
  const std::vector<test_packed_gemm::Case> cases = {
      {1, 1, 1, false, 1.f, 0.f},      {1, 1, 1, true, 1.f, 0.f},       {7, 33, 19, true, 1.f, 0.f},
      {9, 31, 17, false, 1.f, 1.f},    {13, 47, 5, true, 0.5f, -2.f},   {17, 65, 129, false, 1.f, 0.f},
      {16, 100, 64, true, 1.f, 1.f},   {5, 16, 1, false, 2.f, 0.5f},    {11, 8, 300, true, 1.f, 0.f},
      {10, 40, 1100, false, 1.f, 1.f}, {25, 257, 37, false, -1.f, 1.f}, {3, 2, 0, true, 1.f, 0.5f},
      {8, 32, 16, false, 1.f, 0.f},
  };
  for (const cpu::GemmIsa isa : test_packed_gemm::available_isas())
    for (const test_packed_gemm::Case& s : cases)
      for (const int threads : {1, 2}) {
        INFO(cpu::gemm_isa_name(isa) << ": m " << s.m << " n " << s.n << " k " << s.k << (s.trans_b ? " B^T" : " B")
                                     << " alpha " << s.alpha << " beta " << s.beta << ", " << threads << " thread(s)");
        const auto [error, padding_untouched] = test_packed_gemm::run_case(s, isa, threads);
        // A float sum of k products rounds by about k x 2^-24 of its terms' size: 1e-5 per 256.
        CHECK(error < 1e-5 * std::max(1.0, static_cast<double>(s.k) / 256.0));
        CHECK(padding_untouched);
      }
}

TEST_CASE("packed_gemm splits its panels across threads for a large product and agrees", "[packed_gemm]") {
  // 32 x 4096 x 128 = 2^24 multiply-adds: above kPackedGemmParallelWork, so 2 threads split the panels.
  for (const cpu::GemmIsa isa : test_packed_gemm::available_isas()) {
    INFO(cpu::gemm_isa_name(isa));
    const auto [error, padding_untouched] = test_packed_gemm::run_case({32, 4096 + 3, 128, true, 1.f, 1.f}, isa, 2);
    CHECK(error < 1e-5);
    CHECK(padding_untouched);
  }
}

TEST_CASE("packed_gemm reads an untransposed B in place (view) on odd shapes, 1 and 2 threads", "[packed_gemm]") {
  for (const cpu::GemmIsa isa : test_packed_gemm::available_isas()) {
    const std::int64_t width = cpu::gemm_tile(isa).columns;
    // n a multiple of the panel width (view's condition); odd m and k, k above a block's depth;
    // the last case (32 x 8 width x 1100) is large enough for 2 threads to split the panels.
    const std::vector<test_packed_gemm::Case> cases = {
        {1, width, 1, false, 1.f, 0.f},          {7, 2 * width, 37, false, 1.f, 1.f},
        {13, 3 * width, 300, false, 0.5f, -1.f}, {25, width, 1100, false, 1.f, 0.f},
        {32, 8 * width, 1100, false, 1.f, 1.f},
    };
    for (const test_packed_gemm::Case& s : cases)
      for (const int threads : {1, 2}) {
        INFO(cpu::gemm_isa_name(isa) << ": m " << s.m << " n " << s.n << " k " << s.k << ", " << threads
                                     << " thread(s)");
        const auto [error, padding_untouched] = test_packed_gemm::run_case(s, isa, threads, true);
        // A float sum of k products rounds by about k x 2^-24 of its terms' size: 1e-5 per 256.
        CHECK(error < 1e-5 * std::max(1.0, static_cast<double>(s.k) / 256.0));
        CHECK(padding_untouched);
      }
  }
  // What view needs: whole panels, 64-byte alignment, a row stride of whole 64-byte lines.
  alignas(64) static float b[64 * 80];
  const std::int64_t width = cpu::gemm_tile(cpu::best_gemm_isa()).columns;
  CHECK(cpu::PackedMatrix::view_possible(2 * width, b, 80));
  CHECK_FALSE(cpu::PackedMatrix::view_possible(2 * width + 1, b, 80));
  CHECK_FALSE(cpu::PackedMatrix::view_possible(2 * width, b + 1, 80));
  CHECK_FALSE(cpu::PackedMatrix::view_possible(2 * width, b, 81));
}

TEST_CASE("PackedMatrix lays its panels out block by block in k", "[packed_gemm]") {
  // k = 2.5 blocks: panel j's rows [block, block + depth) follow all panels' earlier blocks.
  const cpu::GemmIsa isa = cpu::best_gemm_isa();
  const std::int64_t width = cpu::gemm_tile(isa).columns, depth = cpu::packed_gemm_depth(isa);
  const std::int64_t k = 2 * depth + depth / 2, n = 2 * width + 3;
  std::vector<float> b(static_cast<std::size_t>(k * n));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i);
  cpu::PackedMatrix packed;
  packed.pack(false, k, n, b.data(), n, isa);
  REQUIRE(packed.panels() == 3);
  CHECK(packed.depth() == depth);
  for (const std::int64_t first_row : {std::int64_t{0}, depth, 2 * depth})
    for (std::int64_t j = 0; j < 3; ++j) {
      const float* const block = packed.block(first_row, j);
      CHECK(block[0] == b[first_row * n + j * width]);  // op(B)[first_row, j * width]
      CHECK(block[width + 1] == b[(first_row + 1) * n + j * width + 1]);
    }
  CHECK(packed.block(depth, 0) == packed.block(0, 2) + depth * width);  // block 1 right after block 0 of the last panel
  CHECK(packed.block(2 * depth, 2)[(depth / 2 - 1) * width + 2] == b[(k - 1) * n + 2 * width + 2]);
  CHECK(packed.block(2 * depth, 2)[(depth / 2 - 1) * width + 3] == 0.f);  // zero padding past n
}

TEST_CASE("PackedMatrix reuses its buffer and repacks a new shape and kernel", "[packed_gemm]") {
  std::vector<float> b(64 * 64);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 13) - 6.f;
  cpu::PackedMatrix packed;
  packed.pack(false, 64, 64, b.data(), 64, cpu::GemmIsa::portable);
  CHECK(packed.panels() == 64 / cpu::gemm_tile(cpu::GemmIsa::portable).columns);
  packed.pack(true, 10, 3, b.data(), 64, cpu::best_gemm_isa());
  CHECK(packed.k() == 10);
  CHECK(packed.n() == 3);
  CHECK(packed.panels() == 1);
  // op(B)[p, j] = B[j, p] sits at panel 0, row p, lane j; the lanes past n are zero.
  const std::int64_t width = packed.panel_width();
  CHECK(packed.panel(0)[2 * width + 1] == b[1 * 64 + 2]);
  CHECK(packed.panel(0)[2 * width + 3] == 0.f);
}

TEST_CASE("LSTMRecurrentProduct packs W_hh for hidden 256 and agrees with gemm", "[packed_gemm][lstm]") {
  const std::int64_t hidden = 256, gates = 4 * hidden, rows = 9;
  std::mt19937 random(5);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> w(static_cast<std::size_t>(gates * hidden)), a(static_cast<std::size_t>(rows * gates));
  for (float& value : w) value = uniform(random);
  for (float& value : a) value = uniform(random);
  const bool vector_kernel = cpu::best_gemm_isa() != cpu::GemmIsa::portable && cpu::lstm_packed_gemm_enabled();
  const bool everything = cpu::lstm_packed_gemm_mode() == cpu::LSTMPackedGemmMode::always;  // NABLA_PACKED_GEMM=all
  // Forward: A [rows, hidden] x W^T, packed on a vector CPU; backward: A [rows, 4 hidden] x W, left
  // to gemm (or, with NABLA_PACKED_GEMM=all, read in place when W is aligned, else packed).
  for (const bool trans_w : {true, false}) {
    const std::int64_t k = trans_w ? hidden : gates, n = trans_w ? gates : hidden;
    const cpu::LSTMRecurrentProduct<float> product(trans_w, k, n, w.data(), hidden, rows);
    CHECK(product.packed() == (vector_kernel && (trans_w || everything)));
    std::vector<float> c(static_cast<std::size_t>(rows * n), 0.5f), expected = c;
    product(rows, a.data(), k, 1.f, c.data(), n);
    cpu::gemm<float>(false, trans_w, rows, n, k, 1.f, a.data(), k, w.data(), hidden, 1.f, expected.data(), n);
    double worst = 0;
    for (std::size_t i = 0; i < c.size(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(c[i] - expected[i])));
    CHECK(worst < 1e-4);
  }
  // A small layer and the backward's W_hh stay with the general GEMM (see lstm_use_packed_gemm).
  if (cpu::lstm_packed_gemm_mode() == cpu::LSTMPackedGemmMode::measured) {
    CHECK_FALSE(cpu::lstm_use_packed_gemm(32, true, 128, 512));
    CHECK_FALSE(cpu::lstm_use_packed_gemm(16, false, 1024, 256));
  }
}

TEST_CASE("LSTM fused layer of hidden 256 (packed recurrence, two bands) agrees with the composed layer",
          "[packed_gemm][lstm]") {
  namespace nb = nabla;
  const std::int64_t batch = 17, steps = 3, input_size = 4, hidden = 256;
  const int threads_before = nb::get_num_threads();
  nb::set_num_threads(2);  // two bands of 9 and 8 sequences
  const std::vector<std::int64_t> lengths = {3, 1, 0, 2, 3, 3, 2, 1, 3, 3, 0, 2, 3, 1, 3, 2, 3};
  const auto input = nb::randn<float>({batch, steps, input_size}, 31).requires_grad_();
  const auto w_ih = nb::uniform<float>({4 * hidden, input_size}, -0.1f, 0.1f, 32).requires_grad_();
  const auto w_hh = nb::uniform<float>({4 * hidden, hidden}, -0.1f, 0.1f, 33).requires_grad_();
  const auto b_ih = nb::uniform<float>({4 * hidden}, -0.1f, 0.1f, 34).requires_grad_();
  const auto b_hh = nb::uniform<float>({4 * hidden}, -0.1f, 0.1f, 35).requires_grad_();
  const auto h0 = nb::randn<float>({batch, hidden}, 36).requires_grad_();
  const auto c0 = nb::randn<float>({batch, hidden}, 37).requires_grad_();
  const auto weight_output = nb::randn<float>({batch, steps, hidden}, 38);
  const auto weight_state = nb::randn<float>({batch, hidden}, 39);
  const std::vector<nb::Tensor<float>> leaves = {input, w_ih, w_hh, b_ih, b_hh, h0, c0};

  const auto run = [&](bool fused) {
    for (auto leaf : leaves) leaf.zero_grad();
    const auto result = fused ? nb::nn::lstm_layer_fused<float>(input, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)
                              : nb::nn::lstm_layer_composed<float>(input, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths);
    const auto loss =
        nb::sum(result.output * weight_output) + nb::sum(result.h * weight_state) + nb::sum(result.c * weight_state);
    loss.backward();
    std::vector<nb::Tensor<float>> values = {result.output.detach(), result.h.detach(), result.c.detach()};
    for (const auto& leaf : leaves) values.push_back(leaf.grad().clone());
    return values;
  };
  const auto fused = run(true);
  const auto composed = run(false);
  nb::set_num_threads(threads_before);
  REQUIRE(fused.size() == composed.size());
  for (std::size_t i = 0; i < fused.size(); ++i) {
    INFO("value " << i << " (output, h, c, then the gradients of input, w_ih, w_hh, b_ih, b_hh, h0, c0)");
    CHECK(nabla_test::max_relative_difference(fused[i], composed[i]) < 1e-4);
  }
}

}  // namespace test_packed_gemm
