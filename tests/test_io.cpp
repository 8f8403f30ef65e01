// Tests of nabla::io: CRC-32, the nabla checkpoint format (round trips, the documented byte
// layout, atomic writes under injected failures, and rejection of wrong, truncated, corrupt
// and hostile files), module/optimizer/generator state and exact resume, .npy against files
// written by NumPy, and safetensors against a file written from PyTorch
// (scripts/fixtures/make_safetensors.py) loaded into nabla's LSTM and Dense.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_io {

namespace nb = nabla;
namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<unsigned char>;

namespace {

using nabla_test::TempDir;

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

std::uint64_t read_u64(const Bytes& bytes, std::size_t at) { return nb::io::load_little_endian(&bytes[at], 8); }
std::uint32_t read_u32(const Bytes& bytes, std::size_t at) {
  return static_cast<std::uint32_t>(nb::io::load_little_endian(&bytes[at], 4));
}

template <typename T>
void require_equal(const nb::Tensor<T>& actual, const nb::Tensor<T>& expected) {
  REQUIRE(actual.shape() == expected.shape());
  REQUIRE(actual.to_vector() == expected.to_vector());
}

/// A small checkpoint of every dtype, with a non-contiguous tensor and metadata.
nb::io::Checkpoint sample_checkpoint() {
  nb::io::Checkpoint checkpoint;
  checkpoint.set_tensor("weights", nb::from_vector<float>({1.5f, -2.f, 3.f, 4.25f, 5.f, -6.f}, {2, 3}));
  checkpoint.set_tensor("transposed", nb::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).t());
  checkpoint.set_tensor("tokens", nb::from_vector<std::int64_t>({7, -8, 9}, {3}));
  checkpoint.set_metadata("epoch", 12);
  checkpoint.set_metadata("note", "hello");
  return checkpoint;
}

void require_same_checkpoint(const nb::io::Checkpoint& actual, const nb::io::Checkpoint& expected) {
  REQUIRE(actual.metadata == expected.metadata);
  REQUIRE(actual.tensors.size() == expected.tensors.size());
  for (const auto& [name, tensor] : expected.tensors) {
    INFO("tensor " << name);
    REQUIRE(actual.contains(name));
    std::visit(
        [&](const auto& typed) {
          using T = typename std::decay_t<decltype(typed)>::value_type;
          require_equal(actual.tensor<T>(name), typed);
        },
        tensor);
  }
}

// ---- hand-built checkpoint files (for hostile headers with a VALID header CRC) ---------------

/// Appends `tail` byte by byte (GCC 12 at -O3 warns wrongly about vector::insert here).
template <typename Container>
void append(Bytes& bytes, const Container& tail) {
  for (const auto byte : tail) bytes.push_back(static_cast<unsigned char>(byte));
}

std::uint64_t align64(std::uint64_t value) { return (value + 63) / 64 * 64; }

void add_entry(nb::io::ByteWriter& header, const std::string& name, std::uint8_t dtype, const nb::Shape& shape,
               std::uint64_t offset, std::uint64_t length, std::uint32_t crc) {
  header.u32(static_cast<std::uint32_t>(name.size()));
  header.text(name);
  header.u8(dtype);
  header.u32(static_cast<std::uint32_t>(shape.size()));
  for (auto size : shape) header.i64(size);
  header.u64(offset);
  header.u64(length);
  header.u32(crc);
}

/// A checkpoint file whose header is built by `build(header, data_begin)` and whose data
/// section is `data`, with a correct file size and header CRC: only the loader's semantic
/// checks can reject it.
template <typename Build>
Bytes raw_checkpoint(const Build& build, const Bytes& data) {
  nb::io::ByteWriter sizing;
  build(sizing, std::uint64_t{0});  // offsets are fixed-width: the size does not depend on them
  const std::uint64_t data_begin = align64(32 + sizing.size());
  nb::io::ByteWriter header;
  build(header, data_begin);
  const std::uint64_t file_size = data_begin + align64(data.size()) + 4;
  nb::io::ByteWriter file;
  file.text(std::string("NABLA\0CK", 8));
  file.u32(1);
  file.u32(0);
  file.u64(header.size());
  file.u64(file_size);
  file.bytes(header.data().data(), header.size());
  const std::uint32_t crc = nb::io::crc32(file.data().data(), file.size());
  Bytes bytes = file.data();
  bytes.resize(data_begin, 0);
  append(bytes, data);
  bytes.resize(file_size - 4, 0);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(crc >> (8 * i)));
  return bytes;
}

Bytes float_bytes(const std::vector<float>& values) {
  Bytes bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());  // the test host is little-endian
  return bytes;
}

}  // namespace

// =================================================================================================
// CRC-32
// =================================================================================================

TEST_CASE("crc32 matches the standard check values", "[io][crc32]") {
  REQUIRE(nb::io::crc32("123456789") == 0xCBF43926u);
  REQUIRE(nb::io::crc32("") == 0x00000000u);
  REQUIRE(nb::io::crc32("The quick brown fox jumps over the lazy dog") == 0x414FA339u);
  REQUIRE(nb::io::crc32("a") == 0xE8B7BE43u);

  // Fed in pieces, the same value.
  nb::io::Crc32 incremental;
  incremental.update("1234", 4);
  incremental.update("", 0);
  incremental.update("56789", 5);
  REQUIRE(incremental.value() == 0xCBF43926u);

  // One flipped bit changes it.
  REQUIRE(nb::io::crc32("123456788") != 0xCBF43926u);
}

// =================================================================================================
// Checkpoint format
// =================================================================================================

