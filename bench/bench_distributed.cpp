// bench/bench_distributed.cpp - one data-parallel training step of LM L (bench/lm_models.hpp),
// split into compute, communication and the overlapped part from DistributedDataParallel's
// timestamps, against the same step in one process (docs/distributed.md).
//
//   mpirun -np 2 --oversubscribe build/bench/bench_distributed          # 2 ranks, 16 sequences each
//   build/bench/bench_distributed --single                               # 1 process, all 32
//   options: --steps N (timed steps, default 10), --bucket-mb X, --first-bucket-mb X, --model S|L
//
// Per step on rank 0 (medians over the timed steps):
//   compute       forward + backward until the last gradient hook (what one rank computes)
//   exposed comm  from the last gradient to finish() returning: the all-reduce time NOT hidden
//   in flight     the union over buckets of [issued, first seen complete], i.e. communication time;
//                 "overlapped" is the part of it before the last gradient (hidden behind backward).
//                 Completion is only observed when polled (at each gradient hook and in finish()),
//                 so "in flight" is an upper bound.
//   bytes         gradient bytes each rank all-reduces per step.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nabla/distributed/data_parallel.hpp>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "lm_models.hpp"

namespace nb = nabla;
namespace dist = nabla::distributed;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

/// Length of the union of intervals [begin, end) clipped to [.., limit].
double union_length(std::vector<std::pair<double, double>> intervals, double limit) {
  for (auto& [begin, end] : intervals) end = std::min(end, limit);
  std::sort(intervals.begin(), intervals.end());
  double total = 0, covered_until = -1e300;
  for (const auto& [begin, end] : intervals) {
    const double from = std::max(begin, covered_until);
    if (end > from) total += end - from;
    covered_until = std::max(covered_until, end);
  }
  return total;
}

}  // namespace

int main(int argc, char* argv[]) {
  bool single = false;
  int steps = 10;
  double bucket_mb = 25, first_bucket_mb = 1;
  bench::LanguageModelConfig config = bench::kLarge;
  std::string model_name = "L";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (arg == "--single") {
      single = true;
    } else if (arg == "--steps") {
      steps = std::stoi(next());
    } else if (arg == "--bucket-mb") {
      bucket_mb = std::stod(next());
    } else if (arg == "--first-bucket-mb") {
      first_bucket_mb = std::stod(next());
    } else if (arg == "--model") {
      model_name = next();
      config = model_name == "S" ? bench::kSmall : bench::kLarge;
    } else {
      std::fprintf(stderr, "usage: %s [--single] [--steps N] [--bucket-mb X] [--first-bucket-mb X] [--model S|L]\n",
                   argv[0]);
      return 2;
    }
  }

  if (!single) dist::init();
  const int world = single ? 1 : dist::world_size();
  const int rank = single ? 0 : dist::rank();
  const std::int64_t local_batch = bench::kBatch / world;
  bench::LanguageModel model(config);
  nb::optim::Adam<float> optimizer(model.parameters(), {.lr = 1e-3});
  std::unique_ptr<dist::DistributedDataParallel<float>> ddp;
  if (!single)
    ddp = std::make_unique<dist::DistributedDataParallel<float>>(
        model.parameters(), std::vector<nb::Tensor<float>>{},
        dist::DataParallelOptions{.bucket_mb = bucket_mb, .first_bucket_mb = first_bucket_mb});
  // Each rank its own rows of the global batch.
  const nb::IndexTensor inputs = bench::random_ids(config.vocabulary, local_batch, bench::kSteps, 4 + 10 * rank);
  const nb::IndexTensor targets = bench::random_ids(config.vocabulary, local_batch, bench::kSteps, 5 + 10 * rank);

  std::vector<double> step_time, compute, exposed, in_flight, overlapped, after_first_bucket;
  for (int step = 0; step < steps + 2; ++step) {  // two warm-up steps
    if (!single) dist::barrier();
    const double start = now();
    optimizer.zero_grad();
    const nb::Tensor<float> loss = nb::loss::cross_entropy(model.logits(inputs), targets);
    loss.backward();
    if (ddp) ddp->finish();
    const double backward_done = now();
    optimizer.step();
    const double end = now();
    if (step < 2) continue;
    step_time.push_back(end - start);
    if (!ddp) {
      compute.push_back(backward_done - start);
      continue;
    }
    const auto& timeline = ddp->timeline();
    compute.push_back(timeline.last_gradient - start);
    exposed.push_back(timeline.finished - timeline.last_gradient);
    std::vector<std::pair<double, double>> intervals;
    for (std::size_t b = 0; b < timeline.bucket_launch.size(); ++b)
      intervals.emplace_back(timeline.bucket_launch[b], timeline.bucket_done[b]);
    in_flight.push_back(union_length(intervals, 1e300));
    overlapped.push_back(union_length(intervals, timeline.last_gradient));
    after_first_bucket.push_back(timeline.last_gradient - timeline.bucket_launch.front());
  }

  if (rank == 0) {
    std::printf(
        "bench_distributed: LM %s (vocabulary %lld, embedding %lld, hidden %lld), global batch %lld x %lld "
        "tokens, %d rank(s) of %lld sequences, %d timed steps (medians, ms)\n",
        model_name.c_str(), static_cast<long long>(config.vocabulary), static_cast<long long>(config.embedding),
        static_cast<long long>(config.hidden), static_cast<long long>(bench::kBatch),
        static_cast<long long>(bench::kSteps), world, static_cast<long long>(local_batch), steps);
    std::printf("  step (fwd+bwd+comm+Adam)  %8.2f\n", 1e3 * median(step_time));
    std::printf("  compute (fwd+bwd)         %8.2f\n", 1e3 * median(compute));
    if (ddp) {
      std::printf("  communication in flight   %8.2f  (upper bound: completion seen when polled)\n",
                  1e3 * median(in_flight));
      std::printf("  overlapped with backward  %8.2f\n", 1e3 * median(overlapped));
      std::printf("  exposed (after backward)  %8.2f\n", 1e3 * median(exposed));
      std::printf("  backward after the first bucket was issued %8.2f (%.2f of compute: the window overlap can use)\n",
                  1e3 * median(after_first_bucket), median(after_first_bucket) / median(compute));
      std::printf("  buckets %zu (first %.3g MiB, then %.3g MiB), %.2f MB all-reduced per step per rank\n",
                  ddp->buckets().size(), first_bucket_mb, bucket_mb, static_cast<double>(ddp->bytes_per_step()) / 1e6);
    } else {
      std::uint64_t parameters = 0;
      for (const auto& parameter : model.parameters()) parameters += static_cast<std::uint64_t>(parameter.numel());
      std::printf("  parameters %llu (%.2f MB of float gradients)\n", static_cast<unsigned long long>(parameters),
                  4e-6 * static_cast<double>(parameters));
    }
  }
  return 0;
}
