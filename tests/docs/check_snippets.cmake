# check_snippets.cmake: the CTest test docs_snippets (cmake -P).
#   -DBUILD_DIR=<top build dir> -DSUMMARY_FILE=<file written by extract_snippets.cmake>
#   [-DCONFIG=<config>]
# Builds the target docs_snippets (a no-op when the normal build already compiled it), prints
# how many ```cpp blocks of the docs were extracted, of which kind, and every skipped block with
# its reason, and fails if any block does not compile.
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
# Build first: a page edited since the last configure is extracted again on the way.
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target docs_snippets ${config_args}
  RESULT_VARIABLE result)
if(NOT EXISTS "${SUMMARY_FILE}")
  message(FATAL_ERROR "docs snippets: ${SUMMARY_FILE} is missing: the extraction did not run")
endif()
file(READ "${SUMMARY_FILE}" summary)
message("${summary}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "docs snippets: a ```cpp block of the docs does not compile (the errors above name its page and line)")
endif()
