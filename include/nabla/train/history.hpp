// nabla/train/history.hpp - History: what fit() returns, the loss and metrics of every epoch.
//
//   auto history = model.fit(x, y, {.epochs = 20, .validation_split = 0.2});
//   history["loss"].back();          // the training loss of the last epoch
//   history["val_accuracy"];         // one value per epoch
//   history.to_csv("history.csv");   // epoch,loss,accuracy,val_loss,val_accuracy
//   history.write_svg("history.svg");  // learning curves, train vs validation, per quantity
//
// Every series has one value per recorded epoch; a quantity that is missing in some epoch
// (e.g. "lr" added by a callback later on) holds NaN there, so columns always line up.
#pragma once

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/train/logs.hpp"
#include "nabla/train/svg_chart.hpp"

namespace nabla::train {

namespace detail {

/// The shortest text that reads back as the same double ("0.1", "nan", "inf").
inline std::string shortest_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

/// A CSV field, quoted when it holds a separator, a quote or a line break (RFC 4180).
inline std::string csv_field(const std::string& text, char separator = ',') {
  if (text.find_first_of(std::string(1, separator) + "\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

/// Writes `text` to `path`, replacing it; an IOError names `who` and the path on failure.
inline void write_text_file(const std::string& who, const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw IOError(who + ": cannot open '" + path + "' for writing");
  file << text;
  file.flush();
  if (!file) throw IOError(who + ": writing '" + path + "' failed");
}

}  // namespace detail

class History {
 public:
  /// Appends one epoch (0-based, as in Keras' logs and CSV files).
  void record(int epoch, const Logs& logs) {
    for (const auto& [name, value] : logs)
      if (series_.find(name) == series_.end()) {
        names_.push_back(name);
        // a quantity first seen now had no value in the earlier epochs
        series_[name].assign(epochs_.size(), std::numeric_limits<double>::quiet_NaN());
      }
    epochs_.push_back(epoch);
    for (const auto& name : names_)
      series_[name].push_back(logs.get(name).value_or(std::numeric_limits<double>::quiet_NaN()));
  }

  /// The values of `name`, one per recorded epoch; a ValueError listing the names there are
  /// when `name` is unknown.
  const std::vector<double>& operator[](const std::string& name) const {
    auto found = series_.find(name);
    if (found == series_.end()) {
      std::string known;
      for (const auto& known_name : names_) known += (known.empty() ? "" : ", ") + known_name;
      throw ValueError("History: no series '" + name + "' (recorded: " + (known.empty() ? "none" : known) + ")");
    }
    return found->second;
  }
  bool contains(const std::string& name) const { return series_.count(name) > 0; }

  /// The recorded quantities in order of first appearance: "loss", metrics, "val_loss", ...
  const std::vector<std::string>& names() const { return names_; }
  /// The 0-based epoch number of each recorded row.
  const std::vector<int>& epochs() const { return epochs_; }
  /// How many epochs were recorded (fewer than asked for when training stopped early).
  std::size_t size() const { return epochs_.size(); }
  bool empty() const { return epochs_.empty(); }

  /// The table as CSV: a header "epoch,loss,..." and one row per epoch, numbers written in
  /// their shortest exact form.
  std::string to_csv_string(char separator = ',') const {
    std::string text = "epoch";
    for (const auto& name : names_) text += separator + detail::csv_field(name, separator);
    text += "\n";
    for (std::size_t row = 0; row < epochs_.size(); ++row) {
      text += std::to_string(epochs_[row]);
      for (const auto& name : names_) text += separator + detail::shortest_number(series_.at(name)[row]);
      text += "\n";
    }
    return text;
  }
  void to_csv(const std::string& path, char separator = ',') const {
    detail::write_text_file("History::to_csv", path, to_csv_string(separator));
  }

  /// The learning curves as an SVG document: one panel per quantity, the training series
  /// solid and its "val_" counterpart dashed, against the epoch number (1-based, as the
  /// progress output counts them).
  std::string to_svg() const {
    std::vector<ChartPanel> panels;
    std::map<std::string, std::size_t> panel_of;  // quantity without "val_" -> its panel
    for (const auto& name : names_) {
      const bool validation = name.rfind("val_", 0) == 0 && name.size() > 4;
      const std::string quantity = validation ? name.substr(4) : name;
      auto found = panel_of.find(quantity);
      if (found == panel_of.end()) {
        found = panel_of.emplace(quantity, panels.size()).first;
        panels.push_back(ChartPanel{quantity, {}, "epoch"});
      }
      panels[found->second].series.push_back(
          ChartSeries{name, series_.at(name), validation ? "#ff7f0e" : "#1f77b4", validation});
    }
    std::vector<double> x_values;
    for (int epoch : epochs_) x_values.push_back(epoch + 1.0);
    return line_chart_svg(panels, x_values);
  }
  void write_svg(const std::string& path) const { detail::write_text_file("History::write_svg", path, to_svg()); }

 private:
  std::vector<int> epochs_;
  std::vector<std::string> names_;
  std::map<std::string, std::vector<double>> series_;
};

}  // namespace nabla::train
