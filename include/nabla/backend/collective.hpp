// nabla/backend/collective.hpp - collectives over the ranks of an MPI job, on CPU or CUDA tensors.
//
// THE device seam of distributed/: the process group and DistributedDataParallel call these
// functions on tensors of any device, and only this file looks at the device:
//   - CPU tensors: Open MPI on the tensor's memory (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather).
//   - CUDA tensors with nabla::nccl linked (NABLA_WITH_NCCL): NCCL on the GPU memory, the
//     all-reduce on a side stream (backend/cuda/nccl.hpp); the NCCL communicator is made on the
//     first CUDA collective, its id sent from rank 0 through MPI. NABLA_NCCL=0 turns NCCL off.
//   - CUDA tensors otherwise: MPI with host staging (copy to the host, reduce, copy back).
//
// Every wait polls its request against a deadline (Communicator::timeout_seconds) instead of
// blocking in MPI_Wait: a peer that died or never joins the collective becomes a
// nabla::DistributedError naming this rank and the collective, not a hang. MPI errors come back
// as return codes (the communicator has MPI_ERRORS_RETURN) and become the same error. Needs
// <mpi.h>: only distributed/ includes this header, through the nabla::distributed target.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#if defined(NABLA_WITH_CUDA)
#include "nabla/backend/cuda/memory.hpp"
#endif
#if defined(NABLA_WITH_NCCL)
#include "nabla/backend/cuda/nccl.hpp"
#endif

namespace nabla {

/// A collective failed or timed out: a peer rank died, threw before the collective, or the
/// network failed. The message names this rank and the collective. After it, the MPI job is in
/// an undefined state (MPI cannot cancel a collective): report and end the job
/// (nabla::distributed::abort).
class DistributedError : public Error {
 public:
  using Error::Error;
};

namespace backend {

enum class ReduceOp { sum, avg, max };

inline const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::avg:
      return "avg";
    case ReduceOp::max:
      return "max";
  }
  return "?";
}

/// The ranks a collective runs over, and how long a wait may take.
struct Communicator {
  MPI_Comm mpi = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  double timeout_seconds = 300.0;
  bool failed = false;              // a collective failed or timed out: MPI state is undefined
  void* nccl = nullptr;             // ncclComm_t once a CUDA collective made it
  int nccl_device = -1;             // the CUDA device it was made for
  std::uint64_t bytes_reduced = 0;  // payload bytes of all-reduces so far (for benches)
};

namespace collective_detail {

template <typename T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>)
    return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>)
    return MPI_DOUBLE;
  else
    return MPI_INT64_T;
}

inline MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::max ? MPI_MAX : MPI_SUM; }

[[noreturn]] inline void fail(Communicator& comm, const std::string& message) {
  comm.failed = true;
  throw DistributedError("rank " + std::to_string(comm.rank) + " of " + std::to_string(comm.size) + ": " + message);
}

inline void check_mpi(Communicator& comm, int code, const std::string& what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(comm,
       what + " failed: " + std::string(text, static_cast<std::size_t>(length)) + " (a peer rank has probably died)");
}

inline void check_usable(Communicator& comm, const std::string& what) {
  if (comm.mpi == MPI_COMM_NULL) throw DistributedError(what + ": nabla::distributed::init() has not been called");
  if (comm.failed)
    fail(comm, what + ": an earlier collective failed; the job cannot continue (call nabla::distributed::abort)");
}

/// Polls `done()` until it says true, sleeping a little between polls once the first ones fail
/// (so that a rank waiting on a slower peer leaves the core to it), up to the deadline.
template <typename Done>
void poll_until(Communicator& comm, const std::string& what, Done&& done) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto limit = std::chrono::duration<double>(comm.timeout_seconds);
  for (std::uint64_t polls = 0;; ++polls) {
    if (done()) return;
    if (Clock::now() - start > limit)
      fail(comm, what + " did not complete within " + std::to_string(comm.timeout_seconds) +
                     " s (timeout_seconds); a peer rank has probably failed, exited, or not reached this "
                     "collective");
    if (polls < 64)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 1024 ? 20 : 200));
  }
}

inline bool test_request(Communicator& comm, MPI_Request& request, const std::string& what) {
  if (request == MPI_REQUEST_NULL) return true;
  int flag = 0;
  check_mpi(comm, MPI_Test(&request, &flag, MPI_STATUS_IGNORE), what);
  return flag != 0;
}

inline void wait_request(Communicator& comm, MPI_Request& request, const std::string& what) {
  poll_until(comm, what, [&] { return test_request(comm, request, what); });
}

