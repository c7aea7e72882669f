// Binds softmax, log_softmax and the loss gates into gatelab._core.gates.
#include "bind_gate_base.hpp"
#include "gatelab/gates/losses.hpp"

namespace gatelab {

void bind_loss_gates(py::module_& gates) {
  bind_gate<SoftmaxOnlyGate>(gates, "Softmax",
                             "y = exp(x - max) / sum exp(x - max) along `axis` (default last). dx = y * (dout - <dout, y>).")
      .def(py::init<int>(), py::arg("axis") = -1)
      .def_property_readonly("axis", &SoftmaxOnlyGate::axis);
  bind_gate<LogSoftmaxGate>(gates, "LogSoftmax",
                            "y = x - max - log sum exp(x - max) along `axis` (default last). dx = dout - softmax(x) * sum(dout).")
      .def(py::init<int>(), py::arg("axis") = -1)
      .def_property_readonly("axis", &LogSoftmaxGate::axis);
  bind_gate<SoftmaxCrossEntropyGate>(gates, "SoftmaxCrossEntropy", R"pbdoc(
Softmax and cross-entropy in one gate: scores (N, C) float, labels (N,) int64 -> the mean over the
batch of -log softmax(scores)[label]. Backward: dscores = (probs - onehot(labels)) / N, with probs
saved by forward (gate.saved["probs"]). Labels get no gradient.
)pbdoc")
      .def(py::init<>());
  bind_gate<SvmLossGate>(gates, "SVMLoss", R"pbdoc(
Multiclass hinge (CS231n SVM) loss: scores (N, C), labels (N,) int64 -> the mean over the batch of
sum_{j != y} max(0, s_j - s_y + margin). At the kink (a margin of exactly 0) the gradient is 0, as in
CS231n and PyTorch's multi_margin_loss (whose value is this one divided by C).
)pbdoc")
      .def(py::init<double>(), py::arg("margin") = 1.0)
      .def_property_readonly("margin", &SvmLossGate::margin);
  bind_gate<MseLossGate>(gates, "MSELoss", "mean((a - b)^2) over all elements, a and b of one shape. da = 2(a - b)/n = -db.")
      .def(py::init<>());
  bind_gate<BceWithLogitsGate>(gates, "BCEWithLogits", R"pbdoc(
Binary cross-entropy on logits x with targets t in [0, 1] (same shape), mean over all elements,
computed stably as max(x, 0) - x t + log(1 + exp(-|x|)). dx = (sigmoid(x) - t)/n, dt = -x/n.
)pbdoc")
      .def(py::init<>());
}

}  // namespace gatelab
