// Binds the numerical-gradient engine: gatelab._core.check_jacobians / check_vjp.
#include <pybind11/stl.h>

#include "gatelab/gradcheck.hpp"
#include "numpy_bridge.hpp"

namespace gatelab {

namespace {
py::list as_pairs(const std::vector<LeafCheck>& checks) {
  py::list out;
  for (const LeafCheck& c : checks)
    out.append(py::make_tuple(numpy_from_tensor(c.analytic, false), numpy_from_tensor(c.numeric, false)));
  return out;
}
}  // namespace

void bind_gradcheck(py::module_& m) {
  m.def("check_jacobians", [](const ComputationalGraph& g, NodeId output, const std::vector<NodeId>& wrt,
                              double eps) {
          std::vector<LeafCheck> checks;
          {
            py::gil_scoped_release nogil;
            checks = check_jacobians(g, output, wrt, eps);
          }
          return as_pairs(checks);
        }, py::arg("graph"), py::arg("output"), py::arg("wrt"), py::arg("eps"),
        R"pbdoc(For each leaf in wrt: (analytic, numeric) Jacobians of output, each (output.size, leaf.size),
numeric by central differences on per-thread graph clones.)pbdoc");
  m.def("check_vjp", [](const ComputationalGraph& g, NodeId output, const std::vector<NodeId>& wrt,
                        py::handle dout, double eps) {
          const Node& out = g.node(output);
          Tensor up = tensor_from_python(dout, "gradcheck (dout)", out.dtype);
          std::vector<LeafCheck> checks;
          {
            py::gil_scoped_release nogil;
            checks = check_vjp(g, output, wrt, up, eps);
          }
          return as_pairs(checks);
        }, py::arg("graph"), py::arg("output"), py::arg("wrt"), py::arg("dout"), py::arg("eps"),
        R"pbdoc(For each leaf in wrt: (analytic, numeric) arrays shaped like the leaf holding
sum(dout * d output / d leaf): one backward pass, and central differences in parallel.)pbdoc");
}

}  // namespace gatelab
