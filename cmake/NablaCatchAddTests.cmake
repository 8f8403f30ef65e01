# NablaCatchAddTests.cmake: run by nabla_catch_discover_tests() (see NablaCatch.cmake) after
# each build of a Catch2 v2 test executable; writes CTEST_FILE with one add_test() per
# TEST_CASE.
#
# Inputs (-D): TEST_EXECUTABLE, TEST_WORKING_DIR, CTEST_FILE, and TEST_EXTRA_ARGS,
# TEST_PROPERTIES as '|'-separated lists.
string(REPLACE "|" ";" extra_args "${TEST_EXTRA_ARGS}")
string(REPLACE "|" ";" properties "${TEST_PROPERTIES}")

if(NOT EXISTS "${TEST_EXECUTABLE}")
  message(FATAL_ERROR "Test executable '${TEST_EXECUTABLE}' does not exist")
endif()
execute_process(
  COMMAND "${TEST_EXECUTABLE}" --list-test-names-only
  OUTPUT_VARIABLE output
  ERROR_VARIABLE error_output
  RESULT_VARIABLE result
  WORKING_DIRECTORY "${TEST_WORKING_DIR}")

set(raw_output "${output}")
# Protect the characters that CMake's list splitting treats specially, then split on lines.
string(REPLACE ";" "@NABLA_SEMICOLON@" output "${output}")
string(REPLACE "[" "@NABLA_LBRACKET@" output "${output}")
string(REPLACE "]" "@NABLA_RBRACKET@" output "${output}")
string(REPLACE "\r" "" output "${output}")
string(REPLACE "\n" ";" lines "${output}")

set(names)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  list(APPEND names "${line}")  # protected form: one list element per test
endforeach()

list(LENGTH names count)
# Catch2 v2 exits with the number of tests listed, capped at 255.
if(count GREATER_EQUAL 255)
  set(expected_result 255)
else()
  set(expected_result ${count})
endif()
if(NOT result STREQUAL "${expected_result}")
  message(FATAL_ERROR
    "Listing the tests of '${TEST_EXECUTABLE}' failed (exit status '${result}', "
    "${count} test name(s) read).\nstdout:\n${raw_output}\nstderr:\n${error_output}")
endif()
if(count EQUAL 0)
  message(WARNING "Test executable '${TEST_EXECUTABLE}' contains no tests")
endif()

# Bracket argument that cannot be closed by the text it quotes.
function(bracket out text)
  set(eq "=")
  while(text MATCHES "]${eq}]")
    string(APPEND eq "=")
  endwhile()
  set(${out} "[${eq}[${text}]${eq}]" PARENT_SCOPE)
endfunction()

set(script "")
set(all_tests "")
foreach(protected IN LISTS names)
  string(REPLACE "@NABLA_SEMICOLON@" ";" name "${protected}")
  string(REPLACE "@NABLA_LBRACKET@" "[" name "${name}")
  string(REPLACE "@NABLA_RBRACKET@" "]" name "${name}")
  if(name MATCHES "^\"(#.*)\"$")  # Catch quotes names that start with '#'
    set(name "${CMAKE_MATCH_1}")
  endif()
  # Catch's test spec: a backslash makes the next character literal. Escape the backslash
  # first, then ',' (OR), '[' ']' (tags), '"' (quoting) and '~' (exclusion).
  string(REPLACE "\\" "\\\\" spec "${name}")
  foreach(char "," "[" "]" "\"" "~")
    string(REPLACE "${char}" "\\${char}" spec "${spec}")
  endforeach()

  bracket(q_name "${name}")
  bracket(q_exe "${TEST_EXECUTABLE}")
  bracket(q_spec "${spec}")
  set(q_extra "")
  foreach(arg IN LISTS extra_args)
    bracket(q "${arg}")
    string(APPEND q_extra " ${q}")
  endforeach()
  bracket(q_wd "${TEST_WORKING_DIR}")
  set(q_props "")
  foreach(prop IN LISTS properties)
    bracket(q "${prop}")
    string(APPEND q_props " ${q}")
  endforeach()
  string(APPEND script "add_test(${q_name} ${q_exe} ${q_spec}${q_extra})\n")
  string(APPEND script
    "set_tests_properties(${q_name} PROPERTIES WORKING_DIRECTORY ${q_wd}${q_props})\n")
endforeach()

file(WRITE "${CTEST_FILE}" "${script}")
