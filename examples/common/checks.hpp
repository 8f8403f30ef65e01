// examples/common/checks.hpp - the examples' self-checks. Each check prints one line,
// "  check passed: <what>" or "  check FAILED: <what>" (the smoke tests fail on "check FAILED"),
// and any failure makes the exit status 1.
#pragma once

#include <cstdio>
#include <string>

namespace nabla_examples {

class Checks {
 public:
  void expect(bool passed, const std::string& what) {
    std::printf("  check %s: %s\n", passed ? "passed" : "FAILED", what.c_str());
    if (!passed) ++failed_;
  }
  int failed() const { return failed_; }

  /// Prints the verdict and returns the exit status: 0 when every check passed, else 1.
  int finish() const {
    if (failed_ > 0) {
      std::printf("%d check(s) FAILED\n", failed_);
      return 1;
    }
    std::printf("all checks passed\n");
    return 0;
  }

 private:
  int failed_ = 0;
};

/// `value` printed with a printf pattern ("%.4f"), for the text of a check.
inline std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

}  // namespace nabla_examples
