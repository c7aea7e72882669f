#include "python_gate.hpp"

#include "numpy_bridge.hpp"

namespace gatelab {

PythonGate::PythonGate(py::object gate) : gate_(std::make_unique<py::object>(std::move(gate))) {
  name_ = py::str(py::type::of(*gate_).attr("__name__")).cast<std::string>();
}

PythonGate::~PythonGate() {
  if (Py_IsInitialized()) {
    py::gil_scoped_acquire gil;
    gate_.reset();
  } else {
    gate_->release();
  }
}

std::optional<TensorSpec> PythonGate::check(const std::vector<TensorSpec>& in) const {
  if (in.empty()) fail<TypeError>(name_, ": a gate needs at least one input");
  return std::nullopt;  // only running forward tells what a Python gate returns
}

void PythonGate::reraise(py::error_already_set& e, const char* method) const {
  // Same exception type, the gate and method named first; the original stays chained.
  std::string message = name_ + "." + method + " raised " +
                        py::str(e.type().attr("__name__")).cast<std::string>() + ": " +
                        py::str(e.value()).cast<std::string>();
  // Rebuilding needs a type that takes one message. Where it does not (NumPy's
  // _ArrayMemoryError, say), the original exception travels on with the gate named in a note.
  PyObject* probe = PyObject_CallFunction(e.type().ptr(), "s", message.c_str());
  if (probe) {
    Py_DECREF(probe);
    py::raise_from(e, e.type().ptr(), message.c_str());
    throw py::error_already_set();
  }
  PyErr_Clear();
  if (py::hasattr(e.value(), "add_note")) e.value().attr("add_note")(message);
  throw;  // the exception being handled by the caller: e itself
}

Tensor PythonGate::convert(py::handle result, const char* method, const std::string& what, DType dtype,
                           const Shape* shape) const {
  std::string who = name_ + "." + method + " (" + what + ")";
  if (result.is_none()) fail<TypeError>(who, ": returned None; return a NumPy array");
  Tensor t = tensor_from_python(result, who, dtype);
  if (shape && t.shape() != *shape) {
    // NumPy scalars from 0-d arithmetic come back with shape (); accept them for () inputs only.
    fail<ValueError>(who, ": has shape ", shape_str(t.shape()), " but must have shape ", shape_str(*shape),
                     " (a gradient has its variable's shape)");
  }
  return t;
}

void PythonGate::forward(Tensor& out, const Inputs& in) {
  check(specs_of(in));
  DType dtype = in[0].dtype();
  for (const Tensor& t : in)
    if (is_float(t.dtype())) {
      dtype = t.dtype();
      break;
    }
  py::gil_scoped_acquire gil;
  py::tuple args(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) args[i] = numpy_from_tensor(in[i], false);
  py::object result;
  try {
    result = gate_->attr("forward")(*args);
  } catch (py::error_already_set& e) {
    reraise(e, "forward");
  }
  out = convert(result, "forward", "its output", dtype, nullptr);
}

void PythonGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor&) {
  py::gil_scoped_acquire gil;
  py::object result;
  try {
    result = gate_->attr("backward")(numpy_from_tensor(dout, false));
  } catch (py::error_already_set& e) {
    reraise(e, "backward");
  }
  if (result.is_none())
    fail<TypeError>(name_, ".backward returned None; return one gradient per input (did you forget `return`?)");
  // One input may return its gradient bare; otherwise a tuple/list with one entry per input.
  py::sequence grads;
  if (in.size() == 1 && !py::isinstance<py::tuple>(result) && !py::isinstance<py::list>(result)) {
    grads = py::make_tuple(result);
  } else if (py::isinstance<py::tuple>(result) || py::isinstance<py::list>(result)) {
    grads = py::reinterpret_borrow<py::sequence>(result);
  } else {
    fail<TypeError>(name_, ".backward: must return a tuple with one gradient per input (", in.size(), ")");
  }
  if (grads.size() != in.size())
    fail<ValueError>(name_, ".backward: returned ", grads.size(), " gradient(s) for ", in.size(),
                     " input(s); return one per input, in the order forward received them");
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!din[i]) continue;
    py::object g = grads[i];
    if (g.is_none()) continue;  // None: this input gets no gradient from here
    Tensor t = convert(g, "backward", "gradient of input " + std::to_string(i), in[i].dtype(), &in[i].shape());
    din[i]->add_from(t);
  }
}

void PythonGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  py::gil_scoped_acquire gil;
  if (!py::hasattr(*gate_, "jvp"))
    fail<TypeError>(name_, ": has no jvp(*tangents) method, so forward mode cannot pass through it");
  py::tuple args(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (tangent_in[i]) args[i] = numpy_from_tensor(*tangent_in[i], false);
    else args[i] = numpy_from_tensor(Tensor::zeros(in[i].dtype(), in[i].shape()), false);
  }
  py::object result;
  try {
    result = gate_->attr("jvp")(*args);
  } catch (py::error_already_set& e) {
    reraise(e, "jvp");
  }
  tangent_out = convert(result, "jvp", "its output tangent", out.dtype(), &out.shape());
}

std::unique_ptr<Gate> PythonGate::clone() const {
  py::gil_scoped_acquire gil;
  py::object copy = py::module_::import("copy").attr("deepcopy")(*gate_);
  return std::make_unique<PythonGate>(copy);
}

}  // namespace gatelab
