// The data pipeline at scale (docs/data.md, "Figures"): a synthetic token file of each size is
// written to --dir, dropped from the page cache (posix_fadvise DONTNEED, so reads come from the
// disk as for a corpus that does not fit in memory) and then
//   1. streamed once front to back through a DataLoader (batches of 64 x 1024 tokens,
//      2 workers): the whole file is touched, and the peak RSS of that pass is reported;
//   2. read by a training loop for --steps steps: by default (--model gpt) the GPT of
//      bench_lm's gpt_train/S with the synthetic file's vocabulary (nn::GPT: 4 layers, 4 heads,
//      width 128, context 64, vocabulary 1000, batch 32 x 64, AdamW), or with --model lstm LM S
//      (bench/lm_models.hpp: Embedding(1000, 64) -> LSTM(64 -> 128) -> Dense(128 -> 1000),
//      batch 32 x 35, Adam); its
//      windows shuffled over the whole file, with 0 and with 2 workers: the share of the step
//      time spent waiting for the next batch (inside the loader's ++ / begin()) is reported,
//      and where the batches' time goes (the "making a batch" line under the table): wall and
//      CPU time of get_batch per batch, and its major page faults (pages read from the disk),
//      measured in the thread that makes it. Wall time well above CPU time with few faults
//      means the thread waited for a core, not for the disk. For the wait itself: the training
//      thread's CPU time inside ++ and its context switches there, voluntary (it blocked: the
//      batch was not ready or the queue's lock was held) and involuntary (preempted: its core
//      went to another thread). The process's CPU time over the run against its wall time says
//      how much of a core the run got.
// Peak RSS is VmHWM of /proc/self/status, reset before each measurement by writing 5 to
// /proc/self/clear_refs. The file is deleted after its size is done.
//
//   ./build-release/bench/bench_data                       # 0.1, 1 and 4 GB in /tmp
//   ./build-release/bench/bench_data --sizes 0.1 --steps 50 --dir /tmp --threads 2 --model lstm
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nabla/nabla.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lm_models.hpp"

namespace nb = nabla;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// A field of /proc/self/status in MiB ("VmHWM", "VmRSS").
double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  return -1;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0).
void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

/// Drops the file's pages from the page cache, so that the next reads come from the disk.
void drop_from_page_cache(const std::string& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY);
  if (descriptor < 0) return;
  (void)::fdatasync(descriptor);
  (void)::posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED);
  ::close(descriptor);
}

/// `bytes` worth of uint16 ids below `vocabulary` (a cheap generator: the content does not matter).
void write_synthetic(const std::string& path, std::uint64_t bytes, std::int64_t vocabulary) {
  nb::io::TokenFileWriter writer(path, static_cast<std::uint64_t>(vocabulary));
  std::vector<std::int64_t> piece(1 << 20);
  std::uint64_t state = 88172645463325252ull;
  for (std::uint64_t written = 0; written < bytes; written += 2 * piece.size()) {
    for (auto& id : piece) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      id = static_cast<std::int64_t>(state % static_cast<std::uint64_t>(vocabulary));
    }
    writer.append(piece);
  }
  writer.commit();
}

struct StreamResult {
  double seconds = 0, peak_rss_mib = 0, gib_per_second = 0;
};

/// One sequential pass over the whole file.
StreamResult stream_whole_file(const std::string& path) {
  reset_peak_rss();
  const auto start = Clock::now();
  const nb::data::TokenFileDataset windows(path, {.context = 1024});
  nb::data::DataLoader loader(windows, {.batch_size = 64, .num_workers = 2});
  std::int64_t checksum = 0;
  for (const auto& batch : loader) checksum += batch.inputs.data()[0];
  StreamResult result;
  result.seconds = seconds_since(start);
  result.peak_rss_mib = status_mib("VmHWM");
  result.gib_per_second = static_cast<double>(windows.token_count()) * 2 / result.seconds / (1 << 30);
  if (checksum < 0) std::printf("(impossible)\n");
  return result;
}

/// CPU seconds of the calling thread (or of the whole process).
double cpu_seconds(clockid_t clock) {
  timespec now{};
  ::clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

/// Major page faults (reads from the disk) of the calling thread so far.
long thread_major_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_majflt;
}

/// What making the batches cost, summed over the threads that made them.
struct MakeStats {
  std::atomic<long> batches{0}, major_faults{0};
  std::atomic<long long> wall_ns{0}, cpu_ns{0};
};

