// tests/distributed/test_distributed.cpp - the proofs of issue 15, run by ctest under
// `mpirun -np 2 --oversubscribe` (and once at -np 3 and -np 4): every rank runs every test case
// in the same order. The reference "one process on the full batch" is computed inside each rank
// on a second copy of the model, so one mpirun checks DDP against it directly.
//
// Not bitwise: the 1-process gradient sums the batch in one order, DDP sums each rank's half and
// then the ranks' partial gradients, so the two differ by rounding (1e-6 in double is the bound
// the issue asks; the observed gap is ~1e-16). Between ranks the results ARE bitwise equal.
#define CATCH_CONFIG_RUNNER
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <nabla/distributed/data_parallel.hpp>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

namespace nb = nabla;
namespace dist = nabla::distributed;

namespace {

constexpr std::int64_t kInputs = 5, kOutputs = 3;

nb::nn::Sequential<double> make_model() {
  nb::nn::Sequential<double> net;
  net.add<nb::nn::Dense>(kInputs, 16, nb::nn::DenseOptions{.seed = 11})
      .add<nb::nn::Tanh>()
      .add<nb::nn::Dense>(16, 8, nb::nn::DenseOptions{.seed = 12})
      .add<nb::nn::Tanh>()
      .add<nb::nn::Dense>(8, kOutputs, nb::nn::DenseOptions{.seed = 13});
  return net;
}

struct Batch {
  nb::Tensor<double> x, y;
};

/// The full batch of `samples`, the same on every rank (its own seed per step).
Batch full_batch(std::int64_t samples, std::uint64_t seed) {
  return {nb::randn<double>({samples, kInputs}, seed), nb::randn<double>({samples, kOutputs}, seed + 1000)};
}

/// Rank r's rows of a batch: a contiguous slice, sizes differing by at most one (first ranks larger).
Batch shard(const Batch& batch, int rank, int world) {
  const std::int64_t n = batch.x.size(0);
  const std::int64_t base = n / world, extra = n % world;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  const std::int64_t length = base + (rank < extra ? 1 : 0);
  return {batch.x.narrow(0, begin, length).contiguous(), batch.y.narrow(0, begin, length).contiguous()};
}

std::vector<double> flat_parameters(const std::vector<nb::Tensor<double>>& parameters) {
  std::vector<double> values;
  for (const auto& parameter : parameters)
    for (double value : parameter.to_vector()) values.push_back(value);
  return values;
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

/// max over ranks minus min over ranks of every parameter value, worst element: 0 when identical.
double spread_across_ranks(const std::vector<double>& values) {
  auto gathered = dist::all_gather(nb::from_vector<double>(values, {static_cast<std::int64_t>(values.size())}));
  const auto all = gathered.to_vector();
  const std::size_t n = values.size();
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double low = all[i], high = all[i];
    for (int r = 1; r < dist::world_size(); ++r) {
      low = std::min(low, all[r * n + i]);
      high = std::max(high, all[r * n + i]);
    }
    worst = std::max(worst, high - low);
  }
  return worst;
}

using OptimizerFactory = std::function<std::unique_ptr<nb::optim::OptimizerBase>(std::vector<nb::Tensor<double>>)>;

OptimizerFactory sgd() {
  return [](std::vector<nb::Tensor<double>> p) {
    return std::make_unique<nb::optim::SGD<double>>(std::move(p),
                                                    nb::optim::SGD<double>::Options{.lr = 0.1, .momentum = 0.9});
  };
}
OptimizerFactory adam() {
  return [](std::vector<nb::Tensor<double>> p) {
    return std::make_unique<nb::optim::Adam<double>>(std::move(p), nb::optim::Adam<double>::Options{.lr = 0.01});
  };
}

/// `steps` steps of DDP (this rank's shard) and of the 1-process reference (full batch);
/// returns {DDP parameters, reference parameters}.
std::pair<std::vector<double>, std::vector<double>> train_both(const OptimizerFactory& make_optimizer, int steps,
                                                               std::int64_t global_batch,
                                                               dist::DataParallelOptions options = {},
                                                               bool weight_by_samples = false) {
  auto reference = make_model();
  auto replica = make_model();
  // Rank 0's initial values must win: perturb the other ranks' replicas first.
  if (dist::rank() != 0) {
    nb::NoGradGuard no_grad;
    for (auto& parameter : replica.parameters()) parameter += 0.5;
  }
  dist::DistributedDataParallel<double> ddp(replica, options);
  auto reference_optimizer = make_optimizer(reference.parameters());
  auto replica_optimizer = make_optimizer(replica.parameters());
  for (int step = 0; step < steps; ++step) {
    const Batch batch = full_batch(global_batch, 100 + static_cast<std::uint64_t>(step));
    reference_optimizer->zero_grad();
    nb::loss::mse(reference(batch.x), batch.y).backward();
    reference_optimizer->step();

    const Batch local = shard(batch, dist::rank(), dist::world_size());
    if (weight_by_samples) ddp.set_local_batch_size(local.x.size(0));
    replica_optimizer->zero_grad();
    nb::loss::mse(ddp(local.x), local.y).backward();
    ddp.finish();  // already done by the last gradient's hook; a no-op here
    replica_optimizer->step();
  }
  return {flat_parameters(replica.parameters()), flat_parameters(reference.parameters())};
}

}  // namespace

