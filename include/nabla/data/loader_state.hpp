// nabla/data/loader_state.hpp - a DataLoader's position in a checkpoint's metadata, so that a
// run killed mid-epoch resumes with exactly the batches it would have seen.
//
//   nb::io::Checkpoint checkpoint;                     // with the model's and optimizer's state
//   nb::data::save_loader_state(checkpoint, loader.state());
//   nb::io::save_checkpoint("run.nabla", checkpoint);
//   ...                                                // a new process, the same loader settings:
//   loader.load_state(nb::data::load_loader_state(nb::io::load_checkpoint("run.nabla")));
//   for (const auto& batch : loader) { ... }           // the rest of the interrupted epoch
//
// The entries (text, as every checkpoint metadata value), under a prefix ("data." by default,
// so one checkpoint can hold several loaders' positions):
//   data.epoch       the epoch in progress
//   data.batch       batches of it already handed out (the next one is this index)
//   data.samples     sample indices consumed in the epoch; for a stream with a shuffle buffer
//                    also the draws its Philox generator has made (the generator's state)
//   data.seed        the loader's seed, data.batch_size its batch size: load_state() refuses a
//                    loader with other ones, whose batches would differ
// The order of an epoch is a function of (seed, epoch) and a shuffle buffer's draws are Philox
// counters, so these numbers are the whole state: nothing about the data itself is stored.
#pragma once

#include <cstdint>
#include <string>

#include "nabla/data/dataloader.hpp"
#include "nabla/io/checkpoint.hpp"

namespace nabla::data {

/// Writes `state` into `checkpoint`'s metadata under `prefix`.
inline void save_loader_state(io::Checkpoint& checkpoint, const LoaderState& state,
                              const std::string& prefix = "data.") {
  checkpoint.set_metadata(prefix + "epoch", state.epoch);
  checkpoint.set_metadata(prefix + "batch", state.batch);
  checkpoint.set_metadata(prefix + "samples", state.samples);
  checkpoint.set_metadata(prefix + "seed", state.seed);
  checkpoint.set_metadata(prefix + "batch_size", state.batch_size);
}

/// Whether `checkpoint` holds a loader position under `prefix`.
inline bool has_loader_state(const io::Checkpoint& checkpoint, const std::string& prefix = "data.") {
  return checkpoint.has_metadata(prefix + "epoch");
}

/// Reads the position save_loader_state() wrote (IOError when an entry is missing or not a number).
inline LoaderState load_loader_state(const io::Checkpoint& checkpoint, const std::string& prefix = "data.") {
  LoaderState state;
  state.epoch = checkpoint.metadata_number<std::uint64_t>(prefix + "epoch");
  state.batch = checkpoint.metadata_number<std::int64_t>(prefix + "batch");
  state.samples = checkpoint.metadata_number<std::int64_t>(prefix + "samples");
  state.seed = checkpoint.metadata_number<std::uint64_t>(prefix + "seed");
  state.batch_size = checkpoint.metadata_number<std::int64_t>(prefix + "batch_size");
  if (state.batch < 0 || state.batch_size < 1 || state.samples != state.batch * state.batch_size)
    throw IOError("load_loader_state: the entries under '" + prefix + "' do not agree (batch " +
                  std::to_string(state.batch) + ", batch_size " + std::to_string(state.batch_size) + ", samples " +
                  std::to_string(state.samples) + "): the checkpoint is damaged");
  return state;
}

}  // namespace nabla::data