TEST_CASE("save_checkpoint / load_checkpoint round-trip every dtype, views and metadata", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("sample.nabla");
  nb::io::Checkpoint checkpoint = sample_checkpoint();
  checkpoint.set_tensor("scalar", nb::scalar_tensor<double>(-0.125));
  checkpoint.set_tensor("empty", nb::zeros<float>({0, 4}));
  checkpoint.set_metadata("lr", 0.1);
  checkpoint.set_metadata("tiny", 1e-300);
  checkpoint.set_metadata("most_negative", std::numeric_limits<std::int64_t>::min());
  checkpoint.set_metadata("seed", std::numeric_limits<std::uint64_t>::max());
  checkpoint.set_metadata("binary", std::string("a\0b\n\xff", 5));
  checkpoint.set_metadata("unicode", "\xe2\x88\x87 nabla");

  nb::io::save_checkpoint(path, checkpoint);
  const nb::io::Checkpoint loaded = nb::io::load_checkpoint(path);
  require_same_checkpoint(loaded, checkpoint);
  REQUIRE(directory.temporaries().empty());

  // Numbers come back exactly.
  REQUIRE(loaded.metadata_number<double>("lr") == 0.1);
  REQUIRE(loaded.metadata_number<double>("tiny") == 1e-300);
  REQUIRE(loaded.metadata_number<std::int64_t>("most_negative") == std::numeric_limits<std::int64_t>::min());
  REQUIRE(loaded.metadata_number<std::uint64_t>("seed") == std::numeric_limits<std::uint64_t>::max());
  REQUIRE(loaded.metadata_number<int>("epoch") == 12);
  // The transposed view was saved in its logical (row-major) order.
  REQUIRE(loaded.tensor<double>("transposed").to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  REQUIRE(loaded.tensor<double>("scalar").dim() == 0);

  // Typed access says what is wrong.
  REQUIRE_THROWS_WITH(loaded.tensor<float>("tokens"), Contains("'tokens' holds int64, not float32"));
  REQUIRE_THROWS_WITH(loaded.tensor<float>("missing"), Contains("no tensor named 'missing'"));
  REQUIRE_THROWS_WITH(loaded.metadata_number<int>("note"), Contains("metadata 'note' is 'hello', not an integer"));
  REQUIRE_THROWS_WITH(loaded.metadata_text("absent"), Contains("no metadata entry 'absent'"));
  REQUIRE_THROWS_AS(loaded.metadata_number<std::int32_t>("most_negative"), nb::IOError);  // out of range

  // Saving again replaces the file.
  nb::io::Checkpoint other;
  other.set_metadata("version", "2");
  nb::io::save_checkpoint(path, other);
  require_same_checkpoint(nb::io::load_checkpoint(path), other);
}

TEST_CASE("the checkpoint bytes follow docs/model_files.md", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("layout.nabla");
  nb::io::Checkpoint checkpoint;
  checkpoint.set_tensor("w", nb::from_vector<float>({1.f, 2.f, 3.f}, {1, 3}));
  checkpoint.set_tensor("x", nb::from_vector<std::int64_t>({-1}, {1}));
  checkpoint.set_metadata("k", "vv");
  nb::io::save_checkpoint(path, checkpoint);
  const Bytes bytes = read_file(path);

  // Preamble: magic, version 1, flags 0, header size, file size.
  REQUIRE(std::string(bytes.begin(), bytes.begin() + 8) == std::string("NABLA\0CK", 8));
  REQUIRE(read_u32(bytes, 8) == 1);
  REQUIRE(read_u32(bytes, 12) == 0);
  const std::uint64_t header_size = read_u64(bytes, 16);
  REQUIRE(read_u64(bytes, 24) == bytes.size());
  // Header: counts, then entry "w": name, dtype 1, rank 2, dims, offset, length, crc.
  REQUIRE(read_u64(bytes, 32) == 2);  // tensors
  REQUIRE(read_u64(bytes, 40) == 1);  // metadata entries
  std::size_t at = 48;
  REQUIRE(read_u32(bytes, at) == 1);
  REQUIRE(bytes[at + 4] == 'w');
  REQUIRE(bytes[at + 5] == 1);  // float32
  REQUIRE(read_u32(bytes, at + 6) == 2);
  REQUIRE(read_u64(bytes, at + 10) == 1);
  REQUIRE(read_u64(bytes, at + 18) == 3);
  const std::uint64_t w_offset = read_u64(bytes, at + 26);
  REQUIRE(read_u64(bytes, at + 34) == 12);
  REQUIRE(read_u32(bytes, at + 42) == nb::io::crc32(&bytes[w_offset], 12));
  REQUIRE(w_offset == align64(32 + header_size));  // the first blob: right after the header, aligned
  float first = 0;
  std::memcpy(&first, &bytes[w_offset], 4);
  REQUIRE(first == 1.f);
  // Entry "x": dtype 3 (int64), its blob 64-byte aligned after w's.
  at += 46;
  REQUIRE(bytes[at + 4] == 'x');
  REQUIRE(bytes[at + 5] == 3);
  const std::uint64_t x_offset = read_u64(bytes, at + 4 + 1 + 1 + 4 + 8);
  REQUIRE(x_offset == w_offset + 64);
  REQUIRE(static_cast<std::int64_t>(read_u64(bytes, x_offset)) == -1);
  // Metadata: key length u32, key, value length u64, value; then the header ends.
  at += 4 + 1 + 1 + 4 + 8 + 8 + 8 + 4;
  REQUIRE(read_u32(bytes, at) == 1);
  REQUIRE(bytes[at + 4] == 'k');
  REQUIRE(read_u64(bytes, at + 5) == 2);
  REQUIRE(std::string(bytes.begin() + static_cast<long>(at) + 13, bytes.begin() + static_cast<long>(at) + 15) == "vv");
  REQUIRE(at + 15 == 32 + header_size);
  // Footer: the CRC-32 of preamble + header, in the last 4 bytes.
  REQUIRE(read_u32(bytes, bytes.size() - 4) == nb::io::crc32(bytes.data(), 32 + header_size));
  REQUIRE((bytes.size() - 4) % 64 == 0);
}

TEST_CASE("load_checkpoint rejects files that are not checkpoints or of another version", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("file.nabla");

  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(directory.file("missing.nabla")),
                      Contains("cannot open") && Contains("missing.nabla"));
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(directory.path().string()), Contains("is not a regular file"));

  write_file(path, Bytes{});
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(path), Contains("not a nabla checkpoint"));
  const std::string text = "just some text, long enough to hold a preamble and more";
  write_file(path, Bytes(text.begin(), text.end()));
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(path), Contains("does not start with the magic"));
  nb::save_npy(directory.file("array.npy"), nb::ones<float>({2}));
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(directory.file("array.npy")), Contains("NumPy .npy file"));

  // Version 7: the message says what was found and what is supported.
  nb::io::save_checkpoint(path, sample_checkpoint());
  Bytes bytes = read_file(path);
  bytes[8] = 7;
  write_file(path, bytes);
  REQUIRE_THROWS_AS(nb::io::load_checkpoint(path), nb::IOError);
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(path), Contains("unsupported checkpoint format version 7") &&
                                                         Contains("reads version 1") && Contains(path));
}

TEST_CASE("load_checkpoint rejects a checkpoint truncated at any length", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("full.nabla");
  const std::string cut = directory.file("cut.nabla");
  nb::io::save_checkpoint(path, sample_checkpoint());
  const Bytes bytes = read_file(path);
  REQUIRE(bytes.size() > 300);
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    INFO("truncated to " << length << " of " << bytes.size() << " bytes");
    write_file(cut, Bytes(bytes.begin(), bytes.begin() + static_cast<long>(length)));
    REQUIRE_THROWS_AS(nb::io::load_checkpoint(cut), nb::IOError);
  }
  write_file(cut, Bytes(bytes.begin(), bytes.end() - 1));
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(cut), Contains("truncated"));
  write_file(cut, Bytes(bytes.begin(), bytes.begin() + 20));
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(cut), Contains("truncated"));
  // One byte too many is rejected as well.
  Bytes longer = bytes;
  longer.push_back(0);
  write_file(cut, longer);
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(cut), Contains("truncated or corrupt"));
}

