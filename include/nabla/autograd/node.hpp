// nabla/autograd/node.hpp - one recorded operation of the graph (PyTorch's grad_fn).
//
// A Node remembers the op's inputs and a backward function that, given dLoss/dOutput,
// returns dLoss/dInput for every input. The backward function receives the inputs as an
// argument instead of capturing them, so that the graph has one owner chain
// (output -> node -> inputs) that release() can cut and ~Node can free without recursion.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/core/tensor.hpp"

namespace nabla {

template <typename T>
class Node {
 public:
  /// (dLoss/dOutput, inputs) -> dLoss/dInput_i, one per input (undefined where not needed).
  /// A gradient may have the output's broadcast shape; the engine sums it down to the input's.
  using BackwardFunction = std::function<std::vector<Tensor<T>>(const Tensor<T>&, const std::vector<Tensor<T>>&)>;

  Node(std::string name, std::vector<Tensor<T>> inputs, BackwardFunction backward, std::vector<Tensor<T>> saved)
      : name_(std::move(name)), inputs_(std::move(inputs)), backward_(std::move(backward)) {
    for (auto& tensor : saved) saved_.push_back({tensor.storage(), tensor.storage()->version()});
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Frees a long chain of nodes iteratively: a recursive destructor would overflow the stack
  // on a graph of 100,000 ops.
  ~Node() {
    std::vector<std::shared_ptr<Node>> pending;
    auto detach_inputs = [&pending](std::vector<Tensor<T>>& inputs) {
      for (auto& input : inputs) {
        const auto& impl = input.impl();
        if (impl && impl.use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1)
          pending.push_back(std::move(impl->grad_fn));
        // Drop each reference right away: a tensor listed twice (y * y) is then seen as
        // unshared at its last listing, instead of being freed recursively by clear().
        input = Tensor<T>();
      }
      inputs.clear();
    };
    detach_inputs(inputs_);
    while (!pending.empty()) {
      std::shared_ptr<Node> node = std::move(pending.back());
      pending.pop_back();
      detach_inputs(node->inputs_);
    }
  }

  const std::string& name() const { return name_; }
  const std::vector<Tensor<T>>& inputs() const { return inputs_; }
  bool released() const { return released_; }

  /// Runs the backward function; throws if the graph was freed or a saved tensor changed.
  std::vector<Tensor<T>> apply(const Tensor<T>& grad_output) {
    if (released_)
      throw ValueError("backward: trying to backward through the graph of '" + name_ +
                       "' a second time; its saved tensors were freed after the first backward(). "
                       "Pass retain_graph=true to the first backward() to keep them.");
    for (const auto& [storage, version] : saved_)
      if (storage->version() != version)
        throw ValueError("backward: a tensor saved by '" + name_ +
                         "' for its backward was modified in place after the forward pass (version " +
                         std::to_string(version) + " -> " + std::to_string(storage->version()) +
                         "); use an out-of-place op or clone() it first");
    return backward_(grad_output, inputs_);
  }

  /// Drops the inputs and saved tensors (after a backward without retain_graph).
  void release() {
    released_ = true;
    backward_ = nullptr;
    saved_.clear();
    std::vector<Tensor<T>> inputs = std::move(inputs_);
    inputs_.clear();
    // Let ~Node's iterative teardown handle any chain that only these inputs kept alive.
    Node sink(name_, std::move(inputs), nullptr, {});
  }

 private:
  std::string name_;
  std::vector<Tensor<T>> inputs_;
  BackwardFunction backward_;
  std::vector<std::pair<std::shared_ptr<Storage<T>>, std::uint64_t>> saved_;
  bool released_ = false;
};

}  // namespace nabla
