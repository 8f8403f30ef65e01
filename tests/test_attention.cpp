// nb::scaled_dot_product_attention: the fused op against its composed reference
// (detail::scaled_dot_product_attention_composed: matmul + softmax + where), against PyTorch
// (scripts/fixtures/make_attention.py), gradcheck in double, dropout, fully masked rows, the
// per-element math shared with the CUDA kernels, and the error paths.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fixture.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_attention {

namespace nb = nabla;
using nabla_test::Fixture;
using nabla_test::max_relative_difference;

namespace {

/// One configuration: sizes (heads = 0 means 3-D inputs [N, T, D]) and which options it uses.
struct Config {
  std::string name;
  std::int64_t batch, heads, queries, keys, head_dim, value_dim;
  bool causal = false;
  std::optional<nb::Shape> mask_shape = {};      // a random additive mask of this shape (some -inf)
  std::optional<nb::Shape> mask_out_shape = {};  // a random exclusion mask of this shape
  std::optional<double> scale = {};
  double dropout = 0.0;
};

nb::Shape input_shape(const Config& c, std::int64_t rows, std::int64_t width) {
  return c.heads == 0 ? nb::Shape{c.batch, rows, width} : nb::Shape{c.batch, c.heads, rows, width};
}

/// The tensors of one configuration, in T, from fixed seeds.
template <typename T>
struct Inputs {
  nb::Tensor<T> q, k, v, upstream;
  nb::AttentionOptions<T> options;
};

template <typename T>
Inputs<T> make_inputs(const Config& c, std::uint64_t seed) {
  Inputs<T> in;
  in.q = nb::randn<T>(input_shape(c, c.queries, c.head_dim), seed);
  in.k = nb::randn<T>(input_shape(c, c.keys, c.head_dim), seed + 1);
  in.v = nb::randn<T>(input_shape(c, c.keys, c.value_dim), seed + 2);
  in.upstream = nb::randn<T>(input_shape(c, c.queries, c.value_dim), seed + 3);
  in.options.causal = c.causal;
  in.options.scale = c.scale;
  in.options.dropout = c.dropout;
  if (c.mask_shape) {
    // Finite values, and -inf where a uniform draw is below 0.2.
    auto values = nb::randn<T>(*c.mask_shape, seed + 4).to_vector();
    const auto draws = nb::rand<T>(*c.mask_shape, seed + 5).to_vector();
    for (std::size_t i = 0; i < values.size(); ++i)
      if (draws[i] < T(0.2)) values[i] = -std::numeric_limits<T>::infinity();
    in.options.mask = nb::from_vector<T>(values, *c.mask_shape);
  }
  if (c.mask_out_shape) in.options.mask_out = nb::gt(nb::rand<T>(*c.mask_out_shape, seed + 6), T(0.7));
  return in;
}

/// out, dq, dk, dv of either implementation for L = sum(out * upstream); dropout draws from a
/// generator seeded here, the same for both.
template <typename T, typename Function>
std::vector<nb::Tensor<T>> run(const Inputs<T>& in, Function attention) {
  auto q = in.q.clone().requires_grad_(), k = in.k.clone().requires_grad_(), v = in.v.clone().requires_grad_();
  nb::Generator generator(1234);
  auto options = in.options;
  options.generator = &generator;
  auto out = attention(q, k, v, options);
  nb::sum(out * in.upstream).backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

const std::vector<Config>& configs() {
  static const std::vector<Config> list = {
      {"plain", 2, 3, 5, 5, 4, 4},
      {"causal across blocks", 1, 2, 70, 70, 8, 6, true},
      {"kv cache: Tq < Tk, causal", 2, 2, 3, 9, 5, 5, true},
      {"Tq > Tk, causal: first rows see no key", 1, 2, 9, 4, 3, 2, true},
      {"additive mask [Tq, Tk]", 2, 2, 6, 7, 4, 3, false, nb::Shape{6, 7}},
      {"additive mask [B, 1, 1, Tk]", 2, 3, 5, 8, 4, 4, false, nb::Shape{2, 1, 1, 8}},
      {"mask_out key padding [B, 1, 1, Tk]", 2, 2, 5, 6, 3, 5, false, std::nullopt, nb::Shape{2, 1, 1, 6}},
      {"mask_out [Tq, Tk] with causal", 1, 3, 6, 6, 4, 4, true, std::nullopt, nb::Shape{6, 6}},
      {"both masks, custom scale", 2, 2, 4, 5, 3, 3, false, nb::Shape{2, 2, 4, 5}, nb::Shape{1, 5}, 0.7},
      {"3-D inputs", 3, 0, 7, 9, 5, 4},
      {"3-D inputs, causal, mask [N, Tq, Tk]", 2, 0, 6, 6, 3, 2, true, nb::Shape{2, 6, 6}},
      {"odd sizes over several blocks, both masks", 1, 2, 130, 100, 16, 12, true, nb::Shape{130, 100},
       nb::Shape{1, 1, 1, 100}},
      {"dropout", 2, 2, 9, 11, 4, 3, false, nb::Shape{9, 11}, std::nullopt, std::nullopt, 0.3},
      {"dropout, causal, over blocks", 1, 1, 67, 67, 4, 5, true, std::nullopt, std::nullopt, std::nullopt, 0.5},
  };
  return list;
}

template <typename T>
void check_fused_against_composed(double tolerance) {
  std::uint64_t seed = 100;
  for (const Config& c : configs()) {
    INFO(c.name << (sizeof(T) == 4 ? " (float)" : " (double)"));
    const Inputs<T> in = make_inputs<T>(c, seed += 10);
    const auto fused = run(in, [](auto&&... a) { return nb::scaled_dot_product_attention<T>(a...); });
    const auto composed =
        run(in, [](auto&&... a) { return nb::detail::scaled_dot_product_attention_composed<T>(a...); });
    const char* names[] = {"out", "grad q", "grad k", "grad v"};
    for (int i = 0; i < 4; ++i) {
      INFO(names[i]);
      REQUIRE(fused[static_cast<std::size_t>(i)].defined());
      for (T value : fused[static_cast<std::size_t>(i)].to_vector()) REQUIRE(std::isfinite(value));
      CHECK(max_relative_difference(fused[static_cast<std::size_t>(i)], composed[static_cast<std::size_t>(i)]) <
            tolerance);
    }
  }
}

}  // namespace

TEST_CASE("attention: the fused op equals the composed reference, values and gradients", "[attention]") {
  check_fused_against_composed<double>(1e-12);
  check_fused_against_composed<float>(1e-5);
}

TEST_CASE("attention: gradcheck in double for q, k, v", "[attention][gradcheck]") {
  const std::vector<Config> cases = {
      {"plain", 1, 2, 3, 4, 3, 2},
      {"causal", 2, 1, 4, 4, 3, 3, true},
      {"Tq != Tk, causal", 1, 2, 2, 5, 3, 2, true},
      {"additive mask", 1, 2, 3, 4, 2, 3, false, nb::Shape{3, 4}},
      {"mask_out", 2, 1, 3, 4, 2, 2, false, std::nullopt, nb::Shape{2, 1, 1, 4}},
      {"3-D, D != Dv", 2, 0, 3, 5, 4, 2},
      {"odd sizes crossing the 64-row blocks", 1, 1, 66, 67, 2, 1, true, nb::Shape{66, 67}},
  };
  std::uint64_t seed = 500;
  for (const Config& c : cases) {
    INFO(c.name);
    const Inputs<double> in = make_inputs<double>(c, seed += 10);
    auto result = nb::gradcheck<double>(
        [&](const std::vector<nb::Tensor<double>>& x) {
          return nb::scaled_dot_product_attention(x[0], x[1], x[2], in.options);
        },
        {in.q, in.k, in.v});
    INFO(result.report);
    CHECK(result);
  }
  SECTION("with dropout: the backward regenerates the forward's mask") {
    const Config c{"dropout", 1, 2, 4, 5, 3, 2, true, std::nullopt, std::nullopt, std::nullopt, 0.4};
    const Inputs<double> in = make_inputs<double>(c, 900);
    auto result = nb::gradcheck<double>(
        [&](const std::vector<nb::Tensor<double>>& x) {
          nb::Generator generator(77);  // the same mask at every evaluation
          auto options = in.options;
          options.generator = &generator;
          return nb::scaled_dot_product_attention(x[0], x[1], x[2], options);
        },
        {in.q, in.k, in.v});
    INFO(result.report);
    CHECK(result);
  }
}

TEST_CASE("attention matches a hand-written PyTorch softmax(q k^T scale + mask) v", "[attention]") {
  const Fixture fixture("attention");
  for (const std::string name : {"plain", "causal", "additive", "mask_out", "causal_padding", "scale", "three_d"}) {
    INFO(name);
    for (int precision = 0; precision < 2; ++precision) {
      const auto check = [&](auto zero) {
        using T = decltype(zero);
        const double tolerance = sizeof(T) == 8 ? 1e-12 : 1e-5;
        auto q = fixture.get<T>(name + ".q").requires_grad_(), k = fixture.get<T>(name + ".k").requires_grad_(),
             v = fixture.get<T>(name + ".v").requires_grad_();
        nb::AttentionOptions<T> options;
        options.causal = fixture.contains(name + ".causal");
        if (fixture.contains(name + ".mask")) options.mask = fixture.get<T>(name + ".mask");
        if (fixture.contains(name + ".mask_out")) options.mask_out = fixture.get<T>(name + ".mask_out");
        if (fixture.contains(name + ".scale")) options.scale = fixture.get<double>(name + ".scale").item();
        auto out = nb::scaled_dot_product_attention(q, k, v, options);
        CHECK(max_relative_difference(out.detach(), fixture.get<T>(name + ".out")) < tolerance);
        nb::sum(out * fixture.get<T>(name + ".upstream")).backward();
        CHECK(max_relative_difference(q.grad(), fixture.get<T>(name + ".grad_q")) < tolerance);
        CHECK(max_relative_difference(k.grad(), fixture.get<T>(name + ".grad_k")) < tolerance);
        CHECK(max_relative_difference(v.grad(), fixture.get<T>(name + ".grad_v")) < tolerance);
      };
      if (precision == 0)
        check(0.0);
      else
        check(0.0f);
    }
  }
}

TEST_CASE("attention dropout: a counter-based mask, reproducible, kept at rate 1 - p", "[attention]") {
  // q = k = 0 gives uniform probabilities 1/Tk; v = the identity makes out[i, j] = z_ij / Tk, so
  // out * Tk * (1 - p) is the keep indicator of every (b, h, i, j).
  const std::int64_t B = 4, H = 2, T = 64;
  const double p = 0.25;
  const auto q = nb::zeros<double>({B, H, T, 8});
  const auto v = nb::expand(nb::eye<double>(T), {B, H, T, T}).contiguous();
  nb::Generator generator(42);
  const nb::AttentionOptions<double> options{.dropout = p, .generator = &generator};
  const auto first = nb::scaled_dot_product_attention(q, q.narrow(2, 0, T), v, options);
  CHECK(generator.offset() == static_cast<std::uint64_t>(B * H * T * T));  // one position per probability
  const auto second = nb::scaled_dot_product_attention(q, q.narrow(2, 0, T), v, options);
  CHECK(max_relative_difference(first, second) > 0.0);  // the generator moved on: another mask
  generator.set_state(42, 0);
  const auto again = nb::scaled_dot_product_attention(q, q.narrow(2, 0, T), v, options);
  CHECK(max_relative_difference(first, again) == 0.0);  // same seed and offset: same output

  // The keep pattern is the documented Philox stream: element ((b H + h) Tq + i) Tk + j at (seed, offset).
  nb::Tensor<double> expected({B, H, T, T});
  nb::backend::dropout_mask(expected, 42, 0, p, 1.0 / (1.0 - p));
  const auto values = first.to_vector(), factors = expected.to_vector();
  std::int64_t kept = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    REQUIRE(values[i] * T == Approx(factors[i]).margin(1e-12));
    kept += factors[i] > 0;
  }
  CHECK(static_cast<double>(kept) / static_cast<double>(values.size()) == Approx(1 - p).margin(0.01));

