// A minimal owning tensor: a contiguous row-major buffer with a shape. The
// model keeps its activations in these; parameters live in one flat buffer
// and are addressed by offset instead.
#ifndef SPARSE_TRANSFORMER_CORE_TENSOR_H_
#define SPARSE_TRANSFORMER_CORE_TENSOR_H_

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace st {

template <typename T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape) { Resize(std::move(shape)); }
  Tensor(std::initializer_list<int64_t> shape)
      : Tensor(std::vector<int64_t>(shape)) {}

  // Reshapes and zero-fills; reuses the allocation when it is large enough.
  void Resize(std::vector<int64_t> shape) {
    shape_ = std::move(shape);
    int64_t n = 1;
    for (int64_t s : shape_) n *= s;
    data_.assign(n, T(0));
  }
  void Zero() { data_.assign(data_.size(), T(0)); }
  // Frees the storage (shape becomes empty).
  void Release() {
    shape_.clear();
    std::vector<T>().swap(data_);
  }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  int64_t size() const { return static_cast<int64_t>(data_.size()); }
  int64_t bytes() const { return size() * static_cast<int64_t>(sizeof(T)); }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  T& operator[](int64_t i) { return data_[i]; }
  const T& operator[](int64_t i) const { return data_[i]; }

 private:
  std::vector<int64_t> shape_;
  std::vector<T> data_;
};

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_TENSOR_H_
