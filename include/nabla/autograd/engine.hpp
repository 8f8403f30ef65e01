// nabla/autograd/engine.hpp - the backward pass.
//
// backward() sorts the graph below the output topologically with an explicit stack (no
// recursion, so a chain of 100,000 ops is fine), then visits each tensor after every
// tensor that uses it: it hands the tensor's accumulated gradient to its Node, which
// returns the gradients of the Node's inputs, and those are summed into the inputs.
// Leaves that require grad receive their total in .grad(), added to what was there.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/autograd/hooks.hpp"
#include "nabla/autograd/node.hpp"
#include "nabla/autograd/profiler.hpp"
#include "nabla/backend/checks.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla {

namespace autograd_detail {

/// Sums a gradient of a broadcast shape back down to the shape of the tensor that was broadcast.
template <typename T>
Tensor<T> sum_to_shape(const Tensor<T>& gradient, const Shape& shape, const std::string& op) {
  if (gradient.shape() == shape) return gradient;
  const Shape& from = gradient.shape();
  if (from.size() < shape.size() || broadcast_shapes(op, from, shape) != from)
    throw ShapeError(op + " backward: gradient of shape " + to_string(from) + " does not match input shape " +
                     to_string(shape));
  const std::size_t lead = from.size() - shape.size();
  std::vector<bool> reduced(from.size());
  for (std::size_t d = 0; d < from.size(); ++d) reduced[d] = d < lead || (shape[d - lead] == 1 && from[d] != 1);
  Tensor<T> result = backend::empty<T>(shape, gradient.device());
  backend::sum(gradient, reduced, result);
  return result;
}

/// a + b into a new tensor (gradients may alias each other, so never accumulate in place).
template <typename T>
Tensor<T> add_gradients(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> sum = backend::empty<T>(a.shape(), a.device());
  backend::map(sum, backend::Add{}, a, b);
  return sum;
}

template <typename T>
bool all_finite(const Tensor<T>& tensor) {
  for (T value : tensor.to_host_vector())
    if (!std::isfinite(value)) return false;
  return true;
}

/// Whether `gradient` can become `leaf`'s .grad() as it is: nothing else holds the tensor or its
/// storage (the pending map let go of it), and it is a plain dense tensor of the leaf's shape (on
/// its device: run_backward checked every gradient's device on the way in). A gradient that a
/// node also passed to another input, the caller's root gradient or a view fails the test and is
/// copied.
template <typename T>
bool can_hand_over(const Tensor<T>& gradient, const TensorImpl<T>& leaf) {
  const auto& impl = gradient.impl();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->requires_grad && !impl->grad &&
         !impl->grad_fn && impl->offset == 0 && impl->shape == leaf.shape && gradient.is_contiguous();
}

template <typename T>
void run_backward(const Tensor<T>& root, const Tensor<T>& root_gradient, bool retain_graph) {
  using ImplPointer = std::shared_ptr<TensorImpl<T>>;
  if (!root.requires_grad())
    throw ValueError(
        "backward: the tensor does not require grad and has no grad_fn (no input of the "
        "computation called requires_grad_(), or it ran under NoGradGuard)");
  if (root_gradient.shape() != root.shape())
    throw ShapeError("backward: gradient of shape " + to_string(root_gradient.shape()) +
                     " does not match the output shape " + to_string(root.shape()));
  backend::require_same_device(root_gradient.device(), root.device(), [&] {
    return "backward: gradient on " + root_gradient.device().str() + " for an output on " + root.device().str();
  });

  // 1. Post-order depth-first walk: every tensor comes after all the tensors it was made from.
  // A node's non-leaf inputs are explored before its leaves, so that in the reverse order below
  // each leaf (a parameter) comes right after its last consumer instead of after the whole
  // subtree of a sibling input: addmm(bias, x, W^T)'s bias would otherwise wait for the rest of
  // backward. Its gradient, and a post-accumulate-grad hook (DistributedDataParallel's bucket
  // launch), are then ready as early as the graph allows. The order of the non-leaves, and so
  // every gradient's value, is unchanged.
  std::vector<ImplPointer> order;
  std::unordered_set<const TensorImpl<T>*> visited{root.impl().get()};
  std::vector<std::pair<ImplPointer, std::size_t>> stack{{root.impl(), 0}};
  while (!stack.empty()) {
    auto& [impl, next_input] = stack.back();
    const Node<T>* node = impl->grad_fn.get();
    if (node && node->released())
      throw ValueError("backward: trying to backward through the graph of '" + node->name() +
                       "' a second time; its saved tensors were freed after the first backward(). "
                       "Pass retain_graph=true to the first backward() to keep them.");
    if (node && next_input < 2 * node->inputs().size()) {
      const std::size_t count = node->inputs().size();
      const bool leaves_pass = next_input >= count;  // inputs 0..n-1 for non-leaves, then again for leaves
      const ImplPointer& input = node->inputs()[next_input++ % count].impl();
      if (input && input->requires_grad && (input->grad_fn == nullptr) == leaves_pass &&
          visited.insert(input.get()).second)
        stack.push_back({input, 0});
    } else {
      order.push_back(impl);
      stack.pop_back();
    }
  }

  // 2. Reverse post-order: each tensor's gradient is complete when it is visited.
  NoGradGuard no_grad;  // gradients are plain values; computing them records no graph
  std::unordered_map<const TensorImpl<T>*, Tensor<T>> pending;
  pending.emplace(root.impl().get(), root_gradient);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const ImplPointer& impl = *it;
    auto found = pending.find(impl.get());
    if (found == pending.end()) continue;
    Tensor<T> gradient = std::move(found->second);
    pending.erase(found);

    if (!impl->grad_fn || impl->retains_grad) {
      const profiler::detail::Region timed("AccumulateGrad");
      if (!impl->grad && !impl->grad_fn && can_hand_over(gradient, *impl)) {
        impl->grad = gradient.impl();  // nothing else can see it: no copy
      } else if (!impl->grad) {
        // Own buffer (`gradient` may be shared with other tensors), on the tensor's device.
        Tensor<T> copy = backend::empty<T>(impl->shape, impl->storage->device());
        backend::map(copy, backend::Identity{}, gradient);
        impl->grad = copy.impl();
      } else {
        Tensor<T> accumulated(impl->grad);
        backend::map(accumulated, backend::Add{}, accumulated, gradient);
      }
      if (!impl->grad_fn) {
        hooks_detail::run_post_accumulate_grad_hooks(impl);
        continue;
      }
    }

    Node<T>& node = *impl->grad_fn;
    const profiler::detail::Region timed(node.name(), " backward");
    std::vector<Tensor<T>> input_gradients = node.apply(gradient);
    const auto& inputs = node.inputs();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (i >= input_gradients.size() || !input_gradients[i].defined() || !inputs[i].requires_grad()) continue;
      backend::require_same_device(input_gradients[i].device(), inputs[i].device(), [&] {
        return "backward of '" + node.name() + "': gradient of input " + std::to_string(i) + " is on " +
               input_gradients[i].device().str() + " but the input is on " + inputs[i].device().str();
      });
      Tensor<T> input_gradient = sum_to_shape(input_gradients[i], inputs[i].shape(), node.name());
      if (is_anomaly_enabled() && !all_finite(input_gradient))
        throw ValueError("anomaly detected: the backward of '" + node.name() +
                         "' produced NaN or Inf in the gradient of input " + std::to_string(i));
      auto [slot, inserted] = pending.try_emplace(inputs[i].impl().get(), input_gradient);
      if (!inserted) slot->second = add_gradients(slot->second, input_gradient);
    }
    if (!retain_graph) node.release();
  }
}

}  // namespace autograd_detail