  // dropout = 0 draws nothing.
  generator.set_state(1, 0);
  (void)nb::scaled_dot_product_attention(q, q, v, {.dropout = 0.0, .generator = &generator});
  CHECK(generator.offset() == 0);
}

TEST_CASE("attention: a query with no visible key gives a zero row and zero gradients, not NaN", "[attention]") {
  auto q = nb::randn<double>({1, 2, 4, 3}, 1).requires_grad_();
  auto k = nb::randn<double>({1, 2, 5, 3}, 2).requires_grad_();
  auto v = nb::randn<double>({1, 2, 5, 3}, 3).requires_grad_();
  const double inf = std::numeric_limits<double>::infinity();
  // Row 1 removed by mask_out, row 2 by an additive -inf, in every head.
  std::vector<double> exclusion(20, 0.0), additive(20, 0.5);
  for (int j = 0; j < 5; ++j)
    exclusion[static_cast<std::size_t>(5 + j)] = 1, additive[static_cast<std::size_t>(10 + j)] = -inf;
  const nb::AttentionOptions<double> options{.mask = nb::from_vector<double>(additive, {4, 5}),
                                             .mask_out = nb::from_vector<double>(exclusion, {4, 5})};
  auto out = nb::scaled_dot_product_attention(q, k, v, options);
  nb::sum(out * nb::randn<double>(out.shape(), 4)).backward();
  const auto values = out.to_vector();
  for (int h = 0; h < 2; ++h)
    for (int row = 0; row < 4; ++row)
      for (int c = 0; c < 3; ++c) {
        const double value = values[static_cast<std::size_t>((h * 4 + row) * 3 + c)];
        if (row == 1 || row == 2)
          CHECK(value == 0.0);
        else
          CHECK(std::isfinite(value));
      }
  const auto grad_q = q.grad().to_vector();
  for (double g : grad_q) CHECK(std::isfinite(g));
  for (int h = 0; h < 2; ++h)
    for (int row = 1; row <= 2; ++row)
      for (int c = 0; c < 3; ++c) CHECK(grad_q[static_cast<std::size_t>((h * 4 + row) * 3 + c)] == 0.0);
  for (double g : k.grad().to_vector()) CHECK(std::isfinite(g));
  for (double g : v.grad().to_vector()) CHECK(std::isfinite(g));

  // No key at all (Tk = 0): every row is zero.
  auto empty_keys = nb::zeros<double>({1, 2, 0, 3});
  auto nothing = nb::scaled_dot_product_attention(q.detach(), empty_keys, empty_keys);
  for (double value : nothing.to_vector()) CHECK(value == 0.0);
}

