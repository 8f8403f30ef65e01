# The flags of a tiny, quick model on the test corpus (1,108 tokens: 700 train, 200 valid), for
# smoke_test.cmake and bad_input_test.cmake.
set(tiny_run
  --data-dir ${DATA_DIR} --split 700,200 --max-train-tokens 0
  --hidden-size 32 --batch 4 --bptt 10 --dropout 0.1 --lr 0.01
  --lr-decay 1 --threads 1 --seed 3)
