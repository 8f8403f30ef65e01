// nabla/data/csv.hpp - reading CSV files into columns, and columns into tensors.
//
//   auto table = nb::data::read_csv("housing.csv");               // header line, ',' separated
//   nb::Tensor<float> x = table.to_tensor<float>({"rooms", "age"}); // [rows, 2]
//   nb::Tensor<float> y = table.column<float>("price");            // [rows]
//   const std::vector<std::string>& towns = table.strings("town");
//
// The format is RFC 4180: fields separated by the delimiter, records by "\n" or "\r\n" (a
// lone "\r" also ends a record); a field in double quotes may hold delimiters, line breaks,
// and quotes written twice (""). Beyond the RFC: a quote inside an unquoted field is an
// ordinary character (5'11"), empty lines are skipped, and a UTF-8 byte order mark at the
// start is ignored.
//
// Values are kept as text and converted when a column is asked for as a tensor, so the same
// table serves numeric and text columns. A malformed file never crashes the reader: a row
// with the wrong number of fields or an unterminated quote is an IOError, and a field that
// is not a number where one is asked for is a ValueError; both name the file and the line,
// e.g. "read_csv: housing.csv:17: row has 3 fields, but the header has 4".
#pragma once

#include <charconv>
#include <cstdint>
#include <fstream>
#include <istream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::data {

/// What to do with a missing value (a field equal to one of CsvOptions::missing_values).
enum class MissingPolicy {
  error,     // throw an IOError naming the line and the column
  skip_row,  // leave out every row that has a missing value
  fill,      // replace it by CsvOptions::fill_value
};

struct CsvOptions {
  /// The first record holds the column names. Without a header the columns are named
  /// "0", "1", ... (like pandas).
  bool header = true;
  char delimiter = ',';
  char quote = '"';
  MissingPolicy missing = MissingPolicy::error;
  /// With MissingPolicy::fill: the value a missing field takes (in a text column, its text,
  /// written as the shortest decimal that reads back exactly, e.g. "0" or "-1.5").
  double fill_value = 0.0;
  /// The field texts that mean "missing" (compared after unquoting). Empty list: none.
  std::vector<std::string> missing_values = {""};
};

/// The parsed file: named columns of text, each converted to a tensor on request.
class CsvTable {
 public:
  CsvTable() = default;
  CsvTable(std::string source, std::vector<std::string> names, std::vector<std::vector<std::string>> columns,
           std::vector<std::int64_t> row_lines)
      : source_(std::move(source)),
        names_(std::move(names)),
        columns_(std::move(columns)),
        row_lines_(std::move(row_lines)) {
    for (std::size_t i = 0; i < names_.size(); ++i) index_by_name_.emplace(names_[i], static_cast<std::int64_t>(i));
  }

  const std::vector<std::string>& column_names() const { return names_; }
  std::int64_t num_rows() const { return static_cast<std::int64_t>(row_lines_.size()); }
  std::int64_t num_columns() const { return static_cast<std::int64_t>(names_.size()); }
  /// The file name (or the name given for a stream) used in error messages.
  const std::string& source() const { return source_; }
  /// The line of the file on which row `row` starts (1-based; the header is line 1).
  std::int64_t line_of_row(std::int64_t row) const {
    if (row < 0 || row >= num_rows())
      throw ValueError("CsvTable::line_of_row: row " + std::to_string(row) + " is out of range for a table of " +
                       std::to_string(num_rows()) + " rows");
    return row_lines_[static_cast<std::size_t>(row)];
  }

  bool has_column(const std::string& name) const { return index_by_name_.count(name) > 0; }
  /// The position of column `name`; ValueError listing the columns if there is none.
  std::int64_t column_index(const std::string& name) const {
    const auto found = index_by_name_.find(name);
    if (found == index_by_name_.end()) {
      std::string known;
      for (const auto& column : names_) known += (known.empty() ? "'" : ", '") + column + "'";
      throw ValueError("CsvTable: " + source_ + " has no column '" + name +
                       "' (its columns: " + (known.empty() ? "none" : known) + ")");
    }
    return found->second;
  }