TEST_CASE("load_checkpoint detects a flipped bit anywhere in the file", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("good.nabla");
  const std::string bad = directory.file("bad.nabla");
  nb::io::save_checkpoint(path, sample_checkpoint());
  const Bytes bytes = read_file(path);
  const std::uint64_t header_end = 32 + read_u64(bytes, 16);

  for (std::size_t position = 0; position < bytes.size(); ++position) {
    INFO("bit " << position % 8 << " of byte " << position << " flipped");
    Bytes flipped = bytes;
    flipped[position] ^= static_cast<unsigned char>(1u << (position % 8));
    write_file(bad, flipped);
    REQUIRE_THROWS_AS(nb::io::load_checkpoint(bad), nb::IOError);
    if (position >= 32 && position < header_end)
      REQUIRE_THROWS_WITH(nb::io::load_checkpoint(bad), Contains("header is corrupt"));
  }

  // A flipped bit in a tensor's data: the message names the tensor and the CRC.
  const nb::io::Checkpoint loaded = nb::io::load_checkpoint(path);
  const std::uint64_t data_begin = align64(header_end);
  Bytes flipped = bytes;
  flipped[data_begin + 2] ^= 0x10;  // the first blob in name order: "tokens"
  write_file(bad, flipped);
  REQUIRE_THROWS_WITH(nb::io::load_checkpoint(bad),
                      Contains("the data of tensor 'tokens' is corrupt") && Contains("CRC-32"));
}

TEST_CASE("load_checkpoint rejects hostile headers before allocating", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("hostile.nabla");
  const Bytes three_floats = float_bytes({1.f, 2.f, 3.f});
  const std::uint32_t three_floats_crc = nb::io::crc32(three_floats.data(), three_floats.size());
  auto load_raw = [&](const Bytes& bytes) {
    write_file(path, bytes);
    return nb::io::load_checkpoint(path);
  };

  SECTION("a well-formed hand-built file loads (the builder is right)") {
    const auto checkpoint = load_raw(raw_checkpoint(
        [&](nb::io::ByteWriter& h, std::uint64_t begin) {
          h.u64(1);
          h.u64(0);
          add_entry(h, "w", 1, {3}, begin, 12, three_floats_crc);
        },
        three_floats));
    REQUIRE(checkpoint.tensor<float>("w").to_vector() == std::vector<float>{1.f, 2.f, 3.f});
  }
  SECTION("2^60 elements") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "huge", 1, {std::int64_t{1} << 60}, begin, std::uint64_t{1} << 62, 0);
                            },
                            three_floats)),
                        Contains("tensor 'huge'") && Contains("more than 2^48 elements"));
    // Below nabla's element limit, but more than the file holds.
    REQUIRE_THROWS_WITH(
        load_raw(raw_checkpoint(
            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
              h.u64(1);
              h.u64(0);
              add_entry(h, "big", 2, {std::int64_t{1} << 40}, begin, std::uint64_t{1} << 43, 0);
            },
            three_floats)),
        Contains("tensor 'big'") && Contains("needs 8796093022208 data bytes, more than the 64 available"));
  }
  SECTION("dims whose product overflows int64") {
    const std::int64_t big = std::int64_t{1} << 31;
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "overflow", 2, {big, big, big}, begin, 0, 0);
                            },
                            three_floats)),
                        Contains("tensor 'overflow'") && Contains("more than 2^48 elements"));
  }
  SECTION("a tensor count of 2^60") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(std::uint64_t{1} << 60);
                              h.u64(0);
                              add_entry(h, "w", 1, {3}, begin, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("the header ends in the middle of tensor entry 1"));
  }
  SECTION("a name length of 4 GiB") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t) {
                              h.u64(1);
                              h.u64(0);
                              h.u32(0xFFFFFFFFu);
                              h.text("w");
                            },
                            {})),
                        Contains("ends in the middle of tensor entry 0 (name)"));
  }
  SECTION("a metadata value length of 2^63") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t) {
                              h.u64(0);
                              h.u64(1);
                              h.u32(1);
                              h.text("k");
                              h.u64(std::uint64_t{1} << 63);
                            },
                            {})),
                        Contains("metadata 'k' (value)"));
  }
  SECTION("duplicate tensor names") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(2);
                              h.u64(0);
                              add_entry(h, "w", 1, {3}, begin, 12, three_floats_crc);
                              add_entry(h, "w", 1, {3}, begin + 64, 12, three_floats_crc);
                            },
                            [&] {
                              Bytes data = three_floats;
                              data.resize(64, 0);
                              data.insert(data.end(), three_floats.begin(), three_floats.end());
                              return data;
                            }())),
                        Contains("duplicate tensor 'w'"));
  }
  SECTION("duplicate metadata keys") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t) {
                              h.u64(0);
                              h.u64(2);
                              for (int i = 0; i < 2; ++i) {
                                h.u32(5);
                                h.text("epoch");
                                h.u64(1);
                                h.text("3");
                              }
                            },
                            {})),
                        Contains("duplicate metadata key 'epoch'"));
  }
  SECTION("a negative dimension") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "w", 1, {-3}, begin, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("negative dimension"));
  }
  SECTION("an unknown dtype code") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "w", 9, {3}, begin, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("unknown dtype code 9"));
  }
  SECTION("an absurd rank") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t) {
                              h.u64(1);
                              h.u64(0);
                              h.u32(1);
                              h.text("w");
                              h.u8(1);
                              h.u32(1000000);
                            },
                            {})),
                        Contains("rank 1000000"));
  }
  SECTION("a length that does not match the shape") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "w", 1, {2}, begin, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("records 12 data bytes but its shape [2] of float32 needs 8"));
  }
  SECTION("data outside the file, misaligned, or overlapping") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "w", 1, {3}, begin + 4096, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("outside the data section"));
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(1);
                              h.u64(0);
                              add_entry(h, "w", 1, {3}, begin + 4, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("aligned"));
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t begin) {
                              h.u64(2);
                              h.u64(0);
                              add_entry(h, "a", 1, {3}, begin, 12, three_floats_crc);
                              add_entry(h, "b", 1, {3}, begin, 12, three_floats_crc);
                            },
                            three_floats)),
                        Contains("overlaps"));
  }
  SECTION("bytes left over after the metadata") {
    REQUIRE_THROWS_WITH(load_raw(raw_checkpoint(
                            [&](nb::io::ByteWriter& h, std::uint64_t) {
                              h.u64(0);
                              h.u64(0);
                              h.u32(0xDEADBEEF);
                            },
                            {})),
                        Contains("4 unexpected bytes after the metadata"));
  }
}

// =================================================================================================
// Atomic writes
// =================================================================================================

