// The data pipeline at scale: token files (io/token_file.hpp, data/token_file.hpp), background
// workers and resumable positions of the DataLoader, sharded streams (data/streaming.hpp) and
// seeded augmentation (data/transforms.hpp).
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nabla/data/dataloader.hpp"
#include "nabla/data/loader_state.hpp"
#include "nabla/data/streaming.hpp"
#include "nabla/data/token_file.hpp"
#include "nabla/data/transforms.hpp"
#include "nabla/io/checkpoint.hpp"
#include "nabla/io/npy.hpp"
#include "nabla/io/token_file.hpp"
#include "nabla/ops/factories.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_data_pipeline {

namespace nb = nabla;
namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<unsigned char>;

namespace {

using nabla_test::TempDir;

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

/// 0, 1, ... a deterministic stream of `count` ids below `vocabulary`.
std::vector<std::int64_t> some_ids(std::int64_t count, std::int64_t vocabulary, std::int64_t salt = 0) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i)
    ids[static_cast<std::size_t>(i)] = (i * 7919 + salt * 104729 + (i * i) % 13) % vocabulary;
  return ids;
}

/// The window the in-memory stream gives: inputs ids[s, s+T), targets ids[s+1, s+T+1).
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> window(const std::vector<std::int64_t>& ids,
                                                                       std::int64_t start, std::int64_t context) {
  const auto begin = ids.begin() + start;
  return {std::vector<std::int64_t>(begin, begin + context), std::vector<std::int64_t>(begin + 1, begin + context + 1)};
}

/// A batch's inputs and targets as flat vectors (any element types).
template <typename Batch>
auto flat(const Batch& batch) {
  return std::make_pair(batch.inputs.contiguous().to_vector(), batch.targets.contiguous().to_vector());
}

/// Every batch of one pass over `loader`, flattened.
template <typename Loader>
auto all_batches(Loader& loader) {
  std::vector<decltype(flat(*loader.begin()))> batches;
  for (const auto& batch : loader) batches.push_back(flat(batch));
  return batches;
}

/// A token file whose header is rewritten field by field (with a valid header CRC), to build
/// files that lie in exactly one way.
void rewrite_header(const std::string& path, const nb::io::TokenFileHeader& header) {
  Bytes bytes = read_bytes(path);
  const Bytes encoded = nb::io::encode_token_file_header(header);
  std::copy(encoded.begin(), encoded.end(), bytes.begin());
  write_bytes(path, bytes);
}

nb::io::TokenFileHeader header_of(const std::string& path) {
  const Bytes bytes = read_bytes(path);
  return nb::io::parse_token_file_header(bytes.data(), bytes.size(), path);
}

}  // namespace

