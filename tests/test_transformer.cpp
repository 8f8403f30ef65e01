// The Transformer: nn::MultiheadAttention against torch.nn.MultiheadAttention
// (scripts/fixtures/make_attention.py), nn::TransformerBlock and nn::GPT against a hand-written
// PyTorch GPT (scripts/fixtures/make_gpt.py: logits, loss, every gradient, 10 AdamW steps),
// KV-cache generation against uncached generation, GPT-2 weights in the Hugging Face layout
// (load_gpt2_safetensors), gradchecks in double and the error paths.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>
#include <nabla/nn/attention.hpp>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace nb = nabla;
using nabla_test::Fixture;
using nabla_test::max_relative_difference;

namespace {

// ---- MultiheadAttention against PyTorch ---------------------------------------------------------

struct AttentionCase {
  std::string name;
  bool self_attention = false;
  nb::nn::MaskKind attn_mask_kind = nb::nn::MaskKind::boolean;
  bool average = true;
  bool is_causal_flag = false;  // use is_causal instead of the stored mask
  bool batch_first = true;
};

template <typename T>
nb::Tensor<T> stored_attn_mask(const Fixture& fixture, const std::string& name) {
  nb::Tensor<T> mask = fixture.get<T>(name + ".attn_mask");
  if (fixture.contains(name + ".attn_mask_removed"))  // -inf where the file has a 1 here
    mask = nb::where(fixture.get<T>(name + ".attn_mask_removed"), -std::numeric_limits<T>::infinity(), mask);
  return mask;
}

template <typename T>
void check_attention_case(const Fixture& fixture, const AttentionCase& c, double tolerance) {
  INFO("case " << c.name << (c.batch_first ? "" : " (batch_first=false)") << (c.is_causal_flag ? " (is_causal)" : ""));
  const std::string& name = c.name;
  nb::nn::MultiheadAttention<T> mha(8, 2, {.batch_first = c.batch_first});
  std::map<std::string, nb::Tensor<T>> state;
  for (const auto* parameter : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"})
    state.emplace(parameter, fixture.get<T>(name + "." + parameter));
  mha.load_state_dict(state);

  auto query = fixture.get<T>(name + ".query").requires_grad_();
  nb::Tensor<T> key = query, value = query;
  if (!c.self_attention) {
    key = fixture.get<T>(name + ".key").requires_grad_();
    value = fixture.get<T>(name + ".value").requires_grad_();
  }
  typename nb::nn::MultiheadAttention<T>::ForwardOptions options;
  options.average_attn_weights = c.average;
  if (c.is_causal_flag) {
    options.is_causal = true;
  } else if (fixture.contains(name + ".attn_mask")) {
    options.attn_mask = stored_attn_mask<T>(fixture, name);
    options.attn_mask_kind = c.attn_mask_kind;
  }
  if (fixture.contains(name + ".key_padding_mask"))
    options.key_padding_mask = fixture.get<T>(name + ".key_padding_mask");

  auto [output, weights] = c.batch_first
                               ? mha(query, key, value, options)
                               : mha(query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), options);
  if (!c.batch_first) output = output.transpose(0, 1);
  REQUIRE(weights.defined());
  CHECK(max_relative_difference(output.detach(), fixture.get<T>(name + ".output")) < tolerance);
  CHECK(max_relative_difference(weights.detach(), fixture.get<T>(name + ".weights")) < tolerance);
  nb::Tensor<T> loss = nb::sum(output * fixture.get<T>(name + ".upstream")) +
                       nb::sum(weights * fixture.get<T>(name + ".upstream_weights"));
  loss.backward();
  CHECK(max_relative_difference(query.grad(), fixture.get<T>(name + ".grad_query")) < tolerance);
  if (!c.self_attention) {
    CHECK(max_relative_difference(key.grad(), fixture.get<T>(name + ".grad_key")) < tolerance);
    CHECK(max_relative_difference(value.grad(), fixture.get<T>(name + ".grad_value")) < tolerance);
  }
  for (const auto& [parameter, tensor] : mha.named_parameters()) {
    INFO("parameter " << parameter);
    CHECK(max_relative_difference(tensor.grad(), fixture.get<T>(name + ".grad_" + parameter)) < tolerance);
  }
}

template <typename T>
void check_attention_against_pytorch(double tolerance) {
  const Fixture fixture("attention");
  using nb::nn::MaskKind;
  const std::vector<AttentionCase> cases = {
      {.name = "self", .self_attention = true},
      {.name = "cross"},
      {.name = "cross", .batch_first = false},
      {.name = "bool_mask"},
      {.name = "float_mask", .attn_mask_kind = MaskKind::additive},
      {.name = "key_padding", .self_attention = true},
      {.name = "key_padding", .self_attention = true, .batch_first = false},
      {.name = "causal", .self_attention = true, .attn_mask_kind = MaskKind::additive},
      {.name = "causal", .self_attention = true, .attn_mask_kind = MaskKind::boolean},  // 0 / -inf: same meaning
      {.name = "causal", .self_attention = true, .is_causal_flag = true},
      {.name = "per_head", .average = false},
  };
  for (const auto& c : cases) check_attention_case<T>(fixture, c, tolerance);
}

}  // namespace

TEST_CASE("MultiheadAttention matches torch.nn.MultiheadAttention: outputs, weights, gradients", "[transformer]") {
  check_attention_against_pytorch<double>(1e-10);
  check_attention_against_pytorch<float>(1e-4);
}

