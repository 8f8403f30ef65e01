// nabla/precompiled.hpp - the float and double paths compiled once, in the nabla::precompiled
// library, instead of in every translation unit of a program (docs/performance.md, "Compile time").
//
// nabla is header-only: a program that trains a small model instantiates and optimizes Tensor's
// members, the ops with their elementwise kernels, the layers, the optimizers and Model::fit
// (its DataLoader, callbacks, checkpoint writer) in its own translation unit, ~20 s at -O2.
// Linking the CMake target nabla::precompiled defines NABLA_PRECOMPILED, and nabla.hpp then
// ends with this file: `extern template` declarations for T = float and double, so the compiler
// emits calls to the library's copies and compiles none of those bodies. The library
// (src/precompiled/*.cpp) holds the matching explicit instantiation definitions: it includes
// nabla.hpp the same way and expands the same lists below with `template` instead of
// `extern template`, so the declarations and the definitions cannot drift apart.
//
// Only what is listed is precompiled; anything else (another element type, a function template
// with a user's functor, a member template such as Model::compile) still compiles in the user's
// translation unit, as without the library. Header-only use (nabla::nabla) never sees this file.
//
// Included at the end of nabla.hpp only, after every template it names; it includes nothing.
#pragma once

#if defined(NABLA_PRECOMPILED)

// The configuration check (the NABLA_USE_* and CUDA settings of the library and the program must
// match) is in backend/precompiled_config.hpp, which nabla.hpp includes just before this file.

// ---- the lists ------------------------------------------------------------------------------------
// Each NABLA_PRECOMPILED_<GROUP>(X, T) expands to one declaration per line, `X` being
// `extern template` here and `template` in the library's source for the group
// (src/precompiled/<group>.cpp), inside namespace nabla. Default arguments are not repeated (they
// stay in the headers).

// core/ and autograd/: Tensor's members (views, in-place ops, backward), the autograd records.
#define NABLA_PRECOMPILED_TENSOR(X, T)                                                                     \
  X class Tensor<T>;                                                                                       \
  X class Node<T>;                                                                                         \
  X void record_op<T>(Tensor<T>&, std::string, std::vector<Tensor<T>>, typename Node<T>::BackwardFunction, \
                      std::vector<Tensor<T>>);                                                             \
  X void autograd_detail::run_backward<T>(const Tensor<T>&, const Tensor<T>&, bool);                       \
  X Tensor<T> empty<T>(const Shape&, Device);                                                              \
  X Tensor<T> full<T>(const Shape&, T, Device);                                                            \
  X Tensor<T> zeros<T>(const Shape&, Device);                                                              \
  X Tensor<T> ones<T>(const Shape&, Device);                                                               \
  X Tensor<T> zeros_like<T>(const Tensor<T>&);                                                             \
  X Tensor<T> ones_like<T>(const Tensor<T>&);                                                              \
  X Tensor<T> full_like<T>(const Tensor<T>&, T);                                                           \
  X Tensor<T> scalar_tensor<T>(T, Device);                                                                 \
  X Tensor<T> from_vector<T>(const std::vector<T>&, const Shape&);                                         \
  X Tensor<T> from_vector<T>(const std::vector<T>&);                                                       \
  X Tensor<T> arange<T>(T, T, T);                                                                          \
  X Tensor<T> arange<T>(T);                                                                                \
  X Tensor<T> linspace<T>(T, T, std::int64_t);                                                             \
  X Tensor<T> eye<T>(std::int64_t, std::int64_t);                                                          \
  X Tensor<T> uniform<T>(const Shape&, T, T, Generator&, Device);                                          \
  X Tensor<T> uniform<T>(const Shape&, T, T, std::uint64_t, Device);                                       \
  X Tensor<T> uniform<T>(const Shape&, T, T);                                                              \
  X Tensor<T> rand<T>(const Shape&, Generator&, Device);                                                   \
  X Tensor<T> rand<T>(const Shape&, std::uint64_t, Device);                                                \
  X Tensor<T> rand<T>(const Shape&);                                                                       \
  X Tensor<T> normal<T>(const Shape&, T, T, Generator&, Device);                                           \
  X Tensor<T> normal<T>(const Shape&, T, T, std::uint64_t, Device);                                        \
  X Tensor<T> normal<T>(const Shape&, T, T);                                                               \
  X Tensor<T> randn<T>(const Shape&, Generator&, Device);                                                  \
  X Tensor<T> randn<T>(const Shape&, std::uint64_t, Device);                                               \
  X Tensor<T> randn<T>(const Shape&);