TEST_CASE("token file: written once, memory-mapped, serves the in-memory windows", "[data_pipeline]") {
  TempDir dir;
  const std::int64_t context = 5;
  SECTION("uint16 ids (a vocabulary that fits), back-to-back windows") {
    const std::vector<std::int64_t> ids = some_ids(103, 1000);
    nb::io::write_token_file(dir.file("a.tokens"), ids, 1000);
    CHECK(fs::file_size(dir.file("a.tokens")) == 64 + 2 * 103);
    nb::data::TokenFileDataset dataset(dir.file("a.tokens"), {.context = context});
    CHECK(dataset.token_width() == 2);
    CHECK(dataset.token_count() == 103);
    CHECK(dataset.vocabulary_size() == 1000);
    CHECK(dataset.size() == (103 - context - 1) / context + 1);
    for (std::int64_t i = 0; i < dataset.size(); ++i) {
      const auto sample = dataset.get(i);
      const auto [inputs, targets] = window(ids, i * context, context);
      CHECK(sample.input.to_vector() == inputs);
      CHECK(sample.target.to_vector() == targets);
    }
    const auto batch = dataset.get_batch({3, 0, 19});
    REQUIRE(batch.inputs.shape() == nb::Shape{3, context});
    CHECK(batch.inputs.narrow(0, 2, 1).contiguous().to_vector() == window(ids, 19 * context, context).first);
    CHECK(batch.targets.narrow(0, 0, 1).contiguous().to_vector() == window(ids, 3 * context, context).second);
    CHECK_THROWS_AS(dataset.get(dataset.size()), nb::ValueError);
  }
  SECTION("uint32 ids (a vocabulary over 65536), every position a window, through a shuffled loader") {
    const std::vector<std::int64_t> ids = some_ids(60, 70000);
    nb::io::write_token_file(dir.file("b.tokens"), ids, 70000);
    CHECK(fs::file_size(dir.file("b.tokens")) == 64 + 4 * 60);
    nb::data::TokenFileDataset dataset(dir.file("b.tokens"), {.context = context, .stride = 1, .random_access = true});
    CHECK(dataset.token_width() == 4);
    REQUIRE(dataset.size() == 60 - context);
    // The same windows held in memory, as a TensorDataset: a shuffled loader gives the same batches.
    std::vector<std::int64_t> inputs, targets;
    for (std::int64_t s = 0; s < dataset.size(); ++s) {
      const auto [in, out] = window(ids, s, context);
      inputs.insert(inputs.end(), in.begin(), in.end());
      targets.insert(targets.end(), out.begin(), out.end());
    }
    nb::data::TensorDataset<std::int64_t> in_memory(nb::from_vector<std::int64_t>(inputs, {dataset.size(), context}),
                                                    nb::from_vector<std::int64_t>(targets, {dataset.size(), context}));
    nb::data::DataLoader mapped_loader(dataset, {.batch_size = 8, .shuffle = true, .seed = 3});
    nb::data::DataLoader memory_loader(in_memory, {.batch_size = 8, .shuffle = true, .seed = 3});
    for (int epoch = 0; epoch < 2; ++epoch) CHECK(all_batches(mapped_loader) == all_batches(memory_loader));
  }
  SECTION("the streaming writer, and ids the vocabulary does not have") {
    nb::io::TokenFileWriter writer(dir.file("c.tokens"), 50);
    const std::vector<std::int64_t> first = some_ids(30, 50), second = some_ids(20, 50, 1);
    writer.append(first);
    writer.append(std::span<const std::int64_t>(second));
    CHECK_THROWS_WITH(writer.append(std::vector<std::int64_t>{3, 50}), Contains("id 50 at position 51"));
    writer.commit();
    nb::data::TokenFileDataset dataset(dir.file("c.tokens"), {.context = 49});
    REQUIRE(dataset.size() == 1);
    std::vector<std::int64_t> all = first;
    all.insert(all.end(), second.begin(), second.end());
    CHECK(dataset.get(0).input.to_vector() == window(all, 0, 49).first);
    CHECK_THROWS_AS(nb::io::write_token_file(dir.file("d.tokens"), {1, 2, -1}, 10), nb::ValueError);
    CHECK_THROWS_AS(nb::io::write_token_file(dir.file("d.tokens"), {}, 10), nb::ValueError);
    CHECK_FALSE(fs::exists(dir.file("d.tokens")));
    for (const auto& entry : fs::directory_iterator(dir.file("")))
      CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

TEST_CASE("token file: .npy arrays of ids are memory-mapped the same way", "[data_pipeline]") {
  TempDir dir;
  const std::vector<std::int64_t> ids = some_ids(41, 300);
  SECTION("int64 (np.save of an int64 array)") {
    nb::save_npy(dir.file("ids.npy"), nb::from_vector<std::int64_t>(ids));
    nb::data::TokenFileDataset dataset(dir.file("ids.npy"), {.context = 4});
    CHECK(dataset.token_width() == 8);
    CHECK(dataset.vocabulary_size() == static_cast<std::uint64_t>(*std::max_element(ids.begin(), ids.end()) + 1));
    for (std::int64_t i = 0; i < dataset.size(); ++i)
      CHECK(dataset.get(i).target.to_vector() == window(ids, 4 * i, 4).second);
  }
  SECTION("uint16 ('<u2', as ids.astype(np.uint16) saves)") {
    std::string header = "{'descr': '<u2', 'fortran_order': False, 'shape': (41,), }";
    header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
    Bytes bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(header.size()), 0};
    bytes.insert(bytes.end(), header.begin(), header.end());
    for (const std::int64_t id : ids) {
      bytes.push_back(static_cast<unsigned char>(id & 0xFF));
      bytes.push_back(static_cast<unsigned char>(id >> 8));
    }
    write_bytes(dir.file("ids16.npy"), bytes);
    nb::data::TokenFileDataset dataset(dir.file("ids16.npy"), {.context = 4, .vocabulary_size = 300});
    CHECK(dataset.token_width() == 2);
    CHECK(dataset.vocabulary_size() == 300);
    for (std::int64_t i = 0; i < dataset.size(); ++i)
      CHECK(dataset.get(i).input.to_vector() == window(ids, 4 * i, 4).first);
    CHECK_THROWS_WITH(
        nb::data::TokenFileDataset(dir.file("ids16.npy"), {.context = 4, .validate_ids = true, .vocabulary_size = 100}),
        Contains("vocabulary_size"));
  }
  SECTION("float arrays and 2-D arrays are not token files") {
    nb::save_npy(dir.file("f.npy"), nb::zeros<float>({10}));
    CHECK_THROWS_WITH(nb::data::TokenFileDataset(dir.file("f.npy"), {.context = 2}), Contains("'descr' is '<f4'"));
    nb::save_npy(dir.file("m.npy"), nb::zeros<std::int64_t>({3, 4}));
    CHECK_THROWS_WITH(nb::data::TokenFileDataset(dir.file("m.npy"), {.context = 2}), Contains("must be 1-D"));
  }
}

TEST_CASE("token file: hostile files are refused with an IOError naming the file and the field", "[data_pipeline]") {
  TempDir dir;
  const std::string path = dir.file("hostile.tokens");
  const std::vector<std::int64_t> ids = some_ids(100, 500);
  nb::io::write_token_file(path, ids, 500);
  const nb::io::TokenFileHeader good = header_of(path);
  const auto open = [&](nb::data::TokenFileOptions options = {.context = 4}) {
    nb::data::TokenFileDataset dataset(path, options);
  };
  const auto refused = [&](const std::string& field, nb::data::TokenFileOptions options = {.context = 4}) {
    CHECK_THROWS_AS(open(options), nb::IOError);
    CHECK_THROWS_WITH(open(options), Contains(path) && Contains(field));
  };
  SECTION("truncated") {
    Bytes bytes = read_bytes(path);
    bytes.resize(bytes.size() - 3);
    write_bytes(path, bytes);
    refused("'count'");
  }
  SECTION("shorter than the header") {
    write_bytes(path, Bytes(40, 0));
    refused("fewer than the 64-byte header");
  }
  SECTION("empty") {
    write_bytes(path, {});
    refused("empty");
  }
  SECTION("wrong dtype") {
    nb::io::TokenFileHeader lie = good;
    lie.width = 3;
    rewrite_header(path, lie);
    refused("'width'");
  }
  SECTION("a dtype too narrow for the vocabulary") {
    nb::io::TokenFileHeader lie = good;
    lie.vocabulary_size = 70000;
    rewrite_header(path, lie);
    refused("'vocabulary_size'");
  }
  SECTION("the header claims more tokens than the file has") {
    nb::io::TokenFileHeader lie = good;
    lie.count = std::uint64_t{1} << 62;
    rewrite_header(path, lie);
    refused("'count'");
  }
  SECTION("the header claims fewer tokens (trailing bytes)") {
    nb::io::TokenFileHeader lie = good;
    lie.count = 90;
    rewrite_header(path, lie);
    refused("trailing bytes");
  }
  SECTION("zero length") {
    nb::io::TokenFileHeader lie = good;
    lie.count = 0;
    rewrite_header(path, lie);
    refused("'count' (byte 24) is 0");
  }
  SECTION("fewer tokens than one window") { refused("fewer than one window", {.context = 100}); }
  SECTION("ids outside the vocabulary, when asked to validate") {
    nb::io::TokenFileHeader lie = good;
    lie.vocabulary_size = 10;  // the ids go up to 499
    rewrite_header(path, lie);
    CHECK_NOTHROW(open());  // not validated by default: no pass over the file
    refused("'vocabulary_size'", {.context = 4, .validate_ids = true});
  }
  SECTION("a damaged payload, found by the checksum (verified by default for small files)") {
    Bytes bytes = read_bytes(path);
    bytes[64 + 17] ^= 0x01;
    write_bytes(path, bytes);
    refused("'payload_crc32'");
    CHECK_NOTHROW(open({.context = 4, .verify_checksum = false}));
  }
  SECTION("a damaged header, a wrong magic, a future version") {
    Bytes bytes = read_bytes(path);
    bytes[20] ^= 0x40;  // inside the vocabulary size, without fixing the header CRC
    write_bytes(path, bytes);
    refused("header CRC");
    bytes[0] = 'X';
    write_bytes(path, bytes);
    refused("magic");
    nb::io::write_token_file(path, ids, 500);
    nb::io::TokenFileHeader future = good;
    future.version = 2;
    rewrite_header(path, future);
    refused("version");
  }
  SECTION("not a regular file") {
    CHECK_THROWS_AS(nb::data::TokenFileDataset(dir.file(""), {.context = 4}), nb::IOError);
    CHECK_THROWS_WITH(nb::data::TokenFileDataset(dir.file("missing.tokens"), {.context = 4}),
                      Contains("missing.tokens"));
  }
}

TEST_CASE("DataLoader workers: 0, 1 and 4 workers give the same batches", "[data_pipeline]") {
  TempDir dir;
  SECTION("an in-memory TensorDataset, shuffled, with a partial last batch") {
    auto features = nb::arange<float>(0.0f, 206.0f).reshape({103, 2});
    auto targets = nb::arange<float>(0.0f, 103.0f).reshape({103, 1});
    nb::data::TensorDataset<float> dataset(features, targets);
    nb::data::DataLoader serial(dataset, {.batch_size = 8, .shuffle = true, .seed = 11});
    nb::data::DataLoader one(dataset, {.batch_size = 8, .shuffle = true, .seed = 11, .num_workers = 1});
    nb::data::DataLoader four(dataset, {.batch_size = 8, .shuffle = true, .seed = 11, .num_workers = 4, .prefetch = 1});
    for (int epoch = 0; epoch < 3; ++epoch) {
      const auto expected = all_batches(serial);
      CHECK(expected.size() == 13);
      CHECK(all_batches(one) == expected);
      CHECK(all_batches(four) == expected);
    }
  }
  SECTION("a memory-mapped token file") {
    nb::io::write_token_file(dir.file("w.tokens"), some_ids(5000, 3000), 3000);
    nb::data::TokenFileDataset dataset(dir.file("w.tokens"), {.context = 16, .stride = 3});
    nb::data::DataLoader serial(dataset, {.batch_size = 32, .shuffle = true, .seed = 5, .drop_last = true});
    nb::data::DataLoader four(
        dataset, {.batch_size = 32, .shuffle = true, .seed = 5, .drop_last = true, .num_workers = 4, .prefetch = 3});
    for (int epoch = 0; epoch < 2; ++epoch) CHECK(all_batches(four) == all_batches(serial));
  }
}

namespace {
/// A dataset whose sample 13 cannot be read (a damaged record, say).
struct FaultyDataset {
  std::int64_t size() const { return 40; }
  nb::data::Example<nb::Tensor<float>, nb::Tensor<float>> get(std::int64_t index) const {
    if (index == 13) throw nb::IOError("record 13 is damaged");
    return {nb::full<float>({2}, static_cast<float>(index)), nb::full<float>({1}, 0.0f)};
  }
};
}  // namespace

TEST_CASE("DataLoader workers: an error in a worker surfaces in the consumer, naming the batch", "[data_pipeline]") {
  for (const int workers : {0, 1, 3}) {
    CAPTURE(workers);
    nb::data::DataLoader loader(FaultyDataset{}, {.batch_size = 4, .num_workers = workers});
    std::vector<float> seen;
    try {
      for (const auto& batch : loader) seen.push_back(batch.inputs.to_vector()[0]);
      FAIL("no error surfaced");
    } catch (const nb::IOError& error) {  // the worker's error type is kept
      CHECK_THAT(error.what(), Contains("batch 3 of epoch 0") && Contains("record 13 is damaged"));
    }
    // The batches before the damaged one arrived, in order.
    CHECK(seen == std::vector<float>{0, 4, 8});
    // The loader still works: the next epoch fails at the same batch, not before.
    std::int64_t delivered = 0;
    CHECK_THROWS_AS(
        [&] {
          for (const auto& batch : loader) delivered += batch.inputs.size(0) > 0;
        }(),
        nb::IOError);
    CHECK(delivered == 3);
  }
}

TEST_CASE("DataLoader workers: stopping early and destroying the loader mid-epoch shut down cleanly",
          "[data_pipeline]") {
  auto features = nb::arange<float>(0.0f, 2000.0f).reshape({1000, 2});
  nb::data::TensorDataset<float> dataset(features, features);
  // Leaving the loop after two batches: the iterator's destruction stops and joins the workers.
  for (int round = 0; round < 20; ++round) {
    nb::data::DataLoader loader(dataset, {.batch_size = 10, .shuffle = true, .seed = 1, .num_workers = 4});
    int batches = 0;
    for (const auto& batch : loader) {
      (void)batch;
      if (++batches == 2) break;
    }
    CHECK(batches == 2);
    CHECK(loader.state().batch == 2);
  }
  // The loader destroyed while an iterator is still alive: the workers stop, the iterator says so.
  nb::data::DataLoader<nb::data::TensorDataset<float>>::Iterator survivor;
  {
    nb::data::DataLoader loader(dataset, {.batch_size = 10, .num_workers = 2});
    survivor = loader.begin();
    ++survivor;
  }
  CHECK_THROWS_WITH(++survivor, Contains("stopped"));
  // Restarting an epoch in the middle of one: the old pass stops, the new one starts over.
  nb::data::DataLoader loader(dataset, {.batch_size = 100, .num_workers = 3, .prefetch = 1});
  auto first = loader.begin();
  auto again = loader.begin();
  CHECK(again->inputs.to_vector() == first->inputs.to_vector());
}

TEST_CASE("DataLoader state: a resumed loader continues with exactly the batches it would have seen",
          "[data_pipeline]") {
  TempDir dir;
  auto features = nb::arange<float>(0.0f, 150.0f).reshape({75, 2});
  nb::data::TensorDataset<float> dataset(features, features);
  const nb::data::DataLoaderOptions options{.batch_size = 8, .shuffle = true, .seed = 21, .num_workers = 2};
  nb::data::DataLoader reference(dataset, options);
  const auto epoch0 = all_batches(reference);
  const auto epoch1 = all_batches(reference);
  for (const std::int64_t k : {0, 3, 9, 10}) {  // 10: the whole epoch; resume in the next one
    CAPTURE(k);
    nb::data::DataLoader loader(dataset, options);
    std::int64_t taken = 0;
    if (k > 0)
      for (const auto& batch : loader) {
        (void)batch;
        if (++taken == k) break;
      }
    nb::io::Checkpoint checkpoint;
    nb::data::save_loader_state(checkpoint, loader.state());
    nb::io::save_checkpoint(dir.file("run.nabla"), checkpoint);
    // A new process: a new loader with the same settings, its position from the file.
    nb::data::DataLoader resumed(dataset, options);
    const nb::io::Checkpoint loaded = nb::io::load_checkpoint(dir.file("run.nabla"));
    CHECK(nb::data::load_loader_state(loaded) == loader.state());
    resumed.load_state(nb::data::load_loader_state(loaded));
    const auto rest = all_batches(resumed);
    if (k < 10) {
      CHECK(resumed.epoch() == 1);
      CHECK(rest == std::vector(epoch0.begin() + k, epoch0.end()));
      CHECK(all_batches(resumed) == epoch1);
    } else {
      CHECK(rest == epoch1);
    }
  }
  // A position from a loader with another seed or batch size does not fit.
  nb::data::DataLoader other(dataset, {.batch_size = 8, .shuffle = true, .seed = 22});
  CHECK_THROWS_WITH(other.load_state(reference.state()), Contains("seed 21"));
  nb::io::Checkpoint damaged;
  nb::data::save_loader_state(damaged, {.epoch = 1, .batch = 2, .seed = 21, .batch_size = 8, .samples = 15});
  CHECK_THROWS_AS(nb::data::load_loader_state(damaged), nb::IOError);
}

namespace {
/// Shards of different lengths: shard s holds 40 + 13 s tokens, ids encoding (shard, position).
std::vector<std::string> make_shards(const TempDir& dir, int count) {
  std::vector<std::string> paths;
  for (int s = 0; s < count; ++s) {
    std::vector<std::int64_t> ids(static_cast<std::size_t>(40 + 13 * s));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = s * 1000 + static_cast<std::int64_t>(i);
    paths.push_back(dir.file("shard-" + std::to_string(s) + ".tokens"));
    nb::io::write_token_file(paths.back(), ids, 60000);
  }
  return paths;
}
}  // namespace

TEST_CASE("sharded streams: every example once per epoch, in a seeded order, split across ranks", "[data_pipeline]") {
  TempDir dir;
  const std::vector<std::string> paths = make_shards(dir, 5);
  const nb::data::ShardedTokenOptions base{
      .file = {.context = 6}, .shuffle_shards = true, .shuffle_buffer = 16, .seed = 9};
  const nb::data::ShardedTokenDataset all(paths, base);
  std::int64_t expected = 0;
  for (int s = 0; s < 5; ++s) expected += (40 + 13 * s - 7) / 6 + 1;
  REQUIRE(all.size() == expected);
  // Example numbers map to the right shard and window.
  CHECK(all.get(all.first_example(2) + 3).input.to_vector()[0] == 2000 + 18);

  std::vector<std::vector<std::int64_t>> orders;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    nb::data::DataLoader loader(all, {.batch_size = 7});
    loader.set_epoch(epoch);
    std::vector<std::int64_t> order = loader.order_for_epoch(epoch);
    CHECK(static_cast<std::int64_t>(order.size()) == expected);
    CHECK(static_cast<std::int64_t>(std::set<std::int64_t>(order.begin(), order.end()).size()) == expected);
    // The batches hold those examples' windows, in that order.
    std::vector<std::int64_t> first_tokens;
    for (const auto& batch : loader)
      for (std::int64_t r = 0; r < batch.inputs.size(0); ++r)
        first_tokens.push_back(batch.inputs.narrow(0, r, 1).contiguous().to_vector()[0]);
    REQUIRE(first_tokens.size() == order.size());
    for (std::size_t i = 0; i < order.size(); i += 11) CHECK(first_tokens[i] == all.get(order[i]).input.to_vector()[0]);
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);                                                        // a new order every epoch
  CHECK(nb::data::DataLoader(all, {.batch_size = 7}).order_for_epoch(1) == orders[1]);  // the same from the seed

  // Two ranks: disjoint shard sets whose union is every example, each epoch.
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    std::multiset<std::int64_t> union_of_ranks;
    for (int rank = 0; rank < 2; ++rank) {
      nb::data::ShardedTokenOptions options = base;
      options.rank = rank;
      options.world_size = 2;
      nb::data::ShardedTokenDataset mine(paths, options);
      nb::data::DataLoader loader(mine, {.batch_size = 4});
      const auto order = loader.order_for_epoch(epoch);
      CHECK(static_cast<std::int64_t>(order.size()) == mine.examples_for_epoch(epoch));
      union_of_ranks.insert(order.begin(), order.end());
    }
    CHECK(static_cast<std::int64_t>(union_of_ranks.size()) == expected);
    CHECK(static_cast<std::int64_t>(std::set<std::int64_t>(union_of_ranks.begin(), union_of_ranks.end()).size()) ==
          expected);
  }
  // In order, without a buffer: the plain concatenation of the shards.
  nb::data::ShardedTokenDataset plain(paths, {.file = {.context = 6}});
  const auto plain_order = nb::data::DataLoader(plain, {.batch_size = 4}).order_for_epoch(0);
  for (std::int64_t i = 0; i < expected; ++i) CHECK(plain_order[static_cast<std::size_t>(i)] == i);
  CHECK_THROWS_AS(nb::data::ShardedTokenDataset(paths, {.file = {.context = 6}, .rank = 2, .world_size = 2}),
                  nb::ValueError);
}

