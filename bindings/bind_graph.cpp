// Binds ComputationalGraph as gatelab._core.ComputationalGraph. Thin: ids and arrays in,
// arrays out; forward, backward and jvp run with the GIL released (a Python gate takes it back).
// The Python layer (gatelab.graph) builds the student-facing Graph and Node on top.
#include <pybind11/stl.h>

#include "gatelab/graph.hpp"
#include "numpy_bridge.hpp"
#include "python_gate.hpp"

namespace gatelab {

namespace {

const char* kind_str(NodeKind kind) {
  switch (kind) {
    case NodeKind::input: return "input";
    case NodeKind::parameter: return "parameter";
    case NodeKind::constant: return "constant";
    case NodeKind::op: return "op";
  }
  return "?";
}

// A gate argument is either a built-in (C++) gate or a Python object with forward/backward.
std::shared_ptr<Gate> as_gate(py::handle obj) {
  if (py::isinstance<Gate>(obj)) return obj.cast<std::shared_ptr<Gate>>();
  if (!py::hasattr(obj, "forward") || !py::hasattr(obj, "backward"))
    fail<TypeError>("apply: ", py::str(py::type::of(obj).attr("__name__")).cast<std::string>(),
                    " is not a gate; subclass gatelab.Gate and define forward(*inputs) and backward(dout)");
  return std::make_shared<PythonGate>(py::reinterpret_borrow<py::object>(obj));
}

py::object shape_tuple(const Node& n) {
  py::list dims;
  for (std::size_t d : n.shape) dims.append(d == kAnyDim ? py::object(py::none()) : py::object(py::int_(d)));
  return py::tuple(dims);
}

}  // namespace

void bind_graph(py::module_& m) {
  py::class_<ComputationalGraph>(m, "ComputationalGraph", R"pbdoc(
The C++ graph runner. Use gatelab.Graph, which wraps it with node handles and operators.
)pbdoc")
      .def(py::init<>())
      .def("add_input", [](ComputationalGraph& g, const std::string& name, py::handle value,
                           std::optional<std::string> dtype) {
             std::optional<DType> want;
             if (dtype) want = dtype_from_string(*dtype);
             return g.add_input(name, tensor_from_python(value, "input '" + name + "'", want));
           }, py::arg("name"), py::arg("value"), py::arg("dtype") = py::none())
      .def("add_placeholder", [](ComputationalGraph& g, const std::string& name, const std::string& dtype,
                                 const std::vector<std::optional<std::size_t>>& shape) {
             Shape s;
             for (auto d : shape) s.push_back(d ? *d : kAnyDim);
             return g.add_placeholder(name, dtype_from_string(dtype), s);
           })
      .def("add_parameter", [](ComputationalGraph& g, const std::string& name, py::handle value,
                               std::optional<std::string> dtype) {
             std::optional<DType> want;
             if (dtype) want = dtype_from_string(*dtype);
             return g.add_parameter(name, tensor_from_python(value, "parameter '" + name + "'", want));
           }, py::arg("name"), py::arg("value"), py::arg("dtype") = py::none())
      .def("add_constant", [](ComputationalGraph& g, py::handle value, const std::string& dtype,
                              const std::string& name) {
             return g.add_constant(tensor_from_python(value, "constant", dtype_from_string(dtype)), name);
           }, py::arg("value"), py::arg("dtype"), py::arg("name") = "")
      .def("add_op", [](ComputationalGraph& g, py::handle gate, const std::vector<NodeId>& inputs,
                        const std::string& name) { return g.add_op(as_gate(gate), inputs, name); },
           py::arg("gate"), py::arg("inputs"), py::arg("name") = "")
      .def("set_inputs", &ComputationalGraph::set_inputs)
      .def("feed", [](ComputationalGraph& g, NodeId id, py::handle value) {
             const Node& n = g.node(id);
             g.feed(id, tensor_from_python(value, "feed '" + n.name + "'", n.dtype));
           })
      .def("rename", &ComputationalGraph::rename)
      .def("forward", &ComputationalGraph::forward, py::call_guard<py::gil_scoped_release>())
      .def("forward_to", &ComputationalGraph::forward_to, py::call_guard<py::gil_scoped_release>())
      .def("backward", [](ComputationalGraph& g, NodeId id, py::handle upstream, bool accumulate) {
             if (upstream.is_none()) {
               py::gil_scoped_release nogil;
               g.backward(id, accumulate);
               return;
             }
             const Node& n = g.node(id);
             Tensor up = tensor_from_python(upstream, "backward: upstream gradient of '" + n.name + "'", n.dtype);
             py::gil_scoped_release nogil;
             g.backward_with(id, up, accumulate);
           }, py::arg("output"), py::arg("upstream") = py::none(), py::arg("accumulate") = false)
      .def("jvp", [](ComputationalGraph& g, const std::vector<std::pair<NodeId, py::object>>& tangents) {
             std::vector<std::pair<NodeId, Tensor>> ts;
             for (const auto& [id, value] : tangents) {
               const Node& n = g.node(id);
               ts.emplace_back(id, tensor_from_python(value, "jvp: tangent of '" + n.name + "'", n.dtype));
             }
             py::gil_scoped_release nogil;
             g.jvp(ts);
           })
      .def("zero_grad", &ComputationalGraph::zero_grad)
      .def("value", [](const ComputationalGraph& g, NodeId id) { return numpy_from_tensor(g.node(id).value); })
      .def("grad", [](const ComputationalGraph& g, NodeId id) { return numpy_from_tensor(g.node(id).grad); })
      .def("tangent", [](const ComputationalGraph& g, NodeId id) {
             const Node& n = g.node(id);
             if (n.tangent.defined() || !n.value.defined()) return numpy_from_tensor(n.tangent);
             return numpy_from_tensor(Tensor::zeros(n.dtype, n.value.shape()));  // untouched: zero tangent
           })
      .def("writable_value", [](ComputationalGraph& g, NodeId id) {
             // For in-place perturbation by numerical checks: never write into a user's array,
             // so a borrowed value is first replaced by an owned copy. Marks the graph stale.
             Node& n = g.node_mut(id);
             if (n.kind == NodeKind::op)
               fail<ValueError>("'", n.name, "' is computed by a gate; perturb an input or parameter instead");
             if (!n.value.defined()) fail<ValueError>("'", n.name, "' has no value yet");
             if (!n.value.owns_memory()) g.feed(id, n.value.clone());
             else g.feed(id, n.value);
             return writable_numpy(n.value);
           })
      .def("name", [](const ComputationalGraph& g, NodeId id) { return g.node(id).name; })
      .def("kind", [](const ComputationalGraph& g, NodeId id) { return kind_str(g.node(id).kind); })
      .def("op", [](const ComputationalGraph& g, NodeId id) {
             const Node& n = g.node(id);
             return n.gate ? n.gate->describe() : std::string(kind_str(n.kind));
           })
      .def("op_name", [](const ComputationalGraph& g, NodeId id) {
             const Node& n = g.node(id);
             return n.gate ? n.gate->name() : std::string(kind_str(n.kind));
           })
      .def("gate", [](const ComputationalGraph& g, NodeId id) -> py::object {
             const Node& n = g.node(id);
             if (!n.gate) return py::none();
             if (auto* pg = dynamic_cast<PythonGate*>(n.gate.get())) return pg->object();
             return py::cast(n.gate);
           })
      .def("inputs", [](const ComputationalGraph& g, NodeId id) { return g.node(id).inputs; })
      .def("dtype", [](const ComputationalGraph& g, NodeId id) { return dtype_name(g.node(id).dtype); })
      .def("shape", [](const ComputationalGraph& g, NodeId id) -> py::object {
             const Node& n = g.node(id);
             if (n.kind == NodeKind::op && !n.shape_known) return py::none();
             return shape_tuple(n);
           })
      .def("requires_grad", [](const ComputationalGraph& g, NodeId id) { return g.node(id).requires_grad; })
      .def("find", &ComputationalGraph::find)
      .def("has_name", &ComputationalGraph::has_name)
      .def("topological_order", &ComputationalGraph::topological_order)
      .def("ancestors", &ComputationalGraph::ancestors)
      .def("clone", [](const ComputationalGraph& g) {
             std::unique_ptr<ComputationalGraph> c = g.clone();
             return c;
           })
      .def_property_readonly("token", &ComputationalGraph::token)
      .def_property_readonly("fresh", &ComputationalGraph::fresh)
      .def("__len__", &ComputationalGraph::size);
}

}  // namespace gatelab
