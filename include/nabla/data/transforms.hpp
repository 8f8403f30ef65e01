// nabla/data/transforms.hpp - seeded data augmentation: per-sample transforms, composed, whose
// random numbers depend only on (seed, epoch, sample index), never on which thread runs them.
//
//   auto augmented = nb::data::Augmented(nb::data::TokenFileDataset("train.tokens", {.context = 128}),
//                                        nb::data::Compose{nb::data::TokenDropout{.probability = 0.1},
//                                                          nb::data::RandomCrop{.length = 96}},
//                                        /*seed=*/7);
//   nb::data::DataLoader loader(augmented, {.batch_size = 32, .shuffle = true, .seed = 1, .num_workers = 2});
//
// The loader passes the epoch to Augmented::get(index, epoch), so epoch e augments sample i
// the same way in every run and with any number of workers, and differently in each epoch.
//
// How a transform's generator is derived (SampleRandom): transform number `slot` of a Compose
// (0, 1, ...) for sample `index` in epoch `epoch` of an Augmented seeded `seed` draws its n-th
// block of four 32-bit words as
//   key     = the first two words of philox4x32_10({slot, 0x5EED, 0, 0}, lo32(seed), hi32(seed))
//   counter = {n, lo32(epoch), lo32(index), hi32(index)}
//   words   = philox4x32_10(counter, key)
// No generator is shared or advanced between samples: nothing to lock, nothing to race on.
//
// Text transforms act on token samples Example<IndexTensor, IndexTensor> (inputs and targets
// of one window, [T] each): TokenDropout, RandomCrop, SpanMasking. Numeric ones act on
// Example<Tensor<T>, Tensor<U>>: GaussianNoise. Mixup mixes pairs of samples, so it works on a
// whole batch: loader.set_batch_transform(nb::data::Mixup{.alpha = 0.2}), its draws derived
// the same way from (loader seed, epoch, batch index).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/data/dataloader.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/ops/factories.hpp"

namespace nabla::data {

/// The random numbers of one transform for one sample in one epoch (see the top of the file).
class SampleRandom {
 public:
  SampleRandom(std::uint64_t seed, std::uint32_t slot, std::uint64_t epoch, std::uint64_t index)
      : epoch_(static_cast<std::uint32_t>(epoch)), index_(index) {
    const PhiloxWords key = philox4x32_10({slot, 0x5EEDu, 0u, 0u}, static_cast<std::uint32_t>(seed),
                                          static_cast<std::uint32_t>(seed >> 32));
    key0_ = key[0];
    key1_ = key[1];
  }

