# The sequence_model example, end to end, on the tiny corpus in testdata/ (a few seconds).
#
#   cmake -DEXECUTABLE=<sequence_model> -DDATA_DIR=<testdata> -DWORK_DIR=<scratch>
#         -DMODE=train|bad_input -P smoke_test.cmake
#
# MODE train:     trains 4 epochs (exit 0; the training perplexity must fall and the final
#                 validation perplexity must beat the unigram model); then trains 3 epochs into
#                 another checkpoint and --resume's it for the 4th, which must print exactly the
#                 perplexities of the uninterrupted run's 4th epoch (weights, Adam's moments and
#                 the dropout generator all restored).
# MODE bad_input: an unknown flag (exit 2), missing data, a damaged corpus file, a checkpoint
#                 of another model and a damaged checkpoint must each fail with a clear message
#                 and exit status 1 (never a crash).
cmake_minimum_required(VERSION 3.25)

foreach(variable EXECUTABLE DATA_DIR WORK_DIR MODE)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "smoke_test.cmake: pass -D${variable}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# The flags of a tiny, quick model on the test corpus (1,108 tokens: 700 train, 200 valid).
set(tiny_run
  --data-dir ${DATA_DIR} --split 700,200 --max-train-tokens 0
  --hidden-size 32 --batch 4 --bptt 10 --dropout 0.1 --lr 0.01
  --lr-decay 1 --threads 1 --seed 3)

# run(<name> <expected exit code> args...): runs the example, fails unless the exit code
# matches, leaves the combined output in ${name}_output.
function(run name expected_code)
  execute_process(COMMAND ${EXECUTABLE} ${ARGN}
    WORKING_DIRECTORY ${WORK_DIR}
    OUTPUT_VARIABLE output ERROR_VARIABLE errors RESULT_VARIABLE code TIMEOUT 120)
  set(all "${output}${errors}")
  message(STATUS "---- ${name}: exit code ${code}\n${all}")
  if(NOT "${code}" STREQUAL "${expected_code}")
    message(FATAL_ERROR "${name}: expected exit code ${expected_code}, got '${code}'")
  endif()
  set(${name}_output "${all}" PARENT_SCOPE)
endfunction()

function(require_text name text)
  string(FIND "${${name}_output}" "${text}" position)
  if(position EQUAL -1)
    message(FATAL_ERROR "${name}: the output does not contain '${text}'")
  endif()
endfunction()

if(MODE STREQUAL "train")
  run(train 0 ${tiny_run} --epochs 4 --checkpoint ${WORK_DIR}/smoke.nabla
    --plot ${WORK_DIR}/curves.svg --generate 8 --prompt "The jury")
  string(REGEX MATCHALL "epoch [0-9]+/[0-9]+ +train ppl +[0-9.]+ +valid ppl +[0-9.]+" epochs "${train_output}")
  list(LENGTH epochs epoch_count)
  if(NOT epoch_count EQUAL 4)
    message(FATAL_ERROR "train: expected 4 epoch lines, found ${epoch_count}")
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
    message(FATAL_ERROR "train: the training perplexity did not fall enough (${first_train} -> ${last_train})")
  endif()
  if(NOT last_valid LESS unigram)
    message(FATAL_ERROR "train: validation perplexity ${last_valid} is not below the unigram model's ${unigram}")
  endif()
  require_text(train "test perplexity")
  require_text(train "sample (temperature")
  if(NOT EXISTS ${WORK_DIR}/smoke.nabla OR NOT EXISTS ${WORK_DIR}/curves.svg)
    message(FATAL_ERROR "train: the checkpoint or the SVG was not written")
  endif()

  list(GET epochs 3 uninterrupted_epoch_4)
  string(REGEX MATCH "train ppl.*" uninterrupted_epoch_4 "${uninterrupted_epoch_4}")

  run(first_three 0 ${tiny_run} --epochs 3 --checkpoint ${WORK_DIR}/part.nabla --generate 0)
  run(resume 0 ${tiny_run} --epochs 4 --checkpoint ${WORK_DIR}/part.nabla --resume --generate 0)
  require_text(resume "resumed from")
  require_text(resume "after epoch 3")
  string(REGEX MATCH "epoch 4/4 +train ppl +[0-9.]+ +valid ppl +[0-9.]+" resumed_epoch_4 "${resume_output}")
  string(REGEX MATCH "train ppl.*" resumed_epoch_4 "${resumed_epoch_4}")
  if(NOT resumed_epoch_4 STREQUAL uninterrupted_epoch_4)
    message(FATAL_ERROR "resume: epoch 4 after resuming gives '${resumed_epoch_4}', "
      "the uninterrupted run '${uninterrupted_epoch_4}'")
  endif()
