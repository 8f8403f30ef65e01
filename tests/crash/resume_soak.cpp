// tests/crash/resume_soak.cpp - the resume soak of issue 16: a training run killed with SIGKILL
// at random moments and restarted with --resume ends, bit for bit, where an uninterrupted run
// with the same seed ends (weights, optimizer state, generators, loss history, CSV log).
//
//   resume_soak drive [--size tiny|S] [--kills N] [--epochs E] [--dir D]   (the test; CTest: tiny, 5 kills)
//   resume_soak train --size S --dir D [--epochs E] [--resume]             (one training process)
//
// The run: a language model on a synthetic token stream (a noisy "next token = f(previous)"
// Markov chain drawn from Philox, so the loss falls), Model::fit with unseeded shuffling (each
// epoch's order is a draw of the global generator), a Dropout with its own seed, Adam, the metrics
// accuracy and perplexity (their running totals are in every mid-epoch file), a
// LearningRateScheduler, EarlyStopping with restore_best_weights (watching the loss with a min_delta
// of 1e9, so its best epoch is the first and the copy of those weights must survive every later kill), a
// CSVLogger and ModelCheckpoint(save_freq) saving D/run.nabla every few batches; at the end
// D/final.nabla (model.save: the run's history and the copy of the best weights too).
//   --size S     LM S of bench/bench_lm.cpp: Embedding(1000, 64) -> LSTM(64 -> 128, all steps)
//                -> Dropout(0.1, seed 7) -> Dense(128 -> 1000), batch 32 x 35 tokens;
//                16 batches per epoch, a checkpoint every 4 batches.
//   --size tiny  Embedding(50, 16) -> LSTM(16 -> 32) -> Dropout -> Dense(32 -> 50), batch 16 x 10
//                tokens, 8 batches per epoch, a checkpoint every 2 (what CI runs).
// drive: runs "train" once uninterrupted (D/reference), then in D/killed starts "train --resume"
// and kills it with SIGKILL after a random delay in [0, F + 2T / N] from the moment it begins training
// (T: the reference run's training time, F: its time to the first checkpoint, N: the kills), N times, restarting it
// after each kill, then lets it finish. Then final.nabla and the CSV logs of both must be byte-identical. Prints the
// figures docs/reliability.md quotes; exit status 0 when everything held.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace nb = nabla;
namespace fs = std::filesystem;