TEST_CASE("a save that fails at any step leaves the previous checkpoint intact and no temporary",
          "[io][checkpoint][atomic]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  const nb::io::Checkpoint previous = sample_checkpoint();
  nb::io::save_checkpoint(path, previous);

  // The new checkpoint is big enough (about 1.6 MB) to need several write() calls.
  nb::io::Checkpoint next;
  next.set_tensor("big", nb::arange<float>(400000.f));
  next.set_metadata("epoch", 13);

  int failures = 0;
  for (int operation = 1; operation < 100; ++operation) {
    INFO("failing file operation " << operation);
    const nb::io::detail::WriteFaultInjection inject(operation);
    try {
      nb::io::save_checkpoint(path, next);
    } catch (const nb::IOError& error) {
      REQUIRE(inject.fired());
      REQUIRE_THAT(error.what(), Contains("save_checkpoint") && Contains("was left unchanged"));
      ++failures;
      require_same_checkpoint(nb::io::load_checkpoint(path), previous);
      REQUIRE(directory.temporaries().empty());
      continue;
    }
    // The save needed fewer operations than `operation`: it succeeded and replaced the file.
    REQUIRE_FALSE(inject.fired());
    require_same_checkpoint(nb::io::load_checkpoint(path), next);
    break;
  }
  // write() calls (at least two), fsync, close and rename were each made to fail once.
  REQUIRE(failures >= 5);
  REQUIRE(directory.temporaries().empty());

  // Replacing a file keeps its permissions.
  const auto private_file = fs::perms::owner_read | fs::perms::owner_write;
  fs::permissions(path, private_file);
  nb::io::save_checkpoint(path, previous);
  REQUIRE((fs::status(path).permissions() & fs::perms::all) == private_file);
}

TEST_CASE("saving into a directory that cannot be written throws IOError", "[io][checkpoint][atomic]") {
  TempDir directory;
  const nb::io::Checkpoint checkpoint = sample_checkpoint();

  REQUIRE_THROWS_WITH(nb::io::save_checkpoint(directory.file("no/such/dir/model.nabla"), checkpoint),
                      Contains("cannot create the temporary file") && Contains("no/such/dir/model.nabla.tmp."));
  // A path below a regular file (ENOTDIR, even for root).
  write_file(directory.file("plain"), Bytes{1, 2, 3});
  REQUIRE_THROWS_AS(nb::io::save_checkpoint(directory.file("plain/model.nabla"), checkpoint), nb::IOError);
  REQUIRE(read_file(directory.file("plain")) == Bytes{1, 2, 3});
  // The target is a directory: the rename fails after the data was written; the temporary goes.
  fs::create_directory(directory.file("occupied"));
  REQUIRE_THROWS_WITH(nb::io::save_checkpoint(directory.file("occupied"), checkpoint), Contains("cannot rename"));
  REQUIRE(fs::is_directory(directory.file("occupied")));
  REQUIRE(directory.temporaries().empty());
  REQUIRE_THROWS_WITH(nb::io::save_checkpoint("", checkpoint), Contains("empty file path"));

  // A read-only directory (only meaningful when not running as root, who may write anyway).
  const std::string locked = directory.file("locked");
  fs::create_directory(locked);
  nb::io::save_checkpoint(locked + "/model.nabla", checkpoint);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(locked.c_str(), W_OK) != 0) {
    nb::io::Checkpoint other;
    other.set_metadata("epoch", 99);
    REQUIRE_THROWS_AS(nb::io::save_checkpoint(locked + "/model.nabla", other), nb::IOError);
    require_same_checkpoint(nb::io::load_checkpoint(locked + "/model.nabla"), checkpoint);
  }
  fs::permissions(locked, fs::perms::owner_all);
}

// =================================================================================================
// Modules, optimizers, generators
// =================================================================================================

namespace {

std::shared_ptr<nb::nn::Sequential<float>> small_model(std::uint64_t seed, std::int64_t hidden = 4) {
  auto model = std::make_shared<nb::nn::Sequential<float>>();
  model->add<nb::nn::Dense>(3, hidden, nb::nn::DenseOptions{.seed = seed})
      .add<nb::nn::ReLU>()
      .add<nb::nn::Dense>(hidden, 2, nb::nn::DenseOptions{.seed = seed + 1});
  return model;
}

}  // namespace

TEST_CASE("add_module_state / load_module_state restore a model, checking names and shapes", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("model.nabla");
  auto trained = small_model(1);
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, *trained);
  REQUIRE(checkpoint.contains("model.0.weight"));
  REQUIRE(checkpoint.contains("model.2.bias"));
  REQUIRE_THAT(checkpoint.metadata_text("model.architecture"),
               Contains("0 Dense 3 -> 4") && Contains("2 Dense 4 -> 2"));
  REQUIRE(checkpoint.metadata_text("model.dtype") == "float32");
  nb::io::save_checkpoint(path, checkpoint);

  auto restored = small_model(2);
  const auto x = nb::from_vector<float>({0.5f, -1.f, 2.f, 1.f, 0.f, -0.5f}, {2, 3});
  REQUIRE((*restored)(x).to_vector() != (*trained)(x).to_vector());
  nb::io::load_module_state(nb::io::load_checkpoint(path), *restored);
  REQUIRE((*restored)(x).to_vector() == (*trained)(x).to_vector());
  require_equal(restored->parameters()[0], trained->parameters()[0]);

  // The same file into a double model: float32 data converts.
  nb::nn::Sequential<double> as_double;
  as_double.add<nb::nn::Dense>(3, 4).add<nb::nn::ReLU>().add<nb::nn::Dense>(4, 2);
  nb::io::load_module_state(nb::io::load_checkpoint(path), as_double);
  REQUIRE(as_double.parameters()[0].to_vector()[0] == static_cast<double>(trained->parameters()[0].to_vector()[0]));

  // A different architecture: the error names the tensor and both shapes, and the model keeps
  // its weights (nothing is copied before everything was checked).
  auto wider = small_model(3, 5);
  const auto before = wider->parameters()[0].to_vector();
  REQUIRE_THROWS_AS(nb::io::load_module_state(nb::io::load_checkpoint(path), *wider), nb::IOError);
  REQUIRE_THROWS_WITH(nb::io::load_module_state(nb::io::load_checkpoint(path), *wider),
                      Contains("'model.0.weight' has shape [4,3]") && Contains("has shape [5,3]"));
  REQUIRE(wider->parameters()[0].to_vector() == before);

  // Missing and unexpected tensors (strict), and strict=false.
  nb::io::Checkpoint partial = nb::io::load_checkpoint(path);
  partial.tensors.erase("model.2.bias");
  REQUIRE_THROWS_WITH(nb::io::load_module_state(partial, *restored),
                      Contains("no tensor 'model.2.bias'") && Contains("of shape [2]"));
  nb::io::load_module_state(partial, *restored, "model.", /*strict=*/false);
  nb::io::Checkpoint extra = nb::io::load_checkpoint(path);
  extra.set_tensor("model.3.weight", nb::zeros<float>({1}));
  REQUIRE_THROWS_WITH(nb::io::load_module_state(extra, *restored),
                      Contains("tensor 'model.3.weight' has no matching parameter"));
  // Integer data cannot become a weight.
  nb::io::Checkpoint integers = nb::io::load_checkpoint(path);
  integers.set_tensor("model.2.bias", nb::from_vector<std::int64_t>({1, 2}, {2}));
  REQUIRE_THROWS_WITH(nb::io::load_module_state(integers, *restored), Contains("'model.2.bias' holds int64"));
}

