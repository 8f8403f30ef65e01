// The Transformer: nn::MultiheadAttention against torch.nn.MultiheadAttention
// (scripts/fixtures/make_mha.py), nn::TransformerBlock and nn::GPT against a hand-written
// PyTorch GPT (scripts/fixtures/make_gpt.py: logits, loss, every gradient, 10 AdamW steps),
// KV-cache generation against uncached generation, GPT-2 weights in the Hugging Face layout
// (load_gpt2_safetensors), gradchecks in double and the error paths.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <nabla/nabla.hpp>
#include <nabla/nn/attention.hpp>
#include <nabla/nn/gpt2.hpp>
#include <nabla/nn/transformer.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_transformer {

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
  const Fixture fixture("mha");
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

// ---- GPT against a hand-written PyTorch GPT (the llm.c test_gpt2 idea) ----------------------------

namespace {

const nb::io::Checkpoint& gpt_fixture() {
  static const nb::io::Checkpoint contents =
      nb::io::load_safetensors(std::string(NABLA_FIXTURE_DIR) + "/gpt.safetensors");
  return contents;
}

template <typename T>
nb::Tensor<T> stored(const nb::io::Checkpoint& contents, const std::string& name) {
  REQUIRE(contents.contains(name));
  return nb::io::to_floating<T>(contents.tensors.at(name), name);
}

const nb::nn::GPTOptions kTinyGPT{.vocab_size = 64, .context = 16, .layers = 2, .heads = 2, .width = 32};

/// The tiny GPT with the fixture's weights.
template <typename T>
nb::nn::GPT<T> fixture_gpt() {
  nb::nn::GPT<T> gpt(kTinyGPT);
  std::map<std::string, nb::Tensor<T>> state;
  for (const auto& [name, tensor] : gpt.named_parameters())
    state.emplace(name, stored<T>(gpt_fixture(), "param." + name));
  gpt.load_state_dict(state);  // strict: the names are PyTorch's, one for one
  return gpt;
}

template <typename T>
nb::Tensor<T> gpt_loss(nb::nn::GPT<T>& gpt, const nb::IndexTensor& ids, const nb::IndexTensor& targets) {
  return nb::loss::cross_entropy(gpt(ids).reshape({-1, 64}), targets.reshape({-1}));
}

template <typename T>
void check_gpt_against_pytorch(double tolerance) {
  const auto& fixture = gpt_fixture();
  auto gpt = fixture_gpt<T>();
  const auto ids = fixture.tensor<std::int64_t>("ids"), targets = fixture.tensor<std::int64_t>("targets");
  auto logits = gpt(ids);
  CHECK(max_relative_difference(logits.detach(), stored<T>(fixture, "logits")) < tolerance);
  auto loss = nb::loss::cross_entropy(logits.reshape({-1, 64}), targets.reshape({-1}));
  CHECK(std::abs(loss.item() - stored<T>(fixture, "loss").item()) < tolerance);
  loss.backward();
  std::size_t checked = 0;
  for (const auto& [name, parameter] : gpt.named_parameters()) {
    INFO("gradient of " << name);
    CHECK(max_relative_difference(parameter.grad(), stored<T>(fixture, "grad." + name)) < tolerance);
    ++checked;
  }
  CHECK(checked == 2 + 12 * 2 + 2);  // wte, wpe, 12 per block, ln_f: every parameter has its reference
}

/// 10 AdamW steps with PyTorch's two parameter groups in ONE optimizer (weight_decay_groups: decay
/// 0.1 on the 2-D weights except the embeddings, 0 on the rest), the learning rate warmed up
/// linearly (LinearWarmup, PyTorch's LinearLR) in both groups.
template <typename T>
void check_gpt_training_against_pytorch(double tolerance) {
  const auto& fixture = gpt_fixture();
  auto gpt = fixture_gpt<T>();
  const auto ids = fixture.tensor<std::int64_t>("ids"), targets = fixture.tensor<std::int64_t>("targets");
  auto groups = nb::optim::weight_decay_groups(gpt, 0.1);
  REQUIRE(groups.size() == 2);
  // The same split as the fixture script's (by name): in_proj, out_proj, c_fc, c_proj per block decay.
  std::set<const void*> expected_decay;
  std::size_t parameters = 0;
  for (const auto& [name, parameter] : gpt.named_parameters()) {
    const bool embedding = name.rfind("wte", 0) == 0 || name.rfind("wpe", 0) == 0;
    if (parameter.dim() == 2 && !embedding) expected_decay.insert(parameter.impl().get());
    ++parameters;
  }
  CHECK(expected_decay.size() == 8);
  CHECK(groups[0].params.size() == expected_decay.size());
  CHECK(groups[0].params.size() + groups[1].params.size() == parameters);
  for (const auto& parameter : groups[0].params) CHECK(expected_decay.count(parameter.impl().get()) == 1);
  nb::optim::AdamW<T> optimizer(std::move(groups), {.lr = 3e-3});
  REQUIRE(optimizer.group_count() == 2);
  CHECK(optimizer.group_weight_decay(0) == 0.1);
  CHECK(optimizer.group_weight_decay(1) == 0.0);
  nb::optim::LinearWarmup warmup(optimizer, {.start_factor = 0.25, .warmup_steps = 4});
  const auto expected = stored<double>(fixture, "losses").to_vector();
  REQUIRE(expected.size() == 10);
  for (std::size_t step = 0; step < 10; ++step) {
    optimizer.zero_grad();
    auto loss = gpt_loss(gpt, ids, targets);
    INFO("step " << step << ": loss " << loss.item() << ", PyTorch " << expected[step]);
    CHECK(std::abs(static_cast<double>(loss.item()) - expected[step]) < tolerance);
    loss.backward();
    optimizer.step();
    warmup.step();
  }
}

}  // namespace

