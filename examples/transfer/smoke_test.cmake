# examples/transfer/smoke_test.cmake - the transfer example, end to end, on the bundled test
# slices (CTest: example_transfer_smoke; a few seconds):
#
#   cmake -DEXAMPLE=<transfer> -DSEQUENCE_MODEL=<sequence_model> -DSPAM_DIR=<spam testdata>
#         -DBROWN_DIR=<Brown testdata> -DWORK_DIR=<scratch> -P smoke_test.cmake
#
# 1. --quick: pretrains a tiny LM on the 1,108-token corpus, moves it into the classifier and
#    fine-tunes on 50% and 100% of the 39 training e-mails, 2 runs. The example checks itself
#    (the LSTM loaded whole and bit-identical, rows copied by the alignment, same heads for
#    both models of a run, UnfreezeAfter on time); the test checks the printed report, the
#    table, the CSV (one row per model) and the SVG.
# 2. What a user does: sequence_model trains and saves a checkpoint; transfer --pretrained takes it.
set(EXAMPLE_TEST_VARIABLES SEQUENCE_MODEL SPAM_DIR BROWN_DIR)
include(${CMAKE_CURRENT_LIST_DIR}/../common/example_test.cmake)

set(data --data-dir ${SPAM_DIR} --brown-dir ${BROWN_DIR} --threads 1)

example_run(quick 0 --quick ${data} --save-pretrained ${WORK_DIR}/lm.nabla --csv ${WORK_DIR}/scores.csv
  --svg ${WORK_DIR}/scores.svg)
expect_text(quick "pretraining the language model (vocabulary")
expect_text(quick "LSTM:      loaded 4 tensors")
expect_text(quick "in the file vs")  # the embedding's shape mismatch, before the alignment
expect_text(quick "rows from the pretrained embedding")
expect_text(quick "| training e-mails | scratch accuracy | pretrained accuracy | scratch F1 | pretrained F1 |")
expect_text(quick "| 50% (20) |")
expect_text(quick "| 100% (39) |")
expect_text(quick "all checks passed")
if(NOT EXISTS ${WORK_DIR}/lm.nabla)
  message(SEND_ERROR "quick: the pretrained model was not written")
endif()
if(EXISTS ${WORK_DIR}/scores.csv)
  file(STRINGS ${WORK_DIR}/scores.csv rows)
  list(LENGTH rows row_count)
  if(NOT row_count EQUAL 9)  # the header, 2 fractions x 2 runs x 2 models
    message(SEND_ERROR "quick: expected 9 lines in the CSV, got ${row_count}:\n${rows}")
  endif()
else()
  message(SEND_ERROR "quick: the CSV was not written")
endif()
if(EXISTS ${WORK_DIR}/scores.svg)
  file(READ ${WORK_DIR}/scores.svg svg)
  foreach(text "<svg" "test accuracy" "from scratch" "pretrained (Brown LM)" "</svg>")
    string(FIND "${svg}" "${text}" found)
    if(found EQUAL -1)
      message(SEND_ERROR "quick: the SVG lacks '${text}'")
    endif()
  endforeach()
else()
  message(SEND_ERROR "quick: the SVG was not written")
endif()

# sequence_model's checkpoint, as a user would pass it.
execute_process(COMMAND ${SEQUENCE_MODEL} --data-dir ${BROWN_DIR} --split 700,200 --max-train-tokens 0
  --hidden-size 16 --batch 4 --bptt 10 --epochs 2 --lr 0.01 --threads 1 --generate 0
  --checkpoint ${WORK_DIR}/sequence_model.nabla
  WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "sequence_model failed (${status}):\n${output}${errors}")
endif()
example_run(from_sequence_model 0 --quick ${data} --runs 1 --pretrained ${WORK_DIR}/sequence_model.nabla
  --csv ${WORK_DIR}/from_sequence_model.csv --svg ${WORK_DIR}/from_sequence_model.svg)
expect_text(from_sequence_model "pretrained model: ${WORK_DIR}/sequence_model.nabla (embedding 16, hidden 16")
expect_text(from_sequence_model "LSTM:      loaded 4 tensors")
expect_text(from_sequence_model "all checks passed")
string(FIND "${from_sequence_model_output}" "pretraining:" pretrained_here)
if(NOT pretrained_here EQUAL -1)
  message(SEND_ERROR "from_sequence_model: pretrained although --pretrained was given")
endif()