namespace {

struct RunSize {
  std::int64_t vocabulary, embedding, hidden, tokens_per_sample, batch, batches_per_epoch, save_freq;
};
constexpr RunSize kTiny{50, 16, 32, 10, 16, 8, 2};
constexpr RunSize kLmS{1000, 64, 128, 35, 32, 16, 4};

RunSize size_named(const std::string& name) {
  if (name == "tiny") return kTiny;
  if (name == "S") return kLmS;
  throw nb::ValueError("resume_soak: --size must be tiny or S, got '" + name + "'");
}

/// (x, y): samples of tokens_per_sample ids and the ids that follow each, as float (Model::fit
/// takes T for both). The stream: next = (3 * previous + 1) mod V with probability 0.8, else a
/// uniform id (all from Philox with fixed seeds: the same data in every process).
std::pair<nb::Tensor<float>, nb::Tensor<float>> token_data(const RunSize& size) {
  const std::int64_t samples = size.batch * size.batches_per_epoch;
  const std::int64_t length = samples * size.tokens_per_sample + 1;
  const auto noise = nb::rand<float>({length}, 101).to_vector();
  const auto random_ids = nb::randint(0, size.vocabulary, {length}, 102).to_vector();
  std::vector<float> stream(static_cast<std::size_t>(length));
  stream[0] = 0;
  for (std::size_t i = 1; i < stream.size(); ++i)
    stream[i] = noise[i] < 0.8f
                    ? static_cast<float>((3 * static_cast<std::int64_t>(stream[i - 1]) + 1) % size.vocabulary)
                    : static_cast<float>(random_ids[i]);
  std::vector<float> x, y;
  for (std::int64_t s = 0; s < samples; ++s)
    for (std::int64_t t = 0; t < size.tokens_per_sample; ++t) {
      x.push_back(stream[static_cast<std::size_t>(s * size.tokens_per_sample + t)]);
      y.push_back(stream[static_cast<std::size_t>(s * size.tokens_per_sample + t + 1)]);
    }
  return {nb::from_vector<float>(x, {samples, size.tokens_per_sample}),
          nb::from_vector<float>(y, {samples, size.tokens_per_sample})};
}

nb::Model<float> language_model(const RunSize& size) {
  nb::Model<float> model;
  model.add<nb::nn::Embedding>(size.vocabulary, size.embedding, nb::nn::EmbeddingOptions{.seed = 1})
      .add<nb::nn::LSTM>(size.embedding, size.hidden, nb::nn::LSTMOptions{.return_sequences = true, .seed = 2})
      .add<nb::nn::Dropout>(0.1, nb::nn::DropoutOptions{.seed = 7})
      .add<nb::nn::Dense>(size.hidden, size.vocabulary, nb::nn::DenseOptions{.seed = 3});
  model.compile(nb::optim::AdamOptions{.lr = 3e-3}, nb::loss::CrossEntropy{},
                {nb::metrics::Accuracy{}, nb::metrics::Perplexity{}});
  return model;
}

/// One training process: fresh, or (--resume) from dir/run.nabla when it exists. Writes a byte
/// to `ready_fd` (when >= 0) as training begins, so that the driver's clock skips the start-up.
int train(const RunSize& size, const std::string& dir, int epochs, bool resume, int ready_fd) {
  fs::create_directories(dir);
  nb::manual_seed(42);
  const auto [x, y] = token_data(size);
  nb::Model<float> model = language_model(size);
  const std::string checkpoint = dir + "/run.nabla";
  if (resume && fs::exists(checkpoint)) model.load(checkpoint);
  nb::train::FitOptions<float> options{
      .epochs = epochs,
      .batch_size = size.batch,
      .callbacks = {nb::train::LambdaCallback({.on_train_begin =
                                                   [ready_fd](nb::train::Logs&) {
                                                     if (ready_fd < 0) return;
                                                     const char byte = 1;
                                                     if (::write(ready_fd, &byte, 1) != 1) std::perror("write");
                                                     ::close(ready_fd);
                                                   }}),
                    nb::train::LearningRateScheduler([](int epoch, double lr) { return epoch > 0 ? lr * 0.7 : lr; }),
                    nb::train::EarlyStopping(
                        {.monitor = "loss", .min_delta = 1e9, .patience = 100, .restore_best_weights = true}),
                    nb::train::CSVLogger(dir + "/log.csv"),
                    // last: the state it saves includes the other callbacks' updates
                    nb::train::ModelCheckpoint(checkpoint, {.save_freq = size.save_freq})},
      .verbose = 0};
  (void)model.fit(x, y, options);
  model.save(dir + "/final.nabla");
  return 0;
}

std::string file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

/// Names what differs between two final.nabla files (when their bytes differ).
void explain_difference(const std::string& a, const std::string& b) {
  const auto left = nb::io::load_checkpoint(a), right = nb::io::load_checkpoint(b);
  for (const auto& [key, value] : left.metadata)
    if (!right.has_metadata(key) || right.metadata_text(key) != value)
      std::fprintf(stderr, "  metadata %s: '%.80s' vs '%.80s'\n", key.c_str(), value.c_str(),
                   right.has_metadata(key) ? right.metadata_text(key).c_str() : "(absent)");
  for (const auto& [name, tensor] : left.tensors) {
    const auto other = right.tensors.find(name);
    const bool same = other != right.tensors.end() && std::visit(
                                                          [&](const auto& t) {
                                                            using Tensor = std::decay_t<decltype(t)>;
                                                            const auto* u = std::get_if<Tensor>(&other->second);
                                                            return u && u->to_vector() == t.to_vector();
                                                          },
                                                          tensor);
    if (!same) std::fprintf(stderr, "  tensor %s differs\n", name.c_str());
  }
}

using Clock = std::chrono::steady_clock;

/// Starts `self train ...` in `dir` and waits until it has begun training (or ended); returns
/// its pid.
::pid_t start_training(const std::string& self, const std::string& size, const std::string& dir, int epochs,
                       bool resume) {
  const std::string epochs_text = std::to_string(epochs);
  int ready[2];
  if (::pipe(ready) != 0) throw nb::IOError("resume_soak: pipe failed");
  const std::string ready_fd = std::to_string(ready[1]);
  const ::pid_t pid = ::fork();
  if (pid < 0) throw nb::IOError("resume_soak: fork failed");
  if (pid == 0) {
    ::close(ready[0]);
    // exec: a fresh process, as a restarted training run would be
    ::execl(self.c_str(), self.c_str(), "train", "--size", size.c_str(), "--dir", dir.c_str(), "--epochs",
            epochs_text.c_str(), "--ready-fd", ready_fd.c_str(), resume ? "--resume" : static_cast<char*>(nullptr),
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(ready[1]);
  char byte = 0;
  while (::read(ready[0], &byte, 1) < 0 && errno == EINTR) {
  }
  ::close(ready[0]);
  return pid;
}

/// Waits for `pid`; true when it exited with status 0.
bool finished_cleanly(::pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int drive(const std::string& size, int kills, int epochs, const std::string& dir) {
  const std::string self = fs::canonical("/proc/self/exe").string();
  const std::string reference = dir + "/reference", killed = dir + "/killed";
  fs::remove_all(reference);
  fs::remove_all(killed);
  fs::create_directories(reference);
  fs::create_directories(killed);

  const ::pid_t reference_pid = start_training(self, size, reference, epochs, false);
  const auto start = Clock::now();  // training time, without the start-up
  double first_save_seconds = -1;   // from the start of training to the first checkpoint
  int status = 0;
  while (::waitpid(reference_pid, &status, WNOHANG) == 0) {
    if (first_save_seconds < 0 && fs::exists(reference + "/run.nabla"))
      first_save_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    std::fprintf(stderr, "resume_soak: the uninterrupted run failed\n");
    return 1;
  }
  const double reference_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  first_save_seconds = std::max(first_save_seconds, 0.0);

  std::mt19937_64 random(20261207);
  // A restart first redoes its start (loading, the first batches: about the time to the first
  // save) and the batches since the last save; beyond that the N kills spread over about one
  // run's training time T (mean delay T / N past the first save's time).
  std::uniform_real_distribution<double> delay(0.0, first_save_seconds + 2 * reference_seconds / kills);
  int killed_count = 0, restarts = 0, finished_early = 0;
  std::set<std::string> positions;  // where the killed runs' checkpoints stood: "epoch 1, batch 4"
  const auto soak_start = Clock::now();
  while (killed_count < kills) {
    const ::pid_t pid = start_training(self, size, killed, epochs, true);
    ++restarts;
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(random)));
    if (::waitpid(pid, &status, WNOHANG) == pid) {  // it ended before the kill
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        std::fprintf(stderr, "resume_soak: a resumed run failed (status %d)\n", status);
        return 1;
      }
      // Kills after the last checkpoint would only ever hit the run's end: start it over.
      ++finished_early;
      fs::remove_all(killed);
      fs::create_directories(killed);
      continue;
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ++killed_count;
    if (fs::exists(killed + "/run.nabla")) {
      const auto saved = nb::io::load_checkpoint(killed + "/run.nabla");  // after a kill: complete, CRCs checked
      positions.insert(saved.has_metadata("fit.epoch")
                           ? "epoch " + saved.metadata_text("fit.epoch") + ", batch " + saved.metadata_text("fit.batch")
                           : "epoch " + saved.metadata_text("epoch"));
    }
  }
  if (!finished_cleanly(start_training(self, size, killed, epochs, true))) {
    std::fprintf(stderr, "resume_soak: the last resumed run failed\n");
    return 1;
  }
  const double soak_seconds = std::chrono::duration<double>(Clock::now() - soak_start).count();

  const bool same_model = file_bytes(reference + "/final.nabla") == file_bytes(killed + "/final.nabla");
  const bool same_log = file_bytes(reference + "/log.csv") == file_bytes(killed + "/log.csv");
  const auto history = nb::io::load_checkpoint(killed + "/final.nabla");
  std::printf(
      "resume_soak --size %s: %d epochs, reference run %.1f s; %d kills -9 survived (%d runs started, %d "
      "ran to the end before their kill and were started over), soak %.1f s\n",
      size.c_str(), epochs, reference_seconds, killed_count, restarts + 1, finished_early, soak_seconds);
  std::string position_list;
  for (const auto& position : positions) position_list += (position_list.empty() ? "" : "; ") + position;
  std::printf("the kills left checkpoints at %zu different positions: %s\n", positions.size(), position_list.c_str());
  std::printf(
      "final.nabla (weights, Adam state, generators, callbacks and their weights, history) %s; log.csv (loss, "
      "accuracy, perplexity, lr) %s\n",
      same_model ? "bit-identical" : "DIFFERS", same_log ? "identical" : "DIFFERS");
  std::printf("loss per epoch: %s\n", history.metadata_text("history.series.loss").c_str());
  if (!same_model) explain_difference(reference + "/final.nabla", killed + "/final.nabla");
  if (same_model && same_log) {
    fs::remove_all(reference);
    fs::remove_all(killed);
  }
  return same_model && same_log ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const std::string mode = args.empty() ? "drive" : args[0];
    std::string size = "tiny", dir;
    int kills = 5, epochs = 3, ready_fd = -1;
    bool resume = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) throw nb::ValueError("resume_soak: " + args[i] + " needs a value");
        return args[++i];
      };
      if (args[i] == "--size") {
        size = value();
      } else if (args[i] == "--kills") {
        kills = std::stoi(value());
      } else if (args[i] == "--epochs") {
        epochs = std::stoi(value());
      } else if (args[i] == "--dir") {
        dir = value();
      } else if (args[i] == "--ready-fd") {
        ready_fd = std::stoi(value());
      } else if (args[i] == "--resume") {
        resume = true;
      } else {
        throw nb::ValueError("resume_soak: unknown argument '" + args[i] + "'");
      }
    }
    if (dir.empty())
      dir = (fs::exists("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string()) + "/nabla_resume_soak_" +
            std::to_string(::getpid());
    if (mode == "train") return train(size_named(size), dir, epochs, resume, ready_fd);
    if (mode == "drive") {
      (void)size_named(size);
      if (kills < 1 || epochs < 1) throw nb::ValueError("resume_soak: --kills and --epochs must be >= 1");
      return drive(size, kills, epochs, dir);
    }
    throw nb::ValueError("resume_soak: the mode is drive or train, got '" + mode + "'");
  } catch (const std::exception& error) {
    std::fprintf(stderr, "resume_soak: %s\n", error.what());
    return 1;
  }
}
