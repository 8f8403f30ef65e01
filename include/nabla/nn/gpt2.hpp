// nabla/nn/gpt2.hpp - load_gpt2_safetensors: Hugging Face's GPT-2 weights onto nn::GPT.
//
// The Hugging Face layout (GPT2Model / GPT2LMHeadModel's model.safetensors) and where each
// tensor goes:
//   wte.weight [V, E], wpe.weight [C, E]                  -> wte.weight, wpe.weight
//   h.{i}.ln_1.{weight,bias}, h.{i}.ln_2.*, ln_f.*         -> the same names
//   h.{i}.attn.c_attn.{weight [E, 3E], bias [3E]}         -> h.{i}.attn.in_proj_weight [3E, E] (transposed),
//   in_proj_bias h.{i}.attn.c_proj.{weight [E, E], bias}               -> h.{i}.attn.out_proj.weight (transposed),
//   .bias h.{i}.mlp.c_fc.{weight [E, 4E], bias}                 -> h.{i}.mlp.c_fc.weight [4E, E] (transposed), .bias
//   h.{i}.mlp.c_proj.{weight [4E, E], bias}               -> h.{i}.mlp.c_proj.weight [E, 4E] (transposed), .bias
// GPT-2's Conv1D computes x W + b with W stored [in, out], the transpose of torch.nn.Linear's
// [out, in], hence the transposes. A "transformer." prefix (GPT2LMHeadModel) is dropped; the
// buffers h.{i}.attn.bias / h.{i}.attn.masked_bias (the causal mask of older checkpoints) and
// lm_head.weight (tied to wte) are skipped. GPT-2 itself: GELU tanh, LayerNorm eps 1e-5, which
// nn::GPT uses; GPT-2 124M is GPTOptions{.vocab_size = 50257, .context = 1024, .layers = 12,
// .heads = 12, .width = 768}.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "nabla/io/safetensors.hpp"
#include "nabla/nn/transformer.hpp"

namespace nabla::nn {

namespace detail {

/// nabla's name for a Hugging Face GPT-2 tensor name (prefix already removed), and whether its
/// weight is stored transposed; empty for a tensor nabla skips.
inline std::pair<std::string, bool> gpt2_target_name(const std::string& key) {
  const auto ends_with = [&](const std::string& suffix) {
    return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (key == "lm_head.weight" || ends_with(".attn.bias") || ends_with(".attn.masked_bias")) return {"", false};
  if (key.rfind("h.", 0) == 0) {
    const auto dot = key.find('.', 2);
    if (dot == std::string::npos) return {key, false};
    const std::string block = key.substr(0, dot + 1), rest = key.substr(dot + 1);
    if (rest == "attn.c_attn.weight") return {block + "attn.in_proj_weight", true};
    if (rest == "attn.c_attn.bias") return {block + "attn.in_proj_bias", false};
    if (rest == "attn.c_proj.weight") return {block + "attn.out_proj.weight", true};
    if (rest == "attn.c_proj.bias") return {block + "attn.out_proj.bias", false};
    if (rest == "mlp.c_fc.weight" || rest == "mlp.c_proj.weight") return {key, true};
  }
  return {key, false};
}

}  // namespace detail

/// Loads GPT-2 weights saved by Hugging Face transformers (model.safetensors of "gpt2", F32 or
/// F64) into `gpt`, whose options must match the checkpoint (learned positions, bias = true).
/// Every tensor of the model must be in the file and every tensor of the file must map onto the
/// model (else an IOError naming the key); shapes are checked, naming the file's key and both
/// shapes, before anything is copied, so on an error `gpt` is unchanged.
template <FloatingElement T>
void load_gpt2_safetensors(const std::string& path, GPT<T>& gpt) {
  const std::string context = "load_gpt2_safetensors: " + path;
  const io::Checkpoint contents = io::load_safetensors(path);
  std::map<std::string, Tensor<T>> targets;
  for (auto& [name, tensor] : gpt.named_parameters()) targets.emplace(name, tensor);
  for (auto& [name, tensor] : gpt.named_buffers())
    throw IOError(context + ": the model has the buffer '" + name +
                  "' (sinusoidal positions); GPT-2 needs GPTOptions{.positional = PositionalEncoding::learned}");

  std::map<std::string, Tensor<T>> state;
  std::map<std::string, std::string> source_key;  // nabla name -> the file's key, for errors
  for (const auto& [stored_key, stored] : contents.tensors) {
    const std::string key = stored_key.rfind("transformer.", 0) == 0 ? stored_key.substr(12) : stored_key;
    const auto [name, transposed] = detail::gpt2_target_name(key);
    if (name.empty()) continue;
    const auto target = targets.find(name);
    if (target == targets.end())
      throw IOError(context + ": tensor '" + stored_key + "' has no place in the GPT(" + gpt.describe() +
                    ") (a different architecture, or not a GPT-2 file?)");
    if (state.count(name))
      throw IOError(context + ": tensors '" + source_key[name] + "' and '" + stored_key + "' both map to '" + name +
                    "'");
    Shape expected = target->second.shape();
    if (transposed) std::swap(expected[0], expected[1]);
    const Shape shape = io::shape_of(stored);
    if (shape != expected)
      throw IOError(context + ": tensor '" + stored_key + "' has shape " + to_string(shape) + " but the GPT(" +
                    gpt.describe() + ") needs " + to_string(expected) + (transposed ? " ([in, out], Conv1D)" : "") +
                    " for its '" + name + "'");
    Tensor<T> values = io::to_floating<T>(stored, context + ": tensor '" + stored_key + "'");
    if (transposed) values = values.t().contiguous();
    state.emplace(name, values.to(target->second.device()));
    source_key.emplace(name, stored_key);
  }
  for (const auto& [name, tensor] : targets)
    if (!state.count(name))
      throw IOError(context + ": no tensor for the GPT's '" + name + "' of shape " + to_string(tensor.shape()) +
                    " (GPT-2 names it after Hugging Face's layout, e.g. h.0.attn.c_attn.weight)");
  gpt.load_state_dict(state);
}

}  // namespace nabla::nn

namespace nabla {
using nn::load_gpt2_safetensors;
}  // namespace nabla