TEST_CASE("optimizer state and generator position survive a checkpoint", "[io][checkpoint]") {
  TempDir directory;
  const std::string path = directory.file("optimizer.nabla");
  auto model = small_model(1);
  nb::optim::Adam<float> adam(model->parameters(), {.lr = 0.01, .amsgrad = true});
  const auto x = nb::from_vector<float>({0.5f, -1.f, 2.f, 1.f, 0.f, -0.5f}, {2, 3});
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    nb::sum((*model)(x)).backward();
    adam.step();
  }
  nb::Generator generator(77);
  generator.advance(1234);

  nb::io::Checkpoint checkpoint;
  nb::io::add_optimizer_state(checkpoint, adam);
  nb::io::add_generator_state(checkpoint, generator);
  REQUIRE(checkpoint.contains("optimizer.0.exp_avg"));
  REQUIRE(checkpoint.contains("optimizer.3.max_exp_avg_sq"));
  REQUIRE(checkpoint.metadata_text("optimizer.type") == "Adam");
  REQUIRE(checkpoint.metadata_text("optimizer.0.step") == "3");
  nb::io::save_checkpoint(path, checkpoint);
  const nb::io::Checkpoint loaded = nb::io::load_checkpoint(path);

  auto other_model = small_model(1);
  nb::optim::Adam<float> restored(other_model->parameters(), {.lr = 0.5, .amsgrad = true});
  nb::io::load_optimizer_state(loaded, restored);
  const auto expected = adam.state();
  const auto actual = restored.state();
  REQUIRE(actual.optimizer == "Adam");
  REQUIRE(actual.step_count == 3);
  REQUIRE(actual.lr == 0.01);
  REQUIRE(actual.parameters.size() == expected.parameters.size());
  for (std::size_t i = 0; i < expected.parameters.size(); ++i) {
    REQUIRE(actual.parameters[i].step == expected.parameters[i].step);
    REQUIRE(actual.parameters[i].buffers.size() == 3);
    for (const auto& [name, buffer] : expected.parameters[i].buffers)
      require_equal(actual.parameters[i].buffers.at(name), buffer);
  }

  nb::Generator restored_generator;
  nb::io::load_generator_state(loaded, restored_generator);
  REQUIRE(restored_generator.seed() == 77);
  REQUIRE(restored_generator.offset() == 1234);

  // The wrong optimizer, or one over other shapes: an IOError that says why.
  nb::optim::SGD<float> sgd(other_model->parameters(), {.lr = 0.1});
  REQUIRE_THROWS_WITH(nb::io::load_optimizer_state(loaded, sgd), Contains("saved by a Adam optimizer"));
  auto wider = small_model(1, 5);
  nb::optim::Adam<float> wider_adam(wider->parameters(), {.amsgrad = true});
  REQUIRE_THROWS_AS(nb::io::load_optimizer_state(loaded, wider_adam), nb::IOError);
  REQUIRE_THROWS_WITH(nb::io::load_optimizer_state(loaded, wider_adam), Contains("shape [4,3]"));
  REQUIRE(wider_adam.state().step_count == 0);  // unchanged
  // A forged parameter count or a stray buffer name.
  nb::io::Checkpoint forged = loaded;
  forged.set_metadata("optimizer.parameter_count", std::uint64_t{1} << 60);
  REQUIRE_THROWS_WITH(nb::io::load_optimizer_state(forged, restored), Contains("'optimizer.parameter_count' is"));
  forged = loaded;
  forged.set_tensor("optimizer.9.exp_avg", nb::zeros<float>({1}));
  REQUIRE_THROWS_WITH(nb::io::load_optimizer_state(forged, restored), Contains("refers to parameter 9"));
  forged = loaded;
  forged.metadata.erase("optimizer.lr");
  REQUIRE_THROWS_WITH(nb::io::load_optimizer_state(forged, restored), Contains("no metadata entry 'optimizer.lr'"));
}

// ---- the snippets of docs/model_files.md (kept verbatim: a test below compares) --------------

namespace {

// [snippet: tour]
// One model, three file formats.
void tour(const std::string& directory) {
  nb::nn::Sequential<float> model;
  model.add<nb::nn::Dense>(4, 8).add<nb::nn::ReLU>().add<nb::nn::Dense>(8, 2);

  // safetensors: PyTorch's names ("0.weight", ...), readable by safetensors.torch.load_file.
  nb::save_safetensors(directory + "/model.safetensors", model);
  nb::load_safetensors(directory + "/model.safetensors", model);

  // The nabla checkpoint: any named tensors plus text metadata, checksummed.
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, model);  // "model.0.weight", ...
  checkpoint.set_metadata("note", "after the warm-up");
  nb::io::save_checkpoint(directory + "/model.nabla", checkpoint);
  const nb::io::Checkpoint loaded = nb::io::load_checkpoint(directory + "/model.nabla");
  nb::io::load_module_state(loaded, model);
  const nb::Tensor<float> first_weight = loaded.tensor<float>("model.0.weight");

  // .npy: one tensor, for NumPy (np.load) and back.
  nb::save_npy(directory + "/first_weight.npy", first_weight);
  const nb::Tensor<float> from_numpy = nb::load_npy<float>(directory + "/first_weight.npy");
}
// [end snippet]

// [snippet: resume]
// Everything needed to continue training exactly where it stopped.
void save_training_state(const std::string& path, const nb::nn::Module<float>& model,
                         const nb::optim::Optimizer<float>& optimizer, int epochs_done) {
  nb::io::Checkpoint checkpoint;
  nb::io::add_module_state(checkpoint, model);                       // "model.0.weight", ...
  nb::io::add_optimizer_state(checkpoint, optimizer);                // "optimizer.0.exp_avg", ...
  nb::io::add_generator_state(checkpoint, nb::default_generator());  // dropout masks, shuffles
  checkpoint.set_metadata("epoch", epochs_done);
  nb::io::save_checkpoint(path, checkpoint);  // atomic: temporary file, fsync, rename
}

