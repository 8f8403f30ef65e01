# examples/spam_classifier/bad_input_test.cmake - runs the spam_classifier example on bad input
# (CTest: example_spam_classifier_bad_input). Each case must end with the expected exit status
# (1: data problem, 2: bad command line; a crash reports a signal instead) and a message that
# says what is wrong (examples/common/example_test.cmake runs them). The data cases are damaged
# copies of the bundled test slice.
#
#   cmake -DEXAMPLE=path/to/spam_classifier -DSAMPLE_DIR=path/to/testdata
#         -DWORK_DIR=scratch/dir -P bad_input_test.cmake
set(EXAMPLE_TEST_VARIABLES SAMPLE_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

# copy_sample(<name>): a fresh copy of the test slice in WORK_DIR/<name>; sets <name>_DIR.
function(copy_sample name)
  file(COPY "${SAMPLE_DIR}/" DESTINATION "${WORK_DIR}/${name}")
  set(${name}_DIR "${WORK_DIR}/${name}" PARENT_SCOPE)
endfunction()

# The command line.
expect_run(help 0 "Usage: spam_classifier" --help)
expect_run(unknown_flag 2 "unknown option '--no-such-flag'" --no-such-flag)
expect_run(bad_number 2 "--epochs expects a whole number" --epochs ten)
expect_run(zero_batch 2 "--batch expects a whole number in [1," --batch 0)
expect_run(bad_fraction 2 "--test-fraction expects a number in (0, 1)" --test-fraction 1.5)
expect_run(bad_lr 2 "--lr expects a number" --lr fast)
expect_run(bad_text 2 "--text expects clean or raw" --text html)
expect_run(bad_device 2 "--device expects cpu or cuda" --device tpu)
expect_run(missing_value 2 "--maxlen needs a value" --maxlen)
expect_run(value_for_switch 2 "--quick takes no value" --quick=yes)

# The device: a CUDA build on a machine with a GPU trains there; otherwise a clear DeviceError.
expect_cuda_run(cuda_device --quick --data-dir "${SAMPLE_DIR}")

# Missing data: the fetch command is printed.
expect_run(missing_data 1 "bash scripts/fetch_data.sh spam-assassin" --quick --data-dir "${WORK_DIR}/nowhere")

# A group directory missing.
copy_sample(missing_group)
file(REMOVE_RECURSE "${missing_group_DIR}/spam-2")
expect_run(missing_group 1 "spam-2' is missing" --quick --data-dir "${missing_group_DIR}")

# A group directory without e-mails.
copy_sample(empty_group)
file(GLOB empty_group_files "${empty_group_DIR}/hard-ham-1/*")
file(REMOVE ${empty_group_files})
expect_run(empty_group 1 "holds no .txt e-mails" --quick --data-dir "${empty_group_DIR}")

# An empty message file (a copy interrupted before it began).
copy_sample(empty_file)
file(WRITE "${empty_file_DIR}/spam-1/99999.empty.txt" "")
expect_run(empty_file 1 "99999.empty.txt: the file is empty" --quick --data-dir "${empty_file_DIR}")

# A message cut inside its headers (no empty line ends them).
copy_sample(truncated_file)
file(WRITE "${truncated_file_DIR}/easy-ham-1/99999.cut.txt"
  "From someone@example.com  Thu Aug 22 13:17:22 2002\nReturn-Path: <someone@example.com>\nSubject: Re: the mee")
expect_run(truncated_file 1 "the file looks truncated" --quick --data-dir "${truncated_file_DIR}")

# A file that is no e-mail at all, and the restore command for damaged data.
copy_sample(foreign_file)
file(WRITE "${foreign_file_DIR}/spam-2/99999.foreign.txt" "{\"id\":\"00001\",\"group\":\"spam-2\",\"text\":\"...\"}\n")
expect_run(foreign_file 1 "does not start with e-mail headers" --quick --data-dir "${foreign_file_DIR}")
expect_run(foreign_file_restore 1 "restore it with:\n  bash scripts/fetch_data.sh spam-assassin" --quick
  --data-dir "${foreign_file_DIR}")

# Too few messages to hold some of each class out for testing.
expect_run(too_few_messages 1 "too few ham messages" --quick --test-fraction 0.01 --data-dir "${SAMPLE_DIR}")
