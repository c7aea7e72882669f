// Softmax and the losses: softmax / log_softmax over an axis, and four losses that each reduce
// to one number, the mean over the batch (or over all elements).
//
//   softmax:       y = e^(x - max) / Σ e^(x - max)      dx = y ⊙ (dy − ⟨dy, y⟩)
//   log_softmax:   y = x - max - log Σ e^(x - max)      dx = dy − softmax(x) · Σ dy
//   softmax_cross_entropy(s (N,C), y (N,) int64):
//                  L = (1/N) Σ_i −log softmax(s_i)[y_i]    ds = (probs − onehot(y)) / N
//   svm_loss(s (N,C), y (N,) int64, margin Δ):
//                  L = (1/N) Σ_i Σ_{j≠y_i} max(0, s_ij − s_iy_i + Δ)
//                  ds_ij = 1/N where that margin is > 0 (j ≠ y_i), ds_iy_i = −(their count)/N
//   mse_loss(a, b):       L = mean (a − b)²                 da = 2(a − b)/n = −db
//   bce_with_logits(x, t): L = mean [max(x,0) − x t + log(1 + e^−|x|)]
//                          dx = (σ(x) − t)/n,  dt = −x/n
//
// Forward mode: softmax ẏ = y ⊙ (v − ⟨y, v⟩), log_softmax ẏ = v − ⟨softmax(x), v⟩; a loss is a
// scalar, so its jvp is ⟨gradient, tangent⟩ over its inputs.
//
// Every sum is taken in double, in a fixed order, so results do not depend on the thread count.
// Labels are int64 inputs and never get a gradient (differentiable(1) is false).
#pragma once

#include "gatelab/gate.hpp"

namespace gatelab {

enum class SoftmaxKind { softmax, log_softmax };

// Softmax or log-softmax along `axis` (negative counts from the end; default the last).
template <SoftmaxKind Kind>
class SoftmaxGate final : public Gate {
 public:
  explicit SoftmaxGate(int axis = -1) : axis_(axis) {}

  std::string name() const override { return Kind == SoftmaxKind::softmax ? "softmax" : "log_softmax"; }
  std::string describe() const override;
  int arity() const override { return 1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<SoftmaxGate>(axis_); }
  int axis() const { return axis_; }

 private:
  int axis_;
};

using SoftmaxOnlyGate = SoftmaxGate<SoftmaxKind::softmax>;
using LogSoftmaxGate = SoftmaxGate<SoftmaxKind::log_softmax>;

// What softmax_cross_entropy and svm_loss share: scores (N, C) float and labels (N,) int64 in,
// one number out. Labels get no gradient; each must name a class, which forward checks.
class ClassificationLossGate : public Gate {
 public:
  int arity() const override { return 2; }
  bool differentiable(std::size_t input) const override { return input == 0; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;
  // L̇ = ⟨∂L/∂s, ṡ⟩, from backward's gradient.
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

 protected:
  // forward's first steps: checks the specs and every label, sizes `out`; returns {N, C}.
  std::pair<std::size_t, std::size_t> begin_forward(Tensor& out, const Inputs& in) const;
};

// Softmax and cross-entropy fused: forward saves the probabilities ("probs"), backward is
// (probs − onehot) / N. The loss itself is computed as log Σ e^(s − max) − (s_y − max), which
// stays finite even when a probability underflows to 0.
class SoftmaxCrossEntropyGate final : public ClassificationLossGate {
 public:
  std::string name() const override { return "softmax_cross_entropy"; }

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<SoftmaxCrossEntropyGate>(); }
  std::vector<std::pair<std::string, Tensor>> saved() const override { return {{"probs", probs_}}; }

 private:
  Tensor probs_;  // (N, C) softmax of the scores from the last forward pass
};

// Multiclass hinge loss (CS231n's SVM loss), mean over the batch. At the kink (a margin exactly
// 0) the gradient is 0: only margins > 0 count, as in CS231n's svm_loss and PyTorch's
// multi_margin_loss (whose value is this one divided by C).
class SvmLossGate final : public ClassificationLossGate {
 public:
  explicit SvmLossGate(double margin = 1.0) : margin_(margin) {}

  std::string name() const override { return "svm_loss"; }
  std::string describe() const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<SvmLossGate>(margin_); }
  double margin() const { return margin_; }

 private:
  double margin_;
};

// A loss that is the mean over all elements of a term of two same-shaped arrays; a rule gives
// the term and, beside it, its two partial derivatives:
//   L = (1/n) Σ f(a, b),   ∂L/∂a = da(a, b)/n,   ∂L/∂b = db(a, b)/n
template <class Rule>
class MeanLossGate final : public Gate {
 public:
  std::string name() const override { return Rule::kName; }
  int arity() const override { return 2; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<MeanLossGate>(); }
};

// Mean of squared differences (a is the prediction, b the target).
struct MseRule {
  static constexpr const char* kName = "mse_loss";
  static double f(double a, double b) { return (a - b) * (a - b); }
  static double da(double a, double b) { return 2 * (a - b); }
  static double db(double a, double b) { return -2 * (a - b); }
};

// Binary cross-entropy on logits x with target probabilities t in [0, 1] (which get a gradient
// too, as in PyTorch). −t log σ(x) − (1−t) log(1−σ(x)) rewritten without overflow:
// max(x, 0) − x t + log(1 + e^−|x|).
struct BceWithLogitsRule {
  static constexpr const char* kName = "bce_with_logits";
  static double f(double x, double t);
  static double da(double x, double t);  // σ(x) − t
  static double db(double x, double t) { return -x; }
};

using MseLossGate = MeanLossGate<MseRule>;
using BceWithLogitsGate = MeanLossGate<BceWithLogitsRule>;

}  // namespace gatelab