/// TokenFileDataset with get_batch timed (wall, thread CPU, major faults): the loader's view is
/// unchanged (get, get_batch, prefetch are forwarded).
struct TimedWindows {
  nb::data::TokenFileDataset windows;
  std::shared_ptr<MakeStats> stats = std::make_shared<MakeStats>();
  std::int64_t size() const { return windows.size(); }
  auto get(std::int64_t index) const { return windows.get(index); }
  void prefetch(const std::vector<std::int64_t>& indices) const { windows.prefetch(indices); }
  nb::data::TokenFileDataset::BatchType get_batch(const std::vector<std::int64_t>& indices) const {
    const auto wall_start = Clock::now();
    const double cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    const long faults_start = thread_major_faults();
    auto batch = windows.get_batch(indices);
    stats->wall_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - wall_start).count();
    stats->cpu_ns += static_cast<long long>(1e9 * (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start));
    stats->major_faults += thread_major_faults() - faults_start;
    ++stats->batches;
    return batch;
  }
};

struct TrainingResult {
  double step_ms = 0, wait_ms = 0, wait_share = 0, peak_rss_mib = 0;
  // Per batch made (warm-up included): wall and CPU ms inside get_batch, major faults.
  double make_wall_ms = 0, make_cpu_ms = 0, make_faults = 0;
  // The process's CPU time over the timed steps / their wall time (in cores).
  double cores_used = 0;
  // Inside the loader's ++, per timed step: CPU ms of the training thread, and its context
  // switches: voluntary (it blocked: the batch was not ready, or a worker held the queue's lock)
  // and involuntary (it was preempted: another thread had its core).
  double wait_cpu_ms = 0, wait_blocked = 0, wait_preempted = 0;
};

/// Context switches of the calling thread so far: {voluntary, involuntary}.
std::pair<long, long> thread_switches() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return {usage.ru_nvcsw, usage.ru_nivcsw};
}

/// The GPT of bench_lm's gpt_train/S, over the synthetic file's vocabulary.
nb::nn::GPTOptions gpt_options() {
  return {.vocab_size = bench::kSmall.vocabulary, .context = 64, .layers = 4, .heads = 4, .width = 128, .seed = 1};
}

/// One training step's work for the chosen model: forward, cross-entropy, backward, update.
class TrainingStep {
 public:
  explicit TrainingStep(bool gpt)
      : gpt_(gpt ? std::make_unique<nb::nn::GPT<float>>(gpt_options()) : nullptr),
        lstm_(gpt ? nullptr : std::make_unique<bench::LanguageModel>(bench::kSmall)) {
    if (gpt_)
      adamw_ = std::make_unique<nb::optim::AdamW<float>>(gpt_->parameters(), nb::optim::AdamWOptions{.lr = 1e-3});
    else
      adam_ = std::make_unique<nb::optim::Adam<float>>(lstm_->parameters(), nb::optim::AdamOptions{.lr = 1e-3});
  }
  static std::int64_t context(bool gpt) { return gpt ? gpt_options().context : bench::kSteps; }
  void operator()(const nb::IndexTensor& inputs, const nb::IndexTensor& targets) {
    const nb::Tensor<float> loss = nb::loss::cross_entropy(gpt_ ? (*gpt_)(inputs) : lstm_->logits(inputs), targets);
    nb::optim::Optimizer<float>& optimizer = gpt_ ? static_cast<nb::optim::Optimizer<float>&>(*adamw_) : *adam_;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }

 private:
  std::unique_ptr<nb::nn::GPT<float>> gpt_;
  std::unique_ptr<bench::LanguageModel> lstm_;
  std::unique_ptr<nb::optim::AdamW<float>> adamw_;
  std::unique_ptr<nb::optim::Adam<float>> adam_;
};