TEST_CASE("MultiheadAttention: PyTorch's parameter names and shapes", "[transformer]") {
  nb::nn::MultiheadAttention<float> mha(16, 4);
  const auto named = mha.named_parameters();
  REQUIRE(named.size() == 4);
  CHECK(named[0].first == "in_proj_weight");
  CHECK(named[0].second.shape() == nb::Shape{48, 16});
  CHECK(named[1].first == "in_proj_bias");
  CHECK(named[1].second.shape() == nb::Shape{48});
  CHECK(named[2].first == "out_proj.weight");
  CHECK(named[2].second.shape() == nb::Shape{16, 16});
  CHECK(named[3].first == "out_proj.bias");
  nb::nn::MultiheadAttention<float> no_bias(16, 4, {.bias = false});
  CHECK(no_bias.named_parameters().size() == 2);
  // The single-tensor forward is self-attention with no weights.
  auto x = nb::randn<float>({2, 5, 16}, 3);
  auto [full, weights] = mha(x, x, x);
  CHECK(max_relative_difference(mha(x).detach(), full.detach()) < 1e-6);
  CHECK(weights.shape() == nb::Shape{2, 5, 5});
  auto [out, none] = mha(x, x, x, {.need_weights = false});
  CHECK_FALSE(none.defined());
}

TEST_CASE("MultiheadAttention: gradcheck in double of the inputs and the projections", "[transformer][gradcheck]") {
  nb::nn::MultiheadAttention<double> mha(6, 2, {.seed = 5});
  const auto mask = nb::from_vector<double>({0, 0, 0, 1, 0, 1, 0, 0}, {2, 4});  // key padding
  auto cross = nb::gradcheck<double>(
      [&](const std::vector<nb::Tensor<double>>& in) {
        auto [out, weights] = mha(in[0], in[1], in[2], {.key_padding_mask = mask, .is_causal = false});
        return nb::sum(out * out) + nb::sum(weights * weights);
      },
      {nb::randn<double>({2, 3, 6}, 1), nb::randn<double>({2, 4, 6}, 2), nb::randn<double>({2, 4, 6}, 3)});
  CHECK(cross);
  INFO(cross.report);
  auto causal_self = nb::gradcheck<double>(
      [&](const std::vector<nb::Tensor<double>>& in) {
        auto [out, weights] = mha(in[0], in[0], in[0], {.is_causal = true});
        return nb::sum(nb::tanh(out)) + nb::sum(weights * weights);
      },
      {nb::randn<double>({2, 4, 6}, 4)});
  CHECK(causal_self);
  INFO(causal_self.report);
}

TEST_CASE("MultiheadAttention: bad shapes and masks are clear errors", "[transformer]") {
  CHECK_THROWS_AS(nb::nn::MultiheadAttention<float>(10, 3), nb::ValueError);
  CHECK_THROWS_WITH(nb::nn::MultiheadAttention<float>(10, 3), Catch::Contains("not divisible"));
  CHECK_THROWS_AS(nb::nn::MultiheadAttention<float>(8, 2, {.dropout = 1.0}), nb::ValueError);
  nb::nn::MultiheadAttention<float> mha(8, 2);
  auto x = nb::randn<float>({2, 3, 8}, 1);
  CHECK_THROWS_AS(mha(nb::randn<float>({2, 3, 7}, 1)), nb::ShapeError);
  CHECK_THROWS_AS(mha(nb::randn<float>({3, 8}, 1)), nb::ShapeError);
  CHECK_THROWS_AS(mha(x, nb::randn<float>({1, 3, 8}, 2), nb::randn<float>({1, 3, 8}, 2)), nb::ShapeError);
  CHECK_THROWS_WITH(mha(x, x, x, {.key_padding_mask = nb::zeros<float>({2, 4})}), Catch::Contains("key_padding_mask"));
  CHECK_THROWS_WITH(mha(x, x, x, {.attn_mask = nb::zeros<float>({3, 4})}), Catch::Contains("attn_mask"));
}

TEST_CASE("scaled_dot_product_attention: bottom-right causal alignment and fully masked rows", "[transformer]") {
  // The last Tq rows of a causal Tk x Tk attention equal a causal Tq x Tk attention of those
  // queries: what the KV cache relies on.
  auto q = nb::randn<double>({2, 2, 5, 4}, 1), k = nb::randn<double>({2, 2, 5, 4}, 2),
       v = nb::randn<double>({2, 2, 5, 3}, 3);
  auto full = nb::scaled_dot_product_attention(q, k, v, {.causal = true});
  auto tail = nb::scaled_dot_product_attention(q.narrow(2, 3, 2), k, v, {.causal = true});
  CHECK(max_relative_difference(tail, full.narrow(2, 3, 2).contiguous()) < 1e-12);
  // A query whose keys are all removed gives zeros and zero gradient, not NaN.
  auto mask_out = nb::from_vector<double>({1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, {2, 5});
  auto qg = q.clone().requires_grad_();
  auto out = nb::scaled_dot_product_attention(qg, k, v, {.mask_out = mask_out.reshape({2, 1, 1, 5})});
  nb::sum(out).backward();
  const auto values = out.to_vector();
  for (std::size_t i = 0; i < values.size() / 2; ++i) CHECK(values[i] == 0.0);  // batch 0: every key removed
  for (const double g : qg.grad().to_vector()) CHECK(std::isfinite(g));
}