TEST_CASE("TransformerBlock: docs/transformer.md's Mermaid graph is to_mermaid of a real forward", "[transformer]") {
  // A real forward of a small block (width 8, 2 heads, 4 positions); the graph depends on the
  // shapes and the ops, not on the values. After a change of the block, run
  //   ./build/tests/nabla_tests "TransformerBlock: docs*" --success
  // and paste the printed graph into the ```mermaid block of docs/transformer.md.
  nb::nn::TransformerBlock<double> block(8, 2, {.dropout = 0.0, .seed = 1});
  auto x = nb::zeros<double>({1, 4, 8});
  x.requires_grad_();
  const std::string graph = nb::to_mermaid(block(x));
  std::ifstream file(std::string(NABLA_FIXTURE_DIR) + "/../../docs/transformer.md");
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  const std::string doc = text.str(), fence = "```mermaid\n";
  const auto begin = doc.find(fence);
  REQUIRE(begin != std::string::npos);
  const auto end = doc.find("```", begin + fence.size());
  REQUIRE(end != std::string::npos);
  const std::string documented = doc.substr(begin + fence.size(), end - begin - fence.size());
  INFO("to_mermaid of the block's output:\n" << graph);
  CHECK(documented == graph);
  // The pieces the doc's prose names are in it: the packed projection, the fused attention, the MLP's GELU.
  CHECK(graph.find("in_proj_weight [24,8]") != std::string::npos);
  CHECK(graph.find("scaled_dot_product_attention [1,2,4,4]") != std::string::npos);
  CHECK(graph.find("gelu_tanh [1,4,32]") != std::string::npos);
}

TEST_CASE("GPT matches a hand-written PyTorch GPT: logits, loss and every gradient", "[transformer]") {
  check_gpt_against_pytorch<double>(1e-10);
  check_gpt_against_pytorch<float>(1e-4);
}