template <typename T>
Tensor<T> require_dense(const Tensor<T>& tensor, const std::string& what) {
  if (!tensor.defined()) throw ValueError(what + ": undefined tensor");
  if (!tensor.is_contiguous())
    throw ValueError(what + ": the tensor of shape " + to_string(tensor.shape()) +
                     " is a strided view; pass a contiguous tensor (contiguous())");
  return tensor;
}

#if defined(NABLA_WITH_NCCL)
template <typename T>
cuda::NcclType nccl_type() {
  if constexpr (std::is_same_v<T, float>)
    return cuda::NcclType::float32;
  else if constexpr (std::is_same_v<T, double>)
    return cuda::NcclType::float64;
  else
    return cuda::NcclType::int64;
}

inline cuda::NcclOp nccl_op(ReduceOp op) {
  return op == ReduceOp::sum ? cuda::NcclOp::sum : op == ReduceOp::avg ? cuda::NcclOp::avg : cuda::NcclOp::max;
}

/// The NCCL communicator for `device`, made collectively on first use; null when NABLA_NCCL=0.
/// Every rank reaches its first CUDA collective together (collectives are called in the same
/// order on every rank), so the id broadcast below is matched.
inline void* nccl_communicator(Communicator& comm, int device) {
  const char* setting = std::getenv("NABLA_NCCL");
  if (setting && std::string(setting) == "0") return nullptr;
  if (comm.nccl) {
    if (comm.nccl_device != device)
      fail(comm, "NCCL collective on cuda:" + std::to_string(device) +
                     ", but this rank's NCCL communicator is on cuda:" + std::to_string(comm.nccl_device) +
                     " (one GPU per rank)");
    return comm.nccl;
  }
  cuda::NcclUniqueId id{};
  if (comm.rank == 0) id = cuda::nccl_unique_id();
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(comm, MPI_Ibcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, comm.mpi, &request),
            "NCCL id broadcast");
  wait_request(comm, request, "NCCL id broadcast");
  comm.nccl = cuda::nccl_init(id, comm.rank, comm.size, device);
  comm.nccl_device = device;
  return comm.nccl;
}
#endif

}  // namespace collective_detail

/// An all-reduce in flight on one dense tensor (in place). test() drives it and says whether it
/// finished; wait() blocks (polling, with the deadline) until it has, then the tensor holds the
/// result. Movable; abandon one only when the job is ending anyway.
template <typename T>
class AllReduceWork {
 public:
  AllReduceWork() = default;
  AllReduceWork(AllReduceWork&& other) noexcept { *this = std::move(other); }
  AllReduceWork& operator=(AllReduceWork&& other) noexcept {
    comm_ = std::exchange(other.comm_, nullptr);
    tensor_ = std::move(other.tensor_);
    host_ = std::move(other.host_);
    request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
    nccl_event_ = std::exchange(other.nccl_event_, nullptr);
    op_ = other.op_;
    what_ = std::move(other.what_);
    done_ = std::exchange(other.done_, true);
    return *this;
  }
  AllReduceWork(const AllReduceWork&) = delete;
  AllReduceWork& operator=(const AllReduceWork&) = delete;

  /// Starts the all-reduce of `tensor` (dense; it must stay alive and unread until done).
  AllReduceWork(Communicator& comm, Tensor<T> tensor, ReduceOp op, std::string what)
      : comm_(&comm), tensor_(std::move(tensor)), op_(op), what_(std::move(what)), done_(false) {
    collective_detail::check_usable(comm, what_);
    comm.bytes_reduced += static_cast<std::uint64_t>(tensor_.numel()) * sizeof(T);
    const auto count = static_cast<int>(tensor_.numel());
    if (tensor_.numel() > std::numeric_limits<int>::max())
      throw ValueError(what_ + ": " + std::to_string(tensor_.numel()) + " elements exceed MPI's int count");
    T* data = device_data(tensor_);
    if (tensor_.device().is_cpu()) {
      collective_detail::check_mpi(comm,
                                   MPI_Iallreduce(MPI_IN_PLACE, data, count, collective_detail::mpi_type<T>(),
                                                  collective_detail::mpi_op(op), comm.mpi, &request_),
                                   what_);
      return;
    }
#if defined(NABLA_WITH_NCCL)
    const int device = tensor_.device().index();
    if (void* nccl = collective_detail::nccl_communicator(comm, device)) {
      nccl_event_ =
          cuda::nccl_all_reduce_start(nccl, data, static_cast<std::size_t>(count), collective_detail::nccl_type<T>(),
                                      collective_detail::nccl_op(op), device);
      return;
    }
#endif
#if defined(NABLA_WITH_CUDA)
    // Host staging: the copy to the host waits for the kernels that made the gradients.
    host_.resize(static_cast<std::size_t>(count));
    cuda::copy_device_to_host(host_.data(), data, host_.size() * sizeof(T), tensor_.device().index());
    collective_detail::check_mpi(comm,
                                 MPI_Iallreduce(MPI_IN_PLACE, host_.data(), count, collective_detail::mpi_type<T>(),
                                                collective_detail::mpi_op(op), comm.mpi, &request_),
                                 what_);
#else
    throw_no_cuda(what_, tensor_.device());
#endif
  }

