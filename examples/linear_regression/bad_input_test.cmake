# examples/linear_regression/bad_input_test.cmake - runs the linear_regression example on bad
# input (CTest: example_linear_regression_bad_input). Each case must end with the expected exit
# status (1: data problem, 2: bad command line; a crash reports a signal instead) and a message
# that says what is wrong (examples/common/example_test.cmake runs them).
#
#   cmake -DEXAMPLE=path/to/linear_regression -DSAMPLE=path/to/testdata/data.csv
#         -DWORK_DIR=scratch/dir -P bad_input_test.cmake
set(EXAMPLE_TEST_VARIABLES SAMPLE)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

file(READ "${SAMPLE}" sample)
string(LENGTH "${sample}" sample_length)
file(STRINGS "${SAMPLE}" sample_lines LIMIT_COUNT 1)
list(GET sample_lines 0 header)

expect_run(help 0 "Usage: linear_regression" --help)
expect_run(unknown_flag 2 "unknown option '--no-such-flag'" --no-such-flag)
expect_run(bad_value 2 "--steps expects a whole number" --steps ten)
expect_run(bad_part 2 "--part expects 1, 2 or all" --part 3)
expect_run(missing_data 1 "bash scripts/fetch_data.sh boston" --part 2 --data-dir "${WORK_DIR}/nowhere")

# The sample cut in the middle of a line, as an interrupted copy would leave it.
math(EXPR half "${sample_length} / 2 + 7")
string(SUBSTRING "${sample}" 0 ${half} truncated)
file(WRITE "${WORK_DIR}/truncated/data.csv" "${truncated}")
expect_run(truncated_file 1 "the file looks truncated" --part 2 --quick --data-dir "${WORK_DIR}/truncated")

file(WRITE "${WORK_DIR}/empty/data.csv" "")
expect_run(empty_file 1 "the file is empty" --part 2 --quick --data-dir "${WORK_DIR}/empty")

file(WRITE "${WORK_DIR}/short_row/data.csv" "${header}\n1,2,3\n")
expect_run(short_row 1 "data.csv:2: row has 3 fields, but the header has 14" --part 2 --quick
  --data-dir "${WORK_DIR}/short_row")

file(WRITE "${WORK_DIR}/not_a_number/data.csv" "${header}\n0.1,2,3,0,0.5,6,7,8,9,10,11,12,13,oops\n")
expect_run(not_a_number 1 "column 'medv' holds 'oops', which is not a number" --part 2 --quick
  --data-dir "${WORK_DIR}/not_a_number")

file(WRITE "${WORK_DIR}/other_file/data.csv" "[{\"crim\":0.00632,\"zn\":18.00}]\n")
expect_run(other_file 1 "the Boston data cannot be used" --part 2 --quick --data-dir "${WORK_DIR}/other_file")

file(MAKE_DIRECTORY "${WORK_DIR}/good")
file(WRITE "${WORK_DIR}/good/data.csv" "${sample}")
expect_run(unwritable_svg 1 "for writing the loss curves" --part 2 --quick --data-dir "${WORK_DIR}/good"
  --svg "${WORK_DIR}/no/such/directory/curves.svg")