// Restores it into a model and an optimizer built the same way; returns the epochs done.
int load_training_state(const std::string& path, nb::nn::Module<float>& model, nb::optim::Optimizer<float>& optimizer) {
  const nb::io::Checkpoint checkpoint = nb::io::load_checkpoint(path);  // validated, or IOError
  nb::io::load_module_state(checkpoint, model);
  nb::io::load_optimizer_state(checkpoint, optimizer);
  nb::io::load_generator_state(checkpoint, nb::default_generator());
  return checkpoint.metadata_number<int>("epoch");
}

// A training run that resumes from `path` if it exists and saves after every epoch. It stops
// after `stop_after` epochs, as if the machine went down there.
std::vector<float> train(const std::string& path, int epochs, int stop_after, std::uint64_t init_seed) {
  nb::manual_seed(init_seed);  // the initial weights (a resumed run overwrites them)
  nb::nn::Sequential<float> model;
  model.add<nb::nn::Dense>(3, 8).add<nb::nn::Tanh>().add<nb::nn::Dropout>(0.25).add<nb::nn::Dense>(8, 1);
  nb::optim::Adam<float> optimizer(model.parameters(), {.lr = 0.05});
  const auto x = nb::randn<float>({16, 3}, /*seed=*/1);
  const auto y = nb::randn<float>({16, 1}, /*seed=*/2);

  int first_epoch = 0;
  if (std::filesystem::exists(path)) first_epoch = load_training_state(path, model, optimizer);
  std::vector<float> losses;
  for (int epoch = first_epoch; epoch < std::min(epochs, stop_after); ++epoch) {
    float epoch_loss = 0;
    for (std::int64_t start = 0; start < 16; start += 4) {
      auto loss = nb::loss::mse(model(x.narrow(0, start, 4)), y.narrow(0, start, 4));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      epoch_loss += loss.item();
    }
    losses.push_back(epoch_loss);
    save_training_state(path, model, optimizer, epoch + 1);
  }
  return losses;
}
// [end snippet]

}  // namespace

TEST_CASE("the docs' tour of the three formats runs", "[io][docs]") {
  TempDir directory;
  tour(directory.path().string());
  REQUIRE(fs::exists(directory.file("model.safetensors")));
  REQUIRE(nb::io::load_checkpoint(directory.file("model.nabla")).metadata_text("note") == "after the warm-up");
  require_equal(nb::load_npy<float>(directory.file("first_weight.npy")),
                nb::load_safetensors(directory.file("model.safetensors")).tensor<float>("0.weight"));
  REQUIRE(directory.temporaries().empty());
}

TEST_CASE("a run stopped after epoch k and resumed gives the losses of an uninterrupted run", "[io][checkpoint]") {
  TempDir directory;
  const std::vector<float> uninterrupted = train(directory.file("straight.nabla"), 6, 6, /*init_seed=*/5);
  REQUIRE(uninterrupted.size() == 6);
  REQUIRE(uninterrupted.back() < uninterrupted.front());  // it does learn

  const std::string path = directory.file("resumed.nabla");
  std::vector<float> resumed = train(path, 6, /*stop_after=*/3, /*init_seed=*/5);
  REQUIRE(resumed.size() == 3);
  // The "restarted process" builds its model from another seed and disturbs the global
  // generator: only the checkpoint can make the rest of the run identical.
  const std::vector<float> rest = train(path, 6, 6, /*init_seed=*/999);
  resumed.insert(resumed.end(), rest.begin(), rest.end());
  REQUIRE(resumed == uninterrupted);
  REQUIRE(nb::io::load_checkpoint(path).metadata_number<int>("epoch") == 6);
}

TEST_CASE("the code blocks of docs/model_files.md are the code this file compiles", "[io][docs]") {
  // docs/model_files.md marks blocks with <!-- snippet: NAME -->; each must appear verbatim
  // between "// [snippet: NAME]" and "// [end snippet]" in this file (or be a one-liner
  // example marked <!-- example -->, compiled in the test below).
  const fs::path docs = fs::path(NABLA_FIXTURE_DIR) / ".." / ".." / "docs" / "model_files.md";
  const fs::path source = fs::path(NABLA_FIXTURE_DIR) / ".." / "test_io.cpp";
  std::ifstream docs_file(docs), source_file(source);
  REQUIRE(docs_file);
  REQUIRE(source_file);
  const std::string markdown((std::istreambuf_iterator<char>(docs_file)), std::istreambuf_iterator<char>());
  const std::string code((std::istreambuf_iterator<char>(source_file)), std::istreambuf_iterator<char>());

  int compared = 0;
  for (std::size_t marker = markdown.find("<!-- snippet: "); marker != std::string::npos;
       marker = markdown.find("<!-- snippet: ", marker + 1)) {
    const std::size_t name_begin = marker + 14;
    const std::string name = markdown.substr(name_begin, markdown.find(" -->", name_begin) - name_begin);
    const std::size_t block_begin = markdown.find("```cpp\n", marker) + 7;
    const std::string block = markdown.substr(block_begin, markdown.find("```", block_begin) - block_begin);
    const std::string open = "// [snippet: " + name + "]\n";
    const std::size_t code_begin = code.find(open);
    INFO("snippet " << name);
    REQUIRE(code_begin != std::string::npos);
    const std::size_t body = code_begin + open.size();
    REQUIRE(code.substr(body, code.find("// [end snippet]", body) - body) == block);
    ++compared;
  }
  REQUIRE(compared >= 2);
}

// =================================================================================================
// NumPy .npy
// =================================================================================================

namespace {
std::string fixture_path(const std::string& name) { return std::string(NABLA_FIXTURE_DIR) + "/" + name; }

/// The first 64 bytes of a file (a small .npy header) as text.
std::string header_of(const std::string& path) {
  const Bytes bytes = read_file(path);
  return std::string(bytes.begin(), bytes.begin() + static_cast<long>(std::min<std::size_t>(64, bytes.size())));
}
}  // namespace

