// Binding helpers shared by every built-in gate: the NativeGate base with the standalone
// ("flat") forward/backward/jvp calls, and bind_gate<G>() for one concrete gate class.
#pragma once

#include <pybind11/pybind11.h>

#include "gatelab/gate.hpp"

namespace gatelab {
namespace py = pybind11;

using NativeGateClass = py::class_<Gate, std::shared_ptr<Gate>>;

// Registers gatelab._core.NativeGate (once, before any concrete gate).
NativeGateClass& bind_native_gate_base(py::module_& m);

// Registers one concrete gate class in `m` under `name`, deriving from NativeGate.
template <class G>
py::class_<G, Gate, std::shared_ptr<G>> bind_gate(py::module_& m, const char* name, const char* doc) {
  return py::class_<G, Gate, std::shared_ptr<G>>(m, name, doc);
}

}  // namespace gatelab
