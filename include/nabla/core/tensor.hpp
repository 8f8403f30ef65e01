// nabla/core/tensor.hpp - Tensor<T>, a cheap handle to a strided view of shared storage.
//
// A Tensor is a shared pointer to a TensorImpl: copying a Tensor shares both the data and
// the autograd metadata (like a Python reference to a torch.Tensor). clone() copies data.
//
// Member functions that are operations (reshape, transpose, backward, +=, ...) are only
// declared here; they are defined in the layers that implement them (ops/, autograd/) and
// become available by including <nabla/nabla.hpp>. This keeps core/ free of any op code.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/shape.hpp"
#include "nabla/core/storage.hpp"

namespace nabla {

template <typename T>
class Node;  // autograd/node.hpp: the backward function that produced a tensor

template <typename T>
class Tensor;

/// The state a Tensor handle points to. Views share `storage` with different shape/strides/offset.
template <typename T>
struct TensorImpl {
  std::shared_ptr<Storage<T>> storage;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;

  // Autograd metadata.
  bool requires_grad = false;           // leaf: set by the user; non-leaf: some input needs grad
  bool retains_grad = false;            // keep .grad on a non-leaf too (for inspection)
  std::shared_ptr<TensorImpl<T>> grad;  // accumulated dLoss/dThis after backward()
  std::shared_ptr<Node<T>> grad_fn;     // the op that made this tensor; null for leaves
  std::string name;                     // optional label used by graph export
};

/// Element types a Tensor can hold: float and double (differentiable) and int64 (indices).
template <typename T>
concept TensorElement = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t>;

/// Element types that support math and autograd.
template <typename T>
concept FloatingElement = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// How zero_grad() clears a gradient. set_to_none drops it (grad() is undefined until the next
/// backward(), which then hands its first gradient over instead of adding it to zeros: no fill
/// and no add per parameter and step; optimizers skip a parameter without one, like PyTorch's
/// zero_grad(set_to_none=True), its default since 2.0). The default here keeps the buffer and
/// fills it with zeros, so code that reads grad() right after zero_grad() keeps working.
struct ZeroGradOptions {
  bool set_to_none = false;
};

template <typename T>
class Tensor {
  static_assert(TensorElement<T>, "nabla::Tensor<T> supports T = float, double (and int64 for indices)");

 public:
  using value_type = T;

  /// An undefined tensor (like a null pointer); most operations reject it.
  Tensor() = default;

  /// A new contiguous tensor of `shape` with uninitialized values, on the CPU.
  explicit Tensor(const Shape& shape) {
    check_valid_shape("Tensor", shape);
    impl_ = std::make_shared<TensorImpl<T>>();
    impl_->storage = std::make_shared<Storage<T>>(static_cast<std::size_t>(numel_of(shape)));
    impl_->shape = shape;
    impl_->strides = contiguous_strides(shape);
  }

  /// A view of existing storage.
  Tensor(std::shared_ptr<Storage<T>> storage, Shape shape, Strides strides, std::int64_t offset) {
    impl_ = std::make_shared<TensorImpl<T>>();
    impl_->storage = std::move(storage);
    impl_->shape = std::move(shape);
    impl_->strides = std::move(strides);
    impl_->offset = offset;
  }

  explicit Tensor(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked_impl().shape; }
  const Strides& strides() const { return checked_impl().strides; }
  std::int64_t offset() const { return checked_impl().offset; }
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const { return numel_of(shape()); }
  /// Size of dimension `d`; negative d counts from the end.
  std::int64_t size(std::int64_t d) const { return shape()[normalize_dim("size", d, dim())]; }
  Device device() const { return checked_impl().storage->device(); }
  bool is_contiguous() const {
    const auto& impl = checked_impl();
    std::int64_t expected = 1;
    for (std::size_t d = impl.shape.size(); d-- > 0;) {
      if (impl.shape[d] != 1 && impl.strides[d] != expected) return false;
      expected *= impl.shape[d];
    }
    return true;
  }

  /// Pointer to the first element (honours the view's offset). CPU tensors only.
  T* data() {
    require_cpu("data");
    return checked_impl().storage->data() + checked_impl().offset;
  }
  const T* data() const {
    require_cpu("data");
    return checked_impl().storage->data() + checked_impl().offset;
  }
  const std::shared_ptr<Storage<T>>& storage() const { return checked_impl().storage; }
  const std::shared_ptr<TensorImpl<T>>& impl() const { return impl_; }
  /// True when both handles point to the same tensor (not just equal values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // ---- element access -------------------------------------------------------------------
  /// The value of a one-element tensor.
  T item() const {
    require_cpu("item");  // first: on a GPU the answer is "copy it to the CPU", whatever the size
    if (numel() != 1)
      throw ValueError("item: tensor of shape " + to_string(shape()) + " has " + std::to_string(numel()) +
                       " elements, item() needs exactly one");
    return *data();
  }

  /// The element at `indices` (one per dimension, negative counts from the end), bounds-checked.
  T at(std::initializer_list<std::int64_t> indices) const { return *element_pointer("at", indices); }
  T at(const std::vector<std::int64_t>& indices) const { return *element_pointer("at", indices); }
  /// Writes one element (bounds-checked); counts as an in-place modification.
  void set(const std::vector<std::int64_t>& indices, T value) {
    T* element = const_cast<T*>(element_pointer("set", indices));
    *element = value;
    storage()->bump_version();
  }

