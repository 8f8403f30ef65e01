// nabla/autograd/grad_mode.hpp - switching graph recording on and off.
#pragma once

namespace nabla {

namespace detail {
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool& anomaly_mode_flag() {
  thread_local bool enabled = false;
  return enabled;
}
}  // namespace detail

/// Whether ops currently record the graph that backward() walks (per thread).
inline bool is_grad_enabled() { return detail::grad_mode_flag(); }

/// While alive, ops record no graph: use it for optimizer updates and inference.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
  ~NoGradGuard() { detail::grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Re-enables recording inside a NoGradGuard scope.
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = true; }
  ~EnableGradGuard() { detail::grad_mode_flag() = previous_; }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

/// Anomaly detection: when on, every op checks its forward output and backward gradients
/// for NaN/Inf and throws a ValueError naming the op that produced them (slow; for debugging).
inline bool is_anomaly_enabled() { return detail::anomaly_mode_flag(); }
inline void set_detect_anomaly(bool enabled) { detail::anomaly_mode_flag() = enabled; }

}  // namespace nabla