TEST_CASE("sharded streams: workers and resumption mid-epoch through the shuffle buffer", "[data_pipeline]") {
  TempDir dir;
  const std::vector<std::string> paths = make_shards(dir, 4);
  const nb::data::ShardedTokenDataset dataset(
      paths, {.file = {.context = 5}, .shuffle_shards = true, .shuffle_buffer = 10, .seed = 4});
  nb::data::DataLoader serial(dataset, {.batch_size = 6, .seed = 4});
  nb::data::DataLoader workers(dataset, {.batch_size = 6, .seed = 4, .num_workers = 4, .prefetch = 2});
  const auto epoch0 = all_batches(serial);
  const auto epoch1 = all_batches(serial);
  CHECK(all_batches(workers) == epoch0);
  CHECK(all_batches(workers) == epoch1);

  nb::data::DataLoader interrupted(dataset, {.batch_size = 6, .seed = 4, .num_workers = 2});
  int taken = 0;
  for (const auto& batch : interrupted) {
    (void)batch;
    if (++taken == 5) break;
  }
  nb::io::Checkpoint checkpoint;
  nb::data::save_loader_state(checkpoint, interrupted.state());
  CHECK(checkpoint.metadata.at("data.samples") == "30");
  nb::data::DataLoader resumed(dataset, {.batch_size = 6, .seed = 4, .num_workers = 3});
  resumed.load_state(nb::data::load_loader_state(checkpoint));
  CHECK(all_batches(resumed) == std::vector(epoch0.begin() + 5, epoch0.end()));
  CHECK(all_batches(resumed) == epoch1);
}

