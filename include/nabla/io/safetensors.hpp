// nabla/io/safetensors.hpp - the safetensors format (Hugging Face), for exchanging weights
// with PyTorch and the Hugging Face ecosystem.
//
//   nb::save_safetensors("model.safetensors", model);   // safetensors.torch.load_file(...) in Python
//   nb::load_safetensors("model.safetensors", model);   // weights saved from a torch model
//
// The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"weight": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}, ...,
//    "__metadata__": {"format": "pt"}}
// then the byte buffer, where each tensor's data_offsets [begin, end) are relative to the
// buffer's start and its elements are little-endian, row-major. nabla reads and writes the
// dtypes F32, F64 and I64. The JSON goes through nlohmann-json (Debian: nlohmann-json3-dev);
// without it everything else in nabla works, and only a call to these functions fails to
// compile, with a message that says what to install.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nabla/io/checkpoint.hpp"
#include "nabla/io/file.hpp"
#include "nabla/io/tensor_data.hpp"

// NABLA_HAS_SAFETENSORS: 1 when <nlohmann/json.hpp> is found (define it as 0 to leave it out).
#ifndef NABLA_HAS_SAFETENSORS
#if __has_include(<nlohmann/json.hpp>)
#define NABLA_HAS_SAFETENSORS 1
#else
#define NABLA_HAS_SAFETENSORS 0
#endif
#endif
#if NABLA_HAS_SAFETENSORS
#include <nlohmann/json.hpp>
#endif

namespace nabla::io {

/// Largest JSON header accepted (the reference implementation's limit too).
inline constexpr std::uint64_t kSafetensorsMaxHeaderSize = 100'000'000;
/// Deepest JSON nesting accepted (a valid header nests 3 deep).
inline constexpr int kSafetensorsMaxJsonDepth = 16;

namespace detail {
template <typename...>
inline constexpr bool safetensors_unavailable = false;

inline std::string safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "F32";
    case DType::float64:
      return "F64";
    case DType::int64:
      return "I64";
  }
  return "";
}
}  // namespace detail

#if NABLA_HAS_SAFETENSORS

/// Writes named tensors and string metadata as a safetensors file, atomically. A Checkpoint
/// is only the container here: names are written as they are (no "model." prefix is added).
///
/// (A template only so that a program that never calls it does not compile nlohmann-json's
/// writer: Json is always nlohmann::json. The same holds for load_safetensors.)
template <typename Json = nlohmann::json>
void save_safetensors(const std::string& path, const Checkpoint& contents) {
  using HostVariant = std::variant<HostValues<float>, HostValues<double>, HostValues<std::int64_t>>;
  Json header = Json::object();
  std::vector<HostVariant> values;
  std::uint64_t buffer_size = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name.empty() || name == "__metadata__")
      throw IOError("save_safetensors: " + path + ": invalid tensor name '" + name + "'");
    if (!is_defined(tensor)) throw IOError("save_safetensors: " + path + ": tensor '" + name + "' is undefined");
    values.push_back(std::visit([](const auto& t) -> HostVariant { return HostValues(t); }, tensor));
    const std::uint64_t length = std::visit([](const auto& host) { return host.byte_size(); }, values.back());
    header[name] = {{"dtype", detail::safetensors_dtype(dtype_of(tensor))},
                    {"shape", shape_of(tensor)},
                    {"data_offsets", {buffer_size, buffer_size + length}}};
    buffer_size += length;
  }
  if (!contents.metadata.empty()) header["__metadata__"] = contents.metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const typename Json::exception& error) {  // e.g. a name that is not valid UTF-8
    throw IOError("save_safetensors: " + path + ": cannot encode the header: " + error.what());
  }
  // Pad with spaces to a multiple of 8 so that the buffer (and every 8-byte element) is aligned.
  text += std::string((8 - text.size() % 8) % 8, ' ');

  ByteWriter preamble;
  preamble.u64(text.size());
  preamble.text(text);
  AtomicFileWriter writer(path, "save_safetensors");
  writer.write(preamble.data());
  for (const auto& host : values) std::visit([&](const auto& typed) { write_data(writer, typed); }, host);
  writer.commit();
}

