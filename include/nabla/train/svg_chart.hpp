// nabla/train/svg_chart.hpp - a small, self-contained SVG line chart (no library, no script):
// how History draws its learning curves.
//
// The chart is a grid of panels (two per row), one per quantity (loss, accuracy, ...). Each
// panel has a title, a y axis with "nice" ticks (1, 2 or 5 times a power of ten) and grid
// lines, an x axis with whole-number ticks (epochs), one polyline per series (a series is
// split where it has a NaN or an infinity, so a diverged run does not draw a line to
// nowhere), and a legend. Every piece of text is XML-escaped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace nabla::train {

/// One line of a panel: its legend label, its y value at every x (NaN = no point), its style.
struct ChartSeries {
  std::string label;
  std::vector<double> values;
  std::string color = "#1f77b4";
  bool dashed = false;
};

/// One plot: a title and the series drawn on shared axes.
struct ChartPanel {
  std::string title;
  std::vector<ChartSeries> series;
  std::string x_label = "epoch";
};

/// Text made safe for XML: & < > " ' become entities.
inline std::string xml_escape(const std::string& text) {
  std::string result;
  result.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        result += "&amp;";
        break;
      case '<':
        result += "&lt;";
        break;
      case '>':
        result += "&gt;";
        break;
      case '"':
        result += "&quot;";
        break;
      case '\'':
        result += "&apos;";
        break;
      default:
        result += c;
    }
  }
  return result;
}

/// Axis ticks: the values of a "nice" step (1, 2 or 5 times a power of ten) that cover
/// [low, high] with about `target_count` ticks. The first and last tick bound the axis.
inline std::vector<double> nice_ticks(double low, double high, int target_count = 5) {
  if (!std::isfinite(low) || !std::isfinite(high)) {
    low = 0;
    high = 1;
  }
  if (low > high) std::swap(low, high);
  if (high - low < 1e-12 * std::max(1.0, std::abs(high))) {  // a flat line: give it some room
    const double pad = low == 0 ? 1.0 : std::abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double rough_step = (high - low) / std::max(1, target_count - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough_step)));
  const double fraction = rough_step / magnitude;
  const double step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
  std::vector<double> ticks;
  const double first = std::floor(low / step) * step;
  for (int i = 0; i < 100; ++i) {  // the bound only guards against rounding surprises
    const double tick = first + i * step;
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);  // print 0, not 1e-17
    if (tick >= high - step * 1e-9) break;
  }
  return ticks;
}