TEST_CASE("augmentation: seeded per (seed, epoch, sample), varies across epochs, independent of workers",
          "[data_pipeline]") {
  TempDir dir;
  nb::io::write_token_file(dir.file("aug.tokens"), some_ids(20000, 400, 3), 400);
  const nb::data::TokenFileDataset tokens(dir.file("aug.tokens"), {.context = 20});
  const auto transform = nb::data::Compose{nb::data::TokenDropout{.probability = 0.2, .replacement = 0},
                                           nb::data::RandomCrop{.length = 16}};
  const auto make_loader = [&](std::uint64_t seed, int workers) {
    return nb::data::DataLoader(nb::data::Augmented(tokens, transform, seed),
                                {.batch_size = 10, .shuffle = true, .seed = 1, .num_workers = workers});
  };
  auto serial = make_loader(7, 0);
  auto one = make_loader(7, 1);
  auto four = make_loader(7, 4);
  const auto epoch0 = all_batches(serial);
  const auto epoch1 = all_batches(serial);
  CHECK(all_batches(one) == epoch0);
  CHECK(all_batches(four) == epoch0);
  CHECK(all_batches(four) == epoch1);
  CHECK(epoch0 != epoch1);
  auto other_seed = make_loader(8, 0);
  CHECK(all_batches(other_seed) != epoch0);

  // Sample by sample: the same augmentation from (seed, epoch, index), another one in another epoch.
  const nb::data::Augmented augmented(tokens, transform, 7);
  const auto a = augmented.get(5, 2), b = augmented.get(5, 2), c = augmented.get(5, 3);
  CHECK(a.input.to_vector() == b.input.to_vector());
  CHECK(a.input.shape() == nb::Shape{16});
  CHECK((a.input.to_vector() != c.input.to_vector() || a.target.to_vector() != c.target.to_vector()));
  // The crop cuts inputs and targets at the same place: the targets are a stretch of the original's.
  const auto original = tokens.get(5);
  const auto full_targets = original.target.to_vector();
  const auto cropped = a.target.to_vector();
  CHECK(std::search(full_targets.begin(), full_targets.end(), cropped.begin(), cropped.end()) != full_targets.end());
  // The dataset itself is never written to.
  CHECK(tokens.get(5).input.to_vector() == original.input.to_vector());

  // Dropout's rate: about 20% of 999 windows x 20 tokens become <unk> (id 0).
  const nb::data::Augmented dropped(tokens,
                                    nb::data::Compose{nb::data::TokenDropout{.probability = 0.2, .replacement = 0}}, 1);
  std::int64_t replaced = 0, total = 0;
  for (std::int64_t i = 0; i < tokens.size(); ++i) {
    const auto in = dropped.get(i, 0).input.to_vector();
    const auto before = tokens.get(i).input.to_vector();
    for (std::size_t t = 0; t < in.size(); ++t) {
      replaced += in[t] == 0 && before[t] != 0;
      total += before[t] != 0;
    }
  }
  CHECK(static_cast<double>(replaced) / static_cast<double>(total) == Approx(0.2).margin(0.02));
}

