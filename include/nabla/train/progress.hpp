// nabla/train/progress.hpp - the text fit() prints: a Keras-like progress bar on a terminal,
// one plain line per epoch elsewhere (a log file, a CI job, a captured stream).
//
// On a terminal (verbose = 1) every epoch gets a header and a bar redrawn in place with '\r':
//
//   Epoch 1/10
//   12/50 [=====>........................] - ETA: 3s - loss: 0.4123 - accuracy: 0.8125 - 1520 samples/s
//
// and its final state once the epoch (and validation) is done:
//
//   50/50 [==============================] - 2s - loss: 0.3988 - accuracy: 0.8301 - val_loss: 0.4410 - ...
//
// Elsewhere (verbose = 2, or stdout not a terminal) only that final line is printed, as
//
//   Epoch 1/10 - 2s - loss: 0.3988 - accuracy: 0.8301 - val_loss: 0.4410 - 1520 samples/s
//
// because a '\r' redraw would fill a log file with hundreds of half lines.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>

#include "nabla/train/logs.hpp"

namespace nabla::train {

/// "7s", "1:05" or "1:01:05" (Keras's ETA style).
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto whole = static_cast<long long>(seconds);
  char buffer[48];
  if (whole >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", whole / 3600, (whole % 3600) / 60, whole % 60);
  } else if (whole >= 60) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", whole / 60, whole % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%llds", whole);
  }
  return buffer;
}

/// How long an epoch took: "350ms" under a second, else as format_duration.
inline std::string format_elapsed(double seconds) {
  if (seconds < 1) return std::to_string(static_cast<long long>(std::max(0.0, seconds) * 1000)) + "ms";
  return format_duration(seconds);
}

/// A logged value: 4 decimals ("0.4123"), or scientific for tiny values ("3.2000e-05").
inline std::string format_log_value(double value) {
  char buffer[48];
  const bool tiny = value != 0 && std::abs(value) < 1e-3;
  std::snprintf(buffer, sizeof buffer, tiny ? "%.4e" : "%.4f", value);
  return buffer;
}

/// " - loss: 0.4123 - accuracy: 0.8125" for every entry of `logs`.
inline std::string format_logs(const Logs& logs) {
  std::string text;
  for (const auto& [name, value] : logs) text += " - " + name + ": " + format_log_value(value);
  return text;
}

/// "12/50 [=====>........................]": the step counter (padded to the width of the
/// total) and a bar of `width` characters, '>' marking the head while the epoch runs.
inline std::string format_progress_bar(std::int64_t step, std::int64_t total, int width = 30) {
  const std::string total_text = std::to_string(total);
  std::string step_text = std::to_string(step);
  if (step_text.size() < total_text.size()) step_text.insert(0, total_text.size() - step_text.size(), ' ');
  const double fraction = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 1.0;
  const int filled = std::min(width, static_cast<int>(width * fraction));
  std::string bar = step_text + "/" + total_text + " [";
  if (filled > 0) bar += std::string(static_cast<std::size_t>(filled - 1), '=') + (step < total ? ">" : "=");
  bar += std::string(static_cast<std::size_t>(width - filled), '.');
  return bar + "]";
}

/// "1520 samples/s" (whole numbers; more digits would only flicker).
inline std::string format_throughput(double samples_per_second) {
  if (!std::isfinite(samples_per_second) || samples_per_second < 0) samples_per_second = 0;
  return std::to_string(static_cast<long long>(std::llround(samples_per_second))) + " samples/s";
}

/// The progress display of one epoch. Construct it when the epoch starts.
class ProgressBar {
 public:
  /// `terminal`: redraw a bar in place; otherwise print one line when the epoch is done.
  ProgressBar(std::ostream& out, int epoch, int epochs, std::int64_t total_steps, bool terminal)
      : out_(out),
        epoch_(epoch),
        epochs_(epochs),
        total_steps_(total_steps),
        terminal_(terminal),
        start_(Clock::now()) {
    if (terminal_) out_ << "Epoch " << epoch_ + 1 << "/" << epochs_ << "\n" << std::flush;
  }

  /// After each batch: redraws the bar (on a terminal, at most every 50 ms, so that printing
  /// never slows down training).
  void update(std::int64_t step, const Logs& logs, std::int64_t samples_seen) {
    if (!terminal_) return;
    const double elapsed = seconds_since_start();
    if (step < total_steps_ && step > 1 && elapsed - last_draw_ < 0.05) return;
    last_draw_ = elapsed;
    const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_steps_ - step) : 0;
    draw(format_progress_bar(step, total_steps_) + " - ETA: " + format_duration(eta) + format_logs(logs) + " - " +
         format_throughput(throughput(samples_seen, elapsed)));
  }

  /// When the epoch is done: its final line, with the epoch's time and every log entry
  /// (validation included). `steps` is how many batches ran (fewer if training was stopped).
  void finish(std::int64_t steps, const Logs& logs, std::int64_t samples_seen) {
    const double elapsed = seconds_since_start();
    const std::string tail = " - " + format_elapsed(elapsed) + format_logs(logs) + " - " +
                             format_throughput(throughput(samples_seen, elapsed));
    if (terminal_) {
      draw(format_progress_bar(steps, total_steps_) + tail);
      out_ << "\n";
    } else {
      out_ << "Epoch " << epoch_ + 1 << "/" << epochs_ << tail << "\n";
    }
    out_ << std::flush;
  }

 private:
  using Clock = std::chrono::steady_clock;

  double seconds_since_start() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  static double throughput(std::int64_t samples, double seconds) {
    return seconds > 0 ? static_cast<double>(samples) / seconds : 0.0;
  }
  /// Rewrites the current line; spaces wipe what a longer previous line left behind.
  void draw(const std::string& line) {
    const std::size_t padding = line.size() < last_width_ ? last_width_ - line.size() : 0;
    out_ << "\r" << line << std::string(padding, ' ') << std::flush;
    last_width_ = line.size();
  }

  std::ostream& out_;
  int epoch_;
  int epochs_;
  std::int64_t total_steps_;
  bool terminal_;
  Clock::time_point start_;
  double last_draw_ = -1;
  std::size_t last_width_ = 0;
};

}  // namespace nabla::train
