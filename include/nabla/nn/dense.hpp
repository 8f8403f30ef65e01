// nabla/nn/dense.hpp - the fully connected layer y = x W^T + b (Keras Dense, torch.nn.Linear).
//
// The weight has PyTorch's layout [out_features, in_features], so a state dict of a
// torch.nn.Linear loads 1:1. Forward multiplies by the transposed VIEW of the weight
// (W.t() swaps two strides; the GEMM reads it as a column-major matrix), so no copy is made.
//
// An input of any rank >= 1 is accepted as [..., in_features]: the leading dims are folded
// into one batch dimension, so a [batch, steps, in] sequence costs one GEMM, not one per
// step, and the weight gradient is one GEMM as well.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "nabla/core/philox.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

namespace functional {

/// y = x W^T + b for x of shape [..., in], W of shape [out, in] and b of shape [out] (or an
/// undefined tensor for no bias). Returns [..., out]. `layer` names the caller in errors.
template <FloatingElement T>
Tensor<T> linear(const Tensor<T>& input, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                 const std::string& layer = "linear") {
  nabla::detail::check_same_device(layer, input, weight);
  if (weight.dim() != 2)
    throw ShapeError(layer + ": weight must be 2-D [out_features, in_features], got " + to_string(weight.shape()));
  const std::int64_t in_features = weight.size(1), out_features = weight.size(0);
  if (input.dim() < 1 || input.size(-1) != in_features)
    throw ShapeError(layer + ": expected input [..., " + std::to_string(in_features) + "], got " +
                     to_string(input.shape()));
  if (bias.defined() && bias.shape() != Shape{out_features})
    throw ShapeError(layer + ": bias must have shape [" + std::to_string(out_features) + "], got " +
                     to_string(bias.shape()));

  // [..., in] -> [rows, in]: a view for a contiguous input (reshape copies only when it must).
  const Tensor<T> rows = input.dim() == 2 ? input : input.reshape({-1, in_features});
  // x W^T (+ b in the same pass, see addmm): weight.t() is a strided view, handed to the GEMM
  // as a transposed operand.
  const Tensor<T> output = bias.defined() ? addmm(bias, rows, weight.t()) : matmul(rows, weight.t());
  if (input.dim() == 2) return output;
  Shape output_shape = input.shape();
  output_shape.back() = out_features;
  return output.reshape(output_shape);
}

}  // namespace functional

struct DenseOptions {
  bool bias = true;                        // add a learned bias b (PyTorch bias=True, Keras use_bias)
  Init init = Init::pytorch_default;       // how W (and b) start; see nn/init.hpp
  std::optional<std::uint64_t> seed = {};  // draw from a fresh generator; else nabla::default_generator()
};

/// y = x W^T + b, with W [out_features, in_features] and b [out_features].
template <FloatingElement T>
class Dense : public Module<T> {
 public:
  Dense(std::int64_t in_features, std::int64_t out_features, DenseOptions options = {})
      : in_features_(in_features), out_features_(out_features), options_(options) {
    if (in_features <= 0 || out_features <= 0)
      throw ValueError("Dense: in_features and out_features must be positive, got " + std::to_string(in_features) +
                       " and " + std::to_string(out_features));
    Generator seeded(options.seed.value_or(0));
    Generator& generator = options.seed ? seeded : default_generator();
    // The weight is drawn before the bias, as torch.nn.Linear does.
    weight_ = this->register_parameter("weight", init::weight<T>(options.init, {out_features, in_features}, generator));
    if (options.bias)
      bias_ = this->register_parameter("bias", init::bias<T>(options.init, {out_features}, in_features, generator));
  }

  Tensor<T> forward(const Tensor<T>& input) override {
    return functional::linear(input, weight_, bias_, "Dense(" + describe() + ")");
  }

  std::string type_name() const override { return "Dense"; }
  std::string describe() const override {
    return std::to_string(in_features_) + " -> " + std::to_string(out_features_) + (options_.bias ? "" : ", no bias");
  }

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  /// The weight [out_features, in_features] (a handle: writing to it changes the layer).
  const Tensor<T>& weight() const { return weight_; }
  /// The bias [out_features]; an undefined tensor when the layer has none.
  const Tensor<T>& bias() const { return bias_; }

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
  DenseOptions options_;
  Tensor<T> weight_;
  Tensor<T> bias_;
};

}  // namespace nabla::nn
