// nabla/backend/cuda/nccl.hpp: NCCL collectives on CUDA tensors, for backend/collective.hpp.
//
// Self-contained on purpose (no CUDA or NCCL header): defined in kernels/nccl/collectives.cpp,
// compiled into the small nabla::nccl target (CMake builds it when NABLA_CUDA is on and NCCL
// is found; it defines NABLA_WITH_NCCL=1 for its users). Pointers are DEVICE pointers of
// `device`. Every NCCL or CUDA error becomes a nabla::DeviceError naming the call.
#pragma once

#include <array>
#include <cstddef>

namespace nabla::backend::cuda {

/// ncclUniqueId's bytes (NCCL_UNIQUE_ID_BYTES = 128): rank 0 makes one, the others receive it.
using NcclUniqueId = std::array<char, 128>;

/// Element types and reductions NCCL is asked for.
enum class NcclType { float32, float64, int64 };
enum class NcclOp { sum, avg, max };

NcclUniqueId nccl_unique_id();

/// An ncclComm_t (as void*) for `rank` of `size` on CUDA device `device` (ncclCommInitRank).
void* nccl_init(const NcclUniqueId& id, int rank, int size, int device);

/// ncclCommDestroy, or ncclCommAbort when `abort` (after a timeout: a peer may never come).
void nccl_destroy(void* communicator, bool abort) noexcept;

/// In-place all-reduce of `count` elements on a side stream that first waits for the work already
/// queued on nabla's stream of `device` (so the gradients it reduces are final). Returns a CUDA
/// event (as void*) recorded after the all-reduce: poll it with nccl_event_done, finish with
/// nccl_event_finish.
void* nccl_all_reduce_start(void* communicator, void* data, std::size_t count, NcclType type, NcclOp op, int device);

/// True when the work before `event` has finished (cudaEventQuery); throws on a CUDA error, and
/// on an asynchronous NCCL error of `communicator` (a peer failed: ncclCommGetAsyncError).
bool nccl_event_done(void* event, void* communicator);

/// Makes nabla's stream of `device` wait for `event` (later kernels see the reduced values)
/// and destroys the event.
void nccl_event_finish(void* event, int device);

/// Blocking (host waits) broadcast from `root` and all-gather (`count` elements from each rank
/// into `output`, rank after rank), on nabla's stream of `device`.
void nccl_broadcast(void* communicator, void* data, std::size_t count, NcclType type, int root, int device);
void nccl_all_gather(void* communicator, const void* input, void* output, std::size_t count, NcclType type, int device);

}  // namespace nabla::backend::cuda