/// Reads every tensor and the "__metadata__" of a safetensors file. Rejects (IOError) a header
/// that is not valid JSON of the expected form, a dtype other than F32/F64/I64, a shape that
/// does not match its byte range, and byte ranges outside the buffer or overlapping.
template <typename Json = nlohmann::json>
Checkpoint load_safetensors(const std::string& path) {
  const FileReader file(path, "load_safetensors");
  if (file.size() < 8) file.fail("not a safetensors file: only " + std::to_string(file.size()) + " bytes");
  const std::vector<unsigned char> length_bytes = file.read_bytes(0, 8, "the header length");
  const std::uint64_t header_size = load_little_endian(length_bytes.data(), 8);
  if (header_size > kSafetensorsMaxHeaderSize)
    file.fail("the header length " + std::to_string(header_size) + " is larger than the " +
              std::to_string(kSafetensorsMaxHeaderSize) + " bytes allowed: not a safetensors file, or corrupt");
  if (header_size > file.size() - 8)
    file.fail("the header length " + std::to_string(header_size) + " does not fit in a file of " +
              std::to_string(file.size()) + " bytes: the file is truncated or corrupt");
  const std::vector<unsigned char> header_bytes = file.read_bytes(8, header_size, "the JSON header");
  const std::uint64_t buffer_begin = 8 + header_size;
  const std::uint64_t buffer_size = file.size() - buffer_begin;

  Json header;
  try {
    // The callback bounds the nesting depth: a hostile header cannot exhaust memory with it.
    header = Json::parse(header_bytes.begin(), header_bytes.end(), [&](int depth, typename Json::parse_event_t, Json&) {
      if (depth > kSafetensorsMaxJsonDepth) file.fail("the JSON header nests deeper than any valid one");
      return true;
    });
  } catch (const typename Json::exception& error) {
    file.fail(std::string("the header is not valid JSON: ") + error.what());
  }
  if (!header.is_object()) file.fail("the JSON header is not an object");

  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  Checkpoint contents;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) file.fail("\"__metadata__\" is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) file.fail("metadata '" + key + "' is not a string");
        contents.metadata.emplace(key, value.template get<std::string>());
      }
      continue;
    }
    const std::string label = "tensor '" + name + "'";
    if (name.empty()) file.fail("a tensor has an empty name");
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      file.fail(label + " must be an object with \"dtype\", \"shape\" and \"data_offsets\"");
    const Json& dtype = info["dtype"];
    const Json& shape = info["shape"];
    const Json& offsets = info["data_offsets"];
    Entry entry{name, DType::float32, {}, 0, 0};
    if (!dtype.is_string()) file.fail(label + ": \"dtype\" is not a string");
    const std::string dtype_text = dtype.template get<std::string>();
    if (dtype_text == "F32")
      entry.dtype = DType::float32;
    else if (dtype_text == "F64")
      entry.dtype = DType::float64;
    else if (dtype_text == "I64")
      entry.dtype = DType::int64;
    else
      file.fail(label + " has dtype " + dtype_text.substr(0, 32) +
                "; nabla reads F32, F64 and I64 (convert in Python, e.g. tensor.float())");
    if (!shape.is_array() || shape.size() > 64) file.fail(label + ": \"shape\" is not an array of at most 64 sizes");
    for (const Json& size : shape) {
      if (!size.is_number_unsigned()) file.fail(label + ": \"shape\" holds " + size.dump() + ", not a size >= 0");
      const auto value = size.template get<std::uint64_t>();
      if (value > (std::uint64_t{1} << 62)) file.fail(label + ": shape size " + std::to_string(value) + " is absurd");
      entry.shape.push_back(static_cast<std::int64_t>(value));
    }
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      file.fail(label + ": \"data_offsets\" is not a pair [begin, end] of byte offsets");
    entry.begin = offsets[0].template get<std::uint64_t>();
    entry.end = offsets[1].template get<std::uint64_t>();
    if (entry.begin > entry.end || entry.end > buffer_size)
      file.fail(label + " has data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                "] outside the " + std::to_string(buffer_size) + "-byte buffer: the file is truncated or corrupt");
    const std::uint64_t expected =
        checked_data_bytes(entry.shape, entry.dtype, entry.end - entry.begin,
                           [&](const std::string& message) { file.fail(label + ": " + message); });
    if (entry.end - entry.begin != expected)
      file.fail(label + " has " + std::to_string(entry.end - entry.begin) + " data bytes but its shape " +
                to_string(entry.shape) + " of " + dtype_text + " needs " + std::to_string(expected));
    entries.push_back(std::move(entry));
  }

  std::vector<const Entry*> by_offset;
  for (const auto& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  const Entry* furthest = nullptr;  // the non-empty range seen so far that ends last
  for (const Entry* entry : by_offset) {
    if (entry->begin == entry->end) continue;  // an empty tensor occupies no bytes
    if (furthest && entry->begin < furthest->end)
      file.fail("the data of tensor '" + entry->name + "' overlaps that of '" + furthest->name + "'");
    if (!furthest || entry->end > furthest->end) furthest = entry;
  }

  for (const auto& entry : entries)
    contents.tensors.emplace(
        entry.name, read_tensor(file, entry.dtype, entry.shape, buffer_begin + entry.begin, entry.end - entry.begin,
                                "the data of tensor '" + entry.name + "'"));
  return contents;
}

