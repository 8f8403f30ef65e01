// The Catch2 main() of nabla_tests. This file is compiled WITHOUT the precompiled header
// (see tests/CMakeLists.txt): CATCH_CONFIG_MAIN has to come before catch.hpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