TEST_CASE("process group: rank, world size, broadcast, all_reduce, all_gather, barrier", "[distributed]") {
  const int rank = dist::rank(), world = dist::world_size();
  REQUIRE(world >= 1);
  REQUIRE(rank >= 0);
  REQUIRE(rank < world);
  dist::barrier();

  auto value = nb::full<double>({2, 3}, static_cast<double>(rank + 1));
  dist::broadcast(value, world - 1);
  for (double v : value.to_vector()) CHECK(v == world);

  const double rank_sum = world * (world + 1) / 2.0;
  auto summed = nb::full<double>({4}, static_cast<double>(rank + 1));
  dist::all_reduce(summed, dist::ReduceOp::sum);
  for (double v : summed.to_vector()) CHECK(v == rank_sum);
  auto averaged = nb::full<float>({4}, static_cast<float>(rank + 1));
  dist::all_reduce(averaged, dist::ReduceOp::avg);
  for (float v : averaged.to_vector()) CHECK(v == Approx(rank_sum / world));
  auto largest = nb::full<double>({1}, static_cast<double>(rank));
  dist::all_reduce(largest, dist::ReduceOp::max);
  CHECK(largest.item() == world - 1);
  CHECK(dist::all_reduce(1.0) == world);

  auto mine = nb::full<double>({2}, static_cast<double>(rank));
  auto gathered = dist::all_gather(mine);
  REQUIRE(gathered.shape() == nb::Shape{world, 2});
  for (int r = 0; r < world; ++r) CHECK(gathered.at({r, 1}) == r);

  // Unequal shapes: every rank learns it from the size exchange, none hangs.
  auto uneven = nb::zeros<double>({rank + 1});
  if (world > 1) CHECK_THROWS_AS(dist::all_gather(uneven), nb::ShapeError);
  // A strided view cannot be reduced in place.
  auto wide = nb::zeros<double>({3, 4});
  auto column = wide.narrow(1, 0, 1);
  CHECK_THROWS_AS(dist::all_reduce(column), nb::ValueError);
}

TEST_CASE("DDP: SGD and Adam after 1 and 5 steps equal one process on the full batch", "[distributed]") {
  const std::int64_t batch = 12;  // divisible by 2, 3 and 4: every rank the same share
  for (int steps : {1, 5}) {
    for (const auto& [name, factory] : {std::pair{"SGD", sgd()}, std::pair{"Adam", adam()}}) {
      INFO(name << " after " << steps << " steps, world size " << dist::world_size());
      auto [ddp, reference] = train_both(factory, steps, batch);
      CHECK(max_difference(ddp, reference) <= 1e-6);
      if (dist::rank() == 0 && steps == 5)
        WARN(name << ", 5 steps, " << dist::world_size()
                  << " ranks: largest difference from one process = " << max_difference(ddp, reference));
      CHECK(spread_across_ranks(ddp) == 0.0);
    }
  }
}

