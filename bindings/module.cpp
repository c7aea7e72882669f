// gatelab._core: the compiled core. One bind_* function per area, each in its own file.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "gatelab/build_info.hpp"
#include "gatelab/errors.hpp"
#include "bind_gate_base.hpp"

namespace py = pybind11;

namespace gatelab {
void bind_graph(py::module_& m);
void bind_elementwise_gates(py::module_& gates);
void bind_gradcheck(py::module_& m);
void bind_linalg_gates(py::module_& gates);
void bind_loss_gates(py::module_& gates);
void bind_convolution_gates(py::module_& m, py::module_& gates);
void bind_benchmark(py::module_& m);
void bind_latch(py::module_& m);
}  // namespace gatelab

PYBIND11_MODULE(_core, m) {
  using namespace gatelab;
  m.doc() = "gatelab's C++ core: tensors, gates, the computational graph.";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const gatelab::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const gatelab::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  m.def("build_info", [] {
    py::dict d;
    for (const auto& [key, value] : gatelab::build_info()) d[py::str(key)] = value;
    return d;
  }, "Version, compiler and flags, OpenMP and BLAS of this build.");
  m.def("set_num_threads", &gatelab::set_num_threads, py::arg("n"),
        "Threads for gatelab's OpenMP loops and for BLAS.");
  m.def("get_num_threads", &gatelab::get_num_threads);

  py::module_ gates = m.def_submodule("gates", "Built-in gates, usable standalone or in a Graph.");
  bind_native_gate_base(m);
  bind_graph(m);
  bind_elementwise_gates(gates);
  bind_gradcheck(m);
  bind_linalg_gates(gates);
  bind_loss_gates(gates);
  bind_convolution_gates(m, gates);
  bind_benchmark(m);
  bind_latch(m);
}
