// nabla/nn/module.hpp - Module: the base of every layer and model.
//
// A Module owns named parameters (tensors that require grad) and named child modules.
// parameters() and named_parameters() walk the tree recursively in registration order,
// with dotted names ("0.weight", "lstm.weight_hh_l0") like PyTorch, so that state dicts
// line up with PyTorch's and an optimizer sees every parameter exactly once.
//
// Freezing (transfer learning): module.requires_grad_(false) (Keras: set_trainable(false))
// marks every parameter of the sub-tree as not requiring a gradient. backward() then records
// no graph through it beyond what its inputs need and gives it no gradient, and optimizers
// skip it (no update, no moment update); requires_grad_(true) unfreezes it. docs/transfer_learning.md.
#pragma once

#include <cstdint>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/views.hpp"  // Tensor::clone() for state_dict()

namespace nabla::nn {

template <FloatingElement T>
class Module {
 public:
  using Parameters = std::vector<Tensor<T>>;
  using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

  Module() = default;
  // Not copyable (a copy would share the parameters' storage, a surprise), but movable: a
  // model can be returned from a function or kept in a std::vector. Parameters, buffers and
  // children are handles (Tensor, shared_ptr) held by value, and nothing stores a pointer to
  // the Module itself, so the moved-to module owns the very same tensors and nothing dangles.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;
  virtual ~Module() = default;

  /// The layer's computation. Layers with more inputs or outputs (LSTM) add overloads.
  virtual Tensor<T> forward(const Tensor<T>& input) = 0;
  Tensor<T> operator()(const Tensor<T>& input) { return forward(input); }

  /// The layer's type as shown by summary(), e.g. "Dense".
  virtual std::string type_name() const = 0;

  /// Trainable tensors of this module and all its descendants.
  Parameters parameters() const {
    Parameters result;
    for (auto& [name, tensor] : named_parameters()) result.push_back(tensor);
    return result;
  }

  /// Parameters with their dotted path, children after this module's own.
  NamedTensors named_parameters() const {
    NamedTensors result;
    collect("", result, /*buffers=*/false);
    return result;
  }

  /// Non-trainable state saved with the model (e.g. running statistics).
  NamedTensors named_buffers() const {
    NamedTensors result;
    collect("", result, /*buffers=*/true);
    return result;
  }

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  /// Total number of parameter scalars, frozen or not.
  std::int64_t parameter_count() const {
    std::int64_t count = 0;
    for (const auto& tensor : parameters()) count += tensor.numel();
    return count;
  }

  /// Scalars in parameters that train (requires_grad) and in frozen ones: Keras's
  /// "Trainable params" and "Non-trainable params".
  std::int64_t trainable_parameter_count() const {
    std::int64_t count = 0;
    for (const auto& tensor : parameters())
      if (tensor.requires_grad()) count += tensor.numel();
    return count;
  }
  std::int64_t non_trainable_parameter_count() const { return parameter_count() - trainable_parameter_count(); }

  /// Freezes (enabled = false) or unfreezes every parameter of this module and its
  /// descendants, like PyTorch's module.requires_grad_(False). Freezing also drops the
  /// gradients the parameters had, so nothing stale is left to apply.
  Module& requires_grad_(bool enabled = true) {
    for (auto& [name, tensor] : named_parameters()) {
      tensor.requires_grad_(enabled);
      if (!enabled) tensor.impl()->grad.reset();
    }
    return *this;
  }
  /// Keras's spelling of requires_grad_: layer.set_trainable(false) is layer.trainable = False.
  Module& set_trainable(bool trainable) { return requires_grad_(trainable); }
  /// Whether any parameter of the sub-tree trains (Keras's layer.trainable); true for a
  /// module without parameters, as in Keras.
  bool trainable() const {
    const Parameters all = parameters();
    if (all.empty()) return true;
    for (const auto& tensor : all)
      if (tensor.requires_grad()) return true;
    return false;
  }