TEST_CASE("DDP: bucket caps 0, tiny and huge give the same parameters", "[distributed]") {
  std::vector<std::vector<double>> results;
  std::vector<std::size_t> bucket_counts;
  for (double cap : {0.0, 0.0005, 1000.0}) {
    auto probe = make_model();
    dist::DistributedDataParallel<double> buckets(probe, {.bucket_mb = cap, .first_bucket_mb = cap});
    bucket_counts.push_back(buckets.buckets().size());
    auto [ddp, reference] = train_both(adam(), 3, 12, {.bucket_mb = cap, .first_bucket_mb = cap});
    CHECK(max_difference(ddp, reference) <= 1e-6);
    results.push_back(ddp);
  }
  CHECK(bucket_counts[0] == 6);  // one bucket per parameter (3 weights, 3 biases)
  CHECK(bucket_counts[1] > 1);
  CHECK(bucket_counts[1] < 6);
  CHECK(bucket_counts[2] == 1);
  // Each element is reduced on its own whatever the bucket boundaries.
  CHECK(max_difference(results[0], results[1]) <= 1e-12);
  CHECK(max_difference(results[0], results[2]) <= 1e-12);
}

TEST_CASE("DDP: buckets hold the parameters in reverse registration order", "[distributed]") {
  auto net = make_model();
  dist::DistributedDataParallel<double> ddp(net, {.bucket_mb = 0, .first_bucket_mb = 0});
  const auto buckets = ddp.buckets();
  REQUIRE(buckets.size() == 6);
  for (std::size_t b = 0; b < buckets.size(); ++b) CHECK(buckets[b] == std::vector<std::size_t>{5 - b});
  // A 600-byte first bucket (75 doubles) takes bias 2, weight 2 and bias 1 (3 + 24 + 8 = 35 doubles;
  // weight 1 would make it 163); the 1 MiB cap then takes the rest.
  dist::DistributedDataParallel<double> capped(net, {.bucket_mb = 1.0, .first_bucket_mb = 600.0 / (1 << 20)});
  const auto two = capped.buckets();
  REQUIRE(two.size() == 2);
  CHECK(two[0] == std::vector<std::size_t>{5, 4, 3});
  CHECK(two[1] == std::vector<std::size_t>{2, 1, 0});
  CHECK(ddp.bytes_per_step() == sizeof(double) * static_cast<std::size_t>(net.parameter_count()));
}

TEST_CASE("DDP: no_sync accumulation equals one big batch", "[distributed]") {
  const int world = dist::world_size();
  const int micro = 3;
  const std::int64_t per_micro = 2;  // samples per rank per micro-batch
  auto reference = make_model();
  auto replica = make_model();
  dist::DistributedDataParallel<double> ddp(replica);
  nb::optim::SGD<double> reference_optimizer(reference.parameters(), {.lr = 0.1});
  nb::optim::SGD<double> replica_optimizer(replica.parameters(), {.lr = 0.1});
  // The big batch: micro-batch k of rank r is rows [(k * world + r) * per_micro, +per_micro).
  const Batch batch = full_batch(micro * world * per_micro, 7);
  nb::loss::mse(reference(batch.x), batch.y).backward();
  reference_optimizer.step();

  replica_optimizer.zero_grad();
  for (int k = 0; k < micro; ++k) {
    const std::int64_t begin = (k * world + dist::rank()) * per_micro;
    auto x = batch.x.narrow(0, begin, per_micro).contiguous();
    auto y = batch.y.narrow(0, begin, per_micro).contiguous();
    auto loss = nb::loss::mse(ddp(x), y) / static_cast<double>(micro);
    if (k + 1 < micro) {
      auto guard = ddp.no_sync();
      loss.backward();
      CHECK(ddp.synchronized_steps() == 0);
    } else {
      loss.backward();
    }
  }
  CHECK(ddp.synchronized_steps() == 1);
  replica_optimizer.step();
  const auto got = flat_parameters(replica.parameters());
  CHECK(max_difference(got, flat_parameters(reference.parameters())) <= 1e-6);
  CHECK(spread_across_ranks(got) == 0.0);
}

TEST_CASE("DDP: an uneven last batch is weighted by sample count", "[distributed]") {
  // 7 samples: 4 + 3 on two ranks, 3 + 2 + 2 on three, 2 + 2 + 2 + 1 on four.
  for (const auto& [name, factory] : {std::pair{"SGD", sgd()}, std::pair{"Adam", adam()}}) {
    INFO(name);
    auto [ddp, reference] = train_both(factory, 2, 7, {}, /*weight_by_samples=*/true);
    CHECK(max_difference(ddp, reference) <= 1e-6);
    CHECK(spread_across_ranks(ddp) == 0.0);
  }
  if (dist::world_size() > 1) {
    // Without the weighting the ranks' means count equally: a different (wrong) gradient.
    auto [plain, reference] = train_both(sgd(), 1, 7);
    CHECK(max_difference(plain, reference) > 1e-6);
  }
}