  /// The texts of a column, one per row.
  const std::vector<std::string>& strings(const std::string& name) const { return strings(column_index(name)); }
  const std::vector<std::string>& strings(std::int64_t column) const {
    check_column("CsvTable::strings", column);
    return columns_[static_cast<std::size_t>(column)];
  }

  /// A column as a 1-D tensor [rows]: float/double parse decimals (1.5, -2e3, nan, inf),
  /// int64 parses integers only. ValueError at the first field that does not parse, with
  /// its line.
  template <TensorElement T>
  Tensor<T> column(const std::string& name) const {
    return column<T>(column_index(name));
  }
  template <TensorElement T>
  Tensor<T> column(std::int64_t index) const {
    check_column("CsvTable::column", index);
    Tensor<T> result({num_rows()});
    T* data = result.data();
    for (std::int64_t row = 0; row < num_rows(); ++row) data[row] = parse<T>("CsvTable::column", row, index);
    return result;
  }

  /// Several columns side by side as a [rows, columns] tensor (model inputs).
  template <TensorElement T>
  Tensor<T> to_tensor(const std::vector<std::string>& names) const {
    std::vector<std::int64_t> indices;
    for (const auto& name : names) indices.push_back(column_index(name));
    return gather<T>(indices);
  }
  /// Every column as a [rows, columns] tensor.
  template <TensorElement T>
  Tensor<T> to_tensor() const {
    std::vector<std::int64_t> indices;
    for (std::int64_t column = 0; column < num_columns(); ++column) indices.push_back(column);
    return gather<T>(indices);
  }

  /// True when every value of the column parses as a number of type T.
  template <TensorElement T = double>
  bool is_numeric(const std::string& name) const {
    const std::int64_t column = column_index(name);
    T value{};
    for (const auto& text : columns_[static_cast<std::size_t>(column)])
      if (parse_number(text, value) != ParseResult::ok) return false;
    return true;
  }

  // ---- numbers from text ---------------------------------------------------------------
  enum class ParseResult { ok, not_a_number, out_of_range };

  /// Parses the whole of `text` (surrounding spaces and tabs allowed) as a T, with
  /// std::from_chars: the same result on every platform and in every locale.
  template <TensorElement T>
  static ParseResult parse_number(std::string_view text, T& value) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    // from_chars takes no leading '+'; accept one before a digit, a '.' or a letter (+inf).
    if (!text.empty() && text.front() == '+') {
      text.remove_prefix(1);
      if (text.empty() || text.front() == '+' || text.front() == '-') return ParseResult::not_a_number;
    }
    if (text.empty()) return ParseResult::not_a_number;
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (error == std::errc::result_out_of_range) return ParseResult::out_of_range;
    if (error != std::errc() || stop != end) return ParseResult::not_a_number;
    return ParseResult::ok;
  }

 private:
  void check_column(const char* op, std::int64_t column) const {
    if (column < 0 || column >= num_columns())
      throw ValueError(std::string(op) + ": column " + std::to_string(column) + " is out of range; " + source_ +
                       " has " + std::to_string(num_columns()) + " columns");
  }

  template <TensorElement T>
  T parse(const char* op, std::int64_t row, std::int64_t column) const {
    const std::string& text = columns_[static_cast<std::size_t>(column)][static_cast<std::size_t>(row)];
    T value{};
    const ParseResult result = parse_number(text, value);
    if (result == ParseResult::ok) return value;
    const char* kind = std::is_same_v<T, std::int64_t> ? "an integer" : "a number";
    const char* type = std::is_same_v<T, std::int64_t> ? "int64" : (std::is_same_v<T, float> ? "float" : "double");
    // Quote the text, shortened and with control bytes escaped, so the message stays one line.
    std::string shown;
    for (std::size_t i = 0; i < text.size() && i < 40; ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      if (byte < 0x20 || byte == 0x7f) {
        const char* digits = "0123456789abcdef";
        shown += std::string("\\x") + digits[byte >> 4] + digits[byte & 15];
      } else {
        shown += text[i];
      }
    }
    if (text.size() > 40) shown += "...";
    throw ValueError(
        std::string(op) + ": " + source_ + ":" + std::to_string(row_lines_[static_cast<std::size_t>(row)]) +
        ": column '" + names_[static_cast<std::size_t>(column)] + "' holds '" + shown + "', which " +
        (result == ParseResult::out_of_range
             ? std::string("is out of range for ") + type
             : std::string("is not ") + kind +
                   (std::is_same_v<T, std::int64_t> ? " (read decimals with column<float> or <double>)" : "")));
  }

  template <TensorElement T>
  Tensor<T> gather(const std::vector<std::int64_t>& indices) const {
    if (indices.empty()) throw ValueError("CsvTable::to_tensor: no columns to put in the tensor");
    const auto width = static_cast<std::int64_t>(indices.size());
    Tensor<T> result({num_rows(), width});
    T* data = result.data();
    for (std::int64_t row = 0; row < num_rows(); ++row)
      for (std::int64_t k = 0; k < width; ++k)
        data[row * width + k] = parse<T>("CsvTable::to_tensor", row, indices[static_cast<std::size_t>(k)]);
    return result;
  }

  std::string source_;
  std::vector<std::string> names_;
  std::vector<std::vector<std::string>> columns_;  // columns_[column][row]
  std::vector<std::int64_t> row_lines_;
  std::unordered_map<std::string, std::int64_t> index_by_name_;
};

