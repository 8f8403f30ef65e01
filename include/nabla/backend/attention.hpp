// nabla/backend/attention.hpp - fused scaled dot-product attention on the tensors' device:
// backend/cpu/attention.hpp on the CPU, kernels/attention.cu on a GPU (the math they share is
// backend/attention_math.hpp).
#pragma once

#include "nabla/backend/attention_math.hpp"
#include "nabla/backend/cpu/attention.hpp"
#include "nabla/backend/dispatch.hpp"

namespace nabla::backend {

/// out [B, H, Tq, Dv] and the row logsumexp [B, H, Tq] of the dense q, k, v (mask pointers in
/// `arguments` on the same device).
template <typename T>
void attention_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                       const AttentionArguments<T>& arguments, Tensor<T>& out, Tensor<T>& logsumexp) {
  if (q.device().is_cpu()) {
    cpu::attention_forward(q.data(), k.data(), v.data(), arguments, out.data(), logsumexp.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::attention_forward(device_data(q), device_data(k), device_data(v), arguments, device_data(out),
                          device_data(logsumexp), q.device().index());
#else
  (void)k, (void)v, (void)arguments, (void)out, (void)logsumexp;
  throw_no_cuda("scaled_dot_product_attention", q.device());
#endif
}

/// The gradients of q, k, v (written) from the gradient of the output and what the forward kept.
template <typename T>
void attention_backward(const Tensor<T>& grad_out, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                        const Tensor<T>& out, const Tensor<T>& logsumexp, const AttentionArguments<T>& arguments,
                        Tensor<T>& grad_q, Tensor<T>& grad_k, Tensor<T>& grad_v) {
  // D_i = dO_i . O_i, one per query row: scratch shared by both devices' kernels.
  Tensor<T> row_dot = empty<T>(logsumexp.shape(), q.device());
  if (q.device().is_cpu()) {
    cpu::attention_backward(grad_out.data(), q.data(), k.data(), v.data(), out.data(), logsumexp.data(), arguments,
                            row_dot.data(), grad_q.data(), grad_k.data(), grad_v.data());
    return;
  }
#if defined(NABLA_WITH_CUDA)
  cuda::attention_backward(device_data(grad_out), device_data(q), device_data(k), device_data(v), device_data(out),
                           device_data(logsumexp), arguments, device_data(row_dot), device_data(grad_q),
                           device_data(grad_k), device_data(grad_v), q.device().index());
#else
  (void)grad_out, (void)k, (void)v, (void)out, (void)arguments, (void)grad_q, (void)grad_k, (void)grad_v;
  throw_no_cuda("scaled_dot_product_attention backward", q.device());
#endif
}

}  // namespace nabla::backend