TEST_CASE("GPT: 10 AdamW steps with weight-decay groups and warmup give PyTorch's losses", "[transformer]") {
  check_gpt_training_against_pytorch<double>(1e-10);
  check_gpt_training_against_pytorch<float>(1e-5);
}

TEST_CASE("GPT: the LM head is tied to the token embedding", "[transformer]") {
  nb::nn::GPT<double> gpt({.vocab_size = 11, .context = 6, .layers = 1, .heads = 2, .width = 8, .seed = 3});
  for (const auto& [name, parameter] : gpt.named_parameters()) CHECK(name.find("lm_head") == std::string::npos);
  // Changing wte changes the logits through both uses; its gradient sums both.
  const auto ids = nb::from_vector<std::int64_t>({1, 4, 2, 9}, {1, 4});
  nb::sum(gpt(ids)).backward();
  const auto grad = gpt.wte().weight().grad().to_vector();
  // Row 0 is never looked up: its gradient comes from the head alone, and is nonzero.
  double row0 = 0;
  for (int i = 0; i < 8; ++i) row0 += std::abs(grad[i]);
  CHECK(row0 > 0);
}

TEST_CASE("GPT: gradcheck in double of the loss with respect to a few parameters", "[transformer][gradcheck]") {
  nb::nn::GPT<double> gpt({.vocab_size = 13, .context = 5, .layers = 2, .heads = 2, .width = 8, .seed = 11});
  const auto ids = nb::from_vector<std::int64_t>({1, 5, 2, 12, 7, 3, 3, 0}, {2, 4});
  const auto targets = nb::from_vector<std::int64_t>({5, 2, 12, 7, 3, 3, 0, 9}, {2, 4});
  auto loss_value = [&] {
    nb::NoGradGuard no_grad;
    return nb::loss::cross_entropy(gpt(ids).reshape({-1, 13}), targets.reshape({-1})).item();
  };
  gpt.zero_grad();
  nb::loss::cross_entropy(gpt(ids).reshape({-1, 13}), targets.reshape({-1})).backward();
  const double eps = 1e-6;
  std::size_t checked = 0;
  for (auto& [name, parameter] : gpt.named_parameters()) {
    if (name != "wte.weight" && name != "wpe.weight" && name != "h.0.attn.in_proj_weight" &&
        name != "h.0.attn.in_proj_bias" && name != "h.1.attn.out_proj.weight" && name != "h.1.mlp.c_fc.bias" &&
        name != "h.0.ln_2.weight" && name != "ln_f.bias")
      continue;
    const auto analytic = parameter.grad().to_vector();
    for (std::int64_t i = 0; i < parameter.numel(); i += std::max<std::int64_t>(1, parameter.numel() / 7)) {
      double* value = parameter.data() + i;
      const double saved = *value;
      *value = saved + eps;
      const double plus = loss_value();
      *value = saved - eps;
      const double minus = loss_value();
      *value = saved;
      const double numeric = (plus - minus) / (2 * eps);
      INFO(name << "[" << i << "]: numeric " << numeric << ", analytic " << analytic[i]);
      CHECK(std::abs(numeric - analytic[i]) < 1e-7 + 1e-5 * std::abs(numeric));
      ++checked;
    }
  }
  CHECK(checked >= 50);
}

TEST_CASE("GPT: the KV cache gives the full forward's logits", "[transformer]") {
  nb::nn::GPT<double> gpt({.vocab_size = 17, .context = 8, .layers = 2, .heads = 2, .width = 8, .seed = 5});
  gpt.eval();
  const auto ids = nb::from_vector<std::int64_t>({3, 1, 4, 1, 5, 9, 2, 6, 16, 0, 7, 7, 1, 2, 8, 8}, {2, 8});
  nb::NoGradGuard no_grad;
  const auto full = gpt(ids);  // [2, 8, 17]
  auto caches = gpt.make_caches();
  // The prompt of 5 in one call, then one token at a time.
  const auto prefill = gpt.forward_cached(ids.narrow(1, 0, 5).contiguous(), caches);
  CHECK(max_relative_difference(prefill, full.narrow(1, 0, 5).contiguous()) < 1e-12);
  for (std::int64_t t = 5; t < 8; ++t) {
    const auto step = gpt.forward_cached(ids.narrow(1, t, 1).contiguous(), caches);
    CHECK(max_relative_difference(step, full.narrow(1, t, 1).contiguous()) < 1e-12);
  }
  CHECK(caches.front().length == 8);
  CHECK_THROWS_AS(gpt.forward_cached(ids.narrow(1, 0, 1).contiguous(), caches), nb::ValueError);  // full
}

