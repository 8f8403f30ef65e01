// nabla/backend/elementwise_ops.hpp - the one list of nabla's plain unary elementwise ops.
//
// NABLA_UNARY_OPS(X) calls X(name, Forward, Derivative, reads, domain) once per op:
//   name        the public function nb::name(x) and the name of its autograd node
//   Forward     the functor of backend/functors.hpp computing y = f(x)
//   Derivative  the functor computing dy/dx from the input x (reads = input) or from the
//               output y (reads = output, cheaper where f is an exp or a tanh); the backward
//               is grad * Derivative(x or y), backend::ChainRule
//   domain      where the op is defined and smooth, for the tests: real or positive
// The math of each op (value and derivative, with the derivative's one-line comment) sits in
// backend/functors.hpp, the two functors side by side. Every use is generated from this list:
//   ops/unary.hpp                    the public nb::name(x) with its record_op backward
//   kernels/elementwise_math.cu      the CUDA map instantiations of Forward and its backward
//   tests/test_elementwise_ops.cpp   values and derivatives against independent references,
//                                    gradcheck in double (a listed op without a reference fails)
//   tests/cuda/test_cuda_parity.cpp  the GPU against the CPU, forward and backward
// So adding a unary op touches three files: its two functors in backend/functors.hpp, one line
// here, and its reference formulas in tests/test_elementwise_ops.cpp (docs/architecture.md).
// Ops with a parameter (pow(x, p), leaky_relu, clamp) or two operands stay hand-written in ops/.
#pragma once

namespace nabla::backend {

/// Which value a listed op's derivative reads.
enum class Reads { input, output };

/// Where a listed op is defined and differentiable (what its tests draw inputs from).
enum class Domain { real, positive };

// clang-format off
#define NABLA_UNARY_OPS(X)                                                                 \
  X(exp,      Exp,      ExpDerivativeFromOutput,     output, real)     /* e^x          */ \
  X(log,      Log,      LogDerivative,               input,  positive) /* ln x         */ \
  X(sqrt,     Sqrt,     SqrtDerivativeFromOutput,    output, positive) /* sqrt x       */ \
  X(square,   Square,   SquareDerivative,            input,  real)     /* x^2          */ \
  X(abs,      Abs,      Sign,                        input,  real)     /* |x|          */ \
  X(tanh,     Tanh,     TanhDerivativeFromOutput,    output, real)     /* tanh x       */ \
  X(sigmoid,  Sigmoid,  SigmoidDerivativeFromOutput, output, real)     /* 1/(1+e^-x)   */ \
  X(relu,     Relu,     ReluDerivative,              input,  real)     /* max(x, 0)    */ \
  X(gelu,     Gelu,     GeluDerivative,              input,  real)     /* x Phi(x)     */ \
  X(softplus, Softplus, SoftplusDerivative,          input,  real)     /* ln(1 + e^x)  */ \
  X(silu,     Silu,     SiluDerivative,              input,  real)     /* x sigmoid(x) */ \
  X(gelu_tanh, GeluTanh, GeluTanhDerivative,         input,  real)     /* GELU, tanh form */
// clang-format on

}  // namespace nabla::backend
