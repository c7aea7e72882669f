#include "numpy_bridge.hpp"

#include <cstdint>
#include <vector>

namespace gatelab {

namespace {

// Keeps a Python object alive from C++; dropping the last reference takes the GIL.
std::shared_ptr<void> keep_alive(py::object obj) {
  return std::shared_ptr<void>(new py::object(std::move(obj)), [](void* p) {
    auto* o = static_cast<py::object*>(p);
    if (Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      delete o;
    } else {
      o->release();  // the interpreter is gone; nothing left to decref
      delete o;
    }
  });
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32: return py::dtype::of<float>();
    case DType::float64: return py::dtype::of<double>();
    case DType::int64: return py::dtype::of<std::int64_t>();
  }
  return py::dtype::of<double>();
}

}  // namespace

std::optional<DType> dtype_from_numpy(const py::dtype& dt) {
  if (dt.equal(py::dtype::of<double>())) return DType::float64;
  if (dt.equal(py::dtype::of<float>())) return DType::float32;
  if (dt.equal(py::dtype::of<std::int64_t>())) return DType::int64;
  return std::nullopt;
}

DType dtype_from_string(const std::string& name) {
  if (name == "float64") return DType::float64;
  if (name == "float32") return DType::float32;
  if (name == "int64") return DType::int64;
  fail<TypeError>("dtype '", name, "' is not supported; use float64, float32 or int64 (labels)");
}

Tensor tensor_from_python(py::handle obj, const std::string& who, std::optional<DType> want) {
  // Python numbers carry no dtype: they take the one wanted (float64 by default).
  if (py::isinstance<py::bool_>(obj))
    fail<TypeError>(who, ": got a bool; pass a number or an array of numbers");
  if (py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj)) {
    DType dtype = want.value_or(DType::float64);
    if (dtype == DType::int64 && py::isinstance<py::float_>(obj))
      fail<TypeError>(who, ": expects int64 (labels) but got the float ", py::str(obj).cast<std::string>());
    Tensor t = Tensor::empty(dtype, {});
    if (dtype == DType::int64) *t.data<std::int64_t>() = obj.cast<std::int64_t>();
    else t.fill(obj.cast<double>());
    return t;
  }
  py::module_ np = py::module_::import("numpy");
  py::object arr_obj = py::reinterpret_borrow<py::object>(obj);
  if (!py::isinstance<py::array>(arr_obj)) {
    if (py::hasattr(arr_obj, "__dict__") && py::hasattr(arr_obj, "graph") && py::hasattr(arr_obj, "id"))
      fail<TypeError>(who, ": got a graph node where an array was expected");
    try {
      arr_obj = np.attr("asarray")(arr_obj);
    } catch (py::error_already_set&) {
      fail<TypeError>(who, ": cannot turn a ", py::str(py::type::of(obj).attr("__name__")).cast<std::string>(),
                      " into an array");
    }
  }
  py::array arr = py::reinterpret_borrow<py::array>(arr_obj);
  std::optional<DType> dtype = dtype_from_numpy(arr.dtype());
  if (!dtype) {
    std::string kind = py::str(arr.dtype()).cast<std::string>();
    fail<TypeError>(who, ": arrays of dtype ", kind, " are not supported; gatelab computes in float64 or ",
                    "float32 (labels: int64). Convert explicitly, e.g. x.astype(np.float64)");
  }
  if (want && *want != *dtype) {
    // A Python-number-like 0-d array of another float type is still a real dtype: refuse it.
    fail<TypeError>(who, ": expects ", dtype_name(*want), " but the array is ", dtype_name(*dtype),
                    "; gatelab never casts silently, pass x.astype(np.", dtype_name(*want), ")");
  }
  if (!(arr.flags() & py::array::c_style)) arr = np.attr("ascontiguousarray")(arr);
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  void* data = const_cast<void*>(arr.data());
  return Tensor::borrow(*dtype, std::move(shape), data, keep_alive(arr));
}

py::object numpy_from_tensor(const Tensor& t, bool scalars_as_float) {
  if (!t.defined()) return py::none();
  if (scalars_as_float && t.ndim() == 0 && t.dtype() == DType::float64) return py::float_(t.item());
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  // The capsule holds a reference to the storage for as long as NumPy's view lives.
  auto* hold = new std::shared_ptr<void>(t.storage());
  py::capsule base(hold, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  py::array out(numpy_dtype(t.dtype()), shape, {}, t.raw(), base);
  py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return out;
}

py::array writable_numpy(Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  auto* hold = new std::shared_ptr<void>(t.storage());
  py::capsule base(hold, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  return py::array(numpy_dtype(t.dtype()), shape, {}, t.raw(), base);
}

}  // namespace gatelab