TEST_CASE("GPT::generate: cached and uncached decoding give the same tokens", "[transformer]") {
  for (const bool single : {false, true}) {
    nb::nn::GPT<float> gpt({.vocab_size = 23, .context = 10, .layers = 2, .heads = 2, .width = 16, .seed = 9});
    const auto prompt = nb::from_vector<std::int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
    const std::vector<nb::nn::GenerateOptions> settings = {
        {.max_new_tokens = 12, .temperature = 0.0},                          // greedy, slides past the context
        {.max_new_tokens = 12, .temperature = 0.9, .seed = 4},               // plain sampling
        {.max_new_tokens = 5, .temperature = 1.3, .top_k = 5, .seed = 8},    // top-k
        {.max_new_tokens = 5, .temperature = 0.7, .top_p = 0.8, .seed = 2},  // nucleus
        {.max_new_tokens = 5, .temperature = 1.0, .top_k = 4, .top_p = 0.6, .seed = 1}};
    for (auto options : settings) {
      const auto input = single ? prompt.narrow(0, 0, 1).reshape({4}) : prompt;
      const auto cached = gpt.generate(input, options);
      options.use_cache = false;
      const auto uncached = gpt.generate(input, options);
      INFO("temperature " << options.temperature << ", top_k " << options.top_k << ", top_p " << options.top_p);
      CHECK(cached.shape() ==
            (single ? nb::Shape{4 + options.max_new_tokens} : nb::Shape{2, 4 + options.max_new_tokens}));
      CHECK(cached.to_vector() == uncached.to_vector());
      const auto tokens = cached.to_vector();
      CHECK(std::vector<std::int64_t>(tokens.begin(), tokens.begin() + 4) == std::vector<std::int64_t>{1, 2, 3, 4});
      for (const auto token : tokens) CHECK((token >= 0 && token < 23));
      options.use_cache = true;
      CHECK(gpt.generate(input, options).to_vector() == tokens);  // the seed fixes the draw
    }
  }
}

TEST_CASE("GPT::generate: greedy picks the argmax, top_k = 1 is greedy, the seed matters", "[transformer]") {
  nb::nn::GPT<double> gpt({.vocab_size = 19, .context = 12, .layers = 1, .heads = 2, .width = 8, .seed = 2});
  const auto prompt = nb::from_vector<std::int64_t>({4, 7, 1}, {1, 3});
  const auto greedy = gpt.generate(prompt, {.max_new_tokens = 1, .temperature = 0.0}).to_vector();
  nb::IndexTensor expected;
  {
    nb::NoGradGuard no_grad;
    expected = nb::argmax(gpt(prompt).narrow(1, 2, 1).reshape({19}));
  }
  CHECK(greedy.back() == expected.item());
  CHECK(gpt.generate(prompt, {.max_new_tokens = 6, .temperature = 1.5, .top_k = 1, .seed = 3}).to_vector() ==
        gpt.generate(prompt, {.max_new_tokens = 6, .temperature = 0.0}).to_vector());
  bool differs = false;
  const auto first = gpt.generate(prompt, {.max_new_tokens = 8, .temperature = 2.0, .seed = 1}).to_vector();
  for (std::uint64_t seed = 2; seed < 6 && !differs; ++seed)
    differs = gpt.generate(prompt, {.max_new_tokens = 8, .temperature = 2.0, .seed = seed}).to_vector() != first;
  CHECK(differs);
  CHECK(gpt.is_training());  // generate restores the mode
}