TEST_CASE("attention: non-contiguous inputs and masks, masks get no gradient", "[attention]") {
  // q, k, v as transposed views of [B, T, H, D] (the layout after a head split), mask a transposed view.
  auto q = nb::randn<double>({2, 5, 3, 4}, 1).requires_grad_();
  auto k = nb::randn<double>({2, 6, 3, 4}, 2).requires_grad_();
  auto v = nb::randn<double>({2, 6, 3, 4}, 3).requires_grad_();
  auto mask = nb::randn<double>({6, 5}, 4).requires_grad_();
  const nb::AttentionOptions<double> options{.causal = true, .mask = nb::transpose(mask, 0, 1)};
  auto fused =
      nb::scaled_dot_product_attention(nb::transpose(q, 1, 2), nb::transpose(k, 1, 2), nb::transpose(v, 1, 2), options);
  auto composed = nb::detail::scaled_dot_product_attention_composed(
      nb::transpose(q, 1, 2).contiguous(), nb::transpose(k, 1, 2).contiguous(), nb::transpose(v, 1, 2).contiguous(),
      {.causal = true, .mask = nb::transpose(mask, 0, 1).contiguous()});
  CHECK(max_relative_difference(fused.detach(), composed.detach()) < 1e-12);
  nb::sum(fused).backward();
  CHECK(q.grad().shape() == nb::Shape{2, 5, 3, 4});
  CHECK_FALSE(mask.grad().defined());
}

