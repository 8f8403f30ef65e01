// examples/common/run.hpp - the examples' main(): parse the command line, run the example and
// turn what it throws into one message on stderr and exit status 1; the device --device names;
// wall-clock timing.
#pragma once

#include <chrono>
#include <cstdio>
#include <exception>
#include <nabla/nabla.hpp>
#include <string>
#include <type_traits>

#include "checks.hpp"
#include "cli.hpp"
#include "data.hpp"

namespace nabla_examples {

/// An example's main() after defining its flags on `cli`: parses the command line (--help:
/// exit 0; a bad command line: exit 2), then runs `body` and returns its exit status. A body
/// that takes Checks& gets them and its exit status is theirs (Checks::finish). What the body
/// throws ends the run with exit status 1 and one message on stderr, "<program>: <what>"; a
/// data error also says how to fetch or restore the data:
///   DataMissing:    fetch the data with: <command> (from the repository root), or pass --data-dir
///   DataCorrupted:  "<data set> cannot be used: <what>", restore it with: <command>
template <typename Body>
int run_example(CommandLine& cli, int argc, char** argv, Body&& body) {
  if (const auto status = cli.parse(argc, argv)) return *status;
  const char* program = cli.program().c_str();
  try {
    if constexpr (std::is_invocable_v<Body&, Checks&>) {
      Checks checks;
      body(checks);
      return checks.finish();
    } else {
      return body();
    }
  } catch (const DataMissing& error) {
    std::fprintf(stderr, "%s: %s\nfetch the data with:\n  %s\n(from the repository root), or pass --data-dir.\n",
                 program, error.what(), error.data_set().fetch_command().c_str());
  } catch (const DataCorrupted& error) {
    std::fprintf(stderr,
                 "%s: %s cannot be used: %s\nrestore it with:\n  %s\n(it re-checks every file and unpacks damaged "
                 "ones again)\n",
                 program, error.data_set().name, error.what(), error.data_set().fetch_command().c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", program, error.what());
  }
  return 1;
}

/// The device --device names ("cpu" or "cuda"; the command line allows no other). For cuda, one
/// small tensor made there tells at once whether this build has CUDA and the machine a GPU
/// (nabla's DeviceError says which is missing).
inline nabla::Device checked_device(const std::string& device) {
  if (device != "cuda") return nabla::Device::cpu();
  try {
    (void)nabla::zeros<float>({1}, nabla::Device::cuda());
  } catch (const nabla::DeviceError& error) {
    throw nabla::DeviceError(std::string("--device cuda: ") + error.what());
  }
  return nabla::Device::cuda();
}

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace nabla_examples
