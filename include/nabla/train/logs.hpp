// nabla/train/logs.hpp - Logs: the named numbers of one batch or epoch ("loss", "accuracy",
// "val_loss", ...), in the order they were first set.
//
// The order matters for people, not for code: the progress bar, the CSV files and the
// History print "loss" first, then the metrics in the order compile() got them, then the
// same with "val_" in front (Keras's order). Lookups by name are linear, which is fine for
// the handful of entries a log has.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"

namespace nabla::train {

class Logs {
 public:
  using Entry = std::pair<std::string, double>;

  /// Sets `name` to `value`; a new name goes to the end, an existing one keeps its place.
  void set(const std::string& name, double value) {
    for (auto& entry : entries_)
      if (entry.first == name) {
        entry.second = value;
        return;
      }
    entries_.emplace_back(name, value);
  }

  bool contains(const std::string& name) const { return find(name) != nullptr; }

  /// The value of `name`, or nothing.
  std::optional<double> get(const std::string& name) const {
    const Entry* entry = find(name);
    return entry ? std::optional<double>(entry->second) : std::nullopt;
  }

  /// The value of `name`; a ValueError naming `who` and the names there are when it is missing
  /// (a typo in a monitored name is caught at the first epoch, not silently ignored).
  double at(const std::string& name, const std::string& who = "Logs") const {
    if (const Entry* entry = find(name)) return entry->second;
    throw ValueError(who + ": '" + name + "' is not in the logs (available: " + names_text() + ")");
  }

  /// "loss, accuracy, val_loss" (or "none").
  std::string names_text() const {
    std::string text;
    for (const auto& [name, value] : entries_) text += (text.empty() ? "" : ", ") + name;
    return text.empty() ? "none" : text;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

  /// The same entries in a std::map (sorted by name).
  std::map<std::string, double> to_map() const { return {entries_.begin(), entries_.end()}; }

 private:
  const Entry* find(const std::string& name) const {
    for (const auto& entry : entries_)
      if (entry.first == name) return &entry;
    return nullptr;
  }

  std::vector<Entry> entries_;
};

}  // namespace nabla::train
