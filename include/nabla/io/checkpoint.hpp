// nabla/io/checkpoint.hpp - nabla's own checkpoint format: named tensors (float32, float64,
// int64) and string metadata in one checksummed, atomically written file.
//
//   nb::io::Checkpoint checkpoint;
//   nb::io::add_module_state(checkpoint, model);          // tensors "model.<name>"
//   nb::io::add_optimizer_state(checkpoint, optimizer);   // "optimizer.<i>.<buffer>" + metadata (optim/state_io.hpp)
//   checkpoint.set_metadata("epoch", epoch);
//   nb::io::save_checkpoint("run.nabla", checkpoint);     // temp file, fsync, rename
//   ...
//   auto loaded = nb::io::load_checkpoint("run.nabla");   // every byte validated
//   nb::io::load_module_state(loaded, model);
//
// The byte layout is documented field by field in docs/model_files.md; the constants below
// are the ones it names. In short: a 32-byte preamble (magic, version, header size, file
// size), the header (tensor table, metadata), the tensor data (each blob 64-byte aligned),
// and a trailing CRC-32 of preamble + header. Every integer is little-endian.
//
// io/ is format code: it knows tensors, names and metadata, not layers or optimizers. The
// module functions below take anything with named tensors (the NamedTensorModule concept,
// which nn::Module<T> models); the optimizer's state goes through optim/state_io.hpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/philox.hpp"
#include "nabla/io/crc32.hpp"
#include "nabla/io/file.hpp"
#include "nabla/io/tensor_data.hpp"

namespace nabla::io {

/// The first 8 bytes of every nabla checkpoint ("NABLA", a NUL, "CK").
inline constexpr char kCheckpointMagic[8] = {'N', 'A', 'B', 'L', 'A', '\0', 'C', 'K'};
/// The format version this code writes; kSupportedCheckpointVersions lists what it reads.
inline constexpr std::uint32_t kCheckpointVersion = 1;
inline constexpr std::uint32_t kSupportedCheckpointVersions[] = {1};
/// magic (8) + version (4) + flags (4) + header size (8) + file size (8).
inline constexpr std::uint64_t kCheckpointPreambleSize = 32;
/// The trailing CRC-32 of preamble + header.
inline constexpr std::uint64_t kCheckpointFooterSize = 4;
/// Every tensor's data starts at a multiple of this (a cache line; lets a reader map the file
/// and use the data in place with aligned loads).
inline constexpr std::uint64_t kCheckpointAlignment = 64;
/// Largest rank a checkpoint may declare (a sanity limit against hostile headers).
inline constexpr std::uint32_t kCheckpointMaxRank = 64;

namespace detail {

inline std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

/// Shortest text that parses back to exactly `value` (integers and doubles).
template <typename Number>
std::string number_text(Number value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

/// Parses all of `text` as a Number; false when it is not exactly one number.
template <typename Number>
bool parse_number(const std::string& text, Number& value) {
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  return result.ec == std::errc() && result.ptr == end && !text.empty();
}

}  // namespace detail

/// The contents of a checkpoint file: named tensors and string metadata. Both maps are
/// public; the members below add type-checked access with clear errors.
struct Checkpoint {
  std::map<std::string, TensorVariant> tensors;
  std::map<std::string, std::string> metadata;

  /// Stores `tensor` under `name` (a handle: the data is read when the checkpoint is saved).
  template <TensorElement T>
  void set_tensor(const std::string& name, const Tensor<T>& tensor) {
    if (name.empty()) throw ValueError("Checkpoint::set_tensor: empty tensor name");
    if (!tensor.defined()) throw ValueError("Checkpoint::set_tensor: tensor '" + name + "' is undefined");
    tensors.insert_or_assign(name, TensorVariant(tensor.detach()));
  }

  bool contains(const std::string& name) const { return tensors.count(name) > 0; }

