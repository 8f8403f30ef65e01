// A user's program: one include, one tensor, a model built in a function and returned by
// value (modules are movable), kept in a vector, and the Keras-style model.
// Exit code 0 means nabla was found and works.
#include <nabla/nabla.hpp>
#include <utility>
#include <vector>

namespace {
nabla::nn::Sequential<float> make_model() {
  nabla::nn::Sequential<float> model;
  model.add<nabla::nn::Dense>(3, 4).add<nabla::nn::ReLU>().add<nabla::nn::Dense>(4, 1);
  return model;
}
}  // namespace

int main() {
  auto t = nabla::zeros<float>({2, 3});
  if (t.numel() != 6) return 1;
  std::vector<nabla::nn::Sequential<float>> models;
  nabla::nn::Sequential<float> model = make_model();
  models.push_back(std::move(model));
  if (models.front().parameter_count() != 3 * 4 + 4 + 4 + 1) return 2;
  if (models.front()(t).shape() != nabla::Shape{2, 1}) return 3;

  nabla::Model<float> keras;
  keras.add<nabla::nn::Dense>(3, 1);
  keras.compile(nabla::optim::SGDOptions{.lr = 0.1}, nabla::loss::MSE{});
  keras.fit(t, nabla::zeros<float>({2, 1}), {.epochs = 1, .verbose = 0});
  std::vector<nabla::Model<float>> keras_models;
  keras_models.push_back(std::move(keras));
  return keras_models.front().completed_epochs() == 1 ? 0 : 4;
}