TEST_CASE("attention: changing the output or a mask in place before backward() is reported", "[attention]") {
  auto q = nb::randn<double>({1, 1, 3, 2}, 1).requires_grad_();
  auto mask = nb::zeros<double>({3, 3});
  auto out = nb::scaled_dot_product_attention(q, q, q, {.mask = mask});
  {
    nb::NoGradGuard no_grad;
    out += 1.0;  // the backward reads O (D_i = dO_i . O_i)
  }
  CHECK_THROWS_AS(nb::sum(out).backward(), nb::ValueError);
  auto again = nb::scaled_dot_product_attention(q, q, q, {.mask = mask});
  mask += 1.0;
  CHECK_THROWS_AS(nb::sum(again).backward(), nb::ValueError);
}

TEST_CASE("attention: the per-element math shared with the CUDA kernels", "[attention]") {
  nb::backend::AttentionArguments<double> a;
  a.batch = 1, a.heads = 1, a.queries = 2, a.keys = 5, a.causal = true;
  // Bottom-right alignment: query 0 of 2 sees keys 0..3, query 1 sees all 5.
  CHECK(nb::backend::attention_causally_visible(a, 0, 3));
  CHECK_FALSE(nb::backend::attention_causally_visible(a, 0, 4));
  CHECK(nb::backend::attention_causally_visible(a, 1, 4));
  CHECK(nb::backend::attention_key_end(a, 1) == 4);
  CHECK(nb::backend::attention_query_begin(a, 4) == 1);
  CHECK(nb::backend::attention_query_begin(a, 2) == 0);
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(nb::backend::attention_score(a, 0.5, 0, 0, 0, 4) == -inf);
  CHECK(nb::backend::attention_score(a, 0.5, 0, 0, 0, 1) == 0.5);
  // The online softmax's pieces at the edges: nothing seen yet, nothing seen at all.
  CHECK(nb::backend::attention_rescale(-inf, -inf) == 0.0);
  CHECK(nb::backend::attention_rescale(1.0, 3.0) == Approx(std::exp(-2.0)));
  CHECK(nb::backend::attention_safe_max(-inf) == 0.0);
  CHECK(nb::backend::attention_logsumexp(-inf, 0.0) == inf);
  CHECK(nb::backend::attention_probability(2.0, inf) == 0.0);
  CHECK(nb::backend::attention_probability(-inf, inf) == 0.0);
  CHECK(nb::backend::attention_inverse_sum(0.0) == 0.0);
  CHECK(nb::backend::attention_logsumexp(2.0, 3.0) == Approx(2.0 + std::log(3.0)));
  // Rescaling exactness: sum over two blocks equals the one-shot sum.
  const std::vector<double> scores = {0.3, -1.2, 2.5, 0.7, 4.1};
  double running_max = -inf, running_sum = 0;
  for (std::size_t start : {std::size_t{0}, std::size_t{3}}) {
    double block_max = -inf;
    for (std::size_t j = start; j < std::min(start + 3, scores.size()); ++j) block_max = std::max(block_max, scores[j]);
    const double new_max = std::max(running_max, block_max);
    running_sum *= nb::backend::attention_rescale(running_max, new_max);
    for (std::size_t j = start; j < std::min(start + 3, scores.size()); ++j)
      running_sum += std::exp(scores[j] - new_max);
    running_max = new_max;
  }
  double direct = 0;
  for (double s : scores) direct += std::exp(s);
  CHECK(nb::backend::attention_logsumexp(running_max, running_sum) == Approx(std::log(direct)).epsilon(1e-15));
  // Dropout factors: 0 or 1/(1 - p), the Philox stream at the element's flat position.
  a.dropout = 0.5, a.seed = 9, a.offset = 100;
  const double factor = nb::backend::attention_dropout_factor(a, 0, 0, 1, 2);
  CHECK(factor == nb::backend::dropout_mask_value<double>(9, 100, 1 * 5 + 2, 0.5, 2.0));
}

