// Convolution gates: conv2d on (N,C,H,W) images and conv1d on (N,C,L) signals.
//
// Like every deep-learning library (and the lectures), "convolution" is a cross-correlation:
//
//   y[n,k,oh,ow] = b[k] + Σ_{c,i,j} w[k,c,i,j] · x[n, g·C/G + c, oh·S - P + i·D, ow·S - P + j·D]
//
// where filter k belongs to group g = k / (K/G) and sees only that group's C/G channels (G = 1:
// every filter sees every channel; G = C: depthwise). Reads outside the input are the zero
// padding. Unfolding each window of x into a column (im2col) turns the sum into one matrix
// product per image and group, Y = W · cols, and the chain rule into two more:
//
//   dL/dW    = dY · colsᵀ          (x correlated with dL/dy: the lecture's dL/dw = X * dL/dy)
//   dL/dcols = Wᵀ · dY, folded back onto x by col2im (the adjoint of im2col), which is the
//              "full" convolution of dL/dy with the flipped kernel
//   dL/db[k] = Σ_{n,oh,ow} dL/dy[n,k,oh,ow]
//
// conv1d is conv2d with H = 1 (a reshape, no copy): one set of kernels serves both.
#pragma once

#include "gatelab/gate.hpp"
#include "gatelab/gates/window.hpp"

namespace gatelab {

// Dims = 2: x (N,C,H,W), w (K,C/groups,FH,FW). Dims = 1: x (N,C,L), w (K,C/groups,F).
// Inputs: x, w and an optional bias b (K,); output (N,K,OH,OW) or (N,K,OL).
template <int Dims>
class ConvGate final : public Gate {
 public:
  // Per-axis hyper-parameters as (h, w); a 1-D gate uses only the w entries.
  ConvGate(Pair stride, Pair padding, Pair dilation, std::int64_t groups);

  std::string name() const override { return Dims == 1 ? "conv1d" : "conv2d"; }
  std::string describe() const override;
  int arity() const override { return -1; }  // 2 (x, w) or 3 (x, w, b); check() says which is wrong
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  // Convolution is bilinear in (x, w) and affine in b: ẏ = conv(ẋ, w) + conv(x, ẇ) + ḃ.
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override;

  Pair stride() const { return spec_.stride; }
  Pair padding() const { return spec_.padding; }
  Pair dilation() const { return spec_.dilation; }
  std::int64_t groups() const { return groups_; }

 private:
  WindowSpec spec_;  // kernel size comes from w at each call
  std::int64_t groups_;
};

using Conv1dGate = ConvGate<1>;
using Conv2dGate = ConvGate<2>;

}  // namespace gatelab
