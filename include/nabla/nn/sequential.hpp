// nabla/nn/sequential.hpp - a stack of layers applied in order (Keras Sequential, torch.nn.Sequential).
//
// Layers only: the Keras-style training surface (compile, fit, evaluate, predict, save, load)
// is nb::Model<T> (train/model.hpp), a Sequential that also trains.
#pragma once

#include <cstdint>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nn/module.hpp"

namespace nabla::nn {

template <FloatingElement T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;

  /// Constructs Layer<T>(args...) and appends it: net.add<Dense>(13, 32).add<ReLU>().
  template <template <typename> class Layer, typename... Args>
  Sequential& add(Args&&... args) {
    return add(std::make_shared<Layer<T>>(std::forward<Args>(args)...));
  }

  /// Appends an existing layer (shared: the caller may keep a handle to it).
  Sequential& add(std::shared_ptr<Module<T>> layer) {
    if (!layer) throw ValueError("Sequential::add: null layer");
    layers_.push_back(this->register_module(std::to_string(layers_.size()), std::move(layer)));
    return *this;
  }

  Tensor<T> forward(const Tensor<T>& input) override {
    {
      // what summary() without arguments probes with; locked: predict / forward may run from
      // several threads on one model in eval mode (docs/reliability.md, Threads)
      const std::lock_guard<std::mutex> lock(last_input_mutex_.mutex);
      last_input_shape_ = input.shape();
    }
    Tensor<T> output = input;
    for (auto& layer : layers_) output = layer->forward(output);
    return output;
  }

  std::string type_name() const override { return "Sequential"; }

  std::size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module<T>>& operator[](std::size_t index) const {
    if (index >= layers_.size())
      throw ValueError("Sequential: layer index " + std::to_string(index) + " out of range (size " +
                       std::to_string(layers_.size()) + ")");
    return layers_[index];
  }

  /// The shape of the last input forward() saw (batch included), if any.
  std::optional<Shape> last_input_shape() const {
    const std::lock_guard<std::mutex> lock(last_input_mutex_.mutex);
    return last_input_shape_;
  }

  /// summary(input_shape) for the last input the model saw, as Keras builds its summary from
  /// the input it was called on. A ValueError when forward() has not run yet.
  std::string summary() {
    const std::optional<Shape> last_input = last_input_shape();
    if (!last_input)
      throw ValueError(
          "Sequential::summary: the model has not seen an input yet; run it on a batch first or "
          "give the input shape, e.g. summary({batch, features})");
    return summary(*last_input);
  }

  /// A Keras-like table of layers, output shapes and parameter counts (the total, then the
  /// trainable and the frozen ones, as Keras prints them), for an input of
  /// `input_shape` (batch included). Runs one forward pass on zeros without recording a graph.
  std::string summary(const Shape& input_shape) {
    NoGradGuard no_grad;
    // Eval mode for the dry run (dropout off); the previous mode comes back even when a
    // layer throws (e.g. a ShapeError for a wrong input_shape).
    struct ModeRestorer {
      Sequential& model;
      bool was_training;
      ~ModeRestorer() { model.train(was_training); }
    } restore_mode{*this, this->is_training()};
    this->eval();
    std::ostringstream out;
    const std::string rule(64, '-');
    out << rule << "\n"
        << std::left << std::setw(28) << "Layer (type)" << std::setw(22) << "Output Shape"
        << "Param #\n"
        << std::string(64, '=') << "\n";
    // The probe input goes where the parameters are (a model moved to a GPU runs there).
    const auto parameters = this->parameters();
    Tensor<T> activation = zeros<T>(input_shape, parameters.empty() ? Device::cpu() : parameters.front().device());
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      activation = layers_[i]->forward(activation);
      const std::string label = std::to_string(i) + " (" + layers_[i]->type_name() + ")";
      out << std::left << std::setw(28) << label << std::setw(22) << to_string(activation.shape())
          << layers_[i]->parameter_count() << "\n";
    }
    out << std::string(64, '=') << "\n"
        << "Total params: " << this->parameter_count() << "\n"
        << "Trainable params: " << this->trainable_parameter_count() << "\n"
        << "Non-trainable params: " << this->non_trainable_parameter_count() << "\n"
        << rule << "\n";
    return out.str();
  }

 private:
  std::vector<std::shared_ptr<Module<T>>> layers_;
  /// A mutex that a move leaves behind: the moved-to model gets a fresh one (a model is never
  /// moved while other threads use it), so that Sequential and Model stay movable.
  struct MovableMutex {
    std::mutex mutex;
    MovableMutex() = default;
    MovableMutex(MovableMutex&&) noexcept {}
    MovableMutex& operator=(MovableMutex&&) noexcept { return *this; }
  };

  std::optional<Shape> last_input_shape_;
  mutable MovableMutex last_input_mutex_;  // forward() writes last_input_shape_ from any thread
};

}  // namespace nabla::nn