TEST_CASE("attention: errors name the op and the shapes", "[attention]") {
  using Catch::Matchers::Contains;
  const auto q = nb::randn<float>({2, 3, 4, 8}, 1), k = nb::randn<float>({2, 3, 5, 8}, 2),
             v = nb::randn<float>({2, 3, 5, 6}, 3);
  const auto attention = [](const nb::Tensor<float>& a, const nb::Tensor<float>& b, const nb::Tensor<float>& c,
                            const nb::AttentionOptions<float>& options = {}) {
    return nb::scaled_dot_product_attention(a, b, c, options);
  };
  CHECK_NOTHROW(attention(q, k, v));
  CHECK_THROWS_AS(attention(nb::randn<float>({4, 8}, 1), k, v), nb::ShapeError);
  CHECK_THROWS_WITH(attention(q.reshape({2, 3, 4, 2, 4}), k, v),
                    Contains("scaled_dot_product_attention") && Contains("[2,3,4,2,4]"));
  CHECK_THROWS_AS(attention(q, k.reshape({6, 5, 8}), v), nb::ShapeError);  // mixed ranks
  CHECK_THROWS_WITH(attention(nb::randn<float>({3, 3, 4, 8}, 1), k, v), Contains("batch") && Contains("[3,3,4,8]"));
  CHECK_THROWS_WITH(attention(q, nb::randn<float>({2, 2, 5, 8}, 1), v), Contains("batch and head"));
  CHECK_THROWS_WITH(attention(q, nb::randn<float>({2, 3, 5, 7}, 1), v), Contains("same last dim D"));
  CHECK_THROWS_WITH(attention(q, k, nb::randn<float>({2, 3, 4, 6}, 1)), Contains("number of keys"));
  CHECK_THROWS_WITH(attention(q, k, v, {.mask = nb::zeros<float>({4, 4})}),
                    Contains("mask of shape [4,4] is not broadcastable to [B, H, Tq, Tk] = [2,3,4,5]"));
  CHECK_THROWS_WITH(attention(q, k, v, {.mask_out = nb::zeros<float>({1, 2, 3, 4, 5})}),
                    Contains("mask_out of shape [1,2,3,4,5]"));
  CHECK_THROWS_AS(attention(q, k, v, {.mask = nb::zeros<float>({3, 1, 4, 5})}), nb::ShapeError);
  CHECK_NOTHROW(attention(q, k, v, {.mask = nb::zeros<float>({2, 1, 1, 5})}));
  CHECK_THROWS_WITH(attention(q.reshape({6, 4, 8}), k.reshape({6, 5, 8}), v.reshape({6, 5, 6}),
                              {.mask = nb::zeros<float>({2, 3, 4, 5})}),
                    Contains("[N, Tq, Tk] = [6,4,5]"));
  CHECK_THROWS_WITH(attention(q, k, v, {.dropout = 1.0}), Contains("dropout must be in [0, 1)"));
  CHECK_THROWS_AS(attention(q, k, v, {.dropout = -0.1}), nb::ValueError);
  CHECK_THROWS_AS(attention(q, k, v, {.dropout = std::nan("")}), nb::ValueError);
  CHECK_THROWS_AS(attention(q, k, v, {.scale = std::numeric_limits<double>::infinity()}), nb::ValueError);
  CHECK_THROWS_AS(attention(nb::Tensor<float>(), k, v), nb::ValueError);
}

