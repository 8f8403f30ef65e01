// nabla/io/file.hpp - the file layer under every nabla format: atomic writes, bounds-checked
// reads, and explicit little-endian encoding.
//
// Writing (AtomicFileWriter): bytes go to "<path>.tmp.<pid>.<n>" in the target's directory
// (first removing such temporaries of processes that died mid-save, see
// remove_stale_temporaries);
// commit() flushes, fsyncs and closes it, renames it over the target and fsyncs the
// directory. rename() replaces a file atomically on POSIX file systems, so a reader (or a
// crash, or a full disk) sees either the complete old file or the complete new one, never a
// mix. On any failure before the rename the temporary is removed and IOError is thrown; the
// old file was never touched.
//
// Reading (FileReader, ByteReader): every read names what it reads and is checked against the
// file size first, so a truncated or hostile file gives an IOError saying what is missing
// where, and no size from a header is trusted before it is compared with the file's size.
//
// POSIX (Linux, macOS): open/write/fsync/rename/pread.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"

namespace nabla::io {

namespace detail {

/// Test-only fault injection: while a WriteFaultInjection(n) is alive, the n-th low-level
/// file operation of the writes that follow (counting every write() call, the fsync, the
/// close and the rename) fails as a full disk would (ENOSPC). Tests use it to prove that a
/// save interrupted at any point leaves the previous file intact and no temporary behind.
class WriteFaultInjection {
 public:
  explicit WriteFaultInjection(std::int64_t fail_at_operation) {
    countdown_ = fail_at_operation;
    fired_ = false;
  }
  ~WriteFaultInjection() { countdown_ = 0; }
  WriteFaultInjection(const WriteFaultInjection&) = delete;
  WriteFaultInjection& operator=(const WriteFaultInjection&) = delete;

  /// Whether the injected failure has happened (false: the save needed fewer operations).
  bool fired() const { return fired_; }

  /// Called before each file operation: true when this one must fail.
  static bool should_fail() {
    if (countdown_.load() <= 0) return false;
    if (--countdown_ != 0) return false;
    fired_ = true;
    return true;
  }

 private:
  static inline std::atomic<std::int64_t> countdown_{0};
  static inline std::atomic<bool> fired_{false};
};

/// strerror() text of `error`, for messages.
inline std::string error_text(int error) { return std::strerror(error); }

/// Removes the temporaries "<file name>.tmp.<pid>.<n>" next to `path` that writers killed
/// before their commit left behind (kill -9, a power loss: no destructor ran), so that a
/// program saving in a loop and killed again and again leaves at most one stray temporary per
/// writer alive at the time. A temporary is stale when its process no longer exists; one of
/// this process (another thread's save) or of a live process is left alone. A reused pid makes
/// a stale file look live: it stays until that process ends (never a wrong removal). Best
/// effort: a directory that cannot be listed is not an error. (Processes on other hosts
/// writing into a shared network directory are not visible here: keep such saves apart.)
inline void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path directory = target.parent_path();
  if (directory.empty()) directory = ".";
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code error;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    // "<pid>.<n>", both decimal.
    const std::string rest = name.substr(prefix.size());
    const std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || dot > 9 || dot + 1 == rest.size()) continue;
    if (!std::all_of(rest.begin(), rest.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) ||
        rest.find('.', dot + 1) != std::string::npos)
      continue;
    const auto pid = static_cast<::pid_t>(std::stol(rest.substr(0, dot)));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to signal: EPERM)
    std::error_code ignored;
    fs::remove(it->path(), ignored);
  }
}

}  // namespace detail

