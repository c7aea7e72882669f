// PythonGate: a gate written in Python (a gatelab.Gate subclass) running inside the C++ graph.
//
// The graph calls it like any other gate; it takes the GIL, hands the Python object read-only
// NumPy views of its inputs, and checks what comes back: an array of the inputs' dtype from
// forward, one gradient per input of that input's shape from backward. Anything wrong, or an
// exception raised in the Python code, surfaces with the gate's class name in the message.
#pragma once

#include <pybind11/pybind11.h>

#include "gatelab/gate.hpp"

namespace gatelab {
namespace py = pybind11;

class PythonGate final : public Gate {
 public:
  explicit PythonGate(py::object gate);
  ~PythonGate() override;

  std::string name() const override { return name_; }
  int arity() const override { return -1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  bool native() const override { return false; }
  std::unique_ptr<Gate> clone() const override;
  std::vector<std::pair<std::string, Tensor>> saved() const override { return {}; }
  const py::object& object() const { return *gate_; }

 private:
  [[noreturn]] void reraise(py::error_already_set& e, const char* method) const;
  Tensor convert(py::handle result, const char* method, const std::string& what, DType dtype,
                 const Shape* shape) const;

  std::unique_ptr<py::object> gate_;
  std::string name_;
};

}  // namespace gatelab
