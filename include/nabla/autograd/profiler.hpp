// nabla/autograd/profiler.hpp - where a training step's time goes, op by op: wall time and calls
// per op name, forward and backward apart (torch.profiler's key_averages() table, without the
// trace). For finding what to optimize; `perf` shows what runs inside an op.
//
//   nabla::profiler::start();
//   for (int i = 0; i < 20; ++i) train_step();
//   nabla::profiler::stop();
//   std::cout << nabla::profiler::table();
//
// How each row is timed:
// - "<op>": an op's forward is the wall time from the previous profiler event on the same thread
//   (the end of the previous op, of a backward node, of a Scope, or start()) to the moment the op
//   records its output (record_op), which is the end of its computation. So work between two ops
//   that is not an op (filling a batch, printing) is counted in the op after it: keep it out of
//   the profiled region, or wrap it in a profiler::Scope, which is timed as its own row.
// - "<op> backward": the op's backward function, and the adding of its input gradients.
// - "AccumulateGrad": a leaf's gradient handed over, copied or added into .grad(), with its
//   post-accumulate-grad hooks (DistributedDataParallel's bucket launches).
// - Scopes: "<Optimizer>.step", "<Optimizer>.zero_grad" and whatever the caller names.
// Ops that run inside a backward node or a Scope are part of that row, not rows of their own.
// Times are wall times of the calling thread, so an op's row includes its OpenMP threads'
// work. On a GPU they are the times of the calls, which return before the kernels finish;
// set CUDA_LAUNCH_BLOCKING=1 to time the kernels.
//
// Off (the default), each op pays one relaxed atomic load. On, about 0.1 µs per event (a clock
// read and a mutex); the totals are process-wide, summed over every thread that runs ops.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace nabla::profiler {

/// One row of the profile: every event of one name.
struct Entry {
  std::string name;
  std::int64_t calls = 0;
  double seconds = 0;
};

