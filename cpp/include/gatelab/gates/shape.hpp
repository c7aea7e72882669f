// Shape gates: reshape and flatten. They move no data: the output is the input's storage seen
// with a new shape (Tensor::reshaped), and the gradient is dout seen with the input's shape.
//
//   y = x viewed as `shape`      dx += dy viewed as x's shape      ẏ = ẋ viewed as `shape`
#pragma once

#include <vector>

#include "gatelab/gate.hpp"

namespace gatelab {

// What reshape and flatten share: everything but the rule that picks the output shape.
class ViewGate : public Gate {
 public:
  int arity() const override { return 1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

 protected:
  // The output shape for an input of shape `in`; throws ValueError when there is none.
  virtual Shape target(const Shape& in) const = 0;
};

// NumPy's reshape rules: the sizes must multiply to the input's size; one entry may be -1 and
// is then inferred (size / product of the others), which must come out whole.
class ReshapeGate final : public ViewGate {
 public:
  explicit ReshapeGate(std::vector<long long> shape);

  std::string name() const override { return "reshape"; }
  std::string describe() const override;
  std::unique_ptr<Gate> clone() const override { return std::make_unique<ReshapeGate>(shape_); }
  const std::vector<long long>& shape() const { return shape_; }

 protected:
  Shape target(const Shape& in) const override;

 private:
  std::vector<long long> shape_;
};

// x (N, d1, ..., dk) -> (N, d1·...·dk): the course's x.reshape(N, -1), defined for N = 0 too.
class FlattenGate final : public ViewGate {
 public:
  std::string name() const override { return "flatten"; }
  std::unique_ptr<Gate> clone() const override { return std::make_unique<FlattenGate>(); }

 protected:
  Shape target(const Shape& in) const override;
};

}  // namespace gatelab
