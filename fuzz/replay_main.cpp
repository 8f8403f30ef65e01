// fuzz/replay_main.cpp - runs a fuzz target without libFuzzer: every file under the
// directories (or the files) given on the command line goes through LLVMFuzzerTestOneInput
// once. The normal (GCC) build links each fuzz/<target>.cpp with this main() into
// fuzz_replay_<target>; the CTest test fuzz_replay runs them over fuzz/corpus/<target>/ and
// fuzz/regressions/<target>/, so every input the fuzzer ever crashed on stays fixed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path argument = argv[i];
    if (fs::is_directory(argument)) {
      for (const auto& entry : fs::recursive_directory_iterator(argument))
        if (entry.is_regular_file()) files.push_back(entry.path());
    } else if (fs::is_regular_file(argument)) {
      files.push_back(argument);
    } else {
      std::fprintf(stderr, "fuzz replay: %s does not exist\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream input(file, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    try {
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& error) {
      std::fprintf(stderr, "fuzz replay: %s: uncaught exception: %s\n", file.c_str(), error.what());
      return 1;
    }
  }
  std::printf("fuzz replay: %zu inputs, no failure\n", files.size());
  return files.empty() ? 1 : 0;
}
