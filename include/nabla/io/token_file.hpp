// nabla/io/token_file.hpp - nabla's token file: a corpus written once as a flat array of token
// ids behind a small self-describing, checksummed header (nanoGPT's train.bin, plus a header).
//
//   nb::io::write_token_file("train.tokens", ids, vocabulary_size);   // atomic
//   nb::io::TokenFileWriter writer("big.tokens", vocabulary_size);     // or piece by piece:
//   writer.append(ids_of_document);  ...  writer.commit();
//
// data/token_file.hpp memory-maps such a file (data::TokenFileDataset) and serves training
// windows without reading it into memory. The layout (docs/data.md has the same table), every
// integer little-endian:
//
//   offset  size  field
//        0     8  magic "NBTOKENS"
//        8     4  version (1)
//       12     4  bytes per token id: 2 (uint16) or 4 (uint32)
//       16     8  vocabulary size V (every id is < V)
//       24     8  token count N (>= 1)
//       32     4  CRC-32 of the payload (the N * width bytes after the header)
//       36     4  CRC-32 of bytes 0..35 (the header itself)
//       40    24  zero (reserved)
//       64     .  the payload: N ids of `width` bytes each
//
// The writer picks uint16 when V <= 65536, else uint32. The file's size must be exactly
// 64 + N * width: a reader refuses a shorter file (truncated, or a header that claims more
// tokens than there are) and a longer one (trailing bytes) with an IOError naming the field.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/io/crc32.hpp"
#include "nabla/io/file.hpp"

