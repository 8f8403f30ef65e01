// fuzz/fuzz_input.hpp - what the fuzz targets share: an in-memory file for the loaders that
// take a path, and a reader of fuzzer bytes for the targets that need a few choices first.
//
// Every target is one `LLVMFuzzerTestOneInput(data, size)`: libFuzzer calls it (clang,
// -fsanitize=fuzzer, NABLA_FUZZ=ON), and fuzz/replay_main.cpp calls it with every file of
// fuzz/corpus/<target>/ and fuzz/regressions/<target>/ in the normal GCC build (ctest
// fuzz_replay). A target lets nabla's exceptions through its own try/catch only: any other
// exception, crash, leak or sanitizer report is a finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace nabla_fuzz {

/// One anonymous in-memory file (memfd), rewritten for every input and opened by the loaders
/// through /proc/self/fd/N like any regular file: no disk traffic, no temporary files left.
class MemoryFile {
 public:
  MemoryFile() {
    descriptor_ = ::memfd_create("nabla-fuzz", MFD_CLOEXEC);
    if (descriptor_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(descriptor_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  ~MemoryFile() { ::close(descriptor_); }

  /// Replaces the file's contents by `size` bytes; returns its path.
  const std::string& hold(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(descriptor_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < size) {
      const ::ssize_t written = ::pwrite(descriptor_, data + done, size - done, static_cast<::off_t>(done));
      if (written <= 0) std::abort();
      done += static_cast<std::size_t>(written);
    }
    return path_;
  }

 private:
  int descriptor_ = -1;
  std::string path_;
};

/// The fuzzer's bytes consumed from the front: a few small choices, then the rest as text.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  /// The next byte, or 0 when none is left.
  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  /// A little-endian 16-bit number from the next two bytes.
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }
  /// Everything not consumed yet.
  std::string_view rest() const { return {reinterpret_cast<const char*>(data_) + position_, size_ - position_}; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

}  // namespace nabla_fuzz
