// nabla/backend/cpu/elementwise.hpp - one loop for every elementwise op.
//
// map_kernel(out, f, inputs...) sets out[i] = f(inputs[i]...) for every element, where the
// inputs are broadcast to out's shape (NumPy rules, checked by the caller). Contiguous
// same-shape operands take a plain pointer loop the compiler vectorizes (or, for tanh and GELU's
// tanh form in float, an Eigen array expression: backend/cpu/array_forms.hpp); anything else
// (views, broadcasting) goes through strided_loop. Large tensors are split across threads.
#pragma once

#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "nabla/backend/cpu/array_forms.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/backend/cpu/strided.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::backend::cpu {

namespace detail {
template <typename Out, typename Function, typename... Inputs, std::size_t... I>
void map_strided(Tensor<Out>& out, const Function& function, std::index_sequence<I...>,
                 const Tensor<Inputs>&... inputs) {
  constexpr std::size_t kOperands = sizeof...(Inputs) + 1;
  const Shape& shape = out.shape();
  const std::array<Strides, kOperands> strides = {out.strides(),
                                                  broadcast_strides(inputs.shape(), inputs.strides(), shape)...};
  std::array<const Strides*, kOperands> stride_pointers;
  for (std::size_t k = 0; k < kOperands; ++k) stride_pointers[k] = &strides[k];
  const std::array<std::int64_t, kOperands> offsets = {out.offset(), inputs.offset()...};
  Out* const out_base = out.storage()->data();
  const std::tuple<const Inputs*...> input_bases = {inputs.storage()->data()...};
  // Rows that are contiguous in every operand (a bias broadcast over the rows of a matrix, a
  // slice of whole rows): each run is a plain pointer loop the compiler vectorizes, instead of
  // an element-by-element walk (5x slower on a [1120, 10000] + [10000] add, bench_ops).
  bool contiguous_rows = !shape.empty() && shape.back() > 1;
  for (std::size_t k = 0; k < kOperands && contiguous_rows; ++k) contiguous_rows = strides[k].back() == 1;
  if (contiguous_rows) {
    parallel_for(0, out.numel(), kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      strided_runs<kOperands>(
          shape, stride_pointers, offsets, begin, end,
          [&](std::int64_t, const std::array<std::int64_t, kOperands>& position, std::int64_t run) {
            Out* const out_row = out_base + position[0];
            const std::tuple<const Inputs*...> input_rows = {(std::get<I>(input_bases) + position[I + 1])...};
            (void)input_rows;  // unused by ops without inputs (fill)
            for (std::int64_t r = 0; r < run; ++r) out_row[r] = function(std::get<I>(input_rows)[r]...);
          });
    });
    return;
  }
  parallel_for(0, out.numel(), kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    strided_loop<kOperands>(shape, stride_pointers, offsets, begin, end,
                            [&](std::int64_t, const std::array<std::int64_t, kOperands>& position) {
                              out_base[position[0]] = function(std::get<I>(input_bases)[position[I + 1]]...);
                            });
  });
}
}  // namespace detail

/// out[i] = function(inputs[i]...), inputs broadcast to out.shape(). `out` may be any view.
template <typename Out, typename Function, typename... Inputs>
void map_kernel(Tensor<Out>& out, const Function& function, const Tensor<Inputs>&... inputs) {
  const std::int64_t count = out.numel();
  if (count == 0) return;
  const bool dense = out.is_contiguous() && (... && (inputs.is_contiguous() && inputs.shape() == out.shape()));
  if (dense) {
    Out* const out_data = out.data();
    const std::tuple<const Inputs*...> input_data = {inputs.data()...};
    parallel_for(0, count, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
      std::apply(
          [&](const auto*... pointers) {
            if constexpr (has_array_form<Function, Out, Inputs...>) {
              ArrayForm<Function>::apply(out_data + begin, (pointers + begin)..., end - begin);  // Eigen packets
            } else {
              for (std::int64_t i = begin; i < end; ++i) out_data[i] = function(pointers[i]...);
            }
          },
          input_data);
    });
    return;
  }
  detail::map_strided(out, function, std::index_sequence_for<Inputs...>{}, inputs...);
}

}  // namespace nabla::backend::cpu