  /// All elements in row-major order (copies; works for any view).
  std::vector<T> to_vector() const {
    require_cpu("to_vector");
    std::vector<T> values;
    values.reserve(static_cast<std::size_t>(numel()));
    const auto& impl = checked_impl();
    const T* base = impl.storage->data() + impl.offset;
    if (is_contiguous()) return std::vector<T>(base, base + numel());
    std::vector<std::int64_t> index(impl.shape.size(), 0);
    for (std::int64_t i = 0; i < numel(); ++i) {
      std::int64_t position = 0;
      for (std::size_t d = 0; d < index.size(); ++d) position += index[d] * impl.strides[d];
      values.push_back(base[position]);
      for (std::size_t d = index.size(); d-- > 0;) {
        if (++index[d] < impl.shape[d]) break;
        index[d] = 0;
      }
    }
    return values;
  }

  // ---- autograd (defined in autograd/engine.hpp) ----------------------------------------
  bool requires_grad() const { return checked_impl().requires_grad; }
  /// Marks a leaf tensor as a parameter whose gradient backward() should compute.
  Tensor& requires_grad_(bool enabled = true);
  /// dLoss/dThis accumulated by backward(); undefined until a backward pass reached it.
  Tensor grad() const {
    const auto& impl = checked_impl();
    return impl.grad ? Tensor(impl.grad) : Tensor();
  }
  /// Sets the gradient to zero (keeps its buffer), or drops it with {.set_to_none = true}.
  void zero_grad(ZeroGradOptions options = {});
  /// A leaf is a tensor created by the user rather than by a differentiable op.
  bool is_leaf() const { return checked_impl().grad_fn == nullptr; }
  const std::shared_ptr<Node<T>>& grad_fn() const { return checked_impl().grad_fn; }
  /// Keep the gradient of this non-leaf tensor after backward() (for inspection).
  Tensor& retain_grad() {
    checked_impl().retains_grad = true;
    return *this;
  }
  /// Backpropagates from a one-element tensor (dLoss/dLoss = 1).
  void backward(bool retain_graph = false) const;
  /// Backpropagates with an explicit gradient of the same shape as this tensor.
  void backward(const Tensor& grad_output, bool retain_graph = false) const;
  /// Shares storage but is cut from the graph: no gradient flows through it.
  Tensor detach() const {
    const auto& impl = checked_impl();
    Tensor result(impl.storage, impl.shape, impl.strides, impl.offset);
    result.impl_->name = impl.name;
    return result;
  }
  /// A label shown by graph export (to_mermaid, to_dot).
  Tensor& set_name(std::string name) {
    checked_impl().name = std::move(name);
    return *this;
  }
  const std::string& name() const { return checked_impl().name; }

  // ---- operations with member syntax (defined in ops/) ----------------------------------
  Tensor clone() const;
  Tensor contiguous() const;
  Tensor reshape(const Shape& new_shape) const;
  Tensor view(const Shape& new_shape) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor t() const;
  Tensor permute(const std::vector<std::int64_t>& order) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor to(Device device) const;
  /// All elements in row-major order on the host, from any device (a GPU tensor is copied to
  /// the CPU first): what to_vector() is for tensors that may live on a GPU.
  std::vector<T> to_host_vector() const;

  Tensor& operator+=(const Tensor& other);
  Tensor& operator-=(const Tensor& other);
  Tensor& operator*=(const Tensor& other);
  Tensor& operator/=(const Tensor& other);
  Tensor& operator+=(T scalar);
  Tensor& operator-=(T scalar);
  Tensor& operator*=(T scalar);
  Tensor& operator/=(T scalar);
  /// Sets every element to `value` in place.
  Tensor& fill_(T value);
  /// Copies `source` (broadcast to this shape) into this tensor in place.
  Tensor& copy_(const Tensor& source);

 private:
  TensorImpl<T>& checked_impl() const {
    if (!impl_)
      throw ValueError(
          "Tensor: operation on an undefined tensor (a default-constructed Tensor, or a grad() "
          "that backward() has not produced yet)");
    return *impl_;
  }
  void require_cpu(const char* op) const {
    if (!device().is_cpu())
      throw DeviceError(std::string(op) + ": tensor is on " + device().str() +
                        "; copy it to the CPU first with .to(nabla::Device::cpu())");
  }
  template <typename Indices>
  const T* element_pointer(const char* op, const Indices& indices) const {
    require_cpu(op);
    const auto& impl = checked_impl();
    if (static_cast<std::int64_t>(indices.size()) != dim())
      throw ValueError(std::string(op) + ": got " + std::to_string(indices.size()) + " indices for a tensor of shape " +
                       to_string(impl.shape));
    std::int64_t position = impl.offset;
    std::size_t d = 0;
    for (std::int64_t index : indices) {
      const std::int64_t size = impl.shape[d];
      const std::int64_t wrapped = index < 0 ? index + size : index;
      if (wrapped < 0 || wrapped >= size)
        throw ValueError(std::string(op) + ": index " + std::to_string(index) + " is out of range for dimension " +
                         std::to_string(d) + " of size " + std::to_string(size) + " (shape " + to_string(impl.shape) +
                         ")");
      position += wrapped * impl.strides[d];
      ++d;
    }
    return impl.storage->data() + position;
  }

  std::shared_ptr<TensorImpl<T>> impl_;
};

/// Index tensors (argmax results, token ids, class labels).
using IndexTensor = Tensor<std::int64_t>;

}  // namespace nabla
