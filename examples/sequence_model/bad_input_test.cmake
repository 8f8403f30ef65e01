# examples/sequence_model/bad_input_test.cmake - runs the sequence_model example on bad input
# (CTest: example_sequence_model_bad_input): an unknown flag and bad values (exit 2), missing
# data, a damaged corpus file, a checkpoint of another model and a damaged checkpoint must each
# fail with a clear message and exit status 1 (never a crash).
#
#   cmake -DEXAMPLE=<sequence_model> -DDATA_DIR=<testdata> -DWORK_DIR=<scratch> -P bad_input_test.cmake
set(EXAMPLE_TEST_VARIABLES DATA_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/tiny_run.cmake)

expect_run(help 0 "Usage: sequence_model" --help)
expect_run(unknown_flag 2 "sequence_model: unknown option '--no-such-flag'" --no-such-flag)
expect_run(bad_value 2 "--epochs expects a whole number >= 0, got 'many'" --epochs many)
expect_run(bad_split 2 "--split expects a whole number >= 2, got 'x'" --split 700,x)

example_run(missing_data 1 --data-dir ${WORK_DIR}/no-such-directory)
expect_text(missing_data "bash scripts/fetch_data.sh brown")

file(WRITE ${WORK_DIR}/damaged/ca01 "The/at jury/nn said/vbd\n\tsomething without a tag ./.\n")
example_run(damaged_corpus 1 --data-dir ${WORK_DIR}/damaged --split 2,2)
expect_text(damaged_corpus "line 2")
expect_text(damaged_corpus "damaged")

example_run(too_small_corpus 1 --data-dir ${DATA_DIR})  # the default split needs 1,000,000+ tokens
expect_text(too_small_corpus "too few for 800000 training")

# A checkpoint of this example, then a run with another hidden size resuming it.
set(checkpoint --checkpoint ${WORK_DIR}/smoke.nabla)
example_run(first 0 ${tiny_run} ${checkpoint} --epochs 1 --generate 0)
example_run(other_model 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --hidden-size 16)
expect_text(other_model "hidden size 32, but this run asks for 16")
example_run(other_optimizer 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --optimizer sgd)
expect_text(other_optimizer "trained with Adam")
example_run(untied 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --no-tie-weights)
expect_text(untied "resume without --no-tie-weights")
example_run(mismatched_sizes 2 --embedding-size 16 --hidden-size 32)
expect_text(mismatched_sizes "add --no-tie-weights")

file(WRITE ${WORK_DIR}/garbage.nabla "this is not a checkpoint")
example_run(damaged_checkpoint 1 ${tiny_run} --epochs 2 --resume --checkpoint ${WORK_DIR}/garbage.nabla)
expect_text(damaged_checkpoint "garbage.nabla")

example_run(no_checkpoint 1 ${tiny_run} --epochs 2 --resume --checkpoint ${WORK_DIR}/absent.nabla)
expect_text(no_checkpoint "there is no checkpoint")

# --device cuda: without CUDA in the build, or without a GPU, a clear error (exit 1); on a
# machine with a GPU the run trains there and must succeed.
expect_cuda_run(cuda ${tiny_run})
expect_run(workers_without_token_file 2 "--workers: the workers prepare batches read from a token file"
  --workers 2)
# A --token-file that is not a token file (here: a corpus file) is refused, naming the field.
file(WRITE ${WORK_DIR}/not.tokens "The/at jury/nn said/vbd it/pps did/dod find/vb that/cs many/ap of/in the/at")
expect_run(not_a_token_file 1 "not a token file" ${tiny_run} --epochs 1 --generate 0
  --checkpoint ${WORK_DIR}/x.nabla --token-file ${WORK_DIR}/not.tokens)