/// --steps training steps of the model on shuffled windows of the file; the time inside the
/// loader (fetching the next batch) against the whole step.
TrainingResult train(const std::string& path, int workers, std::int64_t steps, bool gpt) {
  reset_peak_rss();
  const TimedWindows windows{
      nb::data::TokenFileDataset(path, {.context = TrainingStep::context(gpt), .stride = 1, .random_access = true})};
  nb::data::DataLoader loader(windows, {.batch_size = bench::kBatch, .seed = 1, .num_workers = workers});
  // Random windows over the whole file, drawn as needed (a full permutation of 2e9 windows would
  // itself take 16 GB).
  loader.set_sampler(nb::data::random_sampler(windows.size(), (steps + 10) * bench::kBatch, 1));
  TrainingStep step(gpt);
  std::int64_t done = 0;
  auto it = loader.begin();
  const std::int64_t warmup = 5;
  auto timed_start = Clock::now();
  double timed_waiting = 0, cpu_start = 0, waiting_cpu = 0;
  long blocked = 0, preempted = 0;
  for (; it != loader.end() && done < steps + warmup; ++done) {
    if (done == warmup) {
      timed_start = Clock::now();
      timed_waiting = 0;
      waiting_cpu = 0;
      blocked = preempted = 0;
      cpu_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    }
    step(it->inputs, it->targets);
    const auto fetch_start = Clock::now();
    const double fetch_cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    const auto switches_before = thread_switches();
    ++it;
    timed_waiting += seconds_since(fetch_start);
    waiting_cpu += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - fetch_cpu_start;
    const auto switches_after = thread_switches();
    blocked += switches_after.first - switches_before.first;
    preempted += switches_after.second - switches_before.second;
  }
  const double elapsed = seconds_since(timed_start);
  const double cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  TrainingResult result;
  const MakeStats& stats = *windows.stats;
  const auto made = static_cast<double>(std::max(1L, stats.batches.load()));
  result.make_wall_ms = 1e-6 * static_cast<double>(stats.wall_ns.load()) / made;
  result.make_cpu_ms = 1e-6 * static_cast<double>(stats.cpu_ns.load()) / made;
  result.make_faults = static_cast<double>(stats.major_faults.load()) / made;
  result.cores_used = cpu / elapsed;
  result.wait_cpu_ms = 1000 * waiting_cpu / static_cast<double>(steps);
  result.wait_blocked = static_cast<double>(blocked) / static_cast<double>(steps);
  result.wait_preempted = static_cast<double>(preempted) / static_cast<double>(steps);
  result.step_ms = 1000 * elapsed / static_cast<double>(steps);
  result.wait_ms = 1000 * timed_waiting / static_cast<double>(steps);
  result.wait_share = timed_waiting / elapsed;
  result.peak_rss_mib = status_mib("VmHWM");
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<double> sizes_gb = {0.1, 1, 4};
  std::int64_t steps = 200;
  std::string directory = "/tmp";
  int threads = 1;
  bool gpt = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--sizes") {
      sizes_gb.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) sizes_gb.push_back(std::stod(item));
    } else if (flag == "--steps") {
      steps = std::stoll(value);
    } else if (flag == "--dir") {
      directory = value;
    } else if (flag == "--threads") {
      threads = std::stoi(value);
    } else if (flag == "--model" && (value == "gpt" || value == "lstm")) {
      gpt = value == "gpt";
    } else {
      std::fprintf(stderr,
                   "usage: bench_data [--sizes 0.1,1,4] [--steps 200] [--dir /tmp] [--threads 1] [--model gpt|lstm]\n");
      return 2;
    }
  }
  nb::set_num_threads(threads);  // the training step's threads (the workers are extra threads)
  const char* model = gpt ? "GPT S" : "LM S";
  std::printf("bench_data: %d OpenMP threads; %s, batch %lld x %lld, %lld timed steps per run\n", nb::get_num_threads(),
              model, static_cast<long long>(bench::kBatch), static_cast<long long>(TrainingStep::context(gpt)),
              static_cast<long long>(steps));
  std::printf("%8s | %22s | %34s | %34s\n", "file", "full pass, 2 workers",
              (std::string(model) + " training, 0 workers").c_str(),
              (std::string(model) + " training, 2 workers").c_str());
  std::printf("%8s | %8s %6s %6s | %8s %8s %7s %8s | %8s %8s %7s %8s\n", "GB", "GiB/s", "s", "RSS MiB", "step ms",
              "wait ms", "wait %", "RSS MiB", "step ms", "wait ms", "wait %", "RSS MiB");
  for (const double gb : sizes_gb) {
    const std::string path = directory + "/nabla_bench_data_" + std::to_string(::getpid()) + ".tokens";
    const auto bytes = static_cast<std::uint64_t>(gb * 1e9);
    const auto write_start = Clock::now();
    write_synthetic(path, bytes, bench::kSmall.vocabulary);
    const double write_seconds = seconds_since(write_start);
    drop_from_page_cache(path);
    const StreamResult stream = stream_whole_file(path);
    drop_from_page_cache(path);
    const TrainingResult serial = train(path, 0, steps, gpt);
    drop_from_page_cache(path);
    const TrainingResult parallel = train(path, 2, steps, gpt);
    std::filesystem::remove(path);
    std::printf(
        "%8.1f | %8.2f %6.1f %6.0f | %8.2f %8.3f %6.2f%% %8.0f | %8.2f %8.3f %6.2f%% %8.0f   (written in %.1f s)\n", gb,
        stream.gib_per_second, stream.seconds, stream.peak_rss_mib, serial.step_ms, serial.wait_ms,
        100 * serial.wait_share, serial.peak_rss_mib, parallel.step_ms, parallel.wait_ms, 100 * parallel.wait_share,
        parallel.peak_rss_mib, write_seconds);
    for (const auto& [name, run] : {std::pair{"0 workers", serial}, std::pair{"2 workers", parallel}})
      std::printf(
          "%8s   %s: making a batch %.2f ms wall, %.2f ms CPU, %.1f major faults; waiting %.3f ms CPU, "
          "blocked %.2f and preempted %.2f times per step; the run used %.2f cores\n",
          "", name, run.make_wall_ms, run.make_cpu_ms, run.make_faults, run.wait_cpu_ms, run.wait_blocked,
          run.wait_preempted, run.cores_used);
    std::fflush(stdout);
  }
  return 0;
}
