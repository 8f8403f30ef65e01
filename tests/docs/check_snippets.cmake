# check_snippets.cmake: the CTest test docs_snippets (cmake -P).
#   -DBUILD_DIR=<top build dir> -DSUMMARY_FILE=<file written by extract_snippets.cmake>
#   [-DCONFIG=<config>]
# Prints how many ```cpp blocks of the docs were extracted, of which kind, and every skipped
# block with its reason; then builds the target docs_snippets (a no-op when the normal build
# already compiled it) and fails if any block does not compile.
if(NOT EXISTS "${SUMMARY_FILE}")
  message(FATAL_ERROR "docs snippets: ${SUMMARY_FILE} is missing: the extraction did not run")
endif()
file(READ "${SUMMARY_FILE}" summary)
message("${summary}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target docs_snippets ${config_args}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "docs snippets: a ```cpp block of the docs does not compile (the errors above name its page and line)")
endif()