// Index tensors (class ids, token ids, argmax results): Tensor<std::int64_t> has no arithmetic, so
// only its view and copy members and the factories.
#define NABLA_PRECOMPILED_INDEX(X)                                                                                  \
  X Tensor<std::int64_t> Tensor<std::int64_t>::clone() const;                                                       \
  X Tensor<std::int64_t> Tensor<std::int64_t>::contiguous() const;                                                  \
  X Tensor<std::int64_t> Tensor<std::int64_t>::reshape(const Shape&) const;                                         \
  X Tensor<std::int64_t> Tensor<std::int64_t>::view(const Shape&) const;                                            \
  X Tensor<std::int64_t> Tensor<std::int64_t>::flatten(std::int64_t, std::int64_t) const;                           \
  X Tensor<std::int64_t> Tensor<std::int64_t>::narrow(std::int64_t, std::int64_t, std::int64_t) const;              \
  X Tensor<std::int64_t> Tensor<std::int64_t>::slice(std::int64_t, std::int64_t, std::int64_t, std::int64_t) const; \
  X Tensor<std::int64_t> Tensor<std::int64_t>::to(Device) const;                                                    \
  X std::vector<std::int64_t> Tensor<std::int64_t>::to_host_vector() const;                                         \
  X Tensor<std::int64_t> empty<std::int64_t>(const Shape&, Device);                                                 \
  X Tensor<std::int64_t> zeros<std::int64_t>(const Shape&, Device);                                                 \
  X Tensor<std::int64_t> from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&);                 \
  X Tensor<std::int64_t> from_vector<std::int64_t>(const std::vector<std::int64_t>&);                               \
  X Tensor<std::int64_t> index_select<std::int64_t>(const Tensor<std::int64_t>&, std::int64_t, const IndexTensor&); \
  X Tensor<std::int64_t> concat<std::int64_t>(const std::vector<Tensor<std::int64_t>>&, std::int64_t);

