// examples/common/data.hpp - what the examples' data readers share: the data sets that
// scripts/fetch_data.sh downloads, the two data errors (missing: fetch it; corrupted: restore
// it) and reading a whole data file. Only the standard library, so the readers' unit tests
// (tests/test_example_*.cpp) need nothing more than the reader headers.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nabla_examples {

/// A data set of scripts/fetch_data.sh: how messages name it and its directory under data/
/// (also the script's argument).
struct DataSet {
  const char* name;       // e.g. "the Boston data"
  const char* directory;  // e.g. "boston": data/boston, `bash scripts/fetch_data.sh boston`

  /// The command that downloads the data set, or restores a damaged copy of it.
  std::string fetch_command() const { return std::string("bash scripts/fetch_data.sh ") + directory; }

  /// Where fetch_data.sh puts it: $NABLA_DATA_DIR/<directory>, else data/<directory> (relative
  /// to the repository root, where the examples run).
  std::string default_directory() const {
    const char* root = std::getenv("NABLA_DATA_DIR");
    return (root && *root ? std::string(root) : std::string("data")) + "/" + directory;
  }
};

/// A data error names its data set, so that whoever reports it can name the command that
/// fetches or restores the data (nabla_examples::run_example does).
class DataError : public std::runtime_error {
 public:
  DataError(const DataSet& data_set, const std::string& what) : std::runtime_error(what), data_set_(data_set) {}
  const DataSet& data_set() const { return data_set_; }

 private:
  DataSet data_set_;
};

/// The data is not there: fetch it.
class DataMissing : public DataError {
 public:
  using DataError::DataError;
};

/// The data is there but cannot be used (truncated, edited, another file, too small): restore it.
class DataCorrupted : public DataError {
 public:
  using DataError::DataError;
};

/// The bytes of a data file that exists. A file that cannot be opened or read is a damaged
/// copy (DataCorrupted): the readers look for their files first and throw DataMissing there.
inline std::string read_data_file(const DataSet& data_set, const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataCorrupted(data_set, path.string() + ": cannot open the file");
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) throw DataCorrupted(data_set, path.string() + ": reading the file failed");
  return contents.str();
}

}  // namespace nabla_examples
