// nabla/nn/dropout.hpp - inverted dropout (torch.nn.Dropout, Keras Dropout).
//
// In training, each element is kept with probability 1 - p and zeroed otherwise; kept
// elements are scaled by 1 / (1 - p):
//   y_i = x_i * m_i / (1 - p),   m_i = 1 if u_i >= p else 0,   u_i ~ U[0, 1)
// so E[y_i] = x_i and evaluation needs no rescaling ("inverted" dropout): in eval mode the
// layer is the identity. The uniforms u_i come from nabla's Philox stream, so a seed gives
// the same mask on every run and on every device.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/dropout.hpp"
#include "nabla/backend/functors.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/checks.hpp"

namespace nabla::nn {

namespace detail {
inline void check_dropout_probability(const std::string& layer, double p) {
  if (!(p >= 0.0 && p < 1.0)) {  // also rejects NaN
    std::ostringstream text;
    text << layer << ": dropout probability p must be in [0, 1), got " << p;
    throw ValueError(text.str());
  }
}
}  // namespace detail

namespace functional {

/// Inverted dropout: with training = false (or p = 0) returns `input` itself; otherwise
/// zeroes each element with probability p and scales the rest by 1 / (1 - p), drawing
/// the mask from `generator` (which advances by input.numel()).
template <FloatingElement T>
Tensor<T> dropout(const Tensor<T>& input, double p, bool training = true, Generator& generator = default_generator()) {
  const std::string op = "dropout";
  detail::check_dropout_probability(op, p);
  nabla::detail::check_defined(op, input);
  if (!training || p == 0.0) return input;

  // The mask already holds the scale: 0 for dropped elements, 1 / (1 - p) for kept ones.
  // Element i comes from the Philox stream at (seed, offset + i) on either device, so a seed
  // gives the same mask on the CPU and a GPU.
  const Device device = input.device();
  Tensor<T> scaled_mask = backend::empty<T>(input.shape(), device);
  const auto keep_threshold = static_cast<T>(p);
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const std::uint64_t seed = generator.seed();
  const std::uint64_t offset = generator.advance(static_cast<std::uint64_t>(input.numel()));
  backend::dropout_mask(scaled_mask, seed, offset, keep_threshold, scale);

  Tensor<T> out = backend::empty<T>(input.shape(), device);
  backend::map(out, backend::Multiply{}, input, scaled_mask);
  // dy/dx = m / (1 - p): the same scaled mask (the mask is a constant, not an input)
  record_op<T>(out, op, {input}, [scaled_mask](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
    Tensor<T> grad_input = backend::empty<T>(grad.shape(), grad.device());
    backend::map(grad_input, backend::Multiply{}, grad, scaled_mask);
    return std::vector<Tensor<T>>{grad_input};
  });
  return out;
}

}  // namespace functional

struct DropoutOptions {
  std::optional<std::uint64_t> seed = {};  // own generator with this seed; else nabla::default_generator()
};

/// Zeroes a fraction p of its input in training mode (scaling the rest by 1 / (1 - p));
/// the identity in eval mode.
template <FloatingElement T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5, DropoutOptions options = {}) : p_(p) {
    detail::check_dropout_probability("Dropout", p);
    if (options.seed) generator_.emplace(*options.seed);
  }

  Tensor<T> forward(const Tensor<T>& input) override {
    // A seeded layer continues its own stream: each call draws a new mask, the same
    // sequence of masks on every run.
    Generator& generator = generator_ ? *generator_ : default_generator();
    return functional::dropout(input, p_, this->is_training(), generator);
  }

  std::string type_name() const override { return "Dropout"; }
  std::string describe() const override {
    std::ostringstream text;
    text << "p=" << p_;
    return text.str();
  }

  double p() const { return p_; }

  /// The seed of the layer's own generator (DropoutOptions::seed), if it has one.
  std::optional<std::uint64_t> seed() const { return generator_ ? std::optional(generator_->seed()) : std::nullopt; }

  /// The layer's own generator (built with a seed), saved in checkpoints; null otherwise.
  Generator* own_generator() override { return generator_ ? &*generator_ : nullptr; }

 private:
  double p_;
  std::optional<Generator> generator_;
};

}  // namespace nabla::nn
