// A user's program: one include, one tensor. Exit code 0 means nabla was found and works.
#include <nabla/nabla.hpp>

int main() {
  auto t = nabla::zeros<float>({2, 3});
  return t.numel() == 6 ? 0 : 1;
}