  /// Training mode (dropout active) or evaluation mode, for this module and its children.
  virtual void train(bool enabled = true) {
    training_ = enabled;
    for (auto& [name, child] : children_) child->train(enabled);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Clears the gradients of every parameter: zeros in their buffers, or none with
  /// {.set_to_none = true} (ZeroGradOptions says which is the default and why).
  void zero_grad(ZeroGradOptions options = {}) {
    for (auto& tensor : parameters()) tensor.zero_grad(options);
  }

  /// Copies of all parameters and buffers by dotted name.
  std::map<std::string, Tensor<T>> state_dict() const {
    std::map<std::string, Tensor<T>> state;
    for (const auto& [name, tensor] : named_parameters()) state.emplace(name, tensor.detach().clone());
    for (const auto& [name, tensor] : named_buffers()) state.emplace(name, tensor.detach().clone());
    return state;
  }

  /// What load_state_dict() did not match (PyTorch's missing_keys / unexpected_keys).
  struct LoadResult {
    std::vector<std::string> missing_keys;     // the module's names the state dict lacks
    std::vector<std::string> unexpected_keys;  // the state dict's names the module lacks
  };

  /// Loads values by name into the existing tensors. Every shape must agree (else a
  /// ShapeError, before anything is copied). strict: every name must match on both sides,
  /// else a ValueError naming the first missing or unexpected entry; with strict=false the
  /// unmatched names are skipped and returned.
  LoadResult load_state_dict(const std::map<std::string, Tensor<T>>& state, bool strict = true) {
    NamedTensors targets = named_parameters();
    for (auto& entry : named_buffers()) targets.push_back(entry);
    LoadResult result;
    std::map<std::string, bool> known;  // the module's names
    for (auto& [name, target] : targets) {
      known.emplace(name, true);
      auto found = state.find(name);
      if (found == state.end()) {
        if (strict) throw ValueError("load_state_dict: missing entry '" + name + "' for " + type_name());
        result.missing_keys.push_back(name);
        continue;
      }
      if (found->second.shape() != target.shape())
        throw ShapeError("load_state_dict: '" + name + "' has shape " + to_string(found->second.shape()) +
                         " in the state dict but " + to_string(target.shape()) + " in the " + type_name() + " model");
    }
    for (const auto& [name, tensor] : state) {
      if (known.count(name)) continue;
      if (strict) throw ValueError("load_state_dict: unexpected entry '" + name + "' for " + type_name());
      result.unexpected_keys.push_back(name);
    }
    NoGradGuard no_grad;
    for (auto& [name, target] : targets) {
      auto found = state.find(name);
      if (found != state.end()) target.copy_(found->second);
    }
    return result;
  }

  /// Moves every parameter and buffer (and any gradient) to `device` in place, like PyTorch's
  /// module.to(device): the layers keep their tensors, whose storage now lives on `device`.
  /// Create the optimizer after this call, so its state is made on the same device.
  Module& to(Device device) {
    NamedTensors targets = named_parameters();
    for (auto& entry : named_buffers()) targets.push_back(entry);
    for (auto& [name, tensor] : targets) move_in_place(tensor, device);
    return *this;
  }

  /// One line of configuration for summary(), e.g. "13 -> 32" (optional).
  virtual std::string describe() const { return ""; }

  /// The random generator this module draws from instead of the global one, when it has its
  /// own (a Dropout built with a seed); null otherwise. It is state like a buffer: checkpoints
  /// and model files save and restore it (io::add_module_state, io::load_module_generators),
  /// so that a resumed run draws the same masks as an uninterrupted one.
  virtual Generator* own_generator() { return nullptr; }

  /// Every own generator of this module and its children, by dotted module path ("" for this
  /// module itself, "2" for the third layer of a Sequential, "block.drop", ...).
  std::vector<std::pair<std::string, Generator*>> named_generators() {
    std::vector<std::pair<std::string, Generator*>> result;
    collect_generators("", result);
    return result;
  }
  /// Copies of the same generators (their seed and offset), for saving from a const module.
  std::vector<std::pair<std::string, Generator>> generator_states() const {
    std::vector<std::pair<std::string, Generator>> result;
    for (const auto& [path, generator] : const_cast<Module*>(this)->named_generators())
      result.emplace_back(path, *generator);
    return result;
  }

 protected:
  /// Registers a trainable tensor (marks it requires_grad) under `name`.
  Tensor<T> register_parameter(const std::string& name, Tensor<T> tensor) {
    tensor.requires_grad_(true);
    tensor.set_name(name);
    parameters_.emplace_back(name, tensor);
    return tensor;
  }

  /// Registers non-trainable state saved in state_dict().
  Tensor<T> register_buffer(const std::string& name, Tensor<T> tensor) {
    buffers_.emplace_back(name, tensor);
    return tensor;
  }

  /// Registers a child module under `name`; its parameters appear as "name.<param>".
  template <typename Child>
  std::shared_ptr<Child> register_module(const std::string& name, std::shared_ptr<Child> child) {
    children_.emplace_back(name, child);
    return child;
  }

 private:
  // Every handle to the tensor shares its impl, so swapping the impl's storage moves them all.
  // (to() returns the tensor itself when it is on `device` already, so that case reassigns the
  // same storage: no device test needed here.)
  static void move_in_place(Tensor<T>& tensor, Device device) {
    const auto& impl = tensor.impl();
    const Tensor<T> moved = tensor.detach().to(device);
    impl->storage = moved.storage();
    impl->strides = moved.strides();
    impl->offset = moved.offset();
    if (impl->grad) {
      const Tensor<T> grad = Tensor<T>(impl->grad).detach().to(device);
      if (grad.storage() != impl->grad->storage) impl->grad = grad.impl();  // keep the same grad when it stayed
    }
  }

  void collect_generators(const std::string& path, std::vector<std::pair<std::string, Generator*>>& result) {
    if (Generator* generator = own_generator()) result.emplace_back(path, generator);
    for (const auto& [name, child] : children_)
      child->collect_generators(path.empty() ? name : path + "." + name, result);
  }

  void collect(const std::string& prefix, NamedTensors& result, bool buffers) const {
    for (const auto& [name, tensor] : buffers ? buffers_ : parameters_) result.emplace_back(prefix + name, tensor);
    for (const auto& [name, child] : children_) child->collect(prefix + name + ".", result, buffers);
  }

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace nabla::nn
