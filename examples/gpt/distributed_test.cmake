# examples/gpt/distributed_test.cmake - --distributed against one process (CTest:
# example_gpt_distributed, label "distributed"):
#
#   cmake -DEXAMPLE=<gpt> -DDATA_DIR=<testdata> -DWORK_DIR=<scratch> -DMPIEXEC=<mpirun> -P distributed_test.cmake
#
# Trains the tiny GPT of smoke_test.cmake without dropout for 3 epochs in one process and on 2 ranks
# (mpirun --oversubscribe) with the same seed. 43 windows in batches of 4 make the last batch of each
# epoch 3 windows, split 1 / 2: the loss scaling by each rank's share is exercised. Every epoch's
# train and validation perplexity must agree within 1e-3 relative (float rounding: the ranks sum the
# gradient in another order, not bit for bit), and the test perplexity too.
set(EXAMPLE_TEST_VARIABLES DATA_DIR MPIEXEC)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

set(run_flags --data-dir ${DATA_DIR} --split 700,200 --max-train-tokens 0 --context 16 --layers 1 --heads 2
  --width 32 --batch 4 --warmup 5 --lr 0.01 --min-lr 1 --dropout 0 --threads 1 --seed 3 --epochs 3 --generate 0)

example_run(single 0 ${run_flags} --checkpoint ${WORK_DIR}/single.nabla)
execute_process(COMMAND "${MPIEXEC}" -np 2 --oversubscribe "${EXAMPLE}" ${run_flags} --distributed
    --checkpoint ${WORK_DIR}/ranks.nabla
  WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE status OUTPUT_VARIABLE ranks_output ERROR_VARIABLE errors
  TIMEOUT 120)
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "mpirun -np 2 ... --distributed: exit status '${status}':\n${ranks_output}${errors}")
endif()
string(FIND "${ranks_output}" "data-parallel: 2 ranks" found)
if(found EQUAL -1)
  message(SEND_ERROR "the 2-rank run did not say it ran data-parallel:\n${ranks_output}")
endif()

# Every perplexity the runs print, in order: the unigram model's, per epoch train and valid, then valid and
# test of the best epoch.
function(perplexities output result)
  string(REGEX MATCHALL "(train|valid|validation|test) (ppl|perplexity) +[0-9.]+" matches "${output}")
  set(values "")
  foreach(match IN LISTS matches)
    string(REGEX MATCH "[0-9.]+$" value "${match}")
    list(APPEND values ${value})
  endforeach()
  set(${result} ${values} PARENT_SCOPE)
endfunction()
perplexities("${single_output}" single_values)
perplexities("${ranks_output}" ranks_values)
list(LENGTH single_values count)
list(LENGTH ranks_values ranks_count)
if(NOT count EQUAL 9 OR NOT ranks_count EQUAL 9)
  message(FATAL_ERROR "expected 9 perplexities from each run, got ${count} and ${ranks_count}:\n"
                      "${single_output}\n---\n${ranks_output}")
endif()
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  list(GET single_values ${i} a)
  list(GET ranks_values ${i} b)
  # |a - b| <= 1e-3 a, in integer arithmetic on the printed values (two decimals): (a - b) * 1000 <= a
  string(REPLACE "." "" a_scaled "${a}")
  string(REPLACE "." "" b_scaled "${b}")
  math(EXPR difference "${a_scaled} - ${b_scaled}")
  if(difference LESS 0)
    math(EXPR difference "-${difference}")
  endif()
  math(EXPR difference_scaled "${difference} * 1000")
  if(difference_scaled GREATER a_scaled)
    message(SEND_ERROR "perplexity ${i}: one process ${a}, 2 ranks ${b}: more than 1e-3 apart")
  endif()
endforeach()
message(STATUS "one process: ${single_values}")
message(STATUS "2 ranks:     ${ranks_values}")
