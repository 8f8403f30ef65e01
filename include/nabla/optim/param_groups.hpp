// nabla/optim/param_groups.hpp - the usual split of a model's parameters into optimizer groups.
//
// weight_decay_groups(model, 0.1) gives the GPT convention (nanoGPT, Hugging Face):
//   group 0: weight matrices (dim >= 2) outside embeddings    weight_decay = 0.1
//   group 1: biases, LayerNorm weights and biases, embeddings  weight_decay = 0
// Decaying a bias or a LayerNorm gain only pulls it towards 0 (no regularising effect on the
// function's complexity), and decaying an embedding shrinks the vectors of rare tokens, which
// get few gradient updates to push back. Use it as
//   nb::optim::AdamW<float> opt(nb::optim::weight_decay_groups(model, 0.1), {.lr = 3e-4});
#pragma once

#include <set>
#include <string>
#include <vector>

#include "nabla/nn/module.hpp"
#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

namespace detail {
/// The tensors owned by embedding layers anywhere under `module` (a module whose type name
/// contains "Embedding": nn::Embedding and positional embeddings alike).
template <FloatingElement T>
void collect_embedding_tensors(const nn::Module<T>& module, std::set<const TensorImpl<T>*>& tensors) {
  if (module.type_name().find("Embedding") != std::string::npos) {
    for (const auto& parameter : module.parameters()) tensors.insert(parameter.impl().get());
    return;
  }
  for (const auto& [name, child] : module.children()) collect_embedding_tensors(*child, tensors);
}
}  // namespace detail

/// Two groups over every parameter of `module` (frozen ones included: the optimizer skips them
/// while they are frozen): matrices and higher (dim >= 2) that are not embeddings decay by
/// `weight_decay`; vectors (biases, LayerNorm) and embeddings do not. A tensor tied between
/// an embedding and another layer (a GPT's LM head) counts as an embedding. Either group may
/// be empty; the optimizer accepts that.
template <FloatingElement T>
std::vector<ParamGroup<T>> weight_decay_groups(const nn::Module<T>& module, double weight_decay) {
  if (!(weight_decay >= 0))
    throw ValueError("weight_decay_groups: weight_decay must be >= 0, got " + std::to_string(weight_decay));
  std::set<const TensorImpl<T>*> embeddings, seen;
  detail::collect_embedding_tensors(module, embeddings);
  ParamGroup<T> decay{{}, std::nullopt, weight_decay}, no_decay{{}, std::nullopt, 0.0};
  for (const auto& parameter : module.parameters()) {
    if (!seen.insert(parameter.impl().get()).second) continue;  // tied: listed once
    const bool is_embedding = embeddings.count(parameter.impl().get()) > 0;
    (parameter.dim() >= 2 && !is_embedding ? decay : no_decay).params.push_back(parameter);
  }
  return {decay, no_decay};
}

}  // namespace nabla::optim
