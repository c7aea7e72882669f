// Binds the linear-algebra and shape gates into gatelab._core.gates.
#include <pybind11/stl.h>

#include "bind_gate_base.hpp"
#include "gatelab/gates/linalg.hpp"
#include "gatelab/gates/shape.hpp"

namespace gatelab {

namespace {

// An int or a sequence of ints, as NumPy accepts for shapes and axes.
template <class Int>
std::vector<Int> ints_from(py::handle obj) {
  if (py::isinstance<py::int_>(obj)) return {obj.cast<Int>()};
  return obj.cast<std::vector<Int>>();
}

}  // namespace

void bind_linalg_gates(py::module_& gates) {
  bind_gate<MatMulGate>(gates, "MatMul", R"pbdoc(
Y = A @ B with NumPy's matmul rules: A (..., m, k) @ B (..., k, n) -> (..., m, n). A 1-D A (k,)
acts as (1, k) and a 1-D B (k,) as (k, 1), the added 1 removed from the result; the leading
(batch) dimensions broadcast. dA = dY @ B^T, dB = A^T @ dY, summed over stretched batches.
)pbdoc")
      .def(py::init<>());
  bind_gate<AffineGate>(gates, "Affine", R"pbdoc(
The course's affine layer: x (N, d1, ..., dk) reshaped to (N, D), w (D, M), b (M,) -> x @ w + b,
shape (N, M). dx = dout @ w^T (reshaped like x), dw = x^T @ dout, db = dout summed over rows.
)pbdoc")
      .def(py::init<>());
  bind_gate<TransposeGate>(gates, "Transpose",
                           "y = x.transpose(axes); axes=None reverses all dimensions (x.T). dx = dout transposed back.")
      .def(py::init([](py::handle axes) {
             return std::make_shared<TransposeGate>(axes.is_none() ? std::vector<int>{} : ints_from<int>(axes));
           }),
           py::arg("axes") = py::none())
      .def_property_readonly("axes", [](const TransposeGate& g) -> py::object {
        if (g.axes().empty()) return py::none();
        return py::tuple(py::cast(g.axes()));
      });
  bind_gate<ReshapeGate>(gates, "Reshape", R"pbdoc(
y = x.reshape(shape) with NumPy's rules (one -1 is inferred). The output shares x's memory.
dx = dout reshaped like x.
)pbdoc")
      .def(py::init([](py::handle shape) { return std::make_shared<ReshapeGate>(ints_from<long long>(shape)); }),
           py::arg("shape"))
      .def_property_readonly("shape", [](const ReshapeGate& g) { return py::tuple(py::cast(g.shape())); });
  bind_gate<FlattenGate>(gates, "Flatten",
                         "x (N, d1, ..., dk) -> (N, d1*...*dk), sharing x's memory. dx = dout reshaped like x.")
      .def(py::init<>());
}

}  // namespace gatelab
