// nabla/autograd/hooks.hpp - hooks that run after backward() accumulated a leaf's gradient.
//
// PyTorch's Tensor.register_post_accumulate_grad_hook: the hook runs once per backward pass,
// right after the engine added the leaf's total gradient of that pass into .grad(), while the
// rest of the backward pass is still to come. DistributedDataParallel uses it to start a
// bucket's all-reduce as soon as the bucket's last gradient is final.
//
// The hooks live in a registry beside the tensors (keyed by the TensorImpl) instead of in
// TensorImpl itself, so that core/ stays free of autograd state; while no hook is registered
// the engine pays one relaxed atomic load per leaf, nothing else. Registering and removing
// hooks is thread-safe; a hook runs on the thread that called backward().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla {

/// Called with the leaf whose .grad() now holds its accumulated gradient.
template <typename T>
using PostAccumulateGradHook = std::function<void(Tensor<T>& leaf)>;

namespace hooks_detail {

template <typename T>
struct Registry {
  std::mutex mutex;
  std::atomic<std::size_t> count{0};
  std::uint64_t next_id = 1;
  std::unordered_map<const TensorImpl<T>*, std::vector<std::pair<std::uint64_t, PostAccumulateGradHook<T>>>> hooks;

  // Leaked on purpose: a handle in a static object may be destroyed after it would be.
  static Registry& instance() {
    static auto* registry = new Registry();
    return *registry;
  }
};

}  // namespace hooks_detail

/// Removes its hook when destroyed or reset (movable, not copyable), like torch's RemovableHandle.
/// The handle also keeps the tensor's state alive, so the registry's key never dangles.
template <typename T>
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::shared_ptr<TensorImpl<T>> impl, std::uint64_t id) : impl_(std::move(impl)), id_(id) {}
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  HookHandle(HookHandle&& other) noexcept : impl_(std::move(other.impl_)), id_(std::exchange(other.id_, 0)) {}
  HookHandle& operator=(HookHandle&& other) noexcept {
    if (this != &other) {
      remove();
      impl_ = std::move(other.impl_);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  ~HookHandle() { remove(); }

  void remove() noexcept {
    if (!impl_ || id_ == 0) return;
    auto& registry = hooks_detail::Registry<T>::instance();
    std::lock_guard<std::mutex> lock(registry.mutex);
    auto found = registry.hooks.find(impl_.get());
    if (found != registry.hooks.end()) {
      auto& list = found->second;
      for (auto it = list.begin(); it != list.end(); ++it)
        if (it->first == id_) {
          list.erase(it);
          registry.count.fetch_sub(1, std::memory_order_relaxed);
          break;
        }
      if (list.empty()) registry.hooks.erase(found);
    }
    id_ = 0;
    impl_.reset();
  }

 private:
  std::shared_ptr<TensorImpl<T>> impl_;
  std::uint64_t id_ = 0;
};

/// Registers `hook` on a leaf tensor that requires grad; it runs after each backward pass has
/// accumulated the leaf's gradient. Hooks of one tensor run in registration order.
template <typename T>
[[nodiscard]] HookHandle<T> register_post_accumulate_grad_hook(const Tensor<T>& leaf, PostAccumulateGradHook<T> hook) {
  if (!leaf.defined() || !leaf.is_leaf() || !leaf.requires_grad())
    throw ValueError("register_post_accumulate_grad_hook: the tensor must be a leaf that requires grad (a parameter)");
  if (!hook) throw ValueError("register_post_accumulate_grad_hook: empty hook");
  auto& registry = hooks_detail::Registry<T>::instance();
  std::lock_guard<std::mutex> lock(registry.mutex);
  const std::uint64_t id = registry.next_id++;
  registry.hooks[leaf.impl().get()].emplace_back(id, std::move(hook));
  registry.count.fetch_add(1, std::memory_order_relaxed);
  return HookHandle<T>(leaf.impl(), id);
}

namespace hooks_detail {

/// The engine's call after accumulating into a leaf: free while no hook is registered.
template <typename T>
void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl<T>>& impl) {
  auto& registry = Registry<T>::instance();
  if (registry.count.load(std::memory_order_relaxed) == 0) return;
  std::vector<PostAccumulateGradHook<T>> to_run;
  {
    std::lock_guard<std::mutex> lock(registry.mutex);
    auto found = registry.hooks.find(impl.get());
    if (found == registry.hooks.end()) return;
    for (const auto& entry : found->second) to_run.push_back(entry.second);
  }
  // Outside the lock: a hook may register or remove hooks.
  Tensor<T> leaf(impl);
  for (auto& hook : to_run) hook(leaf);
}

}  // namespace hooks_detail
}  // namespace nabla