TEST_CASE("DDP: all-reduces are issued while backward is still running", "[distributed]") {
  // Wide layers, one bucket per parameter: each bucket's all-reduce is issued from the hook of
  // its last gradient, before the earlier layers' gradients exist.
  nb::nn::Sequential<float> net;
  for (int layer = 0; layer < 6; ++layer)
    net.add<nb::nn::Dense>(256, 256, nb::nn::DenseOptions{.seed = static_cast<std::uint64_t>(layer + 1)})
        .add<nb::nn::Tanh>();
  dist::DistributedDataParallel<float> ddp(net, {.bucket_mb = 0.2, .first_bucket_mb = 0.2});
  const std::size_t buckets = ddp.buckets().size();
  REQUIRE(buckets >= 6);
  auto x = nb::randn<float>({128, 256}, 3);
  auto loss = nb::mean(nb::square(ddp(x)));
  loss.backward();
  const double backward_returned = ddp.now();
  const auto& timeline = ddp.timeline();
  REQUIRE(timeline.bucket_launch.size() == buckets);
  std::size_t before_last_gradient = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    CHECK(timeline.bucket_launch[b] > 0);
    if (b > 0) CHECK(timeline.bucket_launch[b] >= timeline.bucket_launch[b - 1]);
    if (timeline.bucket_launch[b] < timeline.last_gradient) ++before_last_gradient;
  }
  // All buckets but the one holding the first layer's weight start before backward has finished.
  CHECK(before_last_gradient >= buckets - 1);
  CHECK(timeline.bucket_launch[0] < timeline.last_gradient);
  CHECK(timeline.last_gradient <= timeline.finished);
  CHECK(timeline.finished <= backward_returned);
  // The first bucket (the last layer's bias) goes out at the start of backward, not at its end:
  // before half of the time from the first gradient to the last one (5 more layers' GEMMs).
  CHECK(timeline.bucket_launch[0] - timeline.first_gradient < 0.5 * (timeline.last_gradient - timeline.first_gradient));
  if (dist::rank() == 0)
    WARN("overlap: bucket 0 issued " << 1e3 * (timeline.last_gradient - timeline.bucket_launch[0])
                                     << " ms before the last gradient; " << before_last_gradient << " of " << buckets
                                     << " buckets issued before backward finished");
}

TEST_CASE("DDP: a parameter that gets no gradient counts as zeros after finish()", "[distributed]") {
  auto net = make_model();
  dist::DistributedDataParallel<double> ddp(net);
  auto parameters = net.parameters();
  // Only the last layer takes part: the first Dense's parameters are never reached.
  auto hidden = nb::randn<double>({4, 8}, 5);
  auto last = parameters[4];
  nb::sum(nb::matmul(hidden, last.t())).backward();
  CHECK(ddp.synchronized_steps() == 0);  // waiting for the unused parameters
  // A second gradient for the same parameter within one step is an error, not a silent double count.
  CHECK_THROWS_AS(nb::sum(nb::matmul(hidden, last.t())).backward(), nb::ValueError);
  ddp.finish();
  CHECK(ddp.synchronized_steps() == 1);
  REQUIRE(parameters[0].grad().defined());
  for (double g : parameters[0].grad().to_vector()) CHECK(g == 0.0);
  CHECK(spread_across_ranks(last.grad().to_vector()) == 0.0);
  ddp.finish();  // a no-op outside a step
  CHECK(ddp.synchronized_steps() == 1);
}

