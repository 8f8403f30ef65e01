// kernels/nccl/collectives.cpp: NCCL collectives behind backend/cuda/nccl.hpp (nabla::nccl).
//
// Plain C++ against the CUDA runtime and NCCL host APIs (no kernels). The all-reduce runs on a
// side stream per device so that it overlaps with the backward kernels still queued on nabla's
// stream; an event orders it after the gradients it reduces, another one tells the host (and
// later kernels) when it is done.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "nabla/backend/cuda/nccl.hpp"
#include "nabla/backend/cuda/runtime.hpp"
#include "nabla/core/error.hpp"

namespace nabla::backend::cuda {

namespace {

void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw DeviceError(std::string("NCCL collective: ") + call + " failed: " + cudaGetErrorString(status));
}

void check_nccl(ncclResult_t status, const char* call) {
  if (status != ncclSuccess)
    throw DeviceError(std::string("NCCL: ") + call + " failed: " + ncclGetErrorString(status) +
                      " (NCCL refuses two ranks on one GPU: run one rank per GPU, or set NABLA_NCCL=0 to reduce "
                      "CUDA tensors through MPI with host staging)");
}

ncclDataType_t nccl_type(NcclType type) {
  switch (type) {
    case NcclType::float32:
      return ncclFloat32;
    case NcclType::float64:
      return ncclFloat64;
    case NcclType::int64:
      return ncclInt64;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(NcclOp op) {
  switch (op) {
    case NcclOp::sum:
      return ncclSum;
    case NcclOp::avg:
      return ncclAvg;
    case NcclOp::max:
      return ncclMax;
  }
  return ncclSum;
}

/// One non-blocking side stream per device, created on first use and kept for the process.
cudaStream_t side_stream(int device) {
  static std::mutex mutex;
  static std::map<int, cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = streams.find(device);
  if (found != streams.end()) return found->second;
  cudaStream_t created = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  streams.emplace(device, created);
  return created;
}

cudaStream_t compute_stream(int device) { return static_cast<cudaStream_t>(stream(device)); }

}  // namespace

NcclUniqueId nccl_unique_id() {
  ncclUniqueId id;
  check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  static_assert(sizeof(id.internal) == std::tuple_size_v<NcclUniqueId>, "NCCL_UNIQUE_ID_BYTES changed");
  NcclUniqueId bytes{};
  std::memcpy(bytes.data(), id.internal, bytes.size());
  return bytes;
}

void* nccl_init(const NcclUniqueId& id, int rank, int size, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId nccl_id;
  std::memcpy(nccl_id.internal, id.data(), id.size());
  ncclComm_t communicator = nullptr;
  check_nccl(ncclCommInitRank(&communicator, size, nccl_id, rank), "ncclCommInitRank");
  return communicator;
}

void nccl_destroy(void* communicator, bool abort) noexcept {
  if (!communicator) return;
  auto* comm = static_cast<ncclComm_t>(communicator);
  if (abort)
    ncclCommAbort(comm);
  else
    ncclCommDestroy(comm);
}

void* nccl_all_reduce_start(void* communicator, void* data, std::size_t count, NcclType type, NcclOp op, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t side = side_stream(device);
  cudaEvent_t gradients_ready = nullptr;
  check_cuda(cudaEventCreateWithFlags(&gradients_ready, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventRecord(gradients_ready, compute_stream(device)), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(side, gradients_ready, 0), "cudaStreamWaitEvent");
  check_cuda(cudaEventDestroy(gradients_ready), "cudaEventDestroy");
  check_nccl(
      ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op), static_cast<ncclComm_t>(communicator), side),
      "ncclAllReduce");
  cudaEvent_t done = nullptr;
  check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventRecord(done, side), "cudaEventRecord");
  return done;
}

bool nccl_event_done(void* event, void* communicator) {
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (status == cudaSuccess) return true;
  if (status != cudaErrorNotReady) check_cuda(status, "cudaEventQuery");
  ncclResult_t async_error = ncclSuccess;
  check_nccl(ncclCommGetAsyncError(static_cast<ncclComm_t>(communicator), &async_error), "ncclCommGetAsyncError");
  check_nccl(async_error, "ncclAllReduce (asynchronous error: a peer rank failed?)");
  return false;
}

void nccl_event_finish(void* event, int device) {
  auto* done = static_cast<cudaEvent_t>(event);
  check_cuda(cudaStreamWaitEvent(compute_stream(device), done, 0), "cudaStreamWaitEvent");
  check_cuda(cudaEventDestroy(done), "cudaEventDestroy");
}

void nccl_broadcast(void* communicator, void* data, std::size_t count, NcclType type, int root, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t compute = compute_stream(device);
  check_nccl(ncclBroadcast(data, data, count, nccl_type(type), root, static_cast<ncclComm_t>(communicator), compute),
             "ncclBroadcast");
  check_cuda(cudaStreamSynchronize(compute), "cudaStreamSynchronize");
}

void nccl_all_gather(void* communicator, const void* input, void* output, std::size_t count, NcclType type,
                     int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t compute = compute_stream(device);
  check_nccl(ncclAllGather(input, output, count, nccl_type(type), static_cast<ncclComm_t>(communicator), compute),
             "ncclAllGather");
  check_cuda(cudaStreamSynchronize(compute), "cudaStreamSynchronize");
}

}  // namespace nabla::backend::cuda