namespace detail {

/// Splits CSV text into records of fields, one record per next() call (RFC 4180, see the
/// top of this file). Tracks line numbers for error messages.
class CsvReader {
 public:
  CsvReader(std::string_view text, const CsvOptions& options, const std::string& source)
      : text_(text), options_(options), source_(source) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") position_ = 3;  // UTF-8 byte order mark
  }

  /// Reads the next record into `fields`; false at the end of the input. `line` receives the
  /// line on which the record starts.
  bool next(std::vector<std::string>& fields, std::int64_t& line) {
    // Empty lines separate nothing: skip them.
    while (position_ < text_.size() && is_line_break(text_[position_])) skip_line_break();
    if (position_ >= text_.size()) return false;
    line = line_;
    fields.clear();
    while (true) {
      std::string field;
      if (text_[position_] == options_.quote) {
        read_quoted(field, fields.size() + 1);
      } else {
        while (position_ < text_.size() && text_[position_] != options_.delimiter && !is_line_break(text_[position_]))
          field += text_[position_++];
      }
      fields.push_back(std::move(field));
      if (position_ >= text_.size()) return true;
      if (text_[position_] == options_.delimiter) {
        ++position_;
        if (position_ >= text_.size()) {  // a delimiter at the very end: one more, empty field
          fields.emplace_back();
          return true;
        }
        continue;
      }
      skip_line_break();
      return true;
    }
  }

 private:
  static bool is_line_break(char c) { return c == '\n' || c == '\r'; }

  /// Consumes "\n", "\r\n" or a lone "\r" and counts the line.
  void skip_line_break() {
    if (text_[position_] == '\r' && position_ + 1 < text_.size() && text_[position_ + 1] == '\n') ++position_;
    ++position_;
    ++line_;
  }

  /// Reads a field that starts with a quote, up to its closing quote.
  void read_quoted(std::string& field, std::size_t field_number) {
    const std::int64_t opened_on = line_;
    ++position_;  // the opening quote
    while (true) {
      if (position_ >= text_.size())
        throw IOError("read_csv: " + source_ + ":" + std::to_string(opened_on) + ": field " +
                      std::to_string(field_number) + " opens a quote that is never closed");
      const char c = text_[position_];
      if (c == options_.quote) {
        if (position_ + 1 < text_.size() && text_[position_ + 1] == options_.quote) {  // "" is one quote
          field += c;
          position_ += 2;
          continue;
        }
        ++position_;  // the closing quote
        break;
      }
      if (c == '\n' || (c == '\r' && !(position_ + 1 < text_.size() && text_[position_ + 1] == '\n'))) ++line_;
      field += c;
      ++position_;
    }
    if (position_ < text_.size() && text_[position_] != options_.delimiter && !is_line_break(text_[position_]))
      throw IOError("read_csv: " + source_ + ":" + std::to_string(line_) + ": field " + std::to_string(field_number) +
                    " has text after its closing quote (a quote inside a quoted field must be "
                    "doubled: \"\")");
  }