  /// The tensor `name`, which must hold exactly T (float, double or int64_t).
  template <TensorElement T>
  Tensor<T> tensor(const std::string& name) const {
    const auto found = tensors.find(name);
    if (found == tensors.end()) throw IOError("Checkpoint: no tensor named '" + name + "'");
    const auto* typed = std::get_if<Tensor<T>>(&found->second);
    if (!typed)
      throw IOError("Checkpoint: tensor '" + name + "' holds " + dtype_name(dtype_of(found->second)) + ", not " +
                    dtype_name(dtype_of<T>()));
    return *typed;
  }

  /// Stores a metadata entry: text as is, numbers as their shortest exact decimal text.
  void set_metadata(const std::string& key, std::string value) {
    if (key.empty()) throw ValueError("Checkpoint::set_metadata: empty key");
    metadata.insert_or_assign(key, std::move(value));
  }
  void set_metadata(const std::string& key, const char* value) { set_metadata(key, std::string(value)); }
  template <typename Number>
  requires(std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool> &&
           !std::is_same_v<Number, char>) void set_metadata(const std::string& key, Number value) {
    set_metadata(key, detail::number_text(value));
  }

  bool has_metadata(const std::string& key) const { return metadata.count(key) > 0; }

  /// The metadata text under `key` (IOError when absent).
  const std::string& metadata_text(const std::string& key) const {
    const auto found = metadata.find(key);
    if (found == metadata.end()) throw IOError("Checkpoint: no metadata entry '" + key + "'");
    return found->second;
  }
  /// The metadata under `key` as a number of type Number (IOError when absent or not one).
  template <typename Number>
  Number metadata_number(const std::string& key) const {
    const std::string& text = metadata_text(key);
    Number value{};
    if (!detail::parse_number(text, value))
      throw IOError("Checkpoint: metadata '" + key + "' is '" + text.substr(0, 64) + "', not " +
                    (std::is_integral_v<Number> ? "an integer" : "a number") + " in range");
    return value;
  }
};

// ---- writing ----------------------------------------------------------------------------------

namespace detail {

/// The header bytes (tensor table + metadata) for tensors whose data starts at `offsets`.
inline std::vector<unsigned char> checkpoint_header(const Checkpoint& checkpoint,
                                                    const std::vector<std::uint64_t>& offsets,
                                                    const std::vector<std::uint64_t>& lengths,
                                                    const std::vector<std::uint32_t>& checksums) {
  ByteWriter header;
  header.u64(checkpoint.tensors.size());
  header.u64(checkpoint.metadata.size());
  std::size_t index = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    const Shape shape = shape_of(tensor);
    header.u32(static_cast<std::uint32_t>(name.size()));
    header.text(name);
    header.u8(static_cast<std::uint8_t>(dtype_of(tensor)));
    header.u32(static_cast<std::uint32_t>(shape.size()));
    for (const std::int64_t size : shape) header.i64(size);
    header.u64(offsets[index]);
    header.u64(lengths[index]);
    header.u32(checksums[index]);
    ++index;
  }
  for (const auto& [key, value] : checkpoint.metadata) {
    header.u32(static_cast<std::uint32_t>(key.size()));
    header.text(key);
    header.u64(value.size());
    header.text(value);
  }
  return header.data();
}

inline void check_name_length(const std::string& kind, const std::string& name) {
  if (name.empty()) throw IOError("save_checkpoint: empty " + kind + " name");
  if (name.size() > 0xFFFFFFFFu) throw IOError("save_checkpoint: " + kind + " name longer than 4 GiB");
}

}  // namespace detail

/// Writes `checkpoint` to `path` atomically (see io/file.hpp): on any failure the previous
/// file at `path` is left as it was, no temporary remains, and IOError is thrown.
/// (A template only so that a translation unit that never saves does not instantiate what it
/// uses: docs/performance.md, "Compile time".)
template <int = 0>
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  using HostVariant = std::variant<HostValues<float>, HostValues<double>, HostValues<std::int64_t>>;
  std::vector<HostVariant> values;
  std::vector<std::uint64_t> lengths;
  std::vector<std::uint32_t> checksums;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    detail::check_name_length("tensor", name);
    if (!is_defined(tensor)) throw IOError("save_checkpoint: tensor '" + name + "' is undefined");
    if (shape_of(tensor).size() > kCheckpointMaxRank)
      throw IOError("save_checkpoint: tensor '" + name + "' has rank " + std::to_string(shape_of(tensor).size()) +
                    ", more than the format's " + std::to_string(kCheckpointMaxRank));
    values.push_back(std::visit([](const auto& t) -> HostVariant { return HostValues(t); }, tensor));
    std::visit(
        [&](const auto& host) {
          lengths.push_back(host.byte_size());
          checksums.push_back(data_crc32(host));
        },
        values.back());
  }
  for (const auto& [key, value] : checkpoint.metadata) detail::check_name_length("metadata key", key);

  // The header's size does not depend on the offset values (fixed-width fields), so build it
  // once to learn its size, lay out the data after it, then build it with the real offsets.
  std::vector<std::uint64_t> offsets(lengths.size(), 0);
  const std::uint64_t header_size = detail::checkpoint_header(checkpoint, offsets, lengths, checksums).size();
  std::uint64_t position = detail::align_up(kCheckpointPreambleSize + header_size, kCheckpointAlignment);
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = position;
    position = detail::align_up(position + lengths[i], kCheckpointAlignment);
  }
  const std::uint64_t file_size = position + kCheckpointFooterSize;
  const std::vector<unsigned char> header = detail::checkpoint_header(checkpoint, offsets, lengths, checksums);

  ByteWriter preamble;
  preamble.bytes(kCheckpointMagic, sizeof(kCheckpointMagic));
  preamble.u32(kCheckpointVersion);
  preamble.u32(0);  // flags: none defined in version 1
  preamble.u64(header_size);
  preamble.u64(file_size);
  Crc32 header_crc;
  header_crc.update(preamble.data().data(), preamble.size());
  header_crc.update(header.data(), header.size());

  AtomicFileWriter writer(path, "save_checkpoint");
  writer.write(preamble.data());
  writer.write(header);
  for (std::size_t i = 0; i < values.size(); ++i) {
    writer.write_zeros(static_cast<std::size_t>(offsets[i] - writer.position()));
    std::visit([&](const auto& host) { write_data(writer, host); }, values[i]);
  }
  writer.write_zeros(static_cast<std::size_t>(position - writer.position()));
  ByteWriter footer;
  footer.u32(header_crc.value());
  writer.write(footer.data());
  writer.commit();
}