namespace nabla::io {

inline constexpr char kTokenFileMagic[8] = {'N', 'B', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr std::uint32_t kTokenFileVersion = 1;
inline constexpr std::uint64_t kTokenFileHeaderSize = 64;
/// The bytes the header CRC covers (everything before it).
inline constexpr std::uint64_t kTokenFileCheckedHeaderBytes = 36;

/// What a token file's header says.
struct TokenFileHeader {
  std::uint32_t version = kTokenFileVersion;
  std::uint32_t width = 2;  // bytes per id: 2 or 4
  std::uint64_t vocabulary_size = 0;
  std::uint64_t count = 0;  // tokens
  std::uint32_t payload_crc32 = 0;

  std::uint64_t payload_bytes() const { return count * width; }
};

/// The id width a vocabulary of `vocabulary_size` ids needs: 2 up to 65536 ids, else 4.
inline std::uint32_t token_width_for(std::uint64_t vocabulary_size) { return vocabulary_size <= 65536 ? 2 : 4; }

/// The 64 header bytes for `header` (with the header CRC filled in).
inline std::vector<unsigned char> encode_token_file_header(const TokenFileHeader& header) {
  ByteWriter bytes;
  bytes.bytes(kTokenFileMagic, sizeof(kTokenFileMagic));
  bytes.u32(header.version);
  bytes.u32(header.width);
  bytes.u64(header.vocabulary_size);
  bytes.u64(header.count);
  bytes.u32(header.payload_crc32);
  bytes.u32(crc32(bytes.data().data(), bytes.size()));
  std::vector<unsigned char> result = bytes.data();
  result.resize(kTokenFileHeaderSize, 0);
  return result;
}

/// Parses and checks the header at the start of a token file of `file_size` bytes, of which
/// `bytes` holds at least min(file_size, 64). `context` ("TokenFileDataset: path") prefixes
/// every IOError, which names the field at fault. Checks: the magic, the version, the header
/// CRC, the width (2 or 4) against the vocabulary size, a count >= 1, and that the file holds
/// exactly 64 + count * width bytes. The payload CRC is left to the caller (it reads the file).
inline TokenFileHeader parse_token_file_header(const unsigned char* bytes, std::uint64_t file_size,
                                               const std::string& context) {
  const auto fail = [&](const std::string& message) { throw IOError(context + ": " + message); };
  if (file_size < kTokenFileHeaderSize)
    fail("not a token file: " + std::to_string(file_size) + " bytes, fewer than the " +
         std::to_string(kTokenFileHeaderSize) + "-byte header");
  if (!std::equal(kTokenFileMagic, kTokenFileMagic + 8, bytes))
    fail("not a token file: the magic (bytes 0..7) is not \"NBTOKENS\"");
  ByteReader reader(bytes + 8, kTokenFileHeaderSize - 8, context, 8);
  TokenFileHeader header;
  header.version = reader.u32("the version");
  header.width = reader.u32("the token width");
  header.vocabulary_size = reader.u64("the vocabulary size");
  header.count = reader.u64("the token count");
  header.payload_crc32 = reader.u32("the payload CRC");
  const std::uint32_t stored_header_crc = reader.u32("the header CRC");
  if (header.version != kTokenFileVersion)
    fail("unsupported version " + std::to_string(header.version) + " (field 'version' at byte 8; nabla reads " +
         std::to_string(kTokenFileVersion) + ")");
  if (crc32(bytes, kTokenFileCheckedHeaderBytes) != stored_header_crc)
    fail("the header CRC (field 'header_crc32' at byte 36) does not match bytes 0..35: the header is damaged");
  if (header.width != 2 && header.width != 4)
    fail("field 'width' (byte 12) is " + std::to_string(header.width) +
         "; a token id must be 2 (uint16) or 4 (uint32) bytes");
  if (header.vocabulary_size == 0) fail("field 'vocabulary_size' (byte 16) is 0");
  const std::uint64_t largest = header.width == 2 ? 65536 : std::uint64_t{1} << 32;
  if (header.vocabulary_size > largest)
    fail("field 'vocabulary_size' (byte 16) is " + std::to_string(header.vocabulary_size) + ", more ids than a " +
         std::to_string(header.width) + "-byte dtype ('width', byte 12) can hold");
  if (header.count == 0) fail("field 'count' (byte 24) is 0: the file holds no tokens");
  const std::uint64_t available = file_size - kTokenFileHeaderSize;
  if (header.count > available / header.width)
    fail("field 'count' (byte 24) says " + std::to_string(header.count) + " tokens of " + std::to_string(header.width) +
         " bytes, but the file has only " + std::to_string(available) +
         " bytes after the header: it is truncated or the header lies");
  if (header.payload_bytes() != available)
    fail("field 'count' (byte 24) says " + std::to_string(header.count) + " tokens (" +
         std::to_string(header.payload_bytes()) + " bytes) but the file has " + std::to_string(available) +
         " bytes after the header: trailing bytes");
  return header;
}

/// Writes a token file piece by piece, atomically: the ids go to "<path>.tmp.<pid>.<n>", and
/// commit() writes the header (count and CRC are known only then), fsyncs and renames the
/// file over `path`. Without a commit (an exception), the destructor removes the temporary.
class TokenFileWriter {
 public:
  TokenFileWriter(std::string path, std::uint64_t vocabulary_size)
      : path_(std::move(path)), vocabulary_size_(vocabulary_size), width_(token_width_for(vocabulary_size)) {
    if (path_.empty()) throw IOError("TokenFileWriter: empty file path");
    if (vocabulary_size == 0 || vocabulary_size > (std::uint64_t{1} << 32))
      throw ValueError("TokenFileWriter: " + path_ + ": the vocabulary size must be in [1, 2^32], got " +
                       std::to_string(vocabulary_size));
    static std::atomic<std::uint64_t> sequence{0};
    temporary_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(sequence++);
    descriptor_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (descriptor_ < 0) fail_with_errno("cannot create the temporary file " + temporary_path_);
    // A zero header for now (a crash leaves a file that no reader accepts); commit() fills it in.
    const std::vector<unsigned char> zeros(kTokenFileHeaderSize, 0);
    write_all(zeros.data(), zeros.size());
    buffer_.reserve(kBufferSize);
  }
  TokenFileWriter(const TokenFileWriter&) = delete;
  TokenFileWriter& operator=(const TokenFileWriter&) = delete;
  ~TokenFileWriter() { discard(); }

  /// Appends ids; each must be in [0, vocabulary size), else ValueError (nothing appended).
  template <typename Id>
  void append(std::span<const Id> ids) {
    static_assert(std::is_integral_v<Id>, "TokenFileWriter::append: token ids are integers");
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (is_negative(ids[i]) || static_cast<std::uint64_t>(ids[i]) >= vocabulary_size_)
        throw ValueError("TokenFileWriter: " + path_ + ": id " + std::to_string(ids[i]) + " at position " +
                         std::to_string(count_ + i) + " is outside [0, " + std::to_string(vocabulary_size_) + ")");
    for (const Id id : ids) {
      const auto value = static_cast<std::uint32_t>(id);
      for (std::uint32_t b = 0; b < width_; ++b) buffer_.push_back(static_cast<unsigned char>(value >> (8 * b)));
      if (buffer_.size() >= kBufferSize) flush();
    }
    count_ += ids.size();
  }
  void append(const std::vector<std::int64_t>& ids) { append(std::span<const std::int64_t>(ids)); }

  std::uint64_t count() const { return count_; }

  /// Finishes the file: header, fsync, rename over the target. Refuses an empty file.
  void commit() {
    if (count_ == 0) throw ValueError("TokenFileWriter: " + path_ + ": no tokens were appended");
    flush();
    const TokenFileHeader header{kTokenFileVersion, width_, vocabulary_size_, count_, payload_crc_.value()};
    const std::vector<unsigned char> bytes = encode_token_file_header(header);
    if (::pwrite(descriptor_, bytes.data(), bytes.size(), 0) != static_cast<::ssize_t>(bytes.size()))
      fail_with_errno("cannot write the header of " + temporary_path_);
    if (::fsync(descriptor_) != 0) fail_with_errno("cannot sync " + temporary_path_ + " to disk");
    const int descriptor = descriptor_;
    descriptor_ = -1;
    if (::close(descriptor) != 0) fail_with_errno("cannot close " + temporary_path_);
    if (std::rename(temporary_path_.c_str(), path_.c_str()) != 0)
      fail_with_errno("cannot rename " + temporary_path_ + " to " + path_);
    committed_ = true;
  }

 private:
  static constexpr std::size_t kBufferSize = std::size_t{1} << 20;

  template <typename Id>
  static bool is_negative(Id id) {
    if constexpr (std::is_signed_v<Id>)
      return id < 0;
    else
      return false;
  }

  void flush() {
    if (buffer_.empty()) return;
    payload_crc_.update(buffer_.data(), buffer_.size());
    write_all(buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  void write_all(const unsigned char* bytes, std::size_t size) {
    while (size > 0) {
      const ::ssize_t written = ::write(descriptor_, bytes, size);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) fail_with_errno("cannot write " + temporary_path_);
      bytes += written;
      size -= static_cast<std::size_t>(written);
    }
  }
  void discard() noexcept {
    if (descriptor_ >= 0) ::close(descriptor_);
    descriptor_ = -1;
    if (!committed_ && !temporary_path_.empty()) ::unlink(temporary_path_.c_str());
  }
  [[noreturn]] void fail_with_errno(const std::string& what) {
    const int error = errno;
    discard();
    committed_ = true;  // nothing left to clean up
    throw IOError("TokenFileWriter: " + what + ": " + detail::error_text(error) + "; " + path_ + " was left unchanged");
  }

  std::string path_;
  std::string temporary_path_;
  std::uint64_t vocabulary_size_;
  std::uint32_t width_;
  int descriptor_ = -1;
  bool committed_ = false;
  std::vector<unsigned char> buffer_;
  std::uint64_t count_ = 0;
  Crc32 payload_crc_;
};

/// Writes `ids` (each in [0, vocabulary_size)) as a token file at `path`, atomically.
inline void write_token_file(const std::string& path, const std::vector<std::int64_t>& ids,
                             std::uint64_t vocabulary_size) {
  TokenFileWriter writer(path, vocabulary_size);
  writer.append(ids);
  writer.commit();
}

}  // namespace nabla::io

namespace nabla {
using io::write_token_file;
}  // namespace nabla