// ops/: elementwise arithmetic, the listed unary ops, comparisons, reductions, views that copy,
// matmul, softmax, layer_norm, attention. The scalar operators (x * 0.5f) are one-line templates
// over the scalar's type that call mul(x, T) and friends, so they stay in the headers.
#define NABLA_PRECOMPILED_OPS(X, T)                                                                      \
  X Tensor<T> add<T>(const Tensor<T>&, const Tensor<T>&);                                                \
  X Tensor<T> sub<T>(const Tensor<T>&, const Tensor<T>&);                                                \
  X Tensor<T> mul<T>(const Tensor<T>&, const Tensor<T>&);                                                \
  X Tensor<T> div<T>(const Tensor<T>&, const Tensor<T>&);                                                \
  X Tensor<T> neg<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> add<T>(const Tensor<T>&, T);                                                               \
  X Tensor<T> mul<T>(const Tensor<T>&, T);                                                               \
  X Tensor<T> rsub<T>(const Tensor<T>&, T);                                                              \
  X Tensor<T> rdiv<T>(const Tensor<T>&, T);                                                              \
  X Tensor<T> operator+<T>(const Tensor<T>&, const Tensor<T>&);                                          \
  X Tensor<T> operator-<T>(const Tensor<T>&, const Tensor<T>&);                                          \
  X Tensor<T> operator*<T>(const Tensor<T>&, const Tensor<T>&);                                          \
  X Tensor<T> operator/<T>(const Tensor<T>&, const Tensor<T>&);                                          \
  X Tensor<T> operator-<T>(const Tensor<T>&);                                                            \
  X Tensor<T> exp<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> log<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> sqrt<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> square<T>(const Tensor<T>&);                                                               \
  X Tensor<T> abs<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> tanh<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> sigmoid<T>(const Tensor<T>&);                                                              \
  X Tensor<T> relu<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> gelu<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> softplus<T>(const Tensor<T>&);                                                             \
  X Tensor<T> silu<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> gelu_tanh<T>(const Tensor<T>&);                                                            \
  X Tensor<T> pow<T>(const Tensor<T>&, T);                                                               \
  X Tensor<T> pow<T>(const Tensor<T>&, const Tensor<T>&);                                                \
  X Tensor<T> leaky_relu<T>(const Tensor<T>&, T);                                                        \
  X Tensor<T> clamp<T>(const Tensor<T>&, T, T);                                                          \
  X Tensor<T> maximum<T>(const Tensor<T>&, const Tensor<T>&);                                            \
  X Tensor<T> minimum<T>(const Tensor<T>&, const Tensor<T>&);                                            \
  X Tensor<T> eq<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> ne<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> lt<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> le<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> gt<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> ge<T>(const Tensor<T>&, const Tensor<T>&);                                                 \
  X Tensor<T> eq<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> ne<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> lt<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> le<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> gt<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> ge<T>(const Tensor<T>&, T);                                                                \
  X Tensor<T> where<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);                            \
  X Tensor<T> where<T>(const Tensor<T>&, const Tensor<T>&, T);                                           \
  X Tensor<T> where<T>(const Tensor<T>&, T, const Tensor<T>&);                                           \
  X Tensor<T> sum<T>(const Tensor<T>&, const std::vector<std::int64_t>&, bool);                          \
  X Tensor<T> sum<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> mean<T>(const Tensor<T>&, const std::vector<std::int64_t>&, bool);                         \
  X Tensor<T> mean<T>(const Tensor<T>&);                                                                 \
  X Tensor<T> var<T>(const Tensor<T>&, const std::vector<std::int64_t>&, double, bool);                  \
  X Tensor<T> var<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> max<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> min<T>(const Tensor<T>&);                                                                  \
  X Tensor<T> max<T>(const Tensor<T>&, std::int64_t, bool);                                              \
  X Tensor<T> min<T>(const Tensor<T>&, std::int64_t, bool);                                              \
  X IndexTensor argmax<T>(const Tensor<T>&);                                                             \
  X IndexTensor argmin<T>(const Tensor<T>&);                                                             \
  X IndexTensor argmax<T>(const Tensor<T>&, std::int64_t, bool);                                         \
  X IndexTensor argmin<T>(const Tensor<T>&, std::int64_t, bool);                                         \
  X Tensor<T> logsumexp<T>(const Tensor<T>&, std::int64_t, bool);                                        \
  X Tensor<T> expand<T>(const Tensor<T>&, const Shape&);                                                 \
  X Tensor<T> index_select<T>(const Tensor<T>&, std::int64_t, const std::vector<std::int64_t>&);         \
  X Tensor<T> index_select<T>(const Tensor<T>&, std::int64_t, const IndexTensor&);                       \
  X Tensor<T> concat<T>(const std::vector<Tensor<T>>&, std::int64_t);                                    \
  X Tensor<T> stack<T>(const std::vector<Tensor<T>>&, std::int64_t);                                     \
  X Tensor<T> matmul<T>(const Tensor<T>&, const Tensor<T>&);                                             \
  X Tensor<T> addmm<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);                            \
  X Tensor<T> softmax<T>(const Tensor<T>&, std::int64_t);                                                \
  X Tensor<T> log_softmax<T>(const Tensor<T>&, std::int64_t);                                            \
  X Tensor<T> layer_norm<T>(const Tensor<T>&, const Shape&, const Tensor<T>&, const Tensor<T>&, double); \
  X Tensor<T> scaled_dot_product_attention<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,      \
                                              const AttentionOptions<T>&);

// loss/: the functions (the functor objects, nb::loss::MSE{} and friends, call these).
#define NABLA_PRECOMPILED_LOSS(X, T)                                                                               \
  X Tensor<T> loss::mse<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                                   \
  X Tensor<T> loss::l1<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                                    \
  X Tensor<T> loss::mae<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                                   \
  X Tensor<T> loss::huber<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction, double);                         \
  X Tensor<T> loss::binary_cross_entropy<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                  \
  X Tensor<T> loss::binary_cross_entropy_with_logits<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);      \
  X Tensor<T> loss::bce_with_logits<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                       \
  X Tensor<T> loss::hinge<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction);                                 \
  X Tensor<T> loss::cross_entropy<T>(const Tensor<T>&, const IndexTensor&, loss::Reduction, std::int64_t, double); \
  X Tensor<T> loss::cross_entropy<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction, std::int64_t, double);   \
  X Tensor<T> loss::nll<T>(const Tensor<T>&, const IndexTensor&, loss::Reduction, std::int64_t);                   \
  X Tensor<T> loss::nll<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction, std::int64_t);                     \
  X Tensor<T> loss::multi_margin<T>(const Tensor<T>&, const IndexTensor&, loss::Reduction, double, int);           \
  X Tensor<T> loss::multi_margin<T>(const Tensor<T>&, const Tensor<T>&, loss::Reduction, double, int);

