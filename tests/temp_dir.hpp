// tests/temp_dir.hpp - scratch directories for tests: one fresh, empty directory per object under
// the system's temporary directory, removed with everything in it when the object goes.
//
// The name holds the process id and a per-process counter, so that test binaries run in
// parallel (ctest -j) and the test cases of one binary never share a directory.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace nabla_test {

/// <temp>/nabla_test_<prefix>_<pid>_<n>, created empty, removed at the end of its scope.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tmp") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("nabla_test_" + prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    // a test may have made the directory read-only (to make a save fail): removal needs write access
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// The path of `name` inside the directory, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

  /// Names of leftover temporary files of atomic writes ("<name>.tmp.<pid>.<n>").
  std::vector<std::string> temporaries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      if (entry.path().filename().string().find(".tmp.") != std::string::npos)
        names.push_back(entry.path().filename().string());
    return names;
  }

 private:
  std::filesystem::path path_;
};

/// A TempDir that is also the working directory while it lives (for code that writes files
/// by relative names); the previous working directory comes back at the end.
class InTempDir {
 public:
  explicit InTempDir(const std::string& prefix = "tmp")
      : previous_(std::filesystem::current_path()), directory_(prefix) {
    std::filesystem::current_path(directory_.path());
  }
  ~InTempDir() {
    std::error_code ignored;
    std::filesystem::current_path(previous_, ignored);
  }
  InTempDir(const InTempDir&) = delete;
  InTempDir& operator=(const InTempDir&) = delete;

  const std::filesystem::path& path() const { return directory_.path(); }

 private:
  std::filesystem::path previous_;
  TempDir directory_;  // removed after the destructor has restored the working directory
};

}  // namespace nabla_test
