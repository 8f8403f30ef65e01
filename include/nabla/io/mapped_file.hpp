// nabla/io/mapped_file.hpp - a whole file mapped read-only into memory (POSIX mmap), as an
// RAII, movable handle.
//
//   nb::io::MappedFile file("train.tokens", "TokenFileDataset");
//   const unsigned char* bytes = file.data();      // file.size() bytes, read-only
//
// The pages are read from disk when first touched, and the kernel may drop them again under
// memory pressure (they are clean copies of the file). Touched pages still count in the
// process's resident set size (RSS) until they are unmapped or released: release_all() drops
// every page from this mapping (MADV_DONTNEED; the next access reads it back from the page
// cache), which keeps RSS bounded when a large file is streamed.
//
// Opening never trusts the file: an empty file, a directory, a FIFO or a file that cannot be
// mapped is an IOError naming the file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "nabla/core/error.hpp"
#include "nabla/io/file.hpp"

namespace nabla::io {

class MappedFile {
 public:
  MappedFile() = default;

  /// Maps all of `path`; `operation` names the caller in error messages.
  MappedFile(std::string path, std::string operation) : path_(std::move(path)), operation_(std::move(operation)) {
    // O_NONBLOCK: a FIFO must fail below, not hang waiting for a writer.
    const int descriptor = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (descriptor < 0) {
      const int error = errno;
      throw IOError(operation_ + ": cannot open " + path_ + ": " + detail::error_text(error));
    }
    struct ::stat status {};
    if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(descriptor);
      throw IOError(operation_ + ": " + path_ + " is not a regular file");
    }
    size_ = static_cast<std::uint64_t>(status.st_size);
    if (size_ == 0) {
      ::close(descriptor);
      throw IOError(operation_ + ": " + path_ + " is empty (0 bytes)");
    }
    void* mapping = ::mmap(nullptr, static_cast<std::size_t>(size_), PROT_READ, MAP_SHARED, descriptor, 0);
    const int error = errno;
    ::close(descriptor);  // the mapping keeps the file open
    if (mapping == MAP_FAILED)
      throw IOError(operation_ + ": cannot map " + path_ + " (" + std::to_string(size_) +
                    " bytes) into memory: " + detail::error_text(error));
    data_ = static_cast<const unsigned char*>(mapping);
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept { swap(other); }
  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      swap(other);
    }
    return *this;
  }
  ~MappedFile() { unmap(); }

  const unsigned char* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  bool is_open() const { return data_ != nullptr; }
  const std::string& path() const { return path_; }
  const std::string& operation() const { return operation_; }

  /// "<operation>: <path>: <message>" as an IOError.
  [[noreturn]] void fail(const std::string& message) const {
    throw IOError(operation_ + ": " + path_ + ": " + message);
  }

  /// Tells the kernel the file will be read front to back (more read-ahead, earlier reclaim).
  void advise_sequential() const {
    if (data_) (void)::madvise(const_cast<unsigned char*>(data_), static_cast<std::size_t>(size_), MADV_SEQUENTIAL);
  }
  /// Tells the kernel the reads jump around: a page fault reads that page only, not the
  /// read-ahead window around it (megabytes of disk traffic per random window otherwise).
  void advise_random() const {
    if (data_) (void)::madvise(const_cast<unsigned char*>(data_), static_cast<std::size_t>(size_), MADV_RANDOM);
  }
  /// Starts reading [offset, offset + length) (widened to whole pages) from the disk into the page
  /// cache without waiting for it (MADV_WILLNEED): a caller about to touch several scattered
  /// ranges asks for all of them first, so their reads overlap instead of each page fault
  /// waiting for its own. Costs a lookup when the pages are already cached.
  void will_need(std::uint64_t offset, std::uint64_t length) const {
    if (!data_ || length == 0 || offset >= size_) return;
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t begin = offset / page * page;
    const std::uint64_t end = std::min(size_, offset + length);
    (void)::madvise(const_cast<unsigned char*>(data_ + begin), static_cast<std::size_t>(end - begin), MADV_WILLNEED);
  }
  /// Drops the pages of [offset, offset + length) from this mapping (widened to whole pages);
  /// the data stays valid: a later read faults it back in from the page cache or the disk.
  /// Safe while other threads read the mapping (they fault the page back in).
  void release(std::uint64_t offset, std::uint64_t length) const {
    if (!data_ || length == 0 || offset >= size_) return;
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t begin = offset / page * page;
    const std::uint64_t end = std::min(size_, offset + length);
    (void)::madvise(const_cast<unsigned char*>(data_ + begin), static_cast<std::size_t>(end - begin), MADV_DONTNEED);
  }
  void release_all() const { release(0, size_); }

 private:
  void unmap() noexcept {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), static_cast<std::size_t>(size_));
    data_ = nullptr;
    size_ = 0;
  }
  void swap(MappedFile& other) noexcept {
    std::swap(path_, other.path_);
    std::swap(operation_, other.operation_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  std::string path_;
  std::string operation_;
  const unsigned char* data_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace nabla::io