TEST_CASE("augmentation: BERT span masking, Gaussian noise and mixup", "[data_pipeline]") {
  TempDir dir;
  nb::io::write_token_file(dir.file("mlm.tokens"), some_ids(40000, 1000, 5), 1000);
  const nb::data::TokenFileDataset tokens(dir.file("mlm.tokens"), {.context = 100});
  const nb::data::Augmented masked(
      tokens, nb::data::Compose{nb::data::SpanMasking{.fraction = 0.15, .mask_id = 1000, .vocabulary_size = 1000}}, 3);
  std::int64_t chosen = 0, mask = 0, kept = 0;
  for (std::int64_t i = 0; i < tokens.size(); ++i) {
    const auto sample = masked.get(i, 0);
    const auto in = sample.input.to_vector(), target = sample.target.to_vector(),
               before = tokens.get(i).input.to_vector();
    std::int64_t here = 0;
    for (std::size_t t = 0; t < in.size(); ++t) {
      if (target[t] == -100) {
        CHECK(in[t] == before[t]);  // not chosen: unchanged, no loss
        continue;
      }
      ++here;
      CHECK(target[t] == before[t]);  // chosen: predict the original token
      mask += in[t] == 1000;
      kept += in[t] == before[t];
    }
    CHECK(here == 15);
    chosen += here;
  }
  CHECK(static_cast<double>(mask) / static_cast<double>(chosen) == Approx(0.8).margin(0.04));
  CHECK(static_cast<double>(kept) / static_cast<double>(chosen) == Approx(0.1).margin(0.04));

  // Gaussian noise: reproducible, with the standard deviation asked for.
  auto features = nb::zeros<float>({200, 50});
  nb::data::TensorDataset<float> zeros(features, nb::zeros<float>({200, 1}));
  const nb::data::Augmented noisy(zeros, nb::data::Compose{nb::data::GaussianNoise{.stddev = 0.5}}, 2);
  double sum = 0, squares = 0;
  for (std::int64_t i = 0; i < 200; ++i)
    for (const float v : noisy.get(i, 1).input.to_vector()) {
      sum += v;
      squares += static_cast<double>(v) * v;
    }
  CHECK(sum / 10000 == Approx(0).margin(0.02));
  CHECK(std::sqrt(squares / 10000) == Approx(0.5).margin(0.02));
  CHECK(noisy.get(3, 1).input.to_vector() == noisy.get(3, 1).input.to_vector());
  CHECK(zeros.get(3).input.to_vector() == std::vector<float>(50, 0.0f));

  // mixup: x' = lambda x + (1 - lambda) x[perm], the same lambda and pairing for the targets.
  auto x = nb::arange<float>(0.0f, 16.0f).reshape({8, 2});
  auto y = nb::arange<float>(0.0f, 8.0f).reshape({8, 1});
  nb::data::TensorDataset<float> rows(x, y);
  const nb::data::Mixup mixup{.alpha = 0.4};
  for (const int workers : {0, 2}) {
    nb::data::DataLoader loader(rows, {.batch_size = 8, .seed = 6, .num_workers = workers});
    loader.set_batch_transform(mixup);
    for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
      const auto batch = *loader.begin();
      const double lambda = mixup.lambda_for({.seed = 6, .epoch = epoch, .batch = 0});
      CHECK(lambda > 0);
      CHECK(lambda < 1);
      const auto xs = batch.inputs.to_vector(), ys = batch.targets.to_vector();
      for (std::size_t r = 0; r < 8; ++r) {
        // y = row index, x = (2 y, 2 y + 1): mixing keeps x0 = 2 y and x1 = 2 y + 1 exactly linear.
        CHECK(xs[2 * r] == Approx(2 * ys[r]).margin(1e-4));
        CHECK(xs[2 * r + 1] == Approx(2 * ys[r] + 1).margin(1e-4));
        // y' = lambda r + (1 - lambda) partner, so the partner is recoverable and a row index.
        const double partner = (ys[r] - lambda * static_cast<double>(r)) / (1 - lambda);
        CHECK(partner == Approx(std::round(partner)).margin(1e-3));
      }
    }
  }
  CHECK_THROWS_AS(nb::data::Mixup{.alpha = 0}(nb::data::Batch<nb::Tensor<float>, nb::Tensor<float>>{x, y}, {}),
                  nb::ValueError);
}

