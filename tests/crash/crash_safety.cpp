// tests/crash/crash_safety.cpp - the CTest test crash_safety: nabla's "a file is either the old
// or the new one" checked against real process deaths and a really full disk.
//
//   crash_safety [kills] [directory]   (default: 200 kills, in /dev/shm when there is one)
//
// 1. kill -9: a child process (this program, "child" mode) saves a large checkpoint (20 MB of
//    float32, generation g, g+1, ... in a loop) while the parent kills it with SIGKILL at a
//    random moment, `kills` times (default 200). After every kill the checkpoint on disk must
//    load (every CRC checked) and hold exactly the values of one complete generation, no older
//    than the last one seen; and at most one temporary file may be left (the killed writer's,
//    which the next save removes: io/file.hpp, remove_stale_temporaries).
// 2. Disk full: a save that runs out of space must throw IOError and leave the previous file
//    intact, with no temporary behind. Where this process may mount (root), a 24 MiB tmpfs
//    makes the disk really full (ENOSPC from write()); everywhere, a file-size limit
//    (RLIMIT_FSIZE, EFBIG) makes the kernel refuse the write the same way.
// Prints the figures docs/reliability.md quotes. Exit status 0 when every check held.
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nabla/nabla.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace nb = nabla;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kElements = 5'000'000;  // 20 MB of float32

/// The checkpoint of generation `generation`: values that tell every generation apart.
nb::io::Checkpoint generation_checkpoint(std::int64_t generation, std::int64_t elements = kElements) {
  std::vector<float> values(static_cast<std::size_t>(elements));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(generation) + static_cast<float>(i % 1024) * 0.5f;
  nb::io::Checkpoint checkpoint;
  checkpoint.set_tensor("weights", nb::from_vector<float>(std::move(values), {elements}));
  checkpoint.set_tensor("step", nb::from_vector<std::int64_t>({generation}, {1}));
  checkpoint.set_metadata("generation", generation);
  return checkpoint;
}

/// The generation stored in `path`, after checking that every value is the one save wrote.
/// -1 (with a message) when the file does not load or does not hold one complete generation.
std::int64_t verified_generation(const std::string& path, std::int64_t elements = kElements) {
  try {
    const nb::io::Checkpoint checkpoint = nb::io::load_checkpoint(path);
    const auto generation = checkpoint.metadata_number<std::int64_t>("generation");
    if (checkpoint.tensor<std::int64_t>("step").item() != generation) throw nb::IOError("step differs");
    const auto weights = checkpoint.tensor<float>("weights");
    if (weights.numel() != elements) throw nb::IOError("wrong size");
    const float* data = weights.data();
    for (std::int64_t i = 0; i < elements; ++i)
      if (data[i] != static_cast<float>(generation) + static_cast<float>(i % 1024) * 0.5f)
        throw nb::IOError("value " + std::to_string(i) + " differs");
    return generation;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "crash_safety: %s: %s\n", path.c_str(), error.what());
    return -1;
  }
}

int temporaries(const std::string& path) {
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(target.parent_path()))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) ++count;
  return count;
}

