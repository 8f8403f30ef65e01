// The "medium" float32 matmul precision (backend/matmul_precision.hpp): the float -> bfloat16
// conversion (backend/cpu/bf16.hpp) against a scalar reference, the bfloat16 GEMM
// (backend/cpu/bf16_gemm.hpp) against float32, the setting itself, and a model training in it.
// What needs AVX512_BF16 says so with a WARN and returns on a CPU without it.
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nabla/nabla.hpp>
#include <random>
#include <string>
#include <vector>
namespace nb = nabla;

namespace test_bf16 {

/// The conversion written another way: pick the nearer of the two bfloat16 neighbours of x in
/// double arithmetic, the even one on a tie.
inline std::uint16_t reference_bf16(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if (std::isnan(x)) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  if (std::isinf(x) || x == 0.0F || std::fpclassify(x) == FP_SUBNORMAL)
    return static_cast<std::uint16_t>(std::isinf(x) ? bits >> 16 : (bits >> 16) & 0x8000u);
  const std::uint16_t truncated = static_cast<std::uint16_t>(bits >> 16);
  const auto as_double = [](std::uint32_t upper) { return static_cast<double>(std::bit_cast<float>(upper << 16)); };
  const double below = as_double(truncated);
  // The neighbour away from zero; past the largest finite bf16 it is the infinity, whose
  // "distance" is taken as if it were the next power of two (the IEEE overflow rule).
  const std::uint32_t above_bits = truncated + 1u;
  const double above =
      (above_bits & 0x7F80u) == 0x7F80u ? std::ldexp(std::copysign(1.0, x), 128) : as_double(above_bits);
  const double distance_below = std::abs(static_cast<double>(x) - below);
  const double distance_above = std::abs(above - static_cast<double>(x));
  if (distance_below < distance_above) return truncated;
  if (distance_above < distance_below) return static_cast<std::uint16_t>(above_bits);
  return (truncated & 1u) == 0 ? truncated : static_cast<std::uint16_t>(above_bits);
}

/// Restores the process-wide setting when a test ends, however it ends.
struct PrecisionGuard {
  std::string saved = nb::get_float32_matmul_precision();
  ~PrecisionGuard() { nb::set_float32_matmul_precision(saved); }
};

inline std::vector<float> random_floats(std::size_t count, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  std::vector<float> values(count);
  for (auto& value : values) value = normal(generator);
  return values;
}

/// C = alpha op(A) op(B) + beta C through backend::cpu::gemm in the current precision, with A and
/// B stored with padded rows (lda, ldb larger than the rows) to exercise the strided copies.
struct GemmCase {
  bool trans_a, trans_b;
  std::int64_t m, n, k;
  float alpha, beta;
};

inline std::vector<float> run_gemm(const GemmCase& g, const std::vector<float>& a, const std::vector<float>& b,
                                   const std::vector<float>& c0) {
  const std::int64_t lda = (g.trans_a ? g.m : g.k) + 3, ldb = (g.trans_b ? g.k : g.n) + 5, ldc = g.n + 2;
  std::vector<float> c = c0;
  nb::backend::cpu::gemm<float>(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, a.data(), lda, b.data(), ldb, g.beta,
                                c.data(), ldc);
  return c;
}

/// The same product in double from the bfloat16-rounded inputs: what a bf16 GEMM with exact
/// float accumulation would give.
inline std::vector<double> bf16_reference(const GemmCase& g, const std::vector<float>& a, const std::vector<float>& b,
                                          const std::vector<float>& c0) {
  const std::int64_t lda = (g.trans_a ? g.m : g.k) + 3, ldb = (g.trans_b ? g.k : g.n) + 5, ldc = g.n + 2;
  const auto rounded = [](float x) { return static_cast<double>(nb::backend::cpu::bf16_to_float(reference_bf16(x))); };
  std::vector<double> c(c0.begin(), c0.end());
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j) {
      double sum = 0;
      for (std::int64_t p = 0; p < g.k; ++p)
        sum += rounded(a[g.trans_a ? p * lda + i : i * lda + p]) * rounded(b[g.trans_b ? j * ldb + p : p * ldb + j]);
      double& out = c[i * ldc + j];
      out = g.alpha * sum + (g.beta == 0.0F ? 0.0 : g.beta * out);
    }
  return c;
}

/// ||x - y|| / ||y|| over the m x n part of two row-major buffers with row stride ldc.
template <typename X, typename Y>
double relative_error(const std::vector<X>& x, const std::vector<Y>& y, const GemmCase& g) {
  double difference = 0, norm = 0;
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * (g.n + 2) + j);
      difference += (static_cast<double>(x[at]) - static_cast<double>(y[at])) *
                    (static_cast<double>(x[at]) - static_cast<double>(y[at]));
      norm += static_cast<double>(y[at]) * static_cast<double>(y[at]);
    }
  return std::sqrt(difference / norm);
}

}  // namespace test_bf16