/// Writes a file atomically: write(...) any number of times, then commit(). Without a
/// commit (an exception unwound past it), the destructor removes the temporary.
class AtomicFileWriter {
 public:
  /// `operation` names the caller in error messages, e.g. "save_checkpoint".
  AtomicFileWriter(std::string path, std::string operation) : path_(std::move(path)), operation_(std::move(operation)) {
    if (path_.empty()) throw IOError(operation_ + ": empty file path");
    detail::remove_stale_temporaries(path_);
    static std::atomic<std::uint64_t> sequence{0};
    temporary_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(sequence++);
    descriptor_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (descriptor_ < 0) fail_with_errno("cannot create the temporary file " + temporary_path_);
    // Replacing a file keeps its permissions (a private checkpoint stays private).
    struct ::stat existing {};
    if (::stat(path_.c_str(), &existing) == 0 && S_ISREG(existing.st_mode))
      (void)::fchmod(descriptor_, existing.st_mode & 07777);
    buffer_.reserve(kBufferSize);
  }

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  ~AtomicFileWriter() { discard(); }

  /// Appends `size` bytes (buffered).
  void write(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    if (buffer_.size() + size > kBufferSize) flush();
    if (size >= kBufferSize) {
      write_to_disk(bytes, size);  // large blocks go straight to the file
    } else {
      buffer_.insert(buffer_.end(), bytes, bytes + size);
    }
    bytes_written_ += size;
  }
  void write(const std::vector<unsigned char>& bytes) { write(bytes.data(), bytes.size()); }
  /// Appends `count` zero bytes (alignment padding).
  void write_zeros(std::size_t count) {
    static constexpr unsigned char zeros[64] = {};
    while (count > 0) {
      const std::size_t piece = std::min(count, sizeof(zeros));
      write(zeros, piece);
      count -= piece;
    }
  }
  /// Bytes written so far (the offset the next write lands at).
  std::uint64_t position() const { return bytes_written_; }

  /// Makes the file durable and puts it in place of `path`.
  void commit() {
    flush();
    if (injected_failure(EIO) || ::fsync(descriptor_) != 0)
      fail_with_errno("cannot sync " + temporary_path_ + " to disk");
    const int descriptor = descriptor_;
    descriptor_ = -1;
    const int close_result = ::close(descriptor);
    if (injected_failure(EIO) || close_result != 0) fail_with_errno("cannot close " + temporary_path_);
    if (injected_failure(EIO) || std::rename(temporary_path_.c_str(), path_.c_str()) != 0)
      fail_with_errno("cannot rename " + temporary_path_ + " to " + path_);
    committed_ = true;
    // Persist the rename itself: the directory entry lives in the directory's data.
    std::filesystem::path directory = std::filesystem::path(path_).parent_path();
    if (directory.empty()) directory = ".";
    const int directory_descriptor = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_descriptor >= 0) {
      const int result = ::fsync(directory_descriptor);
      const int error = errno;
      ::close(directory_descriptor);
      // Some file systems cannot sync a directory (EINVAL); the data itself is on disk.
      if (result != 0 && error != EINVAL)
        throw IOError(operation_ + ": " + path_ + " was written completely, but syncing its directory failed (" +
                      detail::error_text(error) + "); the new file may not survive a power loss");
    }
  }

  const std::string& temporary_path() const { return temporary_path_; }

 private:
  static constexpr std::size_t kBufferSize = std::size_t{1} << 20;

  void flush() {
    if (buffer_.empty()) return;
    write_to_disk(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void write_to_disk(const unsigned char* bytes, std::size_t size) {
    while (size > 0) {
      if (injected_failure(ENOSPC)) fail_with_errno("cannot write " + temporary_path_ + " (injected failure)");
      const ::ssize_t written = ::write(descriptor_, bytes, size);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) fail_with_errno("cannot write " + temporary_path_);
      bytes += written;
      size -= static_cast<std::size_t>(written);
    }
  }

  /// True (with errno set to `error`) when WriteFaultInjection says this operation fails.
  static bool injected_failure(int error) {
    if (!detail::WriteFaultInjection::should_fail()) return false;
    errno = error;
    return true;
  }

  /// Removes the temporary (closing it first) unless the file was committed.
  void discard() noexcept {
    if (descriptor_ >= 0) {
      ::close(descriptor_);
      descriptor_ = -1;
    }
    if (!committed_ && !temporary_path_.empty()) ::unlink(temporary_path_.c_str());
  }

  [[noreturn]] void fail_with_errno(const std::string& what) {
    const int error = errno;
    discard();
    committed_ = true;  // nothing left to clean up
    throw IOError(operation_ + ": " + what + ": " + detail::error_text(error) + "; " +
                  (path_.empty() ? std::string("nothing was written") : path_ + " was left unchanged"));
  }

  std::string path_;
  std::string operation_;
  std::string temporary_path_;
  int descriptor_ = -1;
  bool committed_ = false;
  std::vector<unsigned char> buffer_;
  std::uint64_t bytes_written_ = 0;
};

