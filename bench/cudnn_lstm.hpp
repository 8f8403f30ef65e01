// bench/cudnn_lstm.hpp - one LSTM layer through cuDNN's RNN API (cuDNN 8.x/9.x, the "_v8"
// functions), as the reference bench_cuda.cpp compares nabla's fused LSTM with.
//
// The layer is what nabla::nn::LSTM computes: one unidirectional layer, two bias vectors
// (CUDNN_RNN_DOUBLE_BIAS, as PyTorch), zero initial state (hx = cx = nullptr), the whole output
// sequence. Differences that do not change the work: cuDNN keeps the sequences time-major
// ([steps, batch, features], CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, what PyTorch passes it;
// with every sequence full-length, packed and padded are the same memory) where nabla is
// batch-major, and its weights live in one opaque buffer that we fill with uniform values in
// [-1/sqrt(hidden), 1/sqrt(hidden)] (only the timing matters here, not the values).
//
// Math: CUDNN_FMA_MATH by default, plain FP32 without TF32 tensor cores, like nabla's GEMMs
// (backend::cuda::allow_tf32() is off by default). CUDNN_DEFAULT_MATH lets cuDNN use TF32.
//
// Every cuDNN and CUDA call is checked; a failure throws std::runtime_error naming the call.
// Host C++ only (no kernels): link cudnn and CUDA::cudart.
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if !defined(CUDNN_MAJOR) || CUDNN_MAJOR < 8
#error "bench/cudnn_lstm.hpp needs cuDNN 8 or newer (cudnnRNNForward and the _v8 RNN API)"
#endif

namespace bench::cudnn {

/// The name of the function in a checked expression: "cudnnRNNForward(handle, ...)" ->
/// "cudnnRNNForward".
inline std::string call_name(const char* expression) {
  const std::string text = expression;
  return text.substr(0, text.find('('));
}

inline void check(cudnnStatus_t status, const char* expression) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error(call_name(expression) + " failed: " + cudnnGetErrorString(status) + " (cuDNN status " +
                             std::to_string(static_cast<int>(status)) + ")");
}

inline void check(cudaError_t status, const char* expression) {
  if (status != cudaSuccess) throw std::runtime_error(call_name(expression) + " failed: " + cudaGetErrorString(status));
}

#define NABLA_BENCH_CHECK(expression) ::bench::cudnn::check((expression), #expression)

/// An owned cuDNN object (handle or descriptor), destroyed with `Destroy`.
template <typename Object, cudnnStatus_t (*Destroy)(Object)>
class Owned {
 public:
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (object_ != nullptr) (void)Destroy(object_);  // never throw from a destructor
  }
  Object get() const { return object_; }
  Object* address() { return &object_; }

 private:
  Object object_ = nullptr;
};

/// Device memory from cudaMalloc, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes > 0) NABLA_BENCH_CHECK(cudaMalloc(&data_, bytes));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~DeviceBuffer() {
    if (data_ != nullptr) (void)cudaFree(data_);
  }
  void* get() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Fills `buffer` (floats) with uniform values in [low, high) from a fixed seed.