// nn/: the layers (their virtual forward and the rest of each class) and the functional forms.
#define NABLA_PRECOMPILED_NN(X, T)                                                                                 \
  X class nn::Module<T>;                                                                                           \
  X class nn::Sequential<T>;                                                                                       \
  X class nn::Dense<T>;                                                                                            \
  X class nn::Sigmoid<T>;                                                                                          \
  X class nn::ReLU<T>;                                                                                             \
  X class nn::LeakyReLU<T>;                                                                                        \
  X class nn::Tanh<T>;                                                                                             \
  X class nn::GELU<T>;                                                                                             \
  X class nn::Softmax<T>;                                                                                          \
  X class nn::LogSoftmax<T>;                                                                                       \
  X class nn::Dropout<T>;                                                                                          \
  X class nn::Embedding<T>;                                                                                        \
  X class nn::LayerNorm<T>;                                                                                        \
  X class nn::LSTM<T>;                                                                                             \
  X class nn::MultiheadAttention<T>;                                                                               \
  X class nn::TransformerMLP<T>;                                                                                   \
  X class nn::TransformerBlock<T>;                                                                                 \
  X class nn::GPT<T>;                                                                                              \
  X Tensor<T> nn::functional::linear<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const std::string&); \
  X Tensor<T> nn::functional::dropout<T>(const Tensor<T>&, double, bool, Generator&);                              \
  X Tensor<T> nn::functional::embedding<T>(const IndexTensor&, const Tensor<T>&, std::int64_t);

// optim/: the optimizers (their update kernels, state, parameter groups) and gradient clipping.
#define NABLA_PRECOMPILED_OPTIM(X, T)                                                 \
  X class optim::Optimizer<T>;                                                        \
  X class optim::SGD<T>;                                                              \
  X class optim::Adam<T>;                                                             \
  X class optim::AdamW<T>;                                                            \
  X class optim::RMSprop<T>;                                                          \
  X class optim::Adagrad<T>;                                                          \
  X T optim::clip_grad_norm_<T>(const std::vector<Tensor<T>>&, double, double, bool); \
  X void optim::clip_grad_value_<T>(const std::vector<Tensor<T>>&, double);

// train/ and data/: the Keras-style model with its training loop (fit's DataLoader, callbacks,
// progress bar, checkpoint writing), and the loaders of tensor datasets.
#define NABLA_PRECOMPILED_TRAIN(X, T)                                            \
  X struct train::TrainingState<T>;                                              \
  X class train::Model<T>;                                                       \
  X Tensor<T> train::predict<T>(nn::Module<T>&, const Tensor<T>&, std::int64_t); \
  X class data::TensorDataset<T, T>;                                             \
  X class data::TensorDataset<T, std::int64_t>;                                  \
  X class data::DataLoader<data::TensorDataset<T, T>>;                           \
  X class data::DataLoader<data::TensorDataset<T, std::int64_t>>;

/// Every group, for one element type.
#define NABLA_PRECOMPILED_ALL(X, T) \
  NABLA_PRECOMPILED_TENSOR(X, T)    \
  NABLA_PRECOMPILED_OPS(X, T)       \
  NABLA_PRECOMPILED_LOSS(X, T)      \
  NABLA_PRECOMPILED_NN(X, T)        \
  NABLA_PRECOMPILED_OPTIM(X, T)     \
  NABLA_PRECOMPILED_TRAIN(X, T)

// ---- the declarations -------------------------------------------------------------------------------
namespace nabla {
NABLA_PRECOMPILED_ALL(extern template, float)
NABLA_PRECOMPILED_ALL(extern template, double)
NABLA_PRECOMPILED_INDEX(extern template)
}  // namespace nabla

#endif  // NABLA_PRECOMPILED