  bool started() const { return comm_ != nullptr; }

  bool test() {
    if (done_) return true;
    if (nccl_event_) {
#if defined(NABLA_WITH_NCCL)
      if (!cuda::nccl_event_done(nccl_event_, comm_->nccl)) return false;
      cuda::nccl_event_finish(nccl_event_, tensor_.device().index());
      nccl_event_ = nullptr;
#endif
    } else if (!collective_detail::test_request(*comm_, request_, what_)) {
      return false;
    }
    complete();
    return true;
  }

  void wait() {
    if (done_) return;
    collective_detail::poll_until(*comm_, what_, [&] { return test(); });
  }

 private:
  void complete() {
    done_ = true;
    if (!host_.empty()) {
      if (op_ == ReduceOp::avg)
        for (T& value : host_) value /= static_cast<T>(comm_->size);
#if defined(NABLA_WITH_CUDA)
      cuda::copy_host_to_device(device_data(tensor_), host_.data(), host_.size() * sizeof(T), tensor_.device().index());
#endif
      host_.clear();
      return;
    }
    if (op_ == ReduceOp::avg && tensor_.device().is_cpu()) {
      if constexpr (std::is_floating_point_v<T>) {
        map(tensor_, MultiplyScalar<T>{T(1) / static_cast<T>(comm_->size)}, tensor_);
      } else {
        T* data = tensor_.data();
        for (std::int64_t i = 0; i < tensor_.numel(); ++i) data[i] /= static_cast<T>(comm_->size);
      }
    }
  }

  Communicator* comm_ = nullptr;
  Tensor<T> tensor_;
  std::vector<T> host_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  void* nccl_event_ = nullptr;
  ReduceOp op_ = ReduceOp::sum;
  std::string what_;
  bool done_ = true;
};

/// Blocking all-reduce of a dense tensor in place.
template <typename T>
void all_reduce(Communicator& comm, Tensor<T>& tensor, ReduceOp op) {
  const std::string what = std::string("all_reduce(") + reduce_op_name(op) + ") of " + to_string(tensor.shape());
  AllReduceWork<T> work(comm, collective_detail::require_dense(tensor, what), op, what);
  work.wait();
}

/// Blocking broadcast of a dense tensor in place from rank `root`.
template <typename T>
void broadcast(Communicator& comm, Tensor<T>& tensor, int root) {
  const std::string what = "broadcast of " + to_string(tensor.shape()) + " from rank " + std::to_string(root);
  collective_detail::require_dense(tensor, what);
  collective_detail::check_usable(comm, what);
  if (root < 0 || root >= comm.size)
    throw ValueError(what + ": root must be in [0, " + std::to_string(comm.size) + ")");
  const auto count = static_cast<std::size_t>(tensor.numel());
  T* data = device_data(tensor);
  std::vector<T> host;
  T* buffer = data;
  if (!tensor.device().is_cpu()) {
#if defined(NABLA_WITH_NCCL)
    if (void* nccl = collective_detail::nccl_communicator(comm, tensor.device().index())) {
      cuda::nccl_broadcast(nccl, data, count, collective_detail::nccl_type<T>(), root, tensor.device().index());
      tensor.storage()->bump_version();
      return;
    }
#endif
#if defined(NABLA_WITH_CUDA)
    host.resize(count);
    if (comm.rank == root) cuda::copy_device_to_host(host.data(), data, count * sizeof(T), tensor.device().index());
    buffer = host.data();
#else
    throw_no_cuda(what, tensor.device());
#endif
  }
  MPI_Request request = MPI_REQUEST_NULL;
  collective_detail::check_mpi(
      comm, MPI_Ibcast(buffer, static_cast<int>(count), collective_detail::mpi_type<T>(), root, comm.mpi, &request),
      what);
  collective_detail::wait_request(comm, request, what);
#if defined(NABLA_WITH_CUDA)
  if (!host.empty() && comm.rank != root)
    cuda::copy_host_to_device(data, host.data(), count * sizeof(T), tensor.device().index());
#endif
  tensor.storage()->bump_version();
}