TEST_CASE("attention: tensors on different devices are refused", "[attention]") {
  // A tensor that claims to live on cuda:0 (host memory, never dereferenced: the check comes first).
  auto fake_storage = std::make_shared<nb::Storage<float>>(new float[12], 12, nb::Device::cuda(0),
                                                           [](float* pointer) { delete[] pointer; });
  const nb::Tensor<float> on_gpu(fake_storage, {1, 1, 3, 4}, {12, 12, 4, 1}, 0);
  const auto q = nb::randn<float>({1, 1, 2, 4}, 1), k = nb::randn<float>({1, 1, 3, 4}, 2),
             v = nb::randn<float>({1, 1, 3, 4}, 3);
  using Catch::Matchers::Contains;
  CHECK_THROWS_AS(nb::scaled_dot_product_attention(q, on_gpu, v), nb::DeviceError);
  CHECK_THROWS_WITH(nb::scaled_dot_product_attention(q, k, on_gpu),
                    Contains("scaled_dot_product_attention") && Contains("cuda:0"));
  CHECK_THROWS_AS(nb::scaled_dot_product_attention(q, k, v, {.mask = on_gpu.narrow(2, 0, 2)}), nb::DeviceError);
  CHECK_THROWS_AS(nb::scaled_dot_product_attention(q, k, v, {.mask_out = on_gpu.narrow(2, 0, 2)}), nb::DeviceError);
}

}  // namespace test_attention
