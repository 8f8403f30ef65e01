// nabla/distributed/data_parallel.hpp - DistributedDataParallel: the same model on every rank,
// each rank a different slice of the batch, gradients averaged during backward().
//
// The design of PyTorch's DDP (docs/source/notes/ddp.rst, c10d's Reducer), in small:
//   - construction broadcasts the parameters and buffers of rank 0, so every rank starts equal;
//   - the gradients are grouped into buckets in REVERSE registration order (backward produces
//     the last layer's gradients first), the first bucket capped at first_bucket_mb MiB (so the
//     first all-reduce starts early), the others at bucket_mb MiB;
//   - a post-accumulate-grad hook on each parameter (autograd/hooks.hpp) copies its gradient
//     into its bucket's flat buffer; when a bucket's last gradient is in, its asynchronous
//     all-reduce starts (MPI_Iallreduce, or NCCL on a side stream) while backward goes on with
//     the earlier layers. Buckets are launched strictly in bucket order, so that every rank
//     issues the same collectives in the same order (a bucket ready early waits for the ones
//     before it);
//   - when the last parameter's gradient is in, finish() runs (or call it yourself, e.g. when
//     some parameter got no gradient): it waits for every bucket and copies the averaged
//     gradients back into .grad(), before the optimizer's step;
//   - averaging: every rank's gradient is scaled by 1/world_size before the sum, or, after
//     set_local_batch_size(n), by n / (total n over the ranks) so that uneven batches give
//     the gradient of the mean over all samples (each rank's loss must be its local mean);
//   - no_sync(): a guard under which backward() only accumulates locally; the first backward
//     after it reduces the accumulated gradients (gradient accumulation over micro-batches).
// The optimizer then runs the same update on the same gradients on every rank, so parameters
// and optimizer state stay identical without ever being communicated again.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "nabla/autograd/hooks.hpp"
#include "nabla/backend/checks.hpp"
#include "nabla/backend/collective.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/distributed/process_group.hpp"
#include "nabla/nn/module.hpp"

namespace nabla::distributed {

struct DataParallelOptions {
  double bucket_mb = 25.0;        // cap of every bucket after the first, MiB (0: one bucket per parameter)
  double first_bucket_mb = 1.0;   // cap of the first bucket (the last layers' gradients), MiB
  bool broadcast_buffers = true;  // also give every rank rank 0's buffers at construction
};

/// Timestamps of the last synchronized step, in seconds of std::chrono::steady_clock (compare
/// with DistributedDataParallel<T>::now()).
struct StepTimeline {
  double first_gradient = 0;          // the first gradient hook of the step
  double last_gradient = 0;           // the last one (backward's gradients are all final)
  std::vector<double> bucket_launch;  // when each bucket's all-reduce was issued
  std::vector<double> bucket_done;    // when it was first seen complete (polled in hooks/finish)
  double finished = 0;                // finish() returned: gradients averaged in .grad()
};

template <FloatingElement T>
class DistributedDataParallel {
 public:
  /// Wraps `module` (kept by reference: it must outlive this object).
  explicit DistributedDataParallel(nn::Module<T>& module, DataParallelOptions options = {})
      : DistributedDataParallel(module.parameters(), buffers_of(module), options) {
    module_ = &module;
  }

  /// Over explicit parameters (in registration order) and buffers, for models that are not a Module.
  explicit DistributedDataParallel(std::vector<Tensor<T>> parameters, std::vector<Tensor<T>> buffers = {},
                                   DataParallelOptions options = {})
      : options_(options), comm_(&communicator()) {
    if (!(options.bucket_mb >= 0) || !(options.first_bucket_mb >= 0))
      throw ValueError("DistributedDataParallel: bucket_mb and first_bucket_mb must be >= 0, got " +
                       std::to_string(options.bucket_mb) + " and " + std::to_string(options.first_bucket_mb));
    std::unordered_set<const TensorImpl<T>*> seen;
    for (auto& parameter : parameters) {
      if (!parameter.defined() || !parameter.requires_grad() || !parameter.is_leaf())
        throw ValueError("DistributedDataParallel: every parameter must be a leaf tensor that requires grad");
      if (!parameter.is_contiguous())
        throw ValueError("DistributedDataParallel: parameter of shape " + to_string(parameter.shape()) +
                         " is not contiguous");
      if (seen.insert(parameter.impl().get()).second) parameters_.push_back(parameter);  // tied weights once
    }
    if (parameters_.empty()) throw ValueError("DistributedDataParallel: no parameters");
    // One device per replica (as in PyTorch): every bucket's flat buffer lives on it.
    for (const auto& parameter : parameters_)
      backend::require_same_device(parameter.device(), parameters_.front().device(), [&] {
        return "DistributedDataParallel: parameters on " + parameters_.front().device().str() + " and " +
               parameter.device().str() + "; move the whole model to one device first";
      });
    scale_ = T(1) / static_cast<T>(comm_->size);

    // Every rank starts from rank 0's values.
    for (auto& parameter : parameters_) {
      Tensor<T> data = parameter.detach();
      backend::broadcast(*comm_, data, 0);
    }
    if (options.broadcast_buffers)
      for (auto& buffer : buffers) {
        Tensor<T> data = buffer.detach();
        backend::broadcast(*comm_, data, 0);
      }

    build_buckets();
    for (std::size_t i = 0; i < parameters_.size(); ++i)
      hooks_.push_back(
          register_post_accumulate_grad_hook<T>(parameters_[i], [this, i](Tensor<T>&) { on_gradient(i); }));
  }

  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;
  DistributedDataParallel(DistributedDataParallel&&) = delete;  // the hooks hold `this`

