// nabla/optim/state_io.hpp - an optimizer's state in a checkpoint (io/checkpoint.hpp): the
// optimizer produces and consumes its state (Optimizer::state() / load_state()), io/ stores
// named tensors and metadata; this header, a layer above both, maps one onto the other.
//
//   nb::io::add_optimizer_state(checkpoint, optimizer);    // "optimizer.<i>.<buffer>" + metadata
//   nb::io::load_optimizer_state(checkpoint, optimizer);   // checked, all or nothing
//
// (The functions keep their nb::io names: they are part of the checkpoint API.)
#pragma once

#include <cstdint>
#include <string>

#include "nabla/core/error.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/io/tensor_data.hpp"
#include "nabla/optim/optimizer.hpp"

namespace nabla::io {

/// Adds an optimizer state: tensors "<prefix><i>.<buffer>" (e.g. "optimizer.0.exp_avg") and
/// metadata "<prefix>type", "<prefix>lr", "<prefix>step_count", "<prefix>parameter_count" and
/// "<prefix><i>.step", and per parameter group g "<prefix>group.<g>.lr", ".weight_decay" and
/// ".size" (with "<prefix>group_count"; files from before groups have none and load as one
/// learning rate for every group).
template <FloatingElement T>
void add_optimizer_state(Checkpoint& checkpoint, const optim::OptimizerState<T>& state,
                         const std::string& prefix = "optimizer.") {
  checkpoint.set_metadata(prefix + "type", state.optimizer);
  checkpoint.set_metadata(prefix + "lr", state.lr);
  checkpoint.set_metadata(prefix + "step_count", state.step_count);
  checkpoint.set_metadata(prefix + "parameter_count", static_cast<std::uint64_t>(state.parameters.size()));
  checkpoint.set_metadata(prefix + "group_count", static_cast<std::uint64_t>(state.groups.size()));
  for (std::size_t g = 0; g < state.groups.size(); ++g) {
    const std::string group_prefix = prefix + "group." + std::to_string(g) + ".";
    checkpoint.set_metadata(group_prefix + "lr", state.groups[g].lr);
    checkpoint.set_metadata(group_prefix + "weight_decay", state.groups[g].weight_decay);
    checkpoint.set_metadata(group_prefix + "size", g < state.group_sizes.size() ? state.group_sizes[g] : 0);
  }
  for (std::size_t i = 0; i < state.parameters.size(); ++i) {
    const std::string parameter_prefix = prefix + std::to_string(i) + ".";
    checkpoint.set_metadata(parameter_prefix + "step", state.parameters[i].step);
    for (const auto& [name, buffer] : state.parameters[i].buffers)
      checkpoint.set_tensor(parameter_prefix + name, buffer);
  }
}

template <FloatingElement T>
void add_optimizer_state(Checkpoint& checkpoint, const optim::Optimizer<T>& optimizer,
                         const std::string& prefix = "optimizer.") {
  add_optimizer_state(checkpoint, optimizer.state(), prefix);
}

/// The optimizer state stored under `prefix` (see add_optimizer_state).
template <FloatingElement T>
optim::OptimizerState<T> optimizer_state_from(const Checkpoint& checkpoint, const std::string& prefix = "optimizer.") {
  const std::string op = "load_optimizer_state";
  optim::OptimizerState<T> state;
  state.optimizer = checkpoint.metadata_text(prefix + "type");
  state.lr = checkpoint.metadata_number<double>(prefix + "lr");
  state.step_count = checkpoint.metadata_number<std::int64_t>(prefix + "step_count");
  const auto parameter_count = checkpoint.metadata_number<std::uint64_t>(prefix + "parameter_count");
  // Each parameter has a "<i>.step" entry, so a count beyond the metadata size is a lie.
  if (parameter_count > checkpoint.metadata.size())
    throw IOError(op + ": '" + prefix + "parameter_count' is " + std::to_string(parameter_count) +
                  ", more than the checkpoint's " + std::to_string(checkpoint.metadata.size()) + " metadata entries");
  state.parameters.resize(static_cast<std::size_t>(parameter_count));
  for (std::size_t i = 0; i < state.parameters.size(); ++i)
    state.parameters[i].step = checkpoint.metadata_number<std::int64_t>(prefix + std::to_string(i) + ".step");
  if (checkpoint.has_metadata(prefix + "group_count")) {  // absent in files from before parameter groups
    const auto group_count = checkpoint.metadata_number<std::uint64_t>(prefix + "group_count");
    if (group_count > checkpoint.metadata.size())
      throw IOError(op + ": '" + prefix + "group_count' is " + std::to_string(group_count) + ", more than the " +
                    std::to_string(checkpoint.metadata.size()) + " metadata entries");
    for (std::uint64_t g = 0; g < group_count; ++g) {
      const std::string group_prefix = prefix + "group." + std::to_string(g) + ".";
      state.groups.push_back({checkpoint.metadata_number<double>(group_prefix + "lr"),
                              checkpoint.metadata_number<double>(group_prefix + "weight_decay")});
      state.group_sizes.push_back(checkpoint.metadata_number<std::int64_t>(group_prefix + "size"));
    }
  }
  for (auto it = checkpoint.tensors.lower_bound(prefix);
       it != checkpoint.tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());  // "<i>.<buffer>"
    const std::size_t dot = rest.find('.');
    std::uint64_t index = 0;
    if (dot == std::string::npos || dot + 1 == rest.size() || !detail::parse_number(rest.substr(0, dot), index))
      throw IOError(op + ": tensor '" + it->first + "' is not named " + prefix + "<parameter index>.<buffer>");
    if (index >= parameter_count)
      throw IOError(op + ": tensor '" + it->first + "' refers to parameter " + std::to_string(index) +
                    " but the state has " + std::to_string(parameter_count) + " parameters");
    state.parameters[static_cast<std::size_t>(index)].buffers.emplace(
        rest.substr(dot + 1), to_floating<T>(it->second, op + ": tensor '" + it->first + "'"));
  }
  return state;
}

/// Restores the optimizer state stored under `prefix`. The optimizer must be of the same type
/// with the same options, over parameters of the same shapes; anything else is an IOError
/// that says what differs, and leaves the optimizer unchanged.
template <FloatingElement T>
void load_optimizer_state(const Checkpoint& checkpoint, optim::Optimizer<T>& optimizer,
                          const std::string& prefix = "optimizer.") {
  const optim::OptimizerState<T> state = optimizer_state_from<T>(checkpoint, prefix);
  try {
    optimizer.load_state(state);
  } catch (const IOError&) {
    throw;
  } catch (const Error& error) {
    throw IOError("load_optimizer_state: the checkpoint's optimizer state does not fit: " + std::string(error.what()));
  }
}

}  // namespace nabla::io
