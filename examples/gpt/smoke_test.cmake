# examples/gpt/smoke_test.cmake - the gpt example, end to end, on the tiny corpus of
# examples/sequence_model/testdata (a few seconds; CTest: example_gpt_smoke).
#
#   cmake -DEXAMPLE=<gpt> -DDATA_DIR=<testdata> -DWORK_DIR=<scratch> -P smoke_test.cmake
#
# Trains 4 epochs of a tiny GPT (exit 0; the training perplexity must fall and the final
# validation perplexity must beat the unigram model; the checkpoint, the SVG and a sample are
# written); trains 3 epochs into another checkpoint and --resume's it for the 4th, which must
# print exactly the uninterrupted run's 4th epoch; trains 2 epochs from a --token-file (written,
# then reused with --workers 2), which must print the in-memory run's first 2 epochs exactly;
# and checks bad input (exit 2 / exit 1), a stale or foreign token file included.
set(EXAMPLE_TEST_VARIABLES DATA_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

set(tiny_run --data-dir ${DATA_DIR} --split 700,200 --max-train-tokens 0 --context 16 --layers 1 --heads 2
  --width 32 --batch 4 --warmup 5 --lr 0.01 --min-lr 1 --dropout 0.1 --threads 1 --seed 3)

example_run(train 0 ${tiny_run} --epochs 4 --checkpoint ${WORK_DIR}/smoke.nabla --plot ${WORK_DIR}/curves.svg
  --generate 8 --prompt "The jury")
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
string(REGEX MATCH "unigram model: validation perplexity ([0-9.]+)" matched "${train_output}")
set(unigram ${CMAKE_MATCH_1})
message(STATUS "train perplexity ${first_train} -> ${last_train}; last valid ${last_valid}, unigram ${unigram}")
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
string(REGEX MATCH "epoch 4/4 +train ppl +[0-9.]+ +valid ppl +[0-9.]+" resumed_epoch_4 "${resume_output}")
string(REGEX MATCH "train ppl.*" resumed_epoch_4 "${resumed_epoch_4}")
if(NOT resumed_epoch_4 STREQUAL uninterrupted_epoch_4)
  message(SEND_ERROR "resume: epoch 4 after resuming gives '${resumed_epoch_4}', "
    "the uninterrupted run '${uninterrupted_epoch_4}'")
endif()

# --token-file: the first run writes the training ids to a token file and trains from it; a
# second run reuses the file with 2 worker threads. Both must print the in-memory run's first two
# epochs exactly (the same windows in the same batches). A file of other ids, or not a token
# file at all, is refused.
set(in_memory_epochs "")
foreach(index 0 1)
  list(GET epochs ${index} line)
  string(REGEX MATCH "train ppl +[0-9.]+ +valid ppl +[0-9.]+" line "${line}")
  list(APPEND in_memory_epochs "${line}")
endforeach()
example_run(token_write 0 ${tiny_run} --epochs 2 --checkpoint ${WORK_DIR}/tokens_a.nabla --generate 0
  --token-file ${WORK_DIR}/train.tokens)
expect_text(token_write "wrote the 700 training ids to token file")
example_run(token_read 0 ${tiny_run} --epochs 2 --checkpoint ${WORK_DIR}/tokens_b.nabla --generate 0
  --token-file ${WORK_DIR}/train.tokens --workers 2)
expect_text(token_read "2 workers")
foreach(case token_write token_read)
  string(REGEX MATCHALL "train ppl +[0-9.]+ +valid ppl +[0-9.]+" case_epochs "${${case}_output}")
  if(NOT case_epochs STREQUAL in_memory_epochs)
    message(SEND_ERROR "${case}: the token file gave '${case_epochs}', in memory '${in_memory_epochs}'")
  endif()
endforeach()
if(token_read_output MATCHES "wrote the")
  message(SEND_ERROR "token_read: the existing token file was written again:\n${token_read_output}")
endif()
string(REPLACE "700,200" "600,200" stale_run "${tiny_run}")
expect_run(token_stale 1 "not this run's 600 training ids" ${stale_run} --epochs 1 --generate 0
  --checkpoint ${WORK_DIR}/tokens_c.nabla --token-file ${WORK_DIR}/train.tokens)
file(WRITE ${WORK_DIR}/not.tokens "The/at jury/nn said/vbd it/pps did/dod find/vb that/cs many/ap of/in the/at")
expect_run(not_a_token_file 1 "not a token file" ${tiny_run} --epochs 1 --generate 0
  --checkpoint ${WORK_DIR}/tokens_d.nabla --token-file ${WORK_DIR}/not.tokens)

# Bad input: a clear message, exit 2 for the command line, 1 for the rest.
expect_run(unknown_flag 2 "unknown option '--no-such-flag'" --no-such-flag)
expect_run(heads 2 "is not divisible by --heads" --width 30 --heads 4)
expect_run(workers_without_token_file 2 "--workers: the workers prepare batches read from a token file"
  --workers 2)
example_run(missing_data 1 --data-dir ${WORK_DIR}/no-such-directory)
expect_text(missing_data "bash scripts/fetch_data.sh brown")
example_run(other_model 1 ${tiny_run} --epochs 5 --checkpoint ${WORK_DIR}/part.nabla --resume --width 16)
expect_text(other_model "use the same model flags")
example_run(no_checkpoint 1 ${tiny_run} --epochs 2 --resume --checkpoint ${WORK_DIR}/absent.nabla)
expect_text(no_checkpoint "there is no checkpoint")
expect_cuda_run(cuda ${tiny_run})
