// The names docs/transfer_learning.md's code blocks use without declaring them. Included by the
// page's generated file at namespace scope; see tests/docs/extract_snippets.cmake.
#pragma once

inline const std::int64_t vocab_size = 20;
inline nb::Model<float> classifier;         // Embedding -> LSTM -> Dense -> Sigmoid
inline nb::Tensor<float> x_train, y_train;  // token ids as floats [samples, steps]; labels
