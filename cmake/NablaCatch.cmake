# NablaCatch.cmake: nabla_catch_discover_tests(), a robust replacement for Catch2 v2's
# catch_discover_tests().
#
#   nabla_catch_discover_tests(<target>
#     [WORKING_DIRECTORY dir] [EXTRA_ARGS args...] [PROPERTIES name value...])
#
# After every build of <target>, the test executable is asked for its test case names
# (--list-test-names-only) and each TEST_CASE becomes one CTest test of the same name.
#
# Why not Catch2's own catch_discover_tests (Debian catch2 2.13.10)? Its CatchAddTests.cmake
# splits the listing as a CMake list, so a test name with a ';' turns into two broken tests
# (and an unbalanced '[' or ']' glues names together), and it does not escape '\' or '"' in
# the test spec. Here those characters are protected before the split and escaped for Catch's
# test spec parser. The listing's exit code (Catch returns the number of tests) is also
# checked against the names read, so a crash or a startup error (e.g. a duplicate test name)
# fails the build instead of registering nothing.
set(_NABLA_CATCH_ADD_TESTS_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/NablaCatchAddTests.cmake)

function(nabla_catch_discover_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "WORKING_DIRECTORY" "EXTRA_ARGS;PROPERTIES")
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set(ctest_include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake)
  set(ctest_tests_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake)

  # Lists travel through -D as '|'-separated strings; ';' would be split by the shell layer.
  string(REPLACE ";" "|" extra_args "${arg_EXTRA_ARGS}")
  string(REPLACE ";" "|" properties "${arg_PROPERTIES}")
  add_custom_command(TARGET ${target} POST_BUILD
    BYPRODUCTS ${ctest_tests_file}
    COMMAND ${CMAKE_COMMAND}
      -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
      -D "TEST_WORKING_DIR=${arg_WORKING_DIRECTORY}"
      -D "TEST_EXTRA_ARGS=${extra_args}"
      -D "TEST_PROPERTIES=${properties}"
      -D "CTEST_FILE=${ctest_tests_file}"
      -P ${_NABLA_CATCH_ADD_TESTS_SCRIPT}
    COMMENT "Discovering the Catch2 tests of ${target}"
    VERBATIM)

  file(WRITE ${ctest_include_file}
    "if(EXISTS \"${ctest_tests_file}\")\n"
    "  include(\"${ctest_tests_file}\")\n"
    "else()\n"
    "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${ctest_include_file})
endfunction()
