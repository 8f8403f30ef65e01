// nabla/io/npy.hpp - NumPy .npy files for single tensors (numpy.save / numpy.load).
//
//   nb::save_npy("weights.npy", tensor);              // np.load("weights.npy") in Python
//   auto x = nb::load_npy<float>("features.npy");     // a file from np.save(..., a.astype('<f4'))
//
// The format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor version byte, the
// header length (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), then the header:
// a Python dict literal such as  {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes, then the
// elements in row-major order. nabla writes version 1.0 and reads 1.0, 2.0 and 3.0, with the
// dtypes '<f4' (float), '<f8' (double) and '<i8' (int64); big-endian data, other dtypes and
// Fortran order are rejected with an IOError that says how to convert the array.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "nabla/core/tensor.hpp"
#include "nabla/io/file.hpp"
#include "nabla/io/tensor_data.hpp"

namespace nabla::io {

inline constexpr unsigned char kNpyMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
/// Largest header nabla accepts (numpy itself refuses headers over 10000 bytes by default).
inline constexpr std::uint64_t kNpyMaxHeaderSize = 65536;

namespace detail {

inline std::string npy_descr(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "<f4";
    case DType::float64:
      return "<f8";
    case DType::int64:
      return "<i8";
  }
  return "";
}

/// A value of the header dict: a string, True/False, or a tuple of integers (the shape).
using NpyValue = std::variant<std::string, bool, std::vector<std::int64_t>>;

/// Parses the restricted Python literal of a .npy header: a dict with string keys whose
/// values are strings, True/False or tuples of non-negative integers.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& text, const FileReader& file) : text_(text), file_(file) {}

  std::map<std::string, NpyValue> parse_dict() {
    std::map<std::string, NpyValue> dict;
    expect('{');
    while (true) {
      skip_spaces();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      NpyValue value = parse_value();
      if (!dict.emplace(key, std::move(value)).second) fail("duplicate key '" + key + "'");
      skip_spaces();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++position_;
    skip_spaces();
    if (position_ != text_.size()) fail("unexpected text after the dict");
    return dict;
  }

 private:
  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  void skip_spaces() {
    while (position_ < text_.size() &&
           (text_[position_] == ' ' || text_[position_] == '\n' || text_[position_] == '\t'))
      ++position_;
  }
  void expect(char wanted) {
    skip_spaces();
    if (peek() != wanted) fail(std::string("expected '") + wanted + "'");
    ++position_;
  }
  [[noreturn]] void fail(const std::string& message) const {
    file_.fail("malformed .npy header: " + message + " at character " + std::to_string(position_) + " of \"" +
               text_.substr(0, 200) + "\"");
  }
  std::string parse_string() {
    skip_spaces();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, position_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string value = text_.substr(position_ + 1, end - position_ - 1);
    position_ = end + 1;
    return value;
  }
  NpyValue parse_value() {
    skip_spaces();
    const char first = peek();
    if (first == '\'' || first == '"') return parse_string();
    if (text_.compare(position_, 4, "True") == 0) {
      position_ += 4;
      return true;
    }
    if (text_.compare(position_, 5, "False") == 0) {
      position_ += 5;
      return false;
    }
    if (first != '(') fail("expected a string, True, False or a tuple");
    ++position_;
    std::vector<std::int64_t> tuple;
    while (true) {
      skip_spaces();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in the shape");
      std::int64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("shape entry too large");
        value = value * 10 + digit;
        ++position_;
      }
      if (peek() == 'L') ++position_;  // Python 2 long suffix, as old numpy wrote it
      tuple.push_back(value);
      if (tuple.size() > 64) fail("more than 64 dimensions");
      skip_spaces();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++position_;
    return tuple;
  }

  const std::string& text_;
  const FileReader& file_;
  std::size_t position_ = 0;
};

}  // namespace detail