  /// The next four random words.
  PhiloxWords words() {
    return philox4x32_10(
        {draw_++, epoch_, static_cast<std::uint32_t>(index_), static_cast<std::uint32_t>(index_ >> 32)}, key0_, key1_);
  }
  /// Uniform in [0, 1) (53 random bits).
  double uniform() {
    const PhiloxWords w = words();
    return uniform_from_words<double>(w[0], w[1]);
  }
  /// Uniform integer in [0, bound) (bound >= 1; the modulo bias is below 2^-32).
  std::int64_t integer(std::int64_t bound) {
    const PhiloxWords w = words();
    const std::uint64_t draw = (static_cast<std::uint64_t>(w[0]) << 32) | w[1];
    return static_cast<std::int64_t>(draw % static_cast<std::uint64_t>(std::max<std::int64_t>(bound, 1)));
  }
  /// Standard normal (Box-Muller).
  double normal() {
    const PhiloxWords w = words();
    const double u1 = 1.0 - uniform_from_words<double>(w[0], w[1]);
    const double u2 = uniform_from_words<double>(w[2], w[3]);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }
  /// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape > 0.
  double gamma(double shape) {
    if (shape < 1) return gamma(shape + 1) * std::pow(uniform_open(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x = 0, v = 0;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform_open();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  /// Beta(a, b) as a ratio of gammas.
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }

 private:
  double uniform_open() { return 1.0 - uniform(); }  // (0, 1]

  std::uint32_t key0_ = 0, key1_ = 0;
  std::uint32_t draw_ = 0;
  std::uint32_t epoch_;
  std::uint64_t index_;
};

/// Transforms applied in order, transform k with its own generator (slot k):
/// `nb::data::Compose{TokenDropout{...}, RandomCrop{...}}`.
template <typename... Transforms>
class Compose {
 public:
  explicit Compose(Transforms... transforms) : transforms_(std::move(transforms)...) {}

  template <typename Sample>
  Sample operator()(Sample sample, std::uint64_t seed, std::uint64_t epoch, std::int64_t index) const {
    apply(sample, seed, epoch, index, std::index_sequence_for<Transforms...>{});
    return sample;
  }

 private:
  template <typename Sample, std::size_t... Slots>
  void apply(Sample& sample, std::uint64_t seed, std::uint64_t epoch, std::int64_t index,
             std::index_sequence<Slots...>) const {
    ((sample = apply_one(std::get<Slots>(transforms_), std::move(sample), seed, static_cast<std::uint32_t>(Slots),
                         epoch, index)),
     ...);
  }
  template <typename Transform, typename Sample>
  static Sample apply_one(const Transform& transform, Sample sample, std::uint64_t seed, std::uint32_t slot,
                          std::uint64_t epoch, std::int64_t index) {
    SampleRandom random(seed, slot, epoch, static_cast<std::uint64_t>(index));
    return transform(std::move(sample), random);
  }

  std::tuple<Transforms...> transforms_;
};
template <typename... Transforms>
Compose(Transforms...) -> Compose<Transforms...>;

/// A dataset whose samples pass through `transform` (a Compose): get(index, epoch) is
/// transform(base.get(index)) with the generators of (seed, epoch, index). get(index) is epoch 0.
template <Dataset Base, typename Transform>
class Augmented {
 public:
  using Sample = SampleOf<Base>;

  Augmented(Base base, Transform transform, std::uint64_t seed)
      : base_(std::move(base)), transform_(std::move(transform)), seed_(seed) {}

  std::int64_t size() const { return static_cast<std::int64_t>(base_.size()); }
  Sample get(std::int64_t index) const { return get(index, 0); }
  Sample get(std::int64_t index, std::uint64_t epoch) const {
    return transform_(base_.get(index), seed_, epoch, index);
  }

  const Base& base() const { return base_; }
  std::uint64_t seed() const { return seed_; }

 private:
  Base base_;
  Transform transform_;
  std::uint64_t seed_;
};

namespace detail {
inline void check_probability(const char* op, const char* name, double value) {
  if (!(value >= 0.0 && value <= 1.0))
    throw ValueError(std::string(op) + ": " + name + " must be in [0, 1], got " + std::to_string(value));
}
inline void check_token_sample(const char* op, const IndexTensor& inputs, const IndexTensor& targets) {
  if (inputs.dim() != 1 || targets.dim() != 1 || inputs.size(0) != targets.size(0))
    throw ShapeError(std::string(op) + ": expects inputs and targets of one window, [T] each, got " +
                     to_string(inputs.shape()) + " and " + to_string(targets.shape()));
}
/// A contiguous copy of a CPU index tensor (transforms never write into the dataset's memory).
inline IndexTensor owned_copy(const IndexTensor& tensor) { return tensor.contiguous().clone(); }
}  // namespace detail

using TokenSample = Example<IndexTensor, IndexTensor>;

/// Replaces each input token, with probability `probability`, by `replacement` (the <unk> id),
/// or, with vocabulary_size > 0, by a uniformly random id in [0, vocabulary_size). Targets stay.
struct TokenDropout {
  double probability = 0.1;
  std::int64_t replacement = 0;
  std::int64_t vocabulary_size = 0;

  TokenSample operator()(TokenSample sample, SampleRandom& random) const {
    detail::check_probability("TokenDropout", "probability", probability);
    detail::check_token_sample("TokenDropout", sample.input, sample.target);
    IndexTensor inputs = detail::owned_copy(sample.input);
    std::int64_t* ids = inputs.data();
    for (std::int64_t t = 0; t < inputs.numel(); ++t) {
      const PhiloxWords w = random.words();
      if (uniform_from_words<double>(w[0], w[1]) >= probability) continue;
      ids[t] = vocabulary_size > 0 ? static_cast<std::int64_t>(((static_cast<std::uint64_t>(w[2]) << 32) | w[3]) %
                                                               static_cast<std::uint64_t>(vocabulary_size))
                                   : replacement;
    }
    return {inputs, sample.target};
  }
};

/// Keeps a random stretch of `length` steps of the window (the same for inputs and targets).
struct RandomCrop {
  std::int64_t length = 1;

  TokenSample operator()(TokenSample sample, SampleRandom& random) const {
    detail::check_token_sample("RandomCrop", sample.input, sample.target);
    const std::int64_t steps = sample.input.size(0);
    if (length < 1 || length > steps)
      throw ValueError("RandomCrop: length " + std::to_string(length) + " must be in [1, " + std::to_string(steps) +
                       "] for windows of " + std::to_string(steps) + " steps");
    const std::int64_t start = random.integer(steps - length + 1);
    return {sample.input.narrow(0, start, length).contiguous(), sample.target.narrow(0, start, length).contiguous()};
  }
};

/// BERT's masked-language-model input, masking whole spans as SpanBERT does (Joshi et al. 2020):
/// spans of Geometric(span_p) length (at most max_span) are chosen until `fraction` of the
/// tokens are; of the chosen tokens 80% become `mask_id`, 10% a random id in
/// [0, vocabulary_size) and 10% stay. The targets become the original token at each chosen
/// position and `ignore_index` elsewhere (cross_entropy's ignore_index skips those).
struct SpanMasking {
  double fraction = 0.15;
  std::int64_t mask_id = 0;
  std::int64_t vocabulary_size = 0;
  double span_p = 0.2;
  std::int64_t max_span = 10;
  std::int64_t ignore_index = -100;

  TokenSample operator()(TokenSample sample, SampleRandom& random) const {
    detail::check_probability("SpanMasking", "fraction", fraction);
    if (!(span_p > 0.0 && span_p <= 1.0))
      throw ValueError("SpanMasking: span_p must be in (0, 1], got " + std::to_string(span_p));
    if (vocabulary_size < 1 || max_span < 1)
      throw ValueError("SpanMasking: vocabulary_size and max_span must be >= 1, got " +
                       std::to_string(vocabulary_size) + " and " + std::to_string(max_span));
    detail::check_token_sample("SpanMasking", sample.input, sample.target);
    IndexTensor inputs = detail::owned_copy(sample.input);
    const std::int64_t steps = inputs.numel();
    IndexTensor targets = full<std::int64_t>({steps}, ignore_index);
    std::int64_t* in = inputs.data();
    std::int64_t* out = targets.data();
    const auto budget = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(steps)));
    std::vector<bool> chosen(static_cast<std::size_t>(steps), false);
    std::int64_t count = 0;
    // Bounded attempts: a window where the budget cannot be met (all chosen) still ends.
    for (std::int64_t attempt = 0; count < budget && attempt < 4 * steps + 16; ++attempt) {
      std::int64_t span = 1;
      while (span < max_span && random.uniform() >= span_p) ++span;
      span = std::min(span, budget - count);
      const std::int64_t start = random.integer(steps - span + 1);
      for (std::int64_t t = start; t < start + span; ++t) {
        if (chosen[static_cast<std::size_t>(t)]) continue;
        chosen[static_cast<std::size_t>(t)] = true;
        ++count;
      }
    }
    for (std::int64_t t = 0; t < steps; ++t) {
      if (!chosen[static_cast<std::size_t>(t)]) continue;
      out[t] = in[t];
      const double u = random.uniform();
      if (u < 0.8)
        in[t] = mask_id;
      else if (u < 0.9)
        in[t] = random.integer(vocabulary_size);
    }
    return {inputs, targets};
  }
};

/// Adds N(0, stddev^2) noise to every input feature (targets stay).
struct GaussianNoise {
  double stddev = 0.1;

