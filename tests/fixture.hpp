// tests/fixture.hpp - reads reference tensors that scripts/fixtures/*.py computed with PyTorch.
// Format (one tensor per line): <name> <rank> <dims...> <values...>
#pragma once

#include <fstream>
#include <map>
#include <nabla/nabla.hpp>
#include <sstream>
#include <string>

#ifndef NABLA_FIXTURE_DIR
#define NABLA_FIXTURE_DIR "tests/fixtures"
#endif

namespace nabla_test {

class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(NABLA_FIXTURE_DIR) + "/" + name + ".txt";
    std::ifstream file(path);
    if (!file) throw nabla::IOError("fixture: cannot open " + path + " (regenerate with scripts/fixtures/make_all.py)");
    std::string line;
    while (std::getline(file, line)) {
      if (line.empty()) continue;
      std::istringstream fields(line);
      std::string tensor_name;
      std::int64_t rank = 0;
      fields >> tensor_name >> rank;
      nabla::Shape shape(static_cast<std::size_t>(rank));
      for (auto& size : shape) fields >> size;
      std::vector<double> values(static_cast<std::size_t>(nabla::numel_of(shape)));
      for (auto& value : values) fields >> value;
      if (!fields) throw nabla::IOError("fixture: malformed line for '" + tensor_name + "' in " + path);
      tensors_.emplace(tensor_name, nabla::from_vector<double>(values, shape));
    }
  }

  /// The tensor called `name`, as T.
  template <typename T = double>
  nabla::Tensor<T> get(const std::string& name) const {
    auto found = tensors_.find(name);
    if (found == tensors_.end()) throw nabla::ValueError("fixture: no tensor named '" + name + "'");
    const auto values = found->second.to_vector();
    return nabla::from_vector<T>(std::vector<T>(values.begin(), values.end()), found->second.shape());
  }

  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }

 private:
  std::map<std::string, nabla::Tensor<double>> tensors_;
};

/// Largest |a - b| / max(1, |b|) over all elements; shapes must agree.
template <typename T>
double max_relative_difference(const nabla::Tensor<T>& actual, const nabla::Tensor<T>& expected) {
  if (actual.shape() != expected.shape())
    throw nabla::ShapeError("max_relative_difference: " + nabla::to_string(actual.shape()) + " vs " +
                            nabla::to_string(expected.shape()));
  const auto a = actual.to_vector();
  const auto b = expected.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(1.0, std::abs(static_cast<double>(b[i])));
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])) / scale);
  }
  return worst;
}

}  // namespace nabla_test
