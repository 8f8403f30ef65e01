// nabla/nn/embedding.hpp - a lookup table from token ids to learned vectors
// (torch.nn.Embedding, Keras Embedding).
//
// The weight W is [num_embeddings, embedding_dim]; row t is the vector of token t. For ids
// of any shape S the output has shape S + [embedding_dim], with out[s] = W[ids[s]].
// Looking up a row is the same as multiplying a one-hot vector by W, so the gradient is
//   dL/dW[t] = sum over the positions s with ids[s] == t of dL/dout[s]
// a scatter-add: only rows that were used receive anything. The padding row (padding_idx)
// is skipped, so it stays zero (PyTorch's padding_idx) however long one trains.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/autograd/function.hpp"
#include "nabla/backend/dispatch.hpp"
#include "nabla/backend/embedding.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/checks.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/views.hpp"

namespace nabla::nn {

namespace detail {

/// The row-major multi-index of flat position `flat` in `shape`, as "[2,5]" (for errors).
inline std::string position_text(const Shape& shape, std::int64_t flat) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  return to_string(index);
}

/// The ids as a flat list in row-major order, each checked to lie in [0, num_embeddings).
inline std::vector<std::int64_t> checked_token_ids(const std::string& layer, const IndexTensor& ids,
                                                   std::int64_t num_embeddings) {
  nabla::detail::check_defined(layer, ids);
  // Ids on a GPU are checked on the host (one small copy), so a bad id is a clear error there too.
  std::vector<std::int64_t> values = ids.to_host_vector();
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i] < 0 || values[i] >= num_embeddings)
      throw ValueError(layer + ": token id " + std::to_string(values[i]) + " at position " +
                       position_text(ids.shape(), static_cast<std::int64_t>(i)) + " is outside [0, " +
                       std::to_string(num_embeddings) + ")");
  return values;
}

/// Token ids stored in a float tensor (what a Sequential passes along), as an IndexTensor.
/// Every value must be a whole number; range is checked later, with the id's position.
template <FloatingElement T>
IndexTensor ids_from_values(const std::string& layer, const Tensor<T>& values) {
  nabla::detail::check_defined(layer, values);
  const std::vector<T> flat = values.to_host_vector();
  IndexTensor ids(values.shape());
  std::int64_t* out = ids.data();
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const T value = flat[i];
    // 4e18 is far beyond any vocabulary and inside int64 (< 2^63), so the cast below is defined.
    if (!std::isfinite(value) || value != std::floor(value) || std::abs(value) > T(4.0e18)) {
      std::ostringstream text;
      text << value;
      throw ValueError(layer + ": input value " + text.str() + " at position " +
                       position_text(values.shape(), static_cast<std::int64_t>(i)) +
                       " is not a token id (ids must be whole numbers in range)");
    }
    out[i] = static_cast<std::int64_t>(value);
  }
  return ids;
}

/// The lookup out[s] = weight[ids[s]] with its scatter-add backward; one graph node.
template <FloatingElement T>
Tensor<T> embedding_lookup(const std::string& layer, const IndexTensor& ids, const Tensor<T>& weight,
                           std::int64_t padding_idx) {
  nabla::detail::check_defined(layer, weight);
  if (weight.dim() != 2)
    throw ShapeError(layer + ": weight must be 2-D [num_embeddings, embedding_dim], got " + to_string(weight.shape()));
  const std::int64_t num_embeddings = weight.size(0), embedding_dim = weight.size(1);
  if (padding_idx < -1 || padding_idx >= num_embeddings)
    throw ValueError(layer + ": padding_idx " + std::to_string(padding_idx) + " is outside [0, " +
                     std::to_string(num_embeddings) + ") (use -1 for no padding row)");
  // The checked ids are copied (so that changing `ids` after the forward pass cannot change the
  // backward) and go to the weight's device once; the gather and the scatter-add read them there.
  const Device device = weight.device();
  const IndexTensor token_ids =
      from_vector<std::int64_t>(checked_token_ids(layer, ids, num_embeddings), ids.shape()).to(device);

  Shape output_shape = ids.shape();
  output_shape.push_back(embedding_dim);
  const Tensor<T> table = weight.is_contiguous() ? weight : nabla::detail::copy_values(weight);
  Tensor<T> out = backend::empty<T>(output_shape, device);
  backend::embedding_forward(table, token_ids, out);

  // dL/dW[t] = sum of dL/dout[s] over the positions s with ids[s] == t; the padding row gets nothing
  record_op<T>(
      out, "embedding", {weight},
      [token_ids, padding_idx, num_embeddings, embedding_dim](const Tensor<T>& grad, const std::vector<Tensor<T>>&) {
        const Tensor<T> g = grad.is_contiguous() ? grad : nabla::detail::copy_values(grad);
        Tensor<T> grad_weight = backend::empty<T>({num_embeddings, embedding_dim}, grad.device());
        backend::embedding_backward(g, token_ids, padding_idx, grad_weight);
        return std::vector<Tensor<T>>{grad_weight};
      });
  return out;
}

}  // namespace detail