[[noreturn]] void child(const std::string& path, std::int64_t generation, int ready_pipe) {
  // Build the first checkpoint before saying "ready", so the kill lands in the saving loop.
  nb::io::Checkpoint checkpoint = generation_checkpoint(generation);
  if (::write(ready_pipe, "r", 1) != 1) std::_Exit(3);
  ::close(ready_pipe);
  while (true) {
    nb::io::save_checkpoint(path, checkpoint);
    checkpoint = generation_checkpoint(++generation);
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool kill_test(const std::string& self, const fs::path& directory, int kills) {
  const std::string path = (directory / "run.nabla").string();
  auto start = std::chrono::steady_clock::now();
  nb::io::save_checkpoint(path, generation_checkpoint(0));
  const double save_seconds = seconds_since(start);
  std::printf("crash_safety: one save of %lld MB takes %.3f s here\n", static_cast<long long>(kElements * 4 / 1000000),
              save_seconds);

  std::mt19937_64 random(20261207);
  std::uniform_real_distribution<double> delay(0.0, 2.0 * save_seconds);
  std::int64_t last_generation = 0, saves_completed = 0;
  int mid_write = 0, max_temporaries = 0;
  start = std::chrono::steady_clock::now();
  for (int kill = 0; kill < kills; ++kill) {
    int ready[2];
    if (::pipe(ready) != 0) return false;
    const ::pid_t pid = ::fork();
    if (pid == 0) {
      ::close(ready[0]);
      // exec: a fresh process, as a restarted training run would be (no OpenMP state copied).
      const std::string generation = std::to_string(last_generation + 1), pipe_fd = std::to_string(ready[1]);
      ::execl(self.c_str(), self.c_str(), "child", path.c_str(), generation.c_str(), pipe_fd.c_str(),
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    ::close(ready[1]);
    char byte = 0;
    if (::read(ready[0], &byte, 1) != 1) {
      std::fprintf(stderr, "crash_safety: the child did not start\n");
      return false;
    }
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(random)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      std::fprintf(stderr, "crash_safety: the child ended by itself (status %d) before kill %d\n", status, kill);
      return false;
    }
    const int left = temporaries(path);
    mid_write += left > 0;
    max_temporaries = std::max(max_temporaries, left);
    if (left > 1) {
      std::fprintf(stderr, "crash_safety: %d temporary files after kill %d (at most 1 expected)\n", left, kill);
      return false;
    }
    const std::int64_t generation = verified_generation(path);
    if (generation < last_generation) {
      std::fprintf(stderr, "crash_safety: after kill %d the file holds generation %lld, older than %lld\n", kill,
                   static_cast<long long>(generation), static_cast<long long>(last_generation));
      return false;
    }
    saves_completed += generation - last_generation;
    last_generation = generation;
  }
  std::printf(
      "crash_safety: %d kills -9 in %.1f s: after every one the checkpoint loaded with all CRCs and held one "
      "complete generation; %lld saves completed between kills, %d kills landed while a temporary was open, at "
      "most %d temporary file at a time\n",
      kills, seconds_since(start), static_cast<long long>(saves_completed), mid_write, max_temporaries);
  return true;
}

/// Saves a big checkpoint where it cannot fit; true when that is an IOError that names the
/// cause, the old file still holds generation 1, and no temporary is left.
bool full_disk_save(const std::string& path, std::int64_t big_elements, const char* expected_error) {
  try {
    nb::io::save_checkpoint(path, generation_checkpoint(2, big_elements));
    std::fprintf(stderr, "crash_safety: the save into a full disk succeeded\n");
    return false;
  } catch (const nb::IOError& error) {
    const std::string message = error.what();
    if (message.find(expected_error) == std::string::npos) {
      std::fprintf(stderr, "crash_safety: unexpected message: %s\n", message.c_str());
      return false;
    }
    std::printf("crash_safety: full disk -> IOError: %s\n", message.c_str());
  }
  if (verified_generation(path, 1'000'000) != 1) return false;
  if (temporaries(path) != 0) {
    std::fprintf(stderr, "crash_safety: a temporary was left after the failed save\n");
    return false;
  }
  return true;
}

bool disk_full_test(const fs::path& directory) {
  bool ok = true;
  // A really full file system: a 24 MiB tmpfs (needs CAP_SYS_ADMIN; skipped without it).
  const fs::path mount_point = directory / "tmpfs";
  fs::create_directories(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=24m") == 0) {
    const std::string path = (mount_point / "model.nabla").string();
    nb::io::save_checkpoint(path, generation_checkpoint(1, 1'000'000));     // 4 MB: fits
    ok = full_disk_save(path, 6'000'000, "No space left on device") && ok;  // 24 MB + the old 4 MB: does not
    ::umount(mount_point.c_str());
    std::printf("crash_safety: tmpfs ENOSPC check %s\n", ok ? "passed" : "FAILED");
  } else {
    std::printf("crash_safety: cannot mount a tmpfs here (not root); the file-size limit check stands for it\n");
  }
  // A file-size limit: the kernel refuses the write past 8 MB (EFBIG), in a child process so
  // that the limit does not outlive the check.
  const ::pid_t pid = ::fork();
  if (pid == 0) {
    const std::string path = (directory / "limited.nabla").string();
    nb::io::save_checkpoint(path, generation_checkpoint(1, 1'000'000));
    ::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing the process
    const ::rlimit limit{8'000'000, 8'000'000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::_Exit(full_disk_save(path, 4'000'000, "File too large") ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool limited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("crash_safety: RLIMIT_FSIZE (EFBIG) check %s\n", limited_ok ? "passed" : "FAILED");
  return ok && limited_ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "child") child(argv[2], std::atoll(argv[3]), std::atoi(argv[4]));
  const int kills = argc > 1 ? std::atoi(argv[1]) : 200;
  // By default in /dev/shm (memory): a process killed with -9 loses nothing the kernel already
  // has, so what a kill can break (the rename protocol, the temporaries) is the same as on a
  // disk, and 200 kills take seconds instead of the minutes a disk's fsyncs would. (Power loss,
  // which fsync guards against, cannot be tested by killing a process.) Pass a directory to run
  // on a disk.
  const fs::path base = fs::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                                                                                        : fs::temp_directory_path();
  const fs::path directory = argc > 2 ? fs::path(argv[2]) : base / ("nabla_crash_safety_" + std::to_string(::getpid()));
  fs::create_directories(directory);
  const std::string self = fs::canonical("/proc/self/exe").string();
  const bool killed_ok = kill_test(self, directory, kills);
  const bool full_ok = disk_full_test(directory);
  std::error_code ignored;
  fs::remove_all(directory, ignored);
  std::printf("crash_safety: %s\n", killed_ok && full_ok ? "OK" : "FAILED");
  return killed_ok && full_ok ? 0 : 1;
}