elseif(MODE STREQUAL "bad_input")
  run(unknown_flag 2 --no-such-flag)
  require_text(unknown_flag "unknown flag '--no-such-flag'")
  require_text(unknown_flag "usage: sequence_model")

  run(bad_value 2 --epochs many)
  require_text(bad_value "--epochs: 'many' is not a whole number")

  run(missing_data 1 --data-dir ${WORK_DIR}/no-such-directory)
  require_text(missing_data "bash scripts/fetch_data.sh brown")

  file(WRITE ${WORK_DIR}/damaged/ca01 "The/at jury/nn said/vbd\n\tsomething without a tag ./.\n")
  run(damaged_corpus 1 --data-dir ${WORK_DIR}/damaged --split 2,2)
  require_text(damaged_corpus "line 2")
  require_text(damaged_corpus "damaged")

  run(too_small_corpus 1 --data-dir ${DATA_DIR})  # the default split needs 1,000,000+ tokens
  require_text(too_small_corpus "too few for 800000 training")

  # A checkpoint of this example, then a run with another hidden size resuming it.
  set(checkpoint --checkpoint ${WORK_DIR}/smoke.nabla)
  run(first 0 ${tiny_run} ${checkpoint} --epochs 1 --generate 0)
  run(other_model 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --hidden-size 16)
  require_text(other_model "hidden size 32, but this run asks for 16")
  run(other_optimizer 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --optimizer sgd)
  require_text(other_optimizer "trained with Adam")
  run(untied 1 ${tiny_run} ${checkpoint} --epochs 2 --resume --no-tie-weights)
  require_text(untied "resume without --no-tie-weights")
  run(mismatched_sizes 2 --embedding-size 16 --hidden-size 32)
  require_text(mismatched_sizes "add --no-tie-weights")

  file(WRITE ${WORK_DIR}/garbage.nabla "this is not a checkpoint")
  run(damaged_checkpoint 1 ${tiny_run} --epochs 2 --resume --checkpoint ${WORK_DIR}/garbage.nabla)
  require_text(damaged_checkpoint "garbage.nabla")

  run(no_checkpoint 1 ${tiny_run} --epochs 2 --resume --checkpoint ${WORK_DIR}/absent.nabla)
  require_text(no_checkpoint "there is no checkpoint")

  # --device cuda: without CUDA in the build, or without a GPU, a clear error (exit 1); on a
  # machine with a GPU the run trains there and must succeed.
  execute_process(COMMAND ${EXECUTABLE} ${tiny_run} --device cuda
    WORKING_DIRECTORY ${WORK_DIR}
    OUTPUT_VARIABLE output ERROR_VARIABLE errors RESULT_VARIABLE code TIMEOUT 120)
  message(STATUS "---- cuda: exit code ${code}\n${output}${errors}")
  string(FIND "${output}${errors}" "--device cuda: " position)
  if(NOT (code STREQUAL "0" OR (code STREQUAL "1" AND NOT position EQUAL -1)))
    message(FATAL_ERROR "cuda: expected success on a GPU or exit code 1 naming --device cuda, got '${code}'")
  endif()
else()
  message(FATAL_ERROR "smoke_test.cmake: MODE must be train or bad_input, got '${MODE}'")
endif()
