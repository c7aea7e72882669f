#include "bind_gate_base.hpp"

#include "gatelab/latch.hpp"
#include "numpy_bridge.hpp"

namespace gatelab {

namespace {

py::tuple flat_backward(Gate& gate, py::handle dout_obj) {
  Latch::current().require(gate);
  Gate::FlatCall& call = gate.flat_call();
  if (!call.out.defined())
    fail<ValueError>(gate.name(), ".backward: call forward first; backward uses what forward saw");
  Tensor dout = tensor_from_python(dout_obj, gate.name() + ".backward (dout)", call.out.dtype());
  if (dout.shape() != call.out.shape())
    fail<ValueError>(gate.name(), ".backward: dout has shape ", shape_str(dout.shape()), " but the output has shape ",
                     shape_str(call.out.shape()), "; dout is the gradient of the loss with respect to the output");
  std::vector<Tensor> grads(call.inputs.size());
  InputGrads din(call.inputs.size(), nullptr);
  for (std::size_t i = 0; i < call.inputs.size(); ++i) {
    if (!gate.differentiable(i) || !is_float(call.inputs[i].dtype())) continue;
    grads[i] = Tensor::zeros(call.inputs[i].dtype(), call.inputs[i].shape());
    din[i] = &grads[i];
  }
  {
    py::gil_scoped_release nogil;
    gate.backward(din, dout, Inputs(call.inputs), call.out);
  }
  py::tuple result(grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) result[i] = numpy_from_tensor(grads[i]);
  return result;
}

py::object flat_jvp(Gate& gate, const py::args& tangents) {
  Latch::current().require(gate);
  Gate::FlatCall& call = gate.flat_call();
  if (!call.out.defined()) fail<ValueError>(gate.name(), ".jvp: call forward first");
  if (tangents.size() != call.inputs.size())
    fail<TypeError>(gate.name(), ".jvp: give one tangent per input (", call.inputs.size(), "), got ", tangents.size());
  std::vector<Tensor> owned(tangents.size());
  Tangents tin(tangents.size(), nullptr);
  for (std::size_t i = 0; i < tangents.size(); ++i) {
    if (tangents[i].is_none()) continue;
    owned[i] = tensor_from_python(tangents[i], gate.name() + ".jvp (tangent " + std::to_string(i) + ")",
                                  call.inputs[i].dtype());
    if (owned[i].shape() != call.inputs[i].shape())
      fail<ValueError>(gate.name(), ".jvp: tangent ", i, " has shape ", shape_str(owned[i].shape()),
                       " but input ", i, " has shape ", shape_str(call.inputs[i].shape()));
    tin[i] = &owned[i];
  }
  Tensor out;
  {
    py::gil_scoped_release nogil;
    gate.jvp(out, tin, Inputs(call.inputs), call.out);
  }
  return numpy_from_tensor(out);
}

}  // namespace

NativeGateClass& bind_native_gate_base(py::module_& m) {
  static NativeGateClass cls(m, "NativeGate", R"pbdoc(
A gate implemented in C++. Use it inside a Graph (through gatelab's functions) or standalone:

    m = gatelab.gates.Multiply()
    out = m.forward(a, b)          # saves what backward needs
    da, db = m.backward(dout)      # one gradient per input, each shaped like its input
)pbdoc");
  cls.def_property_readonly("name", &Gate::name)
      .def("describe", &Gate::describe)
      .def_property_readonly("arity", &Gate::arity)
      .def("forward", [](Gate& gate, const py::args& args) {
             Latch::current().require(gate);
             std::vector<Tensor> values;
             for (std::size_t i = 0; i < args.size(); ++i)
               values.push_back(tensor_from_python(args[i], gate.name() + ".forward (input " + std::to_string(i) + ")"));
             if (gate.arity() >= 0 && static_cast<int>(values.size()) != gate.arity())
               fail<TypeError>(gate.name(), ".forward: takes ", gate.arity(), " input(s), got ", values.size());
             Tensor out;
             {
               py::gil_scoped_release nogil;
               gate.forward(out, Inputs(values));
             }
             gate.flat_call() = {values, out};
             return numpy_from_tensor(out);
           }, "Runs the gate on arrays; keeps what backward needs.")
      .def("backward", &flat_backward, py::arg("dout"),
           "Gradients of the loss w.r.t. each input of the last forward call, given dout = dL/dout.")
      .def("jvp", &flat_jvp, "Forward mode: the output tangent for one tangent per input (None = zero).")
      .def("clone", [](const Gate& gate) { return std::shared_ptr<Gate>(gate.clone()); },
           "A fresh gate with the same hyper-parameters and no saved state.")
      .def_property_readonly("saved", [](const Gate& gate) {
             py::dict d;
             for (const auto& [key, t] : gate.saved()) d[py::str(key)] = numpy_from_tensor(t, false);
             return d;
           }, "The named state forward saved for backward (beyond the inputs and output).")
      .def("__repr__", [](const Gate& gate) { return "<gatelab gate " + gate.describe() + ">"; });
  return cls;
}

}  // namespace gatelab
