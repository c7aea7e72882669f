// Binds the numerical-gradient engines: gatelab._core.check_jacobians / check_vjp on graphs, and
// finite_differences on any Python function (gatelab.numerical_gradient's loop).
#include <pybind11/stl.h>

#include "gatelab/gradcheck.hpp"
#include "gatelab/latch.hpp"
#include "numpy_bridge.hpp"

namespace gatelab {

namespace {
py::list as_pairs(const std::vector<LeafCheck>& checks) {
  py::list out;
  for (const LeafCheck& c : checks)
    out.append(py::make_tuple(numpy_from_tensor(c.analytic, false), numpy_from_tensor(c.numeric, false)));
  return out;
}

// x.flat[i] as a double, and x.flat[i] = v, for a float32 or float64 array of any strides.
struct FlatAccess {
  py::array& x;
  char* element(py::ssize_t i) const {
    char* p = static_cast<char*>(x.mutable_data());
    for (py::ssize_t d = x.ndim(); d-- > 0;) {
      p += (i % x.shape(d)) * x.strides(d);
      i /= x.shape(d);
    }
    return p;
  }
  double get(py::ssize_t i) const {
    char* p = element(i);
    return x.itemsize() == 4 ? double(*reinterpret_cast<float*>(p)) : *reinterpret_cast<double*>(p);
  }
  void set(py::ssize_t i, double v) const {
    char* p = element(i);
    if (x.itemsize() == 4) *reinterpret_cast<float*>(p) = static_cast<float>(v);
    else *reinterpret_cast<double*>(p) = v;
  }
};

// For each element x[i]: f() at x[i] + s for each step s (x[i] restored after each, even when f
// raises), then grad[i] = combine(*outputs). The element loop is here, in the core, so that
// the latch (latch.hpp) switches it off with the other numerical-gradient engines.
py::array_t<double> finite_differences(const py::function& f, py::array x, const std::vector<double>& steps,
                                       const py::function& combine) {
  Latch::current().require(Computation::numerical_gradient, "gatelab's numerical gradient");
  const bool is_float = x.dtype().kind() == 'f' && (x.itemsize() == 4 || x.itemsize() == 8);
  if (!is_float) fail<TypeError>("finite_differences: x must be a float32 or float64 array");
  if (!x.writeable()) fail<ValueError>("finite_differences: x is read-only");
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  py::array_t<double> grad(shape);
  double* out = grad.mutable_data();
  FlatAccess at{x};
  py::tuple outputs(steps.size());
  for (py::ssize_t i = 0; i < x.size(); ++i) {
    const double old = at.get(i);
    for (std::size_t k = 0; k < steps.size(); ++k) {
      at.set(i, old + steps[k]);
      try {
        outputs[k] = f();
      } catch (...) {
        at.set(i, old);
        throw;
      }
      at.set(i, old);
    }
    out[i] = combine(*outputs).cast<double>();
  }
  return grad;
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
  m.def("finite_differences", &finite_differences, py::arg("f"), py::arg("x"), py::arg("steps"), py::arg("combine"),
        R"pbdoc(For each element of x (float32/float64, perturbed in place and restored): f() at x + s for each
step s, then combine(*outputs) -> float. Returns float64 values shaped like x, in C order.)pbdoc");
}

}  // namespace gatelab
