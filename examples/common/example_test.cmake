# examples/common/example_test.cmake - what the examples' CTest scripts share (run with
# `cmake -P`, added by nabla_example_script_test in examples/CMakeLists.txt). A script includes
# it with the variables it needs besides EXAMPLE and WORK_DIR:
#
#   set(EXAMPLE_TEST_VARIABLES SAMPLE)   # optional
#   include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)
#   expect_run(unknown_flag 2 "unknown option '--no-such-flag'" --no-such-flag)
#
# It checks the variables, empties WORK_DIR (the example runs there) and defines:
#   example_run(<case> <exit status> <arguments>...)
#       runs the example; an exit status other than the expected one is an error (a crash
#       reports a signal instead of a number). Leaves the output (stdout then stderr) in
#       <case>_output and whether the status matched in <case>_ok.
#   expect_text(<case> <text>)
#       an error unless <case>'s output contains the text.
#   expect_run(<case> <exit status> <text> <arguments>...)
#       example_run + expect_text: the usual bad-input case.
#   expect_cuda_run(<case> <arguments>...)
#       runs with --device cuda: a CUDA build on a machine with a GPU trains there (exit 0);
#       otherwise the example must fail cleanly (exit 1) with a message naming --device cuda.
# Errors are SEND_ERRORs: every case runs, and the script (the test) fails at the end. In a
# NABLA_SANITIZE build a sanitizer's report in a run's output is an error too, whatever the
# exit status.
cmake_minimum_required(VERSION 3.25)

foreach(variable EXAMPLE WORK_DIR ${EXAMPLE_TEST_VARIABLES})
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "${CMAKE_CURRENT_LIST_FILE}: pass -D${variable}=...")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# A sanitizer's report (a NABLA_SANITIZE build) is an error even when the exit status is the
# expected one: ASan and UBSan exit with status 1, which is also what a bad-input case expects.
function(fail_on_sanitizer_report case output)
  if(output MATCHES "(Address|Leak|UndefinedBehavior)Sanitizer|: runtime error: ")
    message(SEND_ERROR "${case}: a sanitizer reported an error:\n${output}")
  endif()
endfunction()

function(example_run case expected_status)
  execute_process(COMMAND "${EXAMPLE}" ${ARGN}
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors TIMEOUT 120)
  set(${case}_output "${output}${errors}" PARENT_SCOPE)
  fail_on_sanitizer_report(${case} "${output}${errors}")
  if("${status}" STREQUAL "${expected_status}")
    set(${case}_ok TRUE PARENT_SCOPE)
    message(STATUS "${case}: exit status ${status}")
  else()
    set(${case}_ok FALSE PARENT_SCOPE)
    message(SEND_ERROR "${case}: expected exit status ${expected_status}, got '${status}' and:\n${output}${errors}")
  endif()
endfunction()

function(expect_text case text)
  string(FIND "${${case}_output}" "${text}" found)
  if(found EQUAL -1)
    message(SEND_ERROR "${case}: the output does not contain '${text}':\n${${case}_output}")
  endif()
endfunction()

function(expect_run case expected_status expected_text)
  example_run(${case} ${expected_status} ${ARGN})
  expect_text(${case} "${expected_text}")
  set(${case}_output "${${case}_output}" PARENT_SCOPE)
  set(${case}_ok "${${case}_ok}" PARENT_SCOPE)
endfunction()

function(expect_cuda_run case)
  execute_process(COMMAND "${EXAMPLE}" ${ARGN} --device cuda
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors TIMEOUT 300)
  fail_on_sanitizer_report(${case} "${output}${errors}")
  string(FIND "${output}${errors}" "--device cuda: " found)
  if("${status}" STREQUAL "0" OR ("${status}" STREQUAL "1" AND NOT found EQUAL -1))
    message(STATUS "${case}: exit status ${status}")
  else()
    message(SEND_ERROR "${case}: expected success (a GPU) or exit status 1 naming --device cuda (no CUDA build or "
                       "no GPU), got status '${status}' and:\n${output}${errors}")
  endif()
endfunction()