TEST_CASE("bf16 conversion rounds to nearest even, keeps NaN and infinities, flushes denormals", "[bf16]") {
  namespace cpu = nb::backend::cpu;
  // Hand-checked values.
  REQUIRE(cpu::float_to_bf16(1.0F) == 0x3F80);
  REQUIRE(cpu::float_to_bf16(-2.0F) == 0xC000);
  REQUIRE(cpu::float_to_bf16(1.0F + 0x1p-8F) == 0x3F80);             // a tie, to the even 1.0
  REQUIRE(cpu::float_to_bf16(1.0F + 3 * 0x1p-8F) == 0x3F82);         // a tie, to the even 1 + 2^-6
  REQUIRE(cpu::float_to_bf16(1.0F + 0x1p-8F + 0x1p-20F) == 0x3F81);  // just above the tie
  REQUIRE(cpu::float_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  REQUIRE(cpu::float_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
  REQUIRE(cpu::float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);  // rounds past the largest bf16
  REQUIRE(cpu::float_to_bf16(std::bit_cast<float>(0x7F800001u)) == 0x7FC0);  // a signalling NaN, made quiet
  REQUIRE(cpu::float_to_bf16(std::bit_cast<float>(0xFFC00000u)) == 0xFFC0);
  REQUIRE(cpu::float_to_bf16(std::bit_cast<float>(0x00000001u)) == 0x0000);  // denormals to signed zero
  REQUIRE(cpu::float_to_bf16(std::bit_cast<float>(0x807FFFFFu)) == 0x8000);
  REQUIRE(cpu::float_to_bf16(std::numeric_limits<float>::min()) == 0x0080);  // the smallest normal stays
  REQUIRE(cpu::bf16_to_float(0x3F80) == 1.0F);

  // Every class of input, through the array conversion (AVX512_BF16 where present) and the
  // portable loop, against the reference; 1,000,003 values, so the vector loop has a tail.
  std::vector<float> inputs;
  for (const std::uint32_t special :
       {0x00000000u, 0x80000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x7F800000u, 0xFF800000u,
        0x7F800001u, 0x7FC00000u, 0xFFFFFFFFu, 0x3F808000u, 0x3F818000u, 0x3F807FFFu, 0x7F7F8000u, 0x7F7F7FFFu})
    inputs.push_back(std::bit_cast<float>(special));
  std::mt19937 generator(17);
  while (inputs.size() < 1000003) inputs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(generator())));
  std::vector<std::uint16_t> converted(inputs.size()), portable(inputs.size());
  cpu::float_to_bf16(inputs.data(), converted.data(), static_cast<std::int64_t>(inputs.size()));
  cpu::detail::float_to_bf16_portable(inputs.data(), portable.data(), static_cast<std::int64_t>(inputs.size()));
  std::size_t mismatches = 0, portable_mismatches = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::uint16_t expected = test_bf16::reference_bf16(inputs[i]);
    if (converted[i] != expected && ++mismatches <= 5)
      FAIL_CHECK("bits " << std::hex << std::bit_cast<std::uint32_t>(inputs[i]) << ": " << converted[i]
                         << ", reference " << expected);
    if (portable[i] != expected) ++portable_mismatches;
  }
  REQUIRE(mismatches == 0);
  REQUIRE(portable_mismatches == 0);
  if (!cpu::has_avx512_bf16()) WARN("this CPU has no AVX512_BF16: only the portable conversion was tested");
}

TEST_CASE("set_float32_matmul_precision round-trips and rejects other strings", "[bf16]") {
  const test_bf16::PrecisionGuard guard;
  REQUIRE(nb::get_float32_matmul_precision() == "highest");  // the default
  for (const std::string value : {"medium", "high", "highest"}) {
    nb::set_float32_matmul_precision(value);
    REQUIRE(nb::get_float32_matmul_precision() == value);
  }
  nb::set_float32_matmul_precision("medium");
  REQUIRE(nb::backend::cpu_bf16_matmul_active() == nb::backend::cpu_has_bf16());
  REQUIRE_THROWS_AS(nb::set_float32_matmul_precision("Medium"), nb::ValueError);
  REQUIRE_THROWS_WITH(nb::set_float32_matmul_precision("bf16"),
                      Catch::Matchers::Contains("set_float32_matmul_precision") && Catch::Matchers::Contains("'bf16'"));
  REQUIRE(nb::get_float32_matmul_precision() == "medium");  // a bad string changes nothing
}