TEST_CASE("GPT: sinusoidal positions, dropout, summary names", "[transformer]") {
  nb::nn::GPT<double> gpt({.vocab_size = 9,
                           .context = 6,
                           .layers = 1,
                           .heads = 2,
                           .width = 4,
                           .positional = nb::nn::PositionalEncoding::sinusoidal,
                           .seed = 1});
  for (const auto& [name, parameter] : gpt.named_parameters()) CHECK(name.rfind("wpe", 0) != 0);
  const auto buffers = gpt.named_buffers();
  REQUIRE(buffers.size() == 1);
  const auto table = buffers[0].second.to_vector();  // [6, 4]
  CHECK(table[0] == 0.0);
  CHECK(table[1] == 1.0);
  CHECK(table[4 * 3 + 0] == Approx(std::sin(3.0)));
  CHECK(table[4 * 3 + 3] == Approx(std::cos(3.0 / 100.0)));
  const auto ids = nb::from_vector<std::int64_t>({1, 2, 3}, {1, 3});
  CHECK(gpt(ids).shape() == nb::Shape{1, 3, 9});
  CHECK_THROWS_AS(gpt.wpe(), nb::ValueError);

  nb::nn::GPT<double> dropped(
      {.vocab_size = 9, .context = 6, .layers = 1, .heads = 2, .width = 4, .dropout = 0.5, .seed = 1});
  const auto train_a = dropped(ids).to_vector(), train_b = dropped(ids).to_vector();
  CHECK(train_a != train_b);  // new masks each call
  dropped.eval();
  CHECK(dropped(ids).to_vector() == dropped(ids).to_vector());
}

TEST_CASE("GPT: clear errors", "[transformer]") {
  CHECK_THROWS_WITH(nb::nn::GPT<float>({.vocab_size = 10, .context = 4, .layers = 1, .heads = 3, .width = 8}),
                    Catch::Contains("not divisible by heads"));
  CHECK_THROWS_AS(nb::nn::GPT<float>({.vocab_size = 0, .context = 4, .layers = 1, .heads = 2, .width = 8}),
                  nb::ValueError);
  CHECK_THROWS_AS(nb::nn::TransformerBlock<float>(10, 4), nb::ValueError);
  nb::nn::GPT<float> gpt({.vocab_size = 10, .context = 4, .layers = 1, .heads = 2, .width = 8});
  CHECK_THROWS_WITH(gpt(nb::zeros<std::int64_t>({1, 5})), Catch::Contains("longer than the context 4"));
  CHECK_THROWS_WITH(gpt(nb::from_vector<std::int64_t>({1, 10}, {1, 2})), Catch::Contains("token id 10"));
  CHECK_THROWS_WITH(gpt(nb::from_vector<std::int64_t>({1, -1}, {1, 2})), Catch::Contains("[0,1]"));
  CHECK_THROWS_AS(gpt(nb::zeros<std::int64_t>({2})), nb::ShapeError);
  const auto prompt = nb::from_vector<std::int64_t>({1, 2}, {1, 2});
  CHECK_THROWS_AS(gpt.generate(prompt, {.temperature = -1.0}), nb::ValueError);
  CHECK_THROWS_AS(gpt.generate(prompt, {.top_k = -1}), nb::ValueError);
  CHECK_THROWS_AS(gpt.generate(prompt, {.top_p = 0.0}), nb::ValueError);
  CHECK_THROWS_AS(gpt.generate(nb::from_vector<std::int64_t>({1, 12}, {1, 2})), nb::ValueError);
  CHECK_THROWS_AS(gpt.generate(nb::zeros<std::int64_t>({1, 0})), nb::ValueError);
}

