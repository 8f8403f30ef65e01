// The names docs/nn.md's code blocks use without declaring them: the local variables of the
// library code the page quotes (nn::functional::linear, the embedding's backward). Included by
// the page's generated file at namespace scope; see tests/docs/extract_snippets.cmake.
#pragma once

using nabla::addmm;
using nabla::matmul;
using nabla::Tensor;
using T = float;  // the element type of the quoted templates

// nn::functional::linear(input, weight, bias)
inline Tensor<T> input, weight, bias;
inline const std::int64_t in_features = 13;
// backend::cpu::embedding_backward (the backward of detail::embedding_lookup)
inline const std::int64_t tokens = 4, dim = 8, padding_idx = 0, first = 0, last = 8;
inline const std::int64_t* ids = nullptr;
inline const T* gradient = nullptr;
inline T* grad_table = nullptr;
