// nabla/autograd/graph_export.hpp - drawing the graph that backward() will walk.
//
// to_mermaid(output) and to_dot(output) print the live graph below `output`: one node per
// tensor that requires grad (the same tensors the engine visits), labelled with the op
// that made it ("mul [2,3]") or, for a leaf, its name() ("w [3,1]", "leaf [3,1]" when it
// has none). Edges point from each input to the output it feeds: the direction data flows
// in the forward pass. backward() walks the same edges in reverse, from the output down.
//
// Ids are deterministic: t0 is `output`, the others are numbered in breadth-first
// discovery order (a Node's inputs in their recorded order), so a small graph always
// prints the same text. A tensor used twice by one op (x * x) gets two edges. A graph that
// backward() already freed (without retain_graph) still prints: its ops are marked
// "(freed)" and, having dropped their inputs, show no edges below them.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/autograd/node.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla {

namespace graph_export_detail {

/// The graph as plain data: labels[i] is the label of tensor t<i>; an edge is (input, output).
struct GraphListing {
  std::vector<std::string> labels;
  std::vector<std::pair<std::size_t, std::size_t>> edges;
};

template <typename T>
std::string label_of(const Tensor<T>& tensor) {
  const std::string shape = " " + to_string(tensor.shape());
  const auto& node = tensor.grad_fn();
  if (!node) return (tensor.name().empty() ? std::string("leaf") : tensor.name()) + shape;
  // A named intermediate result shows its name as well as the op that made it.
  std::string label = tensor.name().empty() ? node->name() : tensor.name() + " = " + node->name();
  label += shape;
  if (node->released()) label += " (freed)";
  return label;
}

/// Breadth-first walk with an explicit queue (no recursion: a chain of 100,000 ops is fine).
template <typename T>
GraphListing list_graph(const std::string& caller, const Tensor<T>& output) {
  if (!output.defined()) throw ValueError(caller + ": the output tensor is undefined");
  GraphListing listing;
  std::unordered_map<const TensorImpl<T>*, std::size_t> ids{{output.impl().get(), 0}};
  std::vector<Tensor<T>> queue{output};  // queue[i] is tensor t<i>
  for (std::size_t current = 0; current < queue.size(); ++current) {
    const Tensor<T> tensor = queue[current];  // a copy: push_back below may reallocate `queue`
    listing.labels.push_back(label_of(tensor));
    const auto& node = tensor.grad_fn();
    if (!node) continue;
    for (const Tensor<T>& input : node->inputs()) {
      if (!input.defined() || !input.requires_grad()) continue;  // the engine skips these too
      auto [found, inserted] = ids.try_emplace(input.impl().get(), queue.size());
      if (inserted) queue.push_back(input);
      listing.edges.emplace_back(found->second, current);
    }
  }
  return listing;
}

/// Mermaid reads `"` inside a quoted label as the end of the label; it spells it #quot;.
inline std::string mermaid_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) escaped += c == '"' ? std::string("#quot;") : std::string(1, c);
  return escaped;
}

/// DOT string literals escape `"` and `\` with a backslash.
inline std::string dot_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

}  // namespace graph_export_detail

/// The graph below `output` as a Mermaid flowchart (paste it into a ```mermaid block).
/// Drawn bottom to top: leaves at the bottom, `output` (t0) at the top.
template <typename T>
std::string to_mermaid(const Tensor<T>& output) {
  const auto listing = graph_export_detail::list_graph("to_mermaid", output);
  std::string text = "flowchart BT\n";
  for (std::size_t i = 0; i < listing.labels.size(); ++i)
    text += "  t" + std::to_string(i) + "[\"" + graph_export_detail::mermaid_escape(listing.labels[i]) + "\"]\n";
  // input --> output: the forward data flow (backward() follows these arrows in reverse).
  for (const auto& [input, consumer] : listing.edges)
    text += "  t" + std::to_string(input) + " --> t" + std::to_string(consumer) + "\n";
  return text;
}

/// The graph below `output` in Graphviz DOT (render with `dot -Tsvg graph.dot > graph.svg`).
template <typename T>
std::string to_dot(const Tensor<T>& output) {
  const auto listing = graph_export_detail::list_graph("to_dot", output);
  std::string text = "digraph nabla {\n  rankdir=BT;\n  node [shape=box];\n";
  for (std::size_t i = 0; i < listing.labels.size(); ++i)
    text += "  t" + std::to_string(i) + " [label=\"" + graph_export_detail::dot_escape(listing.labels[i]) + "\"];\n";
  // input -> output: the forward data flow (backward() follows these arrows in reverse).
  for (const auto& [input, consumer] : listing.edges)
    text += "  t" + std::to_string(input) + " -> t" + std::to_string(consumer) + ";\n";
  return text + "}\n";
}

}  // namespace nabla