  std::string_view text_;
  const CsvOptions& options_;
  const std::string& source_;
  std::size_t position_ = 0;
  std::int64_t line_ = 1;
};

/// The text a missing field is filled with: the shortest decimal that reads back as `value`.
inline std::string fill_text(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "nan";
  return std::string(buffer, end);
}

}  // namespace detail

/// Parses CSV from a stream. `source` names it in error messages (e.g. the file name).
inline CsvTable read_csv(std::istream& input, const CsvOptions& options = {}, const std::string& source = "<stream>") {
  const char delimiter = options.delimiter, quote = options.quote;
  if (delimiter == quote || delimiter == '\n' || delimiter == '\r' || quote == '\n' || quote == '\r')
    throw ValueError("read_csv: the delimiter and the quote must differ from each other and from line breaks");
  const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
  if (input.bad()) throw IOError("read_csv: " + source + ": reading failed");

  detail::CsvReader reader(text, options, source);
  std::vector<std::string> fields;
  std::int64_t line = 0;
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> columns;
  std::vector<std::int64_t> row_lines;
  const bool has_first = reader.next(fields, line);

  if (options.header) {
    if (!has_first) throw IOError("read_csv: " + source + ": the input is empty, but a header line was expected");
    names = fields;
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < names.size(); ++i)
      if (!seen.emplace(names[i], i).second)
        throw IOError("read_csv: " + source + ":" + std::to_string(line) + ": the header names column '" + names[i] +
                      "' twice (fields " + std::to_string(seen[names[i]] + 1) + " and " + std::to_string(i + 1) + ")");
  } else if (has_first) {
    for (std::size_t i = 0; i < fields.size(); ++i) names.push_back(std::to_string(i));
  }
  columns.resize(names.size());

  const std::string filled = detail::fill_text(options.fill_value);
  bool pending = has_first && !options.header;  // without a header, the first record is data
  while (pending || reader.next(fields, line)) {
    pending = false;
    if (fields.size() != names.size())
      throw IOError("read_csv: " + source + ":" + std::to_string(line) + ": row has " + std::to_string(fields.size()) +
                    " field" + (fields.size() == 1 ? "" : "s") + ", but " +
                    (options.header ? "the header has " : "the first row has ") + std::to_string(names.size()));
    bool skip = false;
    for (std::size_t i = 0; i < fields.size() && !skip; ++i) {
      bool missing = false;
      for (const auto& marker : options.missing_values) missing = missing || fields[i] == marker;
      if (!missing) continue;
      switch (options.missing) {
        case MissingPolicy::error:
          throw IOError("read_csv: " + source + ":" + std::to_string(line) + ": missing value in column '" + names[i] +
                        "' (field " + std::to_string(i + 1) +
                        "); to accept missing values set CsvOptions::missing to "
                        "MissingPolicy::skip_row or fill");
        case MissingPolicy::skip_row:
          skip = true;
          break;
        case MissingPolicy::fill:
          fields[i] = filled;
          break;
      }
    }
    if (skip) continue;
    for (std::size_t i = 0; i < fields.size(); ++i) columns[i].push_back(std::move(fields[i]));
    row_lines.push_back(line);
  }
  return CsvTable(source, std::move(names), std::move(columns), std::move(row_lines));
}

/// Reads a CSV file (binary mode: line breaks are handled by the parser, not the platform).
inline CsvTable read_csv(const std::string& path, const CsvOptions& options = {}) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IOError("read_csv: cannot open '" + path + "' for reading");
  return read_csv(file, options, path);
}

}  // namespace nabla::data
