// nabla/autograd/function.hpp - how an op joins the graph.
//
// After computing its output, a differentiable op calls record_op(output, name, inputs,
// backward, saved). If grad mode is on and some input requires grad, the output gets a
// Node holding the inputs and the backward function; otherwise nothing is recorded.
// `saved` lists tensors the backward reads (inputs or outputs); modifying one in place
// before backward() is then reported instead of silently giving a wrong gradient.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/engine.hpp"
#include "nabla/autograd/grad_mode.hpp"
#include "nabla/autograd/node.hpp"
#include "nabla/autograd/profiler.hpp"

namespace nabla {

/// True when an op on these inputs must record a graph node.
template <typename T>
bool should_record(const std::vector<Tensor<T>>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& input : inputs)
    if (input.defined() && input.requires_grad()) return true;
  return false;
}

template <typename T>
void record_op(Tensor<T>& output, std::string name, std::vector<Tensor<T>> inputs,
               typename Node<T>::BackwardFunction backward, std::vector<Tensor<T>> saved = {}) {
  profiler::detail::op_recorded(name);  // the op's forward ends here (autograd/profiler.hpp)
  if constexpr (FloatingElement<T>) {
    if (is_anomaly_enabled() && !autograd_detail::all_finite(output))
      throw ValueError("anomaly detected: '" + name + "' produced NaN or Inf in its output of shape " +
                       to_string(output.shape()));
  }
  if (!should_record(inputs)) return;
  output.impl()->grad_fn =
      std::make_shared<Node<T>>(std::move(name), std::move(inputs), std::move(backward), std::move(saved));
  output.impl()->requires_grad = true;
}

}  // namespace nabla