TEST_CASE("float GEMM: \"highest\" and \"high\" are float32 bit for bit, \"medium\" is bf16 within its tolerance",
          "[bf16]") {
  const test_bf16::PrecisionGuard guard;
  // Small products (one thread) and ones large enough to split in bands across threads, every
  // transpose, alpha and beta.
  const std::vector<test_bf16::GemmCase> cases = {
      {false, false, 7, 9, 33, 1.0F, 0.0F},     {true, false, 20, 17, 64, 0.5F, 1.0F},
      {false, true, 31, 12, 40, 1.0F, 1.0F},    {true, true, 5, 48, 19, -2.0F, 0.25F},
      {false, false, 256, 96, 160, 1.0F, 0.0F}, {false, true, 64, 300, 128, 0.125F, 1.0F},
      {true, false, 192, 160, 96, 1.0F, 1.0F},  {false, false, 96, 320, 128, 1.0F, 0.0F},
      {true, true, 80, 256, 112, 1.0F, 1.0F}};
  for (const auto& g : cases) {
    CAPTURE(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.beta);
    const std::int64_t lda = (g.trans_a ? g.m : g.k) + 3, ldb = (g.trans_b ? g.k : g.n) + 5;
    const auto a = test_bf16::random_floats(static_cast<std::size_t>((g.trans_a ? g.k : g.m) * lda), 1);
    const auto b = test_bf16::random_floats(static_cast<std::size_t>((g.trans_b ? g.n : g.k) * ldb), 2);
    const auto c0 = test_bf16::random_floats(static_cast<std::size_t>(g.m * (g.n + 2)), 3);

    nb::set_float32_matmul_precision("highest");
    const auto fp32 = test_bf16::run_gemm(g, a, b, c0);
    nb::set_float32_matmul_precision("high");
    const auto high = test_bf16::run_gemm(g, a, b, c0);
    nb::set_float32_matmul_precision("medium");
    const auto medium = test_bf16::run_gemm(g, a, b, c0);
    nb::set_float32_matmul_precision("highest");
    const auto fp32_again = test_bf16::run_gemm(g, a, b, c0);
    REQUIRE(std::memcmp(high.data(), fp32.data(), fp32.size() * sizeof(float)) == 0);
    REQUIRE(std::memcmp(fp32_again.data(), fp32.data(), fp32.size() * sizeof(float)) == 0);
    // Padding between rows (ldc > n) is never written.
    for (std::int64_t i = 0; i < g.m; ++i)
      for (std::int64_t j = g.n; j < g.n + 2; ++j) REQUIRE(medium[i * (g.n + 2) + j] == c0[i * (g.n + 2) + j]);

    if (!nb::backend::cpu_has_bf16()) {
      // Without AVX512_BF16 (or oneDNN) "medium" silently computes in float32, as PyTorch does.
      REQUIRE(std::memcmp(medium.data(), fp32.data(), fp32.size() * sizeof(float)) == 0);
      continue;
    }
    // bf16 inputs: within ~1e-2 of the float32 result relative to its norm, and not float32.
    const double error = test_bf16::relative_error(medium, fp32, g);
    CAPTURE(error);
    REQUIRE(error < 1e-2);
    REQUIRE(error > 1e-6);
    // And it is the product of the rounded inputs, accumulated in float32.
    REQUIRE(test_bf16::relative_error(medium, test_bf16::bf16_reference(g, a, b, c0), g) < 1e-5);
  }
  if (!nb::backend::cpu_has_bf16())
    WARN(
        "SKIPPED the bf16 GEMM checks: this CPU has no AVX512_BF16 or nabla was built without oneDNN; only "
        "\"medium\" == float32 was checked");
}

TEST_CASE("an LSTM + Dense model trains in \"medium\"", "[bf16]") {
  const test_bf16::PrecisionGuard guard;
  if (!nb::backend::cpu_has_bf16()) {
    WARN("SKIPPED: this CPU has no AVX512_BF16 or nabla was built without oneDNN, so \"medium\" would be float32");
    return;
  }
  nb::set_float32_matmul_precision("medium");
  nb::manual_seed(5);
  // Predict the mean of each sequence's first feature.
  const auto x = nb::randn<float>({64, 6, 4}, 11);
  const auto y = nb::mean(nb::slice(x, 2, 0, 1), {1, 2}).reshape({64, 1});
  nb::Model<float> model;
  model.add<nb::nn::LSTM>(4, 16, nb::nn::LSTMOptions{.return_sequences = false});
  model.add<nb::nn::Dense>(16, 1);
  model.compile(nb::optim::AdamOptions{.lr = 0.02}, nb::loss::MSE{});
  const auto history = model.fit(x, y, {.epochs = 40, .batch_size = 16, .seed = 1, .verbose = 0});
  CAPTURE(history["loss"].front(), history["loss"].back());
  REQUIRE(std::isfinite(history["loss"].back()));
  REQUIRE(history["loss"].back() < history["loss"].front() / 4);
}
