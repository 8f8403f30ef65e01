// nabla/distributed/process_group.hpp - the ranks of an MPI job: init, rank, world size, and
// collectives on tensors of any device (backend/collective.hpp picks MPI, NCCL or staging).
//
//   mpirun -np 4 ./train          # four processes, ranks 0..3
//   ./train                       # one process: world size 1, every collective a copy
//
// Threading: MPI is initialized with MPI_THREAD_FUNNELED. nabla calls MPI only from the thread
// that called init() (backward() runs its hooks on the calling thread; OpenMP workers never
// call MPI), which is all FUNNELED promises. A program that already initialized MPI keeps its
// level; nabla then needs at least FUNNELED from the same thread.
//
// Failures: nabla's communicator is a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, and
// every wait polls against a deadline (InitOptions::timeout_seconds, or the environment variable
// NABLA_DISTRIBUTED_TIMEOUT in seconds). What that guarantees, and what not:
//   - a peer that threw and stopped calling collectives, or hangs: the others throw
//     nabla::DistributedError ("rank 0 of 2: all-reduce of bucket 1 ... did not complete within
//     ... s") after the timeout;
//   - a peer process that died: Open MPI's mpirun ends the whole job as soon as it notices
//     (usually before the timeout), printing which rank exited; the survivors may be killed
//     before they report, so the clear message is then mpirun's;
//   - after a DistributedError the job cannot go on (MPI has no way to cancel a collective):
//     nabla ends it with MPI_Abort at exit instead of MPI_Finalize, which could wait forever.
#pragma once

#include <mpi.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "nabla/backend/collective.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::distributed {

using ReduceOp = backend::ReduceOp;

struct InitOptions {
  /// The longest a collective may wait for the other ranks before it throws DistributedError.
  /// The environment variable NABLA_DISTRIBUTED_TIMEOUT (seconds) overrides it.
  double timeout_seconds = 300.0;
};

namespace detail {

struct State {
  backend::Communicator comm;
  bool initialized = false;
  bool we_initialized_mpi = false;
};

inline State& state() {
  static State instance;
  return instance;
}

inline void finalize_at_exit() {
  State& s = state();
  if (!s.initialized) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (s.comm.failed) {
    // A collective is stuck inside MPI; MPI_Finalize could wait for it forever.
    backend::release_device_communicators(s.comm, /*abort=*/true);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return;
  }
  backend::release_device_communicators(s.comm, /*abort=*/false);
  MPI_Comm_free(&s.comm.mpi);
  if (s.we_initialized_mpi) MPI_Finalize();
  s.initialized = false;
}

inline backend::Communicator& checked_comm(const char* op) {
  State& s = state();
  if (!s.initialized)
    throw DistributedError(std::string("nabla::distributed::") + op + ": call nabla::distributed::init() first");
  return s.comm;
}

}  // namespace detail

/// Joins the MPI job (or makes a one-process world when not launched by mpirun). Idempotent.
/// MPI is finalized at exit (or the job aborted there after a failed collective).
inline void init(InitOptions options = {}) {
  detail::State& s = detail::state();
  if (s.initialized) return;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw DistributedError("nabla::distributed::init: MPI_Init_thread failed");
    s.we_initialized_mpi = true;
  }
  if (const char* timeout = std::getenv("NABLA_DISTRIBUTED_TIMEOUT")) {
    char* end = nullptr;
    const double seconds = std::strtod(timeout, &end);
    if (end == timeout || seconds <= 0)
      throw ValueError(std::string("nabla::distributed::init: NABLA_DISTRIBUTED_TIMEOUT='") + timeout +
                       "' is not a positive number of seconds");
    options.timeout_seconds = seconds;
  }
  if (!(options.timeout_seconds > 0))
    throw ValueError("nabla::distributed::init: timeout_seconds must be positive, got " +
                     std::to_string(options.timeout_seconds));
  MPI_Comm_dup(MPI_COMM_WORLD, &s.comm.mpi);
  MPI_Comm_set_errhandler(s.comm.mpi, MPI_ERRORS_RETURN);
  MPI_Comm_rank(s.comm.mpi, &s.comm.rank);
  MPI_Comm_size(s.comm.mpi, &s.comm.size);
  s.comm.timeout_seconds = options.timeout_seconds;
  s.initialized = true;
  static const bool registered = [] { return std::atexit(detail::finalize_at_exit) == 0; }();
  (void)registered;
}

inline bool is_initialized() { return detail::state().initialized; }

/// This process's rank in [0, world_size()); 0 before init().
inline int rank() { return detail::state().initialized ? detail::state().comm.rank : 0; }
/// The number of processes of the job; 1 before init().
inline int world_size() { return detail::state().initialized ? detail::state().comm.size : 1; }
inline bool is_main_process() { return rank() == 0; }

/// The communicator nabla's collectives use (for DistributedDataParallel and benches).
inline backend::Communicator& communicator() { return detail::checked_comm("communicator"); }

/// Sets the deadline of later waits (seconds).
inline void set_timeout(double seconds) {
  if (!(seconds > 0)) throw ValueError("nabla::distributed::set_timeout: seconds must be positive");
  detail::checked_comm("set_timeout").timeout_seconds = seconds;
}

inline void barrier() { backend::barrier(detail::checked_comm("barrier")); }

/// `tensor` (dense, any device) takes rank `root`'s values on every rank.
template <typename T>
void broadcast(Tensor<T>& tensor, int root = 0) {
  backend::broadcast(detail::checked_comm("broadcast"), tensor, root);
}

/// `tensor` (dense, any device) becomes the sum / average / maximum over the ranks, in place.
template <typename T>
void all_reduce(Tensor<T>& tensor, ReduceOp op = ReduceOp::sum) {
  backend::all_reduce(detail::checked_comm("all_reduce"), tensor, op);
}

/// Every rank's `tensor` stacked along a new first dimension: [world_size, ...shape].
template <typename T>
Tensor<T> all_gather(const Tensor<T>& tensor) {
  return backend::all_gather(detail::checked_comm("all_gather"), tensor);
}

/// Host values reduced over the ranks (sample counts, metric sums); world size 1: unchanged.
template <typename T>
std::vector<T> all_reduce(std::vector<T> values, ReduceOp op = ReduceOp::sum) {
  if (!is_initialized()) return values;
  backend::all_reduce_values(detail::checked_comm("all_reduce"), values, op, "all_reduce of host values");
  return values;
}
inline double all_reduce(double value, ReduceOp op = ReduceOp::sum) {
  return all_reduce(std::vector<double>{value}, op)[0];
}

/// Ends the whole job now with `code` (MPI_Abort): what to do after a DistributedError.
[[noreturn]] inline void abort(int code = 1) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this only tells the compiler so
}

}  // namespace nabla::distributed
