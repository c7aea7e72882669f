// Linear-algebra gates: matmul (the @ operator), affine (the course's fully-connected layer)
// and transpose. Their GEMMs go through CBLAS into preallocated buffers (gatelab/blas.hpp).
//
//   matmul:    Y = A · B           dA = dY · Bᵀ,  dB = Aᵀ · dY       (bilinear: Ẏ = Ȧ·B + A·Ḃ)
//   affine:    y = x₂ · w + b      dx₂ = dy · wᵀ, dw = x₂ᵀ · dy, db = Σ_n dy[n]
//              with x (N, d1, ..., dk) viewed as x₂ (N, D), D = d1·...·dk
//   transpose: y = x permuted      dx = dy permuted back
#pragma once

#include <vector>

#include "gatelab/gate.hpp"

namespace gatelab {

// NumPy's matmul broadcasting rules, which MatMulGate follows exactly:
//  1. Both operands need at least one dimension (a scalar is an error: use * to scale).
//  2. A 1-D A of shape (k,) is promoted to (1, k) and the 1 is removed from the result;
//     a 1-D B of shape (k,) is promoted to (k, 1) and that 1 is removed. (k,) @ (k,) is a scalar.
//  3. The last two dimensions are the matrices: A (..., m, k) @ B (..., k, n) -> (..., m, n);
//     the k's must be equal.
//  4. The leading ("batch") dimensions broadcast against each other like element-wise NumPy
//     broadcasting: aligned at the right, a missing dimension or a 1 stretches.
// A batch of A used by several outputs (because it was stretched) receives the sum of their
// gradients, added in increasing output order.
struct MatMulPlan {
  std::size_t m = 0, k = 0, n = 0;
  std::size_t batch = 1;                // output batch count (product of broadcast batch dims)
  std::vector<std::size_t> a_index;     // for each output batch: which batch of A
  std::vector<std::size_t> b_index;     // ... and of B
  bool a_unique = true, b_unique = true;  // no batch of A (B) feeds two outputs
  bool fold_a = false;                  // B has no batch and A's batches are in order: one GEMM
  Shape out_shape;
};

// Throws ValueError naming both shapes when they do not fit.
MatMulPlan matmul_plan(const Shape& a, const Shape& b);

class MatMulGate final : public Gate {
 public:
  std::string name() const override { return "matmul"; }
  int arity() const override { return 2; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<MatMulGate>(); }
};

// The course's affine layer: x (N, d1, ..., dk), w (D, M), b (M,) -> y (N, M).
class AffineGate final : public Gate {
 public:
  std::string name() const override { return "affine"; }
  int arity() const override { return 3; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<AffineGate>(); }
};

// y = x.transpose(axes): y's dimension d is x's dimension axes[d]. No axes: reverse them all
// (NumPy's x.T). Negative axes count from the end.
class TransposeGate final : public Gate {
 public:
  explicit TransposeGate(std::vector<int> axes = {}) : axes_(std::move(axes)) {}

  std::string name() const override { return "transpose"; }
  std::string describe() const override;
  int arity() const override { return 1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<TransposeGate>(axes_); }
  const std::vector<int>& axes() const { return axes_; }

 private:
  std::vector<std::size_t> permutation(std::size_t ndim) const;  // validated, non-negative

  std::vector<int> axes_;
};

}  // namespace gatelab