namespace detail {

using Clock = std::chrono::steady_clock;

struct State {
  std::atomic<bool> enabled{false};
  std::atomic<std::int64_t> generation{0};  // bumped by start(): a thread's last event from before is stale
  std::mutex mutex;
  std::map<std::string, Entry> entries;
  Clock::time_point started{};
  Clock::time_point stopped{};
};

inline State& state() {
  static State instance;
  return instance;
}

/// The calling thread's last event, and how deep it is inside timed regions (backward nodes,
/// Scopes), where ops are part of the region.
struct ThreadClock {
  Clock::time_point last{};
  std::int64_t generation = -1;
  int depth = 0;
};

inline ThreadClock& thread_clock() {
  thread_local ThreadClock clock;
  return clock;
}

inline bool active() { return state().enabled.load(std::memory_order_relaxed); }

inline void add(const std::string& name, double seconds) {
  State& s = state();
  const std::lock_guard lock(s.mutex);
  Entry& entry = s.entries[name];
  if (entry.name.empty()) entry.name = name;
  ++entry.calls;
  entry.seconds += seconds;
}

/// The start of this thread's current interval: its last event, or start() if that is later.
inline Clock::time_point interval_start() {
  ThreadClock& clock = thread_clock();
  State& s = state();
  const std::int64_t generation = s.generation.load(std::memory_order_acquire);
  if (clock.generation != generation) {
    const std::lock_guard lock(s.mutex);
    clock.last = s.started;
    clock.generation = generation;
  }
  return clock.last;
}

/// Adds the event `name` from `begin` to `now` and makes `now` this thread's last event.
inline void end_event(const std::string& name, Clock::time_point begin, Clock::time_point now) {
  add(name, std::chrono::duration<double>(now - begin).count());
  ThreadClock& clock = thread_clock();
  clock.last = now;
  clock.generation = state().generation.load(std::memory_order_acquire);
}

/// record_op's event: the op `name` has just computed its output.
inline void op_recorded(const std::string& name) {
  if (!active() || thread_clock().depth > 0) return;
  const Clock::time_point begin = interval_start();
  end_event(name, begin, Clock::now());
}

/// A timed region of its own (a backward node, a Scope); ops inside it are part of it.
class Region {
 public:
  explicit Region(const std::string& name, const char* suffix = "") : active_(active()) {
    if (!active_) return;
    name_ = name + suffix;  // built only when timing
    ++thread_clock().depth;
    begin_ = Clock::now();
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region() {
    if (!active_) return;
    const Clock::time_point now = Clock::now();
    --thread_clock().depth;
    if (!state().enabled.load(std::memory_order_relaxed)) return;  // stop()ped inside the region
    end_event(name_, begin_, now);
  }

 private:
  bool active_;
  std::string name_;
  Clock::time_point begin_{};
};

}  // namespace detail

/// Clears the profile and starts timing.
inline void start() {
  detail::State& s = detail::state();
  {
    const std::lock_guard lock(s.mutex);
    s.entries.clear();
    s.started = detail::Clock::now();
    s.stopped = {};
  }
  s.generation.fetch_add(1, std::memory_order_acq_rel);
  s.enabled.store(true, std::memory_order_release);
}

/// Stops timing; the profile stays readable until the next start().
inline void stop() {
  detail::State& s = detail::state();
  s.enabled.store(false, std::memory_order_release);
  const std::lock_guard lock(s.mutex);
  s.stopped = detail::Clock::now();
}

/// Whether the profiler is timing.
inline bool is_enabled() { return detail::active(); }

/// The rows, the largest total time first.
inline std::vector<Entry> entries() {
  detail::State& s = detail::state();
  std::vector<Entry> rows;
  {
    const std::lock_guard lock(s.mutex);
    for (const auto& [name, entry] : s.entries) rows.push_back(entry);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return rows;
}

/// Wall time from start() to stop() (or to now while timing), in seconds.
inline double elapsed_seconds() {
  detail::State& s = detail::state();
  const std::lock_guard lock(s.mutex);
  const auto end = s.stopped == detail::Clock::time_point{} ? detail::Clock::now() : s.stopped;
  return std::chrono::duration<double>(end - s.started).count();
}

/// The profile as a text table: name, calls, total ms, µs per call and % of the wall time from
/// start() to stop(); at most `max_rows` rows, then one for the rest and one for the time no
/// event covered.
inline std::string table(std::size_t max_rows = 25) {
  const std::vector<Entry> rows = entries();
  const double wall = elapsed_seconds();
  double covered = 0;
  for (const Entry& entry : rows) covered += entry.seconds;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-40s %8s %12s %12s %7s\n", "name", "calls", "total ms", "us/call", "%");
  out += line;
  const auto add_row = [&](const std::string& name, std::int64_t calls, double seconds) {
    const double share = wall > 0 ? 100.0 * seconds / wall : 0.0;
    const double per_call = calls > 0 ? 1e6 * seconds / static_cast<double>(calls) : 0.0;
    std::snprintf(line, sizeof line, "%-40.40s %8lld %12.3f %12.2f %6.1f%%\n", name.c_str(),
                  static_cast<long long>(calls), 1e3 * seconds, per_call, share);
    out += line;
  };
  double rest = 0;
  std::int64_t rest_calls = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i < max_rows) {
      add_row(rows[i].name, rows[i].calls, rows[i].seconds);
    } else {
      rest += rows[i].seconds;
      rest_calls += rows[i].calls;
    }
  }
  if (rows.size() > max_rows) add_row("(" + std::to_string(rows.size() - max_rows) + " more)", rest_calls, rest);
  if (wall > covered) add_row("(no event)", 0, wall - covered);
  std::snprintf(line, sizeof line, "wall time %.3f ms\n", 1e3 * wall);
  out += line;
  return out;
}

/// Times a region of the caller's own as one row (`name`), e.g. reading a batch; ops inside it
/// belong to it.
class Scope {
 public:
  explicit Scope(const std::string& name, const char* suffix = "") : region_(name, suffix) {}

 private:
  detail::Region region_;
};

}  // namespace nabla::profiler