TEST_CASE("save_npy / load_npy round-trip and write numpy's header", "[io][npy]") {
  TempDir directory;
  const std::string path = directory.file("array.npy");

  const auto matrix = nb::from_vector<float>({1.5f, -2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  nb::save_npy(path, matrix);
  require_equal(nb::load_npy<float>(path), matrix);
  const Bytes bytes = read_file(path);
  REQUIRE(std::string(bytes.begin() + 1, bytes.begin() + 6) == "NUMPY");
  REQUIRE(bytes[0] == 0x93);
  REQUIRE(bytes[6] == 1);  // version 1.0
  REQUIRE(bytes[7] == 0);
  const std::size_t header_size = bytes[8] | (std::size_t{bytes[9]} << 8);
  REQUIRE((10 + header_size) % 64 == 0);
  REQUIRE(bytes[10 + header_size - 1] == '\n');
  const std::string header(bytes.begin() + 10, bytes.begin() + 10 + static_cast<long>(header_size));
  REQUIRE_THAT(header, Contains("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
  REQUIRE(bytes.size() == 10 + header_size + 24);

  const auto vector = nb::from_vector<double>({0.1, -1e300, 3}, {3});
  nb::save_npy(path, vector);
  REQUIRE_THAT(header_of(path), Contains("'shape': (3,)"));
  require_equal(nb::load_npy<double>(path), vector);

  const auto scalar = nb::scalar_tensor<std::int64_t>(-42);
  nb::save_npy(path, scalar);
  REQUIRE_THAT(header_of(path), Contains("'shape': ()"));
  require_equal(nb::load_npy<std::int64_t>(path), scalar);

  // A non-contiguous view is written in logical order; an empty tensor round-trips.
  nb::save_npy(path, matrix.t());
  REQUIRE(nb::load_npy<float>(path).to_vector() == std::vector<float>{1.5f, 4.f, -2.f, 5.f, 3.f, 6.f});
  nb::save_npy(path, nb::zeros<double>({0, 3}));
  REQUIRE(nb::load_npy<double>(path).shape() == nb::Shape{0, 3});

  // The wrong type for the file: an IOError naming both.
  nb::save_npy(path, matrix);
  REQUIRE_THROWS_WITH(nb::load_npy<double>(path), Contains("holds float32 ('<f4'), not float64"));
  REQUIRE(std::holds_alternative<nb::Tensor<float>>(nb::load_npy_variant(path)));
}

TEST_CASE("load_npy reads files written by NumPy", "[io][npy]") {
  // scripts/fixtures/make_safetensors.py wrote these with numpy.save.
  const auto matrix = nb::load_npy<float>(fixture_path("numpy_float32.npy"));
  REQUIRE(matrix.shape() == nb::Shape{2, 3});
  REQUIRE(matrix.to_vector() == std::vector<float>{1.5f, -2.f, 3.25f, 0.f, 1e-3f, -7.5f});

  const auto vector = nb::load_npy<double>(fixture_path("numpy_float64.npy"));
  REQUIRE(vector.shape() == nb::Shape{4});
  REQUIRE(vector.to_vector()[0] == 3.141592653589793);
  REQUIRE(vector.to_vector()[1] == -2.718281828459045);
  REQUIRE(vector.to_vector()[2] == 1e300);
  REQUIRE(std::signbit(vector.to_vector()[3]));

  const auto scalar = nb::load_npy<std::int64_t>(fixture_path("numpy_int64_scalar.npy"));
  REQUIRE(scalar.dim() == 0);
  REQUIRE(scalar.item() == -1234567890123);

  const auto version2 = nb::load_npy<double>(fixture_path("numpy_version2.npy"));  // format 2.0
  REQUIRE(version2.shape() == nb::Shape{3, 2});
  REQUIRE(version2.to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5});

  REQUIRE_THROWS_WITH(nb::load_npy<float>(fixture_path("numpy_fortran.npy")), Contains("Fortran-order"));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(fixture_path("numpy_big_endian.npy")),
                      Contains("big-endian data ('>f4') is not supported") && Contains("astype('<f4')"));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(fixture_path("numpy_int32.npy")), Contains("dtype '<i4' is not supported"));
}

TEST_CASE("load_npy rejects truncated, malformed and hostile files", "[io][npy]") {
  TempDir directory;
  const std::string path = directory.file("bad.npy");
  const Bytes good = read_file(fixture_path("numpy_float32.npy"));
  for (std::size_t length = 0; length < good.size(); ++length) {
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    write_file(path, Bytes(good.begin(), good.begin() + static_cast<long>(length)));
    REQUIRE_THROWS_AS(nb::load_npy<float>(path), nb::IOError);
  }
  write_file(path, Bytes(good.begin(), good.end() - 1));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("needs 24 data bytes, more than the 23 available"));
  Bytes longer = good;
  longer.push_back(0);
  write_file(path, longer);
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("needs 24 data bytes but the file has 25 after the header"));

  // A hand-made header: magic, version 1.0, header length, dict (padded, '\n').
  auto npy = [](const std::string& dict, const Bytes& data, unsigned char major = 1) {
    std::string header = dict;
    header += std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
    Bytes bytes{0x93,
                'N',
                'U',
                'M',
                'P',
                'Y',
                major,
                0,
                static_cast<unsigned char>(header.size() & 0xFF),
                static_cast<unsigned char>(header.size() >> 8)};
    append(bytes, header);
    append(bytes, data);
    return bytes;
  };
  const Bytes eight(8, 0);
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", eight));
  REQUIRE(nb::load_npy<float>(path).to_vector() == std::vector<float>{0.f, 0.f});  // the helper is right
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,), }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("more than 2^48 elements"));
  write_file(path, npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<double>(path),
                      Contains("needs 8796093022208 data bytes, more than the 8 available"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("shape entry too large"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("expected a non-negative integer"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("malformed .npy header"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': '', }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("unexpected key 'extra'"));
  write_file(path, npy("{'descr': '<f4', 'shape': (2,), }", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("no 'fortran_order' entry"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", eight));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("malformed .npy header"));
  write_file(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", eight, /*major=*/9));
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("unsupported .npy format version 9.0"));
  write_file(path, Bytes{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xFF, 0xFF});
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("truncated or corrupt"));
  write_file(path, Bytes{0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xFF, 0xFF, 0xFF, 0x7F});
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("larger than the 65536 bytes nabla accepts"));
  write_file(path, Bytes{'n', 'o', 't', ' ', 'n', 'p', 'y', '!', '!', '!'});
  REQUIRE_THROWS_WITH(nb::load_npy<float>(path), Contains("not a .npy file"));
}

// =================================================================================================
// safetensors
// =================================================================================================

TEST_CASE("save_safetensors / load_safetensors round-trip tensors and metadata", "[io][safetensors]") {
  TempDir directory;
  const std::string path = directory.file("tensors.safetensors");
  nb::io::Checkpoint contents = sample_checkpoint();
  contents.set_tensor("empty", nb::zeros<double>({3, 0}));
  nb::save_safetensors(path, contents);
  require_same_checkpoint(nb::load_safetensors(path), contents);
  REQUIRE(directory.temporaries().empty());

  // The layout: an 8-byte header length N (N a multiple of 8), N bytes of JSON, the buffer.
  const Bytes bytes = read_file(path);
  const std::uint64_t header_size = read_u64(bytes, 0);
  REQUIRE(header_size % 8 == 0);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_size));
  REQUIRE(header["weights"]["dtype"] == "F32");
  REQUIRE(header["weights"]["shape"] == nlohmann::json::array({2, 3}));
  REQUIRE(header["tokens"]["dtype"] == "I64");
  REQUIRE(header["transposed"]["dtype"] == "F64");
  REQUIRE(header["__metadata__"]["epoch"] == "12");
  const auto offsets = header["weights"]["data_offsets"];
  float first = 0;
  std::memcpy(&first, &bytes[8 + header_size + offsets[0].get<std::size_t>()], 4);
  REQUIRE(first == 1.5f);
  std::uint64_t end = 0;
  for (const auto& [name, info] : header.items())
    if (name != "__metadata__") end = std::max<std::uint64_t>(end, info["data_offsets"][1].get<std::uint64_t>());
  REQUIRE(bytes.size() == 8 + header_size + end);
}

TEST_CASE("save_safetensors / load_safetensors of a module check names and shapes", "[io][safetensors]") {
  TempDir directory;
  const std::string path = directory.file("model.safetensors");
  auto trained = small_model(1);
  nb::save_safetensors(path, *trained, {{"epoch", "4"}});
  const auto contents = nb::load_safetensors(path);
  REQUIRE(contents.contains("0.weight"));  // PyTorch's names, no prefix
  REQUIRE(contents.metadata.at("format") == "pt");
  REQUIRE(contents.metadata.at("epoch") == "4");

  auto restored = small_model(2);
  nb::load_safetensors(path, *restored);
  for (std::size_t i = 0; i < 4; ++i) require_equal(restored->parameters()[i], trained->parameters()[i]);

  auto wider = small_model(3, 5);
  REQUIRE_THROWS_WITH(nb::load_safetensors(path, *wider), Contains("model.safetensors") &&
                                                              Contains("'0.weight' has shape [4,3]") &&
                                                              Contains("has shape [5,3]"));
  nb::nn::Dense<float> single(3, 4);
  REQUIRE_THROWS_WITH(nb::load_safetensors(path, single), Contains("no tensor 'weight'"));
  nb::load_safetensors(path, single, "0.", /*strict=*/true);  // a prefix selects one layer
  require_equal(single.weight(), trained->parameters()[0]);
}

TEST_CASE("weights saved from PyTorch load into nabla's LSTM and Dense with PyTorch's outputs",
          "[io][safetensors][lstm]") {
  // scripts/fixtures/make_safetensors.py: torch.nn.LSTM(4, 3, num_layers=2, batch_first=True)
  // then torch.nn.Linear(3, 2), float32, with the outputs on a fixed input.
  const std::string path = fixture_path("lstm_model.safetensors");
  const nb::io::Checkpoint file = nb::load_safetensors(path);
  REQUIRE(file.metadata.at("format") == "pt");
  const auto input = file.tensor<float>("input");
  REQUIRE(input.shape() == nb::Shape{2, 5, 4});
  // The F64 copy of the input reads back as the same values.
  const auto input_f64 = file.tensor<double>("input_f64").to_vector();
  const auto input_f32 = input.to_vector();
  REQUIRE(std::equal(input_f64.begin(), input_f64.end(), input_f32.begin(),
                     [](double a, float b) { return a == static_cast<double>(b); }));

  nb::nn::LSTM<float> lstm(4, 3, {.num_layers = 2, .batch_first = true, .return_sequences = true});
  nb::load_safetensors(path, lstm, "lstm.", /*strict=*/true);
  nb::nn::Dense<float> linear(3, 2);
  nb::load_safetensors(path, linear, "linear.");

  lstm.eval();
  const auto result = lstm.forward(input, {});
  const double tolerance = 1e-5;
  REQUIRE(nabla_test::max_relative_difference(result.output, file.tensor<float>("expected.lstm_output")) < tolerance);
  REQUIRE(nabla_test::max_relative_difference(result.h, file.tensor<float>("expected.h_n")) < tolerance);
  REQUIRE(nabla_test::max_relative_difference(result.c, file.tensor<float>("expected.c_n")) < tolerance);
  const auto logits = linear(result.output);
  REQUIRE(nabla_test::max_relative_difference(logits, file.tensor<float>("expected.linear_output")) < tolerance);
  // The I64 tensor written from torch: argmax of torch's outputs, equal to ours.
  require_equal(nb::argmax(logits, -1), file.tensor<std::int64_t>("expected.argmax"));

  // A model of another size names the mismatch.
  nb::nn::LSTM<float> wrong(4, 5, {.num_layers = 2});
  REQUIRE_THROWS_WITH(nb::load_safetensors(path, wrong, "lstm."),
                      Contains("'lstm.weight_ih_l0' has shape [12,4]") && Contains("has shape [20,4]"));
}

TEST_CASE("load_safetensors rejects truncated, malformed and hostile files", "[io][safetensors]") {
  TempDir directory;
  const std::string path = directory.file("bad.safetensors");
  const Bytes good = read_file(fixture_path("lstm_model.safetensors"));
  for (std::size_t length = 0; length < good.size(); length += (length < 64 || length + 64 > good.size()) ? 1 : 7) {
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    write_file(path, Bytes(good.begin(), good.begin() + static_cast<long>(length)));
    REQUIRE_THROWS_AS(nb::load_safetensors(path), nb::IOError);
  }

  auto file_with_header = [](const std::string& json, const Bytes& buffer) {
    Bytes bytes(8);
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(json.size() >> (8 * i));
    append(bytes, json);
    append(bytes, buffer);
    return bytes;
  };
  auto rejects = [&](const std::string& json, const Bytes& buffer, const std::string& message) {
    INFO("header " << json);
    write_file(path, file_with_header(json, buffer));
    REQUIRE_THROWS_WITH(nb::load_safetensors(path), Contains(message));
  };
  const Bytes eight(8, 0);
  write_file(path, file_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight));
  REQUIRE(nb::load_safetensors(path).tensor<float>("a").numel() == 2);  // the helper is right

  rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight, "outside the 8-byte buffer");
  rejects(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight,
          "needs 12 data bytes, more than the 8 available");
  rejects(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", eight, "has 8 data bytes but its shape [1]");
  rejects(R"({"a":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,8]}})", eight,
          "more than 2^48 elements");
  rejects(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, "not a size >= 0");
  rejects(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", eight, "not a size >= 0");
  rejects(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", eight,
          "has dtype F16; nabla reads F32, F64 and I64");
  rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight, "outside");
  rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight, "not a pair [begin, end]");
  rejects(R"({"a":{"dtype":"F32","shape":[2]}})", eight, "must be an object with");
  rejects(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
      eight, "overlaps");
  rejects(R"({"__metadata__":{"epoch":3}})", {}, "metadata 'epoch' is not a string");
  rejects(R"([1,2,3])", {}, "not an object");
  rejects(R"({"a":)", {}, "not valid JSON");
  rejects(std::string(100, '[') + std::string(100, ']'), {}, "nests deeper");

  Bytes huge_header(8, 0xFF);
  write_file(path, huge_header);
  REQUIRE_THROWS_WITH(nb::load_safetensors(path), Contains("larger than the 100000000 bytes allowed"));
  Bytes short_file = file_with_header("{}", {});
  short_file[0] = 200;
  write_file(path, short_file);
  REQUIRE_THROWS_WITH(nb::load_safetensors(path), Contains("truncated or corrupt"));
}

}  // namespace test_io
