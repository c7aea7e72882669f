// Pooling gates on (N,C,H,W): max_pool2d and avg_pool2d, each plane (n, c) on its own.
//
//   max:  y = max of the window            dL/dx[argmax] += dL/dy, every other element gets 0
//   avg:  y = (1/count) Σ window           dL/dx[each element of the window] += dL/dy / count
//
// Windows overlap when the stride is smaller than the kernel: an input element then collects
// gradient from every window it belongs to, so backward ADDS. (Assigning, =, keeps only the last
// window's share, a bug that hides whenever stride == kernel_size.)
//
// Padding follows PyTorch: max pads with -inf (never the maximum), avg with zeros, counted in
// the divisor when count_include_pad. padding <= kernel_size/2 keeps a real element in every
// window. Output size: floor((H + 2P - F)/S) + 1 per axis, as for convolutions (window.hpp).
#pragma once

#include "gatelab/gate.hpp"
#include "gatelab/gates/window.hpp"

namespace gatelab {

// What both pools share: validated hyper-parameters (PyTorch's rules) and the output shape.
class Pool2dGate : public Gate {
 public:
  int arity() const override { return 1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  Pair kernel_size() const { return spec_.kernel; }
  Pair stride() const { return spec_.stride; }
  Pair padding() const { return spec_.padding; }

 protected:
  Pool2dGate(const char* who, Pair kernel, Pair stride, Pair padding);
  std::vector<std::string> params() const;  // for describe(): kernel_size, stride, padding

  WindowSpec spec_;
};

// Ties go to the first maximum in the window's row-major scan, and NaN beats every number (so
// it propagates), exactly as PyTorch's `val > max || isnan(val)`; the gradient therefore goes
// to one element, deterministically. The winner is saved as "argmax": for each output, an
// int64 flat index ih·W + iw within its (H, W) plane.
class MaxPool2dGate final : public Pool2dGate {
 public:
  MaxPool2dGate(Pair kernel, Pair stride, Pair padding);

  std::string name() const override { return "max_pool2d"; }
  std::string describe() const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  // ẏ = ẋ[argmax]: max routes tangents the way it routes gradients.
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override;
  std::vector<std::pair<std::string, Tensor>> saved() const override { return {{"argmax", argmax_}}; }

 private:
  const Tensor& argmax_for(const Inputs& in, const Tensor& out);  // argmax_, recomputed if stale

  Tensor argmax_;  // (N, C, OH, OW) int64
};

// count_include_pad (PyTorch's default): every window divides by kernel_size's area; otherwise
// by the number of real (unpadded) elements it covers.
class AvgPool2dGate final : public Pool2dGate {
 public:
  AvgPool2dGate(Pair kernel, Pair stride, Pair padding, bool count_include_pad = true);

  std::string name() const override { return "avg_pool2d"; }
  std::string describe() const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  // Averaging is linear: ẏ = avg_pool(ẋ).
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override;

  bool count_include_pad() const { return count_include_pad_; }

 private:
  bool count_include_pad_;
};

}  // namespace gatelab