// ---- reading ----------------------------------------------------------------------------------

namespace detail {

struct CheckpointEntry {
  std::string name;
  DType dtype = DType::float32;
  Shape shape;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint32_t checksum = 0;
};

inline std::string hex32(std::uint32_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) text += digits[(value >> shift) & 0xFu];
  return text;
}

/// Requires that the bytes [begin, end) of the file are all zero (alignment padding), so that
/// a flipped bit anywhere in the file is detected, not only in checksummed parts.
inline void require_zero_padding(const FileReader& file, std::uint64_t begin, std::uint64_t end) {
  std::vector<unsigned char> chunk;
  while (begin < end) {
    const std::uint64_t length = std::min<std::uint64_t>(end - begin, 65536);
    chunk = file.read_bytes(begin, length, "padding");
    for (std::size_t i = 0; i < chunk.size(); ++i)
      if (chunk[i] != 0)
        file.fail("non-zero padding byte at offset " + std::to_string(begin + i) + ": the file is corrupt");
    begin += length;
  }
}

inline std::string supported_versions_text() {
  std::string text;
  for (const std::uint32_t version : kSupportedCheckpointVersions)
    text += (text.empty() ? "" : ", ") + std::to_string(version);
  return text;
}

}  // namespace detail

/// Reads and validates a checkpoint. Rejects (with an IOError saying what and where) a file
/// that is not a checkpoint, of an unsupported version, truncated, with a corrupt header or
/// corrupt tensor data, or with impossible sizes; nothing is allocated from a size the file
/// cannot back. (A template for the same reason as save_checkpoint.)
template <int = 0>
Checkpoint load_checkpoint(const std::string& path) {
  const FileReader file(path, "load_checkpoint");
  if (file.size() < sizeof(kCheckpointMagic))
    file.fail("not a nabla checkpoint: only " + std::to_string(file.size()) + " bytes");

  // Preamble: magic first, so that a different kind of file gets the right message.
  const std::vector<unsigned char> preamble_bytes = file.read_bytes(0, sizeof(kCheckpointMagic), "the magic");
  if (!std::equal(preamble_bytes.begin(), preamble_bytes.end(),
                  reinterpret_cast<const unsigned char*>(kCheckpointMagic))) {
    std::string hint;
    if (preamble_bytes[0] == 0x93 && preamble_bytes[1] == 'N')
      hint = " (it looks like a NumPy .npy file: use load_npy)";
    else if (preamble_bytes[0] == 'P' && preamble_bytes[1] == 'K')
      hint = " (it looks like a zip archive, e.g. a torch.save file)";
    file.fail("not a nabla checkpoint: the file does not start with the magic bytes \"NABLA\\0CK\"" + hint);
  }
  if (file.size() < kCheckpointPreambleSize + kCheckpointFooterSize)
    file.fail("the file is truncated: " + std::to_string(file.size()) + " bytes is less than the " +
              std::to_string(kCheckpointPreambleSize + kCheckpointFooterSize) + " bytes of an empty checkpoint");
  const std::vector<unsigned char> preamble = file.read_bytes(0, kCheckpointPreambleSize, "the preamble");
  const auto version = static_cast<std::uint32_t>(load_little_endian(&preamble[8], 4));
  const auto flags = static_cast<std::uint32_t>(load_little_endian(&preamble[12], 4));
  const std::uint64_t header_size = load_little_endian(&preamble[16], 8);
  const std::uint64_t recorded_file_size = load_little_endian(&preamble[24], 8);
  if (std::find(std::begin(kSupportedCheckpointVersions), std::end(kSupportedCheckpointVersions), version) ==
      std::end(kSupportedCheckpointVersions))
    file.fail("unsupported checkpoint format version " + std::to_string(version) + " (this nabla reads version " +
              detail::supported_versions_text() + ")");
  if (recorded_file_size != file.size())
    file.fail("the file has " + std::to_string(file.size()) + " bytes but its preamble records " +
              std::to_string(recorded_file_size) + ": the file is truncated or corrupt");
  if (flags != 0) file.fail("unknown flags " + detail::hex32(flags) + " in the preamble: the file is corrupt");
  if (header_size > file.size() - kCheckpointPreambleSize - kCheckpointFooterSize)
    file.fail("the header size " + std::to_string(header_size) + " does not fit in a file of " +
              std::to_string(file.size()) + " bytes: the file is corrupt");

  // Header: checked against the trailing CRC before a single field of it is believed.
  const std::vector<unsigned char> header = file.read_bytes(kCheckpointPreambleSize, header_size, "the header");
  const std::vector<unsigned char> footer =
      file.read_bytes(file.size() - kCheckpointFooterSize, kCheckpointFooterSize, "the header checksum");
  Crc32 header_crc;
  header_crc.update(preamble.data(), preamble.size());
  header_crc.update(header.data(), header.size());
  const auto stored_header_crc = static_cast<std::uint32_t>(load_little_endian(footer.data(), 4));
  if (kVerifyChecksums && header_crc.value() != stored_header_crc)
    file.fail("the header is corrupt: its CRC-32 is " + detail::hex32(header_crc.value()) + " but the file records " +
              detail::hex32(stored_header_crc));

  // The header could still be hostile with a valid CRC, so every field is checked anyway.
  ByteReader reader(header.data(), header.size(), "load_checkpoint: " + path, kCheckpointPreambleSize);
  const std::uint64_t tensor_count = reader.u64("the tensor count");
  const std::uint64_t metadata_count = reader.u64("the metadata count");
  const std::uint64_t data_begin = detail::align_up(kCheckpointPreambleSize + header_size, kCheckpointAlignment);
  const std::uint64_t data_end = file.size() - kCheckpointFooterSize;
  std::vector<detail::CheckpointEntry> entries;
  std::map<std::string, std::size_t> seen_names;
  // No reserve(tensor_count): the count is not trusted; each entry consumes header bytes, so a
  // huge count runs out of header (an IOError) after at most header_size / 30 iterations.
  for (std::uint64_t index = 0; index < tensor_count; ++index) {
    const std::string what = "tensor entry " + std::to_string(index);
    detail::CheckpointEntry entry;
    entry.name = reader.text(reader.u32(what + " (name length)"), what + " (name)");
    const std::string label = "tensor '" + entry.name + "'";
    if (entry.name.empty()) reader.fail(what + " has an empty name");
    if (!seen_names.emplace(entry.name, index).second) reader.fail("duplicate " + label);
    const std::uint8_t dtype_code = reader.u8(label + " (dtype)");
    if (dtype_code < 1 || dtype_code > 3)
      reader.fail(label + " has unknown dtype code " + std::to_string(dtype_code) +
                  " (1 = float32, 2 = float64, 3 = int64)");
    entry.dtype = static_cast<DType>(dtype_code);
    const std::uint32_t rank = reader.u32(label + " (rank)");
    if (rank > kCheckpointMaxRank)
      reader.fail(label + " has rank " + std::to_string(rank) + ", more than " + std::to_string(kCheckpointMaxRank));
    for (std::uint32_t d = 0; d < rank; ++d) entry.shape.push_back(reader.i64(label + " (shape)"));
    entry.offset = reader.u64(label + " (data offset)");
    entry.length = reader.u64(label + " (data length)");
    entry.checksum = reader.u32(label + " (data CRC-32)");
    const std::uint64_t expected_length =
        checked_data_bytes(entry.shape, entry.dtype, data_end - data_begin,
                           [&](const std::string& message) { reader.fail(label + ": " + message); });
    if (entry.length != expected_length)
      reader.fail(label + " records " + std::to_string(entry.length) + " data bytes but its shape " +
                  to_string(entry.shape) + " of " + dtype_name(entry.dtype) + " needs " +
                  std::to_string(expected_length));
    if (entry.offset % kCheckpointAlignment != 0 || entry.offset < data_begin || entry.offset > data_end ||
        entry.length > data_end - entry.offset)
      reader.fail(label + " has data at bytes [" + std::to_string(entry.offset) + ", +" + std::to_string(entry.length) +
                  "), outside the data section [" + std::to_string(data_begin) + ", " + std::to_string(data_end) +
                  ") or not " + std::to_string(kCheckpointAlignment) + "-byte aligned");
    entries.push_back(std::move(entry));
  }
  Checkpoint checkpoint;
  for (std::uint64_t index = 0; index < metadata_count; ++index) {
    const std::string what = "metadata entry " + std::to_string(index);
    std::string key = reader.text(reader.u32(what + " (key length)"), what + " (key)");
    if (key.empty()) reader.fail(what + " has an empty key");
    std::string value = reader.text(reader.u64(what + " (value length)"), "metadata '" + key + "' (value)");
    if (!checkpoint.metadata.emplace(key, std::move(value)).second) reader.fail("duplicate metadata key '" + key + "'");
  }
  if (reader.remaining() != 0) reader.fail(std::to_string(reader.remaining()) + " unexpected bytes after the metadata");

  // Data: blobs must not overlap; the gaps between them must be zero padding.
  std::vector<const detail::CheckpointEntry*> by_offset;
  for (const auto& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  std::uint64_t previous_end = kCheckpointPreambleSize + header_size;
  for (const auto* entry : by_offset) {
    if (entry->offset < previous_end) file.fail("the data of tensor '" + entry->name + "' overlaps another tensor's");
    detail::require_zero_padding(file, previous_end, entry->offset);
    previous_end = entry->offset + entry->length;
  }
  detail::require_zero_padding(file, previous_end, data_end);

  for (const auto& entry : entries) {
    Crc32 crc;
    TensorVariant tensor = read_tensor(file, entry.dtype, entry.shape, entry.offset, entry.length,
                                       "the data of tensor '" + entry.name + "'", &crc);
    if (kVerifyChecksums && crc.value() != entry.checksum)
      file.fail("the data of tensor '" + entry.name + "' is corrupt: its CRC-32 is " + detail::hex32(crc.value()) +
                " but the header records " + detail::hex32(entry.checksum));
    checkpoint.tensors.emplace(entry.name, std::move(tensor));
  }
  return checkpoint;
}

// ---- modules ----------------------------------------------------------------------------------

/// Anything whose state is named tensors of one floating element type, as nn::Module<T> is:
/// state_dict() (copies by dotted name), named_parameters() and named_buffers() (the live
/// handles, to check names and shapes before anything is copied), load_state_dict(state,
/// strict), and type_name() for messages. io saves and loads such a module without knowing
/// what a layer is.
template <typename M>
concept NamedTensorModule = requires(const M& module) {
  module.state_dict();
  module.named_parameters();
  module.named_buffers();
  { module.type_name() } -> std::convertible_to<std::string>;
};

/// The element type T of a NamedTensorModule's Tensor<T>s.
template <NamedTensorModule M>
using module_element_t =
    typename std::remove_cvref_t<decltype(std::declval<const M&>().state_dict().begin()->second)>::value_type;

/// One line per module of the tree: "<path> <Type> <describe()>", e.g. "0 Dense 13 -> 32".
/// Stored as "<prefix>architecture" so that a checkpoint says what model it belongs to.
template <NamedTensorModule M>
std::string describe_architecture(const M& module, const std::string& path = "") {
  std::string text = (path.empty() ? std::string("(root)") : path) + " " + module.type_name();
  const std::string details = module.describe();
  if (!details.empty()) text += " " + details;
  text += "\n";
  for (const auto& [name, child] : module.children())
    text += describe_architecture(*child, path.empty() ? name : path + "." + name);
  return text;
}

/// The metadata key prefix of the own generator of the module at `path` ("" = the root):
/// "<prefix><path>.generator." ("model.2.generator.seed", "model.2.generator.offset").
inline std::string module_generator_key(const std::string& prefix, const std::string& path) {
  return prefix + (path.empty() ? "" : path + ".") + "generator.";
}

/// Adds the module's state_dict (parameters and buffers, copied) as tensors "<prefix><name>",
/// the position of every generator a layer owns (a seeded Dropout's, nn::Module::
/// own_generator) as metadata "<prefix><path>.generator.seed/offset", and its architecture
/// and element type as metadata "<prefix>architecture", "<prefix>dtype".
template <NamedTensorModule M>
void add_module_state(Checkpoint& checkpoint, const M& module, const std::string& prefix = "model.") {
  for (const auto& [name, tensor] : module.state_dict()) checkpoint.set_tensor(prefix + name, tensor);
  if constexpr (requires { module.generator_states(); })
    for (const auto& [path, generator] : module.generator_states()) {
      checkpoint.set_metadata(module_generator_key(prefix, path) + "seed", generator.seed());
      checkpoint.set_metadata(module_generator_key(prefix, path) + "offset", generator.offset());
    }
  checkpoint.set_metadata(prefix + "architecture", describe_architecture(module));
  checkpoint.set_metadata(prefix + "dtype", dtype_name(dtype_of<module_element_t<M>>()));
}

/// What loading named tensors into a module matched and what it did not, like PyTorch's
/// load_state_dict(strict=False) result (plus the shape mismatches it would raise on). Names
/// are the module's (the file's name less the prefix), so the three lists compare directly.
struct LoadReport {
  struct Mismatch {
    std::string name;
    Shape file_shape;
    Shape module_shape;
  };
  std::vector<std::string> missing_keys;     // the module's tensors the file lacks (left as they were)
  std::vector<std::string> unexpected_keys;  // the file's "<prefix>..." tensors the module lacks (ignored)
  std::vector<Mismatch> mismatched_keys;     // on both sides with different shapes (left as they were)
  std::int64_t loaded = 0;                   // tensors copied

  /// Whether every tensor matched on both sides.
  bool ok() const { return missing_keys.empty() && unexpected_keys.empty() && mismatched_keys.empty(); }
  /// One line: "loaded 6 tensors; missing: 2.weight, 2.bias; unexpected: ...; mismatched: 0.weight [4,3] vs [5,3]".
  std::string summary() const {
    std::string text = "loaded " + std::to_string(loaded) + " tensor" + (loaded == 1 ? "" : "s");
    const auto list = [&](const std::string& label, const std::vector<std::string>& names) {
      if (names.empty()) return;
      text += "; " + label + ":";
      for (std::size_t i = 0; i < names.size(); ++i) text += (i ? ", " : " ") + names[i];
    };
    list("missing", missing_keys);
    list("unexpected", unexpected_keys);
    std::vector<std::string> mismatched;
    for (const auto& entry : mismatched_keys)
      mismatched.push_back(entry.name + " " + to_string(entry.file_shape) + " in the file vs " +
                           to_string(entry.module_shape));
    list("mismatched", mismatched);
    return text;
  }
};

namespace detail {

/// Copies tensors "<prefix><name>" of `tensors` into the module's parameters and buffers,
/// after checking every name and shape. strict: any missing, unexpected ("<prefix>..." with no
/// parameter) or shape-mismatched tensor is an IOError naming every one of them, and the module
/// is unchanged. Not strict: the matching tensors are copied and the rest reported.
/// `context` starts every message, e.g. "load_safetensors: model.safetensors".
template <NamedTensorModule M>
LoadReport load_module_tensors(const std::map<std::string, TensorVariant>& tensors, M& module,
                               const std::string& prefix, bool strict, const std::string& context) {
  using T = module_element_t<M>;
  auto targets = module.named_parameters();
  for (auto& entry : module.named_buffers()) targets.push_back(entry);
  LoadReport report;
  std::vector<std::string> problems;  // the strict-mode message, one entry per bad tensor
  std::map<std::string, Tensor<T>> state;
  std::map<std::string, bool> known;  // the module's names
  for (const auto& [name, target] : targets) {
    known.emplace(name, true);
    const auto found = tensors.find(prefix + name);
    if (found == tensors.end()) {
      report.missing_keys.push_back(name);
      problems.push_back("no tensor '" + prefix + name + "' for the " + module.type_name() + "'s parameter '" + name +
                         "' of shape " + to_string(target.shape()));
      continue;
    }
    const Shape stored_shape = shape_of(found->second);
    if (stored_shape != target.shape()) {
      report.mismatched_keys.push_back({name, stored_shape, target.shape()});
      problems.push_back("tensor '" + prefix + name + "' has shape " + to_string(stored_shape) + " but parameter '" +
                         name + "' of the " + module.type_name() + " has shape " + to_string(target.shape()));
      continue;
    }
    // Read on the host; the values go where the parameter lives (to() is a no-op on the CPU).
    state.emplace(name,
                  to_floating<T>(found->second, context + ": tensor '" + prefix + name + "'").to(target.device()));
  }
  for (auto it = tensors.lower_bound(prefix); it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    const std::string name = it->first.substr(prefix.size());
    if (known.count(name)) continue;
    report.unexpected_keys.push_back(name);
    problems.push_back("tensor '" + it->first + "' has no matching parameter in the " + module.type_name() +
                       " (a different architecture?)");
  }
  if (strict && !problems.empty()) {
    std::string message = context + ": ";
    if (problems.size() > 1) message += std::to_string(problems.size()) + " tensors do not match: ";
    for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    throw IOError(message);
  }
  report.loaded = static_cast<std::int64_t>(state.size());
  module.load_state_dict(state, /*strict=*/false);
  return report;
}

}  // namespace detail

/// The saved positions of the module's own generators, read and checked (IOError when a
/// value is not a number), to be applied with apply_generator_states once everything else has
/// loaded. A generator the file does not mention (a file written before nabla saved them)
/// keeps its position.
template <NamedTensorModule M>
std::vector<std::pair<Generator*, Generator>> read_module_generators(const Checkpoint& checkpoint, M& module,
                                                                     const std::string& prefix = "model.") {
  std::vector<std::pair<Generator*, Generator>> saved;
  if constexpr (requires { module.named_generators(); })
    for (const auto& [path, generator] : module.named_generators()) {
      const std::string key = module_generator_key(prefix, path);
      if (!checkpoint.has_metadata(key + "seed")) continue;
      Generator state;
      state.set_state(checkpoint.metadata_number<std::uint64_t>(key + "seed"),
                      checkpoint.metadata_number<std::uint64_t>(key + "offset"));
      saved.emplace_back(generator, state);
    }
  return saved;
}

inline void apply_generator_states(const std::vector<std::pair<Generator*, Generator>>& saved) {
  for (const auto& [generator, state] : saved) *generator = state;
}

/// Copies the tensors "<prefix><name>" into the module's parameters and buffers, and restores
/// the positions of the generators its layers own; any module takes the tensors of a sub-tree
/// of another model's checkpoint by prefix ("model.1." is layer 1 of a model file). Every name
/// and shape is checked before anything is copied.
/// strict: every parameter must be present with its shape and no unknown "<prefix>..." tensor
/// may be left over, else an IOError naming every bad tensor and the module is unchanged; not
/// strict: what matches is copied, and the returned report lists the rest. float32 and
/// float64 data convert to T.
template <NamedTensorModule M>
LoadReport load_module_state(const Checkpoint& checkpoint, M& module, const std::string& prefix = "model.",
                             bool strict = true) {
  const auto generators = read_module_generators(checkpoint, module, prefix);
  LoadReport report = detail::load_module_tensors(checkpoint.tensors, module, prefix, strict, "load_module_state");
  apply_generator_states(generators);
  return report;
}

// ---- random generator -------------------------------------------------------------------------

/// Stores a Philox generator's position as metadata "<prefix>seed" and "<prefix>offset", so
/// that a resumed run draws the same dropout masks and shuffles as an uninterrupted one.
inline void add_generator_state(Checkpoint& checkpoint, const Generator& generator,
                                const std::string& prefix = "rng.") {
  checkpoint.set_metadata(prefix + "seed", generator.seed());
  checkpoint.set_metadata(prefix + "offset", generator.offset());
}

inline void load_generator_state(const Checkpoint& checkpoint, Generator& generator,
                                 const std::string& prefix = "rng.") {
  generator.set_state(checkpoint.metadata_number<std::uint64_t>(prefix + "seed"),
                      checkpoint.metadata_number<std::uint64_t>(prefix + "offset"));
}

}  // namespace nabla::io

namespace nabla {
using io::Checkpoint;
using io::load_checkpoint;
using io::save_checkpoint;
}  // namespace nabla