  /// The wrapped module's forward.
  Tensor<T> operator()(const Tensor<T>& input) { return module().forward(input); }
  nn::Module<T>& module() {
    if (!module_) throw ValueError("DistributedDataParallel: built over a parameter list, there is no module");
    return *module_;
  }

  /// From now on each rank's gradient counts with weight n / (n summed over the ranks) instead of
  /// 1 / world_size: for batches of unequal size (the last one of an epoch), with each rank's
  /// loss the mean over its own n samples. Collective (a small all-reduce of the counts): call it
  /// on every rank, before backward(). n may be 0 on a rank with no samples left.
  void set_local_batch_size(std::int64_t samples) {
    if (samples < 0) throw ValueError("DistributedDataParallel::set_local_batch_size: negative count");
    std::vector<std::int64_t> counts{samples};
    backend::all_reduce_values(*comm_, counts, ReduceOp::sum, "DistributedDataParallel: sample count");
    if (counts[0] == 0) throw ValueError("DistributedDataParallel::set_local_batch_size: no samples on any rank");
    scale_ = static_cast<T>(samples) / static_cast<T>(counts[0]);
    global_batch_size_ = counts[0];
  }
  /// Back to 1 / world_size.
  void reset_batch_weighting() {
    scale_ = T(1) / static_cast<T>(comm_->size);
    global_batch_size_ = 0;
  }
  /// The summed batch size of the last set_local_batch_size (0 after reset).
  std::int64_t global_batch_size() const { return global_batch_size_; }

  /// While the guard lives, backward() accumulates gradients locally without communicating.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& owner) : owner_(&owner), previous_(owner.no_sync_) {
      owner.no_sync_ = true;
    }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    ~NoSyncGuard() { owner_->no_sync_ = previous_; }

   private:
    DistributedDataParallel* owner_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() {
    if (step_active_)
      throw ValueError("DistributedDataParallel::no_sync: a synchronized backward is in progress (call finish())");
    return NoSyncGuard(*this);
  }

