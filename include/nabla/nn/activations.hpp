// nabla/nn/activations.hpp - activation functions as layers, for Sequential models.
//
// Each module only calls the differentiable op of the same name (ops/unary.hpp,
// ops/softmax.hpp), where the forward and backward formulas live:
//   Sigmoid      1 / (1 + e^-x)                      torch.nn.Sigmoid,    Keras "sigmoid"
//   ReLU         max(x, 0)                           torch.nn.ReLU,       Keras "relu"
//   LeakyReLU    x if x > 0 else slope * x           torch.nn.LeakyReLU,  Keras LeakyReLU
//   Tanh         tanh(x)                             torch.nn.Tanh,       Keras "tanh"
//   GELU         x * Phi(x) (exact, erf form)        torch.nn.GELU(),     Keras "gelu"
//                or its tanh approximation           torch.nn.GELU(approximate='tanh'): GELU({.approximate = "tanh"})
//   Softmax      e^x_k / sum_j e^x_j along dim       torch.nn.Softmax,    Keras Softmax
//   LogSoftmax   x_k - log sum_j e^x_j along dim     torch.nn.LogSoftmax
// The same functions are available without a module as nabla::nn::functional::relu(x) etc.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "nabla/nn/module.hpp"
#include "nabla/ops/softmax.hpp"
#include "nabla/ops/unary.hpp"

namespace nabla::nn {

namespace functional {
// torch.nn.functional's names for the ops, so that F-style code reads the same.
using nabla::gelu;
using nabla::gelu_tanh;
using nabla::leaky_relu;
using nabla::log_softmax;
using nabla::relu;
using nabla::sigmoid;
using nabla::softmax;
using nabla::tanh;
}  // namespace functional

template <FloatingElement T>
class Sigmoid : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override { return nabla::sigmoid(input); }
  std::string type_name() const override { return "Sigmoid"; }
};

template <FloatingElement T>
class ReLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override { return nabla::relu(input); }
  std::string type_name() const override { return "ReLU"; }
};

template <FloatingElement T>
class LeakyReLU : public Module<T> {
 public:
  /// PyTorch's default slope is 0.01 (Keras' LeakyReLU uses 0.3: pass it explicitly).
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope_(negative_slope) {}
  Tensor<T> forward(const Tensor<T>& input) override {
    return nabla::leaky_relu(input, static_cast<T>(negative_slope_));
  }
  std::string type_name() const override { return "LeakyReLU"; }
  std::string describe() const override {
    std::ostringstream text;
    text << "negative_slope=" << negative_slope_;
    return text.str();
  }
  double negative_slope() const { return negative_slope_; }

 private:
  double negative_slope_;
};

template <FloatingElement T>
class Tanh : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override { return nabla::tanh(input); }
  std::string type_name() const override { return "Tanh"; }
};

/// torch.nn.GELU's one option: "none" (the exact x Phi(x)) or "tanh" (nabla::gelu_tanh).
struct GELUOptions {
  std::string approximate = "none";
};

template <FloatingElement T>
class GELU : public Module<T> {
 public:
  explicit GELU(GELUOptions options = {}) : approximate_(options.approximate) {
    if (approximate_ != "none" && approximate_ != "tanh")
      throw ValueError("GELU: approximate must be \"none\" or \"tanh\", got \"" + approximate_ + "\"");
  }
  Tensor<T> forward(const Tensor<T>& input) override {
    return approximate_ == "tanh" ? nabla::gelu_tanh(input) : nabla::gelu(input);
  }
  std::string type_name() const override { return "GELU"; }
  std::string describe() const override { return approximate_ == "tanh" ? "approximate='tanh'" : ""; }
  const std::string& approximate() const { return approximate_; }

 private:
  std::string approximate_;
};

template <FloatingElement T>
class Softmax : public Module<T> {
 public:
  /// Normalizes along `dim` (default: the last, the class dimension of [batch, classes]).
  explicit Softmax(std::int64_t dim = -1) : dim_(dim) {}
  Tensor<T> forward(const Tensor<T>& input) override { return nabla::softmax(input, dim_); }
  std::string type_name() const override { return "Softmax"; }
  std::string describe() const override { return "dim=" + std::to_string(dim_); }
  std::int64_t dim() const { return dim_; }

 private:
  std::int64_t dim_;
};

template <FloatingElement T>
class LogSoftmax : public Module<T> {
 public:
  /// Normalizes along `dim` (default: the last).
  explicit LogSoftmax(std::int64_t dim = -1) : dim_(dim) {}
  Tensor<T> forward(const Tensor<T>& input) override { return nabla::log_softmax(input, dim_); }
  std::string type_name() const override { return "LogSoftmax"; }
  std::string describe() const override { return "dim=" + std::to_string(dim_); }
  std::int64_t dim() const { return dim_; }

 private:
  std::int64_t dim_;
};

}  // namespace nabla::nn