template <typename T>
Tensor<T>& Tensor<T>::requires_grad_(bool enabled) {
  if constexpr (!FloatingElement<T>) {
    throw ValueError("requires_grad_: only float and double tensors can require gradients");
  } else {
    if (!is_leaf())
      throw ValueError("requires_grad_: only leaf tensors (not results of ops) can be marked; use detach() first");
    checked_impl().requires_grad = enabled;
  }
  return *this;
}

template <typename T>
void Tensor<T>::zero_grad(ZeroGradOptions options) {
  auto& impl = checked_impl();
  if (!impl.grad) return;
  if (options.set_to_none) {
    impl.grad.reset();
    return;
  }
  Tensor<T> gradient(impl.grad);
  backend::map(gradient, backend::Fill<T>{T(0)});
}

template <typename T>
void Tensor<T>::backward(bool retain_graph) const {
  if (numel() != 1)
    throw ValueError("backward: called without a gradient on a tensor of shape " + to_string(shape()) +
                     "; only a one-element (scalar) output has an implicit gradient of 1. Pass the gradient.");
  Tensor<T> one = backend::empty<T>(shape(), device());
  backend::map(one, backend::Fill<T>{T(1)});
  autograd_detail::run_backward(*this, one, retain_graph);
}

template <typename T>
void Tensor<T>::backward(const Tensor<T>& grad_output, bool retain_graph) const {
  autograd_detail::run_backward(*this, grad_output, retain_graph);
}

}  // namespace nabla