  /// Waits for every bucket and writes the averaged gradients into .grad(). Runs by itself when
  /// the last parameter's gradient arrives; call it before the optimizer step when a parameter
  /// may get no gradient in a step (its bucket slot counts as zeros; it then gets a .grad()).
  /// Does nothing outside a step.
  void finish() {
    if (!step_active_) return;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      if (ready_[i]) continue;
      Tensor<T> slot = slot_of(i);
      backend::map(slot, backend::Fill<T>{T(0)});
      ready_[i] = true;
      --pending_[location_[i].bucket];
    }
    launch_ready_buckets();
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      works_[b].wait();
      if (timeline_.bucket_done[b] == 0) timeline_.bucket_done[b] = now();
    }
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      auto& impl = *parameters_[i].impl();
      if (!impl.grad) impl.grad = backend::empty<T>(impl.shape, parameters_[i].device()).impl();
      Tensor<T> gradient(impl.grad);
      backend::map(gradient, backend::Identity{}, slot_of(i));
      gradient.storage()->bump_version();
    }
    step_active_ = false;
    timeline_.finished = now();
    ++synchronized_steps_;
  }

  /// Buckets in launch order: the indices (into parameters()) of the parameters of each.
  std::vector<std::vector<std::size_t>> buckets() const {
    std::vector<std::vector<std::size_t>> result;
    for (const auto& bucket : buckets_) result.push_back(bucket.parameters);
    return result;
  }
  const std::vector<Tensor<T>>& parameters() const { return parameters_; }
  /// Bytes every rank all-reduces per synchronized step (the gradients, once).
  std::uint64_t bytes_per_step() const {
    std::uint64_t total = 0;
    for (const auto& parameter : parameters_) total += static_cast<std::uint64_t>(parameter.numel()) * sizeof(T);
    return total;
  }
  const StepTimeline& timeline() const { return timeline_; }
  std::int64_t synchronized_steps() const { return synchronized_steps_; }

  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

 private:
  struct Bucket {
    std::vector<std::size_t> parameters;
    std::int64_t elements = 0;
    Tensor<T> flat;
  };
  struct Location {
    std::size_t bucket = 0;
    std::int64_t offset = 0;
  };

  static std::vector<Tensor<T>> buffers_of(const nn::Module<T>& module) {
    std::vector<Tensor<T>> result;
    for (const auto& [name, tensor] : module.named_buffers()) result.push_back(tensor);
    return result;
  }

  void build_buckets() {
    constexpr double kMiB = 1024.0 * 1024.0;
    location_.resize(parameters_.size());
    for (std::size_t k = parameters_.size(); k-- > 0;) {
      const Tensor<T>& parameter = parameters_[k];
      bool open_new = buckets_.empty();
      if (!open_new) {
        const Bucket& current = buckets_.back();
        const double cap = (buckets_.size() == 1 ? options_.first_bucket_mb : options_.bucket_mb) * kMiB;
        const double bytes = static_cast<double>(current.elements + parameter.numel()) * sizeof(T);
        open_new = bytes > cap;
      }
      if (open_new) buckets_.push_back({});
      Bucket& bucket = buckets_.back();
      location_[k] = {buckets_.size() - 1, bucket.elements};
      bucket.parameters.push_back(k);
      bucket.elements += parameter.numel();
    }
    for (auto& bucket : buckets_)
      bucket.flat = backend::empty<T>({bucket.elements}, parameters_[bucket.parameters.front()].device());
    pending_.assign(buckets_.size(), 0);
    ready_.assign(parameters_.size(), false);
    works_.resize(buckets_.size());
  }

  /// Parameter i's place in its bucket's flat buffer, shaped like the parameter.
  Tensor<T> slot_of(std::size_t i) const {
    const Location& where = location_[i];
    const Tensor<T>& flat = buckets_[where.bucket].flat;
    const Shape& shape = parameters_[i].shape();
    return Tensor<T>(flat.storage(), shape, contiguous_strides(shape), flat.offset() + where.offset);
  }

  void begin_step() {
    step_active_ = true;
    std::fill(ready_.begin(), ready_.end(), false);
    for (std::size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].parameters.size();
    next_to_launch_ = 0;
    ready_count_ = 0;
    for (auto& work : works_) work = backend::AllReduceWork<T>();
    timeline_ = StepTimeline{};
    timeline_.bucket_launch.assign(buckets_.size(), 0);
    timeline_.bucket_done.assign(buckets_.size(), 0);
    timeline_.first_gradient = now();
  }

  void on_gradient(std::size_t i) {
    if (no_sync_) return;
    if (!step_active_) begin_step();
    if (ready_[i])
      throw ValueError(
          "DistributedDataParallel: parameter " + std::to_string(i) + " of shape " + to_string(parameters_[i].shape()) +
          " received a second gradient before its step finished (two backward() calls without finish(); use "
          "no_sync() for gradient accumulation)");
    Tensor<T> slot = slot_of(i);
    backend::map(slot, backend::MultiplyScalar<T>{scale_}, parameters_[i].grad());
    ready_[i] = true;
    ++ready_count_;
    if (--pending_[location_[i].bucket] == 0) launch_ready_buckets();
    // MPI progresses a nonblocking collective only inside MPI calls: poke the ones in flight.
    for (std::size_t b = 0; b < next_to_launch_; ++b)
      if (timeline_.bucket_done[b] == 0 && works_[b].test()) timeline_.bucket_done[b] = now();
    if (ready_count_ == parameters_.size()) {
      timeline_.last_gradient = now();
      finish();
    }
  }

  void launch_ready_buckets() {
    while (next_to_launch_ < buckets_.size() && pending_[next_to_launch_] == 0) {
      const std::size_t b = next_to_launch_++;
      timeline_.bucket_launch[b] = now();
      works_[b] =
          backend::AllReduceWork<T>(*comm_, buckets_[b].flat, ReduceOp::sum,
                                    "all-reduce of gradient bucket " + std::to_string(b) + " (" +
                                        std::to_string(buckets_[b].flat.numel() * std::int64_t(sizeof(T))) + " bytes)");
    }
  }

  DataParallelOptions options_;
  backend::Communicator* comm_;
  nn::Module<T>* module_ = nullptr;
  std::vector<Tensor<T>> parameters_;
  std::vector<Bucket> buckets_;
  std::vector<Location> location_;
  std::vector<std::size_t> pending_;
  std::vector<bool> ready_;
  std::vector<backend::AllReduceWork<T>> works_;
  std::vector<HookHandle<T>> hooks_;
  std::size_t next_to_launch_ = 0;
  std::size_t ready_count_ = 0;
  bool step_active_ = false;
  bool no_sync_ = false;
  T scale_ = T(1);
  std::int64_t global_batch_size_ = 0;
  std::int64_t synchronized_steps_ = 0;
  StepTimeline timeline_;
};

}  // namespace nabla::distributed
