#include "gatelab/tensor.hpp"

#include <cstdlib>
#include <cstring>

#include "gatelab/parallel.hpp"

namespace gatelab {

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::size_t shape_numel(const Shape& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.size_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  // 64-byte alignment suits AVX-512 loads; aligned_alloc wants a multiple of the alignment.
  std::size_t bytes = ((t.size_ * dtype_size(dtype) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) fail<ValueError>("out of memory allocating a tensor of shape ", shape_str(t.shape_));
  t.storage_ = std::shared_ptr<void>(p, std::free);
  t.data_ = p;
  t.owned_ = true;
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t = empty(dtype, std::move(shape));
  t.fill_zero();
  return t;
}

Tensor Tensor::full(DType dtype, Shape shape, double value) {
  Tensor t = empty(dtype, std::move(shape));
  t.fill(value);
  return t;
}

Tensor Tensor::borrow(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.size_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  t.storage_ = std::move(owner);
  t.data_ = data;
  t.owned_ = false;
  return t;
}

double Tensor::item() const {
  if (size_ != 1) fail<ValueError>("item(): tensor of shape ", shape_str(shape_), " is not a single value");
  switch (dtype_) {
    case DType::float32: return *static_cast<const float*>(data_);
    case DType::float64: return *static_cast<const double*>(data_);
    case DType::int64: return static_cast<double>(*static_cast<const std::int64_t*>(data_));
  }
  return 0.0;
}

Tensor Tensor::clone() const {
  Tensor t = empty(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != size_)
    fail<ValueError>("reshape: cannot view ", size_, " elements of shape ", shape_str(shape_), " as ",
                     shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

void Tensor::fill(double value) {
  switch (dtype_) {
    case DType::float32: std::fill_n(static_cast<float*>(data_), size_, static_cast<float>(value)); break;
    case DType::float64: std::fill_n(static_cast<double*>(data_), size_, value); break;
    case DType::int64:
      std::fill_n(static_cast<std::int64_t*>(data_), size_, static_cast<std::int64_t>(value));
      break;
  }
}

void Tensor::fill_zero() {
  if (nbytes()) std::memset(data_, 0, nbytes());
}

void Tensor::copy_from(const Tensor& other) {
  if (other.dtype_ != dtype_ || other.size_ != size_)
    fail<ValueError>("copy: ", dtype_name(other.dtype_), shape_str(other.shape_), " into ",
                     dtype_name(dtype_), shape_str(shape_));
  if (nbytes()) std::memcpy(data_, other.data_, nbytes());
}

void Tensor::add_from(const Tensor& other) {
  if (other.dtype_ != dtype_ || other.size_ != size_)
    fail<ValueError>("accumulate: ", dtype_name(other.dtype_), shape_str(other.shape_), " into ",
                     dtype_name(dtype_), shape_str(shape_));
  dispatch_float(dtype_, "accumulate", [&](auto tag) {
    using T = decltype(tag);
    T* dst = static_cast<T*>(data_);
    const T* src = static_cast<const T*>(other.data_);
    parallel_for(size_, [&](std::size_t i) { dst[i] += src[i]; });
  });
}

void ensure_tensor(Tensor& t, DType dtype, const Shape& shape) {
  if (t.defined() && t.exclusive() && t.dtype() == dtype && t.shape() == shape) return;
  t = Tensor::empty(dtype, shape);
}

}  // namespace gatelab
