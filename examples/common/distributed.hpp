// examples/common/distributed.hpp - --distributed: an example as one rank of an MPI job.
//
//   mpirun -np 2 build/examples/spam_classifier --distributed --threads 1
//
// Every rank runs the whole program on the same data; fit() (or the example's own loop) trains
// each rank on its shard with the global batch split across the ranks and the gradients averaged
// (docs/distributed.md). Ranks other than 0 send their standard output to /dev/null, so the run
// prints once. Without MPI in the build the flag still exists and says what is missing.
#pragma once

#include <cstdio>
#include <memory>
#include <nabla/nabla.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"

namespace nabla_examples {

inline CLI::Option* distributed_flag(CommandLine& cli, bool& target) {
  return cli.flag("--distributed", target,
                  "train data-parallel as one rank of an MPI job, the global batch split\n"
                  "across the ranks: mpirun -np N <example> --distributed --threads 1");
}

/// Joins the MPI job (nabla::distributed::init) and silences the standard output of ranks
/// other than 0. Returns the world size. Throws when nabla was built without MPI.
inline int start_distributed() {
#if defined(NABLA_WITH_MPI)
  nabla::distributed::init();
  if (nabla::distributed::rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    throw std::runtime_error("--distributed: cannot silence the standard output of rank " +
                             std::to_string(nabla::distributed::rank()));
  return nabla::distributed::world_size();
#else
  throw nabla::ValueError(
      "--distributed: this build has no MPI (configure with NABLA_DISTRIBUTED=ON; Debian: libopenmpi-dev "
      "openmpi-bin)");
#endif
}

/// FitOptions::distributed for `model` when `enabled` (after start_distributed), else null.
template <typename T>
std::shared_ptr<nabla::train::DataParallelRun> data_parallel_run(nabla::nn::Module<T>& model, bool enabled) {
  if (!enabled) return nullptr;
#if defined(NABLA_WITH_MPI)
  return nabla::train::data_parallel(model);
#else
  (void)model;
  throw nabla::ValueError("--distributed: this build has no MPI");
#endif
}

}  // namespace nabla_examples

namespace nabla_examples {

/// True on the rank that writes files and prints (rank 0), and in a run without --distributed.
inline bool is_main_rank() {
#if defined(NABLA_WITH_MPI)
  return nabla::distributed::rank() == 0;
#else
  return true;
#endif
}

/// This rank's contiguous share of `items` (equal lengths: the tail that does not divide evenly
/// is left out, so every rank runs the same number of steps).
template <typename Item>
std::vector<Item> rank_share(const std::vector<Item>& items, int world, int rank) {
  const std::size_t share = items.size() / static_cast<std::size_t>(world);
  const auto begin = items.begin() + static_cast<std::ptrdiff_t>(share * static_cast<std::size_t>(rank));
  return std::vector<Item>(begin, begin + static_cast<std::ptrdiff_t>(share));
}

}  // namespace nabla_examples
