// NumPy <-> Tensor. Arrays come in without a copy when they are C-contiguous float64, float32
// or int64 (the Tensor then borrows the array's memory and keeps the array alive); a
// non-contiguous array is copied into contiguous memory, so values are always right. A dtype
// that does not match what a graph node expects is refused, never cast. Tensors go out as
// read-only NumPy views of their storage (no copy either).
#pragma once

#include <optional>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "gatelab/tensor.hpp"

namespace gatelab {
namespace py = pybind11;

// Python float/int, NumPy array or array-like -> Tensor. `want` fixes the dtype (Python numbers
// take it; an array of another dtype is a TypeError naming `who`).
Tensor tensor_from_python(py::handle obj, const std::string& who, std::optional<DType> want = std::nullopt);

// Tensor -> read-only NumPy array sharing its storage. A single float64 with shape () comes out
// as a Python float when `scalars_as_float` (what students expect to see for x.grad).
py::object numpy_from_tensor(const Tensor& t, bool scalars_as_float = true);

// A writable view (only for in-place perturbation of leaf values by numerical checks).
py::array writable_numpy(Tensor& t);

std::optional<DType> dtype_from_numpy(const py::dtype& dt);
DType dtype_from_string(const std::string& name);  // "float64", "float32", "int64"

}  // namespace gatelab
