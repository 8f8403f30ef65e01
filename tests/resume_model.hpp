// The small model with two Dropouts (one with its own seed, one on the global generator) that
// the exact-resume tests train, stop and resume (test_reliability.cpp, test_resume.cpp), and its
// weights flattened for bit-exact comparison.
#pragma once

#include <nabla/nabla.hpp>
#include <vector>

namespace nabla_test {

inline nabla::Model<float> seeded_dropout_model() {
  namespace nb = nabla;
  nb::Model<float> model;
  model.add<nb::nn::Dense>(4, 16, nb::nn::DenseOptions{.seed = 1})
      .add<nb::nn::ReLU>()
      .add<nb::nn::Dropout>(0.5, nb::nn::DropoutOptions{.seed = 77})
      .add<nb::nn::Dense>(16, 16, nb::nn::DenseOptions{.seed = 2})
      .add<nb::nn::Dropout>(0.25)  // on the global generator
      .add<nb::nn::Dense>(16, 1, nb::nn::DenseOptions{.seed = 3});
  model.compile(nb::optim::AdamOptions{.lr = 1e-2}, nb::loss::MSE{});
  return model;
}

inline std::vector<float> all_weights(const nabla::Model<float>& model) {
  std::vector<float> values;
  for (const auto& [name, tensor] : model.state_dict()) {
    const auto v = tensor.to_vector();
    values.insert(values.end(), v.begin(), v.end());
  }
  return values;
}

}  // namespace nabla_test