TEST_CASE("DataLoader: a sampler decides the epoch's indices (how a DistributedSampler plugs in)", "[data_pipeline]") {
  auto features = nb::arange<float>(0.0f, 20.0f).reshape({20, 1});
  nb::data::TensorDataset<float> dataset(features, features);
  nb::data::DataLoader loader(dataset, {.batch_size = 3, .num_workers = 2});
  // Rank 1 of 2: every other sample of the epoch's seeded permutation.
  loader.set_sampler(nb::data::order_sampler([](std::uint64_t epoch) {
    const auto order = nb::data::shuffled_indices(20, 99, epoch);
    std::vector<std::int64_t> mine;
    for (std::size_t i = 1; i < order.size(); i += 2) mine.push_back(order[i]);
    return mine;
  }));
  CHECK(loader.size() == 4);
  std::vector<float> seen;
  for (const auto& batch : loader)
    for (const float v : batch.inputs.to_vector()) seen.push_back(v);
  const auto order = nb::data::shuffled_indices(20, 99, 0);
  REQUIRE(seen.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) CHECK(seen[i] == static_cast<float>(order[2 * i + 1]));
  CHECK_THROWS_AS(nb::data::DataLoader(dataset, {.batch_size = 3, .num_workers = -1}), nb::ValueError);
  CHECK_THROWS_AS(nb::data::DataLoader(dataset, {.batch_size = 3, .prefetch = 0}), nb::ValueError);
}