namespace functional {

/// out[s] = weight[ids[s]] for ids of any shape; output shape ids.shape() + [embedding_dim].
/// padding_idx (-1: none) names a row that receives no gradient.
template <FloatingElement T>
Tensor<T> embedding(const IndexTensor& ids, const Tensor<T>& weight, std::int64_t padding_idx = -1) {
  return detail::embedding_lookup<T>("embedding", ids, weight, padding_idx);
}

}  // namespace functional

struct EmbeddingOptions {
  std::int64_t padding_idx = -1;           // a row kept at zero and never updated; -1 for none
  std::optional<std::uint64_t> seed = {};  // draw from a fresh generator; else nabla::default_generator()
};

/// A table of num_embeddings learned vectors of size embedding_dim, looked up by token id.
template <FloatingElement T>
class Embedding : public Module<T> {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, EmbeddingOptions options = {})
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim), padding_idx_(options.padding_idx) {
    if (num_embeddings <= 0 || embedding_dim <= 0)
      throw ValueError("Embedding: num_embeddings and embedding_dim must be positive, got " +
                       std::to_string(num_embeddings) + " and " + std::to_string(embedding_dim));
    if (padding_idx_ < -1 || padding_idx_ >= num_embeddings)
      throw ValueError("Embedding(" + describe() + "): padding_idx " + std::to_string(padding_idx_) +
                       " is outside [0, " + std::to_string(num_embeddings) + ") (use -1 for no padding row)");
    Generator seeded(options.seed.value_or(0));
    Generator& generator = options.seed ? seeded : default_generator();
    // N(0, 1) like torch.nn.Embedding; the padding row starts at zero.
    Tensor<T> table = nabla::randn<T>({num_embeddings, embedding_dim}, generator);
    if (padding_idx_ >= 0) std::fill_n(table.data() + padding_idx_ * embedding_dim, embedding_dim, T(0));
    weight_ = this->register_parameter("weight", table);
  }

  /// Token ids of any shape -> their vectors, shape ids.shape() + [embedding_dim].
  Tensor<T> forward(const IndexTensor& ids) {
    return detail::embedding_lookup<T>(layer_name(), ids, weight_, padding_idx_);
  }

  /// The same for ids held in a float tensor (as a Sequential passes them): each value
  /// must be a whole number.
  Tensor<T> forward(const Tensor<T>& ids) override { return forward(detail::ids_from_values(layer_name(), ids)); }

  using Module<T>::operator();
  Tensor<T> operator()(const IndexTensor& ids) { return forward(ids); }

  std::string type_name() const override { return "Embedding"; }
  std::string describe() const override {
    return std::to_string(num_embeddings_) + ", " + std::to_string(embedding_dim_) +
           (padding_idx_ >= 0 ? ", padding_idx=" + std::to_string(padding_idx_) : "");
  }

  std::int64_t num_embeddings() const { return num_embeddings_; }
  std::int64_t embedding_dim() const { return embedding_dim_; }
  std::int64_t padding_idx() const { return padding_idx_; }
  /// The table [num_embeddings, embedding_dim] (a handle: writing to it changes the layer).
  const Tensor<T>& weight() const { return weight_; }

 private:
  std::string layer_name() const { return "Embedding(" + describe() + ")"; }

  std::int64_t num_embeddings_;
  std::int64_t embedding_dim_;
  std::int64_t padding_idx_;
  Tensor<T> weight_;
};

}  // namespace nabla::nn
