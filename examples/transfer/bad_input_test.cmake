# examples/transfer/bad_input_test.cmake - the transfer example on bad input (CTest:
# example_transfer_bad_input). Each case must end with the expected exit status (1: data or
# file problem, 2: bad command line; a crash reports a signal instead) and a message that says
# what is wrong.
#
#   cmake -DEXAMPLE=<transfer> -DSPAM_DIR=<spam testdata> -DBROWN_DIR=<Brown testdata>
#         -DWORK_DIR=<scratch> -P bad_input_test.cmake
set(EXAMPLE_TEST_VARIABLES SPAM_DIR BROWN_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

set(data --data-dir ${SPAM_DIR} --brown-dir ${BROWN_DIR} --threads 1)
set(outputs --csv ${WORK_DIR}/scores.csv --svg ${WORK_DIR}/scores.svg)

# The command line.
expect_run(help 0 "Usage: transfer" --help)
expect_run(unknown_flag 2 "unknown option '--no-such-flag'" --no-such-flag)
expect_run(zero_fraction 2 "--fractions expects a number in (0, 1], got '0'" --fractions 0,0.5)
expect_run(big_fraction 2 "--fractions expects a number in (0, 1], got '1.5'" --fractions 1.5)
expect_run(empty_fraction 2 "--fractions expects a number in (0, 1], got ''" --fractions 0.1,,1)
expect_run(twice_fraction 2 "--fractions lists 0.1 twice" --fractions 0.1,0.1)
expect_run(zero_runs 2 "--runs expects a whole number in [1, 1000], got '0'" --runs 0)
expect_run(bad_scale 2 "--pretrained-lr-scale expects a number in (0, 1]" --pretrained-lr-scale 2)
expect_run(bad_split 2 "--split expects TRAIN,VALID token counts" --split 700)
expect_run(size_and_file 2 "a --pretrained file has its own" --pretrained x.nabla --size 32)
expect_run(bad_device 2 "--device expects cpu or cuda" --device tpu)

# Missing data: the fetch commands.
expect_run(missing_brown 1 "bash scripts/fetch_data.sh brown" --quick ${data} --brown-dir ${WORK_DIR}/nowhere)
expect_run(missing_spam 1 "bash scripts/fetch_data.sh spam-assassin" --quick ${data} --data-dir ${WORK_DIR}/nowhere)
expect_run(small_brown 1 "too few for 800000 training" ${data} --fractions 1)  # the default split

# Pretrained files that do not fit.
file(WRITE ${WORK_DIR}/garbage.nabla "this is not a model")
expect_run(garbage_file 1 "garbage.nabla" --quick ${data} ${outputs} --pretrained ${WORK_DIR}/garbage.nabla)
expect_run(absent_file 1 "absent.nabla" --quick ${data} ${outputs} --pretrained ${WORK_DIR}/absent.nabla)
# An LM pretrained on another split has another vocabulary.
example_run(other_split_lm 0 --quick ${data} ${outputs} --runs 1 --fractions 1 --split 600,200
  --save-pretrained ${WORK_DIR}/other.nabla)
expect_run(other_vocabulary 1 "was trained on another vocabulary" --quick ${data} ${outputs}
  --pretrained ${WORK_DIR}/other.nabla)

# An output that cannot be written.
expect_run(unwritable_csv 1 "--csv: cannot write" --quick ${data} --runs 1 --pretrained ${WORK_DIR}/other.nabla
  --split 600,200 --csv ${WORK_DIR}/no/such/directory/scores.csv --svg ${WORK_DIR}/scores.svg)

# The device: a CUDA build on a machine with a GPU trains there; otherwise a clear DeviceError.
expect_cuda_run(cuda_device --quick ${data} ${outputs} --runs 1 --fractions 1)