TEST_CASE("token file: stream_rows_order reads the file as parallel streams for truncated BPTT", "[data_pipeline]") {
  TempDir dir;
  const std::vector<std::int64_t> ids = some_ids(1000, 997);
  nb::io::write_token_file(dir.file("lm.tokens"), ids, 997);
  const std::int64_t bptt = 7, rows = 4;
  const nb::data::TokenFileDataset windows(dir.file("lm.tokens"), {.context = bptt});
  nb::data::DataLoader loader(windows, {.batch_size = rows, .num_workers = 2});
  const std::int64_t count = windows.size();
  loader.set_sampler(
      nb::data::order_sampler([count](std::uint64_t) { return nb::data::stream_rows_order(count, rows); }));
  const std::int64_t per_row = count / rows;
  CHECK(loader.size() == per_row);
  std::vector<std::vector<std::int64_t>> row_text(static_cast<std::size_t>(rows));
  for (const auto& [inputs, targets] : loader) {
    REQUIRE(inputs.shape() == nb::Shape{rows, bptt});
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto in = inputs.narrow(0, r, 1).contiguous().to_vector();
      const auto out = targets.narrow(0, r, 1).contiguous().to_vector();
      for (std::int64_t t = 0; t + 1 < bptt; ++t)
        CHECK(out[static_cast<std::size_t>(t)] == in[static_cast<std::size_t>(t) + 1]);
      auto& text = row_text[static_cast<std::size_t>(r)];
      text.insert(text.end(), in.begin(), in.end());
    }
  }
  // Row r, batch after batch, is one contiguous stretch of the stream: tokens [r R bptt, (r + 1) R bptt).
  for (std::int64_t r = 0; r < rows; ++r)
    CHECK(row_text[static_cast<std::size_t>(r)] ==
          std::vector<std::int64_t>(ids.begin() + r * per_row * bptt, ids.begin() + (r + 1) * per_row * bptt));
  CHECK_THROWS_AS(nb::data::stream_rows_order(3, 4), nb::ValueError);
}

TEST_CASE("DataLoader: random_sampler draws windows without a permutation, reproducibly", "[data_pipeline]") {
  auto features = nb::arange<float>(0.0f, 50.0f).reshape({50, 1});
  nb::data::TensorDataset<float> dataset(features, features);
  const auto draws = [&](int workers, std::uint64_t epoch) {
    nb::data::DataLoader loader(dataset, {.batch_size = 8, .num_workers = workers});
    loader.set_sampler(nb::data::random_sampler(50, 30, 12));
    loader.set_epoch(epoch);
    std::vector<float> values;
    for (const auto& batch : loader)
      for (const float v : batch.inputs.to_vector()) values.push_back(v);
    return values;
  };
  const auto epoch0 = draws(0, 0);
  REQUIRE(epoch0.size() == 30);
  for (const float v : epoch0) CHECK((v >= 0 && v < 50));
  CHECK(draws(3, 0) == epoch0);
  CHECK(draws(0, 1) != epoch0);
  CHECK(std::set<float>(epoch0.begin(), epoch0.end()).size() > 15);
  CHECK_THROWS_AS(nb::data::random_sampler(0, 3, 1), nb::ValueError);
}

}  // namespace test_data_pipeline