TEST_CASE("fit: data-parallel fit equals a 1-process fit; rank 0 writes the checkpoint, every rank reads it",
          "[distributed]") {
  const auto make = [] {
    nb::Model<double> model;
    model.add<nb::nn::Dense>(kInputs, 8, nb::nn::DenseOptions{.seed = 21})
        .add<nb::nn::Tanh>()
        .add<nb::nn::Dense>(8, kOutputs, nb::nn::DenseOptions{.seed = 22});
    model.compile(nb::optim::Adam<double>::Options{.lr = 0.01}, nb::loss::MSE{});
    return model;
  };
  // 24 samples, a global batch of 12: every global batch is the 1-process batch of the same
  // shuffled positions (the sampler deals them out rank after rank), for 2, 3 and 4 ranks.
  const Batch data = full_batch(24, 9);
  auto reference = make();
  const auto expected = reference.fit(data.x, data.y, {.epochs = 3, .batch_size = 12, .seed = 4, .verbose = 0});
  auto model = make();
  const std::string path = "distributed_fit_np" + std::to_string(dist::world_size()) + ".nabla";
  const auto history = model.fit(data.x, data.y,
                                 {.epochs = 3,
                                  .batch_size = 12,
                                  .seed = 4,
                                  .callbacks = {nb::train::ModelCheckpoint(path)},
                                  .verbose = 0,
                                  .distributed = nb::train::data_parallel(model)});
  const auto trained = flat_parameters(model.parameters());
  CHECK(max_difference(trained, flat_parameters(reference.parameters())) <= 1e-6);
  CHECK(spread_across_ranks(trained) == 0.0);
  // The epoch losses are reduced over the ranks: the mean over all samples, as in one process.
  REQUIRE(history["loss"].size() == 3);
  for (std::size_t epoch = 0; epoch < 3; ++epoch)
    CHECK(history["loss"][epoch] == Approx(expected["loss"][epoch]).epsilon(1e-9));
  // The checkpoint came from rank 0 (the others waited for it at the barrier) and loads everywhere.
  auto loaded = make();
  loaded.load(path);
  CHECK(max_difference(flat_parameters(loaded.parameters()), trained) == 0.0);
  CHECK(loaded.completed_epochs() == 3);
  dist::barrier();
  if (dist::rank() == 0) std::remove(path.c_str());
}

TEST_CASE("evaluate and fit's validation: every rank reports the whole set's figures, as one process does",
          "[distributed]") {
  const auto make = [] {
    nb::Model<double> model;
    model.add<nb::nn::Dense>(kInputs, 6, nb::nn::DenseOptions{.seed = 31})
        .add<nb::nn::Tanh>()
        .add<nb::nn::Dense>(6, 1, nb::nn::DenseOptions{.seed = 32})
        .add<nb::nn::Sigmoid>();
    model.compile(nb::optim::Adam<double>::Options{.lr = 0.05}, nb::loss::BinaryCrossEntropy{},
                  {nb::metrics::Accuracy{}, nb::metrics::Precision{}, nb::metrics::Recall{}, nb::metrics::MAE{}});
    return model;
  };
  // 23 samples: shards of unequal length on 2, 3 and 4 ranks (12/11, 8/8/7, 6/6/6/5). Precision
  // and recall are ratios of counts: a mean of the ranks' ratios would not give the whole set's.
  const auto labels = [](const nb::Tensor<double>& scores) {
    std::vector<double> values = scores.to_vector();
    for (double& v : values) v = v > 0.3 ? 1.0 : 0.0;
    return nb::from_vector<double>(values, {scores.size(0), 1});
  };
  const nb::Tensor<double> x = nb::randn<double>({23, kInputs}, 41);
  const nb::Tensor<double> y = labels(nb::randn<double>({23, 1}, 42));
  const nb::Tensor<double> x_validation = nb::randn<double>({19, kInputs}, 43);
  const nb::Tensor<double> y_validation = labels(nb::randn<double>({19, 1}, 44));
  auto reference = make();
  const auto expected = reference.evaluate(x, y, 4);
  auto model = make();
  const auto figures = model.evaluate(x, y, 4, nb::train::data_parallel(model));
  REQUIRE(figures.size() == expected.size());
  std::vector<double> mine;
  for (const auto& [name, value] : expected) {
    INFO(name << ", world size " << dist::world_size());
    REQUIRE(figures.count(name) == 1);
    CHECK(figures.at(name) == Approx(value).epsilon(1e-12));
    mine.push_back(figures.at(name));
  }
  CHECK(spread_across_ranks(mine) == 0.0);

  // fit's validation pass: the same reduction, once per epoch. 24 training samples in global
  // batches of 12 train as one process does on 2, 3 and 4 ranks (see the fit test above); the
  // 19 validation samples split unevenly (10/9, 7/6/6, 5/5/5/4).
  const nb::Tensor<double> x_train = nb::randn<double>({24, kInputs}, 45);
  const nb::Tensor<double> y_train = labels(nb::randn<double>({24, 1}, 46));
  auto trained_alone = make();
  const auto history_alone = trained_alone.fit(
      x_train, y_train,
      {.epochs = 2, .batch_size = 12, .validation_data = {x_validation, y_validation}, .seed = 5, .verbose = 0});
  auto trained = make();
  const auto history = trained.fit(x_train, y_train,
                                   {.epochs = 2,
                                    .batch_size = 12,
                                    .validation_data = {x_validation, y_validation},
                                    .seed = 5,
                                    .verbose = 0,
                                    .distributed = nb::train::data_parallel(trained)});
  std::vector<double> validation;
  for (const std::string name : {"val_loss", "val_accuracy", "val_precision", "val_recall", "val_mae"}) {
    INFO(name << ", world size " << dist::world_size());
    REQUIRE(history[name].size() == 2);
    for (std::size_t epoch = 0; epoch < 2; ++epoch) {
      CHECK(history[name][epoch] == Approx(history_alone[name][epoch]).epsilon(1e-9));
      validation.push_back(history[name][epoch]);
    }
  }
  CHECK(spread_across_ranks(validation) == 0.0);
}

