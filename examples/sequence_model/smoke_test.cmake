# examples/sequence_model/smoke_test.cmake - the sequence_model example, end to end, on the tiny
# corpus in testdata/ (a few seconds; CTest: example_sequence_model_smoke).
#
#   cmake -DEXAMPLE=<sequence_model> -DDATA_DIR=<testdata> -DWORK_DIR=<scratch> -P smoke_test.cmake
#
# Trains 4 epochs (exit 0; the training perplexity must fall and the final validation
# perplexity must beat the unigram model); then trains 3 epochs into another checkpoint and
# --resume's it for the 4th, which must print exactly the perplexities of the uninterrupted
# run's 4th epoch (weights, Adam's moments and the dropout generator all restored).
set(EXAMPLE_TEST_VARIABLES DATA_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/tiny_run.cmake)

example_run(train 0 ${tiny_run} --epochs 4 --checkpoint ${WORK_DIR}/smoke.nabla
  --plot ${WORK_DIR}/curves.svg --generate 8 --prompt "The jury")
if(NOT train_ok)
  return()
endif()
string(REGEX MATCHALL "epoch [0-9]+/[0-9]+ +train ppl +[0-9.]+ +valid ppl +[0-9.]+" epochs "${train_output}")
list(LENGTH epochs epoch_count)
if(NOT epoch_count EQUAL 4)
  message(FATAL_ERROR "train: expected 4 epoch lines, found ${epoch_count}:\n${train_output}")
endif()
set(train_values "")
foreach(line IN LISTS epochs)
  string(REGEX MATCH "train ppl +([0-9.]+) +valid ppl +([0-9.]+)" matched "${line}")
  list(APPEND train_values ${CMAKE_MATCH_1})
  set(last_valid ${CMAKE_MATCH_2})
endforeach()
list(GET train_values 0 first_train)
list(GET train_values -1 last_train)
string(REGEX MATCH "unigram model[^\n]*perplexity ([0-9.]+)" matched "${train_output}")
set(unigram ${CMAKE_MATCH_1})
message(STATUS "train perplexity ${first_train} -> ${last_train}; last valid ${last_valid}, unigram ${unigram}")
# The loss must fall clearly: the last epoch's training perplexity below 70% of the first's
# (math() is integer-only: compare 10 x last with 7 x first, both truncated).
string(REGEX REPLACE "\\..*" "" first_whole "${first_train}")
string(REGEX REPLACE "\\..*" "" last_whole "${last_train}")
math(EXPR first_scaled "${first_whole} * 7")
math(EXPR last_scaled "${last_whole} * 10")
if(NOT last_scaled LESS first_scaled)
  message(SEND_ERROR "train: the training perplexity did not fall enough (${first_train} -> ${last_train})")
endif()
if(NOT last_valid LESS unigram)
  message(SEND_ERROR "train: validation perplexity ${last_valid} is not below the unigram model's ${unigram}")
endif()
expect_text(train "test perplexity")
expect_text(train "sample (temperature")
if(NOT EXISTS ${WORK_DIR}/smoke.nabla OR NOT EXISTS ${WORK_DIR}/curves.svg)
  message(SEND_ERROR "train: the checkpoint or the SVG was not written")
endif()

list(GET epochs 3 uninterrupted_epoch_4)
string(REGEX MATCH "train ppl.*" uninterrupted_epoch_4 "${uninterrupted_epoch_4}")

example_run(first_three 0 ${tiny_run} --epochs 3 --checkpoint ${WORK_DIR}/part.nabla --generate 0)
example_run(resume 0 ${tiny_run} --epochs 4 --checkpoint ${WORK_DIR}/part.nabla --resume --generate 0)
expect_text(resume "resumed from")
expect_text(resume "after epoch 3")
string(REGEX MATCH "epoch 4/4 +train ppl +[0-9.]+ +valid ppl +[0-9.]+" resumed_epoch_4 "${resume_output}")
string(REGEX MATCH "train ppl.*" resumed_epoch_4 "${resumed_epoch_4}")
if(NOT resumed_epoch_4 STREQUAL uninterrupted_epoch_4)
  message(SEND_ERROR "resume: epoch 4 after resuming gives '${resumed_epoch_4}', "
    "the uninterrupted run '${uninterrupted_epoch_4}'")
endif()

# --token-file: the first run writes the training ids to a token file and trains from it,
# memory-mapped; a second run with 2 worker threads reads the same file and must print the
# same perplexities (batches do not depend on the workers); a file that does not hold this
# run's ids is refused.
example_run(token_write 0 ${tiny_run} --epochs 2 --checkpoint ${WORK_DIR}/tokens_a.nabla --generate 0
  --token-file ${WORK_DIR}/train.tokens)
expect_text(token_write "wrote the 700 training ids to token file")
example_run(token_read 0 ${tiny_run} --epochs 2 --checkpoint ${WORK_DIR}/tokens_b.nabla --generate 0
  --token-file ${WORK_DIR}/train.tokens --workers 2)
expect_text(token_read "2 workers")
string(REGEX MATCHALL "train ppl +[0-9.]+ +valid ppl +[0-9.]+" token_write_epochs "${token_write_output}")
string(REGEX MATCHALL "train ppl +[0-9.]+ +valid ppl +[0-9.]+" token_read_epochs "${token_read_output}")
if(NOT token_write_epochs OR NOT token_write_epochs STREQUAL token_read_epochs)
  message(SEND_ERROR "token file: 0 workers gave '${token_write_epochs}', 2 workers '${token_read_epochs}'")
endif()
string(REPLACE "700,200" "600,200" stale_run "${tiny_run}")
example_run(token_stale 1 ${stale_run} --epochs 1 --checkpoint ${WORK_DIR}/tokens_c.nabla
  --generate 0 --token-file ${WORK_DIR}/train.tokens)
expect_text(token_stale "not this run's 600 training ids")
