// Tensor: the value that flows along a graph edge.
//
// A dtype, a C-contiguous shape and shared storage. The storage is either owned (allocated
// here, 64-byte aligned) or borrowed from a NumPy array, which the owner handle keeps alive:
// that is how arrays enter without a copy. Kernels take raw pointers from data<T>(); when an
// xtensor expression is the clearest way to say something, view<T, N>() adapts the same memory
// as a fixed-rank xt::xtensor_adaptor (no copy, no dynamic rank).
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>

#include "gatelab/errors.hpp"

namespace gatelab {

enum class DType : std::uint8_t { float32, float64, int64 };

using Shape = std::vector<std::size_t>;

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::float32; }
template <>
constexpr DType dtype_of<double>() { return DType::float64; }
template <>
constexpr DType dtype_of<std::int64_t>() { return DType::int64; }

std::string dtype_name(DType dtype);             // "float64"
std::size_t dtype_size(DType dtype);             // bytes per element
std::string shape_str(const Shape& shape);       // "(2, 3)", "()" for a scalar
std::size_t shape_numel(const Shape& shape);
inline bool is_float(DType dtype) { return dtype != DType::int64; }

class Tensor {
 public:
  Tensor() = default;  // undefined: no dtype, no storage

  static Tensor empty(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  static Tensor full(DType dtype, Shape shape, double value);
  // Wraps memory owned by someone else; `owner` keeps it alive (a NumPy array, say).
  static Tensor borrow(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::size_t ndim() const { return shape_.size(); }
  std::size_t size() const { return size_; }
  std::size_t nbytes() const { return size_ * dtype_size(dtype_); }
  bool owns_memory() const { return owned_; }
  // True when nothing outside this handle (no NumPy view, no other tensor) shares the storage,
  // so a forward pass may overwrite it instead of allocating.
  bool exclusive() const { return owned_ && storage_.use_count() == 1; }
  const std::shared_ptr<void>& storage() const { return storage_; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }

  template <class T>
  T* data() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(data_);
  }

  // A fixed-rank xtensor view of the same memory (N must equal ndim()).
  template <class T, std::size_t N>
  auto view() {
    return xt::adapt(data<T>(), size_, xt::no_ownership(), fixed_shape<N>());
  }
  template <class T, std::size_t N>
  auto view() const {
    return xt::adapt(data<T>(), size_, xt::no_ownership(), fixed_shape<N>());
  }

  double item() const;            // the single element of a size-1 tensor, as double
  Tensor clone() const;           // an owned deep copy
  Tensor reshaped(Shape shape) const;  // same storage, new shape (sizes must agree)
  void fill(double value);
  void fill_zero();
  void copy_from(const Tensor& other);  // same dtype and size
  void add_from(const Tensor& other);   // this += other, same dtype and size

 private:
  template <std::size_t N>
  std::array<std::size_t, N> fixed_shape() const {
    if (shape_.size() != N) fail<ValueError>("tensor has shape ", shape_str(shape_), ", not rank ", N);
    std::array<std::size_t, N> s{};
    for (std::size_t i = 0; i < N; ++i) s[i] = shape_[i];
    return s;
  }
  void check_dtype(DType wanted) const {
    if (wanted != dtype_) fail<TypeError>("tensor is ", dtype_name(dtype_), ", not ", dtype_name(wanted));
  }

  DType dtype_ = DType::float64;
  Shape shape_;
  std::size_t size_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  bool owned_ = false;
};

// Makes `t` an owned tensor of this dtype and shape, reusing its storage when nobody else
// holds it: a re-run forward pass then allocates nothing. Contents are unspecified.
void ensure_tensor(Tensor& t, DType dtype, const Shape& shape);

// Calls f(T{}) with T the C++ type of a floating dtype; `who` names the caller in the error.
template <class F>
decltype(auto) dispatch_float(DType dtype, const std::string& who, F&& f) {
  switch (dtype) {
    case DType::float64: return f(double{});
    case DType::float32: return f(float{});
    default:
      fail<TypeError>(who, ": input is ", dtype_name(dtype),
                      "; gates compute in float64 or float32 (pass x.astype(np.float64))");
  }
}

}  // namespace gatelab
