// nabla/nn/layer_norm.hpp - LayerNorm: torch.nn.LayerNorm(normalized_shape, eps,
// elementwise_affine, bias). The math and its backward are nb::layer_norm (ops/normalization.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "nabla/nn/module.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/normalization.hpp"

namespace nabla::nn {

struct LayerNormOptions {
  double eps = 1e-5;               // added to the variance (PyTorch's default)
  bool elementwise_affine = true;  // learn weight (ones at the start) and bias
  bool bias = true;                // with elementwise_affine: learn the bias too (PyTorch bias=)
};

/// Normalizes each slice over the last dims `normalized_shape` to zero mean and unit variance,
/// then scales by `weight` and shifts by `bias` (each of shape normalized_shape).
template <FloatingElement T>
class LayerNorm : public Module<T> {
 public:
  LayerNorm(Shape normalized_shape, LayerNormOptions options = {})
      : normalized_shape_(std::move(normalized_shape)), options_(options) {
    if (normalized_shape_.empty()) throw ValueError("LayerNorm: normalized_shape must have at least one dim");
    for (const std::int64_t size : normalized_shape_)
      if (size <= 0)
        throw ValueError("LayerNorm: normalized_shape must be positive, got " + to_string(normalized_shape_));
    if (!(options.eps >= 0)) throw ValueError("LayerNorm: eps must be >= 0, got " + std::to_string(options.eps));
    if (options.elementwise_affine) {
      weight_ = this->register_parameter("weight", ones<T>(normalized_shape_));
      if (options.bias) bias_ = this->register_parameter("bias", zeros<T>(normalized_shape_));
    }
  }
  /// LayerNorm over the last dim of size `dim` (the common case: LayerNorm<float>(512)).
  explicit LayerNorm(std::int64_t dim, LayerNormOptions options = {}) : LayerNorm(Shape{dim}, options) {}

  Tensor<T> forward(const Tensor<T>& input) override {
    return layer_norm(input, normalized_shape_, weight_, bias_, options_.eps);
  }

  std::string type_name() const override { return "LayerNorm"; }
  std::string describe() const override {
    return to_string(normalized_shape_) + ", eps " + std::to_string(options_.eps) +
           (options_.elementwise_affine ? (options_.bias ? "" : ", no bias") : ", no affine");
  }

  const Shape& normalized_shape() const { return normalized_shape_; }
  /// The scale (ones at the start); undefined without elementwise_affine.
  const Tensor<T>& weight() const { return weight_; }
  /// The shift (zeros at the start); undefined without it.
  const Tensor<T>& bias() const { return bias_; }

 private:
  Shape normalized_shape_;
  LayerNormOptions options_;
  Tensor<T> weight_;
  Tensor<T> bias_;
};

}  // namespace nabla::nn