inline void fill_uniform(const DeviceBuffer& buffer, float low, float high, std::uint32_t seed) {
  std::vector<float> values(buffer.bytes() / sizeof(float));
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  for (float& value : values) value = distribution(engine);
  NABLA_BENCH_CHECK(cudaMemcpy(buffer.get(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
}

inline void fill_value(const DeviceBuffer& buffer, float value) {
  const std::vector<float> values(buffer.bytes() / sizeof(float), value);
  NABLA_BENCH_CHECK(cudaMemcpy(buffer.get(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
}

/// The process's cuDNN handle on the current device, created on first use (cudnnCreate loads
/// cuDNN's sub-libraries, which takes a while) and bound to the legacy default stream, the one
/// nabla's kernels use unless backend::cuda::set_stream chose another. Never destroyed: a
/// cudnnDestroy while the CUDA runtime shuts down at exit could fail, and the process ends.
inline cudnnHandle_t handle() {
  static const cudnnHandle_t created = [] {
    cudnnHandle_t value = nullptr;
    NABLA_BENCH_CHECK(cudnnCreate(&value));
    return value;
  }();
  return created;
}

/// One LSTM layer, input_size -> hidden, over `steps` steps of `batch` sequences, with every
/// buffer a training step needs. forward_inference(), forward_training() and, after the
/// latter, backward() queue their work on the default stream and return (asynchronous).
class LSTMLayer {
 public:
  LSTMLayer(int batch, int steps, int input_size, int hidden, cudnnMathType_t math = CUDNN_FMA_MATH) {
    cudnnHandle_t cudnn = handle();

    // Dropout is off (one layer), but cudnnSetRNNDescriptor_v8 takes a dropout descriptor.
    NABLA_BENCH_CHECK(cudnnCreateDropoutDescriptor(dropout_.address()));
    std::size_t state_bytes = 0;
    NABLA_BENCH_CHECK(cudnnDropoutGetStatesSize(cudnn, &state_bytes));
    dropout_states_ = DeviceBuffer(state_bytes);
    NABLA_BENCH_CHECK(
        cudnnSetDropoutDescriptor(dropout_.get(), cudnn, 0.0f, dropout_states_.get(), state_bytes, 1234ULL));

    NABLA_BENCH_CHECK(cudnnCreateRNNDescriptor(rnn_.address()));
    NABLA_BENCH_CHECK(cudnnSetRNNDescriptor_v8(rnn_.get(), CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                                               CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
                                               CUDNN_DATA_FLOAT, math, input_size, hidden, /*projSize=*/hidden,
                                               /*numLayers=*/1, dropout_.get(), CUDNN_RNN_PADDED_IO_DISABLED));

    // Every sequence has all `steps` steps; cuDNN wants the lengths on the host (descriptors)
    // and on the device (devSeqLengths, read by its kernels).
    const std::vector<int> lengths(static_cast<std::size_t>(batch), steps);
    NABLA_BENCH_CHECK(cudnnCreateRNNDataDescriptor(x_descriptor_.address()));
    NABLA_BENCH_CHECK(cudnnSetRNNDataDescriptor(x_descriptor_.get(), CUDNN_DATA_FLOAT,
                                                CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, steps, batch, input_size,
                                                lengths.data(), nullptr));
    NABLA_BENCH_CHECK(cudnnCreateRNNDataDescriptor(y_descriptor_.address()));
    NABLA_BENCH_CHECK(cudnnSetRNNDataDescriptor(y_descriptor_.get(), CUDNN_DATA_FLOAT,
                                                CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, steps, batch, hidden,
                                                lengths.data(), nullptr));
    device_lengths_ = DeviceBuffer(lengths.size() * sizeof(std::int32_t));
    NABLA_BENCH_CHECK(cudaMemcpy(device_lengths_.get(), lengths.data(), lengths.size() * sizeof(std::int32_t),
                                 cudaMemcpyHostToDevice));

    // h and c: [layers, batch, hidden], fully packed.
    const int state_dims[3] = {1, batch, hidden};
    const int state_strides[3] = {batch * hidden, hidden, 1};
    NABLA_BENCH_CHECK(cudnnCreateTensorDescriptor(state_descriptor_.address()));
    NABLA_BENCH_CHECK(
        cudnnSetTensorNdDescriptor(state_descriptor_.get(), CUDNN_DATA_FLOAT, 3, state_dims, state_strides));

    std::size_t weight_bytes = 0;
    NABLA_BENCH_CHECK(cudnnGetRNNWeightSpaceSize(cudnn, rnn_.get(), &weight_bytes));
    weights_ = DeviceBuffer(weight_bytes);
    weight_gradients_ = DeviceBuffer(weight_bytes);
    const float bound = 1.0f / std::sqrt(static_cast<float>(hidden));
    fill_uniform(weights_, -bound, bound, 1);
    NABLA_BENCH_CHECK(cudaMemset(weight_gradients_.get(), 0, weight_bytes));

    std::size_t inference_workspace = 0, inference_reserve = 0;
    NABLA_BENCH_CHECK(cudnnGetRNNTempSpaceSizes(cudnn, rnn_.get(), CUDNN_FWD_MODE_INFERENCE, x_descriptor_.get(),
                                                &inference_workspace, &inference_reserve));
    std::size_t training_workspace = 0, reserve_bytes = 0;
    NABLA_BENCH_CHECK(cudnnGetRNNTempSpaceSizes(cudnn, rnn_.get(), CUDNN_FWD_MODE_TRAINING, x_descriptor_.get(),
                                                &training_workspace, &reserve_bytes));
    workspace_ = DeviceBuffer(std::max(inference_workspace, training_workspace));
    reserve_ = DeviceBuffer(reserve_bytes);

    const std::size_t x_bytes = sizeof(float) * static_cast<std::size_t>(steps) * static_cast<std::size_t>(batch) *
                                static_cast<std::size_t>(input_size);
    const std::size_t y_bytes = sizeof(float) * static_cast<std::size_t>(steps) * static_cast<std::size_t>(batch) *
                                static_cast<std::size_t>(hidden);
    x_ = DeviceBuffer(x_bytes);
    x_gradient_ = DeviceBuffer(x_bytes);
    y_ = DeviceBuffer(y_bytes);
    y_gradient_ = DeviceBuffer(y_bytes);
    fill_uniform(x_, -1.0f, 1.0f, 2);
    fill_value(y_gradient_, 1.0f);  // as bench_cuda's nabla LSTM: a gradient of ones
    NABLA_BENCH_CHECK(cudaDeviceSynchronize());
  }

  /// y = LSTM(x), no reserve space kept (CUDNN_FWD_MODE_INFERENCE).
  void forward_inference() {
    NABLA_BENCH_CHECK(cudnnRNNForward(handle(), rnn_.get(), CUDNN_FWD_MODE_INFERENCE,
                                      static_cast<const std::int32_t*>(device_lengths_.get()), x_descriptor_.get(),
                                      x_.get(), y_descriptor_.get(), y_.get(), state_descriptor_.get(), nullptr,
                                      nullptr, state_descriptor_.get(), nullptr, nullptr, weights_.bytes(),
                                      weights_.get(), workspace_.bytes(), workspace_.get(), 0, nullptr));
  }

  /// y = LSTM(x), keeping in the reserve space what backward() needs.
  void forward_training() {
    NABLA_BENCH_CHECK(cudnnRNNForward(
        handle(), rnn_.get(), CUDNN_FWD_MODE_TRAINING, static_cast<const std::int32_t*>(device_lengths_.get()),
        x_descriptor_.get(), x_.get(), y_descriptor_.get(), y_.get(), state_descriptor_.get(), nullptr, nullptr,
        state_descriptor_.get(), nullptr, nullptr, weights_.bytes(), weights_.get(), workspace_.bytes(),
        workspace_.get(), reserve_.bytes(), reserve_.get()));
  }

  /// dx from dy (cudnnRNNBackwardData_v8), then dW (cudnnRNNBackwardWeights_v8, which needs
  /// the reserve space as BackwardData left it). cuDNN adds into dW (CUDNN_WGRAD_MODE_ADD, the
  /// only mode it supports), so zero_weight_gradients() between steps, as a zero_grad().
  void backward() {
    NABLA_BENCH_CHECK(cudnnRNNBackwardData_v8(
        handle(), rnn_.get(), static_cast<const std::int32_t*>(device_lengths_.get()), y_descriptor_.get(), y_.get(),
        y_gradient_.get(), x_descriptor_.get(), x_gradient_.get(), state_descriptor_.get(), nullptr, nullptr, nullptr,
        state_descriptor_.get(), nullptr, nullptr, nullptr, weights_.bytes(), weights_.get(), workspace_.bytes(),
        workspace_.get(), reserve_.bytes(), reserve_.get()));
    NABLA_BENCH_CHECK(cudnnRNNBackwardWeights_v8(
        handle(), rnn_.get(), CUDNN_WGRAD_MODE_ADD, static_cast<const std::int32_t*>(device_lengths_.get()),
        x_descriptor_.get(), x_.get(), state_descriptor_.get(), nullptr, y_descriptor_.get(), y_.get(),
        weight_gradients_.bytes(), weight_gradients_.get(), workspace_.bytes(), workspace_.get(), reserve_.bytes(),
        reserve_.get()));
  }

  void zero_weight_gradients() {
    NABLA_BENCH_CHECK(cudaMemsetAsync(weight_gradients_.get(), 0, weight_gradients_.bytes()));
  }

  std::size_t weight_bytes() const { return weights_.bytes(); }
  std::size_t workspace_bytes() const { return workspace_.bytes(); }
  std::size_t reserve_bytes() const { return reserve_.bytes(); }

 private:
  Owned<cudnnDropoutDescriptor_t, cudnnDestroyDropoutDescriptor> dropout_;
  Owned<cudnnRNNDescriptor_t, cudnnDestroyRNNDescriptor> rnn_;
  Owned<cudnnRNNDataDescriptor_t, cudnnDestroyRNNDataDescriptor> x_descriptor_, y_descriptor_;
  Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> state_descriptor_;
  DeviceBuffer dropout_states_, device_lengths_, weights_, weight_gradients_, workspace_, reserve_, x_, x_gradient_, y_,
      y_gradient_;
};

}  // namespace bench::cudnn
