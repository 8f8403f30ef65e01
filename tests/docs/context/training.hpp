// The names docs/training.md's code blocks use without declaring them (tests/test_train.cpp,
// which runs each block, declares them the same way). Included by the page's generated file
// at namespace scope; see tests/docs/extract_snippets.cmake.
#pragma once

inline const std::int64_t vocab_size = 20;
inline nb::Tensor<float> x_train, y_train, x_test;  // token ids as floats [samples, steps]; labels
inline nb::Tensor<float> x, y;                      // [200, 1] each
inline nb::Model<float> net, model;
inline nb::Tensor<float> points, labels;  // [150, 2] points; class ids 0..2 as floats
inline nb::Tensor<float> tokens;          // token ids as floats [N]
inline nb::IndexTensor next_tokens;       // the next token of each [N]