namespace detail {

inline std::string svg_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

/// A tick label with as many decimals as the step between ticks needs.
inline std::string tick_label(double value, double step) {
  char buffer[48];
  if (std::abs(value) >= 1e6 || (step > 0 && step < 1e-6)) {
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
  } else {
    const int decimals = step >= 1 ? 0 : std::min(8, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  }
  return buffer;
}

}  // namespace detail

/// The SVG document of `panels`, all drawn against the same x values (e.g. epochs 1..n).
inline std::string line_chart_svg(const std::vector<ChartPanel>& panels, const std::vector<double>& x_values) {
  constexpr double panel_width = 440, panel_height = 300;
  constexpr double margin_left = 64, margin_right = 18, margin_top = 40, margin_bottom = 48;
  const std::size_t columns = panels.size() < 2 ? 1 : 2;
  const std::size_t rows = panels.empty() ? 1 : (panels.size() + columns - 1) / columns;
  const double width = panel_width * static_cast<double>(columns);
  const double height = panel_height * static_cast<double>(rows);
  using detail::svg_number;

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << svg_number(width) << "\" height=\""
      << svg_number(height) << "\" viewBox=\"0 0 " << svg_number(width) << " " << svg_number(height)
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << svg_number(width) << "\" height=\"" << svg_number(height)
      << "\" fill=\"white\"/>\n";
  if (panels.empty())
    svg << "<text x=\"" << svg_number(width / 2) << "\" y=\"" << svg_number(height / 2)
        << "\" text-anchor=\"middle\">no data</text>\n";

  // The x axis: whole-number ticks over the x values (one extra unit around a single point).
  double x_min = x_values.empty() ? 0 : *std::min_element(x_values.begin(), x_values.end());
  double x_max = x_values.empty() ? 1 : *std::max_element(x_values.begin(), x_values.end());
  if (x_max <= x_min) {
    x_min -= 1;
    x_max += 1;
  }
  const std::vector<double> x_ticks = nice_ticks(x_min, x_max, 8);
  const double x_step = x_ticks.size() > 1 ? std::max(1.0, std::round(x_ticks[1] - x_ticks[0])) : 1.0;

  for (std::size_t p = 0; p < panels.size(); ++p) {
    const ChartPanel& panel = panels[p];
    const double left = panel_width * static_cast<double>(p % columns);
    const double top = panel_height * static_cast<double>(p / columns);
    const double x0 = left + margin_left, x1 = left + panel_width - margin_right;
    const double y0 = top + margin_top, y1 = top + panel_height - margin_bottom;

    // The y range covers every finite value of every series of the panel.
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const auto& series : panel.series)
      for (double value : series.values)
        if (std::isfinite(value)) {
          low = std::min(low, value);
          high = std::max(high, value);
        }
    if (!std::isfinite(low)) {
      low = 0;
      high = 1;
    }
    const std::vector<double> y_ticks = nice_ticks(low, high);
    const double y_min = y_ticks.front(), y_max = y_ticks.back();
    const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1.0;
    auto to_x = [&](double x) { return x0 + (x - x_min) / (x_max - x_min) * (x1 - x0); };
    auto to_y = [&](double y) { return y1 - (y - y_min) / (y_max - y_min) * (y1 - y0); };

    svg << "<g>\n<text x=\"" << svg_number(left + panel_width / 2) << "\" y=\"" << svg_number(top + 24)
        << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << xml_escape(panel.title) << "</text>\n";
    // grid lines and y tick labels
    for (double tick : y_ticks) {
      const double y = to_y(tick);
      svg << "<line x1=\"" << svg_number(x0) << "\" y1=\"" << svg_number(y) << "\" x2=\"" << svg_number(x1)
          << "\" y2=\"" << svg_number(y) << "\" stroke=\"#e0e0e0\"/>\n"
          << "<text x=\"" << svg_number(x0 - 6) << "\" y=\"" << svg_number(y + 4) << "\" text-anchor=\"end\">"
          << xml_escape(detail::tick_label(tick, y_step)) << "</text>\n";
    }
    // x ticks and labels
    for (double tick = std::ceil(x_min); tick <= x_max + 1e-9; tick += x_step) {
      const double x = to_x(tick);
      svg << "<line x1=\"" << svg_number(x) << "\" y1=\"" << svg_number(y1) << "\" x2=\"" << svg_number(x) << "\" y2=\""
          << svg_number(y1 + 5) << "\" stroke=\"black\"/>\n"
          << "<text x=\"" << svg_number(x) << "\" y=\"" << svg_number(y1 + 18) << "\" text-anchor=\"middle\">"
          << xml_escape(detail::tick_label(tick, 1)) << "</text>\n";
    }
    // the axes
    svg << "<line x1=\"" << svg_number(x0) << "\" y1=\"" << svg_number(y0) << "\" x2=\"" << svg_number(x0) << "\" y2=\""
        << svg_number(y1) << "\" stroke=\"black\"/>\n"
        << "<line x1=\"" << svg_number(x0) << "\" y1=\"" << svg_number(y1) << "\" x2=\"" << svg_number(x1) << "\" y2=\""
        << svg_number(y1) << "\" stroke=\"black\"/>\n"
        << "<text x=\"" << svg_number((x0 + x1) / 2) << "\" y=\"" << svg_number(y1 + 36) << "\" text-anchor=\"middle\">"
        << xml_escape(panel.x_label) << "</text>\n";

    // the series: one polyline per unbroken run of finite values, points marked by dots
    for (const auto& series : panel.series) {
      const std::string style = "fill=\"none\" stroke=\"" + xml_escape(series.color) + "\" stroke-width=\"2\"" +
                                (series.dashed ? " stroke-dasharray=\"6 4\"" : "");
      std::vector<std::string> runs(1);
      std::string dots;
      const std::size_t count = std::min(series.values.size(), x_values.size());
      for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(series.values[i])) {
          if (!runs.back().empty()) runs.emplace_back();
          continue;
        }
        const std::string point = svg_number(to_x(x_values[i])) + "," + svg_number(to_y(series.values[i]));
        runs.back() += (runs.back().empty() ? "" : " ") + point;
        if (count <= 60)
          dots += "<circle cx=\"" + svg_number(to_x(x_values[i])) + "\" cy=\"" + svg_number(to_y(series.values[i])) +
                  "\" r=\"2.5\" fill=\"" + xml_escape(series.color) + "\"/>\n";
      }
      if (runs.size() > 1 && runs.back().empty()) runs.pop_back();
      for (const auto& run : runs) svg << "<polyline points=\"" << run << "\" " << style << "/>\n";
      svg << dots;
    }

    // the legend, in the top-right corner of the plot
    const double legend_width = 130, legend_x = x1 - legend_width - 4, legend_y = y0 + 4;
    svg << "<rect x=\"" << svg_number(legend_x) << "\" y=\"" << svg_number(legend_y) << "\" width=\""
        << svg_number(legend_width) << "\" height=\"" << svg_number(8 + 16 * static_cast<double>(panel.series.size()))
        << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#c0c0c0\"/>\n";
    for (std::size_t s = 0; s < panel.series.size(); ++s) {
      const ChartSeries& series = panel.series[s];
      const double y = legend_y + 14 + 16 * static_cast<double>(s);
      svg << "<line x1=\"" << svg_number(legend_x + 8) << "\" y1=\"" << svg_number(y - 4) << "\" x2=\""
          << svg_number(legend_x + 32) << "\" y2=\"" << svg_number(y - 4) << "\" stroke=\"" << xml_escape(series.color)
          << "\" stroke-width=\"2\"" << (series.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n"
          << "<text x=\"" << svg_number(legend_x + 38) << "\" y=\"" << svg_number(y) << "\">"
          << xml_escape(series.label) << "</text>\n";
    }
    svg << "</g>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace nabla::train
