// nabla/core/device.hpp - where a tensor's memory lives.
#pragma once

#include <string>

namespace nabla {

enum class DeviceType { cpu, cuda };

/// A device: the CPU, or one CUDA GPU identified by its index.
class Device {
 public:
  constexpr Device() = default;
  static constexpr Device cpu() { return Device(DeviceType::cpu, 0); }
  static constexpr Device cuda(int index = 0) { return Device(DeviceType::cuda, index); }

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return type_ == DeviceType::cpu; }
  constexpr bool is_cuda() const { return type_ == DeviceType::cuda; }

  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }
  friend constexpr bool operator==(const Device&, const Device&) = default;

 private:
  constexpr Device(DeviceType type, int index) : type_(type), index_(index) {}
  DeviceType type_ = DeviceType::cpu;
  int index_ = 0;
};

}  // namespace nabla