/// A file opened for reading at explicit offsets, every read checked against its size.
class FileReader {
 public:
  FileReader(std::string path, std::string operation) : path_(std::move(path)), operation_(std::move(operation)) {
    // O_NONBLOCK: opening a FIFO by mistake must fail below, not hang waiting for a writer
    // (it changes nothing for regular files).
    descriptor_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (descriptor_ < 0) {
      const int error = errno;
      throw IOError(operation_ + ": cannot open " + path_ + ": " + detail::error_text(error));
    }
    struct ::stat status {};
    if (::fstat(descriptor_, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(descriptor_);
      throw IOError(operation_ + ": " + path_ + " is not a regular file");
    }
    size_ = static_cast<std::uint64_t>(status.st_size);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }

  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  const std::string& operation() const { return operation_; }

  /// "<operation>: <path>: <message>" as an IOError.
  [[noreturn]] void fail(const std::string& message) const {
    throw IOError(operation_ + ": " + path_ + ": " + message);
  }

  /// Whether [offset, offset + length) lies inside the file (overflow-safe).
  bool contains(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

  /// Throws an IOError unless [offset, offset + length) lies inside the file.
  void require(std::uint64_t offset, std::uint64_t length, const std::string& what) const {
    if (!contains(offset, length))
      fail("the file is truncated or corrupt: " + what + " needs bytes [" + std::to_string(offset) + ", " +
           (offset + length < offset ? std::string("overflow") : std::to_string(offset + length)) +
           ") but the file has " + std::to_string(size_) + " bytes");
  }

  /// Reads bytes [offset, offset + length) into `destination`; `what` names them in errors.
  void read_at(std::uint64_t offset, void* destination, std::uint64_t length, const std::string& what) const {
    require(offset, length, what);
    auto* bytes = static_cast<unsigned char*>(destination);
    while (length > 0) {
      const std::size_t piece = static_cast<std::size_t>(std::min<std::uint64_t>(length, std::uint64_t{1} << 30));
      const ::ssize_t got = ::pread(descriptor_, bytes, piece, static_cast<::off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("cannot read " + what + ": " + detail::error_text(errno));
      if (got == 0) fail("the file shrank while being read (" + what + ")");
      bytes += got;
      offset += static_cast<std::uint64_t>(got);
      length -= static_cast<std::uint64_t>(got);
    }
  }

  /// Bytes [offset, offset + length) as a vector (checked against the file size first).
  std::vector<unsigned char> read_bytes(std::uint64_t offset, std::uint64_t length, const std::string& what) const {
    require(offset, length, what);  // before allocating: the length may come from a hostile header
    std::vector<unsigned char> bytes(static_cast<std::size_t>(length));
    read_at(offset, bytes.data(), length, what);
    return bytes;
  }

 private:
  std::string path_;
  std::string operation_;
  int descriptor_ = -1;
  std::uint64_t size_ = 0;
};

// ---- little-endian encoding -------------------------------------------------------------------
// Written byte by byte with shifts, so the file layout is the same on any host.

/// Appends fixed-width little-endian integers and raw bytes to a buffer.
class ByteWriter {
 public:
  void u8(std::uint8_t value) { bytes_.push_back(value); }
  void u16(std::uint16_t value) { unsigned_value(value, 2); }
  void u32(std::uint32_t value) { unsigned_value(value, 4); }
  void u64(std::uint64_t value) { unsigned_value(value, 8); }
  void i64(std::int64_t value) { unsigned_value(static_cast<std::uint64_t>(value), 8); }
  void bytes(const void* data, std::size_t size) {
    const auto* begin = static_cast<const unsigned char*>(data);
    bytes_.insert(bytes_.end(), begin, begin + size);
  }
  void text(const std::string& value) { bytes(value.data(), value.size()); }
  /// Overwrites 8 bytes at `position` (for a length known only later).
  void patch_u64(std::size_t position, std::uint64_t value) {
    for (int i = 0; i < 8; ++i)
      bytes_[position + static_cast<std::size_t>(i)] = static_cast<unsigned char>(value >> (8 * i));
  }

  std::size_t size() const { return bytes_.size(); }
  const std::vector<unsigned char>& data() const { return bytes_; }

 private:
  void unsigned_value(std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i) bytes_.push_back(static_cast<unsigned char>(value >> (8 * i)));
  }
  std::vector<unsigned char> bytes_;
};

/// Reads fixed-width little-endian integers from a byte range; running past its end throws an
/// IOError naming the field and its file offset.
class ByteReader {
 public:
  /// `context` prefixes errors (e.g. "load_checkpoint: model.nabla"); `file_offset` is where
  /// bytes[0] lies in the file, so that messages give file offsets.
  ByteReader(const unsigned char* bytes, std::size_t size, std::string context, std::uint64_t file_offset)
      : bytes_(bytes), size_(size), context_(std::move(context)), file_offset_(file_offset) {}

  std::uint8_t u8(const std::string& what) { return static_cast<std::uint8_t>(unsigned_value(1, what)); }
  std::uint16_t u16(const std::string& what) { return static_cast<std::uint16_t>(unsigned_value(2, what)); }
  std::uint32_t u32(const std::string& what) { return static_cast<std::uint32_t>(unsigned_value(4, what)); }
  std::uint64_t u64(const std::string& what) { return unsigned_value(8, what); }
  std::int64_t i64(const std::string& what) { return static_cast<std::int64_t>(unsigned_value(8, what)); }
  /// `length` bytes as a string (the length is checked against what is left first).
  std::string text(std::uint64_t length, const std::string& what) {
    require(length, what);
    std::string value(reinterpret_cast<const char*>(bytes_ + position_), static_cast<std::size_t>(length));
    position_ += static_cast<std::size_t>(length);
    return value;
  }

  std::size_t remaining() const { return size_ - position_; }
  /// The file offset of the next byte.
  std::uint64_t file_position() const { return file_offset_ + position_; }
  [[noreturn]] void fail(const std::string& message) const {
    throw IOError(context_ + ": " + message + " (at byte " + std::to_string(file_position()) + ")");
  }

 private:
  void require(std::uint64_t length, const std::string& what) const {
    if (length > remaining())
      fail("the header ends in the middle of " + what + " (needs " + std::to_string(length) + " bytes, " +
           std::to_string(remaining()) + " left)");
  }
  std::uint64_t unsigned_value(int width, const std::string& what) {
    require(static_cast<std::uint64_t>(width), what);
    std::uint64_t value = 0;
    for (int i = 0; i < width; ++i) value |= std::uint64_t{bytes_[position_ + static_cast<std::size_t>(i)]} << (8 * i);
    position_ += static_cast<std::size_t>(width);
    return value;
  }

  const unsigned char* bytes_;
  std::size_t size_;
  std::size_t position_ = 0;
  std::string context_;
  std::uint64_t file_offset_;
};

/// The little-endian unsigned integer in bytes[0, width).
inline std::uint64_t load_little_endian(const unsigned char* bytes, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i) value |= std::uint64_t{bytes[i]} << (8 * i);
  return value;
}

}  // namespace nabla::io