TEST_CASE("CUDA tensors: collectives and DDP on the GPU (NCCL at world size 1, MPI-staged above)",
          "[distributed][cuda]") {
  // The same code on the GPU when this build has CUDA and the machine a device; skipped otherwise
  // (on every rank alike). ctest runs np1 with NCCL and np2-4 with NABLA_NCCL=0: NCCL refuses two
  // ranks on one GPU, so several ranks on one GPU take the MPI path with host staging.
  const nb::Device gpu = nb::Device::cuda();
  try {
    (void)nb::zeros<float>({1}, gpu);
  } catch (const nb::DeviceError& error) {
    WARN("skipped: " << error.what());
    return;
  }
  const int rank = dist::rank(), world = dist::world_size();
  auto summed = nb::full<double>({5}, static_cast<double>(rank + 1)).to(gpu);
  dist::all_reduce(summed);
  for (double v : summed.to_host_vector()) CHECK(v == world * (world + 1) / 2.0);
  auto largest = nb::full<float>({3}, static_cast<float>(rank)).to(gpu);
  dist::all_reduce(largest, dist::ReduceOp::max);
  for (float v : largest.to_host_vector()) CHECK(v == static_cast<float>(world - 1));
  auto value = nb::full<double>({2}, static_cast<double>(rank + 7)).to(gpu);
  dist::broadcast(value, 0);
  for (double v : value.to_host_vector()) CHECK(v == 7.0);
  auto gathered = dist::all_gather(nb::full<double>({2}, static_cast<double>(rank)).to(gpu));
  REQUIRE(gathered.device() == gpu);
  const auto all = gathered.to_host_vector();
  for (int r = 0; r < world; ++r) CHECK(all[static_cast<std::size_t>(2 * r)] == r);

  // DDP on the GPU against one process on the CPU, full batch, 3 Adam steps.
  auto reference = make_model();
  auto replica = make_model();
  replica.to(gpu);
  dist::DistributedDataParallel<double> ddp(replica);
  nb::optim::Adam<double> reference_optimizer(reference.parameters(), {.lr = 0.01});
  nb::optim::Adam<double> replica_optimizer(replica.parameters(), {.lr = 0.01});
  for (int step = 0; step < 3; ++step) {
    const Batch batch = full_batch(12, 300 + static_cast<std::uint64_t>(step));
    reference_optimizer.zero_grad();
    nb::loss::mse(reference(batch.x), batch.y).backward();
    reference_optimizer.step();
    const Batch local = shard(batch, rank, world);
    replica_optimizer.zero_grad();
    nb::loss::mse(ddp(local.x.to(gpu)), local.y.to(gpu)).backward();
    replica_optimizer.step();
  }
  std::vector<double> got;
  for (const auto& parameter : replica.parameters())
    for (double v : parameter.to_host_vector()) got.push_back(v);
  CHECK(max_difference(got, flat_parameters(reference.parameters())) <= 1e-6);
  CHECK(spread_across_ranks(got) == 0.0);
}

TEST_CASE("DDP: bad options are rejected", "[distributed]") {
  auto net = make_model();
  CHECK_THROWS_AS(dist::DistributedDataParallel<double>(net, {.bucket_mb = -1}), nb::ValueError);
  dist::DistributedDataParallel<double> ddp(net);
  CHECK_THROWS_AS(ddp.set_local_batch_size(-3), nb::ValueError);
}

int main(int argc, char* argv[]) {
  dist::init({.timeout_seconds = 60});
  return Catch::Session().run(argc, argv);
}