  template <FloatingElement T, TensorElement U>
  Example<Tensor<T>, Tensor<U>> operator()(Example<Tensor<T>, Tensor<U>> sample, SampleRandom& random) const {
    if (!(stddev >= 0)) throw ValueError("GaussianNoise: stddev must be >= 0, got " + std::to_string(stddev));
    Tensor<T> inputs = sample.input.contiguous().clone();
    T* values = inputs.data();
    for (std::int64_t i = 0; i < inputs.numel(); ++i) values[i] += static_cast<T>(stddev * random.normal());
    return {inputs, sample.target};
  }
};

/// mixup (Zhang et al. 2018) on a batch: lambda ~ Beta(alpha, alpha), a random pairing `perm`
/// of the batch's rows, inputs = lambda * x + (1 - lambda) * x[perm] and the same for the
/// targets (regression values, or one-hot / soft labels for classification). The draws come
/// from (loader seed, epoch, batch index): a SampleRandom with slot 0xB1 and index = batch.
struct Mixup {
  double alpha = 0.2;

  template <FloatingElement T, FloatingElement U>
  Batch<Tensor<T>, Tensor<U>> operator()(Batch<Tensor<T>, Tensor<U>> batch, const BatchContext& context) const {
    if (!(alpha > 0)) throw ValueError("Mixup: alpha must be > 0, got " + std::to_string(alpha));
    const std::int64_t rows = batch.inputs.size(0);
    if (batch.targets.dim() < 1 || batch.targets.size(0) != rows)
      throw ShapeError("Mixup: inputs " + to_string(batch.inputs.shape()) + " and targets " +
                       to_string(batch.targets.shape()) + " must have the same first dimension");
    SampleRandom random(context.seed, 0xB1u, context.epoch, static_cast<std::uint64_t>(context.batch));
    const double lambda = random.beta(alpha, alpha);
    std::vector<std::int64_t> pairing(static_cast<std::size_t>(rows));
    for (std::size_t i = 0; i < pairing.size(); ++i) pairing[i] = static_cast<std::int64_t>(i);
    for (std::int64_t i = rows - 1; i > 0; --i)
      std::swap(pairing[static_cast<std::size_t>(i)], pairing[static_cast<std::size_t>(random.integer(i + 1))]);
    return {mix(batch.inputs, pairing, lambda), mix(batch.targets, pairing, lambda)};
  }

  /// The lambda a batch gets (for tests and logging).
  double lambda_for(const BatchContext& context) const {
    SampleRandom random(context.seed, 0xB1u, context.epoch, static_cast<std::uint64_t>(context.batch));
    return random.beta(alpha, alpha);
  }

 private:
  template <FloatingElement T>
  static Tensor<T> mix(const Tensor<T>& values, const std::vector<std::int64_t>& pairing, double lambda) {
    const Tensor<T> x = values.contiguous();
    Tensor<T> mixed = empty<T>(x.shape());
    const std::int64_t rows = x.size(0);
    const std::int64_t width = rows == 0 ? 0 : x.numel() / rows;
    const T* in = x.data();
    T* out = mixed.data();
    const auto a = static_cast<T>(lambda), b = static_cast<T>(1 - lambda);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* other = in + pairing[static_cast<std::size_t>(r)] * width;
      for (std::int64_t j = 0; j < width; ++j) out[r * width + j] = a * in[r * width + j] + b * other[j];
    }
    return mixed;
  }
};

}  // namespace nabla::data
