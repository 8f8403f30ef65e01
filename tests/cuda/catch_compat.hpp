// tests/cuda/catch_compat.hpp - the CUDA tests build with Catch2 2 (Debian's catch2, what CI
// and the rest of the suite use) and with Catch2 3 (what the GPU machine lent to this project
// has), so that scripts/gpu_check.sh can build them there.
//
// Include this instead of <catch2/catch.hpp>; the file then provides its own main() with
// Catch::Session. Only the names these tests use are mapped: Approx and Catch::Contains.
#pragma once

#include <string>

#if __has_include(<catch2/catch_all.hpp>)  // Catch2 3
#include <catch2/catch_all.hpp>
using Catch::Approx;
namespace Catch {
/// Catch2 2's substring matcher, renamed ContainsSubstring in Catch2 3.
inline auto Contains(const std::string& text) { return Matchers::ContainsSubstring(text); }
}  // namespace Catch
#else  // Catch2 2, single header
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif
