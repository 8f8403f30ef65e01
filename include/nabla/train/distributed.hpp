// nabla/train/distributed.hpp - data-parallel fit() over MPI: train::data_parallel(model).
//
//   nb::distributed::init();
//   nb::Model<float> model; ... model.compile(...);
//   model.fit(x, y, {.epochs = 5, .batch_size = 64, .seed = 1,
//                    .distributed = nb::train::data_parallel(model)});   // mpirun -np 4 ./train
//
// Needs the nabla::distributed target (MPI). Construct it on every rank after the model's layers
// exist: it broadcasts rank 0's weights (DistributedDataParallel's constructor).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nabla/distributed/data_parallel.hpp"
#include "nabla/distributed/process_group.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/train/data_parallel.hpp"

namespace nabla::train {

template <FloatingElement T>
class DistributedDataParallelRun final : public DataParallelRun {
 public:
  DistributedDataParallelRun(nn::Module<T>& model, distributed::DataParallelOptions options) : ddp_(model, options) {}

  int rank() const override { return distributed::rank(); }
  int world_size() const override { return distributed::world_size(); }
  void finish_gradients() override { ddp_.finish(); }
  std::vector<double> sum(std::vector<double> values) override {
    return distributed::all_reduce(std::move(values), distributed::ReduceOp::sum);
  }
  std::uint64_t broadcast_seed(std::uint64_t seed) override {
    auto value = from_vector<std::int64_t>({static_cast<std::int64_t>(seed)}, {1});
    distributed::broadcast(value, 0);
    return static_cast<std::uint64_t>(value.item());
  }
  void barrier() override { distributed::barrier(); }
  distributed::DistributedDataParallel<T>& ddp() { return ddp_; }

 private:
  distributed::DistributedDataParallel<T> ddp_;
};

/// A data-parallel run of `model` for FitOptions::distributed (init() must have been called).
template <FloatingElement T>
std::shared_ptr<DistributedDataParallelRun<T>> data_parallel(nn::Module<T>& model,
                                                             distributed::DataParallelOptions options = {}) {
  return std::make_shared<DistributedDataParallelRun<T>>(model, options);
}

}  // namespace nabla::train