/// Writes `tensor` as a .npy file (format version 1.0), atomically.
template <TensorElement T>
void save_npy(const std::string& path, const Tensor<T>& tensor) {
  if (!tensor.defined()) throw IOError("save_npy: " + path + ": the tensor is undefined");
  const HostValues<T> values(tensor);
  std::string shape = "(";
  for (std::size_t d = 0; d < tensor.shape().size(); ++d)
    shape += std::to_string(tensor.shape()[d]) + (tensor.shape().size() == 1      ? ","
                                                  : d + 1 < tensor.shape().size() ? ", "
                                                                                  : "");
  shape += ")";
  std::string header =
      "{'descr': '" + detail::npy_descr(dtype_of<T>()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic (6) + version (2) + length (2) + header ends on a multiple of
  // 64, with the '\n' numpy requires as the last header byte.
  const std::size_t unpadded = sizeof(kNpyMagic) + 2 + 2 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  if (header.size() > 0xFFFF)
    throw IOError("save_npy: " + path + ": shape " + to_string(tensor.shape()) + " is too long");

  ByteWriter preamble;
  preamble.bytes(kNpyMagic, sizeof(kNpyMagic));
  preamble.u8(1);  // major version
  preamble.u8(0);  // minor version
  preamble.u16(static_cast<std::uint16_t>(header.size()));
  preamble.text(header);
  AtomicFileWriter writer(path, "save_npy");
  writer.write(preamble.data());
  write_data(writer, values);
  writer.commit();
}

namespace detail {

/// What a .npy header says: the dtype text ('<f4', '<u2', ...), the layout, the shape, and
/// where the data starts. Checks the magic, the version, the header length and its syntax;
/// the dtype is left to the caller (load_npy reads float and int64 arrays, the memory-mapped
/// token reader of data/token_file.hpp integer ones).
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::uint64_t data_begin = 0;
};

inline NpyHeader read_npy_header(const FileReader& file) {
  if (file.size() < 10) file.fail("not a .npy file: only " + std::to_string(file.size()) + " bytes");
  const std::vector<unsigned char> preamble = file.read_bytes(0, 8, "the magic");
  if (!std::equal(preamble.begin(), preamble.begin() + 6, kNpyMagic))
    file.fail("not a .npy file: it does not start with the magic bytes \"\\x93NUMPY\"");
  const int major = preamble[6], minor = preamble[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    file.fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
              " (nabla reads 1.0, 2.0 and 3.0)");
  const int length_width = major == 1 ? 2 : 4;
  const std::vector<unsigned char> length_bytes =
      file.read_bytes(8, static_cast<std::uint64_t>(length_width), "the header length");
  const std::uint64_t header_size = load_little_endian(length_bytes.data(), length_width);
  const std::uint64_t header_begin = 8 + static_cast<std::uint64_t>(length_width);
  if (header_size > kNpyMaxHeaderSize)
    file.fail("the header length " + std::to_string(header_size) + " is larger than the " +
              std::to_string(kNpyMaxHeaderSize) + " bytes nabla accepts");
  const std::vector<unsigned char> header_bytes = file.read_bytes(header_begin, header_size, "the header");
  const std::string header(header_bytes.begin(), header_bytes.end());
  for (const char c : header)
    if (c == '\0') file.fail("malformed .npy header: it contains a NUL byte");

  const auto dict = detail::NpyHeaderParser(header, file).parse_dict();
  for (const auto& [key, value] : dict)
    if (key != "descr" && key != "fortran_order" && key != "shape")
      file.fail("unexpected key '" + key + "' in the header");
  auto field = [&](const std::string& key) -> const detail::NpyValue& {
    const auto found = dict.find(key);
    if (found == dict.end()) file.fail("the header has no '" + key + "' entry");
    return found->second;
  };
  const auto* descr = std::get_if<std::string>(&field("descr"));
  const auto* fortran_order = std::get_if<bool>(&field("fortran_order"));
  const auto* shape = std::get_if<std::vector<std::int64_t>>(&field("shape"));
  if (!descr || !fortran_order || !shape)
    file.fail("the header's 'descr' must be a string, 'fortran_order' True or False and 'shape' a tuple");
  return {*descr, *fortran_order, *shape, header_begin + header_size};
}

}  // namespace detail

/// Reads a .npy file of any supported dtype ('<f4', '<f8', '<i8').
inline TensorVariant load_npy_variant(const std::string& path) {
  const FileReader file(path, "load_npy");
  const detail::NpyHeader parsed = detail::read_npy_header(file);
  const std::string* descr = &parsed.descr;
  const bool* fortran_order = &parsed.fortran_order;
  const std::vector<std::int64_t>* shape = &parsed.shape;

  DType dtype;
  if (*descr == "<f4")
    dtype = DType::float32;
  else if (*descr == "<f8")
    dtype = DType::float64;
  else if (*descr == "<i8")
    dtype = DType::int64;
  else if (!descr->empty() && (*descr)[0] == '>')
    file.fail("big-endian data ('" + *descr + "') is not supported; save a little-endian copy with a.astype('<" +
              descr->substr(1) + "')");
  else
    file.fail("dtype '" + *descr +
              "' is not supported (nabla reads '<f4', '<f8' and '<i8'); convert with a.astype(...)");
  if (*fortran_order)
    file.fail("Fortran-order (column-major) data is not supported; save np.ascontiguousarray(a) instead");

  const std::uint64_t data_begin = parsed.data_begin;
  const std::uint64_t available = file.size() - data_begin;
  const std::uint64_t length =
      checked_data_bytes(*shape, dtype, available, [&](const std::string& message) { file.fail(message); });
  if (length != available)
    file.fail("shape " + to_string(*shape) + " of " + dtype_name(dtype) + " needs " + std::to_string(length) +
              " data bytes but the file has " + std::to_string(available) + " after the header");
  return read_tensor(file, dtype, *shape, data_begin, length, "the data");
}

/// Reads a .npy file whose dtype is exactly T ('<f4' for float, '<f8' for double, '<i8' for
/// int64_t); another dtype is an IOError that names the one the file has.
template <TensorElement T>
Tensor<T> load_npy(const std::string& path) {
  TensorVariant tensor = load_npy_variant(path);
  if (auto* typed = std::get_if<Tensor<T>>(&tensor)) return *typed;
  throw IOError("load_npy: " + path + " holds " + dtype_name(dtype_of(tensor)) + " ('" +
                detail::npy_descr(dtype_of(tensor)) + "'), not " + dtype_name(dtype_of<T>()) + "; call load_npy<" +
                (dtype_of(tensor) == DType::float32   ? "float"
                 : dtype_of(tensor) == DType::float64 ? "double"
                                                      : "std::int64_t") +
                "> or load_npy_variant");
}

}  // namespace nabla::io

namespace nabla {
using io::load_npy;
using io::load_npy_variant;
using io::save_npy;
}  // namespace nabla