/// Writes a module's parameters and buffers under their PyTorch-style names (no prefix), with
/// "__metadata__" {"format": "pt"} plus `metadata`, so that
/// safetensors.torch.load_file(path) gives a state dict that torch's load_state_dict accepts.
template <NamedTensorModule M>
void save_safetensors(const std::string& path, const M& module,
                      const std::map<std::string, std::string>& metadata = {}) {
  Checkpoint contents;
  for (const auto& [name, tensor] : module.state_dict()) contents.set_tensor(name, tensor);
  contents.metadata = metadata;
  contents.metadata.emplace("format", "pt");
  save_safetensors(path, contents);
}

/// Loads a module's parameters by name from a safetensors file, e.g. one written from a torch
/// model's state_dict(). Names are looked up as "<prefix><parameter name>": a prefix picks any
/// sub-tree out of a file of a larger model ("lstm.", "1.", "encoder.layers.0."), and the
/// module may be a whole sub-model. F32 and F64 convert to T. strict: every parameter must be
/// present with its shape, and no unmatched "<prefix>..." tensor may be left over, else an
/// IOError naming every bad tensor (all checks run before anything is copied: the module is
/// then unchanged). Not strict (PyTorch's load_state_dict(strict=False)): the matching tensors
/// are copied and the returned LoadReport lists the missing, unexpected and mismatched ones.
template <NamedTensorModule M>
LoadReport load_safetensors(const std::string& path, M& module, const std::string& prefix = "", bool strict = true) {
  const Checkpoint contents = load_safetensors(path);
  return detail::load_module_tensors(contents.tensors, module, prefix, strict, "load_safetensors: " + path);
}

#else  // no nlohmann-json: the functions exist, but using one is a compile-time error

#define NABLA_SAFETENSORS_UNAVAILABLE                                                                  \
  "nabla's safetensors support needs nlohmann-json (<nlohmann/json.hpp>): install nlohmann-json3-dev " \
  "(Debian/Ubuntu) or nlohmann-json (vcpkg, conda, Homebrew) and link nlohmann_json::nlohmann_json"

template <typename Unused = void>
void save_safetensors(const std::string&, const Checkpoint&) {
  static_assert(detail::safetensors_unavailable<Unused>, NABLA_SAFETENSORS_UNAVAILABLE);
}
template <typename Unused = void>
Checkpoint load_safetensors(const std::string&) {
  static_assert(detail::safetensors_unavailable<Unused>, NABLA_SAFETENSORS_UNAVAILABLE);
  return {};
}
template <NamedTensorModule M>
void save_safetensors(const std::string&, const M&, const std::map<std::string, std::string>& = {}) {
  static_assert(detail::safetensors_unavailable<M>, NABLA_SAFETENSORS_UNAVAILABLE);
}
template <NamedTensorModule M>
LoadReport load_safetensors(const std::string&, M&, const std::string& = "", bool = true) {
  static_assert(detail::safetensors_unavailable<M>, NABLA_SAFETENSORS_UNAVAILABLE);
  return {};
}

#undef NABLA_SAFETENSORS_UNAVAILABLE

#endif

}  // namespace nabla::io

namespace nabla {
using io::load_safetensors;
using io::save_safetensors;
}  // namespace nabla
