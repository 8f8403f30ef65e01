// nabla/nn/sequential.hpp - a stack of layers applied in order (Keras Sequential, torch.nn.Sequential).
#pragma once

#include <cstdint>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nn/module.hpp"

// The Keras-style training members below (compile, fit, ...) are only declared here: they are
// defined in train/model.hpp, a layer above nn/ that nn/ must not include (like core/tensor.hpp
// declares the ops that ops/ defines). <nabla/nabla.hpp> brings both.
namespace nabla::optim {
template <FloatingElement T>
class Optimizer;
}  // namespace nabla::optim
namespace nabla::metrics {
class AnyMetric;
}  // namespace nabla::metrics
namespace nabla::train {
template <FloatingElement T>
struct TrainingState;
template <FloatingElement T>
struct FitOptions;
class History;
}  // namespace nabla::train

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

  /// A Keras-like table of layers, output shapes and parameter counts, for an input of
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
        << rule << "\n";
    return out.str();
  }

  // ---- Keras-style training (defined in train/model.hpp; see docs/training.md) -------------

  /// Chooses how to train: the optimizer (its options, e.g. nb::optim::AdamOptions{.lr = 1e-3},
  /// or a function making one from the parameters), the loss (a functor such as
  /// nb::loss::BinaryCrossEntropy{}) and the metrics to report ({nb::metrics::Accuracy{}}).
  template <typename OptimizerSpec, typename Loss>
  void compile(const OptimizerSpec& optimizer, Loss loss, std::vector<metrics::AnyMetric> metrics);
  /// compile() without metrics. (An overload, not a default argument: metrics::AnyMetric is
  /// incomplete here, and some compilers check default arguments at the declaration.)
  template <typename OptimizerSpec, typename Loss, typename Metric = metrics::AnyMetric>
  void compile(const OptimizerSpec& optimizer, Loss loss) {
    compile(optimizer, std::move(loss), std::vector<Metric>{});
  }
  /// Trains on samples x with targets y (both batched along dimension 0); returns the loss
  /// and metrics of every epoch.
  train::History fit(const Tensor<T>& x, const Tensor<T>& y, const train::FitOptions<T>& options = {});
  /// The loss and metrics on (x, y), computed batch by batch in evaluation mode, no graph kept.
  std::map<std::string, double> evaluate(const Tensor<T>& x, const Tensor<T>& y, std::int64_t batch_size = 32);
  /// The model's output for x, computed batch by batch in evaluation mode, no graph kept.
  Tensor<T> predict(const Tensor<T>& x, std::int64_t batch_size = 32);
  /// One optimizer step on one batch; returns the batch's loss and metrics.
  std::map<std::string, double> train_on_batch(const Tensor<T>& x, const Tensor<T>& y);
  /// Whether compile() has been called.
  bool is_compiled() const { return training_ != nullptr; }
  /// The optimizer compile() made (e.g. to read or change its learning rate).
  optim::Optimizer<T>& optimizer() const;
  /// The epochs the last fit() completed (or model.load() restored); 0 before any.
  int completed_epochs() const;

  // ---- model files (defined in train/model_file.hpp; see docs/model_files.md) --------------

  /// Writes the model to `path` atomically as a nabla checkpoint: the layer configuration
  /// and the weights, and for a compiled model also the optimizer (type, hyperparameters,
  /// state), the epochs completed and the random generator's position.
  void save(const std::string& path) const;
  /// Reads a file written by save() into this model. The layer configuration must match
  /// (else an IOError naming the first layer that differs, before anything changes). For a
  /// compiled model whose file has training state, the optimizer state and the generator
  /// are restored too, and the next fit() continues after the saved epoch.
  void load(const std::string& path);

 private:
  std::vector<std::shared_ptr<Module<T>>> layers_;
  std::shared_ptr<train::TrainingState<T>> training_;  // made by compile()
};

}  // namespace nabla::nn