/// Every rank's dense `tensor` (same shape on all ranks), stacked: [size, ...shape], on its device.
template <typename T>
Tensor<T> all_gather(Communicator& comm, const Tensor<T>& tensor) {
  const std::string what = "all_gather of " + to_string(tensor.shape());
  collective_detail::require_dense(tensor, what);
  collective_detail::check_usable(comm, what);
  // The element counts first, so that unequal shapes are a clear error rather than a corrupt result.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(comm.size));
  std::int64_t mine = tensor.numel();
  MPI_Request request = MPI_REQUEST_NULL;
  collective_detail::check_mpi(comm,
                               MPI_Iallgather(&mine, 1, MPI_INT64_T, counts.data(), 1, MPI_INT64_T, comm.mpi, &request),
                               what + " (sizes)");
  collective_detail::wait_request(comm, request, what + " (sizes)");
  for (int r = 0; r < comm.size; ++r)
    if (counts[static_cast<std::size_t>(r)] != mine)
      throw ShapeError(what + ": rank " + std::to_string(r) + " has " +
                       std::to_string(counts[static_cast<std::size_t>(r)]) + " elements, rank " +
                       std::to_string(comm.rank) + " has " + std::to_string(mine) +
                       "; every rank must pass the same shape");
  Shape shape{comm.size};
  for (std::int64_t extent : tensor.shape()) shape.push_back(extent);
  Tensor<T> result = empty<T>(shape, tensor.device());
  const auto count = static_cast<std::size_t>(mine);
  const T* input = device_data(tensor);
  T* output = device_data(result);
  std::vector<T> host_input, host_output;
  if (!tensor.device().is_cpu()) {
#if defined(NABLA_WITH_NCCL)
    if (void* nccl = collective_detail::nccl_communicator(comm, tensor.device().index())) {
      cuda::nccl_all_gather(nccl, input, output, count, collective_detail::nccl_type<T>(), tensor.device().index());
      return result;
    }
#endif
#if defined(NABLA_WITH_CUDA)
    host_input.resize(count);
    host_output.resize(count * static_cast<std::size_t>(comm.size));
    cuda::copy_device_to_host(host_input.data(), input, count * sizeof(T), tensor.device().index());
    input = host_input.data();
    output = host_output.data();
#else
    throw_no_cuda(what, tensor.device());
#endif
  }
  collective_detail::check_mpi(
      comm,
      MPI_Iallgather(input, static_cast<int>(count), collective_detail::mpi_type<T>(), output, static_cast<int>(count),
                     collective_detail::mpi_type<T>(), comm.mpi, &request),
      what);
  collective_detail::wait_request(comm, request, what);
#if defined(NABLA_WITH_CUDA)
  if (!host_output.empty())
    cuda::copy_host_to_device(device_data(result), host_output.data(), host_output.size() * sizeof(T),
                              tensor.device().index());
#endif
  return result;
}

/// Blocking barrier (MPI_Ibarrier with the deadline).
inline void barrier(Communicator& comm) {
  collective_detail::check_usable(comm, "barrier");
  MPI_Request request = MPI_REQUEST_NULL;
  collective_detail::check_mpi(comm, MPI_Ibarrier(comm.mpi, &request), "barrier");
  collective_detail::wait_request(comm, request, "barrier");
}

/// All-reduce of host scalars (sample counts, metric sums), in place.
template <typename T>
void all_reduce_values(Communicator& comm, std::vector<T>& values, ReduceOp op, const std::string& what) {
  collective_detail::check_usable(comm, what);
  MPI_Request request = MPI_REQUEST_NULL;
  collective_detail::check_mpi(
      comm,
      MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), collective_detail::mpi_type<T>(),
                     collective_detail::mpi_op(op), comm.mpi, &request),
      what);
  collective_detail::wait_request(comm, request, what);
  if (op == ReduceOp::avg)
    for (T& value : values) value /= static_cast<T>(comm.size);
}

/// Gives the NCCL communicator back (abort = after a failure, when a peer may never answer).
inline void release_device_communicators(Communicator& comm, bool abort) noexcept {
#if defined(NABLA_WITH_NCCL)
  cuda::nccl_destroy(comm.nccl, abort);
#else
  (void)abort;
#endif
  comm.nccl = nullptr;
  comm.nccl_device = -1;
}

}  // namespace backend
}  // namespace nabla
