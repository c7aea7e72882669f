// Binds the element-wise and reduction gates into gatelab._core.gates.
#include <pybind11/stl.h>

#include "bind_gate_base.hpp"
#include "gatelab/gates/activations.hpp"
#include "gatelab/gates/arithmetic.hpp"
#include "gatelab/gates/math.hpp"
#include "gatelab/gates/reductions.hpp"

namespace gatelab {

namespace {

template <class G>
void plain(py::module_& m, const char* name, const char* doc) {
  bind_gate<G>(m, name, doc).def(py::init<>());
}

std::vector<int> axes_from(py::handle axis) {
  if (axis.is_none()) return {};
  if (py::isinstance<py::int_>(axis)) return {axis.cast<int>()};
  return axis.cast<std::vector<int>>();
}

template <class Rule>
Rule positive_rule(Rule rule, const char* gate, const char* key, double value) {
  if (!(value > 0)) fail<ValueError>(gate, ": ", key, " must be positive, got ", value);
  return rule;
}

}  // namespace

void bind_elementwise_gates(py::module_& gates) {
  plain<AddGate>(gates, "Add", "y = a + b (broadcasting). Add distributes: da = db = dout (summed over broadcast axes).");
  plain<SubtractGate>(gates, "Subtract", "y = a - b (broadcasting). da = dout, db = -dout.");
  plain<MultiplyGate>(gates, "Multiply", "y = a * b (broadcasting). Multiply swaps: da = dout * b, db = dout * a.");
  plain<DivideGate>(gates, "Divide", "y = a / b (broadcasting). da = dout / b, db = -dout * a / b^2.");
  plain<MaximumGate>(gates, "Maximum",
                     "y = max(a, b) (broadcasting). Max routes dout to the larger input; a tie splits it in half.");
  plain<NegateGate>(gates, "Negate", "y = -x. dx = -dout.");
  plain<ExpGate>(gates, "Exp", "y = e^x. dx = dout * y.");
  plain<LogGate>(gates, "Log", "y = ln x. dx = dout / x.");
  plain<ReciprocalGate>(gates, "Reciprocal", "y = 1/x. dx = -dout / x^2.");
  plain<SinGate>(gates, "Sin", "y = sin x. dx = dout * cos x.");
  plain<CosGate>(gates, "Cos", "y = cos x. dx = -dout * sin x.");
  plain<SigmoidGate>(gates, "Sigmoid", "y = 1 / (1 + e^-x). dx = dout * y * (1 - y).");
  plain<TanhGate>(gates, "Tanh", "y = tanh x. dx = dout * (1 - y^2).");
  plain<ReluGate>(gates, "ReLU", "y = max(x, 0). dx = dout where x > 0, else 0.");

  bind_gate<PowerGate>(gates, "Power", "y = x^p for a constant p. dx = dout * p * x^(p-1).")
      .def(py::init([](double p) { return std::make_shared<PowerGate>(PowerRule{p}); }), py::arg("p"))
      .def_property_readonly("p", [](const PowerGate& g) { return g.rule().p; });
  bind_gate<LeakyReluGate>(gates, "LeakyReLU", "y = x if x > 0 else slope * x. dx = dout * (1 or slope).")
      .def(py::init([](double slope) { return std::make_shared<LeakyReluGate>(LeakyReluRule{slope}); }),
           py::arg("slope") = 0.01)
      .def_property_readonly("slope", [](const LeakyReluGate& g) { return g.rule().slope; });
  bind_gate<EluGate>(gates, "ELU", "y = x if x > 0 else alpha (e^x - 1). dx = dout * (1 or y + alpha).")
      .def(py::init([](double alpha) { return std::make_shared<EluGate>(EluRule{alpha}); }), py::arg("alpha") = 1.0)
      .def_property_readonly("alpha", [](const EluGate& g) { return g.rule().alpha; });
  bind_gate<SoftplusGate>(gates, "Softplus",
                          "y = log(1 + e^(beta x)) / beta (linear above threshold). dx = dout * sigmoid(beta x).")
      .def(py::init([](double beta, double threshold) {
             SoftplusRule rule = positive_rule(SoftplusRule{beta, threshold}, "softplus", "beta", beta);
             return std::make_shared<SoftplusGate>(rule);
           }),
           py::arg("beta") = 1.0, py::arg("threshold") = 20.0)
      .def_property_readonly("beta", [](const SoftplusGate& g) { return g.rule().beta; })
      .def_property_readonly("threshold", [](const SoftplusGate& g) { return g.rule().threshold; });

  bind_gate<SumGate>(gates, "Sum", "y = sum of x over `axis` (all axes by default). dx = dout, copied back.")
      .def(py::init([](py::handle axis, bool keepdims) { return std::make_shared<SumGate>(axes_from(axis), keepdims); }),
           py::arg("axis") = py::none(), py::arg("keepdims") = false);
  bind_gate<MeanGate>(gates, "Mean", "y = mean of x over `axis` (all axes by default). dx = dout / count.")
      .def(py::init([](py::handle axis, bool keepdims) { return std::make_shared<MeanGate>(axes_from(axis), keepdims); }),
           py::arg("axis") = py::none(), py::arg("keepdims") = false);
}

}  // namespace gatelab