// ---- GPT-2 weights in Hugging Face's layout -------------------------------------------------------

namespace {

const nb::nn::GPTOptions kTinyGPT2{.vocab_size = 50, .context = 12, .layers = 2, .heads = 2, .width = 16};

template <typename T>
void check_gpt2_logits(nb::nn::GPT<T>& gpt, double tolerance) {
  const auto reference = nb::io::load_safetensors(std::string(NABLA_FIXTURE_DIR) + "/gpt2_tiny_reference.safetensors");
  nb::NoGradGuard no_grad;
  const auto logits = gpt(reference.tensor<std::int64_t>("ids"));
  CHECK(max_relative_difference(logits, nb::io::to_floating<T>(reference.tensors.at("logits"), "logits")) < tolerance);
}

}  // namespace

TEST_CASE("load_gpt2_safetensors: Hugging Face's GPT-2 layout gives the PyTorch forward's logits", "[transformer]") {
  const std::string path = std::string(NABLA_FIXTURE_DIR) + "/gpt2_tiny.safetensors";
  nb::nn::GPT<float> gpt(kTinyGPT2);
  nb::load_gpt2_safetensors(path, gpt);
  check_gpt2_logits(gpt, 1e-5);
  nb::nn::GPT<double> gpt_double(kTinyGPT2);
  nb::load_gpt2_safetensors(path, gpt_double);
  check_gpt2_logits(gpt_double, 1e-5);  // the reference itself is float32

  // GPT2LMHeadModel's file: every key under "transformer.", plus the tied lm_head.weight.
  auto contents = nb::io::load_safetensors(path);
  nb::io::Checkpoint prefixed;
  for (const auto& [name, tensor] : contents.tensors) prefixed.tensors.emplace("transformer." + name, tensor);
  prefixed.tensors.emplace("lm_head.weight", contents.tensors.at("wte.weight"));
  const nabla_test::TempDir directory("gpt2_prefixed");
  const std::string prefixed_path = directory.file("gpt2_tiny_prefixed.safetensors");
  nb::io::save_safetensors(prefixed_path, prefixed);
  nb::nn::GPT<float> from_prefixed(kTinyGPT2);
  nb::load_gpt2_safetensors(prefixed_path, from_prefixed);
  check_gpt2_logits(from_prefixed, 1e-5);
}

TEST_CASE("load_gpt2_safetensors: a mismatch names the key and leaves the model unchanged", "[transformer]") {
  const std::string path = std::string(NABLA_FIXTURE_DIR) + "/gpt2_tiny.safetensors";
  nb::nn::GPT<float> longer({.vocab_size = 50, .context = 16, .layers = 2, .heads = 2, .width = 16});
  const auto before = longer.wte().weight().to_vector();
  CHECK_THROWS_WITH(nb::load_gpt2_safetensors(path, longer), Catch::Contains("'wpe.weight' has shape [12,16]"));
  CHECK(longer.wte().weight().to_vector() == before);
  nb::nn::GPT<float> deeper({.vocab_size = 50, .context = 12, .layers = 3, .heads = 2, .width = 16});
  CHECK_THROWS_WITH(nb::load_gpt2_safetensors(path, deeper), Catch::Contains("h.2."));
  nb::nn::GPT<float> shallower({.vocab_size = 50, .context = 12, .layers = 1, .heads = 2, .width = 16});
  CHECK_THROWS_WITH(nb::load_gpt2_safetensors(path, shallower), Catch::Contains("'h.1."));
  nb::nn::GPT<float> sinusoidal({.vocab_size = 50,
                                 .context = 12,
                                 .layers = 2,
                                 .heads = 2,
                                 .width = 16,
                                 .positional = nb::nn::PositionalEncoding::sinusoidal});
  CHECK_THROWS_AS(nb::load_gpt2_safetensors(path, sinusoidal), nb::IOError);
}

}  // namespace test_transformer
